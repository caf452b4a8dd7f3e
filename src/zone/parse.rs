//! Reading an RFC 1035 zone file into records, each with the file and line it came from.
//!
//! [`super::entries`] splits the text into entries (parentheses, quotes, comments) with their
//! lines; here the directives (`$ORIGIN`, `$TTL`, `$INCLUDE` with an origin, any case) and the
//! owner / TTL / class / type fields are handled, and each record's owner and RDATA are read by
//! NLnet Labs' `domain` scanner ([`super::scan`]), which decodes every escape and knows every
//! type's presentation format. Every problem names its file and line, and one bad line does not
//! hide the next.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use domain::base::iana::Rtype;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use super::entries::{Entries, Entry, Token, split_entries};
use super::packed::PackedRecords;
use super::scan;
use crate::Problem;

/// How deep `$INCLUDE` may nest.
const MAX_INCLUDE_DEPTH: usize = 8;
/// Files one zone may read through `$INCLUDE` (each inclusion counts, the same file again too):
/// a file that includes another K times at every level would otherwise read K^8 files.
const MAX_INCLUDED_FILES: usize = 64;
/// Octets one zone may read, its file and its includes together.
const MAX_ZONE_OCTETS: u64 = 4 << 30;

/// A record and where it was written.
#[derive(Debug, Clone)]
pub struct SourcedRecord {
    /// The record, owner as written (case kept), class IN.
    pub record: Record,
    /// The file it came from (the zone file or an included one).
    pub file: Arc<Path>,
    /// 1-based line of the entry's start.
    pub line: usize,
}

impl SourcedRecord {
    /// A problem at this record's line.
    pub fn problem(&self, message: impl Into<String>) -> Problem {
        Problem::line(&self.file, self.line, message)
    }
}

/// Parses a TTL: seconds, or BIND-style units (`1h30m`, `2d`, `1w`).
pub fn parse_ttl(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u32>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(num.unwrap_or(0).checked_mul(10)?.checked_add(d as u64)?);
        } else {
            let unit = match c.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                'w' => 604800,
                _ => return None,
            };
            total = total.checked_add(num.take()?.checked_mul(unit)?)?;
        }
    }
    if num.is_some() {
        return None;
    }
    u32::try_from(total).ok()
}

/// `path` as the file system resolves it (links, `..`), or as given when it cannot be.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// State of one file being read (the zone file, or an included one).
struct Cursor {
    origin: Name,
    /// The last owner, in wire form as written.
    last_owner: Option<Vec<u8>>,
}

/// What reading a zone file produced.
pub struct Parsed {
    /// Records in file order, packed as they are read (a parsed record is never held whole:
    /// hickory's `Record` is ten times its packed form).
    pub records: PackedRecords,
    /// Every problem found; the zone is unusable when this is not empty.
    pub errors: Vec<Problem>,
    /// Every file read or tried (the zone file and its includes, missing ones too), so that a
    /// change to any of them can be noticed.
    pub files: Vec<PathBuf>,
}

/// Reads the zone file at `path`, whose origin is `origin`.
pub fn parse_zone_file(path: &Path, origin: &Name) -> Parsed {
    // Room for about one record per 24 octets of the file (a line of a plain A record is about
    // that, and packs into about 40): a large zone's records are not copied again and again as
    // they grow.
    let octets = std::fs::metadata(path).map_or(0, |m| m.len());
    let guess = usize::try_from(octets / 24).unwrap_or(0).min(1 << 22);
    let mut buf = [0; super::names::MAX_WIRE];
    let mut reader = Reader {
        zone_origin: origin.clone(),
        zone_origin_wire: super::names::lower(origin, &mut buf).to_vec(),
        default_ttl: None,
        last_ttl: None,
        records: PackedRecords::with_capacity(guess, guess * 40),
        scanner: scan::Scanner::default(),
        errors: Vec::new(),
        stack: Vec::new(),
        files: Vec::new(),
        included: 0,
        octets: 0,
        over_budget: false,
    };
    let mut cursor = Cursor {
        origin: origin.clone(),
        last_owner: None,
    };
    reader.read_file(path, &mut cursor, None);
    reader.records.shrink_to_fit();
    Parsed {
        records: reader.records,
        errors: reader.errors,
        files: reader.files,
    }
}

struct Reader {
    zone_origin: Name,
    /// The same, lower-cased wire form.
    zone_origin_wire: Vec<u8>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    records: PackedRecords,
    scanner: scan::Scanner,
    errors: Vec<Problem>,
    /// Files being read (canonical paths), for include-cycle detection.
    stack: Vec<PathBuf>,
    /// Every file tried.
    files: Vec<PathBuf>,
    /// Files read through `$INCLUDE` so far.
    included: usize,
    /// Octets read so far.
    octets: u64,
    /// The budget was passed (said once; later includes are not read).
    over_budget: bool,
}

impl Reader {
    fn error(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.errors.push(Problem {
            file: file.to_path_buf(),
            line: Some(line),
            message: message.into(),
        });
    }

    fn read_file(&mut self, path: &Path, cursor: &mut Cursor, included_at: Option<(&Path, usize)>) {
        if !self.files.iter().any(|f| f == path) {
            self.files.push(path.to_path_buf());
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read {}: {e}", path.display());
                match included_at {
                    Some((f, l)) => self.error(f, l, msg),
                    None => self.errors.push(Problem {
                        file: path.to_path_buf(),
                        line: None,
                        message: msg,
                    }),
                }
                return;
            }
        };
        self.octets += text.len() as u64;
        if self.octets > MAX_ZONE_OCTETS {
            let msg = format!(
                "the zone and its includes pass {} GiB; refused",
                MAX_ZONE_OCTETS >> 30
            );
            match included_at {
                Some((f, l)) => self.error(f, l, msg),
                None => self.error(path, 1, msg),
            }
            self.over_budget = true;
            return;
        }
        let entries = match split_entries(&text) {
            Ok(e) => e,
            Err((line, msg)) => {
                self.error(path, line, msg);
                return;
            }
        };
        self.stack.push(canonical(path));
        let file: Arc<Path> = Arc::from(path);
        let halves = included_at
            .is_none()
            .then(|| halfway(&entries, cursor, self.default_ttl));
        match halves.flatten() {
            Some((at, second)) => self.read_halves(&file, &entries, at, second, cursor),
            None => self.read_entries(&file, entries.iter(0..entries.len()), cursor),
        }
        self.stack.pop();
    }

    fn read_entries<'e>(
        &mut self,
        file: &Arc<Path>,
        entries: impl Iterator<Item = Entry<'e>>,
        cursor: &mut Cursor,
    ) {
        for entry in entries {
            if let Err(msg) = self.entry(file, &entry, cursor) {
                self.error(file, entry.line, msg);
            }
        }
    }

    /// Reads `entries` in two halves side by side, the second (from `at`) with its own reader
    /// starting from `second` (see [`halfway`]), then puts its records and problems after the
    /// first half's: the same records, in the same order, as one reader would make.
    fn read_halves(
        &mut self,
        file: &Arc<Path>,
        entries: &Entries,
        at: usize,
        (mut cursor2, default_ttl): (Cursor, Option<u32>),
        cursor: &mut Cursor,
    ) {
        let (first, second) = (entries.iter(0..at), entries.iter(at..entries.len()));
        let second_len = entries.len() - at;
        let mut other = Reader {
            zone_origin: self.zone_origin.clone(),
            zone_origin_wire: self.zone_origin_wire.clone(),
            default_ttl,
            last_ttl: None,
            records: PackedRecords::with_capacity(second_len, second_len * 40),
            scanner: scan::Scanner::default(),
            errors: Vec::new(),
            stack: self.stack.clone(),
            files: Vec::new(),
            included: self.included,
            octets: self.octets,
            over_budget: self.over_budget,
        };
        std::thread::scope(|s| {
            let half = s.spawn(|| other.read_entries(file, second, &mut cursor2));
            self.read_entries(file, first, cursor);
            half.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
        if self.records.append(&other.records).is_none() {
            self.error(file, 1, "the zone is too large to keep (4 GiB of records)");
        }
        self.errors.append(&mut other.errors);
        (self.default_ttl, self.last_ttl) = (other.default_ttl, other.last_ttl);
        *cursor = cursor2;
    }

    fn entry(
        &mut self,
        file: &Arc<Path>,
        entry: &Entry,
        cursor: &mut Cursor,
    ) -> Result<(), String> {
        let first = entry.tokens[0].text();
        if !entry.blank_owner && first.starts_with('$') {
            return self.directive(file, entry, cursor);
        }
        let mut tokens = entry.tokens.iter().map(Token::text).peekable();
        let owner_text = self.owner_text(entry, &mut tokens, cursor)?;
        let (ttl, rtype) = self.ttl_class_type(&mut tokens)?;
        let rdata_tokens = &entry.tokens[entry.tokens.len() - tokens.count()..];
        check_generic(rtype, rdata_tokens)?;
        let (owner, rdata) = (self.scanner)
            .record(&owner_text, &cursor.origin, rtype, rdata_tokens)
            .map_err(|e| {
                let written: Vec<String> = rdata_tokens.iter().map(Token::written).collect();
                format!(
                    "bad {} record `{}`: {e}",
                    type_name(rtype),
                    written.join(" ")
                )
            })?;
        let inside = in_zone(&owner, &self.zone_origin_wire);
        cursor.last_owner = Some(owner);
        if !inside {
            let owner = scan::presentation_wire(cursor.last_owner.as_deref().unwrap_or_default());
            return Err(format!(
                "owner {owner} is outside the zone {}",
                self.zone_origin
            ));
        }
        if rtype == RecordType::SOA && self.default_ttl.is_none() && self.last_ttl.is_none() {
            self.last_ttl = Some(ttl);
        }
        let owner = cursor.last_owner.as_deref().unwrap_or_default();
        self.records
            .push_wire(owner, rtype, ttl, &rdata, file, entry.line)
            .ok_or_else(|| format!("cannot keep the {} record: too long", type_name(rtype)))
    }

    /// The entry's owner as the scanner should read it: as written, or the previous owner
    /// when the line starts with white space.
    fn owner_text<'t>(
        &self,
        entry: &Entry,
        tokens: &mut impl Iterator<Item = &'t str>,
        cursor: &Cursor,
    ) -> Result<String, String> {
        if entry.blank_owner {
            return cursor
                .last_owner
                .as_deref()
                .map(scan::presentation_wire)
                .ok_or_else(|| {
                    "the entry starts with white space but there is no previous owner".into()
                });
        }
        Ok(tokens.next().unwrap_or_default().to_string())
    }

    /// TTL and class in either order (both optional), then the type; the TTL defaults to $TTL
    /// or the last one given.
    fn ttl_class_type<'t>(
        &mut self,
        tokens: &mut impl Iterator<Item = &'t str>,
    ) -> Result<(u32, RecordType), String> {
        let mut ttl = None;
        let mut class = None;
        let rtype = loop {
            let tok = tokens.next().ok_or("the record has no type")?;
            if ttl.is_none() && tok.starts_with(|c: char| c.is_ascii_digit()) {
                ttl = Some(parse_ttl(tok).ok_or_else(|| format!("`{tok}` is not a TTL"))?);
                continue;
            }
            let upper = tok.to_ascii_uppercase();
            if class.is_none()
                && let Some(c) = parse_class(&upper)
            {
                if c != DNSClass::IN {
                    return Err(format!("class {tok} is not served; only IN is"));
                }
                class = Some(c);
                continue;
            }
            break parse_type(&upper).ok_or_else(|| format!("unknown record type `{tok}`"))?;
        };
        let ttl = match ttl {
            Some(t) => {
                self.last_ttl = Some(t);
                t
            }
            None => self
                .default_ttl
                .or(self.last_ttl)
                .ok_or("the record has no TTL and no $TTL is set")?,
        };
        Ok((ttl, rtype))
    }

    fn directive(
        &mut self,
        file: &Arc<Path>,
        entry: &Entry,
        cursor: &mut Cursor,
    ) -> Result<(), String> {
        let name = entry.tokens[0].text().to_ascii_uppercase();
        let args: Vec<&str> = entry.tokens[1..].iter().map(Token::text).collect();
        match (name.as_str(), args.as_slice()) {
            ("$ORIGIN", [origin]) => {
                cursor.origin = scan::name(origin, &cursor.origin)?;
                Ok(())
            }
            ("$TTL", [ttl]) => {
                self.default_ttl =
                    Some(parse_ttl(ttl).ok_or_else(|| format!("`{ttl}` is not a TTL"))?);
                Ok(())
            }
            ("$INCLUDE", [path] | [path, _]) => {
                if self.stack.len() >= MAX_INCLUDE_DEPTH {
                    return Err(format!(
                        "$INCLUDE nests deeper than {MAX_INCLUDE_DEPTH} files"
                    ));
                }
                if self.over_budget {
                    return Ok(()); // said once, at the include that passed it
                }
                let base = file.parent().unwrap_or(Path::new("."));
                let target = base.join(path);
                // Compared as the file system resolves them: `../zones/x.inc` is `x.inc`.
                if self.stack.contains(&canonical(&target)) {
                    return Err(format!("$INCLUDE {path} includes itself"));
                }
                self.included += 1;
                if self.included > MAX_INCLUDED_FILES {
                    self.over_budget = true;
                    return Err(format!(
                        "the zone reads more than {MAX_INCLUDED_FILES} files through $INCLUDE; refused"
                    ));
                }
                // RFC 1035 §5.1: the included file starts at the given origin (or ours), and
                // whatever it does to $ORIGIN does not leak back into this file.
                let origin = match args.get(1) {
                    Some(o) => scan::name(o, &cursor.origin)?,
                    None => cursor.origin.clone(),
                };
                let mut inner = Cursor {
                    origin,
                    last_owner: cursor.last_owner.clone(),
                };
                self.read_file(&target, &mut inner, Some((file, entry.line)));
                Ok(())
            }
            ("$ORIGIN" | "$TTL", _) => Err(format!("{name} takes exactly one argument")),
            ("$INCLUDE", _) => Err("$INCLUDE takes a file name and an optional origin".into()),
            _ => Err(format!("unknown directive {}", entry.tokens[0].text())),
        }
    }
}

/// Entries from which a file is read in two halves side by side.
const HALVES_FROM: usize = 50_000;

/// Where a large file can be cut in two halves read side by side, and the state the second
/// half starts from: the origin, and the `$TTL` then in force. Only where that state is known
/// without reading the first half's records: the cut is at a record with an owner of its own
/// (not the previous one) and either a TTL of its own or a `$TTL` in force (so that no record's
/// TTL carries over from the first half), and the file has no `$INCLUDE` (whose budget is the
/// whole zone's) and no directive that does not read. Otherwise `None`: the file is read in one
/// go, as always.
fn halfway(
    entries: &Entries,
    cursor: &Cursor,
    ttl: Option<u32>,
) -> Option<(usize, (Cursor, Option<u32>))> {
    if entries.len() < HALVES_FROM {
        return None;
    }
    let directive = |e: &Entry| !e.blank_owner && e.tokens[0].text().starts_with('$');
    let record = |i: &usize| !entries.get(*i).blank_owner && !directive(&entries.get(*i));
    let own_ttl = |i: &usize| record(i) && explicit_ttl(&entries.get(*i));
    let middle = entries.len() / 2;
    let at = (middle..entries.len().min(middle + 1000))
        .find(own_ttl)
        .or_else(|| (middle..entries.len()).find(record))?;
    let (mut origin, mut ttl) = (cursor.origin.clone(), ttl);
    let all = entries.iter(0..entries.len()).enumerate();
    for (i, entry) in all.filter(|(_, e)| directive(e)) {
        let name = entry.tokens[0].text().to_ascii_uppercase();
        let args: Vec<&str> = entry.tokens[1..].iter().map(Token::text).collect();
        match (name.as_str(), args.as_slice()) {
            _ if i >= at => {}
            ("$ORIGIN", [o]) => origin = scan::name(o, &origin).ok()?,
            ("$TTL", [t]) => ttl = Some(parse_ttl(t)?),
            _ => return None,
        }
        if name == "$INCLUDE" {
            return None;
        }
    }
    if ttl.is_none() && !own_ttl(&at) {
        return None;
    }
    let second = Cursor {
        origin,
        last_owner: None,
    };
    Some((at, (second, ttl)))
}

/// Whether a record's entry gives its TTL (before its type, beside an optional class).
fn explicit_ttl(entry: &Entry) -> bool {
    for token in entry.tokens.iter().skip(1).take(2) {
        let text = token.text();
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            return parse_ttl(text).is_some();
        }
        if parse_class(&text.to_ascii_uppercase()).is_none() {
            return false;
        }
    }
    false
}

/// Whether `owner` (wire form, any case) is `origin` (lower-cased wire form) or below it.
fn in_zone(owner: &[u8], origin: &[u8]) -> bool {
    let mut at = owner;
    while at.len() > origin.len() {
        match super::names::parent(at) {
            Some(parent) => at = parent,
            None => return false,
        }
    }
    at.eq_ignore_ascii_case(origin)
}

fn parse_class(upper: &str) -> Option<DNSClass> {
    match upper {
        "IN" => Some(DNSClass::IN),
        "CH" | "CHAOS" => Some(DNSClass::CH),
        "HS" | "HESIOD" => Some(DNSClass::HS),
        "NONE" => Some(DNSClass::NONE),
        "ANY" => Some(DNSClass::ANY),
        _ => upper
            .strip_prefix("CLASS")
            .and_then(|n| n.parse::<u16>().ok())
            .map(DNSClass::from),
    }
}

/// A type by its mnemonic (any type `domain` knows, as NSD and Knot know them) or `TYPEnnn`.
fn parse_type(upper: &str) -> Option<RecordType> {
    if let Some(n) = upper.strip_prefix("TYPE")
        && let Ok(code) = n.parse::<u16>()
    {
        return Some(RecordType::from(code));
    }
    Rtype::from_mnemonic(upper.as_bytes()).map(|t| RecordType::from(t.to_int()))
}

/// The type as people write it (`TYPE65280` for one without a name).
fn type_name(rtype: RecordType) -> String {
    let code = u16::from(rtype);
    match Rtype::from_int(code).to_mnemonic_str() {
        Some(m) => m.to_string(),
        None => format!("TYPE{code}"),
    }
}

/// RFC 3597: a type without a name needs the generic form, and the generic form's length must
/// match its data (checked here, for a message that says which).
fn check_generic(rtype: RecordType, tokens: &[Token]) -> Result<(), String> {
    let generic = tokens.first().is_some_and(|t| t.text() == "\\#");
    if !generic {
        let code = u16::from(rtype);
        if Rtype::from_int(code).to_mnemonic().is_none() {
            return Err(format!(
                "TYPE{code} needs its RDATA in RFC 3597 form: \\# <length> <hex>"
            ));
        }
        return Ok(());
    }
    let (len, hex_parts) = tokens[1..]
        .split_first()
        .ok_or("\\# needs a length and hex data")?;
    let len: usize = len
        .text()
        .parse()
        .map_err(|_| format!("`{}` is not an RDATA length", len.text()))?;
    let hex: String = hex_parts.iter().map(Token::text).collect();
    let bytes = hex::decode(&hex).map_err(|e| format!("bad hex in generic RDATA: {e}"))?;
    if bytes.len() != len {
        return Err(format!(
            "generic RDATA says {len} octets but has {}",
            bytes.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("3600"), Some(3600));
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("1W"), Some(604800));
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl("5x"), None);
    }

    #[test]
    fn inside_quotes_every_octet_but_quote_and_backslash_stands_for_itself() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.zone");
        let text = "$ORIGIN t.test.\n@ 300 SOA ns h 1 2 3 4 5\n@ 300 NS ns\n\
                    a 300 TXT \"tab\there\"\nb 300 TXT \"cr\rx\x01y\x7fz\"\n\
                    c 300 TXT \"esc\\\tt\" \"caf\u{e9}\" \"\\009\\\"\\\\\"\n";
        std::fs::write(&file, text).unwrap();
        let origin = Name::from_ascii("t.test.").unwrap();
        let parsed = super::parse_zone_file(&file, &origin);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let txt = |owner: &str| -> Vec<Vec<u8>> {
            let name = Name::from_ascii(owner).unwrap();
            let r = parsed
                .records
                .iter()
                .find(|r| r.record.name == name)
                .unwrap();
            // TXT is kept as its octets: character-strings, each behind its length.
            let hickory_proto::rr::RData::Unknown { rdata, .. } = &r.record.data else {
                panic!("{:?}", r.record.data)
            };
            let mut wire = rdata.anything.as_slice();
            let mut strings = Vec::new();
            while let Some((&len, rest)) = wire.split_first() {
                strings.push(rest[..usize::from(len)].to_vec());
                wire = &rest[usize::from(len)..];
            }
            strings
        };
        assert_eq!(txt("a.t.test."), vec![b"tab\there".to_vec()]);
        assert_eq!(txt("b.t.test."), vec![b"cr\rx\x01y\x7fz".to_vec()]);
        assert_eq!(
            txt("c.t.test."),
            vec![
                b"esc\tt".to_vec(),
                "caf\u{e9}".as_bytes().to_vec(),
                b"\t\"\\".to_vec()
            ]
        );
    }

    #[test]
    fn a_large_file_read_in_halves_gives_what_one_reader_gives() {
        // 60,000 records: an $ORIGIN change in each half, blank owners, a bad line in each half.
        let mut text = String::from("$TTL 300\n$ORIGIN big.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n");
        let mut expected = Vec::new();
        let mut origin = "big.test.";
        for i in 0..60_000 {
            match i {
                20_000 => origin = "sub.big.test.",
                40_000 => origin = "big.test.",
                _ => {}
            }
            if i == 20_000 || i == 40_000 {
                text.push_str(&format!("$ORIGIN {origin}\n"));
            }
            if i == 10_000 || i == 45_000 {
                text.push_str(&format!("bad{i} A not-an-address\n"));
                continue;
            }
            text.push_str(&format!("h{i} A 10.0.{}.{}\n", i / 256 % 256, i % 256));
            expected.push((format!("h{i}.{origin}"), RecordType::A));
            if i % 1000 == 7 {
                text.push_str(&format!("  TXT \"t{i}\"\n"));
                expected.push((format!("h{i}.{origin}"), RecordType::TXT));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.test.zone");
        std::fs::write(&file, &text).unwrap();
        let origin = Name::from_ascii("big.test.").unwrap();
        let entries = split_entries(&text).unwrap();
        let start = Cursor {
            origin: origin.clone(),
            last_owner: None,
        };
        assert!(halfway(&entries, &start, None).is_some(), "read in halves");

        let parsed = parse_zone_file(&file, &origin);
        let lines: Vec<usize> = parsed.errors.iter().map(|p| p.line.unwrap()).collect();
        let bad_line = |n: &str| text.lines().position(|l| l.starts_with(n)).unwrap() + 1;
        assert_eq!(lines, [bad_line("bad10000 "), bad_line("bad45000 ")]);
        let records: Vec<SourcedRecord> = parsed.records.iter().skip(2).collect();
        let all: Vec<&str> = text.lines().collect();
        assert_eq!(records.len(), expected.len());
        for (r, (owner, rtype)) in records.iter().zip(&expected) {
            assert_eq!(r.record.name.to_string(), *owner);
            assert_eq!(r.record.record_type(), *rtype, "{owner}");
            assert_eq!(r.record.ttl, 300);
            let line = all[r.line - 1];
            let written = owner.split('.').next().unwrap();
            assert!(
                line.starts_with(written) || line.starts_with("  "),
                "{line}"
            );
        }
    }

    #[test]
    fn a_file_without_ttl_is_cut_only_at_a_record_with_its_own() {
        // As a signer writes it: no $TTL, a TTL on every record; then the same with none on the
        // records of the second half but one, whose TTL the later records carry.
        let mut text = String::from("$ORIGIN t.test.\n@ 300 SOA ns h 1 2 3 4 5\n@ 300 NS ns\n");
        for i in 0..60_000 {
            let ttl = if i < 20_000 || i == 30_500 { " 60" } else { "" };
            text.push_str(&format!("h{i}{ttl} A 10.0.{}.{}\n", i / 256 % 256, i % 256));
        }
        let entries = split_entries(&text).unwrap();
        let origin = Name::from_ascii("t.test.").unwrap();
        let start = Cursor {
            origin: origin.clone(),
            last_owner: None,
        };
        let (at, (_, ttl)) = halfway(&entries, &start, None).expect("cut");
        assert_eq!((entries.get(at).tokens[0].text(), ttl), ("h30500", None));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.test.zone");
        std::fs::write(&file, &text).unwrap();
        let parsed = parse_zone_file(&file, &origin);
        assert!(parsed.errors.is_empty(), "{:?}", &parsed.errors[..1]);
        assert!(
            parsed
                .records
                .iter()
                .all(|r| r.record.ttl == 60 || r.record.ttl == 300)
        );
        assert_eq!(parsed.records.len(), 60_002);

        // Without any TTL in the second half to start from, and no $TTL: read in one go.
        let plain = text.replace("h30500 60 A", "h30500 A");
        let entries = split_entries(&plain).unwrap();
        assert!(halfway(&entries, &start, None).is_none());
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Whatever the text, reading it gives records or problems, never a panic.
        #[test]
        fn any_text_reads_without_panicking(lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex("[ -~\t]{0,40}").unwrap(),
                proptest::sample::select(vec![
                    "@ SOA ns h 1 2 3 4 5", "$TTL 1h", "$ORIGIN sub", "$INCLUDE nope.inc", "www A 192.0.2.1",
                    "  AAAA ::1", "x TXT \"a\\\"b\"", "( 1 2", ")", "y TYPE1 \\# 4 0a000001", "z CNAME @",
                    "a\\.b MX 10 c", "$ttl", "\"", ";", "* 30 IN A 192.0.2.9",
                ]).prop_map(String::from),
            ],
            0..20,
        )) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("example.com.zone");
            std::fs::write(&path, lines.join("\n")).unwrap();
            let origin = Name::from_ascii("example.com.").unwrap();
            let parsed = parse_zone_file(&path, &origin);
            for r in parsed.records.iter() {
                proptest::prop_assert!(origin.zone_of(&r.record.name));
            }
        }
    }
}
