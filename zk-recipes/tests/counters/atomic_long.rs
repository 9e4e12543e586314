//! `DistributedAtomicLong` on the embedded server.

use std::time::Duration;

use zk_core::{CreateMode, RetryPolicy};
use zk_recipes::counter::DistributedAtomicLong;
use zk_recipes::Error;

use crate::{client, raw, server};

/// Generous enough that 8 contending sessions never exhaust it.
pub(crate) fn contended_policy() -> RetryPolicy {
    RetryPolicy::ExponentialBackoff {
        base: Duration::from_millis(2),
        max_delay: Duration::from_millis(50),
        max_retries: 1_000,
    }
}

#[tokio::test(start_paused = true)]
async fn eight_sessions_hundred_increments_exact_total() {
    let server = server(21).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let counter = DistributedAtomicLong::new(client(&server).await, "/counters/long")
            .unwrap()
            .with_policy(contended_policy());
        tasks.push(tokio::spawn(async move {
            let mut extra_attempts = 0;
            for _ in 0..100 {
                let r = counter.increment().await.expect("increment");
                assert!(r.succeeded, "{r:?}");
                assert_eq!(r.post_value, r.pre_value + 1);
                extra_attempts += r.attempts - 1;
            }
            extra_attempts
        }));
    }
    let mut extra = 0;
    for t in tasks {
        extra += t.await.unwrap();
    }
    let reader = DistributedAtomicLong::new(client(&server).await, "/counters/long").unwrap();
    assert_eq!(reader.get().await.unwrap(), 800);
    assert_eq!(raw(&server, "/counters/long"), Some(800i64.to_be_bytes().to_vec()));
    assert!(extra > 0, "no contention at all");
}

#[tokio::test(start_paused = true)]
async fn pre_and_post_values_and_stale_compare_and_set() {
    let server = server(22).await;
    let a = DistributedAtomicLong::new(client(&server).await, "/n/long").unwrap();
    let b = DistributedAtomicLong::new(client(&server).await, "/n/long").unwrap();
    assert_eq!(a.get().await.unwrap(), 0, "missing reads as 0");
    let r = a.add(10).await.unwrap();
    assert!(r.succeeded);
    assert_eq!((r.pre_value, r.post_value, r.attempts), (0, 10, 1));
    let r = b.decrement().await.unwrap();
    assert_eq!((r.pre_value, r.post_value), (10, 9));
    let r = b.subtract(4).await.unwrap();
    assert_eq!((r.pre_value, r.post_value), (9, 5));

    // compare_and_set: a stale expectation fails and reports what it saw.
    let r = a.compare_and_set(10, 100).await.unwrap();
    assert!(!r.succeeded);
    assert_eq!((r.pre_value, r.post_value), (5, 5));
    let r = a.compare_and_set(5, 100).await.unwrap();
    assert!(r.succeeded);
    assert_eq!((r.pre_value, r.post_value), (5, 100));

    let r = b.try_set(-7).await.unwrap();
    assert_eq!((r.succeeded, r.pre_value, r.post_value), (true, 100, -7));
    assert_eq!(raw(&server, "/n/long"), Some(vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf9]));
    a.force_set(i64::MAX).await.unwrap();
    let r = a.increment().await.unwrap();
    assert_eq!(r.post_value, i64::MIN, "wraps like Java's long");
    assert!(!b.initialize(3).await.unwrap(), "exists already");
    let fresh = DistributedAtomicLong::new(client(&server).await, "/n/other").unwrap();
    assert!(fresh.initialize(3).await.unwrap());
    assert_eq!(fresh.get().await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn gives_up_per_policy_under_contention() {
    let server = server(23).await;
    let c = client(&server).await;
    let counter = DistributedAtomicLong::new(c.clone(), "/contended")
        .unwrap()
        .with_policy(RetryPolicy::NTimes { n: 2, delay: Duration::from_millis(10) });
    counter.force_set(1).await.unwrap();
    // Every conditional write fails (as if someone else always wrote first).
    server.fail_times(
        zk_testing::RequestMatcher::op(zk_core::proto::OpCode::SetData),
        zk_core::proto::ErrorCode::BadVersion,
        3,
    );
    let r = counter.increment().await.unwrap();
    assert!(!r.succeeded);
    assert_eq!((r.pre_value, r.post_value, r.attempts), (1, 1, 3));
    assert_eq!(counter.get().await.unwrap(), 1, "nothing written");
    assert!(counter.increment().await.unwrap().succeeded);
}

#[tokio::test(start_paused = true)]
async fn golden_bytes_and_malformed_data() {
    let server = server(24).await;
    let c = client(&server).await;
    // Curator's DistributedAtomicLong bytes for 258 (ByteBuffer.putLong), and empty = 0.
    c.create("/golden", &[0, 0, 0, 0, 0, 0, 1, 2], CreateMode::Persistent).await.unwrap();
    c.create("/empty", b"", CreateMode::Persistent).await.unwrap();
    let golden = DistributedAtomicLong::new(c.clone(), "/golden").unwrap();
    assert_eq!(golden.get().await.unwrap(), 258);
    let empty = DistributedAtomicLong::new(c.clone(), "/empty").unwrap();
    assert_eq!(empty.increment().await.unwrap().post_value, 1);
    assert_eq!(raw(&server, "/empty"), Some(vec![0, 0, 0, 0, 0, 0, 0, 1]));

    for (i, bad) in [&b"1"[..], &[0u8; 4], &[0u8; 9]].into_iter().enumerate() {
        let path = format!("/bad{i}");
        c.create(&path, bad, CreateMode::Persistent).await.unwrap();
        let counter = DistributedAtomicLong::new(c.clone(), &path).unwrap();
        for r in [counter.get().await.map(|_| ()), counter.increment().await.map(|_| ())] {
            match r {
                Err(Error::Malformed { path: p, .. }) => assert_eq!(p, path),
                other => panic!("{bad:?}: expected Malformed, got {other:?}"),
            }
        }
        assert!(matches!(counter.compare_and_set(0, 1).await, Err(Error::Malformed { .. })));
        assert_eq!(raw(&server, &path), Some(bad.to_vec()), "left untouched");
    }
}

/// Retry policies with extreme durations: every update returns (applied or given up), none
/// panics on a `Duration` overflow.
#[tokio::test(start_paused = true)]
async fn extreme_retry_policies_never_panic() {
    let server = server(25).await;
    let c = client(&server).await;
    let policies = [
        RetryPolicy::UntilElapsed { max_elapsed: Duration::from_secs(1), delay: Duration::MAX },
        RetryPolicy::UntilElapsed { max_elapsed: Duration::MAX, delay: Duration::MAX },
        RetryPolicy::UntilElapsed { max_elapsed: Duration::MAX, delay: Duration::from_millis(10) },
        RetryPolicy::ExponentialBackoff { base: Duration::MAX, max_delay: Duration::MAX, max_retries: 5 },
        RetryPolicy::ExponentialBackoff {
            base: Duration::MAX - Duration::from_secs(1),
            max_delay: Duration::MAX - Duration::from_secs(1),
            max_retries: usize::MAX,
        },
    ];
    for (i, policy) in policies.into_iter().enumerate() {
        let path = format!("/extreme/{i}");
        let counter = DistributedAtomicLong::new(c.clone(), &path).unwrap().with_policy(policy.clone());
        counter.force_set(1).await.unwrap();
        // One lost race, then one retryable read error.
        server.fail_next(
            zk_testing::RequestMatcher::op(zk_core::proto::OpCode::SetData),
            zk_core::proto::ErrorCode::BadVersion,
        );
        let r = counter.increment().await.unwrap();
        assert_eq!(r.pre_value, 1, "{policy:?}");
        let expected = if r.succeeded { 2 } else { 1 };
        assert_eq!(counter.get().await.unwrap(), expected, "{policy:?}: {r:?}");
        server.fail_next(
            zk_testing::RequestMatcher::op(zk_core::proto::OpCode::GetData),
            zk_core::proto::ErrorCode::ConnectionLoss,
        );
        match counter.get().await {
            Ok(v) => assert_eq!(v, expected, "{policy:?}"),
            Err(Error::Zk(zk_core::Error::ConnectionLoss)) => {}
            Err(e) => panic!("{policy:?}: {e:?}"),
        }
    }
}
