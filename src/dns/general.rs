//! The general path: one parsed request in, its response's octets out, for whatever the fast
//! path leaves (and everything over TCP). It owns the message rules: opcode, EDNS version and
//! payload size, QCLASS, REFUSED with Extended DNS Error 20 for foreign names, ECS echo, rate
//! limiting, truncation ([`super::truncate`]), NSID and the CHAOS names ([`super::identity`]),
//! and `CH TXT explain.NAME` ([`super::explain`]). The answer itself is [`crate::answer::resolve`]'s,
//! drawn with the serving thread's [`Worker`]; hickory-proto encodes it.

use std::borrow::Cow;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::ProtoError;
use hickory_server::proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};
use hickory_server::proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::server::Request;
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use tracing::debug;

use super::truncate::truncate;
use super::{DnsHandler, Ede, MAX_UDP_PAYLOAD, OPT_LEN, Worker, explain, rrl};
use crate::answer::{Answer, Question, resolve};
use crate::pool::{Client, Clients};

/// The response to `request` (at most `limit` octets), counted by rcode; `None` when nothing
/// is sent (rate limited, or it could not be encoded). `name` is the question's name as the
/// client wrote it, for answer names to be compressed against.
pub fn respond(
    handler: &DnsHandler,
    worker: &mut Worker,
    request: &Request,
    limit: u16,
    name: Option<&[u8]>,
) -> Option<Vec<u8>> {
    let ecs = query_subnet(request);
    let mut meta = Metadata::response_from_request(&request.metadata);
    meta.checking_disabled = false; // as NSD and Knot answer
    if let Some(sent) = respond_early(handler, request, meta, ecs.is_err(), limit, name) {
        return sent;
    }
    let none = std::iter::empty::<&Record>;
    let q = &request.queries.queries()[0];
    handler.stats.query(request.protocol(), q.query_type());
    // The name exactly as the client wrote it (0x20): answers for it carry it as their owner.
    let qname = Name::read(&mut BinDecoder::new(request.queries.as_bytes()))
        .unwrap_or_else(|_| q.name().clone().into());
    let ecs = ecs.ok().flatten();
    let clients = Clients {
        source: Some(Client::from_resolver(request.src().ip())),
        ecs: ecs.map(|cs| Client::new(cs.addr(), cs.source_prefix())),
    };
    let snapshot = handler.snapshot.load();
    let question = Question {
        name: &qname,
        qtype: q.query_type(),
        dnssec_ok: request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
    };
    let mut answer = resolve(&snapshot.served, question, &mut worker.picker, &clients);
    meta.response_code = answer.rcode;
    // An answer to QCLASS ANY is not authoritative for every class (NSD clears AA too).
    meta.authoritative = answer.authoritative && q.query_class() == DNSClass::IN;
    debug!(src = %request.src(), qname = %q.name(), qtype = %q.query_type(), rcode = %answer.rcode, answers = answer.answers.len(), "query");

    let refused = answer.rcode == ResponseCode::Refused;
    match rate_limit(handler, worker, request, &answer, &qname, q.query_type()) {
        rrl::Verdict::Send => {}
        rrl::Verdict::Drop => return None,
        rrl::Verdict::Slip => {
            meta.truncation = true;
            answer.clear_records();
        }
    }
    let (edns, opt) = response_opt(handler, request, refused, ecs, answer.ecs_scope);
    let room = usize::from(limit_of(request)) - opt;
    match truncate(request.queries.as_bytes(), &mut answer, room) {
        Ok(tc) => meta.truncation |= tc,
        Err(error) => return failed(handler, request, &error),
    }
    let response = MessageResponseBuilder::new(&request.queries, edns.as_deref()).build(
        meta,
        answer.answers.iter().map(AsRef::as_ref),
        answer.authority.iter().map(AsRef::as_ref),
        none(),
        answer.additional.iter().map(AsRef::as_ref),
    );
    emit(handler, response, limit, name)
}

/// The response to a request answered without looking at our zones (`CH TXT explain.NAME`,
/// the CHAOS names, or an [`early_rcode`]), if it is one.
fn respond_early(
    handler: &DnsHandler,
    request: &Request,
    mut meta: Metadata,
    subnet_malformed: bool,
    limit: u16,
    name: Option<&[u8]>,
) -> Option<Option<Vec<u8>>> {
    let none = std::iter::empty::<&Record>;
    if let Some(explained) = explain(handler, request) {
        let (rcode, records) = match explained {
            Some(records) => (ResponseCode::NoError, records),
            None => (ResponseCode::Refused, Vec::new()),
        };
        meta.response_code = rcode;
        meta.authoritative = rcode == ResponseCode::NoError;
        let edns = opt(handler, request.edns.as_ref(), None);
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_deref());
        let response = builder.build(meta, records.iter(), none(), none(), none());
        return Some(emit(handler, response, limit, name));
    }
    let (rcode, ede) = early_rcode(request, subnet_malformed)?;
    meta.response_code = rcode;
    // A FORMERR for several questions echoes none of them.
    let queries = match rcode {
        ResponseCode::FormErr => &handler.no_queries,
        _ => &request.queries,
    };
    let edns = opt(handler, request.edns.as_ref(), ede);
    let builder = MessageResponseBuilder::new(queries, edns.as_deref());
    let response = builder.build(meta, none(), none(), none(), none());
    Some(emit(handler, response, limit, name))
}

/// The largest response the client takes: its EDNS payload size (512 without EDNS, at most
/// ours) over UDP, 65,535 over TCP.
fn limit_of(request: &Request) -> u16 {
    match request.protocol() {
        Protocol::Udp => match &request.edns {
            Some(e) => e.max_payload().clamp(512, MAX_UDP_PAYLOAD),
            None => 512,
        },
        _ => u16::MAX,
    }
}

/// Encodes `response` in at most `limit` octets, the question's `name` known to the
/// compression table first; counts it by rcode (a failure as SERVFAIL, and nothing sent).
fn emit<'a>(
    handler: &DnsHandler,
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    limit: u16,
    name: Option<&[u8]>,
) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(limit);
    // A FORMERR echoes no question: nothing to compress against.
    let echoes_question = response.metadata().response_code != ResponseCode::FormErr;
    let encoded = (|| {
        if let Some(name) = name.filter(|_| echoes_question) {
            super::learn_question_name(&mut encoder, name)?;
        }
        response.destructive_emit(&mut encoder)
    })();
    match encoded {
        Ok(info) => {
            let end = encoder.offset();
            bytes.truncate(end);
            handler.stats.count(info.response_code);
            Some(bytes)
        }
        Err(error) => {
            debug!(%error, "could not encode a response");
            handler.stats.count(ResponseCode::ServFail);
            None
        }
    }
}

/// A response that could not be measured: counted as SERVFAIL, nothing sent.
fn failed(handler: &DnsHandler, request: &Request, error: &ProtoError) -> Option<Vec<u8>> {
    debug!(%error, src = %request.src(), "could not measure a response");
    handler.stats.count(ResponseCode::ServFail);
    None
}

/// Our OPT record for a query that had `theirs` (none when it had none), with the Extended DNS
/// Error `ede`, and the NSID option (RFC 5001) when the query asked for it and the identity is
/// said.
fn opt<'h>(
    handler: &'h DnsHandler,
    theirs: Option<&Edns>,
    ede: Option<Ede>,
) -> Option<Cow<'h, Edns>> {
    let row = match ede {
        None => 0,
        Some(Ede::NotAuthoritative) => 1,
        Some(Ede::NotSupported) => 2,
    };
    let theirs = theirs?;
    let ours = &handler.opts[row][usize::from(theirs.flags().dnssec_ok)];
    let nsid = theirs
        .option(EdnsCode::NSID)
        .and(handler.identity.nsid())
        .and_then(|id| NSIDPayload::new(id).ok());
    Some(match nsid {
        Some(payload) => {
            let mut e = ours.clone();
            e.options_mut().insert(EdnsOption::NSID(payload));
            Cow::Owned(e)
        }
        None => Cow::Borrowed(ours),
    })
}

/// Octets of an OPT record as [`opt`] makes it.
fn opt_len(edns: Option<&Edns>) -> usize {
    edns.map_or(0, |e| {
        OPT_LEN
            + e.options()
                .as_ref()
                .iter()
                .map(|(_, o)| 4 + usize::from(o.len()))
                .sum::<usize>()
    })
}

/// Our OPT record for this response, and its size: EDE 20 when `refused`; and RFC 7871's
/// ECS echo (same family, source prefix and address, with the scope the answer depends on)
/// when the query had ECS.
fn response_opt<'h>(
    handler: &'h DnsHandler,
    request: &Request,
    refused: bool,
    ecs: Option<ClientSubnet>,
    scope: u8,
) -> (Option<Cow<'h, Edns>>, usize) {
    let edns = opt(
        handler,
        request.edns.as_ref(),
        refused.then_some(Ede::NotAuthoritative),
    );
    let size = opt_len(edns.as_deref());
    match (edns, ecs) {
        (Some(base), Some(cs)) => {
            let mut e = base.into_owned();
            e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(
                cs.addr(),
                cs.source_prefix(),
                scope.min(cs.source_prefix()),
            )));
            let ecs_size = 8 + usize::from(cs.source_prefix().div_ceil(8));
            (Some(Cow::Owned(e)), size + ecs_size)
        }
        (edns, _) => (edns, size),
    }
}

/// A `CH TXT explain.NAME` question: `Some(Some(records))` for a client allowed to ask,
/// `Some(None)` for one that is not, `None` for any other question.
/// So is a question for `id.server`, `hostname.bind`, `version.server` or `version.bind`
/// ([`super::identity`]).
fn explain(handler: &DnsHandler, request: &Request) -> Option<Option<Vec<Record>>> {
    let q = request.queries.queries().first()?;
    if request.queries.len() != 1
        || q.query_class() != DNSClass::CH
        || q.query_type() != RecordType::TXT
    {
        return None;
    }
    let qname = Name::read(&mut BinDecoder::new(request.queries.as_bytes())).ok()?;
    if let Some(said) = handler.identity.chaos(&qname) {
        return Some(said);
    }
    let name = explain::asked_about(&qname)?;
    if !explain::allowed(request.src().ip(), &handler.explain_allow) {
        return Some(None);
    }
    // The client a steering policy would see: the query's ECS, else the resolver's network.
    let client = match query_subnet(request) {
        Ok(Some(cs)) => Client::new(cs.addr(), cs.source_prefix()),
        _ => Client::from_resolver(request.src().ip()),
    };
    Some(Some(explain::records(
        &handler.snapshot.load(),
        &qname,
        &name,
        &client,
    )))
}

/// Response rate limiting: only over UDP, only when configured.
fn rate_limit(
    handler: &DnsHandler,
    worker: &mut Worker,
    request: &Request,
    answer: &Answer<'_>,
    qname: &Name,
    qtype: RecordType,
) -> rrl::Verdict {
    let Some(rrl) = &handler.rrl else {
        return rrl::Verdict::Send;
    };
    if request.protocol() != Protocol::Udp {
        return rrl::Verdict::Send;
    }
    let kind = rrl::Kind::of(
        answer.rcode.low(),
        answer.authoritative,
        answer.answers.len(),
    );
    let name = match answer.authority.first() {
        Some(r) if kind.by_authority_owner() => &r.name,
        _ => qname,
    };
    let name = crate::prepare::wire_lower(name);
    rrl.check(
        &mut worker.rrl,
        &handler.stats.rrl,
        request.src().ip(),
        kind,
        &name,
        u16::from(qtype),
    )
}

/// The query's EDNS Client Subnet, if it has a valid one (RFC 7871): scope 0, and no address
/// bits set beyond the source prefix.
fn query_subnet(request: &Request) -> Result<Option<ClientSubnet>, MalformedSubnet> {
    let option = request
        .edns
        .as_ref()
        .and_then(|e| e.option(EdnsCode::Subnet));
    let Some(option) = option else {
        return Ok(None);
    };
    let EdnsOption::Subnet(cs) = option else {
        return Err(MalformedSubnet);
    };
    let net = ipnet::IpNet::new(cs.addr(), cs.source_prefix()).map_err(|_| MalformedSubnet)?;
    if cs.scope_prefix() == 0 && net.network() == cs.addr() {
        Ok(Some(*cs))
    } else {
        Err(MalformedSubnet)
    }
}

/// An ECS option that breaks RFC 7871 §7.1.1 (answered FORMERR).
#[derive(Debug, Clone, Copy)]
struct MalformedSubnet;

/// The rcode (and Extended DNS Error) of a request answered without looking at our zones, if it
/// is one.
fn early_rcode(request: &Request, subnet_malformed: bool) -> Option<(ResponseCode, Option<Ede>)> {
    if request.metadata.op_code != OpCode::Query {
        return Some((ResponseCode::NotImp, None));
    }
    if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
        return Some((ResponseCode::BADVERS, None));
    }
    if request.queries.len() != 1 {
        return Some((ResponseCode::FormErr, None));
    }
    if subnet_malformed {
        return Some((ResponseCode::FormErr, None)); // RFC 7871 §7.1.1
    }
    let q = &request.queries.queries()[0];
    match (q.query_type(), request.protocol()) {
        // Zone transfers are for TCP; over UDP AXFR is not implemented (as NSD and Knot say),
        // and IXFR from a client not allowed to transfer is REFUSED (as NSD says; an allowed one
        // gets the SOA from the transfer module).
        (RecordType::AXFR, Protocol::Udp) => Some((ResponseCode::NotImp, None)),
        (RecordType::AXFR | RecordType::IXFR, _) => Some((ResponseCode::Refused, None)),
        // QCLASS ANY is answered as IN; other classes are "Not Supported" (as NSD says).
        _ if !matches!(q.query_class(), DNSClass::IN | DNSClass::ANY) => {
            Some((ResponseCode::Refused, Some(Ede::NotSupported)))
        }
        _ => None,
    }
}
