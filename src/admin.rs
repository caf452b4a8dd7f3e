//! The HTTP admin endpoint: `/status` (JSON), `/metrics` (Prometheus text), runtime overrides of
//! members (`drain`, `undrain`, `weight`) and `/reload`.
//!
//! It reads the current snapshot and the health cells, and writes only into member cells, so
//! nothing here stands on the query path.

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

use crate::app::Shared;
use crate::health::probe;
use crate::pool::{Member, Pool};
use crate::snapshot::Snapshot;

/// The admin routes over `shared`.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/reload", post(reload))
        .route(
            "/pools/{pool}/members/{member}/{action}",
            post(override_member),
        )
        .with_state(shared)
}

#[derive(Serialize)]
struct MemberStatus {
    member: String,
    configured_weight: u32,
    weight_override: Option<u32>,
    effective_weight: u32,
    /// `up`, `down`, `drained` or `unprobed` (no probe: always healthy).
    state: &'static str,
    drained: bool,
    check: Option<String>,
    last_probe_ok: Option<bool>,
    last_probe_error: Option<String>,
    rtt_ms: Option<f64>,
    agent_percent: Option<f64>,
    last_change_unix_ms: Option<u64>,
    served: u64,
}

/// `up`, `down`, `drained` (by the admin or the agent) or `unprobed`.
fn member_state(m: &Member) -> &'static str {
    match (m.state.drained.load(Ordering::Relaxed), m.health.as_deref()) {
        (true, _) => "drained",
        (false, None) => "unprobed",
        (false, Some(h)) if h.is_up() && !h.agent_drained() => "up",
        (false, Some(h)) if h.is_up() => "drained",
        (false, Some(_)) => "down",
    }
}

fn member_status(pool: &Pool, m: &Member) -> MemberStatus {
    let drained = m.state.drained.load(Ordering::Relaxed);
    let h = m.health.as_deref();
    let state = member_state(m);
    let probed = h.filter(|h| h.probed.load(Ordering::Relaxed));
    MemberStatus {
        member: m.label.clone(),
        configured_weight: m.weight,
        weight_override: m.state.weight_override(),
        effective_weight: m.effective_weight(pool.slow_start),
        state,
        drained,
        check: m.check.map(|c| c.to_string()),
        last_probe_ok: probed.map(|h| h.last_ok.load(Ordering::Relaxed)),
        last_probe_error: probed
            .and_then(|h| h.last_error.lock().ok().map(|e| e.clone()))
            .filter(|e| !e.is_empty()),
        rtt_ms: probed.map(|h| h.rtt_us.load(Ordering::Relaxed) as f64 / 1000.0),
        agent_percent: h.map(|h| f64::from(h.agent_permille()) / 10.0),
        last_change_unix_ms: h.map(|h| h.last_change_unix_ms.load(Ordering::Relaxed)),
        served: m.state.served.load(Ordering::Relaxed),
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let snap = shared.snapshot.load();
    let zones: Vec<_> = snap
        .zones()
        .iter()
        .map(|z| json!({"origin": z.origin.to_string(), "serial": z.serial, "file": z.file, "names": z.node_count()}))
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
                "all_down": format!("{:?}", p.all_down).to_lowercase(),
                "all_members_down": p.all_members_down.load(Ordering::Relaxed),
                "probe": p.probe.as_ref().map(|s| format!("{:?}", s.kind)),
                "members": p.members.iter().map(|m| member_status(p, m)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let problems = shared.problems();
    axum::Json(json!({
        "generation": snap.generation,
        "zones": zones,
        "pools": pools,
        "problems": problems,
        "reload_failures_total": shared.reload_failures.load(Ordering::Relaxed),
    }))
    .into_response()
}

/// Encodes the server's state at scrape time from its atomics (nothing is registered per query).
#[derive(Debug)]
struct StateCollector(Arc<Shared>);

impl Collector for StateCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let shared = &self.0;
        let snap = shared.snapshot.load();
        {
            let mut m = enc.encode_descriptor(
                "dnslb_responses",
                "DNS responses sent, by rcode",
                None,
                MetricType::Counter,
            )?;
            for (rcode, n) in shared.stats.counts() {
                ConstCounter::new(n)
                    .encode(m.encode_family(&[("rcode", rcode.to_str().to_string())])?)?;
            }
        }
        ConstCounter::new(shared.reload_failures.load(Ordering::Relaxed)).encode(
            enc.encode_descriptor(
                "dnslb_reload_failures",
                "Reloads that kept the running config or a zone's last good version",
                None,
                MetricType::Counter,
            )?,
        )?;
        ConstGauge::new(i64::try_from(snap.generation).unwrap_or(i64::MAX)).encode(
            enc.encode_descriptor(
                "dnslb_snapshot_generation",
                "Loads since start-up",
                None,
                MetricType::Gauge,
            )?,
        )?;
        {
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
        }
        per_member(
            &mut enc,
            &snap,
            "dnslb_member_up",
            "1 when the member may be served",
            MetricType::Gauge,
            |_, m| ConstGauge::new(i64::from(matches!(member_state(m), "up" | "unprobed"))),
        )?;
        per_member(
            &mut enc,
            &snap,
            "dnslb_member_effective_weight",
            "Weight the member is drawn with now",
            MetricType::Gauge,
            |p, m| ConstGauge::new(i64::from(m.effective_weight(p.slow_start))),
        )?;
        per_member(
            &mut enc,
            &snap,
            "dnslb_member_served",
            "Times the member was served",
            MetricType::Counter,
            |_, m| ConstCounter::new(m.state.served.load(Ordering::Relaxed)),
        )?;
        {
            let mut e = enc.encode_descriptor(
                "dnslb_probe_duration_seconds",
                "Round-trip time of successful probes",
                None,
                MetricType::Histogram,
            )?;
            for t in probe::targets(&snap) {
                t.health
                    .latency
                    .encode(e.encode_family(&[("target", t.addr.to_string())])?)?;
            }
        }
        Ok(())
    }
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
            text,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics").into_response(),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn override_member(
    State(shared): State<Arc<Shared>>,
    Path((pool, member, action)): Path<(String, String, String)>,
    body: String,
) -> Response {
    let Ok(mut name) = Name::from_ascii(&pool) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("`{pool}` is not a domain name"),
        );
    };
    name.set_fqdn(true);
    let snap = shared.snapshot.load();
    let named: Vec<&Arc<Pool>> = snap.pools.iter().filter(|p| p.name == name).collect();
    if named.is_empty() {
        return error(StatusCode::NOT_FOUND, format!("no pool named {name}"));
    }
    let Some((p, m)) = named.iter().find_map(|p| {
        p.members
            .iter()
            .find(|m| m.label.eq_ignore_ascii_case(&member))
            .map(|m| (p, m))
    }) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("pool {name} has no member {member}"),
        );
    };
    match action.as_str() {
        "drain" => m.state.drained.store(true, Ordering::Relaxed),
        "undrain" => m.state.drained.store(false, Ordering::Relaxed),
        "weight" => match body.trim().parse::<u32>() {
            Ok(w) => m
                .state
                .weight_override
                .store(i64::from(w), Ordering::Relaxed),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "the body must be a non-negative integer weight, not `{}`",
                        body.trim()
                    ),
                );
            }
        },
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("unknown action `{other}`: use drain, undrain or weight"),
            );
        }
    }
    tracing::info!(pool = %p.name, member = %m.label, action, "override");
    axum::Json(member_status(p, m)).into_response()
}

async fn reload(State(shared): State<Arc<Shared>>) -> Response {
    match shared.reload().await {
        Ok(generation) => axum::Json(json!({ "generation": generation, "problems": shared.problems() })).into_response(),
        Err(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({ "error": "reload failed; still serving the previous version", "problems": problems })),
        )
            .into_response(),
    }
}
