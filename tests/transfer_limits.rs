//! dnslb as a secondary of a primary that misbehaves: a primary of the test's own on loopback
//! (UDP for the SOA, TCP for the transfer) that never ends a transfer, drips it a message a
//! second, sends more than `max_records`, or stops before the closing SOA. In every case the
//! last good zone keeps serving and `/status` says why; an endless stream ends at the limit with
//! memory bounded (records are merged as they arrive), a slow one completes. A flood of NOTIFYs
//! causes a bounded number of SOA queries, counted in `/metrics`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

/// How the primary sends its next transfer.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// The zone with `names` hosts, in messages of 100 records.
    Whole { names: usize },
    /// The SOA, then the same message of 100 records again and again, never the closing SOA.
    Endless,
    /// The zone with `messages` × 100 hosts, one message every `every`.
    Drip { messages: usize, every: Duration },
    /// The zone with `names` hosts but the closing SOA, then the connection closed.
    Cut { names: usize },
}

struct State {
    serial: u32,
    behaviour: Behaviour,
}

/// A primary of the test's own on a loopback port; its tasks end when it is dropped.
struct Primary {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    soa_queries: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Primary {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn origin() -> Name {
    Name::from_ascii("example.com.").unwrap()
}

fn soa(serial: u32) -> Record {
    let o = origin();
    Record::from_rdata(
        o.clone(),
        300,
        RData::SOA(SOA::new(
            Name::from_ascii("ns1.example.com.").unwrap(),
            Name::from_ascii("hostmaster.example.com.").unwrap(),
            serial,
            3600,
            1,
            86400,
            60,
        )),
    )
}

fn host(i: usize) -> Record {
    Record::from_rdata(
        Name::from_ascii(format!("host{i}.example.com.")).unwrap(),
        300,
        RData::A(A::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)),
    )
}

/// The zone's records but its SOA: apex NS, the NS's address, `names` hosts.
fn body(names: usize) -> impl Iterator<Item = Record> {
    let ns = Name::from_ascii("ns1.example.com.").unwrap();
    [
        Record::from_rdata(origin(), 300, RData::NS(NS(ns.clone()))),
        Record::from_rdata(ns, 300, RData::A(A::new(192, 0, 2, 1))),
    ]
    .into_iter()
    .chain((0..names).map(host))
}

fn response(id: u16, records: Vec<Record>) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Response, OpCode::Query);
    m.metadata.authoritative = true;
    m.metadata.response_code = ResponseCode::NoError;
    m.add_answers(records);
    let bytes = m.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    framed
}

impl Primary {
    async fn start(serial: u32, behaviour: Behaviour) -> Primary {
        let (udp, tcp) = udp_and_tcp_on_one_port().await;
        let addr = tcp.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State { serial, behaviour }));
        let soa_queries = Arc::new(AtomicUsize::new(0));
        let (st, count) = (state.clone(), soa_queries.clone());
        let answer_soa = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let serial = st.lock().unwrap().serial;
                let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
                m.metadata.authoritative = true;
                m.add_queries(q.queries.clone());
                m.add_answer(soa(serial));
                let _ = udp.send_to(&m.to_vec().unwrap(), peer).await;
            }
        });
        let st = state.clone();
        let transfer = tokio::spawn(async move {
            while let Ok((mut conn, _)) = tcp.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    if conn.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if conn.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let id = u16::from_be_bytes([q[0], q[1]]);
                    let (serial, behaviour) = {
                        let s = st.lock().unwrap();
                        (s.serial, s.behaviour)
                    };
                    let _ = send(&mut conn, id, serial, behaviour).await;
                });
            }
        });
        Primary {
            addr,
            state,
            soa_queries,
            tasks: vec![answer_soa, transfer],
        }
    }

    fn set(&self, serial: u32, behaviour: Behaviour) {
        *self.state.lock().unwrap() = State { serial, behaviour };
    }
}

/// One transfer, as `behaviour` says (an IXFR request gets the zone in AXFR form).
async fn send(
    conn: &mut tokio::net::TcpStream,
    id: u16,
    serial: u32,
    behaviour: Behaviour,
) -> std::io::Result<()> {
    let chunks = |names: usize| -> Vec<Vec<Record>> {
        let all: Vec<Record> = body(names).collect();
        all.chunks(100).map(<[Record]>::to_vec).collect()
    };
    match behaviour {
        Behaviour::Whole { names } => {
            conn.write_all(&response(id, vec![soa(serial)])).await?;
            for c in chunks(names) {
                conn.write_all(&response(id, c)).await?;
            }
            conn.write_all(&response(id, vec![soa(serial)])).await?;
        }
        Behaviour::Endless => {
            conn.write_all(&response(id, vec![soa(serial)])).await?;
            let same = response(id, (0..100).map(host).collect());
            loop {
                conn.write_all(&same).await?;
            }
        }
        Behaviour::Drip { messages, every } => {
            conn.write_all(&response(id, vec![soa(serial)])).await?;
            for c in chunks(messages * 100 - 2) {
                tokio::time::sleep(every).await;
                conn.write_all(&response(id, c)).await?;
            }
            conn.write_all(&response(id, vec![soa(serial)])).await?;
        }
        Behaviour::Cut { names } => {
            conn.write_all(&response(id, vec![soa(serial)])).await?;
            for c in chunks(names) {
                conn.write_all(&response(id, c)).await?;
            }
            conn.shutdown().await?;
        }
    }
    Ok(())
}

async fn served_serial(addr: SocketAddr) -> Result<u32, ResponseCode> {
    zone_serial(addr, "example.com.").await
}

async fn status(s: &TestServer) -> serde_json::Value {
    secondary_status(s, "example.com.").await
}

/// dnslb, secondary of `primary` with `lines` in its `[[secondary]]`, serving serial 1 of the
/// whole zone (the last good version every case below must keep).
async fn secondary_of(primary: &Primary, lines: &str) -> TestServer {
    let s = start_dir(dir_with_zones(
        &format!(
            "[[secondary]]\nzone = \"example.com.\"\nprimaries = [\"{}\"]\n{lines}\n",
            primary.addr
        ),
        &[],
    ))
    .await;
    assert!(
        wait_until(Duration::from_secs(10), || async {
            served_serial(s.addr).await == Ok(1)
        })
        .await
        .is_some(),
        "serial 1 transferred: {}",
        status(&s).await
    );
    s
}

/// Has dnslb check the primary now (a NOTIFY from the primary's address) and waits until the
/// status error mentions `needle`.
async fn notify_and_wait_for_error(s: &TestServer, needle: &str, limit: Duration) -> bool {
    let mut m = Message::new(7, MessageType::Query, OpCode::Notify);
    m.add_query(Query::query(origin(), RecordType::SOA));
    udp_raw(s.addr, &m.to_vec().unwrap(), REPLY_TIMEOUT)
        .await
        .expect("NOTIFY answered");
    wait_until(limit, || async {
        status(s).await["error"]
            .as_str()
            .is_some_and(|e| e.contains(needle))
    })
    .await
    .is_some()
}

/// Serial 2 sent as `behaviour` says: refused with an error that mentions `needle`, while
/// serial 1 keeps serving.
async fn refused(s: &TestServer, primary: &Primary, behaviour: Behaviour, needle: &str) {
    primary.set(2, behaviour);
    assert!(
        notify_and_wait_for_error(s, needle, Duration::from_secs(10)).await,
        "{}",
        status(s).await
    );
    assert_eq!(
        served_serial(s.addr).await,
        Ok(1),
        "the last good zone serves"
    );
}

/// The resident size of this process.
fn rss_octets() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Only one test of this file at a time measures memory.
static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_transfer_ends_at_max_records_with_memory_bounded() {
    let _alone = MEMORY.lock().await;
    let primary = Primary::start(1, Behaviour::Whole { names: 10 }).await;
    let s = secondary_of(&primary, "max_records = 3000000").await;
    let before = rss_octets();
    primary.set(2, Behaviour::Endless);
    assert!(
        notify_and_wait_for_error(&s, "max_records", Duration::from_secs(60)).await,
        "the endless transfer ends at the limit: {}",
        status(&s).await
    );
    let grown = rss_octets().saturating_sub(before);
    eprintln!(
        "resident size grew by {} MB over 3,000,000 records received",
        grown >> 20
    );
    // As hickory Records (about 300 octets each) they would take 900 MB, packed but not merged
    // about 130 MB; merged, the 100 distinct ones take nothing, and what is read ahead is 16
    // messages.
    assert!(grown < 64 << 20, "grew by {} MB", grown >> 20);
    assert_eq!(
        served_serial(s.addr).await,
        Ok(1),
        "the last good zone serves"
    );
    let st = status(&s).await;
    assert_eq!(st["served_serial"], 1, "{st}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_max_records_fails_and_the_last_good_zone_serves() {
    let primary = Primary::start(1, Behaviour::Whole { names: 10 }).await;
    let s = secondary_of(&primary, "max_records = 5000").await;
    refused(
        &s,
        &primary,
        Behaviour::Whole { names: 6000 },
        "max_records (5000 records)",
    )
    .await;
    assert_eq!(
        udp(s.addr, "host5999.example.com.", RecordType::A)
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain,
        "nothing of the refused transfer is served"
    );
    // Within the limit, the same primary's next version loads.
    primary.set(3, Behaviour::Whole { names: 4000 });
    assert!(
        wait_until(Duration::from_secs(10), || async {
            served_serial(s.addr).await == Ok(3)
        })
        .await
        .is_some(),
        "the retry (SOA retry 1 s) loads serial 3: {}",
        status(&s).await
    );
    assert_eq!(
        addresses(&udp(s.addr, "host3999.example.com.", RecordType::A).await),
        ["10.0.15.159"]
    );
    let st = status(&s).await;
    assert!(
        st["error"].is_null(),
        "a transfer that loads clears the error: {st}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cut_before_its_closing_soa_fails() {
    let primary = Primary::start(1, Behaviour::Whole { names: 10 }).await;
    let s = secondary_of(&primary, "").await;
    refused(
        &s,
        &primary,
        Behaviour::Cut { names: 2000 },
        "before the closing SOA",
    )
    .await;
    let st = status(&s).await;
    assert_eq!(
        st["serial"], 1,
        "the held serial is the last good one: {st}"
    );
    assert_eq!(st["served_serial"], 1, "{st}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_transfer_completes_however_long_it_takes_in_all() {
    let primary = Primary::start(1, Behaviour::Whole { names: 10 }).await;
    let s = secondary_of(&primary, "idle_timeout = \"3s\"").await;
    // 35 messages a second apart: longer in all than the 30 s the old reader allowed, and
    // than the idle timeout many times over; each message comes within it.
    primary.set(
        2,
        Behaviour::Drip {
            messages: 35,
            every: Duration::from_secs(1),
        },
    );
    let started = std::time::Instant::now();
    let mut m = Message::new(7, MessageType::Query, OpCode::Notify);
    m.add_query(Query::query(origin(), RecordType::SOA));
    udp_raw(s.addr, &m.to_vec().unwrap(), REPLY_TIMEOUT).await;
    let took = wait_until(Duration::from_secs(60), || async {
        served_serial(s.addr).await == Ok(2)
    })
    .await;
    assert!(
        took.is_some(),
        "the slow transfer completed: {}",
        status(&s).await
    );
    assert!(started.elapsed() >= Duration::from_secs(34), "it did drip");
    assert_eq!(
        addresses(&udp(s.addr, "host3497.example.com.", RecordType::A).await),
        ["10.0.13.169"]
    );

    // A primary that goes silent for longer than the idle timeout fails it.
    primary.set(
        3,
        Behaviour::Drip {
            messages: 3,
            every: Duration::from_secs(5),
        },
    );
    assert!(
        notify_and_wait_for_error(&s, "idle_timeout", Duration::from_secs(15)).await,
        "{}",
        status(&s).await
    );
    assert_eq!(served_serial(s.addr).await, Ok(2));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_notifies_cause_a_bounded_number_of_soa_queries() {
    let primary = Primary::start(1, Behaviour::Whole { names: 10 }).await;
    let s = secondary_of(&primary, "").await;
    let before = primary.soa_queries.load(Ordering::Relaxed);
    let started = std::time::Instant::now();
    // From the primary's address (127.0.0.1, allowed), as fast as the socket goes; the answers
    // are read as they come, not awaited one by one.
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut m = Message::new(0, MessageType::Query, OpCode::Notify);
    m.add_query(Query::query(origin(), RecordType::SOA));
    let mut answered = 0;
    let mut buf = vec![0u8; 512];
    for i in 0..20_000u16 {
        m.metadata.id = i;
        sock.send_to(&m.to_vec().unwrap(), s.addr).await.unwrap();
        while sock.try_recv(&mut buf).is_ok() {
            answered += 1;
        }
        if i % 64 == 63 {
            // A breath, so that the sockets' buffers do not overflow and the flood arrives.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(200), sock.recv(&mut buf)).await
    {
        answered += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    // Let a pending check run.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let queries = primary.soa_queries.load(Ordering::Relaxed) - before;
    eprintln!("{answered} NOTIFYs answered in {seconds:.1} s; {queries} SOA queries");
    assert!(answered > 10_000, "dnslb answered the NOTIFYs ({answered})");
    // One check per half second at most, plus the one the first NOTIFY starts at once.
    assert!(
        (queries as f64) <= 2.0 * seconds + 4.0,
        "{queries} SOA queries for {answered} NOTIFYs in {seconds:.1} s"
    );
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    let coalesced = metrics
        .lines()
        .find(|l| {
            l.starts_with("dnslb_secondary_notify_total{") && l.contains("outcome=\"coalesced\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("the coalesced NOTIFYs are counted: {metrics}"));
    assert!(
        coalesced as usize + queries >= answered,
        "{coalesced} coalesced"
    );
    s.stop().await;
}
