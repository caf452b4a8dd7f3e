//! Zones: the records of one zone file (plus the pools inside it) arranged for lookup.
//!
//! Every name that exists in the zone is a [`Node`] in a hash map keyed by name (case-insensitive),
//! including the empty non-terminals between owners and the apex. Data below a zone cut is not a
//! node: it is glue, kept aside for referrals. So an exact match costs one hash lookup, and the
//! closest encloser of a missing name is found by stripping labels, one lookup per label: the cost
//! of every kind of answer depends on the name's length, never on the zone's size.

mod entries;
mod loc;
pub mod merge;
mod names;
pub(crate) mod packed;
pub mod parse;
pub mod presentation;
mod scan;
pub mod secondary;
pub mod signed;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable};
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;

use crate::Problem;
use crate::pool::Pool;
pub use packed::PackedRecords;
pub use parse::{SourcedRecord, parse_zone_file};
pub use signed::{Denial, Signed};

pub use names::to_name as wire_name;
use names::{MAX_WIRE, Names, Nodes};

/// One RRset of a node, kept in wire form (about 30 octets a record where hickory's `Record`
/// takes 272): the general path decodes it when it answers from it ([`RRset::records`]); the UDP
/// fast path answers from prepared bytes and never does.
#[derive(Debug)]
pub struct RRset {
    /// The type.
    pub rtype: RecordType,
    /// Class and TTL (one per RRset), then each record's owner (as written) and RDATA.
    packed: Box<[u8]>,
    /// The RRSIGs that cover it, in a signed zone.
    sigs: Option<Box<RRset>>,
}

impl RRset {
    /// Packs `records` (one type, one class, one TTL: the first record's).
    fn pack(rtype: RecordType, records: &[Record]) -> Option<Self> {
        let first = records.first()?;
        let mut packed = Vec::with_capacity(6 + records.len() * 32);
        packed.extend_from_slice(&u16::from(first.dns_class).to_be_bytes());
        packed.extend_from_slice(&first.ttl.to_be_bytes());
        let mut scratch = Vec::new();
        for r in records {
            packed.extend_from_slice(packed::uncompressed(&mut scratch, |e| r.name.emit(e))?);
            let rdata = packed::uncompressed(&mut scratch, |e| r.data.emit(e))?;
            packed.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
            packed.extend_from_slice(rdata);
        }
        Some(Self {
            rtype,
            packed: packed.into_boxed_slice(),
            sigs: None,
        })
    }

    /// Packs records `set` of `records` (one type; the class and TTL are the first record's),
    /// straight from their wire form.
    fn pack_wire(rtype: RecordType, records: &PackedRecords, set: &[usize]) -> Option<Self> {
        let (_, class_ttl, _) = records.wire_parts(*set.first()?)?;
        let mut packed = Vec::with_capacity(6 + set.len() * 32);
        packed.extend_from_slice(class_ttl);
        for &i in set {
            let (owner, _, rdata) = records.wire_parts(i)?;
            packed.extend_from_slice(owner);
            packed.extend_from_slice(rdata);
        }
        Some(Self {
            rtype,
            packed: packed.into_boxed_slice(),
            sigs: None,
        })
    }

    /// The RRSIGs covering this RRset, if the zone signs it.
    pub fn signatures(&self) -> Option<&RRset> {
        self.sigs.as_deref()
    }

    /// Each record's RDATA, in wire form (names uncompressed), in file order.
    pub fn rdatas(&self) -> impl Iterator<Item = &[u8]> {
        self.wire_records().map(|(_, rdata)| rdata)
    }

    /// Each record's owner (as written, uncompressed wire form) and RDATA, in file order.
    pub fn wire_records(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut rest = self.packed.get(6..).unwrap_or_default();
        std::iter::from_fn(move || {
            let mut at = 0;
            while *rest.get(at)? != 0 {
                at += 1 + usize::from(rest[at]);
            }
            at += 1;
            let len = usize::from(u16::from_be_bytes([*rest.get(at)?, *rest.get(at + 1)?]));
            let owner = &rest[..at];
            let rdata = rest.get(at + 2..at + 2 + len)?;
            rest = &rest[at + 2 + len..];
            Some((owner, rdata))
        })
    }

    /// The class and TTL of every record in wire form (six octets), and the records: each its
    /// owner as written (uncompressed), RDATA length and RDATA.
    pub fn packed_parts(&self) -> (&[u8], &[u8]) {
        self.packed.split_at(self.packed.len().min(6))
    }

    /// The answer section for a question of this RRset's owner and type, encoded as the general
    /// path encodes it: each record's owner a pointer to the question (`c00c`), then type,
    /// class, TTL, RDLENGTH and RDATA as stored; and the record count. Only for types whose
    /// RDATA holds no name (A, AAAA), which nothing is compressed in: `None` for others.
    pub fn answer_at_question(&self) -> Option<(Vec<u8>, u16)> {
        if !matches!(self.rtype, RecordType::A | RecordType::AAAA) {
            return None;
        }
        let (class_ttl, records) = self.packed_parts();
        let mut out = Vec::with_capacity(records.len());
        let mut count = 0u16;
        for (_, rdata) in self.wire_records() {
            let len = u16::try_from(rdata.len()).ok()?;
            out.extend_from_slice(&[0xc0, 0x0c]);
            out.extend_from_slice(&u16::from(self.rtype).to_be_bytes());
            out.extend_from_slice(class_ttl);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(rdata);
            count = count.checked_add(1)?;
        }
        Some((out, count))
    }

    /// The records, decoded, in file order.
    pub fn records(&self) -> Vec<Record> {
        let p = &self.packed;
        let class = DNSClass::from(u16::from_be_bytes([p[0], p[1]]));
        let ttl = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
        let mut out = Vec::with_capacity(1);
        let mut d = BinDecoder::new(&p[6..]);
        while !d.is_empty() {
            let Ok(owner) = Name::read(&mut d) else { break };
            let Ok(len) = d.read_u16() else { break };
            let len = usize::from(len.unverified());
            let Ok(rdata) = d.read_slice(len) else { break };
            let Ok(data) = scan::to_rdata(self.rtype, rdata.unverified().to_vec()) else {
                break;
            };
            let mut r = Record::from_rdata(owner, ttl, data);
            r.dns_class = class;
            out.push(r);
        }
        out
    }
}

/// A name that exists in the zone.
#[derive(Debug, Default)]
pub struct Node {
    /// RRsets in the order their first records stand in the file (empty for an empty
    /// non-terminal); a minimal ANY answers the first, as NSD does.
    pub rrsets: Box<[RRset]>,
    /// Pools at this name (an A and an AAAA pool, or one CNAME pool).
    pub pools: Box<[Arc<Pool>]>,
    /// A delegation point (NS at a name other than the apex).
    pub cut: bool,
    /// `*.<this name>` exists.
    pub wildcard_child: bool,
}

impl Node {
    /// The RRset of `rtype`, if any.
    pub fn rrset(&self, rtype: RecordType) -> Option<&RRset> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }

    /// The pool answering `rtype`, if any.
    pub fn pool(&self, rtype: RecordType) -> Option<&Arc<Pool>> {
        self.pools.iter().find(|p| p.rtype == rtype)
    }

    /// The one RRset a minimal ANY answers (RFC 8482 §4.1), by NSD's rule: the first of A,
    /// AAAA, SOA, MX and PTR in file order (popular and small); else the last other RRset in
    /// file order; else a DNSSEC one (DNSKEY, RRSIG, NSEC). Knot answers the RRset of the
    /// lowest type code instead: the two agree unless a name holds two of the preferred types
    /// (at an apex, NSD answers SOA and Knot NS); we follow NSD, which the differential test
    /// compares with.
    pub fn any_rrset(&self) -> Option<&RRset> {
        let mut normal = None;
        let mut dnssec = None;
        for set in self.rrsets.iter() {
            match set.rtype {
                RecordType::A
                | RecordType::AAAA
                | RecordType::SOA
                | RecordType::MX
                | RecordType::PTR => return Some(set),
                RecordType::DNSKEY | RecordType::RRSIG | RecordType::NSEC => dnssec = Some(set),
                _ => normal = Some(set),
            }
        }
        normal.or(dnssec)
    }

    /// The name's CNAME: a static record or a pool.
    pub fn has_cname(&self) -> bool {
        self.rrset(RecordType::CNAME).is_some() || self.pool(RecordType::CNAME).is_some()
    }
}

/// What a name is, inside one zone.
#[derive(Debug)]
pub enum Lookup<'z> {
    /// The name exists (or a wildcard synthesises it: `wildcard` is true).
    Node {
        /// Its data.
        node: &'z Node,
        /// Synthesised from `*.<closest encloser>`; owners must be rewritten to the query name.
        wildcard: bool,
    },
    /// The name is at or below a zone cut: the cut's node and name.
    Referral(&'z Node, Name),
    /// The name lies below a DNAME (RFC 6672): the node holding it, and its owner.
    Dname(&'z Node, Name),
    /// The name does not exist.
    NxDomain,
}

/// A loaded zone.
#[derive(Debug)]
pub struct Zone {
    /// The origin (apex), lower case.
    pub origin: Name,
    /// The zone file.
    pub file: PathBuf,
    /// The SOA serial.
    pub serial: u32,
    /// The zone file's records as read (what a transfer out sends), when built from a file.
    pub source: Option<Arc<PackedRecords>>,
    /// The SOA for negative answers: TTL = min(SOA TTL, MINIMUM) (RFC 2308 §5).
    negative_soa: Record,
    nodes: Nodes,
    /// The origin's length in wire form: every name of the zone is at least this long.
    apex_len: usize,
    /// Some pool stands at one of its names.
    has_pools: bool,
    /// What a signed zone holds beyond its names (`None`: not signed).
    pub dnssec: Option<Box<Signed>>,
    /// Address records at or below zone cuts, for referrals.
    glue: FxHashMap<Name, Vec<Record>>,
}

impl Zone {
    /// Arranges a zone's records and the pools inside it for lookup, checking what only the
    /// whole zone shows: one SOA at the apex, CNAME beside other data, pool conflicts.
    pub fn build(
        origin: &Name,
        file: &Path,
        records: &PackedRecords,
        pools: &[Arc<Pool>],
    ) -> Result<Zone, Vec<Problem>> {
        let origin = origin.to_lowercase();
        let mut buf = [0; MAX_WIRE];
        let apex = names::lower(&origin, &mut buf).to_vec();
        let mut errors = Vec::new();
        let owners = Owners::group(&apex, records, &mut errors);
        let Some(soa) = owners.soa.and_then(|i| records.sourced(i)) else {
            errors.push(Problem::file(
                file,
                format!("the zone {origin} has no SOA record at its apex"),
            ));
            return Err(errors);
        };
        if !owners.apex_ns(records) {
            // As Knot's mandatory semantic checks and NSD's zone checks: a zone without NS
            // records at its apex cannot be delegated to, and an IXFR that deletes them is wrong.
            errors.push(soa.problem(format!("the zone {origin} has no NS record at its apex")));
        }
        let (mut nodes, mut glue) = arrange(&apex, &owners, records, &soa, &mut errors);
        let is_signed = signed::is_signed(nodes.get(&apex));
        for pool in pools {
            let placed = match is_signed {
                true => Err(signed_pool(pool, &origin)),
                false => place_pool(&apex, &owners.cuts, &mut nodes, pool),
            };
            if let Err(msg) = placed {
                errors.push(Problem::line(&pool.config_file, pool.config_line, msg));
            }
        }
        add_parents(&apex, &mut nodes);
        let dnssec = match is_signed {
            true => {
                let nsec3: Vec<SourcedRecord> = owners
                    .nsec3
                    .iter()
                    .filter_map(|&i| records.sourced(i))
                    .collect();
                let signed = signed::find(&origin, &nodes, &nsec3, &mut errors);
                Some(Box::new(signed))
            }
            false => None,
        };
        drop(owners);
        if !errors.is_empty() {
            return Err(errors);
        }
        let RData::SOA(soa_data) = &soa.record.data else {
            unreachable!("an SOA record has SOA data")
        };
        let mut negative_soa = soa.record.clone();
        negative_soa.ttl = soa.record.ttl.min(soa_data.minimum);
        nodes.shrink_to_fit();
        glue.shrink_to_fit();
        for addresses in glue.values_mut() {
            *addresses = exact(std::mem::take(addresses));
        }
        Ok(Zone {
            source: None,
            serial: soa_data.serial,
            negative_soa,
            origin,
            file: file.to_path_buf(),
            nodes,
            apex_len: apex.len(),
            has_pools: !pools.is_empty(),
            dnssec,
            glue,
        })
    }

    /// The SOA to put in the authority section of a negative answer.
    pub fn negative_soa(&self) -> &Record {
        &self.negative_soa
    }

    /// The RRSIGs of the apex SOA with the negative answer's TTL (as NSD and Knot send them
    /// beside [`Zone::negative_soa`]); none when the zone is unsigned.
    pub fn negative_soa_signatures(&self) -> Vec<Record> {
        let set = self
            .node(&self.origin)
            .and_then(|n| n.rrset(RecordType::SOA));
        let mut sigs = set
            .and_then(RRset::signatures)
            .map(RRset::records)
            .unwrap_or_default();
        for s in &mut sigs {
            s.ttl = self.negative_soa.ttl;
        }
        sigs
    }

    /// Whether a pool stands at any of its names.
    pub fn has_pools(&self) -> bool {
        self.has_pools
    }

    /// How many names (incl. empty non-terminals) the zone has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every node: names that exist (empty non-terminals too), in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = (Name, &Node)> {
        self.nodes
            .iter()
            .map(|(wire, node)| (names::to_name(wire), node))
    }

    /// Every node, its name in lower-cased wire form ([`wire_name`] gives the `Name`).
    pub fn nodes_wire(&self) -> impl Iterator<Item = (&[u8], &Node)> {
        self.nodes.iter()
    }

    /// The node at exactly `name`, if it exists and is authoritative.
    pub fn node(&self, name: &Name) -> Option<&Node> {
        let mut buf = [0; MAX_WIRE];
        self.nodes.get(names::lower(name, &mut buf))
    }

    /// Glue address records at `name` (at or below a cut).
    pub fn glue(&self, name: &Name) -> &[Record] {
        self.glue.get(name).map_or(&[], Vec::as_slice)
    }

    /// Finds what `name` (inside this zone) is, following RFC 1034 §4.3.2 and RFC 4592.
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Lookup<'_> {
        let mut buf = [0; MAX_WIRE];
        let wire = names::lower(name, &mut buf);
        if let Some(node) = self.nodes.get(wire) {
            // Authoritative nodes are never below a cut; at a cut only DS is answered here.
            if node.cut && qtype != RecordType::DS {
                return Lookup::Referral(node, name.clone());
            }
            return Lookup::Node {
                node,
                wildcard: false,
            };
        }
        // The closest encloser: the nearest existing ancestor (empty non-terminals exist).
        let mut ce = names::parent(wire);
        while let Some(at) = ce.filter(|w| w.len() >= self.apex_len) {
            if let Some(node) = self.nodes.get(at) {
                if node.cut {
                    return Lookup::Referral(node, names::to_name(at));
                }
                if node.rrset(RecordType::DNAME).is_some() {
                    return Lookup::Dname(node, names::to_name(at));
                }
                if node.wildcard_child {
                    let mut star = [0; MAX_WIRE + 2];
                    star[..2].copy_from_slice(&[1, b'*']);
                    star[2..2 + at.len()].copy_from_slice(at);
                    if let Some(w) = self.nodes.get(&star[..2 + at.len()]) {
                        return Lookup::Node {
                            node: w,
                            wildcard: true,
                        };
                    }
                }
                return Lookup::NxDomain;
            }
            ce = names::parent(at);
        }
        Lookup::NxDomain // not inside this zone at all
    }
}

/// Each owner's node (and its glue, at or below a cut), in file order; a CNAME at the apex is
/// an error.
fn arrange(
    apex: &[u8],
    owners: &Owners,
    records: &PackedRecords,
    soa: &SourcedRecord,
    errors: &mut Vec<Problem>,
) -> (Nodes, FxHashMap<Name, Vec<Record>>) {
    let mut nodes = Nodes::with_capacity(owners.names.len() + 1, owners.names.octets());
    let mut glue: FxHashMap<Name, Vec<Record>> = FxHashMap::default();
    for g in 0..owners.names.len() {
        let owner = owners.names.key(g);
        let below_cut = below_a_cut(owner, apex, &owners.cuts);
        let at_cut = owners.cuts.contains(owner);
        let idx = owners.records(g);
        if below_cut || at_cut {
            let address = |i: &&u32| {
                let t = records.parts(**i as usize).map(|p| p.1);
                matches!(t, Some(RecordType::A | RecordType::AAAA))
            };
            let addresses: Vec<Record> = idx
                .iter()
                .filter(address)
                .filter_map(|&i| records.sourced(i as usize))
                .map(|r| r.record)
                .collect();
            if !addresses.is_empty() {
                glue.insert(names::to_name(owner), addresses);
            }
        }
        if below_cut {
            continue;
        }
        let node = build_node(owner, idx, records, at_cut, errors);
        if owner == apex && node.rrset(RecordType::CNAME).is_some() {
            errors.push(soa.problem("a CNAME at the zone apex is not allowed"));
        }
        nodes.push(owner, node); // each owner is one group
    }
    (nodes, glue)
}

/// A zone's records grouped by owner (lower case, in the order owners first appear), with the
/// cuts and the SOA: record indexes only, the records stay packed.
struct Owners {
    /// Each owner once; its index is its group's.
    names: Names<()>,
    /// Record indexes, group by group, in file order inside each.
    members: Vec<u32>,
    /// Group `g`'s records: `members[starts[g]..starts[g + 1]]`.
    starts: Vec<u32>,
    cuts: FxHashSet<Box<[u8]>>,
    soa: Option<usize>,
    /// NSEC3 records and their RRSIGs: a chain of their own, not names of the zone.
    nsec3: Vec<usize>,
}

impl Owners {
    /// Groups `records`; a misplaced or second SOA is an error.
    fn group(apex: &[u8], records: &PackedRecords, errors: &mut Vec<Problem>) -> Self {
        // At most one name a record, none longer than its record.
        let mut names: Names<()> = Names::with_capacity(records.len(), records.octets());
        let mut cuts = FxHashSet::default();
        let (mut soa, mut nsec3) = (None, Vec::new());
        // Each kept record's group, then a counting sort by group (stable: file order).
        let mut group_of: Vec<(u32, u32)> = Vec::with_capacity(records.len());
        let mut buf = [0; MAX_WIRE];
        for i in 0..records.len() {
            let Some((owner, rtype, rdata)) = records.parts(i) else {
                continue;
            };
            let covered = signed::covered_wire(rtype, rdata);
            if rtype == RecordType::NSEC3 || covered == Some(RecordType::NSEC3) {
                nsec3.push(i);
                continue;
            }
            let owner = lower_wire(owner, &mut buf);
            match rtype {
                RecordType::SOA if owner != apex => {
                    let (owner, apex) = (names::to_name(owner), names::to_name(apex));
                    errors.push(records.problem(
                        i,
                        format!("SOA at {owner}, which is not the zone's apex {apex}"),
                    ));
                    continue;
                }
                RecordType::SOA => {
                    if let Some(first) = soa.and_then(|f| records.sourced(f)) {
                        let msg = format!("a second SOA; the first is at line {}", first.line);
                        errors.push(records.problem(i, msg));
                        continue;
                    }
                    soa = Some(i);
                }
                RecordType::NS if owner != apex => {
                    cuts.insert(Box::from(owner));
                }
                _ => {}
            }
            let g = names.index_or_insert(owner);
            group_of.push((g as u32, i as u32));
        }
        let mut starts = vec![0u32; names.len() + 1];
        for &(g, _) in &group_of {
            starts[g as usize + 1] += 1;
        }
        for g in 0..names.len() {
            starts[g + 1] += starts[g];
        }
        let mut next = starts.clone();
        let mut members = vec![0u32; group_of.len()];
        for (g, i) in group_of {
            members[next[g as usize] as usize] = i;
            next[g as usize] += 1;
        }
        Owners {
            names,
            members,
            starts,
            cuts,
            soa,
            nsec3,
        }
    }

    /// The indexes of group `g`'s records.
    fn records(&self, g: usize) -> &[u32] {
        &self.members[self.starts[g] as usize..self.starts[g + 1] as usize]
    }

    /// Whether the apex has NS records.
    fn apex_ns(&self, records: &PackedRecords) -> bool {
        let Some(apex) = self.soa.and_then(|i| records.parts(i)) else {
            return false;
        };
        let mut buf = [0; MAX_WIRE];
        let Some(g) = self.names.index(lower_wire(apex.0, &mut buf)) else {
            return false;
        };
        let ns = |&i: &u32| records.parts(i as usize).map(|p| p.1) == Some(RecordType::NS);
        self.records(g).iter().any(ns)
    }
}

/// `wire` (a name in wire form) lower-cased into `buf`.
fn lower_wire<'b>(wire: &[u8], buf: &'b mut [u8; MAX_WIRE]) -> &'b [u8] {
    let out = &mut buf[..wire.len()];
    for (o, b) in out.iter_mut().zip(wire) {
        *o = b.to_ascii_lowercase();
    }
    out
}

/// The node of one owner, from its records (`idx`, in file order): its RRsets by type
/// (duplicates merged, one TTL per RRset: the first record's), each with the RRSIGs that cover
/// it; only NS, DS and NSEC (and their signatures) at a cut; a CNAME beside other data than its
/// RRSIG and NSEC (RFC 4035 §2.5) is an error. The records are read and packed in wire form,
/// never decoded.
fn build_node(
    owner_wire: &[u8],
    idx: &[u32],
    records: &PackedRecords,
    at_cut: bool,
    errors: &mut Vec<Problem>,
) -> Node {
    let owner = || names::to_name(owner_wire);
    let parent_side =
        |t: RecordType| matches!(t, RecordType::NS | RecordType::DS | RecordType::NSEC);
    // RRsets in the order their first records stand, as record indexes; RRSIGs by the type
    // they cover.
    let mut sets: Sets = SmallVec::new();
    let mut sigs: Sets = SmallVec::new();
    let mut cname_at = None;
    for i in idx.iter().map(|&i| i as usize) {
        let Some((_, t, rdata)) = records.parts(i) else {
            continue;
        };
        let (key, group) = match signed::covered_wire(t, rdata) {
            Some(covered) => (covered, &mut sigs),
            None => (t, &mut sets),
        };
        if at_cut && !parent_side(key) {
            continue; // occluded by the delegation; A/AAAA are kept as glue
        }
        if t == RecordType::CNAME {
            cname_at.get_or_insert(i);
        }
        match group.iter_mut().find(|(st, _)| *st == key) {
            Some((_, set)) => {
                if set.iter().any(|&j| same_rdata(records, t, j, rdata)) {
                    continue; // RFC 2181 §5: duplicates are one record
                }
                if t == RecordType::CNAME {
                    let msg = format!("{} has more than one CNAME", owner());
                    errors.push(records.problem(i, msg));
                    continue;
                }
                set.push(i);
            }
            None => group.push((key, smallvec::smallvec![i])),
        }
    }
    let beside = sets
        .iter()
        .filter(|(t, _)| !matches!(t, RecordType::CNAME | RecordType::NSEC))
        .count();
    if let Some(cname) = cname_at.filter(|_| beside > 0) {
        errors.push(records.problem(
            cname,
            format!(
                "{} has a CNAME and other data; a CNAME must stand alone (RFC 1034 §3.6.2)",
                owner()
            ),
        ));
    }
    // In a slice of its exact size (vectors grow by fours).
    let mut rrsets = Vec::with_capacity(sets.len());
    let first = idx.first().map_or(0, |&i| i as usize);
    let cannot =
        |t: RecordType| records.problem(first, format!("{}: cannot keep its {t} records", owner()));
    for (t, set) in &sets {
        match RRset::pack_wire(*t, records, set) {
            Some(set) => rrsets.push(set),
            None => errors.push(cannot(*t)),
        }
    }
    if !attach_signatures(&mut rrsets, records, sigs) {
        errors.push(cannot(RecordType::RRSIG));
    }
    Node {
        rrsets: rrsets.into_boxed_slice(),
        cut: at_cut,
        ..Node::default()
    }
}

/// A node's records by type, as indexes into the packed records (on the stack for most names).
type Sets = SmallVec<[(RecordType, SmallVec<[usize; 2]>); 2]>;

/// Whether record `j` of `records` has the RDATA `rdata` (of type `t`), as RFC 2181 §5 counts
/// duplicates: octet for octet, but the names inside the RDATA of the types that hold them
/// compared without case (as hickory compares them).
fn same_rdata(records: &PackedRecords, t: RecordType, j: usize, rdata: &[u8]) -> bool {
    let Some((_, _, other)) = records.parts(j) else {
        return false;
    };
    if other == rdata {
        return true;
    }
    use RecordType::*;
    if !matches!(t, NS | CNAME | SOA | MX | SRV | PTR) || !other.eq_ignore_ascii_case(rdata) {
        return false;
    }
    let read = |w: &[u8]| scan::to_rdata(t, w.to_vec()).ok();
    read(other).is_some_and(|a| read(rdata) == Some(a))
}

/// Puts each type's signatures beside its RRset; those covering no RRset here stay an RRSIG
/// RRset. `false` when some could not be kept.
fn attach_signatures(rrsets: &mut Vec<RRset>, records: &PackedRecords, sigs: Sets) -> bool {
    let mut kept = true;
    let mut orphans = Vec::new();
    for (covered, set) in sigs {
        match rrsets.iter_mut().find(|s| s.rtype == covered) {
            Some(rrset) => match RRset::pack_wire(RecordType::RRSIG, records, &set) {
                Some(packed) => rrset.sigs = Some(Box::new(packed)),
                None => kept = false,
            },
            None => orphans.extend(set),
        }
    }
    if let Some(set) = RRset::pack_wire(RecordType::RRSIG, records, &orphans) {
        rrsets.push(set);
    }
    kept
}

/// `v` in a new allocation of exactly its length.
fn exact<T>(v: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    out.extend(v);
    out
}

/// Why `pool` cannot stand in the signed zone `origin`: its answers are made per query, and no
/// outside signer signed them.
fn signed_pool(pool: &Pool, origin: &Name) -> String {
    format!(
        "pool {} is in the signed zone {origin}: dnslb cannot sign its answers yet, and \
         validating resolvers would refuse them unsigned; serve it from an unsigned child zone",
        pool.name
    )
}

/// Puts a pool at its node; the message says why it cannot stand there.
fn place_pool(
    apex: &[u8],
    cuts: &FxHashSet<Box<[u8]>>,
    nodes: &mut Nodes,
    pool: &Arc<Pool>,
) -> Result<(), String> {
    let name = pool.name.to_lowercase();
    let mut buf = [0; MAX_WIRE];
    let wire = names::lower(&name, &mut buf);
    if below_a_cut(wire, apex, cuts) || cuts.contains(wire) {
        return Err(format!(
            "pool {name} is at or below the delegation of a subzone"
        ));
    }
    let node = nodes.entry(wire);
    let conflict = if pool.rtype == RecordType::CNAME {
        (!node.rrsets.is_empty() || !node.pools.is_empty()).then(|| {
            format!("CNAME pool {name}: the name has other data; a CNAME must stand alone")
        })
    } else if node.has_cname() {
        Some(format!("{} pool {name}: the name has a CNAME", pool.rtype))
    } else if node.rrset(pool.rtype).is_some() {
        Some(format!(
            "{} pool {name}: the zone file already has {} records at this name",
            pool.rtype, pool.rtype
        ))
    } else if node.pool(pool.rtype).is_some() {
        Some(format!("{name} has two {} pools", pool.rtype))
    } else {
        None
    };
    match conflict {
        Some(msg) => Err(msg),
        None => {
            let mut pools = std::mem::take(&mut node.pools).into_vec();
            pools.push(pool.clone());
            node.pools = pools.into_boxed_slice();
            Ok(())
        }
    }
}

/// Adds the empty non-terminals between every name and the apex, and marks wildcard parents.
///
/// Only names more than one label below the apex can lack a parent (the apex always exists),
/// and a walk up stops at the first ancestor that exists: its own ancestors exist already, or
/// will when its own walk comes (a zone of a million names one label deep walks nothing).
fn add_parents(apex: &[u8], nodes: &mut Nodes) {
    let one_below = |w: &[u8]| names::parent(w).is_some_and(|p| p.len() == apex.len());
    let walks: Vec<Box<[u8]>> = nodes
        .iter()
        .map(|(w, _)| w)
        .filter(|w| w.len() > apex.len() && (!one_below(w) || names::is_wildcard(w)))
        .map(Box::from)
        .collect();
    for wire in walks {
        let mut at: &[u8] = &wire;
        while let Some(parent) = names::parent(at).filter(|p| p.len() >= apex.len()) {
            at = parent;
            if nodes.contains(at) {
                break;
            }
            nodes.insert(at, Node::default());
        }
        // After the walk: the wildcard's parent exists now, with its ancestors.
        if names::is_wildcard(&wire)
            && let Some(node) = names::parent(&wire).and_then(|p| nodes.get_mut(p))
        {
            node.wildcard_child = true;
        }
    }
}

/// Whether `wire` lies strictly below one of `cuts` (between it and the apex).
fn below_a_cut(wire: &[u8], apex: &[u8], cuts: &FxHashSet<Box<[u8]>>) -> bool {
    if cuts.is_empty() {
        return false;
    }
    let mut at = wire;
    while let Some(parent) = names::parent(at).filter(|p| p.len() > apex.len()) {
        if cuts.contains(parent) {
            return true;
        }
        at = parent;
    }
    false
}
