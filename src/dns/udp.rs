//! DNS over UDP: our own receive loop on each serving thread's socket, with no task and no
//! channel per datagram: receive, answer on this thread, send.

use std::net::SocketAddr;

use hickory_server::net::xfer::Protocol;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::DnsHandler;
use super::exchange::exchange;

/// The largest datagram we read (anything longer is truncated by the kernel, then FORMERR).
const RECV_BUFFER: usize = 4096;

/// Answers datagrams on `socket` until `token` is cancelled.
pub async fn serve(handler: DnsHandler, socket: UdpSocket, token: CancellationToken) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let (len, peer): (usize, SocketAddr) = tokio::select! {
            _ = token.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                // ICMP errors of earlier sends and the like: nothing to answer.
                Err(_) => continue,
            },
        };
        if let Some(response) = exchange(&handler, &buf[..len], peer, Protocol::Udp).await {
            let _ = socket.send_to(&response, peer).await;
        }
    }
}
