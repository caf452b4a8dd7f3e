//! How a zone keeps its nodes and RRsets: every RRset's octets back to back in one arena, a
//! fixed 20-octet record per RRset, an 8-octet record per name, and the names themselves in
//! [`Names`]. A name with one A record costs about 75 octets here, where a node owning a slice
//! of RRsets, each owning its octets and its records' owners, cost about 160 (three
//! allocations a name). [`Node`] and [`RRset`] are views into the store, copied freely.
//!
//! An RRset is stored as its class and TTL (six octets, one per RRset), then each record's
//! RDLENGTH and RDATA (names uncompressed). The records' owner is the node's, spelled as the
//! first record of the name was written (NSD and Knot keep one spelling a name, too).

use std::path::Path;
use std::sync::Arc;

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use rustc_hash::FxHashMap;

use super::names::{Names, to_name};
use super::packed::{self, PackedRecords};
use super::scan;
use crate::pool::Pool;

/// A name's record in the store.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NodeData {
    /// Its first RRset in `Store::sets`.
    first: u32,
    /// How many RRsets it has.
    count: u16,
    /// `CUT`, `WILDCARD_CHILD`, `POOLS`, `SPELLED`.
    flags: u8,
}

const CUT: u8 = 1;
const WILDCARD_CHILD: u8 = 2;
const POOLS: u8 = 4;
const SPELLED: u8 = 8;

/// An RRset's record in the store: its type, and where its octets and its RRSIGs' stand in
/// `Store::data` (`sig_len` 0: unsigned).
#[derive(Debug, Clone, Copy)]
struct SetData {
    rtype: RecordType,
    at: u32,
    len: u32,
    sig_at: u32,
    sig_len: u32,
}

/// The nodes and RRsets of one zone; see the module's text.
#[derive(Debug, Default)]
pub(super) struct Store {
    /// Every name of the zone, lower-cased wire form.
    pub(super) nodes: Names<NodeData>,
    sets: Vec<SetData>,
    data: Vec<u8>,
    /// The owners written in other than lower case, as first written (by node index).
    spelled: FxHashMap<u32, Box<[u8]>>,
    /// The pools at a name (an A and an AAAA pool, or one CNAME pool), by node index.
    pools: FxHashMap<u32, Box<[Arc<Pool>]>>,
}

impl Store {
    /// Room for `names` names of `name_octets` octets, and `records` records of
    /// `record_octets` octets (an upper bound of what the RRsets take).
    pub(super) fn with_capacity(
        names: usize,
        name_octets: usize,
        records: usize,
        record_octets: usize,
    ) -> Self {
        Store {
            nodes: Names::with_capacity(names, name_octets),
            sets: Vec::with_capacity(records),
            data: Vec::with_capacity(record_octets),
            ..Store::default()
        }
    }

    /// Starts the RRsets of a new name: its RRsets follow with [`Store::pack_set`], then
    /// [`Store::push_node`] adds it.
    pub(super) fn next_set(&self) -> usize {
        self.sets.len()
    }

    /// Packs records `set` of `records` as an RRset of `rtype` (class and TTL the first
    /// record's); `false` when the zone grew past what the store indexes (4 GiB).
    pub(super) fn pack_set(
        &mut self,
        rtype: RecordType,
        records: &PackedRecords,
        set: &[usize],
    ) -> bool {
        let Some((at, len)) = self.pack(records, set) else {
            return false;
        };
        self.sets.push(SetData {
            rtype,
            at,
            len,
            sig_at: 0,
            sig_len: 0,
        });
        true
    }

    /// Packs records `set` as the RRSIGs of the RRset of `covered` among the RRsets from
    /// `first` on; `None` when there is no such RRset, `Some(false)` when they could not be kept.
    pub(super) fn pack_signatures(
        &mut self,
        first: usize,
        covered: RecordType,
        records: &PackedRecords,
        set: &[usize],
    ) -> Option<bool> {
        let i = first + self.sets[first..].iter().position(|s| s.rtype == covered)?;
        let Some((at, len)) = self.pack(records, set) else {
            return Some(false);
        };
        self.sets[i].sig_at = at;
        self.sets[i].sig_len = len;
        Some(true)
    }

    /// Class and TTL of the first of `set`, then each record's RDLENGTH and RDATA, appended to
    /// the arena: where they stand.
    fn pack(&mut self, records: &PackedRecords, set: &[usize]) -> Option<(u32, u32)> {
        let start = self.data.len();
        let (_, class_ttl, _) = records.wire_parts(*set.first()?)?;
        self.data.extend_from_slice(class_ttl);
        for &i in set {
            let (_, _, rdata) = records.wire_parts(i)?;
            self.data.extend_from_slice(rdata);
        }
        let at = u32::try_from(start).ok()?;
        let len = u32::try_from(self.data.len() - start).ok()?;
        at.checked_add(len).map(|_| (at, len))
    }

    /// Adds the name `wire` (lower-cased; the caller knows it is new), spelled `spelled`, with
    /// the RRsets packed since `first`.
    pub(super) fn push_node(&mut self, wire: &[u8], spelled: &[u8], first: usize, cut: bool) {
        let count = u16::try_from(self.sets.len() - first).unwrap_or(u16::MAX);
        let mut flags = if cut { CUT } else { 0 };
        if spelled != wire {
            flags |= SPELLED;
        }
        let data = NodeData {
            first: u32::try_from(first).expect("fewer than 2^32 RRsets"),
            count,
            flags,
        };
        let i = self.nodes.push(wire, data);
        if spelled != wire {
            self.spelled.insert(i as u32, Box::from(spelled));
        }
    }

    /// Adds the empty name `wire` unless it is here: whether it was added.
    pub(super) fn add_empty(&mut self, wire: &[u8]) -> bool {
        if self.nodes.contains(wire) {
            return false;
        }
        self.nodes.push(wire, NodeData::default());
        true
    }

    /// Marks `wire` as the parent of a wildcard.
    pub(super) fn mark_wildcard_parent(&mut self, wire: &[u8]) {
        if let Some(n) = self.nodes.get_mut(wire) {
            n.flags |= WILDCARD_CHILD;
        }
    }

    /// Adds `pool` at `wire` (made an empty name if it was not one).
    pub(super) fn add_pool(&mut self, wire: &[u8], pool: Arc<Pool>) {
        let i = self.nodes.index_or_insert(wire);
        let node = self.nodes.get_mut(wire).expect("just found or added");
        node.flags |= POOLS;
        let mut pools = self
            .pools
            .remove(&(i as u32))
            .map(<[_]>::into_vec)
            .unwrap_or_default();
        pools.push(pool);
        self.pools.insert(i as u32, pools.into_boxed_slice());
    }

    /// The node of `wire` (lower-cased wire form).
    pub(super) fn get(&self, wire: &[u8]) -> Option<Node<'_>> {
        let i = self.nodes.index(wire)?;
        Some(self.node(i))
    }

    /// Node `i`.
    pub(super) fn node(&self, i: usize) -> Node<'_> {
        Node {
            store: self,
            index: i as u32,
            data: *self.nodes.value(i),
        }
    }

    /// Every name (lower-cased wire form) and its node, in the order they were added.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], Node<'_>)> {
        (0..self.nodes.len()).map(|i| (self.nodes.key(i), self.node(i)))
    }

    /// Gives back the room it holds beyond its contents.
    pub(super) fn shrink_to_fit(&mut self) {
        self.nodes.shrink_to_fit();
        self.sets.shrink_to_fit();
        self.data.shrink_to_fit();
        self.spelled.shrink_to_fit();
        self.pools.shrink_to_fit();
    }
}

/// A name that exists in the zone: a view into its store.
#[derive(Debug, Clone, Copy)]
pub struct Node<'z> {
    store: &'z Store,
    index: u32,
    data: NodeData,
}

impl<'z> Node<'z> {
    /// Its RRsets in the order their first records stand in the file (none for an empty
    /// non-terminal); a minimal ANY answers the first, as NSD does.
    pub fn rrsets(self) -> impl Iterator<Item = RRset<'z>> {
        let first = self.data.first as usize;
        let sets = &self.store.sets[first..first + usize::from(self.data.count)];
        let owner = Owner::Node(self.store, self.index);
        sets.iter().map(move |s| self.store.view(s, owner))
    }

    /// Whether it has no RRsets (an empty non-terminal, or a name of pools only).
    pub fn has_rrsets(self) -> bool {
        self.data.count > 0
    }

    /// The RRset of `rtype`, if any.
    pub fn rrset(self, rtype: RecordType) -> Option<RRset<'z>> {
        self.rrsets().find(|s| s.rtype == rtype)
    }

    /// Pools at this name (an A and an AAAA pool, or one CNAME pool).
    pub fn pools(self) -> &'z [Arc<Pool>] {
        match self.data.flags & POOLS {
            0 => &[],
            _ => self.store.pools.get(&self.index).map_or(&[], |p| &p[..]),
        }
    }

    /// The pool answering `rtype`, if any.
    pub fn pool(self, rtype: RecordType) -> Option<&'z Arc<Pool>> {
        self.pools().iter().find(|p| p.rtype == rtype)
    }

    /// A delegation point (NS at a name other than the apex).
    pub fn cut(self) -> bool {
        self.data.flags & CUT != 0
    }

    /// `*.<this name>` exists.
    pub fn wildcard_child(self) -> bool {
        self.data.flags & WILDCARD_CHILD != 0
    }

    /// The one RRset a minimal ANY answers (RFC 8482 §4.1), by NSD's rule: the first of A,
    /// AAAA, SOA, MX and PTR in file order (popular and small); else the last other RRset in
    /// file order; else a DNSSEC one (DNSKEY, RRSIG, NSEC). Knot answers the RRset of the
    /// lowest type code instead: the two agree unless a name holds two of the preferred types
    /// (at an apex, NSD answers SOA and Knot NS); we follow NSD, which the differential test
    /// compares with.
    pub fn any_rrset(self) -> Option<RRset<'z>> {
        let mut normal = None;
        let mut dnssec = None;
        for set in self.rrsets() {
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
    pub fn has_cname(self) -> bool {
        self.rrset(RecordType::CNAME).is_some() || self.pool(RecordType::CNAME).is_some()
    }
}

impl Store {
    /// The stored octets of node `i`'s RRset of `rtype` (class and TTL, then each record's
    /// RDLENGTH and RDATA), for the fast path: no view made.
    #[inline]
    pub(super) fn octets_of(&self, i: usize, rtype: RecordType) -> Option<&[u8]> {
        let node = self.nodes.value(i);
        let first = node.first as usize;
        let sets = self.sets.get(first..first + usize::from(node.count))?;
        let set = sets.iter().find(|s| s.rtype == rtype)?;
        self.data.get(set.at as usize..(set.at + set.len) as usize)
    }

    /// Node `i`'s name as first written, in wire form.
    fn owner(&self, i: u32) -> &[u8] {
        match self.nodes.value(i as usize).flags & SPELLED {
            0 => self.nodes.key(i as usize),
            _ => &self.spelled[&i],
        }
    }

    fn view<'z>(&'z self, s: &SetData, owner: Owner<'z>) -> RRset<'z> {
        let span = |at: u32, len: u32| &self.data[at as usize..(at + len) as usize];
        RRset {
            rtype: s.rtype,
            owner,
            packed: span(s.at, s.len),
            sigs: (s.sig_len > 0).then(|| span(s.sig_at, s.sig_len)),
        }
    }
}

/// One RRset: a view of its stored octets (see the module's text). The general path decodes it
/// when it answers from it ([`RRset::records`]); the UDP fast path answers from prepared bytes
/// and never does.
#[derive(Debug, Clone, Copy)]
pub struct RRset<'z> {
    /// The type.
    pub rtype: RecordType,
    /// The owner, found when asked.
    owner: Owner<'z>,
    /// Class and TTL, then each record's RDLENGTH and RDATA.
    packed: &'z [u8],
    /// The RRSIGs that cover it (packed alike), in a signed zone.
    sigs: Option<&'z [u8]>,
}

impl<'z> RRset<'z> {
    /// The view of an RRset of `rtype` kept apart from the names: `owner` (wire form),
    /// `packed` (class and TTL, then RDLENGTH and RDATA per record), its RRSIGs' alike.
    pub(super) fn from_parts(
        rtype: RecordType,
        owner: &'z [u8],
        packed: &'z [u8],
        sigs: Option<&'z [u8]>,
    ) -> Self {
        RRset {
            rtype,
            owner: Owner::Wire(owner),
            packed,
            sigs,
        }
    }

    /// The RRSIGs covering this RRset, if the zone signs it.
    pub fn signatures(self) -> Option<RRset<'z>> {
        Some(RRset {
            rtype: RecordType::RRSIG,
            owner: self.owner,
            packed: self.sigs?,
            sigs: None,
        })
    }

    /// The owner, wire form as written.
    pub fn owner(self) -> &'z [u8] {
        match self.owner {
            Owner::Node(store, i) => store.owner(i),
            Owner::Wire(wire) => wire,
        }
    }

    /// Each record's RDATA, in wire form (names uncompressed), in file order.
    pub fn rdatas(self) -> impl Iterator<Item = &'z [u8]> {
        let mut rest = self.packed.get(6..).unwrap_or_default();
        std::iter::from_fn(move || {
            let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
            let rdata = rest.get(2..2 + len)?;
            rest = &rest[2 + len..];
            Some(rdata)
        })
    }

    /// Its stored octets: class and TTL, then each record's RDLENGTH and RDATA.
    pub fn octets(self) -> &'z [u8] {
        self.packed
    }

    /// The class and TTL of every record in wire form (six octets), and the records: each its
    /// RDATA length and RDATA.
    pub fn packed_parts(self) -> (&'z [u8], &'z [u8]) {
        self.packed.split_at(self.packed.len().min(6))
    }

    /// The answer section for a question of this RRset's owner and type, encoded as the general
    /// path encodes it: each record's owner a pointer to the question (`c00c`), then type,
    /// class, TTL, RDLENGTH and RDATA as stored; and the record count. Only for types whose
    /// RDATA holds no name (A, AAAA), which nothing is compressed in: `None` for others.
    pub fn answer_at_question(self) -> Option<(Vec<u8>, u16)> {
        if !matches!(self.rtype, RecordType::A | RecordType::AAAA) {
            return None;
        }
        let (class_ttl, records) = self.packed_parts();
        let mut out = Vec::with_capacity(records.len() * 2);
        let mut count = 0u16;
        for rdata in self.rdatas() {
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

    /// Appends its records and their RRSIGs to `out`, as from `file`.
    pub(super) fn push_to(self, out: &mut PackedRecords, file: &Arc<Path>) {
        for set in [Some(self), self.signatures()].into_iter().flatten() {
            let (class_ttl, mut rest) = set.packed_parts();
            while let Some(len) = rest.get(..2) {
                let end = 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
                let Some(record) = rest.get(..end) else { break };
                out.push_parts(set.owner(), set.rtype, class_ttl, record, file);
                rest = &rest[end..];
            }
        }
    }

    /// The records, decoded, in file order.
    pub fn records(self) -> Vec<Record> {
        let p = self.packed;
        let class = DNSClass::from(u16::from_be_bytes([p[0], p[1]]));
        let ttl = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
        let owner = to_name(self.owner());
        let mut out = Vec::with_capacity(1);
        for rdata in self.rdatas() {
            let Ok(data) = scan::to_rdata(self.rtype, rdata.to_vec()) else {
                break;
            };
            let mut r = Record::from_rdata(owner.clone(), ttl, data);
            r.dns_class = class;
            out.push(r);
        }
        out
    }
}

/// Where an [`RRset`]'s owner is: a node's name (looked up only when asked: the fast path never
/// asks), or octets of its own.
#[derive(Debug, Clone, Copy)]
enum Owner<'z> {
    Node(&'z Store, u32),
    Wire(&'z [u8]),
}

/// An RRset that owns its octets (packed as in the store): the NSEC3 chain's links, which are
/// not names of the zone.
#[derive(Debug)]
pub struct OwnedRRset {
    rtype: RecordType,
    owner: Box<[u8]>,
    packed: Box<[u8]>,
    sigs: Option<Box<[u8]>>,
}

impl OwnedRRset {
    /// Packs `records` (one owner, one type, one class, one TTL: the first record's) with the
    /// RRSIGs `sigs` that cover them.
    pub(super) fn pack(rtype: RecordType, records: &[Record], sigs: &[Record]) -> Option<Self> {
        let owner = uncompressed_owner(&records.first()?.name)?;
        Some(OwnedRRset {
            rtype,
            owner,
            packed: pack_records(records)?,
            sigs: pack_records(sigs),
        })
    }

    /// The view the answers read.
    pub fn view(&self) -> RRset<'_> {
        RRset {
            rtype: self.rtype,
            owner: Owner::Wire(&self.owner),
            packed: &self.packed,
            sigs: self.sigs.as_deref(),
        }
    }
}

fn uncompressed_owner(name: &Name) -> Option<Box<[u8]>> {
    let mut scratch = Vec::new();
    packed::uncompressed(&mut scratch, |e| name.emit(e)).map(Box::from)
}

/// Class and TTL of the first of `records`, then each one's RDLENGTH and RDATA.
fn pack_records(records: &[Record]) -> Option<Box<[u8]>> {
    let first = records.first()?;
    let mut packed = Vec::with_capacity(6 + records.len() * 32);
    packed.extend_from_slice(&u16::from(first.dns_class).to_be_bytes());
    packed.extend_from_slice(&first.ttl.to_be_bytes());
    let mut scratch = Vec::new();
    for r in records {
        let rdata = packed::uncompressed(&mut scratch, |e| r.data.emit(e))?;
        packed.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
        packed.extend_from_slice(rdata);
    }
    Some(packed.into_boxed_slice())
}
