//! The reloader owns every change of generation, so two never race: start-up installs the first
//! one, and SIGHUP, `POST /reload` and the file watcher all send it requests. A reload builds a
//! complete snapshot aside ([`load::load`] on top of the running one) and [`Reloader::install`]s
//! it: new probe targets are probed once, the snapshot is swapped in whole, then the old
//! generation's probe tasks are cancelled and awaited, so none lingers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::load::{self, Fingerprint, Loaded, Previous, Sources};
use crate::scheduler::{self, Generation};
use crate::snapshot::Snapshot;
use crate::state::{ReloadCause, ReloadError, ReloadRequest, ReloadResult, Shared};

/// Files changing this close together make one reload.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Installs generations: the one task that changes what is served.
#[derive(Debug)]
pub struct Reloader {
    shared: Arc<Shared>,
    /// The inputs of the serving generation.
    sources: Sources,
    /// The serving generation's probe tasks.
    probes: Option<Generation>,
    /// What the inputs looked like at the last reload that failed, so that file events alone do
    /// not retry it: only a change of the inputs does.
    failed: Option<Fingerprint>,
    /// One task per secondary zone of the serving generation.
    secondaries: crate::secondary::Tasks,
    shutdown: CancellationToken,
}

impl Reloader {
    /// A reloader for `shared`; its probe and secondary zone tasks stop when `shutdown` is
    /// cancelled. The zone tasks ask for reloads on `reloads`.
    pub fn new(
        shared: Arc<Shared>,
        shutdown: CancellationToken,
        reloads: mpsc::Sender<ReloadRequest>,
    ) -> Self {
        let secondaries = crate::secondary::Tasks::new(crate::secondary::Context {
            store: shared.secondaries.clone(),
            reloads,
            shutdown: shutdown.clone(),
        });
        Self {
            secondaries,
            shared,
            sources: Sources::default(),
            probes: None,
            failed: None,
            shutdown,
        }
    }

    /// Makes `loaded` the serving generation (start-up and reload alike): its never-probed
    /// targets are probed once, so that its first answers reflect health; then the snapshot is
    /// swapped in whole and the probe tasks replaced. `cause` is `None` at start-up.
    pub async fn install(&mut self, loaded: Loaded, cause: Option<ReloadCause>) -> Arc<Snapshot> {
        scheduler::first_round(&loaded.snapshot.targets).await;
        let current = self.shared.snapshot.load_full();
        let problems = !loaded.snapshot.problems.is_empty();
        let new = Arc::new(loaded.snapshot);
        self.shared.snapshot.store(new.clone());
        self.shared.note_load(None, problems && cause.is_some());
        self.sources = loaded.sources;
        let probes = Generation::start(&new.targets, &self.shutdown);
        if let Some(old) = self.probes.replace(probes) {
            old.stop().await;
        }
        notify_changed(&current, &new);
        self.secondaries.sync(&new.secondaries);
        drop(current);
        // The UDP threads let go of the old generation at their next datagram, or within their
        // idle wake-up (100 ms): give its memory back once they have.
        tokio::spawn(async {
            for wait in [300, 2_000] {
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                release_memory().await;
            }
        });
        new
    }

    /// Serves reload requests until `shutdown`, then stops the probe tasks.
    pub async fn run(mut self, mut requests: mpsc::Receiver<ReloadRequest>) {
        loop {
            let request = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                r = requests.recv() => match r {
                    Some(r) => r,
                    None => break,
                },
            };
            let result = self.reload(request.cause).await;
            if let Some(reply) = request.reply {
                let _ = reply.send(result);
            }
        }
        if let Some(probes) = self.probes.take() {
            probes.stop().await;
        }
    }

    async fn reload(&mut self, cause: ReloadCause) -> ReloadResult {
        let current = self.shared.snapshot.load_full();
        let fingerprint = self.sources.fingerprint();
        if cause == ReloadCause::FileChange
            && (!self.sources.changed_on_disk() || self.failed.as_ref() == Some(&fingerprint))
        {
            return Ok(current); // nothing new since the running or the failed load
        }
        let path = self.shared.settings.config_path.clone();
        let sources = std::mem::take(&mut self.sources);
        let store = self.shared.secondaries.clone();
        let (loaded, sources) = tokio::task::spawn_blocking(move || {
            let previous = Previous {
                snapshot: &current,
                sources: &sources,
            };
            (load::load(&path, Some(previous), &store), sources)
        })
        .await
        .map_err(|_| ReloadError::ShuttingDown)?;
        self.sources = sources;
        let loaded = match loaded {
            Ok(l) => l,
            Err(problems) => {
                let generation = self.shared.snapshot.load().generation;
                for p in &problems {
                    error!(problem = %p, %cause, "reload failed; still serving generation {generation}");
                }
                self.shared.note_load(Some(&problems), false);
                self.failed = Some(fingerprint);
                return Err(ReloadError::Invalid(problems));
            }
        };
        for p in &loaded.snapshot.problems {
            error!(problem = %p, %cause, "zone kept at its last good version");
        }
        let restart = self.shared.settings.restart_needed_for(&loaded.settings);
        if !restart.is_empty() {
            warn!(
                settings = restart.join(", "),
                "settings changed that take effect at the next restart"
            );
        }
        self.failed = None;
        let (zones, pools) = (loaded.snapshot.zones().len(), loaded.snapshot.pools.len());
        let installed = self.install(loaded, Some(cause)).await;
        info!(generation = installed.generation, %cause, zones, pools, "reloaded");
        Ok(installed)
    }
}

/// Sends NOTIFY to the listed secondaries of every zone whose serial `new` changed.
fn notify_changed(old: &Snapshot, new: &Snapshot) {
    for zone in new.zones() {
        let changed = old
            .zone(&zone.origin)
            .is_some_and(|o| o.serial != zone.serial);
        let Some(transfer) = new.transfers.get(&zone.origin) else {
            continue;
        };
        if changed {
            for to in &transfer.notify {
                tokio::spawn(crate::dns::xfr::notify(
                    zone.origin.clone(),
                    zone.serial,
                    *to,
                    transfer.tsig.clone(),
                ));
            }
        }
    }
}

/// Gives the memory of a load's scratch work and of the previous generation back to the system
/// (at once, not after the allocator's delay: a reload of a large zone would leave the process
/// near its peak size for a while).
async fn release_memory() {
    let _ = tokio::task::spawn_blocking(crate::memory::release).await;
}

/// Watches the config file, the zone directory and `files` (the `[geoip]` databases) for writes, creations, removals and renames
/// (reads and directory listings are not changes: every load makes them). Each event is a nudge
/// on `changes`; [`debounce`] turns bursts of them into one reload request. The watcher stops
/// when the returned value is dropped.
pub fn watch(
    config: &Path,
    zones_dir: &Path,
    files: &[PathBuf],
    changes: mpsc::Sender<()>,
) -> notify::Result<RecommendedWatcher> {
    let config = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    let zones: PathBuf =
        std::fs::canonicalize(zones_dir).unwrap_or_else(|_| zones_dir.to_path_buf());
    let config_dir = config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let files: Vec<PathBuf> = files
        .iter()
        .map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()))
        .collect();
    let (c, z, f) = (config.clone(), zones.clone(), files.clone());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let Ok(event) = event else { return };
        let ours = |p: &PathBuf| *p == c || p.starts_with(&z) || f.contains(p);
        if is_change(&event.kind) && event.paths.iter().any(ours) {
            // A full queue already holds a nudge that covers this one.
            let _ = changes.try_send(());
        }
    })?;
    watcher.watch(&config_dir, RecursiveMode::NonRecursive)?;
    watcher.watch(&zones, RecursiveMode::Recursive)?;
    // A database's directory (it is replaced by a rename, as its updaters do).
    for dir in files.iter().filter_map(|f| f.parent()) {
        if dir != config_dir && !dir.starts_with(&zones) {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    Ok(watcher)
}

/// Whether a file event can change what a load reads: not an open, a read or a close after
/// reading.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Any | EventKind::Other => false,
    }
}

/// Turns nudges into reload requests: one per burst, [`DEBOUNCE`] after its first event.
pub async fn debounce(mut changes: mpsc::Receiver<()>, reloads: mpsc::Sender<ReloadRequest>) {
    while changes.recv().await.is_some() {
        tokio::time::sleep(DEBOUNCE).await;
        while changes.try_recv().is_ok() {}
        let request = ReloadRequest {
            cause: ReloadCause::FileChange,
            reply: None,
        };
        if reloads.send(request).await.is_err() {
            return;
        }
    }
}

/// Asks for a reload whenever a zone signed here is due ([`due`]), checking every second: the
/// refresh of signatures and the keys' timings (a rollover's steps) happen without anyone
/// asking, as the same swap as any reload. A signing that fails (no active key) is tried again
/// a minute later, not every second.
pub async fn signing_timer(
    shared: Arc<Shared>,
    reloads: mpsc::Sender<ReloadRequest>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut retry_after = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = crate::dnssec::keys::unix_now();
        if !any_due(&shared.snapshot.load_full(), now) || now < retry_after {
            continue;
        }
        let (reply, done) = tokio::sync::oneshot::channel();
        let request = ReloadRequest {
            cause: ReloadCause::Signing,
            reply: Some(reply),
        };
        if reloads.send(request).await.is_err() {
            return;
        }
        let _ = done.await;
        let now = crate::dnssec::keys::unix_now();
        if any_due(&shared.snapshot.load_full(), now) {
            retry_after = now + 60;
        }
    }
}

/// Whether a zone `snapshot` serves and dnslb signs is due at `now`.
fn any_due(snapshot: &Snapshot, now: u64) -> bool {
    snapshot
        .zones()
        .iter()
        .filter_map(|z| z.ours())
        .any(|o| crate::dnssec::due(o, now))
}
