//! Zone fidelity: names are sequences of arbitrary octets (RFC 1035 §3.1, RFC 2181 §11) and
//! every escape decodes; every fixture zone loads and `dnslb check` finds nothing in it; what NSD
//! and Knot refuse is refused with its line. The answers on the fixtures are compared with NSD's
//! in `tests/differential.rs`.

mod common;

use std::path::Path;

use common::*;
use hickory_proto::rr::{Name, RecordType};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// A label written so that the scanner must decode it: every octet as `\DDD`, except letters
/// and digits, which stay (mixing both forms).
fn escaped(label: &[u8]) -> String {
    label
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("\\{b:03}")
            }
        })
        .collect()
}

/// The zone `octets.test` with one A record per name (labels given as raw octets).
fn zone_with(names: &[Vec<Vec<u8>>]) -> String {
    let mut zone = format!("$ORIGIN octets.test.\n$TTL 60\n{MINIMAL_ZONE}");
    for (i, labels) in names.iter().enumerate() {
        let owner: Vec<String> = labels.iter().map(|l| escaped(l)).collect();
        zone.push_str(&format!(
            "{} A 192.0.{}.{}\n",
            owner.join("."),
            i / 250,
            i % 250 + 1
        ));
    }
    zone
}

/// The wire form of `labels` under `octets.test.`.
fn wire(labels: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels
        .iter()
        .map(Vec::as_slice)
        .chain([&b"octets"[..], b"test"])
    {
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

fn name_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.iter() {
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

/// A label of arbitrary octets that is not a wildcard.
fn label() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..12).prop_filter("not a wildcard", |l| l != b"*")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any name, written with escapes, reads back to the same wire octets.
    #[test]
    fn any_name_reads_back_to_its_octets(labels in prop::collection::vec(label(), 1..4)) {
        let dir = dir_with_zones("", &[("octets.test.zone", &zone_with(std::slice::from_ref(&labels)))]);
        let origin = Name::from_ascii("octets.test.").unwrap();
        let parsed = dnslb::zone::parse_zone_file(&dir.path().join("zones/octets.test.zone"), &origin);
        prop_assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let owner = &parsed.records.iter().last().unwrap().record.name;
        prop_assert_eq!(name_wire(owner), wire(&labels));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_arbitrary_octets_are_answered_with_their_octets() {
    // 300 random names in one zone, each asked for over UDP with its own octets.
    let mut rng = SmallRng::seed_from_u64(2181);
    let mut names: Vec<Vec<Vec<u8>>> = Vec::new();
    while names.len() < 300 {
        let labels: Vec<Vec<u8>> = (0..rng.random_range(1..4))
            .map(|_| {
                (0..rng.random_range(1..10))
                    .map(|_| rng.random::<u8>())
                    .collect()
            })
            .collect();
        let lower = |ls: &Vec<Vec<u8>>| {
            ls.iter()
                .map(|l| l.to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        // Distinct as DNS compares names (ASCII case folded), and no wildcard labels.
        if labels.iter().any(|l| l == b"*") || names.iter().any(|n| lower(n) == lower(&labels)) {
            continue;
        }
        names.push(labels);
    }
    let s = start_dir(dir_with_zones(
        "",
        &[("octets.test.zone", &zone_with(&names))],
    ))
    .await;
    for (i, labels) in names.iter().enumerate() {
        let mut name = Name::from_labels(
            labels
                .iter()
                .map(Vec::as_slice)
                .chain([&b"octets"[..], b"test"]),
        )
        .unwrap();
        name.set_fqdn(true);
        let q = query_for(name, RecordType::A, Some(1232));
        let raw = udp_raw(s.addr, &q.to_vec().unwrap(), REPLY_TIMEOUT)
            .await
            .expect("a reply");
        // The question carries the name's octets; the answer's owner points at it.
        assert_eq!(
            &raw[12..12 + wire(labels).len()],
            &wire(labels)[..],
            "the question, name {i}"
        );
        let owner_at = 12 + wire(labels).len() + 4;
        assert_eq!(
            &raw[owner_at..owner_at + 2],
            [0xc0, 0x0c],
            "the answer's owner points at the question, name {i}"
        );
        let r = hickory_proto::op::Message::from_vec(&raw).unwrap();
        assert_eq!(
            addresses(&r),
            [format!("192.0.{}.{}", i / 250, i % 250 + 1)],
            "name {i}: {labels:?}"
        );
    }
    s.stop().await;
}

#[test]
fn check_finds_nothing_in_the_fidelity_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fidelity");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"))
        .args(["check", "--config", "dnslb.toml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for zone in ["100.51.198.in-addr.arpa.", "example.net.", "types.test."] {
        assert!(stdout.contains(&format!("zone {zone} serial")), "{stdout}");
    }
}

#[test]
fn what_nsd_and_knot_refuse_is_refused_with_its_line() {
    let long_label = "a".repeat(64);
    let long_name = vec!["abcdefghi"; 26].join(".");
    let long_string = "x".repeat(256);
    let cases: Vec<(String, &str)> = vec![
        (format!("{long_label} A 192.0.2.1"), "bad A record"),
        (format!("{long_name} A 192.0.2.1"), "bad A record"),
        ("bad\\256 A 192.0.2.1".into(), "bad A record"),
        (format!("t TXT \"{long_string}\""), "bad TXT record"),
        ("c CNAME a\\".into(), "bad CNAME record"),
        ("l LOC 91 N 0 E 0m".into(), "bad LOC record"),
        ("u URI 10 \"x\"".into(), "bad URI record"),
        ("s SSHFP 1 1 abc".into(), "bad SSHFP record"),
    ];
    for (line, needle) in cases {
        let zone = format!("$ORIGIN example.com.\n$TTL 60\n{MINIMAL_ZONE}ok A 192.0.2.9\n{line}\n");
        let dir = dir_with_zones(
            "",
            &[("example.com.zone", &zone), ("ok.test.zone", MINIMAL_ZONE)],
        );
        let problems = load_problems(&dir.path().join("dnslb.toml"));
        assert_eq!(problems.len(), 1, "{line}: {problems:?}");
        assert!(
            problems[0].contains("example.com.zone:7: ") && problems[0].contains(needle),
            "{line}: {needle:?} at line 7 in {problems:?}"
        );
    }
}
