//! Group membership: an ephemeral member node kept across session loss, with a members stream.
