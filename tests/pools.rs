//! Weighted record sets over real UDP and TCP: draws, distinct answers, zero weights, CNAME
//! pools chased into our zone, pools behaving like any name, and every config error.

mod common;

use std::collections::HashMap;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

async fn server() -> TestServer {
    start_fixture("pools").await
}

/// Chi-square critical value for 2 degrees of freedom at p = 0.001.
const CHI2_DF2_P001: f64 = 13.816;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_splits_by_weight_over_9000_udp_queries() {
    let s = server().await;
    let n: u32 = 9000;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..n {
        let r = udp(s.addr, "www.example.com.", RecordType::A).await;
        let a = addresses(&r);
        assert_eq!(a.len(), 1);
        *counts.entry(a[0].clone()).or_default() += 1;
    }
    let expected = [
        ("192.0.2.10", 5.0),
        ("192.0.2.11", 3.0),
        ("192.0.2.12", 1.0),
    ];
    let chi2: f64 = expected
        .iter()
        .map(|(addr, w)| {
            let e = f64::from(n) * w / 9.0;
            let o = f64::from(counts.get(*addr).copied().unwrap_or(0));
            (o - e).powi(2) / e
        })
        .sum();
    assert!(chi2 < CHI2_DF2_P001, "chi-square {chi2:.2} for {counts:?}");

    // Every answer was counted as served, per member.
    let snap = s.running.as_ref().unwrap().shared.snapshot.load();
    let pool = snap
        .pools
        .iter()
        .find(|p| p.rtype == RecordType::A && p.name.to_string() == "www.example.com.")
        .unwrap();
    let served: Vec<u64> = pool.members.iter().map(|m| m.state.served()).collect();
    assert_eq!(served.iter().sum::<u64>(), u64::from(n));
    assert_eq!(served[0], u64::from(counts["192.0.2.10"]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_answers_are_authoritative_with_the_pool_ttl_over_udp_and_tcp() {
    let s = server().await;
    for r in [
        udp(s.addr, "www.example.com.", RecordType::A).await,
        tcp(s.addr, "www.example.com.", RecordType::A).await,
    ] {
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.authoritative);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].ttl, 30);
        assert_eq!(r.answers[0].name.to_string(), "www.example.com.");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aaaa_pool_answers_n_distinct_members() {
    let s = server().await;
    let mut seen = std::collections::HashSet::new();
    for i in 0..200 {
        let r = if i % 2 == 0 {
            udp(s.addr, "www.example.com.", RecordType::AAAA).await
        } else {
            tcp(s.addr, "www.example.com.", RecordType::AAAA).await
        };
        let a = addresses(&r);
        assert_eq!(a.len(), 2, "answers = 2");
        assert_ne!(a[0], a[1], "distinct");
        assert!(r.answers.iter().all(|r| r.ttl == 45));
        seen.extend(a);
    }
    assert_eq!(seen.len(), 3, "every member is drawn sometimes: {seen:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_pool_is_drawn_and_chased_into_our_zone() {
    let s = server().await;
    let mut targets = HashMap::new();
    for _ in 0..200 {
        let r = udp(s.addr, "cdn.example.com.", RecordType::A).await;
        assert_eq!(r.answers.len(), 2, "{:?}", show(&r.answers));
        let RData::CNAME(target) = &r.answers[0].data else {
            panic!("CNAME first")
        };
        assert_eq!(r.answers[0].ttl, 20);
        assert_eq!(r.answers[1].name, target.0, "chased to the drawn target");
        *targets.entry(target.0.to_string()).or_insert(0) += 1;
    }
    assert_eq!(targets.len(), 2, "{targets:?}");
    // Asked for the CNAME itself: just the CNAME.
    let r = tcp(s.addr, "cdn.example.com.", RecordType::CNAME).await;
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].record_type(), RecordType::CNAME);
    // A static CNAME pointing at a pool resolves like any other.
    let r = udp(s.addr, "to-pool.example.com.", RecordType::A).await;
    assert_eq!(r.answers.len(), 2);
    assert_eq!(r.answers[1].name.to_string(), "www.example.com.");
    assert_eq!(r.answers[1].ttl, 30);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_name_behaves_like_any_name() {
    let s = server().await;
    // Other types: what the zone file has (TXT), or NODATA with the SOA.
    let txt = udp(s.addr, "www.example.com.", RecordType::TXT).await;
    assert_eq!(txt.answers.len(), 1);
    let mx = udp(s.addr, "www.example.com.", RecordType::MX).await;
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
    assert!(mx.answers.is_empty());
    assert_eq!(mx.authorities[0].record_type(), RecordType::SOA);
    // ANY is minimal: one RRset.
    let any = udp(s.addr, "www.example.com.", RecordType::ANY).await;
    let types: std::collections::HashSet<_> = any.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types.len(), 1);
    // The wildcard at the apex never hides a pool, nor its empty non-terminals.
    let api = udp(s.addr, "api.eu.svc.example.com.", RecordType::A).await;
    assert_eq!(addresses(&api), ["192.0.2.40"]);
    let ent = udp(s.addr, "svc.example.com.", RecordType::A).await;
    assert!(
        ent.answers.is_empty(),
        "svc is an empty non-terminal, not a wildcard match"
    );
    assert_eq!(ent.metadata.response_code, ResponseCode::NoError);
    let below = udp(s.addr, "x.api.eu.svc.example.com.", RecordType::A).await;
    assert_eq!(below.metadata.response_code, ResponseCode::NXDomain);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_weights_share_equally_and_only_stand_in() {
    let s = server().await;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..400 {
        let a = addresses(&udp(s.addr, "backup.example.com.", RecordType::A).await);
        assert_eq!(a.len(), 1);
        *counts.entry(a[0].clone()).or_default() += 1;
    }
    assert!(
        counts["192.0.2.50"] > 140 && counts["192.0.2.51"] > 140,
        "{counts:?}"
    );
    // answers = 3 with one zero-weight member: only the two weighted ones are served.
    for _ in 0..50 {
        let mut a = addresses(&udp(s.addr, "mixed.example.com.", RecordType::A).await);
        a.sort();
        assert_eq!(a, ["192.0.2.61", "192.0.2.62"]);
    }
    s.stop().await;
}

// Config errors, each with its message.

fn problems(pools: &str) -> String {
    let zone = "$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nstatic A 192.0.2.2\nalias CNAME ns\n";
    let dir = dir_with_zones(&format!("[[pool]]\n{pools}"), &[("example.com.zone", zone)]);
    load_problems(&dir.path().join("dnslb.toml")).join("\n")
}

/// The pool starts at line 8 of the config that [`problems`] writes; `line` counts from there.
fn assert_problem_at(pools: &str, line: usize, needle: &str) {
    let p = problems(pools);
    let at = format!("dnslb.toml:{}: ", 8 + line);
    assert!(p.contains(&at), "names line {}: {p}", 8 + line);
    assert!(p.contains(needle), "{needle:?} in {p}");
}

/// A problem of the pool as a whole: at its `[[pool]]` line.
fn assert_problem(pools: &str, needle: &str) {
    assert_problem_at(pools, 0, needle);
}

#[test]
fn pool_config_errors_are_clear() {
    let a = |name: &str, members: &str| {
        format!("name = \"{name}\"\ntype = \"A\"\nmembers = [ {members} ]\n")
    };
    assert_problem(
        &a(
            "www.example.org.",
            "{ address = \"192.0.2.1\", weight = 1 }",
        ),
        "pool www.example.org. lies outside every zone",
    );
    assert_problem(
        "name = \"static.example.com.\"\ntype = \"CNAME\"\nmembers = [ { target = \"x.example.net.\", weight = 1 } ]\n",
        "CNAME pool static.example.com.: the name has other data",
    );
    assert_problem(
        &a(
            "static.example.com.",
            "{ address = \"192.0.2.1\", weight = 1 }",
        ),
        "the zone file already has A records at this name",
    );
    assert_problem(
        &a(
            "alias.example.com.",
            "{ address = \"192.0.2.1\", weight = 1 }",
        ),
        "the name has a CNAME",
    );
    assert_problem_at(
        &a("p.example.com.", "{ address = \"192.0.2.1\", weight = -1 }"),
        3,
        "weight -1 must be a non-negative integer",
    );
    assert_problem_at(
        &a(
            "p.example.com.",
            "{ address = \"192.0.2.1\", weight = 99999999999 }",
        ),
        3,
        "weight 99999999999 is too big (at most 4294967295)",
    );
    assert_problem_at(
        &a(
            "p.example.com.",
            "{ address = \"192.0.2.1\", weight = \"5\" }",
        ),
        3,
        "`weight`: invalid type: string \"5\", expected i64",
    );
    // One member a line: the problem names the member's own line.
    assert_problem_at(
        &a(
            "p.example.com.",
            "\n  { address = \"192.0.2.1\", weight = 1 },\n  { address = \"192.0.2.2\", weight = -2 },\n",
        ),
        5,
        "weight -2 must be a non-negative integer",
    );
    assert_problem_at(
        &a(
            "p.example.com.",
            "{ address = \"192.0.2.1\", weight = 2.5 }",
        ),
        3,
        "invalid type: floating point `2.5`, expected i64",
    );
    assert_problem_at(
        &a(
            "p.example.com.",
            "{ address = \"2001:db8::1\", weight = 1 }",
        ),
        3,
        "2001:db8::1 is not an A address",
    );
    assert_problem_at(
        &a(
            "p.example.com.",
            "{ address = \"192.0.2.1\", weight = 1 }, { address = \"192.0.2.1\", weight = 2 }",
        ),
        3,
        "member 192.0.2.1 is listed twice",
    );
    assert_problem(&a("p.example.com.", ""), "the pool has no members");
    assert_problem_at(
        "name = \"p.example.com.\"\ntype = \"MX\"\nmembers = [ { address = \"192.0.2.1\", weight = 1 } ]\n",
        2,
        "type must be A, AAAA or CNAME",
    );
    assert_problem_at(
        "name = \"c.example.com.\"\ntype = \"CNAME\"\nprobe = { kind = \"tcp\", port = 80 }\nmembers = [ { target = \"x.example.net.\", weight = 1 } ]\n",
        4,
        "member x.example.net. of a CNAME pool needs `check = \"host:port\"` to be probed",
    );
    assert_problem(
        &format!(
            "answers = 0\n{}",
            a("p.example.com.", "{ address = \"192.0.2.1\", weight = 1 }")
        ),
        "pool p.example.com.: answers must be at least 1, not 0",
    );
    for (key, value) in [("rise", 0), ("fall", 0)] {
        assert_problem(
            &format!(
                "probe = {{ kind = \"tcp\", port = 80, {key} = {value} }}\n{}",
                a("p.example.com.", "{ address = \"192.0.2.1\", weight = 1 }")
            ),
            "pool p.example.com.: probe: rise and fall must be at least 1",
        );
    }
    assert_eq!(
        problems(&a(
            "p.example.com.",
            "{ address = \"192.0.2.1\", weight = 1 }"
        )),
        "",
        "a valid pool loads"
    );
}

#[test]
fn twenty_thousand_pools_load_in_linear_time() {
    // Each member's line was found by counting the newlines before it: 2,000 pools took 4 s,
    // 20,000 over two minutes. Now a line index: this takes a second or two.
    let pools: String = (0..20_000)
        .map(|i| {
            let members: Vec<String> = (0..10)
                .map(|j| {
                    format!(
                        "{{ address = \"10.{}.{}.{j}\", weight = 1 }}",
                        i >> 8,
                        i & 255
                    )
                })
                .collect();
            format!(
                "[[pool]]\nname = \"s{i}.example.com.\"\ntype = \"A\"\nmembers = [{}]\n\n",
                members.join(", ")
            )
        })
        .collect();
    let dir = dir_with_config(&pools);
    let config = dir.path().join("dnslb.toml");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let loaded = dnslb::load::load(&config, None, &Default::default());
        let _ = tx.send(loaded.map(|l| l.snapshot.pools.len()).map_err(|p| p.len()));
    });
    let loaded = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("20,000 pools load within a minute (quadratic, they took over two)");
    assert_eq!(loaded, Ok(20_000));
}
