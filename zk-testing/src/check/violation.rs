//! The one result type of every checker.

use std::fmt;

use super::history::Entry;

/// Which checker spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Checker {
    /// [`mutual_exclusion`](super::mutual_exclusion).
    MutualExclusion,
    /// [`at_most_holders`](super::at_most_holders) with this limit.
    AtMostHolders(usize),
    /// [`one_leader`](super::one_leader).
    OneLeader,
    /// [`at_most_once`](super::at_most_once).
    AtMostOnce,
    /// [`at_least_once`](super::at_least_once).
    AtLeastOnce,
    /// [`exactly_once`](super::exactly_once).
    ExactlyOnce,
    /// [`counter_exact`](super::counter_exact).
    CounterExact,
    /// [`cache_converged`](super::cache_converged).
    CacheConvergence,
    /// [`linearizable`](super::linearizable).
    Linearizable,
}

impl fmt::Display for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checker::MutualExclusion => f.write_str("mutual exclusion"),
            Checker::AtMostHolders(n) => write!(f, "at most {n} holders"),
            Checker::OneLeader => f.write_str("one leader at a time"),
            Checker::AtMostOnce => f.write_str("at-most-once delivery"),
            Checker::AtLeastOnce => f.write_str("at-least-once delivery"),
            Checker::ExactlyOnce => f.write_str("exactly-once delivery"),
            Checker::CounterExact => f.write_str("counter exactness"),
            Checker::CacheConvergence => f.write_str("cache convergence"),
            Checker::Linearizable => f.write_str("linearizability"),
        }
    }
}

/// Why a checker did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// The history breaks the invariant.
    Invariant,
    /// The history cannot be checked: an entry contradicts the recording rules (a return
    /// without its invocation, a value of the wrong type, ...). A bug in the test, not in
    /// the code under test.
    Malformed,
    /// The checker gave up within its limits (linearizability's search budget); nothing is
    /// known.
    Inconclusive,
}

/// A checker's finding: which checker, the first entries involved, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The checker.
    pub checker: Checker,
    /// A broken invariant, or a history that could not be checked.
    pub kind: ViolationKind,
    /// The first entries involved, in recording order (empty when the finding is not about
    /// entries, e.g. cache convergence).
    pub entries: Vec<Entry>,
    /// What went wrong, in a paragraph.
    pub explanation: String,
}

impl Violation {
    /// A broken invariant.
    pub(crate) fn new(checker: Checker, entries: Vec<&Entry>, explanation: String) -> Violation {
        let mut entries: Vec<Entry> = entries.into_iter().cloned().collect();
        entries.sort_by_key(|e| e.seq);
        entries.dedup_by_key(|e| e.seq);
        Violation { checker, kind: ViolationKind::Invariant, entries, explanation }
    }

    /// A history that cannot be checked.
    pub(crate) fn malformed(checker: Checker, entry: Option<&Entry>, explanation: String) -> Violation {
        let entries = entry.into_iter().cloned().collect();
        Violation { checker, kind: ViolationKind::Malformed, entries, explanation }
    }

    /// True when the history breaks the invariant (rather than being unfit to check).
    pub fn is_invariant(&self) -> bool {
        self.kind == ViolationKind::Invariant
    }
}

/// A headline, the entries one per line, then the explanation.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ViolationKind::Invariant => writeln!(f, "{} violated", self.checker)?,
            ViolationKind::Malformed => writeln!(f, "{}: the history cannot be checked", self.checker)?,
            ViolationKind::Inconclusive => writeln!(f, "{}: inconclusive", self.checker)?,
        }
        for e in &self.entries {
            writeln!(f, "  {e}")?;
        }
        f.write_str(&self.explanation)
    }
}

impl std::error::Error for Violation {}
