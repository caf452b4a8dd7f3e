//! The DNS counters: responses by rcode, queries by transport and type, malformed messages by
//! kind. The general path counts with relaxed atomic adds; each serving thread's fast path into a
//! [`Shard`] of its own that only it writes; `/metrics` adds them up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::RecordType;

use super::rrl::RrlStats;

/// The query types counted one by one in `dnslb_queries_total`, by code; the rest are `other`.
/// The one table of them: labels and the fast path's index both come from it.
const QUERY_TYPES: [u16; 12] = [1, 28, 5, 15, 16, 2, 6, 33, 12, 43, 65, 255];

/// Where each type code below 256 is counted: its place in `QUERY_TYPES`, else `other`.
const TYPE_INDEX: [u8; 256] = {
    let mut index = [QUERY_TYPES.len() as u8; 256];
    let mut i = 0;
    while i < QUERY_TYPES.len() {
        index[QUERY_TYPES[i] as usize] = i as u8;
        i += 1;
    }
    index
};

/// The counter index of `qtype`: its place in `QUERY_TYPES`, or `other` (the last).
#[inline]
fn type_index(qtype: u16) -> usize {
    match TYPE_INDEX.get(usize::from(qtype)) {
        Some(&i) => usize::from(i),
        None => QUERY_TYPES.len(),
    }
}

/// The RFC name of an rcode (`NOERROR`, `NXDOMAIN`, ...), as Prometheus labels want it.
pub fn rcode_name(rcode: ResponseCode) -> String {
    let names = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    let code = u16::from(rcode);
    match code {
        16 => "BADVERS".to_string(),
        c => names
            .get(usize::from(c))
            .map_or_else(|| format!("RCODE{c}"), ToString::to_string),
    }
}

/// Messages that got no answer, or only a FORMERR, because of what they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than a header: dropped.
    Short,
    /// QR set (a response, or a reflection attempt): dropped.
    Response,
    /// The question (or a later part) could not be read: FORMERR.
    Unparseable,
}

impl Malformed {
    /// Every kind, in counter order.
    pub const ALL: [Malformed; 3] = [
        Malformed::Short,
        Malformed::Response,
        Malformed::Unparseable,
    ];

    /// The kind's label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::Short => "short",
            Malformed::Response => "response",
            Malformed::Unparseable => "unparseable",
        }
    }
}

/// Responses sent, by response code, and malformed messages, by kind (the admin endpoint
/// exports them). Written only when something is sent or refused; no lock.
#[derive(Debug, Default)]
pub struct QueryStats {
    by_rcode: [AtomicU64; 24],
    /// Queries answered, by transport (UDP, TCP) and type (`QUERY_TYPES`, then other).
    queries: [[AtomicU64; QUERY_TYPES.len() + 1]; 2],
    malformed: [AtomicU64; 3],
    /// Responses rate limiting dropped or slipped.
    pub rrl: RrlStats,
    /// The fast path's counters, one per serving thread (each written by its thread alone).
    shards: std::sync::Mutex<Vec<Arc<Shard>>>,
}

/// One UDP thread's counters: its thread alone writes them (a load and a store, no atomic
/// read-modify-write, no shared cache line); scrapes add them up.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Shard {
    by_rcode: [AtomicU64; 24],
    queries: [AtomicU64; QUERY_TYPES.len() + 1],
    /// Signed pool answers whose drawn set was signed (0) or answered smaller (1).
    signed_pool: [AtomicU64; 2],
}

impl Shard {
    /// Counts a signed pool answer: its drawn set signed (`hit`), or answered smaller.
    pub(crate) fn count_signed_pool(&self, hit: bool) {
        bump(&self.signed_pool[usize::from(!hit)]);
    }

    /// Counts a UDP query of `qtype` answered with `rcode`.
    pub(crate) fn count(&self, qtype: u16, rcode: u8) {
        bump(&self.queries[type_index(qtype)]);
        bump(&self.by_rcode[usize::from(rcode).min(23)]);
    }
}

/// Adds one to a counter that only this thread writes.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl QueryStats {
    /// A new shard of counters for one serving thread.
    pub fn shard(&self) -> Arc<Shard> {
        let shard = Arc::new(Shard::default());
        if let Ok(mut shards) = self.shards.lock() {
            shards.push(shard.clone());
        }
        shard
    }

    fn shards(&self) -> Vec<Arc<Shard>> {
        self.shards.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(super) fn malformed(&self, kind: Malformed) {
        self.malformed[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Malformed messages seen, by kind.
    pub fn malformed_counts(&self) -> [(Malformed, u64); 3] {
        Malformed::ALL.map(|k| (k, self.malformed[k as usize].load(Ordering::Relaxed)))
    }

    pub(super) fn count(&self, rcode: ResponseCode) {
        let i = usize::from(u16::from(rcode)).min(self.by_rcode.len() - 1);
        self.by_rcode[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a query by transport and type.
    pub(super) fn query(&self, protocol: Protocol, qtype: RecordType) {
        let p = usize::from(protocol != Protocol::Udp);
        self.queries[p][type_index(u16::from(qtype))].fetch_add(1, Ordering::Relaxed);
    }

    /// Signed pool answers (hits, misses): the fast path's and the general path's (counted in
    /// `signing`).
    pub fn signed_pool_answers(
        &self,
        signing: &crate::zone::pool_signatures::SigningStats,
    ) -> (u64, u64) {
        let shards = self.shards();
        let general = &signing.general_path;
        let sum = |i: usize| {
            general[i].load(Ordering::Relaxed)
                + shards
                    .iter()
                    .map(|s| s.signed_pool[i].load(Ordering::Relaxed))
                    .sum::<u64>()
        };
        (sum(0), sum(1))
    }

    /// (protocol, type, count) for every pair seen at least once; types we do not list are
    /// `other`.
    pub fn query_counts(&self) -> Vec<(&'static str, String, u64)> {
        let mut out = Vec::new();
        let shards = self.shards();
        for (p, name) in ["udp", "tcp"].into_iter().enumerate() {
            for (t, c) in self.queries[p].iter().enumerate() {
                let fast: u64 = match p {
                    0 => shards
                        .iter()
                        .map(|s| s.queries[t].load(Ordering::Relaxed))
                        .sum(),
                    _ => 0,
                };
                let n = c.load(Ordering::Relaxed) + fast;
                if n > 0 {
                    let ty = QUERY_TYPES.get(t).map_or("other".to_string(), |&code| {
                        RecordType::from(code).to_string()
                    });
                    out.push((name, ty, n));
                }
            }
        }
        out
    }

    /// (rcode, count) for every rcode seen at least once.
    pub fn counts(&self) -> Vec<(ResponseCode, u64)> {
        let shards = self.shards();
        self.by_rcode
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let fast: u64 = shards
                    .iter()
                    .map(|s| s.by_rcode[i].load(Ordering::Relaxed))
                    .sum();
                let n = c.load(Ordering::Relaxed) + fast;
                (n > 0).then(|| {
                    (
                        <ResponseCode as From<u16>>::from(u16::try_from(i).unwrap_or(0)),
                        n,
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_listed_type_is_counted_in_its_place() {
        for (i, code) in QUERY_TYPES.iter().enumerate() {
            let shard = Shard::default();
            shard.count(*code, 0);
            assert_eq!(shard.queries[i].load(Ordering::Relaxed), 1, "{code}");
            let stats = QueryStats::default();
            stats.query(Protocol::Tcp, RecordType::from(*code));
            let counted = stats.query_counts();
            assert_eq!(counted.len(), 1);
            assert_eq!(counted[0].1, RecordType::from(*code).to_string());
        }
        let shard = Shard::default();
        shard.count(99, 3);
        shard.count(65_280, 3);
        assert_eq!(shard.queries[QUERY_TYPES.len()].load(Ordering::Relaxed), 2);
        assert_eq!(shard.by_rcode[3].load(Ordering::Relaxed), 2);
    }
}
