//! Where a client is: MaxMind DB files (GeoIP2 / GeoLite2 City or Country, ASN, or any mmdb
//! with the same fields, such as DB-IP's) read with the `maxminddb` crate. The `geo` policy
//! (`pool/policy/geo.rs`) walks every network of them once per load and compiles its map into a
//! prefix table of its own, so a query never walks an mmdb tree; what is here is also asked
//! directly by `dnslb check --simulate` and `explain.` to say where a client is.
//!
//! Addresses live in one 128-bit space: IPv6 as they are, IPv4 as IPv4-mapped IPv6
//! (`::ffff:a.b.c.d`), so one table holds both.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use maxminddb::{Reader, WithinOptions};
use serde::Deserialize;

/// An address in the table's space: IPv6 as is, IPv4 mapped (`::ffff:a.b.c.d`).
pub fn key(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => 0xffff_u128 << 32 | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The prefix length in the table's space of an `addr`/`prefix` network.
pub fn key_prefix(addr: IpAddr, prefix: u8) -> u8 {
    match addr {
        IpAddr::V4(_) => prefix + 96,
        IpAddr::V6(_) => prefix,
    }
}

/// What the databases say of one network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    /// Continent code (`EU`).
    pub continent: Option<String>,
    /// ISO 3166-1 country code (`DE`).
    pub country: Option<String>,
    /// ISO 3166-2 code of the largest subdivision (`CA` for California).
    pub subdivision: Option<String>,
    /// Autonomous system number (from the ASN database).
    pub asn: Option<u32>,
    /// Latitude and longitude.
    pub coordinates: Option<(f64, f64)>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = [&self.continent, &self.country, &self.subdivision]
            .into_iter()
            .map_while(|p| p.as_deref())
            .collect::<Vec<_>>()
            .join("/");
        write!(f, "{}", if place.is_empty() { "unknown" } else { &place })?;
        if let Some(asn) = self.asn {
            write!(f, " AS{asn}")?;
        }
        if let Some((lat, lon)) = self.coordinates {
            write!(f, " ({lat:.2}, {lon:.2})")?;
        }
        Ok(())
    }
}

/// The fields read of a City, Country or ASN record (the rest is skipped).
#[derive(Debug, Default, Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    continent: Code<'a>,
    #[serde(borrow, default)]
    country: Iso<'a>,
    #[serde(borrow, default)]
    subdivisions: Vec<Iso<'a>>,
    #[serde(default)]
    location: Coordinates,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct Code<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
struct Iso<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
struct Coordinates {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

impl Record<'_> {
    fn location(&self) -> Location {
        Location {
            continent: self.continent.code.map(str::to_ascii_uppercase),
            country: self.country.iso_code.map(str::to_ascii_uppercase),
            subdivision: self
                .subdivisions
                .first()
                .and_then(|s| s.iso_code)
                .map(str::to_ascii_uppercase),
            asn: self.autonomous_system_number,
            coordinates: self.location.latitude.zip(self.location.longitude),
        }
    }
}

/// What was compiled from a database, by recipe (shared by pools and loads while the file is
/// unchanged).
type Memo = std::sync::Mutex<rustc_hash::FxHashMap<String, Arc<dyn std::any::Any + Send + Sync>>>;

/// Compiled tables a database keeps at most (a reload of a changed map adds one).
const MEMO_MAX: usize = 64;

/// One database file, read whole into memory.
pub struct Database {
    /// The file.
    pub path: PathBuf,
    /// Its modification time and length when read (a reload reads it again when they change).
    pub stamp: (Option<SystemTime>, u64),
    reader: Reader<Vec<u8>>,
    /// Tables compiled from it ([`Databases::memo`]); touched only by loads.
    memo: Memo,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("type", &self.kind())
            .finish()
    }
}

/// The modification time and length of `path`.
pub fn stamp(path: &Path) -> std::io::Result<(Option<SystemTime>, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.modified().ok(), m.len()))
}

impl Database {
    /// Reads and checks the database at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let stamp = stamp(path).map_err(|e| e.to_string())?;
        let reader = Reader::open_readfile(path).map_err(|e| e.to_string())?;
        // A lookup walks the tree; a broken file fails here rather than at a query.
        reader
            .lookup(IpAddr::from([0, 0, 0, 0]))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            path: path.to_path_buf(),
            stamp,
            reader,
            memo: Memo::default(),
        })
    }

    /// The database type its metadata says (`GeoLite2-City`, `GeoLite2-ASN`, ...).
    pub fn kind(&self) -> &str {
        &self.reader.metadata.database_type
    }

    /// When it was built (Unix seconds).
    pub fn built(&self) -> u64 {
        self.reader.metadata.build_epoch
    }

    /// What it says of `addr`, and the prefix (in the table's space) of the network that says
    /// it; `None` when it has nothing.
    pub fn lookup(&self, addr: IpAddr) -> Option<(Location, u8)> {
        let found = self.reader.lookup(addr).ok()?;
        let network = found.network().ok()?;
        let record: Record<'_> = found.decode().ok()??;
        Some((
            record.location(),
            key_prefix(network.ip(), network.prefix()),
        ))
    }

    /// Calls `visit` with each network that has data (start and prefix in the table's space),
    /// what it says, and whether it is an alias of IPv4 space (6to4 `2002::/16`, Teredo
    /// `2001::/32`, where MaxMind's databases repeat their IPv4 data): IPv4 networks once (as
    /// mapped), IPv6 ones outside the IPv4 space.
    pub fn each_network(
        &self,
        mut visit: impl FnMut(u128, u8, &Location, bool),
    ) -> Result<(), String> {
        let mut roots = vec!["0.0.0.0/0".parse().expect("a network")];
        if self.reader.metadata.ip_version == 6 {
            roots.push("::/0".parse().expect("a network"));
        }
        for (i, root) in roots.into_iter().enumerate() {
            let networks = self
                .reader
                .within(root, WithinOptions::default())
                .map_err(|e| e.to_string())?;
            for found in networks {
                let found = found.map_err(|e| e.to_string())?;
                let network = found.network().map_err(|e| e.to_string())?;
                if i > 0 && network.ip().is_ipv4() {
                    continue; // the IPv4 subtree again, reached from the IPv6 root
                }
                if let IpAddr::V6(v6) = network.ip()
                    && (v6.to_ipv4_mapped().is_some() || u128::from(v6) >> 32 == 0)
                {
                    continue; // the IPv4 space, walked as IPv4 above
                }
                let Ok(Some(record)) = found.decode::<Record<'_>>() else {
                    continue;
                };
                let start = key(network.network());
                let alias = start >> 112 == 0x2002 || start >> 96 == 0x2001_0000;
                visit(
                    start,
                    key_prefix(network.ip(), network.prefix()),
                    &record.location(),
                    alias,
                );
            }
        }
        Ok(())
    }
}

/// The databases `[geoip]` names (each shared with the next load while its file is unchanged).
#[derive(Debug, Default)]
pub struct Databases {
    /// A City or Country database.
    pub city: Option<Arc<Database>>,
    /// An ASN database.
    pub asn: Option<Arc<Database>>,
}

impl Databases {
    /// What `make` compiles from these databases for `recipe` (a description of everything
    /// else it reads), made once and kept while the files are unchanged: pools with the same
    /// map share one table, and a reload that changes neither the map nor the files compiles
    /// nothing. Not on the query path.
    pub fn memo<T: Send + Sync + 'static>(
        &self,
        recipe: &str,
        make: impl FnOnce() -> Result<T, String>,
    ) -> Result<Arc<T>, String> {
        let Some(home) = self.city.as_ref().or(self.asn.as_ref()) else {
            return make().map(Arc::new);
        };
        let asn = self.asn.as_ref().map(|a| (&a.path, a.stamp));
        let key = format!("{asn:?}|{recipe}");
        let found = home.memo.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some(done) = found.and_then(|d| d.downcast::<T>().ok()) {
            return Ok(done);
        }
        let made = Arc::new(make()?);
        if let Ok(mut memo) = home.memo.lock() {
            if memo.len() >= MEMO_MAX {
                memo.clear();
            }
            memo.insert(key, made.clone());
        }
        Ok(made)
    }

    /// Where `addr` is, as both databases say (the ASN from the ASN database).
    pub fn locate(&self, addr: IpAddr) -> Location {
        let mut out = self
            .city
            .as_ref()
            .and_then(|db| db.lookup(addr))
            .map(|(l, _)| l)
            .unwrap_or_default();
        if let Some((asn, _)) = self.asn.as_ref().and_then(|db| db.lookup(addr)) {
            out.asn = asn.asn;
        }
        out
    }
}
