//! One task per secondary zone: refresh, transfer, install, expire; and [`Tasks`], which keeps
//! one running per configured zone across reloads.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::client;
use super::receive::{self, Received, Transferred};
use super::{Context, Held, SecondaryZone};
use crate::state::{ReloadCause, ReloadError, ReloadRequest, ReloadResult};
use crate::zone::PackedRecords;
use crate::zone::secondary::{serial_at_least, unix};

/// Bounds on the SOA's timers (a zone with refresh 0 must not make us spin; one with a year
/// must still be checked daily), as Knot bounds them.
const TIMER_MIN: Duration = Duration::from_secs(1);
const TIMER_MAX: Duration = Duration::from_secs(24 * 3600);
/// Retry interval before any SOA is known (first transfer not yet done).
const FIRST_RETRY: Duration = Duration::from_secs(2);
const FIRST_RETRY_MAX: Duration = Duration::from_secs(60);
/// NOTIFYs are acted on at most once per this interval per zone, however many come: one SOA
/// query per interval (BIND's `serial-query-rate` allows 20 a second for all zones together;
/// Knot merges a NOTIFY into a refresh already due). Short enough that a change a primary
/// announces right after another is still followed within a second.
pub const NOTIFY_INTERVAL: Duration = Duration::from_millis(500);

/// The zone tasks, one per configured secondary zone.
pub struct Tasks {
    ctx: Context,
    running: FxHashMap<Name, (SecondaryZone, CancellationToken)>,
}

impl Tasks {
    /// No task yet.
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            running: FxHashMap::default(),
        }
    }

    /// Runs one task per zone of `zones`: tasks of zones gone or changed stop, new ones start.
    pub fn sync(&mut self, zones: &FxHashMap<Name, SecondaryZone>) {
        self.running.retain(|origin, (zone, token)| {
            let keep = zones.get(origin) == Some(zone);
            if !keep {
                token.cancel();
            }
            keep
        });
        self.ctx.store.retain(|origin| zones.contains_key(origin));
        for (origin, zone) in zones {
            if self.running.contains_key(origin) {
                continue;
            }
            let token = self.ctx.shutdown.child_token();
            tokio::spawn(run(zone.clone(), self.ctx.clone(), token.clone()));
            self.running.insert(origin.clone(), (zone.clone(), token));
        }
    }
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.running.keys()).finish()
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for (_, token) in self.running.values() {
            token.cancel();
        }
    }
}

/// A SOA timer (a 32-bit count of seconds, negative in hickory's type when over 2^31).
fn clamp(seconds: i32) -> Duration {
    Duration::from_secs(u64::from(seconds as u32)).clamp(TIMER_MIN, TIMER_MAX)
}

/// Serves one zone until `stop`.
async fn run(zone: SecondaryZone, ctx: Context, stop: CancellationToken) {
    let origin = zone.origin.clone();
    let wake = ctx.store.waker(&origin);
    // The last good refresh: from the cache file's time when it was read at start-up.
    let mut refreshed: Option<Instant> = ctx
        .store
        .status(&origin)
        .and_then(|s| s.refreshed_at)
        .map(|at| {
            let age = unix(SystemTime::now()).saturating_sub(at);
            Instant::now()
                .checked_sub(Duration::from_secs(age))
                .unwrap_or_else(Instant::now)
        });
    let mut first_retry = FIRST_RETRY;
    // After a transfer that did not load, the next one is an AXFR (its records are not a base).
    let mut axfr_next = false;
    // When a NOTIFY last caused a check: the next one waits until NOTIFY_INTERVAL after it.
    let mut notified_at: Option<Instant> = None;
    loop {
        let held = ctx.store.held(&origin);
        let attempt = tokio::select! {
            _ = stop.cancelled() => return,
            r = refresh(&zone, held.as_ref(), axfr_next) => r,
        };
        let ok = match attempt {
            Ok((primary, transferred)) => {
                refreshed = Some(Instant::now());
                let loaded = settle(&zone, &ctx, primary, transferred, held).await;
                axfr_next = !loaded;
                loaded
            }
            Err(e) => {
                warn!(zone = %origin, error = %e, "secondary zone: no primary could be refreshed from");
                ctx.store.update(&origin, |s| s.error = Some(e));
                false
            }
        };
        let (deadline, expires) = next_check(&ctx, &origin, ok, refreshed, &mut first_retry);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {
                // NOTIFYs are coalesced: at most one check per NOTIFY_INTERVAL, however many
                // come; those that come meanwhile are folded into the one pending wake-up.
                if let Some(earliest) = notified_at.map(|at| at + NOTIFY_INTERVAL) {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep_until(earliest.into()) => {}
                    }
                }
                notified_at = Some(Instant::now());
                ctx.store.notify_checked(&origin);
                debug!(zone = %origin, "NOTIFY: checking the primaries");
            }
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        if expires.is_some_and(|e| Instant::now() >= e) {
            warn!(zone = %origin, "secondary zone expired: no primary answered within the SOA's expire time; answering SERVFAIL");
            ctx.store.expire(&origin);
            refreshed = None;
            let _ = reload(&ctx).await; // what it served is logged by the reloader
        }
    }
}

/// When to check the primaries next (the SOA's refresh after a success, its retry after a
/// failure, a doubling wait while nothing is held), and when the zone expires; the expiry is
/// written into the zone's status.
fn next_check(
    ctx: &Context,
    origin: &Name,
    ok: bool,
    refreshed: Option<Instant>,
    first_retry: &mut Duration,
) -> (Instant, Option<Instant>) {
    let soa = ctx.store.held(origin).map(|h| h.soa);
    let wait = match (&soa, ok) {
        (Some(s), true) => clamp(s.refresh),
        (Some(s), false) => clamp(s.retry),
        (None, _) => {
            let w = *first_retry;
            *first_retry = (*first_retry * 2).min(FIRST_RETRY_MAX);
            w
        }
    };
    let expires = soa
        .as_ref()
        .zip(refreshed)
        .map(|(s, at)| at + clamp(s.expire));
    ctx.store.update(origin, |s| {
        s.expires_at = expires.map(|e| {
            unix(SystemTime::now()) + e.saturating_duration_since(Instant::now()).as_secs()
        });
    });
    let mut deadline = Instant::now() + wait;
    if let Some(e) = expires {
        deadline = deadline.min(e);
    }
    (deadline, expires)
}

/// After a refresh from `primary`: the zone was up to date (`None`), or what it transferred
/// is installed. Whether the zone now serves what the primary has.
async fn settle(
    zone: &SecondaryZone,
    ctx: &Context,
    primary: SocketAddr,
    transferred: Option<Transferred>,
    held: Option<Held>,
) -> bool {
    let Some(t) = transferred else {
        ctx.store.update(&zone.origin, |s| {
            s.primary = Some(primary);
            s.refreshed_at = Some(unix(SystemTime::now()));
            // A transfer that did not load stays the error until one loads.
            if s.rejected_serial.is_none() {
                s.error = None;
            }
        });
        return true;
    };
    install(zone, ctx, primary, t, held).await
}

/// The primaries in turn: the first whose SOA answers says whether we are up to date, and if
/// not, transfers (IXFR from what we hold, AXFR when that fails, we hold nothing, or `axfr`).
async fn refresh(
    zone: &SecondaryZone,
    held: Option<&Held>,
    axfr: bool,
) -> Result<(SocketAddr, Option<Transferred>), String> {
    let key = zone.tsig.as_ref();
    let mut errors = Vec::new();
    for &primary in &zone.primaries {
        let serial = match client::soa_serial(primary, &zone.origin, key).await {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{primary}: SOA query: {e}"));
                continue;
            }
        };
        if let Some(ours) = held
            && serial_at_least(ours.soa.serial, serial)
            && !axfr
        {
            return Ok((primary, None));
        }
        let base = held.filter(|_| !axfr).cloned();
        let ixfr = base.is_some();
        match receive::transfer(primary, &zone.origin, key, base, &zone.limits).await {
            Ok(Received::UpToDate) => return Ok((primary, None)),
            Ok(Received::Zone(t)) => return Ok((primary, Some(*t))),
            Err(e) if ixfr => {
                // RFC 1995 §4: an IXFR that fails falls back to AXFR.
                match receive::transfer(primary, &zone.origin, key, None, &zone.limits).await {
                    Ok(Received::Zone(t)) => return Ok((primary, Some(*t))),
                    Ok(Received::UpToDate) => return Ok((primary, None)),
                    Err(e2) => errors.push(format!("{primary}: IXFR: {e}; AXFR: {e2}")),
                }
            }
            Err(e) => errors.push(format!("{primary}: AXFR: {e}")),
        }
    }
    Err(errors.join("; "))
}

/// Asks the reloader for a reload and waits for its result.
async fn reload(ctx: &Context) -> ReloadResult {
    let (reply, done) = tokio::sync::oneshot::channel();
    let request = ReloadRequest {
        cause: ReloadCause::Transfer,
        reply: Some(reply),
    };
    if ctx.reloads.send(request).await.is_err() {
        return Err(ReloadError::ShuttingDown);
    }
    done.await.unwrap_or(Err(ReloadError::ShuttingDown))
}

/// Keeps a transfer's records, has them loaded, and writes the cache file once they serve.
/// A transfer that does not load is discarded: the records held before (`before`) are held
/// again, so that neither the next IXFR nor a later reload builds on it. Whether it loaded.
async fn install(
    zone: &SecondaryZone,
    ctx: &Context,
    primary: SocketAddr,
    t: Transferred,
    before: Option<Held>,
) -> bool {
    let origin = &zone.origin;
    let serial = t.soa.serial;
    let count = t.records.len();
    let records = Arc::new(t.records);
    let now = unix(SystemTime::now());
    if t.ignored > 0 {
        warn!(zone = %origin, serial, ignored = t.ignored, "records outside the zone (or not of class IN) in the transfer were ignored");
    }
    ctx.store.keep(
        origin,
        Held {
            records: records.clone(),
            file: t.file.clone(),
            soa: t.soa.clone(),
        },
        |s| {
            s.serial = Some(serial);
            s.primary = Some(primary);
            s.refreshed_at = Some(now);
        },
    );
    let reloaded = reload(ctx).await;
    let served = reloaded
        .as_ref()
        .map(|installed| installed.zone(origin).map(|z| z.serial));
    if !matches!(served, Ok(Some(s)) if s == serial) {
        let why = match served {
            Ok(served) => format!(
                "serial {serial} from {primary} did not load (see /status problems); serving {}",
                served.map_or("nothing".into(), |s| format!("serial {s}"))
            ),
            Err(e) => format!(
                "serial {serial} from {primary} did not load: {}",
                e.problems().join("; ")
            ),
        };
        warn!(zone = %origin, "{why}");
        ctx.store.discard(origin, before, |s| {
            s.rejected_serial = Some(serial);
            s.error = Some(why);
        });
        return false;
    }
    ctx.store.update(origin, |s| {
        s.transferred_at = Some(now);
        s.last_transfer = Some(t.kind);
        s.transfer_seconds = Some(t.took.as_secs_f64());
        s.ignored_records = t.ignored;
        s.rejected_serial = None;
        s.error = None;
    });
    info!(zone = %origin, serial, %primary, kind = t.kind, records = count, seconds = t.took.as_secs_f64(), "secondary zone transferred");
    if let Some(path) = zone.cache_file.clone() {
        let origin = origin.clone();
        let written = tokio::task::spawn_blocking(move || {
            let text = cache_text(&origin, serial, primary, &records);
            write_atomically(&path, &text)
        })
        .await;
        if let Ok(Err(e)) = written {
            warn!(zone = %zone.origin, error = %e, "cannot write the cache file");
        }
    }
    true
}

/// The cache file's text: the records, each on a line with its full owner name.
fn cache_text(origin: &Name, serial: u32, primary: SocketAddr, records: &PackedRecords) -> String {
    let mut apex = String::new();
    let wire = hickory_proto::serialize::binary::BinEncodable::to_bytes(origin).unwrap_or_default();
    crate::zone::presentation::name(&wire, &mut apex);
    crate::zone::presentation::zone_text(
        &format!(
            "{apex} serial {serial}, transferred from {primary} by dnslb; rewritten at each transfer"
        ),
        records,
    )
}

/// Writes `text` to a temporary file of its own beside `path` (named after it, so that two
/// cache files in one folder never share one), flushes it, and renames it into place.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_file_reads_back_as_the_same_records() {
        let origin = Name::from_ascii("example.com.").unwrap();
        let text = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 admin 7 60 10 600 60\n@ NS ns1\nns1 A 192.0.2.1\nwww AAAA 2001:db8::1\n@ MX 10 mail\n@ TXT \"a b\" \"c\\\\\\\"d\"\n_sip._tcp SRV 1 2 5060 Sip\nalias CNAME www\n@ CAA 0 issue \"ca.example\"\nMixed.Case PTR Target.Example.\nodd\\.dot A 192.0.2.9\nsvc HTTPS 1 . alpn=h2\n@ RP admin.example.com. txt.example.com.\n";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.zone");
        std::fs::write(&file, text).unwrap();
        let parsed = crate::zone::parse_zone_file(&file, &origin);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let packed = parsed.records;
        let records: Vec<_> = packed.iter().map(|s| s.record).collect();
        let cache = dir.path().join("cache.zone");
        let primary: SocketAddr = "127.0.0.1:53".parse().unwrap();
        write_atomically(&cache, &cache_text(&origin, 7, primary, &packed)).unwrap();
        let back = crate::zone::parse_zone_file(&cache, &origin);
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        let back: Vec<_> = back.records.iter().map(|s| s.record).collect();
        assert_eq!(back, records);
    }

    /// A label of any octets, or an IDN label as it travels (`xn--`).
    fn label() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 1..16),
            "xn--[a-z0-9]{1,8}-[a-z0-9]{3}".prop_map(String::into_bytes),
            "[A-Za-z0-9*_-]{1,10}".prop_map(String::into_bytes),
        ]
    }

    /// Every record of the fidelity fixtures (every RDATA type they hold).
    fn fixture_records() -> Vec<hickory_proto::rr::Record> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fidelity/zones");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            let origin = Name::from_ascii(file.trim_end_matches("zone")).unwrap();
            let parsed = crate::zone::parse_zone_file(&path, &origin);
            out.extend(parsed.records.iter().map(|s| s.record));
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(48))]
        #[test]
        fn cache_files_read_back_octet_for_octet(labels in proptest::collection::vec(label(), 1..4)) {
            use hickory_proto::rr::rdata::{CNAME, MX, NS};
            use hickory_proto::rr::{RData, Record, RecordType};
            let origin = Name::from_ascii("types.test.").unwrap();
            let mut owner = origin.clone();
            for l in labels.iter().rev() {
                owner = owner.prepend_label(l.as_slice()).unwrap();
            }
            let mut records: Vec<Record> = Vec::new();
            for r in fixture_records() {
                let at = if r.record_type() == RecordType::SOA { origin.clone() } else { owner.clone() };
                if r.record_type() == RecordType::SOA && records.iter().any(|x| x.record_type() == RecordType::SOA) {
                    continue;
                }
                records.push(Record::from_rdata(at, r.ttl, r.data.clone()));
            }
            // The name in RDATA as well.
            records.push(Record::from_rdata(origin.clone(), 60, RData::NS(NS(owner.clone()))));
            records.push(Record::from_rdata(origin.clone(), 60, RData::MX(MX::new(5, owner.clone()))));
            records.push(Record::from_rdata(Name::from_ascii("alias.types.test.").unwrap(), 60, RData::CNAME(CNAME(owner.clone()))));
            let file: Arc<Path> = Arc::from(Path::new("transfer"));
            let sourced: Vec<_> = records.iter().map(|r| crate::zone::SourcedRecord { record: r.clone(), file: file.clone(), line: 1 }).collect();
            let packed = PackedRecords::pack(&sourced).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let cache = dir.path().join("types.test.cache");
            write_atomically(&cache, &cache_text(&origin, 1, "127.0.0.1:53".parse().unwrap(), &packed)).unwrap();
            let back = crate::zone::parse_zone_file(&cache, &origin);
            let text = std::fs::read_to_string(&cache).unwrap();
            proptest::prop_assert!(back.errors.is_empty(), "{:?}\n{}", back.errors, text);
            let back: Vec<Record> = back.records.iter().map(|s| s.record).collect();
            proptest::prop_assert_eq!(back.len(), records.len());
            for (a, b) in back.iter().zip(&records) {
                proptest::prop_assert_eq!(a, b);
                proptest::prop_assert!(a.name.eq_case(&b.name), "{} {}", a.name, b.name);
                let names = |r: &Record| match &r.data {
                    RData::NS(n) => Some(n.0.clone()),
                    RData::CNAME(n) => Some(n.0.clone()),
                    RData::MX(m) => Some(m.exchange.clone()),
                    _ => None,
                };
                if let (Some(x), Some(y)) = (names(a), names(b)) {
                    proptest::prop_assert!(x.eq_case(&y), "{} {}", x, y);
                }
            }
        }
    }
}
