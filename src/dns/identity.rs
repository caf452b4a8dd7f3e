//! Which instance answered, as NSD and Knot tell it: `id.server` and `hostname.bind` CH TXT
//! (RFC 4892) and the NSID option (RFC 5001) give `[server] identity` (the host name unless set;
//! `""` turns both off), `version.server` and `version.bind` CH TXT give the version when
//! `[server] version = true` (off by default, as operators usually want it). A question for one
//! of these names that is turned off is REFUSED, as Knot answers it.

use std::sync::Arc;

use hickory_server::proto::rr::rdata::TXT;
use hickory_server::proto::rr::{DNSClass, Name, RData, Record};

/// What this instance says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// For `id.server`, `hostname.bind` and NSID; `None`: not said.
    pub id: Option<Arc<str>>,
    /// For `version.server` and `version.bind`; `None`: not said.
    pub version: Option<Arc<str>>,
}

impl Identity {
    /// The identity `configured` in `[server] identity` (`None`: the host name; empty: none)
    /// and the version when `version` is on.
    pub fn new(configured: Option<&str>, version: bool) -> Self {
        let id = match configured {
            Some("") => None,
            Some(id) => Some(id.into()),
            None => host_name().map(Into::into),
        };
        Self {
            id,
            version: version.then(|| format!("dnslb {}", env!("CARGO_PKG_VERSION")).into()),
        }
    }

    /// The answer to a CH TXT question for `qname`: `Some(Some(records))` when it asks for
    /// something said, `Some(None)` when it asks for something not said (REFUSED), `None` when
    /// it asks for none of these names.
    pub fn chaos(&self, qname: &Name) -> Option<Option<Vec<Record>>> {
        let lower = qname.to_lowercase().to_ascii();
        let text = match lower.as_str() {
            "id.server." | "hostname.bind." => &self.id,
            "version.server." | "version.bind." => &self.version,
            _ => return None,
        };
        Some(text.as_ref().map(|t| {
            let mut r =
                Record::from_rdata(qname.clone(), 0, RData::TXT(TXT::new(vec![t.to_string()])));
            r.dns_class = DNSClass::CH;
            vec![r]
        }))
    }

    /// The NSID payload, when the identity is said.
    pub fn nsid(&self) -> Option<&[u8]> {
        self.id.as_deref().map(str::as_bytes)
    }
}

/// This machine's host name, if it has one.
fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
}
