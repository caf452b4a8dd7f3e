//! What one serving thread draws with: its RNG, its pools' draw tables ([`super::table`]), its
//! round-robin credits, and its stripe of the members' served counters. Each serving thread owns
//! one (in its [`crate::dns::Worker`]) and lends it `&mut` to every draw, so that no query
//! writes what another thread reads and nothing on the query path is thread-local.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rustc_hash::FxHashMap;

use super::policy::Credits;
use super::table::Tables;

/// Pools a thread keeps round-robin credits for at most (a reload makes new pools, with new
/// ids: the old ones' credits go when this many are held).
const ROUND_ROBIN_POOLS: usize = 4096;

/// One thread's drawing state.
#[derive(Debug)]
pub struct Picker {
    /// The draws' random numbers.
    pub rng: SmallRng,
    /// The pools' draw tables.
    pub(super) tables: Tables,
    /// Round-robin credits, by pool id.
    rounds: FxHashMap<u64, Credits>,
    /// This thread's stripe of every served counter.
    pub(super) stripe: usize,
}

impl Default for Picker {
    fn default() -> Self {
        Self::with_rng(rand::make_rng())
    }
}

impl Picker {
    /// A picker whose draws are seeded (tests, `--simulate`).
    pub fn seeded(seed: u64) -> Self {
        Self::with_rng(SmallRng::seed_from_u64(seed))
    }

    fn with_rng(rng: SmallRng) -> Self {
        static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);
        Self {
            rng,
            tables: Tables::default(),
            rounds: FxHashMap::default(),
            stripe: NEXT_STRIPE.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Seeds the draws anew (a test that makes two paths draw alike).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = SmallRng::seed_from_u64(seed);
    }

    /// The round-robin credits of the pool with id `pool` on this thread.
    pub(super) fn credits(&mut self, pool: u64) -> &mut Credits {
        if self.rounds.len() >= ROUND_ROBIN_POOLS && !self.rounds.contains_key(&pool) {
            self.rounds.clear();
        }
        self.rounds.entry(pool).or_default()
    }
}
