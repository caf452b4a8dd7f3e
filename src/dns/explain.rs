//! `dig -c CH TXT explain.www.example.com`: why a pool answers as it does, from the DNS port
//! itself, for clients on loopback or in `explain_allow`: one TXT string for the pool (policy,
//! answers, TTL, all-down rule) and one per member (weights, state, and why: down since when and
//! after what error, slow start, agent percentage, drained by whom). No other DNS server offers
//! this; a refused client gets REFUSED.

use std::net::IpAddr;

use hickory_server::proto::rr::rdata::TXT;
use hickory_server::proto::rr::{DNSClass, Name, RData, Record};
use ipnet::IpNet;

use crate::pool::{Client, DrainedBy, Pool, State};
use crate::snapshot::Snapshot;

/// The label that asks for an explanation.
const LABEL: &[u8] = b"explain";

/// The name a `CH TXT explain.NAME` question asks about, if it is one.
pub fn asked_about(qname: &Name) -> Option<Name> {
    let first = qname.iter().next()?;
    if !first.eq_ignore_ascii_case(LABEL) || qname.num_labels() < 2 {
        return None;
    }
    Some(qname.base_name())
}

/// Whether `client` may ask: loopback, or one of `allow`.
pub fn allowed(client: IpAddr, allow: &[IpNet]) -> bool {
    client.is_loopback() || allow.iter().any(|n| n.contains(&client))
}

/// The TXT records explaining every pool at `name` (owner `qname`, class CH, TTL 0), and what
/// a client-steering policy makes of `client`.
pub fn records(snapshot: &Snapshot, qname: &Name, name: &Name, client: &Client) -> Vec<Record> {
    let mut lines = Vec::new();
    for pool in snapshot.pools.iter().filter(|p| p.name == *name) {
        lines.push(format!(
            "pool {} {} policy {} answers {} ttl {} all_down {}{}",
            pool.name,
            pool.rtype,
            pool.policy.name(),
            pool.answers,
            pool.ttl,
            pool.all_down.as_str(),
            if pool.all_members_down() {
                " (every member is down now)"
            } else {
                ""
            }
        ));
        if let Some(said) = pool.policy.describe(client) {
            lines.push(format!("client {}/{}: {said}", client.addr, client.prefix));
        }
        lines.extend(members(pool));
    }
    if lines.is_empty() {
        lines.push(format!("{name} is not a pool"));
    }
    lines
        .into_iter()
        .map(|line| {
            let mut r = Record::from_rdata(qname.clone(), 0, RData::TXT(TXT::new(vec![line])));
            r.dns_class = DNSClass::CH;
            r
        })
        .collect()
}

fn members(pool: &Pool) -> Vec<String> {
    pool.members
        .iter()
        .map(|m| {
            let a = m.availability(pool.slow_start);
            let mut why = Vec::new();
            let health = m.health.as_deref();
            match a.state {
                State::Down => {
                    let error = health
                        .and_then(|h| h.last_error())
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    let since = health.map_or(0, |h| {
                        h.last_change_unix_ms
                            .load(std::sync::atomic::Ordering::Relaxed)
                    });
                    why.push(format!(
                        "down since {} ({})",
                        humantime::format_rfc3339_seconds(
                            std::time::UNIX_EPOCH + std::time::Duration::from_millis(since)
                        ),
                        if error.is_empty() {
                            "failed probes"
                        } else {
                            &error
                        }
                    ));
                }
                State::Drained(DrainedBy::Admin) => why.push("drained by the admin".into()),
                State::Drained(DrainedBy::Agent) => why.push("drained by its agent".into()),
                State::Unprobed => why.push("not probed".into()),
                State::Up => {}
            }
            if let Some(h) = health {
                let agent = h.agent_permille();
                if agent != 1000 {
                    why.push(format!("agent {}%", f64::from(agent) / 10.0));
                }
                if a.state == State::Up
                    && let Some(factor) = h.weight_factor(pool.slow_start)
                    && factor < agent
                {
                    why.push(format!("slow start {}%", factor * 100 / agent.max(1)));
                }
            }
            if let Some(w) = m.state.weight_override() {
                why.push(format!("weight set to {w} by the admin"));
            }
            format!(
                "member {} weight {} effective {} {}{}",
                m.label,
                m.weight,
                a.effective_weight,
                a.state.as_str(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", why.join(", "))
                }
            )
        })
        .collect()
}
