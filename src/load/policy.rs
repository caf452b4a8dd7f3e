//! A pool's `policy` and the keys that go with it, validated into a [`Policy`]: a key that only
//! one policy uses is an error on the others.

use ipnet::IpNet;

use crate::config::{PolicyName, RawMember, RawPool};
use crate::pool::{Policy, policy_seed};

/// The pool's policy and whether it steers by ECS; `labels` are the members' labels in order.
pub fn build(raw: &RawPool, labels: &[String]) -> Result<(Policy, bool), String> {
    let name = raw.policy.unwrap_or(PolicyName::Weighted);
    let members: Vec<&RawMember> = raw.members.iter().map(|m| m.get_ref()).collect();
    let label_of = |i: usize| labels.get(i).map_or("?", String::as_str);
    if name != PolicyName::Failover {
        if let Some(i) = members.iter().position(|m| m.priority.is_some()) {
            return Err(format!(
                "member {}: `priority` is for policy = \"failover\"",
                label_of(i)
            ));
        }
        if raw.trickle.is_some() {
            return Err("`trickle` is for policy = \"failover\"".into());
        }
    }
    if name != PolicyName::Region {
        if let Some(i) = members.iter().position(|m| m.region.is_some()) {
            return Err(format!(
                "member {}: `region` is for policy = \"region\" with `regions`",
                label_of(i)
            ));
        }
        if raw.regions.is_some() {
            return Err("`regions` is for policy = \"region\"".into());
        }
    }
    let uses_client = matches!(name, PolicyName::Hash | PolicyName::Region);
    if raw.ecs.is_some() && !uses_client {
        return Err("`ecs` is for policy = \"hash\" or \"region\"".into());
    }
    let policy = match name {
        PolicyName::Weighted => Policy::Weighted,
        PolicyName::RoundRobin => Policy::RoundRobin,
        PolicyName::Hash => Policy::Hash {
            seeds: labels.iter().map(|l| policy_seed(l)).collect(),
        },
        PolicyName::Failover => failover(raw, &members)?,
        PolicyName::Region => region(raw, &members, labels)?,
    };
    Ok((policy, raw.ecs.unwrap_or(true) && uses_client))
}

fn failover(raw: &RawPool, members: &[&RawMember]) -> Result<Policy, String> {
    let trickle = raw.trickle.unwrap_or(0.0);
    if !(0.0..1.0).contains(&trickle) {
        return Err(format!(
            "trickle must be at least 0 and below 1, not {trickle}"
        ));
    }
    Ok(Policy::Failover {
        priority: members.iter().map(|m| m.priority.unwrap_or(1)).collect(),
        trickle,
    })
}

fn region(raw: &RawPool, members: &[&RawMember], labels: &[String]) -> Result<Policy, String> {
    let Some(regions) = &raw.regions else {
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
    let member_region = members
        .iter()
        .zip(labels)
        .map(|(m, label)| match &m.region {
            None => Ok(None),
            Some(r) => names
                .iter()
                .position(|n| n == r)
                .map(|i| Some(u16::try_from(i).unwrap_or(u16::MAX)))
                .ok_or_else(|| format!("member {label}: region `{r}` is not in `regions`")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Policy::Region {
        networks: networks.into_boxed_slice(),
        member_region,
        names: names.into_boxed_slice(),
    })
}
