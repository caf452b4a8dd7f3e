//! Online signing: dnslb signs the zones whose `[[zone]]` names a key directory, pools
//! included, when they load and again before their signatures run out.
//!
//! A zone is signed whole at load (as Knot signs, and as BIND's `auto-dnssec maintain` did):
//! the records a signer makes ([`zone::MADE`]) are dropped from what the file or transfer gave,
//! the zone is built unsigned to know its names and cuts, signing adds DNSKEY, CDS/CDNSKEY,
//! NSEC3PARAM, the denial chain and an RRSIG for every authoritative RRset, and the zone is
//! built again from the lot: from there on it is a signed zone like one signed outside, served
//! by the same prepared answers and proofs. Every RRset a pool can answer is signed in the same
//! pass ([`pools`]), so no signature is made while a query waits.
//!
//! What changes with time is read from the keys' timings and the signatures' window: the next
//! moment one of them comes due is the zone's next event ([`Ours::next_event`]), at which
//! `reload::signing_timer` asks for a reload (the same swap as any reload, health carried
//! over).

pub mod keys;
pub mod pools;
pub mod rrsig;
pub mod zone;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;

use crate::Problem;
use crate::pool::Pool;
use crate::zone::pool_signatures::SigningStats;
use crate::zone::signed::{KeyLine, Ours};
use crate::zone::{PackedRecords, Zone};
use keys::{Key, State};
use rrsig::Window;

/// Why a zone is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Loaded or changed.
    Load,
    /// Due: the refresh of its signatures, or a key's timing.
    Refresh,
}

/// How a zone signed here proves absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    /// NSEC3 with RFC 9276's parameters (the default).
    Nsec3,
    /// NSEC.
    Nsec,
}

/// How one zone is signed, from its `[[zone]] dnssec` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Policy {
    /// The directory of the zone's key files.
    pub keys: PathBuf,
    /// NSEC3 or NSEC.
    pub denial: Denial,
    /// How long a signature is valid from its making (default 14 days).
    pub validity: Duration,
    /// How far back a signature's inception is put (an hour: clocks differ).
    pub inception_offset: Duration,
    /// A pool with more possible RRsets than this is signed on demand, not ahead.
    pub pool_limit: usize,
    /// The DS records the parent publishes, if the config gives them: (tag, algorithm, digest
    /// type, digest).
    pub ds: Vec<(u16, u8, u8, Vec<u8>)>,
}

impl Policy {
    /// The default validity (RFC 6781 §4.4.2's order of weeks, as Knot's 14 days).
    pub const VALIDITY: Duration = Duration::from_secs(14 * 86_400);
    /// The default pool limit.
    pub const POOL_LIMIT: usize = 4_096;
}

/// The keys' roles at one moment.
#[derive(Debug)]
pub struct KeySet<'k> {
    /// In the DNSKEY RRset.
    pub published: Vec<&'k Arc<Key>>,
    /// Sign every RRset but the DNSKEY, CDS and CDNSKEY ones.
    pub zsks: Vec<&'k Arc<Key>>,
    /// Sign the DNSKEY, CDS and CDNSKEY RRsets.
    pub ksks: Vec<&'k Arc<Key>>,
    /// Have their CDS and CDNSKEY published.
    pub syncing: Vec<&'k Arc<Key>>,
}

impl<'k> KeySet<'k> {
    /// The roles of `keys` at `now`. Per algorithm, active ZSKs sign the zone and active KSKs
    /// the key set; an algorithm with only one kind of active key has it sign both (a CSK), so
    /// every algorithm in the DNSKEY RRset signs every RRset (RFC 6840 §5.11).
    pub fn at(keys: &'k [Arc<Key>], now: u64) -> Result<Self, String> {
        let state = |k: &Key| k.state(now);
        let published: Vec<&Arc<Key>> = keys
            .iter()
            .filter(|k| matches!(state(k), State::Published | State::Active | State::Inactive))
            .collect();
        let active: Vec<&Arc<Key>> = keys.iter().filter(|k| state(k) == State::Active).collect();
        if active.is_empty() {
            return Err("no key is active now (see the keys' Activate and Inactive)".into());
        }
        let (mut zsks, mut ksks) = (Vec::new(), Vec::new());
        let mut algorithms: Vec<u8> = active.iter().map(|k| k.algorithm).collect();
        algorithms.sort_unstable();
        algorithms.dedup();
        for alg in algorithms {
            let of = |ksk: bool| {
                active
                    .iter()
                    .copied()
                    .filter(move |k| k.algorithm == alg && k.is_ksk() == ksk)
            };
            let (z, k): (Vec<&Arc<Key>>, Vec<&Arc<Key>>) =
                (of(false).collect(), of(true).collect());
            zsks.extend(if z.is_empty() { &k } else { &z });
            ksks.extend(if k.is_empty() { &z } else { &k });
        }
        let syncing = keys.iter().filter(|k| k.syncs(now)).collect();
        Ok(KeySet {
            published,
            zsks,
            ksks,
            syncing,
        })
    }
}

/// Signs the zone `origin` of `records` (from `file`) with the keys and policy `policy`, with
/// `pools` in it, at `now` (seconds since the epoch): the signed zone, or every problem.
pub fn sign(
    origin: &Name,
    file: &Path,
    records: &PackedRecords,
    pools: &[Arc<Pool>],
    (policy, now, cause): (&Policy, u64, Cause),
    stats: &Arc<SigningStats>,
) -> Result<Zone, Vec<Problem>> {
    let mut problems = Vec::new();
    let keys = keys::read_dir(&policy.keys, origin, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let set = KeySet::at(&keys, now).map_err(|e| vec![Problem::file(&policy.keys, e)])?;
    let mut ds_problems = ds_problems(origin, policy, &set);
    ds_problems.extend(dnskey_problem(origin, records, &set));
    let mut records = records.without(&zone::MADE);
    let unsigned = Zone::build(origin, file, &records, pools)?;
    let window = window(policy, now);
    let added = zone::additions(&unsigned, &set, policy.denial, window);
    let signed_pools = pools::sign(&unsigned, &set, (window, policy.pool_limit), stats);
    drop(unsigned);
    records.append(&added.records);
    drop(added.records);
    let mut zone = Zone::build_signed_here(origin, file, &records, pools)?;
    let made = added.signatures + signed_pools.signatures;
    let counter = match cause {
        Cause::Load => &stats.load,
        Cause::Refresh => &stats.refresh,
    };
    counter.fetch_add(made, std::sync::atomic::Ordering::Relaxed);
    let ours = Ours {
        ds_problems,
        keys: keys.iter().map(|k| key_line(k, now)).collect(),
        denial: policy.denial == Denial::Nsec3,
        signed_at: now,
        refresh_at: refresh_at(policy, window, origin),
        next_key_event: keys
            .iter()
            .filter_map(|k| k.timing.next_after(now))
            .map(|(_, t)| t)
            .min(),
        keys_dir: policy.keys.clone(),
        keys_fingerprint: keys_fingerprint(&policy.keys),
        policy: policy_hash(policy),
        signatures: made,
        pools: signed_pools.by_pool,
        pools_on_demand: signed_pools.on_demand,
    };
    zone.set_ours(ours);
    Ok(zone)
}

/// When the zone as given holds a DNSKEY RRset (a previous signer's) sharing no key with the
/// key directory: the parent's DS, made for those keys, would lead nowhere.
fn dnskey_problem(origin: &Name, records: &PackedRecords, set: &KeySet<'_>) -> Option<String> {
    let given: Vec<&[u8]> = (0..records.len())
        .filter_map(|i| records.parts(i))
        .filter(|(_, t, _)| *t == hickory_proto::rr::RecordType::DNSKEY)
        .map(|(_, _, rdata)| rdata)
        .collect();
    let shared = set
        .published
        .iter()
        .any(|k| given.contains(&k.dnskey.as_slice()));
    (!given.is_empty() && !shared).then(|| {
        format!(
            "zone {origin}: the zone file's DNSKEY RRset (a previous signer's) shares no key \
             with the key directory; dnslb replaces it, and the parent's DS for the old keys \
             would lead nowhere"
        )
    })
}

/// What is wrong with the parent's DS records `policy` gives, against the keys of `set` (none
/// given: nothing to say): a DS that matches no published key, and, worse, none that matches a
/// key signing the DNSKEY RRset (validators would answer SERVFAIL for the whole zone).
pub fn ds_problems(origin: &Name, policy: &Policy, set: &KeySet<'_>) -> Vec<String> {
    if policy.ds.is_empty() {
        return Vec::new();
    }
    let matches = |(tag, alg, digest_type, digest): &(u16, u8, u8, Vec<u8>), k: &Key| {
        *tag == k.tag
            && *alg == k.algorithm
            && k.ds_digest(origin, *digest_type).as_deref() == Some(digest)
    };
    let mut out = Vec::new();
    for ds in &policy.ds {
        if !set.published.iter().any(|k| matches(ds, k)) {
            out.push(format!(
                "zone {origin}: the parent's DS {} {} {} matches no published key",
                ds.0, ds.1, ds.2
            ));
        }
    }
    if !policy
        .ds
        .iter()
        .any(|ds| set.ksks.iter().any(|k| matches(ds, k)))
    {
        out.push(format!(
            "zone {origin}: no DS given for the parent matches a key that signs the DNSKEY \
             RRset: validating resolvers would answer SERVFAIL for the whole zone"
        ));
    }
    out
}

/// The window of signatures made at `now`.
fn window(policy: &Policy, now: u64) -> Window {
    let inception = now.saturating_sub(policy.inception_offset.as_secs());
    let expiration = now + policy.validity.as_secs();
    Window {
        inception: inception as u32,
        expiration: expiration as u32,
    }
}

/// When signatures of `window` are made again: before a quarter of their validity is left, a
/// little earlier by an amount that differs per zone (so that zones signed at once do not all
/// refresh at once), as Knot's and BIND's jitter.
fn refresh_at(policy: &Policy, window: Window, origin: &Name) -> u64 {
    let validity = policy.validity.as_secs();
    let jitter_span = (validity / 20).max(1);
    let mut hasher = rustc_hash::FxHasher::default();
    std::hash::Hash::hash(&origin.to_ascii(), &mut hasher);
    let jitter = std::hash::Hasher::finish(&hasher) % jitter_span;
    u64::from(window.expiration).saturating_sub(validity / 4 + jitter)
}

/// What `/status` and `check` say of a key at `now`.
fn key_line(k: &Key, now: u64) -> KeyLine {
    KeyLine {
        tag: k.tag,
        algorithm: k.algorithm,
        ksk: k.is_ksk(),
        state: k.state(now).as_str(),
        next: k.timing.next_after(now),
        file: k.file.clone(),
    }
}

/// The key directory's files with their sizes and times: a reload signs again when it changed.
pub fn keys_fingerprint(dir: &Path) -> u64 {
    let mut entries: Vec<(PathBuf, u64, Option<std::time::SystemTime>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.len(), m.modified().ok()))
        })
        .collect();
    entries.sort();
    let mut hasher = rustc_hash::FxHasher::default();
    std::hash::Hash::hash(&entries, &mut hasher);
    std::hash::Hasher::finish(&hasher)
}

/// A hash of `policy`: a zone signed with another is signed again.
pub fn policy_hash(policy: &Policy) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    std::hash::Hash::hash(policy, &mut hasher);
    std::hash::Hasher::finish(&hasher)
}

/// Whether the zone signed here (`ours`) must be signed again at `now`: a key's timing or the
/// refresh has come, or the key files changed.
pub fn due(ours: &Ours, now: u64) -> bool {
    now >= ours.next_event() || keys_fingerprint(&ours.keys_dir) != ours.keys_fingerprint
}

/// The DS records (presentation form) of the zone's KSKs (or its keys, if none is a KSK) that
/// are published at `now`, for `dnslb dnssec ds`.
pub fn ds_lines(origin: &Name, policy: &Policy, now: u64) -> Result<Vec<String>, Vec<Problem>> {
    let mut problems = Vec::new();
    let keys = keys::read_dir(&policy.keys, origin, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let set = KeySet::at(&keys, now).map_err(|e| vec![Problem::file(&policy.keys, e)])?;
    let ksks: Vec<&Arc<Key>> = if set.published.iter().any(|k| k.is_ksk()) {
        set.published
            .iter()
            .copied()
            .filter(|k| k.is_ksk())
            .collect()
    } else {
        set.published.clone()
    };
    Ok(ksks
        .iter()
        .map(|k| {
            let ds = k.ds(origin);
            format!(
                "{} IN DS {} {} 2 {}",
                origin,
                k.tag,
                k.algorithm,
                hex::encode_upper(&ds[4..])
            )
        })
        .collect())
}
