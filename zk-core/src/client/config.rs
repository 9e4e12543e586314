//! The ensemble's configuration (`/zookeeper/config`), `reconfig`, and the host list.

use std::future::Future;

use super::ops::{decode, finish};
use super::{Client, OneshotWatcher};
use crate::error::{Error, Result};
use crate::proto::{GetDataRequest, GetDataResponse, OpCode, ReconfigRequest, Stat};
use crate::session::watches::WatchKind;
use crate::session::Command;

/// Where ZooKeeper keeps its configuration; never under a chroot.
pub const CONFIG_NODE: &str = "/zookeeper/config";

/// An ensemble's configuration, as `/zookeeper/config` holds it: one
/// `server.<id>=<host>:<quorum port>:<election port>[:<role>][;[<client host>:]<client port>]`
/// line per member and `version=<hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleConfig {
    /// The members, in the order of the text.
    pub servers: Vec<ServerSpec>,
    /// The configuration's version (`version=`, hexadecimal in the text), if the text has one.
    pub version: Option<i64>,
    /// The text itself.
    pub raw: String,
}

/// One member of an [`EnsembleConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Its `server.<id>`.
    pub id: u64,
    /// The host of its quorum and election ports.
    pub host: String,
    /// `participant` (the default) or `observer`.
    pub role: String,
    /// Where clients reach it (`host:port`), when the line says (a wildcard client address
    /// such as `0.0.0.0` is replaced by `host`).
    pub client: Option<String>,
}

impl EnsembleConfig {
    /// Parses the text of `/zookeeper/config` (empty on a standalone server: no servers).
    ///
    /// # Errors
    /// [`Error::Protocol`] for a line that does not parse.
    pub fn parse(text: &str) -> Result<EnsembleConfig> {
        let bad = |line: &str| Error::Protocol(format!("ensemble configuration line {line:?}"));
        let mut servers = Vec::new();
        let mut version = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) = line.split_once('=').ok_or_else(|| bad(line))?;
            if key == "version" {
                version = Some(i64::from_str_radix(value.trim(), 16).map_err(|_| bad(line))?);
                continue;
            }
            let Some(id) = key.strip_prefix("server.") else { continue };
            let id = id.parse().map_err(|_| bad(line))?;
            let (quorum, client) = match value.split_once(';') {
                Some((q, c)) => (q, Some(c.trim())),
                None => (value, None),
            };
            let mut parts = quorum.split(':');
            let host = parts.next().filter(|h| !h.is_empty()).ok_or_else(|| bad(line))?.to_owned();
            let ports: Vec<&str> = parts.collect();
            if ports.len() < 2 || ports[..2].iter().any(|p| p.parse::<u16>().is_err()) {
                return Err(bad(line));
            }
            let role = ports.get(2).map_or("participant", |r| r).to_owned();
            let client = match client {
                None | Some("") => None,
                Some(c) => Some(match c.rsplit_once(':') {
                    Some((h, p)) if p.parse::<u16>().is_ok() => {
                        let wildcard = h.is_empty() || h == "0.0.0.0" || h == "::" || h == "[::]";
                        format!("{}:{p}", if wildcard { host.as_str() } else { h })
                    }
                    None if c.parse::<u16>().is_ok() => format!("{host}:{c}"),
                    _ => return Err(bad(line)),
                }),
            };
            servers.push(ServerSpec { id, host, role, client });
        }
        Ok(EnsembleConfig { servers, version, raw: text.to_owned() })
    }

    /// The members' client addresses as a host list (`host:port,...`), if every member names
    /// one: what [`Client::update_hosts`] takes.
    pub fn hosts(&self) -> Option<String> {
        let hosts: Option<Vec<&str>> = self.servers.iter().map(|s| s.client.as_deref()).collect();
        hosts.filter(|h| !h.is_empty()).map(|h| h.join(","))
    }
}

/// A membership change for [`Client::reconfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconfig {
    /// Adds `joining` (`server.<id>=...` specs) and removes the members whose ids are in
    /// `leaving`.
    Incremental {
        /// Members to add, each as its configuration line.
        joining: Vec<String>,
        /// Ids of members to remove.
        leaving: Vec<u64>,
    },
    /// Replaces the whole membership with `members` (each a configuration line).
    Replace {
        /// The new membership.
        members: Vec<String>,
    },
}

impl Client {
    /// The ensemble's configuration and its node's [`Stat`] (ZooKeeper 3.5+). The node is
    /// read as the server names it, whatever this client's chroot.
    ///
    /// # Errors
    /// [`Error::NoAuth`] when the node's ACL denies reading; [`Error::Protocol`] for a text
    /// that does not parse; the errors of any request.
    pub fn get_config(&self) -> impl Future<Output = Result<(EnsembleConfig, Stat)>> + Send + 'static {
        let req = GetDataRequest { path: CONFIG_NODE.to_owned(), watch: false };
        finish(self.send(OpCode::GetData, &req, None, None), parse_config)
    }

    /// Like [`get_config`](Self::get_config), and watches the configuration: the watcher
    /// fires (with the path `/zookeeper/config`) at the next change.
    ///
    /// # Errors
    /// As [`get_config`](Self::get_config); no watch is set on an error.
    pub fn get_config_and_watch(
        &self,
    ) -> impl Future<Output = Result<(EnsembleConfig, Stat, OneshotWatcher)>> + Send + 'static {
        let (reg, make) = self.one_shot_at(CONFIG_NODE.to_owned(), WatchKind::Data);
        let req = GetDataRequest { path: CONFIG_NODE.to_owned(), watch: true };
        let fut = finish(self.send(OpCode::GetData, &req, Some(reg), None), parse_config);
        async move {
            let (config, stat) = fut.await?;
            Ok((config, stat, make()))
        }
    }

    /// Changes the ensemble's membership (ZooKeeper 3.5+ with `reconfigEnabled=true`; the
    /// caller needs the `super` identity unless the servers skip ACLs). `from_config`: the
    /// version the change is meant for ([`EnsembleConfig::version`]), or `None` for any.
    /// Returns the new configuration.
    ///
    /// # Errors
    /// [`Error::ReconfigDisabled`] on servers without reconfig (a standalone one, say);
    /// [`Error::BadVersion`] when the configuration is not at `from_config`;
    /// [`Error::NewConfigNoQuorum`], [`Error::ReconfigInProgress`], [`Error::NoAuth`],
    /// [`Error::BadArguments`] for a change the server refuses or an empty one.
    pub fn reconfig(
        &self,
        change: Reconfig,
        from_config: Option<i64>,
    ) -> impl Future<Output = Result<(EnsembleConfig, Stat)>> + Send + 'static {
        let req = match change {
            Reconfig::Incremental { joining, leaving } if joining.is_empty() && leaving.is_empty() => {
                Err(Error::BadArguments("a reconfig with nothing joining or leaving".into()))
            }
            Reconfig::Replace { members } if members.is_empty() => {
                Err(Error::BadArguments("a reconfig to no members".into()))
            }
            // Absent fields go as null strings: a non-null `newMembers`, even empty, makes the
            // server read a non-incremental reconfig.
            Reconfig::Incremental { joining, leaving } => Ok(ReconfigRequest {
                joining_servers: (!joining.is_empty()).then(|| joining.join(",")),
                leaving_servers: (!leaving.is_empty())
                    .then(|| leaving.iter().map(u64::to_string).collect::<Vec<_>>().join(",")),
                new_members: None,
                cur_config_id: from_config.unwrap_or(-1),
            }),
            Reconfig::Replace { members } => Ok(ReconfigRequest {
                joining_servers: None,
                leaving_servers: None,
                new_members: Some(members.join(",")),
                cur_config_id: from_config.unwrap_or(-1),
            }),
        };
        finish(req.and_then(|req| self.send(OpCode::Reconfig, &req, None, None)), parse_config)
    }

    /// Connects to `hosts` (`host:port,...`, no chroot: the client keeps its own) from now
    /// on. The session task takes the list when it next runs (so [`hosts`](Self::hosts) may
    /// show the old list for a moment); the current connection stays until it breaks, and
    /// the next connect picks among the new hosts. For following an ensemble whose membership changes (zk-recipes'
    /// `EnsembleTracker` calls it with each new [`EnsembleConfig::hosts`]).
    ///
    /// # Errors
    /// [`Error::BadArguments`] for a list that does not parse or carries a chroot;
    /// [`Error::Closed`] (or the session's end) when the client ended.
    pub fn update_hosts(&self, hosts: &str) -> Result<()> {
        let hosts = crate::session::endpoints::parse_hosts(hosts)?;
        self.inner.cmd_tx.send(Command::SetHosts(hosts)).map_err(|_| self.terminal_error())
    }

    /// The hosts the client connects to (its connect string's, or the last
    /// [`update_hosts`](Self::update_hosts)'), in no particular order.
    pub fn hosts(&self) -> Vec<String> {
        self.inner.state_rx.borrow().hosts.clone()
    }
}

fn parse_config(body: &[u8]) -> Result<(EnsembleConfig, Stat)> {
    let r: GetDataResponse = decode(body)?;
    let text = String::from_utf8(r.data.unwrap_or_default())
        .map_err(|_| Error::Protocol("the ensemble configuration is not UTF-8".into()))?;
    Ok((EnsembleConfig::parse(&text)?, r.stat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_parses_with_roles_client_addresses_and_version() {
        let text = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                    server.2=10.0.0.2:2888:3888;10.0.0.2:2182\n\
                    server.3=zk3:2888:3888:observer;2183\nversion=10000000a\n";
        let config = EnsembleConfig::parse(text).unwrap();
        assert_eq!(config.version, Some(0x1_0000_000a));
        let clients: Vec<_> = config.servers.iter().map(|s| s.client.clone().unwrap()).collect();
        assert_eq!(clients, ["127.0.0.1:2181", "10.0.0.2:2182", "zk3:2183"]);
        assert_eq!(config.servers[2].role, "observer");
        assert_eq!(config.servers[1].role, "participant");
        assert_eq!(config.hosts().as_deref(), Some("127.0.0.1:2181,10.0.0.2:2182,zk3:2183"));
        assert_eq!(EnsembleConfig::parse("").unwrap().servers, []);
        assert_eq!(EnsembleConfig::parse("").unwrap().hosts(), None);
        let no_client = EnsembleConfig::parse("server.1=h:1:2\n").unwrap();
        assert_eq!(no_client.hosts(), None, "a member without a client address");
        for bad in
            ["server.x=h:1:2", "server.1=h:1", "server.1=:1:2", "version=zz", "server.1=h:1:2;h:port", "junk"]
        {
            assert!(matches!(EnsembleConfig::parse(bad), Err(Error::Protocol(_))), "{bad}");
        }
    }
}
