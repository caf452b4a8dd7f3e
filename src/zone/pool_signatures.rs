//! The RRSIGs of the RRsets a pool can answer, found by the drawn set of members: signed ahead
//! when the zone is signed ([`crate::dnssec::pools`]), or, for a set of a pool too large to
//! sign whole, on demand off the query path into a bounded cache. What the fast path appends
//! after the drawn members, and the general path decodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use arc_swap::ArcSwap;
use hickory_proto::rr::{Name, Record, RecordType};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

/// What a server's signing made, counted since it started (carried from snapshot to
/// snapshot): `/metrics`' counters.
#[derive(Debug, Default)]
pub struct SigningStats {
    /// Signatures made when a zone was loaded or changed (its file, its pools, its keys' files,
    /// a transfer).
    pub load: AtomicU64,
    /// Signatures made again before they ran out, or when a key's timing came.
    pub refresh: AtomicU64,
    /// Signatures of a pool's sets beyond the pool limit, made on demand off the query path.
    pub cache: AtomicU64,
    /// Signed pool answers the general path made: the drawn set signed (0), or answered
    /// smaller (1). (The fast path counts its own per serving thread.)
    pub general_path: [AtomicU64; 2],
}

/// A set's RRSIG records in answer-section form (each owned by a pointer to the question:
/// `c00c`, type, class, TTL, RDLENGTH, RDATA), and how many.
pub type Rrsigs<'a> = (&'a [u8], u16);

/// A set of members: their indexes, ascending.
pub type SetKey = SmallVec<[u16; 8]>;

/// The RRSIGs of a pool's sets.
#[derive(Debug)]
pub struct PoolSignatures {
    /// Where each set's RRSIG records stand in `bytes`, and how many: by the mask of its
    /// members for sets of the first 64 (sorted by mask once signed: a binary search of a few
    /// comparisons, cheaper than hashing), else by their list.
    by_mask: Vec<(u64, (u32, u32, u16))>,
    /// For a pool of at most [`DENSE_MEMBERS`] members: the index in `by_mask` of every mask
    /// (`u32::MAX`: not signed), so that the query path finds a set's RRSIGs with one read.
    dense: Box<[u32]>,
    by_list: FxHashMap<SetKey, (u32, u32, u16)>,
    bytes: Vec<u8>,
    /// Sets of up to this many members are all signed ahead.
    pub complete_up_to: usize,
    /// The most octets of one set's RRSIGs.
    pub longest: usize,
    /// For a pool with sets beyond those signed ahead: where the others are signed.
    pub on_demand: Option<OnDemand>,
    /// The server's signing counters.
    pub stats: Arc<SigningStats>,
}

/// Signing on demand: a miss goes on `queue` to the pool's signer (a thread of its own, which
/// ends when this is dropped), which publishes what it signs in `cache`.
#[derive(Debug)]
pub struct OnDemand {
    /// The sets signed so far.
    pub cache: Arc<ArcSwap<SignedSets>>,
    /// Sets to sign (full: dropped, asked again by a later miss).
    pub queue: SyncSender<SetKey>,
}

/// Sets signed on demand: each set's RRSIG records in answer-section form, and how many.
#[derive(Debug, Default, Clone)]
pub struct SignedSets {
    /// By set.
    pub sets: FxHashMap<SetKey, (Box<[u8]>, u16)>,
}

/// Pools of at most this many members find a set's RRSIGs in a table of every mask (16 KB).
const DENSE_MEMBERS: usize = 12;

/// The set of `picks` as a mask of member indexes; `None` when one is 64 or more.
#[inline]
fn mask(picks: &[usize]) -> Option<u64> {
    let mut mask = 0u64;
    for &p in picks {
        if p >= 64 {
            return None;
        }
        mask |= 1 << p;
    }
    Some(mask)
}

/// The set of `picks` as a key.
#[inline]
pub fn set_key(picks: &[usize]) -> Option<SetKey> {
    let mut key = SetKey::with_capacity(picks.len());
    for &p in picks {
        key.push(u16::try_from(p).ok()?);
    }
    key.sort_unstable();
    Some(key)
}

/// RRSIG RDATAs `rrsigs` in answer-section form with the pool's `ttl`.
pub fn answer_records(ttl: u32, rrsigs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rrsigs.iter().map(|r| 12 + r.len()).sum());
    for rdata in rrsigs {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 46, 0, 1]);
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
    out
}

impl PoolSignatures {
    /// None yet for a pool of `members`; sets of up to `complete_up_to` members are to come;
    /// counted in `stats`.
    pub fn new(members: usize, complete_up_to: usize, stats: Arc<SigningStats>) -> Self {
        let dense = match members <= DENSE_MEMBERS {
            true => vec![u32::MAX; 1 << members].into_boxed_slice(),
            false => Box::default(),
        };
        PoolSignatures {
            dense,
            by_mask: Vec::new(),
            by_list: FxHashMap::default(),
            bytes: Vec::new(),
            complete_up_to,
            longest: 0,
            on_demand: None,
            stats,
        }
    }

    /// Counts a signed answer of the general path: the drawn set signed (`hit`), or smaller.
    pub fn count_general(&self, hit: bool) {
        self.stats.general_path[usize::from(!hit)].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the RRSIG RDATAs `rrsigs` of the set `picks`, with the pool's `ttl`.
    pub fn insert(&mut self, picks: &[usize], ttl: u32, rrsigs: &[Vec<u8>]) {
        let records = answer_records(ttl, rrsigs);
        let span = (
            self.bytes.len() as u32,
            records.len() as u32,
            rrsigs.len() as u16,
        );
        match (mask(picks), set_key(picks)) {
            (Some(m), _) => self.by_mask.push((m, span)),
            (None, Some(key)) => drop(self.by_list.insert(key, span)),
            (None, None) => return,
        }
        self.bytes.extend_from_slice(&records);
        self.longest = self.longest.max(records.len());
    }

    /// Readies the signatures for lookups (once every set is in), giving back the room held
    /// beyond them.
    pub fn shrink_to_fit(&mut self) {
        self.by_mask.sort_unstable_by_key(|(m, _)| *m);
        for (i, (m, _)) in self.by_mask.iter().enumerate() {
            if let Some(slot) = self.dense.get_mut(*m as usize) {
                *slot = i as u32;
            }
        }
        self.bytes.shrink_to_fit();
        self.by_mask.shrink_to_fit();
        self.by_list.shrink_to_fit();
    }

    /// How many sets are signed ahead.
    pub fn len(&self) -> usize {
        self.by_mask.len() + self.by_list.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The RRSIGs of the set `picks`, when signed ahead.
    #[inline]
    fn ahead(&self, picks: &[usize]) -> Option<Rrsigs<'_>> {
        let &(at, len, count) = match mask(picks) {
            Some(m) if !self.dense.is_empty() => {
                let i = *self.dense.get(m as usize)?;
                &self.by_mask.get(i as usize)?.1
            }
            Some(m) => {
                let i = self.by_mask.binary_search_by_key(&m, |(k, _)| *k).ok()?;
                &self.by_mask[i].1
            }
            None => self.by_list.get(&set_key(picks)?)?,
        };
        let bytes = self.bytes.get(at as usize..(at as usize + len as usize))?;
        Some((bytes, count))
    }

    /// Hands `answer` the members to answer for the draw `picks`, their RRSIGs, and whether
    /// the draw was answered whole: the draw itself when its set is signed (ahead, or on
    /// demand already); else its first members, as many as every set of is signed ahead, while
    /// the set is queued for signing. `None` when not even those are signed.
    #[inline]
    pub fn with_signed<T>(
        &self,
        picks: &[usize],
        answer: impl FnOnce(&[usize], Rrsigs<'_>, bool) -> T,
    ) -> Option<T> {
        if let Some(found) = self.ahead(picks) {
            return Some(answer(picks, found, true));
        }
        if let Some(od) = &self.on_demand {
            let key = set_key(picks)?;
            let cache = od.cache.load();
            if let Some((bytes, count)) = cache.sets.get(&key) {
                return Some(answer(picks, (bytes, *count), true));
            }
            let _ = od.queue.try_send(key);
        }
        let fewer = &picks[..picks.len().min(self.complete_up_to)];
        let found = self.ahead(fewer)?;
        Some(answer(fewer, found, false))
    }

    /// The RRSIG records `rrsigs`, owned by `owner`, decoded (the general path's).
    pub fn decode(rrsigs: Rrsigs<'_>, owner: &Name) -> Vec<Record> {
        let (mut bytes, _) = rrsigs;
        let mut out = Vec::new();
        while bytes.len() >= 12 {
            let ttl = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
            let len = usize::from(u16::from_be_bytes([bytes[10], bytes[11]]));
            let Some(rdata) = bytes.get(12..12 + len) else {
                break;
            };
            if let Ok(data) = super::scan::to_rdata(RecordType::RRSIG, rdata.to_vec()) {
                out.push(Record::from_rdata(owner.clone(), ttl, data));
            }
            bytes = &bytes[12 + len..];
        }
        out
    }
}
