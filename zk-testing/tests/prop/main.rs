//! The property runner: a planted bug caught and shrunk, a correct scenario passing, hangs
//! and panics reported with their seed and plan, printed plans replayed; with the
//! `proptest` feature, the strategy over plans.
//!
//! `cargo test -p zkrs-testing --features proptest --test prop with_proptest` runs the
//! feature's tests alone.

mod correct;
mod limits;
mod planted;
mod scenarios;
#[cfg(feature = "proptest")]
mod with_proptest;
