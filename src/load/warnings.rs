//! Things that load but are probably not what the operator meant: said by `dnslb check` (an
//! error with `--strict`) and logged at start-up and reload.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use crate::Problem;
use crate::pool::Pool;
use crate::zone::{Denial, Zone};

/// The warnings of a load's pools and zone directory.
pub fn of(pools: &[Arc<Pool>], zones_dir: &Path) -> Vec<Problem> {
    let mut out = Vec::new();
    for p in pools {
        let at = |message: String| Problem::line(&p.config_file, p.config_line, message);
        if let Some(spec) = &p.probe
            && spec.timeout >= spec.interval
        {
            out.push(at(format!(
                "pool {}: probe timeout {:?} is not shorter than its interval {:?}: a hung target \
                 is probed again before the last probe gave up",
                p.name, spec.timeout, spec.interval
            )));
        }
        if p.answers > p.members.len() {
            out.push(at(format!(
                "pool {}: answers = {} but the pool has {} members: answers carry at most {}",
                p.name,
                p.answers,
                p.members.len(),
                p.members.len()
            )));
        }
    }
    let skipped = std::fs::read_dir(zones_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "zone"));
    for path in skipped {
        // Files a zone includes are read through it; they are not skipped, only not zones.
        if path.extension().is_some_and(|x| x == "inc" || x == "tmp~") {
            continue;
        }
        out.push(Problem::file(
            &path,
            "not named NAME.zone: not loaded as a zone (an $INCLUDE may still read it)",
        ));
    }
    out.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    out
}

/// A private key of a zone dnslb signs that others than its owner may read (as BIND's
/// `dnssec-keygen` never writes one): anyone on the machine could sign for the zone.
pub fn private_keys<'z>(zones: impl Iterator<Item = &'z Zone>) -> Vec<Problem> {
    let mut out = Vec::new();
    for zone in zones {
        for problem in zone.ours().into_iter().flat_map(|o| &o.ds_problems) {
            out.push(Problem::file(&zone.file, problem.clone()));
        }
        for key in zone.ours().into_iter().flat_map(|o| &o.keys) {
            if crate::dnssec::keys::readable_by_others(&key.file) {
                out.push(Problem::file(
                    &key.file,
                    format!(
                        "the private key of {} (tag {}) can be read by others than its owner;                          chmod 600 it",
                        zone.origin, key.tag
                    ),
                ));
            }
        }
    }
    out
}

/// The warnings of signed zones, as `ldns-verify-zone` and `kzonecheck` give them: signatures
/// expired or expiring within a day (the zone still loads and is served, as NSD serves it),
/// and a signed zone with no NSEC or NSEC3 to prove absence with.
pub fn signing<'z>(zones: impl Iterator<Item = &'z Zone>, now: SystemTime) -> Vec<Problem> {
    let mut out = Vec::new();
    for zone in zones {
        let Some(signed) = &zone.dnssec else { continue };
        let at = |message: String| Problem::file(&zone.file, message);
        // A zone signed here is signed again before a quarter of its validity is left.
        let expiry = signed.expires_in(now).filter(|_| signed.ours.is_none());
        match expiry {
            Some(s) if s <= 0 => out.push(at(format!(
                "zone {}: a signature expired {} s ago; validating resolvers answer SERVFAIL \
                 for what it covers until the zone is signed again",
                zone.origin, -s
            ))),
            Some(s) if s < 86_400 => out.push(at(format!(
                "zone {}: a signature expires in {} s (less than a day); sign the zone again",
                zone.origin, s
            ))),
            _ => {}
        }
        if matches!(signed.denial, Denial::Missing) {
            out.push(at(format!(
                "zone {}: signed, but has no NSEC or NSEC3 records: negative answers carry no \
                 proof, and validating resolvers answer them SERVFAIL",
                zone.origin
            )));
        }
    }
    out
}
