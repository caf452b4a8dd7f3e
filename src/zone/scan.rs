//! Names and RDATA read by NLnet Labs' `domain` scanner (the zone-file reader of the authors of
//! NSD and Unbound), then handed to hickory-proto through their wire form.
//!
//! `domain` decodes every escape (`\DDD`, `\X`) in owners, in names inside RDATA and in
//! character-strings, allows any octet in a label (RFC 2181 §11: `128/25`, `a*b`, `x\;y`), and
//! reads the presentation format of every type an operator writes today, plus RFC 3597's
//! `\# len hex` for any type. It has no parser for LOC, SPF and URI: SPF and URI are read as the
//! TXT strings they are made of, and LOC by [`super::loc`].
//!
//! The record crosses to hickory as wire bytes. Types whose RDATA the answering logic reads
//! (A, AAAA, NS, CNAME, SOA, MX, SRV, PTR) become hickory's typed RDATA; every other type stays
//! opaque bytes, served exactly as the file wrote them.

use domain::base::iana::Class;
use domain::zonefile::inplace::{Entry as ScannedEntry, Zonefile};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, Restrict};

use super::entries::Token;
use super::loc;

/// `name` (absolute, or relative to `origin`; `@` is the origin) as a domain name.
pub fn name(text: &str, origin: &Name) -> Result<Name, String> {
    let chunk = format!("$ORIGIN {}\n$ORIGIN {text}\n", presentation(origin));
    let mut zone = Zonefile::from(chunk.as_str());
    match zone.next_entry() {
        Ok(None) => {}
        Ok(Some(_)) => return Err(format!("`{text}` is not a domain name")),
        Err(e) => return Err(format!("`{text}` is not a domain name: {}", message(&e))),
    }
    let origin = zone
        .origin()
        .map_err(|e| format!("`{text}` is not a domain name: {e}"))?;
    from_wire_name(origin.as_slice())
}

/// `domain`'s scanner, kept from one record to the next of a file: the origin is given to it
/// once (as wire octets), not written into every record's text and scanned again; each record
/// is then one line fed to it. After an error it is made anew (it cannot go on).
#[derive(Default)]
pub struct Scanner {
    zone: Option<(Name, Zonefile)>,
    /// Octets fed to `zone`, to tell that a line was read whole.
    fed: usize,
}

impl Scanner {
    /// Reads one record: `owner` as written (relative to `origin`, or `@`), its type, and its
    /// RDATA tokens as written. Returns the owner and the RDATA in wire form (names
    /// uncompressed), the RDATA checked as hickory will read it when it answers from it.
    pub fn record(
        &mut self,
        owner: &str,
        origin: &Name,
        rtype: RecordType,
        rdata: &[Token],
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let generic = rdata.first().is_some_and(|t| t.text() == "\\#");
        let code = u16::from(rtype);
        let empty = [Token::Quoted("")];
        let (scanned_type, data) = match code {
            _ if generic => (code, rdata),
            // SPF is TXT by another number; URI's target is one string (RFC 7553).
            SPF | URI => (TXT, rdata),
            // LOC: `domain` has no reader for it; the owner is read with an empty TXT in its place.
            LOC => (TXT, &empty[..]),
            _ => (code, rdata),
        };
        let mut line = format!("{owner} 0 IN TYPE{scanned_type}");
        for token in data {
            line.push(' ');
            token.write_to(&mut line);
        }
        line.push('\n');
        let mut wire = self.scan_one(origin, &line)?;
        let (owner_len, rdata_at) = split_wire(&wire)?;
        let rdata = match code {
            LOC if !generic => loc::encode(&rdata.iter().map(Token::text).collect::<Vec<_>>())?,
            URI if !generic => uri_from_txt(&wire[rdata_at..])?,
            _ => wire[rdata_at..].to_vec(),
        };
        check_rdata(rtype, &rdata)?;
        wire.truncate(owner_len);
        Ok((wire, rdata))
    }

    /// Scans the one record of `line`, relative to `origin`, into wire form (uncompressed).
    fn scan_one(&mut self, origin: &Name, line: &str) -> Result<Vec<u8>, String> {
        let same = |(o, _): &(Name, Zonefile)| o.eq_case(origin);
        if !self.zone.as_ref().is_some_and(same) {
            let octets = bytes::Bytes::from(origin.to_bytes().map_err(|e| e.to_string())?);
            let name = domain::base::Name::from_octets(octets).map_err(|e| e.to_string())?;
            let mut zone = Zonefile::new();
            zone.set_default_class(Class::IN);
            zone.set_origin(name);
            self.zone = Some((origin.clone(), zone));
            self.fed = 0;
        }
        let (_, zone) = self.zone.as_mut().expect("made above");
        zone.extend_from_slice(line.as_bytes());
        self.fed += line.len();
        let scanned = match zone.next_entry() {
            Ok(Some(ScannedEntry::Record(r))) => {
                let mut wire = Vec::new();
                r.compose(&mut wire)
                    .map_err(|_| "the record is too long".to_string())
                    .map(|()| wire)
            }
            Ok(_) => Err("no record".into()),
            Err(e) => Err(message(&e)),
        };
        // It cannot go on after an error, nor after half a line; and its buffer is let go now
        // and then (what it read stays in it until then).
        if scanned.is_err() || zone.current_offset() != self.fed || self.fed > 1 << 20 {
            self.zone = None;
        }
        scanned
    }
}

/// TXT's type code.
const TXT: u16 = 16;
/// LOC's type code (RFC 1876).
const LOC: u16 = 29;
/// SPF's type code (RFC 7208).
const SPF: u16 = 99;
/// URI's type code (RFC 7553).
const URI: u16 = 256;

/// The scanner's message without its position in our one-line chunk.
fn message(e: &impl std::fmt::Display) -> String {
    let text = e.to_string();
    // "line:col: message"
    text.splitn(3, ':')
        .nth(2)
        .unwrap_or(&text)
        .trim()
        .to_string()
}

/// Where a wire record's owner ends and its RDATA starts.
fn split_wire(wire: &[u8]) -> Result<(usize, usize), String> {
    let mut at = 0;
    while let Some(&len) = wire.get(at).filter(|&&l| l != 0) {
        at += 1 + usize::from(len);
    }
    let owner_len = at + 1;
    // type, class, TTL, RDATA length: 10 octets.
    let fixed = wire
        .get(owner_len..owner_len + 10)
        .ok_or("the record is cut short")?;
    let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    if wire.len() != owner_len + 10 + len {
        return Err("the record's length is wrong".into());
    }
    Ok((owner_len, owner_len + 10))
}

fn from_wire_name(wire: &[u8]) -> Result<Name, String> {
    Name::read(&mut BinDecoder::new(wire)).map_err(|e| format!("bad name: {e}"))
}

/// Whether hickory reads `rdata` as `rtype` (see [`to_rdata`]), without keeping what it read.
fn check_rdata(rtype: RecordType, rdata: &[u8]) -> Result<(), String> {
    use RecordType::*;
    match rtype {
        A if rdata.len() == 4 => Ok(()),
        AAAA if rdata.len() == 16 => Ok(()),
        A | AAAA | NS | CNAME | SOA | MX | SRV | PTR => to_rdata(rtype, rdata.to_vec()).map(drop),
        _ => u16::try_from(rdata.len())
            .map(drop)
            .map_err(|_| "RDATA too long".to_string()),
    }
}

/// hickory's RDATA for `rtype`: typed where the answering logic reads it, opaque otherwise.
pub(super) fn to_rdata(rtype: RecordType, bytes: Vec<u8>) -> Result<RData, String> {
    use RecordType::*;
    if !matches!(rtype, A | AAAA | NS | CNAME | SOA | MX | SRV | PTR) {
        // Empty RDATA (`\# 0`) is legal; hickory's `NULL::with` refuses it, `new` does not.
        let mut rdata = hickory_proto::rr::rdata::NULL::new();
        rdata.anything = bytes;
        return Ok(RData::Unknown { code: rtype, rdata });
    }
    let len = u16::try_from(bytes.len()).map_err(|_| "RDATA too long".to_string())?;
    let mut d = BinDecoder::new(&bytes);
    let rdata = RData::read(&mut d, rtype, Restrict::new(len))
        .map_err(|e| format!("not a valid {rtype}: {e}"))?;
    if d.index() != bytes.len() {
        return Err(format!("trailing octets in the {rtype} RDATA"));
    }
    Ok(rdata)
}

/// URI's RDATA from the TXT strings it was read as: priority, weight, target.
fn uri_from_txt(txt: &[u8]) -> Result<Vec<u8>, String> {
    let mut strings = Vec::new();
    let mut rest = txt;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        if tail.len() < len {
            return Err("bad URI record".into());
        }
        strings.push(&tail[..len]);
        rest = &tail[len..];
    }
    let number = |s: &[u8], what: &str| -> Result<u16, String> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "URI {what} `{}` is not a number",
                    String::from_utf8_lossy(s)
                )
            })
    };
    let [priority, weight, target] = strings[..] else {
        return Err("a URI record is: priority weight \"target\"".into());
    };
    let mut out = Vec::with_capacity(4 + target.len());
    out.extend_from_slice(&number(priority, "priority")?.to_be_bytes());
    out.extend_from_slice(&number(weight, "weight")?.to_be_bytes());
    out.extend_from_slice(target);
    Ok(out)
}

/// A name as the scanner reads it back: labels of letters, digits, `-` and `_` as they are,
/// every other octet as `\DDD`.
pub fn presentation(name: &Name) -> String {
    presentation_of(name.iter())
}

/// [`presentation`] of a name in wire form.
pub fn presentation_wire(wire: &[u8]) -> String {
    let mut rest = wire;
    presentation_of(std::iter::from_fn(|| {
        let (&len, tail) = rest.split_first().filter(|(l, _)| **l != 0)?;
        let (label, after) = tail.split_at(usize::from(len).min(tail.len()));
        rest = after;
        Some(label)
    }))
}

fn presentation_of<'l>(labels: impl Iterator<Item = &'l [u8]>) -> String {
    let mut out = String::new();
    for label in labels {
        for &b in label {
            if b.is_ascii_alphanumeric()
                || b == b'-'
                || b == b'_'
                || (b == b'*' && label.len() == 1)
            {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out.push('.');
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Name {
        Name::from_ascii("example.net.").unwrap()
    }

    fn read(owner: &str, rtype: RecordType, rdata: &[&str]) -> Result<(Name, RData), String> {
        let tokens: Vec<Token> = rdata
            .iter()
            .map(
                |t| match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                    Some(q) => Token::Quoted(q),
                    None => Token::Word(t),
                },
            )
            .collect();
        let (owner, rdata) = Scanner::default().record(owner, &origin(), rtype, &tokens)?;
        assert_eq!(
            presentation_wire(&owner),
            presentation(&from_wire_name(&owner)?)
        );
        Ok((from_wire_name(&owner)?, to_rdata(rtype, rdata)?))
    }

    #[test]
    fn any_octet_is_a_label_octet() {
        for (text, wire) in [
            ("128/25", &b"\x06128/25"[..]),
            ("a*b", b"\x03a*b"),
            ("x\\;y", b"\x03x;y"),
            ("a\\.b", b"\x03a.b"),
            ("\\000\\255", b"\x02\x00\xff"),
            ("\\ ", b"\x01 "),
        ] {
            let (owner, _) = read(text, RecordType::A, &["192.0.2.1"]).unwrap();
            let mut expected = wire.to_vec();
            expected.extend_from_slice(b"\x07example\x03net\x00");
            let mut got = Vec::new();
            for l in owner.iter() {
                got.push(l.len() as u8);
                got.extend_from_slice(l);
            }
            got.push(0);
            assert_eq!(got, expected, "{text}");
            assert_eq!(name(&presentation(&owner), &origin()).unwrap(), owner);
        }
    }

    #[test]
    fn escapes_decode_in_character_strings() {
        let (_, rdata) = read(
            "t",
            RecordType::TXT,
            &["\"dash \\226\\128\\148 here\"", "\"\"", "unq"],
        )
        .unwrap();
        let RData::Unknown { rdata, .. } = rdata else {
            panic!()
        };
        assert_eq!(
            &rdata.anything[..],
            b"\x0ddash \xe2\x80\x94 here\x00\x03unq"
        );
    }

    #[test]
    fn spf_and_uri_are_read_through_their_strings() {
        let (_, rdata) = read("s", RecordType::from(SPF), &["\"v=spf1 -all\""]).unwrap();
        assert_eq!(u16::from(rdata.record_type()), SPF);
        let (_, rdata) = read(
            "_http._tcp",
            RecordType::from(URI),
            &["10", "1", "\"http://x/\""],
        )
        .unwrap();
        let RData::Unknown { rdata, .. } = rdata else {
            panic!()
        };
        assert_eq!(&rdata.anything[..], b"\x00\x0a\x00\x01http://x/");
    }

    #[test]
    fn empty_generic_rdata_is_kept_empty() {
        // Found by the zone-line fuzzer: `\# 0` panicked in hickory's NULL::with.
        let (_, rdata) = read("g", RecordType::Unknown(65280), &["\\#", "0"]).unwrap();
        let RData::Unknown { rdata, .. } = rdata else {
            panic!()
        };
        assert!(rdata.anything.is_empty());
    }

    #[test]
    fn names_in_rdata_are_relative_to_the_origin() {
        let (_, rdata) = read("c", RecordType::CNAME, &["130.128/25"]).unwrap();
        let RData::CNAME(target) = rdata else {
            panic!()
        };
        assert_eq!(
            target.0,
            name("130.128\\/25.example.net.", &origin()).unwrap()
        );
        assert_eq!(target.0.iter().nth(1).unwrap(), b"128/25");
    }
}
