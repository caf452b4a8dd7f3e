//! Records written back as zone-file text that our loader reads octet for octet: a secondary
//! zone's cache file.
//!
//! Written from the packed wire form, not with hickory's `Display`, which escapes octets in
//! octal (`\310` where zone files read decimal `\200`) and turns `xn--` labels into UTF-8. Names
//! are written as NSD writes them: letters, digits and other printable ASCII as themselves, the
//! octets that mean something in a zone file (`. ; ( ) \ " @ $`) behind a backslash, every
//! other octet as a decimal `\DDD`; IDN labels stay `xn--`. A, AAAA and the types whose RDATA is
//! names and numbers (NS, CNAME, PTR, DNAME, MX, SOA) are written in their usual form; every
//! other type in RFC 3597's generic form (`TYPEnnn \# len hex`), which reads back exactly.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::PackedRecords;

/// The name at the start of `wire` (uncompressed) appended to `out`; the octets it took, or
/// `None` when it is not a whole name.
pub fn name(wire: &[u8], out: &mut String) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = usize::from(*wire.get(at)?);
        if len == 0 {
            if at == 0 {
                out.push('.');
            }
            return Some(at + 1);
        }
        if len > 63 {
            return None;
        }
        for &b in wire.get(at + 1..at + 1 + len)? {
            match b {
                b'.' | b';' | b'(' | b')' | b'\\' | b'"' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                0x21..=0x7e => out.push(char::from(b)),
                _ => {
                    let _ = write!(out, "\\{b:03}");
                }
            }
        }
        out.push('.');
        at += 1 + len;
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// RDATA in its usual text for the types whose text is plain; `None` for the others.
fn usual(rtype: u16, rdata: &[u8], out: &mut String) -> Option<()> {
    let start = out.len();
    let done = |used: usize| (used == rdata.len()).then_some(());
    let result = match rtype {
        1 => {
            let a: [u8; 4] = rdata.try_into().ok()?;
            let _ = write!(out, "A {}", Ipv4Addr::from(a));
            Some(())
        }
        28 => {
            let a: [u8; 16] = rdata.try_into().ok()?;
            let _ = write!(out, "AAAA {}", Ipv6Addr::from(a));
            Some(())
        }
        2 | 5 | 12 | 39 => {
            out.push_str(match rtype {
                2 => "NS ",
                5 => "CNAME ",
                12 => "PTR ",
                _ => "DNAME ",
            });
            name(rdata, out).and_then(done)
        }
        15 => {
            let _ = write!(out, "MX {} ", u16_at(rdata, 0)?);
            name(rdata.get(2..)?, out).and_then(|n| done(n + 2))
        }
        6 => {
            out.push_str("SOA ");
            let m = name(rdata, out)?;
            out.push(' ');
            let r = name(rdata.get(m..)?, out)?;
            let at = m + r;
            for i in 0..5 {
                let _ = write!(out, " {}", u32_at(rdata, at + 4 * i)?);
            }
            done(at + 20)
        }
        _ => None,
    };
    if result.is_none() {
        out.truncate(start);
    }
    result
}

/// One packed record as a zone-file line (no newline); `None` if it is not well formed.
pub fn record(wire: &[u8], out: &mut String) -> Option<()> {
    let owner = name(wire, out)?;
    let fixed = wire.get(owner..owner + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let rdata = wire.get(owner + 10..owner + 10 + len)?;
    let class = match class {
        1 => "IN".to_string(),
        c => format!("CLASS{c}"),
    };
    let _ = write!(out, " {ttl} {class} ");
    if usual(rtype, rdata, out).is_none() {
        let _ = write!(out, "TYPE{rtype} \\# {len}");
        if len > 0 {
            out.push(' ');
            out.push_str(&hex::encode(rdata));
        }
    }
    Some(())
}

/// A zone file of `records`, after the comment lines of `header`.
pub fn zone_text(header: &str, records: &PackedRecords) -> String {
    let mut text = String::with_capacity(records.len() * 48 + header.len());
    for line in header.lines() {
        text.push_str("; ");
        text.push_str(line);
        text.push('\n');
    }
    for wire in records.wire() {
        let at = text.len();
        if record(wire, &mut text).is_some() {
            text.push('\n');
        } else {
            text.truncate(at);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(wire: &[u8]) -> String {
        let mut s = String::new();
        name(wire, &mut s).unwrap();
        s
    }

    #[test]
    fn names_escape_in_decimal_and_keep_idn_labels() {
        assert_eq!(text(b"\x06sp ace\x00"), "sp\\032ace.");
        assert_eq!(text(b"\x03a\xa8b\x00"), "a\\168b.");
        assert_eq!(text(b"\x01\xc8\x00"), "\\200.");
        assert_eq!(text(b"\x0bxn--caf-dma\x00"), "xn--caf-dma.");
        assert_eq!(text(b"\x03a.b\x01@\x00"), "a\\.b.\\@.");
        assert_eq!(text(b"\x00"), ".");
        assert_eq!(text(b"\x01*\x02Ab\x00"), "*.Ab.");
    }
}
