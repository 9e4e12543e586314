//! A handle shared by tasks is safe (issue 11, item 4): tasks sharing one lock handle, by
//! `Clone` or by `Arc`, never hold it at once and never deadlock. On both backends over TCP in
//! real time, as `on_backends.rs`; every loop is bounded in rounds and in time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_recipes::{
    InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphore, InterProcessSemaphoreMutex,
};

use crate::backend::{children, Backend};
use crate::support::within;

zk_testing::both_backends!(worker_threads = 4;
    two_tasks_share_one_mutex,
    two_tasks_share_one_write_lock,
    five_tasks_share_one_semaphore_of_three,
    two_tasks_share_one_semaphore_mutex,
);

/// Rounds per task.
const ROUNDS: u64 = 20;
/// How long all the tasks of one test may take together.
const BOUND_SECS: u64 = 30;

/// A critical section that loses updates when two tasks run it at once: it reads a shared
/// value, sleeps, and writes the value read plus one (a read-modify-write, not an atomic
/// increment). It also counts the tasks inside it.
#[derive(Debug, Default)]
struct Section {
    value: AtomicU64,
    inside: AtomicUsize,
    most_inside: AtomicUsize,
}

impl Section {
    async fn run(&self) {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_inside.fetch_max(now, Ordering::SeqCst);
        let seen = self.value.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.value.store(seen + 1, Ordering::SeqCst);
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }

    /// Panics unless `expected` rounds ran one at a time.
    fn assert_exclusive(&self, b: &Backend, expected: u64) {
        assert_eq!(self.most_inside.load(Ordering::SeqCst), 1, "{}: two holders at once", b.name());
        assert_eq!(self.value.load(Ordering::SeqCst), expected, "{}: lost updates", b.name());
    }
}

/// Waits for `tasks`, all within [`BOUND_SECS`].
async fn join_all(what: &str, tasks: Vec<tokio::task::JoinHandle<()>>) {
    within(BOUND_SECS, what, async {
        for t in tasks {
            t.await.expect("task");
        }
    })
    .await;
}

/// One `InterProcessMutex` handle, shared by one task through a clone and by another through
/// an `Arc`: the read-modify-write counter ends exact, and nothing is left behind.
async fn two_tasks_share_one_mutex(b: &Backend) {
    let root = b.create_root("locks-shared-mutex").await;
    let path = format!("{root}/lock");
    let client = b.client().await;
    let mutex = InterProcessMutex::new(client.clone(), &path).unwrap();
    let section = Arc::new(Section::default());
    let by_clone = mutex.clone();
    let by_arc = Arc::new(mutex);
    let s = section.clone();
    let clone_task = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let guard = by_clone.acquire().await.expect("acquire");
            s.run().await;
            guard.release().await.expect("release");
        }
    });
    let (s, m) = (section.clone(), by_arc.clone());
    let arc_task = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let guard = m.acquire().await.expect("acquire");
            s.run().await;
            guard.release().await.expect("release");
        }
    });
    join_all("2 tasks x 20 rounds on one mutex handle", vec![clone_task, arc_task]).await;
    section.assert_exclusive(b, 2 * ROUNDS);
    assert!(!by_arc.is_held());
    assert!(children(&client, &path).await.is_empty(), "{}: leaked lock nodes", b.name());
    client.close().await;
}

/// One `InterProcessReadWriteLock`, shared by `Arc`: two tasks take the write half (one
/// through the lock, one through a clone of the half), one of them also taking the read lock
/// through its write guard now and then; a third task reads through the same handle and
/// never sees a writer inside.
async fn two_tasks_share_one_write_lock(b: &Backend) {
    let root = b.create_root("locks-shared-rw").await;
    let path = format!("{root}/lock");
    let client = b.client().await;
    let lock = Arc::new(InterProcessReadWriteLock::new(client.clone(), &path).unwrap());
    let section = Arc::new(Section::default());
    let (s, l) = (section.clone(), lock.clone());
    let downgrading = tokio::spawn(async move {
        for round in 0..ROUNDS {
            let guard = l.write_lock().acquire().await.expect("acquire write");
            s.run().await;
            if round % 5 == 0 {
                let read = guard.read_while_writing().await.expect("read while writing");
                guard.release().await.expect("release write");
                read.release().await.expect("release read");
            } else {
                guard.release().await.expect("release write");
            }
        }
    });
    let (s, write) = (section.clone(), lock.write_lock().clone());
    let writer = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let guard = write.acquire().await.expect("acquire write");
            s.run().await;
            guard.release().await.expect("release write");
        }
    });
    let (s, read) = (section.clone(), lock.read_lock().clone());
    let writers_seen = Arc::new(AtomicUsize::new(0));
    let seen = writers_seen.clone();
    let reader = tokio::spawn(async move {
        for _ in 0..ROUNDS / 2 {
            let guard = read.acquire().await.expect("acquire read");
            for _ in 0..2 {
                seen.fetch_add(s.inside.load(Ordering::SeqCst), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            guard.release().await.expect("release read");
        }
    });
    join_all("2 writers and a reader on one read/write lock", vec![downgrading, writer, reader]).await;
    section.assert_exclusive(b, 2 * ROUNDS);
    assert_eq!(writers_seen.load(Ordering::SeqCst), 0, "{}: a writer inside while reading", b.name());
    assert!(!lock.write_lock().is_held() && !lock.read_lock().is_held());
    assert!(children(&client, &path).await.is_empty(), "{}: leaked lock nodes", b.name());
    client.close().await;
}

/// Five tasks share one `InterProcessSemaphore` handle of 3 leases, as kazoo's example shares
/// one `Semaphore` (four by clone, one by `Arc`): never more than 3 holders, and all finish.
/// (With an internal mutex re-entrant per handle, all five held it at once, each created a
/// lease node, and all waited for ever.)
async fn five_tasks_share_one_semaphore_of_three(b: &Backend) {
    const TASKS: usize = 5;
    const LEASES: usize = 3;
    let root = b.create_root("locks-shared-sem").await;
    let path = format!("{root}/sem");
    let client = b.client().await;
    let sem = InterProcessSemaphore::new(client.clone(), &path, LEASES).unwrap();
    let by_arc = Arc::new(sem.clone());
    let (holders, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let sem = if i == 0 { None } else { Some(sem.clone()) };
        let (arc, holders, most) = (by_arc.clone(), holders.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            let sem = sem.as_ref().unwrap_or(&arc);
            for _ in 0..ROUNDS / 4 {
                let lease = sem.acquire().await.expect("acquire");
                let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(25)).await;
                holders.fetch_sub(1, Ordering::SeqCst);
                lease.release().await.expect("release");
            }
        }));
    }
    join_all("5 tasks x 5 leases on one semaphore handle", tasks).await;
    let most = most.load(Ordering::SeqCst);
    println!("{}: at most {most} of {TASKS} tasks held a lease at once", b.name());
    assert!(most <= LEASES, "{}: {most} holders at once", b.name());
    assert!(children(&client, &format!("{path}/leases")).await.is_empty(), "{}: leaked leases", b.name());
    assert!(children(&client, &format!("{path}/locks")).await.is_empty(), "{}: leaked mutex nodes", b.name());
    client.close().await;
}

/// One `InterProcessSemaphoreMutex` handle, shared by one task through a clone and by another
/// through an `Arc`: the read-modify-write counter ends exact.
async fn two_tasks_share_one_semaphore_mutex(b: &Backend) {
    let root = b.create_root("locks-shared-sem-mutex").await;
    let path = format!("{root}/lock");
    let client = b.client().await;
    let mutex = InterProcessSemaphoreMutex::new(client.clone(), &path).unwrap();
    let section = Arc::new(Section::default());
    let by_clone = mutex.clone();
    let by_arc = Arc::new(mutex);
    let s = section.clone();
    let clone_task = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let guard = by_clone.acquire().await.expect("acquire");
            s.run().await;
            guard.release().await.expect("release");
        }
    });
    let (s, m) = (section.clone(), by_arc.clone());
    let arc_task = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let guard = m.acquire().await.expect("acquire");
            s.run().await;
            guard.release().await.expect("release");
        }
    });
    join_all("2 tasks x 20 rounds on one semaphore mutex handle", vec![clone_task, arc_task]).await;
    section.assert_exclusive(b, 2 * ROUNDS);
    assert!(!by_arc.is_held());
    assert!(children(&client, &format!("{path}/leases")).await.is_empty(), "{}: leaked leases", b.name());
    client.close().await;
}
