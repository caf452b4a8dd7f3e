//! DNS over UDP: our own loop, one thread per socket (one socket per core and address, joined
//! by `SO_REUSEPORT`), as NSD's and Knot's UDP workers run. Datagrams come in and go out in
//! batches (`recvmmsg` / `sendmmsg`, through `nix`), with no task, no channel and no allocation
//! per datagram: each is answered by the fast path ([`super::fast`]) into a buffer of the
//! batch, or, when the fast path leaves it, by the general path on this thread.
//!
//! The socket blocks with a receive timeout, so the thread sees a stop within
//! [`STOP_CHECK`] whatever the traffic.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrLike, SockaddrStorage, recvmmsg, sendmmsg};
use smallvec::SmallVec;
use tokio_util::sync::CancellationToken;

use super::DnsHandler;
use super::exchange::exchange;
use super::fast::{Outcome, RESPONSE_BUFFER};

/// The largest datagram we read (anything longer is truncated by the kernel, then FORMERR).
const RECV_BUFFER: usize = 4096;
/// Datagrams received (and answered) per system call at most.
const BATCH: usize = 32;
/// How often a thread waiting for datagrams looks whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// The buffers of one thread, allocated once.
struct Buffers {
    queries: Box<[[u8; RECV_BUFFER]]>,
    responses: Box<[[u8; RESPONSE_BUFFER]]>,
    recv_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
}

/// Where the response to one datagram is.
enum Reply {
    /// In the batch's response buffer, this long.
    Fast(usize),
    /// Made by the general path.
    General(Vec<u8>),
}

/// Answers datagrams on `socket` until `token` is cancelled. Blocks the calling thread.
pub fn serve(handler: DnsHandler, socket: std::net::UdpSocket, token: CancellationToken) {
    if let Err(e) = socket
        .set_nonblocking(false)
        .and_then(|()| socket.set_read_timeout(Some(STOP_CHECK)))
    {
        tracing::error!(error = %e, "cannot serve a UDP socket");
        return;
    }
    // The general path is async (hickory's handler trait); its futures complete at once.
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a UDP thread");
            return;
        }
    };
    let shard = handler.stats.shard();
    let mut b = Buffers {
        queries: vec![[0u8; RECV_BUFFER]; BATCH].into_boxed_slice(),
        responses: vec![[0u8; RESPONSE_BUFFER]; BATCH].into_boxed_slice(),
        recv_headers: MultiHeaders::preallocate(BATCH, None),
        send_headers: MultiHeaders::preallocate(BATCH, None),
    };
    let fd = socket.as_raw_fd();
    let mut received: SmallVec<[(usize, Option<SocketAddr>); BATCH]> = SmallVec::new();
    let mut replies: SmallVec<[(usize, Reply, SockaddrStorage); BATCH]> = SmallVec::new();
    while !token.is_cancelled() {
        received.clear();
        {
            let mut it = b.queries.iter_mut();
            let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
                std::array::from_fn(|_| [IoSliceMut::new(it.next().expect("BATCH buffers"))]);
            match recvmmsg(
                fd,
                &mut b.recv_headers,
                iovs.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(results) => {
                    for r in results {
                        received.push((r.bytes, r.address.and_then(socket_addr)));
                    }
                }
                // The receive timeout (look at the token), a signal, or an ICMP error of an
                // earlier send: nothing to answer.
                Err(_) => continue,
            }
        }
        replies.clear();
        for (i, &(len, peer)) in received.iter().enumerate() {
            let Some(peer) = peer else { continue };
            let message = &b.queries[i][..len.min(RECV_BUFFER)];
            match handler.fast(message, peer, &mut b.responses[i], &shard) {
                Outcome::Send(n) => replies.push((i, Reply::Fast(n), peer.into())),
                Outcome::Drop => {}
                Outcome::Fallback => {
                    let general =
                        runtime.block_on(exchange(&handler, message, peer, Protocol::Udp));
                    if let Some(bytes) = general {
                        replies.push((i, Reply::General(bytes), peer.into()));
                    }
                }
            }
        }
        send_all(fd, &mut b, &replies);
    }
}

/// Sends every reply, in as few `sendmmsg` calls as the kernel takes them.
fn send_all(fd: std::os::fd::RawFd, b: &mut Buffers, replies: &[(usize, Reply, SockaddrStorage)]) {
    let mut from = 0;
    while from < replies.len() {
        let pending = &replies[from..];
        let slices: SmallVec<[[IoSlice<'_>; 1]; BATCH]> = pending
            .iter()
            .map(|(i, reply, _)| {
                [IoSlice::new(match reply {
                    Reply::Fast(n) => &b.responses[*i][..*n],
                    Reply::General(bytes) => bytes,
                })]
            })
            .collect();
        let addrs: SmallVec<[Option<SockaddrStorage>; BATCH]> =
            pending.iter().map(|(_, _, a)| Some(*a)).collect();
        match sendmmsg(
            fd,
            &mut b.send_headers,
            slices.iter(),
            &addrs[..],
            [],
            MsgFlags::empty(),
        ) {
            Ok(results) => {
                let sent = results.count();
                if sent == 0 {
                    return;
                }
                from += sent;
            }
            // A full socket buffer or an unreachable client: drop this one, send the rest.
            Err(_) => from += 1,
        }
    }
}

/// The socket address of a datagram's sender.
fn socket_addr(addr: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
        .filter(|_| addr.len() > 0)
}
