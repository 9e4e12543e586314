//! The `Stat` record (§1.3, §5.2).

record! {
    /// Metadata of a node (§5.2); always 68 bytes on the wire.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Stat {
        /// Zxid of the transaction that created the node.
        pub czxid: i64,
        /// Zxid of the last data change.
        pub mzxid: i64,
        /// Creation time, ms since the Unix epoch.
        pub ctime: i64,
        /// Last data change time, ms since the Unix epoch.
        pub mtime: i64,
        /// Number of data changes.
        pub version: i32,
        /// Number of child creations plus deletions.
        pub cversion: i32,
        /// Number of ACL changes.
        pub aversion: i32,
        /// Owning session id for ephemeral nodes, else 0.
        pub ephemeral_owner: i64,
        /// Length of the data (0 for null data).
        pub data_length: i32,
        /// Number of children.
        pub num_children: i32,
        /// Zxid of the last child creation or deletion.
        pub pzxid: i64,
    }
}

impl Stat {
    /// Size of every `Stat` on the wire.
    pub const ENCODED_LEN: usize = 68;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::{assert_record, sample_stat as sample};
    use crate::proto::Record;

    #[test]
    fn stat_round_trip() {
        assert_record(&Stat::default());
        assert_record(&sample());
        assert_eq!(sample().to_bytes().len(), Stat::ENCODED_LEN);
    }

    #[test]
    fn stat_field_order() {
        let b = sample().to_bytes();
        assert_eq!(&b[0..8], &1i64.to_be_bytes());
        assert_eq!(&b[32..36], &3i32.to_be_bytes());
        assert_eq!(&b[44..52], &0x0100_0000_0000_0001i64.to_be_bytes());
        assert_eq!(&b[60..68], &7i64.to_be_bytes());
    }
}
