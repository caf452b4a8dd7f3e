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
        let Ok(mut origin) = Name::from_ascii(z.name.get_ref()) else {
            fatal.push(config.problem_at(
                z.name.span(),
                format!("zone.name: `{}` is not a domain name", z.name.get_ref()),
            ));
            continue;
        };
        origin.set_fqdn(true);
        let origin = origin.to_lowercase();
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
        if out.insert(origin.clone(), transfer).is_some() {
            fatal.push(
                config.problem_at(z.name.span(), format!("zone {origin} is described twice")),
            );
        }
    }
    out
}
