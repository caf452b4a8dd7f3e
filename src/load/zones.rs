//! Stage 4: each zone built from its source with the pools that fall in it, or from its last
//! good records when the source is broken.

use std::sync::Arc;

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;
use tracing::{info, warn};

use super::sources::{Sources, ZoneSource};
use crate::Problem;
use crate::dnssec::Policy;
use crate::pool::Pool;
use crate::snapshot::Snapshot;
use crate::zone::Zone;
use crate::zone::pool_signatures::SigningStats;

/// The zones that load, keyed by origin, and the problems of those that do not (or that serve
/// their last good version).
pub type Built = (FxHashMap<Name, Arc<Zone>>, Vec<Problem>);

/// Problems for pools that lie outside every zone (file or secondary).
pub fn unplaced(pools: &[Arc<Pool>], sources: &Sources, secondaries: &[Name]) -> Vec<Problem> {
    pools
        .iter()
        .filter(|p| {
            !sources.zones.iter().any(|s| s.origin.zone_of(&p.name))
                && !secondaries.iter().any(|o| o.zone_of(&p.name))
        })
        .map(|p| {
            Problem::line(
                &p.config_file,
                p.config_line,
                format!(
                    "pool {} lies outside every zone in {}",
                    p.name,
                    sources.zones_dir.display()
                ),
            )
        })
        .collect()
}

/// Builds every zone of `sources`. A pool belongs to the deepest zone containing it among
/// these and the `secondaries` (served or not: a pool of a secondary zone not transferred yet
/// waits for it).
///
/// A zone of `previous` is served again as it is when nothing it was built from changed: the
/// same parse (the file was not parsed again), no problem, and no pool in it then or now
/// (pools are built anew by every load). So a reload after a small zone's change does not
/// rebuild a large zone beside it. A zone whose source is broken keeps serving what `previous`
/// served of it (rebuilt with today's pools).
pub fn build(
    sources: &mut Sources,
    pools: &[Arc<Pool>],
    secondaries: &[Name],
    previous: Option<&Snapshot>,
    (policies, stats): (&FxHashMap<Name, Policy>, &Arc<SigningStats>),
) -> Built {
    let now = crate::dnssec::keys::unix_now();
    let mut origins: Vec<Name> = sources.zones.iter().map(|s| s.origin.clone()).collect();
    origins.extend(secondaries.iter().cloned());
    // Side by side: a large zone takes one core while the others are built.
    let outcomes = super::parallel::map(&sources.zones, |src| {
        // A pool belongs to the deepest zone that contains it.
        let mine: Vec<Arc<Pool>> = pools
            .iter()
            .filter(|p| {
                origins
                    .iter()
                    .filter(|o| o.zone_of(&p.name))
                    .max_by_key(|o| o.num_labels())
                    .is_some_and(|o| *o == src.origin)
            })
            .cloned()
            .collect();
        let old = previous.and_then(|p| p.zone(&src.origin));
        // Signed again because it came due: a refresh (or a key's timing).
        let refresh = old
            .and_then(|z| z.ours())
            .is_some_and(|o| crate::dnssec::due(o, now));
        let cause = match refresh {
            true => crate::dnssec::Cause::Refresh,
            false => crate::dnssec::Cause::Load,
        };
        let signing = (policies.get(&src.origin).map(|p| (p, now, cause)), stats);
        if let Some(z) = old.filter(|z| unchanged(z, src, &mine, signing)) {
            return Outcome::Serves(z.clone());
        }
        match build_one(src, old, &mine, signing) {
            Ok(mut z) => {
                z.generation = src.generation;
                Outcome::Serves(Arc::new(z))
            }
            Err(errs) => {
                let mut problems = Vec::new();
                let good = old.and_then(|z| last_good(src, z, &mine, signing, &mut problems));
                problems.extend(errs);
                Outcome::Failed(good, problems)
            }
        }
    });
    let mut problems = Vec::new();
    let mut zones = FxHashMap::default();
    for (src, outcome) in sources.zones.iter_mut().zip(outcomes) {
        let zone = match outcome {
            Outcome::Serves(z) => z,
            Outcome::Failed(good, more) => {
                problems.extend(more);
                match good {
                    Some(z) => z,
                    None => continue,
                }
            }
        };
        if zone.generation == src.generation && !src.secondary {
            src.records = None; // the zone holds them now
        }
        zones.insert(src.origin.clone(), zone);
    }
    (zones, problems)
}

/// What became of one zone's source.
enum Outcome {
    /// Built from the source, or the previous generation's zone, unchanged.
    Serves(Arc<Zone>),
    /// The source is broken: its problems, and the zone that keeps serving, if any.
    Failed(Option<Arc<Zone>>, Vec<Problem>),
}

/// How a zone is signed here, the time of the load, and why it would be signed (`None` for a
/// zone served as given), and the counters of what signing made.
type Signing<'p> = (
    Option<(&'p Policy, u64, crate::dnssec::Cause)>,
    &'p Arc<SigningStats>,
);

/// Whether `old`, the previous generation's zone of `src`, can serve again as it is (a zone
/// signed here: signed with the same policy, and not due to be signed again).
fn unchanged(old: &Zone, src: &ZoneSource, pools: &[Arc<Pool>], signing: Signing<'_>) -> bool {
    let clean = src.errors.is_empty() && pools.is_empty();
    let signed_alike = match (signing.0, old.ours()) {
        (None, None) => true,
        (Some((policy, now, _)), Some(ours)) => {
            ours.policy == crate::dnssec::policy_hash(policy) && !crate::dnssec::due(ours, now)
        }
        _ => false,
    };
    old.generation == src.generation && clean && !old.has_pools() && signed_alike
}

/// The zone of `records` from `src`, signed here when `signing` says.
fn build_zone(
    src: &ZoneSource,
    records: &crate::zone::PackedRecords,
    pools: &[Arc<Pool>],
    signing: Signing<'_>,
) -> Result<Zone, Vec<Problem>> {
    match signing.0 {
        Some(how) => crate::dnssec::sign(&src.origin, &src.path, records, pools, how, signing.1),
        None => Zone::build(&src.origin, &src.path, records, pools),
    }
}

/// The zone from its current source (its records, or those of `old` when it was built from the
/// same parse). Built even when lines failed to parse, so that every problem is reported at
/// once.
fn build_one(
    src: &ZoneSource,
    old: Option<&Arc<Zone>>,
    pools: &[Arc<Pool>],
    signing: Signing<'_>,
) -> Result<Zone, Vec<Problem>> {
    let given_back;
    let records = match (&src.records, old) {
        (Some(r), _) => &**r,
        (None, Some(old)) if old.generation == src.generation => {
            given_back = old.records();
            &given_back
        }
        // A parse's records go only once a zone of that parse serves, which `previous` holds;
        // should it not, the file is read again.
        (None, _) => {
            given_back = crate::zone::parse_zone_file(&src.path, &src.origin).records;
            &given_back
        }
    };
    if records.is_empty() && !src.errors.is_empty() {
        return Err(src.errors.clone());
    }
    match build_zone(src, records, pools, signing) {
        Ok(_) if !src.errors.is_empty() => Err(src.errors.clone()),
        Ok(z) => Ok(z),
        Err(more) => Err(src.errors.iter().cloned().chain(more).collect()),
    }
}

/// What `old` served of a zone whose source is now broken, with today's pools: `old` itself when
/// no pool stands in it then or now, else rebuilt from its records.
fn last_good(
    src: &ZoneSource,
    old: &Arc<Zone>,
    pools: &[Arc<Pool>],
    signing: Signing<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Arc<Zone>> {
    let resign = match (signing.0, old.ours()) {
        (Some((_, now, _)), Some(ours)) => crate::dnssec::due(ours, now),
        (Some(_), None) => true,
        _ => false,
    };
    let zone = if pools.is_empty() && !old.has_pools() && !resign {
        old.clone()
    } else {
        match build_zone(src, &old.records(), pools, signing) {
            Ok(mut z) => {
                z.generation = old.generation;
                Arc::new(z)
            }
            // A zone signed here whose signing fails again (its keys): what served goes on
            // serving, signed as it was; its problems are the failed build's, said already.
            Err(_) if signing.0.is_some() => old.clone(),
            Err(more) => {
                problems.extend(more);
                return None;
            }
        }
    };
    warn!(zone = %src.origin, serial = zone.serial, "zone failed to load; serving its last good version");
    Some(zone)
}

/// Logs zones that changed serial or appeared since `previous`.
pub fn log_changes(previous: &Snapshot, zones: &FxHashMap<Name, Arc<Zone>>) {
    for (origin, z) in zones {
        match previous.zone(origin) {
            Some(old) if old.serial != z.serial => {
                info!(zone = %origin, old_serial = old.serial, serial = z.serial, "zone changed")
            }
            Some(_) => {}
            None => info!(zone = %origin, serial = z.serial, "zone added"),
        }
    }
}
