//! The immutable world one generation serves: zones with their pools, the probe targets of those
//! pools, and the problems its load found. A query loads it once through one atomic pointer;
//! a reload builds a new one aside ([`crate::load`]) and swaps it in whole, so everything that
//! describes a generation changes in one store. Nothing read only at start-up lives here.

use std::sync::Arc;

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;

use crate::Problem;
use crate::pool::Pool;
use crate::prepare::Prepared;
use crate::scheduler::{self, ProbeTarget};
use crate::zone::Zone;

/// Everything one generation serves.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Counts loads since start-up (0: nothing loaded yet).
    pub generation: u64,
    zones: FxHashMap<Name, Arc<Zone>>,
    /// Labels of the longest origin, to bound the zone search.
    max_origin_labels: u8,
    /// All pools, in config order.
    pub pools: Vec<Arc<Pool>>,
    /// The distinct probe targets of the pools.
    pub targets: Vec<ProbeTarget>,
    /// Problems of this generation's load that left it serving (zones kept at their last good
    /// version, or not served).
    pub problems: Vec<Problem>,
    /// When this generation was loaded (every zone of it was built then).
    pub loaded_at: Option<std::time::SystemTime>,
    /// The answers the UDP fast path copies, prepared from the zones and pools above.
    pub prepared: Prepared,
    /// Per zone (lower-cased origin): who may transfer it, whom to NOTIFY (`[[zone]]`).
    pub transfers: FxHashMap<Name, ZoneTransfer>,
    /// The secondary zones (`[[secondary]]`), served or not.
    pub secondaries: FxHashMap<Name, crate::zone::secondary::SecondaryZone>,
    /// Secondary zones with nothing to serve (not transferred yet, expired, or their only
    /// transfer did not load): names in them are answered SERVFAIL.
    pub unavailable: Vec<Name>,
}

/// A zone's transfer settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneTransfer {
    /// Client networks that may transfer the zone over TCP.
    pub allow: Vec<ipnet::IpNet>,
    /// Secondaries sent a NOTIFY when the zone's serial changes.
    pub notify: Vec<std::net::SocketAddr>,
    /// The key transfers must be signed with (and our NOTIFY is), if any.
    pub tsig: Option<crate::tsig::TsigKey>,
}

impl Snapshot {
    /// Assembles a generation; its probe targets are found from the pools.
    pub fn new(
        generation: u64,
        zones: FxHashMap<Name, Arc<Zone>>,
        pools: Vec<Arc<Pool>>,
        problems: Vec<Problem>,
    ) -> Self {
        let max_origin_labels = zones.keys().map(Name::num_labels).max().unwrap_or(0);
        let targets = scheduler::targets(&pools);
        let mut snapshot = Self {
            generation,
            zones,
            max_origin_labels,
            pools,
            targets,
            problems,
            loaded_at: Some(std::time::SystemTime::now()),
            prepared: Prepared::default(),
            transfers: FxHashMap::default(),
            secondaries: FxHashMap::default(),
            unavailable: Vec::new(),
        };
        let started = std::time::Instant::now();
        snapshot.prepared = Prepared::build(&snapshot);
        tracing::debug!(
            names = snapshot.prepared.name_count(),
            octets = snapshot.prepared.octets(),
            elapsed = ?started.elapsed(),
            "answers prepared"
        );
        snapshot
    }

    /// The zone that `name` falls in: the one with the longest matching origin.
    pub fn find_zone(&self, name: &Name) -> Option<&Zone> {
        let mut labels = name.num_labels().min(self.max_origin_labels);
        let mut n = if labels < name.num_labels() {
            name.trim_to(labels as usize)
        } else {
            name.clone()
        };
        loop {
            if let Some(z) = self.zones.get(&n) {
                return Some(z);
            }
            if labels == 0 {
                return None;
            }
            labels -= 1;
            n = n.base_name();
        }
    }

    /// Whether `name` lies in a secondary zone with nothing to serve, deeper than `found`
    /// (the zone that would answer otherwise): such names are answered SERVFAIL.
    pub fn is_unavailable(&self, name: &Name, found: Option<&Zone>) -> bool {
        self.unavailable.iter().any(|u| {
            u.zone_of(name) && found.is_none_or(|z| u.num_labels() > z.origin.num_labels())
        })
    }

    /// The TSIG key called `name` among those the config names (`[[zone]] tsig`,
    /// `[[secondary]] tsig`), if any: the key a signed query is checked against.
    pub fn tsig_key(&self, name: &Name) -> Option<&crate::tsig::TsigKey> {
        let name = name.to_lowercase();
        let zones = self.transfers.values().filter_map(|t| t.tsig.as_ref());
        let secondaries = self.secondaries.values().filter_map(|s| s.tsig.as_ref());
        zones.chain(secondaries).find(|k| *k.name() == name)
    }

    /// The zone whose origin is `origin`, if served.
    pub fn zone(&self, origin: &Name) -> Option<&Arc<Zone>> {
        self.zones.get(origin)
    }

    /// The served zones, sorted by origin.
    pub fn zones(&self) -> Vec<&Arc<Zone>> {
        let mut z: Vec<_> = self.zones.values().collect();
        z.sort_by(|a, b| a.origin.cmp(&b.origin));
        z
    }
}
