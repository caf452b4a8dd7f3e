//! Property tests of the answering logic on the fixture zones (with pools): for any name made of
//! the zones' labels and any type, the answer is well-formed — never a panic, never an NXDOMAIN
//! without the SOA, never AA on a referral, every owner inside the question's chain.

use std::path::Path;

use dnslb::answer::{Question, resolve};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn snapshot(fixture: &str) -> dnslb::snapshot::Snapshot {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fixture)
        .join("dnslb.toml");
    let loaded = dnslb::load::load(&path, None, &Default::default()).expect("fixture loads");
    assert!(
        loaded.snapshot.problems.is_empty(),
        "{:?}",
        loaded.snapshot.problems
    );
    loaded.snapshot
}

const LABELS: &[&str] = &[
    "www", "example", "com", "*", "sub", "a", "b", "c", "wcname", "alias", "chain1", "mail", "ns1",
    "nothere", "wide", "child", "test", "other", "cdn", "api", "eu", "svc", "backup", "deep",
    "below", "_sip", "_tcp", "ns", "loop1", "x",
];

const TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::NS,
    RecordType::SOA,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::DS,
    RecordType::ANY,
    RecordType::PTR,
];

/// Names inside our zones mostly (a few labels before a zone's origin), and some outside.
fn name() -> impl Strategy<Value = Name> {
    let suffix = prop::sample::select(
        &[
            "example.com.",
            "other.test.",
            "child.example.com.",
            "example.org.",
            ".",
        ][..],
    );
    (
        prop::collection::vec(prop::sample::select(LABELS), 0..4),
        suffix,
    )
        .prop_map(|(labels, suffix)| {
            let mut text = labels.join(".");
            if !text.is_empty() && suffix != "." {
                text.push('.');
            }
            text.push_str(suffix);
            if text.is_empty() {
                text.push('.');
            }
            Name::from_ascii(&text).unwrap()
        })
}

fn check(
    snap: &dnslb::snapshot::Snapshot,
    qname: &Name,
    qtype: RecordType,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut picker = dnslb::pool::Picker::seeded(seed);
    let question = Question {
        name: qname,
        qtype,
        dnssec_ok: false,
    };
    let a = resolve(&snap.served, question, &mut picker, &Default::default());
    match a.rcode {
        ResponseCode::Refused => {
            prop_assert!(a.answers.is_empty() && a.authority.is_empty() && !a.authoritative);
            prop_assert!(snap.served.find_zone(qname).is_none());
        }
        ResponseCode::NXDomain => {
            prop_assert!(a.authoritative);
            prop_assert!(
                a.authority
                    .iter()
                    .any(|r| r.record_type() == RecordType::SOA),
                "NXDOMAIN carries the SOA"
            );
        }
        ResponseCode::NoError => {
            if !a.authoritative {
                // A referral: no answer, the cut's NS in authority.
                prop_assert!(a.answers.is_empty());
                prop_assert!(!a.authority.is_empty());
                prop_assert!(
                    a.authority
                        .iter()
                        .all(|r| r.record_type() == RecordType::NS)
                );
            } else if a.answers.is_empty() {
                prop_assert!(
                    a.authority
                        .iter()
                        .any(|r| r.record_type() == RecordType::SOA),
                    "NODATA carries the SOA"
                );
            }
        }
        other => prop_assert!(false, "unexpected rcode {other}"),
    }
    // The answer section is a chain: each owner is the question or the previous CNAME's target.
    let mut expected = qname.clone();
    for r in &a.answers {
        prop_assert_eq!(&r.name, &expected, "owner follows the chain");
        if let RData::CNAME(c) = &r.data
            && qtype != RecordType::CNAME
            && qtype != RecordType::ANY
        {
            expected = c.0.clone();
        }
    }
    // Answer types follow the question: CNAMEs of a chain, then the asked type (any one RRset
    // for ANY, whose records then share a type).
    let last = a
        .answers
        .iter()
        .rposition(|r| r.record_type() != RecordType::CNAME);
    for (i, r) in a.answers.iter().enumerate() {
        let t = r.record_type();
        match qtype {
            RecordType::ANY => prop_assert_eq!(t, a.answers[0].record_type()),
            RecordType::CNAME => prop_assert_eq!(t, RecordType::CNAME),
            _ if Some(i) == last => prop_assert_eq!(t, qtype),
            _ => prop_assert!(t == qtype || t == RecordType::CNAME, "{t} for {qtype}"),
        }
    }
    check_pools(snap, &a.answers)
}

/// Records drawn from a pool are its members, with its TTL, as many as `answers` allows.
fn check_pools(
    snap: &dnslb::snapshot::Snapshot,
    answers: &[std::borrow::Cow<'_, hickory_proto::rr::Record>],
) -> Result<(), TestCaseError> {
    for pool in &snap.pools {
        let drawn: Vec<_> = answers
            .iter()
            .filter(|r| r.name == pool.name)
            .filter(|r| r.record_type() == pool.rtype)
            .collect();
        if drawn.is_empty() {
            continue;
        }
        for r in &drawn {
            prop_assert!(
                pool.members.iter().any(|m| m.record.data == r.data),
                "{} is a member of {}",
                r.data,
                pool.name
            );
            prop_assert_eq!(r.ttl, pool.ttl);
        }
        let weighted = pool.members.iter().filter(|m| m.weight > 0).count();
        let backups = pool.members.len() - weighted;
        let available = if weighted > 0 { weighted } else { backups };
        prop_assert_eq!(drawn.len(), pool.answers.min(available), "{}", pool.name);
        let mut distinct: Vec<String> = drawn.iter().map(|r| r.data.to_string()).collect();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), drawn.len(), "distinct members");
    }
    Ok(())
}

/// Every kind of answer shows up among the generated questions (so the properties are not
/// checked on REFUSED alone).
#[test]
fn the_generator_reaches_every_kind_of_answer() {
    let snap = snapshot("core");
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let qname = name().new_tree(&mut runner).unwrap().current();
        let qtype = prop::sample::select(TYPES)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let question = Question {
            name: &qname,
            qtype,
            dnssec_ok: false,
        };
        let a = resolve(
            &snap.served,
            question,
            &mut dnslb::pool::Picker::seeded(1),
            &Default::default(),
        );
        let kind = match (a.rcode, a.authoritative, a.answers.is_empty()) {
            (ResponseCode::Refused, ..) => "refused",
            (ResponseCode::NXDomain, ..) => "nxdomain",
            (_, false, _) => "referral",
            (_, true, true) => "nodata",
            (_, true, false)
                if a.answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::CNAME) =>
            {
                "cname"
            }
            _ => "answer",
        };
        kinds.insert(kind);
    }
    for k in [
        "refused", "nxdomain", "referral", "nodata", "cname", "answer",
    ] {
        assert!(kinds.contains(k), "{k} never generated: {kinds:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn answers_are_well_formed_on_the_core_zones(qname in name(), qtype in prop::sample::select(TYPES), seed: u64) {
        thread_local!(static SNAP: dnslb::snapshot::Snapshot = snapshot("core"));
        SNAP.with(|s| check(s, &qname, qtype, seed))?;
    }

    #[test]
    fn answers_are_well_formed_with_pools(qname in name(), qtype in prop::sample::select(TYPES), seed: u64) {
        thread_local!(static SNAP: dnslb::snapshot::Snapshot = snapshot("pools"));
        SNAP.with(|s| check(s, &qname, qtype, seed))?;
    }
}
