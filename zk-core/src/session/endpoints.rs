//! The host list of a connect string and the order in which hosts are tried.

use crate::error::{Error, Result};
use crate::path::Chroot;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};

/// A parsed connect string: `host1:port1,host2:port2/optional/chroot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectString {
    pub(crate) hosts: Vec<String>,
    pub(crate) chroot: Chroot,
    /// The string began with `tls://`: the client must speak TLS.
    pub(crate) tls: bool,
}

impl ConnectString {
    /// Parses a connect string. A host without a port gets 2181; IPv6 literals go in brackets.
    /// A `tls://` in front says the client must speak TLS.
    pub(crate) fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::BadArguments(format!("connect string {s:?}: {why}"));
        let (tls, rest) = match s.trim_start().strip_prefix("tls://") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (hosts_part, chroot) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let chroot = Chroot::new(chroot).map_err(|_| bad("invalid chroot path"))?;
        let mut hosts = Vec::new();
        for h in hosts_part.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            hosts.push(normalize_host(h).ok_or_else(|| bad("invalid host:port"))?);
        }
        if hosts.is_empty() {
            return Err(bad("no hosts"));
        }
        Ok(ConnectString { hosts, chroot, tls })
    }
}

fn normalize_host(h: &str) -> Option<String> {
    if let Some(rest) = h.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        return match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().ok().map(|_| h.to_owned()),
            None if after.is_empty() => Some(format!("{h}:2181")),
            None => None,
        };
    }
    match h.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') => {
            port.parse::<u16>().ok().map(|_| h.to_owned())
        }
        None => Some(format!("{h}:2181")),
        _ => None,
    }
}

/// Hands out hosts round-robin from a shuffled list, reshuffling after each full pass, so
/// that many clients spread over an ensemble and a dead host is not retried back to back.
#[derive(Debug)]
pub(crate) struct HostCycle {
    hosts: Vec<String>,
    next: usize,
    rng: StdRng,
}

impl HostCycle {
    /// The hosts in an order drawn from `seed`.
    pub(crate) fn new(mut hosts: Vec<String>, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        hosts.shuffle(&mut rng);
        HostCycle { hosts, next: 0, rng }
    }

    /// A seed for the next reconnect backoff's jitter.
    pub(crate) fn jitter_seed(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// The next host and whether this one starts a new pass over the list.
    pub(crate) fn next_host(&mut self) -> (String, bool) {
        if self.next == self.hosts.len() {
            self.next = 0;
            if self.hosts.len() > 1 {
                let last = self.hosts.last().cloned();
                self.hosts.shuffle(&mut self.rng);
                // Do not try the same host twice in a row across passes.
                if self.hosts.first().cloned() == last {
                    let n = self.hosts.len();
                    self.hosts.swap(0, n - 1);
                }
            }
        }
        let new_pass = self.next == 0;
        let h = self.hosts[self.next].clone();
        self.next += 1;
        (h, new_pass)
    }

    pub(crate) fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Takes `hosts` instead, in a new order; the next host is the first of it.
    pub(crate) fn replace(&mut self, mut hosts: Vec<String>) {
        hosts.shuffle(&mut self.rng);
        self.hosts = hosts;
        self.next = 0;
    }

    /// The hosts, in no particular order.
    pub(crate) fn hosts(&self) -> &[String] {
        &self.hosts
    }
}

/// The hosts of a host list without a chroot (`host:port,...`), each with its port.
pub(crate) fn parse_hosts(s: &str) -> Result<Vec<String>> {
    let cs = ConnectString::parse(s)?;
    if !cs.chroot.as_str().is_empty() || cs.tls {
        return Err(Error::BadArguments(format!(
            "host list {s:?}: only hosts, without a chroot or tls:// (the client keeps its own)"
        )));
    }
    Ok(cs.hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_and_chroot() {
        let c = ConnectString::parse("a:1, b:2,c/app/x").unwrap();
        assert_eq!(c.hosts, vec!["a:1", "b:2", "c:2181"]);
        assert_eq!(c.chroot.as_str(), "/app/x");
        assert!(!c.tls);
        let c = ConnectString::parse("[::1]:2181,[::1]").unwrap();
        assert_eq!(c.hosts, vec!["[::1]:2181", "[::1]:2181"]);
        let c = ConnectString::parse("tls://a:2281,b/app").unwrap();
        assert!(c.tls);
        assert_eq!(c.hosts, vec!["a:2281", "b:2181"]);
        assert_eq!(c.chroot.as_str(), "/app");
        for bad in ["", "/x", "a:notaport", "a:1/bad/", "a:99999", ":1", "tls://", "tcp://a:1"] {
            assert!(matches!(ConnectString::parse(bad), Err(Error::BadArguments(_))), "{bad}");
        }
    }

    #[test]
    fn host_cycle_visits_every_host_each_pass() {
        let mut c = HostCycle::new(vec!["a".into(), "b".into(), "c".into()], 7);
        for _ in 0..5 {
            let mut seen: Vec<_> = (0..3).map(|_| c.next_host().0).collect();
            seen.sort();
            assert_eq!(seen, vec!["a", "b", "c"]);
        }
        assert_eq!(c.len(), 3);
    }
}
