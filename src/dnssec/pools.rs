//! Signing pools ahead. An RRSIG covers an RRset in canonical order, so what a pool can answer
//! is known before any query: each set of up to `answers` of its members, whatever the policy,
//! the health or the client (weighted, failover, hash, round robin, region and geo all draw
//! subsets of the members; failing open draws from all of them). A pool of `n` members
//! answering `k` has C(n,1) + … + C(n,k) such sets (16 members, 3 answers: 696); each is signed
//! once per signing, and the answer finds its signatures by the set's member mask.
//!
//! A pool with more sets than the zone's `pool_limit` has the sets of its smaller sizes signed
//! ahead, as many sizes as fit under the limit (singletons always), and the others on demand:
//! a draw whose set is not signed yet is answered with its first members, as many as are signed
//! ahead (the draw of an RRset already signed: never an unsigned answer, never a signature made
//! while a query waits), and its set goes to the pool's signer, a thread that signs off the
//! query path into a cache of at most `pool_limit` sets, where the next draws find it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, sync_channel};

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::keys::Key;
use crate::zone::pool_signatures::{OnDemand, SetKey, SignedSets, SigningStats, answer_records};

use super::KeySet;
use super::rrsig::{self, Unsigned, Window};
use crate::zone::Zone;
use crate::zone::pool_signatures::PoolSignatures;

/// What signing a zone's pools made.
#[derive(Debug, Default)]
pub struct Signed {
    /// Each pool's signatures, by pool id.
    pub by_pool: FxHashMap<u64, Arc<PoolSignatures>>,
    /// Pools whose larger sets are not signed ahead (beyond the limit).
    pub on_demand: usize,
    /// Signatures made.
    pub signatures: u64,
}

/// Signs every RRset each pool of `zone` can answer, with the zone's signing keys.
pub fn sign(
    zone: &Zone,
    keys: &KeySet<'_>,
    (window, limit): (Window, usize),
    stats: &Arc<SigningStats>,
) -> Signed {
    let mut out = Signed::default();
    let origin = crate::prepare::wire_lower(&zone.origin);
    for (wire, node) in zone.nodes_wire() {
        for pool in node.pools() {
            let n = pool.members.len();
            let sizes = sizes_within(n, pool.answers.min(n), limit);
            let mut rdatas: Vec<Vec<u8>> = Vec::with_capacity(n);
            for m in pool.members.iter() {
                let mut buf = Vec::new();
                let rdata = crate::zone::packed::uncompressed(&mut buf, |e| {
                    hickory_proto::serialize::binary::BinEncodable::emit(&m.record.data, e)
                });
                rdatas.push(rdata.map(<[u8]>::to_vec).unwrap_or_default());
            }
            let mut sigs = PoolSignatures::new(n, sizes, stats.clone());
            if sizes < pool.answers.min(n) {
                out.on_demand += 1;
                let signer = Signer {
                    owner: wire.to_vec(),
                    origin: origin.to_vec(),
                    rtype: u16::from(pool.rtype),
                    ttl: pool.ttl,
                    rdatas: rdatas.clone(),
                    keys: keys.zsks.iter().map(|k| Arc::clone(k)).collect(),
                    window,
                    capacity: limit.max(CACHE_MIN),
                    stats: stats.clone(),
                };
                sigs.on_demand = signer.spawn();
            }
            let mut members: SmallVec<[usize; 8]> = SmallVec::new();
            for_each_subset(n, sizes, &mut members, &mut |picks| {
                let set: SmallVec<[&[u8]; 8]> = picks.iter().map(|&i| &rdatas[i][..]).collect();
                let unsigned = Unsigned {
                    owner: wire,
                    rtype: u16::from(pool.rtype),
                    ttl: pool.ttl,
                    rdatas: &set,
                };
                let mut made = SmallVec::<[Vec<u8>; 2]>::new();
                for key in &keys.zsks {
                    made.extend(rrsig::make(&unsigned, key, &origin, window));
                }
                out.signatures += made.len() as u64;
                sigs.insert(picks, pool.ttl, &made);
            });
            sigs.shrink_to_fit();
            out.by_pool.insert(pool.id, Arc::new(sigs));
        }
    }
    out
}

/// The fewest sets a pool's cache holds before it starts again empty (its bound is the pool
/// limit, or this when the limit is lower).
const CACHE_MIN: usize = 1_024;

/// How many sets wait for a pool's signer at most (more misses are dropped, and asked again by
/// a later draw).
const QUEUE: usize = 1_024;

/// A pool's signer on demand: what it needs to sign any set of the pool's members.
struct Signer {
    owner: Vec<u8>,
    origin: Vec<u8>,
    rtype: u16,
    ttl: u32,
    rdatas: Vec<Vec<u8>>,
    keys: Vec<Arc<Key>>,
    window: Window,
    capacity: usize,
    stats: Arc<SigningStats>,
}

impl Signer {
    /// Starts the signer's thread; what the query path hands misses to and reads from. The
    /// thread ends when the returned queue is dropped (with the zone).
    fn spawn(self) -> Option<OnDemand> {
        let (queue, rx) = sync_channel(QUEUE);
        let cache = Arc::new(ArcSwap::from_pointee(SignedSets::default()));
        let published = cache.clone();
        std::thread::Builder::new()
            .name("dnslb-signer".into())
            .spawn(move || self.run(&rx, &published))
            .ok()?;
        Some(OnDemand { cache, queue })
    }

    /// Signs the sets asked for, a batch at a time, publishing each batch in `cache` whole
    /// (copied, so that readers never wait); a full cache starts again empty.
    fn run(&self, rx: &Receiver<SetKey>, cache: &ArcSwap<SignedSets>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(255));
            let mut sets = SignedSets::clone(&cache.load());
            if sets.sets.len() + batch.len() > self.capacity {
                sets.sets.clear();
            }
            for key in batch {
                if sets.sets.contains_key(&key) {
                    continue;
                }
                if let Some(signed) = self.sign(&key) {
                    sets.sets.insert(key, signed);
                }
            }
            cache.store(Arc::new(sets));
        }
    }

    /// The RRSIG records of the set `key`, in answer-section form, and how many.
    fn sign(&self, key: &SetKey) -> Option<(Box<[u8]>, u16)> {
        let set: SmallVec<[&[u8]; 8]> = key
            .iter()
            .map(|&i| self.rdatas.get(usize::from(i)).map(Vec::as_slice))
            .collect::<Option<_>>()?;
        let unsigned = Unsigned {
            owner: &self.owner,
            rtype: self.rtype,
            ttl: self.ttl,
            rdatas: &set,
        };
        let made: Vec<Vec<u8>> = self
            .keys
            .iter()
            .filter_map(|k| rrsig::make(&unsigned, k, &self.origin, self.window))
            .collect();
        self.stats
            .cache
            .fetch_add(made.len() as u64, Ordering::Relaxed);
        let count = u16::try_from(made.len()).ok()?;
        Some((answer_records(self.ttl, &made).into_boxed_slice(), count))
    }
}

/// How many sizes of sets (1, 2, …, up to `k` of `n` members) fit in `limit` signatures sets;
/// at least one (the singletons).
pub fn sizes_within(n: usize, k: usize, limit: usize) -> usize {
    let k = k.min(n);
    let mut total = 0usize;
    let mut choose = 1usize; // C(n, 0)
    for size in 1..=k {
        choose = choose.saturating_mul(n + 1 - size) / size;
        total = total.saturating_add(choose);
        if total > limit {
            return (size - 1).max(1);
        }
    }
    k.max(1).min(n.max(1))
}

/// Calls `f` with every set of 1 to `sizes` of the members `0..n`, each in ascending order.
fn for_each_subset(
    n: usize,
    sizes: usize,
    members: &mut SmallVec<[usize; 8]>,
    f: &mut impl FnMut(&[usize]),
) {
    let start = members.last().map_or(0, |&m| m + 1);
    for m in start..n {
        members.push(m);
        f(members);
        if members.len() < sizes {
            for_each_subset(n, sizes, members, f);
        }
        members.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_members_three_answers_make_696_sets() {
        let mut count = 0;
        for_each_subset(16, 3, &mut SmallVec::new(), &mut |_| count += 1);
        assert_eq!(count, 696);
        assert_eq!(sizes_within(16, 3, 4096), 3);
        assert_eq!(sizes_within(16, 3, 500), 2);
        assert_eq!(sizes_within(100, 5, 10), 1);
        assert_eq!(sizes_within(3, 5, 4096), 3);
    }
}
