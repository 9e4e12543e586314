//! Quick verdicts from what ZooKeeper's versions say, before the search: on a znode that is
//! never deleted, versions only grow (a create makes version 0, each set adds one), so each
//! version names one state, and an operation can never see an older version than one an
//! operation completed before it was invoked had seen. A history that breaks this is not
//! linearizable; saying so here costs one pass, where the search would have to try every
//! placement of the ambiguous operations before giving up. Finding nothing proves nothing:
//! the search still runs.

use std::collections::{HashMap, HashSet};

use super::super::event::{Op, Outcome as Ended, Value};
use super::super::history::Entry;
use super::super::ops::Operation;
use super::super::violation::{Checker, Violation};
use super::describe;

/// The version (and data) an operation's answer shows the znode at, at its linearization
/// point: `-1` for absent. `None` when the answer says nothing about the version.
fn seen<'a>(o: &Operation<'a>) -> Option<(i32, Option<&'a [u8]>)> {
    match (o.op, o.outcome()?) {
        (Op::Get { .. }, Ended::Ok(Value::Node { data, version })) => Some((*version, Some(data))),
        (Op::Get { .. } | Op::Set { .. }, Ended::Ok(Value::NoNode)) => Some((-1, None)),
        (Op::Set { data, .. }, Ended::Ok(Value::Version(v))) => Some((*v, Some(data))),
        (Op::Create { data, .. }, Ended::Ok(Value::Done)) => Some((0, Some(data))),
        _ => None,
    }
}

/// The first contradiction between `ops`' versions (all on `path`), if any.
pub(super) fn contradiction(
    path: &str,
    ops: &[Operation<'_>],
    initial: Option<&(Vec<u8>, i32)>,
) -> Option<Violation> {
    if let Some(v) = phantom_read(path, ops, initial) {
        return Some(v);
    }
    if ops.iter().any(|o| matches!(o.op, Op::Delete { .. })) {
        // A delete and a new create start the versions again.
        return None;
    }
    one_state_per_version(path, ops, initial).or_else(|| no_going_back(path, ops, initial))
}

/// A get that returned data no create or set (that may have been applied) ever wrote.
fn phantom_read(path: &str, ops: &[Operation<'_>], initial: Option<&(Vec<u8>, i32)>) -> Option<Violation> {
    let mut written: HashSet<&[u8]> = initial.map(|(d, _)| d.as_slice()).into_iter().collect();
    for o in ops {
        if let (Op::Set { data, .. } | Op::Create { data, .. }, outcome) = (o.op, o.outcome()) {
            if !matches!(outcome, Some(Ended::Failed(_))) {
                written.insert(data);
            }
        }
    }
    let o = ops.iter().find(|o| {
        matches!((o.op, o.outcome()), (Op::Get { .. }, Some(Ended::Ok(Value::Node { data, .. }))) if !written.contains(data.as_slice()))
    })?;
    let why = format!(
        "the operations on {path} have no linearization: {} returned data that no create or set of {path} wrote.",
        describe(o)
    );
    Some(Violation::new(Checker::Linearizable, entries(o), why))
}

/// Two answers showing one version with different data.
fn one_state_per_version(
    path: &str,
    ops: &[Operation<'_>],
    initial: Option<&(Vec<u8>, i32)>,
) -> Option<Violation> {
    let mut states: HashMap<i32, (&[u8], Option<&Operation<'_>>)> = HashMap::new();
    if let Some((d, v)) = initial {
        states.insert(*v, (d.as_slice(), None));
    }
    for o in ops {
        let Some((version, Some(data))) = seen(o) else { continue };
        match states.get(&version) {
            None => {
                states.insert(version, (data, Some(o)));
            }
            Some((known, _)) if *known == data => {}
            Some((_, first)) => {
                let first = first.map_or_else(|| "the initial state".to_owned(), describe);
                let why = format!(
                    "the operations on {path} have no linearization: {path} is never deleted, so each version \
                     is one state, but {first} and {} show version {version} with different data.",
                    describe(o)
                );
                let mut e = entries(o);
                if let Some((_, Some(f))) = states.get(&version) {
                    e.extend(entries(f));
                }
                return Some(Violation::new(Checker::Linearizable, e, why));
            }
        }
    }
    None
}

/// An operation that saw an older version than one seen by an operation that had returned
/// before it was invoked (a stale read, or a write on a stale version).
fn no_going_back(path: &str, ops: &[Operation<'_>], initial: Option<&(Vec<u8>, i32)>) -> Option<Violation> {
    // Invocations and returns in real-time order: (seq, is_return, index into ops).
    let mut points: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        points.push((o.invoke.seq, false, i));
        if let Some((ret, _)) = o.ret {
            points.push((ret.seq, true, i));
        }
    }
    points.sort_unstable();
    let start = initial.map_or(-1, |(_, v)| *v);
    // The highest version any returned operation saw, and which one saw it.
    let mut highest: (i32, Option<usize>) = (start, None);
    // For each operation, `highest` when it was invoked.
    let mut floor: HashMap<usize, (i32, Option<usize>)> = HashMap::new();
    for (_, is_return, i) in points {
        let o = &ops[i];
        if !is_return {
            floor.insert(i, highest);
            continue;
        }
        let Some((version, _)) = seen(o) else { continue };
        // A write's answer is the version it made: a set found one lower, a create found
        // the znode absent.
        let found = match o.op {
            Op::Set { .. } if version >= 0 => version - 1,
            Op::Create { .. } => -1,
            _ => version,
        };
        let (least, by) = floor.get(&i).copied().unwrap_or((start, None));
        if found < least {
            let before = by.map_or_else(|| "the initial state".to_owned(), |b| describe(&ops[b]));
            let why = format!(
                "the operations on {path} have no linearization: {path} is never deleted, so its version only \
                 grows, but {} found version {found} after {before} had returned having seen version {least}.",
                describe(o)
            );
            let mut e = entries(o);
            if let Some(b) = by {
                e.extend(entries(&ops[b]));
            }
            return Some(Violation::new(Checker::Linearizable, e, why));
        }
        if version > highest.0 {
            highest = (version, Some(i));
        }
    }
    None
}

fn entries<'a>(o: &Operation<'a>) -> Vec<&'a Entry> {
    std::iter::once(o.invoke).chain(o.ret.map(|(e, _)| e)).collect()
}
