//! The UDP fast path: a query answered from [`crate::prepare`]'s bodies, as NSD's `query.c`
//! answers from its precompiled data. It reads the header, the question (lower-casing the name
//! into a stack buffer) and at most an OPT record with no option but ECS; finds the prepared
//! body; and writes header, question (as sent), body and OPT into the caller's buffer. No
//! allocation, no lock, no log line.
//!
//! Anything else — another opcode or class, several questions, a compression pointer in the
//! question, other EDNS options or versions, a response that would need truncating, a name we
//! have nothing prepared for — is [`Outcome::Fallback`]: the general path answers it, so
//! correctness never depends on this file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::counters::Shard;
use super::rrl::{self, Kind, RrlConfig, RrlStats, Verdict};
use super::worker::{NameRoom, Worker};
use super::{DnsHandler, MAX_UDP_PAYLOAD};
use crate::pool::{Client, Clients};
use crate::prepare::{AddressRef, BodyRef, Found, Nsec3Nx, PoolBody, relocate};
use crate::snapshot::Snapshot;
use crate::zone::pool_signatures::Rrsigs;

/// What the fast path did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Send the first `n` octets of the buffer.
    Send(usize),
    /// Send nothing (rate limited).
    Drop,
    /// Not for the fast path: the general path answers it.
    Fallback,
}

/// The buffer a response is written into: the largest UDP response we send.
pub const RESPONSE_BUFFER: usize = MAX_UDP_PAYLOAD as usize;

/// A query's EDNS Client Subnet (RFC 7871), well formed.
#[derive(Debug, Clone, Copy)]
struct Subnet {
    family: u16,
    source: u8,
    addr: IpAddr,
}

/// What the fast path reads of a query.
struct Query<'m> {
    /// The ID and the flags octet holding RD.
    id_flags: [u8; 3],
    /// The question as sent: name, type, class.
    question: &'m [u8],
    /// Octets of the name in `question`.
    name_len: usize,
    qtype: u16,
    /// The name, lower-cased.
    key: &'m [u8],
    /// Where each label of the name starts.
    labels: &'m [u8],
    /// The query's OPT: (DO, the payload size it allows), if it had one.
    edns: Option<(bool, u16)>,
    subnet: Option<Subnet>,
}

impl Query<'_> {
    /// The largest response the client takes over UDP.
    fn limit(&self) -> usize {
        match self.edns {
            Some((_, payload)) => usize::from(payload.clamp(512, MAX_UDP_PAYLOAD)),
            None => 512,
        }
    }

    /// Octets of our OPT record in the response (ECS echo included).
    fn opt_len(&self) -> usize {
        match (self.edns, self.subnet) {
            (None, _) => 0,
            (Some(_), None) => 11,
            (Some(_), Some(s)) => 11 + 8 + usize::from(s.source.div_ceil(8)),
        }
    }

    /// Whether the client spelled the name in lower case, as it was prepared.
    fn spelled_as_prepared(&self) -> bool {
        self.question[..self.name_len] == *self.key
    }
}

/// Reads what the fast path needs; `None` for anything it leaves to the general path.
#[inline(always)]
fn parse<'m>(msg: &'m [u8], scratch: &'m mut NameRoom) -> Option<Query<'m>> {
    let header = msg.get(..12)?;
    // QR clear, opcode QUERY; one question, no answer or authority, at most an OPT.
    if header[2] & 0xf8 != 0 || header[4..10] != [0, 1, 0, 0, 0, 0] || header[10] != 0 {
        return None;
    }
    let additional = header[11];
    let name = msg.get(12..msg.len().min(12 + 255))?;
    let mut at = 0;
    let mut labels = 0;
    loop {
        let len = usize::from(*name.get(at)?);
        if len & 0xc0 != 0 {
            return None;
        }
        if len == 0 {
            break;
        }
        scratch.labels[labels] = at as u8; // a name of 255 octets has at most 127 labels
        labels += 1;
        at += 1 + len;
    }
    // The name in one copy, lower-cased in place: its length octets (< 64) are no letters.
    let key = &mut scratch.key[..at + 1];
    key.copy_from_slice(&name[..at + 1]);
    key.make_ascii_lowercase();
    let name_len = at + 1;
    let at = 12 + at;
    let tail = msg.get(at + 1..at + 5)?;
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    if tail[2..4] != [0, 1] {
        return None; // class IN only
    }
    let question = &msg[12..at + 5];
    let rest = &msg[at + 5..];
    let (edns, subnet) = match additional {
        0 if rest.is_empty() => (None, None),
        1 => {
            let (edns, subnet) = parse_opt(rest)?;
            (Some(edns), subnet)
        }
        _ => return None,
    };
    Some(Query {
        id_flags: [header[0], header[1], header[2]],
        question,
        name_len,
        qtype,
        key: &scratch.key[..name_len],
        labels: &scratch.labels[..labels],
        edns,
        subnet,
    })
}

/// Reads an OPT record that is all of `rest`: version 0, no extended rcode, and no option but
/// a well-formed ECS.
fn parse_opt(rest: &[u8]) -> Option<((bool, u16), Option<Subnet>)> {
    let fixed = rest.get(..11)?;
    if fixed[0] != 0 || fixed[1..3] != [0, 41] || fixed[5] != 0 || fixed[6] != 0 {
        return None;
    }
    let payload = u16::from_be_bytes([fixed[3], fixed[4]]);
    let dnssec_ok = fixed[7] & 0x80 != 0;
    let rdlen = usize::from(u16::from_be_bytes([fixed[9], fixed[10]]));
    let options = &rest[11..];
    if options.len() != rdlen {
        return None;
    }
    if options.is_empty() {
        return Some(((dnssec_ok, payload), None));
    }
    // One option: ECS (code 8).
    let code = u16::from_be_bytes([*options.first()?, *options.get(1)?]);
    let len = usize::from(u16::from_be_bytes([*options.get(2)?, *options.get(3)?]));
    if code != 8 || options.len() != 4 + len || len < 4 {
        return None;
    }
    let ecs = &options[4..];
    let family = u16::from_be_bytes([ecs[0], ecs[1]]);
    let (source, scope, addr) = (ecs[2], ecs[3], &ecs[4..]);
    if scope != 0 || addr.len() != usize::from(source.div_ceil(8)) {
        return None;
    }
    let ip = match family {
        1 if source <= 32 => {
            let mut a = [0u8; 4];
            a[..addr.len()].copy_from_slice(addr);
            IpAddr::V4(Ipv4Addr::from(a))
        }
        2 if source <= 128 => {
            let mut a = [0u8; 16];
            a[..addr.len()].copy_from_slice(addr);
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    // No address bits beyond the source prefix (else FORMERR, which the general path sends).
    if source % 8 != 0 && addr.last().is_some_and(|b| b & (0xff >> (source % 8)) != 0) {
        return None;
    }
    Some((
        (dnssec_ok, payload),
        Some(Subnet {
            family,
            source,
            addr: ip,
        }),
    ))
}

/// Response rate limiting as the fast path applies it: the config (none: off), its counters,
/// and the serving thread's table.
struct Limit<'a> {
    config: Option<&'a RrlConfig>,
    stats: &'a RrlStats,
    table: &'a mut rrl::Table,
}

impl Limit<'_> {
    /// The verdict on a response of `kind` about `name` (the question's name by default).
    fn check(
        &mut self,
        q: &Query<'_>,
        kind: Kind,
        name: Option<&[u8]>,
        peer: SocketAddr,
    ) -> Verdict {
        match self.config {
            None => Verdict::Send,
            Some(rrl) => {
                let name = name.unwrap_or(q.key);
                rrl.check(self.table, self.stats, peer.ip(), kind, name, q.qtype)
            }
        }
    }

    /// [`Limit::check`] for a prepared body, classified only when limiting is on.
    fn body(&mut self, q: &Query<'_>, body: &BodyRef<'_>, peer: SocketAddr) -> Verdict {
        if self.config.is_none() {
            return Verdict::Send;
        }
        let kind = Kind::of(body.rcode, body.authoritative, usize::from(body.counts[0]));
        let name = body.authority_owner.filter(|_| kind.by_authority_owner());
        self.check(q, kind, name, peer)
    }
}

/// Answers `msg` from `peer` into `out` from `snapshot` if the fast path can, with the serving
/// thread's `worker` (its name room, picker, rate-limit table and counters).
pub fn answer(
    handler: &DnsHandler,
    worker: &mut Worker,
    snapshot: &Snapshot,
    msg: &[u8],
    peer: SocketAddr,
    out: &mut [u8; RESPONSE_BUFFER],
) -> Outcome {
    let Worker {
        name,
        picker,
        rrl,
        shard,
    } = worker;
    let Some(q) = parse(msg, name) else {
        return Outcome::Fallback;
    };
    let Some(found) = find(snapshot, &q) else {
        return Outcome::Fallback;
    };
    let mut limit = Limit {
        config: handler.rrl.as_ref(),
        stats: &handler.stats.rrl,
        table: rrl,
    };
    let outcome = match found {
        Found::Body(body) => static_answer(&q, &body, 0, peer, out, &mut limit),
        Found::Address(set) => address_answer(&q, set, peer, out, &mut limit),
        Found::Nsec3(r) => match snapshot.prepared_signed.nsec3(r) {
            Some(nx) => nsec3_negative(&q, &nx, peer, out, &mut limit),
            None => Outcome::Fallback,
        },
        Found::Pool(pool) => {
            // The largest answer the draw could give must fit: a truncated pool answer is
            // the general path's to make.
            let bound = 12 + q.question.len() + pool.most_octets() + q.opt_len();
            if bound > q.limit() {
                return Outcome::Fallback;
            }
            // Only a policy that steers by the client reads it.
            let clients = if pool.pool.uses_client {
                Clients {
                    source: Some(Client::from_resolver(peer.ip())),
                    ecs: q.subnet.map(|s| Client::new(s.addr, s.source)),
                }
            } else {
                Clients::default()
            };
            pool.pool.draw_with(picker, &clients, |picks, scope| {
                if picks.is_empty() {
                    match snapshot.prepared.body(pool.nodata) {
                        Some(nodata) => static_answer(&q, &nodata, scope, peer, out, &mut limit),
                        None => Outcome::Fallback,
                    }
                } else {
                    pool_answer(&q, (pool, shard), picks, scope, peer, out, &mut limit)
                }
            })
        }
    };
    if let Outcome::Send(n) = outcome {
        shard.count(q.qtype, out[3] & 0x0f);
        debug_assert!(n <= q.limit());
    }
    outcome
}

/// The prepared answer to `q`: with DO, from a signed zone's answers with signatures; a name
/// of a signed zone is never answered from those without (`None`: the general path's).
#[inline(always)]
fn find<'s>(snapshot: &'s Snapshot, q: &Query<'_>) -> Option<Found<'s>> {
    let signed = &snapshot.prepared_signed;
    if matches!(q.edns, Some((true, _))) && !signed.is_empty() {
        let found = signed.find(q.key, q.labels, q.qtype);
        if found.is_some() || signed.claims(q.key, q.labels) {
            return found;
        }
    }
    snapshot.prepared.find(q.key, q.labels, q.qtype)
}

/// A response from a prepared body.
fn static_answer(
    q: &Query<'_>,
    body: &BodyRef<'_>,
    scope: u8,
    peer: SocketAddr,
    out: &mut [u8; RESPONSE_BUFFER],
    limit: &mut Limit<'_>,
) -> Outcome {
    let as_prepared = q.spelled_as_prepared();
    if !as_prepared && !body.case_free {
        return Outcome::Fallback;
    }
    let question_len = q.question.len();
    let total = 12 + question_len + body.bytes.len() + q.opt_len();
    if total > q.limit() {
        return Outcome::Fallback;
    }
    let counts = match limit.body(q, body, peer) {
        Verdict::Drop => return Outcome::Drop,
        Verdict::Slip => None,
        Verdict::Send => Some(body.counts),
    };
    let at = header(q, body.authoritative, body.rcode, counts.is_none(), out);
    let Some(counts) = counts else {
        set_counts(out, [0, 0, 0]);
        return Outcome::Send(append_opt(q, scope, at, out));
    };
    set_counts(out, counts);
    let end = at + body.bytes.len();
    out[at..end].copy_from_slice(body.bytes);
    let delta = question_len as isize - body.question_len as isize;
    if delta != 0 {
        relocate(&mut out[at..end], body.relocs, delta);
    }
    Outcome::Send(append_opt(q, scope, end, out))
}

/// An NXDOMAIN, NODATA or wildcard's answer with DO in an NSEC3 zone: the SOA body (or the
/// wildcard's answer), then the proofs written for this question
/// ([`crate::prepare::Nsec3Nx::write`]). Only for a question spelled as prepared (lower case),
/// as every shared negative body.
fn nsec3_negative(
    q: &Query<'_>,
    nx: &Nsec3Nx<'_>,
    peer: SocketAddr,
    out: &mut [u8; RESPONSE_BUFFER],
    limit: &mut Limit<'_>,
) -> Outcome {
    let soa = &nx.soa;
    if !q.spelled_as_prepared() {
        return Outcome::Fallback;
    }
    let room = q.limit() - q.opt_len();
    let at = header(q, true, soa.rcode, false, out);
    let end = at + soa.bytes.len();
    if end > room {
        return Outcome::Fallback;
    }
    out[at..end].copy_from_slice(soa.bytes);
    let delta = q.question.len() as isize - soa.question_len as isize;
    if delta != 0 {
        relocate(&mut out[at..end], soa.relocs, delta);
    }
    // Does not fit: the general path's, which sends TC.
    let Some((end, proofs)) = nx.write(q.key, out, (at, end), room) else {
        return Outcome::Fallback;
    };
    match limit.body(q, soa, peer) {
        Verdict::Drop => Outcome::Drop,
        Verdict::Slip => {
            let at = header(q, true, soa.rcode, true, out);
            set_counts(out, [0, 0, 0]);
            Outcome::Send(append_opt(q, 0, at, out))
        }
        Verdict::Send => {
            set_counts(out, [soa.counts[0], soa.counts[1] + proofs, 0]);
            Outcome::Send(append_opt(q, 0, end, out))
        }
    }
}

/// A response of a plain name's address RRset, of one record, from the zone's stored octets
/// (class and TTL, then its RDLENGTH and RDATA): the record a pointer to the question, the
/// type, class and TTL, then its RDLENGTH and RDATA, as the general path encodes it. (Not
/// inlined: `answer` stays as lean for the other answers.)
#[inline(never)]
fn address_answer(
    q: &Query<'_>,
    set: AddressRef<'_>,
    peer: SocketAddr,
    out: &mut [u8; RESPONSE_BUFFER],
    limit: &mut Limit<'_>,
) -> Outcome {
    let [c0, c1, t0, t1, t2, t3, l0, l1, ..] = *set.octets else {
        return Outcome::Fallback;
    };
    let record = &set.octets[6..];
    // The record gains its owner pointer, type, class and TTL: ten octets.
    let total = 12 + q.question.len() + 10 + record.len() + q.opt_len();
    if usize::from(u16::from_be_bytes([l0, l1])) + 2 != record.len() || total > q.limit() {
        return Outcome::Fallback;
    }
    let at = match answer_start(q, 1, 0, peer, out, limit) {
        Ok(at) => at,
        Err(outcome) => return outcome,
    };
    let [r0, r1] = set.rtype.to_be_bytes();
    out[at..at + 10].copy_from_slice(&[0xc0, 0x0c, r0, r1, c0, c1, t0, t1, t2, t3]);
    let end = at + 10 + record.len();
    out[at + 10..end].copy_from_slice(record);
    Outcome::Send(append_opt(q, 0, end, out))
}

/// Writes the header and question of a positive answer of `count` records, once response rate
/// limiting lets it go: where the records start, or the outcome when it drops or slips it.
#[inline(always)]
fn answer_start(
    q: &Query<'_>,
    count: u16,
    scope: u8,
    peer: SocketAddr,
    out: &mut [u8; RESPONSE_BUFFER],
    limit: &mut Limit<'_>,
) -> Result<usize, Outcome> {
    let slip = match limit.check(q, Kind::Answer, None, peer) {
        Verdict::Drop => return Err(Outcome::Drop),
        Verdict::Slip => true,
        Verdict::Send => false,
    };
    let at = header(q, true, 0, slip, out);
    if slip {
        set_counts(out, [0, 0, 0]);
        return Err(Outcome::Send(append_opt(q, scope, at, out)));
    }
    set_counts(out, [count, 0, 0]);
    Ok(at)
}

/// A response of the drawn members of a pool, each owned by a pointer to the question; with
/// DO, then the RRSIGs signed for that set (a set larger than those signed ahead answers with
/// its first members, as many as are: [`crate::dnssec::pools`]).
fn pool_answer(
    q: &Query<'_>,
    (pool, shard): (&PoolBody, &Shard),
    picks: &[usize],
    scope: u8,
    peer: SocketAddr,
    out: &mut [u8; RESPONSE_BUFFER],
    limit: &mut Limit<'_>,
) -> Outcome {
    let Some(sigs) = &pool.signatures else {
        return pool_records(q, (pool, picks, (&[], 0)), scope, peer, out, limit);
    };
    let answer = |picks: &[usize], rrsigs: Rrsigs<'_>, hit| {
        shard.count_signed_pool(hit);
        pool_records(q, (pool, picks, rrsigs), scope, peer, out, limit)
    };
    sigs.with_signed(picks, answer).unwrap_or(Outcome::Fallback)
}

/// A response of the members `picks` of `pool`, then the records `rrsigs` (their RRSIGs, in
/// answer-section form).
#[inline(always)]
fn pool_records(
    q: &Query<'_>,
    (pool, picks, rrsigs): (&PoolBody, &[usize], Rrsigs<'_>),
    scope: u8,
    peer: SocketAddr,
    out: &mut [u8; RESPONSE_BUFFER],
    limit: &mut Limit<'_>,
) -> Outcome {
    let (sig_bytes, sig_count) = rrsigs;
    let count = picks.len() as u16 + sig_count;
    let mut at = match answer_start(q, count, scope, peer, out, limit) {
        Ok(at) => at,
        Err(outcome) => return outcome,
    };
    for &m in picks {
        // The question's name starts right after the header.
        out[at..at + 2].copy_from_slice(&[0xc0, 0x0c]);
        at += 2;
        let record = &pool.records[m];
        out[at..at + record.len()].copy_from_slice(record);
        at += record.len();
    }
    out[at..at + sig_bytes.len()].copy_from_slice(sig_bytes);
    at += sig_bytes.len();
    Outcome::Send(append_opt(q, scope, at, out))
}

/// Writes the header (counts left to the caller) and the question as sent; returns where the
/// body starts.
fn header(
    q: &Query<'_>,
    authoritative: bool,
    rcode: u8,
    truncated: bool,
    out: &mut [u8; RESPONSE_BUFFER],
) -> usize {
    // The ID and RD are the query's; QR, AA, TC and the rcode ours; RA, AD and CD clear.
    out[..2].copy_from_slice(&q.id_flags[..2]);
    out[2] =
        0x80 | (u8::from(authoritative) << 2) | (u8::from(truncated) << 1) | (q.id_flags[2] & 1);
    out[3] = rcode;
    out[4..6].copy_from_slice(&[0, 1]);
    let end = 12 + q.question.len();
    out[12..end].copy_from_slice(q.question);
    end
}

fn set_counts(out: &mut [u8; RESPONSE_BUFFER], counts: [u16; 3]) {
    for (i, c) in counts.iter().enumerate() {
        out[6 + 2 * i..8 + 2 * i].copy_from_slice(&c.to_be_bytes());
    }
}

/// Appends our OPT record (with the ECS echo) at `at` when the query had one; returns the
/// response's length.
fn append_opt(q: &Query<'_>, scope: u8, at: usize, out: &mut [u8; RESPONSE_BUFFER]) -> usize {
    let Some((dnssec_ok, _)) = q.edns else {
        return at;
    };
    let additional = u16::from_be_bytes([out[10], out[11]]) + 1;
    out[10..12].copy_from_slice(&additional.to_be_bytes());
    let payload = MAX_UDP_PAYLOAD.to_be_bytes();
    let fixed = [
        0, // root
        0,
        41, // OPT
        payload[0],
        payload[1],
        0, // extended rcode
        0, // version
        if dnssec_ok { 0x80 } else { 0 },
        0,
    ];
    out[at..at + 9].copy_from_slice(&fixed);
    let mut end = at + 11;
    if let Some(s) = q.subnet {
        let addr_len = usize::from(s.source.div_ceil(8));
        let len = (4 + addr_len) as u16;
        out[end..end + 2].copy_from_slice(&8u16.to_be_bytes());
        out[end + 2..end + 4].copy_from_slice(&len.to_be_bytes());
        out[end + 4..end + 6].copy_from_slice(&s.family.to_be_bytes());
        out[end + 6] = s.source;
        out[end + 7] = scope.min(s.source);
        let mut octets = [0u8; 16];
        match s.addr {
            IpAddr::V4(a) => octets[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => octets = a.octets(),
        }
        out[end + 8..end + 8 + addr_len].copy_from_slice(&octets[..addr_len]);
        end += 8 + addr_len;
    }
    let rdlen = (end - at - 11) as u16;
    out[at + 9..at + 11].copy_from_slice(&rdlen.to_be_bytes());
    end
}
