//! Single requests, each with the reference server's order of checks (§4.3, §9.5, §10.2).

use zk_core::path::validate_path;
use zk_core::proto::{
    AddWatchRequest, CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    ErrorCode, ErrorResponse, EventType, ExistsResponse, GetAclResponse, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, OpCode, Perms, Record,
    RemoveWatchesRequest, Request, SetAclRequest, SetAclResponse, SetDataRequest, SetDataResponse,
    SetWatches2, SyncResponse, WatcherType,
};

use super::acl;
use super::index::Idx;
use super::tree::{parent_path, Kind, Node, MAX_PATH};
use super::watches::{CHILD, DATA, PERSISTENT, RECURSIVE};
use super::{ConnId, Reply, State, RESERVED};

/// Largest TTL: 40 bits of ms (§5.7).
const MAX_TTL: i64 = (1 << 40) - 1;

type OpResult<T> = Result<T, ErrorCode>;

/// A create of any opcode (create, create2, createContainer, createTTL), as sent.
#[derive(Debug)]
pub(super) struct CreateSpec {
    pub(super) op: OpCode,
    pub(super) path: String,
    pub(super) data: Option<Vec<u8>>,
    pub(super) acl: Vec<zk_core::proto::Acl>,
    pub(super) flags: i32,
    /// -1 for the opcodes that carry no TTL.
    pub(super) ttl: i64,
}

impl CreateSpec {
    pub(super) fn new(op: OpCode, r: CreateRequest) -> Self {
        CreateSpec { op, path: r.path, data: r.data, acl: r.acl, flags: r.flags, ttl: -1 }
    }

    pub(super) fn ttl(r: CreateTtlRequest) -> Self {
        let CreateTtlRequest { path, data, acl, flags, ttl } = r;
        CreateSpec { op: OpCode::CreateTtl, path, data, acl, flags, ttl }
    }
}

/// The create modes of §5.4: (ephemeral, sequential, ttl).
fn mode(flags: i32) -> Option<(bool, bool, bool)> {
    Some(match flags {
        0 | 4 => (false, false, false),
        1 => (true, false, false),
        2 => (false, true, false),
        3 => (true, true, false),
        5 => (false, false, true),
        6 => (false, true, true),
        _ => return None,
    })
}

/// Java's `%010d`: zero padding after the sign (`-000000001`, `-2147483648`).
pub(super) fn sequence_suffix(counter: i32) -> String {
    format!("{counter:010}")
}

fn version_matches(expected: i32, actual: i32) -> OpResult<()> {
    if expected == -1 || expected == actual {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}

/// Full validation (§10.1). Paths longer than a node can hold (far beyond the 1 MiB frame
/// limit, so unreachable from the wire) are refused too.
fn full_path_check(path: &str) -> OpResult<()> {
    if path.len() > MAX_PATH {
        return Err(ErrorCode::BadArguments);
    }
    validate_path(path).map_err(|_| ErrorCode::BadArguments)
}

/// delete's minimal path check (§10.2): a `/`, no NUL, not reserved. Returns the parent path.
fn deletable_parent(path: &str) -> OpResult<&str> {
    if path.contains('\0') || RESERVED.contains(&path) {
        return Err(ErrorCode::BadArguments);
    }
    parent_path(path).ok_or(ErrorCode::BadArguments)
}

impl State {
    pub(super) fn dispatch(&mut self, conn: ConnId, request: Request, now: i64) -> Reply {
        use Request as R;
        match request {
            R::Create(r) => {
                self.write(|s, z| s.create_reply(conn, CreateSpec::new(OpCode::Create, r), z, now))
            }
            R::Create2(r) => {
                self.write(|s, z| s.create_reply(conn, CreateSpec::new(OpCode::Create2, r), z, now))
            }
            R::CreateContainer(r) => {
                self.write(|s, z| s.create_reply(conn, CreateSpec::new(OpCode::CreateContainer, r), z, now))
            }
            R::CreateTtl(r) => self.write(|s, z| s.create_reply(conn, CreateSpec::ttl(r), z, now)),
            R::Delete(r) => self.write(|s, z| s.delete(conn, &r.path, r.version, z).map(|()| Vec::new())),
            R::DeleteContainer(r) => self.write(|s, z| s.delete_container(&r.path, z).map(|()| Vec::new())),
            R::SetData(r) => self.write(|s, z| {
                let idx = s.set_data(conn, r, z, now)?;
                Ok(SetDataResponse { stat: s.tree.node(idx).stat() }.to_bytes())
            }),
            R::SetAcl(r) => self.write(|s, _| s.set_acl(conn, r)),
            R::Multi(m) => {
                let zxid = self.next_zxid();
                let body = self.multi(conn, m.ops, zxid, now);
                Reply::from_result(zxid, body)
            }
            // A write-class request: it consumes a zxid before failing (§4.3).
            R::Reconfig(_) => self.write(|_, _| Err(ErrorCode::ReconfigDisabled)),
            R::Check(_) => {
                Reply { close_connection: true, ..Reply::error(self.zxid, ErrorCode::Unimplemented) }
            }
            R::MultiRead(m) => self.read(|s| s.multi_read(conn, m.ops)),
            R::Exists(r) => self.read(|s| s.exists(conn, &r.path, r.watch)),
            R::GetData(r) => self.read(|s| s.get_data(conn, &r.path, r.watch).map(|d| d.to_bytes())),
            R::GetChildren(r) => self.read(|s| {
                let (children, _) = s.get_children(conn, &r.path, r.watch)?;
                Ok(GetChildrenResponse { children }.to_bytes())
            }),
            R::GetChildren2(r) => self.read(|s| {
                let (children, stat) = s.get_children(conn, &r.path, r.watch)?;
                Ok(GetChildren2Response { children, stat }.to_bytes())
            }),
            R::GetAcl(r) => self.read(|s| s.get_acl(conn, &r.path)),
            R::GetAllChildrenNumber(r) => self.read(|s| {
                let idx = s.readable(conn, &r.path)?;
                let total_number = i32::try_from(s.tree.descendants(idx)).unwrap_or(i32::MAX);
                Ok(GetAllChildrenNumberResponse { total_number }.to_bytes())
            }),
            R::GetEphemerals(r) => self.read(|s| Ok(s.get_ephemerals(conn, &r.prefix_path).to_bytes())),
            R::Sync(r) => self.read(|_| Ok(SyncResponse { path: r.path }.to_bytes())),
            R::AddWatch(r) => self.read(|s| s.add_watch(conn, r)),
            R::CheckWatches(r) => self.read(|s| s.check_watches(conn, r, false)),
            R::RemoveWatches(r) => self.read(|s| s.check_watches(conn, r, true)),
            R::SetWatches(r) => self.read(|s| {
                let zk_core::proto::SetWatches { relative_zxid, data_watches, exist_watches, child_watches } =
                    r;
                let all = SetWatches2 {
                    relative_zxid,
                    data_watches,
                    exist_watches,
                    child_watches,
                    ..Default::default()
                };
                s.set_watches(conn, all);
                Ok(Vec::new())
            }),
            R::SetWatches2(r) => self.read(|s| {
                s.set_watches(conn, r);
                Ok(Vec::new())
            }),
            // The shell's own requests (ping, auth, sasl, whoAmI, closeSession).
            R::Ping | R::Auth(_) | R::Sasl(_) | R::WhoAmI | R::CloseSession => {
                Reply { close_connection: true, ..Reply::error(self.zxid, ErrorCode::Unimplemented) }
            }
        }
    }

    /// A write-class request: the next zxid is assigned before validation, so a failure still
    /// consumes it and its reply carries it (§4.3).
    fn write(&mut self, f: impl FnOnce(&mut State, i64) -> OpResult<Vec<u8>>) -> Reply {
        let zxid = self.next_zxid();
        let r = f(self, zxid);
        Reply::from_result(zxid, r)
    }

    fn read(&mut self, f: impl FnOnce(&mut State) -> OpResult<Vec<u8>>) -> Reply {
        let r = f(self);
        Reply::from_result(self.zxid, r)
    }

    fn create_reply(&mut self, conn: ConnId, spec: CreateSpec, zxid: i64, now: i64) -> OpResult<Vec<u8>> {
        let op = spec.op;
        let (path, idx) = self.create(conn, spec, zxid, now)?;
        Ok(if op == OpCode::Create {
            CreateResponse { path }.to_bytes()
        } else {
            Create2Response { path, stat: self.tree.node(idx).stat() }.to_bytes()
        })
    }

    /// create / create2 / createContainer / createTTL, checks in the order of §4.3.
    pub(super) fn create(
        &mut self,
        conn: ConnId,
        spec: CreateSpec,
        zxid: i64,
        now: i64,
    ) -> OpResult<(String, Idx)> {
        let (ephemeral, sequential, ttl_mode) = mode(spec.flags).ok_or(ErrorCode::BadArguments)?;
        if ttl_mode && !self.config.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        let ttl_ok = if ttl_mode { (1..=MAX_TTL).contains(&spec.ttl) } else { spec.ttl < 0 };
        if !ttl_ok {
            return Err(ErrorCode::BadArguments);
        }
        if spec.path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = parent_path(&spec.path).ok_or(ErrorCode::BadArguments)?;
        let acl = acl::fixup(&spec.acl, self.ids(conn))?;
        let parent = self.tree.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, parent, Perms::CREATE) {
            return Err(ErrorCode::NoAuth);
        }
        let mut path = spec.path;
        if sequential {
            path.push_str(&sequence_suffix(self.tree.node(parent).cseq));
        }
        full_path_check(&path)?;
        if self.tree.lookup(&path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if self.tree.node(parent).kind() == Kind::Ephemeral {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        // The node kind follows the opcode's transaction type: createContainer always makes a
        // container, createTTL a TTL node; flags 4 through create/create2 make a plain node.
        let (kind, owner) = match spec.op {
            OpCode::CreateContainer => (Kind::Container, 0),
            OpCode::CreateTtl if ttl_mode => (Kind::Ttl, spec.ttl),
            _ if ephemeral => (Kind::Ephemeral, self.session(conn)),
            _ => (Kind::Persistent, 0),
        };
        let acl = self.tree.acls.intern(&acl);
        let node = Node::new(&path, spec.data.as_deref(), acl, kind, owner).created(zxid, now);
        let idx = self.tree.create(parent, node, zxid);
        self.emit(EventType::NodeCreated, idx);
        self.emit(EventType::NodeChildrenChanged, parent);
        Ok((path, idx))
    }

    /// delete (§4.3): path → parent → DELETE on parent → node → version → children.
    pub(super) fn delete(&mut self, conn: ConnId, path: &str, version: i32, zxid: i64) -> OpResult<()> {
        let parent = self.tree.lookup(deletable_parent(path)?).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, parent, Perms::DELETE) {
            return Err(ErrorCode::NoAuth);
        }
        let idx = self.tree.lookup(path).ok_or(ErrorCode::NoNode)?;
        version_matches(version, self.tree.node(idx).version)?;
        if self.tree.node(idx).num_children() > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        self.remove_node(idx, Some(parent), zxid);
        Ok(())
    }

    /// deleteContainer (the reaper's request; accepted from clients): no ACL, no version;
    /// refuses session ephemerals with BADVERSION as the reference does.
    fn delete_container(&mut self, path: &str, zxid: i64) -> OpResult<()> {
        let parent_path = deletable_parent(path)?;
        let idx = self.tree.lookup(path).ok_or(ErrorCode::NoNode)?;
        if self.tree.node(idx).num_children() > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        if self.tree.node(idx).kind() == Kind::Ephemeral {
            return Err(ErrorCode::BadVersion);
        }
        let parent = self.tree.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        self.remove_node(idx, Some(parent), zxid);
        Ok(())
    }

    /// setData (§4.3): path → node → WRITE → version → apply (even identical bytes bump it).
    pub(super) fn set_data(&mut self, conn: ConnId, r: SetDataRequest, zxid: i64, now: i64) -> OpResult<Idx> {
        full_path_check(&r.path)?;
        let idx = self.tree.lookup(&r.path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, idx, Perms::WRITE) {
            return Err(ErrorCode::NoAuth);
        }
        version_matches(r.version, self.tree.node(idx).version)?;
        self.tree.set_data(idx, r.data.as_deref(), zxid, now);
        self.emit(EventType::NodeDataChanged, idx);
        Ok(idx)
    }

    /// check inside a multi (§4.3): path → node → READ → version.
    pub(super) fn check_version(&self, conn: ConnId, r: &CheckVersionRequest) -> OpResult<()> {
        full_path_check(&r.path)?;
        let idx = self.tree.lookup(&r.path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, idx, Perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        version_matches(r.version, self.tree.node(idx).version)
    }

    /// setACL (§4.3): path → ACL valid → node → ADMIN → aversion. Fires no watch.
    fn set_acl(&mut self, conn: ConnId, r: SetAclRequest) -> OpResult<Vec<u8>> {
        full_path_check(&r.path)?;
        let acl = acl::fixup(&r.acl, self.ids(conn))?;
        let idx = self.tree.lookup(&r.path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, idx, Perms::ADMIN) {
            return Err(ErrorCode::NoAuth);
        }
        version_matches(r.version, self.tree.node(idx).aversion)?;
        let acl = self.tree.acls.intern(&acl);
        self.tree.set_acl(idx, acl);
        Ok(SetAclResponse { stat: self.tree.node(idx).stat() }.to_bytes())
    }

    /// A node the connection may read: NONODE, then NOAUTH (reads do no path validation).
    pub(super) fn readable(&self, conn: ConnId, path: &str) -> OpResult<Idx> {
        let idx = self.tree.lookup(path).ok_or(ErrorCode::NoNode)?;
        if self.allowed(conn, idx, Perms::READ) {
            Ok(idx)
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    /// exists: NUL → READ if present (3.8.4+; not checked by 3.8.0) → watch (also on a missing node) → NONODE.
    fn exists(&mut self, conn: ConnId, path: &str, watch: bool) -> OpResult<Vec<u8>> {
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let found = self.tree.lookup(path);
        if let Some(idx) = found.filter(|_| self.config.version.read_checks_exists()) {
            if !self.allowed(conn, idx, Perms::READ) {
                return Err(ErrorCode::NoAuth);
            }
        }
        if watch {
            self.watches.add(conn, path, DATA);
        }
        let idx = found.ok_or(ErrorCode::NoNode)?;
        Ok(ExistsResponse { stat: self.tree.node(idx).stat() }.to_bytes())
    }

    pub(super) fn get_data(&mut self, conn: ConnId, path: &str, watch: bool) -> OpResult<GetDataResponse> {
        let idx = self.readable(conn, path)?;
        if watch {
            self.watches.add(conn, path, DATA);
        }
        let n = self.tree.node(idx);
        Ok(GetDataResponse { data: n.data().map(<[u8]>::to_vec), stat: n.stat() })
    }

    pub(super) fn get_children(
        &mut self,
        conn: ConnId,
        path: &str,
        watch: bool,
    ) -> OpResult<(Vec<String>, zk_core::proto::Stat)> {
        let idx = self.readable(conn, path)?;
        if watch {
            self.watches.add(conn, path, CHILD);
        }
        Ok((self.tree.child_names(idx), self.tree.node(idx).stat()))
    }

    /// getACL: node → READ or ADMIN; digest ids masked without ADMIN (§4.3).
    fn get_acl(&self, conn: ConnId, path: &str) -> OpResult<Vec<u8>> {
        let idx = self.tree.lookup(path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, idx, Perms::READ | Perms::ADMIN) {
            return Err(ErrorCode::NoAuth);
        }
        let list = self.tree.acls.get(self.tree.node(idx).acl);
        let acl = if self.allowed(conn, idx, Perms::ADMIN) { list.to_vec() } else { acl::masked(list) };
        Ok(GetAclResponse { acl, stat: self.tree.node(idx).stat() }.to_bytes())
    }

    /// This session's ephemerals whose path starts with `prefix` (a plain string prefix; an
    /// empty, blank or `/` prefix means all), sorted.
    fn get_ephemerals(&self, conn: ConnId, prefix: &str) -> GetEphemeralsResponse {
        let trimmed = prefix.trim_matches(|c: char| c <= ' ');
        let all = trimmed.is_empty() || trimmed == "/";
        let mut ephemerals = self.ephemerals(self.session(conn));
        ephemerals.retain(|p| all || p.starts_with(prefix));
        GetEphemeralsResponse { ephemerals }
    }

    /// addWatch: mode 0 persistent, 1 persistent recursive; no ACL or existence check.
    fn add_watch(&mut self, conn: ConnId, r: AddWatchRequest) -> OpResult<Vec<u8>> {
        let bits = match r.mode {
            0 => PERSISTENT,
            1 => RECURSIVE,
            _ => return Err(ErrorCode::MarshallingError),
        };
        self.watches.add(conn, &r.path, bits);
        Ok(ErrorResponse { err: 0 }.to_bytes())
    }

    /// checkWatches / removeWatches (§7.6): NOWATCHER when nothing matches.
    fn check_watches(&mut self, conn: ConnId, r: RemoveWatchesRequest, remove: bool) -> OpResult<Vec<u8>> {
        let t = WatcherType::try_from(r.watcher_type).map_err(|_| ErrorCode::MarshallingError)?;
        // The persistent types came with 3.9 (ZOOKEEPER-4466); 3.8 cannot read them.
        if matches!(t, WatcherType::Persistent | WatcherType::PersistentRecursive)
            && !self.config.version.persistent_watcher_types()
        {
            return Err(ErrorCode::MarshallingError);
        }
        let found =
            if remove { self.watches.remove(conn, &r.path, t) } else { self.watches.check(conn, &r.path, t) };
        if found {
            Ok(Vec::new())
        } else {
            Err(ErrorCode::NoWatcher)
        }
    }

    /// setWatches / setWatches2 (§7.5): catch-up events (queued before the reply, no ACL
    /// checks) or registration, list by list.
    fn set_watches(&mut self, conn: ConnId, r: SetWatches2) {
        let rel = r.relative_zxid;
        for path in &r.data_watches {
            match self.tree.lookup(path).map(|i| self.tree.node(i).mzxid) {
                None => self.out.push(super::notification(conn, EventType::NodeDeleted, path.clone())),
                Some(m) if m > rel => {
                    self.out.push(super::notification(conn, EventType::NodeDataChanged, path.clone()))
                }
                Some(_) => self.watches.add(conn, path, DATA),
            }
        }
        for path in &r.exist_watches {
            match self.tree.lookup(path) {
                Some(_) => self.out.push(super::notification(conn, EventType::NodeCreated, path.clone())),
                None => self.watches.add(conn, path, DATA),
            }
        }
        for path in &r.child_watches {
            match self.tree.lookup(path).map(|i| self.tree.node(i).pzxid) {
                None => self.out.push(super::notification(conn, EventType::NodeDeleted, path.clone())),
                Some(p) if p > rel => {
                    self.out.push(super::notification(conn, EventType::NodeChildrenChanged, path.clone()))
                }
                Some(_) => self.watches.add(conn, path, CHILD),
            }
        }
        for path in &r.persistent_watches {
            self.watches.add(conn, path, PERSISTENT);
        }
        for path in &r.persistent_recursive_watches {
            self.watches.add(conn, path, RECURSIVE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_is_java_style() {
        assert_eq!(sequence_suffix(0), "0000000000");
        assert_eq!(sequence_suffix(7), "0000000007");
        assert_eq!(sequence_suffix(i32::MAX), "2147483647");
        assert_eq!(sequence_suffix(-1), "-000000001");
        assert_eq!(sequence_suffix(i32::MIN), "-2147483648");
    }

    #[test]
    fn modes() {
        assert_eq!(mode(3), Some((true, true, false)));
        assert_eq!(mode(6), Some((false, true, true)));
        assert_eq!(mode(7), None);
        assert_eq!(mode(-1), None);
    }

    #[test]
    fn deletable_parents() {
        assert_eq!(deletable_parent("/a"), Ok("/"));
        assert_eq!(deletable_parent("/a/b/"), Ok("/a/b"));
        assert_eq!(deletable_parent("a/b"), Ok("a"));
        for bad in ["a", "", "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/a\0"] {
            assert_eq!(deletable_parent(bad), Err(ErrorCode::BadArguments), "{bad:?}");
        }
    }
}
