//! The conformance suite: every scenario is one async function taking a [`Backend`], run
//! against each backend by [`zk_testing::both_backends!`]: a real ZooKeeper 3.8 started by the
//! harness and the embedded server, with the very same bodies.

mod support;

mod acl;
mod features;
mod helpers;
mod multi;
mod ops;
mod sasl;
mod session;
mod watch_table;
mod watches;
