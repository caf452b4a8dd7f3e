//! Logging that never panics and never blocks a query: events are formatted into a bounded
//! queue that one thread writes to stderr (lines are dropped, and counted, when the queue is
//! full, a slow reader being no reason to stall DNS), write errors (a closed pipe) are ignored, and
//! warnings that a remote sender can provoke (hickory's per-packet complaints) are counted by kind
//! and logged at most once per kind per [`REMOTE_EVENT_INTERVAL`].

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::{Level, Metadata};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Log lines that wait for the writer at most; more are dropped and counted.
const QUEUE_LINES: usize = 4096;
/// At most one line per kind of remote event in this time.
pub const REMOTE_EVENT_INTERVAL: Duration = Duration::from_secs(10);

/// Installs the global subscriber: `RUST_LOG` (default `info`; hickory's own per-query logging
/// off unless named). Keep the guard until exit: dropping it flushes the queue.
pub fn init() -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("dnslb-log")
        .finish(QuietStderr);
    let _ = DROPPED.set(writer.error_counter());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(RemoteEvents);
    // The level filter is global, not the layer's own: a disabled event is then never built.
    // As a per-layer filter it let through a debug event whose arguments log themselves
    // (hickory-net's "final message" of every transfer request).
    tracing_subscriber::registry()
        .with(filter())
        .with(fmt)
        .init();
    guard
}

/// `RUST_LOG`, or `info`; hickory's own per-query logging stays off (it costs about 16 % of the
/// throughput at INFO) unless `RUST_LOG` names hickory explicitly.
fn filter() -> EnvFilter {
    let mut spec = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "info".into());
    if !spec.contains("hickory") {
        spec.push_str(",hickory_server=warn,hickory_net=warn,hickory_proto=warn");
    }
    EnvFilter::try_new(&spec).unwrap_or_else(|_| {
        EnvFilter::new("info,hickory_server=warn,hickory_net=warn,hickory_proto=warn")
    })
}

/// Log lines dropped because the writer could not keep up.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// stderr whose errors are swallowed: a log sink that went away must not take the server with it.
struct QuietStderr;

impl Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(std::io::stderr().write(buf).unwrap_or(buf.len()))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Counts of one kind of remote event.
#[derive(Debug)]
struct Kind {
    total: u64,
    suppressed: u64,
    last_logged: Option<Instant>,
}

fn kinds() -> &'static Mutex<HashMap<String, Kind>> {
    static KINDS: OnceLock<Mutex<HashMap<String, Kind>>> = OnceLock::new();
    KINDS.get_or_init(Mutex::default)
}

/// Remote events seen, by kind (the hickory module and line that reported it).
pub fn remote_events() -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = kinds()
        .lock()
        .map(|k| k.iter().map(|(name, k)| (name.clone(), k.total)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Takes the counts of lines suppressed since the last call, by kind, for one summary line each.
pub fn take_suppressed() -> Vec<(String, u64)> {
    let Ok(mut kinds) = kinds().lock() else {
        return Vec::new();
    };
    kinds
        .iter_mut()
        .filter(|(_, k)| k.suppressed > 0)
        .map(|(name, k)| (name.clone(), std::mem::take(&mut k.suppressed)))
        .collect()
}

/// Events logged by hickory at WARN or above are about a remote peer (a malformed packet, a
/// connection that failed): counted by kind, and let through once per interval per kind.
struct RemoteEvents;

impl<S> Filter<S> for RemoteEvents {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, _cx: &Context<'_, S>) -> bool {
        let meta = event.metadata();
        let remote = meta.target().starts_with("hickory") || meta.target() == "dnslb::remote";
        if !remote || *meta.level() > Level::WARN {
            return true;
        }
        let kind = format!("{}:{}", meta.target(), meta.line().unwrap_or(0));
        let Ok(mut kinds) = kinds().lock() else {
            return false;
        };
        let k = kinds.entry(kind).or_insert(Kind {
            total: 0,
            suppressed: 0,
            last_logged: None,
        });
        k.total += 1;
        let now = Instant::now();
        if k.last_logged
            .is_some_and(|t| now.duration_since(t) < REMOTE_EVENT_INTERVAL)
        {
            k.suppressed += 1;
            return false;
        }
        k.last_logged = Some(now);
        true
    }
}

/// Logs, once per interval, how many remote-event lines were suppressed, until `stop`.
pub async fn report_suppressed(stop: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(REMOTE_EVENT_INTERVAL) => {}
        }
        for (kind, n) in take_suppressed() {
            tracing::warn!(
                kind,
                suppressed = n,
                "remote events of this kind were not logged"
            );
        }
    }
}
