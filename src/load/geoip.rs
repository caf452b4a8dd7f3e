//! Stage: `[geoip]`'s databases. A file is read again only when it changed on disk; one that
//! does not read keeps its last good version serving (and says why, as a broken zone does), or,
//! with none, is a problem of the config.

use std::sync::Arc;

use super::settings::Config;
use crate::Problem;
use crate::geo::{Database, Databases, stamp};

/// The databases of `config`, reusing `previous` ones whose files did not change. Problems that
/// leave a last good version serving go to `kept`, the others to `fatal`.
pub fn read(
    config: &Config,
    previous: Option<&Arc<Databases>>,
    fatal: &mut Vec<Problem>,
    kept: &mut Vec<Problem>,
) -> Option<Arc<Databases>> {
    let raw = config.raw.geoip.as_ref()?;
    let line = config.line_of(raw.span().start);
    let mut open = |key: &str, file: Option<&String>, before: Option<&Arc<Database>>| {
        let path = config.dir().join(file?);
        let before = before.filter(|b| b.path == path);
        if let Some(b) = before
            && stamp(&path).ok() == Some(b.stamp)
        {
            return Some(b.clone());
        }
        match Database::open(&path) {
            Ok(db) => Some(Arc::new(db)),
            Err(e) => {
                let problem = |what: &str| {
                    Problem::line(
                        config.path(),
                        line,
                        format!("geoip.{key}: {} does not read: {e}{what}", path.display()),
                    )
                };
                match before {
                    Some(b) => {
                        kept.push(problem("; the last good version serves"));
                        Some(b.clone())
                    }
                    None => {
                        fatal.push(problem(""));
                        None
                    }
                }
            }
        }
    };
    let raw = raw.get_ref();
    let city = open(
        "city",
        raw.city.as_ref(),
        previous.and_then(|p| p.city.as_ref()),
    );
    let asn = open(
        "asn",
        raw.asn.as_ref(),
        previous.and_then(|p| p.asn.as_ref()),
    );
    Some(Arc::new(Databases { city, asn }))
}
