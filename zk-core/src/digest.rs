//! The `digest` authentication scheme's ids: what a server derives from `addauth digest
//! user:password`, so that ACLs can name an identity without the server ever storing its
//! password (kazoo's `make_digest_acl`).
//!
//! The id of `user` with `password` is `user:` followed by the base64 (standard alphabet,
//! padded) of the SHA-1 of the text `user:password`. A server splits an auth payload at its
//! first `:`, so a user name cannot contain one.

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use crate::error::{Error, Result};
use crate::proto::{Acl, Perms};

/// The `digest` id of `user` with `password`: `user:base64(sha1("user:password"))`.
///
/// # Errors
/// [`Error::BadArguments`] when `user` is empty or contains `:` (no server could ever match
/// it: it splits the auth payload at the first `:`).
///
/// # Examples
///
/// ```
/// assert_eq!(zk_core::digest_id("user", "pw").unwrap(), "user:2Om+GBbT2q/tS6pdvACZbbm7/1A=");
/// ```
pub fn digest_id(user: &str, password: &str) -> Result<String> {
    if user.is_empty() || user.contains(':') {
        return Err(Error::BadArguments(format!(
            "a digest user name must be non-empty and without ':', got {user:?}"
        )));
    }
    Ok(digest_id_of_auth(&format!("{user}:{password}")))
}

/// The `digest` id a server derives from an auth payload `user:password` as sent (the user
/// is what comes before the first `:`; a payload without one is all user). For servers, such
/// as zk-testing's; clients want [`digest_id`].
pub fn digest_id_of_auth(user_colon_password: &str) -> String {
    let user = user_colon_password.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(user_colon_password.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

impl Acl {
    /// An entry granting `perms` to the `digest` identity of `user` with `password` (see
    /// [`digest_id`]); the client then authenticates with
    /// [`ClientBuilder::auth`](crate::ClientBuilder::auth)`("digest", b"user:password")`.
    ///
    /// # Errors
    /// As [`digest_id`].
    pub fn digest(perms: Perms, user: &str, password: &str) -> Result<Acl> {
        Ok(Acl::new(perms, "digest", digest_id(user, password)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_what_zookeeper_derives() {
        // The value ZooKeeper's DigestAuthenticationProvider.generateDigest("user:pw") gives.
        assert_eq!(digest_id("user", "pw").unwrap(), "user:2Om+GBbT2q/tS6pdvACZbbm7/1A=");
        assert_eq!(digest_id_of_auth("user:pw"), "user:2Om+GBbT2q/tS6pdvACZbbm7/1A=");
        // A password may contain ':'; the user is what comes before the first one.
        assert!(digest_id("a", "b:c").unwrap().starts_with("a:"));
        assert!(digest_id_of_auth("nocolon").starts_with("nocolon:"));
        let acl = Acl::digest(Perms::ALL, "user", "pw").unwrap();
        assert_eq!((acl.scheme.as_str(), acl.id.as_str()), ("digest", "user:2Om+GBbT2q/tS6pdvACZbbm7/1A="));
    }

    #[test]
    fn a_user_no_server_could_match_is_refused() {
        assert!(matches!(digest_id("a:b", "pw"), Err(Error::BadArguments(_))));
        assert!(matches!(digest_id("", "pw"), Err(Error::BadArguments(_))));
        assert!(matches!(Acl::digest(Perms::READ, "x:y", "pw"), Err(Error::BadArguments(_))));
    }
}
