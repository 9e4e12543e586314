//! Records of the node operations: create, delete, exists, data, children, sync, check,
//! reconfig, ephemerals, and the generic `ErrorResponse` (§4.2).

use super::{Acl, Stat};

record! {
    /// Body of create (1), create2 (15) and createContainer (19).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct CreateRequest {
        /// Requested path (the server appends the suffix for sequential modes).
        pub path: String,
        /// Initial data; `None` is the null buffer, distinct from empty.
        pub data: Option<Vec<u8>>,
        /// ACL of the new node.
        pub acl: Vec<Acl>,
        /// Create mode flags (§5.4).
        pub flags: i32,
    }
}

record! {
    /// Body of createTTL (21).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct CreateTtlRequest {
        /// Requested path.
        pub path: String,
        /// Initial data; `None` is the null buffer.
        pub data: Option<Vec<u8>>,
        /// ACL of the new node.
        pub acl: Vec<Acl>,
        /// Create mode flags (5 or 6).
        pub flags: i32,
        /// Time to live, ms.
        pub ttl: i64,
    }
}

record! {
    /// Reply body of create (1).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct CreateResponse {
        /// Actual path, including any sequence suffix.
        pub path: String,
    }
}

record! {
    /// Reply body of create2 (15), createContainer (19) and createTTL (21).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct Create2Response {
        /// Actual path, including any sequence suffix.
        pub path: String,
        /// Stat of the new node.
        pub stat: Stat,
    }
}

record! {
    /// Body of delete (2).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct DeleteRequest {
        /// Node path.
        pub path: String,
        /// Expected version, or -1 for any.
        pub version: i32,
    }
}

record! {
    /// Body of deleteContainer (20). The path is a `buffer` on the wire, which has the same
    /// shape as a `ustring`.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct DeleteContainerRequest {
        /// Node path.
        pub path: String,
    }
}

record! {
    /// Body of exists (3).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct ExistsRequest {
        /// Node path.
        pub path: String,
        /// Set a data watch (also when the node is missing).
        pub watch: bool,
    }
}

record! {
    /// Reply body of exists (3).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct ExistsResponse {
        /// The node's stat.
        pub stat: Stat,
    }
}

record! {
    /// Body of getData (4).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetDataRequest {
        /// Node path.
        pub path: String,
        /// Set a data watch.
        pub watch: bool,
    }
}

record! {
    /// Reply body of getData (4) and reconfig (16).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetDataResponse {
        /// The node's data; `None` if it was created with null data.
        pub data: Option<Vec<u8>>,
        /// The node's stat.
        pub stat: Stat,
    }
}

record! {
    /// Body of setData (5).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct SetDataRequest {
        /// Node path.
        pub path: String,
        /// New data; `None` is the null buffer.
        pub data: Option<Vec<u8>>,
        /// Expected version, or -1 for any.
        pub version: i32,
    }
}

record! {
    /// Reply body of setData (5).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct SetDataResponse {
        /// The node's stat after the change.
        pub stat: Stat,
    }
}

record! {
    /// Body of getChildren (8) and getChildren2 (12).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetChildrenRequest {
        /// Node path.
        pub path: String,
        /// Set a child watch.
        pub watch: bool,
    }
}

record! {
    /// Reply body of getChildren (8).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetChildrenResponse {
        /// Child names (not full paths), in no defined order.
        pub children: Vec<String>,
    }
}

record! {
    /// Reply body of getChildren2 (12).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetChildren2Response {
        /// Child names (not full paths), in no defined order.
        pub children: Vec<String>,
        /// Stat of the listed node itself.
        pub stat: Stat,
    }
}

record! {
    /// Body of sync (9).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct SyncRequest {
        /// Node path (not validated by the server).
        pub path: String,
    }
}

record! {
    /// Reply body of sync (9): the request's path echoed.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct SyncResponse {
        /// The request's path.
        pub path: String,
    }
}

record! {
    /// Body of check (13), valid only inside multi.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct CheckVersionRequest {
        /// Node path.
        pub path: String,
        /// Expected version, or -1 for any.
        pub version: i32,
    }
}

record! {
    /// Body of reconfig (16).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct ReconfigRequest {
        /// Servers to add, comma-separated (incremental reconfig; null when none).
        pub joining_servers: Option<String>,
        /// Server ids to remove, comma-separated (incremental reconfig; null when none).
        pub leaving_servers: Option<String>,
        /// Complete new membership (non-incremental reconfig); null for an incremental one.
        pub new_members: Option<String>,
        /// Expected current config version, or -1 for any.
        pub cur_config_id: i64,
    }
}

record! {
    /// Body of getEphemerals (103).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetEphemeralsRequest {
        /// Plain string prefix filter; empty or `/` lists all.
        pub prefix_path: String,
    }
}

record! {
    /// Reply body of getEphemerals (103).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetEphemeralsResponse {
        /// Full paths of this session's ephemeral nodes.
        pub ephemerals: Vec<String>,
    }
}

record! {
    /// Body of getAllChildrenNumber (104).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetAllChildrenNumberRequest {
        /// Node path.
        pub path: String,
    }
}

record! {
    /// Reply body of getAllChildrenNumber (104).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetAllChildrenNumberResponse {
        /// Number of all descendants.
        pub total_number: i32,
    }
}

record! {
    /// A bare error code: the reply body of addWatch (106, always 0) and the body of an error
    /// result in a multi response.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ErrorResponse {
        /// An [`ErrorCode`](super::ErrorCode) value.
        pub err: i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::{assert_record, sample_stat};
    use crate::proto::{DecodeError, Perms, Record};

    fn path() -> String {
        "/app/node-0000000001".into()
    }

    #[test]
    fn create_records_round_trip() {
        let acl = vec![Acl::world_anyone(Perms::ALL), Acl::new(Perms::READ, "digest", "u:h")];
        let c = CreateRequest { path: path(), data: Some(b"hi".to_vec()), acl, flags: 3 };
        assert_record(&c);
        assert_record(&CreateRequest { data: None, ..c.clone() });
        assert_record(&CreateRequest { data: Some(vec![]), acl: vec![], ..c.clone() });
        let CreateRequest { path, data, acl, .. } = c;
        assert_record(&CreateTtlRequest { path, data, acl, flags: 5, ttl: 0xFF_FFFF_FFFF });
        assert_record(&CreateResponse { path: "/q/0000000003".into() });
        assert_record(&Create2Response { path: "/c".into(), stat: sample_stat() });
        assert_record(&DeleteRequest { path: "/d".into(), version: -1 });
        assert_record(&DeleteContainerRequest { path: "/box".into() });
    }

    #[test]
    fn read_write_records_round_trip() {
        assert_record(&ExistsRequest { path: path(), watch: true });
        assert_record(&ExistsResponse { stat: sample_stat() });
        assert_record(&GetDataRequest { path: path(), watch: false });
        assert_record(&GetDataResponse { data: Some(vec![0, 1, 2]), stat: sample_stat() });
        assert_record(&GetDataResponse { data: None, stat: Stat::default() });
        assert_record(&SetDataRequest { path: path(), data: Some(vec![9; 300]), version: 7 });
        assert_record(&SetDataRequest { path: path(), data: None, version: -1 });
        assert_record(&SetDataResponse { stat: sample_stat() });
        assert_record(&GetChildrenRequest { path: "/".into(), watch: true });
        assert_record(&GetChildrenResponse { children: vec!["zookeeper".into(), "ä".into()] });
        assert_record(&GetChildrenResponse::default());
        let children = vec!["a".into(), String::new()];
        assert_record(&GetChildren2Response { children, stat: sample_stat() });
        assert_record(&SyncRequest { path: "/s".into() });
        assert_record(&SyncResponse { path: "/s".into() });
        assert_record(&CheckVersionRequest { path: "/v".into(), version: 0 });
    }

    #[test]
    fn misc_records_round_trip() {
        assert_record(&ReconfigRequest {
            joining_servers: Some("server.4=h:2888:3888;2181".into()),
            leaving_servers: Some("2,3".into()),
            new_members: None,
            cur_config_id: -1,
        });
        assert_record(&ReconfigRequest { new_members: Some(String::new()), ..ReconfigRequest::default() });
        // Null and empty differ on the wire: -1 against 0 as the length.
        let null = ReconfigRequest::default().to_bytes();
        assert_eq!(&null[..4], &(-1i32).to_be_bytes());
        assert_record(&GetEphemeralsRequest { prefix_path: "/e".into() });
        assert_record(&GetEphemeralsResponse { ephemerals: vec!["/e/1".into(), "/e/2".into()] });
        assert_record(&GetAllChildrenNumberRequest { path: "/".into() });
        assert_record(&GetAllChildrenNumberResponse { total_number: 3 });
        assert_record(&ErrorResponse { err: -101 });
        assert_record(&ErrorResponse::default());
    }

    #[test]
    fn null_data_is_distinct_from_empty() {
        let null = GetDataResponse { data: None, stat: Stat::default() }.to_bytes();
        assert_eq!(&null[..4], &[0xff; 4]);
        let empty = GetDataResponse { data: Some(vec![]), stat: Stat::default() }.to_bytes();
        assert_eq!(&empty[..4], &[0; 4]);
    }

    #[test]
    fn create2_response_reads_as_create_response() {
        // §1.1: a receiver reads only what it expects and ignores the rest.
        let bytes = Create2Response { path: "/x".into(), stat: sample_stat() }.to_bytes();
        let mut r = &bytes[..];
        assert_eq!(CreateResponse::decode(&mut r).unwrap().path, "/x");
        assert_eq!(r.len(), Stat::ENCODED_LEN);
    }

    #[test]
    fn hostile_lengths() {
        let mut r: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let e = GetChildrenResponse::decode(&mut r);
        assert!(matches!(e, Err(DecodeError::BadLength { len: 0x7fff_ffff, .. })));
        let mut bad = vec![0xff, 0xff, 0xff, 0xfe];
        bad.extend_from_slice(&[0; 68]);
        let mut r = &bad[..];
        let e = GetDataResponse::decode(&mut r);
        assert!(matches!(e, Err(DecodeError::BadLength { len: -2, .. })));
        let mut r: &[u8] = &[0x80, 0, 0, 0];
        assert!(matches!(SyncRequest::decode(&mut r), Err(DecodeError::BadLength { .. })));
    }

    #[test]
    fn lenient_strings() {
        // Invalid UTF-8 is replaced rather than rejected; a null path reads as "".
        let mut r: &[u8] = &[0, 0, 0, 2, 0xff, b'a', 1];
        let req = ExistsRequest::decode(&mut r).unwrap();
        assert_eq!(req, ExistsRequest { path: "\u{fffd}a".into(), watch: true });
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert_eq!(DeleteRequest::decode(&mut r).unwrap(), DeleteRequest::default());
    }
}
