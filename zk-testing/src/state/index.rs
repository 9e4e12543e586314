//! Path → node-slot index: an open-addressing hash table of `u32` slot numbers.
//!
//! The keys (paths) live in the nodes themselves, so the table costs 8 bytes a slot instead of
//! a `HashMap<Box<str>, u32>`'s 24 bytes a bucket plus a heap string per node: with a million
//! nodes that is ~16 MB instead of ~85 MB. Linear probing, load factor at most 3/4, deletion by
//! backward shifting (no tombstones).

/// A node's slot number in the tree's slab.
pub(super) type Idx = u32;

const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    idx: u32,
    /// Low 32 bits of the path's hash: picks the home bucket and filters comparisons.
    hash: u32,
}

const VACANT: Slot = Slot { idx: EMPTY, hash: 0 };

/// The index. Every method takes `key`, which maps a slot number to its node's path bytes.
#[derive(Debug)]
pub(super) struct PathIndex {
    slots: Vec<Slot>,
    len: usize,
}

/// A fast, well-mixed 64-bit hash of a path (HashDoS is not a concern for a test server).
pub(super) fn hash_path(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    // murmur3's finalizer: every input bit affects the low bits used for the bucket.
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

impl Default for PathIndex {
    fn default() -> Self {
        PathIndex::new()
    }
}

impl PathIndex {
    pub(super) fn new() -> Self {
        PathIndex { slots: vec![VACANT; 16], len: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The position in `slots` of the entry for `path`, if any. The table is never more than
    /// 3/4 full, so every probe run ends at an empty slot.
    fn position<'a>(&self, path: &[u8], key: impl Fn(Idx) -> &'a [u8]) -> Option<usize> {
        let hash = hash_path(path) as u32;
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s.idx == EMPTY {
                return None;
            }
            if s.hash == hash && key(s.idx) == path {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot number stored under `path`.
    pub(super) fn get<'a>(&self, path: &[u8], key: impl Fn(Idx) -> &'a [u8]) -> Option<Idx> {
        self.position(path, key).map(|i| self.slots[i].idx)
    }

    /// Adds `idx` under `path`; the caller guarantees the path is absent.
    pub(super) fn insert<'a>(&mut self, path: &[u8], idx: Idx, key: impl Fn(Idx) -> &'a [u8]) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(&key);
        }
        self.place(Slot { idx, hash: hash_path(path) as u32 });
        self.len += 1;
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.mask();
        let mut i = slot.hash as usize & mask;
        while self.slots[i].idx != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow<'a>(&mut self, key: &impl Fn(Idx) -> &'a [u8]) {
        let bigger = vec![VACANT; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, bigger);
        for s in old.into_iter().filter(|s| s.idx != EMPTY) {
            // The stored 32 bits suffice while the table has at most 2^32 slots; recompute
            // anyway when it is larger so buckets keep spreading.
            let hash = if self.slots.len() > 1 << 31 { hash_path(key(s.idx)) as u32 } else { s.hash };
            self.place(Slot { idx: s.idx, hash });
        }
    }

    /// Removes `path`, returning the slot number it had.
    pub(super) fn remove<'a>(&mut self, path: &[u8], key: impl Fn(Idx) -> &'a [u8]) -> Option<Idx> {
        let i = self.position(path, key)?;
        let mask = self.mask();
        let found = self.slots[i].idx;
        // Backward shift: pull later entries of the probe run into the hole when the hole lies
        // between their home bucket and their current position.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.slots[j].idx != EMPTY {
            let home = self.slots[j].hash as usize & mask;
            if (hole.wrapping_sub(home) & mask) < (j.wrapping_sub(home) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = VACANT;
        self.len -= 1;
        Some(found)
    }

    /// Bytes of memory the table holds (for tests of the memory budget).
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A tiny deterministic generator (xorshift) so the randomized test is reproducible.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed.max(1);
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn matches_a_hashset_under_random_inserts_and_removes() {
        let keys: Vec<String> = (0..2_000).map(|i| format!("/k/{i}")).collect();
        let key = |i: Idx| keys[i as usize].as_bytes();
        let mut index = PathIndex::new();
        let mut model: HashSet<usize> = HashSet::new();
        let mut next = rng(7);
        for _ in 0..50_000 {
            let k = (next() % keys.len() as u64) as usize;
            if model.remove(&k) {
                assert_eq!(index.remove(keys[k].as_bytes(), key), Some(k as Idx));
            } else {
                assert_eq!(index.get(keys[k].as_bytes(), key), None);
                index.insert(keys[k].as_bytes(), k as Idx, key);
                model.insert(k);
            }
            assert_eq!(index.len(), model.len());
        }
        for (k, path) in keys.iter().enumerate() {
            let want = model.contains(&k).then_some(k as Idx);
            assert_eq!(index.get(path.as_bytes(), key), want, "{path}");
        }
        assert_eq!(index.remove(b"/absent", key), None);
    }

    #[test]
    fn grows_and_stays_under_three_quarters_full() {
        let keys: Vec<String> = (0..10_000).map(|i| format!("/bench/n{i}")).collect();
        let key = |i: Idx| keys[i as usize].as_bytes();
        let mut index = PathIndex::new();
        for (i, k) in keys.iter().enumerate() {
            index.insert(k.as_bytes(), i as Idx, key);
        }
        assert_eq!(index.len(), 10_000);
        assert_eq!(index.heap_bytes(), 16_384 * 8);
        assert!(keys.iter().enumerate().all(|(i, k)| index.get(k.as_bytes(), key) == Some(i as Idx)));
    }

    #[test]
    fn hash_spreads_similar_paths() {
        let buckets: std::collections::HashSet<u64> =
            (0..1_000).map(|i| hash_path(format!("/n{i:06}").as_bytes()) & 1023).collect();
        assert!(buckets.len() > 550, "only {} of 1024 buckets used", buckets.len());
        assert_ne!(hash_path(b""), hash_path(b"\0"));
    }
}
