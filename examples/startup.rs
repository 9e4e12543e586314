//! Start-up time: how long until a fresh server answers its first request.
//!
//! ```text
//! cargo run --release --example startup -- [--embedded N] [--real N]
//! ```
//!
//! For each of N fresh servers: start it, connect a zk-core client, complete one `exists`.
//! Embedded: `TestServer::start()` (TCP on loopback) and `TestServer::client()` (in-process).
//! Real: zk-testing's harness starting Debian's ZooKeeper 3.8 (a JVM). One JSON line each.

use std::time::{Duration, Instant};

use zk_core::Client;
use zk_testing::{RealZooKeeper, TestServer};

fn json(kind: &str, mut samples: Vec<Duration>) -> String {
    samples.sort();
    let us = |d: Duration| d.as_micros();
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!(
        "{{\"server\":\"{kind}\",\"starts\":{},\"p50_us\":{},\"p99_us\":{},\"max_us\":{}}}",
        samples.len(),
        us(p(0.5)),
        us(p(0.99)),
        us(samples[samples.len() - 1])
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut embedded = 200usize;
    let mut real = 3usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let n = it.next().and_then(|v| v.parse().ok()).ok_or(format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--embedded" => embedded = n,
            "--real" => real = n,
            _ => return Err(format!("unknown flag {flag}; use --embedded N --real N").into()),
        }
    }
    if embedded > 0 {
        let mut tcp = Vec::new();
        let mut in_process = Vec::new();
        for _ in 0..embedded {
            let t = Instant::now();
            let server = TestServer::start().await?;
            let c = Client::connect(&server.connect_string()).await?;
            c.exists("/").await?;
            tcp.push(t.elapsed());
            c.close().await;
            drop(server);

            let t = Instant::now();
            let server = TestServer::builder().no_tcp().start().await?;
            let c = server.client().await?;
            c.exists("/").await?;
            in_process.push(t.elapsed());
            c.close().await;
        }
        println!("{}", json("embedded-tcp", tcp));
        println!("{}", json("embedded-in-process", in_process));
    }
    if real > 0 {
        let mut samples = Vec::new();
        for _ in 0..real {
            let t = Instant::now();
            let zk = RealZooKeeper::start().await?;
            let c = Client::connect(&zk.connect_string()).await?;
            c.exists("/").await?;
            samples.push(t.elapsed());
            c.close().await;
            zk.stop().await;
        }
        println!("{}", json("real-zookeeper-3.8", samples));
    }
    Ok(())
}
