//! The transfer client: the SOA query and the AXFR/IXFR, over hickory-net's client (UDP for the
//! SOA, TCP for transfers, as RFC 5936 and RFC 1995 want), signed when the zone has a key; and
//! the application of an IXFR's differences to the records held.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use hickory_net::DnsMultiplexer;
use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use rustc_hash::FxHashMap;

use crate::tsig::TsigKey;

/// The wait for a SOA answer.
const SOA_TIMEOUT: Duration = Duration::from_secs(3);
/// A transfer that goes this long without a message is abandoned.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a refresh from one primary failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The network or the protocol failed.
    #[error("{0}")]
    Net(String),
    /// The primary answered with an error rcode.
    #[error("the primary answered {0}")]
    Rcode(ResponseCode),
    /// The answer made no sense.
    #[error("{0}")]
    Invalid(&'static str),
}

fn net(e: impl std::fmt::Display) -> RefreshError {
    RefreshError::Net(e.to_string())
}

/// The serial of `origin`'s SOA at `primary`.
pub async fn soa_serial(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&TsigKey>,
) -> Result<u32, RefreshError> {
    let stream = UdpClientStream::builder(primary, TokioRuntimeProvider::default())
        .with_timeout(Some(SOA_TIMEOUT))
        .with_signer(key.map(|k| k.signer().clone()))
        .build();
    let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
    let background = tokio::spawn(background);
    let response = client
        .query(origin.clone(), DNSClass::IN, RecordType::SOA)
        .await;
    background.abort();
    let response = response.map_err(net)?;
    if response.response_code != ResponseCode::NoError {
        return Err(RefreshError::Rcode(response.response_code));
    }
    response
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(soa) if r.name.to_lowercase() == *origin => Some(soa.serial),
            _ => None,
        })
        .ok_or(RefreshError::Invalid(
            "the primary's answer has no SOA for the zone",
        ))
}

/// What a transfer brought.
#[derive(Debug)]
pub struct Transferred {
    /// The zone's records, SOA first.
    pub records: Vec<Record>,
    /// `AXFR` or `IXFR`.
    pub kind: &'static str,
}

/// Transfers `origin` from `primary`: IXFR from `held` (its records, SOA first) when there is
/// one, else AXFR. `None` when the primary says we are up to date.
pub async fn transfer(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&TsigKey>,
    held: Option<&[Record]>,
) -> Result<Option<Transferred>, RefreshError> {
    let (connect, sender) = TcpClientStream::new(
        primary,
        None,
        Some(TRANSFER_TIMEOUT),
        TokioRuntimeProvider::default(),
    );
    let stream = tokio::time::timeout(TRANSFER_TIMEOUT, connect)
        .await
        .map_err(|_| RefreshError::Net("connecting timed out".into()))?
        .map_err(net)?;
    let mut multiplexer = DnsMultiplexer::new(stream, sender).with_timeout(TRANSFER_TIMEOUT);
    if let Some(k) = key {
        multiplexer = multiplexer.with_signer(k.signer().clone());
    }
    let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(multiplexer);
    let background = tokio::spawn(background);
    // hickory's request puts the SOA under its MNAME (and asserts that it is the origin); the
    // primary reads only the serial, so the MNAME is set to the origin.
    let last_soa = held.and_then(|h| h.first()).and_then(|r| match &r.data {
        RData::SOA(s) => Some(SOA::new(
            origin.clone(),
            s.rname.clone(),
            s.serial,
            s.refresh,
            s.retry,
            s.expire,
            s.minimum,
        )),
        _ => None,
    });
    let mut messages = client.zone_transfer(origin.clone(), last_soa.clone());
    let mut answers = Vec::new();
    let outcome = loop {
        match messages.next().await {
            None => break Ok(()),
            Some(Err(e)) => break Err(net(e)),
            Some(Ok(response)) => {
                if response.response_code != ResponseCode::NoError {
                    break Err(RefreshError::Rcode(response.response_code));
                }
                answers.extend(response.into_message().answers);
            }
        }
    };
    background.abort();
    outcome?;
    interpret(answers, held, last_soa.is_some())
}

fn serial_of(r: &Record) -> Option<u32> {
    match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    }
}

/// The zone a transfer's records describe: an AXFR (SOA, records, SOA), an IXFR's differences
/// applied to `held`, or (one SOA alone) nothing new.
fn interpret(
    answers: Vec<Record>,
    held: Option<&[Record]>,
    asked_ixfr: bool,
) -> Result<Option<Transferred>, RefreshError> {
    let Some(first) = answers.first() else {
        return Err(RefreshError::Invalid("the transfer was empty"));
    };
    let Some(serial) = serial_of(first) else {
        return Err(RefreshError::Invalid(
            "the transfer does not start with the SOA",
        ));
    };
    if answers.len() == 1 {
        return if asked_ixfr {
            Ok(None) // RFC 1995 §2: the SOA alone says we are up to date
        } else {
            Err(RefreshError::Invalid("the transfer holds the SOA alone"))
        };
    }
    if serial_of(&answers[answers.len() - 1]) != Some(serial) {
        return Err(RefreshError::Invalid(
            "the transfer does not end with the SOA it started with",
        ));
    }
    let incremental = asked_ixfr && answers.len() > 2 && serial_of(&answers[1]).is_some();
    if !incremental {
        let mut records = answers;
        records.pop();
        if records[1..]
            .iter()
            .any(|r| r.record_type() == RecordType::SOA)
        {
            return Err(RefreshError::Invalid("the AXFR holds a second SOA"));
        }
        return Ok(Some(Transferred {
            records,
            kind: "AXFR",
        }));
    }
    let held = held.ok_or(RefreshError::Invalid("an IXFR with nothing to apply it to"))?;
    apply_ixfr(held, &answers).map(|records| {
        Some(Transferred {
            records,
            kind: "IXFR",
        })
    })
}

/// What a record is, for an IXFR's deletions: owner, type and data (never the TTL).
type Key = (Name, RecordType);

/// `held` with the differences of an IXFR (`answers`: new SOA, then sequences of old SOA,
/// deletions, new SOA, additions; then the new SOA again) applied (RFC 1995 §4).
fn apply_ixfr(held: &[Record], answers: &[Record]) -> Result<Vec<Record>, RefreshError> {
    let mut soa = held[0].clone();
    let mut sets: FxHashMap<Key, Vec<Record>> = FxHashMap::default();
    let mut order: Vec<Key> = Vec::new();
    for r in &held[1..] {
        let key = (r.name.to_lowercase(), r.record_type());
        let set = sets.entry(key.clone()).or_default();
        if set.is_empty() {
            order.push(key);
        }
        set.push(r.clone());
    }
    let mut at = 1;
    let last = answers.len() - 1;
    while at < last {
        // Old SOA: it must be the one we hold at this point.
        if serial_of(&answers[at]) != serial_of(&soa) {
            return Err(RefreshError::Invalid(
                "the IXFR does not start from the serial we hold",
            ));
        }
        at += 1;
        while at < last && answers[at].record_type() != RecordType::SOA {
            let r = &answers[at];
            let key = (r.name.to_lowercase(), r.record_type());
            let set = sets.get_mut(&key).ok_or(RefreshError::Invalid(
                "the IXFR deletes a record we do not hold",
            ))?;
            let i = set
                .iter()
                .position(|h| h.data == r.data)
                .ok_or(RefreshError::Invalid(
                    "the IXFR deletes a record we do not hold",
                ))?;
            set.remove(i);
            at += 1;
        }
        if at >= last {
            return Err(RefreshError::Invalid("an IXFR sequence lacks its new SOA"));
        }
        soa = answers[at].clone();
        at += 1;
        while at < last && answers[at].record_type() != RecordType::SOA {
            let r = &answers[at];
            let key = (r.name.to_lowercase(), r.record_type());
            let set = sets.entry(key.clone()).or_default();
            if set.is_empty() && !order.contains(&key) {
                order.push(key);
            }
            if !set.iter().any(|h| h.data == r.data) {
                set.push(r.clone());
            }
            at += 1;
        }
    }
    if serial_of(&soa) != serial_of(&answers[last]) {
        return Err(RefreshError::Invalid(
            "the IXFR's differences do not end at its serial",
        ));
    }
    let mut records = vec![soa];
    for key in order {
        if let Some(set) = sets.remove(&key) {
            records.extend(set);
        }
    }
    Ok(records)
}

/// The SOA data of a zone's records (SOA first), if any.
pub fn soa_of(records: &[Record]) -> Option<&SOA> {
    records.first().and_then(|r| match &r.data {
        RData::SOA(s) => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;

    fn soa(serial: u32) -> Record {
        let origin = Name::from_ascii("example.com.").unwrap();
        Record::from_rdata(
            origin.clone(),
            3600,
            RData::SOA(SOA::new(origin.clone(), origin, serial, 60, 10, 600, 60)),
        )
    }

    fn a(name: &str, last: u8) -> Record {
        Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            300,
            RData::A(A::new(192, 0, 2, last)),
        )
    }

    #[test]
    fn an_axfr_is_the_records_between_the_soas() {
        let t = interpret(vec![soa(5), a("www.example.com.", 1), soa(5)], None, false)
            .unwrap()
            .unwrap();
        assert_eq!(t.kind, "AXFR");
        assert_eq!(t.records, vec![soa(5), a("www.example.com.", 1)]);
    }

    #[test]
    fn an_ixfr_applies_each_sequence_in_turn() {
        let held = vec![soa(1), a("www.example.com.", 1), a("www.example.com.", 2)];
        let answers = vec![
            soa(3),
            soa(1),
            a("www.example.com.", 1),
            soa(2),
            a("www.example.com.", 3),
            soa(2),
            a("www.example.com.", 2),
            soa(3),
            a("api.example.com.", 9),
            soa(3),
        ];
        let t = interpret(answers, Some(&held), true).unwrap().unwrap();
        assert_eq!(t.kind, "IXFR");
        assert_eq!(
            t.records,
            vec![soa(3), a("www.example.com.", 3), a("api.example.com.", 9)]
        );
    }

    #[test]
    fn an_ixfr_from_another_serial_or_deleting_the_unknown_fails() {
        let held = vec![soa(1), a("www.example.com.", 1)];
        let from_elsewhere = vec![soa(3), soa(2), soa(3), soa(3)];
        assert!(interpret(from_elsewhere, Some(&held), true).is_err());
        let unknown = vec![soa(2), soa(1), a("www.example.com.", 7), soa(2), soa(2)];
        assert!(interpret(unknown, Some(&held), true).is_err());
        assert!(
            interpret(vec![soa(1)], Some(&held), true)
                .unwrap()
                .is_none()
        );
        assert!(interpret(vec![soa(2), a("x.example.com.", 1)], None, false).is_err());
    }
}
