//! `tcp`: healthy when the TCP handshake completes (the caller bounds it by the timeout).

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::ProbeError;

/// Connects to `addr`; the stream is handed back for kinds that talk over it.
pub async fn connect(addr: SocketAddr) -> Result<TcpStream, ProbeError> {
    TcpStream::connect(addr)
        .await
        .map_err(|e| ProbeError::Connect(e.to_string()))
}
