//! zk-core clients against the embedded server under chaos: what they observe must be
//! linearizable, with every `ConnectionLoss` recorded as ambiguous.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zk_core::{Client, CreateMode};
use zk_testing::check::{linearizable, Event, History, Op, Outcome, Participant, Recorder, Value};
use zk_testing::{Chaos, TestServer};

const KEYS: [&str; 3] = ["/k0", "/k1", "/k2"];
const CLIENTS: usize = 5;
const OPS_PER_CLIENT: usize = 1000;

async fn get(zk: &Client, p: &Participant, path: &str) -> Option<i32> {
    let op = p.invoke(Op::get(path));
    let got = zk.get_data(path).await;
    p.returned(
        op,
        Outcome::of(&got, |(data, stat)| Value::Node { data: data.clone(), version: stat.version }),
    );
    got.ok().map(|(_, stat)| stat.version)
}

async fn set(zk: &Client, p: &Participant, path: &str, data: &[u8], version: Option<i32>) {
    let op = p.invoke(Op::set(path, data, version));
    let set = zk.set_data(path, data, version).await;
    p.returned(op, Outcome::of(&set, |stat| Value::Version(stat.version)));
}

/// One client: random gets, blind sets and compare-and-sets on the last version it read.
async fn worker(zk: Client, p: Participant, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = [0; KEYS.len()];
    for n in 0..OPS_PER_CLIENT {
        let k = rng.random_range(0..KEYS.len());
        let data = format!("{}-{n}", p.name());
        match rng.random_range(0..10) {
            0..4 => seen[k] = get(&zk, &p, KEYS[k]).await.unwrap_or(seen[k]),
            4..6 => set(&zk, &p, KEYS[k], data.as_bytes(), None).await,
            _ => set(&zk, &p, KEYS[k], data.as_bytes(), Some(seen[k])).await,
        }
    }
}

async fn run(seed: u64) {
    let server = TestServer::builder().no_tcp().seed(seed).start().await.expect("server");
    let recorder = Recorder::new();
    let setup = (server.client().await.expect("client"), recorder.participant("setup"));
    for key in KEYS {
        let op = setup.1.invoke(Op::create(key, b""));
        let created = setup.0.create(key, b"", CreateMode::Persistent).await;
        setup.1.returned(op, Outcome::of(&created, |_| Value::Done));
    }
    server.set_chaos(Some(Chaos { lose_reply: 0.05, drop_connection: 0.02, ..Chaos::default() }));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let zk = server.client().await.expect("client");
        tasks.push(tokio::spawn(worker(zk, recorder.participant(&format!("c{i}")), seed ^ i as u64)));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let history = recorder.history();
    let ambiguous = history.iter().filter(|e| is_ambiguous(&e.event)).count();
    assert!(ambiguous > 0, "chaos should make some operations ambiguous (seed {seed})");
    let wall = std::time::Instant::now();
    if let Err(v) = linearizable(&history) {
        panic!("{v}\n\nrerun with ZK_TEST_SEED={seed}");
    }
    eprintln!(
        "seed {seed}: {} entries, {ambiguous} ambiguous, linearizable, checked in {:?}",
        history.len(),
        wall.elapsed()
    );
    // Some writes whose reply was lost did take effect: calling them failed must not pass.
    let overconfident: History = history
        .iter()
        .cloned()
        .map(|mut e| {
            if let Event::Return { outcome, .. } = &mut e.event {
                if let Outcome::Ambiguous(why) = outcome {
                    *outcome = Outcome::Failed(why.clone());
                }
            }
            e
        })
        .collect();
    let v = linearizable(&overconfident).expect_err("lost replies of applied writes were recorded as failed");
    assert!(v.is_invariant(), "{v}");
    // A planted stale read: the last successful read returns the first state any read saw,
    // long overwritten. It must be caught, and named.
    let last = history.iter().rposition(|e| is_read(&e.event)).expect("a read");
    let first = history.iter().position(|e| is_read(&e.event)).expect("a read");
    let (
        Event::Return { outcome: Outcome::Ok(old @ Value::Node { version: v0, .. }), .. },
        Event::Return { outcome: Outcome::Ok(Value::Node { version: v1, .. }), .. },
    ) = (&history.entries()[first].event, &history.entries()[last].event)
    else {
        unreachable!("both are reads")
    };
    assert!(v0 < v1, "the history moved on between its first and last read (seed {seed})");
    let stale: History = history
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut e = e.clone();
            if i == last {
                if let Event::Return { outcome, .. } = &mut e.event {
                    *outcome = Outcome::Ok(old.clone());
                }
            }
            e
        })
        .collect();
    let v = linearizable(&stale).expect_err("a planted stale read");
    assert!(v.is_invariant(), "{v}");
    let stale_seq = history.entries()[last].seq;
    assert!(v.entries.iter().any(|e| e.seq == stale_seq), "the stale read is named: {v}");
}

fn is_read(event: &Event) -> bool {
    matches!(event, Event::Return { outcome: Outcome::Ok(Value::Node { .. }), .. })
}

fn is_ambiguous(event: &Event) -> bool {
    matches!(event, Event::Return { outcome: Outcome::Ambiguous(_), .. })
}

#[tokio::test(start_paused = true)]
async fn concurrent_registers_under_chaos_are_linearizable() {
    let seeds: Vec<u64> = match std::env::var("ZK_TEST_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => vec![1, 2, 3],
    };
    for seed in seeds {
        run(seed).await;
    }
}
