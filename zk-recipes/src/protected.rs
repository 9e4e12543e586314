//! Protected creates, as Curator's `CreateBuilder.withProtection()` does them.
//!
//! A sequential create that fails with `ConnectionLoss` may or may not have been applied, and
//! its name is unknown. So the node's name starts with `_c_<uuid>-` (a fresh v4 UUID per
//! attempt); after a loss we list the parent and look for that prefix, which finds our node
//! again instead of creating a second one (no duplicate) or forgetting the first (no orphan).
//! Parents are created as containers when missing, and again when a container vanished
//! between two steps (§5.8 of the protocol reference).
//!
//! [`Cleanup`] deletes a node whose owner went away (a dropped future, a dropped guard), from a
//! background task when it has to: a protected node, or one checked to be still ours (by its
//! ephemeral owner or by a token in its data).

use zk_core::path::join;
use zk_core::proto::DEFAULT_MAX_FRAME;
use zk_core::{Client, CreateMode};

use crate::error::{Error, Result};
use crate::retry::Retries;

/// Curator's `ProtectedUtils.PROTECTED_PREFIX`.
pub(crate) const PROTECTED_PREFIX: &str = "_c_";
/// `_c_` + 36 characters of UUID + `-`.
const PROTECTED_PREFIX_LEN: usize = 3 + 36 + 1;
/// Attempts of a background delete before giving up (the session normally ends first).
const DELETE_ATTEMPTS: u32 = 10_000;
/// Room left in a create request for its header, node name, ACL and flags.
const REQUEST_OVERHEAD: usize = 256;

/// Rejects `len` bytes of data (`what`, as "a latch id") for a node under `dir` before
/// sending: the server refuses a create whose whole request exceeds its default
/// `jute.maxbuffer` (1 MiB - 1, zk-core's [`DEFAULT_MAX_FRAME`]), and a recipe would retry it
/// for ever.
pub(crate) fn check_node_size(dir: &str, len: usize, what: &str) -> Result<()> {
    let limit = DEFAULT_MAX_FRAME.saturating_sub(dir.len() + REQUEST_OVERHEAD);
    if len > limit {
        return Err(Error::InvalidArgument(format!(
            "{what} of {len} bytes exceeds the {limit} bytes a node under {dir} may hold"
        )));
    }
    Ok(())
}

/// A fresh protected prefix: `_c_<uuid>-`.
pub(crate) fn new_prefix() -> String {
    format!("{PROTECTED_PREFIX}{}-", uuid::Uuid::new_v4())
}

/// True when `name` (a node name, not a path) carries a protected prefix.
pub(crate) fn is_protected(name: &str) -> bool {
    name.len() > PROTECTED_PREFIX_LEN
        && name.starts_with(PROTECTED_PREFIX)
        && name.as_bytes()[PROTECTED_PREFIX_LEN - 1] == b'-'
}

/// The name without its protected prefix, as Curator's `ProtectedUtils.normalize`.
pub(crate) fn normalize(name: &str) -> &str {
    if is_protected(name) {
        &name[PROTECTED_PREFIX_LEN..]
    } else {
        name
    }
}

/// Creates `<dir>/<prefix><name>` with `mode`, creating `dir` and its ancestors as containers
/// when missing, and returns the created path.
///
/// Retryable errors are retried (bounded); after one of them the node is first looked for by
/// its prefix.
pub(crate) async fn create(
    client: &Client,
    dir: &str,
    prefix: &str,
    name: &str,
    data: &[u8],
    mode: CreateMode,
) -> zk_core::Result<String> {
    let full = join(dir, &format!("{prefix}{name}"));
    let mut maybe_created = false;
    let mut retries = Retries::new(client, "protected create");
    // Bounded by the client's retry policy: each failed pass takes one of its delays.
    loop {
        if maybe_created {
            match find(client, dir, prefix).await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(e) => {
                    retries.wait(e).await?;
                    continue;
                }
            }
        }
        match client.create(&full, data, mode).await {
            Ok((path, _)) => return Ok(path),
            Err(zk_core::Error::NoNode) => {
                if let Err(e) = ensure_containers(client, dir).await {
                    retries.wait(e).await?;
                }
            }
            Err(e) => {
                if e.is_retryable() {
                    tracing::debug!(path = %full, error = %e, "protected create: looking for our node");
                    maybe_created = true;
                }
                retries.wait(e).await?;
            }
        }
    }
}

/// The path of the child of `dir` whose name starts with `prefix`, if any (a missing `dir`
/// means none).
pub(crate) async fn find(client: &Client, dir: &str, prefix: &str) -> zk_core::Result<Option<String>> {
    match client.get_children(dir).await {
        Ok(children) => Ok(children.iter().find(|c| c.starts_with(prefix)).map(|c| join(dir, c))),
        Err(zk_core::Error::NoNode) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates `path` and its missing ancestors as containers (Curator's
/// `creatingParentContainersIfNeeded`); existing nodes are left alone.
pub(crate) async fn ensure_containers(client: &Client, path: &str) -> zk_core::Result<()> {
    if path == "/" {
        return Ok(());
    }
    match client.create_with_parents(path, b"", CreateMode::Container, CreateMode::Container).await {
        Ok(_) | Err(zk_core::Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `path` with `data` and `mode`, making missing ancestors containers (Curator's
/// `creatingParentContainersIfNeeded`, zk-core's [`Client::create_with_parents`]): `true`
/// when created, `false` when it already existed. Other errors, retryable ones included,
/// are the caller's to handle.
pub(crate) async fn create_with_parents(
    client: &Client,
    path: &str,
    data: &[u8],
    mode: CreateMode,
) -> zk_core::Result<bool> {
    match client.create_with_parents(path, data, mode, CreateMode::Container).await {
        Ok(_) => Ok(true),
        Err(zk_core::Error::NodeExists) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Which node a [`Cleanup`] deletes.
#[derive(Debug, Clone)]
enum Target {
    /// The create may be in flight or lost: find the node by its prefix.
    Prefix { dir: String, prefix: String },
    /// The node's path is known.
    Path(String),
    /// An ephemeral at a path another session may hold too: deleted only while the client's
    /// session owns it (the version check makes sure it is the node we looked at).
    IfOurs(String),
    /// A node at a path others may hold too (even from this session): deleted only while it
    /// holds `token` (the version check makes sure it is the node we read).
    IfHolds { path: String, token: Vec<u8> },
}

/// Deletes a node unless disarmed: now with [`Cleanup::run`], or from a background task when
/// dropped while armed (so a cancelled future or a dropped guard leaves nothing behind once
/// the session can reach the server).
#[derive(Debug)]
pub(crate) struct Cleanup {
    client: Client,
    target: Target,
    /// Tries of the delete failing with retryable errors before giving up.
    attempts: u32,
    armed: bool,
}

impl Cleanup {
    fn new(client: &Client, target: Target) -> Cleanup {
        Cleanup { client: client.clone(), target, attempts: DELETE_ATTEMPTS, armed: true }
    }

    /// Armed for the node `<dir>/<prefix>...` whose create may be in flight.
    pub(crate) fn for_prefix(client: &Client, dir: &str, prefix: &str) -> Cleanup {
        Cleanup::new(client, Target::Prefix { dir: dir.to_owned(), prefix: prefix.to_owned() })
    }

    /// Armed for the node at `path`.
    pub(crate) fn for_path(client: &Client, path: &str) -> Cleanup {
        Cleanup::new(client, Target::Path(path.to_owned()))
    }

    /// Armed for the ephemeral at `path`, deleted only if `client`'s session owns it.
    pub(crate) fn for_ephemeral_if_ours(client: &Client, path: &str) -> Cleanup {
        Cleanup::new(client, Target::IfOurs(path.to_owned()))
    }

    /// Armed for the node at `path`, deleted only while its data is `token`.
    pub(crate) fn for_node_holding(client: &Client, path: &str, token: &[u8]) -> Cleanup {
        Cleanup::new(client, Target::IfHolds { path: path.to_owned(), token: token.to_vec() })
    }

    /// Gives up after `attempts` tries failing with retryable errors (instead of
    /// [`DELETE_ATTEMPTS`]).
    pub(crate) fn with_attempts(mut self, attempts: u32) -> Cleanup {
        self.attempts = attempts;
        self
    }

    /// The node was created at `path`: delete that one.
    pub(crate) fn created(&mut self, path: &str) {
        self.target = Target::Path(path.to_owned());
    }

    /// The node now belongs to someone else (a guard): do nothing.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }

    /// Deletes the node now. If this future is dropped first, the delete continues in the
    /// background.
    pub(crate) async fn run(mut self) -> zk_core::Result<()> {
        let r = delete(&self.client, &self.target, self.attempts).await;
        self.armed = false;
        r
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (client, target, attempts) = (self.client.clone(), self.target.clone(), self.attempts);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    match delete(&client, &target, attempts).await {
                        // A session that ended took its ephemerals with it.
                        Ok(()) => {}
                        Err(e) if e.is_terminal() => {}
                        Err(e) => tracing::warn!(?target, error = %e, "could not delete an abandoned node"),
                    }
                });
            }
            Err(_) => tracing::warn!(
                ?target,
                "no runtime to delete an abandoned node; an ephemeral lives until the session ends"
            ),
        }
    }
}

/// Deletes the target, retrying retryable errors (and a `BadVersion`: the node changed
/// between the look and the delete) until it is gone, not ours, or the session ended (a dead
/// session took its ephemerals with it); at most `attempts` tries.
async fn delete(client: &Client, target: &Target, attempts: u32) -> zk_core::Result<()> {
    let mut retries = Retries::new(client, "cleanup delete");
    let mut last = None;
    for _ in 0..attempts {
        match delete_once(client, target).await {
            Ok(()) | Err(zk_core::Error::NoNode) => return Ok(()),
            Err(e) if e.is_retryable() || e == zk_core::Error::BadVersion => {
                last = Some(e);
                retries.pause().await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(zk_core::Error::BadArguments("a cleanup with no attempts".into())))
}

/// One try of [`delete`]: `Ok` also when there is nothing of ours to delete.
async fn delete_once(client: &Client, target: &Target) -> zk_core::Result<()> {
    match target {
        Target::Path(path) => client.delete(path, None).await,
        Target::Prefix { dir, prefix } => match find(client, dir, prefix).await? {
            Some(path) => client.delete(&path, None).await,
            None => Ok(()),
        },
        Target::IfOurs(path) => match client.exists(path).await? {
            Some(stat) if stat.ephemeral_owner == client.session_id() => {
                client.delete(path, Some(stat.version)).await
            }
            _ => Ok(()),
        },
        Target::IfHolds { path, token } => match client.get_data(path).await? {
            (data, stat) if data == *token => client.delete(path, Some(stat.version)).await,
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_data_is_rejected_before_sending() {
        assert!(check_node_size("/q", 1000, "data").is_ok());
        assert!(matches!(check_node_size("/q", DEFAULT_MAX_FRAME, "data"), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn prefixes_look_like_curators() {
        let p = new_prefix();
        assert_eq!(p.len(), PROTECTED_PREFIX_LEN);
        let name = format!("{p}lock-0000000003");
        assert!(is_protected(&name));
        assert_eq!(normalize(&name), "lock-0000000003");
        assert!(!is_protected("lock-0000000003"));
        assert_eq!(normalize("lock-0000000003"), "lock-0000000003");
    }
}
