//! The input is the byte stream a fresh server connection receives (and, read the other way,
//! the stream a client receives). See README.md for the properties checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zk_core::proto::{
    four_letter_word, peek_frame, ConnectRequest, ConnectResponse, FrameError, DEFAULT_MAX_FRAME,
    FOUR_LETTER_WORDS,
};
use zk_core_fuzz::{checked_peek, decode_checked, reply_frame, request_frame};

fuzz_target!(|data: &[u8]| {
    // A fresh server connection may open with a four-letter word instead of a frame (§12);
    // the server answers it and closes. Such a prefix must never pass as a frame.
    if let Some(word) = four_letter_word(data) {
        assert!(FOUR_LETTER_WORDS.contains(&word));
        assert_eq!(word.as_bytes(), &data[..4]);
        assert!(matches!(peek_frame(data, DEFAULT_MAX_FRAME), Err(FrameError::TooLarge { .. })));
        return;
    }

    let mut stream = data;
    let mut first = true;
    // Every pass consumes a whole frame (at least its 4-byte prefix), so this ends.
    while let Some(n) = {
        // The contract holds for any limit; the stream itself is cut with the default one.
        checked_peek(stream, 16);
        checked_peek(stream, DEFAULT_MAX_FRAME)
    } {
        let payload = &stream[4..n];
        stream = &stream[n..];
        if first {
            // Handshake: a bare ConnectRequest (server side) / ConnectResponse (client side).
            first = false;
            decode_checked::<ConnectRequest>("ConnectRequest", payload, false);
            decode_checked::<ConnectResponse>("ConnectResponse", payload, false);
        } else {
            // Server side: RequestHeader, OpCode::try_from, Request::decode.
            request_frame(payload);
            // Client side: ReplyHeader, then every response record.
            reply_frame(payload);
        }
    }
});
