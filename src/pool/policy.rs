//! Selection policies: how a pool turns its members' candidates into this answer's picks. A
//! policy is a value the pool holds; each is a function of (candidates, how many, rng, client)
//! with no I/O. The round-robin state lives per serving thread (no shared write per query).
//!
//! - `weighted`: a weighted random draw without replacement ([`select`]).
//! - `failover`: the lowest priority with an available member, weighted within it; a share
//!   `trickle` of answers goes to the next tier that has one.
//! - `hash`: weighted rendezvous hashing of the client's network: the same network gets the same
//!   members while they are available, and a member's death moves only its own networks.
//! - `round-robin`: nginx's smooth weighted round robin: in every window of sum-of-weights answers
//!   of one thread, each member appears exactly its weight times.
//! - `region`: the client's region (longest prefix over `regions`) first, weighted; every
//!   available member when it has none.
//!
//! A new policy is a variant here with its function, its config word in
//! [`crate::config::PolicyName`], and the lines of [`crate::load`] that read it.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use ipnet::IpNet;
use rand::{Rng, RngExt};
use rustc_hash::{FxHashMap, FxHasher};

use super::select::{Candidate, Picks, select};

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

/// How a pool chooses among its available members.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Policy {
    /// A weighted random draw without replacement.
    #[default]
    Weighted,
    /// Tiers by priority, lowest first.
    Failover {
        /// Each member's priority, in member order.
        priority: Box<[u32]>,
        /// Share of answers sent to the next tier while the first is available.
        trickle: f64,
    },
    /// Weighted rendezvous hashing of the client's network.
    Hash {
        /// Each member's hash seed (from its label, so that order in the config does not matter).
        seeds: Box<[u64]>,
    },
    /// Smooth weighted round robin, per serving thread.
    RoundRobin,
    /// The client's region first.
    Region {
        /// Networks and their region, longest prefix first.
        networks: Box<[(IpNet, u16)]>,
        /// Each member's region, in member order.
        member_region: Box<[Option<u16>]>,
        /// Region names, by index.
        names: Box<[String]>,
    },
}

/// What a pick used of the client: the ECS scope prefix length to answer with.
pub type Scope = u8;

impl Policy {
    /// The policy's name as the config and `/status` write it.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Weighted => "weighted",
            Policy::Failover { .. } => "failover",
            Policy::Hash { .. } => "hash",
            Policy::RoundRobin => "round-robin",
            Policy::Region { .. } => "region",
        }
    }

    /// Whether the policy steers by the client (and so honours ECS).
    pub fn uses_client(&self) -> bool {
        matches!(self, Policy::Hash { .. } | Policy::Region { .. })
    }

    /// Picks up to `n` of `candidates` for one answer, in answer order, and the prefix of the
    /// client it used. `pool` identifies the pool's round-robin state.
    pub fn pick<R: Rng + ?Sized>(
        &self,
        pool: usize,
        candidates: &[Candidate],
        n: usize,
        rng: &mut R,
        client: Option<&Client>,
    ) -> (Picks, Scope) {
        match (self, client) {
            (Policy::Weighted, _) => (select(candidates, n, rng), 0),
            (Policy::Failover { priority, trickle }, _) => {
                (failover(candidates, priority, *trickle, n, rng), 0)
            }
            (Policy::Hash { seeds }, Some(client)) => {
                (rendezvous(candidates, seeds, client, n), client.prefix)
            }
            (Policy::RoundRobin, _) => (round_robin(pool, candidates, n), 0),
            (
                Policy::Region {
                    networks,
                    member_region,
                    ..
                },
                Some(client),
            ) => region(candidates, networks, member_region, client, n, rng),
            // Without a client (a draw outside a query), client policies draw by weight.
            (Policy::Hash { .. } | Policy::Region { .. }, None) => (select(candidates, n, rng), 0),
        }
    }
}

impl Policy {
    /// The share of first picks each member should get, for `dnslb check --simulate` and
    /// `/status`: by weight, restricted to what the policy serves this client (the winning
    /// member for `hash` with a client; the region's members for `region`; the tiers for
    /// `failover`, with its trickle).
    pub fn expected_first(&self, candidates: &[Candidate], client: Option<&Client>) -> Vec<f64> {
        let shares = |keep: &dyn Fn(usize) -> bool| -> Vec<f64> {
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
        };
        match (self, client) {
            (Policy::Failover { priority, trickle }, _) => {
                let tiers = tiers(candidates, priority);
                let Some(&first) = tiers.first() else {
                    return vec![0.0; candidates.len()];
                };
                let a = shares(&|i| priority[i] == first);
                match tiers.get(1) {
                    Some(&next) if *trickle > 0.0 => {
                        let b = shares(&|i| priority[i] == next);
                        a.iter()
                            .zip(b)
                            .map(|(x, y)| x * (1.0 - trickle) + y * trickle)
                            .collect()
                    }
                    _ => a,
                }
            }
            (Policy::Hash { seeds }, Some(c)) => {
                let winner = rendezvous(candidates, seeds, c, 1);
                (0..candidates.len())
                    .map(|i| if winner.first() == Some(&i) { 1.0 } else { 0.0 })
                    .collect()
            }
            (
                Policy::Region {
                    networks,
                    member_region,
                    ..
                },
                Some(c),
            ) => {
                let region = networks
                    .iter()
                    .find(|(net, _)| net.contains(&c.addr))
                    .map(|(_, r)| *r);
                let mine = shares(&|i| region.is_some() && member_region[i] == region);
                if mine.iter().any(|x| *x > 0.0) {
                    mine
                } else {
                    shares(&|_| true)
                }
            }
            _ => shares(&|_| true),
        }
    }
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

/// The priorities that have an available member, lowest first.
pub(super) fn tiers(candidates: &[Candidate], priority: &[u32]) -> smallvec::SmallVec<[u32; 8]> {
    let mut tiers: smallvec::SmallVec<[u32; 8]> = candidates
        .iter()
        .zip(priority)
        .filter(|(c, _)| **c != Candidate::Unavailable)
        .map(|(_, p)| *p)
        .collect();
    tiers.sort_unstable();
    tiers.dedup();
    tiers
}

fn failover<R: Rng + ?Sized>(
    candidates: &[Candidate],
    priority: &[u32],
    trickle: f64,
    n: usize,
    rng: &mut R,
) -> Picks {
    let tiers = tiers(candidates, priority);
    let Some(&first) = tiers.first() else {
        return Picks::new();
    };
    let tier = match tiers.get(1) {
        Some(&next) if trickle > 0.0 && rng.random::<f64>() < trickle => next,
        _ => first,
    };
    select(&only(candidates, |i| priority[i] == tier), n, rng)
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

/// Weighted rendezvous (highest random weight): each member scores `weight / -ln(u)` with `u`
/// a hash of (client network, member) in (0, 1); the `n` highest win.
fn rendezvous(candidates: &[Candidate], seeds: &[u64], client: &Client, n: usize) -> Picks {
    let weights = rank_weights(candidates);
    let mut scored: smallvec::SmallVec<[(f64, usize); 16]> = weights
        .iter()
        .enumerate()
        .filter(|(_, w)| **w > 0)
        .map(|(i, w)| {
            let mut h = FxHasher::default();
            (client.addr, client.prefix, seeds[i]).hash(&mut h);
            let mixed = splitmix(h.finish());
            // u in (0, 1): 53 random bits, never 0.
            let u = ((mixed >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            (*w as f64 / -u.ln(), i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.iter().take(n).map(|(_, i)| *i).collect()
}

/// A 64-bit finaliser, so that nearby keys give unrelated scores.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A member's hash seed, from its label.
pub fn seed(label: &str) -> u64 {
    let mut h = FxHasher::default();
    label.to_ascii_lowercase().hash(&mut h);
    splitmix(h.finish())
}

/// One pool's smooth round-robin state: the weights its credits were earned under, and the
/// credits.
type Credits = (Vec<u64>, Vec<i64>);

thread_local! {
    /// Smooth round-robin state, per pool (by address), on this thread.
    static ROUND_ROBIN: RefCell<FxHashMap<usize, Credits>> = RefCell::new(FxHashMap::default());
}

/// Pools a thread keeps round-robin state for at most (a reload makes new pools).
const ROUND_ROBIN_POOLS: usize = 4096;

fn round_robin(pool: usize, candidates: &[Candidate], n: usize) -> Picks {
    let weights = rank_weights(candidates);
    ROUND_ROBIN.with(|state| {
        let mut state = state.borrow_mut();
        if state.len() >= ROUND_ROBIN_POOLS && !state.contains_key(&pool) {
            state.clear();
        }
        let (earned_under, current) = state.entry(pool).or_default();
        // When a member's availability or weight changed (a probe, an agent, the admin), the
        // credits start afresh: credit earned under an old weight would skew the new shares.
        if earned_under[..] != weights[..] {
            earned_under.clear();
            earned_under.extend_from_slice(&weights);
            current.clear();
            current.resize(weights.len(), 0);
        }
        smooth_round_robin(current, &weights, n)
    })
}

/// nginx's smooth weighted round robin over `weights` (0: skipped) for the first position:
/// in every window of sum-of-weights answers each member is first exactly its weight's times.
/// The other positions of an answer are the members that follow the first in member order
/// (skipping weight 0), so they rotate with it: over equal weights, each member stands in
/// every position equally often.
pub fn smooth_round_robin(current: &mut [i64], weights: &[u64], n: usize) -> Picks {
    let mut picks = Picks::new();
    if n == 0 {
        return picks;
    }
    let mut total = 0i64;
    let mut best: Option<usize> = None;
    for (i, &w) in weights.iter().enumerate() {
        if w == 0 {
            continue;
        }
        let w = i64::try_from(w).unwrap_or(i64::MAX);
        current[i] = current[i].saturating_add(w);
        total = total.saturating_add(w);
        if best.is_none_or(|b| current[i] > current[b]) {
            best = Some(i);
        }
    }
    let Some(first) = best else {
        return picks;
    };
    current[first] = current[first].saturating_sub(total);
    picks.push(first);
    let k = weights.len();
    for step in 1..k {
        if picks.len() >= n {
            break;
        }
        let i = (first + step) % k;
        if weights[i] > 0 {
            picks.push(i);
        }
    }
    picks
}

fn region<R: Rng + ?Sized>(
    candidates: &[Candidate],
    networks: &[(IpNet, u16)],
    member_region: &[Option<u16>],
    client: &Client,
    n: usize,
    rng: &mut R,
) -> (Picks, Scope) {
    let matched = networks.iter().find(|(net, _)| net.contains(&client.addr));
    if let Some((net, r)) = matched {
        let mine = only(candidates, |i| member_region[i] == Some(*r));
        let picks = select(&mine, n, rng);
        if !picks.is_empty() {
            return (picks, net.prefix_len().min(client.prefix));
        }
    }
    // No region, or none of its members available: everyone, for the client's whole network.
    (select(candidates, n, rng), client.prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Candidate::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn client(i: u32) -> Client {
        Client::new(
            IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8))),
            24,
        )
    }

    #[test]
    fn round_robin_windows_are_exact() {
        let weights = [5, 3, 1];
        let mut current = vec![0; 3];
        for _ in 0..10 {
            let mut counts = [0; 3];
            for _ in 0..9 {
                counts[smooth_round_robin(&mut current, &weights, 1)[0]] += 1;
            }
            assert_eq!(counts, [5, 3, 1]);
        }
        // With two answers over three equal members, each member is in each position once
        // in every window of three (was: .41 in every answer and never first).
        let mut current = vec![0; 3];
        for _ in 0..4 {
            let mut firsts = [0; 3];
            let mut seconds = [0; 3];
            for _ in 0..3 {
                let p = smooth_round_robin(&mut current, &[1, 1, 1], 2);
                assert_eq!(p.len(), 2);
                assert_ne!(p[0], p[1]);
                firsts[p[0]] += 1;
                seconds[p[1]] += 1;
            }
            assert_eq!((firsts, seconds), ([1, 1, 1], [1, 1, 1]));
        }
        let mut current = vec![0; 3];
        // Smooth: the heavy member never comes more than twice in a row here.
        let seq: Vec<usize> = (0..9)
            .map(|_| smooth_round_robin(&mut current, &weights, 1)[0])
            .collect();
        assert!(!seq.windows(3).any(|w| w == [0, 0, 0]), "{seq:?}");
    }

    #[test]
    fn rendezvous_is_sticky_and_moves_only_the_dead_members_keys() {
        let seeds: Vec<u64> = (0..4).map(|i| seed(&format!("192.0.2.{i}"))).collect();
        let all = [Weighted(1), Weighted(1), Weighted(1), Weighted(1)];
        let one_down = [Weighted(1), Unavailable, Weighted(1), Weighted(1)];
        let (mut moved, mut on_dead, mut shares) = (0, 0, [0; 4]);
        for k in 0..4000 {
            let c = client(k);
            let before = rendezvous(&all, &seeds, &c, 1)[0];
            assert_eq!(before, rendezvous(&all, &seeds, &c, 1)[0], "sticky");
            shares[before] += 1;
            let after = rendezvous(&one_down, &seeds, &c, 1)[0];
            if before == 1 {
                on_dead += 1;
            } else if after != before {
                moved += 1;
            }
        }
        assert_eq!(moved, 0, "only the dead member's keys move");
        assert!(
            (800..1200).contains(&on_dead),
            "{on_dead} of 4000 keys on one of 4"
        );
        assert!(shares.iter().all(|s| (800..1200).contains(s)), "{shares:?}");
        // Weights: 3:1.
        let heavy = [Weighted(3), Weighted(1)];
        let first = (0..4000)
            .filter(|k| rendezvous(&heavy, &seeds[..2], &client(*k), 1)[0] == 0)
            .count();
        assert!(
            (2800..3200).contains(&first),
            "{first} of 4000 on the weight-3 member"
        );
    }

    proptest::proptest! {
        /// Whatever the weights and whichever member dies, only the keys it held move, and they
        /// come back when it returns.
        #[test]
        fn a_death_moves_only_the_dead_members_keys(
            weights in proptest::collection::vec(1u32..10, 2..8),
            dead in 0usize..8,
        ) {
            let dead = dead % weights.len();
            let seeds: Vec<u64> = (0..weights.len()).map(|i| seed(&format!("m{i}"))).collect();
            let all: Vec<Candidate> = weights.iter().map(|w| Weighted(*w)).collect();
            let mut without = all.clone();
            without[dead] = Unavailable;
            for k in 0..300 {
                let c = client(k);
                let before = rendezvous(&all, &seeds, &c, 1)[0];
                let after = rendezvous(&without, &seeds, &c, 1)[0];
                if before != dead {
                    proptest::prop_assert_eq!(before, after);
                } else {
                    proptest::prop_assert_ne!(after, dead);
                }
            }
        }
    }

    #[test]
    fn failover_serves_the_first_available_tier_and_trickles() {
        let priority = [1, 1, 2];
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..200 {
            let p = failover(
                &[Weighted(1), Weighted(1), Weighted(1)],
                &priority,
                0.0,
                1,
                &mut rng,
            );
            assert!(p[0] < 2);
            let p = failover(
                &[Unavailable, Unavailable, Weighted(1)],
                &priority,
                0.0,
                1,
                &mut rng,
            );
            assert_eq!(p[0], 2);
        }
        let next = (0..10_000)
            .filter(|_| {
                failover(
                    &[Weighted(1), Weighted(1), Weighted(1)],
                    &priority,
                    0.1,
                    1,
                    &mut rng,
                )[0] == 2
            })
            .count();
        assert!((850..1150).contains(&next), "{next} of 10000 trickled");
        assert!(failover(&[Unavailable; 3], &priority, 0.5, 1, &mut rng).is_empty());
    }

    #[test]
    fn region_first_then_everyone() {
        let networks = [("192.0.2.0/24".parse().unwrap(), 0u16)];
        let member_region = [Some(0), None];
        let mut rng = SmallRng::seed_from_u64(1);
        let inside = Client::new("192.0.2.77".parse().unwrap(), 32);
        let outside = Client::new("198.51.100.1".parse().unwrap(), 24);
        for _ in 0..100 {
            let (p, scope) = region(
                &[Weighted(1), Weighted(1)],
                &networks,
                &member_region,
                &inside,
                1,
                &mut rng,
            );
            assert_eq!((p[0], scope), (0, 24));
        }
        let (p, _) = region(
            &[Unavailable, Weighted(1)],
            &networks,
            &member_region,
            &inside,
            1,
            &mut rng,
        );
        assert_eq!(p[0], 1, "no member of the region available: everyone");
        let (_, scope) = region(
            &[Weighted(1), Weighted(1)],
            &networks,
            &member_region,
            &outside,
            1,
            &mut rng,
        );
        assert_eq!(scope, 24);
    }
}
