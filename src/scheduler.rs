//! The probe scheduler, above pools and health: finds a generation's probe targets, runs one
//! task per target, writes each outcome into the target's cell, and keeps the all-down record of
//! the pools a target decides.
//!
//! Each task sleeps an interval (with jitter), probes once within the timeout, feeds the result
//! to the rise/fall [`Hysteresis`] and records it. A generation's tasks stop with its
//! [`Generation::stop`]; the cells outlive them.
//!
//! No burst, however many targets: before a generation is swapped in, at most
//! [`FIRST_ROUND_MAX`] targets never probed are probed at once (so that a small deployment's
//! first answers reflect health); every task's first probe is then placed at its own offset
//! across the interval (target `i` of `n` at `i/n` of it), as HAProxy's `spread-checks` does, so
//! 200,000 targets at a 10 s interval make 20,000 probes a second from the start, not 200,000
//! at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use rustc_hash::FxHashMap;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::health::{Hysteresis, ProbeSpec, TargetHealth, probe_once};
use crate::pool::Pool;

/// A probe target and the pools whose members it decides.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// How it is probed.
    pub spec: ProbeSpec,
    /// Where.
    pub addr: SocketAddr,
    /// Its cell.
    pub health: Arc<TargetHealth>,
    /// Pools with a member probed here.
    pub pools: Vec<Arc<Pool>>,
}

/// The distinct targets of a set of pools: one per (spec, address), however many pools share
/// it, sorted by address.
pub fn targets(pools: &[Arc<Pool>]) -> Vec<ProbeTarget> {
    let mut by_key: FxHashMap<(ProbeSpec, SocketAddr), ProbeTarget> = FxHashMap::default();
    for pool in pools {
        let Some(spec) = &pool.probe else { continue };
        for m in pool.members.iter() {
            let (Some(addr), Some(health)) = (m.check, &m.health) else {
                continue;
            };
            let t = by_key
                .entry((spec.clone(), addr))
                .or_insert_with(|| ProbeTarget {
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
    let mut v: Vec<ProbeTarget> = by_key.into_values().collect();
    v.sort_by_key(|t| t.addr);
    v
}

/// Targets never probed that the first round probes at once, at most; the others (until their
/// task's first probe) count as up, as unprobed members do.
pub const FIRST_ROUND_MAX: usize = 1024;

/// Probes up to [`FIRST_ROUND_MAX`] targets that have never been probed, all at once, and sets
/// each one's state from that one result: the first answers already reflect health. Bounded by
/// the longest timeout.
pub async fn first_round(targets: &[ProbeTarget]) {
    let mut set = JoinSet::new();
    let fresh: Vec<&ProbeTarget> = targets.iter().filter(|t| !t.health.is_probed()).collect();
    if fresh.len() > FIRST_ROUND_MAX {
        info!(
            targets = fresh.len(),
            first_round = FIRST_ROUND_MAX,
            "many new probe targets: the rest are probed spread over their interval"
        );
    }
    for t in fresh.into_iter().take(FIRST_ROUND_MAX) {
        let t = t.clone();
        set.spawn(async move {
            let outcome = probe_once(&t.spec, t.addr).await;
            t.health
                .record(&outcome, Hysteresis::first(outcome.ok()), false);
            info!(target = %t.addr, up = outcome.ok(), error = outcome.error.as_ref().map(ToString::to_string).unwrap_or_default(), "first probe");
        });
    }
    while set.join_next().await.is_some() {}
    for t in targets {
        for p in &t.pools {
            note_all_down(p);
        }
    }
}

/// The probe tasks of one snapshot generation.
#[derive(Debug)]
pub struct Generation {
    token: CancellationToken,
    tasks: JoinSet<()>,
}

impl Generation {
    /// Starts one task per target; they stop with [`Generation::stop`] or when `parent` is
    /// cancelled.
    pub fn start(targets: &[ProbeTarget], parent: &CancellationToken) -> Self {
        let token = parent.child_token();
        let mut tasks = JoinSet::new();
        let n = targets.len();
        for (i, t) in targets.iter().enumerate() {
            let (t, token) = (t.clone(), token.clone());
            let first = spread(t.spec.interval, i, n);
            tasks.spawn(async move {
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = run_target(t, first) => {}
                }
            });
        }
        Self { token, tasks }
    }

    /// Cancels the tasks and waits for them.
    pub async fn stop(mut self) {
        self.token.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Where the first probe of target `i` of `n` falls within `interval`: evenly spread.
fn spread(interval: Duration, i: usize, n: usize) -> Duration {
    interval.mul_f64(i as f64 / n.max(1) as f64)
}

/// Probes `t` every interval (with jitter), the first time after `first`.
async fn run_target(t: ProbeTarget, first: Duration) {
    tokio::time::sleep(first).await;
    loop {
        let outcome = probe_once(&t.spec, t.addr).await;
        let before = t.health.hysteresis();
        let mut after = before.observe(outcome.ok(), t.spec.rise, t.spec.fall);
        if outcome.agent_says_down() {
            after.up = false; // the backend says so itself: no need to wait for `fall`
        }
        t.health.record(&outcome, after, true);
        match (before.up, after.up) {
            (false, true) => {
                info!(target = %t.addr, rtt_ms = outcome.rtt.as_secs_f64() * 1e3, "target up")
            }
            (true, false) => {
                warn!(target = %t.addr, error = outcome.error.as_ref().map(ToString::to_string).unwrap_or_default(), "target down")
            }
            _ => debug!(target = %t.addr, ok = outcome.ok(), "probe"),
        }
        for p in &t.pools {
            note_all_down(p);
        }
        tokio::time::sleep(jitter(t.spec.interval, 0.1)).await;
    }
}

/// `base` ± `spread`/2 of itself, never below zero.
fn jitter(base: Duration, spread: f64) -> Duration {
    let f: f64 = rand::rng().random_range(-0.5..0.5);
    base.mul_f64((1.0 + f * spread).max(0.0))
}

/// Logs, once per change, that every member of a pool is down (and when it recovers).
fn note_all_down(pool: &Pool) {
    let all_down = pool.every_member_is_out();
    let was = pool.set_all_members_down(all_down);
    if all_down && !was {
        warn!(pool = %pool.name, rtype = %pool.rtype, mode = pool.all_down.as_str(), "every member is down");
    } else if was && !all_down {
        info!(pool = %pool.name, rtype = %pool.rtype, "members available again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_probes_are_spread_evenly_over_the_interval() {
        let interval = Duration::from_secs(10);
        let n = 200_000;
        let mut per_second = [0u32; 10];
        for i in 0..n {
            let at = spread(interval, i, n);
            assert!(at < interval);
            per_second[at.as_secs() as usize] += 1;
        }
        assert!(per_second.iter().all(|&c| c == 20_000), "{per_second:?}");
        assert_eq!(spread(interval, 0, 1), Duration::ZERO);
    }
}
