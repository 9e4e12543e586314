//! [`ServerVersion`]: which ZooKeeper release the embedded server behaves as.

use std::fmt;
use std::str::FromStr;

/// The ZooKeeper release whose behaviour the embedded server follows where releases differ
/// ([`TestServerBuilder::version`](crate::TestServerBuilder::version), the binary's
/// `--zk-version`). The default is 3.8.0, Debian 12's `zookeeper` package, the server this
/// project's tests compare the embedded one with.
///
/// | behaviour | 3.8.0 | 3.8.6 | 3.9.3 |
/// |---|---|---|---|
/// | reported version (`srvr`, `mntr`, `envi`) | `3.8.0-zk-testing...` | `3.8.6-...` | `3.9.3-...` |
/// | a create inside `multi` | a type-1 result, path only | create2, container and TTL creates carry the stat (3.8.2, ZOOKEEPER-4026) | as 3.8.6 |
/// | `exists` on a node without READ | the stat | NOAUTH (3.8.4, ZOOKEEPER-4697) | as 3.8.6 |
/// | a watch event for a node without READ | dropped: Debian's 3.8.0 carries the fix of CVE-2024-23944 | dropped (3.8.4, ZOOKEEPER-4799) | as 3.8.6 |
/// | WatcherType 4/5 in checkWatches/removeWatches | MARSHALLINGERROR | MARSHALLINGERROR | accepted |
/// | a standard and a persistent watch on one path and connection | one mode per table, the last registered: a getData watch after a persistent one makes the data-table entry one-shot; a recursive watch also replaces a getChildren watch (it is filed in the child table too) | as 3.8.0 | both kept (ZOOKEEPER-4466) |
///
/// Identity sets (whoAmI, the `auth` ACL expansion) come out in the Java server's order in
/// every version, as every release orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum ServerVersion {
    /// 3.8.0 (Debian 12).
    #[default]
    V3_8_0,
    /// 3.8.6, the newest 3.8.
    V3_8_6,
    /// 3.9.3.
    V3_9_3,
}

impl ServerVersion {
    /// Every version, oldest first.
    pub const ALL: [ServerVersion; 3] = [ServerVersion::V3_8_0, ServerVersion::V3_8_6, ServerVersion::V3_9_3];

    /// `(major, minor, patch)`.
    pub fn triple(self) -> (u32, u32, u32) {
        match self {
            ServerVersion::V3_8_0 => (3, 8, 0),
            ServerVersion::V3_8_6 => (3, 8, 6),
            ServerVersion::V3_9_3 => (3, 9, 3),
        }
    }

    /// The version line the four-letter words report.
    pub(crate) fn banner(self) -> String {
        format!("{self}-zk-testing-{}, built on 1970-01-01 00:00 UTC", env!("CARGO_PKG_VERSION"))
    }

    /// Creates inside `multi` answer with their stat (create2, container and TTL).
    pub(crate) fn multi_create_stat(self) -> bool {
        self >= ServerVersion::V3_8_6
    }

    /// `exists` needs READ on the node.
    pub(crate) fn read_checks_exists(self) -> bool {
        self >= ServerVersion::V3_8_6
    }

    /// Watch events need READ on the node. Upstream from 3.8.4; Debian's 3.8.0, the 3.8.0
    /// this mode matches, carries the same fix (CVE-2024-23944), so every version drops them.
    pub(crate) fn watch_events_check_read(self) -> bool {
        self >= ServerVersion::V3_8_0
    }

    /// A watch registration replaces the connection's mode on that path in each table it goes
    /// in, and a recursive watch goes in the child table too (3.6-3.8); 3.9 keeps every mode.
    pub(crate) fn watch_modes_replace(self) -> bool {
        self < ServerVersion::V3_9_3
    }

    /// checkWatches/removeWatches take the persistent watcher types (4 and 5).
    pub(crate) fn persistent_watcher_types(self) -> bool {
        self >= ServerVersion::V3_9_3
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b, c) = self.triple();
        write!(f, "{a}.{b}.{c}")
    }
}

/// Parses `3.8.0`, `3.8.6` or `3.9.3`.
impl FromStr for ServerVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ServerVersion::ALL
            .into_iter()
            .find(|v| v.to_string() == s.trim())
            .ok_or_else(|| format!("unknown ZooKeeper version {s:?} (3.8.0, 3.8.6 or 3.9.3)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_print_and_order() {
        for v in ServerVersion::ALL {
            assert_eq!(v.to_string().parse::<ServerVersion>(), Ok(v));
            assert!(v.banner().starts_with(&format!("{v}-zk-testing-")));
        }
        assert!("3.7.0".parse::<ServerVersion>().is_err());
        assert_eq!(ServerVersion::default(), ServerVersion::V3_8_0);
        assert!(!ServerVersion::V3_8_0.multi_create_stat() && ServerVersion::V3_8_6.multi_create_stat());
        assert!(
            !ServerVersion::V3_8_6.persistent_watcher_types()
                && ServerVersion::V3_9_3.persistent_watcher_types()
        );
    }
}
