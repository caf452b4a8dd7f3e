//! A pool's `probe = { ... }` table, validated into a [`ProbeSpec`].

use std::ops::RangeInclusive;
use std::time::Duration;

use hickory_proto::rr::Name;

use crate::config::{ProbeKindName, RawProbe, parse_duration};
use crate::health::{ProbeKind, ProbeSpec};

/// Validates a raw probe table; `pool` gives the default HTTP Host.
pub fn spec(raw: &RawProbe, pool: &Name) -> Result<ProbeSpec, String> {
    let kind = match raw.kind {
        ProbeKindName::Tcp => ProbeKind::Tcp,
        ProbeKindName::Agent => ProbeKind::Agent,
        ProbeKindName::Http => ProbeKind::Http {
            path: raw.path.clone().unwrap_or_else(|| "/".into()),
            host: raw
                .host
                .clone()
                .unwrap_or_else(|| pool.to_string().trim_end_matches('.').to_string()),
            expect: match &raw.expect {
                None => vec![200..=399],
                Some(list) => list.iter().map(parse_status).collect::<Result<_, _>>()?,
            },
        },
    };
    if raw.kind != ProbeKindName::Http
        && (raw.path.is_some() || raw.host.is_some() || raw.expect.is_some())
    {
        return Err("path, host and expect are for http probes".into());
    }
    let duration = |v: &Option<String>, default: Duration| {
        v.as_deref()
            .map(parse_duration)
            .transpose()
            .map(|d| d.unwrap_or(default))
    };
    let interval = duration(&raw.interval, Duration::from_secs(5))?;
    let timeout = duration(&raw.timeout, Duration::from_secs(2))?;
    if interval.is_zero() || timeout.is_zero() {
        return Err("interval and timeout must be more than zero".into());
    }
    let rise = raw.rise.unwrap_or(2);
    let fall = raw.fall.unwrap_or(3);
    if rise == 0 || fall == 0 {
        return Err("rise and fall must be at least 1".into());
    }
    Ok(ProbeSpec {
        kind,
        port: raw.port,
        interval,
        timeout,
        rise,
        fall,
    })
}

fn parse_status(v: &toml::Value) -> Result<RangeInclusive<u16>, String> {
    let bad = || format!("expect: `{v}` is not a status or a range like \"200-299\"");
    match v {
        toml::Value::Integer(n) => {
            let n = u16::try_from(*n).map_err(|_| bad())?;
            Ok(n..=n)
        }
        toml::Value::String(s) => {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let b: u16 = b.trim().parse().map_err(|_| bad())?;
            if a > b {
                return Err(bad());
            }
            Ok(a..=b)
        }
        _ => Err(bad()),
    }
}
