//! `round-robin`: nginx's smooth weighted round robin. In every window of sum-of-weights answers
//! of one serving thread, each member is first exactly its weight's times; with `answers > 1`
//! the other positions rotate with the first. The credits live in the serving thread's
//! [`Picker`], keyed by the pool's id, and start afresh when the pool's weights or availability
//! change (a probe, an agent, a drain or an admin override): credit earned under an old weight
//! would skew the new shares.

use super::{Ask, Entry, Input, Picks, Policy, Scope, Select, rank_weights};
use crate::config::PolicyName;

/// The config's `round-robin`.
pub const ENTRY: Entry = Entry {
    name: PolicyName::RoundRobin,
    pool_keys: &[],
    member_keys: &[],
    build,
};

fn build(_: &Input<'_>) -> Result<Policy, String> {
    Ok(Box::new(RoundRobin))
}

/// Smooth weighted round robin, per serving thread.
#[derive(Debug)]
pub struct RoundRobin;

/// One pool's smooth round-robin state on one thread: the weights its credits were earned
/// under, and the credits.
#[derive(Debug, Default)]
pub struct Credits {
    earned_under: Vec<u64>,
    current: Vec<i64>,
}

impl Select for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn pick(&self, ask: Ask<'_>) -> (Picks, Scope) {
        let weights = rank_weights(ask.candidates);
        let credits = ask.picker.credits(ask.pool);
        if credits.earned_under[..] != weights[..] {
            credits.earned_under.clear();
            credits.earned_under.extend_from_slice(&weights);
            credits.current.clear();
            credits.current.resize(weights.len(), 0);
        }
        (smooth_round_robin(&mut credits.current, &weights, ask.n), 0)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
