//! Reading an RFC 1035 zone file into records, each with the file and line it came from.
//!
//! hickory-proto's `Parser` parses RDATA well but loses line numbers and has known gaps
//! (`$INCLUDE` with an origin, `$ORIGIN` leaking out of an included file, lowercase `$ttl`,
//! RFC 3597 `TYPEnnn` / `\#`, out-of-zone owners, `\DDD` decoded wrongly). So the outer layer is
//! ours: we split the file into entries (parentheses, quotes, comments), handle the directives,
//! owners, TTLs, classes and types ourselves, and hand hickory one record at a time for its RDATA.
//! RFC 3597 generic RDATA is decoded with hickory's wire decoder; `\DDD` escapes are refused
//! with a clear error rather than served wrong.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};
use hickory_proto::serialize::txt::Parser;

use crate::Problem;

/// How deep `$INCLUDE` may nest.
const MAX_INCLUDE_DEPTH: usize = 8;

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

/// One logical entry: the tokens of one line, or of several lines joined by parentheses.
#[derive(Debug)]
struct Entry {
    line: usize,
    /// The entry's line began with white space: the owner is the previous one.
    blank_owner: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone)]
enum Token {
    /// An unquoted word, escapes kept as written.
    Word(String),
    /// The content of a quoted string, escapes kept as written.
    Quoted(String),
}

impl Token {
    fn text(&self) -> &str {
        match self {
            Token::Word(s) | Token::Quoted(s) => s,
        }
    }
}

/// Splits zone-file text into entries. Errors: unbalanced parentheses or quotes.
fn split_entries(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut t = Tokenizer::default();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if t.at_line_start && t.depth == 0 && !t.in_quote {
            t.entry_line = t.line;
            t.blank_owner = c == ' ' || c == '\t';
            t.at_line_start = false;
        }
        if t.in_quote {
            t.quoted(c, &mut chars);
        } else {
            t.plain(c, &mut chars)?;
        }
    }
    if t.in_quote {
        return Err((t.quote_line, "unterminated quoted string".into()));
    }
    if t.depth > 0 {
        return Err((t.paren_line, "`(` without a matching `)`".into()));
    }
    t.flush_word();
    t.end_entry();
    Ok(t.entries)
}

/// The state of [`split_entries`]: where it is in the text and what it has collected.
struct Tokenizer {
    entries: Vec<Entry>,
    tokens: Vec<Token>,
    word: String,
    in_word: bool,
    in_quote: bool,
    quote_line: usize,
    depth: usize,
    paren_line: usize,
    line: usize,
    entry_line: usize,
    blank_owner: bool,
    at_line_start: bool,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            tokens: Vec::new(),
            word: String::new(),
            in_word: false,
            in_quote: false,
            quote_line: 0,
            depth: 0,
            paren_line: 0,
            line: 1,
            entry_line: 1,
            blank_owner: false,
            at_line_start: true,
        }
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

impl Tokenizer {
    fn flush_word(&mut self) {
        if self.in_word {
            self.tokens
                .push(Token::Word(std::mem::take(&mut self.word)));
            self.in_word = false;
        }
    }

    fn end_entry(&mut self) {
        if !self.tokens.is_empty() {
            self.entries.push(Entry {
                line: self.entry_line,
                blank_owner: self.blank_owner,
                tokens: std::mem::take(&mut self.tokens),
            });
        }
    }

    /// A character inside a quoted string; escapes are kept as written.
    fn quoted(&mut self, c: char, chars: &mut Chars<'_>) {
        match c {
            '\\' => {
                self.word.push(c);
                if let Some(n) = chars.next() {
                    if n == '\n' {
                        self.line += 1;
                    }
                    self.word.push(n);
                }
            }
            '"' => {
                self.tokens
                    .push(Token::Quoted(std::mem::take(&mut self.word)));
                self.in_quote = false;
            }
            '\n' => {
                self.line += 1;
                self.word.push(c);
            }
            _ => self.word.push(c),
        }
    }

    /// A character outside quotes.
    fn plain(&mut self, c: char, chars: &mut Chars<'_>) -> Result<(), (usize, String)> {
        match c {
            '\\' => {
                self.in_word = true;
                self.word.push(c);
                if let Some(n) = chars.next() {
                    self.word.push(n);
                }
            }
            '"' => {
                self.flush_word();
                self.in_quote = true;
                self.quote_line = self.line;
            }
            ';' => {
                self.flush_word();
                while chars.next_if(|&n| n != '\n').is_some() {}
            }
            '(' => {
                self.flush_word();
                if self.depth == 0 {
                    self.paren_line = self.line;
                }
                self.depth += 1;
            }
            ')' => {
                self.flush_word();
                if self.depth == 0 {
                    return Err((self.line, "`)` without a matching `(`".into()));
                }
                self.depth -= 1;
            }
            '\n' => {
                self.flush_word();
                self.line += 1;
                if self.depth == 0 {
                    self.end_entry();
                    self.at_line_start = true;
                }
            }
            c if c.is_whitespace() => self.flush_word(),
            c => {
                self.in_word = true;
                self.word.push(c);
            }
        }
        Ok(())
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

/// State of one file being read (the zone file, or an included one).
struct Cursor {
    origin: Name,
    last_owner: Option<Name>,
}

/// What reading a zone file produced.
pub struct Parsed {
    /// Records in file order.
    pub records: Vec<SourcedRecord>,
    /// Every problem found; the zone is unusable when this is not empty.
    pub errors: Vec<Problem>,
    /// Every file read or tried (the zone file and its includes, missing ones too), so that a
    /// change to any of them can be noticed.
    pub files: Vec<PathBuf>,
}

/// Reads the zone file at `path`, whose origin is `origin`.
pub fn parse_zone_file(path: &Path, origin: &Name) -> Parsed {
    let mut reader = Reader {
        zone_origin: origin.clone(),
        default_ttl: None,
        last_ttl: None,
        records: Vec::new(),
        errors: Vec::new(),
        stack: Vec::new(),
        files: Vec::new(),
    };
    let mut cursor = Cursor {
        origin: origin.clone(),
        last_owner: None,
    };
    reader.read_file(path, &mut cursor, None);
    Parsed {
        records: reader.records,
        errors: reader.errors,
        files: reader.files,
    }
}

struct Reader {
    zone_origin: Name,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    records: Vec<SourcedRecord>,
    errors: Vec<Problem>,
    /// Files being read, for include-cycle detection.
    stack: Vec<PathBuf>,
    /// Every file tried.
    files: Vec<PathBuf>,
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
        let entries = match split_entries(&text) {
            Ok(e) => e,
            Err((line, msg)) => {
                self.error(path, line, msg);
                return;
            }
        };
        self.stack.push(path.to_path_buf());
        let file: Arc<Path> = Arc::from(path);
        for entry in entries {
            if let Err(msg) = self.entry(&file, &entry, cursor) {
                self.error(path, entry.line, msg);
            }
        }
        self.stack.pop();
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
        for t in &entry.tokens {
            if has_decimal_escape(t.text()) {
                return Err(format!(
                    "`{}`: \\DDD escapes are not supported (the record parser decodes them wrongly); write the character itself",
                    t.text()
                ));
            }
        }
        let mut tokens = entry.tokens.iter().map(Token::text).peekable();
        let owner = self.owner(entry, &mut tokens, cursor)?;
        let (ttl, rtype) = self.ttl_class_type(&mut tokens)?;
        let rdata_tokens: Vec<&Token> = entry
            .tokens
            .iter()
            .skip(entry.tokens.len() - tokens.count())
            .collect();
        let rdata = parse_rdata(rtype, &rdata_tokens, &cursor.origin)?;
        let mut record = Record::from_rdata(owner, ttl, rdata);
        record.dns_class = DNSClass::IN;
        if rtype == RecordType::SOA && self.default_ttl.is_none() && self.last_ttl.is_none() {
            self.last_ttl = Some(ttl);
        }
        self.records.push(SourcedRecord {
            record,
            file: file.clone(),
            line: entry.line,
        });
        Ok(())
    }

    /// The entry's owner: written, or the previous one when the line starts with white space.
    fn owner<'t>(
        &self,
        entry: &Entry,
        tokens: &mut impl Iterator<Item = &'t str>,
        cursor: &mut Cursor,
    ) -> Result<Name, String> {
        let owner = if entry.blank_owner {
            cursor
                .last_owner
                .clone()
                .ok_or("the entry starts with white space but there is no previous owner")?
        } else {
            parse_name(tokens.next().unwrap_or_default(), &cursor.origin)?
        };
        cursor.last_owner = Some(owner.clone());
        if !self.zone_origin.zone_of(&owner) {
            return Err(format!(
                "owner {owner} is outside the zone {}",
                self.zone_origin
            ));
        }
        Ok(owner)
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
                let origin = parse_name(origin, &cursor.origin)?;
                cursor.origin = origin;
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
                let base = file.parent().unwrap_or(Path::new("."));
                let target = base.join(path);
                if self.stack.iter().any(|p| p == &target) {
                    return Err(format!("$INCLUDE {path} includes itself"));
                }
                // RFC 1035 §5.1: the included file starts at the given origin (or ours), and
                // whatever it does to $ORIGIN does not leak back into this file.
                let origin = match args.get(1) {
                    Some(o) => parse_name(o, &cursor.origin)?,
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

fn has_decimal_escape(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

fn parse_name(tok: &str, origin: &Name) -> Result<Name, String> {
    if tok == "@" {
        return Ok(origin.clone());
    }
    let mut name =
        Name::parse(tok, Some(origin)).map_err(|e| format!("`{tok}` is not a domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name)
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
            .map(DNSClass::for_opt),
    }
}

fn parse_type(upper: &str) -> Option<RecordType> {
    if let Some(n) = upper.strip_prefix("TYPE")
        && let Ok(code) = n.parse::<u16>()
    {
        return Some(RecordType::from(code));
    }
    match RecordType::from_str(upper) {
        Ok(RecordType::Unknown(_)) | Err(_) => None,
        Ok(t) => Some(t),
    }
}

/// Parses RDATA: RFC 3597 generic form ourselves, everything else through hickory's parser.
fn parse_rdata(rtype: RecordType, tokens: &[&Token], origin: &Name) -> Result<RData, String> {
    if let Some(Token::Word(w)) = tokens.first()
        && w == "\\#"
    {
        return parse_generic_rdata(rtype, &tokens[1..]);
    }
    if let RecordType::Unknown(code) = rtype {
        return Err(format!(
            "TYPE{code} needs its RDATA in RFC 3597 form: \\# <length> <hex>"
        ));
    }
    let mut text = format!("{} 0 IN {} ", Name::root(), rtype);
    for t in tokens {
        match t {
            Token::Word(w) => text.push_str(w),
            Token::Quoted(q) => {
                text.push('"');
                text.push_str(q);
                text.push('"');
            }
        }
        text.push(' ');
    }
    text.push('\n');
    let (_, sets) = Parser::new(text, None, Some(origin.clone()))
        .parse()
        .map_err(|e| format!("bad {rtype} record: {e}"))?;
    let record = sets
        .into_values()
        .next()
        .and_then(|set| set.records_without_rrsigs().next().cloned())
        .ok_or_else(|| format!("bad {rtype} record: no data"))?;
    Ok(record.data)
}

fn parse_generic_rdata(rtype: RecordType, tokens: &[&Token]) -> Result<RData, String> {
    let (len, hex_parts) = tokens
        .split_first()
        .ok_or("\\# needs a length and hex data")?;
    let len: u16 = len
        .text()
        .parse()
        .map_err(|_| format!("`{}` is not an RDATA length", len.text()))?;
    let hex: String = hex_parts.iter().map(|t| t.text()).collect();
    let bytes = hex::decode(&hex).map_err(|e| format!("bad hex in generic RDATA: {e}"))?;
    if bytes.len() != len as usize {
        return Err(format!(
            "generic RDATA says {len} octets but has {}",
            bytes.len()
        ));
    }
    let mut decoder = BinDecoder::new(&bytes);
    let rdata = RData::read(&mut decoder, rtype, Restrict::new(len))
        .map_err(|e| format!("generic RDATA is not a valid {rtype}: {e}"))?;
    if decoder.index() != bytes.len() {
        return Err(format!("generic RDATA has trailing octets for {rtype}"));
    }
    Ok(rdata)
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
    fn entries_join_parentheses_and_keep_lines() {
        let text = "a 1 IN A 192.0.2.1 ; c\n@ IN SOA ns h (\n 1 2\n 3 4 5 )\n  IN TXT \"x ; y\"\n";
        let e = split_entries(text).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].line, 2);
        assert_eq!(e[1].tokens.len(), 10);
        assert_eq!(e[2].line, 5);
        assert!(e[2].blank_owner);
        assert_eq!(e[2].tokens[2].text(), "x ; y");
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
            for r in &parsed.records {
                proptest::prop_assert!(origin.zone_of(&r.record.name));
            }
        }
    }

    #[test]
    fn unbalanced_parenthesis_names_its_line() {
        let err = split_entries("a A 1.2.3.4\nb SOA (\n").unwrap_err();
        assert_eq!(err.0, 2);
    }
}
