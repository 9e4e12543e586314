//! The node store stays compact and linear at benchmark scale (a million 100-byte nodes in
//! release builds, a hundred thousand in debug builds).

use std::time::{Duration, Instant};

use zk_core::proto::{DeleteRequest, GetChildrenRequest, GetChildrenResponse, Request};

use super::*;

const N: usize = if cfg!(debug_assertions) { 100_000 } else { 1_000_000 };

#[test]
fn a_wide_tree_is_compact_and_linear() {
    let rss_before = rss_kb();
    let mut t = T::new();
    t.mk("/bench");
    let data = vec![7u8; 100];
    let start = Instant::now();
    let mut half = Duration::ZERO;
    for i in 0..N {
        if i == N / 2 {
            half = start.elapsed();
        }
        let o = t.run(1, Request::Create(creq(&format!("/bench/n{i:06}"), Some(&data), 0)));
        assert_eq!(o.reply.err, 0);
    }
    let built = start.elapsed();
    assert_eq!(t.s.node_count(), N + 5);
    // Nothing quadratic: the second half costs about what the first did.
    assert!(built < half * 4 + Duration::from_millis(200), "first half {half:?}, all {built:?}");
    let per_node = t.s.tree.approximate_heap() / N;
    let rss = rss_kb().zip(rss_before).map(|(a, b)| a.saturating_sub(b) >> 10);
    eprintln!(
        "{N} nodes in {built:?}, ~{per_node} B each, {} MB estimated, RSS grew {rss:?} MB",
        t.s.tree.approximate_heap() >> 20
    );
    // 96-byte node + 128-byte chunk for path and data + index and child list: under 260 B,
    // i.e. ~250 MB for a million; more slab slack at 100k.
    assert!(per_node <= if N >= 1_000_000 { 260 } else { 300 }, "{per_node} bytes per node");

    let o = t.run(1, Request::GetChildren(GetChildrenRequest { path: "/bench".into(), watch: false }));
    assert_eq!(body::<GetChildrenResponse>(&o).children.len(), N);
    let start = Instant::now();
    for i in (0..N).step_by(2) {
        let o = t.run(1, Request::Delete(DeleteRequest { path: format!("/bench/n{i:06}"), version: -1 }));
        assert_eq!(o.reply.err, 0);
    }
    assert!(start.elapsed() < built * 2 + Duration::from_millis(200), "deletes took {:?}", start.elapsed());
    assert_eq!(t.stat("/bench").num_children as usize, N / 2);
    assert_eq!(
        t.s.approximate_data_size(),
        t.s.dump().iter().map(|d| d.0.len() + d.1.data_length as usize).sum()
    );
}

/// Resident set size from /proc (Linux), for the log line only: other tests share the process.
fn rss_kb() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
