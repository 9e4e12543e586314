//! Shared counters with Apache Curator's byte layouts.
//!
//! - [`SharedCount`]: Curator's `SharedCount` (and kazoo's `Counter` in Curator mode): the node
//!   holds a 4-byte big-endian `i32`. Read it with its version, set it, compare-and-set it
//!   against a [`VersionedValue`], and follow its changes as a [`CountChanges`] stream.
//! - [`DistributedAtomicLong`]: Curator's `DistributedAtomicLong`: the node holds an 8-byte
//!   big-endian `i64`, updated by optimistic compare-and-set on the node's version, retried per
//!   a [`RetryPolicy`](zk_core::RetryPolicy); every update returns an [`AtomicValue`] with the
//!   values before and after and whether it succeeded.
//!
//! Data of the wrong length is reported as [`Error::Malformed`] and
//! the node is left untouched.
//!
//! # Session events
//!
//! Counters hold no session state: an operation in flight on **Disconnected** fails with a
//! retryable [`zk_core::Error`] (reads are retried, see each method), **Reconnected** needs
//! nothing, and on **Expired** an operation in flight fails with `SessionExpired`. On a
//! client that opens a new session by itself (zk-core's default) the same counter works
//! again on that session; on a client built with `OnExpiry::End` (or closed) every operation
//! fails from then on (make a new counter on a new client). A [`CountChanges`] stream
//! survives disconnections and, on a renewing client, expiries (it reads the counter again
//! on the new session and reports what changed meanwhile); it ends after an error item once
//! the client itself ended.
//!
//! # Examples
//!
//! ```
//! use zk_recipes::counter::{DistributedAtomicLong, SharedCount};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
//! # let client = server.client().await?;
//! let count = SharedCount::new(client.clone(), "/counters/workers", 0)?;
//! let seen = count.versioned().await?;
//! assert!(count.try_set(&seen, seen.value + 1).await?);
//! assert!(!count.try_set(&seen, 42).await?); // stale version
//! assert_eq!(count.get().await?, 1);
//!
//! let hits = DistributedAtomicLong::new(client, "/counters/hits")?;
//! let r = hits.increment().await?;
//! assert!(r.succeeded);
//! assert_eq!((r.pre_value, r.post_value), (0, 1));
//! # Ok(())
//! # }
//! ```

mod atomic_long;
mod shared_count;

pub use atomic_long::{AtomicValue, DistributedAtomicLong};
pub use shared_count::{CountChanges, SharedCount};

use crate::error::Error;

/// A value read together with the version of the node it was read from, for a later
/// compare-and-set (Curator's `VersionedValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionedValue<T> {
    /// The node's data version when the value was read.
    pub version: i32,
    /// The value.
    pub value: T,
}

/// Curator's `SharedCount` layout: 4 bytes, big-endian.
pub(crate) fn encode_i32(v: i32) -> [u8; 4] {
    v.to_be_bytes()
}

/// Reads a `SharedCount` node's data (exactly 4 bytes).
pub(crate) fn decode_i32(path: &str, data: &[u8]) -> Result<i32, Error> {
    let bytes: [u8; 4] = data.try_into().map_err(|_| malformed(path, data, 4))?;
    Ok(i32::from_be_bytes(bytes))
}

/// Curator's `DistributedAtomicLong` layout: 8 bytes, big-endian.
pub(crate) fn encode_i64(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

/// Reads a `DistributedAtomicLong` node's data: 8 bytes, or empty for 0 (as Curator reads a
/// node created without data).
pub(crate) fn decode_i64(path: &str, data: &[u8]) -> Result<i64, Error> {
    if data.is_empty() {
        return Ok(0);
    }
    let bytes: [u8; 8] = data.try_into().map_err(|_| malformed(path, data, 8))?;
    Ok(i64::from_be_bytes(bytes))
}

fn malformed(path: &str, data: &[u8], want: usize) -> Error {
    Error::Malformed {
        path: path.to_owned(),
        reason: format!("expected {want} bytes (big-endian integer), found {}", data.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bytes_match_curators_layout() {
        // Java's ByteBuffer.putInt / putLong: big-endian, two's complement.
        assert_eq!(encode_i32(1), [0, 0, 0, 1]);
        assert_eq!(encode_i32(-2), [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(encode_i32(0x0102_0304), [1, 2, 3, 4]);
        assert_eq!(encode_i64(1), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(encode_i64(-1), [0xff; 8]);
        assert_eq!(encode_i64(0x0102_0304_0506_0708), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(decode_i32("/c", &[0x80, 0, 0, 0]), Ok(i32::MIN));
        assert_eq!(decode_i64("/c", &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Ok(i64::MAX));
        assert_eq!(decode_i64("/c", &[]), Ok(0));
    }

    #[test]
    fn wrong_lengths_are_malformed() {
        for bad in [&b""[..], b"123", b"12345", b"00000000"] {
            assert!(matches!(decode_i32("/c", bad), Err(Error::Malformed { .. })), "{bad:?}");
        }
        for bad in [&b"1"[..], b"1234", b"123456789"] {
            assert!(matches!(decode_i64("/c", bad), Err(Error::Malformed { .. })), "{bad:?}");
        }
    }
}
