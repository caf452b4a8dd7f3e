//! `tcp`: healthy when the TCP handshake completes (the caller bounds it by the timeout).

use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Connects to `addr`; the stream is handed back for kinds that talk over it.
pub async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))
}
