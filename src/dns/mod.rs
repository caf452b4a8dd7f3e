//! DNS in and out. A query's route, one name per step:
//!
//! 1. [`udp::serve`] (a thread per socket, batched system calls) or [`tcp::serve`] (one thread
//!    for all TCP connections) reads it, with the thread's [`Worker`];
//! 2. over UDP, [`fast::answer`] answers it from the answers [`crate::prepare`] made, or leaves it;
//! 3. [`exchange::exchange`] takes what is left: short, response or malformed messages, TSIG,
//!    NOTIFY ([`notify_in::received`]), IXFR over UDP ([`xfr::transfer`]), then parses it;
//! 4. [`general::respond`] applies the message rules and asks [`crate::answer::resolve`];
//!    [`truncate`] makes it fit; hickory-proto encodes it.
//!
//! Zone transfers over TCP go from [`tcp`] to [`xfr::transfer`] on a blocking thread. The
//! counters are [`counters`]'s; [`server`] binds the sockets and starts and stops the threads.
//! This is the one module that touches hickory-server's API (its request and response types).

mod counters;
mod exchange;
mod explain;
pub mod fast;
mod general;
pub mod identity;
mod notify_in;
pub mod rrl;
mod server;
mod tcp;
mod truncate;
mod udp;
mod worker;
pub mod xfr;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::ProtoError;
use hickory_server::proto::op::Edns;
use hickory_server::proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_server::proto::serialize::binary::{BinDecoder, BinEncoder};
use hickory_server::zone_handler::Queries;

pub use counters::{Malformed, QueryStats, Shard, rcode_name};
pub use rrl::{RrlConfig, RrlStats};
pub use server::DnsServer;
pub use worker::Worker;

use crate::snapshot::Snapshot;
use crate::zone::secondary::Store;

/// The UDP payload size we advertise and never exceed, as NSD and Knot do (DNS flag day 2020).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// Bytes of an OPT record without options.
const OPT_LEN: usize = 11;

/// What every serving thread shares to answer queries: the current snapshot, the counters, and
/// the settings of the message rules. Immutable; cloned into each thread.
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
    /// What this instance says about itself (NSID, `id.server`, `version.bind`).
    identity: identity::Identity,
    /// The secondary zones' tasks, woken by NOTIFY.
    secondaries: Arc<Store>,
}

/// The settings of a [`DnsHandler`] beyond its snapshot and counters (all off by default).
#[derive(Debug, Clone, Default)]
pub struct HandlerSettings {
    /// Response rate limiting over UDP.
    pub rrl: Option<RrlConfig>,
    /// The networks besides loopback that may ask `CH TXT explain.NAME`.
    pub explain_allow: Vec<ipnet::IpNet>,
    /// What the server says about itself (NSID, `id.server`, `version.bind`).
    pub identity: identity::Identity,
    /// The secondary zones' tasks, woken by NOTIFY.
    pub secondaries: Arc<Store>,
}

/// Extended DNS Errors we send (RFC 8914).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ede {
    /// 20: the name is not in our zones.
    NotAuthoritative = 20,
    /// 21: a class we do not serve.
    NotSupported = 21,
}

impl DnsHandler {
    /// A handler reading `snapshot` at every query and counting into `stats`.
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        stats: Arc<QueryStats>,
        settings: HandlerSettings,
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
            snapshot,
            stats,
            opts,
            no_queries: Arc::new(
                Queries::read(&mut BinDecoder::new(&[]), 0).expect("no questions decode"),
            ),
            rrl: settings.rrl,
            explain_allow: settings.explain_allow.into(),
            identity: settings.identity,
            secondaries: settings.secondaries,
        }
    }

    /// A worker for a thread that answers with this handler (its own counter shard).
    pub fn worker(&self) -> Worker {
        Worker::new(&self.stats)
    }

    /// The response to one message from `peer` as the serving loops make it (over UDP, the fast
    /// path first); `None` when nothing is sent. For tests and fuzzing, which drive the route
    /// without sockets.
    pub fn answer(
        &self,
        worker: &mut Worker,
        message: &[u8],
        peer: SocketAddr,
        tcp: bool,
    ) -> Option<Vec<u8>> {
        if !tcp && let Some(fast) = self.answer_fast(worker, message, peer) {
            return fast;
        }
        self.answer_general(worker, message, peer, tcp)
    }

    /// The general path's response alone (what the fast path must equal).
    pub fn answer_general(
        &self,
        worker: &mut Worker,
        message: &[u8],
        peer: SocketAddr,
        tcp: bool,
    ) -> Option<Vec<u8>> {
        let protocol = if tcp { Protocol::Tcp } else { Protocol::Udp };
        exchange::exchange(self, worker, message, peer, protocol)
    }

    /// The fast path's response alone: `None` when it leaves the message to the general path,
    /// `Some(None)` when it sends nothing (rate limited).
    pub fn answer_fast(
        &self,
        worker: &mut Worker,
        message: &[u8],
        peer: SocketAddr,
    ) -> Option<Option<Vec<u8>>> {
        let mut out = [0u8; fast::RESPONSE_BUFFER];
        let snapshot = self.snapshot.load();
        match fast::answer(self, worker, &snapshot, message, peer, &mut out) {
            fast::Outcome::Send(n) => Some(Some(out[..n].to_vec())),
            fast::Outcome::Drop => Some(None),
            fast::Outcome::Fallback => None,
        }
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

/// A FORMERR for a message whose question could not be read: its ID and opcode, no sections
/// (NSD's answer).
pub(crate) fn formerr(message: &[u8]) -> Vec<u8> {
    let mut header = vec![0u8; 12];
    header[..2].copy_from_slice(&message[..2]);
    header[2] = 0x80 | (message[2] & 0x78); // QR, the opcode
    header[3] = 0x01; // FORMERR
    header
}
