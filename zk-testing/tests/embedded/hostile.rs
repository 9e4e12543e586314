//! Hostile input over TCP: the offending connection closes (or gets the reference's answer)
//! and the server keeps serving everyone else. No panics.

use std::net::SocketAddr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_core::proto::{write_frame, ConnectRequest, ConnectResponse, Record, ReplyHeader, RequestHeader};
use zk_core::Client;
use zk_testing::TestServer;

/// Sends `bytes`, then reads until the server closes (bounded); returns what came back.
async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    // End of our side: a server waiting for the rest of a frame sees EOF.
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "server did not close the connection after {} hostile bytes", bytes.len());
    out
}

fn handshake() -> Vec<u8> {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 10_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    let mut v = Vec::new();
    write_frame(&mut v, |b| req.encode(b));
    v
}

async fn still_serving(server: &TestServer) {
    let c = Client::connect(&server.connect_string()).await.expect("server still accepts clients");
    assert!(c.exists("/").await.unwrap().is_some());
    c.close().await;
}

#[tokio::test]
async fn bad_lengths_close_the_connection() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr().unwrap();
    // Over the 1 MiB limit, then negative, as the first frame and after a handshake.
    for prefix in [&0x0010_0000i32.to_be_bytes()[..], &(-5i32).to_be_bytes()[..]] {
        assert!(send_raw(addr, prefix).await.is_empty());
        let mut v = handshake();
        v.extend_from_slice(prefix);
        let out = send_raw(addr, &v).await;
        let resp = ConnectResponse::decode(&mut &out[4..]).expect("handshake answered first");
        assert!(resp.timeout_ms > 0);
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn truncated_frames_and_garbage_do_not_hurt_others() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr().unwrap();
    let live = Client::connect(&server.connect_string()).await.unwrap();
    // A frame that promises more than it sends, then EOF.
    assert!(send_raw(addr, &[0, 0, 0, 50, 1, 2, 3]).await.is_empty());
    // A handshake cut short.
    let h = handshake();
    assert!(send_raw(addr, &h[..20]).await.is_empty());
    // Seeded random bytes, many connections.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for _ in 0..50 {
        let len = rng.random_range(1..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        send_raw(addr, &bytes).await;
    }
    // Random bytes after a valid handshake.
    for _ in 0..20 {
        let mut v = handshake();
        let len = rng.random_range(1..300);
        v.extend((0..len).map(|_| rng.random::<u8>()));
        send_raw(addr, &v).await;
    }
    assert!(live.exists("/").await.unwrap().is_some(), "an existing session is unaffected");
    still_serving(&server).await;
}

#[tokio::test]
async fn unknown_opcode_is_unimplemented_then_closed() {
    let server = TestServer::start().await.unwrap();
    let mut v = handshake();
    write_frame(&mut v, |b| RequestHeader { xid: 1, op_type: 999 }.encode(b));
    let out = send_raw(server.addr().unwrap(), &v).await;
    let mut rest = &out[..];
    let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
    rest = &rest[4 + n..];
    let hdr = ReplyHeader::decode(&mut &rest[4..]).unwrap();
    assert_eq!((hdr.xid, hdr.err), (1, zk_core::proto::ErrorCode::Unimplemented.code()));
    still_serving(&server).await;
}

#[tokio::test]
async fn request_before_handshake_is_refused() {
    let server = TestServer::start().await.unwrap();
    let mut v = Vec::new();
    write_frame(&mut v, |b| {
        RequestHeader { xid: 1, op_type: 4 }.encode(b);
        zk_core::proto::GetDataRequest { path: "/".into(), watch: false }.encode(b);
    });
    assert!(send_raw(server.addr().unwrap(), &v).await.is_empty());
    still_serving(&server).await;
}

#[tokio::test]
async fn four_letter_words_answer_and_close() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr().unwrap();
    let word =
        |w: &'static str| async move { String::from_utf8(send_raw(addr, w.as_bytes()).await).unwrap() };
    assert_eq!(word("ruok").await, "imok");
    let srvr = word("srvr").await;
    assert!(srvr.contains("Mode: standalone") && srvr.starts_with("Zookeeper version: 3.8."), "{srvr}");
    assert!(word("mntr").await.contains("zk_znode_count\t4"), "fresh tree: /, /zookeeper, quota, config");
    assert!(word("conf").await.contains("tickTime=2000"));
    assert!(word("envi").await.starts_with("Environment:"));
    let c = Client::connect(&server.connect_string()).await.unwrap();
    assert!(word("cons").await.contains(&format!("sid=0x{:x}", c.session_id())));
    assert!(word("stat").await.contains("Clients:"));
    // Through zk-testing's own helper too.
    assert_eq!(zk_testing::four_letter_word(addr, "ruok").await.unwrap(), "imok");
}
