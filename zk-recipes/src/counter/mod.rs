//! Shared counters: Curator's `SharedCount` (4-byte) and `DistributedAtomicLong` (8-byte).
