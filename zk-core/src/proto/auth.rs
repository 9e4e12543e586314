//! Authentication records: auth (100), SASL (102) and whoAmI (107) (§4.2, §9.4).

record! {
    /// Body of auth (100), sent with xid -4.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct AuthPacket {
        /// Always 0.
        pub auth_type: i32,
        /// Auth scheme, e.g. `digest`.
        pub scheme: String,
        /// Scheme-specific credentials, e.g. `user:password`; a null buffer reads as empty.
        pub auth: Vec<u8>,
    }
}

record! {
    /// Body of sasl (102).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetSaslRequest {
        /// The client's SASL token; a null buffer reads as empty.
        pub token: Vec<u8>,
    }
}

record! {
    /// Reply body of sasl (102).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct SetSaslResponse {
        /// The server's SASL token; a null buffer reads as empty.
        pub token: Vec<u8>,
    }
}

record! {
    /// One identity of a connection, as listed by whoAmI.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct ClientInfo {
        /// Auth scheme, e.g. `ip` or `digest`.
        pub auth_scheme: String,
        /// Identity within the scheme.
        pub user: String,
    }
}

record! {
    /// Reply body of whoAmI (107).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct WhoAmIResponse {
        /// Every identity on the connection, including its `ip` identity.
        pub client_info: Vec<ClientInfo>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::assert_record;
    use crate::proto::{DecodeError, Record};

    #[test]
    fn auth_records_round_trip() {
        let auth = AuthPacket { auth_type: 0, scheme: "digest".into(), auth: b"u:p".to_vec() };
        assert_record(&auth);
        assert_record(&AuthPacket::default());
        assert_record(&GetSaslRequest { token: vec![1, 2, 3] });
        assert_record(&SetSaslResponse { token: vec![] });
        assert_record(&ClientInfo { auth_scheme: "ip".into(), user: "127.0.0.1".into() });
        assert_record(&WhoAmIResponse {
            client_info: vec![
                ClientInfo { auth_scheme: "ip".into(), user: "127.0.0.1".into() },
                ClientInfo { auth_scheme: "digest".into(), user: "u".into() },
            ],
        });
        assert_record(&WhoAmIResponse::default());
    }

    #[test]
    fn null_auth_payload_reads_as_empty() {
        // kazoo sends empty strings and buffers as null (§1.2).
        let mut r: &[u8] = &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(AuthPacket::decode(&mut r).unwrap(), AuthPacket::default());
    }

    #[test]
    fn hostile_client_info_count() {
        let mut r: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
        let e = WhoAmIResponse::decode(&mut r);
        assert!(matches!(e, Err(DecodeError::BadLength { .. })));
    }
}
