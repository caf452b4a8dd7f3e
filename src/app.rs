//! The running server as one handle: the current snapshot, the DNS listeners, the admin endpoint
//! and the background tasks (reloads, probes, SIGHUP, file watching), started from a config file
//! and stopped by one shutdown token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Problem;
use crate::dns::{DnsHandler, DnsServer, QueryStats};
use crate::health::probe;
use crate::reload::{self, ReloadRequest, ReloadResult};
use crate::snapshot::{self, Snapshot};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config is invalid, or no zone loads.
    #[error("the configuration cannot be served:\n{}", list(.0))]
    Invalid(Vec<Problem>),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// State shared by the DNS handler, the admin endpoint and the reload task.
#[derive(Debug)]
pub struct Shared {
    /// What queries read.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Responses by rcode.
    pub stats: Arc<QueryStats>,
    /// The config file.
    pub config_path: PathBuf,
    /// Reloads that failed, whole or for some zone.
    pub reload_failures: AtomicU64,
    /// Problems of the last load (file:line: reason). Written by reloads, read by `/status`;
    /// never touched by queries.
    problems: Mutex<Vec<String>>,
    reloads: mpsc::Sender<ReloadRequest>,
}

impl Shared {
    /// The problems of the last load.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub(crate) fn set_problems(&self, problems: Vec<String>) {
        if let Ok(mut p) = self.problems.lock() {
            *p = problems;
        }
    }

    /// Reloads now and waits for the result.
    pub async fn reload(&self) -> ReloadResult {
        let (tx, rx) = oneshot::channel();
        let request = ReloadRequest {
            cause: "request",
            reply: Some(tx),
        };
        if self.reloads.send(request).await.is_err() {
            return Err(vec!["the server is shutting down".into()]);
        }
        rx.await
            .unwrap_or_else(|_| Err(vec!["the server is shutting down".into()]))
    }
}

/// A running server.
pub struct Running {
    /// Shared state (snapshot, counters).
    pub shared: Arc<Shared>,
    /// The DNS addresses actually bound.
    pub dns_addrs: Vec<SocketAddr>,
    /// The admin address actually bound, if any.
    pub admin_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

/// Loads the config and its zones, probes every target once, binds the listeners and serves.
pub async fn start(config_path: &Path) -> Result<Running, StartError> {
    let path = config_path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || snapshot::load(&path, None))
        .await
        .map_err(|e| StartError::Invalid(vec![Problem::file(config_path, e.to_string())]))?
        .map_err(StartError::Invalid)?;
    for p in &loaded.problems {
        warn!(problem = %p, "zone not served");
    }
    let snap = loaded.snapshot;
    for z in snap.zones() {
        info!(zone = %z.origin, serial = z.serial, names = z.node_count(), "zone loaded");
    }
    probe::first_round(&probe::targets(&snap)).await;

    let (listen, admin, watch, zones_dir) = (
        snap.listen.clone(),
        snap.admin,
        snap.watch,
        snap.zones_dir.clone(),
    );
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let shared = Arc::new(Shared {
        snapshot: Arc::new(ArcSwap::from_pointee(snap)),
        stats: Arc::new(QueryStats::default()),
        config_path: config_path.to_path_buf(),
        reload_failures: AtomicU64::new(0),
        problems: Mutex::new(loaded.problems.iter().map(ToString::to_string).collect()),
        reloads: reload_tx.clone(),
    });
    let bind_err = |addrs: &[SocketAddr], source| StartError::Bind {
        addr: addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        source,
    };
    let handler = DnsHandler::new(shared.snapshot.clone(), shared.stats.clone());
    let server = DnsServer::bind(handler, &listen).map_err(|e| bind_err(&listen, e))?;
    let dns_addrs = server.local_addrs.clone();
    for a in &dns_addrs {
        info!(addr = %a, "listening for DNS on UDP and TCP");
    }

    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let server_token = server.shutdown_token();
    let token = shutdown.clone();
    tasks.spawn(async move {
        tokio::select! {
            r = server.run() => if let Err(e) = r { warn!(error = %e, "DNS listeners stopped") },
            _ = token.cancelled() => server_token.cancel(),
        }
    });

    let admin_addr = match admin {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| bind_err(&[addr], e))?;
            let local = listener.local_addr().map_err(|e| bind_err(&[addr], e))?;
            info!(addr = %local, "admin endpoint listening");
            let router = crate::admin::router(shared.clone());
            let token = shutdown.clone();
            tasks.spawn(async move {
                let serve =
                    axum::serve(listener, router).with_graceful_shutdown(token.cancelled_owned());
                if let Err(e) = serve.await {
                    warn!(error = %e, "admin endpoint stopped");
                }
            });
            Some(local)
        }
        None => None,
    };

    tasks.spawn(reload::run(shared.clone(), reload_rx, shutdown.clone()));
    tasks.spawn(on_sighup(reload_tx.clone(), shutdown.clone()));
    if watch {
        let token = shutdown.clone();
        match reload::watch(config_path, &zones_dir, reload_tx) {
            Ok(watcher) => {
                tasks.spawn(async move {
                    token.cancelled().await;
                    drop(watcher);
                });
            }
            Err(e) => {
                warn!(error = %e, "cannot watch the config and zone files; reload with SIGHUP or POST /reload")
            }
        }
    }
    Ok(Running {
        shared,
        dns_addrs,
        admin_addr,
        shutdown,
        tasks,
    })
}

async fn on_sighup(tx: mpsc::Sender<ReloadRequest>, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        warn!("cannot listen for SIGHUP");
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            s = hup.recv() => if s.is_none() { return },
        }
        info!("SIGHUP: reloading");
        let _ = tx
            .send(ReloadRequest {
                cause: "SIGHUP",
                reply: None,
            })
            .await;
    }
}

impl Running {
    /// Stops every task and waits for them.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}
