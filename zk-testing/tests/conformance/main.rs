//! The conformance suite: every scenario is one async function taking a [`Backend`], run
//! against each backend by the `conformance!` macro. Today the backend is a real ZooKeeper
//! 3.8 started by the harness; the embedded server joins later with the very same bodies.

#[macro_use]
mod support;

mod acl;
mod features;
mod multi;
mod ops;
mod session;
mod watches;
