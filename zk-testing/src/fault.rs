//! Fault injection: typed, on command, or drawn from the server's seeded RNG.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use zk_core::proto::{ErrorCode, OpCode, Request};

/// Which requests a fault applies to: by operation, by path prefix, or both (`None` = any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMatcher {
    /// The operation, e.g. `OpCode::Create2`.
    pub op: Option<OpCode>,
    /// A prefix of the request's server path (chroot included), e.g. `"/locks/"`.
    pub path_prefix: Option<String>,
}

impl RequestMatcher {
    /// Any request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Requests of this operation.
    pub fn op(op: OpCode) -> Self {
        RequestMatcher { op: Some(op), path_prefix: None }
    }

    /// Also require the path to start with `prefix`.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_owned());
        self
    }

    fn matches(&self, op: OpCode, path: Option<&str>) -> bool {
        self.op.is_none_or(|o| o == op)
            && match &self.path_prefix {
                None => true,
                Some(p) => path.is_some_and(|path| path.starts_with(p.as_str())),
            }
    }
}

/// Random faults drawn per request from the server's seeded RNG, so a failing run replays
/// with the same `ZK_TEST_SEED`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chaos {
    /// Probability that a request's connection is closed before it is processed.
    pub drop_connection: f64,
    /// Probability that a write is applied and then its connection closed before the reply.
    pub lose_reply: f64,
    /// Each reply is delayed by a random duration up to this.
    pub max_latency: Duration,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Answer with this error without applying it.
    Fail(ErrorCode),
    /// Apply it, then close the connection without replying.
    LoseReply,
    /// Close the connection without applying it.
    Drop,
}

#[derive(Debug)]
struct Rule {
    matcher: RequestMatcher,
    action: Action,
    remaining: usize,
}

/// A latency that ends on its own.
#[derive(Debug, Clone, Copy)]
struct LatencyWindow {
    delay: Duration,
    until: Instant,
}

/// The faults armed on a server.
///
/// Rules stack: each armed rule fires its own number of times, the earliest armed first when
/// several match a request. Latencies do not add up: a reply is delayed by the largest of the
/// fixed latency and the latency windows open when it is queued (plus the chaos draw).
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<Rule>,
    pub(crate) latency: Duration,
    windows: Vec<LatencyWindow>,
    pub(crate) chaos: Option<Chaos>,
}

impl Faults {
    pub(crate) fn arm(&mut self, matcher: RequestMatcher, action: Action, times: usize) {
        if times > 0 {
            self.rules.push(Rule { matcher, action, remaining: times });
        }
    }

    /// Delays replies by (at least) `delay` until `until`.
    pub(crate) fn add_latency(&mut self, delay: Duration, until: Instant) {
        self.windows.push(LatencyWindow { delay, until });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.windows.clear();
        self.latency = Duration::ZERO;
        self.chaos = None;
    }

    /// The action for this request, consuming one use of the first matching rule; otherwise
    /// a chaos draw. Session-level requests (ping, auth, close) are never faulted by rules.
    pub(crate) fn on_request(&mut self, req: &Request, rng: &mut impl Rng) -> Option<Action> {
        let op = req.op_code();
        if matches!(
            op,
            OpCode::Ping | OpCode::Auth | OpCode::CloseSession | OpCode::SetWatches | OpCode::SetWatches2
        ) {
            return None;
        }
        let path = request_path(req);
        if let Some(i) = self.rules.iter().position(|r| r.matcher.matches(op, path)) {
            let rule = &mut self.rules[i];
            let action = rule.action.clone();
            rule.remaining -= 1;
            if rule.remaining == 0 {
                self.rules.remove(i);
            }
            return Some(action);
        }
        let chaos = self.chaos.as_ref()?;
        if chaos.drop_connection > 0.0 && rng.random_bool(chaos.drop_connection.min(1.0)) {
            return Some(Action::Drop);
        }
        if chaos.lose_reply > 0.0 && is_write(op) && rng.random_bool(chaos.lose_reply.min(1.0)) {
            return Some(Action::LoseReply);
        }
        None
    }

    /// The delay for a reply queued at `now`.
    pub(crate) fn reply_delay(&mut self, now: Instant, rng: &mut impl Rng) -> Duration {
        self.windows.retain(|w| w.until > now);
        let latency = self.windows.iter().map(|w| w.delay).fold(self.latency, Duration::max);
        let extra = match &self.chaos {
            Some(c) if !c.max_latency.is_zero() => rng.random_range(Duration::ZERO..=c.max_latency),
            _ => Duration::ZERO,
        };
        latency + extra
    }
}

/// The operations that change the tree: the only ones whose reply chaos loses, and (with
/// check, sync and reconfig) the ones a read-only server refuses (§2.6).
pub(crate) fn is_write(op: OpCode) -> bool {
    matches!(
        op,
        OpCode::Create
            | OpCode::Create2
            | OpCode::CreateContainer
            | OpCode::CreateTtl
            | OpCode::Delete
            | OpCode::DeleteContainer
            | OpCode::SetData
            | OpCode::SetAcl
            | OpCode::Multi
    )
}

/// The (server) path a request addresses, if it has one.
pub(crate) fn request_path(req: &Request) -> Option<&str> {
    Some(match req {
        Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => &r.path,
        Request::CreateTtl(r) => &r.path,
        Request::Delete(r) => &r.path,
        Request::DeleteContainer(r) => &r.path,
        Request::Exists(r) => &r.path,
        Request::GetData(r) => &r.path,
        Request::SetData(r) => &r.path,
        Request::GetAcl(r) => &r.path,
        Request::SetAcl(r) => &r.path,
        Request::GetChildren(r) | Request::GetChildren2(r) => &r.path,
        Request::Sync(r) => &r.path,
        Request::Check(r) => &r.path,
        Request::CheckWatches(r) | Request::RemoveWatches(r) => &r.path,
        Request::GetEphemerals(r) => &r.prefix_path,
        Request::GetAllChildrenNumber(r) => &r.path,
        Request::AddWatch(r) => &r.path,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use zk_core::proto::{DeleteRequest, GetDataRequest};

    #[test]
    fn rules_match_by_op_and_prefix_and_run_out() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut f = Faults::default();
        f.arm(RequestMatcher::op(OpCode::Delete).path_prefix("/locks/"), Action::Fail(ErrorCode::NoAuth), 2);
        let del = |p: &str| Request::Delete(DeleteRequest { path: p.into(), version: -1 });
        let get = Request::GetData(GetDataRequest { path: "/locks/a".into(), watch: false });
        assert_eq!(f.on_request(&get, &mut rng), None);
        assert_eq!(f.on_request(&del("/other"), &mut rng), None);
        assert_eq!(f.on_request(&del("/locks/a"), &mut rng), Some(Action::Fail(ErrorCode::NoAuth)));
        assert_eq!(f.on_request(&del("/locks/b"), &mut rng), Some(Action::Fail(ErrorCode::NoAuth)));
        assert_eq!(f.on_request(&del("/locks/c"), &mut rng), None);
        assert_eq!(f.on_request(&Request::Ping, &mut rng), None);
    }

    #[test]
    fn chaos_is_reproducible_from_the_seed() {
        let draws = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut f = Faults {
                chaos: Some(Chaos { drop_connection: 0.3, ..Chaos::default() }),
                ..Faults::default()
            };
            let get = Request::GetData(GetDataRequest { path: "/a".into(), watch: false });
            (0..64).map(|_| f.on_request(&get, &mut rng).is_some()).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        assert!(draws(7).iter().any(|d| *d) && !draws(7).iter().all(|d| *d));
    }
}
