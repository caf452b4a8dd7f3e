//! Probe kinds (tcp, http, agent) and the scheduler that runs them.
//!
//! Each distinct target (probe spec, address) gets one task: sleep an interval (with jitter),
//! probe once within the timeout, feed the result to the rise/fall [`Hysteresis`], write the
//! outcome into the target's cell. Targets that hang, refuse or reset are ordinary failures.
//! A generation's tasks stop with its cancellation token; the cells outlive them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rand::RngExt;
use rustc_hash::FxHashMap;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Hysteresis, ProbeKind, ProbeSpec, TargetHealth};
use crate::pool::{Candidate, Pool};
use crate::snapshot::Snapshot;

/// What one probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Healthy.
    pub ok: bool,
    /// Time from connect to verdict.
    pub rtt: Duration,
    /// Why it failed.
    pub error: Option<String>,
    /// What an agent said.
    pub agent: Option<AgentReport>,
}

/// One line of HAProxy's agent-check grammar, understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentReport {
    /// `up` (true) or `down`/`fail`/`stopped`/`maint` (false).
    pub up: Option<bool>,
    /// `drain` (true) or `ready` (false).
    pub drain: Option<bool>,
    /// `75%` as 750 permille.
    pub permille: Option<u32>,
}

/// Parses an agent's line: words separated by spaces or commas, any case (HAProxy's grammar).
pub fn parse_agent(line: &str) -> Result<AgentReport, String> {
    let mut r = AgentReport::default();
    let mut understood = false;
    for word in line
        .split([' ', ',', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
    {
        let w = word.to_ascii_lowercase();
        understood = true;
        match w.as_str() {
            "up" => r.up = Some(true),
            "down" | "fail" | "stopped" | "maint" => r.up = Some(false),
            "drain" => r.drain = Some(true),
            "ready" => r.drain = Some(false),
            _ => match w.strip_suffix('%').and_then(|n| n.parse::<u32>().ok()) {
                Some(pct) => r.permille = Some(pct.saturating_mul(10)),
                None => understood = false,
            },
        }
        if !understood {
            return Err(format!(
                "agent said `{}`, which is not agent-check grammar",
                line.trim()
            ));
        }
    }
    if !understood {
        return Err("agent sent an empty line".into());
    }
    Ok(r)
}

/// Probes `addr` once; never takes longer than `spec.timeout`.
pub async fn probe_once(spec: &ProbeSpec, addr: SocketAddr) -> Outcome {
    let start = tokio::time::Instant::now();
    let result = tokio::time::timeout(spec.timeout, probe_inner(&spec.kind, addr)).await;
    let rtt = start.elapsed();
    match result {
        Err(_) => Outcome {
            ok: false,
            rtt,
            error: Some(format!("timed out after {:?}", spec.timeout)),
            agent: None,
        },
        Ok(Err(e)) => Outcome {
            ok: false,
            rtt,
            error: Some(e),
            agent: None,
        },
        Ok(Ok(agent)) => Outcome {
            ok: agent.is_none_or(|a| a.up != Some(false)),
            rtt,
            error: agent
                .filter(|a| a.up == Some(false))
                .map(|_| "agent reports down".to_string()),
            agent,
        },
    }
}

async fn probe_inner(kind: &ProbeKind, addr: SocketAddr) -> Result<Option<AgentReport>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    match kind {
        ProbeKind::Tcp => Ok(None),
        ProbeKind::Http { path, host, expect } => {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("http: {e}"))?;
            let req = http::Request::get(path.as_str())
                .header(http::header::HOST, host.as_str())
                .header(http::header::USER_AGENT, "dnslb-probe")
                .header(http::header::CONNECTION, "close")
                .body(Empty::<Bytes>::new())
                .map_err(|e| format!("http: {e}"))?;
            let mut conn = std::pin::pin!(conn);
            let mut send = std::pin::pin!(sender.send_request(req));
            // Drive the connection until the response arrives; when the connection ends first
            // (it may, with `Connection: close`), the response is already waiting in `send`.
            let resp = tokio::select! {
                r = &mut send => r,
                c = &mut conn => match c {
                    Ok(()) => send.await,
                    Err(e) => return Err(format!("http: {e}")),
                },
            }
            .map_err(|e| format!("http: {e}"))?;
            let status = resp.status().as_u16();
            if expect.iter().any(|r| r.contains(&status)) {
                Ok(None)
            } else {
                Err(format!("http status {status}"))
            }
        }
        ProbeKind::Agent => {
            let mut line = Vec::new();
            BufReader::new(stream)
                .take(512)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| format!("agent: {e}"))?;
            parse_agent(&String::from_utf8_lossy(&line)).map(Some)
        }
    }
}

/// A probe target and the pools whose members it decides.
#[derive(Debug, Clone)]
pub struct Target {
    /// How it is probed.
    pub spec: ProbeSpec,
    /// Where.
    pub addr: SocketAddr,
    /// Its cell.
    pub health: Arc<TargetHealth>,
    /// Pools with a member probed here.
    pub pools: Vec<Arc<Pool>>,
}

/// The distinct targets of a snapshot: one per (spec, address), however many pools share it.
pub fn targets(snapshot: &Snapshot) -> Vec<Target> {
    let mut by_key: FxHashMap<(ProbeSpec, SocketAddr), Target> = FxHashMap::default();
    for pool in &snapshot.pools {
        let Some(spec) = &pool.probe else { continue };
        for m in pool.members.iter() {
            let (Some(addr), Some(health)) = (m.check, &m.health) else {
                continue;
            };
            let t = by_key
                .entry((spec.clone(), addr))
                .or_insert_with(|| Target {
                    spec: spec.clone(),
                    addr,
                    health: health.clone(),
                    pools: Vec::new(),
                });
            if !t.pools.iter().any(|p| Arc::ptr_eq(p, pool)) {
                t.pools.push(pool.clone());
            }
        }
    }
    let mut v: Vec<Target> = by_key.into_values().collect();
    v.sort_by_key(|t| t.addr);
    v
}

/// Probes every target that has never been probed, all at once, and sets its state from that one
/// result: the first answers already reflect health. Bounded by the longest timeout.
pub async fn first_round(targets: &[Target]) {
    let mut set = JoinSet::new();
    for t in targets
        .iter()
        .filter(|t| !t.health.probed.load(Ordering::Relaxed))
    {
        let t = t.clone();
        set.spawn(async move {
            let outcome = probe_once(&t.spec, t.addr).await;
            let h = Hysteresis {
                up: outcome.ok,
                successes: u32::from(outcome.ok),
                failures: u32::from(!outcome.ok),
            };
            record(&t, &outcome, h, false);
            info!(target = %t.addr, up = outcome.ok, error = outcome.error.as_deref().unwrap_or(""), "first probe");
        });
    }
    while set.join_next().await.is_some() {}
    for t in targets {
        for p in &t.pools {
            note_all_down(p);
        }
    }
}

/// Starts one task per target; they stop when `token` is cancelled.
pub fn spawn(targets: Vec<Target>, token: &CancellationToken, tasks: &mut JoinSet<()>) {
    for t in targets {
        let token = token.clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = run_target(t) => {}
            }
        });
    }
}

async fn run_target(t: Target) {
    // Spread the targets over the interval; a target never probed goes at once.
    let first_delay = if t.health.probed.load(Ordering::Relaxed) {
        jitter(t.spec.interval, 1.0)
    } else {
        Duration::ZERO
    };
    tokio::time::sleep(first_delay).await;
    loop {
        let outcome = probe_once(&t.spec, t.addr).await;
        let h = &t.health;
        let before = Hysteresis {
            up: h.is_up(),
            successes: h.successes.load(Ordering::Relaxed),
            failures: h.failures.load(Ordering::Relaxed),
        };
        let mut after = before.observe(outcome.ok, t.spec.rise, t.spec.fall);
        if outcome.agent.is_some_and(|a| a.up == Some(false)) {
            after.up = false; // the backend says so itself: no need to wait for `fall`
        }
        record(&t, &outcome, after, true);
        if after.up != before.up {
            if after.up {
                info!(target = %t.addr, rtt_ms = outcome.rtt.as_secs_f64() * 1e3, "target up");
            } else {
                warn!(target = %t.addr, error = outcome.error.as_deref().unwrap_or(""), "target down");
            }
        } else {
            debug!(target = %t.addr, ok = outcome.ok, "probe");
        }
        for p in &t.pools {
            note_all_down(p);
        }
        tokio::time::sleep(jitter(t.spec.interval, 0.1)).await;
    }
}

/// `base` ± `spread`/2 of itself (spread 1.0: anywhere in [0, base) + base/2 ... kept ≥ 0).
fn jitter(base: Duration, spread: f64) -> Duration {
    let f: f64 = rand::rng().random_range(-0.5..0.5);
    base.mul_f64((1.0 + f * spread).max(0.0))
}

/// Writes one outcome into the target's cell.
fn record(t: &Target, outcome: &Outcome, h: Hysteresis, ramp: bool) {
    let cell = &t.health;
    cell.probed.store(true, Ordering::Relaxed);
    cell.last_ok.store(outcome.ok, Ordering::Relaxed);
    cell.successes.store(h.successes, Ordering::Relaxed);
    cell.failures.store(h.failures, Ordering::Relaxed);
    if outcome.ok {
        let us = u64::try_from(outcome.rtt.as_micros()).unwrap_or(u64::MAX);
        cell.rtt_us.store(us, Ordering::Relaxed);
        cell.latency.observe(outcome.rtt.as_secs_f64());
    }
    if let Ok(mut e) = cell.last_error.lock() {
        e.clear();
        e.push_str(outcome.error.as_deref().unwrap_or(""));
    }
    if let Some(a) = outcome.agent {
        let drain = a.drain.or(if a.up == Some(true) || a.permille.is_some() {
            Some(false)
        } else {
            None
        });
        cell.set_agent(a.permille, drain);
    }
    cell.set_up(h.up, ramp);
}

/// Logs, once per change, that every member of a pool is down (and when it recovers).
fn note_all_down(pool: &Pool) {
    let all_down = pool
        .members
        .iter()
        .all(|m| m.health.is_some() && m.candidate(pool.slow_start) == Candidate::Unavailable);
    let was = pool.all_members_down.swap(all_down, Ordering::Relaxed);
    if all_down && !was {
        warn!(pool = %pool.name, rtype = %pool.rtype, mode = ?pool.all_down, "every member is down");
    } else if was && !all_down {
        info!(pool = %pool.name, rtype = %pool.rtype, "members available again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_grammar() {
        assert_eq!(parse_agent("up\n").unwrap().up, Some(true));
        assert_eq!(parse_agent("DOWN").unwrap().up, Some(false));
        assert_eq!(parse_agent("75%\r\n").unwrap().permille, Some(750));
        let r = parse_agent("up, 50% drain").unwrap();
        assert_eq!(
            (r.up, r.permille, r.drain),
            (Some(true), Some(500), Some(true))
        );
        assert_eq!(parse_agent("ready").unwrap().drain, Some(false));
        assert!(parse_agent("").is_err());
        assert!(parse_agent("banana").is_err());
    }
}
