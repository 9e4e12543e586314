//! The search for a linearization of one znode's operations: Wing & Gong's backtracking
//! over the list of call and return events, with Lowe's memoization of (linearized set,
//! state) and just-in-time linearization (an operation is placed only when a return forces
//! a decision), as Porcupine does.
//!
//! The events form a doubly linked list in real-time order. Walking it, a call whose
//! operation can take effect in the current state is tentatively linearized: its call and
//! return leave the list and the walk restarts at the head. Reaching a return means its
//! operation was not linearized before it returned: undo the last choice and try the next
//! call after it. A configuration (linearized set, state) seen before is not explored again.
//!
//! Ambiguous operations return at infinity (after every other event) and need not be
//! linearized: the search succeeds when every completed operation is. Two things keep them
//! cheap: a walk tries them only after the completed calls (see [`Pass`]), and of several
//! identical ones only the earliest pending one (see `twins` in `mod.rs`).

use std::collections::HashSet;

use super::model::{step, Call, Znode};

/// No event (the end of the list).
const NIL: usize = usize::MAX;

/// How the search ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Linearizable,
    /// No linearization: the longest partial one found.
    Stuck(Stuck),
    /// The configuration budget ran out.
    GaveUp {
        states: usize,
    },
}

/// The point furthest in real time that the search reached before it failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Stuck {
    /// The operations linearized, in order (indices into the calls).
    pub(crate) order: Vec<usize>,
    /// The completed operation whose return came before it could be placed.
    pub(crate) blocked: usize,
}

/// The operations to place, each with its call position and, unless ambiguous, its return
/// position in real-time order.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) calls: Vec<Call>,
    /// (call time, return time); `None`: ambiguous, returns at infinity.
    pub(crate) times: Vec<(u64, Option<u64>)>,
    /// For an ambiguous call, its twin: the previous ambiguous call with the same action,
    /// which must be linearized before it.
    pub(crate) after: Vec<Option<usize>>,
    pub(crate) initial: Znode,
}

/// The event list: node 0 is the head; node `2i + 1` calls operation `i`, node `2i + 2`
/// returns it.
struct List {
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl List {
    fn new(times: &[(u64, Option<u64>)]) -> List {
        let mut events: Vec<(u64, usize)> = Vec::with_capacity(2 * times.len());
        for (i, (call, ret)) in times.iter().enumerate() {
            events.push((*call, 2 * i + 1));
            events.push((ret.unwrap_or(u64::MAX), 2 * i + 2));
        }
        events.sort_unstable();
        let mut list = List { next: vec![NIL; 2 * times.len() + 1], prev: vec![NIL; 2 * times.len() + 1] };
        let mut last = 0;
        for (_, node) in events {
            list.next[last] = node;
            list.prev[node] = last;
            last = node;
        }
        list
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }

    /// Removes a call and its return.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(call + 1);
    }

    /// Undoes [`List::lift`] (in reverse order, as dancing links do).
    fn unlift(&mut self, call: usize) {
        self.relink(call + 1);
        self.relink(call);
    }
}

/// The linearized set: a bitset, keyed compactly for the cache as its length (one past the
/// highest member) and the non-members below it. Those are the operations still open when
/// the newest linearized one was called: few, whatever the history's length.
struct Linearized {
    words: Vec<u64>,
    high: usize,
}

impl Linearized {
    fn new(n: usize) -> Linearized {
        Linearized { words: vec![0; n.div_ceil(64)], high: 0 }
    }

    fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
        self.high = self.high.max(i + 1);
    }

    fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
        while self.high > 0 && !self.contains(self.high - 1) {
            self.high -= 1;
        }
    }

    fn key(&self) -> Vec<u32> {
        let mut key = vec![self.high as u32];
        for (w, word) in self.words[..self.high.div_ceil(64)].iter().enumerate() {
            let mut missing = !word;
            while missing != 0 {
                let i = w * 64 + missing.trailing_zeros() as usize;
                if i >= self.high {
                    break;
                }
                key.push(i as u32);
                missing &= missing - 1;
            }
        }
        key
    }
}

/// Which calls a walk of the list considers. Completed operations are tried first, and
/// ambiguous ones only when no completed one fits: most ambiguous operations of a chaos run
/// never took effect, and one that did is needed right before the next operation that
/// observes it, where this order finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Completed,
    Ambiguous,
}

/// The search's mutable state.
struct Search<'p> {
    problem: &'p Problem,
    list: List,
    linearized: Linearized,
    seen: HashSet<(Vec<u32>, Znode)>,
    /// The linearized calls (event nodes), each with the state before it and its pass.
    stack: Vec<(usize, Znode, Pass)>,
    state: Znode,
    /// Completed operations linearized.
    placed: usize,
    best: Option<((Option<u64>, usize), Stuck)>,
}

/// Searches for a linearization, exploring at most `max_states` configurations.
pub(crate) fn search(problem: &Problem, max_states: usize) -> Outcome {
    let n = problem.calls.len();
    let definite = problem.times.iter().filter(|(_, r)| r.is_some()).count();
    let mut s = Search {
        problem,
        list: List::new(&problem.times),
        linearized: Linearized::new(n),
        seen: HashSet::new(),
        stack: Vec::new(),
        state: problem.initial,
        placed: 0,
        best: None,
    };
    let (mut node, mut pass) = (s.list.next[0], Pass::Completed);
    while s.placed < definite {
        if s.seen.len() > max_states {
            return Outcome::GaveUp { states: s.seen.len() };
        }
        if node != NIL && node % 2 == 1 {
            if s.eligible(node, pass) && s.place(node, pass) {
                (node, pass) = (s.list.next[0], Pass::Completed);
            } else {
                node = s.list.next[node];
            }
            continue;
        }
        // A return of an operation not linearized yet (or the end of the list): every
        // call before it was tried in this pass.
        if pass == Pass::Completed {
            (node, pass) = (s.list.next[0], Pass::Ambiguous);
            continue;
        }
        s.remember(node);
        let Some((call, was)) = s.back_up() else {
            return Outcome::Stuck(s.best.map(|(_, stuck)| stuck).unwrap_or_default());
        };
        (node, pass) = (s.list.next[call], was);
    }
    Outcome::Linearizable
}

impl Search<'_> {
    fn op(node: usize) -> usize {
        (node - 1) / 2
    }

    /// Whether the call at `node` is tried in `pass`: an ambiguous call only after its
    /// twin (see `twins`).
    fn eligible(&self, node: usize, pass: Pass) -> bool {
        let op = Self::op(node);
        match (pass, self.problem.times[op].1) {
            (Pass::Completed, completed) => completed.is_some(),
            (Pass::Ambiguous, None) => {
                self.problem.after[op].is_none_or(|twin| self.linearized.contains(twin))
            }
            (Pass::Ambiguous, Some(_)) => false,
        }
    }

    /// Linearizes the call at `node` if it can take effect now and leads somewhere new.
    fn place(&mut self, node: usize, pass: Pass) -> bool {
        let op = Self::op(node);
        let Some(next) = step(self.state, &self.problem.calls[op]) else { return false };
        self.linearized.insert(op);
        if !self.seen.insert((self.linearized.key(), next)) {
            self.linearized.remove(op);
            return false;
        }
        self.stack.push((node, self.state, pass));
        self.state = next;
        self.list.lift(node);
        self.placed += usize::from(self.problem.times[op].1.is_some());
        true
    }

    /// Undoes the last linearization; returns its call and pass.
    fn back_up(&mut self) -> Option<(usize, Pass)> {
        let (call, before, pass) = self.stack.pop()?;
        let op = Self::op(call);
        self.list.unlift(call);
        self.linearized.remove(op);
        self.placed -= usize::from(self.problem.times[op].1.is_some());
        self.state = before;
        Some((call, pass))
    }

    /// Keeps the point furthest in real time (then with the most placed) to report: the
    /// search is stuck at the return `node`.
    fn remember(&mut self, node: usize) {
        if node == NIL {
            return;
        }
        let blocked = (node - 2) / 2;
        let reach = (self.problem.times[blocked].1, self.placed);
        if self.best.as_ref().is_none_or(|(furthest, _)| reach > *furthest) {
            let order = self.stack.iter().map(|(call, ..)| Self::op(*call)).collect();
            self.best = Some((reach, Stuck { order, blocked }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{Action, Answer};
    use super::*;

    fn call(action: Action, answer: Option<Answer>) -> Call {
        Call { action, answer }
    }

    #[test]
    fn the_linearized_set_key_lists_the_gaps_below_the_top() {
        let mut l = Linearized::new(200);
        assert_eq!(l.key(), [0]);
        (0..130).filter(|i| *i != 3 && *i != 70).for_each(|i| l.insert(i));
        assert_eq!(l.key(), [130, 3, 70]);
        l.insert(150);
        l.remove(150);
        assert_eq!(l.key(), [130, 3, 70]);
        l.remove(129);
        assert_eq!(l.key(), [129, 3, 70]);
    }

    #[test]
    fn a_read_overlapping_a_write_may_see_either_value() {
        let write = call(Action::Create { data: 7 }, Some(Answer::Done));
        for seen in [None, Some((7, 0))] {
            let read = call(Action::Get, Some(Answer::Read(seen)));
            let problem = Problem {
                calls: vec![write, read],
                times: vec![(0, Some(3)), (1, Some(2))],
                after: vec![None; 2],
                initial: None,
            };
            assert_eq!(search(&problem, 1000), Outcome::Linearizable, "{seen:?}");
        }
    }

    #[test]
    fn a_read_after_a_write_must_see_it() {
        let write = call(Action::Create { data: 7 }, Some(Answer::Done));
        let read = call(Action::Get, Some(Answer::Read(None)));
        let problem = Problem {
            calls: vec![write, read],
            times: vec![(0, Some(1)), (2, Some(3))],
            after: vec![None; 2],
            initial: None,
        };
        let Outcome::Stuck(stuck) = search(&problem, 1000) else { panic!("a stale read") };
        assert_eq!(stuck, Stuck { order: vec![0], blocked: 1 });
    }

    #[test]
    fn ambiguous_writes_may_apply_late_or_never() {
        let write = call(Action::Create { data: 7 }, None);
        let read = |seen| call(Action::Get, Some(Answer::Read(seen)));
        let times = vec![(0, None), (1, Some(2)), (3, Some(4))];
        let problem = |a, b| Problem {
            calls: vec![write, read(a), read(b)],
            times: times.clone(),
            after: vec![None; 3],
            initial: None,
        };
        assert_eq!(search(&problem(None, None), 100), Outcome::Linearizable);
        assert_eq!(search(&problem(None, Some((7, 0))), 100), Outcome::Linearizable);
        assert!(matches!(search(&problem(Some((7, 0)), None), 100), Outcome::Stuck(_)));
        assert_eq!(search(&problem(Some((7, 0)), None), 0), Outcome::GaveUp { states: 1 });
    }
}
