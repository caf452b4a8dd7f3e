//! The weighted draw: a pure function of (candidates, how many, rng), so that it can be tested
//! exactly with a seeded RNG and costs no lock and no heap allocation for pools of up to 16.

use rand::Rng;
use smallvec::SmallVec;

/// What the selection knows of one member at the moment of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// Available, drawn with probability proportional to this weight (> 0).
    Weighted(u32),
    /// Available with weight 0: used only when no `Weighted` member is (Route 53's rule).
    Backup,
    /// Down or drained: never drawn.
    Unavailable,
}

/// Indices of the members chosen for one answer, in draw order.
pub type Picks = SmallVec<[usize; 8]>;

/// Draws up to `n` distinct members.
///
/// Weighted members are drawn without replacement, each draw with probability weight / (sum of
/// the weights still in the hat). When no member is `Weighted`, `Backup` members are drawn
/// uniformly. Returns fewer than `n` when fewer are available, and nothing when none is.
pub fn select<R: Rng + ?Sized>(candidates: &[Candidate], n: usize, rng: &mut R) -> Picks {
    let mut picks = Picks::new();
    // The weights still in the hat: on the stack for pools of up to 8 members.
    let mut inline = [0u64; 8];
    let mut heap = Vec::new();
    let weights: &mut [u64] = if candidates.len() <= inline.len() {
        &mut inline[..candidates.len()]
    } else {
        heap.resize(candidates.len(), 0);
        &mut heap
    };
    let mut total: u64 = 0;
    let mut left = 0;
    for (w, c) in weights.iter_mut().zip(candidates) {
        if let Candidate::Weighted(x) = c {
            *w = u64::from(*x);
            total += *w;
            left += 1;
        }
    }
    if total == 0 {
        // No weighted member: backups share equally.
        for (w, c) in weights.iter_mut().zip(candidates) {
            *w = u64::from(*c == Candidate::Backup);
            total += *w;
            left += usize::from(*w > 0);
        }
    }
    while picks.len() < n && total > 0 {
        if left == 1 {
            // The last one in the hat needs no draw.
            if let Some(i) = weights.iter().position(|&w| w > 0) {
                picks.push(i);
            }
            break;
        }
        left -= 1;
        // A uniform draw below `total` by multiplying (Lemire's method without the rejection
        // step: its bias, below total / 2^64, is far under any weight's share).
        let mut r = ((u128::from(rng.next_u64()) * u128::from(total)) >> 64) as u64;
        let i = weights
            .iter()
            .position(|&w| {
                if r < w {
                    true
                } else {
                    r -= w;
                    false
                }
            })
            .expect("r < total lands on a member");
        total -= weights[i];
        weights[i] = 0;
        picks.push(i);
    }
    picks
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use Candidate::*;

    #[test]
    fn shares_follow_weights_within_half_a_point() {
        let cands = [Weighted(5), Weighted(3), Weighted(1)];
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 3];
        let draws = 100_000;
        for _ in 0..draws {
            counts[select(&cands, 1, &mut rng)[0]] += 1;
        }
        for (i, w) in [5.0, 3.0, 1.0].iter().enumerate() {
            let share = f64::from(counts[i]) / f64::from(draws);
            let expected = w / 9.0;
            assert!(
                (share - expected).abs() < 0.005,
                "member {i}: share {share:.4}, expected {expected:.4}"
            );
        }
    }

    #[test]
    fn zero_weight_is_used_only_when_no_weighted_member_is_available() {
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert_eq!(select(&[Backup, Weighted(1), Backup], 1, &mut rng)[..], [1]);
        }
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            seen[select(&[Backup, Unavailable, Backup], 1, &mut rng)[0]] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!(seen[0] > 1300 && seen[2] > 1300, "{seen:?}");
    }

    #[test]
    fn nothing_available_picks_nothing() {
        let mut rng = SmallRng::seed_from_u64(1);
        assert!(select(&[Unavailable, Unavailable], 1, &mut rng).is_empty());
        assert!(select(&[], 3, &mut rng).is_empty());
    }

    #[test]
    fn n_answers_are_distinct_and_weighted_in_draw_order() {
        // With weights 98:1:1, the first pick is member 0 about 98 % of the time.
        let mut rng = SmallRng::seed_from_u64(3);
        let mut first_is_heavy = 0;
        for _ in 0..10_000 {
            let p = select(&[Weighted(98), Weighted(1), Weighted(1)], 2, &mut rng);
            assert_eq!(p.len(), 2);
            assert_ne!(p[0], p[1]);
            first_is_heavy += u32::from(p[0] == 0);
        }
        assert!(
            (9_700..=9_900).contains(&first_is_heavy),
            "{first_is_heavy}"
        );
    }

    /// Any candidate, for property tests.
    pub(in crate::pool) fn candidate() -> impl Strategy<Value = Candidate> {
        prop_oneof![
            (1u32..1000).prop_map(Weighted),
            Just(Backup),
            Just(Unavailable)
        ]
    }

    proptest! {
        #[test]
        fn never_repeats_and_never_exceeds(cands in prop::collection::vec(candidate(), 0..20), n in 0usize..8, seed: u64) {
            let mut rng = SmallRng::seed_from_u64(seed);
            let picks = select(&cands, n, &mut rng);
            prop_assert!(picks.len() <= n);
            let mut sorted = picks.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), picks.len());
            let weighted = cands.iter().filter(|c| matches!(c, Weighted(_))).count();
            let backups = cands.iter().filter(|c| **c == Backup).count();
            for &i in &picks {
                prop_assert!(cands[i] != Unavailable);
                if weighted > 0 { prop_assert!(matches!(cands[i], Weighted(_))); }
            }
            let available = if weighted > 0 { weighted } else { backups };
            prop_assert_eq!(picks.len(), n.min(available));
        }
    }
}
