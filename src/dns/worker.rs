//! What one serving thread owns and lends `&mut` to every query it answers, on the fast path
//! and the general path alike: the room the question's name is lower-cased into, the pools'
//! [`Picker`] (RNG, draw tables, round-robin credits), the response-rate-limiting table, and its
//! shard of the counters. Each UDP thread has one, and the TCP thread one for all its
//! connections; nothing on the query path is thread-local or shared for writing.

use std::sync::Arc;

use super::counters::{QueryStats, Shard};
use super::rrl;
use crate::pool::Picker;

/// One serving thread's state.
pub struct Worker {
    /// The question's name, lower-cased (the fast path's key).
    pub(super) name: NameRoom,
    /// The pools' draws.
    pub(super) picker: Picker,
    /// Response rate limiting's buckets.
    pub(super) rrl: rrl::Table,
    /// The counters only this thread writes.
    pub(super) shard: Arc<Shard>,
}

impl Worker {
    /// A worker counting into a new shard of `stats`.
    pub fn new(stats: &QueryStats) -> Self {
        Self {
            name: NameRoom::default(),
            picker: Picker::default(),
            rrl: rrl::Table::default(),
            shard: stats.shard(),
        }
    }

    /// Seeds the draws anew, so that a test can make two paths draw alike.
    pub fn reseed(&mut self, seed: u64) {
        self.picker.reseed(seed);
    }
}

/// Room for the lower-cased question name and where its labels start: a serving thread's
/// (in its [`Worker`]), so that nothing is allocated or moved per query.
pub struct NameRoom {
    pub(super) key: [u8; 255],
    pub(super) labels: [u8; 128],
}

impl Default for NameRoom {
    fn default() -> Self {
        Self {
            key: [0; 255],
            labels: [0; 128],
        }
    }
}
