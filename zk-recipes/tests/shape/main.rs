//! One shape for every recipe handle (the crate docs, "One shape for every handle"): the
//! life cycle of the handles that keep something alive, the one deadline convention of
//! every bounded wait, and what the value streams say when their session ends or is renewed.

mod deadlines;
mod expiry;
mod lifecycle;
mod streams;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, eventually, server, settle, within};
