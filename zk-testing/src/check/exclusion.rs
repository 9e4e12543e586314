//! Locks, semaphores and elections: how many participants may believe they hold a thing at
//! once.

use std::collections::{BTreeMap, HashMap};

use super::event::{Event, Leadership, LockChange};
use super::history::{Entry, History};
use super::violation::{Checker, Violation};

/// Checks that no two participants held a lock at the same time, for every lock name in the
/// history. A participant holds a lock from its `Acquired` to its next `Released`,
/// `Suspended` or `Lost` of that lock (or to the end of the history); an `Acquired` while
/// already holding changes nothing.
///
/// # Errors
/// The first `Acquired` that finds the lock held by someone else, with the holder's
/// `Acquired`.
pub fn mutual_exclusion(history: &History) -> Result<(), Violation> {
    holders_within(history, 1, Checker::MutualExclusion, lock_span)
}

/// Checks that at most `limit` participants held each lock (semaphore) name at once; holding
/// is as in [`mutual_exclusion`].
///
/// # Errors
/// The first `Acquired` that makes `limit + 1` holders, with the current holders'
/// `Acquired` entries.
pub fn at_most_holders(history: &History, limit: usize) -> Result<(), Violation> {
    holders_within(history, limit, Checker::AtMostHolders(limit), lock_span)
}

/// Checks that the leadership intervals of two participants never overlap, in every
/// election of the history. A participant leads from its `Leader` to its next `NotLeader`,
/// `Suspended` or `Lost` in that election (or to the end of the history).
///
/// # Errors
/// The first `Leader` recorded while another participant leads, with that leader's entry.
pub fn one_leader(history: &History) -> Result<(), Violation> {
    holders_within(history, 1, Checker::OneLeader, election_span)
}

/// Whether an entry starts (`true`) or ends (`false`) a participant's hold on a name.
type Span = fn(&Event) -> Option<(&str, bool)>;

fn lock_span(event: &Event) -> Option<(&str, bool)> {
    match event {
        Event::Lock { lock, change } => Some((lock, *change == LockChange::Acquired)),
        _ => None,
    }
}

fn election_span(event: &Event) -> Option<(&str, bool)> {
    match event {
        Event::Election { election, change } => Some((election, *change == Leadership::Leader)),
        _ => None,
    }
}

fn holders_within(history: &History, limit: usize, checker: Checker, span: Span) -> Result<(), Violation> {
    // name -> participant -> the entry that began its hold.
    let mut held: HashMap<&str, BTreeMap<&str, &Entry>> = HashMap::new();
    for entry in history {
        let Some((name, begins)) = span(&entry.event) else { continue };
        let holders = held.entry(name).or_default();
        let who = entry.participant.as_str();
        if !begins {
            holders.remove(who);
        } else if !holders.contains_key(who) {
            if holders.len() >= limit {
                return Err(too_many(checker, limit, name, entry, holders));
            }
            holders.insert(who, entry);
        }
    }
    Ok(())
}

fn too_many(
    checker: Checker,
    limit: usize,
    name: &str,
    entry: &Entry,
    holders: &BTreeMap<&str, &Entry>,
) -> Violation {
    let others: Vec<String> = holders
        .values()
        .map(|e| format!("{} (since #{}, {:.6}s)", e.participant, e.seq, e.at.as_secs_f64()))
        .collect();
    let (thing, verb, end) = match checker {
        Checker::OneLeader => ("election", "became leader of", "NotLeader, Suspended or Lost"),
        _ => ("lock", "acquired", "Released, Suspended or Lost"),
    };
    let explanation = format!(
        "{} {verb} {thing} {name:?} at #{} ({:.6}s), which allows {limit} holder{} at a time, while {} \
         still held it: {} recorded no {end} for it in between.",
        entry.participant,
        entry.seq,
        entry.at.as_secs_f64(),
        if limit == 1 { "" } else { "s" },
        others.join(", "),
        if holders.len() == 1 { "it" } else { "they" },
    );
    let mut entries: Vec<&Entry> = holders.values().copied().collect();
    entries.push(entry);
    Violation::new(checker, entries, explanation)
}

#[cfg(test)]
mod tests {
    use super::super::history::Recorder;
    use super::*;

    fn history(steps: &[(&str, Event)]) -> History {
        let recorder = Recorder::new();
        steps.iter().for_each(|(who, e)| _ = recorder.record(who, None, e.clone()));
        recorder.history()
    }

    #[test]
    fn handing_a_lock_over_passes() {
        let h = history(&[
            ("a", Event::acquired("l")),
            ("b", Event::acquired("m")),
            ("a", Event::acquired("l")),
            ("a", Event::released("l")),
            ("b", Event::acquired("l")),
            ("b", Event::suspended("l")),
            ("a", Event::acquired("l")),
            ("a", Event::lost("l")),
            ("c", Event::acquired("l")),
        ]);
        assert_eq!(mutual_exclusion(&h), Ok(()));
    }

    #[test]
    fn two_holders_fail_with_both_acquisitions() {
        let h = history(&[
            ("a", Event::acquired("l")),
            ("b", Event::acquired("m")),
            ("a", Event::released("m")),
            ("b", Event::acquired("l")),
        ]);
        let v = mutual_exclusion(&h).expect_err("b acquired l while a held it");
        assert_eq!(v.checker, Checker::MutualExclusion);
        assert_eq!(v.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 3]);
        let text = v.to_string();
        assert!(text.starts_with("mutual exclusion violated\n  #0 "), "{text}");
        assert!(text.contains("b acquired lock \"l\" at #3"), "{text}");
    }

    #[test]
    fn semaphores_allow_n_holders() {
        let h = history(&[
            ("a", Event::acquired("s")),
            ("b", Event::acquired("s")),
            ("a", Event::released("s")),
            ("c", Event::acquired("s")),
            ("d", Event::acquired("s")),
        ]);
        assert_eq!(at_most_holders(&h, 3), Ok(()));
        let v = at_most_holders(&h, 2).expect_err("three holders after d");
        assert_eq!(v.checker, Checker::AtMostHolders(2));
        assert_eq!(v.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3, 4]);
    }

    #[test]
    fn leaders_must_step_down_before_another_leads() {
        let e = |c| Event::leadership("e", c);
        let ok = history(&[
            ("a", e(Leadership::Leader)),
            ("b", e(Leadership::NotLeader)),
            ("a", e(Leadership::Suspended)),
            ("b", e(Leadership::Leader)),
            ("b", e(Leadership::Lost)),
            ("a", e(Leadership::Leader)),
            ("c", Event::leadership("other", Leadership::Leader)),
        ]);
        assert_eq!(one_leader(&ok), Ok(()));
        let bad = history(&[("a", e(Leadership::Leader)), ("b", e(Leadership::Leader))]);
        let v = one_leader(&bad).expect_err("two leaders");
        assert!(v.explanation.contains("b became leader of election \"e\""), "{v}");
        // Locks and elections are separate namespaces.
        assert_eq!(mutual_exclusion(&bad), Ok(()));
    }
}
