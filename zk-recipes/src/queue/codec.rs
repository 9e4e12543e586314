//! The data of a [`DistributedQueue`](super::DistributedQueue) item node, byte-compatible with
//! Curator's `ItemSerializer`.
//!
//! ```text
//! i32  version = 0x00010001          (big-endian, as Java's DataOutputStream writes it)
//! repeated, once per item:
//!   u8   0x01                        (ITEM opcode)
//!   i32  length                      (big-endian, >= 0)
//!   [u8] the item's bytes
//! u8   0x02                          (EOF opcode)
//! ```
//!
//! Curator writes every node this way, even for a single `put`; its `putMulti` puts several
//! items in one node. Bytes after the EOF opcode are ignored, as Curator's reader ignores them.

use crate::error::{Error, Result};

/// Curator's `ItemSerializer.VERSION`.
const VERSION: i32 = 0x0001_0001;
/// Curator's `ItemSerializer.ITEM_OPCODE`.
const ITEM_OPCODE: u8 = 0x01;
/// Curator's `ItemSerializer.EOF_OPCODE`.
const EOF_OPCODE: u8 = 0x02;

/// The encoded length of `items` (version, one opcode and length per item, EOF).
pub(crate) fn encoded_len<I: AsRef<[u8]>>(items: &[I]) -> usize {
    4 + items.iter().map(|i| 5 + i.as_ref().len()).sum::<usize>() + 1
}

/// Encodes `items` as one node's data.
///
/// # Errors
/// [`Error::InvalidArgument`] when an item is longer than `i32::MAX` bytes.
pub(crate) fn encode<I: AsRef<[u8]>>(items: &[I]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(encoded_len(items));
    out.extend_from_slice(&VERSION.to_be_bytes());
    for item in items {
        let item = item.as_ref();
        let len = i32::try_from(item.len()).map_err(|_| {
            Error::InvalidArgument(format!("a queue item of {} bytes is too large", item.len()))
        })?;
        out.push(ITEM_OPCODE);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(item);
    }
    out.push(EOF_OPCODE);
    Ok(out)
}

/// Decodes one node's data into its items (in put order).
///
/// # Errors
/// [`Error::Malformed`] (naming `path`) when the data is not in Curator's item format.
pub(crate) fn decode(path: &str, data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = |reason: String| Error::Malformed { path: path.to_owned(), reason };
    let mut rest = data;
    let version = take_i32(&mut rest).ok_or_else(|| bad("shorter than the 4-byte version".into()))?;
    if version != VERSION {
        return Err(bad(format!("version {version:#x}, expected {VERSION:#x} (Curator's item format)")));
    }
    let mut items = Vec::new();
    loop {
        let (&opcode, tail) = rest.split_first().ok_or_else(|| bad("no EOF opcode".into()))?;
        rest = tail;
        match opcode {
            EOF_OPCODE => return Ok(items),
            ITEM_OPCODE => {}
            other => return Err(bad(format!("opcode {other:#x}, expected 0x01 or 0x02"))),
        }
        let len = take_i32(&mut rest).ok_or_else(|| bad("truncated item length".into()))?;
        let len = usize::try_from(len).map_err(|_| bad(format!("negative item length {len}")))?;
        if len > rest.len() {
            return Err(bad(format!("item of {len} bytes but only {} left", rest.len())));
        }
        let (item, tail) = rest.split_at(len);
        items.push(item.to_vec());
        rest = tail;
    }
}

/// Reads a big-endian `i32` off the front of `buf`.
fn take_i32(buf: &mut &[u8]) -> Option<i32> {
    let (head, tail) = buf.split_first_chunk::<4>()?;
    *buf = tail;
    Some(i32::from_be_bytes(*head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_item_has_curators_bytes() {
        let bytes = encode(&[b"hi"]).unwrap();
        assert_eq!(bytes, [0, 1, 0, 1, 1, 0, 0, 0, 2, b'h', b'i', 2]);
        assert_eq!(bytes.len(), encoded_len(&[b"hi"]));
        assert_eq!(decode("/q/queue-0000000000", &bytes).unwrap(), vec![b"hi".to_vec()]);
    }

    #[test]
    fn several_items_and_empty_ones_round_trip() {
        let items: Vec<Vec<u8>> = vec![b"a".to_vec(), Vec::new(), vec![7; 300]];
        let bytes = encode(&items).unwrap();
        assert_eq!(bytes.len(), encoded_len(&items));
        assert_eq!(decode("/q/x", &bytes).unwrap(), items);
        // No items at all is a valid node too.
        let none: [&[u8]; 0] = [];
        assert_eq!(decode("/q/x", &encode(&none).unwrap()).unwrap(), Vec::<Vec<u8>>::new());
        // Trailing bytes after EOF are ignored, as Curator ignores them.
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"junk");
        assert_eq!(decode("/q/x", &trailing).unwrap(), items);
    }

    #[test]
    fn malformed_data_is_a_typed_error() {
        let good = encode(&[b"abc"]).unwrap();
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"raw bytes".to_vec(),
            good[..3].to_vec(),
            good[..good.len() - 1].to_vec(),
            good[..7].to_vec(),
            vec![0, 1, 0, 1, 9],
            vec![0, 1, 0, 1, 1, 0xff, 0xff, 0xff, 0xff, 2],
            vec![0, 1, 0, 1, 1, 0, 0, 0, 9, 1, 2],
        ];
        for data in cases {
            match decode("/q/queue-1", &data) {
                Err(Error::Malformed { path, .. }) => assert_eq!(path, "/q/queue-1"),
                other => panic!("{data:?}: {other:?}"),
            }
        }
    }
}
