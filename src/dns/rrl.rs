//! Response rate limiting, the design of BIND's RRL that NSD and Knot share: each (client
//! network, kind of response, name) may get `responses_per_second` responses per second; beyond
//! that, responses are dropped, and every `slip`-th of them is sent truncated instead (TC=1,
//! no records), so that a real client behind a spoofed victim's address retries over TCP. Debt
//! accumulates for at most `window` seconds. Only UDP is limited.
//!
//! Each serving thread keeps its own table (no lock, no shared write on the query path), as
//! each NSD server process does.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHasher};

/// `[server.rrl]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrlConfig {
    /// Responses per second per (network, kind, name).
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent truncated; 0: none is.
    pub slip: u32,
    /// Seconds of debt a flood may build up.
    pub window: u32,
    /// IPv4 clients are grouped by this prefix.
    pub ipv4_prefix: u8,
    /// IPv6 clients are grouped by this prefix.
    pub ipv6_prefix: u8,
}

/// What a response is, for rate limiting: names are counted per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Records for the name and type.
    Answer,
    /// The name exists, without the type.
    NoData,
    /// The name does not exist (counted per zone, so random names do not escape).
    NxDomain,
    /// A delegation (counted per cut).
    Referral,
    /// REFUSED, SERVFAIL and the like (counted per client only).
    Error,
}

impl Kind {
    /// The kind of a response with `rcode` (its low 4 bits), AA and answer count: the one rule
    /// both serving paths count by.
    pub fn of(rcode: u8, authoritative: bool, answers: usize) -> Self {
        match rcode {
            0 if !authoritative => Kind::Referral,
            0 if answers == 0 => Kind::NoData,
            0 => Kind::Answer,
            3 => Kind::NxDomain,
            _ => Kind::Error,
        }
    }

    /// Whether it is counted under its authority section's owner (the zone or the cut) rather
    /// than the question name.
    pub fn by_authority_owner(self) -> bool {
        matches!(self, Kind::Referral | Kind::NxDomain)
    }
}

/// What to do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Send it truncated, without records.
    Slip,
    /// Send nothing.
    Drop,
}

/// Responses limited so far.
#[derive(Debug, Default)]
pub struct RrlStats {
    dropped: AtomicU64,
    slipped: AtomicU64,
}

impl RrlStats {
    /// (dropped, slipped).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.dropped.load(Ordering::Relaxed),
            self.slipped.load(Ordering::Relaxed),
        )
    }
}

/// Entries a thread keeps at most; past that the table starts afresh.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
struct Bucket {
    /// Responses still allowed; negative: debt.
    balance: i64,
    /// Second (since the table's epoch) of the last update.
    second: u64,
    /// Limited responses so far, for the slip count.
    limited: u64,
}

/// One serving thread's buckets (in its [`super::Worker`]): no query writes what another
/// thread reads. Each thread counts its own share of a client's responses; with `SO_REUSEPORT`
/// one client's queries mostly land on one thread.
pub struct Table {
    epoch: Instant,
    buckets: FxHashMap<u64, Bucket>,
}

impl Default for Table {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            buckets: FxHashMap::default(),
        }
    }
}

impl RrlConfig {
    /// Decides a response of `kind` about `name` (lower-cased wire form; and `qtype`, for
    /// answers) to `client`, on this thread's `table`.
    pub fn check(
        &self,
        table: &mut Table,
        stats: &RrlStats,
        client: IpAddr,
        kind: Kind,
        name: &[u8],
        qtype: u16,
    ) -> Verdict {
        let key = self.key(client, kind, name, qtype);
        let now = table.epoch.elapsed().as_secs();
        if table.buckets.len() >= MAX_ENTRIES {
            table.buckets.clear();
        }
        let rate = i64::from(self.responses_per_second);
        let b = table.buckets.entry(key).or_insert(Bucket {
            balance: rate,
            second: now,
            limited: 0,
        });
        let verdict = decide(b, now, rate, i64::from(self.window), u64::from(self.slip));
        match verdict {
            Verdict::Drop => stats.dropped.fetch_add(1, Ordering::Relaxed),
            Verdict::Slip => stats.slipped.fetch_add(1, Ordering::Relaxed),
            Verdict::Send => 0,
        };
        verdict
    }

    fn key(&self, client: IpAddr, kind: Kind, name: &[u8], qtype: u16) -> u64 {
        let mut h = FxHasher::default();
        match client {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let keep = u32::from(self.ipv4_prefix.min(32));
                (bits.checked_shr(32 - keep).unwrap_or(0), keep).hash(&mut h);
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let keep = u32::from(self.ipv6_prefix.min(128));
                (bits.checked_shr(128 - keep).unwrap_or(0), keep).hash(&mut h);
            }
        }
        kind.hash(&mut h);
        if kind != Kind::Error {
            h.write(name);
        }
        if kind == Kind::Answer {
            qtype.hash(&mut h);
        }
        h.finish()
    }
}

/// The token bucket of one key: `rate` credits a second, at most `rate` saved, at most
/// `window` seconds of debt.
fn decide(b: &mut Bucket, now: u64, rate: i64, window: i64, slip: u64) -> Verdict {
    let elapsed = i64::try_from(now.saturating_sub(b.second)).unwrap_or(i64::MAX);
    b.balance = b
        .balance
        .saturating_add(elapsed.saturating_mul(rate))
        .min(rate);
    b.second = now;
    b.balance = (b.balance - 1).max(-window.saturating_mul(rate));
    if b.balance >= 0 {
        return Verdict::Send;
    }
    b.limited += 1;
    if slip > 0 && b.limited.is_multiple_of(slip) {
        Verdict::Slip
    } else {
        Verdict::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_then_slip_then_refill() {
        let mut b = Bucket {
            balance: 5,
            second: 0,
            limited: 0,
        };
        let verdicts: Vec<Verdict> = (0..11).map(|_| decide(&mut b, 0, 5, 15, 2)).collect();
        assert!(
            verdicts[..5].iter().all(|v| *v == Verdict::Send),
            "{verdicts:?}"
        );
        assert_eq!(
            verdicts[5..],
            [
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip
            ]
        );
        // Debt: six over; after two seconds (10 credits) the bucket answers again.
        assert_eq!(decide(&mut b, 2, 5, 15, 2), Verdict::Send);
        // slip = 0: nothing slips.
        let mut b = Bucket {
            balance: 0,
            second: 0,
            limited: 0,
        };
        assert!((0..10).all(|_| decide(&mut b, 0, 1, 15, 0) == Verdict::Drop));
    }

    #[test]
    fn clients_are_grouped_by_prefix() {
        let cfg = RrlConfig {
            responses_per_second: 1,
            slip: 2,
            window: 15,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        };
        let name = b"\x03www\x07example\x03com\x00";
        let k = |ip: &str| cfg.key(ip.parse().unwrap(), Kind::Answer, name, 1);
        assert_eq!(k("192.0.2.1"), k("192.0.2.200"));
        assert_ne!(k("192.0.2.1"), k("192.0.3.1"));
        assert_eq!(k("2001:db8:0:1::1"), k("2001:db8:0:ff::2"));
        assert_ne!(k("2001:db8:0:100::1"), k("2001:db8:0:1::1"));
    }
}
