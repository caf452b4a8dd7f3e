//! Stage: `[[secondary]]` read into each secondary zone's settings, and the records the loader
//! builds it from: the last transfer the zone's task kept, or at start-up its cache file.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hickory_proto::rr::{Name, RData};
use rustc_hash::FxHashMap;
use tracing::{info, warn};

use super::settings::Config;
use crate::Problem;
use crate::config::{RawSecondary, parse_duration};
use crate::tsig::TsigKey;
use crate::zone::secondary::{Held, Limits, SecondaryZone, Store};

/// Every `[[secondary]]`, by lower-cased origin; problems go to `fatal`.
pub fn read(config: &Config, fatal: &mut Vec<Problem>) -> FxHashMap<Name, SecondaryZone> {
    let base = config.dir();
    let mut out = FxHashMap::default();
    for table in &config.raw.secondary {
        let s = table.get_ref();
        let Some(origin) = super::transfers::origin(config, &s.zone, "secondary.zone", fatal)
        else {
            continue;
        };
        let mut primaries = Vec::new();
        for p in &s.primaries {
            match primary_address(p.get_ref()) {
                Some(a) => primaries.push(a),
                None => fatal.push(config.problem_at(
                    p.span(),
                    format!(
                        "secondary.primaries: `{}` is not an address like 192.0.2.53:53",
                        p.get_ref()
                    ),
                )),
            }
        }
        if s.primaries.is_empty() {
            fatal.push(config.problem_at(
                table.span(),
                format!("secondary {origin}: `primaries` lists no primary"),
            ));
        }
        let tsig = s.tsig.as_ref().and_then(|t| {
            TsigKey::read(t.get_ref(), base)
                .map_err(|e| fatal.push(config.problem_at(t.span(), format!("secondary.{e}"))))
                .ok()
        });
        let allow_notify = allow_notify(config, s, &primaries, fatal);
        let cache_file = cache_file(config, s, fatal);
        let zone = SecondaryZone {
            origin: origin.clone(),
            primaries,
            tsig,
            allow_notify,
            cache_file,
            limits: limits(config, s, fatal),
        };
        if out.insert(origin.clone(), zone).is_some() {
            fatal.push(config.problem_at(
                s.zone.span(),
                format!("secondary zone {origin} is described twice"),
            ));
        }
    }
    out
}

/// Who may NOTIFY the zone: `allow_notify`, or the primaries' addresses.
fn allow_notify(
    config: &Config,
    s: &RawSecondary,
    primaries: &[SocketAddr],
    fatal: &mut Vec<Problem>,
) -> Vec<IpAddr> {
    let Some(list) = &s.allow_notify else {
        return primaries.iter().map(SocketAddr::ip).collect();
    };
    list.iter()
        .filter_map(|a| {
            a.get_ref()
                .parse::<IpAddr>()
                .map_err(|_| {
                    fatal.push(config.problem_at(
                        a.span(),
                        format!(
                            "secondary.allow_notify: `{}` is not an IP address",
                            a.get_ref()
                        ),
                    ))
                })
                .ok()
        })
        .collect()
}

/// The cache file, relative to the config's directory; one the zone directory would read as
/// a zone file is a problem.
fn cache_file(config: &Config, s: &RawSecondary, fatal: &mut Vec<Problem>) -> Option<PathBuf> {
    let f = s.cache_file.as_ref()?;
    let path = config.dir().join(f.get_ref());
    if path.extension().is_some_and(|x| x == "zone")
        && path.parent() == Some(config.settings.zones_dir.as_path())
    {
        fatal.push(config.problem_at(
            f.span(),
            format!(
                "secondary.cache_file: `{}` would be read as a zone file of the zone directory; keep it elsewhere or name it otherwise",
                f.get_ref()
            ),
        ));
    }
    Some(path)
}

/// The transfer limits of one `[[secondary]]`.
fn limits(config: &Config, s: &RawSecondary, fatal: &mut Vec<Problem>) -> Limits {
    let mut limits = Limits::default();
    let mut positive = |v: &Option<toml::Spanned<u64>>, key: &str, into: &mut u64| {
        if let Some(v) = v {
            if *v.get_ref() == 0 {
                fatal.push(
                    config.problem_at(v.span(), format!("secondary.{key}: must be more than 0")),
                );
            } else {
                *into = *v.get_ref();
            }
        }
    };
    positive(&s.max_records, "max_records", &mut limits.max_records);
    positive(&s.max_octets, "max_octets", &mut limits.max_octets);
    let mut duration = |v: &Option<toml::Spanned<String>>, key: &str| {
        let v = v.as_ref()?;
        match parse_duration(v.get_ref()) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                fatal.push(
                    config.problem_at(v.span(), format!("secondary.{key}: must be more than 0")),
                );
                None
            }
            Err(e) => {
                fatal.push(config.problem_at(v.span(), format!("secondary.{key}: {e}")));
                None
            }
        }
    };
    if let Some(d) = duration(&s.idle_timeout, "idle_timeout") {
        limits.idle = d;
    }
    limits.total = duration(&s.transfer_timeout, "transfer_timeout");
    limits
}

/// `192.0.2.53:53`, `[2001:db8::53]:53`, or an address alone (port 53).
fn primary_address(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// What the loader builds a secondary zone from: the records held, or at start-up (`first`) the
/// zone's cache file when it is younger than the SOA's expire time (it is then held too).
pub fn held(zone: &SecondaryZone, store: &Store, first: bool) -> Option<Held> {
    if let Some(h) = store.held(&zone.origin) {
        return Some(h);
    }
    let path = zone.cache_file.as_ref().filter(|_| first)?;
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let parsed = crate::zone::parse_zone_file(path, &zone.origin);
    if let Some(e) = parsed.errors.first() {
        warn!(zone = %zone.origin, problem = %e, "the cache file does not load; waiting for a transfer");
        return None;
    }
    let soa = parsed.records.iter().find_map(|r| match &r.record.data {
        RData::SOA(s) => Some(s.clone()),
        _ => None,
    })?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age >= Duration::from_secs(u64::from(soa.expire as u32)) {
        warn!(zone = %zone.origin, serial = soa.serial, "the cache file is older than the SOA's expire time; waiting for a transfer");
        return None;
    }
    let held = Held {
        records: Arc::new(parsed.records),
        file: Arc::from(path.as_path()),
        soa: soa.clone(),
    };
    let at = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    store.keep(&zone.origin, held.clone(), |s| {
        s.serial = Some(soa.serial);
        s.refreshed_at = Some(at);
        s.last_transfer = Some("cache file");
    });
    info!(zone = %zone.origin, serial = soa.serial, "secondary zone read from its cache file");
    Some(held)
}
