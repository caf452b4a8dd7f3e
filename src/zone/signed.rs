//! What a signed zone holds beyond its names' RRsets (RFC 4033–4035, RFC 5155): the order in
//! which NSEC owners prove names absent, or the NSEC3 chain (kept apart from the names: its
//! owners are hashes, which must not make names exist), and the zone's signing summary for
//! `check`, `/status` and `/metrics`.
//!
//! A zone is signed when its apex holds a DNSKEY RRset and its SOA is signed, as NSD and Knot
//! decide it. dnslb does not sign and does not validate: the signer's records are served as
//! written, and only found here.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::rr::{Name, Record, RecordType};

use hickory_proto::serialize::binary::BinEncodable;
use rustc_hash::FxHashMap;

use super::names::{MAX_WIRE, lower, to_name};
use super::packed::{PackedRecords, uncompressed};
use super::store::Store;
use super::{Node, OwnedRRset, RRset, SourcedRecord};
use crate::Problem;

/// A signed zone's denial of existence and summary.
#[derive(Debug)]
pub struct Signed {
    /// The DNSKEY algorithms (RFC 8624 numbers), in key order, each once.
    pub algorithms: Vec<u8>,
    /// The earliest expiration of any signature, as written (RFC 4034 §3.1.5 serial time).
    pub expiry: Option<u32>,
    /// How absence is proved.
    pub denial: Denial,
    /// NSEC3 RRsets of no chain that proves (other parameters), kept for transfers out.
    aside: Vec<OwnedRRset>,
    /// Set when dnslb signed the zone itself ([`crate::dnssec`]).
    pub ours: Option<Box<Ours>>,
}

/// What dnslb's own signing of a zone made and knows ([`crate::dnssec::sign`]).
#[derive(Debug)]
pub struct Ours {
    /// Every key of the zone's directory, as it stood at the signing.
    pub keys: Vec<KeyLine>,
    /// NSEC3 (true) or NSEC.
    pub denial: bool,
    /// When the zone was signed (seconds since the epoch).
    pub signed_at: u64,
    /// When its signatures are to be made again.
    pub refresh_at: u64,
    /// The next moment a key's timing comes due, if any.
    pub next_key_event: Option<u64>,
    /// The key directory.
    pub keys_dir: std::path::PathBuf,
    /// The key directory as it was read ([`crate::dnssec::keys_fingerprint`]).
    pub keys_fingerprint: u64,
    /// The signing policy's hash ([`crate::dnssec::policy_hash`]).
    pub policy: u64,
    /// Signatures made for this zone (records and pools).
    pub signatures: u64,
    /// Each pool's signed RRsets, by pool id.
    pub pools: FxHashMap<u64, Arc<super::pool_signatures::PoolSignatures>>,
    /// Pools too large to sign every RRset of ahead.
    pub pools_on_demand: usize,
    /// What is wrong with the parent's DS records the config gives, against the keys.
    pub ds_problems: Vec<String>,
}

impl Ours {
    /// `check`'s and the log's lines about the signing: each key, and what comes next.
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let next = match k.next {
                    Some((what, when)) => {
                        format!("; {what} at {}", crate::dnssec::keys::format_time(when))
                    }
                    None => String::new(),
                };
                format!(
                    "key {} {} {} {}{next}",
                    k.tag,
                    algorithm_name(k.algorithm),
                    if k.ksk { "KSK" } else { "ZSK" },
                    k.state
                )
            })
            .collect();
        out.push(format!(
            "signed here: {} signatures; next refresh at {}{}{}",
            self.signatures,
            crate::dnssec::keys::format_time(self.refresh_at),
            match self.next_key_event {
                Some(t) => format!(
                    "; next key event at {}",
                    crate::dnssec::keys::format_time(t)
                ),
                None => String::new(),
            },
            match self.pools_on_demand {
                0 => String::new(),
                n => format!("; {n} pools beyond the pool limit (larger draws answered smaller)"),
            }
        ));
        out
    }

    /// The next moment the zone must be signed again.
    pub fn next_event(&self) -> u64 {
        self.next_key_event
            .map_or(self.refresh_at, |k| k.min(self.refresh_at))
    }
}

/// One key as `/status` and `check` show it.
#[derive(Debug, Clone)]
pub struct KeyLine {
    /// Key tag.
    pub tag: u16,
    /// Algorithm number.
    pub algorithm: u8,
    /// A KSK (SEP flag).
    pub ksk: bool,
    /// `created`, `published`, `active`, `retired` or `removed`.
    pub state: &'static str,
    /// Its next timing after the signing, with the timing's name.
    pub next: Option<(&'static str, u64)>,
    /// The private key's file.
    pub file: std::path::PathBuf,
}

/// How a signed zone proves that names and types are absent.
#[derive(Debug)]
pub enum Denial {
    /// By NSEC (RFC 4034 §4): the owners of every NSEC, in canonical order (RFC 4034 §6.1).
    Nsec(Box<[Name]>),
    /// By NSEC3 (RFC 5155).
    Nsec3(Nsec3Chain),
    /// Neither: signed, but negative answers carry no proof (validators answer them bogus).
    Missing,
}

/// An NSEC3 chain: its parameters and its links in hash order, each link's owner, NSEC3 RRset
/// and RRSIGs back to back in one arena (a link costs its octets and 32 more: four boxes a link
/// cost 90 more, 18 MB on a 200,000-name zone).
#[derive(Debug)]
pub struct Nsec3Chain {
    /// The hash's salt.
    pub salt: Box<[u8]>,
    /// Additional iterations of the hash.
    pub iterations: u16,
    /// Some link has the opt-out flag.
    pub opt_out: bool,
    /// Each link's owner hash (SHA-1), in order.
    hashes: Box<[[u8; 20]]>,
    /// Where each link's parts stand in `data`.
    spans: Box<[LinkSpan]>,
    /// Every link's owner (wire form), then its RRset's octets (class and TTL, then RDLENGTH
    /// and RDATA per record), then its RRSIGs' (alike).
    data: Box<[u8]>,
}

/// Where one link's parts stand in its chain's arena: from `at`, its owner, its RRset, its
/// RRSIGs, of these lengths.
#[derive(Debug, Clone, Copy)]
struct LinkSpan {
    at: u32,
    owner: u16,
    set: u16,
    sigs: u16,
}

/// One NSEC3 RRset (and its signatures), by the hash its owner's first label spells.
#[derive(Debug, Clone, Copy)]
pub struct Nsec3Link<'c> {
    chain: &'c Nsec3Chain,
    i: usize,
}

impl<'c> Nsec3Link<'c> {
    /// The NSEC3 RRset with its RRSIGs.
    pub fn set(self) -> RRset<'c> {
        let s = self.chain.spans[self.i];
        let at = s.at as usize;
        let (owner, rest) = self.chain.data[at..].split_at(usize::from(s.owner));
        let (set, rest) = rest.split_at(usize::from(s.set));
        let sigs = (s.sigs > 0).then(|| &rest[..usize::from(s.sigs)]);
        RRset::from_parts(RecordType::NSEC3, owner, set, sigs)
    }

    /// The owner's hash.
    pub fn hash(self) -> &'c [u8] {
        &self.chain.hashes[self.i]
    }
}

impl Nsec3Chain {
    /// The hash of `name` with this chain's parameters (RFC 5155 §5).
    pub fn hash(&self, name: &Name) -> Option<Vec<u8>> {
        let digest = Nsec3HashAlgorithm::SHA1
            .hash(&self.salt, name, self.iterations)
            .ok()?;
        Some(digest.as_ref().to_vec())
    }

    /// The link whose owner is `hash`.
    pub fn matching(&self, hash: &[u8]) -> Option<Nsec3Link<'_>> {
        self.link(self.matching_index(hash)?)
    }

    /// The link that covers `hash` (owner < hash < next, around the ring): the last owner
    /// before it, or the last of all for a hash before the first.
    pub fn covering(&self, hash: &[u8]) -> Option<Nsec3Link<'_>> {
        self.link(self.covering_index(hash)?)
    }

    /// The index of the link whose owner is `hash`.
    pub fn matching_index(&self, hash: &[u8]) -> Option<u32> {
        let i = self
            .hashes
            .binary_search_by(|h| h.as_slice().cmp(hash))
            .ok()?;
        u32::try_from(i).ok()
    }

    /// The index of the link that covers `hash` ([`Nsec3Chain::covering`]).
    pub fn covering_index(&self, hash: &[u8]) -> Option<u32> {
        let after = self.hashes.partition_point(|h| h.as_slice() < hash);
        let i = after
            .checked_sub(1)
            .unwrap_or(self.hashes.len().checked_sub(1)?);
        u32::try_from(i).ok()
    }

    /// Link `i`.
    pub fn link(&self, i: u32) -> Option<Nsec3Link<'_>> {
        let i = usize::try_from(i).ok().filter(|&i| i < self.hashes.len())?;
        Some(Nsec3Link { chain: self, i })
    }

    /// How many links the chain has.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Every link, in hash order.
    fn links(&self) -> impl Iterator<Item = Nsec3Link<'_>> {
        (0..self.hashes.len()).map(|i| Nsec3Link { chain: self, i })
    }
}

impl Denial {
    /// The owner of the NSEC that covers or matches `name`: the last owner at or before it in
    /// canonical order (the apex is first, so a name inside the zone always has one).
    pub fn nsec_owner(owners: &[Name], name: &Name) -> Option<Name> {
        let after = owners.partition_point(|o| o <= name);
        let i = after.checked_sub(1).unwrap_or(owners.len().checked_sub(1)?);
        owners.get(i).cloned()
    }

    /// One line for `check` and the log: "NSEC" or "NSEC3 (iterations 0, salt -, opt-out)".
    pub fn describe(&self) -> String {
        match self {
            Denial::Nsec(_) => "NSEC".into(),
            Denial::Nsec3(c) => format!(
                "NSEC3 (iterations {}, salt {}{})",
                c.iterations,
                if c.salt.is_empty() {
                    "-".to_string()
                } else {
                    hex::encode(&c.salt)
                },
                if c.opt_out { ", opt-out" } else { "" }
            ),
            Denial::Missing => "no NSEC or NSEC3".into(),
        }
    }
}

impl Signed {
    /// Appends the NSEC3 records and their RRSIGs to `out`, as from `file`.
    pub(super) fn push_to(&self, out: &mut PackedRecords, file: &Arc<Path>) {
        if let Denial::Nsec3(c) = &self.denial {
            for link in c.links() {
                link.set().push_to(out, file);
            }
        }
        for set in &self.aside {
            set.view().push_to(out, file);
        }
    }

    /// Seconds from `now` until the earliest signature expires (negative: expired).
    pub fn expires_in(&self, now: SystemTime) -> Option<i64> {
        let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
        // Serial arithmetic (RFC 1982) around now: the expiry nearest to it.
        let delta = self.expiry?.wrapping_sub(now as u32) as i32;
        Some(i64::from(delta))
    }

    /// `check`'s line about the zone's signing: algorithms, denial, earliest expiry.
    pub fn summary(&self, now: SystemTime) -> String {
        let algorithms: Vec<String> = self.algorithms.iter().map(|a| algorithm_name(*a)).collect();
        let expiry = match self.expires_in(now) {
            Some(s) if s < 0 => format!("signatures EXPIRED {} ago", human(-s)),
            Some(s) => format!("earliest signature expiry in {}", human(s)),
            None => "no signatures".into(),
        };
        format!(
            "signed: {}; {}; {expiry}",
            algorithms.join(", "),
            self.denial.describe()
        )
    }
}

/// A duration in days, hours or seconds, as an operator reads it.
fn human(secs: i64) -> String {
    match secs {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 3_600 => format!("{} hours", s / 3_600),
        s => format!("{s} s"),
    }
}

/// A DNSSEC algorithm's mnemonic (RFC 8624), or its number.
fn algorithm_name(a: u8) -> String {
    match a {
        5 => "RSASHA1".into(),
        7 => "RSASHA1-NSEC3-SHA1".into(),
        8 => "RSASHA256".into(),
        10 => "RSASHA512".into(),
        13 => "ECDSAP256SHA256".into(),
        14 => "ECDSAP384SHA384".into(),
        15 => "ED25519".into(),
        16 => "ED448".into(),
        other => format!("algorithm {other}"),
    }
}

/// A record's RDATA in wire form, names uncompressed.
pub(super) fn rdata_wire(record: &Record) -> Vec<u8> {
    let mut buf = Vec::new();
    uncompressed(&mut buf, |e| record.data.emit(e)).map_or_else(Vec::new, <[u8]>::to_vec)
}

/// The type an RRSIG covers, read from its RDATA in wire form.
pub(super) fn covered_wire(rtype: RecordType, rdata: &[u8]) -> Option<RecordType> {
    match (rtype, rdata) {
        (RecordType::RRSIG, [a, b, ..]) => Some(RecordType::from(u16::from_be_bytes([*a, *b]))),
        _ => None,
    }
}

/// An RRSIG's expiration (RDATA octets 8..12).
pub(super) fn expiration(rdata: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(rdata.get(8..12)?.try_into().ok()?))
}

/// An NSEC3 or NSEC3PARAM's parameters (hash algorithm, flags, iterations, salt).
pub(super) fn nsec3_params(rdata: &[u8]) -> Option<(u8, u8, u16, &[u8])> {
    let (&alg, rest) = rdata.split_first()?;
    let (&flags, rest) = rest.split_first()?;
    let iterations = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]);
    let salt_len = usize::from(*rest.get(2)?);
    let salt = rest.get(3..3 + salt_len)?;
    Some((alg, flags, iterations, salt))
}

/// The hash an NSEC3 owner's first label spells in base32hex (RFC 4648 §7), any case.
pub(super) fn owner_hash(owner: &Name) -> Option<Box<[u8]>> {
    let label = owner.iter().next()?.to_ascii_uppercase();
    data_encoding::BASE32HEX_NOPAD
        .decode(&label)
        .ok()
        .map(Vec::into_boxed_slice)
}

/// Builds the chain from the zone's NSEC3 RRsets (each with its signatures), keeping only the
/// links whose parameters are `params` (the NSEC3PARAM's, or the first link's); `None` when no
/// link does. The links of other parameters go to `aside`.
pub(super) fn nsec3_chain(
    links: Vec<(Box<[u8]>, OwnedRRset, Vec<u8>)>,
    params: Option<(u16, Vec<u8>)>,
    aside: &mut Vec<OwnedRRset>,
) -> Option<Nsec3Chain> {
    let first = links.first().and_then(|(_, _, rdata)| nsec3_params(rdata));
    let (iterations, salt) = match (params, first) {
        (Some(p), _) => p,
        (None, Some((_, _, i, s))) => (i, s.to_vec()),
        (None, None) => {
            aside.extend(links.into_iter().map(|(_, set, _)| set));
            return None;
        }
    };
    let mut opt_out = false;
    let mut kept: Vec<([u8; 20], OwnedRRset)> = Vec::with_capacity(links.len());
    for (hash, set, rdata) in links {
        let sha1: Option<[u8; 20]> = hash.as_ref().try_into().ok();
        match (nsec3_params(&rdata), sha1) {
            (Some((1, flags, i, s)), Some(h)) if i == iterations && s == salt.as_slice() => {
                opt_out |= flags & 1 != 0;
                kept.push((h, set));
            }
            _ => aside.push(set),
        }
    }
    if kept.is_empty() {
        return None;
    }
    kept.sort_by_key(|k| k.0);
    let mut data = Vec::new();
    let mut spans = Vec::with_capacity(kept.len());
    for (_, set) in &kept {
        let view = set.view();
        let (owner, octets) = (view.owner(), view.octets());
        let sigs = view.signatures().map_or(&[][..], RRset::octets);
        let len = |part: &[u8]| u16::try_from(part.len()).ok();
        spans.push(LinkSpan {
            at: u32::try_from(data.len()).ok()?,
            owner: len(owner)?,
            set: len(octets)?,
            sigs: len(sigs)?,
        });
        data.extend_from_slice(owner);
        data.extend_from_slice(octets);
        data.extend_from_slice(sigs);
    }
    Some(Nsec3Chain {
        salt: salt.into_boxed_slice(),
        iterations,
        opt_out,
        hashes: kept.iter().map(|(h, _)| *h).collect(),
        spans: spans.into_boxed_slice(),
        data: data.into_boxed_slice(),
    })
}

/// Whether the zone at `origin` is signed: a DNSKEY RRset at its apex, and its SOA signed.
pub(super) fn is_signed(apex: Option<Node<'_>>) -> bool {
    apex.is_some_and(|apex| {
        apex.rrset(RecordType::DNSKEY).is_some()
            && apex
                .rrset(RecordType::SOA)
                .and_then(RRset::signatures)
                .is_some()
    })
}

/// What the signed zone at `origin` holds beyond its names: its algorithms, its earliest
/// signature expiry, and its NSEC order or NSEC3 chain (made of `nsec3`, the zone's NSEC3
/// records and their RRSIGs).
pub(super) fn find(
    origin: &Name,
    nodes: &Store,
    nsec3: &[SourcedRecord],
    errors: &mut Vec<Problem>,
) -> Signed {
    let mut buf = [0; MAX_WIRE];
    let apex = nodes.get(lower(origin, &mut buf));
    let mut algorithms = Vec::new();
    let keys = apex.and_then(|a| a.rrset(RecordType::DNSKEY));
    for key in keys.into_iter().flat_map(RRset::rdatas) {
        if let Some(&a) = key.get(3)
            && !algorithms.contains(&a)
        {
            algorithms.push(a);
        }
    }
    let mut earliest = Earliest::now();
    let mut aside = Vec::new();
    for (_, node) in nodes.iter() {
        for set in node.rrsets() {
            earliest.consider(set);
        }
    }
    let denial = if !nsec3.is_empty() {
        let links = nsec3_links(nsec3, errors);
        for (_, set, _) in &links {
            earliest.consider(set.view());
        }
        let params = apex
            .and_then(|a| a.rrset(RecordType::NSEC3PARAM))
            .and_then(|p| p.rdatas().find_map(nsec3_params))
            .map(|(_, _, iterations, salt)| (iterations, salt.to_vec()));
        nsec3_chain(links, params, &mut aside).map_or(Denial::Missing, Denial::Nsec3)
    } else if apex.is_some_and(|a| a.rrset(RecordType::NSEC).is_some()) {
        let mut owners: Vec<Name> = nodes
            .iter()
            .filter(|(_, n)| n.rrset(RecordType::NSEC).is_some())
            .map(|(name, _)| to_name(name))
            .collect();
        owners.sort_unstable();
        Denial::Nsec(owners.into_boxed_slice())
    } else {
        Denial::Missing
    };
    Signed {
        algorithms,
        expiry: earliest.expiry,
        denial,
        aside,
        ours: None,
    }
}

/// The earliest signature expiration seen, by serial arithmetic around now (RFC 4034 §3.1.5).
struct Earliest {
    now: u32,
    expiry: Option<u32>,
}

impl Earliest {
    fn now() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            now: now as u32,
            expiry: None,
        }
    }

    /// Considers the signatures of `set` (or `set` itself when it is an RRSIG RRset).
    fn consider(&mut self, set: RRset<'_>) {
        let sigs = match set.rtype {
            RecordType::RRSIG => Some(set),
            _ => set.signatures(),
        };
        for rdata in sigs.into_iter().flat_map(RRset::rdatas) {
            let Some(e) = expiration(rdata) else { continue };
            let sooner = self.expiry.is_none_or(|x| {
                (e.wrapping_sub(self.now) as i32) < (x.wrapping_sub(self.now) as i32)
            });
            if sooner {
                self.expiry = Some(e);
            }
        }
    }
}

/// The NSEC3 RRsets of `records` (NSEC3 and the RRSIGs covering them), by owner: each link's
/// hash, its RRset with signatures, and its first record's RDATA.
fn nsec3_links(
    records: &[SourcedRecord],
    errors: &mut Vec<Problem>,
) -> Vec<(Box<[u8]>, OwnedRRset, Vec<u8>)> {
    let mut by_owner: FxHashMap<Name, (Vec<Record>, Vec<Record>)> = FxHashMap::default();
    let mut order = Vec::new();
    for r in records {
        let owner = r.record.name.to_lowercase();
        let entry = by_owner.entry(owner.clone()).or_insert_with(|| {
            order.push((owner, r));
            Default::default()
        });
        match r.record.record_type() {
            RecordType::RRSIG => entry.1.push(r.record.clone()),
            _ if !entry.0.iter().any(|x| x.data == r.record.data) => entry.0.push(r.record.clone()),
            _ => {}
        }
    }
    let mut links = Vec::with_capacity(order.len());
    for (owner, first) in order {
        let (records, sigs) = &by_owner[&owner];
        let Some(hash) = owner_hash(&owner) else {
            errors.push(first.problem(format!(
                "NSEC3 owner {owner}: its first label is not a base32hex hash (RFC 5155 §3)"
            )));
            continue;
        };
        let Some(set) = OwnedRRset::pack(RecordType::NSEC3, records, sigs) else {
            continue; // only signatures: nothing to prove with
        };
        let rdata = rdata_wire(&records[0]);
        links.push((hash, set, rdata));
    }
    links
}
