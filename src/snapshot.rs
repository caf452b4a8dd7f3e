//! The validated, immutable world a query reads: zones with their pools, and the settings they
//! came with. [`load`] builds one from the config file; start-up, reload and `dnslb check` all call
//! it, so what `check` accepts, reload accepts.
//!
//! A reload passes the running snapshot as `previous`: a zone file that no longer loads keeps its
//! last good version, and members and probe targets whose keys are unchanged keep their cells.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use hickory_proto::rr::{Name, RecordType};
use rustc_hash::FxHashMap;
use tracing::{info, warn};

use crate::Problem;
use crate::config;
use crate::health::{ProbeSpec, TargetHealth};
use crate::pool::{self, MemberState, Pool};
use crate::zone::{self, SourcedRecord, Zone};

/// A parsed zone file, kept so that a reload re-reads only what changed.
#[derive(Debug)]
pub struct ZoneSource {
    /// The zone's origin.
    pub origin: Name,
    /// The zone file.
    pub path: PathBuf,
    /// Modification time and length when read (every included file's too).
    stamp: Vec<(PathBuf, Option<SystemTime>, u64)>,
    /// The records that parsed.
    records: Arc<Vec<SourcedRecord>>,
    /// Problems of the file; the zone is not served from it when there is one.
    errors: Vec<Problem>,
    /// The records of the last version that loaded cleanly, served while the file is broken.
    last_good: Option<Arc<Vec<SourcedRecord>>>,
}

/// Everything one generation serves.
#[derive(Debug)]
pub struct Snapshot {
    /// Counts loads since start-up.
    pub generation: u64,
    /// The config file.
    pub config_path: PathBuf,
    /// DNS addresses (UDP and TCP).
    pub listen: Vec<SocketAddr>,
    /// Admin HTTP address.
    pub admin: Option<SocketAddr>,
    /// Reload on file changes.
    pub watch: bool,
    /// The zone directory.
    pub zones_dir: PathBuf,
    zones: FxHashMap<Name, Arc<Zone>>,
    /// Labels of the longest origin, to bound the zone search.
    max_origin_labels: u8,
    /// All pools, in config order.
    pub pools: Vec<Arc<Pool>>,
    /// Every zone file seen, parsed or not.
    sources: Vec<ZoneSource>,
    /// The config file's modification time and length when read.
    config_stamp: (PathBuf, Option<SystemTime>, u64),
}

/// A loaded snapshot and the problems that did not prevent it.
#[derive(Debug)]
pub struct Loaded {
    /// What to serve.
    pub snapshot: Snapshot,
    /// Zones that failed (served from their last good version, or not at all).
    pub problems: Vec<Problem>,
}

impl Snapshot {
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

    /// The served zones, sorted by origin.
    pub fn zones(&self) -> Vec<&Arc<Zone>> {
        let mut z: Vec<_> = self.zones.values().collect();
        z.sort_by(|a, b| a.origin.cmp(&b.origin));
        z
    }

    /// Whether the config, a zone file, an included file or the set of zone files changed on
    /// disk since this snapshot was loaded (a file watcher also reports mere reads).
    pub fn changed_on_disk(&self) -> bool {
        // A broken zone may be waiting for a file it could not read: always try again.
        if stamp_of(&self.config_path) != self.config_stamp
            || self.sources.iter().any(|s| !s.errors.is_empty())
        {
            return true;
        }
        let mut paths = zone_files(&self.zones_dir).unwrap_or_default();
        paths.sort();
        let known: Vec<&PathBuf> = self.sources.iter().map(|s| &s.path).collect();
        if paths.iter().collect::<Vec<_>>() != known {
            return true;
        }
        self.sources.iter().any(|s| {
            s.stamp
                .iter()
                .any(|(p, m, l)| stamp_of(p) != (p.clone(), *m, *l))
        })
    }
}

fn stamp_of(path: &Path) -> (PathBuf, Option<SystemTime>, u64) {
    let meta = std::fs::metadata(path).ok();
    (
        path.to_path_buf(),
        meta.as_ref().and_then(|m| m.modified().ok()),
        meta.map_or(0, |m| m.len()),
    )
}

/// Builds a snapshot from the config at `config_path`.
///
/// Errors (the config is unusable, or no zone loads) are returned all together; zone problems that
/// leave other zones serving are in [`Loaded::problems`].
pub fn load(config_path: &Path, previous: Option<&Snapshot>) -> Result<Loaded, Vec<Problem>> {
    let (raw, text) = config::read(config_path).map_err(|e| vec![e])?;
    let mut fatal = Vec::new();

    let listen: Vec<SocketAddr> = raw
        .server
        .listen
        .iter()
        .filter_map(|a| match a.get_ref().parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                fatal.push(Problem::at(
                    config_path,
                    &text,
                    a.span(),
                    format!(
                        "server.listen: `{}` is not an address like 127.0.0.1:5300 or [::1]:5300",
                        a.get_ref()
                    ),
                ));
                None
            }
        })
        .collect();
    if raw.server.listen.is_empty() {
        fatal.push(Problem::file(
            config_path,
            "server.listen is empty: give at least one address",
        ));
    }
    let admin = raw
        .admin
        .as_ref()
        .and_then(|a| match a.listen.get_ref().parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                fatal.push(Problem::at(
                    config_path,
                    &text,
                    a.listen.span(),
                    format!(
                        "admin.listen: `{}` is not an address like 127.0.0.1:8053",
                        a.listen.get_ref()
                    ),
                ));
                None
            }
        });

    // Pools: carry member states and probe targets over from the previous snapshot.
    let mut states: FxHashMap<(Name, RecordType, String), Arc<MemberState>> = FxHashMap::default();
    let mut targets: FxHashMap<(ProbeSpec, SocketAddr), Arc<TargetHealth>> = FxHashMap::default();
    for p in previous.map_or(&[][..], |s| &s.pools) {
        for m in p.members.iter() {
            states.insert((p.name.clone(), p.rtype, m.label.clone()), m.state.clone());
            if let (Some(spec), Some(addr), Some(h)) = (&p.probe, m.check, &m.health) {
                targets.insert((spec.clone(), addr), h.clone());
            }
        }
    }
    let mut pools = Vec::new();
    for spanned in &raw.pool {
        let line = crate::problem::line_of(&text, spanned.span().start);
        let built = pool::build(
            spanned.get_ref(),
            config_path.to_path_buf(),
            line,
            &mut |name, rtype, label| {
                states
                    .entry((name.clone(), rtype, label.to_string()))
                    .or_insert_with(|| Arc::new(MemberState::new()))
                    .clone()
            },
            &mut |spec, addr| {
                targets
                    .entry((spec.clone(), addr))
                    .or_insert_with(|| Arc::new(TargetHealth::default()))
                    .clone()
            },
        );
        match built {
            Ok(p) => pools.push(Arc::new(p)),
            Err(msg) => fatal.push(Problem::line(config_path, line, msg)),
        }
    }

    // Zone files.
    let base = config_path.parent().unwrap_or(Path::new("."));
    let zones_dir = base.join(&raw.server.zones);
    let config_stamp = stamp_of(config_path);
    let mut paths: Vec<PathBuf> = match zone_files(&zones_dir) {
        Ok(paths) => paths,
        Err(e) => {
            fatal.push(Problem::file(
                config_path,
                format!(
                    "server.zones: cannot read the directory {}: {e}",
                    zones_dir.display()
                ),
            ));
            Vec::new()
        }
    };
    paths.sort();
    let mut sources = Vec::new();
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let origin = match Name::from_ascii(format!("{}.", stem.trim_end_matches('.'))) {
            Ok(o) => o.to_lowercase(),
            Err(e) => {
                fatal.push(Problem::file(
                    &path,
                    format!("the file name does not give a zone origin: {e}"),
                ));
                continue;
            }
        };
        sources.push(read_source(&path, origin, previous));
    }

    for p in &pools {
        if !sources.iter().any(|s| s.origin.zone_of(&p.name)) {
            fatal.push(Problem::line(
                &p.config_file,
                p.config_line,
                format!(
                    "pool {} lies outside every zone in {}",
                    p.name,
                    zones_dir.display()
                ),
            ));
        }
    }
    if !fatal.is_empty() {
        return Err(fatal);
    }

    // Build each zone with the pools that fall in it (a pool belongs to the deepest zone).
    let mut problems = Vec::new();
    let mut zones = FxHashMap::default();
    let origins: Vec<Name> = sources.iter().map(|s| s.origin.clone()).collect();
    for src in &mut sources {
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
        // Built even when lines failed to parse, so that every problem is reported at once.
        let built = if src.records.is_empty() && !src.errors.is_empty() {
            Err(src.errors.clone())
        } else {
            match Zone::build(&src.origin, &src.path, &src.records, &mine) {
                Ok(_) if !src.errors.is_empty() => Err(src.errors.clone()),
                Ok(z) => Ok(z),
                Err(more) => Err(src.errors.iter().cloned().chain(more).collect()),
            }
        };
        match built {
            Ok(z) => {
                src.last_good = Some(src.records.clone());
                zones.insert(src.origin.clone(), Arc::new(z));
            }
            Err(errs) => {
                // The last good records, rebuilt with today's pools, keep serving.
                if let Some(good) = &src.last_good {
                    match Zone::build(&src.origin, &src.path, good, &mine) {
                        Ok(z) => {
                            warn!(zone = %src.origin, serial = z.serial, "zone failed to load; serving its last good version");
                            zones.insert(src.origin.clone(), Arc::new(z));
                        }
                        Err(more) => problems.extend(more),
                    }
                }
                problems.extend(errs);
            }
        }
    }
    if zones.is_empty() {
        problems.push(Problem::file(
            &zones_dir,
            "no zone loaded: nothing to serve",
        ));
        return Err(problems);
    }
    if let Some(prev) = previous {
        for (origin, z) in &zones {
            match prev.zones.get(origin) {
                Some(old) if Arc::ptr_eq(old, z) => {}
                Some(old) if old.serial != z.serial => {
                    info!(zone = %origin, old_serial = old.serial, serial = z.serial, "zone changed")
                }
                Some(_) => {}
                None => info!(zone = %origin, serial = z.serial, "zone added"),
            }
        }
    }
    let max_origin_labels = zones.keys().map(Name::num_labels).max().unwrap_or(0);
    Ok(Loaded {
        snapshot: Snapshot {
            generation: previous.map_or(1, |p| p.generation + 1),
            config_path: config_path.to_path_buf(),
            listen,
            admin,
            watch: raw.server.watch,
            zones_dir,
            zones,
            max_origin_labels,
            pools,
            sources,
            config_stamp,
        },
        problems,
    })
}

/// The `*.zone` files of a directory.
fn zone_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "zone") && p.is_file())
        .collect())
}

/// Parses a zone file, or reuses the previous parse when no file it reads has changed. The last
/// good records carry over either way.
fn read_source(path: &Path, origin: Name, previous: Option<&Snapshot>) -> ZoneSource {
    let old = previous.and_then(|p| {
        p.sources
            .iter()
            .find(|s| s.path == path && s.origin == origin)
    });
    let last_good = old.and_then(|o| o.last_good.clone());
    if let Some(old) = old
        && old
            .stamp
            .iter()
            .all(|(p, m, l)| stamp_of(p) == (p.clone(), *m, *l))
    {
        return ZoneSource {
            origin,
            path: path.to_path_buf(),
            stamp: old.stamp.clone(),
            records: old.records.clone(),
            errors: old.errors.clone(),
            last_good,
        };
    }
    let parsed = zone::parse_zone_file(path, &origin);
    ZoneSource {
        stamp: parsed.files.iter().map(|f| stamp_of(f)).collect(),
        records: Arc::new(parsed.records),
        errors: parsed.errors,
        last_good,
        origin,
        path: path.to_path_buf(),
    }
}
