//! The UDP fast path is an optimisation of the general path, never a second specification:
//! for every question it answers, its response must be the general path's, byte for byte (the
//! same ID and the same draws: both paths start from the same seeded RNG).
//!
//! Questions are every name of the fixture zones (and names below them that do not exist) in
//! several spellings, for many types, with and without EDNS, DO, ECS and RD; the sweep also
//! checks that the fast path really answers each kind of answer (positive, NODATA, NXDOMAIN,
//! referral, pool, ECS), so that the equality is not won by falling back every time.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use dnslb::dns::{DnsHandler, Worker};
use hickory_proto::rr::Name;
use proptest::prelude::*;

/// A config with pools of every policy that draws per query (round-robin is left out: its
/// state advances per answer, so two paths asked in turn draw differently by design).
const STEERING: &str = r#"
[server]
listen = ["127.0.0.1:0"]
zones = "zones"
watch = false

[[pool]]
name = "hash.example.com."
type = "A"
policy = "hash"
ecs = true
answers = 2
members = [
  { address = "192.0.2.1", weight = 1 },
  { address = "192.0.2.2", weight = 2 },
  { address = "192.0.2.3", weight = 1 },
]

[[pool]]
name = "failover.example.com."
type = "AAAA"
policy = "failover"
members = [
  { address = "2001:db8::1", weight = 1, priority = 1 },
  { address = "2001:db8::2", weight = 1, priority = 2 },
]

[[pool]]
name = "region.example.com."
type = "A"
policy = "region"
ecs = true
regions = { eu = ["10.0.0.0/8"], us = ["2001:db8::/32"] }
members = [
  { address = "192.0.2.10", weight = 1, region = "eu" },
  { address = "192.0.2.20", weight = 1, region = "us" },
]
"#;

/// Types asked: the usual ones, ones no zone has, and meta types (IXFR, AXFR, OPT), which have
/// rules of their own (the fuzzer found IXFR below a cut answered as a referral).
const TYPES: [u16; 21] = [
    1, 28, 5, 15, 16, 2, 6, 33, 12, 43, 255, 65, 257, 29, 39, 65_280, 46, 99, 251, 252, 41,
];

fn fixture_handler(config: &Path) -> (DnsHandler, Vec<Name>) {
    let loaded = dnslb::load::load(config, None, &Default::default()).expect("fixture loads");
    let mut names = BTreeSet::new();
    for zone in loaded.snapshot.zones() {
        for (name, _) in zone.nodes() {
            names.insert(name.clone());
        }
    }
    let handler = DnsHandler::new(
        Arc::new(ArcSwap::from_pointee(loaded.snapshot)),
        Arc::default(),
        Default::default(),
    );
    // Names that do not exist, below names that do.
    let mut all: Vec<Name> = names.iter().cloned().collect();
    for n in &names {
        for label in ["nope", "a-much-longer-label-than-the-others", "*"] {
            if let Ok(child) = n.prepend_label(label) {
                all.push(child);
            }
        }
    }
    all.push(Name::from_ascii("outside.invalid.").unwrap());
    (handler, all)
}

fn steering_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dnslb.toml"), STEERING).unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(
        dir.path().join("zones/example.com.zone"),
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\nstatic A 192.0.2.99\nmail MX 10 ns1\n",
    )
    .unwrap();
    dir
}

/// The EDNS variants a question is asked with.
#[derive(Debug, Clone, Copy)]
enum Edns {
    None,
    Plain { payload: u16, dnssec_ok: bool },
    Subnet { family: u16, source: u8 },
}

const EDNS: [Edns; 8] = [
    Edns::None,
    Edns::Plain {
        payload: 1232,
        dnssec_ok: false,
    },
    Edns::Plain {
        payload: 512,
        dnssec_ok: true,
    },
    Edns::Plain {
        payload: 4096,
        dnssec_ok: false,
    },
    Edns::Subnet {
        family: 1,
        source: 24,
    },
    Edns::Subnet {
        family: 1,
        source: 20,
    },
    Edns::Subnet {
        family: 2,
        source: 56,
    },
    Edns::Subnet {
        family: 1,
        source: 0,
    },
];

/// A query message written octet by octet: `name` spelled with `case` (bit i: upper-case the
/// i-th letter).
fn query(id: u16, rd: bool, name: &Name, case: u64, qtype: u16, edns: Edns) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.push(u8::from(rd));
    m.push(0);
    let additional = u16::from(!matches!(edns, Edns::None));
    for count in [1u16, 0, 0, additional] {
        m.extend_from_slice(&count.to_be_bytes());
    }
    let mut letter = 0;
    for label in name.iter() {
        m.push(label.len() as u8);
        for &b in label {
            let b = b.to_ascii_lowercase();
            if b.is_ascii_alphabetic() {
                let upper = case >> (letter % 64) & 1 == 1;
                letter += 1;
                m.push(if upper { b.to_ascii_uppercase() } else { b });
            } else {
                m.push(b);
            }
        }
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    match edns {
        Edns::None => {}
        Edns::Plain { payload, dnssec_ok } => {
            m.extend_from_slice(&[0, 0, 41]);
            m.extend_from_slice(&payload.to_be_bytes());
            m.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        Edns::Subnet { family, source } => {
            let addr: &[u8] = if family == 1 {
                &[10, 1, 2, 3]
            } else {
                &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x12, 0x34]
            };
            let mut addr = addr[..usize::from(source.div_ceil(8))].to_vec();
            if source % 8 != 0
                && let Some(last) = addr.last_mut()
            {
                *last &= 0xff << (8 - source % 8);
            }
            let len = 4 + addr.len() as u16;
            m.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
            m.extend_from_slice(&(4 + len).to_be_bytes());
            m.extend_from_slice(&8u16.to_be_bytes());
            m.extend_from_slice(&len.to_be_bytes());
            m.extend_from_slice(&family.to_be_bytes());
            m.extend_from_slice(&[source, 0]);
            m.extend_from_slice(&addr);
        }
    }
    m
}

/// Asks both paths with the same seed; `Some(response)` when the fast path answered (and the
/// general path gave the same octets).
fn both(handler: &DnsHandler, worker: &mut Worker, message: &[u8], seed: u64) -> Option<Vec<u8>> {
    let peer: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    worker.reseed(seed);
    let fast = handler.answer_fast(worker, message, peer)?;
    worker.reseed(seed);
    let general = handler.answer_general(worker, message, peer, false);
    assert_eq!(
        fast, general,
        "the fast path differs from the general path for {message:?}"
    );
    fast
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}/dnslb.toml"))
}

/// What kinds of answers the fast path gave.
#[derive(Debug, Default)]
struct Seen {
    positive: usize,
    nodata: usize,
    nxdomain: usize,
    referral: usize,
    ecs: usize,
    mixed_case: usize,
    wildcard: usize,
    fast: usize,
    asked: usize,
}

impl Seen {
    fn add(&mut self, response: &[u8], ecs: bool, mixed_case: bool, synthesised: bool) {
        self.fast += 1;
        let aa = response[2] & 0x04 != 0;
        let rcode = response[3] & 0x0f;
        let answers = u16::from_be_bytes([response[6], response[7]]);
        match (rcode, aa, answers) {
            (3, _, _) => self.nxdomain += 1,
            (0, false, _) => self.referral += 1,
            (0, true, 0) => self.nodata += 1,
            (0, true, _) => self.positive += 1,
            _ => {}
        }
        self.ecs += usize::from(ecs);
        self.mixed_case += usize::from(mixed_case && answers > 0);
        self.wildcard += usize::from(synthesised && rcode == 0 && aa && answers > 0);
    }
}

#[tokio::test]
async fn every_name_and_type_of_the_fixtures_answers_alike_on_both_paths() {
    let steering = steering_dir();
    let configs = [
        fixture("core"),
        fixture("fidelity"),
        fixture("pools"),
        steering.path().join("dnslb.toml"),
    ];
    let mut seen = Seen::default();
    let mut seed = 1u64;
    for config in &configs {
        let (handler, names) = fixture_handler(config);
        let mut worker = handler.worker();
        for name in &names {
            for qtype in TYPES {
                for (e, edns) in EDNS.iter().enumerate() {
                    for case in [0u64, u64::MAX, 0x5555_5555_5555_5555] {
                        seed += 1;
                        let id = (seed as u16).wrapping_mul(31_337);
                        let msg = query(id, seed.is_multiple_of(3), name, case, qtype, *edns);
                        seen.asked += 1;
                        if let Some(response) = both(&handler, &mut worker, &msg, seed) {
                            let first = name.iter().next().unwrap_or_default();
                            let synthesised = first == b"nope" || first.len() > 30;
                            seen.add(&response, e >= 4, case != 0, synthesised);
                        }
                    }
                }
            }
        }
    }
    eprintln!("{seen:?}");
    // The fast path must carry most of it, and every kind.
    assert!(seen.fast * 2 > seen.asked, "{seen:?}");
    for (kind, n) in [
        ("positive", seen.positive),
        ("nodata", seen.nodata),
        ("nxdomain", seen.nxdomain),
        ("referral", seen.referral),
        ("ecs", seen.ecs),
        ("mixed-case positive", seen.mixed_case),
        ("wildcard", seen.wildcard),
    ] {
        assert!(
            n > 0,
            "the fast path never answered a {kind} question: {seen:?}"
        );
    }
}

/// The signed fixture (signed now with NSEC, NSEC3 and NSEC3 with opt-out): every name and
/// type, with and without DO, answers alike on both paths; with DO the fast path answers
/// positive, NODATA and referral questions from its own bodies, signatures and proofs included,
/// and with NSEC3 NXDOMAIN and wildcard answers with the proofs it writes per question.
#[tokio::test]
async fn signed_zones_answer_alike_on_both_paths_with_and_without_do() {
    if !common::have_tool("ldns-signzone") {
        return;
    }
    let edns = [
        Edns::None,
        Edns::Plain {
            payload: 1232,
            dnssec_ok: false,
        },
        Edns::Plain {
            payload: 1232,
            dnssec_ok: true,
        },
        Edns::Plain {
            payload: 512,
            dnssec_ok: true,
        },
    ];
    for denial in [
        common::Denial::Nsec,
        common::Denial::Nsec3,
        common::Denial::Nsec3OptOut,
    ] {
        let keys = tempfile::tempdir().unwrap();
        let (all, _) = common::signed_fixture(keys.path(), denial);
        let (mut seen, mut signed) = (Seen::default(), Seen::default());
        let mut seed = 1u64;
        // With the unsigned child served beside (its names are the general path's with DO),
        // and without it (the parent's delegations answer referrals).
        for children in [true, false] {
            let zones: Vec<(String, String)> = all
                .iter()
                .filter(|(origin, _)| children || origin != "insecure.example.com")
                .cloned()
                .collect();
            let dir = common::dir_with_origins("", &zones);
            let (handler, names) = fixture_handler(&dir.path().join("dnslb.toml"));
            let mut worker = handler.worker();
            for name in &names {
                for qtype in TYPES {
                    for e in edns {
                        for case in [0u64, 0x5555_5555_5555_5555] {
                            seed += 1;
                            let msg = query(seed as u16, true, name, case, qtype, e);
                            seen.asked += 1;
                            let Some(response) = both(&handler, &mut worker, &msg, seed) else {
                                continue;
                            };
                            let first = name.iter().next().unwrap_or_default();
                            let synthesised = first == b"nope" || first.len() > 30;
                            seen.add(&response, false, case != 0, synthesised);
                            if matches!(
                                e,
                                Edns::Plain {
                                    dnssec_ok: true,
                                    ..
                                }
                            ) {
                                signed.add(&response, false, case != 0, synthesised);
                            }
                        }
                    }
                }
            }
        }
        eprintln!("{denial:?}: all {seen:?}\nwith DO {signed:?}");
        // NXDOMAIN with DO (its proof names the name asked) is the general path's.
        assert!(seen.fast * 3 > seen.asked, "{seen:?}");
        // With NSEC3, NXDOMAIN too (the proofs written per question).
        let nsec3 = denial != common::Denial::Nsec;
        for (kind, n) in [
            ("positive", signed.positive),
            ("nodata", signed.nodata),
            ("referral", signed.referral),
            ("mixed-case positive", signed.mixed_case),
            ("nxdomain", if nsec3 { signed.nxdomain } else { 1 }),
            ("wildcard", if nsec3 { signed.wildcard } else { 1 }),
        ] {
            assert!(
                n > 0,
                "with DO the fast path never answered {kind}: {signed:?}"
            );
        }
    }
}

/// The answer section of `response` (its records' octets as parsed), and whether TC is set.
fn answer_section(response: &[u8]) -> (Vec<hickory_proto::rr::Record>, bool) {
    let m = hickory_proto::op::Message::from_vec(response).expect("a response that parses");
    (m.answers, m.metadata.truncation)
}

/// Whatever the payload size a client allows, a UDP answer is the TCP answer's answer section,
/// or says TC: optional additional data may be dropped to fit, never the answer (RFC 2181 §9).
/// Both asked with the same seed, so pools draw alike.
fn check_udp_within_tcp(handler: &DnsHandler, names: &[Name], payloads: &[Edns]) -> usize {
    let peer: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let mut worker = handler.worker();
    let mut compared = 0;
    for name in names {
        for qtype in TYPES {
            if matches!(qtype, 251 | 252 | 41) {
                continue; // transfers and OPT have no UDP answer to compare
            }
            for (i, edns) in payloads.iter().enumerate() {
                let seed = compared as u64 + i as u64;
                let msg = query(7, false, name, 0, qtype, *edns);
                worker.reseed(seed);
                let Some(udp) = handler.answer(&mut worker, &msg, peer, false) else {
                    continue;
                };
                worker.reseed(seed);
                let tcp = handler
                    .answer(&mut worker, &msg, peer, true)
                    .expect("TCP answers");
                let (udp_answers, tc) = answer_section(&udp);
                let (tcp_answers, _) = answer_section(&tcp);
                assert!(
                    tc || udp_answers == tcp_answers,
                    "{name} type {qtype} with {edns:?}: UDP {udp_answers:?} is neither TC nor TCP's {tcp_answers:?}"
                );
                compared += 1;
            }
        }
    }
    compared
}

#[tokio::test]
async fn every_udp_answer_is_the_tcp_answer_or_truncated() {
    let steering = steering_dir();
    let payloads: Vec<Edns> = std::iter::once(Edns::None)
        .chain([512, 600, 900, 1232, 4096].map(|payload| Edns::Plain {
            payload,
            dnssec_ok: false,
        }))
        .collect();
    let mut compared = 0;
    for config in [
        fixture("core"),
        fixture("fidelity"),
        fixture("pools"),
        steering.path().join("dnslb.toml"),
    ] {
        let (handler, names) = fixture_handler(&config);
        compared += check_udp_within_tcp(&handler, &names, &payloads);
    }
    assert!(compared > 10_000, "{compared} questions compared");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// The UDP answer is TCP's or TC, at random payload sizes, over the core fixture.
    #[test]
    fn udp_answers_at_random_payload_sizes_are_tcps_or_truncated(
        payload in 512u16..=4096,
        pick in 0usize..1000,
    ) {
        let (handler, names) = fixture_handler(&fixture("core"));
        let name = names[pick % names.len()].clone();
        let edns = [Edns::Plain { payload, dnssec_ok: false }];
        check_udp_within_tcp(&handler, &[name], &edns);
    }

    /// Random IDs, flags, spellings and seeds over the pools fixture.
    #[test]
    fn random_questions_answer_alike_on_both_paths(
        pick in 0usize..1000,
        qtype in prop::sample::select(&TYPES[..]),
        edns in 0usize..EDNS.len(),
        case: u64,
        id: u16,
        rd: bool,
        seed: u64,
    ) {
        let (handler, names) = fixture_handler(&fixture("pools"));
        let mut worker = handler.worker();
        let name = &names[pick % names.len()];
        let msg = query(id, rd, name, case, qtype, EDNS[edns]);
        both(&handler, &mut worker, &msg, seed);
    }
}
