//! Fuzzing, bounded, in every test run: a million generated packets through the packet path, and
//! a million generated zone-file lines through the loader. No input may panic either; the server
//! never answers a packet that NSD drops (shorter than a header, or QR set); every answer is a
//! well-formed response to the query's ID, within the UDP size limit.
//!
//! The packets are mutations of real queries (bit flips, lying counts, compression pointers,
//! truncation, junk) and plain random octets, from a seeded generator; `DNSLB_FUZZ_SEED` picks
//! another seed, `DNSLB_FUZZ_COUNT` another count.

mod common;

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

/// xorshift64*: small, seeded, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Valid queries to start mutations from.
fn seeds() -> Vec<Vec<u8>> {
    let names = [
        "www.example.com.",
        "alias.example.com.",
        "nothere.example.com.",
        "www.sub.example.com.",
        "big.example.com.",
        "c0.short.test.",
        "example.org.",
    ];
    let types = [
        RecordType::A,
        RecordType::ANY,
        RecordType::TXT,
        RecordType::DS,
    ];
    let mut out = Vec::new();
    for n in names {
        for t in types {
            for edns in [None, Some(1232), Some(4096)] {
                out.push(query_message(n, t, edns).to_vec().unwrap());
            }
        }
    }
    out
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(8) == 0 {
        let len = rng.below(600);
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let mut m = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
            1 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            2 => m.truncate(rng.below(m.len() + 1)),
            3 if m.len() >= 12 => {
                // Lying counts.
                let i = 4 + 2 * rng.below(4);
                m[i] = rng.next() as u8;
                m[i + 1] = rng.next() as u8;
            }
            4 if m.len() >= 14 => {
                // A compression pointer somewhere in the question.
                let i = 12 + rng.below(m.len() - 13);
                m[i] = 0xc0 | (rng.next() as u8 & 0x3f);
                m[i + 1] = rng.next() as u8;
            }
            5 => {
                let extra = rng.below(40);
                m.extend((0..extra).map(|_| rng.next() as u8));
            }
            _ if m.len() > 2 => m[2] &= 0x7f, // QR clear, so that it is parsed
            _ => {}
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_packets_never_panic_and_never_get_an_answer_nsd_would_not_send() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/core/dnslb.toml");
    let loaded = dnslb::load::load(&path, None, &Default::default()).expect("fixture loads");
    let handler = dnslb::dns::DnsHandler::new(
        Arc::new(ArcSwap::from_pointee(loaded.snapshot)),
        Arc::default(),
        Default::default(),
    );
    let mut worker = handler.worker();
    let seeds = seeds();
    let count = env_number("DNSLB_FUZZ_COUNT", 1_000_000);
    let mut rng = Rng(env_number("DNSLB_FUZZ_SEED", 0x9e37_79b9_7f4a_7c15) | 1);
    let peer = "127.0.0.1:5353".parse().unwrap();
    let (mut answered, mut dropped, mut fast_answered) = (0u64, 0u64, 0u64);
    let started = std::time::Instant::now();
    for i in 0..count {
        let packet = mutate(&mut rng, &seeds);
        let tcp = i % 16 == 0;
        let reply = handler.answer(&mut worker, &packet, peer, tcp);
        if !tcp {
            // The fast path answers only what it answers exactly as the general path would
            // (seeded alike: a pool's draw is the same on both).
            worker.reseed(i);
            if let Some(fast) = handler.answer_fast(&mut worker, &packet, peer) {
                fast_answered += 1;
                worker.reseed(i);
                let general = handler.answer_general(&mut worker, &packet, peer, false);
                assert_eq!(fast, general, "the fast path differs for {packet:?}");
            }
        }
        let nsd_drops = packet.len() < 12 || packet[2] & 0x80 != 0;
        match reply {
            None => dropped += 1,
            Some(reply) => {
                answered += 1;
                assert!(!nsd_drops, "answered a packet NSD drops: {packet:?}");
                assert!(reply.len() >= 12, "{packet:?}");
                assert_eq!(reply[..2], packet[..2], "the ID: {packet:?}");
                assert!(reply[2] & 0x80 != 0, "QR set: {packet:?}");
                if !tcp {
                    assert!(
                        reply.len() <= 1232,
                        "{} octets over UDP: {packet:?}",
                        reply.len()
                    );
                }
                Message::from_vec(&reply)
                    .unwrap_or_else(|e| panic!("a malformed reply ({e}) to {packet:?}: {reply:?}"));
            }
        }
    }
    eprintln!(
        "{count} packets in {:?}: {answered} answered, {dropped} dropped, {fast_answered} by the fast path",
        started.elapsed()
    );
    assert!(
        fast_answered > count / 100,
        "the mutations reach the fast path ({fast_answered})"
    );
    assert!(
        answered > count / 4 && dropped > count / 50,
        "the mutations reach both outcomes"
    );
}

/// Zone-file lines: fragments of valid entries and directives, mixed with junk.
fn zone_line(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "@",
        "www",
        "a.b",
        "*",
        "\\#",
        "4",
        "0a000001",
        "IN",
        "CH",
        "CLASS1",
        "3600",
        "1h30m",
        "A",
        "AAAA",
        "TXT",
        "MX",
        "SRV",
        "CNAME",
        "NS",
        "SOA",
        "LOC",
        "URI",
        "SPF",
        "CAA",
        "DS",
        "TYPE65280",
        "192.0.2.1",
        "2001:db8::1",
        "\"q\\\"s\"",
        "\"\\226\\128\"",
        "( 1 2 )",
        ";c",
        "$ORIGIN",
        "$TTL",
        "$INCLUDE",
        "sub",
        "\\000",
        "\\255x",
        "x\\.y",
        "10",
        "52",
        "N",
        "E",
        "issue",
        "\"ca.example\"",
        "-24m",
        "ns1.example.com.",
        "mail",
        ".",
        "..",
        "\\",
    ];
    let mut line = String::new();
    if rng.below(3) == 0 {
        line.push(' ');
    }
    for _ in 0..rng.below(8) {
        if rng.below(10) == 0 {
            // Any printable octet but those that would make the rest of the file one entry.
            let c = char::from(33 + rng.below(94) as u8);
            if !matches!(c, '(' | ')' | '"' | '\\') {
                line.push(c);
            }
        } else {
            line.push_str(PIECES[rng.below(PIECES.len())]);
        }
        line.push(' ');
    }
    line
}

#[test]
fn a_million_zone_lines_never_panic_the_loader() {
    let lines = env_number("DNSLB_FUZZ_COUNT", 1_000_000);
    let per_file = 2_000;
    let mut rng = Rng(env_number("DNSLB_FUZZ_SEED", 0x2545_f491_4f6c_dd1d) | 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.com.zone");
    let origin = Name::from_ascii("example.com.").unwrap();
    let (mut records, mut problems) = (0usize, 0usize);
    for _ in 0..lines.div_ceil(per_file) {
        let mut text = format!("$TTL 60\n{MINIMAL_ZONE}");
        for _ in 0..per_file {
            text.push_str(&zone_line(&mut rng));
            text.push('\n');
        }
        std::fs::write(&path, &text).unwrap();
        let parsed = dnslb::zone::parse_zone_file(&path, &origin);
        for r in parsed.records.iter() {
            assert!(
                origin.zone_of(&r.record.name),
                "{} outside the zone",
                r.record.name
            );
        }
        records += parsed.records.len();
        problems += parsed.errors.len();
    }
    eprintln!("{lines} lines: {records} records, {problems} problems");
    assert!(records > 0 && problems > 0);
}
