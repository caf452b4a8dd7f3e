//! The loader: the config file and its zones, read into a [`Snapshot`] by a pipeline of named
//! stages, each a function of its inputs. Start-up, reload and `dnslb check` all call [`load`],
//! so what `check` accepts, reload accepts.
//!
//! 1. [`settings`]: the config file, and the start-up [`Settings`] it gives.
//! 2. [`sources`]: the zone files, parsed (unchanged files reuse the previous parse), side by
//!    side ([`parallel`]).
//! 3. [`pools`]: every `[[pool]]` validated, its members' cells carried over ([`cells`]).
//! 4. [`zones`]: each zone built with the pools that fall in it, or its last good version, side
//!    by side.
//!
//! Problems that make the config unusable are returned all together; zone problems that leave
//! other zones serving go into the snapshot.

mod cells;
mod geoip;
mod parallel;
mod pools;
mod probes;
mod secondaries;
mod settings;
mod signing;
mod sources;
mod transfers;
mod warnings;
mod zones;

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

pub use settings::{AdminSettings, Settings};
pub use sources::{Fingerprint, Sources};

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;

use crate::Problem;
use crate::snapshot::{Parts, Snapshot, ZoneTransfer};
use crate::zone::Zone;
use crate::zone::secondary::SecondaryZone;
use crate::zone::secondary::Store;

/// What one load produced.
#[derive(Debug)]
pub struct Loaded {
    /// What to serve.
    pub snapshot: Snapshot,
    /// The inputs it was built from, for the next load.
    pub sources: Sources,
    /// The start-up settings the config gives.
    pub settings: Settings,
    /// What loads but is probably not meant (`dnslb check --strict` fails on it).
    pub warnings: Vec<Problem>,
}

/// The generation a reload builds on.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    /// The running snapshot (its cells carry over).
    pub snapshot: &'a Snapshot,
    /// Its inputs (unchanged files are not parsed again; broken zones keep their last good
    /// records).
    pub sources: &'a Sources,
}

/// The start-up settings of the config at `config_path`, without loading any zone (for the
/// command-line tools that talk to a running server).
pub fn read_settings(config_path: &Path) -> Result<Settings, Vec<Problem>> {
    let mut fatal = Vec::new();
    let config = settings::read(config_path, &mut fatal)?;
    if fatal.is_empty() {
        Ok(config.settings)
    } else {
        Err(fatal)
    }
}

/// The DS records (presentation form) of the keys of `zone`, which the config at
/// `config_path` signs, for `dnslb dnssec ds`.
pub fn ds_records(config_path: &Path, zone: &str) -> Result<Vec<String>, Vec<Problem>> {
    let mut fatal = Vec::new();
    let config = settings::read(config_path, &mut fatal)?;
    let policies = signing::read(&config, &mut fatal);
    if !fatal.is_empty() {
        return Err(fatal);
    }
    let origin = Name::from_ascii(zone)
        .map(|mut n| {
            n.set_fqdn(true);
            n.to_lowercase()
        })
        .map_err(|e| vec![Problem::file(config_path, format!("`{zone}`: {e}"))])?;
    let Some(policy) = policies.get(&origin) else {
        let msg = format!("no [[zone]] {origin} with a dnssec table: dnslb does not sign it");
        return Err(vec![Problem::file(config_path, msg)]);
    };
    crate::dnssec::ds_lines(&origin, policy, crate::dnssec::keys::unix_now())
}

/// Builds a snapshot from the config at `config_path`, on top of `previous` when reloading;
/// secondary zones are built from what `store` holds for them.
pub fn load(
    config_path: &Path,
    previous: Option<Previous<'_>>,
    store: &Store,
) -> Result<Loaded, Vec<Problem>> {
    load_with(config_path, previous, store, true)
}

/// [`load`] for `dnslb check` and `--simulate`, which serve nothing: every problem is found as
/// a load finds it, but no answer is prepared for the UDP fast path (a third of a large zone's
/// load).
pub fn check(config_path: &Path) -> Result<Loaded, Vec<Problem>> {
    load_with(config_path, None, &Store::default(), false)
}

fn load_with(
    config_path: &Path,
    previous: Option<Previous<'_>>,
    store: &Store,
    prepare: bool,
) -> Result<Loaded, Vec<Problem>> {
    let mut fatal = Vec::new();
    let config = settings::read(config_path, &mut fatal)?;
    let mut cells = cells::Cells::carried_over(previous.map(|p| p.snapshot));
    let mut kept = Vec::new();
    let last_geoip = previous.and_then(|p| p.sources.geoip.as_ref());
    let geoip = geoip::read(&config, last_geoip, &mut fatal, &mut kept);
    let pools = pools::build_all(&config, geoip.as_ref(), &mut cells, &mut fatal);
    let transfers = transfers::read(&config, &mut fatal);
    let policies = signing::read(&config, &mut fatal);
    // What signing makes is counted across generations.
    let signing = previous.map_or_else(Default::default, |p| p.snapshot.signing.clone());
    let secondaries = secondaries::read(&config, &mut fatal);
    let mut secondary_origins: Vec<Name> = secondaries.keys().cloned().collect();
    secondary_origins.sort();
    let previous_sources = previous.map(|p| p.sources);
    let mut sources = read_sources(&config, &secondaries, store, previous_sources, &mut fatal);
    // The parse's scratch (file text, tokens) back to the system before the zones are built
    // beside the records: the loading peak is the larger stage's, not their sum.
    crate::memory::release();
    fatal.extend(zones::unplaced(&pools, &sources, &secondary_origins));
    if !fatal.is_empty() {
        // The zones' own problems too, so that one look shows everything to fix.
        let last = previous.map(|p| p.snapshot);
        let (_, zone_problems) = zones::build(
            &mut sources,
            &pools,
            &secondary_origins,
            last,
            (&policies, &signing),
        );
        fatal.extend(zone_problems);
        return Err(fatal);
    }
    sources.geoip = geoip;
    let last = previous.map(|p| p.snapshot);
    let (zones, mut problems) = zones::build(
        &mut sources,
        &pools,
        &secondary_origins,
        last,
        (&policies, &signing),
    );
    crate::memory::release(); // the records and the grouping, before the answers are prepared
    problems.extend(kept);
    if zones.is_empty() && secondaries.is_empty() {
        return Err(nothing_to_serve(problems, &sources.zones_dir));
    }
    if let Some(prev) = previous {
        zones::log_changes(prev.snapshot, &zones);
    }
    let generation = previous.map_or(1, |p| p.snapshot.generation + 1);
    let mut warnings = warnings::of(&pools, &sources.zones_dir);
    warnings.extend(warnings::signing(
        zones.values().map(|z| &**z),
        SystemTime::now(),
    ));
    warnings.extend(warnings::private_keys(zones.values().map(|z| &**z)));
    problems.extend(unknown_transfer_zones(
        &config,
        &transfers,
        &zones,
        &secondaries,
    ));
    let unavailable: Vec<Name> = secondary_origins
        .into_iter()
        .filter(|o| !zones.contains_key(o))
        .collect();
    let snapshot = Snapshot::new(Parts {
        generation,
        zones,
        pools,
        problems,
        transfers,
        secondaries,
        unavailable,
        geoip: sources.geoip.clone(),
        unprepared: !prepare,
        signing,
    });
    Ok(Loaded {
        warnings,
        snapshot,
        sources,
        settings: config.settings,
    })
}

/// `[[zone]]` sections for zones that are served neither from a file nor as secondaries.
fn unknown_transfer_zones(
    config: &settings::Config,
    transfers: &FxHashMap<Name, ZoneTransfer>,
    zones: &FxHashMap<Name, Arc<Zone>>,
    secondaries: &FxHashMap<Name, SecondaryZone>,
) -> Vec<Problem> {
    transfers
        .keys()
        .filter(|o| !zones.contains_key(*o) && !secondaries.contains_key(*o))
        .map(|origin| {
            Problem::file(
                config.path(),
                format!("[[zone]] {origin}: no such zone is served (no {origin}zone file loaded)"),
            )
        })
        .collect()
}

/// The zone files of the zone directory, and each secondary zone's records from `store`.
fn read_sources(
    config: &settings::Config,
    secondaries: &FxHashMap<Name, SecondaryZone>,
    store: &Store,
    previous: Option<&Sources>,
    fatal: &mut Vec<Problem>,
) -> Sources {
    let mut sources = sources::read(config.path(), &config.settings.zones_dir, previous, fatal);
    sources::add_secondaries(&mut sources, secondaries, store, previous, fatal);
    sources
}

/// The problems of a load that serves no zone: said only when nothing else explains it (an
/// empty zone directory), not as a follow-on of the zone problems.
fn nothing_to_serve(mut problems: Vec<Problem>, zones_dir: &Path) -> Vec<Problem> {
    if problems.is_empty() {
        problems.push(Problem::file(zones_dir, "no zone loaded: nothing to serve"));
    }
    problems
}
