//! The running server as one handle: the current snapshot, the DNS listeners and the background
//! tasks, started from a config file and stopped by a shutdown token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Problem;
use crate::dns::{DnsHandler, DnsServer, QueryStats};
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

/// Shared state of a running server.
pub struct Shared {
    /// What queries read.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Responses by rcode.
    pub stats: Arc<QueryStats>,
    /// The config file.
    pub config_path: PathBuf,
}

/// A running server.
pub struct Running {
    /// Shared state (snapshot, counters).
    pub shared: Arc<Shared>,
    /// The DNS addresses actually bound.
    pub dns_addrs: Vec<SocketAddr>,
    shutdown: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

/// Loads the config and its zones, binds the listeners and starts serving.
pub async fn start(config_path: &Path) -> Result<Running, StartError> {
    let loaded = snapshot::load(config_path, None).map_err(StartError::Invalid)?;
    for p in &loaded.problems {
        warn!(problem = %p, "zone not served");
    }
    let snap = loaded.snapshot;
    for z in snap.zones() {
        info!(zone = %z.origin, serial = z.serial, names = z.node_count(), "zone loaded");
    }
    let listen = snap.listen.clone();
    let shared = Arc::new(Shared {
        snapshot: Arc::new(ArcSwap::from_pointee(snap)),
        stats: Arc::new(QueryStats::default()),
        config_path: config_path.to_path_buf(),
    });
    let handler = DnsHandler::new(shared.snapshot.clone(), shared.stats.clone());
    let server = DnsServer::bind(handler, &listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: listen
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            source,
        })?;
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
    Ok(Running {
        shared,
        dns_addrs,
        shutdown,
        tasks,
    })
}

impl Running {
    /// Stops every task and waits for them.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}
