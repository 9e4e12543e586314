//! Shared helpers for the example programs (nothing yet).
