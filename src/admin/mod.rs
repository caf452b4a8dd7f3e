//! The HTTP admin endpoint: `/status` (JSON), `/metrics` (Prometheus text), runtime overrides of
//! members (`drain`, `undrain`, `weight`, and `DELETE .../weight` to clear it) and `/reload`.
//!
//! It reads the current snapshot and the health cells, and writes only through
//! [`MemberState`](crate::pool::MemberState)'s methods, so nothing here stands on the query path.
//! A member's state comes from the one [`Availability`](crate::pool::Availability) the draw uses.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hickory_proto::rr::Name;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde_json::json;

mod access;
mod serve;

pub use access::{ADMIN_HEADER, Access};
pub use serve::{Limits, serve};

use crate::pool::{Member, Pool};
use crate::snapshot::Snapshot;
use crate::state::Shared;
use crate::zone::secondary::State as SecondaryState;

/// The admin routes over `shared`, behind the access rules.
pub fn router(shared: Arc<Shared>, access: Access) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/reload", post(reload))
        .route(
            "/pools/{pool}/members/{member}/{action}",
            post(override_member).delete(clear_override),
        )
        .with_state(shared)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(access),
            access::enforce,
        ))
}

/// One member in `/status`: `null` wherever nothing is known.
#[derive(Serialize)]
struct MemberStatus {
    member: String,
    configured_weight: u32,
    weight_override: Option<u32>,
    /// The override hides a configured weight that changed since it was set.
    override_masks_config: bool,
    /// The weight as health scales it (agent %, slow start), unrounded; 0 when not served.
    effective_weight: f64,
    /// `up`, `down`, `drained` or `unprobed` (no probe: always healthy).
    state: &'static str,
    /// While ramping up after recovery: the share of its weight it gets now.
    slow_start_percent: Option<f64>,
    drained: bool,
    check: Option<String>,
    last_probe: Option<String>,
    last_probe_ok: Option<bool>,
    last_probe_error: Option<String>,
    /// The reason it is counted under in `dnslb_probe_failures_total`.
    last_probe_failure: Option<&'static str>,
    /// Round-trip time of the last probe, when it succeeded and the target is up.
    rtt_ms: Option<f64>,
    /// Agent probes only.
    agent_percent: Option<f64>,
    /// When the target last went up or down (RFC 3339).
    last_change: Option<String>,
    seconds_in_state: Option<u64>,
    rise_fall: Option<RiseFall>,
    /// The last (up to 20) probe results, oldest first.
    history: Vec<bool>,
    served: u64,
}

/// Progress towards the next flip.
#[derive(Serialize)]
struct RiseFall {
    successes: u32,
    failures: u32,
    rise: u32,
    fall: u32,
}

/// RFC 3339 of Unix milliseconds (`None` for 0: never).
fn rfc3339(unix_ms: u64) -> Option<String> {
    (unix_ms > 0).then(|| {
        humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms),
        )
        .to_string()
    })
}

fn member_status(pool: &Pool, m: &Member) -> MemberStatus {
    let avail = m.availability(pool.slow_start);
    let h = m.health.as_deref();
    let probed = h.filter(|h| h.is_probed());
    let changed = probed.map(|h| h.last_change_unix_ms.load(Ordering::Relaxed));
    let agent = matches!(
        pool.probe.as_ref().map(|p| &p.kind),
        Some(crate::health::ProbeKind::Agent)
    );
    let ramp = h.and_then(|h| h.weight_factor(pool.slow_start).map(|f| (h, f)));
    MemberStatus {
        member: m.label.clone(),
        configured_weight: m.weight,
        weight_override: m.state.weight_override(),
        override_masks_config: m.state.override_masks(m.weight),
        effective_weight: avail.exact_weight(),
        state: avail.state.as_str(),
        slow_start_percent: ramp
            .filter(|(h, f)| *f < h.agent_permille())
            .map(|(h, f)| f64::from(f) * 100.0 / f64::from(h.agent_permille().max(1))),
        drained: m.state.is_drained(),
        check: m.check.map(|c| c.to_string()),
        last_probe: probed.and_then(|h| rfc3339(h.last_probe_unix_ms.load(Ordering::Relaxed))),
        last_probe_ok: probed.map(|h| h.last_ok.load(Ordering::Relaxed)),
        last_probe_error: probed.and_then(|h| h.last_error()).map(|e| e.to_string()),
        last_probe_failure: probed
            .and_then(|h| h.last_error())
            .map(|e| e.failure().as_str()),
        rtt_ms: probed
            .filter(|h| h.is_up() && h.last_ok.load(Ordering::Relaxed))
            .map(|h| h.rtt_us.load(Ordering::Relaxed) as f64 / 1000.0),
        agent_percent: h
            .filter(|_| agent)
            .map(|h| f64::from(h.agent_permille()) / 10.0),
        last_change: changed.and_then(rfc3339),
        seconds_in_state: changed.map(|c| crate::health::unix_ms().saturating_sub(c) / 1000),
        rise_fall: probed.zip(pool.probe.as_ref()).map(|(h, spec)| RiseFall {
            successes: h.successes.load(Ordering::Relaxed),
            failures: h.failures.load(Ordering::Relaxed),
            rise: spec.rise,
            fall: spec.fall,
        }),
        history: probed.map_or_else(Vec::new, |h| h.history(20)),
        served: m.state.served(),
    }
}

/// A pool's probe settings, as fields.
fn probe_status(spec: &crate::health::ProbeSpec) -> serde_json::Value {
    let mut v = json!({
        "kind": spec.kind.name(),
        "port": spec.port,
        "interval": humantime::format_duration(spec.interval).to_string(),
        "timeout": humantime::format_duration(spec.timeout).to_string(),
        "rise": spec.rise,
        "fall": spec.fall,
    });
    if let crate::health::ProbeKind::Http { path, host, expect } = &spec.kind {
        v["path"] = json!(path);
        v["host"] = json!(host);
        v["expect"] = json!(
            expect
                .iter()
                .map(|r| format!("{}-{}", r.start(), r.end()))
                .collect::<Vec<_>>()
        );
    }
    v
}

/// How a client policy spreads clients now (the policy's own view: for `hash`, the share of
/// 1,024 sample networks each member gets; for `region`, each region's members); `null` for the
/// other policies.
fn spread(pool: &Pool) -> serde_json::Value {
    let candidates: Vec<_> = pool
        .availabilities()
        .iter()
        .map(|a| a.candidate())
        .collect();
    let labels: Vec<String> = pool.members.iter().map(|m| m.label.clone()).collect();
    pool.policy.spread(&labels, &candidates)
}

/// The status page: one HTML file, served by dnslb itself, that polls `/status` every second.
async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        include_str!("status.html"),
    )
        .into_response()
}

/// `/status`' account of a zone dnslb signs: its keys, what comes next, what was signed.
fn signed_here(ours: &crate::zone::signed::Ours) -> serde_json::Value {
    let time = |t: u64| {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t);
        humantime::format_rfc3339_seconds(at).to_string()
    };
    let keys: Vec<_> = ours
        .keys
        .iter()
        .map(|k| {
            json!({
                "tag": k.tag,
                "algorithm": k.algorithm,
                "role": if k.ksk { "KSK" } else { "ZSK" },
                "state": k.state,
                "next": k.next.map(|(what, when)| json!({ "timing": what, "at": time(when) })),
            })
        })
        .collect();
    json!({
        "keys": keys,
        "denial": if ours.denial { "NSEC3" } else { "NSEC" },
        "signed_at": time(ours.signed_at),
        "next_refresh": time(ours.refresh_at),
        "next_key_event": ours.next_key_event.map(time),
        "signatures": ours.signatures,
        "pool_sets_signed": ours.pools.values().map(|p| p.len()).sum::<usize>(),
        "pools_beyond_limit": ours.pools_on_demand,
    })
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let snap = shared.snapshot.load();
    let zones: Vec<_> = snap
        .zones()
        .iter()
        .map(|z| {
            json!({
                "origin": z.origin.to_string(),
                "serial": z.serial,
                "file": z.file,
                "names": z.node_count(),
                "loaded": snap.loaded_at.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
                "dnssec": z.dnssec.as_ref().map(|s| {
                    let now = std::time::SystemTime::now();
                    json!({
                        "summary": s.summary(now),
                        "algorithms": s.algorithms,
                        "denial": s.denial.describe(),
                        "expires_in_seconds": s.expires_in(now),
                        "expired": s.expires_in(now).is_some_and(|e| e <= 0),
                        "signed_here": s.ours.as_deref().map(signed_here),
                    })
                }),
            })
        })
        .collect();
    let pools: Vec<_> = snap
        .pools
        .iter()
        .map(|p| {
            json!({
                "name": p.name.to_string(),
                "type": p.rtype.to_string(),
                "ttl": p.ttl,
                "answers": p.answers,
                "policy": p.policy.name(),
                "spread": spread(p),
                "all_down": p.all_down.as_str(),
                "all_members_down": p.all_members_down(),
                "probe": p.probe.as_ref().map(probe_status),
                "members": p.members.iter().map(|m| member_status(p, m)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let problems = shared.problems();
    let uptime = shared.started.elapsed().map_or(0, |d| d.as_secs());
    let secondaries: serde_json::Map<String, serde_json::Value> = shared
        .secondaries
        .statuses()
        .into_iter()
        .map(|(origin, status)| {
            let mut v = json!(status);
            if let Some(zone) = snap.secondaries.get(&origin) {
                v["primaries"] = json!(zone.primaries);
            }
            // What queries are answered from, beside the serial held (`serial`).
            v["served_serial"] = json!(snap.zone(&origin).map(|z| z.serial));
            (origin.to_string(), v)
        })
        .collect();
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started": humantime::format_rfc3339_seconds(shared.started).to_string(),
        "uptime_seconds": uptime,
        "listen": shared.settings.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "generation": snap.generation,
        "zones": zones,
        "pools": pools,
        "secondaries": secondaries,
        "geoip": snap.geoip.as_deref().map(geoip_status),
        "problems": problems,
        "reload_failures_total": shared.reload_failures(),
    }))
    .into_response()
}

/// The `[geoip]` databases: each one's file, type and build date.
fn geoip_status(dbs: &crate::geo::Databases) -> serde_json::Value {
    let one = |db: &crate::geo::Database| {
        let built = std::time::UNIX_EPOCH + std::time::Duration::from_secs(db.built());
        json!({
            "file": db.path,
            "type": db.kind(),
            "built": humantime::format_rfc3339_seconds(built).to_string(),
        })
    };
    json!({
        "city": dbs.city.as_deref().map(one),
        "asn": dbs.asn.as_deref().map(one),
    })
}

/// Encodes the server's state at scrape time from its atomics (nothing is registered per query).
#[derive(Debug)]
struct StateCollector(Arc<Shared>);

impl Collector for StateCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let snap = self.0.snapshot.load();
        encode_server(&mut enc, &self.0, &snap)?;
        encode_members(&mut enc, &snap)?;
        let mut e = enc.encode_descriptor(
            "dnslb_probe_duration_seconds",
            "Round-trip time of successful probes",
            None,
            MetricType::Histogram,
        )?;
        for t in &snap.targets {
            t.health
                .latency
                .encode(e.encode_family(&[("target", t.addr.to_string())])?)?;
        }
        let mut f = enc.encode_descriptor(
            "dnslb_probe_failures",
            "Failed probes, by target and reason (timeout, connect, http, agent, agent_down)",
            None,
            MetricType::Counter,
        )?;
        for t in &snap.targets {
            for (reason, n) in t.health.failures_by_reason() {
                let labels = [
                    ("target", t.addr.to_string()),
                    ("reason", reason.as_str().to_string()),
                ];
                ConstCounter::new(n).encode(f.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// What the DNS side counted: responses, queries, build, rate limiting, malformed messages,
/// remote events and dropped log lines.
fn encode_traffic(enc: &mut DescriptorEncoder, shared: &Shared) -> Result<(), fmt::Error> {
    let mut m = enc.encode_descriptor(
        "dnslb_responses",
        "DNS responses sent, by rcode",
        None,
        MetricType::Counter,
    )?;
    for (rcode, n) in shared.stats.counts() {
        ConstCounter::new(n)
            .encode(m.encode_family(&[("rcode", crate::dns::rcode_name(rcode))])?)?;
    }
    let mut q = enc.encode_descriptor(
        "dnslb_queries",
        "DNS queries answered, by transport and type",
        None,
        MetricType::Counter,
    )?;
    for (protocol, qtype, n) in shared.stats.query_counts() {
        let labels = [("protocol", protocol.to_string()), ("type", qtype)];
        ConstCounter::new(n).encode(q.encode_family(&labels)?)?;
    }
    let mut b = enc.encode_descriptor(
        "dnslb_build_info",
        "The running version (always 1)",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(1)
        .encode(b.encode_family(&[("version", env!("CARGO_PKG_VERSION").to_string())])?)?;
    let (dropped, slipped) = shared.stats.rrl.counts();
    let mut r = enc.encode_descriptor(
        "dnslb_rrl_responses",
        "UDP responses that rate limiting dropped or sent truncated (slip)",
        None,
        MetricType::Counter,
    )?;
    for (action, n) in [("drop", dropped), ("slip", slipped)] {
        ConstCounter::new(n).encode(r.encode_family(&[("action", action.to_string())])?)?;
    }
    let mut m = enc.encode_descriptor(
        "dnslb_malformed",
        "Messages dropped (short, response) or answered FORMERR (unparseable), by kind",
        None,
        MetricType::Counter,
    )?;
    for (kind, n) in shared.stats.malformed_counts() {
        ConstCounter::new(n).encode(m.encode_family(&[("kind", kind.as_str().to_string())])?)?;
    }
    ConstCounter::new(crate::logging::dropped_lines()).encode(enc.encode_descriptor(
        "dnslb_log_lines_dropped",
        "Log lines dropped because stderr could not keep up",
        None,
        MetricType::Counter,
    )?)?;
    let mut e = enc.encode_descriptor(
        "dnslb_remote_events",
        "Warnings a remote peer caused (malformed packets, failed connections), by kind; logged at most once per kind per 10 s",
        None,
        MetricType::Counter,
    )?;
    for (kind, n) in crate::logging::remote_events() {
        ConstCounter::new(n).encode(e.encode_family(&[("kind", kind)])?)?;
    }
    Ok(())
}

/// Responses, reloads, the generation, zone serials and the secondary zones' states.
fn encode_server(
    enc: &mut DescriptorEncoder,
    shared: &Shared,
    snap: &Snapshot,
) -> Result<(), fmt::Error> {
    encode_traffic(enc, shared)?;
    ConstCounter::new(shared.reload_failures()).encode(enc.encode_descriptor(
        "dnslb_reload_failures",
        "Reloads that kept the running config or a zone's last good version",
        None,
        MetricType::Counter,
    )?)?;
    ConstGauge::new(i64::try_from(snap.generation).unwrap_or(i64::MAX)).encode(
        enc.encode_descriptor(
            "dnslb_snapshot_generation",
            "Loads since start-up",
            None,
            MetricType::Gauge,
        )?,
    )?;
    let prepared = snap.prepared.octets() + snap.prepared_signed.octets();
    ConstGauge::new(i64::try_from(prepared).unwrap_or(i64::MAX)).encode(
        enc.encode_descriptor(
            "dnslb_prepared_answers_bytes",
            "Memory the UDP fast path's prepared answers take (without DO, and with DO for signed zones)",
            None,
            MetricType::Gauge,
        )?,
    )?;
    if let Some(bytes) = crate::memory::resident() {
        ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX)).encode(
            enc.encode_descriptor(
                "dnslb_resident_memory_bytes",
                "Memory of the process resident in RAM: what a reload's peak must return to",
                None,
                MetricType::Gauge,
            )?,
        )?;
    }
    let mut e = enc.encode_descriptor(
        "dnslb_zone_serial",
        "SOA serial of each zone being served",
        None,
        MetricType::Gauge,
    )?;
    for z in snap.zones() {
        ConstGauge::new(i64::from(z.serial))
            .encode(e.encode_family(&[("zone", z.origin.to_string())])?)?;
    }
    let mut e = enc.encode_descriptor(
        "dnslb_dnssec_expiry_seconds",
        "Seconds until the earliest signature of each signed zone expires (negative: expired)",
        None,
        MetricType::Gauge,
    )?;
    let now = std::time::SystemTime::now();
    for z in snap.zones() {
        if let Some(left) = z.dnssec.as_ref().and_then(|s| s.expires_in(now)) {
            ConstGauge::new(left).encode(e.encode_family(&[("zone", z.origin.to_string())])?)?;
        }
    }
    encode_signing(enc, shared)?;
    encode_secondaries(enc, shared)
}

/// Signatures made by cause, and the signed pool answers found signed or answered smaller.
fn encode_signing(enc: &mut DescriptorEncoder, shared: &Shared) -> Result<(), fmt::Error> {
    use std::sync::atomic::Ordering::Relaxed;
    let snapshot = shared.snapshot.load();
    let made = &*snapshot.signing;
    let mut e = enc.encode_descriptor(
        "dnslb_dnssec_signatures_made",
        "Signatures dnslb made, by cause: load (a zone loaded or changed), refresh (due to run out, or a key's timing), cache (a pool's set beyond the pool limit)",
        None,
        MetricType::Counter,
    )?;
    for (cause, n) in [
        ("load", made.load.load(Relaxed)),
        ("refresh", made.refresh.load(Relaxed)),
        ("cache", made.cache.load(Relaxed)),
    ] {
        ConstCounter::new(n).encode(e.encode_family(&[("cause", cause)])?)?;
    }
    let (hits, misses) = shared.stats.signed_pool_answers(made);
    let mut e = enc.encode_descriptor(
        "dnslb_dnssec_pool_signatures",
        "Signed pool answers with DO: hit (the drawn set's RRSIGs were ready), miss (the set was not signed yet: answered with fewer members, whose set was)",
        None,
        MetricType::Counter,
    )?;
    for (result, n) in [("hit", hits), ("miss", misses)] {
        ConstCounter::new(n).encode(e.encode_family(&[("result", result)])?)?;
    }
    Ok(())
}

/// The secondary zones' states, NOTIFYs and expiry times.
fn encode_secondaries(enc: &mut DescriptorEncoder, shared: &Shared) -> Result<(), fmt::Error> {
    let statuses = shared.secondaries.statuses();
    let mut e = enc.encode_descriptor(
        "dnslb_secondary_zone_state",
        "Where each secondary zone stands: 1 for its state (waiting, serving, expired), 0 for the others",
        None,
        MetricType::Gauge,
    )?;
    for (origin, status) in &statuses {
        for state in [
            SecondaryState::Waiting,
            SecondaryState::Serving,
            SecondaryState::Expired,
        ] {
            let labels = [
                ("zone", origin.to_string()),
                ("state", state.as_str().to_string()),
            ];
            ConstGauge::new(i64::from(status.state == state)).encode(e.encode_family(&labels)?)?;
        }
    }
    let mut e = enc.encode_descriptor(
        "dnslb_secondary_notify",
        "NOTIFYs heeded for each secondary zone, and those that caused a SOA check (at most two a second; the rest are coalesced)",
        None,
        MetricType::Counter,
    )?;
    for (origin, status) in &statuses {
        for (outcome, n) in [
            ("checked", status.notify_checks),
            (
                "coalesced",
                status.notifies.saturating_sub(status.notify_checks),
            ),
        ] {
            let labels = [
                ("zone", origin.to_string()),
                ("outcome", outcome.to_string()),
            ];
            ConstCounter::new(n).encode(e.encode_family(&labels)?)?;
        }
    }
    let mut e = enc.encode_descriptor(
        "dnslb_secondary_zone_expires_at_seconds",
        "Unix time at which each secondary zone expires unless a primary answers",
        None,
        MetricType::Gauge,
    )?;
    for (origin, status) in &statuses {
        if let Some(at) = status.expires_at {
            ConstGauge::new(i64::try_from(at).unwrap_or(i64::MAX))
                .encode(e.encode_family(&[("zone", origin.to_string())])?)?;
        }
    }
    Ok(())
}

/// The per-member families.
fn encode_members(enc: &mut DescriptorEncoder, snap: &Snapshot) -> Result<(), fmt::Error> {
    per_member(
        enc,
        snap,
        "dnslb_member_up",
        "1 when the member may be served",
        MetricType::Gauge,
        |p, m| ConstGauge::new(i64::from(m.availability(p.slow_start).is_served())),
    )?;
    {
        let mut family = enc.encode_descriptor(
            "dnslb_member_state",
            "1 for the member's state (up, unprobed, down, drained), 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for p in &snap.pools {
            for m in p.members.iter() {
                let now = m.availability(p.slow_start).state.as_str();
                for state in ["up", "unprobed", "down", "drained"] {
                    let labels = [
                        ("pool", p.name.to_string()),
                        ("type", p.rtype.to_string()),
                        ("member", m.label.clone()),
                        ("state", state.to_string()),
                    ];
                    ConstGauge::new(i64::from(state == now))
                        .encode(family.encode_family(&labels)?)?;
                }
            }
        }
    }
    per_member(
        enc,
        snap,
        "dnslb_member_effective_weight",
        "Weight the member is drawn with now",
        MetricType::Gauge,
        |p, m| ConstGauge::new(i64::from(m.availability(p.slow_start).effective_weight)),
    )?;
    per_member(
        enc,
        snap,
        "dnslb_member_served",
        "Times the member was served",
        MetricType::Counter,
        |_, m| ConstCounter::new(m.state.served()),
    )
}

/// One metric family with a sample per pool member, labelled pool, type and member.
fn per_member<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    snap: &Snapshot,
    name: &str,
    help: &str,
    kind: MetricType,
    value: impl Fn(&Pool, &Member) -> M,
) -> Result<(), fmt::Error> {
    let mut family = enc.encode_descriptor(name, help, None, kind)?;
    for p in &snap.pools {
        for m in p.members.iter() {
            let labels = [
                ("pool", p.name.to_string()),
                ("type", p.rtype.to_string()),
                ("member", m.label.clone()),
            ];
            value(p, m).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StateCollector(shared)));
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            classic_text(&text),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics").into_response(),
    }
}

/// prometheus-client writes OpenMetrics: a counter's HELP and TYPE name it without `_total` and
/// the text ends with `# EOF`. The classic text format we announce (and `promtool check
/// metrics` reads) names the counter as its samples do: this rewrites those lines.
fn classic_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Why an admin request was refused.
#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error("`{0}` is not a domain name")]
    BadPoolName(String),
    #[error("no pool named {0}")]
    NoPool(Name),
    #[error("pool {0} has no member {1}")]
    NoMember(Name, String),
    #[error("unknown action `{0}`: use drain, undrain or weight")]
    UnknownAction(String),
    #[error("`DELETE .../{0}` clears nothing: use DELETE .../weight, or POST .../undrain")]
    NothingToClear(String),
    #[error("the body must be a non-negative integer weight, not `{0}`")]
    BadWeight(String),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self {
            AdminError::BadPoolName(_) | AdminError::BadWeight(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::NOT_FOUND,
        };
        error(status, self.to_string())
    }
}

/// The pool and member an admin URL names: the pool by name (trailing dot optional), the member
/// by its label as the config writes it (any case).
fn find_member<'s>(
    snap: &'s Snapshot,
    pool: &str,
    member: &str,
) -> Result<(&'s Pool, &'s Member), AdminError> {
    let mut name = Name::from_ascii(pool).map_err(|_| AdminError::BadPoolName(pool.into()))?;
    name.set_fqdn(true);
    let named: Vec<&Arc<Pool>> = snap.pools.iter().filter(|p| p.name == name).collect();
    if named.is_empty() {
        return Err(AdminError::NoPool(name));
    }
    named
        .iter()
        .find_map(|p| {
            p.members
                .iter()
                .find(|m| {
                    // Names with or without their trailing dot, as for the pool.
                    m.label
                        .trim_end_matches('.')
                        .eq_ignore_ascii_case(member.trim_end_matches('.'))
                })
                .map(|m| (&***p, m))
        })
        .ok_or_else(|| AdminError::NoMember(name, member.into()))
}

async fn override_member(
    State(shared): State<Arc<Shared>>,
    Path((pool, member, action)): Path<(String, String, String)>,
    body: String,
) -> Result<Response, AdminError> {
    let snap = shared.snapshot.load();
    let (p, m) = find_member(&snap, &pool, &member)?;
    match action.as_str() {
        "drain" => m.state.drain(),
        "undrain" => m.state.undrain(),
        "weight" => match body.trim().parse::<u32>() {
            Ok(w) => m.state.set_weight(w, m.weight),
            Err(_) => return Err(AdminError::BadWeight(body.trim().into())),
        },
        _ => return Err(AdminError::UnknownAction(action)),
    }
    tracing::info!(pool = %p.name, member = %m.label, action, "override");
    Ok(axum::Json(member_status(p, m)).into_response())
}

/// `DELETE .../weight`: back to the configured weight.
async fn clear_override(
    State(shared): State<Arc<Shared>>,
    Path((pool, member, action)): Path<(String, String, String)>,
) -> Result<Response, AdminError> {
    let snap = shared.snapshot.load();
    let (p, m) = find_member(&snap, &pool, &member)?;
    if action != "weight" {
        return Err(AdminError::NothingToClear(action));
    }
    m.state.clear_weight();
    tracing::info!(pool = %p.name, member = %m.label, "weight override cleared");
    Ok(axum::Json(member_status(p, m)).into_response())
}

async fn reload(State(shared): State<Arc<Shared>>) -> Response {
    match shared.reload().await {
        Ok(installed) => axum::Json(json!({ "generation": installed.generation, "problems": shared.problems() })).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({ "error": "reload failed; still serving the previous version", "problems": e.problems() })),
        )
            .into_response(),
    }
}
