//! A parsed zone file as the loader keeps it between loads (to skip re-reading an unchanged
//! file, and to serve a broken file's last good version): every record in wire form, owner as
//! written, names uncompressed, back to back in one buffer, with its file and line beside it.
//! About 45 octets a record where hickory's `Record` takes 296, so that keeping the sources
//! costs little next to the zone itself. [`PackedRecords::unpack`] gives the records back, the
//! same values the parser made.

use std::path::Path;
use std::sync::Arc;

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder, NameEncoding,
};

use super::SourcedRecord;
use crate::Problem;

/// Records packed; see the module's text.
#[derive(Debug, Default)]
pub struct PackedRecords {
    bytes: Vec<u8>,
    index: Vec<Packed>,
    files: Vec<Arc<Path>>,
}

/// What `emit` writes with names uncompressed, in `buf` (an encoder writes from the start of its
/// buffer, so each part gets this buffer anew).
pub(crate) fn uncompressed(
    buf: &mut Vec<u8>,
    emit: impl FnOnce(&mut BinEncoder<'_>) -> Result<(), hickory_proto::ProtoError>,
) -> Option<&[u8]> {
    buf.clear();
    let mut encoder = BinEncoder::new(buf);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    emit(&mut encoder).ok()?;
    Some(buf)
}

/// Appends `rec` to `out` in the packed form: owner as written, type, class, TTL, RDATA length
/// and RDATA, names uncompressed. `None` if it cannot be encoded.
pub(super) fn push_record(out: &mut Vec<u8>, scratch: &mut Vec<u8>, rec: &Record) -> Option<()> {
    let owner = uncompressed(scratch, |e| rec.name.emit(e))?;
    out.extend_from_slice(owner);
    out.extend_from_slice(&u16::from(rec.record_type()).to_be_bytes());
    out.extend_from_slice(&u16::from(rec.dns_class).to_be_bytes());
    out.extend_from_slice(&rec.ttl.to_be_bytes());
    let rdata = uncompressed(scratch, |e| rec.data.emit(e))?;
    out.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
    out.extend_from_slice(rdata);
    Some(())
}

/// Where one record is, and where it was written.
#[derive(Debug, Clone, Copy)]
struct Packed {
    at: u32,
    line: u32,
    file: u32,
}

impl PackedRecords {
    /// Room for `records` records of `octets` octets together.
    pub(super) fn with_capacity(records: usize, octets: usize) -> Self {
        PackedRecords {
            bytes: Vec::with_capacity(octets),
            index: Vec::with_capacity(records),
            files: Vec::new(),
        }
    }

    /// Packs `records`; `None` if one cannot be encoded (the parser made it, so it can).
    pub fn pack(records: &[SourcedRecord]) -> Option<Self> {
        let mut out = PackedRecords::default();
        let mut scratch = Vec::new();
        for r in records {
            out.push(&mut scratch, &r.record, &r.file, r.line)?;
        }
        out.bytes.shrink_to_fit();
        out.index.shrink_to_fit();
        Some(out)
    }

    /// Appends `record`, written at `file`'s `line`; `None` if it cannot be encoded.
    pub(super) fn push(
        &mut self,
        scratch: &mut Vec<u8>,
        record: &Record,
        file: &Arc<Path>,
        line: usize,
    ) -> Option<()> {
        let file = self.file_index(file);
        let at = u32::try_from(self.bytes.len()).ok()?;
        push_record(&mut self.bytes, scratch, record)?;
        self.index.push(Packed {
            at,
            line: u32::try_from(line).ok()?,
            file: u32::try_from(file).ok()?,
        });
        Some(())
    }

    /// Appends a record already in wire form (`owner` as written and `rdata`, names
    /// uncompressed), written at `file`'s `line`; `None` if it is too long.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_wire(
        &mut self,
        owner: &[u8],
        rtype: RecordType,
        ttl: u32,
        rdata: &[u8],
        file: &Arc<Path>,
        line: usize,
    ) -> Option<()> {
        let file = self.file_index(file);
        let at = u32::try_from(self.bytes.len()).ok()?;
        let len = u16::try_from(rdata.len()).ok()?;
        self.bytes.extend_from_slice(owner);
        self.bytes
            .extend_from_slice(&u16::from(rtype).to_be_bytes());
        self.bytes
            .extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
        self.bytes.extend_from_slice(&ttl.to_be_bytes());
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(rdata);
        self.index.push(Packed {
            at,
            line: u32::try_from(line).ok()?,
            file: u32::try_from(file).ok()?,
        });
        Some(())
    }

    /// Appends record `i` of `other` as it is, with its file and line.
    pub(super) fn push_from(&mut self, other: &PackedRecords, i: usize) -> Option<()> {
        let wire = other.nth_wire(i)?;
        let p = other.index.get(i)?;
        let file = self.file_index(other.files.get(p.file as usize)?);
        let at = u32::try_from(self.bytes.len()).ok()?;
        self.bytes.extend_from_slice(wire);
        self.index.push(Packed {
            at,
            line: p.line,
            file: u32::try_from(file).ok()?,
        });
        Some(())
    }

    /// Appends one record from its stored parts: `owner` as written, the type, `class_ttl`
    /// (class and TTL, six octets) and `rdata` (its RDATA length, then the RDATA), as from
    /// `file` (no line: the record is given back by a zone, not read).
    pub(super) fn push_parts(
        &mut self,
        owner: &[u8],
        rtype: RecordType,
        class_ttl: &[u8],
        rdata: &[u8],
        file: &Arc<Path>,
    ) -> Option<()> {
        let file = self.file_index(file);
        let at = u32::try_from(self.bytes.len()).ok()?;
        self.bytes.extend_from_slice(owner);
        self.bytes
            .extend_from_slice(&u16::from(rtype).to_be_bytes());
        self.bytes.extend_from_slice(class_ttl);
        self.bytes.extend_from_slice(rdata);
        self.index.push(Packed {
            at,
            line: 0,
            file: u32::try_from(file).ok()?,
        });
        Some(())
    }

    /// Appends `other`'s records after these; `None` (and nothing appended) if they do not fit
    /// the 4 GiB the index can address.
    pub(crate) fn append(&mut self, other: &PackedRecords) -> Option<()> {
        let base = u32::try_from(self.bytes.len()).ok()?;
        u32::try_from(self.bytes.len() + other.bytes.len()).ok()?;
        let files: Vec<u32> = other
            .files
            .iter()
            .map(|f| self.file_index(f) as u32)
            .collect();
        self.bytes.extend_from_slice(&other.bytes);
        self.index.extend(other.index.iter().map(|p| Packed {
            at: p.at + base,
            line: p.line,
            file: files[p.file as usize],
        }));
        Some(())
    }

    /// Appends a record a signer made (class IN): owned by `owner` (wire form), no file line.
    pub(crate) fn push_made(&mut self, owner: &[u8], rtype: RecordType, ttl: u32, rdata: &[u8]) {
        thread_local! {
            static MADE: Arc<Path> = Arc::from(Path::new("(signed by dnslb)"));
        }
        let file = MADE.with(Arc::clone);
        let _ = self.push_wire(owner, rtype, ttl, rdata, &file, 0);
    }

    /// These records but those of the types `drop`.
    pub(crate) fn without(&self, drop: &[RecordType]) -> PackedRecords {
        let mut out = PackedRecords::with_capacity(self.len(), self.octets());
        for i in 0..self.len() {
            if self.parts(i).is_some_and(|(_, t, _)| !drop.contains(&t)) {
                out.push_from(self, i);
            }
        }
        out
    }

    fn file_index(&mut self, file: &Arc<Path>) -> usize {
        match self.files.iter().rposition(|f| Arc::ptr_eq(f, file)) {
            Some(i) => i,
            None => {
                self.files.push(file.clone());
                self.files.len() - 1
            }
        }
    }

    /// Gives back the room held beyond the records.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.index.shrink_to_fit();
    }

    /// The records, as they were packed.
    pub fn unpack(&self) -> Vec<SourcedRecord> {
        self.iter().collect()
    }

    /// The records, decoded one by one, as they were packed.
    pub fn iter(&self) -> impl Iterator<Item = SourcedRecord> + '_ {
        (0..self.len()).filter_map(|i| self.sourced(i))
    }

    /// Record `i`, decoded, with its file and line.
    pub fn sourced(&self, i: usize) -> Option<SourcedRecord> {
        let p = self.index.get(i)?;
        Some(SourcedRecord {
            record: self.record(p.at as usize)?,
            file: self.files.get(p.file as usize)?.clone(),
            line: p.line as usize,
        })
    }

    /// Record `i`'s owner as written (uncompressed wire form), its type and its RDATA, read in
    /// place.
    pub fn parts(&self, i: usize) -> Option<(&[u8], RecordType, &[u8])> {
        let wire = self.nth_wire(i)?;
        let mut at = 0;
        while *wire.get(at)? != 0 {
            at += 1 + usize::from(wire[at]);
        }
        let owner = &wire[..=at];
        let fixed = wire.get(at + 1..at + 11)?;
        let rtype = RecordType::from(u16::from_be_bytes([fixed[0], fixed[1]]));
        Some((owner, rtype, &wire[at + 11..]))
    }

    /// Record `i`'s owner as written, its class and TTL (six octets), and its RDATA length and
    /// RDATA: the parts an RRset packs.
    pub(super) fn wire_parts(&self, i: usize) -> Option<(&[u8], &[u8], &[u8])> {
        let (owner, _, _) = self.parts(i)?;
        let wire = self.nth_wire(i)?;
        let at = owner.len();
        Some((owner, wire.get(at + 2..at + 8)?, wire.get(at + 8..)?))
    }

    /// A problem at the line record `i` was written on.
    pub fn problem(&self, i: usize, message: impl Into<String>) -> Problem {
        let p = self.index[i];
        Problem::line(&self.files[p.file as usize], p.line as usize, message)
    }

    fn nth_wire(&self, i: usize) -> Option<&[u8]> {
        let start = self.index.get(i)?.at as usize;
        let end = self
            .index
            .get(i + 1)
            .map_or(self.bytes.len(), |next| next.at as usize);
        self.bytes.get(start..end)
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Octets of all the records together.
    pub fn octets(&self) -> usize {
        self.bytes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Each record's octets (owner, type, class, TTL, RDATA length, RDATA), in order.
    pub(super) fn wire(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).filter_map(|i| self.nth_wire(i))
    }

    /// Records already in wire form, back to back in `bytes` (record `i` starts at `starts[i]`),
    /// all from `file`, their lines numbered from 1.
    pub(super) fn from_wire(bytes: Vec<u8>, starts: &[u32], file: Arc<Path>) -> Self {
        let index = starts
            .iter()
            .enumerate()
            .map(|(i, &at)| Packed {
                at,
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                file: 0,
            })
            .collect();
        PackedRecords {
            bytes,
            index,
            files: vec![file],
        }
    }

    fn record(&self, at: usize) -> Option<Record> {
        let mut d = BinDecoder::new(self.bytes.get(at..)?);
        let name = Name::read(&mut d).ok()?;
        let fixed = d.read_slice(10).ok()?.unverified();
        let rtype = RecordType::from(u16::from_be_bytes([fixed[0], fixed[1]]));
        let class = DNSClass::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = d.read_slice(len).ok()?.unverified().to_vec();
        // The same typing the parser applies: typed where the answering logic reads it.
        let data = super::scan::to_rdata(rtype, rdata).ok()?;
        let mut record = Record::from_rdata(name, ttl, data);
        record.dns_class = class;
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_record_comes_back_as_it_was_parsed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut total = 0;
        for fixture in ["core", "fidelity", "pools"] {
            let dir = root.join(fixture).join("zones");
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let file = path.file_name().unwrap().to_string_lossy().to_string();
                let origin = Name::from_ascii(file.trim_end_matches("zone")).unwrap();
                let parsed = super::super::parse_zone_file(&path, &origin).records;
                // Unpacked and packed again, the same octets, files and lines.
                let back = parsed.unpack();
                assert_eq!(back.len(), parsed.len(), "{}", path.display());
                let again = PackedRecords::pack(&back).expect("packs");
                assert!(parsed.wire().eq(again.wire()), "{}", path.display());
                for (i, r) in back.iter().enumerate() {
                    let (owner, rtype, rdata) = parsed.parts(i).unwrap();
                    assert_eq!(rtype, r.record.record_type());
                    let mut scratch = Vec::new();
                    let want = uncompressed(&mut scratch, |e| r.record.name.emit(e)).unwrap();
                    assert_eq!(owner, want, "{}:{}", r.file.display(), r.line);
                    let want = uncompressed(&mut scratch, |e| r.record.data.emit(e)).unwrap();
                    assert_eq!(rdata, want, "{}:{}", r.file.display(), r.line);
                    let problem = parsed.problem(i, "x");
                    assert_eq!(
                        (problem.file.as_path(), problem.line),
                        (&*r.file, Some(r.line))
                    );
                }
                total += back.len();
            }
        }
        assert!(total > 100, "{total} records compared");
    }
}
