//! Counter exactness under ambiguous increments.

use std::collections::BTreeSet;

use super::event::{Op, Outcome};
use super::history::{Entry, History};
use super::ops::{operations, Operation};
use super::violation::{Checker, Violation};

/// Beyond this many distinct reachable sums the check relaxes to an interval (see
/// [`counter_exact`]).
const MAX_SUMS: usize = 1 << 16;

/// Checks that a counter's change is explained by the `Add` operations on it in `history`.
///
/// Let `S` be the sum of the deltas of the adds that returned `Ok`, and `A` the deltas of
/// the ambiguous adds (ended `Ambiguous`, or never returned); failed adds count for nothing.
/// Each ambiguous add was applied once or not at all, so the counter's change
/// `final_value - initial` must equal `S` plus the sum of some subset of `A`. With unit
/// increments this is `S <= final - initial <= S + |A|`; with mixed signs it is stricter than
/// the interval `[S + sum of negative A, S + sum of positive A]`, which the check falls back
/// to (and says so) only when the subsets reach more than 65,536 distinct sums.
///
/// # Errors
/// The change is not reachable (kind `Invariant`, listing up to 8 ambiguous adds); or the
/// operations are malformed (a return without its invocation).
pub fn counter_exact(
    history: &History,
    counter: &str,
    initial: i64,
    final_value: i64,
) -> Result<(), Violation> {
    let ops = operations(history, Checker::CounterExact)?;
    let adds: Vec<(Operation<'_>, i64)> = ops
        .into_iter()
        .filter_map(|o| match o.op {
            Op::Add { counter: c, delta } if c == counter => Some((o, *delta)),
            _ => None,
        })
        .collect();
    let succeeded: i128 = adds
        .iter()
        .filter(|(o, _)| matches!(o.outcome(), Some(Outcome::Ok(_))))
        .map(|(_, d)| i128::from(*d))
        .sum();
    let ambiguous: Vec<&(Operation<'_>, i64)> = adds.iter().filter(|(o, _)| o.is_ambiguous()).collect();
    let change = i128::from(final_value) - i128::from(initial);
    let deltas: Vec<i64> = ambiguous.iter().map(|(_, d)| *d).collect();
    let reach = reachable(&deltas);
    if reach.contains(change - succeeded) {
        return Ok(());
    }
    let entries: Vec<&Entry> =
        ambiguous.iter().take(8).map(|(o, _)| o.ret.map_or(o.invoke, |(e, _)| e)).collect();
    let explanation = format!(
        "counter {counter:?} went from {initial} to {final_value}, a change of {change:+}; the {} adds that \
         succeeded sum to {succeeded:+}, and the {} ambiguous adds ({}) could each have been applied or not, so \
         the change must be {succeeded:+} plus {}.",
        adds.iter().filter(|(o, _)| matches!(o.outcome(), Some(Outcome::Ok(_)))).count(),
        deltas.len(),
        deltas.iter().map(|d| format!("{d:+}")).collect::<Vec<_>>().join(", "),
        reach.describe(),
    );
    Err(Violation::new(Checker::CounterExact, entries, explanation))
}

/// The sums of the subsets of some deltas.
enum Reach {
    /// Exactly these.
    Sums(BTreeSet<i128>),
    /// Too many to list: the interval containing them.
    Within(i128, i128),
}

fn reachable(deltas: &[i64]) -> Reach {
    let mut sums = BTreeSet::from([0i128]);
    for d in deltas.iter().map(|d| i128::from(*d)) {
        let shifted: Vec<i128> = sums.iter().map(|s| s + d).collect();
        sums.extend(shifted);
        if sums.len() > MAX_SUMS {
            let low = deltas.iter().filter(|d| **d < 0).map(|d| i128::from(*d)).sum();
            let high = deltas.iter().filter(|d| **d > 0).map(|d| i128::from(*d)).sum();
            return Reach::Within(low, high);
        }
    }
    Reach::Sums(sums)
}

impl Reach {
    fn contains(&self, x: i128) -> bool {
        match self {
            Reach::Sums(s) => s.contains(&x),
            Reach::Within(low, high) => (*low..=*high).contains(&x),
        }
    }

    fn describe(&self) -> String {
        match self {
            Reach::Sums(s) if s.len() <= 16 => {
                format!("one of {{{}}}", s.iter().map(|x| format!("{x:+}")).collect::<Vec<_>>().join(", "))
            }
            Reach::Sums(s) => {
                let (low, high) = (s.first().copied().unwrap_or(0), s.last().copied().unwrap_or(0));
                format!("{} distinct amounts from {low:+} to {high:+}", s.len())
            }
            Reach::Within(low, high) => {
                format!("(relaxed to an interval: too many subsets) {low:+} to {high:+}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::Value;
    use super::super::history::Recorder;
    use super::super::violation::ViolationKind;
    use super::*;

    /// Adds on "/c" ending Ok ('o'), Ambiguous ('a'), Failed ('f') or never ('n').
    fn history(adds: &[(i64, char)]) -> History {
        let recorder = Recorder::new();
        let p = recorder.participant("p");
        p.invoke(Op::add("/other", 100));
        for (delta, end) in adds {
            let op = p.invoke(Op::add("/c", *delta));
            match end {
                'o' => p.ok(op, Value::Done),
                'a' => p.ambiguous(op, "connection loss"),
                'f' => p.failed(op, "no auth"),
                _ => {}
            }
        }
        recorder.history()
    }

    #[test]
    fn unit_increments_allow_the_interval() {
        let h = history(&[(1, 'o'), (1, 'o'), (1, 'a'), (1, 'n'), (1, 'f')]);
        for last in 2..=4 {
            assert_eq!(counter_exact(&h, "/c", 10, 10 + last), Ok(()), "final {}", 10 + last);
        }
        let v = counter_exact(&h, "/c", 10, 11).expect_err("two increments succeeded");
        assert_eq!(v.kind, ViolationKind::Invariant);
        assert_eq!(v.entries.len(), 2, "the ambiguous adds: {v}");
        assert!(v.explanation.contains("must be +2 plus one of {+0, +1, +2}"), "{v}");
        assert!(counter_exact(&h, "/c", 10, 15).is_err(), "the failed add was not applied");
    }

    #[test]
    fn mixed_deltas_must_be_a_subset_sum() {
        // Ambiguous +5 and -3: the change is +1 plus one of {0, +5, -3, +2}.
        let h = history(&[(1, 'o'), (5, 'a'), (-3, 'a')]);
        for ok in [1, 6, -2, 3] {
            assert_eq!(counter_exact(&h, "/c", 0, ok), Ok(()), "final {ok}");
        }
        // Inside the interval [-2, 6] but not reachable.
        for bad in [0, 2, 4, 5] {
            assert!(counter_exact(&h, "/c", 0, bad).is_err(), "final {bad}");
        }
    }

    #[test]
    fn extreme_values_do_not_overflow_and_many_sums_relax_to_the_interval() {
        let h = history(&[(i64::MAX, 'o'), (i64::MAX, 'a')]);
        assert_eq!(counter_exact(&h, "/c", i64::MIN, -1), Ok(()));
        let many: Vec<(i64, char)> = (0..40).map(|i| (1 << i, 'a')).collect();
        let h = history(&many);
        assert_eq!(counter_exact(&h, "/c", 0, 12345), Ok(()));
        let v = counter_exact(&h, "/c", 0, -1).expect_err("below the interval");
        assert!(v.explanation.contains("relaxed to an interval"), "{v}");
    }
}
