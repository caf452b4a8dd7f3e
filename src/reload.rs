//! One task owns reloads, so two never race: SIGHUP, `POST /reload` and the file watcher all send
//! it a request. A reload builds a complete snapshot aside ([`snapshot::load`] with the running
//! one as `previous`), probes new targets once, swaps the snapshot in whole, then replaces the
//! probe tasks: the old generation's are cancelled and awaited, so none lingers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::app::Shared;
use crate::health::probe;
use crate::snapshot::{self, Snapshot};

/// What a reload answers: the new generation, or why the running one was kept.
pub type ReloadResult = Result<u64, Vec<String>>;

/// A request to reload; `reply` gets the result when the caller waits for it.
#[derive(Debug)]
pub struct ReloadRequest {
    /// Who asked, for the log.
    pub cause: &'static str,
    /// Where to send the result.
    pub reply: Option<oneshot::Sender<ReloadResult>>,
}

/// Files changing this close together make one reload.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Runs reloads until `shutdown`; starts and restarts the probe tasks of each generation.
pub async fn run(
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<ReloadRequest>,
    shutdown: CancellationToken,
) {
    let mut generation = Generation::start(&shared.snapshot.load_full(), &shutdown);
    loop {
        let request = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = requests.recv() => match r {
                Some(r) => r,
                None => break,
            },
        };
        let result = reload(&shared, &mut generation, &shutdown, request.cause).await;
        if let Some(reply) = request.reply {
            let _ = reply.send(result);
        }
    }
    generation.stop().await;
}

/// The probe tasks of one snapshot generation.
struct Generation {
    token: CancellationToken,
    tasks: JoinSet<()>,
}

impl Generation {
    fn start(snap: &Snapshot, shutdown: &CancellationToken) -> Self {
        let token = shutdown.child_token();
        let mut tasks = JoinSet::new();
        probe::spawn(probe::targets(snap), &token, &mut tasks);
        Self { token, tasks }
    }

    async fn stop(mut self) {
        self.token.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn reload(
    shared: &Arc<Shared>,
    generation: &mut Generation,
    shutdown: &CancellationToken,
    cause: &'static str,
) -> ReloadResult {
    let current = shared.snapshot.load_full();
    if cause == "file change" && !current.changed_on_disk() {
        return Ok(current.generation); // only read, not written
    }
    let path = shared.config_path.clone();
    let prev = current.clone();
    let loaded = tokio::task::spawn_blocking(move || snapshot::load(&path, Some(&prev)))
        .await
        .map_err(|e| vec![format!("reload task failed: {e}")])?;
    let loaded = match loaded {
        Ok(l) => l,
        Err(problems) => {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            shared.reload_failures.fetch_add(1, Ordering::Relaxed);
            for p in &problems {
                error!(problem = %p, cause, "reload failed; still serving generation {}", current.generation);
            }
            shared.set_problems(problems.clone());
            return Err(problems);
        }
    };
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    if !problems.is_empty() {
        shared.reload_failures.fetch_add(1, Ordering::Relaxed);
        for p in &problems {
            error!(problem = %p, cause, "zone kept at its last good version");
        }
    }
    shared.set_problems(problems);
    let new = loaded.snapshot;
    if new.listen != current.listen || new.admin != current.admin {
        warn!("listen addresses changed; they take effect at the next restart");
    }
    // New targets are probed once before the swap, so that their first answers reflect health.
    probe::first_round(&probe::targets(&new)).await;
    let gen_no = new.generation;
    let new = Arc::new(new);
    shared.snapshot.store(new.clone());
    let old = std::mem::replace(generation, Generation::start(&new, shutdown));
    old.stop().await;
    info!(
        generation = gen_no,
        cause,
        zones = new.zones().len(),
        pools = new.pools.len(),
        "reloaded"
    );
    Ok(gen_no)
}

/// Watches the config file and the zone directory; each debounced change asks for a reload.
/// The watcher stops when the returned value is dropped.
pub fn watch(
    config: &Path,
    zones_dir: &Path,
    tx: mpsc::Sender<ReloadRequest>,
) -> notify_debouncer_mini::notify::Result<Debouncer<RecommendedWatcher>> {
    let config = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    let zones: PathBuf =
        std::fs::canonicalize(zones_dir).unwrap_or_else(|_| zones_dir.to_path_buf());
    let config_dir = config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let (c, z) = (config.clone(), zones.clone());
    let mut debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| {
        let Ok(events) = events else { return };
        if events.iter().any(|e| e.path == c || e.path.starts_with(&z)) {
            // A full queue already holds a reload that will see this change.
            let _ = tx.try_send(ReloadRequest {
                cause: "file change",
                reply: None,
            });
        }
    })?;
    debouncer
        .watcher()
        .watch(&config_dir, RecursiveMode::NonRecursive)?;
    debouncer
        .watcher()
        .watch(&zones, RecursiveMode::Recursive)?;
    Ok(debouncer)
}
