//! Stage 4: each zone built from its source with the pools that fall in it, or from its last
//! good records when the source is broken.

use std::sync::Arc;

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;
use tracing::{info, warn};

use super::sources::{Sources, ZoneSource};
use crate::Problem;
use crate::pool::Pool;
use crate::snapshot::Snapshot;
use crate::zone::Zone;

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

/// Builds every zone of `sources`; a zone that builds becomes its source's last good version.
/// A pool belongs to the deepest zone containing it among these and the `secondaries` (served
/// or not: a pool of a secondary zone not transferred yet waits for it).
///
/// A zone of `previous` is served again as it is when nothing it was built from changed: the
/// same packed records (the file was not parsed again), no problem, and no pool in it then or
/// now (pools are built anew by every load). So a reload after a small zone's change does not
/// rebuild a large zone beside it.
pub fn build(
    sources: &mut Sources,
    pools: &[Arc<Pool>],
    secondaries: &[Name],
    previous: Option<&Snapshot>,
) -> Built {
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
        if let Some(z) = unchanged(previous, src, &mine) {
            return Outcome::Unchanged(z);
        }
        match build_one(src, &mine) {
            Ok(z) => Outcome::Built(z),
            Err(errs) => {
                let mut problems = Vec::new();
                let good = last_good(src, &mine, &mut problems);
                problems.extend(errs);
                Outcome::Failed(good, problems)
            }
        }
    });
    let mut problems = Vec::new();
    let mut zones = FxHashMap::default();
    for (src, outcome) in sources.zones.iter_mut().zip(outcomes) {
        match outcome {
            Outcome::Unchanged(z) => {
                src.last_good = Some(src.records.clone());
                zones.insert(src.origin.clone(), z);
            }
            Outcome::Built(mut z) => {
                src.last_good = Some(src.records.clone());
                z.source = Some(src.records.clone());
                zones.insert(src.origin.clone(), Arc::new(z));
            }
            Outcome::Failed(good, more) => {
                if let Some(mut z) = good {
                    z.source = src.last_good.clone();
                    zones.insert(src.origin.clone(), Arc::new(z));
                }
                problems.extend(more);
            }
        }
    }
    (zones, problems)
}

/// What became of one zone's source.
enum Outcome {
    /// The previous generation's zone serves again.
    Unchanged(Arc<Zone>),
    /// Built from the source.
    Built(Zone),
    /// The source is broken: its problems, and the zone of its last good records if any.
    Failed(Option<Zone>, Vec<Problem>),
}

/// The previous generation's zone of `src`, when it can serve again as it is.
fn unchanged(
    previous: Option<&Snapshot>,
    src: &ZoneSource,
    pools: &[Arc<Pool>],
) -> Option<Arc<Zone>> {
    let old = previous?.zone(&src.origin)?;
    let same_records = old
        .source
        .as_ref()
        .is_some_and(|s| Arc::ptr_eq(s, &src.records));
    let clean = src.errors.is_empty() && pools.is_empty();
    (same_records && clean && !old.has_pools()).then(|| old.clone())
}

/// The zone from its current source. Built even when lines failed to parse, so that every
/// problem is reported at once.
fn build_one(src: &ZoneSource, pools: &[Arc<Pool>]) -> Result<Zone, Vec<Problem>> {
    if src.records.is_empty() && !src.errors.is_empty() {
        return Err(src.errors.clone());
    }
    match Zone::build(&src.origin, &src.path, &src.records, pools) {
        Ok(_) if !src.errors.is_empty() => Err(src.errors.clone()),
        Ok(z) => Ok(z),
        Err(more) => Err(src.errors.iter().cloned().chain(more).collect()),
    }
}

/// The last good records, rebuilt with today's pools, to keep serving a broken zone.
fn last_good(src: &ZoneSource, pools: &[Arc<Pool>], problems: &mut Vec<Problem>) -> Option<Zone> {
    let good = src.last_good.as_ref()?;
    match Zone::build(&src.origin, &src.path, good, pools) {
        Ok(z) => {
            warn!(zone = %src.origin, serial = z.serial, "zone failed to load; serving its last good version");
            Some(z)
        }
        Err(more) => {
            problems.extend(more);
            None
        }
    }
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
