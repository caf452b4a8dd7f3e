//! NOTIFY received (RFC 1996): a primary says a secondary zone's serial moved. From an address
//! in the zone's `allow_notify` (default: its primaries), signed with its key when it has one,
//! the zone's task is woken to check the primaries (the NOTIFY's own SOA is not trusted, as RFC
//! 1996 §3.11 advises) and the answer is NOERROR; from anyone else REFUSED, with a bad
//! signature NOTAUTH, for a zone that is not a secondary of ours NOTAUTH (as Knot answers). A
//! refused NOTIFY is logged as a remote event: at most one line per interval, however many come.

use std::net::SocketAddr;

use hickory_server::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_server::proto::rr::RecordType;
use tracing::{debug, warn};

use super::QueryStats;
use crate::snapshot::Snapshot;
use crate::tsig;
use crate::zone::secondary::Store;

/// The answer to a NOTIFY message from `peer`, for the secondary zones of `snapshot`, whose
/// tasks `secondaries` wakes.
pub fn received(
    snapshot: &Snapshot,
    stats: &QueryStats,
    secondaries: &Store,
    message: &[u8],
    peer: SocketAddr,
) -> Option<Vec<u8>> {
    let Ok(request) = Message::from_vec(message) else {
        return Some(super::formerr(message));
    };
    let mut response = Message::new(request.metadata.id, MessageType::Response, OpCode::Notify);
    let mut answer = |rcode: ResponseCode, signature| {
        response.metadata.response_code = rcode;
        response.add_queries(request.queries.iter().cloned());
        if let Some(s) = signature {
            response.set_signature(s);
        }
        stats.count(rcode);
        response.to_vec().ok()
    };
    let Some(query) = request
        .queries
        .first()
        .filter(|_| request.queries.len() == 1)
    else {
        return answer(ResponseCode::FormErr, None);
    };
    if query.query_type() != RecordType::SOA {
        return answer(ResponseCode::NotImp, None);
    }
    let origin = query.name().to_lowercase();
    let Some(zone) = snapshot.secondaries.get(&origin) else {
        warn!(target: "dnslb::remote", zone = %origin, %peer, "NOTIFY for a zone that is not a secondary zone here");
        return answer(ResponseCode::NotAuth, None);
    };
    if !zone.allow_notify.contains(&peer.ip()) {
        warn!(target: "dnslb::remote", zone = %origin, %peer, "NOTIFY refused: the address is not in allow_notify");
        return answer(ResponseCode::Refused, None);
    }
    match tsig::check(message, &request, zone.tsig.as_ref()) {
        tsig::Check::Failed { rcode, why, tsig } => {
            warn!(target: "dnslb::remote", zone = %origin, %peer, "NOTIFY refused: {why}");
            answer(rcode, tsig)
        }
        check => {
            debug!(zone = %origin, %peer, "NOTIFY accepted");
            secondaries.wake(&origin);
            response.metadata.authoritative = true;
            response.metadata.response_code = ResponseCode::NoError;
            response.add_queries(request.queries.iter().cloned());
            stats.count(ResponseCode::NoError);
            match check {
                tsig::Check::Signed(mut signer) => signer.sign(response).ok(),
                _ => response.to_vec().ok(),
            }
        }
    }
}
