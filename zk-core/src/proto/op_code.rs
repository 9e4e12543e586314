//! Operation codes: the `type` of a [`RequestHeader`](super::RequestHeader) (§4.1).

wire_enum! {
    /// An operation code, as carried in a request header or a multi header (§4.1).
    pub enum OpCode ("op code") {
        /// Never sent as a request; notifications travel as xid -1 frames.
        Notification = 0,
        /// Create a node; replies `CreateResponse`.
        Create = 1,
        /// Delete a node.
        Delete = 2,
        /// Stat of a node, optionally setting a data watch.
        Exists = 3,
        /// Data and stat of a node.
        GetData = 4,
        /// Replace a node's data.
        SetData = 5,
        /// ACL of a node.
        GetAcl = 6,
        /// Replace a node's ACL.
        SetAcl = 7,
        /// Child names of a node.
        GetChildren = 8,
        /// Wait until earlier writes are applied.
        Sync = 9,
        /// Keep-alive (xid -2).
        Ping = 11,
        /// Child names plus the node's stat.
        GetChildren2 = 12,
        /// Version check, only valid inside multi.
        Check = 13,
        /// Atomic batch of writes (§6).
        Multi = 14,
        /// Create a node; replies `Create2Response`.
        Create2 = 15,
        /// Change the ensemble membership.
        Reconfig = 16,
        /// Check that a watch exists on the server.
        CheckWatches = 17,
        /// Remove watches on the server.
        RemoveWatches = 18,
        /// Create a container node.
        CreateContainer = 19,
        /// Delete a container node (server-internal reaper).
        DeleteContainer = 20,
        /// Create a node with a time-to-live.
        CreateTtl = 21,
        /// Batch of independent reads (§6).
        MultiRead = 22,
        /// Add authentication (xid -4).
        Auth = 100,
        /// Re-register standard watches after reconnecting.
        SetWatches = 101,
        /// SASL token exchange.
        Sasl = 102,
        /// This session's ephemeral nodes.
        GetEphemerals = 103,
        /// Count of all descendants of a node.
        GetAllChildrenNumber = 104,
        /// Re-register standard and persistent watches after reconnecting.
        SetWatches2 = 105,
        /// Add a persistent (possibly recursive) watch.
        AddWatch = 106,
        /// Identities of this connection.
        WhoAmI = 107,
        /// Internal transaction type; never sent.
        CreateSession = -10,
        /// Close the session (ordinary xid).
        CloseSession = -11,
        /// Error result type inside a multi response.
        Error = -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::assert_enum;

    #[test]
    fn op_codes_round_trip() {
        assert_enum(OpCode::ALL, &[10, 23, 99, 108, -2, -9, -12, i32::MAX, i32::MIN]);
        assert_eq!(OpCode::ALL.len(), 33);
        assert_eq!(OpCode::CloseSession.code(), -11);
        assert_eq!(i32::from(OpCode::WhoAmI), 107);
    }
}
