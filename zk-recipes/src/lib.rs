//! zk-recipes: coordination recipes (locks, leader election, caches, queues) built on
//! [`zk_core`], with the same znode layouts as Apache Curator.
//!
//! This crate is a skeleton: the recipes arrive with the locks, leadership and data-recipe
//! issues. It exists now so the workspace has its final shape.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
