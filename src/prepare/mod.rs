//! Answers prepared when a snapshot is built, as NSD precompiles them: the UDP fast path
//! ([`crate::dns`]) answers a query by finding the lower-cased question name here and copying
//! bytes, without decoding the message or encoding a record.
//!
//! Every prepared body is made by the general path itself: [`resolve`] gives the sections and
//! hickory-proto's encoder writes them exactly as the general path's response would hold them
//! (same compression, same order), so a prepared response equals the general one byte for byte
//! (a property test checks it). The one exception is the commonest answer of a large zone, an
//! A or AAAA RRset at its own name: its records after a pointer to the question, made from the
//! RRset's stored octets ([`crate::zone::RRset::answer_at_question`]), or for a plain name
//! ([`Plain`]: one record per RRset) written by the fast path from those octets as it answers,
//! which the same tests compare with the general path's. What a body cannot hold ahead (a
//! pool's draw, a wildcard, a CNAME chain into a pool, DNAME substitution) is either a
//! [`PoolBody`], whose members' records are encoded ahead and appended after the draw, or left
//! to the general path.
//!
//! A body is the response after the question: answer, authority and additional records. Two
//! things in it depend on the question name:
//! - its length, which moves every compression pointer: bodies used for more than one name
//!   (negative answers and referrals) keep the places of their pointers (`relocs`), which the
//!   fast path moves by the difference in length;
//! - its case (0x20): an answer owned by the question name starts with the name as the client
//!   wrote it. A body whose other names share no suffix with the question name is
//!   `case_free`: the client's spelling is copied over the owner. Others are used only for a
//!   question spelled as it was prepared (lower case).

mod denial;

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use std::hash::Hasher;

use hashbrown::HashTable;
use rustc_hash::FxHasher;
use smallvec::SmallVec;

use crate::answer::{Answer, Question, resolve_undrawn};
use crate::pool::Pool;
use crate::served::Served;
use crate::zone::pool_signatures::PoolSignatures;
use crate::zone::{Node, RRset, Zone};
pub use denial::{Nsec3Nx, Nsec3Ref};

/// A type the zone never holds, asked to learn a node's answer for types it lacks.
const ABSENT_TYPE: RecordType = RecordType::Unknown(65_280);

/// What the fast path finds for a question.
#[derive(Debug, Clone, Copy)]
pub enum Found<'p> {
    /// A prepared body.
    Body(BodyRef<'p>),
    /// A pool: draw, then append the members' records.
    Pool(&'p PoolBody),
    /// A plain name's address RRset (one record), answered from the zone's stored octets: the
    /// record a pointer to the question, then type, class, TTL, RDLENGTH and RDATA.
    Address(AddressRef<'p>),
    /// An NXDOMAIN or a NODATA with DO in an NSEC3 zone: the SOA body, then the proofs written
    /// per question ([`denial`]).
    /// (A reference, so that `Found` stays small: [`Prepared::nsec3`] gives the parts.)
    Nsec3(Nsec3Ref),
}

/// An RRset of a plain name as the fast path answers it: its type code and its stored octets
/// (class and TTL, then its one record's RDLENGTH and RDATA: [`RRset::octets`]).
#[derive(Debug, Clone, Copy)]
pub struct AddressRef<'p> {
    /// The type code.
    pub rtype: u16,
    /// Class and TTL, then the record.
    pub octets: &'p [u8],
}

/// The prepared answers of one snapshot. Names, bodies and everything variable in length sit
/// back to back in one arena, found through small fixed records. A name of one address record
/// per RRset (most of a large zone) has no body: an 8-octet [`Plain`] points at the zone's node,
/// whose RRsets the fast path reads in place (about 57 octets a name with its key and slot).
#[derive(Debug, Default)]
pub struct Prepared {
    /// Indexes into `keys`, by the hash of the lower-cased wire name.
    table: HashTable<u32>,
    /// Each name: its place in the arena, and what it is.
    keys: Vec<Key>,
    /// What is prepared at each name that is not plain.
    names: Vec<Entries>,
    plains: Vec<Plain>,
    /// The zones `plains` point into.
    plain_zones: Vec<PlainZone>,
    bodies: Vec<Body>,
    pools: Vec<PoolBody>,
    /// The answers of wildcards (`types` and `other`), for names they synthesise.
    wildcards: Vec<Entries>,
    /// Every name, body, relocation list and authority owner.
    arena: Vec<u8>,
    /// Prepared for questions with DO, from signed zones only: with RRSIGs, and no body shared
    /// between names (each proof of absence names its own NSEC or NSEC3).
    dnssec: bool,
    /// The NSEC3 zones whose NXDOMAIN answers with DO are prepared, and each closest encloser's
    /// part of the proof ([`denial`]).
    nsec3_zones: Vec<denial::Nsec3Zone>,
    nsec3_proofs: Vec<denial::Nsec3Proof>,
    /// With DO: the NSEC3 zone of each wildcard's entries (`wildcards`), whose chain proves the
    /// name asked absent.
    wildcard_zones: Vec<u32>,
}

/// A name of the table: where it stands in the arena (lower-cased wire form, with its root
/// label), and what it is: an index into `names`, or into `plains` with [`PLAIN`] set (one
/// record, so that the probe's comparison and what follows read one place).
#[derive(Debug, Clone, Copy)]
struct Key {
    at: u32,
    len: u32,
    slot: u32,
}

/// A slot of `plains`, not `names`.
const PLAIN: u32 = 1 << 31;

/// A name of address RRsets of one record each, in a zone without DNSSEC or zones of ours below
/// it: node `node` of `plain_zones[zone]`. Its answers are its RRsets, that zone's NODATA for other
/// types, and its NXDOMAIN below it.
#[derive(Debug, Clone, Copy)]
struct Plain {
    zone: u32,
    node: u32,
}

/// A zone that [`Plain`] names point into, and its shared negative answers.
#[derive(Debug)]
struct PlainZone {
    zone: Arc<Zone>,
    nodata: Slot,
    nxdomain: Slot,
}

/// The names the table's indexes point at, borrowed apart from the table.
#[derive(Clone, Copy)]
struct Keys<'p> {
    keys: &'p [Key],
    arena: &'p [u8],
}

impl Keys<'_> {
    /// The hash of table index `i`'s name, for the table when it grows or shrinks.
    fn rehash(self, i: u32) -> u64 {
        let k = self.keys[i as usize];
        hash(&self.arena[k.at as usize..(k.at + k.len) as usize])
    }
}

fn hash(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    h.finish()
}

/// What is prepared at one name.
#[derive(Debug, Default)]
struct Entries {
    /// The types answered differently from `other`.
    types: SmallVec<[(u16, Slot); 2]>,
    /// Any other ordinary type (never ANY or a meta type); `None` where the answer depends on the
    /// type (a CNAME, which is chased).
    other: Slot,
    /// A name below this one that does not exist: the zone's NXDOMAIN, or this cut's referral;
    /// `None` below a wildcard or a DNAME.
    below: Slot,
}

impl Entries {
    /// The entry for a question of `qtype`, if one is prepared.
    fn answer(&self, qtype: u16) -> Option<Entry> {
        self.types
            .iter()
            .find(|(t, _)| *t == qtype)
            .map(|(_, e)| *e)
            .or_else(|| ordinary(qtype).then_some(self.other))
            .map(Entry::from)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Entry {
    #[default]
    None,
    Body(u32),
    Pool(u32),
    /// Below a closest encloser with a wildcard child: the wildcard's entries.
    Wildcard(u32),
    /// Below a closest encloser of an NSEC3 zone, with DO: its NXDOMAIN proof.
    Denial(u32),
    /// A type a name of an NSEC3 zone lacks, with DO: NODATA with the name's own NSEC3.
    NoData(u32),
}

/// An [`Entry`] in four octets, as the tables keep it: the kind in the top three bits, the
/// index below (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot(u32);

impl From<Entry> for Slot {
    fn from(e: Entry) -> Self {
        let (kind, i) = match e {
            Entry::None => return Slot(0),
            Entry::Body(i) => (1, i),
            Entry::Pool(i) => (2, i),
            Entry::Wildcard(i) => (3, i),
            Entry::Denial(i) => (4, i),
            Entry::NoData(i) => (5, i),
        };
        assert!(i < 1 << 29, "fewer than 2^29 prepared parts");
        Slot(kind << 29 | i)
    }
}

impl From<Slot> for Entry {
    fn from(s: Slot) -> Self {
        let i = s.0 & ((1 << 29) - 1);
        match s.0 >> 29 {
            1 => Entry::Body(i),
            2 => Entry::Pool(i),
            3 => Entry::Wildcard(i),
            4 => Entry::Denial(i),
            5 => Entry::NoData(i),
            _ => Entry::None,
        }
    }
}

/// One prepared response body, as the builder makes it (owned parts); stored packed as a
/// [`Body`] in the arena.
#[derive(Debug, Clone)]
struct Draft {
    /// The records after the question, as the general path encodes them.
    bytes: Box<[u8]>,
    /// Where compression pointers stand in `bytes` (they move with the question's length).
    relocs: Box<[u8]>,
    /// The question length (name, type, class) that `bytes` was encoded after.
    question_len: u16,
    /// AA.
    authoritative: bool,
    /// The response code.
    rcode: u8,
    /// Answer, authority and additional counts.
    counts: [u16; 3],
    /// The body serves any spelling of the name: no name in it but the answers' owners (which
    /// are the question name as the client wrote it, a pointer to the question) is the
    /// question name or below it, so none was compressed against the client's spelling.
    case_free: bool,
    /// The owner of the first authority record, lower-cased wire form (the name response rate
    /// limiting counts a referral or an NXDOMAIN under).
    authority_owner: Option<Box<[u8]>>,
}

/// A part of the arena: where it starts, how long it is.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    at: u32,
    len: u32,
}

/// One prepared body as stored: its parts in the arena.
#[derive(Debug, Clone, Copy)]
struct Body {
    /// Where its parts start in the arena: the records, then the relocations, then the
    /// authority owner, back to back.
    at: u32,
    bytes_len: u16,
    relocs_len: u8,
    /// 0: none.
    owner_len: u8,
    question_len: u16,
    counts: [u16; 3],
    rcode: u8,
    /// `FLAG_*`.
    flags: u8,
}

const FLAG_AUTHORITATIVE: u8 = 1;
const FLAG_CASE_FREE: u8 = 2;

/// A prepared body, as the fast path reads it.
#[derive(Debug, Clone, Copy)]
pub struct BodyRef<'p> {
    /// The records after the question, as the general path encodes them.
    pub bytes: &'p [u8],
    /// Where compression pointers stand in `bytes` (they move with the question's length):
    /// big-endian 16-bit offsets.
    pub relocs: &'p [u8],
    /// The question length (name, type, class) that `bytes` was encoded after.
    pub question_len: u16,
    /// AA.
    pub authoritative: bool,
    /// The response code.
    pub rcode: u8,
    /// Answer, authority and additional counts.
    pub counts: [u16; 3],
    /// The body serves any spelling of the question name.
    pub case_free: bool,
    /// The owner of the first authority record, lower-cased wire form (the name response rate
    /// limiting counts a referral or an NXDOMAIN under).
    pub authority_owner: Option<&'p [u8]>,
}

/// A pool prepared for the fast path: each member's record after its owner, encoded.
#[derive(Debug)]
pub struct PoolBody {
    /// The pool (its members' health cells and its policy).
    pub pool: Arc<Pool>,
    /// Per member: type, class, TTL, RDLENGTH and RDATA.
    pub records: Box<[Box<[u8]>]>,
    /// The zone's NODATA (an index for [`Prepared::body`]), for a draw that gives no member
    /// (`all_down = "empty"`); [`NO_BODY`] with DO (the general path proves it).
    pub nodata: u32,
    /// The longest of `records`.
    pub longest: usize,
    /// With DO in a zone dnslb signs: the RRSIGs of every set the pool can answer.
    pub signatures: Option<Arc<PoolSignatures>>,
}

/// No prepared body.
pub const NO_BODY: u32 = u32::MAX;

impl PoolBody {
    /// Octets of the largest answer section a draw can give (each owner a pointer to the
    /// question), its RRSIGs included.
    pub fn most_octets(&self) -> usize {
        (2 + self.longest) * self.pool.answers + self.signatures.as_ref().map_or(0, |s| s.longest)
    }
}

impl Prepared {
    /// Prepares every answer of `served` that does not depend on the client, for questions
    /// without DO.
    pub fn build(served: &Served) -> Self {
        Self::build_for(served, false)
    }

    /// Prepares the answers of the signed zones of `served` to questions with DO: RRSIGs with
    /// every RRset, each name's own proof of absence; an NXDOMAIN or a wildcard's answer (whose
    /// proof depends on the name asked) is left to the general path.
    pub fn build_signed(served: &Served) -> Self {
        Self::build_for(served, true)
    }

    fn build_for(served: &Served, dnssec: bool) -> Self {
        let mut out = Prepared {
            dnssec,
            ..Prepared::default()
        };
        // Room for every name at once: a large zone's table is not rehashed as it grows.
        let names: usize = served
            .zones()
            .iter()
            .filter(|z| !dnssec || z.dnssec.is_some())
            .map(|z| z.node_count())
            .sum();
        let (table, keys) = out.parts();
        table.reserve(names, |&i| keys.rehash(i));
        out.keys.reserve(names);
        for zone in served.zones() {
            if !dnssec || zone.dnssec.is_some() {
                out.add_zone(served, zone);
            }
        }
        if dnssec {
            out.guard_unsigned_children(served);
        }
        out.keys.shrink_to_fit();
        out.names.shrink_to_fit();
        out.plains.shrink_to_fit();
        out.nsec3_proofs.shrink_to_fit();
        out.bodies.shrink_to_fit();
        out.arena.shrink_to_fit();
        let (table, keys) = out.parts();
        table.shrink_to_fit(|&i| keys.rehash(i));
        out
    }

    /// The table, and what its indexes point into.
    fn parts(&mut self) -> (&mut HashTable<u32>, Keys<'_>) {
        let keys = Keys {
            keys: &self.keys,
            arena: &self.arena,
        };
        (&mut self.table, keys)
    }

    /// How many names have prepared answers.
    pub fn name_count(&self) -> usize {
        self.names.len() + self.plains.len()
    }

    /// Whether nothing is prepared.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Whether `qname` (lower-cased wire form, its labels at `labels`) or one of its ancestors
    /// has entries here: the zone that answers it was prepared, though not this question.
    pub fn claims(&self, qname: &[u8], labels: &[u8]) -> bool {
        let root = qname.len().checked_sub(1).filter(|_| !labels.is_empty());
        labels
            .iter()
            .map(|&at| usize::from(at))
            .chain(root)
            .any(|at| self.index(&qname[at..]).is_some())
    }

    /// Octets the prepared answers take: the arena, the tables, the pools' records.
    pub fn octets(&self) -> usize {
        self.arena.capacity()
            + self.names.capacity() * std::mem::size_of::<Entries>()
            + self.keys.capacity() * std::mem::size_of::<Key>()
            + self.plains.capacity() * std::mem::size_of::<Plain>()
            + self.bodies.capacity() * std::mem::size_of::<Body>()
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.nsec3_proofs.capacity() * std::mem::size_of::<denial::Nsec3Proof>()
            + self
                .pools
                .iter()
                .map(|p| p.records.iter().map(|r| r.len()).sum::<usize>())
                .sum::<usize>()
    }

    /// The prepared answer for `qname` (lower-cased wire form) and `qtype`, if there is one.
    /// `labels` are the offsets of `qname`'s labels, to walk up to the closest encloser.
    pub fn find(&self, qname: &[u8], labels: &[u8], qtype: u16) -> Option<Found<'_>> {
        // Meta types (AXFR, IXFR, ...), OPT and 0 have rules of their own: the general path's.
        if !ordinary(qtype) && qtype != u16::from(RecordType::ANY) {
            return None;
        }
        if let Some(i) = self.index(qname) {
            return match i & PLAIN {
                0 => self.entry(self.names[i as usize].answer(qtype)?),
                _ => self.plain(self.plains[(i & !PLAIN) as usize], qtype),
            };
        }
        // Not a name of ours: the closest existing ancestor says what lies below it.
        let ancestors = labels.iter().skip(1).map(|&at| usize::from(at));
        let root = qname.len().checked_sub(1).filter(|_| !labels.is_empty());
        let mut next_closer = 0;
        for at in ancestors.chain(root) {
            if let Some(i) = self.index(&qname[at..]) {
                if i & PLAIN != 0 {
                    return self.below_plain(i);
                }
                let entries = &self.names[i as usize];
                return match Entry::from(entries.below) {
                    Entry::Wildcard(i) => {
                        let wildcard = self.wildcards.get(i as usize)?;
                        let answer = wildcard.answer(qtype)?;
                        match (self.dnssec, answer) {
                            (false, _) => self.entry(answer),
                            (true, Entry::Body(body)) => {
                                let zone = *self.wildcard_zones.get(i as usize)?;
                                let r = Nsec3Ref::wildcard(zone, body, next_closer);
                                Some(Found::Nsec3(r))
                            }
                            (true, _) => None,
                        }
                    }
                    Entry::Denial(i) if ordinary(qtype) || qtype == 255 => {
                        Some(Found::Nsec3(Nsec3Ref::new(i, Some(next_closer))))
                    }
                    below => self.entry(below),
                };
            }
            next_closer = at;
        }
        None
    }

    fn entry(&self, entry: Entry) -> Option<Found<'_>> {
        match entry {
            Entry::None | Entry::Wildcard(_) | Entry::Denial(_) => None,
            Entry::NoData(i) => Some(Found::Nsec3(Nsec3Ref::new(i, None))),
            Entry::Body(i) => self.body(i).map(Found::Body),
            Entry::Pool(i) => self.pools.get(i as usize).map(Found::Pool),
        }
    }

    /// The answer below the plain name at table index `i`: its zone's NXDOMAIN.
    #[inline(never)]
    fn below_plain(&self, i: u32) -> Option<Found<'_>> {
        let p = self.plains[(i & !PLAIN) as usize];
        self.entry(self.plain_zones[p.zone as usize].nxdomain.into())
    }

    /// The answer of a plain name to `qtype` (see [`Plain`]): its RRsets are of A and AAAA
    /// only, so any other ordinary type is NODATA. (Not inlined: `find` stays as lean for the
    /// other names.)
    #[inline(never)]
    fn plain(&self, p: Plain, qtype: u16) -> Option<Found<'_>> {
        let zone = &self.plain_zones[p.zone as usize];
        let (z, i) = (&zone.zone, p.node as usize);
        let found = match qtype {
            1 => z.octets_at(i, RecordType::A).map(|octets| (1, octets)),
            28 => z.octets_at(i, RecordType::AAAA).map(|octets| (28, octets)),
            255 => z
                .node_at(i)
                .any_rrset()
                .map(|s| (u16::from(s.rtype), s.octets())),
            _ if ordinary(qtype) => None,
            _ => return None,
        };
        match found {
            Some((rtype, octets)) => Some(Found::Address(AddressRef { rtype, octets })),
            None => self.entry(zone.nodata.into()),
        }
    }

    /// What `key` is: an index into `names`, or with [`PLAIN`] into `plains`.
    #[inline]
    fn index(&self, key: &[u8]) -> Option<u32> {
        let &i = self.table.find(hash(key), |&i| {
            let k = self.keys[i as usize];
            self.arena.get(k.at as usize..(k.at + k.len) as usize) == Some(key)
        })?;
        Some(self.keys[i as usize].slot)
    }

    /// The body `i`, as the fast path reads it.
    pub fn body(&self, i: u32) -> Option<BodyRef<'_>> {
        let b = self.bodies.get(i as usize)?;
        let at = b.at as usize;
        let relocs_at = at + usize::from(b.bytes_len);
        let owner_at = relocs_at + usize::from(b.relocs_len);
        let flag = |f: u8| b.flags & f != 0;
        Some(BodyRef {
            bytes: &self.arena[at..relocs_at],
            relocs: &self.arena[relocs_at..owner_at],
            question_len: b.question_len,
            authoritative: flag(FLAG_AUTHORITATIVE),
            rcode: b.rcode,
            counts: b.counts,
            case_free: flag(FLAG_CASE_FREE),
            authority_owner: (b.owner_len > 0)
                .then(|| &self.arena[owner_at..owner_at + usize::from(b.owner_len)]),
        })
    }

    /// Copies `bytes` into the arena.
    fn store(&mut self, bytes: &[u8]) -> Span {
        let at = u32::try_from(self.arena.len()).expect("an arena under 4 GiB");
        self.arena.extend_from_slice(bytes);
        Span {
            at,
            len: u32::try_from(bytes.len()).expect("a part under 4 GiB"),
        }
    }

    fn push_body(&mut self, draft: Draft) -> Entry {
        let relocs = &draft.relocs;
        let owner = draft.authority_owner.as_deref().unwrap_or(&[]);
        let (Ok(bytes_len), Ok(relocs_len), Ok(owner_len)) = (
            u16::try_from(draft.bytes.len()),
            u8::try_from(relocs.len()),
            u8::try_from(owner.len()),
        ) else {
            return Entry::None; // too large to prepare: the general path answers it
        };
        let at = self.store(&draft.bytes).at;
        self.store(relocs);
        self.store(owner);
        let flags = [
            (draft.authoritative, FLAG_AUTHORITATIVE),
            (draft.case_free, FLAG_CASE_FREE),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |f, (_, bit)| f | bit);
        self.bodies.push(Body {
            at,
            bytes_len,
            relocs_len,
            owner_len,
            question_len: draft.question_len,
            counts: draft.counts,
            rcode: draft.rcode,
            flags,
        });
        Entry::Body(u32::try_from(self.bodies.len() - 1).expect("fewer than 2^32 bodies"))
    }

    /// Records what is prepared at `key` (the first zone to claim a name keeps it).
    fn insert(&mut self, key: &[u8], entries: Entries) {
        if self.index(key).is_some() {
            return;
        }
        let i = u32::try_from(self.names.len()).expect("fewer than 2^31 names");
        assert!(i < PLAIN, "fewer than 2^31 names");
        self.names.push(entries);
        self.add_key(key, i);
    }

    /// Adds `key`, which is not here yet, as `slot` (see [`Key`]).
    fn add_key(&mut self, key: &[u8], slot: u32) {
        let span = self.store(key);
        let at = u32::try_from(self.keys.len()).expect("fewer than 2^32 names");
        self.keys.push(Key {
            at: span.at,
            len: span.len,
            slot,
        });
        let (table, keys) = self.parts();
        table.insert_unique(hash(key), at, |&i| keys.rehash(i));
    }

    /// Records the plain name `key` (the first zone to claim a name keeps it).
    fn insert_plain(&mut self, key: &[u8], plain: Plain) {
        if self.index(key).is_some() {
            return;
        }
        let i = u32::try_from(self.plains.len()).expect("fewer than 2^31 names");
        assert!(i < PLAIN, "fewer than 2^31 names");
        self.plains.push(plain);
        self.add_key(key, i | PLAIN);
    }

    fn add_zone(&mut self, served: &Served, zone: &Arc<Zone>) {
        let negative = negative_bodies(zone);
        let nsec3 = match self.dnssec {
            true => self.nsec3_zone(zone),
            false => None,
        };
        let soa = zone.negative_soa();
        let soa_names: Vec<Name> = std::iter::once(&soa.name)
            .chain(rdata_names(&soa.data))
            .map(Name::to_lowercase)
            .collect();
        let (nodata, nxdomain) = match &negative {
            // With DO a proof of absence names the name asked: nothing is shared.
            _ if self.dnssec => (Entry::None, Entry::None),
            Some((nodata, nxdomain)) => (
                self.push_body(nodata.clone()),
                self.push_body(nxdomain.clone()),
            ),
            None => (Entry::None, Entry::None),
        };
        // Without DO, in a zone with no zone of ours below it, an owner of address records
        // only is prepared from its octets alone (most names of a large zone).
        let deeper = served
            .zones()
            .iter()
            .any(|z| z.origin != zone.origin && zone.origin.zone_of(&z.origin));
        let plain = (!self.dnssec && zone.dnssec.is_none() && !deeper).then(|| {
            self.plain_zones.push(PlainZone {
                zone: zone.clone(),
                nodata: nodata.into(),
                nxdomain: nxdomain.into(),
            });
            (self.plain_zones.len() - 1) as u32
        });
        let soa_related = ancestors(&soa_names);
        for (i, (wire, node)) in zone.nodes_wire().enumerate() {
            if let Some(z) = plain
                && !soa_related.contains(wire)
                && self.add_plain(wire, node, z, i)
            {
                continue;
            }
            let name = &crate::zone::wire_name(wire);
            // A name that a deeper zone of ours answers is that zone's to prepare.
            if served.find_zone(name).map(|z| &z.origin) != Some(&zone.origin) {
                continue;
            }
            let mut entries = Entries::default();
            if node.cut() && *name != zone.origin {
                // At the cut itself the referral's NS owner is the question name: compressed
                // against it, so the shared body (made for names below) does not serve it.
                entries.other = self.exact_entry(served, name).into();
                entries.below = self.referral(served, name).into();
                self.add_types(served, name, [RecordType::DS], &mut entries);
            } else {
                // The shared NODATA serves a name only if none of its SOA's names is that name
                // or below it (the apex itself, the SOA's MNAME and RNAME and their ancestors).
                // With DO in an NSEC3 zone, the SOA's body is shared and the name's own NSEC3
                // written per question.
                let soa_name = soa_names.iter().any(|n| name.zone_of(n));
                let proof = nsec3.and_then(|z| self.nsec3_proof(z, name));
                let nodata_here = match proof {
                    Some(p) if !soa_name => Entry::NoData(p),
                    _ if self.dnssec || soa_name => self.exact_entry(served, name),
                    _ => nodata,
                };
                self.node_entries(served, (name, node, zone), nodata_here, &mut entries);
                let dname = node.rrset(RecordType::DNAME).is_some();
                if !dname && !node.wildcard_child() {
                    entries.below = match (nsec3, proof) {
                        (Some(_), Some(p)) => Entry::Denial(p).into(),
                        (Some(_), None) => Entry::None.into(),
                        (None, _) => nxdomain.into(),
                    };
                } else if !dname {
                    entries.below = self.wildcard(served, (zone, nsec3), name, nodata).into();
                }
                if *name == zone.origin {
                    self.add_types(served, name, [RecordType::DS], &mut entries);
                }
            }
            self.insert(wire, entries);
        }
        self.guard_shared_bodies(served, zone, &soa_names);
    }

    /// The answer of an address RRset at its own name, from its stored octets (see the
    /// module's text), for a name of `name_len` octets in wire form; `None` for other types.
    fn address_answer(&mut self, set: RRset<'_>, name_len: usize) -> Option<Entry> {
        let (bytes, n) = set.answer_at_question()?;
        Some(self.push_body(Draft {
            bytes: bytes.into_boxed_slice(),
            relocs: Box::new([]),
            question_len: u16::try_from(name_len + 4).unwrap_or(u16::MAX),
            authoritative: true,
            rcode: 0,
            counts: [n, 0, 0],
            case_free: true,
            authority_owner: None,
        }))
    }

    /// Prepares a name whose RRsets are all address RRsets and that is nothing else (no pool,
    /// cut, wildcard below it, or SOA name at or below it) as a [`Plain`] name: node `i` of
    /// plain zone `zone`. Its answers are what the general path gives (the fast-path tests
    /// compare them), made without decoding the name. `false`, with nothing prepared, for any
    /// other name.
    fn add_plain(&mut self, wire: &[u8], node: Node<'_>, zone: u32, i: usize) -> bool {
        // One address record per RRset: the fast path writes it without a loop (an RRset of
        // several records keeps a prepared body, copied whole).
        let single = |s: RRset<'_>| {
            matches!(s.rtype, RecordType::A | RecordType::AAAA) && s.rdatas().nth(1).is_none()
        };
        let plain = !node.cut() && node.pools().is_empty() && !node.wildcard_child();
        if !plain || !node.has_rrsets() || !node.rrsets().all(single) {
            return false;
        }
        let node = u32::try_from(i).expect("fewer than 2^32 names");
        self.insert_plain(wire, Plain { zone, node });
        true
    }

    /// Marks the apex of every unsigned zone of ours below a signed one, so that a question
    /// with DO for its names finds no signed zone's answer (a referral or NXDOMAIN of the
    /// parent): it takes the general path.
    fn guard_unsigned_children(&mut self, served: &Served) {
        for zone in served.zones() {
            let below_signed = !zone.origin.is_root()
                && served
                    .find_zone(&zone.origin.base_name())
                    .is_some_and(|parent| parent.dnssec.is_some());
            let key = wire_lower(&zone.origin);
            if zone.dnssec.is_none() && below_signed && self.index(&key).is_none() {
                self.insert(&key, Entries::default());
            }
        }
    }

    /// The names a shared body (NXDOMAIN, a referral) could not serve, because a name written
    /// in it is the question name or below it, and the general path would have compressed it
    /// against the question: the SOA's MNAME and RNAME when they do not exist, and the NS
    /// targets below a cut, with their ancestors. Each gets entries of its own that send every
    /// question at or below it to the general path.
    fn guard_shared_bodies(&mut self, served: &Served, zone: &Zone, soa_names: &[Name]) {
        let mut risky: Vec<Name> = soa_names.to_vec();
        for (name, node) in zone.nodes() {
            let name = &name;
            if !node.cut() || *name == zone.origin {
                continue;
            }
            if let Some(ns) = node.rrset(RecordType::NS) {
                for r in ns.records() {
                    if let RData::NS(target) = &r.data
                        && name.zone_of(&target.0)
                    {
                        risky.push(target.0.to_lowercase());
                    }
                }
            }
        }
        for n in risky {
            let mut at = n;
            while zone.origin.zone_of(&at) && at != zone.origin {
                let key = wire_lower(&at);
                let ours = served.find_zone(&at).map(|z| &z.origin) == Some(&zone.origin);
                if ours && self.index(&key).is_none() {
                    self.insert(&key, Entries::default());
                }
                at = at.base_name();
            }
        }
    }

    /// The body of exactly `name`'s answer to a type it does not hold (NODATA, or the
    /// referral at a cut), or `Entry::None` when it cannot be prepared.
    fn exact_entry(&mut self, served: &Served, name: &Name) -> Entry {
        let body = resolved(served, name, ABSENT_TYPE, self.dnssec)
            .and_then(|answer| exact_body(&question(name), name, &answer));
        match body {
            Some(b) => self.push_body(b),
            None => Entry::None,
        }
    }

    /// The entries of a node that is not a cut.
    fn node_entries(
        &mut self,
        served: &Served,
        (name, node, zone): (&Name, Node<'_>, &Zone),
        nodata: Entry,
        entries: &mut Entries,
    ) {
        let signed = zone.dnssec.is_some();
        if node.has_cname() {
            // The answer is chased per type: the usual address types, and the CNAME itself
            // (which minimal ANY answers too).
            if node.pool(RecordType::CNAME).is_none() {
                let types = [RecordType::CNAME, RecordType::A, RecordType::AAAA];
                self.add_types(served, name, types, entries);
                if let Some(&(_, cname)) = entries.types.first() {
                    entries.types.push((u16::from(RecordType::ANY), cname));
                }
            }
            return;
        }
        entries.other = nodata.into();
        self.add_pools(node, nodata, zone, entries);
        // An address RRset's answer is its records after a pointer to the question: made here
        // from the stored octets (the general path's answer and encoding would give the same
        // octets, which the fast-path tests compare), a large zone's most common answer. Not
        // with DO, whose answers carry the RRSIGs too.
        let dnssec = self.dnssec;
        for set in node.rrsets().filter(|_| !dnssec) {
            if let Some(entry) = self.address_answer(set, wire_len(name)) {
                entries.types.push((u16::from(set.rtype), entry.into()));
            }
        }
        let types: SmallVec<[RecordType; 4]> = node.rrsets().map(|s| s.rtype).collect();
        self.add_types(served, name, types, entries);
        if signed && !entries.types.iter().any(|(t, _)| *t == 46) {
            // A question for RRSIG is answered with every signature at the name, not `other`:
            // rare, and left to the general path (a body a name would cost both tables).
            entries.types.push((46, Entry::None.into()));
        }
        // Minimal ANY answers the first pool, else the first RRset (RFC 8482).
        push_any(node, nodata, entries);
    }

    /// Prepares the answers of `name` for `types` (those that are not drawn).
    fn add_types(
        &mut self,
        served: &Served,
        name: &Name,
        types: impl IntoIterator<Item = RecordType>,
        entries: &mut Entries,
    ) {
        let question = question(name);
        for t in types {
            let code = u16::from(t);
            if entries.types.iter().any(|(c, _)| *c == code) {
                continue;
            }
            // A type that cannot be prepared is marked so (Entry::None sends it to the general
            // path); left out, it would be answered by `other`: NODATA.
            let entry = match resolved(served, name, t, self.dnssec)
                .and_then(|a| exact_body(&question, name, &a))
            {
                Some(body) => self.push_body(body),
                None => Entry::None,
            };
            entries.types.push((code, entry.into()));
        }
    }

    /// The answers a wildcard `*.<encloser>` gives the names it synthesises: its RRsets with
    /// the asked name as owner (when they hold no name that could be compressed against it),
    /// its pools, NODATA for other types. `Entry::None` for a wildcard CNAME (chased per name).
    fn wildcard(
        &mut self,
        served: &Served,
        (zone, nsec3): (&Zone, Option<u32>),
        encloser: &Name,
        nodata: Entry,
    ) -> Entry {
        if self.dnssec && nsec3.is_none() {
            return Entry::None; // an NSEC zone's wildcard answers with DO: the general path's
        }
        let Ok(star) = encloser.prepend_label("*") else {
            return Entry::None;
        };
        let Some(node) = zone.node(&star) else {
            return Entry::None;
        };
        if node.has_cname() || node.cut() {
            return Entry::None;
        }
        // With DO a wildcard's NODATA is the general path's (its proof names the name asked);
        // its answers are prepared without their proof, which the fast path writes.
        let nodata = if self.dnssec { Entry::None } else { nodata };
        let mut entries = Entries {
            other: nodata.into(),
            ..Entries::default()
        };
        if zone.dnssec.is_some() {
            // Every signature of the wildcard, owned by the name asked: the general path's.
            entries
                .types
                .push((u16::from(RecordType::RRSIG), Entry::None.into()));
        }
        if self.dnssec {
            // A wildcard pool's answer with DO carries a proof written per name asked: the
            // general path's.
            for pool in node.pools() {
                let none = (u16::from(pool.rtype), Entry::None.into());
                entries.types.push(none);
            }
        } else {
            self.add_pools(node, nodata, zone, &mut entries);
        }
        for set in node.rrsets() {
            let t = set.rtype;
            if entries.types.iter().any(|(c, _)| *c == u16::from(t)) {
                continue;
            }
            let dnssec = self.dnssec;
            let body = relocatable(true, |label| {
                let name = encloser.prepend_label(label).ok()?;
                let answer = resolved(served, &name, t, dnssec)?;
                let mut sections = answer_sections(&answer);
                if dnssec {
                    sections.authority.clear(); // the proof, written per question
                }
                let plain = !sections.answers.is_empty()
                    && sections.authority.is_empty()
                    && sections.additional.is_empty()
                    && sections
                        .answers
                        .iter()
                        .all(|r| r.name == name && !holds_name(&r.data));
                if !plain {
                    return None;
                }
                Encoded::new(&name, &sections)
            });
            // Not preparable (it holds a name, or has additional data): the general path's, not
            // `other`'s NODATA.
            let entry = body.map_or(Entry::None, |b| self.push_body(b));
            entries.types.push((u16::from(t), entry.into()));
        }
        push_any(node, nodata, &mut entries);
        self.wildcards.push(entries);
        if let Some(z) = nsec3 {
            self.wildcard_zones.push(z);
        }
        Entry::Wildcard(u32::try_from(self.wildcards.len() - 1).expect("fewer than 2^32"))
    }

    /// Pool entries for the A and AAAA pools of `node` (of `zone`). With DO, a pool's answer
    /// carries the RRSIGs signed for the drawn set, and a draw of nobody is the general
    /// path's (its NODATA proves by the name); a pool the fast path cannot answer is marked so,
    /// not left to `other` (NODATA).
    fn add_pools(&mut self, node: Node<'_>, nodata: Entry, zone: &Zone, entries: &mut Entries) {
        let nodata = match nodata {
            Entry::Body(b) if !self.dnssec => b,
            _ if self.dnssec => NO_BODY,
            _ => return,
        };
        for pool in node.pools() {
            let signatures = match self.dnssec {
                true => zone.pool_signatures(pool).cloned(),
                false => None,
            };
            let records = pool_records(pool).filter(|_| !self.dnssec || signatures.is_some());
            if let Some(records) = records {
                self.pools.push(PoolBody {
                    pool: pool.clone(),
                    longest: records.iter().map(|r| r.len()).max().unwrap_or(0),
                    records,
                    nodata,
                    signatures,
                });
                let i = u32::try_from(self.pools.len() - 1).expect("fewer than 2^32 pools");
                entries
                    .types
                    .push((u16::from(pool.rtype), Entry::Pool(i).into()));
            } else if self.dnssec {
                entries
                    .types
                    .push((u16::from(pool.rtype), Entry::None.into()));
            }
        }
    }

    /// The referral for names at and below the cut `cut` (relocatable).
    fn referral(&mut self, served: &Served, cut: &Name) -> Entry {
        let dnssec = self.dnssec;
        let body = relocatable(false, |label| {
            let below = cut.prepend_label(label).ok()?;
            let answer = resolved(served, &below, ABSENT_TYPE, dnssec)?;
            let is_referral = !answer.authoritative
                && answer.rcode == ResponseCode::NoError
                && answer.answers.is_empty();
            if !is_referral {
                return None;
            }
            Encoded::new(&below, &answer_sections(&answer))
        });
        match body {
            Some(mut body) => {
                body.authoritative = false;
                self.push_body(body)
            }
            None => Entry::None,
        }
    }
}

/// Minimal ANY (RFC 8482) at `node`: the entry of its first pool, else of the RRset
/// [`Node::any_rrset`] picks, else `nodata` (an empty non-terminal). None when that type is not
/// prepared: ANY is not `other`.
fn push_any(node: Node<'_>, nodata: Entry, entries: &mut Entries) {
    let first = match node.pools().first() {
        Some(pool) => Some(pool.rtype),
        None => node.any_rrset().map(|s| s.rtype),
    };
    let any = match first {
        Some(t) => entries
            .types
            .iter()
            .find(|(ty, _)| *ty == u16::from(t))
            .map(|(_, e)| *e),
        None => Some(nodata.into()),
    };
    if let Some(any) = any {
        entries.types.push((u16::from(RecordType::ANY), any));
    }
}

/// Whether `qtype` is an ordinary type, answered by a node's `other` entry when it has none of
/// its own (not ANY, not a meta type, not OPT, not 0).
fn ordinary(qtype: u16) -> bool {
    !matches!(qtype, 0 | 41 | 128..=255)
}

/// `names` and every ancestor of each, lower-cased wire form.
fn ancestors(names: &[Name]) -> rustc_hash::FxHashSet<Box<[u8]>> {
    let mut out = rustc_hash::FxHashSet::default();
    for name in names {
        let mut at = name.clone();
        loop {
            out.insert(wire_lower(&at));
            if at.is_root() {
                break;
            }
            at = at.base_name();
        }
    }
    out
}

/// Octets of `name` in wire form (its root octet included).
fn wire_len(name: &Name) -> usize {
    name.iter().map(|label| 1 + label.len()).sum::<usize>() + 1
}

/// The lower-cased wire form of `name`.
pub fn wire_lower(name: &Name) -> Box<[u8]> {
    let mut out = Vec::with_capacity(name.len() + 1);
    for label in name.iter() {
        out.push(u8::try_from(label.len()).expect("a label is at most 63 octets"));
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out.into_boxed_slice()
}

/// The question section for `name`, type `ABSENT_TYPE`'s place filled later: the name in wire
/// form (as given: lower case).
fn question(name: &Name) -> Vec<u8> {
    let mut q = wire_lower(name).into_vec();
    q.extend_from_slice(&[0, 0, 0, 1]);
    q
}

/// The general path's answer for a question of class IN, if it is the same for every client and
/// every query (no draw) and is ours (not REFUSED).
fn resolved<'s>(
    served: &'s Served,
    name: &Name,
    qtype: RecordType,
    dnssec_ok: bool,
) -> Option<Answer<'s>> {
    let question = Question {
        name,
        qtype,
        dnssec_ok,
    };
    resolve_undrawn(served, question).filter(|a| a.rcode != ResponseCode::Refused)
}

/// The three sections of an answer, as records.
struct Sections<'a> {
    answers: Vec<&'a Record>,
    authority: Vec<&'a Record>,
    additional: Vec<&'a Record>,
}

fn answer_sections<'a>(answer: &'a Answer<'_>) -> Sections<'a> {
    Sections {
        answers: answer.answers.iter().map(AsRef::as_ref).collect(),
        authority: answer.authority.iter().map(AsRef::as_ref).collect(),
        additional: answer.additional.iter().map(AsRef::as_ref).collect(),
    }
}

/// Encodes `sections` after a header and `question` as the general path's encoder does (the
/// question copied raw, its name known to the compression table: an owner that is the query
/// name is a pointer to the question). Returns the body: what follows the question.
fn encode(question: &[u8], sections: &Sections<'_>) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.emit_vec(&[0; 12]).ok()?;
    let start = encoder.offset();
    encoder.emit_vec(question).ok()?;
    encoder.store_label_pointer(start, encoder.offset());
    if question.len() > 5 {
        encoder.store_label_pointer(start, start + question.len() - 5);
    }
    for section in [&sections.answers, &sections.authority, &sections.additional] {
        for record in section {
            record.emit(&mut encoder).ok()?;
        }
    }
    buf.drain(..12 + question.len());
    Some(buf)
}

/// The body of an answer to exactly `name` (prepared with `question`).
fn exact_body(question: &[u8], name: &Name, answer: &Answer<'_>) -> Option<Draft> {
    let sections = answer_sections(answer);
    let mut bytes = encode(question, &sections)?;
    // An answer owned by the name is a pointer to the question, whatever its spelling; any
    // other name at or below the question name was compressed against this (lower-case)
    // spelling, which another spelling would not match.
    let owner_first = sections.answers.first().is_some_and(|r| r.name == *name);
    if owner_first && !bytes.starts_with(&[0xc0, 0x0c]) {
        return None;
    }
    let case_free = !names_below(name, &sections);
    bytes.shrink_to_fit();
    Some(Draft {
        bytes: bytes.into_boxed_slice(),
        relocs: Box::new([]),
        question_len: u16::try_from(question.len()).ok()?,
        authoritative: answer.authoritative,
        rcode: u8::try_from(u16::from(answer.rcode)).ok()?,
        counts: counts(&sections)?,
        case_free,
        authority_owner: sections.authority.first().map(|r| wire_lower(&r.name)),
    })
}

fn counts(sections: &Sections<'_>) -> Option<[u16; 3]> {
    Some([
        u16::try_from(sections.answers.len()).ok()?,
        u16::try_from(sections.authority.len()).ok()?,
        u16::try_from(sections.additional.len()).ok()?,
    ])
}

/// Whether any name written in `sections` (an owner, or a name in RDATA) is `name` or below it,
/// but the answers' owners that are `name` itself (written as the client wrote it).
fn names_below(name: &Name, sections: &Sections<'_>) -> bool {
    let answers = sections.answers.iter().map(|r| (r, true));
    let others = sections
        .authority
        .iter()
        .chain(&sections.additional)
        .map(|r| (r, false));
    answers.chain(others).any(|(r, answer)| {
        (!(answer && r.name == *name) && name.zone_of(&r.name))
            || rdata_names(&r.data).any(|n| name.zone_of(n))
    })
}

/// The names in a record's data that the encoder may compress.
fn rdata_names(data: &RData) -> impl Iterator<Item = &Name> {
    let (a, b) = match data {
        RData::NS(n) => (Some(&n.0), None),
        RData::CNAME(n) => (Some(&n.0), None),
        RData::PTR(n) => (Some(&n.0), None),
        RData::MX(mx) => (Some(&mx.exchange), None),
        RData::SRV(srv) => (Some(&srv.target), None),
        RData::SOA(soa) => (Some(&soa.mname), Some(&soa.rname)),
        _ => (None, None),
    };
    a.into_iter().chain(b)
}

/// Whether the record's data holds a name that the encoder may compress.
fn holds_name(data: &RData) -> bool {
    matches!(
        data,
        RData::NS(_)
            | RData::CNAME(_)
            | RData::PTR(_)
            | RData::MX(_)
            | RData::SOA(_)
            | RData::SRV(_)
    )
}

/// A body encoded after one question: what [`relocatable`] compares.
struct Encoded {
    question_len: usize,
    bytes: Vec<u8>,
    counts: [u16; 3],
    authority_owner: Option<Box<[u8]>>,
}

impl Encoded {
    fn new(name: &Name, sections: &Sections<'_>) -> Option<Self> {
        let question = question(name);
        Some(Self {
            question_len: question.len(),
            bytes: encode(&question, sections)?,
            counts: counts(sections)?,
            authority_owner: sections.authority.first().map(|r| wire_lower(&r.name)),
        })
    }
}

/// A body for any name of some subtree: `make(label)` encodes the answer for a name below the
/// subtree's top (with `label` prepended). Encoded after questions of three lengths; the
/// pointers that move with the length are found from the first two and checked against the
/// third.
///
/// With `owner`, each body must start with the question name (a wildcard's synthesised
/// owner), a pointer to the question. A body serves a name only when no name written in it
/// is that name or below it (the callers see to it): it was not compressed against the
/// question.
fn relocatable(owner: bool, make: impl Fn(&str) -> Option<Encoded>) -> Option<Draft> {
    let labels = ["a", "dnslb-prepare-1", "dnslb-prepare-relocation-check-22"];
    let made: Vec<Encoded> = labels.iter().map(|l| make(l)).collect::<Option<_>>()?;
    if owner && made.iter().any(|m| !m.bytes.starts_with(&[0xc0, 0x0c])) {
        return None;
    }
    let [first, second, third] = &made[..] else {
        return None;
    };
    let relocs = pointers_moved(
        &first.bytes,
        &second.bytes,
        second.question_len - first.question_len,
    )?;
    // Check: moving the first body's pointers gives the third.
    let mut moved = first.bytes.clone();
    relocate(
        &mut moved,
        &relocs,
        third.question_len as isize - first.question_len as isize,
    );
    if moved != third.bytes || first.counts != third.counts {
        return None;
    }
    let first = made.into_iter().next()?;
    Some(Draft {
        bytes: first.bytes.into_boxed_slice(),
        relocs: relocs.into_boxed_slice(),
        question_len: u16::try_from(first.question_len).ok()?,
        authoritative: true,
        rcode: 0,
        counts: first.counts,
        case_free: true,
        authority_owner: first.authority_owner,
    })
}

/// The places of the compression pointers that differ between `a` and `b` (encoded after
/// questions `delta` octets apart) by exactly `delta`, as big-endian 16-bit offsets; `None` when
/// anything else differs.
fn pointers_moved(a: &[u8], b: &[u8], delta: usize) -> Option<Vec<u8>> {
    if a.len() != b.len() {
        return None;
    }
    let mut relocs = Vec::new();
    let mut i = 0;
    while i < a.len() {
        if a[i] == b[i] {
            i += 1;
            continue;
        }
        // The low octet of a pointer differs (and maybe its high octet, on a carry).
        let at = if i + 1 < a.len() && a[i + 1] != b[i + 1] {
            i
        } else {
            i.checked_sub(1)?
        };
        let pa = u16::from_be_bytes([a[at], a[at + 1]]);
        let pb = u16::from_be_bytes([b[at], b[at + 1]]);
        if pa & 0xc000 != 0xc000 || usize::from(pb.wrapping_sub(pa)) != delta {
            return None;
        }
        relocs.extend_from_slice(&u16::try_from(at).ok()?.to_be_bytes());
        i = at + 2;
    }
    Some(relocs)
}

/// Moves the pointers at `relocs` (big-endian 16-bit offsets) in `bytes` by `delta`.
pub fn relocate(bytes: &mut [u8], relocs: &[u8], delta: isize) {
    for at in relocs.chunks_exact(2) {
        let at = usize::from(u16::from_be_bytes([at[0], at[1]]));
        let p = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let moved = (p as isize + delta) as u16;
        bytes[at..at + 2].copy_from_slice(&moved.to_be_bytes());
    }
}

/// The zone's NODATA and NXDOMAIN bodies: its negative SOA in the authority section, for any
/// name (relocatable).
fn negative_bodies(zone: &Zone) -> Option<(Draft, Draft)> {
    let soa = zone.negative_soa();
    let nodata = relocatable(false, |label| {
        let name = zone.origin.prepend_label(label).ok()?;
        let sections = Sections {
            answers: Vec::new(),
            authority: vec![soa],
            additional: Vec::new(),
        };
        Encoded::new(&name, &sections)
    })?;
    let mut nxdomain = nodata.clone();
    nxdomain.rcode = u8::try_from(u16::from(ResponseCode::NXDomain)).ok()?;
    Some((nodata, nxdomain))
}

impl Prepared {
    /// The NXDOMAIN (or NODATA) body of a signed zone with DO, before its proofs: the SOA
    /// (negative TTL) and its RRSIGs (the same TTL), relocatable for names of any length.
    fn signed_negative_body(&mut self, zone: &Zone, nxdomain: bool) -> Entry {
        let soa = zone.negative_soa();
        let sigs = zone.negative_soa_signatures();
        let body = relocatable(false, |label| {
            let name = zone.origin.prepend_label(label).ok()?;
            let sections = Sections {
                answers: Vec::new(),
                authority: std::iter::once(soa).chain(&sigs).collect(),
                additional: Vec::new(),
            };
            Encoded::new(&name, &sections)
        });
        match body {
            Some(mut b) => {
                if nxdomain {
                    b.rcode = u8::try_from(u16::from(ResponseCode::NXDomain)).unwrap_or(3);
                }
                self.push_body(b)
            }
            None => Entry::None,
        }
    }
}

/// Each member's record after its owner, as the encoder writes it; `None` for a pool the fast
/// path does not draw (CNAME pools, whose targets the encoder compresses).
fn pool_records(pool: &Pool) -> Option<Box<[Box<[u8]>]>> {
    if !matches!(pool.rtype, RecordType::A | RecordType::AAAA) {
        return None;
    }
    let mut out = Vec::with_capacity(pool.members.len());
    for m in &pool.members {
        let r = &m.record;
        if r.dns_class != DNSClass::IN {
            return None;
        }
        let mut rdata = Vec::new();
        r.data.emit(&mut BinEncoder::new(&mut rdata)).ok()?;
        let mut bytes = Vec::with_capacity(10 + rdata.len());
        bytes.extend_from_slice(&u16::from(r.record_type()).to_be_bytes());
        bytes.extend_from_slice(&u16::from(r.dns_class).to_be_bytes());
        bytes.extend_from_slice(&r.ttl.to_be_bytes());
        bytes.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
        bytes.extend_from_slice(&rdata);
        out.push(bytes.into_boxed_slice());
    }
    Some(out.into_boxed_slice())
}
