//! Pairs each invocation with its return, for the checkers over operations.

use std::collections::HashMap;

use super::event::{Event, Op, Outcome};
use super::history::{Entry, History};
use super::violation::{Checker, Violation};

/// One operation: its invocation and, if it returned, its return.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operation<'a> {
    pub(crate) invoke: &'a Entry,
    pub(crate) op: &'a Op,
    pub(crate) ret: Option<(&'a Entry, &'a Outcome)>,
}

impl<'a> Operation<'a> {
    /// The outcome; an operation that never returned is ambiguous.
    pub(crate) fn outcome(&self) -> Option<&'a Outcome> {
        self.ret.map(|(_, o)| o)
    }

    /// True when it ended ambiguous or never returned.
    pub(crate) fn is_ambiguous(&self) -> bool {
        matches!(self.outcome(), None | Some(Outcome::Ambiguous(_)))
    }
}

/// The operations of `history` in invocation order.
///
/// # Errors
/// Malformed: a return that names no earlier invocation of its participant, or a second
/// return of one operation.
pub(crate) fn operations(history: &History, checker: Checker) -> Result<Vec<Operation<'_>>, Violation> {
    let mut ops = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for entry in history {
        match &entry.event {
            Event::Invoke(op) => {
                index.insert(entry.seq, ops.len());
                ops.push(Operation { invoke: entry, op, ret: None });
            }
            Event::Return { op, outcome } => {
                let found = index.get(&op.0).map(|i| &mut ops[*i]);
                let Some(o) = found.filter(|o| o.invoke.participant == entry.participant) else {
                    let why = format!(
                        "entry #{} returns operation #{}, which is not an earlier invocation by {}",
                        entry.seq, op.0, entry.participant
                    );
                    return Err(Violation::malformed(checker, Some(entry), why));
                };
                if o.ret.is_some() {
                    let why = format!("entry #{} returns operation #{} a second time", entry.seq, op.0);
                    return Err(Violation::malformed(checker, Some(entry), why));
                }
                o.ret = Some((entry, outcome));
            }
            _ => {}
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::super::event::{OpId, Value};
    use super::super::history::Recorder;
    use super::super::violation::ViolationKind;
    use super::*;

    #[test]
    fn returns_must_match_an_earlier_invocation_of_the_same_participant() {
        let recorder = Recorder::new();
        let (a, b) = (recorder.participant("a"), recorder.participant("b"));
        let op = a.invoke(Op::get("/x"));
        a.ok(op, Value::NoNode);
        let paired = recorder.history();
        let ops = operations(&paired, Checker::Linearizable).expect("well formed");
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].ret.map(|(e, _)| e.seq), Some(1));

        b.ok(op, Value::NoNode);
        let v = operations(&recorder.history(), Checker::Linearizable).expect_err("b did not invoke #0");
        assert_eq!(v.kind, ViolationKind::Malformed);
        a.ok(OpId(1), Value::NoNode);
        let history: History = recorder.history().iter().filter(|e| e.participant == "a").cloned().collect();
        let v = operations(&history, Checker::Linearizable).expect_err("#1 is a return");
        assert!(v.explanation.contains("returns operation #1"), "{v}");
    }
}
