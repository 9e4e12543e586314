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
//! Ambiguous operations return at infinity (after every other event) and need not be
//! linearized: the search succeeds when every completed operation is.

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
    /// The state they leave.
    pub(crate) state: Znode,
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

    fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
        while self.high > 0 && self.words[(self.high - 1) / 64] & (1 << ((self.high - 1) % 64)) == 0 {
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

/// Searches for a linearization, exploring at most `max_states` configurations.
pub(crate) fn search(problem: &Problem, max_states: usize) -> Outcome {
    let n = problem.calls.len();
    let definite = problem.times.iter().filter(|(_, r)| r.is_some()).count();
    let mut list = List::new(&problem.times);
    let mut linearized = Linearized::new(n);
    let mut seen: HashSet<(Vec<u32>, Znode)> = HashSet::new();
    // The linearized calls (event nodes) and the state before each.
    let mut stack: Vec<(usize, Znode)> = Vec::new();
    let mut placed = 0;
    let mut best: Option<((Option<u64>, usize), Stuck)> = None;
    let mut state = problem.initial;
    let mut node = list.next[0];
    while placed < definite {
        if seen.len() > max_states {
            return Outcome::GaveUp { states: seen.len() };
        }
        let is_call = node != NIL && node % 2 == 1;
        if is_call {
            let op = (node - 1) / 2;
            if let Some(next) = step(state, &problem.calls[op]) {
                linearized.insert(op);
                if seen.insert((linearized.key(), next)) {
                    stack.push((node, state));
                    state = next;
                    list.lift(node);
                    placed += usize::from(problem.times[op].1.is_some());
                    node = list.next[0];
                    continue;
                }
                linearized.remove(op);
            }
            node = list.next[node];
            continue;
        }
        // A return of an operation not linearized yet (or the end of the list): back up,
        // remembering the point furthest in real time (then with the most placed) as the
        // one to report.
        if node != NIL {
            let blocked = (node - 2) / 2;
            let reach = (problem.times[blocked].1, placed);
            if best.as_ref().is_none_or(|(furthest, _)| reach > *furthest) {
                let order = stack.iter().map(|(call, _)| (call - 1) / 2).collect();
                best = Some((reach, Stuck { order, state, blocked }));
            }
        }
        let Some((call, before)) = stack.pop() else {
            return Outcome::Stuck(best.map(|(_, s)| s).unwrap_or_default());
        };
        let op = (call - 1) / 2;
        list.unlift(call);
        linearized.remove(op);
        placed -= usize::from(problem.times[op].1.is_some());
        state = before;
        node = list.next[call];
    }
    Outcome::Linearizable
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
            let problem =
                Problem { calls: vec![write, read], times: vec![(0, Some(3)), (1, Some(2))], initial: None };
            assert_eq!(search(&problem, 1000), Outcome::Linearizable, "{seen:?}");
        }
    }

    #[test]
    fn a_read_after_a_write_must_see_it() {
        let write = call(Action::Create { data: 7 }, Some(Answer::Done));
        let read = call(Action::Get, Some(Answer::Read(None)));
        let problem =
            Problem { calls: vec![write, read], times: vec![(0, Some(1)), (2, Some(3))], initial: None };
        let Outcome::Stuck(stuck) = search(&problem, 1000) else { panic!("a stale read") };
        assert_eq!(stuck, Stuck { order: vec![0], state: Some((7, 0)), blocked: 1 });
    }

    #[test]
    fn ambiguous_writes_may_apply_late_or_never() {
        let write = call(Action::Create { data: 7 }, None);
        let read = |seen| call(Action::Get, Some(Answer::Read(seen)));
        let times = vec![(0, None), (1, Some(2)), (3, Some(4))];
        let problem =
            |a, b| Problem { calls: vec![write, read(a), read(b)], times: times.clone(), initial: None };
        assert_eq!(search(&problem(None, None), 100), Outcome::Linearizable);
        assert_eq!(search(&problem(None, Some((7, 0))), 100), Outcome::Linearizable);
        assert!(matches!(search(&problem(Some((7, 0)), None), 100), Outcome::Stuck(_)));
        assert_eq!(search(&problem(Some((7, 0)), None), 0), Outcome::GaveUp { states: 1 });
    }
}
