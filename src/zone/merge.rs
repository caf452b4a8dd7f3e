//! Records merged as a transfer brings them, in the packed wire form ([`PackedRecords`]) rather
//! than as hickory `Record`s (about 45 octets a record where a `Record` takes 296).
//!
//! An RRset is a set (RFC 2181 §5): a record that is already held (same owner, ignoring case,
//! type, class and RDATA; the TTL is not part of it) is merged into the one held, so that a
//! primary repeating itself costs nothing. An IXFR's deletions mark records dead and its
//! additions append or revive them; each is one hash lookup, so a difference is applied in time
//! linear in its size plus the zone's. The SOA is kept apart by the caller and put first when
//! the records are finished into a [`PackedRecords`].

use std::hash::Hasher;
use std::path::Path;
use std::sync::Arc;

use hashbrown::HashTable;
use hickory_proto::rr::{Record, RecordType};
use rustc_hash::FxHasher;

use super::PackedRecords;
use super::packed::push_record;

/// Records merged; see the module's text.
#[derive(Debug, Default)]
pub struct Merger {
    /// Every record ever added, back to back (dead ones included).
    bytes: Vec<u8>,
    /// Where each record starts in `bytes`.
    starts: Vec<u32>,
    /// Whether each record was deleted since.
    dead: Vec<bool>,
    /// How many are not dead.
    live: usize,
    /// Record numbers, by the hash of their identity.
    table: HashTable<u32>,
    scratch: Vec<u8>,
}

/// Why a record cannot be merged.
#[derive(Debug, PartialEq, Eq)]
pub enum MergeError {
    /// hickory cannot encode it (it decoded it, so this does not happen).
    Encode,
    /// The records would take more than 4 GiB.
    TooLarge,
}

/// The length of the uncompressed wire name at the start of `b`.
fn owner_len(b: &[u8]) -> usize {
    let mut i = 0;
    while let Some(&len) = b.get(i) {
        i += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    i.min(b.len())
}

/// A record's octets split into owner, type and class, and RDATA (the TTL and the RDATA length
/// left out: they are not what makes a record the same).
fn identity(rec: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let n = owner_len(rec);
    let fixed = rec.get(n..n + 10).unwrap_or_default();
    let len = fixed
        .get(8..10)
        .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
    let rdata = rec.get(n + 10..n + 10 + len).unwrap_or_default();
    (&rec[..n], fixed.get(..4).unwrap_or_default(), rdata)
}

fn hash(rec: &[u8]) -> u64 {
    let (owner, type_class, rdata) = identity(rec);
    let mut h = FxHasher::default();
    // Label lengths are below 64, so lower-casing the whole name touches only letters.
    for &b in owner {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.write(type_class);
    h.write(rdata);
    h.finish()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    let (ao, at, ar) = identity(a);
    let (bo, bt, br) = identity(b);
    ao.eq_ignore_ascii_case(bo) && at == bt && ar == br
}

impl Merger {
    /// Nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records of `packed` but its SOA (the base an IXFR's differences apply to).
    pub fn from_packed(packed: &PackedRecords) -> Result<Self, MergeError> {
        let mut m = Self::new();
        for rec in packed.wire() {
            let (_, type_class, _) = identity(rec);
            if type_class.get(..2) == Some(&u16::from(RecordType::SOA).to_be_bytes()[..]) {
                continue;
            }
            let at = u32::try_from(m.bytes.len()).map_err(|_| MergeError::TooLarge)?;
            m.bytes.extend_from_slice(rec);
            m.settle(at);
        }
        Ok(m)
    }

    fn record(&self, i: u32) -> &[u8] {
        let i = i as usize;
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.bytes.len(), |&e| e as usize);
        &self.bytes[self.starts[i] as usize..end]
    }

    /// The record just written at `at` (the end of `bytes`): kept when new, revived when dead,
    /// dropped when already held. Whether it was new or revived.
    fn settle(&mut self, at: u32) -> bool {
        let Self {
            bytes,
            starts,
            dead,
            table,
            ..
        } = self;
        let new = &bytes[at as usize..];
        let h = hash(new);
        let record = |i: u32| {
            let i = i as usize;
            let end = starts.get(i + 1).map_or(at as usize, |&e| e as usize);
            &bytes[starts[i] as usize..end]
        };
        if let Some(&i) = table.find(h, |&i| same(record(i), new)) {
            bytes.truncate(at as usize);
            if dead[i as usize] {
                dead[i as usize] = false;
                self.live += 1;
                return true;
            }
            return false;
        }
        let n = u32::try_from(starts.len()).unwrap_or(u32::MAX);
        starts.push(at);
        dead.push(false);
        table.insert_unique(h, n, |&i| {
            let i = i as usize;
            let end = starts.get(i + 1).map_or(bytes.len(), |&e| e as usize);
            hash(&bytes[starts[i] as usize..end])
        });
        self.live += 1;
        true
    }

    /// Adds `r` (a second copy of a record held is merged into it); whether it was new.
    pub fn add(&mut self, r: &Record) -> Result<bool, MergeError> {
        let at = u32::try_from(self.bytes.len()).map_err(|_| MergeError::TooLarge)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        let pushed = push_record(&mut self.bytes, &mut scratch, r);
        self.scratch = scratch;
        if pushed.is_none() {
            self.bytes.truncate(at as usize);
            return Err(MergeError::Encode);
        }
        if self.bytes.len() > u32::MAX as usize {
            self.bytes.truncate(at as usize);
            return Err(MergeError::TooLarge);
        }
        Ok(self.settle(at))
    }

    /// Deletes `r`; `false` when it is not held.
    pub fn remove(&mut self, r: &Record) -> Result<bool, MergeError> {
        let mut wire = Vec::new();
        let mut scratch = std::mem::take(&mut self.scratch);
        let pushed = push_record(&mut wire, &mut scratch, r);
        self.scratch = scratch;
        pushed.ok_or(MergeError::Encode)?;
        let h = hash(&wire);
        let found = self
            .table
            .find(h, |&i| {
                !self.dead[i as usize] && same(self.record(i), &wire)
            })
            .copied();
        match found {
            Some(i) => {
                self.dead[i as usize] = true;
                self.live -= 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The records held, `soa` first, as they arrived; problems name `file` and the record's
    /// place (its "line").
    pub fn finish(self, soa: &Record, file: Arc<Path>) -> Result<PackedRecords, MergeError> {
        let live_octets: usize = (0..self.starts.len() as u32)
            .filter(|&i| !self.dead[i as usize])
            .map(|i| self.record(i).len())
            .sum();
        let mut bytes = Vec::with_capacity(live_octets + 128);
        let mut starts = Vec::with_capacity(self.live + 1);
        let mut scratch = Vec::new();
        push_record(&mut bytes, &mut scratch, soa).ok_or(MergeError::Encode)?;
        starts.push(0);
        for i in 0..self.starts.len() as u32 {
            if self.dead[i as usize] {
                continue;
            }
            starts.push(u32::try_from(bytes.len()).map_err(|_| MergeError::TooLarge)?);
            bytes.extend_from_slice(self.record(i));
        }
        Ok(PackedRecords::from_wire(bytes, &starts, file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData};

    fn a(name: &str, last: u8, ttl: u32) -> Record {
        Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            ttl,
            RData::A(A::new(192, 0, 2, last)),
        )
    }

    fn soa(serial: u32) -> Record {
        let o = Name::from_ascii("example.com.").unwrap();
        Record::from_rdata(
            o.clone(),
            60,
            RData::SOA(SOA::new(o.clone(), o, serial, 1, 2, 3, 4)),
        )
    }

    fn records(p: &PackedRecords) -> Vec<Record> {
        p.unpack().into_iter().map(|s| s.record).collect()
    }

    #[test]
    fn a_record_held_twice_is_one_whatever_its_case_or_ttl() {
        let mut m = Merger::new();
        assert_eq!(m.add(&a("www.example.com.", 1, 60)), Ok(true));
        assert_eq!(m.add(&a("WWW.Example.com.", 1, 300)), Ok(false));
        assert_eq!(m.add(&a("www.example.com.", 2, 60)), Ok(true));
        for _ in 0..1000 {
            assert_eq!(m.add(&a("www.example.com.", 2, 60)), Ok(false));
        }
        assert_eq!(m.len(), 2);
        let file: Arc<Path> = Arc::from(Path::new("t"));
        let p = m.finish(&soa(1), file).unwrap();
        assert_eq!(
            records(&p),
            vec![
                soa(1),
                a("www.example.com.", 1, 60),
                a("www.example.com.", 2, 60)
            ]
        );
    }

    #[test]
    fn deletions_and_additions_apply_to_a_packed_zone() {
        let file: Arc<Path> = Arc::from(Path::new("t"));
        let mut m = Merger::new();
        for i in 0..10 {
            m.add(&a(&format!("h{i}.example.com."), i, 60)).unwrap();
        }
        let base = m.finish(&soa(1), file.clone()).unwrap();
        let mut m = Merger::from_packed(&base).unwrap();
        assert_eq!(m.len(), 10, "the SOA is kept apart");
        assert_eq!(m.remove(&a("H3.example.com.", 3, 60)), Ok(true));
        assert_eq!(m.remove(&a("h3.example.com.", 3, 60)), Ok(false));
        assert_eq!(m.remove(&a("h4.example.com.", 9, 60)), Ok(false));
        assert_eq!(m.add(&a("h3.example.com.", 3, 60)), Ok(true), "revived");
        assert_eq!(m.remove(&a("h5.example.com.", 5, 60)), Ok(true));
        assert_eq!(m.add(&a("new.example.com.", 7, 60)), Ok(true));
        let out = records(&m.finish(&soa(2), file).unwrap());
        assert_eq!(out.len(), 11);
        assert_eq!(out[0], soa(2));
        assert!(!out.contains(&a("h5.example.com.", 5, 60)));
        assert!(out.contains(&a("h3.example.com.", 3, 60)));
        assert!(out.contains(&a("new.example.com.", 7, 60)));
    }
}
