//! `PersistentNode`: a node (often ephemeral) kept existing across connection loss and expiry.
