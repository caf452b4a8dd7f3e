//! One task per secondary zone: refresh, transfer, install, expire; and [`Tasks`], which keeps
//! one running per configured zone across reloads.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::rr::{Name, Record, RecordType};
use rustc_hash::FxHashMap;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::client::{self, Transferred};
use super::{Context, Held, SecondaryZone};
use crate::state::{ReloadCause, ReloadRequest};
use crate::zone::secondary::{serial_at_least, unix};
use crate::zone::{PackedRecords, SourcedRecord};

/// Bounds on the SOA's timers (a zone with refresh 0 must not make us spin; one with a year
/// must still be checked daily), as Knot bounds them.
const TIMER_MIN: Duration = Duration::from_secs(1);
const TIMER_MAX: Duration = Duration::from_secs(24 * 3600);
/// Retry interval before any SOA is known (first transfer not yet done).
const FIRST_RETRY: Duration = Duration::from_secs(2);
const FIRST_RETRY_MAX: Duration = Duration::from_secs(60);

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

/// The records held, SOA first: unpacked only when a transfer needs them (an IXFR applies its
/// differences to them).
fn unpacked(held: &Held) -> Option<Vec<Record>> {
    let mut records: Vec<Record> = held
        .records
        .unpack()
        .into_iter()
        .map(|s| s.record)
        .collect();
    let soa = records
        .iter()
        .position(|r| r.record_type() == RecordType::SOA)?;
    records.swap(0, soa);
    Some(records)
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
        .statuses()
        .into_iter()
        .find(|(o, _)| *o == origin)
        .and_then(|(_, s)| s.refreshed_at)
        .map(|at| {
            let age = unix(SystemTime::now()).saturating_sub(at);
            Instant::now()
                .checked_sub(Duration::from_secs(age))
                .unwrap_or_else(Instant::now)
        });
    let mut first_retry = FIRST_RETRY;
    loop {
        let held = ctx.store.held(&origin);
        let refreshed_now = tokio::select! {
            _ = stop.cancelled() => return,
            r = refresh(&zone, held.as_ref()) => r,
        };
        let ok = match refreshed_now {
            Ok((primary, None)) => {
                refreshed = Some(Instant::now());
                ctx.store.update(&origin, |s| {
                    s.primary = Some(primary);
                    s.refreshed_at = Some(unix(SystemTime::now()));
                    s.error = None;
                });
                true
            }
            Ok((primary, Some(t))) => {
                refreshed = Some(Instant::now());
                install(&zone, &ctx, primary, t).await;
                true
            }
            Err(e) => {
                warn!(zone = %origin, error = %e, "secondary zone: no primary could be refreshed from");
                ctx.store.update(&origin, |s| s.error = Some(e));
                false
            }
        };
        let soa = ctx.store.held(&origin).map(|h| h.soa);
        let wait = match (&soa, ok) {
            (Some(s), true) => clamp(s.refresh),
            (Some(s), false) => clamp(s.retry),
            (None, _) => {
                let w = first_retry;
                first_retry = (first_retry * 2).min(FIRST_RETRY_MAX);
                w
            }
        };
        let expires = soa
            .as_ref()
            .zip(refreshed)
            .map(|(s, at)| at + clamp(s.expire));
        ctx.store.update(&origin, |s| {
            s.expires_at = expires.map(|e| {
                unix(SystemTime::now()) + e.saturating_duration_since(Instant::now()).as_secs()
            });
        });
        let mut deadline = Instant::now() + wait;
        if let Some(e) = expires {
            deadline = deadline.min(e);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => info!(zone = %origin, "NOTIFY: checking the primaries"),
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        if expires.is_some_and(|e| Instant::now() >= e) {
            warn!(zone = %origin, "secondary zone expired: no primary answered within the SOA's expire time; answering SERVFAIL");
            ctx.store.expire(&origin);
            refreshed = None;
            reload(&ctx).await;
        }
    }
}

/// The primaries in turn: the first whose SOA answers says whether we are up to date, and if
/// not, transfers (IXFR from what we hold, AXFR when that fails or we hold nothing).
async fn refresh(
    zone: &SecondaryZone,
    held: Option<&Held>,
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
        {
            return Ok((primary, None));
        }
        let records = held.and_then(unpacked);
        match client::transfer(primary, &zone.origin, key, records.as_deref()).await {
            Ok(t) => return Ok((primary, t)),
            Err(e) if records.is_some() => {
                // RFC 1995 §4: an IXFR that fails falls back to AXFR.
                match client::transfer(primary, &zone.origin, key, None).await {
                    Ok(t) => return Ok((primary, t)),
                    Err(e2) => errors.push(format!("{primary}: IXFR: {e}; AXFR: {e2}")),
                }
            }
            Err(e) => errors.push(format!("{primary}: AXFR: {e}")),
        }
    }
    Err(errors.join("; "))
}

/// Asks the reloader for a reload and waits for it.
async fn reload(ctx: &Context) {
    let (reply, done) = tokio::sync::oneshot::channel();
    let request = ReloadRequest {
        cause: ReloadCause::Transfer,
        reply: Some(reply),
    };
    if ctx.reloads.send(request).await.is_ok() {
        let _ = done.await;
    }
}

/// What problems with a transfer's records name.
fn transfer_file(origin: &Name, primary: SocketAddr, serial: u32) -> Arc<Path> {
    Arc::from(Path::new(&format!(
        "{origin} serial {serial} transferred from {primary}, record"
    )))
}

/// Keeps a transfer's records, has them loaded, and writes the cache file once they serve.
async fn install(zone: &SecondaryZone, ctx: &Context, primary: SocketAddr, t: Transferred) {
    let origin = &zone.origin;
    let Some(soa) = client::soa_of(&t.records).cloned() else {
        return; // the client hands over only transfers that start with the SOA
    };
    let serial = soa.serial;
    let file = transfer_file(origin, primary, serial);
    let sourced: Vec<SourcedRecord> = t
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| SourcedRecord {
            record: r.clone(),
            file: file.clone(),
            line: i + 1,
        })
        .collect();
    let Some(packed) = PackedRecords::pack(&sourced) else {
        warn!(zone = %origin, "the transferred zone is too large to keep");
        return;
    };
    let now = unix(SystemTime::now());
    ctx.store.keep(
        origin,
        Held {
            records: Arc::new(packed),
            file,
            soa,
        },
        |s| {
            s.serial = Some(serial);
            s.primary = Some(primary);
            s.refreshed_at = Some(now);
            s.transferred_at = Some(now);
            s.last_transfer = Some(t.kind);
            s.error = None;
        },
    );
    reload(ctx).await;
    let served = ctx.snapshot.load().zone(origin).map(|z| z.serial);
    if served != Some(serial) {
        let why = format!(
            "serial {serial} from {primary} did not load; serving {}",
            served.map_or("nothing".into(), |s| format!("serial {s}"))
        );
        warn!(zone = %origin, "{why}");
        ctx.store.update(origin, |s| s.error = Some(why));
        return;
    }
    info!(zone = %origin, serial, %primary, kind = t.kind, records = t.records.len(), "secondary zone transferred");
    if let Some(path) = zone.cache_file.clone() {
        let text = cache_text(origin, serial, primary, &t.records);
        let written = tokio::task::spawn_blocking(move || write_atomically(&path, &text)).await;
        if let Ok(Err(e)) = written {
            warn!(zone = %origin, error = %e, "cannot write the cache file");
        }
    }
}

/// A zone file of `records`: one per line, names in full.
fn cache_text(origin: &Name, serial: u32, primary: SocketAddr, records: &[Record]) -> String {
    let mut text = format!(
        "; {origin} serial {serial}, transferred from {primary} by dnslb; rewritten at each transfer\n$ORIGIN {origin}\n"
    );
    for r in records {
        text.push_str(&presentation(r));
        text.push('\n');
    }
    text
}

/// One record as a zone-file line: the types whose text hickory writes exactly as zone files
/// read them in their usual form, every other type in RFC 3597's generic form (`TYPEnnn \# len
/// hex`), which reads back octet for octet whatever the type.
fn presentation(r: &Record) -> String {
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
    match r.record_type() {
        RecordType::A
        | RecordType::AAAA
        | RecordType::NS
        | RecordType::CNAME
        | RecordType::PTR
        | RecordType::MX
        | RecordType::SOA => format!("{} {} IN {} {}", r.name, r.ttl, r.record_type(), r.data),
        t => {
            let mut octets = Vec::new();
            // A fresh encoder: no earlier name to compress against, and the case kept.
            let _ = r.data.emit(&mut BinEncoder::new(&mut octets));
            format!(
                "{} {} IN TYPE{} \\# {} {}",
                r.name,
                r.ttl,
                u16::from(t),
                octets.len(),
                hex::encode(&octets)
            )
        }
    }
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
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
        let records: Vec<Record> = parsed.records.into_iter().map(|s| s.record).collect();
        let cache = dir.path().join("cache.zone");
        let primary: SocketAddr = "127.0.0.1:53".parse().unwrap();
        write_atomically(&cache, &cache_text(&origin, 7, primary, &records)).unwrap();
        let back = crate::zone::parse_zone_file(&cache, &origin);
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        let back: Vec<Record> = back.records.into_iter().map(|s| s.record).collect();
        assert_eq!(back, records);
    }
}
