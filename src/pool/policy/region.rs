//! `region`: the client's region (longest prefix over `regions`) first, weighted; every
//! available member when it has none, or none of its members is available.

use ipnet::IpNet;
use serde_json::json;

use super::{Ask, Client, Entry, Input, Picks, Policy, Scope, Select, only, shares};
use crate::config::PolicyName;
use crate::pool::select::{Candidate, select};

/// The config's `region`: pool keys `regions` (required) and `ecs`, member key `region`.
pub const ENTRY: Entry = Entry {
    name: PolicyName::Region,
    pool_keys: &["ecs", "regions"],
    member_keys: &["region"],
    build,
};

/// The client's region first.
#[derive(Debug)]
pub struct Region {
    /// Networks and their region, longest prefix first.
    networks: Box<[(IpNet, u16)]>,
    /// Each member's region, in member order.
    member_region: Box<[Option<u16>]>,
    /// Region names, by index.
    names: Box<[String]>,
}

fn build(input: &Input<'_>) -> Result<Policy, String> {
    let Some(regions) = &input.raw.regions else {
        return Err("policy = \"region\" needs `regions = { NAME = [\"192.0.2.0/24\"] }`".into());
    };
    let names: Vec<String> = regions.keys().cloned().collect();
    let mut networks = Vec::new();
    for (i, nets) in regions.values().enumerate() {
        for net in nets {
            let text = net.get_ref();
            let parsed = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "regions.{}: `{text}` is not a network like 192.0.2.0/24",
                        names[i]
                    )
                })?;
            networks.push((parsed.trunc(), u16::try_from(i).unwrap_or(u16::MAX)));
        }
    }
    // Longest prefix first, so that the first match is the best.
    networks.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
    let member_region = input
        .members
        .iter()
        .zip(input.labels)
        .map(|(m, label)| match &m.region {
            None => Ok(None),
            Some(r) => names
                .iter()
                .position(|n| n == r)
                .map(|i| Some(u16::try_from(i).unwrap_or(u16::MAX)))
                .ok_or_else(|| format!("member {label}: region `{r}` is not in `regions`")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Box::new(Region {
        networks: networks.into_boxed_slice(),
        member_region,
        names: names.into_boxed_slice(),
    }))
}

impl Region {
    /// The client's region and the network that matched, if any.
    fn of(&self, client: &Client) -> Option<&(IpNet, u16)> {
        self.networks
            .iter()
            .find(|(net, _)| net.contains(&client.addr))
    }
}

impl Select for Region {
    fn name(&self) -> &'static str {
        "region"
    }

    fn uses_client(&self) -> bool {
        true
    }

    fn pick(&self, ask: Ask<'_>) -> (Picks, Scope) {
        let Some(client) = ask.client else {
            return ask.by_weight();
        };
        if let Some((net, r)) = self.of(client) {
            let mine = only(ask.candidates, |i| self.member_region[i] == Some(*r));
            let picks = select(&mine, ask.n, &mut ask.picker.rng);
            if !picks.is_empty() {
                return (picks, net.prefix_len().min(client.prefix));
            }
        }
        // No region, or none of its members available: everyone, for the client's whole network.
        (ask.by_weight().0, client.prefix)
    }

    /// The region's members by weight; everyone when it has none available.
    fn expected_first(&self, candidates: &[Candidate], client: Option<&Client>) -> Vec<f64> {
        let region = client.and_then(|c| self.of(c)).map(|(_, r)| *r);
        let mine = shares(candidates, |i| {
            region.is_some() && self.member_region[i] == region
        });
        if mine.iter().any(|x| *x > 0.0) {
            mine
        } else {
            shares(candidates, |_| true)
        }
    }

    /// Each region's members.
    fn spread(&self, labels: &[String], _candidates: &[Candidate]) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .names
            .iter()
            .enumerate()
            .map(|(r, name)| {
                let members: Vec<&str> = labels
                    .iter()
                    .zip(self.member_region.iter())
                    .filter(|(_, mr)| **mr == u16::try_from(r).ok())
                    .map(|(l, _)| l.as_str())
                    .collect();
                (name.clone(), json!(members))
            })
            .collect();
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Picker;
    use Candidate::*;

    #[test]
    fn region_first_then_everyone() {
        let policy = Region {
            networks: Box::new([("192.0.2.0/24".parse().unwrap(), 0u16)]),
            member_region: Box::new([Some(0), None]),
            names: Box::new(["eu".to_string()]),
        };
        let mut picker = Picker::seeded(1);
        let inside = Client::new("192.0.2.77".parse().unwrap(), 32);
        let outside = Client::new("198.51.100.1".parse().unwrap(), 24);
        let mut pick = |candidates: &[Candidate], client: &Client| {
            policy.pick(Ask {
                picker: &mut picker,
                pool: 0,
                candidates,
                n: 1,
                client: Some(client),
            })
        };
        for _ in 0..100 {
            let (p, scope) = pick(&[Weighted(1), Weighted(1)], &inside);
            assert_eq!((p[0], scope), (0, 24));
        }
        let (p, _) = pick(&[Unavailable, Weighted(1)], &inside);
        assert_eq!(p[0], 1, "no member of the region available: everyone");
        let (_, scope) = pick(&[Weighted(1), Weighted(1)], &outside);
        assert_eq!(scope, 24);
    }
}
