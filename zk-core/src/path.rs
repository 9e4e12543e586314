//! Path validation (§10.1 of the protocol reference) and chroot mapping.

use crate::error::{Error, Result};

/// Checks `path` the way the server's full validation does, so a bad path is reported with a
/// reason before anything is sent.
///
/// # Errors
/// [`Error::InvalidPath`] naming the rule that failed.
pub fn validate_path(path: &str) -> Result<()> {
    validate_inner(path, false)
}

/// Validation for the path given to a sequential create: the server appends the suffix before
/// validating, so a trailing `/` (as in `/queue/`) is allowed.
pub(crate) fn validate_sequential_path(path: &str) -> Result<()> {
    validate_inner(path, true)
}

fn invalid(path: &str, reason: &'static str) -> Error {
    Error::InvalidPath { path: path.to_owned(), reason }
}

fn validate_inner(path: &str, sequential: bool) -> Result<()> {
    if path.is_empty() {
        return Err(invalid(path, "path must not be empty"));
    }
    if !path.starts_with('/') {
        return Err(invalid(path, "path must start with '/'"));
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') && !sequential {
        return Err(invalid(path, "path must not end with '/'"));
    }
    let body = if sequential && path.ends_with('/') { &path[1..path.len() - 1] } else { &path[1..] };
    for component in body.split('/') {
        match component {
            "" => return Err(invalid(path, "empty path component ('//')")),
            "." | ".." => return Err(invalid(path, "'.' and '..' components are not allowed")),
            _ => {}
        }
    }
    if let Some(c) = path.chars().find(|&c| forbidden_char(c)) {
        return Err(invalid(
            path,
            if c == '\0' { "path contains a NUL character" } else { "path contains a forbidden character" },
        ));
    }
    Ok(())
}

/// Characters ZooKeeper refuses in paths; everything above U+FFFF is refused too because Java
/// sees it as surrogates (U+D800..U+DFFF).
fn forbidden_char(c: char) -> bool {
    let u = c as u32;
    u <= 0x1f || (0x7f..=0x9f).contains(&u) || (0xd800..=0xf8ff).contains(&u) || u >= 0xfff0
}

/// A validated chroot prefix (`""` when there is none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Chroot(String);

impl Chroot {
    /// Parses a chroot (`/app/x`); `""` or `/` mean none.
    pub(crate) fn new(chroot: &str) -> Result<Self> {
        if chroot.is_empty() || chroot == "/" {
            return Ok(Chroot(String::new()));
        }
        validate_path(chroot)?;
        Ok(Chroot(chroot.to_owned()))
    }

    /// The chroot as a path, `""` for none.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Client path -> server path.
    pub(crate) fn to_server(&self, path: &str) -> String {
        if self.0.is_empty() {
            path.to_owned()
        } else if path == "/" {
            self.0.clone()
        } else {
            let mut s = String::with_capacity(self.0.len() + path.len());
            s.push_str(&self.0);
            s.push_str(path);
            s
        }
    }

    /// Server path -> client path; paths outside the chroot come back unchanged.
    pub(crate) fn to_client(&self, path: &str) -> String {
        self.strip(path).unwrap_or(path).to_owned()
    }

    /// Server path -> client path, or `None` when the path is outside the chroot.
    pub(crate) fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        if self.0.is_empty() {
            return Some(path);
        }
        let rest = path.strip_prefix(self.0.as_str())?;
        if rest.is_empty() {
            Some("/")
        } else if rest.starts_with('/') {
            Some(rest)
        } else {
            None
        }
    }
}

/// The parent of a path (`/` for top-level nodes and for `/` itself).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The sequence number of a sequential node name: its last 10 characters (`%010d`), or the
/// last 11 for the negative values that follow an overflow past `i32::MAX` (§5.3).
///
/// Ten trailing digits are always read as a positive number, so a name whose prefix ends in
/// `-` is not mistaken for a negative one.
pub fn sequence_number(name: &str) -> Option<i32> {
    let tail = |n: usize| name.len().checked_sub(n).and_then(|i| name.get(i..));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(t) = tail(10) {
        if digits(t) {
            if let Ok(v) = t.parse() {
                return Some(v);
            }
        } else if t.starts_with('-') && digits(&t[1..]) {
            return t.parse().ok();
        }
    }
    tail(11).filter(|t| t.starts_with('-') && digits(&t[1..])).and_then(|t| t.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_paths() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/...", "/a b", "/zookeeper"] {
            validate_path(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/a/..",
            "/a\0b",
            "/a\u{1}",
            "/\u{e000}",
            "/\u{1F600}",
            "/\u{fff0}",
        ] {
            assert!(matches!(validate_path(bad), Err(Error::InvalidPath { .. })), "{bad:?}");
        }
        validate_sequential_path("/q/").unwrap();
        validate_sequential_path("/lock-").unwrap();
        assert!(validate_sequential_path("/q//").is_err());
        // The server would name the node "//0000000001" and refuse it; so does Java's client.
        assert!(matches!(validate_sequential_path("//"), Err(Error::InvalidPath { .. })));
        validate_sequential_path("/").unwrap();
    }

    #[test]
    fn chroot_maps_both_ways() {
        let c = Chroot::new("/app").unwrap();
        assert_eq!(c.to_server("/"), "/app");
        assert_eq!(c.to_server("/x"), "/app/x");
        assert_eq!(c.to_client("/app"), "/");
        assert_eq!(c.to_client("/app/x/y"), "/x/y");
        assert_eq!(c.strip("/apple"), None);
        let none = Chroot::new("/").unwrap();
        assert_eq!(none.to_server("/x"), "/x");
        assert!(Chroot::new("/bad/").is_err());
    }

    #[test]
    fn parents_joins_and_sequences() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(sequence_number("lock-0000000042"), Some(42));
        assert_eq!(sequence_number("lock--2147483648"), Some(i32::MIN));
        assert_eq!(sequence_number("lock--000000001"), Some(-1));
        assert_eq!(sequence_number("0000000000"), Some(0));
        assert_eq!(sequence_number("abc"), None);
        assert_eq!(sequence_number("lock-00000x0042"), None);
    }
}
