//! `failover`: tiers by priority, lowest first. The lowest priority with an available member
//! answers, weighted within it; a share `trickle` of answers goes to the next tier that has one.
//! The split into tiers ([`Failover::split`]) is written once: the pick, the expected shares and
//! the draw table's answers all read it.

use rand::RngExt;
use smallvec::SmallVec;

use super::{Ask, Client, Entry, Input, Picks, Policy, Scope, Select, only, shares};
use crate::config::PolicyName;
use crate::pool::select::{Candidate, select};
use crate::pool::table::{Outcomes, select_outcomes};

/// The config's `failover`: member key `priority` (default 1), pool key `trickle`.
pub const ENTRY: Entry = Entry {
    name: PolicyName::Failover,
    pool_keys: &["trickle"],
    member_keys: &["priority"],
    build,
};

fn build(input: &Input<'_>) -> Result<Policy, String> {
    let trickle = input.raw.trickle.unwrap_or(0.0);
    if !(0.0..1.0).contains(&trickle) {
        return Err(format!(
            "trickle must be at least 0 and below 1, not {trickle}"
        ));
    }
    Ok(Box::new(Failover {
        priority: input
            .members
            .iter()
            .map(|m| m.priority.unwrap_or(1))
            .collect(),
        trickle,
    }))
}

/// Tiers by priority, lowest first.
#[derive(Debug)]
pub struct Failover {
    /// Each member's priority, in member order.
    priority: Box<[u32]>,
    /// Share of answers sent to the next tier while the first is available.
    trickle: f64,
}

/// A tier's members (the others unavailable) and the share of answers it gets.
type Tier = (SmallVec<[Candidate; 16]>, f64);

impl Failover {
    /// The tiers that answer now: the first available one, and the next with the trickle's
    /// share when there is one; none when no member is available.
    fn split(&self, candidates: &[Candidate]) -> SmallVec<[Tier; 2]> {
        let mut tiers: SmallVec<[u32; 8]> = candidates
            .iter()
            .zip(self.priority.iter())
            .filter(|(c, _)| **c != Candidate::Unavailable)
            .map(|(_, p)| *p)
            .collect();
        tiers.sort_unstable();
        tiers.dedup();
        let tier = |t: u32| only(candidates, |i| self.priority[i] == t);
        match (tiers.first(), tiers.get(1)) {
            (None, _) => SmallVec::new(),
            (Some(&first), Some(&next)) if self.trickle > 0.0 => SmallVec::from_iter([
                (tier(first), 1.0 - self.trickle),
                (tier(next), self.trickle),
            ]),
            (Some(&first), _) => SmallVec::from_iter([(tier(first), 1.0)]),
        }
    }
}

impl Select for Failover {
    fn name(&self) -> &'static str {
        "failover"
    }

    fn pick(&self, ask: Ask<'_>) -> (Picks, Scope) {
        let tiers = self.split(ask.candidates);
        let chosen = match &tiers[..] {
            [] => return (Picks::new(), 0),
            [only] => only,
            [first, next, ..] => {
                if ask.picker.rng.random::<f64>() < next.1 {
                    next
                } else {
                    first
                }
            }
        };
        (select(&chosen.0, ask.n, &mut ask.picker.rng), 0)
    }

    fn expected_first(&self, candidates: &[Candidate], _client: Option<&Client>) -> Vec<f64> {
        let mut out = vec![0.0; candidates.len()];
        for (tier, share) in self.split(candidates) {
            for (o, s) in out.iter_mut().zip(shares(&tier, |_| true)) {
                *o += s * share;
            }
        }
        out
    }

    fn outcomes(&self, candidates: &[Candidate], n: usize) -> Option<Outcomes> {
        let mut out = Outcomes::default();
        for (tier, share) in self.split(candidates) {
            if !select_outcomes(&tier, n, share, &mut out) {
                return None;
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Picker;
    use Candidate::*;

    fn policy(trickle: f64) -> Failover {
        Failover {
            priority: Box::new([1, 1, 2]),
            trickle,
        }
    }

    #[test]
    fn failover_serves_the_first_available_tier_and_trickles() {
        let mut picker = Picker::seeded(1);
        let pick = |p: &Failover, candidates: &[Candidate], picker: &mut Picker| {
            let ask = Ask {
                picker,
                pool: 0,
                candidates,
                n: 1,
                client: None,
            };
            p.pick(ask).0
        };
        for _ in 0..200 {
            let p = pick(
                &policy(0.0),
                &[Weighted(1), Weighted(1), Weighted(1)],
                &mut picker,
            );
            assert!(p[0] < 2);
            let p = pick(
                &policy(0.0),
                &[Unavailable, Unavailable, Weighted(1)],
                &mut picker,
            );
            assert_eq!(p[0], 2);
        }
        let next = (0..10_000)
            .filter(|_| {
                pick(
                    &policy(0.1),
                    &[Weighted(1), Weighted(1), Weighted(1)],
                    &mut picker,
                )[0] == 2
            })
            .count();
        assert!((850..1150).contains(&next), "{next} of 10000 trickled");
        assert!(pick(&policy(0.5), &[Unavailable; 3], &mut picker).is_empty());
    }

    #[test]
    fn the_table_trickles_to_the_next_tier() {
        let out = policy(0.1)
            .outcomes(&[Weighted(3), Weighted(1), Weighted(1)], 1)
            .unwrap();
        let p = |m: usize| {
            out.picks
                .iter()
                .zip(&out.probs)
                .filter(|(picks, _)| picks[0] == m)
                .map(|(_, p)| p)
                .sum::<f64>()
        };
        assert!((p(0) - 0.9 * 0.75).abs() < 1e-9);
        assert!((p(1) - 0.9 * 0.25).abs() < 1e-9);
        assert!((p(2) - 0.1).abs() < 1e-9);
        let e = policy(0.1).expected_first(&[Weighted(3), Weighted(1), Weighted(1)], None);
        assert!(
            (e[0] - 0.675).abs() < 1e-9 && (e[2] - 0.1).abs() < 1e-9,
            "{e:?}"
        );
    }
}
