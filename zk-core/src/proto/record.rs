//! The [`Record`] trait and the jute primitive encodings (§1.2 of the protocol reference).
//!
//! Decoding reads from a `&[u8]` cursor with checked reads only: a short buffer is
//! [`DecodeError::Truncated`], a negative or oversized length is [`DecodeError::BadLength`];
//! nothing here can panic on hostile input, and no allocation is larger than the bytes that
//! are actually present.

use bytes::BufMut;

/// Why bytes could not be decoded into a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The buffer ended before the record did.
    #[error("truncated record: needed {needed} more bytes while reading {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A length prefix was negative (other than the null marker -1) or larger than the
    /// remaining bytes or the configured limit.
    #[error("bad length {len} while reading {what}")]
    BadLength {
        /// What was being read.
        what: &'static str,
        /// The length prefix found on the wire.
        len: i64,
    },
    /// An enumerated field held a value the protocol does not define.
    #[error("unknown {what} value {value}")]
    UnknownValue {
        /// Which enumeration.
        what: &'static str,
        /// The value found on the wire.
        value: i32,
    },
    /// The record is well-formed bytes but not a valid message (e.g. a read op in a write multi).
    #[error("invalid record: {0}")]
    Invalid(&'static str),
}

/// Result of a decode.
pub type DecodeResult<T> = std::result::Result<T, DecodeError>;

/// A jute record: encoded field by field, big-endian, with no tag and no length of its own.
///
/// Every request and every response implements it, so the client and the embedded server share
/// one set of types.
pub trait Record: Sized {
    /// Appends the encoding of `self` to `buf`.
    fn encode(&self, buf: &mut impl BufMut);
    /// The exact number of bytes [`Record::encode`] writes.
    fn encoded_len(&self) -> usize;
    /// Reads one record from the front of `buf`, advancing it past the bytes consumed.
    /// Trailing bytes are left in `buf` (receivers ignore them, §1.1).
    ///
    /// # Errors
    /// [`DecodeError`] when the bytes do not hold a valid record.
    fn decode(buf: &mut &[u8]) -> DecodeResult<Self>;

    /// Encodes `self` into a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }
}

fn take<'a>(buf: &mut &'a [u8], n: usize, what: &'static str) -> DecodeResult<&'a [u8]> {
    if buf.len() < n {
        return Err(DecodeError::Truncated { what, needed: n - buf.len() });
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn take_array<const N: usize>(buf: &mut &[u8], what: &'static str) -> DecodeResult<[u8; N]> {
    let Some((head, tail)) = buf.split_first_chunk::<N>() else {
        return Err(DecodeError::Truncated { what, needed: N - buf.len() });
    };
    *buf = tail;
    Ok(*head)
}

/// Reads a big-endian `int`.
pub fn read_i32(buf: &mut &[u8], what: &'static str) -> DecodeResult<i32> {
    take_array(buf, what).map(i32::from_be_bytes)
}

/// Reads a big-endian `long`.
pub fn read_i64(buf: &mut &[u8], what: &'static str) -> DecodeResult<i64> {
    take_array(buf, what).map(i64::from_be_bytes)
}

/// Reads a `boolean` (any non-zero byte is true, as Java reads it).
pub fn read_bool(buf: &mut &[u8], what: &'static str) -> DecodeResult<bool> {
    take_array(buf, what).map(|[b]| b != 0)
}

/// Reads a length prefix: `None` for the null marker -1, else a length that fits in the
/// remaining bytes (each element needs at least `min_elem` bytes; 0 counts as 1).
fn read_len(buf: &mut &[u8], min_elem: usize, what: &'static str) -> DecodeResult<Option<usize>> {
    let len = read_i32(buf, what)?;
    if len == -1 {
        return Ok(None);
    }
    let Ok(n) = usize::try_from(len) else {
        return Err(DecodeError::BadLength { what, len: len.into() });
    };
    if n.saturating_mul(min_elem.max(1)) > buf.len() {
        return Err(DecodeError::BadLength { what, len: len.into() });
    }
    Ok(Some(n))
}

/// Reads a `buffer`; `None` is the null buffer (length -1), distinct from empty.
pub fn read_buffer(buf: &mut &[u8], what: &'static str) -> DecodeResult<Option<Vec<u8>>> {
    match read_len(buf, 1, what)? {
        None => Ok(None),
        Some(n) => Ok(Some(take(buf, n, what)?.to_vec())),
    }
}

/// Reads a `ustring`; null (length -1) reads as the empty string. Invalid UTF-8 is replaced
/// (Java decodes leniently too).
pub fn read_string(buf: &mut &[u8], what: &'static str) -> DecodeResult<String> {
    match read_len(buf, 1, what)? {
        None => Ok(String::new()),
        Some(n) => Ok(String::from_utf8_lossy(take(buf, n, what)?).into_owned()),
    }
}

/// Reads a `vector<T>`; null (count -1) reads as empty. Each element occupies at least
/// `min_elem` bytes on the wire, which bounds the count by the remaining input.
pub fn read_vec<T>(
    buf: &mut &[u8],
    min_elem: usize,
    what: &'static str,
    mut elem: impl FnMut(&mut &[u8]) -> DecodeResult<T>,
) -> DecodeResult<Vec<T>> {
    let Some(n) = read_len(buf, min_elem.max(1), what)? else {
        return Ok(Vec::new());
    };
    // The count is already bounded by the input; also keep the first allocation no larger than
    // the bytes present (elements may be bigger in memory than on the wire).
    let cap = n.min(buf.len() / std::mem::size_of::<T>().max(1));
    let mut out = Vec::with_capacity(cap);
    for _ in 0..n {
        out.push(elem(buf)?);
    }
    Ok(out)
}

/// Reads a `vector<ustring>`.
pub fn read_string_vec(buf: &mut &[u8], what: &'static str) -> DecodeResult<Vec<String>> {
    read_vec(buf, 4, what, |b| read_string(b, what))
}

/// Writes a `buffer` (`None` as the null marker -1).
///
/// Lengths are written as `int`; callers keep payloads under the frame limit, far below 2 GiB.
pub fn write_buffer(buf: &mut impl BufMut, data: Option<&[u8]>) {
    match data {
        None => buf.put_i32(-1),
        Some(d) => {
            buf.put_i32(wire_count(d.len()));
            buf.put_slice(d);
        }
    }
}

/// A length or count as the `int` jute writes (saturating; real frames are far smaller).
fn wire_count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Writes a `ustring` (always non-null; the empty string as length 0).
pub fn write_string(buf: &mut impl BufMut, s: &str) {
    write_buffer(buf, Some(s.as_bytes()));
}

/// Writes a `boolean` as exactly 0 or 1.
pub fn write_bool(buf: &mut impl BufMut, b: bool) {
    buf.put_u8(u8::from(b));
}

/// Writes a `vector<ustring>`.
pub fn write_string_vec(buf: &mut impl BufMut, v: &[String]) {
    write_wire_vec(buf, v);
}

/// Encoded length of a `ustring`.
pub fn string_len(s: &str) -> usize {
    4 + s.len()
}

/// Encoded length of a `buffer`.
pub fn buffer_len(d: Option<&[u8]>) -> usize {
    4 + d.map_or(0, <[u8]>::len)
}

/// Encoded length of a `vector<ustring>`.
pub fn string_vec_len(v: &[String]) -> usize {
    wire_vec_len(v)
}

/// The empty body: ping, close, whoAmI requests and every bare reply.
impl Record for () {
    fn encode(&self, _buf: &mut impl BufMut) {}
    fn encoded_len(&self) -> usize {
        0
    }
    fn decode(_buf: &mut &[u8]) -> DecodeResult<Self> {
        Ok(())
    }
}

/// A field type with a fixed jute encoding. It drives the `record!` macro, so a record is
/// declared once, as a struct whose field order is the wire order.
pub(crate) trait Wire: Sized {
    /// The fewest bytes any value of this type occupies on the wire (bounds vector counts).
    const MIN_LEN: usize;
    fn wire_put(&self, buf: &mut impl BufMut);
    fn wire_len(&self) -> usize;
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self>;
}

impl Wire for i32 {
    const MIN_LEN: usize = 4;
    fn wire_put(&self, buf: &mut impl BufMut) {
        buf.put_i32(*self);
    }
    fn wire_len(&self) -> usize {
        4
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        read_i32(buf, what)
    }
}

impl Wire for i64 {
    const MIN_LEN: usize = 8;
    fn wire_put(&self, buf: &mut impl BufMut) {
        buf.put_i64(*self);
    }
    fn wire_len(&self) -> usize {
        8
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        read_i64(buf, what)
    }
}

impl Wire for bool {
    const MIN_LEN: usize = 1;
    fn wire_put(&self, buf: &mut impl BufMut) {
        write_bool(buf, *self);
    }
    fn wire_len(&self) -> usize {
        1
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        read_bool(buf, what)
    }
}

/// `ustring`; null reads as "" (kazoo sends "" as null).
impl Wire for String {
    const MIN_LEN: usize = 4;
    fn wire_put(&self, buf: &mut impl BufMut) {
        write_string(buf, self);
    }
    fn wire_len(&self) -> usize {
        string_len(self)
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        read_string(buf, what)
    }
}

/// `ustring` where null is meaningful (reconfig's absent fields: a null `newMembers` makes an
/// incremental reconfig, an empty one a non-incremental reconfig to nothing).
impl Wire for Option<String> {
    const MIN_LEN: usize = 4;
    fn wire_put(&self, buf: &mut impl BufMut) {
        write_buffer(buf, self.as_deref().map(str::as_bytes));
    }
    fn wire_len(&self) -> usize {
        buffer_len(self.as_deref().map(str::as_bytes))
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        Ok(read_buffer(buf, what)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }
}

/// `buffer` where null is meaningful (node data).
impl Wire for Option<Vec<u8>> {
    const MIN_LEN: usize = 4;
    fn wire_put(&self, buf: &mut impl BufMut) {
        write_buffer(buf, self.as_deref());
    }
    fn wire_len(&self) -> usize {
        buffer_len(self.as_deref())
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        read_buffer(buf, what)
    }
}

/// `buffer` where null means empty (passwords, auth payloads, SASL tokens).
impl Wire for Vec<u8> {
    const MIN_LEN: usize = 4;
    fn wire_put(&self, buf: &mut impl BufMut) {
        write_buffer(buf, Some(self));
    }
    fn wire_len(&self) -> usize {
        buffer_len(Some(self))
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        Ok(read_buffer(buf, what)?.unwrap_or_default())
    }
}

/// `vector<T>`; a null vector reads as empty (§1.2).
impl<T: Wire> Wire for Vec<T> {
    const MIN_LEN: usize = 4;
    fn wire_put(&self, buf: &mut impl BufMut) {
        write_wire_vec(buf, self);
    }
    fn wire_len(&self) -> usize {
        wire_vec_len(self)
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        read_vec(buf, T::MIN_LEN, what, |b| T::wire_get(b, what))
    }
}

/// Writes a `vector<T>` of any wire type.
pub(crate) fn write_wire_vec<T: Wire>(buf: &mut impl BufMut, items: &[T]) {
    buf.put_i32(wire_count(items.len()));
    for item in items {
        item.wire_put(buf);
    }
}

/// Encoded length of a `vector<T>` of any wire type.
pub(crate) fn wire_vec_len<T: Wire>(items: &[T]) -> usize {
    4 + items.iter().map(Wire::wire_len).sum::<usize>()
}

/// Declares a record struct whose fields are encoded in declaration order, and implements
/// [`Record`] and `Wire` (so it can be a field or a vector element of another record) for it.
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::proto::Record for $name {
            fn encode(&self, buf: &mut impl ::bytes::BufMut) {
                $( $crate::proto::record::Wire::wire_put(&self.$field, buf); )*
            }
            fn encoded_len(&self) -> usize {
                0 $( + $crate::proto::record::Wire::wire_len(&self.$field) )*
            }
            fn decode(buf: &mut &[u8]) -> $crate::proto::DecodeResult<Self> {
                Ok(Self {
                    $( $field: $crate::proto::record::Wire::wire_get(
                        buf,
                        concat!(stringify!($name), ".", stringify!($field)),
                    )?, )*
                })
            }
        }

        impl $crate::proto::record::Wire for $name {
            const MIN_LEN: usize = 0 $( + <$ty as $crate::proto::record::Wire>::MIN_LEN )*;
            fn wire_put(&self, buf: &mut impl ::bytes::BufMut) {
                $crate::proto::Record::encode(self, buf);
            }
            fn wire_len(&self) -> usize {
                $crate::proto::Record::encoded_len(self)
            }
            fn wire_get(buf: &mut &[u8], _what: &'static str) -> $crate::proto::DecodeResult<Self> {
                <Self as $crate::proto::Record>::decode(buf)
            }
        }
    };
}

/// Declares a `#[repr(i32)]` wire enumeration with `code()`, `ALL`, `TryFrom<i32>` (unknown
/// values are [`DecodeError::UnknownValue`]) and `From<Self> for i32`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value on the wire.
            pub const fn code(self) -> i32 {
                self as i32
            }
        }

        impl TryFrom<i32> for $name {
            type Error = $crate::proto::DecodeError;

            fn try_from(value: i32) -> Result<Self, $crate::proto::DecodeError> {
                match value {
                    $( $value => Ok($name::$variant), )+
                    _ => Err($crate::proto::DecodeError::UnknownValue { what: $what, value }),
                }
            }
        }

        impl From<$name> for i32 {
            fn from(v: $name) -> i32 {
                v.code()
            }
        }
    };
}

/// Shared assertions for the codec tests of every record file.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::fmt::Debug;

    /// Encode → decode gives the same value; `encoded_len` is the bytes written and decode
    /// consumes exactly them. Returns the encoding.
    pub(crate) fn round_trip<R: Record + Debug + PartialEq>(r: &R) -> Vec<u8> {
        let bytes = r.to_bytes();
        assert_eq!(bytes.len(), r.encoded_len(), "encoded_len of {r:?}");
        let mut rest = &bytes[..];
        assert_eq!(&R::decode(&mut rest).expect("decode"), r);
        assert!(rest.is_empty(), "{} bytes left after {r:?}", rest.len());
        bytes
    }

    /// [`round_trip`], plus: trailing bytes are left alone and every strict prefix is an
    /// error (and does not panic).
    pub(crate) fn assert_record<R: Record + Debug + PartialEq>(r: &R) {
        let mut bytes = round_trip(r);
        for cut in 0..bytes.len() {
            let mut short = &bytes[..cut];
            assert!(R::decode(&mut short).is_err(), "prefix {cut} of {r:?} decoded");
        }
        bytes.extend_from_slice(&[0xAB, 0xCD, 0xEF]);
        let mut rest = &bytes[..];
        assert_eq!(&R::decode(&mut rest).expect("decode with trailing"), r);
        assert_eq!(rest, &[0xAB, 0xCD, 0xEF]);
    }

    /// Bytes from hex digits; whitespace is ignored.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(digits.len() % 2 == 0, "odd number of hex digits");
        let nibble = |d: u8| (d as char).to_digit(16).expect("hex digit") as u8;
        digits.chunks(2).map(|p| nibble(p[0]) << 4 | nibble(p[1])).collect()
    }

    /// A `Stat` with every field distinct and non-zero.
    pub(crate) fn sample_stat() -> crate::proto::Stat {
        crate::proto::Stat {
            czxid: 1,
            mzxid: 2,
            ctime: 1_700_000_000_000,
            mtime: 1_700_000_000_001,
            version: 3,
            cversion: -1,
            aversion: 4,
            ephemeral_owner: 0x0100_0000_0000_0001,
            data_length: 5,
            num_children: 6,
            pzxid: 7,
        }
    }

    /// Every value of a wire enum maps to its code and back; the given codes are unknown.
    pub(crate) fn assert_enum<E>(all: &[E], unknown: &[i32])
    where
        E: Copy + Debug + PartialEq + Into<i32> + TryFrom<i32, Error = DecodeError>,
    {
        for &e in all {
            assert_eq!(E::try_from(e.into()), Ok(e));
        }
        for &v in unknown {
            let err = E::try_from(v);
            assert!(
                matches!(err, Err(DecodeError::UnknownValue { value, .. }) if value == v),
                "{v} should be unknown"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut v = Vec::new();
        write_string(&mut v, "/a");
        write_buffer(&mut v, None);
        write_buffer(&mut v, Some(b""));
        write_bool(&mut v, true);
        write_string_vec(&mut v, &["x".into(), "yz".into()]);
        let mut r = &v[..];
        assert_eq!(read_string(&mut r, "s").unwrap(), "/a");
        assert_eq!(read_buffer(&mut r, "b").unwrap(), None);
        assert_eq!(read_buffer(&mut r, "b").unwrap(), Some(vec![]));
        assert!(read_bool(&mut r, "bool").unwrap());
        assert_eq!(read_string_vec(&mut r, "v").unwrap(), vec!["x", "yz"]);
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_lengths_are_errors_not_allocations() {
        // A vector claiming i32::MAX elements in 4 bytes must fail before allocating.
        let mut r: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(read_string_vec(&mut r, "v"), Err(DecodeError::BadLength { .. })));
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xfe, 0];
        assert!(matches!(read_buffer(&mut r, "b"), Err(DecodeError::BadLength { len: -2, .. })));
        let mut r: &[u8] = &[0, 0, 0, 5, b'a'];
        assert!(matches!(read_string(&mut r, "s"), Err(DecodeError::BadLength { .. })));
        let mut r: &[u8] = &[0, 0];
        assert!(matches!(read_i32(&mut r, "i"), Err(DecodeError::Truncated { needed: 2, .. })));
    }

    #[test]
    fn empty_body() {
        assert_eq!(().to_bytes(), Vec::<u8>::new());
        let mut r: &[u8] = &[1, 2];
        assert_eq!(<()>::decode(&mut r), Ok(()));
        assert_eq!(r, &[1, 2]);
    }

    #[test]
    fn wire_field_types() {
        // `Vec<u8>` is a buffer whose null reads as empty; `Option<Vec<u8>>` keeps null.
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert_eq!(Vec::<u8>::wire_get(&mut r, "b"), Ok(vec![]));
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert_eq!(Option::<Vec<u8>>::wire_get(&mut r, "b"), Ok(None));
        let v: Vec<Vec<u8>> = vec![vec![1], vec![]];
        let mut out = Vec::new();
        v.wire_put(&mut out);
        assert_eq!(out.len(), v.wire_len());
        assert_eq!(out, [0, 0, 0, 2, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
        assert_eq!(Vec::<Vec<u8>>::wire_get(&mut &out[..], "v"), Ok(v));
        assert_eq!(string_vec_len(&["ab".into()]), 10);
        assert_eq!(buffer_len(None), 4);
    }

    #[test]
    fn vector_count_is_bounded_by_element_size() {
        // 3 elements of at least 4 bytes cannot fit in 8 bytes.
        let mut r: &[u8] = &[0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(read_string_vec(&mut r, "v"), Err(DecodeError::BadLength { len: 3, .. })));
        // A huge count of 1-byte elements with few bytes present is rejected up front.
        let mut r: &[u8] = &[0x00, 0x10, 0x00, 0x00, 1, 1];
        assert!(read_vec(&mut r, 1, "v", |b| read_bool(b, "x")).is_err());
    }
}
