//! `hash`: weighted rendezvous hashing of the client's network. The same network gets the same
//! members while they are available, and a member's death moves only its own networks.

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;
use serde_json::json;

use super::{Ask, Client, Entry, Input, Picks, Policy, Scope, Select, rank_weights};
use crate::config::PolicyName;
use crate::pool::select::Candidate;

/// The config's `hash`: pool key `ecs` (default true).
pub const ENTRY: Entry = Entry {
    name: PolicyName::Hash,
    pool_keys: &["ecs"],
    member_keys: &[],
    build,
};

fn build(input: &Input<'_>) -> Result<Policy, String> {
    Ok(Box::new(RendezvousHash {
        seeds: input.labels.iter().map(|l| seed(l)).collect(),
    }))
}

/// Weighted rendezvous hashing of the client's network.
#[derive(Debug)]
pub struct RendezvousHash {
    /// Each member's hash seed (from its label, so that order in the config does not matter).
    seeds: Box<[u64]>,
}

/// Sample client networks `/status` spreads over: 10.0.0.0/24 to 10.3.255.0/24.
const SAMPLE_NETWORKS: u32 = 1024;

impl Select for RendezvousHash {
    fn name(&self) -> &'static str {
        "hash"
    }

    fn uses_client(&self) -> bool {
        true
    }

    fn pick(&self, ask: Ask<'_>) -> (Picks, Scope) {
        match ask.client {
            Some(client) => (
                rendezvous(ask.candidates, &self.seeds, client, ask.n),
                client.prefix,
            ),
            None => ask.by_weight(),
        }
    }

    /// The winning member for a client; by weight without one.
    fn expected_first(&self, candidates: &[Candidate], client: Option<&Client>) -> Vec<f64> {
        let Some(c) = client else {
            return super::shares(candidates, |_| true);
        };
        let winner = rendezvous(candidates, &self.seeds, c, 1);
        (0..candidates.len())
            .map(|i| if winner.first() == Some(&i) { 1.0 } else { 0.0 })
            .collect()
    }

    /// The share of 1,024 sample networks each member gets now.
    fn spread(&self, labels: &[String], candidates: &[Candidate]) -> serde_json::Value {
        let mut counts = vec![0u32; candidates.len()];
        for i in 0..SAMPLE_NETWORKS {
            let client = Client::new(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)).into(), 24);
            if let Some(&w) = rendezvous(candidates, &self.seeds, &client, 1).first() {
                counts[w] += 1;
            }
        }
        let map: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .zip(counts)
            .map(|(l, c)| (l.clone(), json!(f64::from(c) / f64::from(SAMPLE_NETWORKS))))
            .collect();
        serde_json::Value::Object(map)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use Candidate::*;
    use std::net::IpAddr;

    fn client(i: u32) -> Client {
        Client::new(
            IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8))),
            24,
        )
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
}
