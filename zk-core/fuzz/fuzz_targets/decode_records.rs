//! Decodes one record, chosen by the first input byte, from the rest of the input: every
//! `Record` type of `zk_core::proto`, and `Request::decode` with every opcode (including the
//! ones a frame-level target rarely reaches). See README.md.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct RecordInput<'a> {
    /// Which record type (modulo `zk_core_fuzz::kind_count()`).
    kind: u8,
    /// The bytes to decode (the rest of the input).
    bytes: &'a [u8],
}

fuzz_target!(|input: RecordInput<'_>| {
    zk_core_fuzz::decode_kind(input.kind, input.bytes);
});
