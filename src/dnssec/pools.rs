//! Signing pools ahead. An RRSIG covers an RRset in canonical order, so what a pool can answer
//! is known before any query: each set of up to `answers` of its members, whatever the policy,
//! the health or the client (weighted, failover, hash, round robin, region and geo all draw
//! subsets of the members; failing open draws from all of them). A pool of `n` members
//! answering `k` has C(n,1) + … + C(n,k) such sets (16 members, 3 answers: 696); each is signed
//! once per signing, and the answer finds its signatures by the set's member mask.
//!
//! A pool with more sets than the zone's `pool_limit` (or more than 64 members) has the sets of
//! its smaller sizes signed, as many sizes as fit under the limit, singletons always: a draw
//! larger than what is signed is answered with its first members, as many as are signed (the
//! draw of an RRset already signed, never an unsigned answer, never a signature made while a
//! query waits).

use std::sync::Arc;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::KeySet;
use super::rrsig::{self, Unsigned, Window};
use crate::zone::Zone;
use crate::zone::signed::PoolSignatures;

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
pub fn sign(zone: &Zone, keys: &KeySet<'_>, window: Window, limit: usize) -> Signed {
    let mut out = Signed::default();
    let origin = crate::prepare::wire_lower(&zone.origin);
    for (wire, node) in zone.nodes_wire() {
        for pool in node.pools() {
            let n = pool.members.len().min(64);
            let sizes = sizes_within(n, pool.answers.min(n), limit);
            if sizes < pool.answers.min(pool.members.len()) {
                out.on_demand += 1;
            }
            let mut rdatas: Vec<Vec<u8>> = Vec::with_capacity(n);
            for m in &pool.members[..n] {
                let mut buf = Vec::new();
                let rdata = crate::zone::packed::uncompressed(&mut buf, |e| {
                    hickory_proto::serialize::binary::BinEncodable::emit(&m.record.data, e)
                });
                rdatas.push(rdata.map(<[u8]>::to_vec).unwrap_or_default());
            }
            let mut sigs = PoolSignatures::new(sizes);
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

/// How many sizes of sets (1, 2, …, up to `k` of `n` members) fit in `limit` signatures sets;
/// at least one (the singletons).
pub fn sizes_within(n: usize, k: usize, limit: usize) -> usize {
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
