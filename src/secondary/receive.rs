//! The transfer reader: an AXFR or IXFR read from the primary's TCP stream ourselves, every
//! message in order, none dropped, within limits.
//!
//! hickory-net's transfer stream hands each message to its reader through an 8-slot channel with
//! `try_send` and drops the message when the channel is full (hickory-dns issue #2049), so a
//! large transfer silently lost records. Here the socket is read by one loop that hands the
//! messages on through a bounded channel *with back-pressure* (it waits, never drops) to a
//! blocking thread, which checks each message (ID, rcode, TSIG chain), merges its records into
//! the compact store ([`Merger`]) and applies an IXFR's differences there. Parsing and merging
//! thus stay off the runtime threads that serve admin requests and run probes.
//!
//! A transfer is complete only when it ends with the SOA it started with (RFC 5936 §2.2, RFC 1995
//! §4) and, with a key, when its first and last messages are signed and no more than 99 unsigned
//! ones stand between two signed ones (RFC 8945 §5.3.1). It fails when a message takes longer
//! than the idle timeout to come, when the records or octets received pass the zone's limits,
//! when the whole takes longer than the optional overall limit, or when the primary closes the
//! connection early. A failed transfer leaves nothing behind.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::rdata::tsig::signed_bitmessage_to_buf;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::client::RefreshError;
use crate::tsig::TsigKey;
use crate::zone::PackedRecords;
use crate::zone::merge::{MergeError, Merger};
use crate::zone::secondary::{Held, Limits};

/// Messages read ahead of the thread that merges them (the reader waits when it is this far
/// ahead: back-pressure, never a drop).
const AHEAD: usize = 16;
/// RFC 8945 §5.3.1: at most 99 unsigned messages between two signed ones.
const MAX_UNSIGNED_RUN: usize = 99;

/// What a transfer brought.
#[derive(Debug)]
pub struct Transferred {
    /// The zone's records, SOA first, duplicates merged.
    pub records: PackedRecords,
    /// Its SOA.
    pub soa: SOA,
    /// `AXFR` or `IXFR`.
    pub kind: &'static str,
    /// Records outside the zone or not of class IN, left out.
    pub ignored: u64,
    /// What problems with the records name.
    pub file: Arc<Path>,
    /// How long it took, from the request to the records merged (an IXFR's differences applied).
    pub took: Duration,
}

/// How a transfer ended.
#[derive(Debug)]
pub enum Received {
    /// The primary says we hold its serial (one SOA, RFC 1995 §2).
    UpToDate,
    /// A whole zone.
    Zone(Box<Transferred>),
}

fn net(what: &str, e: impl std::fmt::Display) -> RefreshError {
    RefreshError::Net(format!("{what}: {e}"))
}

fn invalid(why: impl Into<String>) -> RefreshError {
    RefreshError::Invalid(why.into())
}

/// What problems with a transfer's records name.
pub fn transfer_file(origin: &Name, primary: SocketAddr, serial: u32) -> Arc<Path> {
    Arc::from(Path::new(&format!(
        "{origin} serial {serial} transferred from {primary}, record"
    )))
}

/// Transfers `origin` from `primary`: an IXFR from `base` when given, else an AXFR.
pub async fn transfer(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&TsigKey>,
    base: Option<Held>,
    limits: &Limits,
) -> Result<Received, RefreshError> {
    let started = std::time::Instant::now();
    let work = read(primary, origin, key, base, limits);
    let received = match limits.total {
        Some(total) => tokio::time::timeout(total, work).await.map_err(|_| {
            invalid(format!(
                "the transfer took longer than transfer_timeout ({})",
                humantime::format_duration(total)
            ))
        })?,
        None => work.await,
    };
    received.map(|r| match r {
        Received::Zone(mut t) => {
            t.took = started.elapsed();
            Received::Zone(t)
        }
        up_to_date => up_to_date,
    })
}

async fn read(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&TsigKey>,
    base: Option<Held>,
    limits: &Limits,
) -> Result<Received, RefreshError> {
    let id: u16 = rand::random();
    let (request, request_mac) = request(id, origin, key, base.as_ref())?;
    let mut stream = tokio::time::timeout(limits.idle, TcpStream::connect(primary))
        .await
        .map_err(|_| invalid("connecting timed out"))?
        .map_err(|e| net("connecting", e))?;
    let _ = stream.set_nodelay(true);
    let mut framed = Vec::with_capacity(request.len() + 2);
    framed.extend_from_slice(&u16::try_from(request.len()).unwrap_or(0).to_be_bytes());
    framed.extend_from_slice(&request);
    tokio::time::timeout(limits.idle, stream.write_all(&framed))
        .await
        .map_err(|_| invalid("sending the request timed out"))?
        .map_err(|e| net("sending the request", e))?;

    let (tx, rx) = mpsc::channel(AHEAD);
    let assembly = Assembly {
        origin: origin.clone(),
        primary: Some(primary),
        id,
        chain: key.map(|k| Chain::new(k.signer().clone(), request_mac)),
        max_records: limits.max_records,
        base,
        ..Assembly::default()
    };
    let merging = tokio::task::spawn_blocking(move || assembly.run(rx));
    let mut octets: u64 = 0;
    loop {
        let message = tokio::select! {
            m = frame(&mut stream, limits.idle) => m,
            // The merging thread has what it needs (or failed): stop reading.
            _ = tx.closed() => break,
        };
        let item = match message {
            Ok(Some(m)) => {
                octets += m.len() as u64 + 2;
                if octets > limits.max_octets {
                    Err(invalid(format!(
                        "the transfer passed max_octets ({} octets) before its end",
                        limits.max_octets
                    )))
                } else {
                    Ok(m)
                }
            }
            Ok(None) => break, // closed by the primary: the merging thread tells whether early
            Err(e) => Err(e),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    merging
        .await
        .map_err(|e| invalid(format!("the transfer's merging failed: {e}")))?
}

/// One length-prefixed message; `None` when the primary closed the connection between messages.
async fn frame(stream: &mut TcpStream, idle: Duration) -> Result<Option<Vec<u8>>, RefreshError> {
    let timed_out = || {
        invalid(format!(
            "no message from the primary for {} (idle_timeout)",
            humantime::format_duration(idle)
        ))
    };
    let mut len = [0u8; 2];
    match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
        Err(_) => return Err(timed_out()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Ok(Err(e)) => return Err(net("reading", e)),
        Ok(Ok(_)) => {}
    }
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    match tokio::time::timeout(idle, stream.read_exact(&mut message)).await {
        Err(_) => Err(timed_out()),
        Ok(Err(e)) => Err(net("reading", e)),
        Ok(Ok(_)) => Ok(Some(message)),
    }
}

/// The request's octets, and its MAC when signed.
fn request(
    id: u16,
    origin: &Name,
    key: Option<&TsigKey>,
    base: Option<&Held>,
) -> Result<(Vec<u8>, Vec<u8>), RefreshError> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    let kind = if base.is_some() {
        RecordType::IXFR
    } else {
        RecordType::AXFR
    };
    m.add_query(Query::query(origin.clone(), kind));
    if let Some(held) = base {
        // RFC 1995 §3: the SOA we hold, in the authority section.
        m.add_authority(Record::from_rdata(
            origin.clone(),
            0,
            RData::SOA(held.soa.clone()),
        ));
    }
    let mut mac = Vec::new();
    if let Some(k) = key {
        m.finalize(k.signer(), crate::tsig::now())
            .map_err(|e| invalid(format!("cannot sign the request: {e}")))?;
        mac = m
            .signature()
            .map(|s| s.data.mac.clone())
            .unwrap_or_default();
    }
    let bytes = m
        .to_vec()
        .map_err(|e| invalid(format!("cannot encode the request: {e}")))?;
    Ok((bytes, mac))
}

/// The TSIG chain of a transfer's messages (RFC 8945 §5.3.1): the first message's MAC covers
/// the request's MAC and the whole TSIG; each later signed one the prior MAC, every unsigned
/// message since, itself and its timers.
struct Chain {
    signer: TSigner,
    prior_mac: Vec<u8>,
    unsigned: Vec<u8>,
    unsigned_run: usize,
    first: bool,
}

impl Chain {
    fn new(signer: TSigner, request_mac: Vec<u8>) -> Self {
        Self {
            signer,
            prior_mac: request_mac,
            unsigned: Vec::new(),
            unsigned_run: 0,
            first: true,
        }
    }

    fn message(&mut self, bytes: &[u8], signed: bool) -> Result<(), RefreshError> {
        if !signed {
            if self.first {
                return Err(invalid("the transfer's first message is not signed"));
            }
            self.unsigned_run += 1;
            if self.unsigned_run > MAX_UNSIGNED_RUN {
                return Err(invalid(
                    "more than 99 unsigned messages in a row in a signed transfer",
                ));
            }
            self.unsigned.extend_from_slice(bytes);
            return Ok(());
        }
        let (tbv, record) = signed_bitmessage_to_buf(bytes, None, self.first)
            .map_err(|e| invalid(format!("a TSIG that cannot be read: {e}")))?;
        let tsig = &record.data;
        if record.name.to_lowercase() != *self.signer.signer_name()
            || tsig.algorithm != *self.signer.algorithm()
        {
            return Err(invalid(format!(
                "a message signed with another key ({})",
                record.name
            )));
        }
        if let Some(e) = &tsig.error {
            return Err(invalid(format!("the primary answered TSIG error {e:?}")));
        }
        let mut buf =
            Vec::with_capacity(2 + self.prior_mac.len() + self.unsigned.len() + tbv.len());
        buf.extend_from_slice(
            &u16::try_from(self.prior_mac.len())
                .unwrap_or(0)
                .to_be_bytes(),
        );
        buf.extend_from_slice(&self.prior_mac);
        buf.extend_from_slice(&self.unsigned);
        buf.extend_from_slice(&tbv);
        self.signer
            .verify(&buf, &tsig.mac)
            .map_err(|_| invalid("a message's TSIG does not verify (BADSIG)"))?;
        let now = crate::tsig::now();
        if now.abs_diff(tsig.time) > u64::from(tsig.fudge) {
            return Err(invalid(
                "a message's TSIG time is outside its fudge (BADTIME)",
            ));
        }
        self.prior_mac = tsig.mac.clone();
        self.unsigned.clear();
        self.unsigned_run = 0;
        self.first = false;
        Ok(())
    }

    /// The last message must be signed.
    fn finish(&self) -> Result<(), RefreshError> {
        if self.first || !self.unsigned.is_empty() {
            return Err(invalid("the transfer's last message is not signed"));
        }
        Ok(())
    }
}

/// Where the records of a transfer stand (RFC 5936 §2.2, RFC 1995 §4).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing read.
    #[default]
    Start,
    /// The first SOA read: the next record tells an AXFR from an IXFR.
    First,
    /// Inside an AXFR.
    Axfr,
    /// Inside an IXFR sequence's deletions (after its old SOA).
    Deleting,
    /// Inside an IXFR sequence's additions (after its new SOA).
    Adding,
    /// The closing SOA read.
    Done,
}

/// The records of one transfer, as they arrive.
#[derive(Default)]
struct Assembly {
    origin: Name,
    primary: Option<SocketAddr>,
    id: u16,
    chain: Option<Chain>,
    max_records: u64,
    /// What an IXFR applies to.
    base: Option<Held>,
    phase: Phase,
    /// The first SOA: the zone's new version.
    soa: Option<Record>,
    /// The serial the current IXFR sequence is at.
    at_serial: u32,
    merger: Merger,
    records: u64,
    ignored: u64,
    incremental: bool,
}

fn serial_of(r: &Record) -> Option<u32> {
    match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    }
}

fn merged(r: Result<bool, MergeError>) -> Result<bool, RefreshError> {
    r.map_err(|e| match e {
        MergeError::Encode => invalid("a record that cannot be re-encoded"),
        MergeError::TooLarge => invalid("the zone would take more than 4 GiB"),
    })
}

impl Assembly {
    fn run(
        mut self,
        mut rx: mpsc::Receiver<Result<Vec<u8>, RefreshError>>,
    ) -> Result<Received, RefreshError> {
        let mut messages = 0usize;
        while let Some(item) = rx.blocking_recv() {
            let bytes = item?;
            messages += 1;
            let answers = self.message(&bytes)?;
            let count = answers.len();
            for r in answers {
                if self.phase == Phase::Done {
                    return Err(invalid("records after the closing SOA"));
                }
                self.record(r)?;
            }
            if self.phase == Phase::Done || self.up_to_date(messages, count) {
                if let Some(c) = &self.chain {
                    c.finish()?;
                }
                return self.finish();
            }
        }
        Err(invalid(match self.phase {
            Phase::Start => "the primary closed the connection without an answer".to_string(),
            _ => format!(
                "the primary closed the connection before the closing SOA ({} records in {messages} messages)",
                self.records
            ),
        }))
    }

    /// An IXFR answered with the SOA alone, at a serial we hold.
    fn up_to_date(&self, messages: usize, count: usize) -> bool {
        let ours = self.base.as_ref().map(|h| h.soa.serial);
        let theirs = self.soa.as_ref().and_then(serial_of);
        messages == 1
            && count == 1
            && self.phase == Phase::First
            && matches!((ours, theirs), (Some(o), Some(t)) if crate::zone::secondary::serial_at_least(o, t))
    }

    /// Checks one message and gives its answer records.
    fn message(&mut self, bytes: &[u8]) -> Result<Vec<Record>, RefreshError> {
        let message = Message::from_vec(bytes)
            .map_err(|e| invalid(format!("a message that cannot be read: {e}")))?;
        let meta = &message.metadata;
        if meta.id != self.id {
            return Err(invalid(format!(
                "a message with ID {} (we asked with {})",
                meta.id, self.id
            )));
        }
        if meta.message_type != MessageType::Response || meta.truncation {
            return Err(invalid("a message that is not a whole response"));
        }
        if meta.response_code != ResponseCode::NoError {
            return Err(RefreshError::Rcode(meta.response_code));
        }
        if let Some(chain) = &mut self.chain {
            chain.message(bytes, message.signature().is_some())?;
        }
        Ok(message.answers)
    }

    /// One record, in order.
    fn record(&mut self, r: Record) -> Result<(), RefreshError> {
        self.records += 1;
        if self.records > self.max_records {
            return Err(invalid(format!(
                "the transfer passed max_records ({} records) before its end",
                self.max_records
            )));
        }
        let serial = serial_of(&r).filter(|_| r.name.to_lowercase() == self.origin);
        match (self.phase, serial) {
            (Phase::Start, Some(s)) => {
                self.at_serial = s;
                self.soa = Some(r);
                self.phase = Phase::First;
            }
            (Phase::Start, None) => {
                return Err(invalid("the transfer does not start with the zone's SOA"));
            }
            (Phase::First, Some(s))
                if self.base.is_some() && Some(s) != self.soa.as_ref().and_then(serial_of) =>
            {
                // RFC 1995 §4: a second SOA opens the first sequence: the serial we hold.
                let base = self.base.as_ref().expect("checked");
                if s != base.soa.serial {
                    return Err(invalid(format!(
                        "the IXFR starts from serial {s}; we hold {}",
                        base.soa.serial
                    )));
                }
                self.merger = merged_base(base)?;
                self.incremental = true;
                self.phase = Phase::Deleting;
            }
            (Phase::First | Phase::Axfr, Some(s)) => {
                if Some(s) != self.soa.as_ref().and_then(serial_of) {
                    return Err(invalid(format!(
                        "an AXFR with a second SOA of another serial ({s})"
                    )));
                }
                self.phase = Phase::Done;
            }
            (Phase::First | Phase::Axfr, None) => {
                self.phase = Phase::Axfr;
                self.add(&r)?;
            }
            (Phase::Deleting, Some(s)) => {
                self.at_serial = s;
                self.phase = Phase::Adding;
            }
            (Phase::Deleting, None) => {
                if self.in_zone(&r) && !merged(self.merger.remove(&r))? {
                    return Err(invalid(format!(
                        "the IXFR deletes a record we do not hold: {} {}",
                        r.name,
                        r.record_type()
                    )));
                }
            }
            (Phase::Adding, Some(s)) => {
                let last = self.soa.as_ref().and_then(serial_of);
                if Some(s) == last && self.at_serial == s {
                    self.phase = Phase::Done;
                } else if s == self.at_serial {
                    self.phase = Phase::Deleting;
                } else {
                    return Err(invalid(format!(
                        "an IXFR sequence starts from serial {s}, after one ending at {}",
                        self.at_serial
                    )));
                }
            }
            (Phase::Adding, None) => {
                self.add(&r)?;
            }
            (Phase::Done, _) => return Err(invalid("records after the closing SOA")),
        }
        Ok(())
    }

    fn in_zone(&self, r: &Record) -> bool {
        r.dns_class == DNSClass::IN && self.origin.zone_of(&r.name)
    }

    fn add(&mut self, r: &Record) -> Result<(), RefreshError> {
        if r.record_type() == RecordType::SOA {
            return Err(invalid("a SOA for another name inside the zone's data"));
        }
        if !self.in_zone(r) {
            self.ignored += 1;
            return Ok(());
        }
        merged(self.merger.add(r)).map(|_| ())
    }

    fn finish(self) -> Result<Received, RefreshError> {
        let Some(soa) = self.soa.filter(|_| self.phase == Phase::Done) else {
            return Ok(Received::UpToDate);
        };
        let RData::SOA(data) = &soa.data else {
            return Err(invalid("the transfer does not start with the zone's SOA"));
        };
        let data = data.clone();
        let primary = self
            .primary
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let file = transfer_file(&self.origin, primary, data.serial);
        let records = self
            .merger
            .finish(&soa, file.clone())
            .map_err(|_| invalid("the zone would take more than 4 GiB"))?;
        Ok(Received::Zone(Box::new(Transferred {
            records,
            soa: data,
            kind: if self.incremental { "IXFR" } else { "AXFR" },
            ignored: self.ignored,
            file,
            took: Duration::ZERO,
        })))
    }
}

fn merged_base(base: &Held) -> Result<Merger, RefreshError> {
    Merger::from_packed(&base.records).map_err(|_| invalid("the zone held cannot be read back"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::merge::Merger;
    use hickory_proto::rr::rdata::A;

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    fn soa(serial: u32) -> Record {
        let o = origin();
        Record::from_rdata(
            o.clone(),
            3600,
            RData::SOA(SOA::new(o.clone(), o, serial, 60, 10, 600, 60)),
        )
    }

    fn a(name: &str, last: u8) -> Record {
        Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            300,
            RData::A(A::new(192, 0, 2, last)),
        )
    }

    /// A held zone of `records` (SOA first).
    fn held(records: &[Record]) -> Held {
        let mut m = Merger::new();
        for r in &records[1..] {
            m.add(r).unwrap();
        }
        let RData::SOA(data) = &records[0].data else {
            panic!("SOA first")
        };
        let file: Arc<Path> = Arc::from(Path::new("held"));
        Held {
            records: Arc::new(m.finish(&records[0], file.clone()).unwrap()),
            file,
            soa: data.clone(),
        }
    }

    /// Feeds `records` to an assembly (as one message) and finishes it.
    fn assemble(base: Option<Held>, records: Vec<Record>) -> Result<Received, RefreshError> {
        let mut asm = Assembly {
            origin: origin(),
            max_records: 1000,
            base,
            ..Assembly::default()
        };
        let count = records.len();
        for r in records {
            asm.record(r)?;
        }
        if asm.phase != Phase::Done && !asm.up_to_date(1, count) {
            return Err(invalid("unfinished"));
        }
        asm.finish()
    }

    fn zone_of(r: Result<Received, RefreshError>) -> (&'static str, Vec<Record>) {
        match r.expect("a whole transfer") {
            Received::Zone(t) => (
                t.kind,
                t.records.unpack().into_iter().map(|s| s.record).collect(),
            ),
            Received::UpToDate => panic!("a zone, not up to date"),
        }
    }

    #[test]
    fn an_axfr_is_the_records_between_the_soas_merged() {
        let www = a("www.example.com.", 1);
        let (kind, records) = zone_of(assemble(
            None,
            vec![soa(5), www.clone(), www.clone(), soa(5)],
        ));
        assert_eq!(kind, "AXFR");
        assert_eq!(records, vec![soa(5), www]);
    }

    #[test]
    fn an_ixfr_applies_each_sequence_in_turn() {
        let base = held(&[soa(1), a("www.example.com.", 1), a("www.example.com.", 2)]);
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
        let (kind, records) = zone_of(assemble(Some(base), answers));
        assert_eq!(kind, "IXFR");
        assert_eq!(
            records,
            vec![soa(3), a("www.example.com.", 3), a("api.example.com.", 9)]
        );
    }

    #[test]
    fn what_is_not_a_whole_transfer_fails() {
        let base = || Some(held(&[soa(1), a("www.example.com.", 1)]));
        // From another serial; deleting what we do not hold; data after the closing SOA.
        assert!(assemble(base(), vec![soa(3), soa(2), soa(3), soa(3)]).is_err());
        assert!(
            assemble(
                base(),
                vec![soa(2), soa(1), a("www.example.com.", 7), soa(2), soa(2)]
            )
            .is_err()
        );
        assert!(assemble(None, vec![soa(2), soa(2), a("x.example.com.", 1)]).is_err());
        assert!(assemble(None, vec![soa(2), a("x.example.com.", 1)]).is_err());
        assert!(assemble(None, vec![a("x.example.com.", 1)]).is_err());
        // The SOA alone, at the serial held: up to date.
        assert!(matches!(
            assemble(base(), vec![soa(1)]),
            Ok(Received::UpToDate)
        ));
        // Out of the zone: left out and counted.
        match assemble(None, vec![soa(4), a("www.example.net.", 1), soa(4)]).unwrap() {
            Received::Zone(t) => {
                assert_eq!(t.ignored, 1);
                assert_eq!(t.records.len(), 1);
            }
            Received::UpToDate => panic!("a zone"),
        }
    }

    #[test]
    fn more_than_max_records_fails_at_the_limit() {
        let mut asm = Assembly {
            origin: origin(),
            max_records: 3,
            ..Assembly::default()
        };
        asm.record(soa(1)).unwrap();
        asm.record(a("a.example.com.", 1)).unwrap();
        asm.record(a("a.example.com.", 1)).unwrap();
        let e = asm.record(a("a.example.com.", 1)).unwrap_err();
        assert!(e.to_string().contains("max_records"), "{e}");
    }

    /// A response message with `answers`, as octets.
    fn message(id: u16, answers: Vec<Record>) -> Message {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.add_answers(answers);
        m
    }

    #[test]
    fn a_tsig_chain_with_unsigned_messages_between_verifies_and_a_changed_one_fails() {
        use hickory_proto::rr::rdata::tsig::{TSIG, make_tsig_record};
        let raw = crate::config::RawTsig {
            name: "xfr-key".into(),
            algorithm: "hmac-sha256".into(),
            secret_file: None,
            secret: Some("c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into()),
        };
        let key = TsigKey::read(&raw, Path::new(".")).unwrap();
        let (request, request_mac) = request(42, &origin(), Some(&key), None).unwrap();
        let parsed = Message::from_vec(&request).unwrap();
        let crate::tsig::Check::Signed(mut signer) =
            crate::tsig::check(&request, &parsed, Some(&key))
        else {
            panic!("the request verifies")
        };
        // Message 1 signed (chained to the request), 2 unsigned, 3 signed over the MAC of 1,
        // all of 2, and 3 (as NSD signs every hundredth message).
        let one = signer.sign(message(42, vec![soa(1)])).unwrap();
        let prior = Message::from_vec(&one)
            .unwrap()
            .signature()
            .unwrap()
            .data
            .mac
            .clone();
        let two = message(42, vec![a("a.example.com.", 1)]).to_vec().unwrap();
        let mut three = message(42, vec![soa(1)]);
        let unsigned_three = three.to_vec().unwrap();
        let now = crate::tsig::now();
        let mut tbs = (prior.len() as u16).to_be_bytes().to_vec();
        tbs.extend_from_slice(&prior);
        tbs.extend_from_slice(&two);
        tbs.extend_from_slice(&unsigned_three);
        tbs.extend_from_slice(&((now >> 32) as u16).to_be_bytes());
        tbs.extend_from_slice(&(now as u32).to_be_bytes());
        tbs.extend_from_slice(&key.signer().fudge().to_be_bytes());
        let mac = key.signer().sign(&tbs).unwrap();
        let tsig = TSIG::new(
            key.signer().algorithm().clone(),
            now,
            key.signer().fudge(),
            mac,
            42,
            None,
            Vec::new(),
        );
        three.set_signature(Box::new(make_tsig_record(key.name().clone(), tsig)));
        let three = three.to_vec().unwrap();

        let mut chain = Chain::new(key.signer().clone(), request_mac.clone());
        chain.message(&one, true).unwrap();
        assert!(
            chain.finish().is_ok(),
            "one signed message is a whole chain"
        );
        chain.message(&two, false).unwrap();
        assert!(chain.finish().is_err(), "the last message must be signed");
        chain.message(&three, true).expect("the chain verifies");
        chain.finish().unwrap();

        let mut changed = two.clone();
        *changed.last_mut().unwrap() ^= 1;
        let mut chain = Chain::new(key.signer().clone(), request_mac.clone());
        chain.message(&one, true).unwrap();
        chain.message(&changed, false).unwrap();
        assert!(
            chain.message(&three, true).is_err(),
            "a changed message fails"
        );

        let mut chain = Chain::new(key.signer().clone(), request_mac);
        assert!(
            chain.message(&two, false).is_err(),
            "the first must be signed"
        );
    }
}
