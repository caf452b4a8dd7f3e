//! Zone transfers out, and NOTIFY to secondaries.
//!
//! AXFR (RFC 5936) over TCP, to clients in the zone's `allow_transfer` (`[[zone]]`), default deny:
//! a request from anyone else, or for a zone we do not serve, takes the general path, which
//! answers REFUSED (and over UDP NOTIMP). What is sent is the zone file's records as read — its
//! static data; pools are not in it: a secondary that is not dnslb would freeze one draw into a
//! plain RRset, so a fleet of dnslb gets its pools from the TOML instead. IXFR (RFC 1995) is
//! answered with one SOA when the secondary is up to date, else with the whole zone in AXFR form
//! (RFC 1995 §4: a server without the history may always do so).
//!
//! With `[[zone]] tsig`, a transfer request must also be signed with that key (RFC 8945): an
//! unsigned one is REFUSED, a wrong key or signature gets NOTAUTH, and every response message
//! is signed, chained to the one before.
//!
//! NOTIFY (RFC 1996) goes to a zone's `notify` addresses when a reload changes its serial,
//! retried until acknowledged, signed with the zone's key when it has one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::proto::serialize::binary::BinEncodable;
use tracing::{debug, info, warn};

use super::{MAX_UDP_PAYLOAD, QueryStats};
use crate::snapshot::Snapshot;
use crate::tsig::{self, TsigKey};
use crate::zone::Zone;

/// Octets of records per transfer message at most (NSD and Knot fill to about this much).
const MESSAGE_OCTETS: usize = 16_000;
/// NOTIFY: tries, and the wait for an answer to each.
const NOTIFY_TRIES: u32 = 5;
const NOTIFY_WAIT: Duration = Duration::from_secs(2);

/// A response to `request` with no records and `rcode`.
fn error(request: &Message, rcode: ResponseCode) -> Message {
    let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.response_code = rcode;
    m.metadata.recursion_desired = request.metadata.recursion_desired;
    m.add_queries(request.queries.iter().cloned());
    m
}

/// Answers `message` from `peer` from `snapshot`, if it asks to transfer a zone we serve and
/// `peer` may, handing each message to `send` as it is made (a large zone is never held
/// encoded whole; `send` returning `false` stops it). `None` leaves the message to the
/// general path. Meant to run off the TCP loop (it encodes the whole zone).
///
/// Over UDP (`tcp` false) only IXFR is answered here, as NSD answers it: with the zone's SOA
/// alone, which tells a client that is behind to come back over TCP (RFC 1995 §2). A
/// request for a zone we do not serve gets NOTAUTH, as from NSD and Knot.
pub fn transfer(
    snapshot: &Snapshot,
    stats: &QueryStats,
    message: &[u8],
    peer: SocketAddr,
    tcp: bool,
    send: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Option<()> {
    if !asks_transfer(message) {
        return None;
    }
    let request = Message::from_vec(message).ok()?;
    let query = request.queries.first()?;
    let ixfr = match query.query_type() {
        RecordType::AXFR => false,
        RecordType::IXFR => true,
        _ => return None,
    };
    if query.query_class() != DNSClass::IN {
        return None;
    }
    if !tcp && !ixfr {
        return None; // AXFR over UDP: the general path's NOTIMP
    }
    let origin = query.name().to_lowercase();
    let Some(zone) = snapshot.zone(&origin) else {
        debug!(zone = %origin, %peer, "transfer of a zone we do not serve: NOTAUTH");
        stats.count(ResponseCode::NotAuth);
        send(error(&request, ResponseCode::NotAuth).to_vec().ok()?);
        return Some(());
    };
    let transfer = snapshot.transfers.get(&origin);
    let allowed = transfer.is_some_and(|t| t.allow.iter().any(|n| n.contains(&peer.ip())));
    if !allowed {
        debug!(zone = %origin, %peer, "transfer refused: not in allow_transfer");
        return None;
    }
    let signer = match tsig::check(message, &request, transfer.and_then(|t| t.tsig.as_ref())) {
        tsig::Check::Unsigned => None,
        tsig::Check::Signed(s) => Some(s),
        tsig::Check::Failed { rcode, why, tsig } => {
            warn!(target: "dnslb::remote", zone = %origin, %peer, "transfer refused: {why}");
            let mut m = error(&request, rcode);
            if let Some(t) = tsig {
                m.set_signature(t);
            }
            send(m.to_vec().ok()?);
            return Some(());
        }
    };
    let out = Outgoing {
        request: &request,
        signer,
        ixfr,
        peer,
    };
    out.send_zone(zone, tcp, send)
}

/// A transfer that was checked and is being answered.
struct Outgoing<'r> {
    request: &'r Message,
    signer: Option<tsig::ResponseSigner>,
    ixfr: bool,
    peer: SocketAddr,
}

impl Outgoing<'_> {
    /// One response message of `records`; the first carries the question.
    fn message(&mut self, records: Vec<Record>, first: bool) -> Option<Vec<u8>> {
        let request = self.request;
        let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        m.metadata.response_code = ResponseCode::NoError;
        m.metadata.recursion_desired = request.metadata.recursion_desired;
        if first {
            m.add_queries(request.queries.first().cloned());
        }
        m.add_answers(records);
        if request.edns.is_some() {
            let mut e = Edns::new();
            e.set_max_payload(MAX_UDP_PAYLOAD).set_version(0);
            m.set_edns(e);
        }
        match self.signer.as_mut() {
            Some(s) => s.sign(m).ok(),
            None => m.to_vec().ok(),
        }
    }

    /// The SOA alone for an IXFR from a secondary that is up to date (or over UDP); else SOA,
    /// every other record, SOA, cut into messages of about [`MESSAGE_OCTETS`].
    fn send_zone(
        mut self,
        zone: &Zone,
        tcp: bool,
        send: &mut dyn FnMut(Vec<u8>) -> bool,
    ) -> Option<()> {
        let (origin, peer) = (&zone.origin, self.peer);
        let records = zone.records().unpack();
        let soa = records
            .iter()
            .find(|r| r.record.record_type() == RecordType::SOA)?
            .record
            .clone();
        let serial = match &soa.data {
            RData::SOA(s) => s.serial,
            _ => return None,
        };
        let theirs = self.request.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        });
        if self.ixfr && (!tcp || theirs.is_some_and(|t| serial_at_least(t, serial))) {
            info!(zone = %origin, %peer, serial, "IXFR: the secondary is up to date");
            send(self.message(vec![soa], true)?);
            return Some(());
        }
        let body = records
            .into_iter()
            .map(|r| r.record)
            .filter(|r| r.record_type() != RecordType::SOA);
        let all = std::iter::once(soa.clone()).chain(body).chain([soa]);
        let (mut messages, mut count, mut octets) = (0usize, 0usize, 0);
        let mut batch = Vec::new();
        for record in all {
            let size = record.to_bytes().map_or(MESSAGE_OCTETS, |b| b.len());
            if !batch.is_empty() && octets + size > MESSAGE_OCTETS {
                if !send(self.message(std::mem::take(&mut batch), messages == 0)?) {
                    debug!(zone = %origin, %peer, "transfer out: the client went away");
                    return Some(());
                }
                messages += 1;
                octets = 0;
            }
            octets += size;
            count += 1;
            batch.push(record);
        }
        send(self.message(batch, messages == 0)?);
        messages += 1;
        let kind = if self.ixfr { "IXFR (in full)" } else { "AXFR" };
        info!(zone = %origin, %peer, serial, records = count, messages, kind, "zone transferred out");
        Some(())
    }
}

/// Whether `message` looks like a transfer request: a query (QR clear, opcode 0) with one
/// question whose type is AXFR or IXFR. Cheap: the TCP loop asks it of every message.
pub(crate) fn asks_transfer(message: &[u8]) -> bool {
    if message.len() < 12 || message[2] & 0xf8 != 0 || message[4..6] != [0, 1] {
        return false;
    }
    let Some(len) = super::question_name_len(message) else {
        return false;
    };
    let at = 12 + len;
    matches!(message.get(at..at + 2), Some([0, 251] | [0, 252]))
}

pub use crate::zone::secondary::serial_at_least;

/// Sends NOTIFY for `zone` to `to` until it is acknowledged (at most [`NOTIFY_TRIES`] times),
/// signed with `key` when the zone has one.
pub async fn notify(zone: Name, serial: u32, to: SocketAddr, key: Option<TsigKey>) {
    let local = match to.ip() {
        IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = match tokio::net::UdpSocket::bind(local).await {
        Ok(s) => s,
        Err(e) => {
            warn!(zone = %zone, %to, error = %e, "cannot send NOTIFY");
            return;
        }
    };
    let id: u16 = rand::random();
    let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(zone.clone(), RecordType::SOA));
    if let Some(k) = &key
        && m.finalize(k.signer(), tsig::now()).is_err()
    {
        return;
    }
    let Ok(bytes) = m.to_vec() else { return };
    let mut buf = [0u8; 512];
    for _ in 0..NOTIFY_TRIES {
        if socket.send_to(&bytes, to).await.is_err() {
            tokio::time::sleep(NOTIFY_WAIT).await;
            continue;
        }
        let deadline = tokio::time::Instant::now() + NOTIFY_WAIT;
        while let Ok(Ok((n, from))) =
            tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        {
            let Ok(reply) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if from == to
                && reply.metadata.id == id
                && reply.metadata.message_type == MessageType::Response
                && reply.metadata.op_code == OpCode::Notify
            {
                info!(zone = %zone, %to, serial, rcode = %reply.metadata.response_code, "NOTIFY acknowledged");
                return;
            }
        }
    }
    warn!(zone = %zone, %to, serial, "NOTIFY not acknowledged after {NOTIFY_TRIES} tries");
}
