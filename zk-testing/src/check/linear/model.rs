//! The sequential specification of one znode: `Option<(data, version)>`, the operations on
//! it, and what each returns.

use std::collections::HashMap;
use std::fmt;

use super::super::event::{Bytes, Op, Value};

/// A znode's state: absent, or its data (interned) and version.
pub(crate) type Znode = Option<(u32, i32)>;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    Get,
    Set { data: u32, version: Option<i32> },
    Create { data: u32 },
    Delete { version: Option<i32> },
}

/// What an operation returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A get's answer: the state it saw (`None`: NoNode).
    Read(Znode),
    /// A set was applied: the new version.
    Written(i32),
    /// A create or delete was applied.
    Done,
    NoNode,
    NodeExists,
    BadVersion,
}

/// One operation to place: what it does and, unless it is ambiguous, what it returned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub(crate) action: Action,
    /// `None`: ambiguous; it may take effect (successfully) or not at all.
    pub(crate) answer: Option<Answer>,
}

/// The data of a write that no get returned. States holding such data differ only in their
/// version to any later operation, so they are one state: this merges configurations the
/// search would otherwise explore once per blind write.
pub(crate) const UNREAD: u32 = u32::MAX;

/// The data values some get returned, interned so that states are small and `Copy`.
#[derive(Debug, Default)]
pub(crate) struct Interner<'a> {
    ids: HashMap<&'a [u8], u32>,
    values: Vec<&'a [u8]>,
}

impl<'a> Interner<'a> {
    /// Interns the data that gets returned.
    pub(crate) fn new(read: impl IntoIterator<Item = &'a [u8]>) -> Interner<'a> {
        let mut interner = Interner::default();
        for data in read {
            let next = interner.values.len() as u32;
            interner.ids.entry(data).or_insert_with(|| {
                interner.values.push(data);
                next
            });
        }
        interner
    }

    /// The id of `data`: [`UNREAD`] unless a get returned it.
    pub(crate) fn id(&self, data: &[u8]) -> u32 {
        self.ids.get(data).copied().unwrap_or(UNREAD)
    }

    /// The state, printed.
    pub(crate) fn show(&self, state: Znode) -> String {
        match state {
            None => "absent".to_owned(),
            Some((UNREAD, v)) => format!("holding data no get returned, version {v}"),
            Some((d, v)) => {
                format!("{} version {v}", Bytes(self.values.get(d as usize).copied().unwrap_or_default()))
            }
        }
    }
}

/// `Some(v)` with `v == -1` means any version, as on the server.
fn any_version(version: Option<i32>) -> Option<i32> {
    version.filter(|v| *v != -1)
}

/// The action of a register operation, or `None` for a counter's.
pub(crate) fn action(op: &Op, interner: &Interner<'_>) -> Option<Action> {
    Some(match op {
        Op::Get { .. } => Action::Get,
        Op::Set { data, version, .. } => {
            Action::Set { data: interner.id(data), version: any_version(*version) }
        }
        Op::Create { data, .. } => Action::Create { data: interner.id(data) },
        Op::Delete { version, .. } => Action::Delete { version: any_version(*version) },
        Op::Add { .. } => return None,
    })
}

/// What `value` says about the znode, for an operation doing `action`: `Ok(None)` when it
/// says nothing (a create's NoNode is about the parent); `Err(())` when `action` cannot
/// return it.
pub(crate) fn answer(action: Action, value: &Value, interner: &Interner<'_>) -> Result<Option<Answer>, ()> {
    Ok(Some(match (action, value) {
        (Action::Get, Value::Node { data, version }) => Answer::Read(Some((interner.id(data), *version))),
        (Action::Get, Value::NoNode) => Answer::Read(None),
        (Action::Set { .. }, Value::Version(v)) => Answer::Written(*v),
        (Action::Create { .. }, Value::Done) | (Action::Delete { .. }, Value::Done) => Answer::Done,
        (Action::Create { .. }, Value::NoNode) => return Ok(None),
        (Action::Create { .. }, Value::NodeExists) => Answer::NodeExists,
        (Action::Set { .. } | Action::Delete { .. }, Value::NoNode) => Answer::NoNode,
        (Action::Set { .. } | Action::Delete { .. }, Value::BadVersion) => Answer::BadVersion,
        _ => return Err(()),
    }))
}

/// The sequential specification: what `action` returns on `state`, and the next state.
fn apply(state: Znode, action: Action) -> (Answer, Znode) {
    let matches = |expected: Option<i32>, actual: i32| expected.is_none_or(|e| e == actual);
    match (action, state) {
        (Action::Get, s) => (Answer::Read(s), s),
        (Action::Set { .. } | Action::Delete { .. }, None) => (Answer::NoNode, None),
        (Action::Set { data, version }, Some((_, v))) if matches(version, v) => {
            let next = v.wrapping_add(1);
            (Answer::Written(next), Some((data, next)))
        }
        (Action::Delete { version }, Some((_, v))) if matches(version, v) => (Answer::Done, None),
        (Action::Set { .. } | Action::Delete { .. }, s) => (Answer::BadVersion, s),
        (Action::Create { data }, None) => (Answer::Done, Some((data, 0))),
        (Action::Create { .. }, s) => (Answer::NodeExists, s),
    }
}

/// The state after `action` takes effect on `state` (whatever it returns).
pub(crate) fn effect(state: Znode, action: Action) -> Znode {
    apply(state, action).1
}

/// The state after `call` takes effect on `state`, if it can: a completed call must return
/// what it returned; an ambiguous one is only worth placing where it changes the state (a
/// rejected attempt is the same as none).
pub(crate) fn step(state: Znode, call: &Call) -> Option<Znode> {
    let (answer, next) = apply(state, call.action);
    match call.answer {
        Some(expected) => (expected == answer).then_some(next),
        None => (next != state).then_some(next),
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_follows_zookeeper() {
        let (x, y) = (0, 1);
        let set =
            |version| Call { action: Action::Set { data: y, version }, answer: Some(Answer::Written(4)) };
        assert_eq!(step(Some((x, 3)), &set(None)), Some(Some((y, 4))));
        assert_eq!(step(Some((x, 3)), &set(Some(3))), Some(Some((y, 4))));
        assert_eq!(step(Some((x, 2)), &set(Some(2))), None, "would return version 3");
        assert_eq!(step(Some((x, 3)), &set(Some(2))), None, "BadVersion");
        let bad =
            Call { action: Action::Set { data: y, version: Some(2) }, answer: Some(Answer::BadVersion) };
        assert_eq!(step(Some((x, 3)), &bad), Some(Some((x, 3))));
        let create = Call { action: Action::Create { data: x }, answer: None };
        assert_eq!(step(None, &create), Some(Some((x, 0))));
        assert_eq!(step(Some((x, 0)), &create), None, "an ambiguous create that failed changes nothing");
        let delete = Call { action: Action::Delete { version: None }, answer: Some(Answer::Done) };
        assert_eq!(step(Some((y, 9)), &delete), Some(None));
        let get = Call { action: Action::Get, answer: Some(Answer::Read(None)) };
        assert_eq!(step(None, &get), Some(None));
        assert_eq!(step(Some((x, 0)), &get), None);
    }

    #[test]
    fn answers_must_fit_the_operation() {
        let (set, add) = (Op::set("/a", b"x", Some(-1)), Op::add("/c", 1));
        let interner = Interner::new([b"x".as_slice()]);
        let set = action(&set, &interner).expect("a register op");
        assert_eq!(set, Action::Set { data: 0, version: None }, "-1 is any version");
        assert_eq!(answer(set, &Value::Version(2), &interner), Ok(Some(Answer::Written(2))));
        assert_eq!(answer(set, &Value::Done, &interner), Err(()));
        let create = Action::Create { data: 0 };
        assert_eq!(answer(create, &Value::NoNode, &interner), Ok(None), "the parent is missing");
        assert_eq!(action(&add, &interner), None);
        assert_eq!(interner.show(Some((0, 2))), "\"x\" version 2");
        let blind = action(&Op::create("/a", b"never read"), &interner);
        assert_eq!(blind, Some(Action::Create { data: UNREAD }));
    }
}
