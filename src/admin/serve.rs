//! The admin endpoint's own accept loop: at most `max_connections` at once (more are closed at
//! once), a connection that sends no complete request within `idle_timeout` is closed, and each
//! request carries its client's address for the access rules.

use std::net::SocketAddr;
use std::sync::Arc;
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

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    idle_timeout: Duration,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
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
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "admin connection refused: too many");
            continue; // dropping the stream closes it
        };
        let router = router.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
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
