//! What a secondary zone is and holds: its settings (`[[secondary]]`), the records of its last
//! transfer and its status, in the [`Store`] that the zone tasks ([`crate::secondary`]) write and
//! the loader, NOTIFY and `/status` read. Never read by queries.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;
use tokio::sync::Notify;

use super::PackedRecords;
use crate::tsig::TsigKey;

/// A `[[secondary]]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryZone {
    /// The zone's origin (lower case).
    pub origin: Name,
    /// Where to transfer it from, tried in order.
    pub primaries: Vec<SocketAddr>,
    /// The key that signs our requests and the primaries' answers, if any.
    pub tsig: Option<TsigKey>,
    /// Addresses whose NOTIFY is heeded.
    pub allow_notify: Vec<IpAddr>,
    /// Where the last transfer is kept on disk, if anywhere.
    pub cache_file: Option<PathBuf>,
    /// What one transfer may bring and take.
    pub limits: Limits,
}

/// Bounds on one incoming transfer (`[[secondary]]` `max_records`, `max_octets`,
/// `idle_timeout`, `transfer_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Records received (duplicates included: they cost work even when merged).
    pub max_records: u64,
    /// Octets received, message framing included.
    pub max_octets: u64,
    /// The longest wait for the next message (Knot's `tcp-remote-io-timeout`).
    pub idle: std::time::Duration,
    /// A backstop on the whole transfer, off unless set.
    pub total: Option<std::time::Duration>,
}

impl Limits {
    /// Ten million records: a large real zone (most TLDs hold fewer) and under 1 GiB packed.
    pub const MAX_RECORDS: u64 = 10_000_000;
    /// 2 GiB on the wire: ten million records at about 200 octets each, uncompressed.
    pub const MAX_OCTETS: u64 = 2 << 30;
    /// Ten seconds between two messages (Knot waits five; NSD two minutes).
    pub const IDLE: std::time::Duration = std::time::Duration::from_secs(10);
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_records: Self::MAX_RECORDS,
            max_octets: Self::MAX_OCTETS,
            idle: Self::IDLE,
            total: None,
        }
    }
}

/// Where a secondary zone stands, for `/status` and the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Never transferred: SERVFAIL until the first transfer.
    #[default]
    Waiting,
    /// Served from the last transfer.
    Serving,
    /// No primary answered within the SOA's expire time: SERVFAIL until one does.
    Expired,
}

impl State {
    /// The word `/status` and the metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Serving => "serving",
            State::Expired => "expired",
        }
    }
}

/// A secondary zone's progress, as `/status` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    /// Where it stands.
    pub state: State,
    /// The serial of the records held.
    pub serial: Option<u32>,
    /// The primary of the last successful refresh.
    pub primary: Option<SocketAddr>,
    /// Unix seconds of the last successful refresh (SOA check or transfer), or of the cache
    /// file's writing.
    pub refreshed_at: Option<u64>,
    /// Unix seconds of the last transfer installed.
    pub transferred_at: Option<u64>,
    /// How the last transfer came: `AXFR`, `IXFR`, or `cache file`.
    pub last_transfer: Option<&'static str>,
    /// How long the last transfer that loaded took to read and merge, in seconds.
    pub transfer_seconds: Option<f64>,
    /// Unix seconds at which the zone expires without a refresh.
    pub expires_at: Option<u64>,
    /// Why the last attempt failed: cleared when a transfer loads (or, for a failure to reach
    /// the primaries, when a SOA check succeeds).
    pub error: Option<String>,
    /// The serial of a transfer that was received but did not load, until one loads.
    pub rejected_serial: Option<u32>,
    /// Records of the last transfer left out: outside the zone, or not of class IN.
    pub ignored_records: u64,
    /// NOTIFYs heeded (from an allowed address, signed when a key is set).
    pub notifies: u64,
    /// SOA checks those NOTIFYs caused (at most two a second; the rest were coalesced).
    pub notify_checks: u64,
}

/// What the loader needs of a held zone.
#[derive(Debug, Clone)]
pub struct Held {
    /// The records.
    pub records: Arc<PackedRecords>,
    /// What problems with them name: the cache file, or the transfer.
    pub file: Arc<Path>,
    /// Their SOA's data (what a refresh compares and times itself by, without unpacking).
    pub soa: hickory_proto::rr::rdata::SOA,
}

#[derive(Debug, Default)]
struct Entry {
    held: Option<Held>,
    status: Status,
    wake: Arc<Notify>,
}

/// The records of every secondary zone and their status: written by the zone tasks (and the
/// first load, from cache files), read by the loader, NOTIFY and `/status`. Never by queries.
#[derive(Debug, Default)]
pub struct Store {
    zones: Mutex<FxHashMap<Name, Entry>>,
}

impl Store {
    fn with<T>(&self, origin: &Name, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        f(zones.entry(origin.clone()).or_default())
    }

    /// The records held for `origin`, if any (not expired).
    pub fn held(&self, origin: &Name) -> Option<Held> {
        let zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.get(origin).and_then(|e| e.held.clone())
    }

    /// Keeps `held` for `origin` (a transfer, or a cache file read at start-up).
    pub fn keep(&self, origin: &Name, held: Held, status: impl FnOnce(&mut Status)) {
        self.with(origin, |e| {
            e.held = Some(held);
            e.status.state = State::Serving;
            status(&mut e.status);
        });
    }

    /// Goes back to `before` (or to holding nothing) after a transfer that did not load.
    pub fn discard(&self, origin: &Name, before: Option<Held>, status: impl FnOnce(&mut Status)) {
        self.with(origin, |e| {
            e.status.serial = before.as_ref().map(|h| h.soa.serial);
            if before.is_none() {
                e.status.state = State::Waiting;
            }
            e.held = before;
            status(&mut e.status);
        });
    }

    /// The status of `origin`, if it is known.
    pub fn status(&self, origin: &Name) -> Option<Status> {
        let zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.get(origin).map(|e| e.status.clone())
    }

    /// Counts a NOTIFY's SOA check.
    pub fn notify_checked(&self, origin: &Name) {
        self.with(origin, |e| e.status.notify_checks += 1);
    }

    /// Drops the records of `origin` (expired).
    pub fn expire(&self, origin: &Name) {
        self.with(origin, |e| {
            e.held = None;
            e.status.state = State::Expired;
        });
    }

    /// Changes the status of `origin`.
    pub fn update(&self, origin: &Name, f: impl FnOnce(&mut Status)) {
        self.with(origin, |e| f(&mut e.status));
    }

    /// Wakes the task of `origin` (a NOTIFY came); `false` when there is none.
    pub fn wake(&self, origin: &Name) -> bool {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        match zones.get_mut(origin) {
            Some(e) => {
                e.status.notifies += 1;
                e.wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// What wakes the task of `origin`.
    pub fn waker(&self, origin: &Name) -> Arc<Notify> {
        self.with(origin, |e| e.wake.clone())
    }

    /// Forgets zones no longer configured.
    pub fn retain(&self, keep: impl Fn(&Name) -> bool) {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.retain(|origin, _| keep(origin));
    }

    /// Every zone's status, sorted by origin.
    pub fn statuses(&self) -> Vec<(Name, Status)> {
        let zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = zones
            .iter()
            .map(|(o, e)| (o.clone(), e.status.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Unix seconds of `t`.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether serial `a` is at least `b` (RFC 1982 serial number arithmetic).
pub fn serial_at_least(a: u32, b: u32) -> bool {
    a == b || (a.wrapping_sub(b) as i32) > 0
}

#[cfg(test)]
mod tests {
    use super::serial_at_least;

    #[test]
    fn serials_compare_as_rfc_1982_says() {
        assert!(serial_at_least(5, 5));
        assert!(serial_at_least(6, 5));
        assert!(!serial_at_least(4, 5));
        assert!(serial_at_least(1, u32::MAX), "wraps around");
        assert!(!serial_at_least(u32::MAX, 1));
    }
}
