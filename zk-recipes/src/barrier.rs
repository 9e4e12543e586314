//! Barriers: `Barrier` and `DoubleBarrier`.
