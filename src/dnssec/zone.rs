//! What signing adds to a zone (RFC 4035 §2): the DNSKEY RRset (and CDS/CDNSKEY, RFC 7344),
//! an RRSIG for every authoritative RRset, and the denial chain: NSEC3 (RFC 5155, with RFC
//! 9276's parameters: SHA-1, no extra iteration, no salt, no opt-out) or NSEC (RFC 4034 §4).
//!
//! The walk reads the zone built unsigned (its names, cuts and empty non-terminals are the
//! store's), so what is signed is exactly what the zone serves: every RRset at and below the
//! apex down to the cuts, at a cut only its DS; glue and what a cut hides never. A pool's name
//! is a name of the tree like any other: its type is in the chain's bitmap, and its RRsets are
//! signed apart ([`super::pools`]). Two threads share the names.

use std::cmp::Ordering;
use std::sync::Arc;

use hickory_proto::rr::RecordType;
use smallvec::SmallVec;

use super::keys::Key;
use super::rrsig::{self, Unsigned, Window};
use super::{Denial, KeySet};
use crate::zone::{Node, PackedRecords, RRset, Zone};

/// The DNSSEC types a signer makes: stripped from what it signs, made anew.
pub const MADE: [RecordType; 7] = [
    RecordType::RRSIG,
    RecordType::NSEC,
    RecordType::NSEC3,
    RecordType::NSEC3PARAM,
    RecordType::DNSKEY,
    RecordType::CDS,
    RecordType::CDNSKEY,
];

/// What one signing pass adds, and how many signatures it made.
pub struct Additions {
    /// The records to add to the zone's.
    pub records: PackedRecords,
    /// Signatures made.
    pub signatures: u64,
}

/// The records signing adds to `zone` (built from records without any of [`MADE`]).
pub fn additions(zone: &Zone, keys: &KeySet<'_>, denial: Denial, window: Window) -> Additions {
    let origin = crate::prepare::wire_lower(&zone.origin);
    let soa_ttl = apex_ttl(zone, &origin);
    let apex_sets = apex_sets(zone, keys, denial, (soa_ttl, zone.negative_soa().ttl));
    let signer = Signer {
        origin: &origin,
        keys,
        window,
        denial,
        apex_sets: &apex_sets,
    };
    let n = zone.node_count();
    let half = n / 2;
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| signer.walk(zone, half..n));
        let mine = signer.walk(zone, 0..half);
        (mine, other.join().expect("a signing thread does not panic"))
    });
    let mut records = a.records;
    records.append(&b.records);
    let mut signatures = a.signatures + b.signatures;
    let mut names = a.names;
    names.extend(b.names);
    let ttl = zone.negative_soa().ttl;
    let chain = match denial {
        Denial::Nsec3 => nsec3_chain(names, &origin, ttl),
        Denial::Nsec => nsec_chain(names, ttl),
    };
    let (first, second) = chain.split_at(chain.len() / 2);
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| signer.links(second, ttl));
        let mine = signer.links(first, ttl);
        (mine, other.join().expect("a signing thread does not panic"))
    });
    for (links, made) in [a, b] {
        records.append(&links);
        signatures += made;
    }
    records.shrink_to_fit();
    Additions {
        records,
        signatures,
    }
}

/// The TTL of the apex's SOA (the DNSKEY, CDS and CDNSKEY RRsets take it, as Knot's default).
fn apex_ttl(zone: &Zone, origin: &[u8]) -> u32 {
    zone.nodes_wire()
        .find(|(w, _)| *w == origin)
        .and_then(|(_, n)| n.rrset(RecordType::SOA))
        .map_or(3600, |s| ttl_of(s))
}

fn ttl_of(set: RRset<'_>) -> u32 {
    let (class_ttl, _) = set.packed_parts();
    class_ttl
        .get(2..6)
        .map_or(0, |t| u32::from_be_bytes([t[0], t[1], t[2], t[3]]))
}

/// The apex RRsets the keys make: DNSKEY, CDS and CDNSKEY (while a KSK's SyncPublish says),
/// and NSEC3PARAM; each (type, TTL, RDATAs).
fn apex_sets(
    zone: &Zone,
    keys: &KeySet<'_>,
    denial: Denial,
    (ttl, negative_ttl): (u32, u32),
) -> Vec<(RecordType, u32, Vec<Vec<u8>>)> {
    let mut sets = vec![(
        RecordType::DNSKEY,
        ttl,
        keys.published.iter().map(|k| k.dnskey.clone()).collect(),
    )];
    if !keys.syncing.is_empty() {
        let cds = keys.syncing.iter().map(|k| k.ds(&zone.origin)).collect();
        let cdnskey = keys.syncing.iter().map(|k| k.dnskey.clone()).collect();
        sets.push((RecordType::CDS, ttl, cds));
        sets.push((RecordType::CDNSKEY, ttl, cdnskey));
    }
    if denial == Denial::Nsec3 {
        // SHA-1, no flags, no extra iteration, no salt (RFC 9276 §3.1); the TTL of the chain
        // (the negative TTL, RFC 9077), as Knot.
        sets.push((
            RecordType::NSEC3PARAM,
            negative_ttl,
            vec![vec![1, 0, 0, 0, 0]],
        ));
    }
    sets
}

/// One name's types, for the denial chain.
pub struct NameTypes {
    /// Lower-cased wire form.
    pub wire: Box<[u8]>,
    /// The types its NSEC3 or NSEC lists (without NSEC itself), sorted.
    pub types: SmallVec<[u16; 8]>,
}

/// What one thread's share of the walk made.
struct Share {
    records: PackedRecords,
    signatures: u64,
    names: Vec<NameTypes>,
}

/// What the walk signs with.
struct Signer<'a, 'k> {
    origin: &'a [u8],
    keys: &'a KeySet<'k>,
    window: Window,
    denial: Denial,
    apex_sets: &'a [(RecordType, u32, Vec<Vec<u8>>)],
}

impl Signer<'_, '_> {
    /// Signs the names `range` of `zone`, and lists their types.
    fn walk(&self, zone: &Zone, range: std::ops::Range<usize>) -> Share {
        let mut share = Share {
            records: PackedRecords::default(),
            signatures: 0,
            names: Vec::with_capacity(range.len()),
        };
        for i in range {
            let (wire, node) = (zone.name_at(i), zone.node_at(i));
            self.node(wire, node, &mut share);
        }
        share
    }

    /// Signs what `node` (named `wire`) serves with authority, and lists its types.
    fn node(&self, wire: &[u8], node: Node<'_>, share: &mut Share) {
        let apex = wire == self.origin;
        let cut = node.cut() && !apex;
        let mut types: SmallVec<[u16; 8]> = SmallVec::new();
        let mut signed = false;
        for set in node.rrsets() {
            types.push(u16::from(set.rtype));
            if cut && set.rtype != RecordType::DS {
                continue;
            }
            let rdatas: SmallVec<[&[u8]; 8]> = set.rdatas().collect();
            let unsigned = Unsigned {
                owner: wire,
                rtype: u16::from(set.rtype),
                ttl: ttl_of(set),
                rdatas: &rdatas,
            };
            share.signatures += self.sign_as(&unsigned, set.owner(), &mut share.records);
            signed = true;
        }
        for pool in node.pools() {
            types.push(u16::from(pool.rtype));
            signed = true;
        }
        if apex {
            for (rtype, ttl, rdatas) in self.apex_sets {
                let slices: SmallVec<[&[u8]; 4]> = rdatas.iter().map(Vec::as_slice).collect();
                for rdata in &slices {
                    share.records.push_made(wire, *rtype, *ttl, rdata);
                }
                let set = Unsigned {
                    owner: wire,
                    rtype: u16::from(*rtype),
                    ttl: *ttl,
                    rdatas: &slices,
                };
                share.signatures += self.sign_as(&set, wire, &mut share.records);
                types.push(u16::from(*rtype));
            }
        }
        // An empty non-terminal has no NSEC (NSEC3 proves it exists: RFC 5155 §7.1).
        if types.is_empty() && self.denial == Denial::Nsec {
            return;
        }
        // The NSEC and its signature stand at every owner, so RRSIG is listed in NSEC mode.
        if signed || (self.denial == Denial::Nsec && !types.is_empty()) {
            types.push(u16::from(RecordType::RRSIG));
        }
        types.sort_unstable();
        types.dedup();
        share.names.push(NameTypes {
            wire: Box::from(wire),
            types,
        });
    }

    /// The denial chain's records `links` (owner, type, RDATA), each with its RRSIGs; how
    /// many signatures.
    fn links(&self, links: &[(Vec<u8>, RecordType, Vec<u8>)], ttl: u32) -> (PackedRecords, u64) {
        let mut out = PackedRecords::default();
        let mut made = 0;
        for (owner, rtype, rdata) in links {
            let rdatas = [rdata.as_slice()];
            let set = Unsigned {
                owner,
                rtype: u16::from(*rtype),
                ttl,
                rdatas: &rdatas,
            };
            out.push_made(owner, *rtype, ttl, rdata);
            made += self.sign(&set, &mut out);
        }
        (out, made)
    }

    /// The RRSIGs of `set` by each key that signs its type, appended to `out`; how many.
    fn sign(&self, set: &Unsigned<'_>, out: &mut PackedRecords) -> u64 {
        self.sign_as(set, set.owner, out)
    }

    /// [`Signer::sign`], the RRSIGs owned by `spelled` (the owner as the zone writes it).
    fn sign_as(&self, set: &Unsigned<'_>, spelled: &[u8], out: &mut PackedRecords) -> u64 {
        let keys: &[&Arc<Key>] = match RecordType::from(set.rtype) {
            RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY => &self.keys.ksks,
            _ => &self.keys.zsks,
        };
        let mut made = 0;
        for key in keys {
            if let Some(rdata) = rrsig::make(set, key, self.origin, self.window) {
                out.push_made(spelled, RecordType::RRSIG, set.ttl, &rdata);
                made += 1;
            }
        }
        made
    }
}

/// The NSEC3 records (owner, type, RDATA) of `names`: each name hashed (SHA-1 of its lower-cased
/// wire form, no salt, no extra iteration), in hash order, each pointing at the next.
fn nsec3_chain(
    names: Vec<NameTypes>,
    origin: &[u8],
    _ttl: u32,
) -> Vec<(Vec<u8>, RecordType, Vec<u8>)> {
    let mut hashed: Vec<([u8; 20], SmallVec<[u16; 8]>)> = names
        .into_iter()
        .map(|n| (nsec3_hash(&n.wire), n.types))
        .collect();
    hashed.sort_unstable_by_key(|h| h.0);
    hashed.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::with_capacity(hashed.len());
    for (i, (hash, types)) in hashed.iter().enumerate() {
        let next = &hashed[(i + 1) % hashed.len()].0;
        let mut rdata = vec![1, 0, 0, 0, 0, 20];
        rdata.extend_from_slice(next);
        rdata.extend_from_slice(&type_bitmap(types));
        let label = data_encoding::BASE32HEX_NOPAD
            .encode(hash)
            .to_ascii_lowercase();
        let mut owner = Vec::with_capacity(1 + label.len() + origin.len());
        owner.push(label.len() as u8);
        owner.extend_from_slice(label.as_bytes());
        owner.extend_from_slice(origin);
        out.push((owner, RecordType::NSEC3, rdata));
    }
    out
}

/// SHA-1 of `wire` (RFC 5155 §5 with no salt and no extra iteration).
pub fn nsec3_hash(wire: &[u8]) -> [u8; 20] {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, wire);
    let mut out = [0; 20];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The NSEC records of `names` in canonical order (RFC 4034 §6.1), each naming the next (the
/// last the apex), its types with NSEC.
fn nsec_chain(mut names: Vec<NameTypes>, _ttl: u32) -> Vec<(Vec<u8>, RecordType, Vec<u8>)> {
    names.sort_unstable_by(|a, b| canonical_cmp(&a.wire, &b.wire));
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let next = &names[(i + 1) % names.len()].wire;
        let mut types = name.types.clone();
        types.push(u16::from(RecordType::NSEC));
        types.sort_unstable();
        let mut rdata = next.to_vec();
        rdata.extend_from_slice(&type_bitmap(&types));
        out.push((name.wire.to_vec(), RecordType::NSEC, rdata));
    }
    out
}

/// The canonical order of two lower-cased wire names (RFC 4034 §6.1): label by label from the
/// root.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (la, lb) = (label_starts(a), label_starts(b));
    for (x, y) in la.iter().rev().zip(lb.iter().rev()) {
        let label = |w: &[u8], at: usize| {
            let len = usize::from(w[at]);
            w[at + 1..at + 1 + len].to_vec()
        };
        match label(a, *x).cmp(&label(b, *y)) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    la.len().cmp(&lb.len())
}

/// Where each label of a wire name starts (the root's not among them).
fn label_starts(wire: &[u8]) -> SmallVec<[usize; 8]> {
    let mut out = SmallVec::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        out.push(at);
        at += 1 + usize::from(len);
    }
    out
}

/// The type bit maps of `types` (sorted, each once), RFC 4034 §4.1.2.
pub fn type_bitmap(types: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut window: Option<(u8, [u8; 32], usize)> = None;
    let flush = |w: Option<(u8, [u8; 32], usize)>, out: &mut Vec<u8>| {
        if let Some((n, bits, len)) = w {
            out.push(n);
            out.push(len as u8);
            out.extend_from_slice(&bits[..len]);
        }
    };
    for &t in types {
        let (n, low) = ((t >> 8) as u8, (t & 0xff) as usize);
        if window.as_ref().is_none_or(|w| w.0 != n) {
            flush(window.take(), &mut out);
            window = Some((n, [0; 32], 0));
        }
        let w = window.as_mut().expect("just set");
        w.1[low / 8] |= 0x80 >> (low % 8);
        w.2 = w.2.max(low / 8 + 1);
    }
    flush(window, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_as_rfc_4034_example() {
        // A MX RRSIG NSEC TYPE1234 (RFC 4034 §4.3).
        let got = type_bitmap(&[1, 15, 46, 47, 1234]);
        let mut want = vec![0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b];
        want.extend_from_slice(&[0; 26]);
        want.push(0x20);
        assert_eq!(got, want);
    }

    #[test]
    fn canonical_order_as_rfc_4034_example() {
        let names: Vec<&[u8]> = vec![
            b"\x07example\x00",
            b"\x01a\x07example\x00",
            b"\x08yljkjljk\x01a\x07example\x00",
            b"\x01z\x01a\x07example\x00",
            b"\x04zabc\x01a\x07example\x00",
            b"\x01z\x07example\x00",
            b"\x01\x01\x01z\x07example\x00",
            b"\x01*\x01z\x07example\x00",
            b"\x01\xc8\x01z\x07example\x00",
        ];
        let mut sorted = names.clone();
        sorted.reverse();
        sorted.sort_by(|a, b| canonical_cmp(a, b));
        assert_eq!(sorted, names);
    }

    #[test]
    fn the_hash_of_rfc_5155_appendix_a_with_no_salt() {
        // `ldns-nsec3-hash -t 0 example.` says 3msev9usmd4br9s97v51r2tdvmr9iqo1.
        let h = nsec3_hash(b"\x07example\x00");
        let label = data_encoding::BASE32HEX_NOPAD
            .encode(&h)
            .to_ascii_lowercase();
        assert_eq!(label, "3msev9usmd4br9s97v51r2tdvmr9iqo1");
    }
}
