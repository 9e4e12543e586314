//! The property runner: a planted bug caught and shrunk, a correct scenario passing, hangs
//! and panics reported with their seed and plan, printed plans replayed.

mod correct;
mod limits;
mod planted;
mod scenarios;
