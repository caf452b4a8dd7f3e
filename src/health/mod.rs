//! Health: what a probe target looks like now, and how it is found out. A leaf: it knows
//! nothing of pools, zones or the config file.
//!
//! - [`TargetHealth`] is the atomics-backed cell that the query path reads without locks and the
//!   probe task writes.
//! - [`Hysteresis`] is the pure rise/fall decision.
//! - [`probe`] holds the probe kinds, one file each, behind [`ProbeKind`].
//!
//! A target is keyed by ([`ProbeSpec`], address): one target shared by several pools is probed
//! once, and a reload that keeps the key keeps the cell. The scheduler that runs the probes sits
//! above pools and health, in [`crate::scheduler`].

mod cell;
mod hysteresis;
pub mod probe;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use cell::{TargetHealth, ramp_permille};
pub use hysteresis::Hysteresis;
pub use probe::{Outcome, ProbeKind, probe_once};

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

/// Moves at every change to what a query may draw: a target up or down, an agent's weight or
/// drain (here), an admin's drain or weight (in [`crate::pool`]). The pools' draw tables are
/// built for one value and rebuilt when it moves.
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// Records that a member's availability changed. Called after the change is written (release),
/// so that a query that reads the new value (acquire) also reads the change.
pub fn changed() {
    CHANGES.fetch_add(1, Ordering::Release);
}

/// How many availability changes there have been so far.
#[inline]
pub fn changes() -> u64 {
    CHANGES.load(Ordering::Acquire)
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
