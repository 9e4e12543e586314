//! Four-letter words on a raw connection (§12): `ruok`, `srvr`, `stat`, `envi`, `mntr`,
//! `conf`, `cons`, `wchs`, `dump`, `isro`. All are enabled (a test server has nothing to hide).

use std::fmt::Write;

use tokio::time::Instant;

use super::core::Core;
use super::Config;

/// The text answer to `word`, from the core of a server with settings `config`, in `mode`
/// (`standalone`, `read-only`, `leader` or `follower`).
pub(crate) fn answer(core: &Core, config: &Config, mode: &str, word: &str) -> String {
    // The version string, in the form tools parse (`3.8.0-...`): the release the server
    // behaves as (`ServerVersion`).
    let version = config.version.banner();
    let mut out = String::new();
    let conns = core.conns.len();
    let zxid = core.state.last_zxid();
    let nodes = core.state.node_count();
    let stats = |out: &mut String| {
        let _ = writeln!(out, "Zookeeper version: {version}");
        let _ = writeln!(out, "Latency min/avg/max: 0/0.0/0");
        let _ = writeln!(out, "Received: {}", core.packets_received);
        let _ = writeln!(out, "Sent: {}", core.packets_sent);
        let _ = writeln!(out, "Connections: {conns}");
        let _ = writeln!(out, "Outstanding: 0");
        let _ = writeln!(out, "Zxid: 0x{zxid:x}");
        let _ = writeln!(out, "Mode: {mode}");
        let _ = writeln!(out, "Node count: {nodes}");
    };
    let now = Instant::now();
    let cons = |out: &mut String| {
        let mut list: Vec<_> = core.conns.iter().collect();
        list.sort_by_key(|(id, _)| **id);
        for (_, c) in list {
            let _ = writeln!(
                out,
                " /{}:0[1](queued=0,recved={},sent={},sid=0x{:x},lop={},est={},to={},lcxid=0x0,lzxid=0x{:x},lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)",
                c.peer,
                c.received,
                c.sent,
                c.session,
                c.last_op,
                now.duration_since(c.established).as_millis(),
                core.sessions.lock().get(c.session).map_or(0, |s| s.timeout.as_millis()),
                zxid,
            );
        }
    };
    match word {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str(if core.read_only { "ro" } else { "rw" }),
        "srvr" => stats(&mut out),
        "stat" => {
            let _ = writeln!(out, "Zookeeper version: {version}");
            let _ = writeln!(out, "Clients:");
            cons(&mut out);
            out.push('\n');
            let mut rest = String::new();
            stats(&mut rest);
            out.push_str(rest.split_once('\n').map_or("", |(_, r)| r));
        }
        "cons" => {
            cons(&mut out);
            out.push('\n');
        }
        "mntr" => {
            let kv = [
                ("zk_version", version.clone()),
                ("zk_server_state", mode.to_owned()),
                ("zk_avg_latency", "0.0".to_owned()),
                ("zk_max_latency", "0".to_owned()),
                ("zk_min_latency", "0".to_owned()),
                ("zk_packets_received", core.packets_received.to_string()),
                ("zk_packets_sent", core.packets_sent.to_string()),
                ("zk_num_alive_connections", conns.to_string()),
                ("zk_outstanding_requests", "0".to_owned()),
                ("zk_znode_count", nodes.to_string()),
                ("zk_watch_count", core.state.watch_count().to_string()),
                ("zk_ephemerals_count", core.state.ephemeral_count().to_string()),
                ("zk_approximate_data_size", core.state.approximate_data_size().to_string()),
                ("zk_open_file_descriptor_count", conns.to_string()),
                ("zk_global_sessions", core.sessions.lock().len().to_string()),
            ];
            for (k, v) in kv {
                let _ = writeln!(out, "{k}\t{v}");
            }
        }
        "conf" => {
            let c = config;
            let port = c.addr.map_or(0, |a| a.port());
            let tick = c.tick.as_millis();
            let _ = writeln!(out, "clientPort={port}");
            let _ = writeln!(out, "dataDir=memory");
            let _ = writeln!(out, "tickTime={tick}");
            let _ = writeln!(out, "maxClientCnxns=0");
            let _ = writeln!(out, "minSessionTimeout={}", tick * 2);
            let _ = writeln!(out, "maxSessionTimeout={}", tick * 20);
            let _ = writeln!(out, "serverId=0");
            let _ = writeln!(out, "seed={}", c.seed);
        }
        "envi" => {
            let _ = writeln!(out, "Environment:");
            let _ = writeln!(out, "zookeeper.version={version}");
            let _ = writeln!(out, "host.name=localhost");
            let _ = writeln!(out, "os.name={}", std::env::consts::OS);
            let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
            let _ = writeln!(out, "zk_testing.seed={}", config.seed);
        }
        "wchs" => {
            let by_conn = core.state.watches_by_conn();
            let paths: std::collections::BTreeSet<&String> = by_conn.iter().flat_map(|(_, p)| p).collect();
            let _ = writeln!(out, "{} connections watching {} paths", by_conn.len(), paths.len());
            let _ = writeln!(out, "Total watches:{}", core.state.watch_count());
        }
        "dump" => {
            let _ = writeln!(out, "SessionTracker dump:");
            for (id, s) in core.sessions.lock().list() {
                let _ = writeln!(out, "0x{id:x}\t{}ms", s.timeout.as_millis());
            }
            let _ = writeln!(out, "ephemeral nodes dump:");
            for (id, _) in core.sessions.lock().list() {
                let eph = core.state.ephemerals(id);
                if !eph.is_empty() {
                    let _ = writeln!(out, "Sessions with Ephemerals ({}):", 1);
                    let _ = writeln!(out, "0x{id:x}:");
                    for p in eph {
                        let _ = writeln!(out, "\t{p}");
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{other} is not executed because it is not in the whitelist.");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{four_letter_word, TestServer};

    #[tokio::test]
    async fn conf_reports_the_bound_port() {
        let server = TestServer::start().await.unwrap();
        let addr = server.addr().unwrap();
        assert_ne!(addr.port(), 0);
        let conf = four_letter_word(addr, "conf").await.unwrap();
        assert!(conf.contains(&format!("clientPort={}\n", addr.port())), "{conf}");
    }
}
