//! What one generation answers from: its zones by origin, and the secondary zones it has
//! nothing to serve for. A plain value that [`crate::answer`] and [`crate::prepare`] read; the
//! [`crate::snapshot::Snapshot`] holds it beside everything else of the generation.

use std::sync::Arc;

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;

use crate::zone::Zone;

/// The zones one generation answers from.
#[derive(Debug, Default)]
pub struct Served {
    zones: FxHashMap<Name, Arc<Zone>>,
    /// Labels of the longest origin, to bound the zone search.
    max_origin_labels: u8,
    /// Secondary zones with nothing to serve (not transferred yet, expired, or their only
    /// transfer did not load): names in them are answered SERVFAIL.
    pub unavailable: Vec<Name>,
}

impl Served {
    /// The zones (keyed by lower-cased origin) and the unavailable secondary zones.
    pub fn new(zones: FxHashMap<Name, Arc<Zone>>, unavailable: Vec<Name>) -> Self {
        let max_origin_labels = zones.keys().map(Name::num_labels).max().unwrap_or(0);
        Self {
            zones,
            max_origin_labels,
            unavailable,
        }
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

    /// Whether an unavailable secondary zone lies inside a zone served here: the parent's
    /// prepared answers would answer for it, so such a generation prepares none.
    pub fn hides_an_unavailable_zone(&self) -> bool {
        self.unavailable.iter().any(|o| self.find_zone(o).is_some())
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
