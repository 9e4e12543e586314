//! SASL for ZooKeeper: the DIGEST-MD5 mechanism (RFC 2831), which ZooKeeper's own JAAS
//! `DigestLoginModule` serves, as the client side ([`DigestMd5Client`]) and the server-side
//! checks an embedded server needs ([`DigestMd5Server`]).
//!
//! The exchange runs over the sasl request (op 102) right after the session handshake, before
//! any other request of the connection, and again on every new connection: the server keeps
//! the identity (`sasl:<user>`) per connection. Two round trips: the client sends an empty
//! token and gets the server's challenge (realm, nonce, qop), answers with its digest over
//! the password, and gets `rspauth`, the server's proof that it knew the password too. A
//! server that rejects the digest answers AUTHFAILED and closes the connection.
//!
//! ZooKeeper's names: the service is `zookeeper`, the server name and realm `zk-sasl-md5`, so
//! the `digest-uri` is `zookeeper/zk-sasl-md5`. Only `qop=auth` (authentication, no integrity
//! or confidentiality layer) is used, as ZooKeeper does.

use std::collections::HashMap;
use std::fmt::Write as _;

use md5::{Digest, Md5};

use crate::error::{Error, Result};

/// The realm and server name ZooKeeper's servers use for DIGEST-MD5.
pub const ZOOKEEPER_REALM: &str = "zk-sasl-md5";
/// The `digest-uri` ZooKeeper's clients send: service `zookeeper`, server `zk-sasl-md5`.
pub const ZOOKEEPER_DIGEST_URI: &str = "zookeeper/zk-sasl-md5";

/// The client side of a DIGEST-MD5 exchange.
#[derive(Clone)]
pub struct DigestMd5Client {
    username: String,
    password: String,
    cnonce: String,
    /// The `rspauth` the server must send back, once the response was made.
    expected_rspauth: Option<String>,
    complete: bool,
}

impl std::fmt::Debug for DigestMd5Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out of logs.
        f.debug_struct("DigestMd5Client")
            .field("username", &self.username)
            .field("complete", &self.complete)
            .finish()
    }
}

impl DigestMd5Client {
    /// A client authenticating as `username` with `password`; `cnonce` is the client's nonce
    /// (any unpredictable string without `"` or `\`, e.g. random hex).
    pub fn new(username: &str, password: &str, cnonce: &str) -> Self {
        DigestMd5Client {
            username: username.to_owned(),
            password: password.to_owned(),
            cnonce: cnonce.to_owned(),
            expected_rspauth: None,
            complete: false,
        }
    }

    /// The first token: DIGEST-MD5 has no initial response, so it is empty.
    pub fn initial(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Whether the server proved it knows the password (`rspauth` checked).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The answer to the server's token: the digest response to its challenge, then nothing
    /// (an empty token) once its `rspauth` checks out.
    ///
    /// # Errors
    /// [`Error::AuthFailed`] for a challenge without a nonce, that offers no `auth` qop or
    /// another algorithm than `md5-sess`, or an `rspauth` that does not match (the server
    /// does not know the password: it is not the server it claims to be).
    pub fn step(&mut self, server_token: &[u8]) -> Result<Vec<u8>> {
        let text = std::str::from_utf8(server_token).map_err(|_| fail("the server's token is not UTF-8"))?;
        let directives = parse(text).ok_or_else(|| fail("the server's token does not parse"))?;
        if let Some(expected) = &self.expected_rspauth {
            let rspauth = directives.get("rspauth").ok_or_else(|| fail("no rspauth from the server"))?;
            if rspauth != expected {
                return Err(fail("the server's rspauth does not match: it does not know the password"));
            }
            self.complete = true;
            return Ok(Vec::new());
        }
        let nonce = directives.get("nonce").ok_or_else(|| fail("no nonce in the challenge"))?;
        let qops = directives.get("qop").map_or("auth", String::as_str);
        if !qops.split(',').any(|q| q.trim() == "auth") {
            return Err(fail(&format!("the server offers qop {qops:?}, not auth")));
        }
        if directives.get("algorithm").is_some_and(|a| a != "md5-sess") {
            return Err(fail("the server asks for another algorithm than md5-sess"));
        }
        let realm = directives.get("realm").map_or(ZOOKEEPER_REALM, String::as_str).to_owned();
        let utf8 = directives.get("charset").is_some_and(|c| c == "utf-8");
        let inputs = Inputs {
            username: &self.username,
            realm: &realm,
            password: &self.password,
            nonce,
            cnonce: &self.cnonce,
            nc: "00000001",
            digest_uri: ZOOKEEPER_DIGEST_URI,
            authzid: None,
        };
        let response = inputs.response("AUTHENTICATE");
        self.expected_rspauth = Some(inputs.response(""));
        let mut out = String::new();
        if utf8 {
            out.push_str("charset=utf-8,");
        }
        let _ = write!(
            out,
            "username=\"{}\",realm=\"{}\",nonce=\"{}\",nc={},cnonce=\"{}\",digest-uri=\"{}\",maxbuf=65536,response={},qop=auth",
            quote(&self.username),
            quote(&realm),
            quote(nonce),
            inputs.nc,
            quote(&self.cnonce),
            inputs.digest_uri,
            response
        );
        Ok(out.into_bytes())
    }
}

/// The server side of a DIGEST-MD5 exchange, for an embedded server: its challenge, and the
/// check of the client's response against the user's password.
#[derive(Debug, Clone)]
pub struct DigestMd5Server {
    nonce: String,
}

impl DigestMd5Server {
    /// A server exchange with this `nonce` (unpredictable, without `"` or `\`).
    pub fn new(nonce: &str) -> Self {
        DigestMd5Server { nonce: nonce.to_owned() }
    }

    /// The challenge, as ZooKeeper's servers send it.
    pub fn challenge(&self) -> Vec<u8> {
        format!(
            "realm=\"{ZOOKEEPER_REALM}\",nonce=\"{}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
            self.nonce
        )
        .into_bytes()
    }

    /// Checks the client's response: the user it names, and the `rspauth` token to send back
    /// when `password_of` knows the user and the digest matches.
    ///
    /// # Errors
    /// [`Error::AuthFailed`] for a response that does not parse, answers another nonce or
    /// `digest-uri`, names an unknown user, or whose digest does not match.
    pub fn verify(
        &self,
        response: &[u8],
        password_of: impl Fn(&str) -> Option<String>,
    ) -> Result<(String, Vec<u8>)> {
        let text = std::str::from_utf8(response).map_err(|_| fail("the client's response is not UTF-8"))?;
        let d = parse(text).ok_or_else(|| fail("the client's response does not parse"))?;
        let get = |key: &str| d.get(key).ok_or_else(|| fail(&format!("no {key} in the client's response")));
        let (username, nonce, cnonce, nc, uri, digest) = (
            get("username")?,
            get("nonce")?,
            get("cnonce")?,
            get("nc")?,
            get("digest-uri")?,
            get("response")?,
        );
        if nonce != &self.nonce {
            return Err(fail("the response answers another nonce"));
        }
        if uri != ZOOKEEPER_DIGEST_URI {
            return Err(fail(&format!("digest-uri {uri:?} is not {ZOOKEEPER_DIGEST_URI:?}")));
        }
        if d.get("qop").is_some_and(|q| q != "auth") {
            return Err(fail("only qop=auth is served"));
        }
        // A user may act only as itself (ZooKeeper's callback handler authorizes no one else).
        let authzid = d.get("authzid").map(String::as_str);
        if authzid.is_some_and(|id| id != username) {
            return Err(fail(&format!("{username:?} may not act as {authzid:?}")));
        }
        let password = password_of(username).ok_or_else(|| fail(&format!("no user {username:?}")))?;
        let realm = d.get("realm").map_or(ZOOKEEPER_REALM, String::as_str);
        let inputs =
            Inputs { username, realm, password: &password, nonce, cnonce, nc, digest_uri: uri, authzid };
        if &inputs.response("AUTHENTICATE") != digest {
            return Err(fail("wrong password"));
        }
        Ok((username.clone(), format!("rspauth={}", inputs.response("")).into_bytes()))
    }
}

/// What the digests of RFC 2831 section 2.1.2.1 are made of.
struct Inputs<'a> {
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a str,
    cnonce: &'a str,
    nc: &'a str,
    digest_uri: &'a str,
    /// The authorization id, when the client sent one (Java's client sends its user name).
    authzid: Option<&'a str>,
}

impl Inputs<'_> {
    /// The `response` value (with `method` `AUTHENTICATE`), or the `rspauth` value (with an
    /// empty method), for `qop=auth` and no authorization id:
    /// `HEX(MD5(HEX(MD5(A1)) ":" nonce ":" nc ":" cnonce ":" qop ":" HEX(MD5(A2))))`, with
    /// `A1 = MD5(user ":" realm ":" password) ":" nonce ":" cnonce [":" authzid]` and
    /// `A2 = method ":" digest-uri`.
    fn response(&self, method: &str) -> String {
        let secret = Md5::digest(format!("{}:{}:{}", self.username, self.realm, self.password));
        let mut a1 = secret.to_vec();
        a1.extend_from_slice(format!(":{}:{}", self.nonce, self.cnonce).as_bytes());
        if let Some(authzid) = self.authzid {
            a1.extend_from_slice(format!(":{authzid}").as_bytes());
        }
        let ha1 = hex(&Md5::digest(&a1));
        let ha2 = hex(&Md5::digest(format!("{method}:{}", self.digest_uri)));
        hex(&Md5::digest(format!("{ha1}:{}:{}:{}:auth:{ha2}", self.nonce, self.nc, self.cnonce)))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `value` with `"` and `\` escaped, for a quoted-string.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `key=value` / `key="quoted"` directives of a DIGEST-MD5 token (keys lower-cased; the
/// last of a repeated key wins, except `qop`, whose values are joined with commas).
fn parse(text: &str) -> Option<HashMap<String, String>> {
    let mut out: HashMap<String, String> = HashMap::new();
    let mut rest = text.trim();
    // Bounded: each turn consumes at least the `=` of a directive.
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            rest = quoted[end?..].trim_start();
            value = v;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            // A token: no separators inside.
            if value.contains(|c: char| c.is_whitespace() || c == '=' || c == '"') {
                return None;
            }
            rest = &rest[end..];
        }
        if key.is_empty() {
            return None;
        }
        match out.get_mut(&key) {
            Some(old) if key == "qop" => {
                old.push(',');
                old.push_str(&value);
            }
            _ => {
                out.insert(key, value);
            }
        }
        rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if rest.is_empty() => rest,
            None => return None,
        };
    }
    Some(out)
}

fn fail(why: &str) -> Error {
    tracing::debug!(why, "SASL DIGEST-MD5 failed");
    Error::AuthFailed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2831 section 4's example (an IMAP login): its response and rspauth.
    #[test]
    fn the_rfc_example_gives_its_response_and_rspauth() {
        let inputs = Inputs {
            username: "chris",
            realm: "elwood.innosoft.com",
            password: "secret",
            nonce: "OA6MG9tEQGm2hh",
            cnonce: "OA6MHXh6VqTrRk",
            nc: "00000001",
            digest_uri: "imap/elwood.innosoft.com",
            authzid: None,
        };
        assert_eq!(inputs.response("AUTHENTICATE"), "d388dad90d4bbd760a152321f2143af7");
        assert_eq!(inputs.response(""), "ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn a_client_and_a_server_agree_and_a_wrong_password_fails() {
        let server = DigestMd5Server::new("n0nce");
        let users = |u: &str| (u == "bob").then(|| "s3cret".to_owned());
        let mut client = DigestMd5Client::new("bob", "s3cret", "cn0nce");
        assert!(client.initial().is_empty());
        let response = client.step(&server.challenge()).expect("a response");
        let (user, rspauth) = server.verify(&response, users).expect("verified");
        assert_eq!(user, "bob");
        assert!(!client.is_complete());
        assert_eq!(client.step(&rspauth).expect("rspauth checks out"), b"");
        assert!(client.is_complete());

        let mut wrong = DigestMd5Client::new("bob", "guess", "cn0nce");
        let response = wrong.step(&server.challenge()).expect("a response");
        assert_eq!(server.verify(&response, users).map(|_| ()), Err(Error::AuthFailed));
        let mut stranger = DigestMd5Client::new("eve", "s3cret", "cn0nce");
        let response = stranger.step(&server.challenge()).expect("a response");
        assert_eq!(server.verify(&response, users).map(|_| ()), Err(Error::AuthFailed));
        // A server that does not know the password cannot fake rspauth.
        let mut client = DigestMd5Client::new("bob", "s3cret", "cn0nce");
        client.step(&server.challenge()).expect("a response");
        assert_eq!(client.step(b"rspauth=00000000000000000000000000000000"), Err(Error::AuthFailed));
    }

    /// Java's client adds `authzid` (its user name), which goes into A1; acting as another
    /// user is refused.
    #[test]
    fn an_authzid_goes_into_the_digest_and_must_be_the_user() {
        let server = DigestMd5Server::new("n0nce");
        let users = |u: &str| (u == "bob").then(|| "s3cret".to_owned());
        let with = |authzid: &str| {
            let inputs = Inputs {
                username: "bob",
                realm: ZOOKEEPER_REALM,
                password: "s3cret",
                nonce: "n0nce",
                cnonce: "c",
                nc: "00000001",
                digest_uri: ZOOKEEPER_DIGEST_URI,
                authzid: Some(authzid),
            };
            format!(
                "username=\"bob\",realm=\"{ZOOKEEPER_REALM}\",nonce=\"n0nce\",nc=00000001,cnonce=\"c\",\
                 digest-uri=\"{ZOOKEEPER_DIGEST_URI}\",response={},qop=auth,authzid=\"{authzid}\"",
                inputs.response("AUTHENTICATE")
            )
        };
        let (user, _) = server.verify(with("bob").as_bytes(), users).expect("bob as bob");
        assert_eq!(user, "bob");
        let without = with("bob").replace(",authzid=\"bob\"", "");
        assert_eq!(
            server.verify(without.as_bytes(), users).map(|_| ()),
            Err(Error::AuthFailed),
            "digest over A1 with authzid"
        );
        assert_eq!(server.verify(with("alice").as_bytes(), users).map(|_| ()), Err(Error::AuthFailed));
    }

    #[test]
    fn directives_parse_with_quotes_escapes_and_repeated_qop() {
        let d = parse(r#"realm="a,b",nonce="x\"y", qop="auth",qop=auth-int , algorithm=md5-sess"#)
            .expect("parses");
        assert_eq!(d["realm"], "a,b");
        assert_eq!(d["nonce"], "x\"y");
        assert_eq!(d["qop"], "auth,auth-int");
        assert_eq!(d["algorithm"], "md5-sess");
        for bad in ["nonce", "nonce=\"open", "=x", "a=1 b=2"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let mut client = DigestMd5Client::new("u", "p", "c");
        for bad in
            [&b"realm=\"r\""[..], b"nonce=\"n\",qop=\"auth-conf\"", b"nonce=\"n\",algorithm=md5", b"\xff"]
        {
            assert_eq!(client.step(bad).map(|_| ()), Err(Error::AuthFailed), "{bad:?}");
        }
    }
}
