//! One RRSIG made (RFC 4034 §3, RFC 4035 §5.3.2): the RRset in canonical form and order
//! (RFC 4034 §6), the RDATA before the signature, the key's signature appended. Works on wire
//! octets as the zone store keeps them, so a zone of a million RRsets is signed without
//! decoding one record.

use std::borrow::Cow;

use super::keys::Key;

/// The window of a signature: from `inception` to `expiration` (RFC 4034 §3.1.5, seconds
/// since the epoch, serial arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Valid from.
    pub inception: u32,
    /// Valid until.
    pub expiration: u32,
}

/// An RRset to sign: its owner (lower-cased wire form), type, TTL and records' RDATA.
pub struct Unsigned<'a> {
    /// Lower-cased wire form.
    pub owner: &'a [u8],
    /// The type covered.
    pub rtype: u16,
    /// The original TTL.
    pub ttl: u32,
    /// Each record's RDATA, names uncompressed (any order, any case).
    pub rdatas: &'a [&'a [u8]],
}

/// The RRSIG RDATA covering `set`, made with `key` for the zone `signer` (lower-cased wire
/// form); `None` when the key cannot sign.
pub fn make(set: &Unsigned<'_>, key: &Key, signer: &[u8], window: Window) -> Option<Vec<u8>> {
    let mut data = Vec::with_capacity(64 + set.rdatas.len() * (set.owner.len() + 32));
    rdata_before_signature(set, key, signer, window, &mut data);
    let prefix = data.len();
    append_canonical_rrset(set, &mut data);
    let signature = key.sign(&data)?;
    data.truncate(prefix);
    data.extend_from_slice(&signature);
    Some(data)
}

/// The RRSIG RDATA up to its signature (RFC 4034 §3.1).
fn rdata_before_signature(
    set: &Unsigned<'_>,
    key: &Key,
    signer: &[u8],
    window: Window,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&set.rtype.to_be_bytes());
    out.push(key.algorithm);
    out.push(labels(set.owner));
    out.extend_from_slice(&set.ttl.to_be_bytes());
    out.extend_from_slice(&window.expiration.to_be_bytes());
    out.extend_from_slice(&window.inception.to_be_bytes());
    out.extend_from_slice(&key.tag.to_be_bytes());
    out.extend_from_slice(signer);
}

/// Each record as signed (owner, type, class IN, original TTL, RDLENGTH, canonical RDATA), in
/// canonical order, duplicates once (RFC 4034 §6.3).
fn append_canonical_rrset(set: &Unsigned<'_>, out: &mut Vec<u8>) {
    let mut rdatas: Vec<Cow<'_, [u8]>> = set
        .rdatas
        .iter()
        .map(|r| canonical_rdata(set.rtype, r))
        .collect();
    rdatas.sort_unstable();
    rdatas.dedup();
    for rdata in &rdatas {
        out.extend_from_slice(set.owner);
        out.extend_from_slice(&set.rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&set.ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
}

/// The labels of `owner` (wire form) an RRSIG counts: the root and a leading `*` not counted
/// (RFC 4034 §3.1.3).
pub fn labels(owner: &[u8]) -> u8 {
    let mut count = 0u8;
    let mut at = 0;
    let mut first = true;
    while let Some(&len) = owner.get(at) {
        if len == 0 {
            break;
        }
        let wildcard = first && len == 1 && owner.get(at + 1) == Some(&b'*');
        if !wildcard {
            count += 1;
        }
        first = false;
        at += 1 + usize::from(len);
    }
    count
}

/// RDATA in canonical form (RFC 4034 §6.2, as RFC 6840 §5.1 narrows it): the names of the
/// types that hold them lower-cased.
pub fn canonical_rdata(rtype: u16, rdata: &[u8]) -> Cow<'_, [u8]> {
    // (offset of the first name, how many names follow one another there)
    let names: &[NameAt] = match rtype {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[NameAt::Fixed(0)],
        // SOA, MINFO, RP: two names
        6 | 14 | 17 => &[NameAt::Fixed(0), NameAt::AfterName],
        // MX, AFSDB, RT, KX: a 16-bit field, then a name
        15 | 18 | 21 | 36 => &[NameAt::Fixed(2)],
        // SRV: priority, weight, port, target
        33 => &[NameAt::Fixed(6)],
        // PX: preference, two names
        26 => &[NameAt::Fixed(2), NameAt::AfterName],
        // NAPTR: order, preference, three strings, replacement
        35 => &[NameAt::AfterStrings(4, 3)],
        _ => return Cow::Borrowed(rdata),
    };
    let mut out = rdata.to_vec();
    let mut at = 0;
    for place in names {
        at = match *place {
            NameAt::Fixed(o) => o,
            NameAt::AfterName => at,
            NameAt::AfterStrings(o, n) => {
                let mut p = o;
                for _ in 0..n {
                    p += 1 + usize::from(*out.get(p).unwrap_or(&0));
                }
                p
            }
        };
        at = lower_name(&mut out, at);
    }
    Cow::Owned(out)
}

/// Where a name in an RDATA starts.
enum NameAt {
    /// At this offset.
    Fixed(usize),
    /// Right after the previous name.
    AfterName,
    /// After this many character strings from this offset.
    AfterStrings(usize, usize),
}

/// Lower-cases the uncompressed name at `at` in `rdata`; returns where it ends.
fn lower_name(rdata: &mut [u8], mut at: usize) -> usize {
    while let Some(&len) = rdata.get(at) {
        at += 1;
        if len == 0 || len & 0xc0 != 0 {
            break;
        }
        let end = (at + usize::from(len)).min(rdata.len());
        rdata[at..end].make_ascii_lowercase();
        at = end;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_leave_out_the_root_and_a_wildcard() {
        assert_eq!(labels(b"\x03www\x07example\x03com\x00"), 3);
        assert_eq!(labels(b"\x01*\x07example\x03com\x00"), 2);
        assert_eq!(labels(b"\x00"), 0);
    }

    #[test]
    fn names_in_rdata_are_lowered_where_rfc_4034_says() {
        let mx = b"\x00\x0a\x04MAIL\x07Example\x00";
        assert_eq!(
            &*canonical_rdata(15, mx),
            b"\x00\x0a\x04mail\x07example\x00"
        );
        let txt = b"\x04ABCD";
        assert_eq!(&*canonical_rdata(16, txt), txt);
        let soa = b"\x02NS\x00\x02HM\x00rest";
        assert_eq!(&*canonical_rdata(6, soa), b"\x02ns\x00\x02hm\x00rest");
    }
}
