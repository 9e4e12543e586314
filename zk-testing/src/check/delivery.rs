//! Queue delivery guarantees over `Put`, `MaybePut`, `Delivered` and `Acked` events.
//!
//! Every check starts with integrity: an item delivered or acked must have been put (or
//! maybe-put) somewhere in the history (a put's reply may arrive after the item was
//! delivered, so not necessarily before), and an `Acked` must follow a `Delivered` of the
//! same item to the same participant. Items are identified by (queue, item id).

use std::collections::BTreeMap;

use super::event::{Event, QueueStep};
use super::history::{Entry, History};
use super::violation::{Checker, Violation};

/// Checks that no item was delivered twice (to the same consumer or to two), plus
/// integrity. Items may be lost.
///
/// # Errors
/// The earliest second delivery (with the first), or the earliest integrity failure.
pub fn at_most_once(history: &History) -> Result<(), Violation> {
    check(history, Checker::AtMostOnce)
}

/// Checks that every item whose put succeeded (`Put`) was acked at least once, plus
/// integrity. Redeliveries and duplicate acks are allowed; `MaybePut` items need not
/// arrive.
///
/// # Errors
/// The earliest integrity failure, else the item put earliest that was never acked (with its
/// deliveries).
pub fn at_least_once(history: &History) -> Result<(), Violation> {
    check(history, Checker::AtLeastOnce)
}

/// Checks that every `Put` item was acked exactly once and every `MaybePut` item at most
/// once, plus integrity: every item was processed once. Redeliveries without an ack (a
/// consumer died holding the item) are allowed, as at-least-once queues do; use
/// [`at_most_once`] as well to forbid them.
///
/// # Errors
/// The earliest second ack or integrity failure, else the item put earliest that was never
/// acked.
pub fn exactly_once(history: &History) -> Result<(), Violation> {
    check(history, Checker::ExactlyOnce)
}

#[derive(Debug, Default)]
struct Item<'a> {
    put: Option<&'a Entry>,
    deliveries: Vec<&'a Entry>,
    acks: Vec<&'a Entry>,
    /// The first ack that no earlier delivery to its participant explains.
    orphan_ack: Option<&'a Entry>,
}

fn items(history: &History) -> BTreeMap<(&str, &str), Item<'_>> {
    let mut items: BTreeMap<(&str, &str), Item<'_>> = BTreeMap::new();
    for entry in history {
        let Event::Queue { queue, item, step } = &entry.event else { continue };
        let log = items.entry((queue.as_str(), item.as_str())).or_default();
        match step {
            // A definite put wins over an ambiguous one.
            QueueStep::Put => log.put = Some(entry),
            QueueStep::MaybePut => log.put = log.put.or(Some(entry)),
            QueueStep::Delivered => log.deliveries.push(entry),
            QueueStep::Acked => {
                let explained = log.deliveries.iter().any(|d| d.participant == entry.participant);
                if !explained && log.orphan_ack.is_none() {
                    log.orphan_ack = Some(entry);
                }
                log.acks.push(entry);
            }
        }
    }
    items
}

fn check(history: &History, checker: Checker) -> Result<(), Violation> {
    let items = items(history);
    let earliest = items
        .iter()
        .filter_map(|(key, item)| early_failure(checker, *key, item))
        .min_by_key(|v| v.entries.last().map(|e| e.seq));
    if let Some(v) = earliest {
        return Err(v);
    }
    if checker == Checker::AtMostOnce {
        return Ok(());
    }
    let lost = items
        .iter()
        .filter(|(_, item)| item.acks.is_empty())
        .filter_map(|(key, item)| item.put.filter(|p| is_definite(p)).map(|p| (p.seq, *key, item)))
        .min_by_key(|(seq, ..)| *seq);
    match lost {
        None => Ok(()),
        Some((_, key, item)) => Err(never_acked(checker, key, item)),
    }
}

fn is_definite(put: &Entry) -> bool {
    matches!(put.event, Event::Queue { step: QueueStep::Put, .. })
}

/// A failure found at a point of the history: a phantom item, an orphan ack, a duplicate.
fn early_failure(checker: Checker, (queue, id): (&str, &str), item: &Item<'_>) -> Option<Violation> {
    let name = format!("item {id:?} of queue {queue:?}");
    let first_seen = item.deliveries.first().into_iter().chain(item.acks.first()).min_by_key(|e| e.seq);
    let phantom = first_seen.filter(|_| item.put.is_none()).map(|e| {
        let what = format!("{name} reached {} at #{}, but no participant put it", e.participant, e.seq);
        Violation::new(
            checker,
            vec![e],
            format!("{what}: it came from nowhere (or its put was not recorded)."),
        )
    });
    let orphan = item.orphan_ack.map(|a| {
        let what = format!("{} acked {name} at #{} without a delivery to it before", a.participant, a.seq);
        Violation::new(
            checker,
            vec![a],
            format!("{what}: an ack must follow a delivery to the same consumer."),
        )
    });
    let twice = match checker {
        Checker::AtMostOnce => {
            item.deliveries.get(1).map(|d| twice(checker, &name, "delivered", &item.deliveries, d))
        }
        Checker::ExactlyOnce => item.acks.get(1).map(|a| twice(checker, &name, "acked", &item.acks, a)),
        _ => None,
    };
    [phantom, orphan, twice].into_iter().flatten().min_by_key(|v| v.entries.last().map(|e| e.seq))
}

fn twice(checker: Checker, name: &str, verb: &str, all: &[&Entry], second: &Entry) -> Violation {
    let first = all[0];
    let explanation = format!(
        "{name} was {verb} twice: to {} at #{} ({:.6}s) and again to {} at #{} ({:.6}s); {checker} \
         allows one.",
        first.participant,
        first.seq,
        first.at.as_secs_f64(),
        second.participant,
        second.seq,
        second.at.as_secs_f64(),
    );
    Violation::new(checker, vec![first, second], explanation)
}

fn never_acked(checker: Checker, (queue, id): (&str, &str), item: &Item<'_>) -> Violation {
    let put = item.put.map(|p| format!("put by {} at #{}", p.participant, p.seq)).unwrap_or_default();
    let deliveries: Vec<String> =
        item.deliveries.iter().map(|d| format!("#{} to {}", d.seq, d.participant)).collect();
    let fate = if deliveries.is_empty() {
        "never delivered".to_owned()
    } else {
        format!("delivered ({}) but never acked, and not delivered again after that", deliveries.join(", "))
    };
    let explanation =
        format!("item {id:?} of queue {queue:?} was {put} and {fate}: {checker} loses no item.");
    let entries = item.put.into_iter().chain(item.deliveries.iter().copied()).collect();
    Violation::new(checker, entries, explanation)
}

#[cfg(test)]
mod tests {
    use super::super::history::Recorder;
    use super::QueueStep::{Acked, Delivered, MaybePut, Put};
    use super::*;

    fn history(steps: &[(&str, &str, QueueStep)]) -> History {
        let recorder = Recorder::new();
        for (who, item, step) in steps {
            recorder.record(who, None, Event::queue("q", item, *step));
        }
        recorder.history()
    }

    #[test]
    fn a_clean_run_passes_every_guarantee() {
        let h = history(&[
            ("p", "1", Put),
            ("c1", "1", Delivered),
            ("c2", "2", Delivered), // delivered before the put's reply arrived
            ("p", "2", Put),
            ("c1", "1", Acked),
            ("c2", "2", Acked),
            ("p", "3", MaybePut), // never arrives: allowed
        ]);
        assert_eq!(at_most_once(&h), Ok(()));
        assert_eq!(at_least_once(&h), Ok(()));
        assert_eq!(exactly_once(&h), Ok(()));
    }

    #[test]
    fn a_redelivery_breaks_at_most_once_only() {
        let h = history(&[
            ("p", "1", Put),
            ("c1", "1", Delivered),
            ("c2", "1", Delivered), // c1 died before its ack
            ("c2", "1", Acked),
        ]);
        let v = at_most_once(&h).expect_err("delivered twice");
        assert_eq!(v.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert!(v.explanation.contains("delivered twice: to c1 at #1"), "{v}");
        assert_eq!(at_least_once(&h), Ok(()));
        assert_eq!(exactly_once(&h), Ok(()));
    }

    #[test]
    fn a_lost_item_breaks_at_least_once() {
        let h = history(&[("p", "1", Put), ("p", "2", Put), ("c1", "2", Delivered), ("c1", "1", Delivered)]);
        for check in [at_least_once, exactly_once] {
            let v = check(&h).expect_err("nothing was acked");
            assert_eq!(v.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 3], "{v}");
            assert!(v.explanation.contains("delivered (#3 to c1) but never acked"), "{v}");
        }
        assert_eq!(at_most_once(&h), Ok(()));
    }

    #[test]
    fn double_processing_breaks_exactly_once() {
        let h = history(&[
            ("p", "1", MaybePut),
            ("c1", "1", Delivered),
            ("c1", "1", Acked),
            ("c2", "1", Delivered),
            ("c2", "1", Acked),
        ]);
        let v = exactly_once(&h).expect_err("acked twice");
        assert_eq!(v.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(at_least_once(&h), Ok(()));
    }

    #[test]
    fn phantoms_and_orphan_acks_break_integrity() {
        let phantom =
            history(&[("p", "1", Put), ("c1", "1", Delivered), ("c1", "1", Acked), ("c1", "9", Delivered)]);
        for check in [at_most_once, at_least_once, exactly_once] {
            let v = check(&phantom).expect_err("item 9 was never put");
            assert_eq!(v.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
            assert!(v.explanation.contains("no participant put it"), "{v}");
        }
        let orphan = history(&[("p", "1", Put), ("c1", "1", Delivered), ("c2", "1", Acked)]);
        let v = at_least_once(&orphan).expect_err("c2 acked what c1 got");
        assert!(v.explanation.contains("c2 acked item \"1\""), "{v}");
    }
}
