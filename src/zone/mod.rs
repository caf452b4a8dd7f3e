//! Zones: the records of one zone file (plus the pools inside it) arranged for lookup.
//!
//! Every name that exists in the zone is a [`Node`] found by its lower-cased wire form in one
//! table ([`store`]), including the empty non-terminals between owners and the apex; its RRsets'
//! octets sit in one arena. Data below a zone cut is not a node: addresses there are glue, kept
//! aside for referrals, and the rest is kept for transfers out. So an exact match costs one hash
//! lookup, and the closest encloser of a missing name is found by stripping labels, one lookup
//! per label: the cost of every kind of answer depends on the name's length, never on the
//! zone's size.

mod entries;
mod loc;
pub mod merge;
mod names;
pub(crate) mod packed;
pub mod parse;
pub mod pool_signatures;
pub mod presentation;
mod scan;
pub mod secondary;
pub mod signed;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;

use crate::Problem;
use crate::pool::Pool;
pub use packed::PackedRecords;
pub use parse::{SourcedRecord, parse_zone_file};
pub use signed::{Denial, Signed};

pub use names::to_name as wire_name;
use names::{MAX_WIRE, Names};
use store::Store;
pub use store::{Node, OwnedRRset, RRset};

/// What a name is, inside one zone.
#[derive(Debug)]
pub enum Lookup<'z> {
    /// The name exists (or a wildcard synthesises it: `wildcard` is true).
    Node {
        /// Its data.
        node: Node<'z>,
        /// Synthesised from `*.<closest encloser>`; owners must be rewritten to the query name.
        wildcard: bool,
    },
    /// The name is at or below a zone cut: the cut's node and name.
    Referral(Node<'z>, Name),
    /// The name lies below a DNAME (RFC 6672): the node holding it, and its owner.
    Dname(Node<'z>, Name),
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
    /// Which parse of its source it was built from (see `load::sources`): the loader serves
    /// it again while that parse stands.
    pub generation: u64,
    /// The SOA for negative answers: TTL = min(SOA TTL, MINIMUM) (RFC 2308 §5).
    negative_soa: Record,
    nodes: Store,
    /// The origin's length in wire form: every name of the zone is at least this long.
    apex_len: usize,
    /// Some pool stands at one of its names.
    has_pools: bool,
    /// What a signed zone holds beyond its names (`None`: not signed).
    pub dnssec: Option<Box<Signed>>,
    /// Address records at or below zone cuts, for referrals.
    glue: FxHashMap<Name, Vec<Record>>,
    /// The other records a cut hides, kept for transfers out.
    occluded: PackedRecords,
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
        Self::build_with(origin, file, records, pools, false)
    }

    /// [`Zone::build`] for a zone dnslb signs itself: its pools stand in it, their RRsets
    /// signed ahead ([`crate::dnssec::pools`]).
    pub fn build_signed_here(
        origin: &Name,
        file: &Path,
        records: &PackedRecords,
        pools: &[Arc<Pool>],
    ) -> Result<Zone, Vec<Problem>> {
        Self::build_with(origin, file, records, pools, true)
    }

    fn build_with(
        origin: &Name,
        file: &Path,
        records: &PackedRecords,
        pools: &[Arc<Pool>],
        signed_here: bool,
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
        let (mut nodes, mut glue, occluded) = arrange(&apex, &owners, records, &soa, &mut errors);
        let is_signed = signed::is_signed(nodes.get(&apex));
        for pool in pools {
            let placed = match is_signed && !signed_here {
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
            generation: 0,
            occluded,
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

    /// Records what dnslb's signing of this zone made and knows.
    pub fn set_ours(&mut self, ours: signed::Ours) {
        if let Some(signed) = &mut self.dnssec {
            signed.ours = Some(Box::new(ours));
        }
    }

    /// What dnslb's signing of this zone made, if dnslb signed it.
    pub fn ours(&self) -> Option<&signed::Ours> {
        self.dnssec.as_ref()?.ours.as_deref()
    }

    /// The signatures of `pool`'s RRsets, when dnslb signed this zone.
    pub fn pool_signatures(&self, pool: &Pool) -> Option<&Arc<pool_signatures::PoolSignatures>> {
        self.ours()?.pools.get(&pool.id)
    }

    /// Name `i` in lower-cased wire form, in the order [`Zone::nodes_wire`] gives them.
    pub fn name_at(&self, i: usize) -> &[u8] {
        self.nodes.nodes.key(i)
    }

    /// Whether a pool stands at any of its names.
    pub fn has_pools(&self) -> bool {
        self.has_pools
    }

    /// How many names (incl. empty non-terminals) the zone has.
    pub fn node_count(&self) -> usize {
        self.nodes.nodes.len()
    }

    /// Every node: names that exist (empty non-terminals too), in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = (Name, Node<'_>)> {
        self.nodes
            .iter()
            .map(|(wire, node)| (names::to_name(wire), node))
    }

    /// Every node, its name in lower-cased wire form ([`wire_name`] gives the `Name`).
    pub fn nodes_wire(&self) -> impl Iterator<Item = (&[u8], Node<'_>)> {
        self.nodes.iter()
    }

    /// Node `i`, in the order [`Zone::nodes_wire`] gives them.
    pub fn node_at(&self, i: usize) -> Node<'_> {
        self.nodes.node(i)
    }

    /// The stored octets of node `i`'s RRset of `rtype` ([`RRset::octets`]), for the fast path.
    #[inline]
    pub fn octets_at(&self, i: usize, rtype: RecordType) -> Option<&[u8]> {
        self.nodes.octets_of(i, rtype)
    }

    /// The node at exactly `name`, if it exists and is authoritative.
    pub fn node(&self, name: &Name) -> Option<Node<'_>> {
        let mut buf = [0; MAX_WIRE];
        self.nodes.get(names::lower(name, &mut buf))
    }

    /// Glue address records at `name` (at or below a cut).
    pub fn glue(&self, name: &Name) -> &[Record] {
        self.glue.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every record of the zone as its file gave it (duplicates once, pools not among them):
    /// what a transfer out sends, and what the zone is built again from when only its pools
    /// change. Records given back carry no line.
    pub fn records(&self) -> PackedRecords {
        let file: Arc<Path> = Arc::from(self.file.as_path());
        let mut out = PackedRecords::default();
        let mut scratch = Vec::new();
        for (_, node) in self.nodes.iter() {
            for set in node.rrsets() {
                set.push_to(&mut out, &file);
            }
        }
        for record in self.glue.values().flatten() {
            out.push(&mut scratch, record, &file, 0);
        }
        if let Some(signed) = &self.dnssec {
            signed.push_to(&mut out, &file);
        }
        out.append(&self.occluded);
        out
    }

    /// Finds what `name` (inside this zone) is, following RFC 1034 §4.3.2 and RFC 4592.
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Lookup<'_> {
        let mut buf = [0; MAX_WIRE];
        let wire = names::lower(name, &mut buf);
        if let Some(node) = self.nodes.get(wire) {
            // Authoritative nodes are never below a cut; at a cut only DS is answered here.
            if node.cut() && qtype != RecordType::DS {
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
                if node.cut() {
                    return Lookup::Referral(node, names::to_name(at));
                }
                if node.rrset(RecordType::DNAME).is_some() {
                    return Lookup::Dname(node, names::to_name(at));
                }
                if node.wildcard_child() {
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
) -> (Store, FxHashMap<Name, Vec<Record>>, PackedRecords) {
    let mut nodes = Store::with_capacity(
        owners.names.len() + 1,
        owners.names.octets(),
        records.len(),
        records.octets(),
    );
    let mut glue: FxHashMap<Name, Vec<Record>> = FxHashMap::default();
    let mut occluded = PackedRecords::default();
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
            for &i in idx
                .iter()
                .filter(|i| !address(i) && occludes(records, **i, below_cut))
            {
                occluded.push_from(records, i as usize);
            }
        }
        if below_cut {
            continue;
        }
        build_node(&mut nodes, owner, idx, records, at_cut, errors); // each owner is one group
    }
    if nodes
        .get(apex)
        .is_some_and(|n| n.rrset(RecordType::CNAME).is_some())
    {
        errors.push(soa.problem("a CNAME at the zone apex is not allowed"));
    }
    occluded.shrink_to_fit();
    (nodes, glue, occluded)
}

/// Whether record `i`, not an address, at a cut (or below one: `below_cut`) is hidden by it:
/// every record below a cut is, and at a cut all but NS, DS and NSEC (and their RRSIGs).
fn occludes(records: &PackedRecords, i: u32, below_cut: bool) -> bool {
    let Some((_, t, rdata)) = records.parts(i as usize) else {
        return false;
    };
    let key = signed::covered_wire(t, rdata).unwrap_or(t);
    below_cut || !parent_side(key)
}

/// The types that stand at a cut on the parent's side.
fn parent_side(t: RecordType) -> bool {
    matches!(t, RecordType::NS | RecordType::DS | RecordType::NSEC)
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
/// never decoded. The node joins `store`.
fn build_node(
    store: &mut Store,
    owner_wire: &[u8],
    idx: &[u32],
    records: &PackedRecords,
    at_cut: bool,
    errors: &mut Vec<Problem>,
) {
    let owner = || names::to_name(owner_wire);
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
    let first_record = idx.first().map_or(0, |&i| i as usize);
    let cannot = |t: RecordType| {
        let msg = format!("{}: cannot keep its {t} records", owner());
        records.problem(first_record, msg)
    };
    let first = store.next_set();
    for (t, set) in &sets {
        if !store.pack_set(*t, records, set) {
            errors.push(cannot(*t));
        }
    }
    if !attach_signatures(store, first, records, sigs) {
        errors.push(cannot(RecordType::RRSIG));
    }
    let spelled = records.parts(first_record).map_or(owner_wire, |p| p.0);
    store.push_node(owner_wire, spelled, first, at_cut);
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

/// Puts each type's signatures beside its RRset (among those of the node being built, from
/// `first` on); those covering no RRset here stay an RRSIG RRset. `false` when some could not
/// be kept.
fn attach_signatures(store: &mut Store, first: usize, records: &PackedRecords, sigs: Sets) -> bool {
    let mut kept = true;
    let mut orphans = Vec::new();
    for (covered, set) in sigs {
        match store.pack_signatures(first, covered, records, &set) {
            Some(ok) => kept &= ok,
            None => orphans.extend(set),
        }
    }
    if !orphans.is_empty() {
        kept &= store.pack_set(RecordType::RRSIG, records, &orphans);
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
    nodes: &mut Store,
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
    let node = nodes.get(wire);
    let has = |f: &dyn Fn(Node<'_>) -> bool| node.is_some_and(f);
    // A CNAME stands beside its own NSEC and RRSIGs (RFC 2181 §10.1, RFC 4035 §2.5).
    let other_data = |n: Node<'_>| {
        n.rrsets()
            .any(|s| !matches!(s.rtype, RecordType::NSEC | RecordType::RRSIG))
    };
    let conflict = if pool.rtype == RecordType::CNAME {
        has(&|n| other_data(n) || !n.pools().is_empty()).then(|| {
            format!("CNAME pool {name}: the name has other data; a CNAME must stand alone")
        })
    } else if has(&|n| n.has_cname()) {
        Some(format!("{} pool {name}: the name has a CNAME", pool.rtype))
    } else if has(&|n| n.rrset(pool.rtype).is_some()) {
        Some(format!(
            "{} pool {name}: the zone file already has {} records at this name",
            pool.rtype, pool.rtype
        ))
    } else if has(&|n| n.pool(pool.rtype).is_some()) {
        Some(format!("{name} has two {} pools", pool.rtype))
    } else {
        None
    };
    match conflict {
        Some(msg) => Err(msg),
        None => {
            nodes.add_pool(wire, pool.clone());
            Ok(())
        }
    }
}

/// Adds the empty non-terminals between every name and the apex, and marks wildcard parents.
///
/// Only names more than one label below the apex can lack a parent (the apex always exists),
/// and a walk up stops at the first ancestor that exists: its own ancestors exist already, or
/// will when its own walk comes (a zone of a million names one label deep walks nothing).
fn add_parents(apex: &[u8], nodes: &mut Store) {
    let one_below = |w: &[u8]| names::parent(w).is_some_and(|p| p.len() == apex.len());
    let walks: Vec<Box<[u8]>> = nodes
        .nodes
        .iter()
        .map(|(w, _)| w)
        .filter(|w| w.len() > apex.len() && (!one_below(w) || names::is_wildcard(w)))
        .map(Box::from)
        .collect();
    for wire in walks {
        let mut at: &[u8] = &wire;
        while let Some(parent) = names::parent(at).filter(|p| p.len() >= apex.len()) {
            at = parent;
            if !nodes.add_empty(at) {
                break;
            }
        }
        // After the walk: the wildcard's parent exists now, with its ancestors.
        if names::is_wildcard(&wire)
            && let Some(parent) = names::parent(&wire)
        {
            nodes.mark_wildcard_parent(parent);
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
