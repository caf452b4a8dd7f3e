//! The runtime state that the DNS handler, the admin endpoint and the reloader share: the
//! current snapshot behind one atomic pointer, the counters, the start-up settings, and the way
//! to ask for a reload. `admin` and `reload` depend on this module and on neither of each other;
//! `app` wires the three together.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

use crate::Problem;
use crate::dns::QueryStats;
use crate::load::Settings;
use crate::snapshot::Snapshot;

/// Why a reload happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadCause {
    /// SIGHUP.
    Signal,
    /// `POST /reload`.
    Request,
    /// The file watcher saw an event under the config or the zone directory; the reload goes
    /// ahead only if a file really changed.
    FileChange,
    /// A secondary zone was transferred, or expired.
    Transfer,
    /// A zone dnslb signs is due: its signatures' refresh, or a key's timing.
    Signing,
}

impl fmt::Display for ReloadCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReloadCause::Signal => "SIGHUP",
            ReloadCause::Request => "request",
            ReloadCause::FileChange => "file change",
            ReloadCause::Transfer => "zone transfer",
            ReloadCause::Signing => "signing",
        })
    }
}

/// Why a reload kept the running generation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReloadError {
    /// The config is invalid, or no zone loads.
    #[error("the new configuration cannot be served ({} problems)", .0.len())]
    Invalid(Vec<Problem>),
    /// The server is stopping.
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl ReloadError {
    /// The problems as `file:line: message` lines.
    pub fn problems(&self) -> Vec<String> {
        match self {
            ReloadError::Invalid(p) => p.iter().map(ToString::to_string).collect(),
            ReloadError::ShuttingDown => vec![self.to_string()],
        }
    }
}

/// What a reload answers: the generation it installed, or why the running one was kept.
pub type ReloadResult = Result<Arc<Snapshot>, ReloadError>;

/// A request to reload; `reply` gets the result when the caller waits for it.
#[derive(Debug)]
pub struct ReloadRequest {
    /// Who asked.
    pub cause: ReloadCause,
    /// Where to send the result.
    pub reply: Option<oneshot::Sender<ReloadResult>>,
}

/// State shared by the DNS handler, the admin endpoint and the reloader.
#[derive(Debug)]
pub struct Shared {
    /// What queries read.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Responses by rcode.
    pub stats: Arc<QueryStats>,
    /// What was read at start-up.
    pub settings: Settings,
    /// When the server started.
    pub started: std::time::SystemTime,
    reload_failures: AtomicU64,
    /// Problems of the last reload that kept the running config, until one succeeds. Written
    /// by the reloader, read by `/status`; never touched by queries.
    failed_reload: Mutex<Vec<Problem>>,
    reloads: mpsc::Sender<ReloadRequest>,
    /// The secondary zones' records and statuses.
    pub secondaries: Arc<crate::zone::secondary::Store>,
}

impl Shared {
    /// State serving nothing yet; reloads are requested through `reloads`.
    pub fn new(settings: Settings, reloads: mpsc::Sender<ReloadRequest>) -> Self {
        Self {
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            stats: Arc::new(QueryStats::default()),
            settings,
            started: std::time::SystemTime::now(),
            reload_failures: AtomicU64::new(0),
            failed_reload: Mutex::new(Vec::new()),
            reloads,
            secondaries: Arc::default(),
        }
    }

    /// Loads that kept the running config, or a zone's last good version.
    pub fn reload_failures(&self) -> u64 {
        self.reload_failures.load(Ordering::Relaxed)
    }

    /// The problems of the last load: those of a failed reload, else the serving generation's.
    pub fn problems(&self) -> Vec<String> {
        let failed = self
            .failed_reload
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let list = if failed.is_empty() {
            self.snapshot.load().problems.clone()
        } else {
            failed
        };
        list.iter().map(ToString::to_string).collect()
    }

    /// Notes a load that kept the running config (`Some`) or that succeeded, possibly with zones
    /// kept at their last good version (`None`, with `zone_problems`).
    pub(crate) fn note_load(&self, failed: Option<&[Problem]>, zone_problems: bool) {
        if failed.is_some() || zone_problems {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut p) = self.failed_reload.lock() {
            *p = failed.map(<[Problem]>::to_vec).unwrap_or_default();
        }
    }

    /// Reloads now and waits for the result.
    pub async fn reload(&self) -> ReloadResult {
        let (tx, rx) = oneshot::channel();
        let request = ReloadRequest {
            cause: ReloadCause::Request,
            reply: Some(tx),
        };
        if self.reloads.send(request).await.is_err() {
            return Err(ReloadError::ShuttingDown);
        }
        rx.await.unwrap_or(Err(ReloadError::ShuttingDown))
    }
}
