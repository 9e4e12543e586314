//! Hand-written histories that must pass and fail, and generated ones.

use std::time::Instant as WallClock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::super::event::{Event, OpId, Outcome, Value};
use super::super::history::{Participant, Recorder};
use super::*;

fn node(data: &str, version: i32) -> Value {
    Value::Node { data: data.as_bytes().to_vec(), version }
}

/// Runs `op` to completion as one participant.
fn done(p: &Participant, op: Op, value: Value) -> OpId {
    let id = p.invoke(op);
    p.ok(id, value);
    id
}

fn blocked_seqs(v: &Violation) -> Vec<u64> {
    v.entries.iter().map(|e| e.seq).collect()
}

#[test]
fn sequential_and_overlapping_histories_pass() {
    let rec = Recorder::new();
    let (a, b) = (rec.participant("a"), rec.participant("b"));
    done(&a, Op::get("/r"), Value::NoNode);
    done(&a, Op::create("/r", b"0"), Value::Done);
    done(&b, Op::create("/r", b"x"), Value::NodeExists);
    let w = a.invoke(Op::set("/r", b"1", None));
    done(&b, Op::get("/r"), node("0", 0)); // overlaps the write: either value
    done(&b, Op::get("/r"), node("1", 1));
    a.ok(w, Value::Version(1));
    done(&b, Op::set("/r", b"2", Some(0)), Value::BadVersion);
    done(&b, Op::set("/r", b"2", Some(1)), Value::Version(2));
    let refused = b.invoke(Op::set("/r", b"never", None));
    b.failed(refused, "no auth");
    done(&a, Op::delete("/r", Some(2)), Value::Done);
    done(&a, Op::delete("/r", None), Value::NoNode);
    done(&b, Op::create("/r", b"again"), Value::Done);
    done(&b, Op::get("/r"), node("again", 0));
    done(&b, Op::add("/r", 5), Value::Count(5)); // counters are ignored
    assert_eq!(linearizable(&rec.history()), Ok(()));
}

#[test]
fn ambiguous_writes_take_effect_late_or_never() {
    let rec = Recorder::new();
    let (a, b) = (rec.participant("a"), rec.participant("b"));
    done(&a, Op::create("/r", b"0"), Value::Done);
    let lost = a.invoke(Op::set("/r", b"1", None));
    a.ambiguous(lost, "connection loss");
    let dropped = a.invoke(Op::set("/r", b"2", Some(0)));
    a.ambiguous(dropped, "connection loss");
    let unread = a.invoke(Op::get("/r"));
    a.ambiguous(unread, "connection loss");
    done(&b, Op::get("/r"), node("0", 0)); // the lost set had not taken effect yet
    done(&b, Op::get("/r"), node("1", 1)); // now it had; the CAS never did
    let _pending = b.invoke(Op::delete("/r", None)); // never returns
    done(&a, Op::get("/r"), node("1", 1));
    assert_eq!(linearizable(&rec.history()), Ok(()));

    // The CAS on version 0 cannot explain version 2 after the first set: one of them.
    done(&b, Op::get("/r"), node("2", 2));
    let v = linearizable(&rec.history()).expect_err("version 2 needs both ambiguous sets");
    assert_eq!(v.kind, ViolationKind::Invariant);
    assert!(v.explanation.contains("get /r"), "{v}");
}

#[test]
fn a_stale_read_after_a_completed_write_fails() {
    let rec = Recorder::new();
    let (a, b) = (rec.participant("a"), rec.participant("b"));
    done(&a, Op::create("/r", b"0"), Value::Done);
    done(&a, Op::set("/r", b"1", None), Value::Version(1));
    let stale = done(&b, Op::get("/r"), node("0", 0));
    let v = linearizable(&rec.history()).expect_err("b read an overwritten value");
    // Found by the versions alone: the read, and the write that had returned before it.
    assert_eq!(blocked_seqs(&v), [2, 3, stale.0, stale.0 + 1]);
    let text = v.to_string();
    assert!(text.starts_with("linearizability violated\n"), "{text}");
    assert!(
        text.contains("#4 b get /r (ok \"0\" version 0 at #5) found version 0 after #2 a set /r"),
        "{text}"
    );

    // With a delete in the history the versions prove nothing: the search finds it.
    let rec = Recorder::new();
    let (a, b) = (rec.participant("a"), rec.participant("b"));
    done(&a, Op::create("/r", b"0"), Value::Done);
    done(&a, Op::set("/r", b"1", None), Value::Version(1));
    let stale = done(&b, Op::get("/r"), node("0", 0));
    done(&a, Op::delete("/r", None), Value::Done);
    let v = linearizable(&rec.history()).expect_err("b read an overwritten value");
    assert_eq!(blocked_seqs(&v), [stale.0, stale.0 + 1]);
    assert!(v.to_string().contains("It leaves /r \"1\" version 1, and then operation #4 b get /r"), "{v}");
}

#[test]
fn versions_settle_what_they_can_before_the_search() {
    // Two reads of one version with different data, each write ambiguous (so that only
    // the versions tell).
    let rec = Recorder::new();
    let [w1, w2, r] = ["w1", "w2", "r"].map(|n| rec.participant(n));
    done(&w1, Op::create("/r", b"0"), Value::Done);
    let x = w1.invoke(Op::set("/r", b"x", None));
    let y = w2.invoke(Op::set("/r", b"y", None));
    done(&r, Op::get("/r"), node("x", 1));
    done(&r, Op::get("/r"), node("y", 1));
    w1.ambiguous(x, "lost");
    w2.ambiguous(y, "lost");
    let v = linearizable(&rec.history()).expect_err("one version, two states");
    assert!(v.is_invariant() && v.explanation.contains("show version 1 with different data"), "{v}");

    // A compare-and-set that found a version older than a read that had returned (its
    // write then claims version 1 too).
    let rec = Recorder::new();
    let (a, b) = (rec.participant("a"), rec.participant("b"));
    done(&a, Op::create("/r", b"0"), Value::Done);
    done(&a, Op::set("/r", b"1", None), Value::Version(1));
    done(&b, Op::get("/r"), node("1", 1));
    done(&b, Op::set("/r", b"1", Some(0)), Value::Version(1));
    let v = linearizable(&rec.history()).expect_err("the compare-and-set found an old version");
    assert!(v.explanation.contains("found version 0 after"), "{v}");

    // A create after the znode was seen: it cannot have found it absent.
    let rec = Recorder::new();
    let (a, b) = (rec.participant("a"), rec.participant("b"));
    done(&a, Op::create("/r", b"0"), Value::Done);
    done(&b, Op::create("/r", b"again"), Value::Done);
    assert!(linearizable(&rec.history()).is_err_and(|v| v.is_invariant()));
}

#[test]
fn two_readers_seeing_concurrent_writes_in_different_orders_fail() {
    let rec = Recorder::new();
    let [w1, w2, r1, r2] = ["w1", "w2", "r1", "r2"].map(|n| rec.participant(n));
    done(&w1, Op::create("/r", b"0"), Value::Done);
    let x = w1.invoke(Op::set("/r", b"x", None));
    let y = w2.invoke(Op::set("/r", b"y", None));
    done(&r1, Op::get("/r"), node("x", 1));
    done(&r2, Op::get("/r"), node("y", 1));
    done(&r1, Op::get("/r"), node("y", 2));
    done(&r2, Op::get("/r"), node("x", 2));
    w1.ok(x, Value::Version(2));
    w2.ok(y, Value::Version(2));
    assert!(linearizable(&rec.history()).is_err_and(|v| v.is_invariant()));
}

#[test]
fn reading_a_value_never_written_fails() {
    let rec = Recorder::new();
    let a = rec.participant("a");
    done(&a, Op::create("/r", b"0"), Value::Done);
    let w = a.invoke(Op::set("/r", b"1", None));
    let ghost = done(&rec.participant("b"), Op::get("/r"), node("ghost", 1));
    a.ok(w, Value::Version(1));
    let v = linearizable(&rec.history()).expect_err("nobody wrote ghost");
    assert_eq!(blocked_seqs(&v), [ghost.0, ghost.0 + 1]);
}

#[test]
fn a_compare_and_set_on_a_stale_version_must_fail() {
    let history = |cas_returned: Value| {
        let rec = Recorder::new();
        let (a, b) = (rec.participant("a"), rec.participant("b"));
        done(&a, Op::create("/r", b"0"), Value::Done);
        done(&a, Op::set("/r", b"1", None), Value::Version(1));
        done(&b, Op::set("/r", b"2", Some(0)), cas_returned);
        rec.history()
    };
    let v = linearizable(&history(Value::Version(2))).expect_err("version 0 was stale");
    assert!(v.explanation.contains("set /r \"2\" if version 0"), "{v}");
    assert_eq!(linearizable(&history(Value::BadVersion)), Ok(()));
}

#[test]
fn znodes_are_checked_apart_and_the_earliest_failure_is_reported() {
    let rec = Recorder::new();
    let a = rec.participant("a");
    done(&a, Op::create("/b", b"0"), Value::Done);
    done(&a, Op::create("/a", b"0"), Value::Done);
    let first = done(&a, Op::get("/b"), node("9", 0));
    done(&a, Op::get("/a"), node("8", 0));
    let v = linearizable(&rec.history()).expect_err("both reads are wrong");
    assert_eq!(blocked_seqs(&v), [first.0, first.0 + 1]);
}

#[test]
fn initial_znodes_and_malformed_answers() {
    let rec = Recorder::new();
    let a = rec.participant("a");
    done(&a, Op::get("/r"), node("seed", 4));
    assert!(linearizable(&rec.history()).is_err());
    let options = LinearizabilityOptions {
        initial: [("/r".to_owned(), (b"seed".to_vec(), 4))].into(),
        ..LinearizabilityOptions::default()
    };
    assert_eq!(linearizable_with(&rec.history(), &options), Ok(()));
    done(&a, Op::get("/r"), Value::Version(3));
    let v = linearizable_with(&rec.history(), &options).expect_err("a get returns no version");
    assert_eq!(v.kind, ViolationKind::Malformed);
    assert!(v.explanation.contains("get /r) cannot return version 3"), "{v}");
}

/// A successful write of the simulated register: its invocation and return, and the state
/// it made.
struct Write {
    invoked: u64,
    returned: u64,
    state: (Vec<u8>, i32),
}

/// A history of `total` operations by `clients` clients on one znode, each taking effect
/// at a random point between its invocation and its return on a true sequential register.
/// Every written value is unique. Returns the history and its successful writes.
fn generated(seed: u64, total: usize, clients: usize) -> (History, Vec<Write>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let rec = Recorder::new();
    let ps: Vec<Participant> = (0..clients).map(|i| rec.participant(&format!("c{i}"))).collect();
    let mut register: Option<(Vec<u8>, i32)> = None;
    let mut seen = vec![0; clients];
    // Per client: the op in flight and, once applied, its result.
    let mut flight: Vec<Option<(OpId, Op, Option<Value>)>> = vec![None; clients];
    let (mut started, mut writes, mut pending) = (0, Vec::new(), Vec::new());
    while started < total || flight.iter().any(Option::is_some) {
        let c = rng.random_range(0..clients);
        match flight[c].take() {
            None if started < total => {
                started += 1;
                let op = random_op(&mut rng, started, seen[c]);
                flight[c] = Some((ps[c].invoke(op.clone()), op, None));
            }
            None => {}
            Some((id, op, None)) => {
                let value = apply(&mut register, &op);
                if matches!(value, Value::Done | Value::Version(_)) && !matches!(op, Op::Delete { .. }) {
                    pending.push((id, register.clone()));
                }
                flight[c] = Some((id, op, Some(value)));
            }
            Some((id, _, Some(value))) => {
                if let Value::Node { version, .. } | Value::Version(version) = value {
                    seen[c] = version;
                }
                let at =
                    rec.record(ps[c].name(), None, Event::Return { op: id, outcome: Outcome::Ok(value) });
                if let Some(i) = pending.iter().position(|(p, _)| *p == id) {
                    let (_, state) = pending.remove(i);
                    writes.extend(state.map(|state| Write { invoked: id.0, returned: at, state }));
                }
            }
        }
    }
    (rec.history(), writes)
}

fn random_op(rng: &mut StdRng, n: usize, seen: i32) -> Op {
    let data = format!("v{n}");
    match rng.random_range(0..100) {
        0..40 => Op::get("/r"),
        40..65 => Op::set("/r", data.as_bytes(), None),
        65..85 => Op::set("/r", data.as_bytes(), Some(seen)),
        85..92 => Op::delete("/r", rng.random_bool(0.5).then_some(seen)),
        _ => Op::create("/r", data.as_bytes()),
    }
}

/// The true register, written independently of the checker's model.
fn apply(register: &mut Option<(Vec<u8>, i32)>, op: &Op) -> Value {
    match (op, register.as_mut()) {
        (Op::Get { .. }, Some((d, v))) => Value::Node { data: d.clone(), version: *v },
        (Op::Create { data, .. }, None) => {
            *register = Some((data.clone(), 0));
            Value::Done
        }
        (Op::Create { .. }, Some(_)) => Value::NodeExists,
        (Op::Set { version: Some(e), .. } | Op::Delete { version: Some(e), .. }, Some((_, v))) if e != v => {
            Value::BadVersion
        }
        (Op::Set { data, .. }, Some((d, v))) => {
            *d = data.clone();
            *v += 1;
            Value::Version(*v)
        }
        (Op::Delete { .. }, Some(_)) => {
            *register = None;
            Value::Done
        }
        _ => Value::NoNode,
    }
}

#[test]
fn a_generated_history_of_5000_operations_is_linearizable() {
    let (history, writes) = generated(0x5eed, 5000, 5);
    assert_eq!(history.len(), 10_000);
    assert!(writes.len() > 1000, "{} writes", writes.len());
    let wall = WallClock::now();
    assert_eq!(linearizable(&history), Ok(()));
    eprintln!("5000 linearizable operations checked in {:?}", wall.elapsed());
}

#[test]
fn one_planted_stale_read_in_5000_operations_is_found() {
    let (history, writes) = generated(0x5eed, 5000, 5);
    // A late read, and two writes before it in real time: `old` returned before `new` was
    // invoked, `new` returned before the read was invoked. Values are unique, so the read
    // cannot see `old`'s state.
    let read = history
        .iter()
        .skip(7000)
        .find(|e| matches!(&e.event, Event::Return { outcome: Outcome::Ok(Value::Node { .. }), .. }))
        .expect("a late successful read");
    let Event::Return { op, .. } = read.event else { unreachable!("matched above") };
    let new = writes.iter().rev().find(|w| w.returned < op.0).expect("a write before the read");
    let old = writes.iter().rev().find(|w| w.returned < new.invoked).expect("a write before that one");
    let stale = Value::Node { data: old.state.0.clone(), version: old.state.1 };
    let planted: History = history
        .iter()
        .cloned()
        .map(|mut e| {
            if e.seq == read.seq {
                e.event = Event::Return { op, outcome: Outcome::Ok(stale.clone()) };
            }
            e
        })
        .collect();
    let wall = WallClock::now();
    let v = linearizable(&planted).expect_err("the stale read");
    eprintln!("5000 operations with a stale read rejected in {:?}", wall.elapsed());
    assert_eq!(v.kind, ViolationKind::Invariant);
    assert_eq!(blocked_seqs(&v), [op.0, read.seq], "{v}");
}

/// 60 blind writes whose requests were dropped, pending for the whole history: without
/// merging unread data and ordering twins, every subset of them is a configuration.
fn dropped_writes_then(final_read: Value) -> History {
    let rec = Recorder::new();
    let (a, b) = (rec.participant("a"), rec.participant("b"));
    done(&a, Op::create("/r", b"0"), Value::Done);
    for i in 0..60 {
        let op = b.invoke(Op::set("/r", format!("lost{i}").as_bytes(), None));
        b.ambiguous(op, "connection loss");
    }
    for i in 1..=300 {
        done(&a, Op::set("/r", format!("w{i}").as_bytes(), None), Value::Version(i));
        done(&a, Op::get("/r"), node(&format!("w{i}"), i));
    }
    done(&a, Op::get("/r"), final_read);
    rec.history()
}

#[test]
fn piles_of_pending_ambiguous_writes_stay_cheap() {
    let wall = WallClock::now();
    assert_eq!(linearizable(&dropped_writes_then(node("w300", 300))), Ok(()));
    assert_eq!(linearizable(&dropped_writes_then(node("lost7", 301))), Ok(()));
    // 61 more writes than were acknowledged: one more than the ambiguous ones.
    let too_many = dropped_writes_then(node("lost7", 361));
    let v = linearizable(&too_many).expect_err("only 60 could apply");
    assert_eq!(v.kind, ViolationKind::Invariant, "{v}");
    let last = too_many.len() as u64 - 1;
    assert_eq!(blocked_seqs(&v), [last - 1, last], "the final read: {v}");
    eprintln!("three histories with 60 pending ambiguous writes checked in {:?}", wall.elapsed());
}
