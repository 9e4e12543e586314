//! What a participant can record: operations and their outcomes, lock, election and queue
//! events. Plain data with constructors and `Display`; the recorder is in `history.rs`.

use std::fmt;

use zk_core::Error;

/// The identity of one operation: the sequence number of its invocation entry. Returned by
/// [`Participant::invoke`](super::Participant::invoke) and named by the entry that completes
/// the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// An operation on a znode register or on a counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Read a znode's data and version.
    Get {
        /// The znode.
        path: String,
    },
    /// Set a znode's data; with `Some(v)` only if its version is `v` (a compare-and-set).
    /// `Some(-1)` means any version, as on the server.
    Set {
        /// The znode.
        path: String,
        /// The new data.
        data: Vec<u8>,
        /// The expected version.
        version: Option<i32>,
    },
    /// Create a znode (its version starts at 0).
    Create {
        /// The znode.
        path: String,
        /// Its data.
        data: Vec<u8>,
    },
    /// Delete a znode; with `Some(v)` only if its version is `v` (`Some(-1)`: any).
    Delete {
        /// The znode.
        path: String,
        /// The expected version.
        version: Option<i32>,
    },
    /// Add `delta` (which may be negative) to a counter.
    Add {
        /// The counter's name (its path, say).
        counter: String,
        /// The amount added.
        delta: i64,
    },
}

impl Op {
    /// A [`Op::Get`].
    pub fn get(path: &str) -> Op {
        Op::Get { path: path.to_owned() }
    }

    /// A [`Op::Set`].
    pub fn set(path: &str, data: &[u8], version: Option<i32>) -> Op {
        Op::Set { path: path.to_owned(), data: data.to_vec(), version }
    }

    /// A [`Op::Create`].
    pub fn create(path: &str, data: &[u8]) -> Op {
        Op::Create { path: path.to_owned(), data: data.to_vec() }
    }

    /// A [`Op::Delete`].
    pub fn delete(path: &str, version: Option<i32>) -> Op {
        Op::Delete { path: path.to_owned(), version }
    }

    /// A [`Op::Add`].
    pub fn add(counter: &str, delta: i64) -> Op {
        Op::Add { counter: counter.to_owned(), delta }
    }

    /// The znode or counter the operation addresses.
    pub fn key(&self) -> &str {
        match self {
            Op::Get { path } | Op::Set { path, .. } | Op::Create { path, .. } | Op::Delete { path, .. } => {
                path
            }
            Op::Add { counter, .. } => counter,
        }
    }
}

/// What a completed operation returned. The rejections (`NoNode`, `NodeExists`, `BadVersion`)
/// are answers too: they say something about the znode's state, so a linearizability check
/// uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The operation was applied and returns nothing more (create, delete, add).
    Done,
    /// A get found the znode with this data and version.
    Node {
        /// The data.
        data: Vec<u8>,
        /// The data version.
        version: i32,
    },
    /// A set was applied; the znode's new version.
    Version(i32),
    /// A counter's value (after an add, say).
    Count(i64),
    /// Rejected: the znode (or, for a create, its parent) does not exist.
    NoNode,
    /// Rejected: the znode already exists.
    NodeExists,
    /// Rejected: the expected version did not match.
    BadVersion,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It returned this value.
    Ok(Value),
    /// It definitely was not applied, and its answer says nothing about the state (refused
    /// by an ACL, invalid arguments, never sent, ...).
    Failed(String),
    /// It may or may not have been applied: the reply was lost (`ConnectionLoss`), the
    /// session expired with it in flight, a timeout passed.
    Ambiguous(String),
}

impl Outcome {
    /// The outcome of a zk-core call: `Ok(v)` maps through `ok`, an error through
    /// [`Outcome::from_error`].
    pub fn of<T>(result: &zk_core::Result<T>, ok: impl FnOnce(&T) -> Value) -> Outcome {
        match result {
            Ok(v) => Outcome::Ok(ok(v)),
            Err(e) => Outcome::from_error(e),
        }
    }

    /// Classifies a zk-core error: `NoNode`, `NodeExists` and `BadVersion` are answers
    /// ([`Outcome::Ok`]); errors the server or the client gives for a request it did not
    /// apply are [`Outcome::Failed`]; everything else, `ConnectionLoss`, `SessionExpired`,
    /// the timeouts and any error not listed, is [`Outcome::Ambiguous`].
    pub fn from_error(error: &Error) -> Outcome {
        match error {
            Error::NoNode => Outcome::Ok(Value::NoNode),
            Error::NodeExists => Outcome::Ok(Value::NodeExists),
            Error::BadVersion => Outcome::Ok(Value::BadVersion),
            Error::MarshallingError
            | Error::Unimplemented
            | Error::BadArguments(_)
            | Error::InvalidPath { .. }
            | Error::NoAuth
            | Error::NoChildrenForEphemerals
            | Error::NotEmpty
            | Error::InvalidAcl
            | Error::NotReadOnly
            | Error::EphemeralOnLocalSession
            | Error::QuotaExceeded
            | Error::ThrottledOp
            | Error::MultiFailed { .. } => Outcome::Failed(error.to_string()),
            _ => Outcome::Ambiguous(error.to_string()),
        }
    }
}

/// A change in who holds a lock or a semaphore lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockChange {
    /// The participant holds it from now on.
    Acquired,
    /// The participant let it go.
    Released,
    /// The connection is lost: the participant must act as if it did not hold it.
    Suspended,
    /// The session expired or the node vanished: it is gone.
    Lost,
}

/// A change in a participant's view of its own leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leadership {
    /// The participant is the leader from now on.
    Leader,
    /// The participant stepped down (or learned it is not the leader).
    NotLeader,
    /// The connection is lost: it must act as if it were not the leader.
    Suspended,
    /// The session expired or its node vanished.
    Lost,
}

/// A step in an item's life in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueStep {
    /// The producer's put succeeded: the item is in the queue.
    Put,
    /// The producer's put was ambiguous: the item may or may not be in the queue.
    MaybePut,
    /// The item was handed to a consumer.
    Delivered,
    /// The consumer is done with the item for good (an acknowledgement succeeded; for a
    /// consumer without acknowledgements, the delivery itself).
    Acked,
}

/// One thing a participant observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An operation was invoked; its entry's sequence number is its [`OpId`].
    Invoke(Op),
    /// The operation `op` (invoked earlier by the same participant) ended.
    Return {
        /// The invocation.
        op: OpId,
        /// How it ended.
        outcome: Outcome,
    },
    /// A lock or semaphore changed hands.
    Lock {
        /// The lock's name.
        lock: String,
        /// What happened.
        change: LockChange,
    },
    /// A participant's leadership changed.
    Election {
        /// The election's name.
        election: String,
        /// What happened.
        change: Leadership,
    },
    /// An item moved through a queue.
    Queue {
        /// The queue's name.
        queue: String,
        /// The item's id, unique within the queue.
        item: String,
        /// What happened.
        step: QueueStep,
    },
}

impl Event {
    /// `lock` was acquired.
    pub fn acquired(lock: &str) -> Event {
        Event::Lock { lock: lock.to_owned(), change: LockChange::Acquired }
    }

    /// `lock` was released.
    pub fn released(lock: &str) -> Event {
        Event::Lock { lock: lock.to_owned(), change: LockChange::Released }
    }

    /// `lock` was suspended (connection lost).
    pub fn suspended(lock: &str) -> Event {
        Event::Lock { lock: lock.to_owned(), change: LockChange::Suspended }
    }

    /// `lock` was lost (session expired).
    pub fn lost(lock: &str) -> Event {
        Event::Lock { lock: lock.to_owned(), change: LockChange::Lost }
    }

    /// A leadership change in `election`.
    pub fn leadership(election: &str, change: Leadership) -> Event {
        Event::Election { election: election.to_owned(), change }
    }

    /// A step of `item` in `queue`.
    pub fn queue(queue: &str, item: &str, step: QueueStep) -> Event {
        Event::Queue { queue: queue.to_owned(), item: item.to_owned(), step }
    }
}

/// Bytes as a quoted string when they are printable UTF-8, else as hex.
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) if !s.chars().any(char::is_control) => write!(f, "{s:?}"),
            _ => self.0.iter().try_for_each(|b| write!(f, "{b:02x}")).and_then(|()| f.write_str("h")),
        }
    }
}

fn version(v: Option<i32>) -> String {
    v.map(|v| format!(" if version {v}")).unwrap_or_default()
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Get { path } => write!(f, "get {path}"),
            Op::Set { path, data, version: v } => write!(f, "set {path} {}{}", Bytes(data), version(*v)),
            Op::Create { path, data } => write!(f, "create {path} {}", Bytes(data)),
            Op::Delete { path, version: v } => write!(f, "delete {path}{}", version(*v)),
            Op::Add { counter, delta } => write!(f, "add {delta:+} to {counter}"),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Done => f.write_str("done"),
            Value::Node { data, version } => write!(f, "{} version {version}", Bytes(data)),
            Value::Version(v) => write!(f, "version {v}"),
            Value::Count(n) => write!(f, "{n}"),
            Value::NoNode => f.write_str("NoNode"),
            Value::NodeExists => f.write_str("NodeExists"),
            Value::BadVersion => f.write_str("BadVersion"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(v) => write!(f, "ok {v}"),
            Outcome::Failed(why) => write!(f, "failed ({why})"),
            Outcome::Ambiguous(why) => write!(f, "ambiguous ({why})"),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Invoke(op) => write!(f, "invoke {op}"),
            Event::Return { op, outcome } => write!(f, "return #{} {outcome}", op.0),
            Event::Lock { lock, change } => write!(f, "lock {lock:?} {change:?}"),
            Event::Election { election, change } => write!(f, "election {election:?} {change:?}"),
            Event::Queue { queue, item, step } => write!(f, "queue {queue:?} item {item:?} {step:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_what_they_say_about_the_state() {
        assert_eq!(Outcome::from_error(&Error::BadVersion), Outcome::Ok(Value::BadVersion));
        assert!(matches!(Outcome::from_error(&Error::ConnectionLoss), Outcome::Ambiguous(_)));
        assert!(matches!(Outcome::from_error(&Error::SessionExpired), Outcome::Ambiguous(_)));
        assert!(matches!(Outcome::from_error(&Error::NoAuth), Outcome::Failed(_)));
        let got: zk_core::Result<i32> = Ok(4);
        assert_eq!(Outcome::of(&got, |v| Value::Version(*v)), Outcome::Ok(Value::Version(4)));
    }

    #[test]
    fn events_print_on_one_line() {
        assert_eq!(Op::set("/a", b"x", Some(3)).to_string(), "set /a \"x\" if version 3");
        assert_eq!(Op::create("/a", &[0, 255]).to_string(), "create /a 00ffh");
        assert_eq!(Op::add("/c", -2).to_string(), "add -2 to /c");
        let ret = Event::Return {
            op: OpId(7),
            outcome: Outcome::Ok(Value::Node { data: b"x".to_vec(), version: 2 }),
        };
        assert_eq!(ret.to_string(), "return #7 ok \"x\" version 2");
        assert_eq!(Event::acquired("l").to_string(), "lock \"l\" Acquired");
    }
}
