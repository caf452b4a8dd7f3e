//! NXDOMAIN and NODATA with DO in an NSEC3 zone, for the fast path (RFC 5155 §7.2.2-3). The
//! response is the zone's SOA with its RRSIGs (one relocatable body per zone and rcode, as every
//! negative answer's), then for NODATA the name's own NSEC3, for NXDOMAIN the NSEC3 that
//! matches the closest encloser, the one that covers the next closer name, and the one that
//! covers the wildcard at the closest encloser, each with its RRSIGs, each once. The closest
//! encloser is the prepared name the fast path's walk up the question's labels finds; its own
//! NSEC3 and its wildcard's cover are found when the answers are prepared (a few octets a name,
//! where a NODATA body of its own would take some 300); the one thing computed per question is
//! the next closer name's hash (SHA-1, with the zone's salt and iterations, on the stack).
//!
//! The NSEC3 records are written as hickory-proto's encoder writes them after the SOA: the
//! owner's hash label, then a pointer to the zone's apex where the encoder first wrote it (the
//! SOA's owner); the RRSIGs after it owned by a pointer to that owner. The fast-path tests compare every such
//! response with the general path's, octet for octet.

use std::sync::Arc;

use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};

use super::{BodyRef, Entry, Prepared};
use crate::zone::signed::Nsec3Chain;
use crate::zone::{Denial, Zone};

/// An NSEC3 zone whose NXDOMAIN answers are prepared.
#[derive(Debug)]
pub(super) struct Nsec3Zone {
    zone: Arc<Zone>,
    /// Its SOA and the SOA's RRSIGs, NXDOMAIN (a body index).
    nxdomain: u32,
    /// The same, NOERROR (NODATA).
    nodata: u32,
}

/// What is prepared at a closest encloser: its zone, and the links of its own NSEC3 and of the
/// one that covers `*.<it>`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Nsec3Proof {
    zone: u32,
    own: u32,
    wild: u32,
}

/// A prepared negative answer with DO, as [`super::Found`] carries it: the proof's index, and
/// for NXDOMAIN where the question's next closer name starts.
#[derive(Debug, Clone, Copy)]
pub struct Nsec3Ref {
    /// The proof's index; for a wildcard's answer, its zone's.
    proof: u32,
    /// A wildcard's answer: its body (else `u32::MAX`).
    wildcard: u32,
    /// `u16::MAX`: NODATA.
    next_closer_at: u16,
}

impl Nsec3Ref {
    pub(super) fn new(proof: u32, next_closer_at: Option<usize>) -> Self {
        let at = next_closer_at.map_or(u16::MAX, |a| u16::try_from(a).unwrap_or(u16::MAX - 1));
        Self {
            proof,
            wildcard: u32::MAX,
            next_closer_at: at,
        }
    }

    /// A wildcard's answer (`body`, prepared without its proof) in NSEC3 zone `zone`, to the
    /// question whose next closer name starts at `next_closer_at`.
    pub(super) fn wildcard(zone: u32, body: u32, next_closer_at: usize) -> Self {
        Self {
            proof: zone,
            wildcard: body,
            next_closer_at: u16::try_from(next_closer_at).unwrap_or(u16::MAX - 1),
        }
    }
}

/// What the fast path needs to answer an NXDOMAIN, a NODATA or a wildcard's answer with DO.
#[derive(Debug, Clone, Copy)]
pub struct Nsec3Nx<'p> {
    /// The SOA and its RRSIGs; or the wildcard's answer (records owned by the question).
    pub soa: BodyRef<'p>,
    chain: &'p Nsec3Chain,
    /// `None` for a wildcard's answer, whose one proof is the next closer name's cover.
    proof: Option<Nsec3Proof>,
    /// NXDOMAIN: where the next closer name starts in the (lower-cased) question name; `None`
    /// for NODATA.
    next_closer_at: Option<usize>,
}

impl Prepared {
    /// Prepares `zone`'s negative answers with DO, if it is an NSEC3 zone: its SOA bodies;
    /// `None` otherwise.
    pub(super) fn nsec3_zone(&mut self, zone: &Arc<Zone>) -> Option<u32> {
        let Denial::Nsec3(_) = &zone.dnssec.as_ref()?.denial else {
            return None;
        };
        let Entry::Body(nxdomain) = self.signed_negative_body(zone, true) else {
            return None;
        };
        let Entry::Body(nodata) = self.signed_negative_body(zone, false) else {
            return None;
        };
        self.nsec3_zones.push(Nsec3Zone {
            zone: zone.clone(),
            nxdomain,
            nodata,
        });
        u32::try_from(self.nsec3_zones.len() - 1).ok()
    }

    /// The proof prepared for `name` (which exists in the NSEC3 zone `zone`): its own NSEC3
    /// (for NODATA, and for NXDOMAIN below it), and the one covering its wildcard; `None` when
    /// it has no NSEC3 of its own (the general path then walks to its closest provable
    /// encloser).
    pub(super) fn nsec3_proof(&mut self, zone: u32, name: &hickory_proto::rr::Name) -> Option<u32> {
        let (_, chain) = self.nsec3_zone_chain(zone)?;
        let own = chain.hash(name).and_then(|h| chain.matching_index(&h))?;
        let wild = name
            .prepend_label("*")
            .ok()
            .and_then(|w| chain.hash(&w))
            .and_then(|h| chain.covering_index(&h))?;
        self.nsec3_proofs.push(Nsec3Proof { zone, own, wild });
        u32::try_from(self.nsec3_proofs.len() - 1).ok()
    }

    /// NSEC3 zone `i` and its chain.
    fn nsec3_zone_chain(&self, i: u32) -> Option<(&Nsec3Zone, &Nsec3Chain)> {
        let z = self.nsec3_zones.get(i as usize)?;
        match &z.zone.dnssec.as_ref()?.denial {
            Denial::Nsec3(chain) => Some((z, chain)),
            _ => None,
        }
    }

    /// The parts of the answer `r` refers to.
    pub fn nsec3(&self, r: Nsec3Ref) -> Option<Nsec3Nx<'_>> {
        let next_closer_at = match r.next_closer_at {
            u16::MAX => None,
            at => Some(usize::from(at)),
        };
        if r.wildcard != u32::MAX {
            let (_, chain) = self.nsec3_zone_chain(r.proof)?;
            return Some(Nsec3Nx {
                soa: self.body(r.wildcard)?,
                chain,
                proof: None,
                next_closer_at,
            });
        }
        let proof = *self.nsec3_proofs.get(r.proof as usize)?;
        let (z, chain) = self.nsec3_zone_chain(proof.zone)?;
        let soa = match next_closer_at {
            Some(_) => z.nxdomain,
            None => z.nodata,
        };
        Some(Nsec3Nx {
            soa: self.body(soa)?,
            chain,
            proof: Some(proof),
            next_closer_at,
        })
    }
}

impl Nsec3Nx<'_> {
    /// Writes the proof's NSEC3 records into `out` from `at` (no further than `end`), after a
    /// question whose lower-cased name is `name` and the SOA body, which starts at `soa_at`;
    /// returns where they end and how many records they are, or `None` when they do not fit.
    pub fn write(
        &self,
        name: &[u8],
        out: &mut [u8],
        (soa_at, at): (usize, usize),
        end: usize,
    ) -> Option<(usize, u16)> {
        let covering = |at: usize| {
            let next_closer = name.get(at..)?;
            let hash = nsec3_hash(next_closer, &self.chain.salt, self.chain.iterations);
            self.chain.covering_index(&hash)
        };
        let Some(Nsec3Proof { own, wild, .. }) = self.proof else {
            // A wildcard's answer: the apex is written nowhere before (the encoder knows the
            // question's whole name only), so the owner is written whole.
            let link = covering(self.next_closer_at?)?;
            let set = self.chain.link(link)?.set();
            return write_link(set, None, out, at, end);
        };
        let links: &[u32] = match self.next_closer_at {
            Some(at) => &[own, covering(at)?, wild],
            None => &[own],
        };
        // The owners' last labels point to the apex where the encoder first wrote it: the SOA's
        // owner, or where that points (the encoder knows the question's whole name only).
        let owner = out.get(soa_at..soa_at + 2)?;
        let apex_at = match owner[0] & 0xc0 {
            0xc0 => usize::from(u16::from_be_bytes([owner[0], owner[1]]) & 0x3fff),
            _ => soa_at,
        };
        let apex = Some(u16::try_from(apex_at).ok().filter(|a| *a < 0x4000)?);
        let (mut at, mut count) = (at, 0u16);
        for (i, &link) in links.iter().enumerate() {
            if links[..i].contains(&link) {
                continue; // each RRset once
            }
            let set = self.chain.link(link)?.set();
            let (next, n) = write_link(set, apex, out, at, end)?;
            at = next;
            count += n;
        }
        Some((at, count))
    }
}

/// Writes an NSEC3 RRset and its RRSIGs as the encoder writes them at `at`: the first owner
/// its hash label and a pointer to the apex (`apex`; whole when `None`), every other owner a
/// pointer to the first. The records are copied from the packed RRsets.
fn write_link(
    set: crate::zone::RRset<'_>,
    apex: Option<u16>,
    out: &mut [u8],
    mut at: usize,
    end: usize,
) -> Option<(usize, u16)> {
    let start = u16::try_from(at).ok().filter(|s| *s < 0x4000)?;
    let owner = set.owner();
    let first_owner = match apex {
        Some(_) => owner.get(..1 + usize::from(*owner.first()?))?,
        None => owner.get(..wire_name_len(owner)?)?,
    };
    let mut count = 0u16;
    for (rrset, rtype) in [(Some(set), 50u16), (set.signatures(), 46)] {
        let Some(rrset) = rrset else { continue };
        let (class_ttl, mut rest) = rrset.packed_parts();
        while !rest.is_empty() {
            let rdlen = rest.get(..2)?;
            let len = usize::from(u16::from_be_bytes([rdlen[0], rdlen[1]]));
            let tail = rest.get(..2 + len)?; // RDLENGTH and RDATA
            let (owner, pointer): (&[u8], Option<u16>) = match count {
                0 => (first_owner, apex.map(|a| 0xc000 | a)),
                _ => (&[], Some(0xc000 | start)),
            };
            let p = if pointer.is_some() { 2 } else { 0 };
            let n = owner.len() + p + 8 + tail.len();
            let dst = out.get_mut(at..at + n).filter(|_| at + n <= end)?;
            let (o, d) = dst.split_at_mut(owner.len());
            o.copy_from_slice(owner);
            if let Some(pointer) = pointer {
                d[..2].copy_from_slice(&pointer.to_be_bytes());
            }
            d[p..p + 2].copy_from_slice(&rtype.to_be_bytes());
            d[p + 2..p + 8].copy_from_slice(class_ttl);
            d[p + 8..].copy_from_slice(tail);
            at += n;
            count += 1;
            rest = &rest[2 + len..];
        }
    }
    Some((at, count))
}

/// Octets of the uncompressed name at the start of `wire`.
fn wire_name_len(wire: &[u8]) -> Option<usize> {
    let mut at = 0;
    while *wire.get(at)? != 0 {
        at += 1 + usize::from(wire[at]);
    }
    Some(at + 1)
}

/// RFC 5155 §5: SHA-1 of the name (lower-cased wire form) and the salt, then of each digest and
/// the salt again, `iterations` more times.
fn nsec3_hash(name: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(name);
    ctx.update(salt);
    let mut digest = [0u8; 20];
    digest.copy_from_slice(ctx.finish().as_ref());
    for _ in 0..iterations {
        let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&digest);
        ctx.update(salt);
        digest.copy_from_slice(ctx.finish().as_ref());
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_hickorys_and_rfc_5155s() {
        // RFC 5155 Appendix A: H(example) with salt aabbccdd and 12 iterations.
        let name = b"\x07example\x00";
        let salt = [0xaa, 0xbb, 0xcc, 0xdd];
        let hash = nsec3_hash(name, &salt, 12);
        let text = data_encoding::BASE32HEX_NOPAD.encode(&hash).to_lowercase();
        assert_eq!(text, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
    }
}
