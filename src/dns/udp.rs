//! DNS over UDP: our own loop, one thread per socket (one socket per core and address, joined
//! by `SO_REUSEPORT`), as NSD's and Knot's UDP workers run. Datagrams come in and go out in
//! batches (`recvmmsg` / `sendmmsg`), with no task, no channel and no allocation per datagram:
//! each is answered by the fast path ([`super::fast`]) into a buffer of the batch, or, when the
//! fast path leaves it, by the general path on this thread.
//!
//! The message headers of a batch are set up once per thread and point at buffers that never
//! move, as NSD's `recvmmsg` loop does: a call only resets what the kernel wrote. (nix's
//! wrappers rebuild every header of the batch per call, which at low rates cost more than the
//! DNS work; so the two calls go through `libc`'s declarations, in [`Batch`], and nowhere else.)
//! A reply is sent to the very address storage its query came from.
//!
//! The socket blocks with a receive timeout, so the thread sees a stop within
//! [`STOP_CHECK`] whatever the traffic.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use arc_swap::Cache;
use hickory_server::net::xfer::Protocol;
use smallvec::SmallVec;
use tokio_util::sync::CancellationToken;

use super::exchange::exchange;
use super::fast::{self, Outcome, RESPONSE_BUFFER};
use super::{DnsHandler, Worker};

/// The largest datagram we read (anything longer is truncated by the kernel, then FORMERR).
const RECV_BUFFER: usize = 4096;
/// Datagrams received (and answered) per system call at most.
const BATCH: usize = 32;
/// How often a thread waiting for datagrams looks whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// The buffers and message headers of one thread, allocated and linked once. Every field is
/// reached through the raw pointers the headers hold, never through a reference that outlives
/// a call.
struct Batch {
    queries: Box<[[u8; RECV_BUFFER]]>,
    responses: Box<[[u8; RESPONSE_BUFFER]]>,
    peers: Box<[libc::sockaddr_storage]>,
    recv_iov: Box<[libc::iovec]>,
    recv: Box<[libc::mmsghdr]>,
    send_iov: Box<[libc::iovec]>,
    send: Box<[libc::mmsghdr]>,
}

impl Batch {
    fn new() -> Self {
        fn zeroed<T>() -> T {
            // SAFETY: all-zero is a valid value of these C structs (null pointers, zero
            // lengths).
            unsafe { std::mem::zeroed() }
        }
        let mut b = Batch {
            queries: vec![[0u8; RECV_BUFFER]; BATCH].into_boxed_slice(),
            responses: vec![[0u8; RESPONSE_BUFFER]; BATCH].into_boxed_slice(),
            peers: (0..BATCH).map(|_| zeroed()).collect(),
            recv_iov: (0..BATCH).map(|_| zeroed()).collect(),
            recv: (0..BATCH).map(|_| zeroed()).collect(),
            send_iov: (0..BATCH).map(|_| zeroed()).collect(),
            send: (0..BATCH).map(|_| zeroed()).collect(),
        };
        for i in 0..BATCH {
            b.recv_iov[i] = libc::iovec {
                iov_base: b.queries[i].as_mut_ptr().cast(),
                iov_len: RECV_BUFFER,
            };
            let hdr = &mut b.recv[i].msg_hdr;
            hdr.msg_name = std::ptr::from_mut(&mut b.peers[i]).cast();
            hdr.msg_namelen = PEER_LEN;
            hdr.msg_iov = &raw mut b.recv_iov[i];
            hdr.msg_iovlen = 1;
            let hdr = &mut b.send[i].msg_hdr;
            hdr.msg_iov = &raw mut b.send_iov[i];
            hdr.msg_iovlen = 1;
        }
        b
    }

    /// Receives at least one datagram (waiting at most the socket's timeout) and at most
    /// `BATCH`; returns how many.
    fn receive(&mut self, fd: RawFd, last: usize) -> std::io::Result<usize> {
        // The kernel wrote the address lengths of the last batch: room for any address again.
        for hdr in &mut self.recv[..last] {
            hdr.msg_hdr.msg_namelen = PEER_LEN;
        }
        // SAFETY: the headers point at this batch's buffers, which live as long as `self`.
        // The system call itself: glibc's wrapper adds a thread-cancellation point, which
        // costs more than the rest of a query's bookkeeping and serves nothing here.
        let n = unsafe {
            libc::syscall(
                libc::SYS_recvmmsg,
                fd,
                self.recv.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut::<libc::timespec>(),
            )
        };
        usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
    }

    /// Sends the replies, each to the address its query came from: `fast` as (datagram
    /// index, length) in the batch's response buffers, `general` as (datagram index, octets).
    fn send(&mut self, fd: RawFd, fast: &[(usize, usize)], general: &[(usize, Vec<u8>)]) {
        let replies = fast.len() + general.len();
        let fast = fast
            .iter()
            .map(|&(i, len)| (i, self.responses[i][..len].as_ptr(), len));
        let general = general.iter().map(|(i, b)| (*i, b.as_ptr(), b.len()));
        for (k, (i, bytes, len)) in fast.chain(general).enumerate() {
            self.send_iov[k] = libc::iovec {
                iov_base: bytes.cast_mut().cast(),
                iov_len: len,
            };
            let hdr = &mut self.send[k].msg_hdr;
            hdr.msg_name = std::ptr::from_mut(&mut self.peers[i]).cast();
            hdr.msg_namelen = self.recv[i].msg_hdr.msg_namelen;
        }
        let mut from = 0;
        while from < replies {
            // SAFETY: the first `replies.len()` send headers point at live addresses and at
            // the replies' octets, which outlive this call.
            let sent = unsafe {
                libc::syscall(
                    libc::SYS_sendmmsg,
                    fd,
                    self.send[from..].as_mut_ptr(),
                    (replies - from) as libc::c_uint,
                    0,
                )
            };
            match usize::try_from(sent) {
                Ok(0) => return,
                Ok(n) => from += n,
                // A client that cannot be reached: skip its reply, send the rest.
                Err(_) => from += 1,
            }
        }
    }
}

/// The address the kernel wrote into `storage`.
fn peer(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a `sockaddr_in` (it is larger).
            let a = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a `sockaddr_in6` (it is larger).
            let a = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Room for an IPv4 or IPv6 address.
const PEER_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// Answers datagrams on `socket` until `token` is cancelled. Blocks the calling thread.
pub fn serve(handler: DnsHandler, socket: std::net::UdpSocket, token: CancellationToken) {
    if let Err(e) = socket
        .set_nonblocking(false)
        .and_then(|()| socket.set_read_timeout(Some(STOP_CHECK)))
    {
        tracing::error!(error = %e, "cannot serve a UDP socket");
        return;
    }
    let mut worker = handler.worker();
    // The snapshot, re-read only when a reload stored a new one.
    let mut snapshot = Cache::new(handler.snapshot.clone());
    let mut batch = Batch::new();
    let fd = socket.as_raw_fd();
    let mut last = BATCH;
    let mut batches = 0u32;
    loop {
        let n = match batch.receive(fd, last) {
            Ok(n) => n,
            // The receive timeout (look at the token), a signal, or an ICMP error of an
            // earlier send: nothing to answer.
            Err(_) => {
                if token.is_cancelled() {
                    return;
                }
                // Idle: let go of a generation a reload replaced.
                snapshot.load();
                last = 0;
                continue;
            }
        };
        last = n;
        answer_batch(&handler, &mut worker, snapshot.load(), &mut batch, n, fd);
        batches = batches.wrapping_add(1);
        if batches.is_multiple_of(64) && token.is_cancelled() {
            return;
        }
    }
}

/// Answers the first `n` datagrams of `batch` and sends the replies. A bug that panics on one
/// datagram must not end the thread: that batch is lost, the loop goes on.
fn answer_batch(
    handler: &DnsHandler,
    worker: &mut Worker,
    snapshot: &crate::snapshot::Snapshot,
    batch: &mut Batch,
    n: usize,
    fd: RawFd,
) {
    let mut general: SmallVec<[(usize, Vec<u8>); 4]> = SmallVec::new();
    let mut fast: SmallVec<[(usize, usize); BATCH]> = SmallVec::new();
    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for i in 0..n {
            // The i-th datagram and its sender (fields borrowed apart: the response buffer
            // is written while the query is read).
            let len = (batch.recv[i].msg_len as usize).min(RECV_BUFFER);
            let message = &batch.queries[i][..len];
            let Some(peer) = peer(&batch.peers[i]) else {
                continue;
            };
            let out = &mut batch.responses[i];
            match fast::answer(handler, worker, snapshot, message, peer, out) {
                Outcome::Send(len) => fast.push((i, len)),
                Outcome::Drop => {}
                Outcome::Fallback => {
                    if let Some(bytes) = exchange(handler, worker, message, peer, Protocol::Udp) {
                        general.push((i, bytes));
                    }
                }
            }
        }
    }));
    if answered.is_ok() {
        // The kernel copies the replies from where they are: `send` only points at them.
        batch.send(fd, &fast, &general);
    }
}
