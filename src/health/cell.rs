//! The health cell of one probe target: atomics that the probe task writes and the query path
//! reads without a lock. A reload that keeps a target's key keeps its cell.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use super::probe::{Failure, Outcome, ProbeError};
use super::{Hysteresis, changed, now_ms, unix_ms};

/// "Not ramping" in `up_since_ms`.
const NEVER: u64 = u64::MAX;

/// The health of one probe target.
#[derive(Debug)]
pub struct TargetHealth {
    /// Up, as decided by rise/fall.
    up: AtomicBool,
    /// The agent's weight in permille (1000 when no agent speaks).
    agent_permille: AtomicU32,
    /// The agent said `drain`.
    agent_drain: AtomicBool,
    /// When the target last came up after being down ([`now_ms`]); `NEVER` when not ramping.
    up_since_ms: AtomicU64,
    /// Round-trip time of the last successful probe, in microseconds.
    pub rtt_us: AtomicU64,
    /// The last probe succeeded.
    pub last_ok: AtomicBool,
    /// A probe has run.
    pub probed: AtomicBool,
    /// Unix milliseconds of the last up/down change.
    pub last_change_unix_ms: AtomicU64,
    /// Unix milliseconds of the last probe (0: none yet).
    pub last_probe_unix_ms: AtomicU64,
    /// The last probes' results, newest in bit 0 (1: ok).
    history: AtomicU64,
    /// Probes so far, for how many bits of `history` mean something.
    probes: AtomicU64,
    /// Successes in a row.
    pub successes: AtomicU32,
    /// Failures in a row.
    pub failures: AtomicU32,
    /// Why the last probe failed (`None` when it did not). Written by the probe task, read by
    /// the admin endpoint; never touched by queries.
    last_error: std::sync::Mutex<Option<ProbeError>>,
    /// Probe round-trip times, for the metrics.
    pub latency: Histogram,
    /// Failed probes, by [`Failure`] reason (in `Failure::ALL` order).
    failures_by_reason: [AtomicU64; Failure::ALL.len()],
}

impl Default for TargetHealth {
    fn default() -> Self {
        Self {
            up: AtomicBool::new(true),
            agent_permille: AtomicU32::new(1000),
            agent_drain: AtomicBool::new(false),
            up_since_ms: AtomicU64::new(NEVER),
            rtt_us: AtomicU64::new(0),
            last_ok: AtomicBool::new(false),
            probed: AtomicBool::new(false),
            last_change_unix_ms: AtomicU64::new(unix_ms()),
            last_probe_unix_ms: AtomicU64::new(0),
            history: AtomicU64::new(0),
            probes: AtomicU64::new(0),
            successes: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            last_error: std::sync::Mutex::new(None),
            latency: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            failures_by_reason: Default::default(),
        }
    }
}

impl TargetHealth {
    /// Whether the target is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Whether a probe has run.
    pub fn is_probed(&self) -> bool {
        self.probed.load(Ordering::Relaxed)
    }

    /// The agent's weight in permille.
    pub fn agent_permille(&self) -> u32 {
        self.agent_permille.load(Ordering::Relaxed)
    }

    /// Whether the agent asked for a drain.
    pub fn agent_drained(&self) -> bool {
        self.agent_drain.load(Ordering::Relaxed)
    }

    /// The results of the last `n` probes (at most 64), oldest first.
    pub fn history(&self, n: usize) -> Vec<bool> {
        let known = usize::try_from(self.probes.load(Ordering::Relaxed)).unwrap_or(64);
        let n = n.min(known).min(64);
        let bits = self.history.load(Ordering::Relaxed);
        (0..n).rev().map(|i| bits >> i & 1 == 1).collect()
    }

    /// Why the last probe failed, if it did.
    pub fn last_error(&self) -> Option<ProbeError> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Failed probes so far, by reason.
    pub fn failures_by_reason(&self) -> [(Failure, u64); Failure::ALL.len()] {
        Failure::ALL.map(|f| {
            (
                f,
                self.failures_by_reason[f as usize].load(Ordering::Relaxed),
            )
        })
    }

    /// The rise/fall state as last recorded.
    pub fn hysteresis(&self) -> Hysteresis {
        Hysteresis {
            up: self.is_up(),
            successes: self.successes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// Sets up or down; `ramp` starts slow start when coming up.
    pub fn set_up(&self, up: bool, ramp: bool) {
        let was = self.up.swap(up, Ordering::Relaxed);
        if was != up {
            self.last_change_unix_ms.store(unix_ms(), Ordering::Relaxed);
            let since = if up && ramp { now_ms() } else { NEVER };
            self.up_since_ms.store(since, Ordering::Relaxed);
            changed();
        }
    }

    /// Records what the agent said.
    pub fn set_agent(&self, permille: Option<u32>, drain: Option<bool>) {
        let mut moved = false;
        if let Some(p) = permille {
            moved |= self.agent_permille.swap(p, Ordering::Relaxed) != p;
        }
        if let Some(d) = drain {
            moved |= self.agent_drain.swap(d, Ordering::Relaxed) != d;
        }
        if moved {
            changed();
        }
    }

    /// Whether slow start is ramping the target's weight up now (so its weight changes with
    /// time, not only at [`changed`]).
    pub fn is_ramping(&self, slow_start: Option<Duration>) -> bool {
        slow_start.is_some_and(|ss| {
            let since = self.up_since_ms.load(Ordering::Relaxed);
            ramp_permille(since, now_ms(), ss) < 1000
        })
    }

    /// Writes one probe's outcome and the rise/fall state it led to; `ramp` starts slow start
    /// when the target comes up.
    pub fn record(&self, outcome: &Outcome, h: Hysteresis, ramp: bool) {
        self.probed.store(true, Ordering::Relaxed);
        self.last_probe_unix_ms.store(unix_ms(), Ordering::Relaxed);
        let bit = u64::from(outcome.ok());
        let old = self.history.load(Ordering::Relaxed);
        self.history.store((old << 1) | bit, Ordering::Relaxed);
        self.probes.fetch_add(1, Ordering::Relaxed);
        self.last_ok.store(outcome.ok(), Ordering::Relaxed);
        self.successes.store(h.successes, Ordering::Relaxed);
        self.failures.store(h.failures, Ordering::Relaxed);
        if outcome.ok() {
            let us = u64::try_from(outcome.rtt.as_micros()).unwrap_or(u64::MAX);
            self.rtt_us.store(us, Ordering::Relaxed);
            self.latency.observe(outcome.rtt.as_secs_f64());
        }
        if let Some(f) = outcome.failure() {
            self.failures_by_reason[f as usize].fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut e) = self.last_error.lock() {
            e.clone_from(&outcome.error);
        }
        if let Some(a) = outcome.agent {
            // `up` or a percentage ends an agent's drain, as `ready` does (HAProxy).
            let drain = a.drain.or(if a.up == Some(true) || a.permille.is_some() {
                Some(false)
            } else {
                None
            });
            self.set_agent(a.permille, drain);
        }
        self.set_up(h.up, ramp);
    }

    /// The factor (permille) health applies to a member's weight now, or `None` when the target
    /// must not be served: down, or drained by its agent.
    pub fn weight_factor(&self, slow_start: Option<Duration>) -> Option<u32> {
        if !self.is_up() || self.agent_drained() {
            return None;
        }
        let agent = self.agent_permille();
        Some(match slow_start {
            None => agent,
            Some(ss) => {
                let since = self.up_since_ms.load(Ordering::Relaxed);
                let ramp = ramp_permille(since, now_ms(), ss);
                (u64::from(agent) * u64::from(ramp) / 1000) as u32
            }
        })
    }
}

/// Slow start: 100 permille at `since`, rising linearly to 1000 at `since + ramp`.
pub fn ramp_permille(since_ms: u64, now_ms: u64, ramp: Duration) -> u32 {
    if since_ms == NEVER || now_ms < since_ms {
        return 1000;
    }
    let elapsed = now_ms - since_ms;
    let total = u64::try_from(ramp.as_millis()).unwrap_or(u64::MAX).max(1);
    if elapsed >= total {
        1000
    } else {
        (100 + 900 * elapsed / total) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_is_linear_from_ten_percent() {
        let ss = Duration::from_secs(30);
        assert_eq!(ramp_permille(1000, 1000, ss), 100);
        assert_eq!(ramp_permille(1000, 16_000, ss), 550);
        assert_eq!(ramp_permille(1000, 31_000, ss), 1000);
        assert_eq!(ramp_permille(NEVER, 5, ss), 1000);
    }
}
