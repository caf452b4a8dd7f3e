//! The immutable world one generation serves: what it answers from ([`Served`]), its pools and
//! their probe targets, the answers prepared for the fast path, transfer settings, and the
//! problems its load found. A query loads it once through one atomic pointer; a reload builds a
//! new one aside ([`crate::load`]) and swaps it in whole, so everything that describes a
//! generation changes in one store. Nothing read only at start-up lives here.

use std::sync::Arc;

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;

use crate::Problem;
use crate::pool::Pool;
use crate::prepare::Prepared;
use crate::scheduler::{self, ProbeTarget};
use crate::served::Served;
use crate::zone::Zone;
use crate::zone::secondary::SecondaryZone;

/// Everything one generation serves.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Counts loads since start-up (0: nothing loaded yet).
    pub generation: u64,
    /// The zones answered from, and the secondary zones with nothing to serve.
    pub served: Served,
    /// All pools, in config order.
    pub pools: Vec<Arc<Pool>>,
    /// The distinct probe targets of the pools.
    pub targets: Vec<ProbeTarget>,
    /// Problems of this generation's load that left it serving (zones kept at their last good
    /// version, or not served).
    pub problems: Vec<Problem>,
    /// When this generation was loaded (every zone of it was built then).
    pub loaded_at: Option<std::time::SystemTime>,
    /// The answers the UDP fast path copies, prepared from `served`.
    pub prepared: Prepared,
    /// The answers to questions with DO in the signed zones of `served` (empty when none is
    /// signed).
    pub prepared_signed: Prepared,
    /// Per zone (lower-cased origin): who may transfer it, whom to NOTIFY (`[[zone]]`).
    pub transfers: FxHashMap<Name, ZoneTransfer>,
    /// The secondary zones (`[[secondary]]`), served or not.
    pub secondaries: FxHashMap<Name, SecondaryZone>,
    /// The `[geoip]` databases the geo pools were compiled from.
    pub geoip: Option<Arc<crate::geo::Databases>>,
    /// What the signing of zones here made since start-up (carried from generation to
    /// generation).
    pub signing: Arc<crate::zone::pool_signatures::SigningStats>,
}

/// What a generation is made of, as the loader gathers it.
#[derive(Debug, Default)]
pub struct Parts {
    /// Counts loads since start-up.
    pub generation: u64,
    /// The zones that loaded, by lower-cased origin.
    pub zones: FxHashMap<Name, Arc<Zone>>,
    /// All pools, in config order.
    pub pools: Vec<Arc<Pool>>,
    /// Problems that left the generation serving.
    pub problems: Vec<Problem>,
    /// `[[zone]]` transfer settings.
    pub transfers: FxHashMap<Name, ZoneTransfer>,
    /// `[[secondary]]` zones.
    pub secondaries: FxHashMap<Name, SecondaryZone>,
    /// Secondary zones with nothing to serve.
    pub unavailable: Vec<Name>,
    /// The `[geoip]` databases.
    pub geoip: Option<Arc<crate::geo::Databases>>,
    /// Skip the prepared answers (`dnslb check`, which serves nothing).
    pub unprepared: bool,
    /// The signing counters, carried over from the previous generation.
    pub signing: Arc<crate::zone::pool_signatures::SigningStats>,
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
    /// Assembles a generation whole: its probe targets are found from the pools, and its
    /// answers prepared, unless an unavailable secondary zone lies inside a served zone (the
    /// parent's prepared answers would answer for it; the general path then answers all).
    pub fn new(parts: Parts) -> Self {
        let served = Served::new(parts.zones, parts.unavailable);
        let started = std::time::Instant::now();
        let (prepared, prepared_signed) = if parts.unprepared || served.hides_an_unavailable_zone()
        {
            Default::default()
        } else {
            (Prepared::build(&served), Prepared::build_signed(&served))
        };
        tracing::debug!(
            names = prepared.name_count(),
            octets = prepared.octets(),
            signed_names = prepared_signed.name_count(),
            signed_octets = prepared_signed.octets(),
            elapsed = ?started.elapsed(),
            "answers prepared"
        );
        Self {
            generation: parts.generation,
            targets: scheduler::targets(&parts.pools),
            served,
            pools: parts.pools,
            problems: parts.problems,
            loaded_at: Some(std::time::SystemTime::now()),
            prepared,
            prepared_signed,
            transfers: parts.transfers,
            secondaries: parts.secondaries,
            geoip: parts.geoip,
            signing: parts.signing,
        }
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
        self.served.zone(origin)
    }

    /// The served zones, sorted by origin.
    pub fn zones(&self) -> Vec<&Arc<Zone>> {
        self.served.zones()
    }
}
