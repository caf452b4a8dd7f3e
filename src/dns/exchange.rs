//! One DNS message in, the bytes of its response out: what the UDP and TCP loops share. Datagrams
//! shorter than a header and messages with QR set get no reply (as NSD); a message whose question
//! cannot be read gets FORMERR without a question. Each such event is counted by kind.

use std::net::SocketAddr;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Message, MessageType};
use hickory_server::server::Request;
use tracing::debug;

use super::{DnsHandler, MAX_UDP_PAYLOAD, Malformed, Worker, general, notify_in, xfr};
use crate::tsig;

/// The response to `message` from `peer`, or `None` when none is sent.
pub fn exchange(
    handler: &DnsHandler,
    worker: &mut Worker,
    message: &[u8],
    peer: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    // A query with a TSIG record (the last additional one) is checked and its answer signed.
    // Found by walking the octets: most queries here carry an OPT and nothing else.
    if message.len() >= 12
        && message[2] & 0xf8 == 0
        && last_additional_type(message) == Some(TSIG)
        && let Ok(request) = Message::from_vec(message)
        && request.signature().is_some()
    {
        return signed(handler, worker, message, request, peer, protocol);
    }
    unsigned(handler, worker, message, peer, protocol)
}

/// A signed query (RFC 8945 §5.2): checked against the configured key of its name; NOTAUTH with
/// BADKEY, BADSIG or BADTIME (and the TSIG record the RFC says) when it fails, else answered as
/// the query without its TSIG would be, and the answer signed with the key (§5.3). The TSIG is
/// not counted in the UDP size limit of the answer; an answer that no longer fits is sent
/// with TC and no records, signed.
fn signed(
    handler: &DnsHandler,
    worker: &mut Worker,
    message: &[u8],
    mut request: Message,
    peer: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    let snapshot = handler.snapshot.load();
    let key_name = request.signature()?.name.clone();
    let checked = tsig::check(message, &request, snapshot.tsig_key(&key_name));
    let mut signer = match checked {
        tsig::Check::Signed(signer) => signer,
        tsig::Check::Unsigned => return unsigned(handler, worker, message, peer, protocol),
        tsig::Check::Failed { rcode, why, tsig } => {
            debug!(%peer, key = %key_name, "signed query refused: {why}");
            let mut m = Message::new(request.metadata.id, MessageType::Response, request.op_code);
            m.metadata.response_code = rcode;
            m.metadata.recursion_desired = request.metadata.recursion_desired;
            m.add_queries(request.queries.iter().cloned());
            if let Some(t) = tsig {
                m.set_signature(t);
            }
            handler.stats.count(rcode);
            return m.to_vec().ok();
        }
    };
    request.take_signature();
    let plain = request.to_vec().ok()?;
    let answer = unsigned(handler, worker, &plain, peer, protocol)?;
    let mut response = Message::from_vec(&answer).ok()?;
    let signed = signer.sign(response.clone()).ok()?;
    let limit = match (protocol, request.edns.as_ref()) {
        (Protocol::Udp, Some(e)) => usize::from(e.max_payload().clamp(512, MAX_UDP_PAYLOAD)),
        (Protocol::Udp, None) => 512,
        _ => usize::from(u16::MAX),
    };
    if signed.len() <= limit {
        return Some(signed);
    }
    response.metadata.truncation = true;
    response.answers.clear();
    response.authorities.clear();
    response.additionals.clear();
    signer.sign(response).ok()
}

/// The response to a message that is not signed (or whose signature was checked and removed).
fn unsigned(
    handler: &DnsHandler,
    worker: &mut Worker,
    message: &[u8],
    peer: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    if message.len() < 12 {
        handler.stats.malformed(Malformed::Short);
        return None;
    }
    if message[2] & 0x80 != 0 {
        handler.stats.malformed(Malformed::Response);
        return None;
    }
    if (message[2] >> 3) & 0x0f == 4 {
        let snapshot = handler.snapshot.load();
        return notify_in::received(
            &snapshot,
            &handler.stats,
            &handler.secondaries,
            message,
            peer,
        );
    }
    // IXFR over UDP (the SOA, or NOTAUTH for a zone we do not serve); TCP's transfers are
    // answered by the TCP loop before they reach this point.
    if protocol == Protocol::Udp && xfr::asks_transfer(message) {
        let mut reply = None;
        let snapshot = handler.snapshot.load();
        let answered = xfr::transfer(&snapshot, &handler.stats, message, peer, false, &mut |m| {
            reply = Some(m);
            true
        });
        if answered.is_some() {
            return reply;
        }
    }
    if message[2] & 0xf8 == 0 && ecs_is_malformed(message) {
        handler
            .stats
            .count(hickory_server::proto::op::ResponseCode::FormErr);
        return Some(formerr_with_opt(message));
    }
    let parsed = if question_is_plain(message) {
        Request::from_bytes(message.to_vec(), peer, protocol).ok()
    } else {
        None
    };
    match parsed {
        Some(request) => {
            let limit = match protocol {
                Protocol::Udp => request
                    .edns
                    .as_ref()
                    .map_or(512, |e| e.max_payload().clamp(512, MAX_UDP_PAYLOAD)),
                _ => u16::MAX,
            };
            // The question's name, for answer names to be compressed against (one question,
            // written out: `question_is_plain`).
            let name = (message[4..6] == [0, 1])
                .then(|| super::question_name_len(message))
                .flatten()
                .map(|len| message[12..12 + len].to_vec());
            general::respond(handler, worker, &request, limit, name.as_deref())
        }
        None => {
            handler.stats.malformed(Malformed::Unparseable);
            handler
                .stats
                .count(hickory_server::proto::op::ResponseCode::FormErr);
            Some(super::formerr(message))
        }
    }
}

/// Whether the first question's name (if there is one) is written out label by label: a
/// compression pointer there (into the header, or anywhere) is refused, as NSD refuses it.
fn question_is_plain(message: &[u8]) -> bool {
    message[4..6] == [0, 0] || super::question_name_len(message).is_some()
}

/// Octets of the uncompressed or compressed name at `at`: the offset after it.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *m.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l if l & 0xc0 == 0 => at += 1 + usize::from(l),
            _ => return None,
        }
    }
}

/// Type code of TSIG (RFC 8945).
const TSIG: u16 = 250;
/// Type code of OPT (RFC 6891).
const OPT: u16 = 41;

/// Calls `visit` with the type and RDATA of each additional record of `m`, in order; `None`
/// when the message ends before its counts say.
fn walk_additional<'m>(m: &'m [u8], mut visit: impl FnMut(u16, &'m [u8])) -> Option<()> {
    let count = |i: usize| usize::from(u16::from_be_bytes([m[i], m[i + 1]]));
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(m, at)? + 4;
    }
    for i in 0..an + ns + ar {
        at = skip_name(m, at)?;
        let fixed = m.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = m.get(at + 10..at + 10 + len)?;
        if i >= an + ns {
            visit(rtype, rdata);
        }
        at += 10 + len;
    }
    Some(())
}

/// The type of the last additional record, if there is one.
fn last_additional_type(m: &[u8]) -> Option<u16> {
    if m[10..12] == [0, 0] {
        return None;
    }
    let mut last = None;
    walk_additional(m, |t, _| last = Some(t))?;
    last
}

/// The OPT record's RDATA of a query (the first additional record of type OPT), if any.
fn opt_rdata(m: &[u8]) -> Option<&[u8]> {
    let mut opt = None;
    walk_additional(m, |t, rdata| {
        if t == OPT && opt.is_none() {
            opt = Some(rdata);
        }
    })?;
    opt
}

/// Whether the query's ECS option breaks RFC 7871 §6 and §7.1.1 (answered FORMERR): a family
/// other than IPv4 and IPv6, a source prefix longer than the family's address, a scope other
/// than 0, an address of more or fewer octets than the source prefix needs, or bits set beyond
/// it. hickory reads some of these as no option and others as a shortened address; the octets
/// tell.
pub fn ecs_is_malformed(m: &[u8]) -> bool {
    if m[10..12] == [0, 0] {
        return false;
    }
    let Some(mut options) = opt_rdata(m) else {
        return false;
    };
    while options.len() >= 4 {
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = usize::from(u16::from_be_bytes([options[2], options[3]]));
        let Some(data) = options.get(4..4 + len) else {
            return code == 8;
        };
        if code == 8 {
            let Some((head, addr)) = data.split_at_checked(4) else {
                return true;
            };
            let family = u16::from_be_bytes([head[0], head[1]]);
            let (source, scope) = (head[2], head[3]);
            let max = match family {
                1 => 32,
                2 => 128,
                _ => return true,
            };
            let partial =
                source % 8 != 0 && addr.last().is_some_and(|b| b & (0xff >> (source % 8)) != 0);
            return source > max
                || scope != 0
                || addr.len() != usize::from(source.div_ceil(8))
                || partial;
        }
        options = &options[4 + len..];
    }
    false
}

/// A FORMERR for a query whose EDNS is malformed: its ID, opcode and RD, its question, and our
/// OPT record (RFC 6891 §7: a responder that receives an OPT puts one in its response).
fn formerr_with_opt(message: &[u8]) -> Vec<u8> {
    let question_end =
        if u16::from_be_bytes([message[4], message[5]]) == 1 && question_is_plain(message) {
            skip_name(message, 12)
                .map(|at| at + 4)
                .filter(|&e| e <= message.len())
        } else {
            None
        };
    let mut out = super::formerr(message);
    out[2] |= message[2] & 0x01; // RD copied
    if let Some(end) = question_end {
        out[5] = 1;
        out.extend_from_slice(&message[12..end]);
    }
    out[11] = 1;
    // Root owner, type OPT, our payload 1232, extended rcode 0, version 0, no flags, no data.
    out.extend_from_slice(&[0, 0, 41]);
    out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    out
}
