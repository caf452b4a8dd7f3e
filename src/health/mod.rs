//! Health: what a probe target looks like now, kept in an atomics-backed cell that the query path
//! reads without locks and the probe task writes.
//!
//! The probe kinds and the scheduler live in [`probe`]; the rise/fall decision is the pure
//! [`Hysteresis`]. A target is keyed by ([`ProbeSpec`], address): one target shared by several
//! pools is probed once, and a reload that keeps the key keeps the cell.

pub mod probe;

use std::ops::RangeInclusive;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::rr::Name;

use crate::config::{RawProbe, parse_duration};

/// How a target is probed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// The TCP handshake completes.
    Tcp,
    /// `GET path` with a Host header answers with an expected status.
    Http {
        /// Request path.
        path: String,
        /// Host header.
        host: String,
        /// Healthy statuses.
        expect: Vec<RangeInclusive<u16>>,
    },
    /// The target answers one line of HAProxy's agent-check grammar.
    Agent,
}

/// A probe's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeSpec {
    /// What is checked.
    pub kind: ProbeKind,
    /// Port probed on the member's address (members with `check` use their own).
    pub port: Option<u16>,
    /// Time between probes.
    pub interval: Duration,
    /// Time one probe may take.
    pub timeout: Duration,
    /// Successes in a row that bring a target up.
    pub rise: u32,
    /// Failures in a row that take a target down.
    pub fall: u32,
}

impl ProbeSpec {
    /// Validates a raw probe table; `pool` gives the default HTTP Host.
    pub fn from_raw(raw: &RawProbe, pool: &Name) -> Result<Self, String> {
        let kind = match raw.kind.as_str() {
            "tcp" => ProbeKind::Tcp,
            "agent" => ProbeKind::Agent,
            "http" => ProbeKind::Http {
                path: raw.path.clone().unwrap_or_else(|| "/".into()),
                host: raw
                    .host
                    .clone()
                    .unwrap_or_else(|| pool.to_string().trim_end_matches('.').to_string()),
                expect: match &raw.expect {
                    None => vec![200..=399],
                    Some(list) => list.iter().map(parse_status).collect::<Result<_, _>>()?,
                },
            },
            other => return Err(format!("kind must be tcp, http or agent, not `{other}`")),
        };
        if raw.kind != "http" && (raw.path.is_some() || raw.host.is_some() || raw.expect.is_some())
        {
            return Err("path, host and expect are for http probes".into());
        }
        let duration = |v: &Option<String>, default: Duration| {
            v.as_deref()
                .map(parse_duration)
                .transpose()
                .map(|d| d.unwrap_or(default))
        };
        let interval = duration(&raw.interval, Duration::from_secs(5))?;
        let timeout = duration(&raw.timeout, Duration::from_secs(2))?;
        if interval.is_zero() || timeout.is_zero() {
            return Err("interval and timeout must be more than zero".into());
        }
        let rise = raw.rise.unwrap_or(2);
        let fall = raw.fall.unwrap_or(3);
        if rise == 0 || fall == 0 {
            return Err("rise and fall must be at least 1".into());
        }
        Ok(Self {
            kind,
            port: raw.port,
            interval,
            timeout,
            rise,
            fall,
        })
    }
}

fn parse_status(v: &toml::Value) -> Result<RangeInclusive<u16>, String> {
    let bad = || format!("expect: `{v}` is not a status or a range like \"200-299\"");
    match v {
        toml::Value::Integer(n) => {
            let n = u16::try_from(*n).map_err(|_| bad())?;
            Ok(n..=n)
        }
        toml::Value::String(s) => {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let b: u16 = b.trim().parse().map_err(|_| bad())?;
            if a > b {
                return Err(bad());
            }
            Ok(a..=b)
        }
        _ => Err(bad()),
    }
}

/// Milliseconds on tokio's clock since the first call (so paused-clock tests move it).
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<tokio::time::Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    u64::try_from(
        tokio::time::Instant::now()
            .duration_since(epoch)
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch, for "time of the last change" in the status.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

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
    /// Successes in a row.
    pub successes: AtomicU32,
    /// Failures in a row.
    pub failures: AtomicU32,
    /// Why the last probe failed (empty when it did not). Written by the probe task, read by
    /// the admin endpoint; never touched by queries.
    pub last_error: std::sync::Mutex<String>,
    /// Probe round-trip times, for the metrics.
    pub latency: prometheus_client::metrics::histogram::Histogram,
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
            successes: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            last_error: std::sync::Mutex::new(String::new()),
            latency: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 16),
            ),
        }
    }
}

impl TargetHealth {
    /// Whether the target is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The agent's weight in permille.
    pub fn agent_permille(&self) -> u32 {
        self.agent_permille.load(Ordering::Relaxed)
    }

    /// Whether the agent asked for a drain.
    pub fn agent_drained(&self) -> bool {
        self.agent_drain.load(Ordering::Relaxed)
    }

    /// Sets up or down; `ramp` starts slow start when coming up.
    pub fn set_up(&self, up: bool, ramp: bool) {
        let was = self.up.swap(up, Ordering::Relaxed);
        if was != up {
            self.last_change_unix_ms.store(unix_ms(), Ordering::Relaxed);
            let since = if up && ramp { now_ms() } else { NEVER };
            self.up_since_ms.store(since, Ordering::Relaxed);
        }
    }

    /// Records what the agent said.
    pub fn set_agent(&self, permille: Option<u32>, drain: Option<bool>) {
        if let Some(p) = permille {
            self.agent_permille.store(p, Ordering::Relaxed);
        }
        if let Some(d) = drain {
            self.agent_drain.store(d, Ordering::Relaxed);
        }
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

/// rise/fall as in HAProxy: the state flips only after `rise` successes or `fall` failures in a
/// row. Pure, so it is tested without sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    /// Current state.
    pub up: bool,
    /// Successes in a row.
    pub successes: u32,
    /// Failures in a row.
    pub failures: u32,
}

impl Hysteresis {
    /// Feeds one probe result; returns the new state.
    pub fn observe(mut self, ok: bool, rise: u32, fall: u32) -> Self {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if !self.up && self.successes >= rise {
                self.up = true;
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
            if self.up && self.failures >= fall {
                self.up = false;
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_needs_fall_failures_and_rise_successes_in_a_row() {
        let mut h = Hysteresis {
            up: true,
            successes: 0,
            failures: 0,
        };
        h = h.observe(false, 2, 3).observe(false, 2, 3);
        assert!(h.up);
        h = h
            .observe(true, 2, 3)
            .observe(false, 2, 3)
            .observe(false, 2, 3);
        assert!(h.up, "a success in between resets the count");
        h = h.observe(false, 2, 3);
        assert!(!h.up);
        h = h.observe(true, 2, 3);
        assert!(!h.up);
        h = h.observe(true, 2, 3);
        assert!(h.up);
    }

    #[test]
    fn ramp_is_linear_from_ten_percent() {
        let ss = Duration::from_secs(30);
        assert_eq!(ramp_permille(1000, 1000, ss), 100);
        assert_eq!(ramp_permille(1000, 16_000, ss), 550);
        assert_eq!(ramp_permille(1000, 31_000, ss), 1000);
        assert_eq!(ramp_permille(NEVER, 5, ss), 1000);
    }
}
