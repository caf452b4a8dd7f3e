//! The draw as a table. For a pool whose policy draws at random without looking at the client
//! (`weighted`, `failover`), every answer the draw can give (an ordered choice of members) and
//! its probability are worked out once, and a query draws one of them with one random number
//! (Walker's alias method, in Vose's construction): a few instructions, however many members
//! and answers, where [`select`](super::select) walks the members for every pick.
//!
//! A table holds while members' availability does not change: it is built for one value of
//! [`crate::health::changes`], per serving thread (in its [`Picker`], so no query writes
//! anything another thread reads), and built again when that value moves. What the table cannot hold is drawn as
//! before, by the policy: a member ramping up in slow start (its weight changes with time), and
//! a pool with more than [`MAX_OUTCOMES`] possible answers (16 members, 3 answers: 3,360).
//!
//! The distribution is exactly the policy's, to within 2^-32 per answer (the alias thresholds
//! are 32-bit): the same shares, the same order of picks. Only the random numbers are used
//! differently, so a seeded draw gives other picks than `select` with the same seed; both the
//! fast and the general path draw through here, so they agree with each other.

use rand::Rng;

use super::select::Candidate;
use super::{AllDown, Picker, Pool, Scope};

/// The most answers a table holds (its memory: 8 octets plus the picks per answer).
pub const MAX_OUTCOMES: usize = 1024;

/// Table slots per thread, indexed by pool id: pools of one snapshot have consecutive ids, so
/// up to this many pools never evict one another.
const SLOTS: usize = 256;

/// Every answer a pool's draw can give now, and how to draw one.
#[derive(Debug)]
pub struct DrawTable {
    /// Per column of the alias table.
    columns: Box<[Column]>,
    /// The answers' members, `stride` apart, `lens[i]` of them for answer `i`.
    picks: Box<[usize]>,
    lens: Box<[u8]>,
    stride: usize,
}

/// One column of the alias table: the answer of its own index when the coin falls below
/// `keep` (out of 2^32), else answer `alias`.
#[derive(Debug, Clone, Copy)]
struct Column {
    keep: u32,
    alias: u32,
}

/// The possible answers and their probabilities, as a policy enumerates them
/// ([`super::policy::Select::outcomes`]).
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Each answer's members, in answer order.
    pub picks: Vec<Vec<usize>>,
    /// Each answer's probability.
    pub probs: Vec<f64>,
}

/// Why a pool has no table now.
#[derive(Debug, PartialEq, Eq)]
enum NoTable {
    /// A member's weight is changing with time (slow start): draw by the policy, every query.
    Ramping,
    /// The policy steers by the client, keeps state, or has too many answers: draw by the
    /// policy until availability changes.
    Policy,
}

impl DrawTable {
    /// The table of `pool`'s draw as its members stand now.
    fn build(pool: &Pool) -> Result<Self, NoTable> {
        if pool.members.iter().any(|m| {
            m.health
                .as_deref()
                .is_some_and(|h| h.is_ramping(pool.slow_start))
        }) {
            return Err(NoTable::Ramping);
        }
        let candidates: Vec<Candidate> = pool
            .availabilities()
            .iter()
            .map(|a| a.candidate())
            .collect();
        let outcomes =
            |c: &[Candidate]| pool.policy.outcomes(c, pool.answers).ok_or(NoTable::Policy);
        let mut found = outcomes(&candidates)?;
        if found.probs.is_empty() && pool.all_down == AllDown::Open {
            found = outcomes(&pool.fail_open_candidates())?;
        }
        let outcomes = found;
        Ok(Self::from_outcomes(&outcomes))
    }

    /// The alias table of `outcomes` (Vose's construction).
    fn from_outcomes(outcomes: &Outcomes) -> Self {
        let n = outcomes.probs.len();
        let stride = outcomes.picks.iter().map(Vec::len).max().unwrap_or(0);
        let mut picks = vec![0; n * stride];
        for (i, p) in outcomes.picks.iter().enumerate() {
            picks[i * stride..i * stride + p.len()].copy_from_slice(p);
        }
        let lens = outcomes
            .picks
            .iter()
            .map(|p| u8::try_from(p.len()).unwrap_or(u8::MAX))
            .collect();
        let total: f64 = outcomes.probs.iter().sum();
        let mut scaled: Vec<f64> = outcomes
            .probs
            .iter()
            .map(|p| p / total * n as f64)
            .collect();
        let mut columns: Vec<Column> = (0..n)
            .map(|i| Column {
                keep: u32::MAX,
                alias: i as u32,
            })
            .collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            columns[s] = Column {
                keep: (scaled[s] * 4_294_967_296.0).min(f64::from(u32::MAX)) as u32,
                alias: l as u32,
            };
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left holds its own answer whole (rounding leaves some on either list).
        Self {
            columns: columns.into_boxed_slice(),
            picks: picks.into_boxed_slice(),
            lens,
            stride,
        }
    }

    /// One answer's members, in answer order; none when no member may be drawn.
    #[inline]
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> &[usize] {
        let n = self.columns.len();
        let i = match n {
            0 => return &[],
            1 => 0,
            _ => {
                let r = rng.next_u64();
                let column = (((r >> 32) * n as u64) >> 32) as usize;
                let c = self.columns[column];
                if (r as u32) < c.keep {
                    column
                } else {
                    c.alias as usize
                }
            }
        };
        let at = i * self.stride;
        &self.picks[at..at + usize::from(self.lens[i])]
    }

    /// Each answer's probability, as the table draws it (for tests).
    #[cfg(test)]
    fn probabilities(&self) -> Vec<f64> {
        let n = self.columns.len();
        let mut p = vec![0.0; n];
        for (i, c) in self.columns.iter().enumerate() {
            let keep = f64::from(c.keep) / 4_294_967_296.0;
            p[i] += keep / n as f64;
            p[c.alias as usize] += (1.0 - keep) / n as f64;
        }
        p
    }

    #[cfg(test)]
    fn answer(&self, i: usize) -> &[usize] {
        &self.picks[i * self.stride..i * self.stride + usize::from(self.lens[i])]
    }
}

/// Adds every answer [`select`](super::select) can give for `candidates` and `n`, with its
/// probability times `scale`: weighted members drawn without replacement by weight, or, when
/// none is weighted, the stand-ins alike. `false` when they would be more than
/// [`MAX_OUTCOMES`].
pub fn select_outcomes(candidates: &[Candidate], n: usize, scale: f64, out: &mut Outcomes) -> bool {
    let mut weights: Vec<u64> = candidates
        .iter()
        .map(|c| match c {
            Candidate::Weighted(w) => u64::from(*w),
            _ => 0,
        })
        .collect();
    if weights.iter().all(|&w| w == 0) {
        for (w, c) in weights.iter_mut().zip(candidates) {
            *w = u64::from(*c == Candidate::Backup);
        }
    }
    let available = weights.iter().filter(|&&w| w > 0).count();
    let k = n.min(available);
    if k == 0 {
        return true;
    }
    // available! / (available - k)! answers, counted without overflowing.
    let mut count = 1usize;
    for i in 0..k {
        count = count.saturating_mul(available - i);
        if out.probs.len().saturating_add(count) > MAX_OUTCOMES {
            return false;
        }
    }
    out.picks.reserve(count);
    out.probs.reserve(count);
    let total = weights.iter().sum();
    let mut prefix = Vec::with_capacity(k);
    orders(&mut weights, total, k, scale, &mut prefix, out);
    true
}

/// Every order of `k` members drawn by weight after `prefix`, at probability `p` so far.
fn orders(
    weights: &mut [u64],
    total: u64,
    k: usize,
    p: f64,
    prefix: &mut Vec<usize>,
    out: &mut Outcomes,
) {
    if prefix.len() == k {
        out.picks.push(prefix.clone());
        out.probs.push(p);
        return;
    }
    for i in 0..weights.len() {
        let w = weights[i];
        if w == 0 {
            continue;
        }
        weights[i] = 0;
        prefix.push(i);
        orders(
            weights,
            total - w,
            k,
            p * w as f64 / total as f64,
            prefix,
            out,
        );
        prefix.pop();
        weights[i] = w;
    }
}

/// A thread's table for one pool, for one value of [`crate::health::changes`].
#[derive(Debug)]
struct Cached {
    pool: u64,
    changes: u64,
    /// `None`: the pool draws by its policy until `changes` moves.
    table: Option<DrawTable>,
}

/// One thread's draw tables, by pool id.
#[derive(Debug)]
pub struct Tables {
    slots: Box<[Option<Cached>]>,
}

impl Default for Tables {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| None).collect(),
        }
    }
}

impl Picker {
    /// Draws from `pool`'s table, built now if there is none for the current availability,
    /// counts the answer's members as served and hands them to `f` (with scope 0: a table
    /// never steers by the client); gives `f` back when the pool has no table.
    #[inline]
    pub(super) fn draw_table<T, F>(&mut self, pool: &Pool, f: F) -> Result<T, F>
    where
        F: FnOnce(&[usize], Scope) -> T,
    {
        let changes = crate::health::changes();
        let slot = &mut self.tables.slots[(pool.id as usize) % SLOTS];
        let fresh = matches!(slot, Some(c) if c.pool == pool.id && c.changes == changes);
        if !fresh {
            let table = match DrawTable::build(pool) {
                Ok(t) => Some(t),
                Err(NoTable::Policy) => None,
                Err(NoTable::Ramping) => return Err(f),
            };
            *slot = Some(Cached {
                pool: pool.id,
                changes,
                table,
            });
        }
        match slot.as_ref().and_then(|c| c.table.as_ref()) {
            Some(table) => {
                let picks = table.draw(&mut self.rng);
                pool.count_served(picks, self.stripe);
                Ok(f(picks, 0))
            }
            None => Err(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::select;
    use crate::pool::select::tests::candidate;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use Candidate::*;

    fn outcomes(cands: &[Candidate], n: usize) -> Option<Outcomes> {
        let mut out = Outcomes::default();
        select_outcomes(cands, n, 1.0, &mut out).then_some(out)
    }

    fn table(cands: &[Candidate], n: usize) -> DrawTable {
        DrawTable::from_outcomes(&outcomes(cands, n).unwrap())
    }

    /// The probability of each answer, by its members.
    fn by_answer(t: &DrawTable) -> std::collections::BTreeMap<Vec<usize>, f64> {
        let mut m = std::collections::BTreeMap::new();
        for (i, p) in t.probabilities().into_iter().enumerate() {
            *m.entry(t.answer(i).to_vec()).or_insert(0.0) += p;
        }
        m
    }

    #[test]
    fn three_of_three_by_weight_in_draw_order() {
        // 5:3:1, all three: the first by weight, the second by weight among the rest.
        let t = table(&[Weighted(5), Weighted(3), Weighted(1)], 3);
        let p = by_answer(&t);
        let exact = |a: usize, b: usize| {
            let w = [5.0, 3.0, 1.0];
            w[a] / 9.0 * w[b] / (9.0 - w[a])
        };
        assert_eq!(p.len(), 6);
        for (picks, prob) in &p {
            assert!(
                (prob - exact(picks[0], picks[1])).abs() < 1e-9,
                "{picks:?}: {prob}"
            );
        }
    }

    #[test]
    fn stand_ins_only_when_no_member_is_weighted() {
        let t = table(&[Backup, Weighted(2), Unavailable], 1);
        assert_eq!(
            by_answer(&t).into_iter().collect::<Vec<_>>(),
            [(vec![1], 1.0)]
        );
        let t = table(&[Backup, Unavailable, Backup], 1);
        let p = by_answer(&t);
        assert!((p[&vec![0]] - 0.5).abs() < 1e-9 && (p[&vec![2]] - 0.5).abs() < 1e-9);
        let t = table(&[Unavailable, Unavailable], 2);
        assert!(t.draw(&mut SmallRng::seed_from_u64(1)).is_empty());
    }

    #[test]
    fn too_many_answers_leave_the_draw_to_the_policy() {
        let many = vec![Weighted(1); 16];
        assert!(outcomes(&many, 3).is_none());
        assert!(outcomes(&many, 2).is_some());
    }

    #[test]
    fn first_picks_share_like_select() {
        let cands = [Weighted(5), Weighted(3), Weighted(1), Backup, Unavailable];
        let t = table(&cands, 2);
        let mut rng = SmallRng::seed_from_u64(9);
        let (mut ours, mut theirs) = ([0u32; 5], [0u32; 5]);
        for _ in 0..100_000 {
            ours[t.draw(&mut rng)[0]] += 1;
            theirs[select(&cands, 2, &mut rng)[0]] += 1;
        }
        for i in 0..5 {
            let d = (f64::from(ours[i]) - f64::from(theirs[i])).abs() / 100_000.0;
            assert!(d < 0.01, "member {i}: {ours:?} against {theirs:?}");
        }
        assert_eq!(ours[3] + ours[4], 0);
    }

    proptest! {
        /// The alias table draws each answer with the probability enumerated for it, and every
        /// answer is what `select` could give: distinct members, weighted ones first, as many
        /// as are available.
        #[test]
        fn the_table_is_the_distribution(cands in prop::collection::vec(candidate(), 0..7), n in 1usize..4) {
            let outcomes = outcomes(&cands, n).unwrap();
            let t = DrawTable::from_outcomes(&outcomes);
            let total: f64 = outcomes.probs.iter().sum();
            if !outcomes.probs.is_empty() {
                prop_assert!((total - 1.0).abs() < 1e-9);
            }
            for (i, p) in t.probabilities().into_iter().enumerate() {
                prop_assert!((p - outcomes.probs[i]).abs() < 1e-8, "answer {i}: {p} against {}", outcomes.probs[i]);
            }
            let weighted = cands.iter().filter(|c| matches!(c, Weighted(_))).count();
            let backups = cands.iter().filter(|c| **c == Backup).count();
            let available = if weighted > 0 { weighted } else { backups };
            for picks in &outcomes.picks {
                prop_assert_eq!(picks.len(), n.min(available));
                let mut sorted = picks.clone();
                sorted.sort_unstable();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), picks.len());
                for &i in picks {
                    prop_assert!(cands[i] != Unavailable);
                    if weighted > 0 { prop_assert!(matches!(cands[i], Weighted(_))); }
                }
            }
        }
    }
}
