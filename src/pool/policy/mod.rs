//! Selection policies: how a pool turns its members' candidates into this answer's picks. Each
//! policy is one file here, and everything about it is in that file: how it reads its config
//! keys, its pick, the share of first places it promises (`dnslb check --simulate`, `/status`),
//! the answers a draw table may hold for it, and its `/status` view. A policy is a pure function
//! of its inputs (candidates, how many, the client, and the serving thread's [`Picker`]: its RNG
//! and round-robin credits); it does no I/O and takes no lock.
//!
//! - [`weighted`]: a weighted random draw without replacement.
//! - [`failover`]: the lowest priority with an available member, weighted within it; a share
//!   `trickle` of answers goes to the next tier that has one.
//! - [`hash`]: weighted rendezvous hashing of the client's network.
//! - [`round_robin`]: nginx's smooth weighted round robin, exact over windows.
//! - [`region`]: the client's region (longest prefix over `regions`) first.
//! - [`geo`]: the client's location (MaxMind databases) to an ordered list of datacenters.
//!
//! Adding a policy touches its new file, its config word ([`PolicyName`], with any new keys of
//! [`RawPool`] / [`RawMember`]) in `config.rs`, and its line in [`POLICIES`] below (with its
//! `mod`, and its new keys in `pool_keys` / `member_keys`); nothing else.

mod failover;
mod geo;
mod hash;
mod region;
mod round_robin;
mod weighted;

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::Picker;
use super::select::{Candidate, Picks, select};
use super::table::Outcomes;
use crate::config::{PolicyName, RawMember, RawPool};

pub use hash::seed;
pub use round_robin::{Credits, smooth_round_robin};

/// The client a policy steers by: its network, from EDNS Client Subnet or the resolver's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The address, zero beyond `prefix`.
    pub addr: IpAddr,
    /// How many leading bits of `addr` are known.
    pub prefix: u8,
}

impl Client {
    /// The client for a resolver at `addr` that sent no ECS: its /24 (IPv4) or /56 (IPv6).
    pub fn from_resolver(addr: IpAddr) -> Self {
        let prefix = if addr.is_ipv4() { 24 } else { 56 };
        Self::new(addr, prefix)
    }

    /// The network `addr`/`prefix` (bits beyond the prefix cleared).
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        let net = IpNet::new(addr, prefix).unwrap_or_else(|_| IpNet::from(addr));
        Self {
            addr: net.network(),
            prefix: net.prefix_len(),
        }
    }
}

/// What a pick used of the client: the ECS scope prefix length to answer with.
pub type Scope = u8;

/// A selection policy (one per file of this directory).
pub trait Select: fmt::Debug + Send + Sync {
    /// The policy's name, as the config and `/status` write it.
    fn name(&self) -> &'static str;

    /// Whether the policy steers by the client (and so honours ECS).
    fn uses_client(&self) -> bool {
        false
    }

    /// Picks up to `ask.n` of `ask.candidates` for one answer, in answer order, and the prefix
    /// of the client it used. Without a client (a draw outside a query), a client policy draws
    /// by weight.
    fn pick(&self, ask: Ask<'_>) -> (Picks, Scope);

    /// The share of first places each member should get, for `dnslb check --simulate` and
    /// `/status`: by weight, restricted to what the policy serves this client.
    fn expected_first(&self, candidates: &[Candidate], _client: Option<&Client>) -> Vec<f64> {
        shares(candidates, |_| true)
    }

    /// Every answer a draw may give for `candidates` and `n`, with its probability, when the
    /// draw depends on nothing else (no client, no state): the pool's draw table then holds
    /// them (`table.rs`). `None`: the policy picks at every query.
    fn outcomes(&self, _candidates: &[Candidate], _n: usize) -> Option<Outcomes> {
        None
    }

    /// How the policy spreads clients now, for `/status` (`null` when it does not steer by
    /// them); `labels` are the members' labels.
    fn spread(&self, _labels: &[String], _candidates: &[Candidate]) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// What the policy makes of `client`, in words (`dnslb check --simulate`, `explain.`),
    /// when it has more to say than the shares.
    fn describe(&self, _client: &Client) -> Option<String> {
        None
    }
}

/// A pool's policy.
pub type Policy = Box<dyn Select>;

/// What one pick is asked.
pub struct Ask<'a> {
    /// The serving thread's picker (its RNG and round-robin credits).
    pub picker: &'a mut Picker,
    /// The pool's id: the key of its round-robin credits.
    pub pool: u64,
    /// What the policy sees of each member now.
    pub candidates: &'a [Candidate],
    /// How many members the answer carries at most.
    pub n: usize,
    /// The client, when a query asks.
    pub client: Option<&'a Client>,
}

impl Ask<'_> {
    /// A weighted draw of up to `n` of `candidates`, steering by nothing.
    fn by_weight(self) -> (Picks, Scope) {
        (select(self.candidates, self.n, &mut self.picker.rng), 0)
    }
}

/// What a policy is built from: its pool's config, with each member's keys and label.
pub struct Input<'a> {
    /// The `[[pool]]`.
    pub raw: &'a RawPool,
    /// Its members, in order.
    pub members: Vec<&'a RawMember>,
    /// The members' labels, in order.
    pub labels: &'a [String],
    /// The `[geoip]` databases, when the config names some.
    pub geoip: Option<&'a std::sync::Arc<crate::geo::Databases>>,
}

/// One policy as the config knows it: its word, the pool and member keys only it (among
/// others) takes, and how it is built.
pub struct Entry {
    /// The config word.
    pub name: PolicyName,
    /// Pool keys this policy takes beyond the common ones.
    pub pool_keys: &'static [&'static str],
    /// Member keys this policy takes beyond the common ones.
    pub member_keys: &'static [&'static str],
    /// The policy from its pool's config.
    pub build: fn(&Input<'_>) -> Result<Policy, String>,
}

/// Every policy.
pub const POLICIES: [Entry; 6] = [
    weighted::ENTRY,
    failover::ENTRY,
    hash::ENTRY,
    round_robin::ENTRY,
    region::ENTRY,
    geo::ENTRY,
];

/// The pool keys that belong to some policies only, and whether `raw` sets each.
fn pool_keys(raw: &RawPool) -> [(&'static str, bool); 7] {
    [
        ("trickle", raw.trickle.is_some()),
        ("ecs", raw.ecs.is_some()),
        ("regions", raw.regions.is_some()),
        ("datacenters", raw.datacenters.is_some()),
        ("map", raw.map.is_some()),
        ("closest", raw.closest.is_some()),
        ("coordinates", raw.coordinates.is_some()),
    ]
}

/// The member keys that belong to some policies only, and whether `m` sets each.
fn member_keys(m: &RawMember) -> [(&'static str, bool); 2] {
    [
        ("priority", m.priority.is_some()),
        ("region", m.region.is_some()),
    ]
}

/// The pool's policy and whether it steers by ECS; `labels` are the members' labels in order.
/// A key that only other policies take is an error naming them.
pub fn build(
    raw: &RawPool,
    labels: &[String],
    geoip: Option<&std::sync::Arc<crate::geo::Databases>>,
) -> Result<(Policy, bool), String> {
    let name = raw.policy.unwrap_or(PolicyName::Weighted);
    let entry = POLICIES
        .iter()
        .find(|e| e.name == name)
        .expect("every config word has its policy");
    let members: Vec<&RawMember> = raw.members.iter().map(|m| m.get_ref()).collect();
    let takers = |key: &str, of: fn(&Entry) -> &[&str]| {
        POLICIES
            .iter()
            .filter(|e| of(e).contains(&key))
            .map(|e| format!("\"{}\"", e.name.as_str()))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    for (i, m) in members.iter().enumerate() {
        for (key, set) in member_keys(m) {
            if set && !entry.member_keys.contains(&key) {
                let label = labels.get(i).map_or("?", String::as_str);
                let policies = takers(key, |e| e.member_keys);
                return Err(format!(
                    "member {label}: `{key}` is for policy = {policies}"
                ));
            }
        }
    }
    for (key, set) in pool_keys(raw) {
        if set && !entry.pool_keys.contains(&key) {
            return Err(format!(
                "`{key}` is for policy = {}",
                takers(key, |e| e.pool_keys)
            ));
        }
    }
    let policy = (entry.build)(&Input {
        raw,
        members,
        labels,
        geoip,
    })?;
    let ecs = raw.ecs.unwrap_or(true) && policy.uses_client();
    Ok((policy, ecs))
}

/// Only the members `keep` says, the others unavailable.
fn only(
    candidates: &[Candidate],
    keep: impl Fn(usize) -> bool,
) -> smallvec::SmallVec<[Candidate; 16]> {
    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| if keep(i) { *c } else { Candidate::Unavailable })
        .collect()
}

/// The weight a member is ranked with: weighted members by weight; stand-ins (weight 0) only when
/// no weighted member is available, then all alike.
fn rank_weights(candidates: &[Candidate]) -> smallvec::SmallVec<[u64; 16]> {
    let any_weighted = candidates
        .iter()
        .any(|c| matches!(c, Candidate::Weighted(_)));
    candidates
        .iter()
        .map(|c| match c {
            Candidate::Weighted(w) => u64::from(*w),
            Candidate::Backup if !any_weighted => 1,
            _ => 0,
        })
        .collect()
}

/// Each member's share of first places by weight, among the members `keep` says.
fn shares(candidates: &[Candidate], keep: impl Fn(usize) -> bool) -> Vec<f64> {
    let w = rank_weights(&only(candidates, keep));
    let total: u64 = w.iter().sum();
    w.iter()
        .map(|&x| {
            if total == 0 {
                0.0
            } else {
                x as f64 / total as f64
            }
        })
        .collect()
}
