//! Stage: `[[zone]]` read into each zone's transfer settings (who may transfer it out, whom to
//! NOTIFY when its serial changes). Part of the snapshot, so a reload changes them.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::Name;
use ipnet::IpNet;
use rustc_hash::FxHashMap;

use super::settings::Config;
use crate::Problem;
use crate::snapshot::ZoneTransfer;

/// The transfer settings of every `[[zone]]`, by lower-cased origin; problems go to `fatal`.
pub fn read(config: &Config, fatal: &mut Vec<Problem>) -> FxHashMap<Name, ZoneTransfer> {
    let mut out = FxHashMap::default();
    for zone in &config.raw.zone {
        let z = zone.get_ref();
        let Some(origin) = origin(config, &z.name, "zone.name", fatal) else {
            continue;
        };
        let mut transfer = ZoneTransfer::default();
        for net in &z.allow_transfer {
            let text = net.get_ref();
            match text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            {
                Ok(n) => transfer.allow.push(n),
                Err(_) => fatal.push(config.problem_at(
                    net.span(),
                    format!("zone.allow_transfer: `{text}` is not a network like 192.0.2.0/24"),
                )),
            }
        }
        for addr in &z.notify {
            match addr.get_ref().parse::<SocketAddr>() {
                Ok(a) => transfer.notify.push(a),
                Err(_) => fatal.push(config.problem_at(
                    addr.span(),
                    format!(
                        "zone.notify: `{}` is not an address like 192.0.2.53:53",
                        addr.get_ref()
                    ),
                )),
            }
        }
        if let Some(t) = &z.tsig {
            match crate::tsig::TsigKey::read(t.get_ref(), config.dir()) {
                Ok(k) => transfer.tsig = Some(k),
                Err(e) => fatal.push(config.problem_at(t.span(), format!("zone.{e}"))),
            }
        }
        if out.insert(origin.clone(), transfer).is_some() {
            fatal.push(
                config.problem_at(z.name.span(), format!("zone {origin} is described twice")),
            );
        }
    }
    out
}

/// A zone's origin as the config names it (`key` says where), lower-cased and absolute; a
/// problem at its span when it is not a domain name.
pub fn origin(
    config: &Config,
    name: &toml::Spanned<String>,
    key: &str,
    fatal: &mut Vec<Problem>,
) -> Option<Name> {
    match Name::from_ascii(name.get_ref()) {
        Ok(mut origin) => {
            origin.set_fqdn(true);
            Some(origin.to_lowercase())
        }
        Err(_) => {
            fatal.push(config.problem_at(
                name.span(),
                format!("{key}: `{}` is not a domain name", name.get_ref()),
            ));
            None
        }
    }
}
