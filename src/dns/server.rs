//! The DNS listeners: UDP and TCP sockets on every configured address, and the threads that
//! serve them, started by [`DnsServer::bind`] and stopped by [`DnsServer::stop`] (or its drop).

use std::net::SocketAddr;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio_util::sync::CancellationToken;

use super::{DnsHandler, tcp, udp};

/// The DNS listeners: UDP and TCP on every configured address.
///
/// Each UDP socket has a thread of its own ([`udp::serve`]), so a query is received, answered
/// and sent on one thread with no hand-over between workers. TCP has one thread for all
/// listeners.
pub struct DnsServer {
    threads: Vec<std::thread::JoinHandle<()>>,
    /// UDP serving threads per address.
    cores: usize,
    shutdown: CancellationToken,
    /// The addresses actually bound (port 0 resolved).
    pub local_addrs: Vec<SocketAddr>,
}

impl DnsServer {
    /// Binds UDP and TCP on each address (port 0 picks one port for both) and starts serving.
    ///
    /// An address with a fixed port gets one UDP socket per CPU, joined with `SO_REUSEPORT`, so
    /// that the kernel spreads queries from many clients over the threads. Port 0 (tests) gets
    /// one plain socket and one thread: Linux may hand a port-0 bind with `SO_REUSEPORT` a port
    /// that another such socket of the same user already holds.
    ///
    /// TCP is served on a thread of its own ([`tcp`]), at most `tcp_max` connections at once.
    pub fn bind(
        handler: DnsHandler,
        addrs: &[SocketAddr],
        tcp_max: usize,
    ) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = if addrs.iter().all(|a| a.port() != 0) {
            cores
        } else {
            1
        };
        let mut per_thread: Vec<Vec<std::net::UdpSocket>> =
            (0..threads).map(|_| Vec::new()).collect();
        let mut tcps = Vec::new();
        let mut local_addrs = Vec::new();
        for addr in addrs {
            let reuse_port = threads > 1;
            let (udp, tcp) = bind_pair(*addr, reuse_port)?;
            let bound = udp.local_addr()?;
            local_addrs.push(bound);
            per_thread[0].push(udp);
            tcps.push(tcp);
            for sockets in per_thread.iter_mut().skip(1) {
                sockets.push(udp_socket(bound, true)?);
            }
        }
        let shutdown = CancellationToken::new();
        let mut handles = Vec::new();
        for (i, udps) in per_thread.into_iter().enumerate() {
            for (j, udp) in udps.into_iter().enumerate() {
                let handler = handler.clone();
                let token = shutdown.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("dns-udp-{i}-{j}"))
                    .spawn(move || udp::serve(handler, udp, token))?;
                handles.push(handle);
            }
        }
        let cap = tcp::effective_cap(tcp_max);
        let token = shutdown.clone();
        let handle = std::thread::Builder::new()
            .name("dns-tcp".into())
            .spawn(move || tcp_thread(handler, tcps, cap, token))?;
        handles.push(handle);
        Ok(Self {
            threads: handles,
            cores: threads,
            shutdown,
            local_addrs,
        })
    }

    /// How many threads serve UDP on each address (one per core for a fixed port, one for
    /// port 0).
    pub fn threads(&self) -> usize {
        self.cores
    }

    /// Stops every DNS thread and waits for them (each gives in-flight work at most a second).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|t| t.join())
                .filter(Result::is_err)
                .count()
        })
        .await;
        if !matches!(joined, Ok(0)) {
            tracing::warn!("a DNS thread panicked");
        }
    }
}

impl Drop for DnsServer {
    /// A server dropped without [`DnsServer::stop`] (a panicking test, an early return) still
    /// stops its threads: each sees the cancellation and ends within a second.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A single-threaded runtime for one DNS thread.
fn thread_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(error = %e, "cannot start a DNS thread");
            None
        }
    }
}

/// The TCP thread: our own loop over every listener until `token` is cancelled.
fn tcp_thread(
    handler: DnsHandler,
    listeners: Vec<std::net::TcpListener>,
    cap: usize,
    token: CancellationToken,
) {
    let Some(runtime) = thread_runtime() else {
        return;
    };
    // The connections' tasks share the thread's one worker: spawned locally, never moved.
    let local = tokio::task::LocalSet::new();
    runtime.block_on(local.run_until(async move {
        let listeners = listeners
            .into_iter()
            .filter_map(|l| match tokio::net::TcpListener::from_std(l) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!(error = %e, "cannot serve a TCP listener");
                    None
                }
            })
            .collect();
        tcp::serve(handler, listeners, cap, token).await;
    }));
}

/// Binds UDP, then TCP on the same port; with port 0, tries again when that port is taken for TCP.
fn bind_pair(
    addr: SocketAddr,
    reuse_port: bool,
) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let mut last_err = None;
    for _ in 0..20 {
        let udp = udp_socket(addr, reuse_port)?;
        let bound = udp.local_addr()?;
        match tcp_listener(bound) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.expect("the loop ran"))
}

/// A non-blocking UDP socket, `IPV6_V6ONLY` for IPv6 as usual, `SO_REUSEPORT` if asked.
fn udp_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(SockProtocol::UDP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(reuse_port)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking TCP listener (std sets `SO_REUSEADDR` on Unix, as tokio's `bind` does).
fn tcp_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
