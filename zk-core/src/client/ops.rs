//! Every ZooKeeper operation as a method of [`Client`].
//!
//! Each method checks its arguments and enqueues the request synchronously, then returns a
//! future for the reply: requests go out in call order. Dropping a returned future does not
//! cancel the request on the server (it may still be applied); it only discards the reply.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::multi::{create_body, CreateBody, CreateOptions, Op, OpResult, ReadOp, ReadResult};
use super::watcher::{OneshotWatcher, PersistentWatcher};
use super::{Client, Sent};
use crate::error::{Error, Result};
use crate::path::validate_path;
use crate::proto::{
    Acl, AddWatchMode, AddWatchRequest, ClientInfo, Create2Response, DeleteRequest, ExistsRequest,
    GetAclRequest, GetAclResponse, GetAllChildrenNumberRequest, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    GetEphemeralsRequest, GetEphemeralsResponse, MultiRequest, MultiResponse, MultiResult, OpCode, Record,
    RemoveWatchesRequest, SetAclRequest, SetAclResponse, SetDataRequest, SetDataResponse, Stat, SyncRequest,
    WatcherType, WhoAmIResponse,
};
use crate::session::watches::{WatchKind, WatchReg};

pub(super) fn decode<R: Record>(body: &[u8]) -> Result<R> {
    Ok(R::decode(&mut &body[..])?)
}

/// A future that first reports an argument error, or else awaits a reply and decodes it.
pub(super) async fn finish<T, F>(sent: Result<Sent>, then: F) -> Result<T>
where
    F: FnOnce(&[u8]) -> Result<T>,
{
    let reply = sent?.reply().await?;
    then(&reply.body)
}

impl Client {
    /// Creates a node and returns its actual path (with the sequence suffix for sequential
    /// modes) and its [`Stat`].
    ///
    /// `options` is a [`CreateMode`](crate::CreateMode) (open ACL) or a
    /// [`CreateOptions`] with an ACL.
    ///
    /// # Errors
    /// [`Error::NodeExists`], [`Error::NoNode`] (parent missing),
    /// [`Error::NoChildrenForEphemerals`], [`Error::NoAuth`], [`Error::InvalidAcl`],
    /// [`Error::BadArguments`] (bad TTL, too large), [`Error::InvalidPath`],
    /// [`Error::Unimplemented`] (TTL disabled on the server), plus the session errors
    /// ([`Error::ConnectionLoss`]: the node may or may not have been created).
    pub fn create(
        &self,
        path: &str,
        data: &[u8],
        options: impl Into<CreateOptions>,
    ) -> impl Future<Output = Result<(String, Stat)>> + Send + 'static {
        let sent = create_body(path, data, &options.into(), (&self.inner.chroot, &self.default_acl))
            .and_then(|b| match b {
                CreateBody::Plain(op, req) => self.send(op, &req, None, None),
                CreateBody::Ttl(req) => self.send(OpCode::CreateTtl, &req, None, None),
            });
        let chroot = self.inner.chroot.clone();
        finish(sent, move |b| {
            let r: Create2Response = decode(b)?;
            Ok((chroot.to_client(&r.path), r.stat))
        })
    }

    /// Deletes a node; `version: None` deletes whatever its version.
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NotEmpty`], [`Error::NoAuth`],
    /// [`Error::BadArguments`] (the root and `/zookeeper` nodes), [`Error::InvalidPath`].
    pub fn delete(
        &self,
        path: &str,
        version: Option<i32>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            let req =
                DeleteRequest { path: self.inner.chroot.to_server(path), version: version.unwrap_or(-1) };
            self.send(OpCode::Delete, &req, None, None)
        });
        finish(sent, |_| Ok(()))
    }

    /// The node's [`Stat`], or `None` if it does not exist.
    ///
    /// # Errors
    /// [`Error::NoAuth`] (servers 3.8.4+ check READ), [`Error::InvalidPath`].
    pub fn exists(&self, path: &str) -> impl Future<Output = Result<Option<Stat>>> + Send + 'static {
        self.exists_inner(path, None)
    }

    /// Like [`Client::exists`], and watches the node: the watcher fires on its creation,
    /// deletion or data change (the watch is set also when the node is missing).
    ///
    /// # Errors
    /// As [`Client::exists`]; no watch is set on an error.
    pub fn exists_and_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Stat>, OneshotWatcher)>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let id = self.next_watch_id();
        let server_path = self.inner.chroot.to_server(path);
        let reg = WatchReg::OneShot {
            path: server_path.clone(),
            id,
            on_ok: WatchKind::Data,
            exist_on_nonode: true,
            local: false,
            tx,
        };
        let fut = self.exists_inner(path, Some(reg));
        let unwatch = self.unwatch_tx();
        async move {
            let stat = fut.await?;
            let kind = if stat.is_some() { WatchKind::Data } else { WatchKind::Exist };
            Ok((stat, OneshotWatcher::new(rx, unwatch, kind, server_path, id)))
        }
    }

    fn exists_inner(
        &self,
        path: &str,
        watch: Option<WatchReg>,
    ) -> impl Future<Output = Result<Option<Stat>>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            let req = ExistsRequest { path: self.inner.chroot.to_server(path), watch: watch.is_some() };
            self.send(OpCode::Exists, &req, watch, None)
        });
        async move {
            match sent?.reply().await {
                Ok(r) => Ok(Some(decode::<crate::proto::ExistsResponse>(&r.body)?.stat)),
                Err(Error::NoNode) => Ok(None),
                Err(e) => Err(e),
            }
        }
    }

    /// The node's data (null data reads as empty) and [`Stat`].
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], [`Error::InvalidPath`].
    pub fn get_data(&self, path: &str) -> impl Future<Output = Result<(Vec<u8>, Stat)>> + Send + 'static {
        finish(self.get_data_send(path, None), |b| {
            let r: GetDataResponse = decode(b)?;
            Ok((r.data.unwrap_or_default(), r.stat))
        })
    }

    /// Like [`Client::get_data`], and watches the node's data (fires on change or deletion).
    ///
    /// # Errors
    /// As [`Client::get_data`]; no watch is set on an error.
    pub fn get_data_and_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<u8>, Stat, OneshotWatcher)>> + Send + 'static {
        let (reg, make) = self.one_shot(path, WatchKind::Data);
        let fut = finish(self.get_data_send(path, Some(reg)), decode::<GetDataResponse>);
        async move {
            let r = fut.await?;
            Ok((r.data.unwrap_or_default(), r.stat, make()))
        }
    }

    fn get_data_send(&self, path: &str, watch: Option<WatchReg>) -> Result<Sent> {
        validate_path(path)?;
        let req = GetDataRequest { path: self.inner.chroot.to_server(path), watch: watch.is_some() };
        self.send(OpCode::GetData, &req, watch, None)
    }

    /// A one-shot registration and the function that makes its watcher once it succeeded.
    fn one_shot(
        &self,
        path: &str,
        kind: WatchKind,
    ) -> (WatchReg, impl FnOnce() -> OneshotWatcher + Send + 'static) {
        self.one_shot_at(self.inner.chroot.to_server(path), kind)
    }

    /// As `one_shot`, for a path as the server names it (no chroot added).
    pub(super) fn one_shot_at(
        &self,
        server_path: String,
        kind: WatchKind,
    ) -> (WatchReg, impl FnOnce() -> OneshotWatcher + Send + 'static) {
        let (tx, rx) = oneshot::channel();
        let id = self.next_watch_id();
        let reg = WatchReg::OneShot {
            path: server_path.clone(),
            id,
            on_ok: kind,
            exist_on_nonode: false,
            local: false,
            tx,
        };
        let unwatch = self.unwatch_tx();
        (reg, move || OneshotWatcher::new(rx, unwatch, kind, server_path, id))
    }

    /// Replaces the node's data; `version: None` whatever its version. Returns the new
    /// [`Stat`].
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NoAuth`], [`Error::InvalidPath`],
    /// [`Error::BadArguments`] when the data does not fit in a frame.
    pub fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            let req = SetDataRequest {
                path: self.inner.chroot.to_server(path),
                data: Some(data.to_vec()),
                version: version.unwrap_or(-1),
            };
            self.send(OpCode::SetData, &req, None, None)
        });
        finish(sent, |b| Ok(decode::<SetDataResponse>(b)?.stat))
    }

    /// The names of the node's children, in no particular order.
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], [`Error::InvalidPath`].
    pub fn get_children(&self, path: &str) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let sent = self.children_send(OpCode::GetChildren, path, None);
        finish(sent, |b| Ok(decode::<GetChildrenResponse>(b)?.children))
    }

    /// The names of the node's children and the node's own [`Stat`].
    ///
    /// # Errors
    /// As [`Client::get_children`].
    pub fn get_children_and_stat(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat)>> + Send + 'static {
        let sent = self.children_send(OpCode::GetChildren2, path, None);
        finish(sent, |b| {
            let r: GetChildren2Response = decode(b)?;
            Ok((r.children, r.stat))
        })
    }

    /// Like [`Client::get_children_and_stat`], and watches the children (fires when a child
    /// is created or deleted, or the node itself is deleted).
    ///
    /// # Errors
    /// As [`Client::get_children`]; no watch is set on an error.
    pub fn get_children_and_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat, OneshotWatcher)>> + Send + 'static {
        let (reg, make) = self.one_shot(path, WatchKind::Child);
        let fut = finish(self.children_send(OpCode::GetChildren2, path, Some(reg)), |b| {
            decode::<GetChildren2Response>(b)
        });
        async move {
            let r = fut.await?;
            Ok((r.children, r.stat, make()))
        }
    }

    fn children_send(&self, op: OpCode, path: &str, watch: Option<WatchReg>) -> Result<Sent> {
        validate_path(path)?;
        let req = GetChildrenRequest { path: self.inner.chroot.to_server(path), watch: watch.is_some() };
        self.send(op, &req, watch, None)
    }

    /// The node's ACL and [`Stat`].
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`] (needs READ or ADMIN), [`Error::InvalidPath`].
    pub fn get_acl(&self, path: &str) -> impl Future<Output = Result<(Vec<Acl>, Stat)>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            self.send(OpCode::GetAcl, &GetAclRequest { path: self.inner.chroot.to_server(path) }, None, None)
        });
        finish(sent, |b| {
            let r: GetAclResponse = decode(b)?;
            Ok((r.acl, r.stat))
        })
    }

    /// Replaces the node's ACL; `version` is the expected ACL version (`aversion`).
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NoAuth`] (needs ADMIN),
    /// [`Error::InvalidAcl`], [`Error::InvalidPath`].
    pub fn set_acl(
        &self,
        path: &str,
        acl: &[Acl],
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            if acl.is_empty() {
                return Err(Error::InvalidAcl);
            }
            let req = SetAclRequest {
                path: self.inner.chroot.to_server(path),
                acl: acl.to_vec(),
                version: version.unwrap_or(-1),
            };
            self.send(OpCode::SetAcl, &req, None, None)
        });
        finish(sent, |b| Ok(decode::<SetAclResponse>(b)?.stat))
    }

    /// Waits until the server this client talks to has applied every write the leader had
    /// committed when the sync arrived.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] and the session errors.
    pub fn sync(&self, path: &str) -> impl Future<Output = Result<()>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            self.send(OpCode::Sync, &SyncRequest { path: self.inner.chroot.to_server(path) }, None, None)
        });
        finish(sent, |_| Ok(()))
    }

    /// Applies `ops` atomically: all of them or none.
    ///
    /// # Errors
    /// [`Error::MultiFailed`] with the index and error of the first failing op (nothing was
    /// applied); argument errors of any op before sending; the session errors;
    /// [`Error::Protocol`] when a successful reply does not hold one result per op.
    pub fn multi(&self, ops: &[Op]) -> impl Future<Output = Result<Vec<OpResult>>> + Send + 'static {
        let chroot = self.inner.chroot.clone();
        let count = ops.len();
        let sent = ops
            .iter()
            .map(|op| op.to_wire(&chroot, &self.default_acl))
            .collect::<Result<Vec<_>>>()
            .and_then(|ops| self.send(OpCode::Multi, &MultiRequest { ops }, None, None));
        finish(sent, move |b| {
            let r: MultiResponse = decode(b)?;
            if let Some((index, code)) = r.results.iter().enumerate().find_map(|(i, res)| match res {
                MultiResult::Error(c) if *c != 0 && *c != -2 => Some((i, *c)),
                _ => None,
            }) {
                return Err(Error::MultiFailed { index, error: Box::new(Error::from_code(code)) });
            }
            one_per_op(&r, count)?;
            r.results.into_iter().map(|res| op_result(res, &chroot)).collect()
        })
    }

    /// Reads several nodes in one round trip; each read succeeds or fails on its own.
    ///
    /// # Errors
    /// The outer error is an argument or session error, or [`Error::Protocol`] when the reply
    /// does not hold one result per read; per-read errors ([`Error::NoNode`],
    /// [`Error::NoAuth`]) are in the list.
    pub fn multi_read(
        &self,
        ops: &[ReadOp],
    ) -> impl Future<Output = Result<Vec<Result<ReadResult>>>> + Send + 'static {
        let chroot = self.inner.chroot.clone();
        let count = ops.len();
        let sent = ops
            .iter()
            .map(|op| op.to_wire(&chroot))
            .collect::<Result<Vec<_>>>()
            .and_then(|ops| self.send(OpCode::MultiRead, &MultiRequest { ops }, None, None));
        finish(sent, move |b| {
            let r: MultiResponse = decode(b)?;
            one_per_op(&r, count)?;
            Ok(r.results
                .into_iter()
                .map(|res| match res {
                    MultiResult::GetData(d) => {
                        Ok(ReadResult::Data { data: d.data.unwrap_or_default(), stat: d.stat })
                    }
                    MultiResult::GetChildren(c) => Ok(ReadResult::Children(c.children)),
                    MultiResult::Error(code) => Err(Error::from_code(code)),
                    other => Err(Error::Protocol(format!("unexpected multi_read result {other:?}"))),
                })
                .collect())
        })
    }

    /// The paths of this session's ephemeral nodes that start with `prefix` (a plain string
    /// prefix, not necessarily a whole path; `"/"` for all).
    ///
    /// # Errors
    /// [`Error::BadArguments`] when the prefix does not start with `/`; session errors;
    /// [`Error::Unimplemented`] before ZooKeeper 3.6.
    pub fn get_ephemerals(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let chroot = self.inner.chroot.clone();
        let sent = if prefix.starts_with('/') {
            let prefix_path = if prefix == "/" { chroot.to_server("/") } else { chroot.to_server(prefix) };
            self.send(OpCode::GetEphemerals, &GetEphemeralsRequest { prefix_path }, None, None)
        } else {
            Err(Error::BadArguments(format!("ephemeral prefix {prefix:?} must start with '/'")))
        };
        finish(sent, move |b| {
            let r: GetEphemeralsResponse = decode(b)?;
            Ok(r.ephemerals.iter().filter_map(|p| chroot.strip(p).map(str::to_owned)).collect())
        })
    }

    /// The number of all descendants of the node (not counting itself).
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], [`Error::InvalidPath`].
    pub fn get_all_children_number(&self, path: &str) -> impl Future<Output = Result<i32>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            let req = GetAllChildrenNumberRequest { path: self.inner.chroot.to_server(path) };
            self.send(OpCode::GetAllChildrenNumber, &req, None, None)
        });
        finish(sent, |b| Ok(decode::<GetAllChildrenNumberResponse>(b)?.total_number))
    }

    /// Adds an identity to this connection (and every later one of this client): for digest,
    /// `add_auth("digest", b"user:password")`.
    ///
    /// # Errors
    /// [`Error::AuthFailed`] (the client is then dead, as ZooKeeper closes the connection);
    /// [`Error::ConnectionLoss`] when the connection broke first: the identity is still re-sent
    /// on the next connection.
    pub fn add_auth(&self, scheme: &str, auth: &[u8]) -> impl Future<Output = Result<()>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = if scheme.is_empty() {
            Err(Error::BadArguments("auth scheme must not be empty".into()))
        } else {
            let cmd =
                crate::session::Command::Auth { scheme: scheme.to_owned(), auth: auth.to_vec(), reply: tx };
            self.inner.cmd_tx.send(cmd).map_err(|_| self.terminal_error())
        };
        let client = self.clone();
        async move {
            sent?;
            rx.await.unwrap_or_else(|_| Err(client.terminal_error()))
        }
    }

    /// The identities of this connection as the server sees them (ZooKeeper 3.7+).
    ///
    /// # Errors
    /// Session errors; [`Error::Unimplemented`] on older servers.
    pub fn who_am_i(&self) -> impl Future<Output = Result<Vec<ClientInfo>>> + Send + 'static {
        finish(self.send(OpCode::WhoAmI, &(), None, None), |b| Ok(decode::<WhoAmIResponse>(b)?.client_info))
    }

    /// Adds a persistent watch on `path` (which need not exist): with
    /// [`AddWatchMode::Persistent`] every change of the node and of its list of children,
    /// with [`AddWatchMode::PersistentRecursive`] every change of the node and all its
    /// descendants (but no `NodeChildrenChanged`). ZooKeeper 3.6+.
    ///
    /// Any number of watchers of any kind may share a path through one client (a cache, a
    /// recipe and your own code): the client keeps one server registration per path that
    /// covers them all and routes each event to the watchers it concerns, because ZooKeeper
    /// 3.6-3.8 keeps one watch mode per connection and path, so a second registration would
    /// replace the first. A one-shot read on a path with a persistent watch is then served from
    /// that registration, and the registration stays until the last watcher on the path is
    /// dropped.
    ///
    /// # Errors
    /// [`Error::InvalidPath`]; session errors; [`Error::Unimplemented`] on older servers.
    pub fn add_watch(
        &self,
        path: &str,
        mode: AddWatchMode,
    ) -> impl Future<Output = Result<PersistentWatcher>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.next_watch_id();
        let server_path = self.inner.chroot.to_server(path);
        let recursive = mode == AddWatchMode::PersistentRecursive;
        let reg = WatchReg::Persistent { path: server_path.clone(), id, recursive, sent: None, tx };
        let sent = validate_path(path).and_then(|()| {
            let req = AddWatchRequest { path: server_path.clone(), mode: mode.code() };
            self.send(OpCode::AddWatch, &req, Some(reg), None)
        });
        let unwatch = self.unwatch_tx();
        let kind = if recursive { WatchKind::Recursive } else { WatchKind::Persistent };
        finish(sent, move |_| Ok(PersistentWatcher::new(rx, unwatch, kind, server_path, id)))
    }

    /// Removes this client's watches of `kind` on `path`, on the server and locally; each
    /// removed local watcher sees a `*WatchRemoved` event.
    ///
    /// # Errors
    /// [`Error::NoWatcher`] when the server had no such watch; [`Error::MarshallingError`]
    /// for `Persistent`/`PersistentRecursive` on servers before 3.9.
    pub fn remove_watches(
        &self,
        path: &str,
        kind: WatcherType,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            let server_path = self.inner.chroot.to_server(path);
            let req = RemoveWatchesRequest { path: server_path.clone(), watcher_type: kind.code() };
            self.send(OpCode::RemoveWatches, &req, None, Some((server_path, kind)))
        });
        finish(sent, |_| Ok(()))
    }

    /// Asks the server whether this connection holds a watch of `kind` on `path`.
    ///
    /// # Errors
    /// [`Error::NoWatcher`] when it does not.
    pub fn check_watches(
        &self,
        path: &str,
        kind: WatcherType,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let sent = validate_path(path).and_then(|()| {
            let req =
                RemoveWatchesRequest { path: self.inner.chroot.to_server(path), watcher_type: kind.code() };
            self.send(OpCode::CheckWatches, &req, None, None)
        });
        finish(sent, |_| Ok(()))
    }
}

/// Checks that a multi reply has one result per op sent: callers match them up by index.
fn one_per_op(r: &MultiResponse, ops: usize) -> Result<()> {
    if r.results.len() == ops {
        Ok(())
    } else {
        Err(Error::Protocol(format!("a multi of {ops} ops answered with {} results", r.results.len())))
    }
}

fn op_result(res: MultiResult, chroot: &crate::path::Chroot) -> Result<OpResult> {
    Ok(match res {
        MultiResult::Create(c) => OpResult::Create { path: chroot.to_client(&c.path), stat: None },
        MultiResult::Create2(c) => OpResult::Create { path: chroot.to_client(&c.path), stat: Some(c.stat) },
        MultiResult::Delete => OpResult::Delete,
        MultiResult::SetData(s) => OpResult::SetData { stat: s.stat },
        MultiResult::Check => OpResult::Check,
        other => return Err(Error::Protocol(format!("unexpected multi result {other:?}"))),
    })
}
