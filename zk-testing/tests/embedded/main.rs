//! Tests of the embedded server itself: determinism on a paused clock, fault injection,
//! hostile input, four-letter words, restart and snapshots. (The protocol semantics are in
//! the conformance suite, which runs against this server and the real one.)

mod determinism;
mod faults;
mod hostile;
mod lifecycle;
mod plan;
mod renewal;
mod retrying;
mod versions;
