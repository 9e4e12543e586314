//! Pluggable transports: how the session task gets a byte stream to a server.
//!
//! The client only needs a reader and a writer. [`TcpConnector`] is the default; zk-testing
//! plugs in an in-memory duplex so whole clusters of clients run on tokio's paused clock.

use std::fmt::Debug;
use std::io;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

/// The read half of a connection.
pub type BoxReader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection.
pub type BoxWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// Opens connections to servers named by `host:port` strings from the connect string.
pub trait Connector: Debug + Send + Sync + 'static {
    /// Opens one connection to `host`.
    ///
    /// # Errors
    /// Any I/O error; the client then tries the next host.
    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<(BoxReader, BoxWriter)>>;
}

/// Plain TCP with `TCP_NODELAY` (requests are small and latency matters more than packing).
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<(BoxReader, BoxWriter)>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(host).await?;
            stream.set_nodelay(true)?;
            let (r, w) = stream.into_split();
            Ok((Box::new(r) as BoxReader, Box::new(w) as BoxWriter))
        })
    }
}
