//! The running server as one handle: loads the config, installs the first generation, binds the
//! DNS listeners and the admin endpoint, and starts the background tasks (reloader, SIGHUP, file
//! watching). [`Running::stop`] stops all of it and waits; dropping a [`Running`] stops it too.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Problem;
use crate::dns::{DnsHandler, DnsServer, HandlerSettings};
use crate::load::{self, AdminSettings, Loaded};
use crate::reload::{self, Reloader};
use crate::state::{ReloadCause, ReloadRequest, Shared};

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

fn bind_error(addrs: &[SocketAddr], source: std::io::Error) -> StartError {
    StartError::Bind {
        addr: addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        source,
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
    dns: Option<DnsServer>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

/// Loads the config and its zones, probes every target once, binds the listeners and serves.
pub async fn start(config_path: &Path) -> Result<Running, StartError> {
    let secondaries = Arc::new(crate::zone::secondary::Store::default());
    let loaded = load_blocking(config_path, secondaries.clone()).await?;
    for p in &loaded.snapshot.problems {
        warn!(problem = %p, "zone not served");
    }
    for w in &loaded.warnings {
        warn!(warning = %w, "check the config");
    }
    for z in loaded.snapshot.zones() {
        info!(zone = %z.origin, serial = z.serial, names = z.node_count(), "zone loaded");
    }
    let settings = loaded.settings.clone();
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let mut shared = Shared::new(settings.clone(), reload_tx.clone());
    shared.secondaries = secondaries;
    let shared = Arc::new(shared);
    let shutdown = CancellationToken::new();
    let mut reloader = Reloader::new(shared.clone(), shutdown.clone(), reload_tx.clone());
    reloader.install(loaded, None).await;

    let explain_allow = settings
        .admin
        .as_ref()
        .map(|a| a.allow.clone())
        .unwrap_or_default();
    let handler = DnsHandler::new(
        shared.snapshot.clone(),
        shared.stats.clone(),
        HandlerSettings {
            rrl: settings.rrl,
            explain_allow,
            identity: settings.identity.clone(),
            secondaries: shared.secondaries.clone(),
        },
    );
    let dns = DnsServer::bind(handler, &settings.listen, settings.tcp_max)
        .map_err(|e| bind_error(&settings.listen, e))?;
    let dns_addrs = dns.local_addrs.clone();
    for a in &dns_addrs {
        info!(addr = %a, "listening for DNS on UDP and TCP");
    }
    let mut tasks = JoinSet::new();
    let admin_addr = match settings.admin {
        Some(admin) => Some(serve_admin(admin, &shared, &shutdown, &mut tasks).await?),
        None => None,
    };
    tasks.spawn(reloader.run(reload_rx));
    tasks.spawn(crate::logging::report_suppressed(shutdown.clone()));
    tasks.spawn(crate::reload::signing_timer(
        shared.clone(),
        reload_tx.clone(),
        shutdown.clone(),
    ));
    // Registered here, before start-up returns (and main says READY): a SIGHUP that came
    // before a spawned task got to register would end the process (its default action).
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hup) => {
            tasks.spawn(on_sighup(hup, reload_tx.clone(), shutdown.clone()));
        }
        Err(e) => warn!(error = %e, "cannot listen for SIGHUP"),
    }
    if settings.watch {
        watch_files(
            config_path,
            &settings.zones_dir,
            &settings.geoip_files,
            reload_tx,
            &shutdown,
            &mut tasks,
        );
    }
    Ok(Running {
        shared,
        dns_addrs,
        admin_addr,
        dns: Some(dns),
        shutdown,
        tasks,
    })
}

/// The first load, off the runtime's threads.
async fn load_blocking(
    config_path: &Path,
    store: Arc<crate::zone::secondary::Store>,
) -> Result<Loaded, StartError> {
    let path = config_path.to_path_buf();
    tokio::task::spawn_blocking(move || load::load(&path, None, &store))
        .await
        .map_err(|e| StartError::Invalid(vec![Problem::file(config_path, e.to_string())]))?
        .map_err(StartError::Invalid)
}

/// Binds the admin endpoint and serves it until `shutdown`; returns the bound address.
async fn serve_admin(
    admin: AdminSettings,
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Result<SocketAddr, StartError> {
    let addr = admin.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| bind_error(&[addr], e))?;
    let local = listener.local_addr().map_err(|e| bind_error(&[addr], e))?;
    info!(addr = %local, "admin endpoint listening");
    let allow: Arc<[ipnet::IpNet]> = admin.allow.clone().into();
    let access = crate::admin::Access {
        token: admin.token,
        allow: admin.allow,
    };
    let router = crate::admin::router(shared.clone(), access);
    tasks.spawn(crate::admin::serve(
        listener,
        router,
        crate::admin::Limits {
            max_connections: admin.max_connections,
            idle_timeout: admin.idle_timeout,
            allow,
        },
        shutdown.clone(),
    ));
    Ok(local)
}

/// Watches the config, zone and database files until `shutdown`.
fn watch_files(
    config_path: &Path,
    zones_dir: &Path,
    databases: &[std::path::PathBuf],
    reloads: mpsc::Sender<ReloadRequest>,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let (changes, nudges) = mpsc::channel(1);
    match reload::watch(config_path, zones_dir, databases, changes) {
        Ok(watcher) => {
            let token = shutdown.clone();
            tasks.spawn(async move {
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = reload::debounce(nudges, reloads) => {}
                }
                drop(watcher);
            });
        }
        Err(e) => {
            warn!(error = %e, "cannot watch the config and zone files; reload with SIGHUP or POST /reload")
        }
    }
}

async fn on_sighup(
    mut hup: tokio::signal::unix::Signal,
    tx: mpsc::Sender<ReloadRequest>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            s = hup.recv() => if s.is_none() { return },
        }
        info!("SIGHUP: reloading");
        // systemd (Type=notify) hears of the reload and of its end.
        let mut reloading = vec![sd_notify::NotifyState::Reloading];
        reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
        let _ = sd_notify::notify(&reloading);
        let (reply, done) = tokio::sync::oneshot::channel();
        let request = ReloadRequest {
            cause: ReloadCause::Signal,
            reply: Some(reply),
        };
        if tx.send(request).await.is_ok() {
            let _ = done.await;
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    }
}

impl Running {
    /// How many threads serve DNS.
    pub fn dns_threads(&self) -> usize {
        self.dns.as_ref().map_or(0, DnsServer::threads)
    }

    /// Stops every task and DNS thread, and waits for them.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        if let Some(dns) = self.dns.take() {
            dns.stop().await;
        }
    }
}

impl Drop for Running {
    /// Dropped without [`Running::stop`] (a test that panics, say): every task is cancelled, the
    /// DNS threads are told to stop, and the probe tasks end with the shutdown token.
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.tasks.abort_all();
        // Dropping the DNS server cancels its threads.
        self.dns.take();
    }
}
