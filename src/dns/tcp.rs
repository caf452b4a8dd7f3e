//! DNS over TCP, served by our own small loop over hickory's message types, on a thread of its
//! own (a TCP storm cannot slow the UDP threads), with NSD's limits:
//!
//! - at most `tcp_max` connections at once; further ones wait in the kernel's backlog, and the
//!   cap is lowered when the descriptor limit leaves less than [`FD_RESERVE`] for probes and the
//!   rest;
//! - a connection idle for [`IDLE`] is closed, and for [`IDLE_UNDER_PRESSURE`] when more than half
//!   of the places are taken, so that a full cap of idle connections still lets a new query in
//!   within a second; no connection lasts longer than [`LIFETIME`];
//! - accept errors (out of descriptors) back off instead of spinning.
//!
//! The connections are tasks of this thread's runtime, spawned locally: they share the thread's
//! one [`Worker`], each borrowing it only while it answers a message (never across a wait).
//!
//! A zone transfer request is answered by [`super::xfr`] with as many messages as the zone
//! takes, made on a blocking thread and written as they come, so that a large transfer out
//! does not delay the other connections. Queries on one connection are answered in order (pipelining works; answers are not
//! reordered). A message that cannot be parsed gets FORMERR without a question; one with QR set,
//! or shorter than a header, ends the connection.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::exchange::exchange;
use super::{DnsHandler, Worker, xfr};

/// Idle time after which a connection is closed.
pub const IDLE: Duration = Duration::from_secs(10);
/// Idle time when more than half of the connection places are taken (NSD's choice).
pub const IDLE_UNDER_PRESSURE: Duration = Duration::from_millis(200);
/// No connection lasts longer.
pub const LIFETIME: Duration = Duration::from_secs(120);
/// Descriptors kept for everything but DNS over TCP (probes, the admin endpoint, zone files).
pub const FD_RESERVE: usize = 128;
/// Pause after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The connection cap for `tcp_max` under this process's descriptor limit.
pub fn effective_cap(tcp_max: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        usize::MAX
    };
    tcp_max.min(soft.saturating_sub(FD_RESERVE)).max(1)
}

/// Serves `listeners` until `token` is cancelled. Runs inside a `LocalSet`.
pub async fn serve(
    handler: DnsHandler,
    listeners: Vec<TcpListener>,
    cap: usize,
    token: CancellationToken,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let worker = Rc::new(RefCell::new(handler.worker()));
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        tasks.spawn_local(accept_loop(
            handler.clone(),
            worker.clone(),
            listener,
            cap,
            active.clone(),
            token.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop(
    handler: DnsHandler,
    worker: Rc<RefCell<Worker>>,
    listener: TcpListener,
    cap: usize,
    active: Arc<AtomicUsize>,
    token: CancellationToken,
) {
    let freed = Arc::new(tokio::sync::Notify::new());
    loop {
        // At the cap, wait for a place: new connections wait in the kernel's backlog.
        while active.load(Ordering::Relaxed) >= cap {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = freed.notified() => {}
                _ = tokio::time::sleep(IDLE_UNDER_PRESSURE) => {}
            }
        }
        let accepted = tokio::select! {
            _ = token.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "TCP accept failed; backing off");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        active.fetch_add(1, Ordering::Relaxed);
        let (handler, worker, active, freed, token) = (
            handler.clone(),
            worker.clone(),
            active.clone(),
            freed.clone(),
            token.clone(),
        );
        tokio::task::spawn_local(async move {
            let served = connection(&handler, &worker, stream, peer, &active, cap);
            tokio::select! {
                _ = token.cancelled() => {}
                _ = tokio::time::timeout(LIFETIME, served) => {}
            }
            active.fetch_sub(1, Ordering::Relaxed);
            freed.notify_one();
        });
    }
}

/// Answers the queries of one connection, in order, until it is closed or idle too long.
async fn connection(
    handler: &DnsHandler,
    worker: &RefCell<Worker>,
    mut stream: TcpStream,
    peer: SocketAddr,
    active: &AtomicUsize,
    cap: usize,
) {
    let _ = stream.set_nodelay(true);
    loop {
        let idle = if active.load(Ordering::Relaxed) * 2 > cap {
            IDLE_UNDER_PRESSURE
        } else {
            IDLE
        };
        let mut len = [0u8; 2];
        match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match tokio::time::timeout(IDLE, stream.read_exact(&mut message)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        // A zone transfer is several messages, made off this loop; anything else, one.
        if xfr::asks_transfer(&message) {
            match transfer_out(handler, message.clone(), peer, &mut stream).await {
                Some(true) => continue,
                Some(false) => {} // not one we transfer: the general path answers
                None => return,
            }
        }
        let answered = exchange(
            handler,
            &mut worker.borrow_mut(),
            &message,
            peer,
            Protocol::Tcp,
        );
        let Some(response) = answered else {
            return;
        };
        if !write_message(&mut stream, &response).await {
            return;
        }
    }
}

/// Writes one length-prefixed message; `false` when the connection failed or stalled.
async fn write_message(stream: &mut TcpStream, message: &[u8]) -> bool {
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&u16::try_from(message.len()).unwrap_or(0).to_be_bytes());
    framed.extend_from_slice(message);
    matches!(
        tokio::time::timeout(IDLE, stream.write_all(&framed)).await,
        Ok(Ok(()))
    )
}

/// A transfer out: the messages are made on a blocking thread and written here as they come
/// (a few ahead at most), so that a large zone neither stalls the other connections of this
/// loop nor is held encoded whole. `Some(false)` when the request is not one we transfer,
/// `None` when the connection failed.
async fn transfer_out(
    handler: &DnsHandler,
    message: Vec<u8>,
    peer: SocketAddr,
    stream: &mut TcpStream,
) -> Option<bool> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let h = handler.clone();
    let making = tokio::task::spawn_blocking(move || {
        let snapshot = h.snapshot.load();
        xfr::transfer(&snapshot, &h.stats, &message, peer, true, &mut |m| {
            tx.blocking_send(m).is_ok()
        })
        .is_some()
    });
    let mut ok = true;
    while let Some(m) = rx.recv().await {
        if !write_message(stream, &m).await {
            ok = false;
            break;
        }
    }
    drop(rx); // a maker still sending learns that the client is gone
    let handled = making.await.unwrap_or(false);
    ok.then_some(handled)
}
