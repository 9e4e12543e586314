//! How long zk-testing's linearizability checker takes on real histories: five zk-core
//! clients doing gets, blind sets and compare-and-sets on the embedded server (in-process,
//! paused clock) while it loses 5 % of the replies and drops 2 % of the connections; every
//! operation is recorded (a `ConnectionLoss` as ambiguous) and the history is checked.
//!
//! ```text
//! cargo run --release --example check_bench
//! ```
//!
//! For each history (1 and 3 znodes, seeds 1-3) it prints the entries, the ambiguous
//! operations, the median and slowest of 5 checks of the history as recorded (which must
//! pass), and the same for the history with its last read changed to data nobody wrote and
//! to the long-overwritten state the first read saw (both must fail). It exits non-zero if
//! a verdict is wrong.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zk_core::{Client, CreateMode};
use zk_testing::check::{linearizable, Event, History, Op, Outcome, Participant, Recorder, Value};
use zk_testing::{Chaos, TestServer};

const CLIENTS: usize = 5;
const OPS_PER_CLIENT: usize = 1000;
const REPEAT: usize = 5;

/// One client: 40 % gets, 20 % blind sets, 40 % compare-and-sets on the last version read.
async fn worker(zk: Client, p: Participant, keys: Vec<String>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = vec![0; keys.len()];
    for n in 0..OPS_PER_CLIENT {
        let k = rng.random_range(0..keys.len());
        let (path, data) = (&keys[k], format!("{}-{n}", p.name()));
        let choice = rng.random_range(0..10);
        if choice < 4 {
            let op = p.invoke(Op::get(path));
            let got = zk.get_data(path).await;
            p.returned(op, Outcome::of(&got, |(d, s)| Value::Node { data: d.clone(), version: s.version }));
            if let Ok((_, stat)) = got {
                seen[k] = stat.version;
            }
        } else {
            let version = (choice >= 6).then_some(seen[k]);
            let op = p.invoke(Op::set(path, data.as_bytes(), version));
            let set = zk.set_data(path, data.as_bytes(), version).await;
            p.returned(op, Outcome::of(&set, |stat| Value::Version(stat.version)));
        }
    }
}

/// The history of one run with `keys` znodes.
fn record(keys: usize, seed: u64) -> History {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build();
    let runtime = runtime.expect("a tokio runtime");
    runtime.block_on(async {
        let server = TestServer::builder().no_tcp().seed(seed).start().await.expect("server");
        let recorder = Recorder::new();
        let keys: Vec<String> = (0..keys).map(|k| format!("/k{k}")).collect();
        let (setup, p) = (server.client().await.expect("client"), recorder.participant("setup"));
        for key in &keys {
            let op = p.invoke(Op::create(key, b""));
            let created = setup.create(key, b"", CreateMode::Persistent).await;
            p.returned(op, Outcome::of(&created, |_| Value::Done));
        }
        server.set_chaos(Some(Chaos { lose_reply: 0.05, drop_connection: 0.02, ..Chaos::default() }));
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let zk = server.client().await.expect("client");
            let p = recorder.participant(&format!("c{i}"));
            tasks.push(tokio::spawn(worker(zk, p, keys.clone(), seed ^ i as u64)));
        }
        for t in tasks {
            t.await.expect("worker");
        }
        recorder.history()
    })
}

/// The value of the last successful read, and the index of its return entry.
fn last_read(history: &History) -> Option<(usize, Value)> {
    history.iter().enumerate().rev().find_map(|(i, e)| match &e.event {
        Event::Return { outcome: Outcome::Ok(v @ Value::Node { .. }), .. } => Some((i, v.clone())),
        _ => None,
    })
}

/// The history with its last successful read changed to return `value` instead.
fn with_read(history: &History, at: usize, value: &Value) -> History {
    history
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut e = e.clone();
            if i == at {
                if let Event::Return { outcome, .. } = &mut e.event {
                    *outcome = Outcome::Ok(value.clone());
                }
            }
            e
        })
        .collect()
}

/// The planted violations: the last read returning data nobody wrote (a phantom), and
/// returning the first state any read saw, long overwritten (a stale read).
fn planted(history: &History) -> Vec<(&'static str, History)> {
    let Some((at, Value::Node { version, .. })) = last_read(history) else { return Vec::new() };
    let phantom = Value::Node { data: b"nobody wrote this".to_vec(), version };
    let first = history.iter().find_map(|e| match &e.event {
        Event::Return { outcome: Outcome::Ok(v @ Value::Node { version: old, .. }), .. }
            if *old < version =>
        {
            Some(v.clone())
        }
        _ => None,
    });
    let mut out = vec![("phantom read", with_read(history, at, &phantom))];
    if let Some(stale) = first {
        out.push(("stale read", with_read(history, at, &stale)));
    }
    out
}

/// The median and slowest of `REPEAT` checks, and whether each passed.
fn time_checks(history: &History) -> (Duration, Duration, bool) {
    let mut times = Vec::with_capacity(REPEAT);
    let mut passed = true;
    for _ in 0..REPEAT {
        let t0 = Instant::now();
        passed &= linearizable(history).is_ok();
        times.push(t0.elapsed());
    }
    times.sort();
    (times[REPEAT / 2], times[REPEAT - 1], passed)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() -> ExitCode {
    println!(
        "| znodes | seed | entries | ambiguous ops | check (median / max of {REPEAT}) | planted phantom read: caught in | planted stale read: caught in |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut wrong = 0;
    for keys in [1, 3] {
        for seed in 1..=3 {
            let history = record(keys, seed);
            let ambiguous = history
                .iter()
                .filter(|e| matches!(e.event, Event::Return { outcome: Outcome::Ambiguous(_), .. }))
                .count();
            let (median, max, passed) = time_checks(&history);
            wrong += usize::from(!passed);
            let mut row = format!(
                "| {keys} | {seed} | {} | {ambiguous} | {} / {}{} |",
                history.len(),
                ms(median),
                ms(max),
                if passed { "" } else { " **FAILED**" }
            );
            for (_, bad) in planted(&history) {
                let (bad_median, bad_max, bad_passed) = time_checks(&bad);
                wrong += usize::from(bad_passed);
                row += &format!(
                    " {} / {}{} |",
                    ms(bad_median),
                    ms(bad_max),
                    if bad_passed { " **MISSED**" } else { "" }
                );
            }
            println!("{row}");
        }
    }
    if wrong > 0 {
        eprintln!("check_bench: {wrong} wrong verdicts");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
