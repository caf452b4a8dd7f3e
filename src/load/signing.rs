//! Stage: each `[[zone]]`'s `dnssec` table read into its signing policy ([`Policy`]): where its
//! keys are, NSEC3 or NSEC, the signatures' validity, the pool limit.

use hickory_proto::rr::Name;
use rustc_hash::FxHashMap;

use super::settings::Config;
use super::transfers::origin;
use crate::Problem;
use crate::config::parse_duration;
use crate::dnssec::{Denial, Policy};

/// The signing policy of every zone whose `[[zone]]` has a `dnssec` table, by lower-cased
/// origin; problems go to `fatal`.
pub fn read(config: &Config, fatal: &mut Vec<Problem>) -> FxHashMap<Name, Policy> {
    let mut out = FxHashMap::default();
    for zone in &config.raw.zone {
        let z = zone.get_ref();
        let Some(d) = &z.dnssec else { continue };
        let Some(origin) = origin(config, &z.name, "zone.name", fatal) else {
            continue;
        };
        let (span, raw) = (d.span(), d.get_ref());
        let mut problem = |msg: String| fatal.push(config.problem_at(span.clone(), msg));
        let denial = match raw.denial.as_deref() {
            None | Some("nsec3") => Denial::Nsec3,
            Some("nsec") => Denial::Nsec,
            Some(other) => {
                problem(format!(
                    "zone.dnssec.denial: `{other}` is neither `nsec3` nor `nsec`"
                ));
                continue;
            }
        };
        let validity = match raw.validity.as_deref().map(parse_duration) {
            None => Policy::VALIDITY,
            Some(Ok(v)) if v.as_secs() >= 10 => v,
            Some(Ok(_)) => {
                problem("zone.dnssec.validity: at least 10s".into());
                continue;
            }
            Some(Err(e)) => {
                problem(format!("zone.dnssec.validity: {e}"));
                continue;
            }
        };
        let mut ds = Vec::new();
        for line in raw.ds.iter().flatten() {
            match parse_ds(line.get_ref()) {
                Some(d) => ds.push(d),
                None => fatal.push(config.problem_at(
                    line.span(),
                    format!(
                        "zone.dnssec.ds: `{}` is not a DS (TAG ALGORITHM DIGEST-TYPE HEX)",
                        line.get_ref()
                    ),
                )),
            }
        }
        let mut problem = |msg: String| fatal.push(config.problem_at(span.clone(), msg));
        let pool_limit = raw.pool_limit.unwrap_or(Policy::POOL_LIMIT);
        if pool_limit == 0 {
            problem("zone.dnssec.pool_limit: at least 1".into());
            continue;
        }
        out.insert(
            origin,
            Policy {
                keys: config.dir().join(&raw.keys),
                denial,
                validity,
                inception_offset: std::time::Duration::from_secs(3_600),
                pool_limit,
                ds,
            },
        );
    }
    out
}

/// A DS as the parent publishes it: `TAG ALGORITHM DIGEST-TYPE HEX` (the digest may hold
/// spaces), or a whole line (`example.com. IN DS …`).
fn parse_ds(text: &str) -> Option<(u16, u8, u8, Vec<u8>)> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let at = fields
        .iter()
        .position(|f| f.eq_ignore_ascii_case("DS"))
        .map_or(0, |i| i + 1);
    let [tag, alg, digest_type, digest @ ..] = fields.get(at..)? else {
        return None;
    };
    let digest = hex::decode(digest.concat()).ok()?;
    if digest.is_empty() {
        return None;
    }
    Some((
        tag.parse().ok()?,
        alg.parse().ok()?,
        digest_type.parse().ok()?,
        digest,
    ))
}
