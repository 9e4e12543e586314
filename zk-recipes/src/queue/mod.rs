//! Distributed queues: Curator's `DistributedQueue` layout and ZooKeeper's classic
//! `SimpleDistributedQueue`.
