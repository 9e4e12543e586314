//! Integration tests of the leader recipes, against zk-testing's embedded server on a paused
//! clock (and the key scenarios on both backends).

mod curator_mix;
mod election;
mod ensemble;
mod ha_pair;
mod latch;
mod on_backends;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, eventually, server, settle, within};
// (the election tests' module is declared here)
