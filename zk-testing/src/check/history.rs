//! Recording what participants observe: [`Recorder`], [`Participant`], [`History`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::event::{Event, Op, OpId, Outcome, Value};

/// One recorded event, stamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The position in the recording order, from 0. An entry with a smaller `seq` was
    /// recorded before: this is the real-time order the checkers use.
    pub seq: u64,
    /// When it was recorded, since the recorder was created (tokio's clock: virtual time
    /// under a paused clock).
    pub at: Duration,
    /// Who recorded it.
    pub participant: String,
    /// The zxid of the transaction it observed, when known.
    pub zxid: Option<i64>,
    /// What happened.
    pub event: Event,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:<5} {:>11.6}s {}", self.seq, self.at.as_secs_f64(), self.participant)?;
        if let Some(z) = self.zxid {
            write!(f, " [zxid {z:#x}]")?;
        }
        write!(f, " {}", self.event)
    }
}

/// A recorded history: the entries in recording order (increasing `seq`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    entries: Vec<Entry>,
}

impl History {
    /// The entries, in recording order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// An iterator over the entries, in recording order.
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with this sequence number.
    pub fn get(&self, seq: u64) -> Option<&Entry> {
        self.entries.binary_search_by_key(&seq, |e| e.seq).ok().map(|i| &self.entries[i])
    }
}

/// Builds a history from entries in any order (they are sorted by `seq`), e.g. a filtered
/// copy of another history.
impl FromIterator<Entry> for History {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        let mut entries: Vec<Entry> = iter.into_iter().collect();
        entries.sort_by_key(|e| e.seq);
        History { entries }
    }
}

impl<'a> IntoIterator for &'a History {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// One line per entry.
impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.entries.iter().try_for_each(|e| writeln!(f, "{e}"))
    }
}

/// Records events from any number of tasks into one totally ordered log. A cheap `Clone`
/// (an `Arc`); `Send + Sync`. Recording takes a short lock and never awaits, so the order of
/// the log is the order in which the calls happened.
///
/// # Examples
///
/// ```
/// use zk_testing::check::{Op, Recorder, Value};
///
/// let recorder = Recorder::new();
/// let c1 = recorder.participant("c1");
/// let op = c1.invoke(Op::set("/a", b"x", None));
/// c1.ok(op, Value::Version(1));
/// let history = recorder.history();
/// assert_eq!(history.len(), 2);
/// assert_eq!(history.entries()[1].participant, "c1");
/// ```
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    start: Instant,
    log: Mutex<Vec<Entry>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder; times are measured from now (`tokio::time::Instant`).
    pub fn new() -> Self {
        Recorder { inner: Arc::new(Inner { start: Instant::now(), log: Mutex::new(Vec::new()) }) }
    }

    /// A handle that records as `name`.
    pub fn participant(&self, name: &str) -> Participant {
        Participant { recorder: self.clone(), name: name.into() }
    }

    /// Records `event` by `participant`, with the zxid it observed if known; returns the
    /// entry's sequence number.
    pub fn record(&self, participant: &str, zxid: Option<i64>, event: Event) -> u64 {
        let mut log = self.inner.log.lock().unwrap_or_else(PoisonError::into_inner);
        // The clock is read under the lock so that times never decrease along `seq`.
        let at = Instant::now().saturating_duration_since(self.inner.start);
        let seq = log.len() as u64;
        log.push(Entry { seq, at, participant: participant.to_owned(), zxid, event });
        seq
    }

    /// A copy of everything recorded so far.
    pub fn history(&self) -> History {
        History { entries: self.inner.log.lock().unwrap_or_else(PoisonError::into_inner).clone() }
    }
}

/// A [`Recorder`] handle bound to one participant's name. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Participant {
    recorder: Recorder,
    name: Arc<str>,
}

impl Participant {
    /// The participant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records any event; returns its sequence number.
    pub fn record(&self, event: Event) -> u64 {
        self.recorder.record(&self.name, None, event)
    }

    /// Records an event that observed the transaction `zxid`.
    pub fn record_with_zxid(&self, event: Event, zxid: i64) -> u64 {
        self.recorder.record(&self.name, Some(zxid), event)
    }

    /// Records the invocation of `op`, before it is sent; returns its id.
    pub fn invoke(&self, op: Op) -> OpId {
        OpId(self.record(Event::Invoke(op)))
    }

    /// Records how `op` ended, after its reply (or error) arrived.
    pub fn returned(&self, op: OpId, outcome: Outcome) {
        self.record(Event::Return { op, outcome });
    }

    /// `op` returned `value`.
    pub fn ok(&self, op: OpId, value: Value) {
        self.returned(op, Outcome::Ok(value));
    }

    /// `op` was definitely not applied.
    pub fn failed(&self, op: OpId, why: impl Into<String>) {
        self.returned(op, Outcome::Failed(why.into()));
    }

    /// `op` may or may not have been applied.
    pub fn ambiguous(&self, op: OpId, why: impl Into<String>) {
        self.returned(op, Outcome::Ambiguous(why.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::QueueStep;
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_are_ordered_and_stamped_with_virtual_time() {
        let recorder = Recorder::new();
        let (a, b) = (recorder.participant("a"), recorder.participant("b"));
        let op = a.invoke(Op::get("/x"));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        b.record_with_zxid(Event::queue("q", "i1", QueueStep::Put), 0x1f);
        a.ok(op, Value::NoNode);
        let h = recorder.history();
        assert_eq!(h.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(h.entries()[0].at, Duration::ZERO);
        assert_eq!(h.entries()[2].at, Duration::from_millis(1500));
        assert_eq!(h.get(1).map(|e| e.zxid), Some(Some(0x1f)));
        let text = h.to_string();
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().nth(1).is_some_and(|l| l.contains("1.500000s b [zxid 0x1f] queue")), "{text}");
        assert!(text.lines().nth(2).is_some_and(|l| l.ends_with("a return #0 ok NoNode")), "{text}");
    }

    #[test]
    fn recorders_are_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Recorder>();
        assert_send_sync::<Participant>();
        let recorder = Recorder::new();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let p = recorder.participant(&format!("t{i}"));
                std::thread::spawn(move || (0..100).for_each(|_| p.ok(OpId(0), Value::Done)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().expect("recording thread"));
        let h = recorder.history();
        assert_eq!(h.len(), 400);
        assert!(h.iter().enumerate().all(|(i, e)| e.seq == i as u64));
    }
}
