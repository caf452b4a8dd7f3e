//! DNS in and out: the UDP loop and its fast path, the TCP loop, and the general path they
//! fall back to. This is the one module that touches hickory-server's API (its request type,
//! handler trait and response builder).
//!
//! UDP ([`udp`]) is served by one thread per socket (one socket per core and address, joined by
//! `SO_REUSEPORT`): a batch of datagrams in, the fast path ([`fast`]) answers from prepared bytes
//! ([`crate::prepare`]), and whatever it leaves goes through the general path on the same
//! thread. TCP ([`tcp`]) always takes the general path. The general path ([`exchange`] and
//! [`DnsHandler::respond`]) owns the message rules: opcode, EDNS version and payload size,
//! truncation, REFUSED for foreign names, rate limiting. Truncation is decided here rather than
//! left to the encoder, so that a response that does not fit carries TC and no partial RRsets
//! (as NSD and Knot do) and never loses its OPT record; optional additional records that do not
//! fit are dropped without TC (RFC 2181 §9), but a referral that loses glue sets TC (RFC 9471).

use std::borrow::Cow;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::ProtoError;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};
use rand::rngs::SmallRng;
use smallvec::SmallVec;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio_util::sync::CancellationToken;
use tracing::debug;

mod exchange;
mod explain;
pub mod fast;
pub mod identity;
mod notify_in;
pub mod rrl;
mod tcp;
mod udp;
pub mod xfr;

pub use rrl::{RrlConfig, RrlStats};

use crate::answer::{Answer, resolve};
use crate::pool::{Client, Clients};
use crate::snapshot::Snapshot;

/// The UDP payload size we advertise and never exceed, as NSD and Knot do (DNS flag day 2020).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// Bytes of an OPT record without options.
const OPT_LEN: usize = 11;

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(rand::make_rng());
}

/// Seeds this thread's RNG, so that a test can make two paths draw alike.
#[doc(hidden)]
pub fn seed_thread_rng(seed: u64) {
    use rand::SeedableRng;
    RNG.with(|rng| *rng.borrow_mut() = SmallRng::seed_from_u64(seed));
}

/// The query types counted one by one in `dnslb_queries_total`; the rest are `other`.
const QUERY_TYPES: [RecordType; 12] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::TXT,
    RecordType::NS,
    RecordType::SOA,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::DS,
    RecordType::HTTPS,
    RecordType::ANY,
];

/// The RFC name of an rcode (`NOERROR`, `NXDOMAIN`, ...), as Prometheus labels want it.
pub fn rcode_name(rcode: ResponseCode) -> String {
    let names = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    let code = u16::from(rcode);
    match code {
        16 => "BADVERS".to_string(),
        c => names
            .get(usize::from(c))
            .map_or_else(|| format!("RCODE{c}"), ToString::to_string),
    }
}

/// Messages that got no answer, or only a FORMERR, because of what they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than a header: dropped.
    Short,
    /// QR set (a response, or a reflection attempt): dropped.
    Response,
    /// The question (or a later part) could not be read: FORMERR.
    Unparseable,
}

impl Malformed {
    /// Every kind, in counter order.
    pub const ALL: [Malformed; 3] = [
        Malformed::Short,
        Malformed::Response,
        Malformed::Unparseable,
    ];

    /// The kind's label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::Short => "short",
            Malformed::Response => "response",
            Malformed::Unparseable => "unparseable",
        }
    }
}

/// Responses sent, by response code, and malformed messages, by kind (the admin endpoint
/// exports them). Written only when something is sent or refused; no lock.
#[derive(Debug, Default)]
pub struct QueryStats {
    by_rcode: [AtomicU64; 24],
    /// Queries answered, by transport (UDP, TCP) and type (`QUERY_TYPES`, then other).
    queries: [[AtomicU64; QUERY_TYPES.len() + 1]; 2],
    malformed: [AtomicU64; 3],
    /// Responses rate limiting dropped or slipped.
    pub rrl: RrlStats,
    /// The fast path's counters, one per serving thread (each written by its thread alone).
    shards: std::sync::Mutex<Vec<Arc<Shard>>>,
}

/// One UDP thread's counters: its thread alone writes them (a load and a store, no atomic
/// read-modify-write, no shared cache line); scrapes add them up.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Shard {
    by_rcode: [AtomicU64; 24],
    queries: [AtomicU64; QUERY_TYPES.len() + 1],
}

impl Shard {
    /// Counts a UDP query of `qtype` answered with `rcode`.
    pub(crate) fn count(&self, qtype: u16, rcode: u8) {
        // The index of `qtype` in QUERY_TYPES (a unit test keeps the two in step).
        let t = match qtype {
            1 => 0,
            28 => 1,
            5 => 2,
            15 => 3,
            16 => 4,
            2 => 5,
            6 => 6,
            33 => 7,
            12 => 8,
            43 => 9,
            65 => 10,
            255 => 11,
            _ => QUERY_TYPES.len(),
        };
        bump(&self.queries[t]);
        bump(&self.by_rcode[usize::from(rcode).min(23)]);
    }
}

/// Adds one to a counter that only this thread writes.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl QueryStats {
    /// A new shard of counters for one serving thread.
    pub fn shard(&self) -> Arc<Shard> {
        let shard = Arc::new(Shard::default());
        if let Ok(mut shards) = self.shards.lock() {
            shards.push(shard.clone());
        }
        shard
    }

    fn shards(&self) -> Vec<Arc<Shard>> {
        self.shards.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn malformed(&self, kind: Malformed) {
        self.malformed[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Malformed messages seen, by kind.
    pub fn malformed_counts(&self) -> [(Malformed, u64); 3] {
        Malformed::ALL.map(|k| (k, self.malformed[k as usize].load(Ordering::Relaxed)))
    }

    fn count(&self, rcode: ResponseCode) {
        let i = usize::from(u16::from(rcode)).min(self.by_rcode.len() - 1);
        self.by_rcode[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a query by transport and type.
    fn query(&self, protocol: Protocol, qtype: RecordType) {
        let p = usize::from(protocol != Protocol::Udp);
        let t = QUERY_TYPES
            .iter()
            .position(|t| *t == qtype)
            .unwrap_or(QUERY_TYPES.len());
        self.queries[p][t].fetch_add(1, Ordering::Relaxed);
    }

    /// (protocol, type, count) for every pair seen at least once; types we do not list are
    /// `other`.
    pub fn query_counts(&self) -> Vec<(&'static str, String, u64)> {
        let mut out = Vec::new();
        let shards = self.shards();
        for (p, name) in ["udp", "tcp"].into_iter().enumerate() {
            for (t, c) in self.queries[p].iter().enumerate() {
                let fast: u64 = match p {
                    0 => shards
                        .iter()
                        .map(|s| s.queries[t].load(Ordering::Relaxed))
                        .sum(),
                    _ => 0,
                };
                let n = c.load(Ordering::Relaxed) + fast;
                if n > 0 {
                    let ty = QUERY_TYPES
                        .get(t)
                        .map_or("other".to_string(), ToString::to_string);
                    out.push((name, ty, n));
                }
            }
        }
        out
    }

    /// (rcode, count) for every rcode seen at least once.
    pub fn counts(&self) -> Vec<(ResponseCode, u64)> {
        let shards = self.shards();
        self.by_rcode
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let fast: u64 = shards
                    .iter()
                    .map(|s| s.by_rcode[i].load(Ordering::Relaxed))
                    .sum();
                let n = c.load(Ordering::Relaxed) + fast;
                (n > 0).then(|| {
                    (
                        <ResponseCode as From<u16>>::from(u16::try_from(i).unwrap_or(0)),
                        n,
                    )
                })
            })
            .collect()
    }
}

/// Answers DNS requests from the current snapshot.
#[derive(Clone)]
pub struct DnsHandler {
    snapshot: Arc<ArcSwap<Snapshot>>,
    stats: Arc<QueryStats>,
    /// Our OPT record, prepared: by Extended DNS Error (none, 20, 21), then DO (0 or 1).
    opts: [[Edns; 2]; 3],
    /// The question section of a FORMERR for a message with several questions: none.
    no_queries: Arc<Queries>,
    /// Response rate limiting over UDP, when configured.
    rrl: Option<RrlConfig>,
    /// Who may ask `CH TXT explain.NAME` besides loopback (the admin's `allow`).
    explain_allow: Arc<[ipnet::IpNet]>,
    /// Counters of [`DnsHandler::answer_fast`] (the serving threads have their own).
    shard: Arc<Shard>,
    /// What this instance says about itself (NSID, `id.server`, `version.bind`).
    identity: identity::Identity,
    /// The secondary zones' tasks, woken by NOTIFY.
    secondaries: Arc<crate::zone::secondary::Store>,
}

impl DnsHandler {
    /// A handler reading `snapshot` at every query.
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        stats: Arc<QueryStats>,
        rrl: Option<RrlConfig>,
    ) -> Self {
        Self::with_explain(snapshot, stats, rrl, Vec::new())
    }

    /// [`DnsHandler::new`], with the networks (besides loopback) that may ask `explain.`.
    pub fn with_explain(
        snapshot: Arc<ArcSwap<Snapshot>>,
        stats: Arc<QueryStats>,
        rrl: Option<RrlConfig>,
        explain_allow: Vec<ipnet::IpNet>,
    ) -> Self {
        let opts = [None, Some(Ede::NotAuthoritative), Some(Ede::NotSupported)].map(|ede| {
            [false, true].map(|dnssec_ok| {
                let mut edns = Edns::new();
                edns.set_max_payload(MAX_UDP_PAYLOAD).set_version(0);
                // RFC 3225: the DO bit of the query is copied.
                edns.set_dnssec_ok(dnssec_ok);
                if let Some(code) = ede {
                    // RFC 8914: an Extended DNS Error without text.
                    edns.options_mut().insert(EdnsOption::Unknown(
                        u16::from(EdnsCode::Unknown(15)),
                        vec![0, code as u8],
                    ));
                }
                edns
            })
        });
        Self {
            identity: identity::Identity::default(),
            secondaries: Arc::default(),
            shard: stats.shard(),
            snapshot,
            stats,
            opts,
            rrl,
            explain_allow: explain_allow.into(),
            no_queries: Arc::new(
                Queries::read(&mut BinDecoder::new(&[]), 0).expect("no questions decode"),
            ),
        }
    }

    /// This handler, waking the secondary zones' tasks of `store` on NOTIFY.
    pub fn with_secondaries(mut self, store: Arc<crate::zone::secondary::Store>) -> Self {
        self.secondaries = store;
        self
    }

    /// This handler, telling `identity` (NSID, `id.server`, `version.bind`).
    pub fn with_identity(mut self, identity: identity::Identity) -> Self {
        self.identity = identity;
        self
    }

    /// The response to one message from `peer` over UDP (or TCP), as the serving loops send it
    /// (over UDP, the fast path first); `None` when nothing is sent. For tests and fuzzing, which
    /// drive the packet path without sockets.
    pub async fn answer_message(
        &self,
        message: &[u8],
        peer: SocketAddr,
        tcp: bool,
    ) -> Option<Vec<u8>> {
        if !tcp && let Some(fast) = self.answer_fast(message, peer) {
            return fast;
        }
        self.answer_general(message, peer, tcp).await
    }

    /// The general path's response to one message (what the fast path must equal).
    pub async fn answer_general(
        &self,
        message: &[u8],
        peer: SocketAddr,
        tcp: bool,
    ) -> Option<Vec<u8>> {
        let protocol = if tcp { Protocol::Tcp } else { Protocol::Udp };
        exchange::exchange(self, message, peer, protocol).await
    }

    /// The fast path's response to one UDP message: `None` when it leaves the message to the
    /// general path, `Some(None)` when it sends nothing (rate limited).
    pub fn answer_fast(&self, message: &[u8], peer: SocketAddr) -> Option<Option<Vec<u8>>> {
        let mut out = [0u8; fast::RESPONSE_BUFFER];
        // The fast path draws from its thread's scratch RNG: here, from this thread's general
        // RNG, handed over and back, so that a seeded test sees both paths draw alike.
        let mut scratch = fast::Scratch::new(RNG.with(|rng| rng.borrow().clone()));
        let snapshot = self.snapshot.load();
        let outcome = self.fast(
            &snapshot,
            message,
            peer,
            &mut out,
            &mut scratch,
            &self.shard,
        );
        RNG.with(|rng| *rng.borrow_mut() = scratch.rng);
        match outcome {
            fast::Outcome::Send(n) => Some(Some(out[..n].to_vec())),
            fast::Outcome::Drop => Some(None),
            fast::Outcome::Fallback => None,
        }
    }

    /// Our OPT record for a query that had `theirs` (none when it had none).
    /// With the NSID option (RFC 5001) when the query asked for it and the identity is said.
    fn opt(&self, theirs: Option<&Edns>, ede: Option<Ede>) -> Option<Cow<'_, Edns>> {
        let row = match ede {
            None => 0,
            Some(Ede::NotAuthoritative) => 1,
            Some(Ede::NotSupported) => 2,
        };
        let theirs = theirs?;
        let ours = &self.opts[row][usize::from(theirs.flags().dnssec_ok)];
        let nsid = theirs
            .option(EdnsCode::NSID)
            .and(self.identity.nsid())
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

    /// Octets of an OPT record as [`DnsHandler::opt`] makes it.
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

    async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        handle: &mut R,
    ) -> Result<Option<ResponseInfo>, RespondError> {
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.checking_disabled = false; // as NSD and Knot answer
        let none = std::iter::empty::<&Record>;
        if let Some(explained) = self.explain(request) {
            let (rcode, records) = match explained {
                Some(records) => (ResponseCode::NoError, records),
                None => (ResponseCode::Refused, Vec::new()),
            };
            meta.response_code = rcode;
            meta.authoritative = rcode == ResponseCode::NoError;
            let edns = self.opt(request.edns.as_ref(), None);
            let builder = MessageResponseBuilder::new(&request.queries, edns.as_deref());
            let response = builder.build(meta, records.iter(), none(), none(), none());
            return Ok(Some(handle.send_response(response).await?));
        }
        let ecs = query_subnet(request);
        if let Some((rcode, ede)) = early_rcode(request, ecs.is_err()) {
            meta.response_code = rcode;
            // A FORMERR for several questions echoes none of them.
            let queries = match rcode {
                ResponseCode::FormErr => &self.no_queries,
                _ => &request.queries,
            };
            let edns = self.opt(request.edns.as_ref(), ede);
            let builder = MessageResponseBuilder::new(queries, edns.as_deref());
            let response = builder.build(meta, none(), none(), none(), none());
            return Ok(Some(handle.send_response(response).await?));
        }

        let q = &request.queries.queries()[0];
        self.stats.query(request.protocol(), q.query_type());
        // The name exactly as the client wrote it (0x20): answers for it carry it as their owner.
        let qname = Name::read(&mut BinDecoder::new(request.queries.as_bytes()))
            .unwrap_or_else(|_| q.name().clone().into());
        let ecs = ecs.ok().flatten();
        let clients = Clients {
            source: Some(Client::from_resolver(request.src().ip())),
            ecs: ecs.map(|cs| Client::new(cs.addr(), cs.source_prefix())),
        };
        let snapshot = self.snapshot.load();
        let mut answer = RNG.with(|rng| {
            let rng = &mut *rng.borrow_mut();
            resolve(&snapshot, &qname, q.query_type(), rng, &clients)
        });
        meta.response_code = answer.rcode;
        // An answer to QCLASS ANY is not authoritative for every class (NSD clears AA too).
        meta.authoritative = answer.authoritative && q.query_class() == DNSClass::IN;
        debug!(src = %request.src(), qname = %q.name(), qtype = %q.query_type(), rcode = %answer.rcode, answers = answer.answers.len(), "query");

        let refused = answer.rcode == ResponseCode::Refused;
        match self.limit(request, &answer, &qname, q.query_type()) {
            rrl::Verdict::Send => {}
            rrl::Verdict::Drop => return Ok(None),
            rrl::Verdict::Slip => {
                meta.truncation = true;
                answer.clear_records();
            }
        }
        let (edns, opt) = self.response_opt(request, refused, ecs, answer.ecs_scope);
        let edns = edns.as_deref();
        truncate(request, &mut answer, &mut meta, opt)?;
        let response = MessageResponseBuilder::new(&request.queries, edns).build(
            meta,
            answer.answers.iter().map(AsRef::as_ref),
            answer.authority.iter().map(AsRef::as_ref),
            none(),
            answer.additional.iter().map(AsRef::as_ref),
        );
        Ok(Some(handle.send_response(response).await?))
    }

    /// Our OPT record for this response, and its size: EDE 20 when `refused`; and RFC 7871's
    /// ECS echo (same family, source prefix and address, with the scope the answer depends on)
    /// when the query had ECS.
    fn response_opt(
        &self,
        request: &Request,
        refused: bool,
        ecs: Option<ClientSubnet>,
        scope: u8,
    ) -> (Option<Cow<'_, Edns>>, usize) {
        let edns = self.opt(
            request.edns.as_ref(),
            refused.then_some(Ede::NotAuthoritative),
        );
        let size = Self::opt_len(edns.as_deref());
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
    /// ([`identity`]).
    fn explain(&self, request: &Request) -> Option<Option<Vec<Record>>> {
        let q = request.queries.queries().first()?;
        if request.queries.len() != 1
            || q.query_class() != DNSClass::CH
            || q.query_type() != RecordType::TXT
        {
            return None;
        }
        let qname = Name::read(&mut BinDecoder::new(request.queries.as_bytes())).ok()?;
        if let Some(said) = self.identity.chaos(&qname) {
            return Some(said);
        }
        let name = explain::asked_about(&qname)?;
        if !explain::allowed(request.src().ip(), &self.explain_allow) {
            return Some(None);
        }
        Some(Some(explain::records(&self.snapshot.load(), &qname, &name)))
    }

    /// Response rate limiting: only over UDP, only when configured.
    fn limit(
        &self,
        request: &Request,
        answer: &Answer<'_>,
        qname: &Name,
        qtype: RecordType,
    ) -> rrl::Verdict {
        let Some(rrl) = &self.rrl else {
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
            &self.stats.rrl,
            request.src().ip(),
            kind,
            &name,
            u16::from(qtype),
        )
    }
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

/// Extended DNS Errors we send (RFC 8914).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ede {
    /// 20: the name is not in our zones.
    NotAuthoritative = 20,
    /// 21: a class we do not serve.
    NotSupported = 21,
}

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

/// Why a response could not be sent.
#[derive(Debug, thiserror::Error)]
enum RespondError {
    /// The socket refused it.
    #[error("cannot send the response: {0}")]
    Send(#[from] hickory_server::net::NetError),
    /// Measuring its size failed.
    #[error("cannot encode the response: {0}")]
    Encode(#[from] ProtoError),
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        match self.respond(request, &mut response_handle).await {
            Ok(Some(info)) => {
                self.stats.count(info.response_code);
                info
            }
            Ok(None) => ResponseInfo::from(Header {
                metadata: Metadata::response_from_request(&request.metadata),
                counts: HeaderCounts::default(),
            }),
            Err(error) => {
                debug!(%error, src = %request.src(), "could not send a response");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.message_type = MessageType::Response;
                metadata.response_code = ResponseCode::ServFail;
                self.stats.count(ResponseCode::ServFail);
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// Makes the answer fit the response's size limit (`opt`: octets of our OPT record): TC and no
/// partial RRset when the answer or authority does not fit, optional additional data dropped
/// without TC, and TC when a referral loses glue.
fn truncate(
    request: &Request,
    answer: &mut Answer<'_>,
    meta: &mut Metadata,
    opt: usize,
) -> Result<(), ProtoError> {
    let limit = match request.protocol() {
        Protocol::Udp => match &request.edns {
            Some(e) => e.max_payload().clamp(512, MAX_UDP_PAYLOAD),
            None => 512,
        },
        _ => u16::MAX,
    };
    match fit(request, answer, usize::from(limit) - opt)? {
        Fit::Whole => {}
        // RFC 9471: glue a referral needs but cannot carry must send the resolver to TCP.
        Fit::AdditionalTrimmed if !answer.authoritative => meta.truncation = true,
        // RFC 2181 §9: other additional data is optional.
        Fit::AdditionalTrimmed => {}
        Fit::No => {
            meta.truncation = true;
            answer.clear_records();
        }
    }
    Ok(())
}

/// How much of an answer fits in the room a response has.
#[derive(Debug, PartialEq, Eq)]
enum Fit {
    /// All of it.
    Whole,
    /// The answer and authority sections; the additional section was cut to what fits.
    AdditionalTrimmed,
    /// Not even the answer and authority sections.
    No,
}

/// Measures whether the answer and authority sections fit in `room` bytes, and trims the
/// additional section to what fits. Cheap for the usual small answer: the exact (compressed) size
/// is only measured when an uncompressed upper bound says it might not fit.
fn fit(request: &Request, answer: &mut Answer<'_>, room: usize) -> Result<Fit, ProtoError> {
    let question = request.queries.as_bytes().len();
    let bound = 12
        + question
        + answer.answers.iter().map(|r| size_bound(r)).sum::<usize>()
        + answer
            .authority
            .iter()
            .map(|r| size_bound(r))
            .sum::<usize>()
        + answer
            .additional
            .iter()
            .map(|r| size_bound(r))
            .sum::<usize>();
    if bound <= room {
        return Ok(Fit::Whole);
    }
    let mut buf = Vec::with_capacity(room);
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(u16::try_from(room).unwrap_or(u16::MAX));
    encoder.emit_vec(&[0u8; 12])?;
    // The question exactly as the response will carry it: the raw bytes, its name known to the
    // compression table (as `learn_question_name` makes it known), so the measure matches.
    let start = encoder.offset();
    let question = request.queries.as_bytes();
    encoder.emit_vec(question)?;
    if request.queries.len() == 1 && question.len() > 5 {
        encoder.store_label_pointer(start, start + question.len() - 5);
    }
    let answers: SmallVec<[&Record; 8]> = answer.answers.iter().map(AsRef::as_ref).collect();
    let authority: SmallVec<[&Record; 8]> = answer.authority.iter().map(AsRef::as_ref).collect();
    for section in [&answers[..], &authority[..]] {
        if let Err(e) = encoder.emit_all(section.iter().copied()) {
            return match e {
                ProtoError::NotAllRecordsWritten { .. } => Ok(Fit::No),
                e => Err(e),
            };
        }
    }
    match encoder.emit_all(answer.additional.iter().map(AsRef::as_ref)) {
        Ok(_) => Ok(Fit::Whole),
        Err(ProtoError::NotAllRecordsWritten { count, .. }) => {
            answer.additional.truncate(count);
            Ok(Fit::AdditionalTrimmed)
        }
        Err(e) => Err(e),
    }
}

/// The length of the question's name (its root octet included) in `message`, if it is
/// written out label by label.
pub(crate) fn question_name_len(message: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        match *message.get(at)? {
            0 => return Some(at + 1 - 12),
            len if len & 0xc0 == 0 => at += 1 + usize::from(len),
            _ => return None,
        }
    }
}

/// Makes the question's `name` (wire form, as the client wrote it) known to `encoder`'s
/// compression table before the response is written, so that answer owners (the query name as
/// the client wrote it) and names below it become pointers to the question, as NSD and Knot
/// compress them. hickory's own entry for the question holds its type and class too, so no name
/// ever matched it. The header and name are written and the offset put back to 0: the response
/// then writes the same octets over them, and the entry points at the question's name.
pub(crate) fn learn_question_name(
    encoder: &mut BinEncoder<'_>,
    name: &[u8],
) -> Result<(), ProtoError> {
    if name.len() > 1 {
        encoder.emit_vec(&[0u8; 12])?;
        encoder.emit_vec(name)?;
        // The labels, without the root octet: how the encoder keeps names.
        encoder.store_label_pointer(12, 12 + name.len() - 1);
        encoder.set_offset(0);
    }
    Ok(())
}

/// An upper bound of a record's encoded size, without compression.
fn size_bound(r: &Record) -> usize {
    const UNKNOWN: usize = 1 << 16;
    let name = |n: &hickory_server::proto::rr::Name| n.len() + 1;
    let rdata = match &r.data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::CNAME(n) => name(&n.0),
        RData::NS(n) => name(&n.0),
        RData::PTR(n) => name(&n.0),
        RData::MX(mx) => 2 + name(&mx.exchange),
        RData::SRV(srv) => 6 + name(&srv.target),
        RData::SOA(soa) => name(&soa.mname) + name(&soa.rname) + 20,
        RData::TXT(txt) => txt.txt_data.iter().map(|s| s.len() + 1).sum(),
        RData::Unknown { rdata, .. } => rdata.anything.len(),
        _ => UNKNOWN,
    };
    name(&r.name) + 10 + rdata
}

/// The DNS listeners: UDP and TCP on every configured address.
///
/// Each UDP socket has a thread of its own ([`udp::serve`]), so a query is received, answered
/// and sent on one thread with no hand-over between workers. TCP has one thread for all
/// listeners.
pub struct DnsServer {
    threads: Vec<std::thread::JoinHandle<()>>,
    /// UDP serving threads per address.
    cores: usize,
    shutdown: CancellationToken,
    /// The addresses actually bound (port 0 resolved).
    pub local_addrs: Vec<SocketAddr>,
}

impl DnsServer {
    /// Binds UDP and TCP on each address (port 0 picks one port for both) and starts serving.
    ///
    /// An address with a fixed port gets one UDP socket per CPU, joined with `SO_REUSEPORT`, so
    /// that the kernel spreads queries from many clients over the threads. Port 0 (tests) gets
    /// one plain socket and one thread: Linux may hand a port-0 bind with `SO_REUSEPORT` a port
    /// that another such socket of the same user already holds.
    ///
    /// TCP is served on a thread of its own ([`tcp`]), at most `tcp_max` connections at once.
    pub fn bind(
        handler: DnsHandler,
        addrs: &[SocketAddr],
        tcp_max: usize,
    ) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = if addrs.iter().all(|a| a.port() != 0) {
            cores
        } else {
            1
        };
        let mut per_thread: Vec<Vec<std::net::UdpSocket>> =
            (0..threads).map(|_| Vec::new()).collect();
        let mut tcps = Vec::new();
        let mut local_addrs = Vec::new();
        for addr in addrs {
            let reuse_port = threads > 1;
            let (udp, tcp) = bind_pair(*addr, reuse_port)?;
            let bound = udp.local_addr()?;
            local_addrs.push(bound);
            per_thread[0].push(udp);
            tcps.push(tcp);
            for sockets in per_thread.iter_mut().skip(1) {
                sockets.push(udp_socket(bound, true)?);
            }
        }
        let shutdown = CancellationToken::new();
        let mut handles = Vec::new();
        for (i, udps) in per_thread.into_iter().enumerate() {
            for (j, udp) in udps.into_iter().enumerate() {
                let handler = handler.clone();
                let token = shutdown.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("dns-udp-{i}-{j}"))
                    .spawn(move || udp::serve(handler, udp, token))?;
                handles.push(handle);
            }
        }
        let cap = tcp::effective_cap(tcp_max);
        let token = shutdown.clone();
        let handle = std::thread::Builder::new()
            .name("dns-tcp".into())
            .spawn(move || tcp_thread(handler, tcps, cap, token))?;
        handles.push(handle);
        Ok(Self {
            threads: handles,
            cores: threads,
            shutdown,
            local_addrs,
        })
    }

    /// How many threads serve UDP on each address (one per core for a fixed port, one for
    /// port 0).
    pub fn threads(&self) -> usize {
        self.cores
    }

    /// Stops every DNS thread and waits for them (each gives in-flight work at most a second).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|t| t.join())
                .filter(Result::is_err)
                .count()
        })
        .await;
        if !matches!(joined, Ok(0)) {
            tracing::warn!("a DNS thread panicked");
        }
    }
}

impl Drop for DnsServer {
    /// A server dropped without [`DnsServer::stop`] (a panicking test, an early return) still
    /// stops its threads: each sees the cancellation and ends within a second.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A single-threaded runtime for one DNS thread.
fn thread_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(error = %e, "cannot start a DNS thread");
            None
        }
    }
}

/// The TCP thread: our own loop over every listener until `token` is cancelled.
fn tcp_thread(
    handler: DnsHandler,
    listeners: Vec<std::net::TcpListener>,
    cap: usize,
    token: CancellationToken,
) {
    let Some(runtime) = thread_runtime() else {
        return;
    };
    runtime.block_on(async move {
        let listeners = listeners
            .into_iter()
            .filter_map(|l| match tokio::net::TcpListener::from_std(l) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!(error = %e, "cannot serve a TCP listener");
                    None
                }
            })
            .collect();
        tcp::serve(handler, listeners, cap, token).await;
    });
}

/// Binds UDP, then TCP on the same port; with port 0, tries again when that port is taken for TCP.
fn bind_pair(
    addr: SocketAddr,
    reuse_port: bool,
) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let mut last_err = None;
    for _ in 0..20 {
        let udp = udp_socket(addr, reuse_port)?;
        let bound = udp.local_addr()?;
        match tcp_listener(bound) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.expect("the loop ran"))
}

/// A non-blocking UDP socket, `IPV6_V6ONLY` for IPv6 as usual, `SO_REUSEPORT` if asked.
fn udp_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(SockProtocol::UDP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(reuse_port)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking TCP listener (std sets `SO_REUSEADDR` on Unix, as tokio's `bind` does).
fn tcp_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_counts_each_listed_type_in_its_place() {
        for (i, t) in QUERY_TYPES.iter().enumerate() {
            let shard = Shard::default();
            shard.count(u16::from(*t), 0);
            assert_eq!(shard.queries[i].load(Ordering::Relaxed), 1, "{t}");
        }
        let shard = Shard::default();
        shard.count(99, 3);
        assert_eq!(shard.queries[QUERY_TYPES.len()].load(Ordering::Relaxed), 1);
        assert_eq!(shard.by_rcode[3].load(Ordering::Relaxed), 1);
    }
}
