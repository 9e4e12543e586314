//! What both queues share: node names, sorting, sizes, bounded retries, item creation and the
//! rescue of an item whose taker was dropped mid-delete.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;

use zk_core::path::{join, parent, sequence_number};
use zk_core::{Client, CreateMode, Op};

use crate::error::{Error, Result};
use crate::protected::{check_node_size, create_with_parents, ensure_containers};
use crate::retry::Retries;

/// Rounds of a consumer's loop (one per item tried or per wake-up) in one call before it
/// gives up; each round makes progress or waits for a change, so this is never reached in
/// practice.
pub(crate) const MAX_ROUNDS: u32 = 1_000_000;

/// A future returned by a zk-core operation, boxed to be kept in a struct.
pub(crate) type ZkFuture<T> = Pin<Box<dyn Future<Output = zk_core::Result<T>> + Send>>;

/// Rejects an item node's data the server would refuse.
pub(crate) fn check_size(dir: &str, data_len: usize) -> Result<()> {
    check_node_size(dir, data_len, "a queue node")
}

/// The names of the children that are items (`prefix` + sequence number), not in `skip`,
/// sorted by sequence number (oldest first), as Curator sorts them.
pub(crate) fn sorted_items(children: Vec<String>, prefix: &str, skip: &HashSet<String>) -> VecDeque<String> {
    let mut items: Vec<(i32, String)> = children
        .into_iter()
        .filter(|c| c.starts_with(prefix) && !skip.contains(c))
        .filter_map(|c| sequence_number(&c).map(|s| (s, c)))
        .collect();
    items.sort();
    items.into_iter().map(|(_, c)| c).collect()
}

/// Runs `op` (an idempotent step: a read, or a write whose repeat is harmless) under
/// `client`'s retry policy; see [`crate::retry::retrying`].
pub(crate) async fn retrying<T, F, Fut>(client: &Client, op: F) -> zk_core::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = zk_core::Result<T>>,
{
    crate::retry::retrying(client, "queue", op).await
}

/// Creates `path` as a persistent node with its missing ancestors as containers (Curator's
/// `create().creatingParentContainersIfNeeded()`); an existing node is fine.
pub(crate) async fn ensure_persistent(client: &Client, path: &str) -> zk_core::Result<()> {
    retrying(client, || create_with_parents(client, path, b"", CreateMode::Persistent)).await.map(|_| ())
}

/// How a queue's directory is made when missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirKind {
    /// Persistent, parents as containers (Curator's `DistributedQueue`).
    Persistent,
    /// A container, as are its parents (Curator's `SimpleDistributedQueue`).
    Container,
}

/// Creates `dir` (as `kind` says) when missing.
pub(crate) async fn ensure_dir(client: &Client, dir: &str, kind: DirKind) -> zk_core::Result<()> {
    match kind {
        DirKind::Persistent => ensure_persistent(client, dir).await,
        DirKind::Container => retrying(client, || ensure_containers(client, dir)).await,
    }
}

/// Creates the persistent-sequential item `<dir>/<prefix><seq>` holding `data` and returns
/// its path, creating `dir` when missing.
///
/// A retryable error is returned, not retried: the create may have been applied, and a
/// retry could add the item twice.
pub(crate) async fn create_item(
    client: &Client,
    dir: &str,
    prefix: &str,
    data: &[u8],
    kind: DirKind,
) -> Result<String> {
    check_size(dir, data.len())?;
    let path = join(dir, prefix);
    // A few times: the directory may vanish (a container reaped) between ensuring it and
    // creating in it.
    for _ in 0..3 {
        match client.create(&path, data, CreateMode::PersistentSequential).await {
            Ok((created, _)) => return Ok(created),
            Err(zk_core::Error::NoNode) => ensure_dir(client, dir, kind).await?,
            Err(zk_core::Error::BadArguments(why)) => return Err(Error::InvalidArgument(why)),
            Err(e) => return Err(Error::Zk(e)),
        }
    }
    Err(Error::RetriesExhausted("creating a queue item: its parent keeps vanishing"))
}

/// What [`Error::MaybeApplied`] says of a take whose outcome was lost with the session.
pub(crate) const MAYBE_TAKEN: &str =
    "a queue take (the item is gone from the queue: taken by this call, or by another consumer)";

/// What became of one attempt to delete an item we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// We deleted it: the item is ours.
    Ours,
    /// Someone else took it first.
    NotOurs,
    /// The session ended (or the client was closed, or its retry policy gave up) after a
    /// reply was lost, and the item is gone: taken by us or by another consumer, which can no
    /// longer be told (the receipt died with the session).
    Unknown,
}

/// The name prefix of take receipts: `<receipt dir>/taken-<uuid>`, ephemeral.
pub(crate) const RECEIPT_PREFIX: &str = "taken-";

/// Where a consumer's take receipts go, and how that directory is made when missing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Receipts<'a> {
    /// The directory (the lock path of a `DistributedQueue`, the directory of a
    /// `SimpleDistributedQueue`). Its other children never start with [`RECEIPT_PREFIX`].
    pub(crate) dir: &'a str,
    /// How `dir` is made when missing.
    pub(crate) kind: DirKind,
}

/// Deletes an item we read at `version` (`None`: any). Runs under `rescue`: if this future is
/// dropped before the take is settled, the take is finished in the background and, when the
/// item turned out to be ours, it is put back (at the end of the queue): a cancelled take
/// loses nothing.
///
/// The delete goes in one transaction with the creation of an ephemeral receipt
/// `<receipts.dir>/taken-<uuid>`. After a reply is lost, no new attempt is sent before the
/// receipt has told whether the last one was applied (the item is ours) or not, so a lost
/// reply neither loses the item nor delivers it twice. The receipt is deleted in the
/// background once the take is settled (and dies with the session in any case).
///
/// Across a session expiry the receipt cannot tell (it died with the session): the take is
/// sent again on the new session, which settles it when the item is still there (the lost
/// attempt was not applied); when the item is gone, this is [`Taken::Unknown`], which the
/// callers turn into [`Error::MaybeApplied`] holding the item's bytes (or, in the background
/// of a dropped take, into a put back) rather than mistaking it for another consumer's take.
pub(crate) async fn delete_item(
    client: &Client,
    item: &str,
    version: Option<i32>,
    mut rescue: Rescue,
    receipts: Receipts<'_>,
) -> zk_core::Result<Taken> {
    let take = take(client.clone(), item.to_owned(), version, receipts.dir.to_owned(), receipts.kind);
    rescue.watch(Box::pin(take)).await
}

/// The take of [`delete_item`], owning what it needs so that it can finish in the background.
async fn take(
    client: Client,
    item: String,
    version: Option<i32>,
    dir: String,
    kind: DirKind,
) -> zk_core::Result<Taken> {
    let receipt = join(&dir, &format!("{RECEIPT_PREFIX}{}", uuid::Uuid::new_v4()));
    let ops = [Op::delete(&item, version), Op::create(&receipt, b"", CreateMode::Ephemeral)];
    Ok(match settle(&client, &ops, &receipt, &dir, kind).await? {
        Settled::Applied => Taken::Ours,
        Settled::Refused => Taken::NotOurs,
        Settled::Unknown => Taken::Unknown,
    })
}

/// What became of a transaction run by [`settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Applied (once).
    Applied,
    /// Not applied: its first op failed with `NoNode` or `BadVersion`.
    Refused,
    /// A reply was lost and what would tell is gone: the session ended (the receipt with it)
    /// and a new attempt was refused with `NoNode`, or the client ended or its retry policy
    /// gave up before the receipt could be read.
    Unknown,
}

/// Applies `ops` (whose last op creates the ephemeral `receipt` in `dir`) exactly once.
/// After a lost reply the receipt decides before any new attempt, as long as the session
/// that sent it lives; once it ended, the transaction is sent again on the new session (a
/// refusal then is [`Settled::Unknown`]: the lost attempt may have been the one that removed
/// the first op's node). The receipt is deleted in the background once applied.
async fn settle(
    client: &Client,
    ops: &[Op],
    receipt: &str,
    dir: &str,
    kind: DirKind,
) -> zk_core::Result<Settled> {
    // The session epoch of the last attempt, while its outcome is unknown.
    let mut unknown: Option<u64> = None;
    // An attempt's outcome was lost with its session: a refusal no longer means "not ours".
    let mut orphaned = false;
    let mut retries = Retries::new(client, "queue take");
    // Bounded by the client's retry policy: each failed pass takes one of its delays.
    loop {
        if let Some(epoch) = unknown {
            if client.status().has_ended(epoch) {
                orphaned = true;
                unknown = None;
                if client.state().is_terminal() {
                    return Ok(Settled::Unknown);
                }
            } else {
                match receipt_exists(client, receipt, epoch).await {
                    Ok(true) => {
                        forget_receipt(client, receipt);
                        return Ok(Settled::Applied);
                    }
                    Ok(false) => unknown = None,
                    // The session ended meanwhile: the next pass sees it.
                    Err(e) if crate::session::renews_after(client, &e) => {}
                    Err(e) => match retries.wait(e).await {
                        Ok(()) => {}
                        Err(_) => return Ok(Settled::Unknown),
                    },
                }
                continue;
            }
        }
        let epoch = client.status().epoch;
        match client.multi(ops).await {
            Ok(_) => {
                forget_receipt(client, receipt);
                return Ok(Settled::Applied);
            }
            Err(zk_core::Error::MultiFailed { index: 0, error })
                if matches!(*error, zk_core::Error::NoNode | zk_core::Error::BadVersion) =>
            {
                let gone = *error == zk_core::Error::NoNode;
                return Ok(if orphaned && gone { Settled::Unknown } else { Settled::Refused });
            }
            Err(zk_core::Error::MultiFailed { index, error })
                if index + 1 == ops.len() && *error == zk_core::Error::NoNode =>
            {
                ensure_dir(client, dir, kind).await?;
            }
            // In flight when the session expired: applied or not, the receipt (if any) died.
            Err(e) if crate::session::renews_after(client, &e) => {
                orphaned = true;
                retries.pause().await;
            }
            Err(e) => {
                let maybe_applied = e.is_retryable() || e.is_terminal();
                if maybe_applied {
                    unknown = Some(epoch);
                }
                if let Err(e) = retries.wait(e).await {
                    return if maybe_applied || orphaned { Ok(Settled::Unknown) } else { Err(e) };
                }
            }
        }
    }
}

/// Whether our receipt, created in session epoch `epoch`, exists, after catching up with the
/// leader (so a transaction applied before the connection was lost is visible).
/// `SessionExpired` when that session ended before the receipt was seen: a later session
/// cannot see it, whether it was created or not.
async fn receipt_exists(client: &Client, receipt: &str, epoch: u64) -> zk_core::Result<bool> {
    client.sync(parent(receipt)).await?;
    let found = client.exists(receipt).await?.is_some();
    if !found && client.status().has_ended(epoch) {
        return Err(zk_core::Error::SessionExpired);
    }
    Ok(found)
}

/// Deletes a receipt that has served, in the background.
fn forget_receipt(client: &Client, receipt: &str) {
    let forget = client.delete(receipt, None);
    tokio::spawn(async move {
        let _ = forget.await;
    });
}

/// Puts items back at the end of a queue: creates `<dir>/<prefix><seq>` with `data`, exactly
/// once (with a receipt under `receipts`, as takes do), retrying connection losses. Across a
/// session expiry after a lost reply the receipt cannot tell, and the create is sent again:
/// then the items may be put back twice, which is preferred to losing them.
pub(crate) async fn put_back(
    client: &Client,
    dir: &str,
    prefix: &str,
    data: &[u8],
    receipts: Receipts<'_>,
) -> zk_core::Result<()> {
    let receipt = join(receipts.dir, &format!("{RECEIPT_PREFIX}{}", uuid::Uuid::new_v4()));
    let ops = [
        Op::create(&join(dir, prefix), data, CreateMode::PersistentSequential),
        Op::create(&receipt, b"", CreateMode::Ephemeral),
    ];
    // The item's directory and the receipts' are made when missing (`settle` makes the
    // receipts' one; the item's one is ensured first, since its failure is index 0).
    ensure_dir(client, dir, if receipts.dir == dir { receipts.kind } else { DirKind::Persistent }).await?;
    match settle(client, &ops, &receipt, receipts.dir, receipts.kind).await? {
        Settled::Applied => Ok(()),
        // A sequential create is not refused for its first op; `Unknown` only when the client
        // ended or gave up after a lost reply.
        Settled::Refused => Err(zk_core::Error::NoNode),
        Settled::Unknown => Err(zk_core::Error::ConnectionLoss),
    }
}

/// Finishes a take in the background when the future taking an item is dropped midway, and
/// puts the item back if the take turned out to be ours, or may have been
/// ([`Taken::Unknown`]: another consumer may then have had it too, but nothing is lost).
pub(crate) struct Rescue {
    client: Client,
    dir: String,
    prefix: &'static str,
    data: Vec<u8>,
    receipts_dir: String,
    receipts_kind: DirKind,
    pending: Option<ZkFuture<Taken>>,
}

impl std::fmt::Debug for Rescue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rescue").field("dir", &self.dir).field("pending", &self.pending.is_some()).finish()
    }
}

impl Rescue {
    /// Ready to put `data` back as `<dir>/<prefix><seq>`, with receipts in `receipts`.
    pub(crate) fn new(
        client: &Client,
        dir: &str,
        prefix: &'static str,
        data: Vec<u8>,
        receipts: Receipts<'_>,
    ) -> Rescue {
        Rescue {
            client: client.clone(),
            dir: dir.to_owned(),
            prefix,
            data,
            receipts_dir: receipts.dir.to_owned(),
            receipts_kind: receipts.kind,
            pending: None,
        }
    }

    /// Awaits `take`; if dropped before it completes, `take` is finished in the background
    /// and the item put back if it was ours.
    async fn watch(&mut self, take: ZkFuture<Taken>) -> zk_core::Result<Taken> {
        self.pending = Some(take);
        let out = std::future::poll_fn(|cx| match self.pending.as_mut() {
            Some(f) => f.as_mut().poll(cx),
            None => std::task::Poll::Ready(Err(zk_core::Error::Closed)),
        })
        .await;
        self.pending = None;
        out
    }
}

impl Drop for Rescue {
    fn drop(&mut self) {
        let Some(take) = self.pending.take() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(dir = %self.dir, "queue: no runtime to put back an item whose take was dropped");
            return;
        };
        let (client, dir, prefix) = (self.client.clone(), self.dir.clone(), self.prefix);
        let (receipts_dir, receipts_kind) = (self.receipts_dir.clone(), self.receipts_kind);
        let data = std::mem::take(&mut self.data);
        rt.spawn(async move {
            if let Ok(Taken::Ours | Taken::Unknown) = take.await {
                let receipts = Receipts { dir: &receipts_dir, kind: receipts_kind };
                match put_back(&client, &dir, prefix, &data, receipts).await {
                    Ok(()) => tracing::debug!(%dir, "queue: put back an item whose take was dropped"),
                    Err(e) => tracing::warn!(%dir, error = %e, "queue: could not put back a dropped item"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_sort_by_sequence_and_foreign_nodes_are_left_out() {
        let children =
            ["queue-0000000010", "lock", "queue-0000000002", "qn-0000000001", "queue-x", "queue-0000000007"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let skip = HashSet::from(["queue-0000000007".to_owned()]);
        assert_eq!(sorted_items(children, "queue-", &skip), ["queue-0000000002", "queue-0000000010"]);
    }
}
