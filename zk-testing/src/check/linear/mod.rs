//! Linearizability of znode registers: partition by path, build each znode's problem,
//! search it, report the earliest failure.

mod model;
mod search;
#[cfg(test)]
mod tests;
mod versions;

use std::collections::{BTreeMap, HashMap};

use super::event::{Op, Outcome as Ended, Value};
use super::history::{Entry, History};
use super::ops::{operations, Operation};
use super::violation::{Checker, Violation, ViolationKind};
use model::{Action, Call, Interner, Znode};
use search::{search, Outcome, Problem, Stuck};

/// Options of [`linearizable_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearizabilityOptions {
    /// The znodes that exist before the history starts: path -> (data, version). Every
    /// other znode starts absent.
    pub initial: BTreeMap<String, (Vec<u8>, i32)>,
    /// Give up (an `Inconclusive` violation) after this many distinct configurations of one
    /// znode's search. Each costs about 60 bytes plus 4 per operation still open at that
    /// point (ambiguous ones included). Default 1,000,000.
    pub max_states: usize,
}

impl Default for LinearizabilityOptions {
    fn default() -> Self {
        LinearizabilityOptions { initial: BTreeMap::new(), max_states: 1_000_000 }
    }
}

/// Checks that the register operations (get, set, create, delete) of `history` are
/// linearizable, every znode starting absent: [`linearizable_with`] with the default
/// options.
///
/// # Errors
/// As [`linearizable_with`].
pub fn linearizable(history: &History) -> Result<(), Violation> {
    linearizable_with(history, &LinearizabilityOptions::default())
}

/// Checks that the register operations of `history` are linearizable: that there is one
/// order of them, consistent with real time (an operation that returned before another was
/// invoked comes first), in which each returns what it returned on a znode modelled as
/// `Option<(data, version)>`. Operations that failed are left out; ambiguous ones take
/// effect at one point after their invocation, or never. Znodes are independent, so each
/// path is checked on its own; counter operations are ignored. A `Some(-1)` version means
/// any version, and a create that returned `NoNode` (its parent is missing) says nothing
/// about its znode and is left out too.
///
/// The search is exponential in the worst case, but a linearizable history with a handful
/// of concurrent clients costs about linear time: 5,000 operations by 5 clients on one znode
/// take tens of milliseconds, a few hundred ambiguous ones included.
///
/// # Errors
/// - `Invariant`: some znode's operations have no linearization; the violation names the
///   completed operation that could not be placed (its invocation and return) after the
///   linearizable prefix that got furthest in real time, which the explanation describes
///   (its length, its last operations, the state it leaves). When several znodes fail, the
///   one whose blocked operation returned first.
/// - `Malformed`: a return without its invocation, or a value the operation cannot return
///   (a get returning a version, ...).
/// - `Inconclusive`: a search explored `max_states` configurations without an answer.
pub fn linearizable_with(history: &History, options: &LinearizabilityOptions) -> Result<(), Violation> {
    let ops = operations(history, Checker::Linearizable)?;
    let mut by_path: BTreeMap<&str, Vec<Operation<'_>>> = BTreeMap::new();
    for o in ops.into_iter().filter(|o| !matches!(o.op, Op::Add { .. })) {
        by_path.entry(o.op.key()).or_default().push(o);
    }
    let mut failures = Vec::new();
    for (path, ops) in by_path {
        if let Some(v) = versions::contradiction(path, &ops, options.initial.get(path)) {
            failures.push(v);
            continue;
        }
        let interner = Interner::new(ops.iter().filter_map(read_data));
        let initial = options.initial.get(path).map(|(d, v)| (interner.id(d), *v));
        let (problem, kept) = problem(&ops, initial, &interner)?;
        match search(&problem, options.max_states) {
            Outcome::Linearizable => {}
            Outcome::Stuck(stuck) => {
                let state = replay(&kept, &stuck.order, options.initial.get(path));
                failures.push(stuck_violation(path, &kept, &stuck, &state));
            }
            Outcome::GaveUp { states } => failures.push(gave_up(path, kept.len(), states)),
        }
    }
    // A broken invariant beats an inconclusive search; among them, the earliest.
    let rank = |v: &Violation| (v.kind != ViolationKind::Invariant, v.entries.last().map(|e| e.seq));
    failures.into_iter().min_by_key(rank).map_or(Ok(()), Err)
}

/// The data a get returned.
fn read_data<'a>(o: &Operation<'a>) -> Option<&'a [u8]> {
    match (o.op, o.outcome()) {
        (Op::Get { .. }, Some(Ended::Ok(Value::Node { data, .. }))) => Some(data),
        _ => None,
    }
}

/// One znode's problem, and the operations it kept (failed ones and ambiguous reads say
/// nothing and are left out), in the same order.
fn problem<'a>(
    ops: &[Operation<'a>],
    initial: Znode,
    interner: &Interner<'_>,
) -> Result<(Problem, Vec<Operation<'a>>), Violation> {
    let (mut calls, mut times, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    for o in ops {
        let Some(action) = model::action(o.op, interner) else { continue };
        let answer = match o.ret {
            Some((_, Ended::Failed(_))) => continue,
            Some((entry, Ended::Ok(value))) => match model::answer(action, value, interner) {
                Ok(Some(answer)) => Some((entry.seq, answer)),
                Ok(None) => continue,
                Err(()) => {
                    let why = format!("operation #{} ({}) cannot return {value}", o.invoke.seq, o.op);
                    return Err(Violation::malformed(Checker::Linearizable, Some(entry), why));
                }
            },
            Some((_, Ended::Ambiguous(_))) | None => None,
        };
        if answer.is_none() && matches!(o.op, Op::Get { .. }) {
            continue;
        }
        calls.push(Call { action, answer: answer.map(|(_, a)| a) });
        times.push((o.invoke.seq, answer.map(|(seq, _)| seq)));
        kept.push(*o);
    }
    let after = twins(&calls);
    Ok((Problem { calls, times, after, initial }, kept))
}

/// For each ambiguous call, the previous ambiguous call with the same action. Such twins
/// are interchangeable, and the earlier one is available whenever the later one is, so a
/// linearization may as well apply them in invocation order: the search only places a
/// twin after its predecessor, which keeps a pile of pending blind writes (dropped
/// requests never apply) from being tried in every subset.
fn twins(calls: &[Call]) -> Vec<Option<usize>> {
    let mut last: HashMap<Action, usize> = HashMap::new();
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| match c.answer {
            Some(_) => None,
            None => last.insert(c.action, i),
        })
        .collect()
}

/// Describes an operation by its entries: `#12 c1 get /a -> "x" version 2 (returned #15)`.
fn describe(o: &Operation<'_>) -> String {
    let ended = match o.ret {
        Some((entry, outcome)) => format!("{outcome} at #{}", entry.seq),
        None => "never returned".to_owned(),
    };
    format!("#{} {} {} ({ended})", o.invoke.seq, o.invoke.participant, o.op)
}

/// The state the operations `order` leave, with all data spelled out (the search merged
/// the data no get returned).
fn replay(ops: &[Operation<'_>], order: &[usize], initial: Option<&(Vec<u8>, i32)>) -> String {
    let written = ops.iter().filter_map(|o| match o.op {
        Op::Set { data, .. } | Op::Create { data, .. } => Some(data.as_slice()),
        _ => None,
    });
    let all = Interner::new(initial.map(|(d, _)| d.as_slice()).into_iter().chain(written));
    let start = initial.map(|(d, v)| (all.id(d), *v));
    let actions = order.iter().filter_map(|i| ops.get(*i)).filter_map(|o| model::action(o.op, &all));
    all.show(actions.fold(start, model::effect))
}

fn stuck_violation(path: &str, ops: &[Operation<'_>], stuck: &Stuck, state: &str) -> Violation {
    let Some(blocked) = ops.get(stuck.blocked) else {
        let why = format!("the operations on {path} have no linearization");
        return Violation::new(Checker::Linearizable, Vec::new(), why);
    };
    const SHOWN: usize = 6;
    let tail: Vec<String> =
        stuck.order.iter().rev().take(SHOWN).rev().filter_map(|i| ops.get(*i)).map(describe).collect();
    let prefix = match stuck.order.len() {
        0 => "No operation could be placed first".to_owned(),
        n if n <= SHOWN => format!("The linearizable prefix that got furthest is: {}", tail.join("; ")),
        n => format!(
            "The linearizable prefix that got furthest orders {n} operations, ending with: {}",
            tail.join("; ")
        ),
    };
    let explanation = format!(
        "the {} operations on {path} have no linearization: no order consistent with real time lets each return \
         what it returned. {prefix}. It leaves {path} {}, and then operation {} cannot take effect, before or \
         after any of the operations concurrent with it.",
        ops.len(),
        state,
        describe(blocked),
    );
    let entries: Vec<&Entry> = std::iter::once(blocked.invoke).chain(blocked.ret.map(|(e, _)| e)).collect();
    Violation::new(Checker::Linearizable, entries, explanation)
}

fn gave_up(path: &str, ops: usize, states: usize) -> Violation {
    let explanation = format!(
        "the search for a linearization of the {ops} operations on {path} explored {states} configurations \
         without an answer (LinearizabilityOptions::max_states); many ambiguous operations concurrent with \
         many others make the search exponential."
    );
    Violation {
        checker: Checker::Linearizable,
        kind: ViolationKind::Inconclusive,
        entries: Vec::new(),
        explanation,
    }
}
