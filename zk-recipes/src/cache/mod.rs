//! Caches of znodes as streams of typed events plus a snapshot: `NodeCache`, `PathCache`,
//! `TreeCache`.
