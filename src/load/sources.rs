//! Stage 2: the zone files, parsed, with the change stamps of every file each one read. Kept
//! between loads by the reloader, so that a reload re-reads only what changed. A parse's
//! records are let go once a zone built from them serves: the zone holds them, and gives them
//! back when it must be built again ([`crate::zone::Zone::records`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use hickory_proto::rr::Name;

use rustc_hash::FxHashMap;

use crate::Problem;
use crate::zone::secondary::{SecondaryZone, Store};
use crate::zone::{self, PackedRecords};

/// Modification time and length of a file when read.
type Stamp = (PathBuf, Option<SystemTime>, u64);

/// A parsed zone file.
#[derive(Debug)]
pub struct ZoneSource {
    /// The zone's origin.
    pub origin: Name,
    /// The zone file.
    pub path: PathBuf,
    /// Stamps of the file and of every file it included (or tried to).
    stamps: Vec<Stamp>,
    /// The records that parsed, packed; `None` once a zone built from them serves, which
    /// holds them (a secondary zone's are the transfer's, and stay).
    pub records: Option<Arc<PackedRecords>>,
    /// Which parse this is: a new number for every parse (or transfer) of the source.
    pub generation: u64,
    /// Problems of the file; the zone is not served from it when there is one.
    pub errors: Vec<Problem>,
    /// A secondary zone's: `path` names its transfer (or cache file), not a zone file.
    pub secondary: bool,
}

/// Every zone file of a load, and the config's stamp.
#[derive(Debug, Default)]
pub struct Sources {
    /// The zone files, sorted by path.
    pub zones: Vec<ZoneSource>,
    /// The zone directory.
    pub zones_dir: PathBuf,
    config_stamp: Option<Stamp>,
    /// The `[geoip]` databases of the last load (reused while their files are unchanged).
    pub geoip: Option<std::sync::Arc<crate::geo::Databases>>,
}

/// What the inputs of a load look like on disk now: the config's stamp, the zone files, and the
/// stamp of every file the sources read (missing ones too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<Stamp>);

impl Sources {
    /// The inputs' [`Fingerprint`] as they are on disk now.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut stamps: Vec<Stamp> = self.config_stamp.iter().map(|c| stamp_of(&c.0)).collect();
        let mut paths = zone_files(&self.zones_dir).unwrap_or_default();
        paths.sort();
        stamps.extend(paths.iter().map(|p| stamp_of(p)));
        for s in &self.zones {
            stamps.extend(s.stamps.iter().map(|st| stamp_of(&st.0)));
        }
        stamps.extend(self.geoip_files().map(stamp_of));
        Fingerprint(stamps)
    }

    /// Whether the config, a zone file, an included file (one that was missing, too) or the set
    /// of zone files changed on disk since these were read.
    pub fn changed_on_disk(&self) -> bool {
        let Some(config) = &self.config_stamp else {
            return true;
        };
        if stamp_of(&config.0) != *config {
            return true;
        }
        let mut paths = zone_files(&self.zones_dir).unwrap_or_default();
        paths.sort();
        let files = self.zones.iter().filter(|s| !s.secondary);
        if !paths.iter().eq(files.map(|s| &s.path)) {
            return true;
        }
        let geoip = self.geoip.iter().flat_map(|g| [&g.city, &g.asn]).flatten();
        self.zones
            .iter()
            .any(|s| s.stamps.iter().any(|st| stamp_of(&st.0) != *st))
            || geoip.into_iter().any(|db| {
                let now = stamp_of(&db.path);
                (now.1, now.2) != db.stamp
            })
    }

    /// The database files of the last load.
    fn geoip_files(&self) -> impl Iterator<Item = &Path> {
        let dbs = self.geoip.iter().flat_map(|g| [&g.city, &g.asn]).flatten();
        dbs.map(|db| db.path.as_path())
    }
}

fn stamp_of(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok();
    (
        path.to_path_buf(),
        meta.as_ref().and_then(|m| m.modified().ok()),
        meta.map_or(0, |m| m.len()),
    )
}

/// Reads every `NAME.zone` file of `zones_dir`, reusing `previous` parses of unchanged files.
pub fn read(
    config_path: &Path,
    zones_dir: &Path,
    previous: Option<&Sources>,
    fatal: &mut Vec<Problem>,
) -> Sources {
    let config_stamp = Some(stamp_of(config_path));
    let mut paths = match zone_files(zones_dir) {
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
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match origin_of(&path) {
            Ok(origin) => files.push((path, origin)),
            Err(p) => fatal.push(p),
        }
    }
    // Side by side: a large file takes one core while the others are read.
    let zones = super::parallel::map(&files, |(path, origin)| {
        read_source(path, origin.clone(), previous)
    });
    Sources {
        zones,
        zones_dir: zones_dir.to_path_buf(),
        config_stamp,
        geoip: None,
    }
}

/// The zone a file serves: its name without `.zone`.
fn origin_of(path: &Path) -> Result<Name, Problem> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    Name::from_ascii(format!("{}.", stem.trim_end_matches('.')))
        .map(|o| o.to_lowercase())
        .map_err(|e| {
            Problem::file(
                path,
                format!("the file name does not give a zone origin: {e}"),
            )
        })
}

/// The `*.zone` files of a directory.
fn zone_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "zone") && p.is_file())
        .collect())
}

/// A number no parse had before (zones remember the parse they were built from).
fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Parses a zone file, or reuses the previous parse when no file it reads has changed.
fn read_source(path: &Path, origin: Name, previous: Option<&Sources>) -> ZoneSource {
    let old = previous.and_then(|p| {
        p.zones
            .iter()
            .find(|s| s.path == path && s.origin == origin)
    });
    if let Some(old) = old
        && old.stamps.iter().all(|st| stamp_of(&st.0) == *st)
    {
        return ZoneSource {
            origin,
            path: path.to_path_buf(),
            stamps: old.stamps.clone(),
            records: old.records.clone(),
            generation: old.generation,
            errors: old.errors.clone(),
            secondary: false,
        };
    }
    let parsed = zone::parse_zone_file(path, &origin);
    ZoneSource {
        stamps: parsed.files.iter().map(|f| stamp_of(f)).collect(),
        records: Some(Arc::new(parsed.records)),
        generation: next_generation(),
        errors: parsed.errors,
        origin,
        path: path.to_path_buf(),
        secondary: false,
    }
}

/// Adds a source for each secondary zone that has records: the last transfer, or at start-up
/// its cache file. A zone both in the zone directory and a `[[secondary]]` is a problem.
pub fn add_secondaries(
    sources: &mut Sources,
    secondaries: &FxHashMap<Name, SecondaryZone>,
    store: &Store,
    previous: Option<&Sources>,
    fatal: &mut Vec<Problem>,
) {
    let mut origins: Vec<&Name> = secondaries.keys().collect();
    origins.sort();
    for origin in origins {
        if let Some(file) = sources.zones.iter().find(|s| s.origin == *origin) {
            fatal.push(Problem::file(
                &file.path,
                format!("zone {origin} is both this file and a [[secondary]]: remove one"),
            ));
            continue;
        }
        let old =
            previous.and_then(|p| p.zones.iter().find(|s| s.secondary && s.origin == *origin));
        let Some(held) = super::secondaries::held(&secondaries[origin], store, previous.is_none())
        else {
            continue;
        };
        let same = old.filter(|o| {
            o.records
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(r, &held.records))
        });
        let (errors, generation) = match same {
            Some(old) => (old.errors.clone(), old.generation),
            None => (Vec::new(), next_generation()),
        };
        sources.zones.push(ZoneSource {
            origin: origin.clone(),
            path: held.file.to_path_buf(),
            stamps: Vec::new(),
            records: Some(held.records),
            generation,
            errors,
            secondary: true,
        });
    }
}
