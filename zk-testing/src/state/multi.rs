//! multi (14) and multiRead (22), §6.
//!
//! A multi applies its ops one by one against the live tree with the tree's undo log on, so
//! each op sees the earlier ones; on the first failure the log is replayed backwards (the tree,
//! every stat, cversion and sequence counter are exactly as before) and the queued watch events
//! are dropped. Nothing but the touched nodes is ever copied.

use zk_core::proto::{
    Create2Response, CreateResponse, ErrorCode, MultiOp, MultiResponse, MultiResult, OpCode, Record,
    SetDataResponse,
};

use super::ops::CreateSpec;
use super::{ConnId, State};

impl State {
    /// Runs a multi as transaction `zxid`; the reply header's err is 0 even when an op failed.
    pub(super) fn multi(
        &mut self,
        conn: ConnId,
        ops: Vec<MultiOp>,
        zxid: i64,
        now: i64,
    ) -> Result<Vec<u8>, ErrorCode> {
        if ops.iter().any(MultiOp::is_read) {
            return Err(ErrorCode::MarshallingError);
        }
        let n = ops.len();
        let events_before = self.pending.len();
        self.tree.begin();
        let mut results = Vec::with_capacity(n);
        let mut failure = None;
        for (i, op) in ops.into_iter().enumerate() {
            match self.multi_op(conn, op, zxid, now) {
                Ok(r) => results.push(r),
                Err(code) => {
                    failure = Some((i, code));
                    break;
                }
            }
        }
        let results = match failure {
            None => {
                self.tree.commit();
                results
            }
            Some((failed, code)) => {
                self.tree.rollback();
                self.pending.truncate(events_before);
                (0..n)
                    .map(|i| match i.cmp(&failed) {
                        std::cmp::Ordering::Less => MultiResult::Error(0),
                        std::cmp::Ordering::Equal => MultiResult::Error(code.code()),
                        std::cmp::Ordering::Greater => {
                            MultiResult::Error(ErrorCode::RuntimeInconsistency.code())
                        }
                    })
                    .collect()
            }
        };
        Ok(MultiResponse { results }.to_bytes())
    }

    fn multi_op(&mut self, conn: ConnId, op: MultiOp, zxid: i64, now: i64) -> Result<MultiResult, ErrorCode> {
        Ok(match op {
            MultiOp::Create { op, req } => {
                let (path, idx) = self.create(conn, CreateSpec::new(op, req), zxid, now)?;
                // kazoo only understands type-1 results for type-1 ops; create2, container
                // and TTL creates carry the stat (3.8.2+; before, every create's result is
                // type 1, path only).
                if op == OpCode::Create || !self.config.version.multi_create_stat() {
                    MultiResult::Create(CreateResponse { path })
                } else {
                    MultiResult::Create2(Create2Response { path, stat: self.tree.node(idx).stat() })
                }
            }
            MultiOp::CreateTtl(req) => {
                let (path, idx) = self.create(conn, CreateSpec::ttl(req), zxid, now)?;
                if self.config.version.multi_create_stat() {
                    MultiResult::Create2(Create2Response { path, stat: self.tree.node(idx).stat() })
                } else {
                    MultiResult::Create(CreateResponse { path })
                }
            }
            MultiOp::Delete(r) => {
                self.delete(conn, &r.path, r.version, zxid)?;
                MultiResult::Delete
            }
            MultiOp::SetData(r) => {
                let idx = self.set_data(conn, r, zxid, now)?;
                MultiResult::SetData(SetDataResponse { stat: self.tree.node(idx).stat() })
            }
            MultiOp::Check(r) => {
                self.check_version(conn, &r)?;
                MultiResult::Check
            }
            MultiOp::GetChildren(_) | MultiOp::GetData(_) => return Err(ErrorCode::MarshallingError),
        })
    }

    /// multiRead: every op answered on its own; `watch` flags are ignored (§6.1).
    pub(super) fn multi_read(&mut self, conn: ConnId, ops: Vec<MultiOp>) -> Result<Vec<u8>, ErrorCode> {
        if ops.iter().any(|op| !op.is_read()) {
            return Err(ErrorCode::MarshallingError);
        }
        let results = ops
            .into_iter()
            .map(|op| {
                let r = match op {
                    MultiOp::GetData(r) => self.get_data(conn, &r.path, false).map(MultiResult::GetData),
                    MultiOp::GetChildren(r) => {
                        self.get_children(conn, &r.path, false).map(|(children, _)| {
                            MultiResult::GetChildren(zk_core::proto::GetChildrenResponse { children })
                        })
                    }
                    _ => Err(ErrorCode::MarshallingError),
                };
                r.unwrap_or_else(|code| MultiResult::Error(code.code()))
            })
            .collect();
        Ok(MultiResponse { results }.to_bytes())
    }
}
