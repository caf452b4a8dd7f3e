//! The admin endpoint's own accept loop, with limits that a client cannot turn against the
//! operator:
//!
//! - a connection from an address outside loopback and `admin.allow` is closed at accept, before
//!   it takes a place (its requests would be refused anyway);
//! - at most `max_connections` at once, and at most a quarter of them (at least 4) from one
//!   client address,
//!   so that one client holding idle connections cannot lock the others out; more are closed
//!   at once;
//! - a connection that sends no complete request within `idle_timeout` is closed, and within a
//!   second when more than half of the places are taken (as the DNS TCP loop does);
//! - each request carries its client's address for the access rules.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long any one connection may last, requests and all.
const CONNECTION_LIMIT: Duration = Duration::from_secs(60);

/// Idle time for a connection accepted when more than half of the places are taken.
const IDLE_UNDER_PRESSURE: Duration = Duration::from_secs(1);

/// What the accept loop allows.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections at once.
    pub max_connections: usize,
    /// The wait for a complete request.
    pub idle_timeout: Duration,
    /// Client networks allowed besides loopback.
    pub allow: Arc<[ipnet::IpNet]>,
}

/// The places one client address holds; given back when the connection ends.
struct Held {
    clients: Arc<Mutex<rustc_hash::FxHashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Held {
    /// A place for `ip`, unless it holds `most` already.
    fn take(
        clients: &Arc<Mutex<rustc_hash::FxHashMap<IpAddr, usize>>>,
        ip: IpAddr,
        most: usize,
    ) -> Option<Self> {
        let mut map = clients.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_default();
        if *n >= most {
            return None;
        }
        *n += 1;
        Some(Self {
            clients: clients.clone(),
            ip,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let max = limits.max_connections.max(1);
    let per_client = (max / 4).max(4);
    let permits = Arc::new(Semaphore::new(max));
    // The lock is held for a map update per accept and per close, never across an await.
    let clients = Arc::new(Mutex::new(rustc_hash::FxHashMap::default()));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or the like: back off instead of spinning.
                    tracing::debug!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let ip = peer.ip();
        if !super::access::admitted(ip, &limits.allow) {
            tracing::debug!(%peer, "admin connection closed: not in admin.allow");
            continue; // dropping the stream closes it
        }
        let Some(held) = Held::take(&clients, ip, per_client) else {
            tracing::debug!(%peer, "admin connection refused: too many from this client");
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "admin connection refused: too many");
            continue;
        };
        let idle_timeout = if permits.available_permits() * 2 < max {
            limits.idle_timeout.min(IDLE_UNDER_PRESSURE)
        } else {
            limits.idle_timeout
        };
        let router = router.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            let _places = (permit, held);
            let service =
                router.map_request(move |mut request: http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                    request
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(idle_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::select! {
                _ = token.cancelled() => {}
                _ = tokio::time::timeout(CONNECTION_LIMIT, connection) => {}
            }
        });
    }
}
