//! Steering policies over real UDP, with and without EDNS Client Subnet: failover switch-over,
//! switch-back and trickle; hash stickiness across a member's death and return; exact round-robin
//! windows; regions for IPv4 and IPv6 with the no-match fallback; ECS echo and scope per policy;
//! FORMERR for malformed ECS; `dnslb check --simulate`; the config errors.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use tokio::io::AsyncWriteExt;

/// An agent-check target whose line the test sets; returns its port.
async fn agent(line: Arc<Mutex<String>>) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let text = line.lock().unwrap().clone();
            let _ = s.write_all(text.as_bytes()).await;
        }
    });
    port
}

const AGENT: &str =
    "{ kind = \"agent\", interval = \"100ms\", timeout = \"300ms\", rise = 1, fall = 1 }";

/// A query for `name` A with ECS `subnet`/`prefix` (scope 0) when given.
fn ecs_query(name: &str, subnet: Option<(&str, u8)>) -> Message {
    let mut q = query_message(name, RecordType::A, Some(1232));
    if let Some((addr, prefix)) = subnet {
        let cs = ClientSubnet::new(addr.parse().unwrap(), prefix, 0);
        q.edns
            .as_mut()
            .unwrap()
            .options_mut()
            .insert(EdnsOption::Subnet(cs));
    }
    q
}

/// The first address answered for `name`, asked with ECS `subnet` when given.
async fn first(addr: SocketAddr, name: &str, subnet: Option<(&str, u8)>) -> String {
    addresses(&udp_msg(addr, &ecs_query(name, subnet)).await)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// The ECS option of a response: (address, source prefix, scope prefix).
fn echoed(r: &Message) -> Option<(IpAddr, u8, u8)> {
    match r.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(cs) => Some((cs.addr(), cs.source_prefix(), cs.scope_prefix())),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_switches_over_and_back_and_trickles() {
    let primary = Arc::new(Mutex::new("up\n".to_string()));
    let p1 = agent(primary.clone()).await;
    let p2b = agent(Arc::new(Mutex::new("up\n".to_string()))).await;
    let pools = format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\nprobe = {AGENT}\n\
         members = [ {{ address = \"192.0.2.10\", weight = 1, priority = 1, check = \"127.0.0.1:{p1}\" }}, \
                     {{ address = \"192.0.2.20\", weight = 1, priority = 2, check = \"127.0.0.1:{p2b}\" }} ]\n\
         [[pool]]\nname = \"trickle.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\ntrickle = 0.2\n\
         members = [ {{ address = \"192.0.2.11\", weight = 1, priority = 1 }}, \
                     {{ address = \"192.0.2.21\", weight = 1, priority = 2 }} ]\n"
    );
    let s = start_dir(dir_with_config(&pools)).await;
    let counts = draw_counts(s.addr, "www.example.com.", 50).await;
    assert_eq!(
        counts.get("192.0.2.10"),
        Some(&50),
        "the first tier only: {counts:?}"
    );
    *primary.lock().unwrap() = "down\n".into();
    let over = wait_until(Duration::from_secs(3), || async {
        draw_counts(s.addr, "www.example.com.", 20)
            .await
            .get("192.0.2.20")
            == Some(&20)
    })
    .await;
    assert!(over.is_some(), "switched over to the second tier");
    *primary.lock().unwrap() = "up\n".into();
    let back = wait_until(Duration::from_secs(3), || async {
        draw_counts(s.addr, "www.example.com.", 20)
            .await
            .get("192.0.2.10")
            == Some(&20)
    })
    .await;
    assert!(back.is_some(), "switched back");

    // trickle = 0.2 over 2,000 answers: chi-square against 400 : 1,600, one degree of freedom,
    // critical value 10.83 at p = 0.001.
    let counts = draw_counts(s.addr, "trickle.example.com.", 2000).await;
    let next = *counts.get("192.0.2.21").unwrap_or(&0) as f64;
    let first = *counts.get("192.0.2.11").unwrap_or(&0) as f64;
    assert_eq!(next + first, 2000.0);
    let chi2 = (next - 400.0).powi(2) / 400.0 + (first - 1600.0).powi(2) / 1600.0;
    assert!(
        chi2 < 10.83,
        "{next} of 2000 trickled: chi-square {chi2:.2}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_keeps_each_subnet_on_its_member_and_moves_only_the_dead_members() {
    let lines: Vec<Arc<Mutex<String>>> = (0..4)
        .map(|_| Arc::new(Mutex::new("up\n".into())))
        .collect();
    let mut members = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let port = agent(line.clone()).await;
        members.push(format!(
            "{{ address = \"192.0.2.{}\", weight = 1, check = \"127.0.0.1:{port}\" }}",
            10 + i
        ));
    }
    let pools = format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\npolicy = \"hash\"\nprobe = {AGENT}\nmembers = [ {} ]\n",
        members.join(", ")
    );
    let s = start_dir(dir_with_config(&pools)).await;
    let subnets: Vec<String> = (0..1000)
        .map(|i| format!("10.{}.{}.0", i / 256, i % 256))
        .collect();
    let mut before = HashMap::new();
    for n in &subnets {
        let a = first(s.addr, "www.example.com.", Some((n, 24))).await;
        assert_eq!(
            a,
            first(s.addr, "www.example.com.", Some((n, 24))).await,
            "sticky"
        );
        before.insert(n.clone(), a);
    }
    let on_dead = before.values().filter(|a| *a == "192.0.2.11").count();
    assert!(
        (170..=330).contains(&on_dead),
        "{on_dead} of 1000 subnets on one of 4"
    );
    *lines[1].lock().unwrap() = "down\n".into();
    let probe_subnet = before
        .iter()
        .find(|(_, a)| *a == "192.0.2.11")
        .map(|(n, _)| n.clone())
        .unwrap();
    let down = wait_until(Duration::from_secs(3), || async {
        first(s.addr, "www.example.com.", Some((&probe_subnet, 24))).await != "192.0.2.11"
    })
    .await;
    assert!(down.is_some());
    let mut moved = 0;
    for n in &subnets {
        let a = first(s.addr, "www.example.com.", Some((n, 24))).await;
        if before[n] == "192.0.2.11" {
            assert_ne!(a, "192.0.2.11");
        } else if a != before[n] {
            moved += 1;
        }
    }
    assert_eq!(moved, 0, "only the dead member's subnets moved");
    *lines[1].lock().unwrap() = "up\n".into();
    let back = wait_until(Duration::from_secs(3), || async {
        let mut same = true;
        for n in subnets.iter().take(200) {
            same &= first(s.addr, "www.example.com.", Some((n, 24))).await == before[n];
        }
        same
    })
    .await;
    assert!(back.is_some(), "every subnet is back on its member");
    s.stop().await;
}

/// The addresses answered for www.example.com A, asked from `sock` (one source port: one
/// serving thread, so a round-robin pool's exact sequence).
async fn ask_from(sock: &tokio::net::UdpSocket, server: std::net::SocketAddr) -> Vec<String> {
    let mut buf = [0u8; 1500];
    let q = query_message("www.example.com.", RecordType::A, None);
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let n = tokio::time::timeout(REPLY_TIMEOUT, sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    addresses(&Message::from_vec(&buf[..n]).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_windows_hold_exact_shares() {
    let pools = "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\npolicy = \"round-robin\"\n\
                 members = [ { address = \"192.0.2.10\", weight = 5 }, { address = \"192.0.2.11\", weight = 3 }, \
                             { address = \"192.0.2.12\", weight = 1 } ]\n";
    let s = start_dir(dir_with_config(pools)).await;
    // One socket: one source port, so one serving thread, so the exact sequence.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for window in 0..5 {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for _ in 0..9 {
            let a = ask_from(&sock, s.addr).await;
            *counts.entry(a[0].clone()).or_default() += 1;
        }
        assert_eq!(
            (
                counts["192.0.2.10"],
                counts["192.0.2.11"],
                counts["192.0.2.12"]
            ),
            (5, 3, 1),
            "window {window}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_rotates_every_position_and_forgets_an_override() {
    let pools = "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\npolicy = \"round-robin\"\nanswers = 2\n\
                 members = [ { address = \"192.0.2.40\", weight = 1000 }, { address = \"192.0.2.41\", weight = 1000 }, \
                             { address = \"192.0.2.42\", weight = 1000 } ]\n";
    let s = start_dir(dir_with_config(pools)).await;
    // One socket: one source port, so one serving thread, so the exact sequence.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ask = || ask_from(&sock, s.addr);
    // Every window of 3,000 answers: each member first 1,000 times and second 1,000 times.
    let window = || async {
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut second: HashMap<String, usize> = HashMap::new();
        for _ in 0..3000 {
            let a = ask().await;
            *first.entry(a[0].clone()).or_default() += 1;
            *second.entry(a[1].clone()).or_default() += 1;
        }
        (first, second)
    };
    let expected: HashMap<String, usize> = ["192.0.2.40", "192.0.2.41", "192.0.2.42"]
        .iter()
        .map(|a| (a.to_string(), 1000))
        .collect();
    let (first, second) = window().await;
    assert_eq!((&first, &second), (&expected, &expected));
    // A huge weight for a few answers, then cleared: the shares are exact again at once (the
    // credit earned under the override is forgotten), not after as many answers as it weighed.
    let path = "/pools/www.example.com./members/192.0.2.40/weight";
    let admin = s.admin();
    let (code, body) = http(admin, "POST", path, "4294967295").await;
    assert_eq!(code, 200, "{body}");
    for _ in 0..5 {
        ask().await;
    }
    let (code, body) = http(admin, "DELETE", path, "").await;
    assert_eq!(code, 200, "{body}");
    let (first, second) = window().await;
    assert_eq!((&first, &second), (&expected, &expected));
    s.stop().await;
}

const REGIONS: &str = "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\npolicy = \"region\"\n\
    regions = { eu = [\"192.0.2.0/24\", \"2001:db8:1::/48\"], us = [\"198.51.100.0/24\"] }\n\
    members = [ { address = \"192.0.2.10\", weight = 1, region = \"eu\" }, \
                { address = \"192.0.2.20\", weight = 1, region = \"us\" } ]\n\
    [[pool]]\nname = \"w.example.com.\"\ntype = \"A\"\n\
    members = [ { address = \"192.0.2.30\", weight = 1 }, { address = \"192.0.2.31\", weight = 1 } ]\n\
    [[pool]]\nname = \"h.example.com.\"\ntype = \"A\"\npolicy = \"hash\"\n\
    members = [ { address = \"192.0.2.40\", weight = 1 }, { address = \"192.0.2.41\", weight = 1 } ]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_steer_ipv4_and_ipv6_clients_and_everyone_else_gets_everyone() {
    let s = start_dir(dir_with_config(REGIONS)).await;
    for _ in 0..20 {
        assert_eq!(
            first(s.addr, "www.example.com.", Some(("192.0.2.0", 24))).await,
            "192.0.2.10"
        );
        assert_eq!(
            first(s.addr, "www.example.com.", Some(("2001:db8:1::", 48))).await,
            "192.0.2.10"
        );
        assert_eq!(
            first(s.addr, "www.example.com.", Some(("198.51.100.0", 24))).await,
            "192.0.2.20"
        );
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..60 {
        seen.insert(first(s.addr, "www.example.com.", Some(("203.0.113.0", 24))).await);
    }
    assert_eq!(seen.len(), 2, "no region: every member: {seen:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_is_echoed_with_the_scope_the_policy_used() {
    let s = start_dir(dir_with_config(REGIONS)).await;
    let ask = |name: &'static str, subnet: Option<(&'static str, u8)>| {
        let addr = s.addr;
        async move { udp_msg(addr, &ecs_query(name, subnet)).await }
    };
    let v4: IpAddr = "192.0.2.0".parse().unwrap();
    // region: the matched network's prefix (at most the source's).
    let r = ask("www.example.com.", Some(("192.0.2.0", 24))).await;
    assert_eq!(echoed(&r), Some((v4, 24, 24)));
    let r = ask("www.example.com.", Some(("2001:db8:1:2::", 64))).await;
    assert_eq!(
        echoed(&r),
        Some(("2001:db8:1:2::".parse().unwrap(), 64, 48))
    );
    // hash: the whole source prefix.
    let r = ask("h.example.com.", Some(("192.0.2.0", 24))).await;
    assert_eq!(echoed(&r), Some((v4, 24, 24)));
    // weighted, and static data: scope 0.
    let r = ask("w.example.com.", Some(("192.0.2.0", 24))).await;
    assert_eq!(echoed(&r), Some((v4, 24, 0)));
    let r = ask("ns1.example.com.", Some(("192.0.2.0", 24))).await;
    assert_eq!(echoed(&r), Some((v4, 24, 0)));
    // No ECS asked, none given.
    let r = ask("h.example.com.", None).await;
    assert_eq!(echoed(&r), None);

    // /status: the policy, and how it spreads clients.
    let (_, body) = http(s.admin(), "GET", "/status", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["pools"][0]["policy"], "region");
    assert_eq!(
        v["pools"][0]["spread"],
        serde_json::json!({ "eu": ["192.0.2.10"], "us": ["192.0.2.20"] })
    );
    assert_eq!(v["pools"][2]["policy"], "hash");
    let shares: Vec<f64> = ["192.0.2.40", "192.0.2.41"]
        .iter()
        .map(|m| v["pools"][2]["spread"][m].as_f64().unwrap())
        .collect();
    assert!((shares[0] + shares[1] - 1.0).abs() < 1e-9, "{shares:?}");
    assert!(shares.iter().all(|s| (0.4..0.6).contains(s)), "{shares:?}");
    assert!(v["pools"][1]["spread"].is_null());

    // Malformed ECS: FORMERR. A scope in a query, address bits beyond the source prefix.
    for (addr, source, scope) in [("192.0.2.0", 24u8, 8u8), ("192.0.2.1", 31, 0)] {
        let mut q = query_message("h.example.com.", RecordType::A, Some(1232));
        q.edns
            .as_mut()
            .unwrap()
            .options_mut()
            .insert(EdnsOption::Subnet(ClientSubnet::new(
                addr.parse().unwrap(),
                source,
                scope,
            )));
        let r = udp_msg(s.addr, &q).await;
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::FormErr,
            "{addr}/{source} scope {scope}"
        );
        assert!(
            r.edns.is_some(),
            "a FORMERR to a query with OPT has OPT (RFC 6891 §7)"
        );
    }
    // Written octet by octet (hickory cannot write these): a family of neither IPv4 nor IPv6,
    // a source prefix longer than the address, an address longer than its prefix needs
    // (RFC 7871 §6), an option too short to hold its fields.
    let ecs = |family: u16, source: u8, addr: &[u8]| {
        let mut d = family.to_be_bytes().to_vec();
        d.extend_from_slice(&[source, 0]);
        d.extend_from_slice(addr);
        let mut o = 8u16.to_be_bytes().to_vec();
        o.extend_from_slice(&(d.len() as u16).to_be_bytes());
        o.extend(d);
        o
    };
    for (what, option) in [
        ("family 3", ecs(3, 24, &[10, 1, 2])),
        ("source 33", ecs(1, 33, &[10, 1, 2, 3, 4])),
        ("three octets for /16", ecs(1, 16, &[10, 1, 2])),
        ("too short", vec![0, 8, 0, 2, 0, 1]),
    ] {
        let mut m = query_message("h.example.com.", RecordType::A, None)
            .to_vec()
            .unwrap();
        m[11] = 1; // one additional record: our OPT
        m.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
        m.extend_from_slice(&(option.len() as u16).to_be_bytes());
        m.extend_from_slice(&option);
        let reply = udp_raw(s.addr, &m, REPLY_TIMEOUT).await.expect("an answer");
        let r = hickory_proto::op::Message::from_vec(&reply).expect("a FORMERR that parses");
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr, "{what}");
        assert!(r.edns.is_some(), "{what}: OPT in the FORMERR");
        assert_eq!(r.queries.len(), 1, "{what}: the question echoed");
    }
    s.stop().await;
}

#[test]
fn simulate_prints_shares_beside_expected_shares() {
    let dir = dir_with_config(&format!(
        "{REGIONS}[[pool]]\nname = \"f.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\ntrickle = 0.1\n\
         members = [ {{ address = \"192.0.2.50\", weight = 3, priority = 1 }}, {{ address = \"192.0.2.51\", weight = 1, priority = 1 }}, \
                     {{ address = \"192.0.2.52\", weight = 1, priority = 2 }} ]\n"
    ));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"))
            .args(["check", "--config", "dnslb.toml", "--simulate"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&["f.example.com", "--queries", "20000"]);
    assert!(out.contains("policy failover, 20000 draws"), "{out}");
    let share = |out: &str, member: &str| -> (f64, f64) {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(member))
            .unwrap();
        let f: Vec<f64> = line
            .split_whitespace()
            .rev()
            .take(2)
            .map(|x| x.parse().unwrap())
            .collect();
        (f[1], f[0])
    };
    for (m, want) in [
        ("192.0.2.50", 0.675),
        ("192.0.2.51", 0.225),
        ("192.0.2.52", 0.1),
    ] {
        let (got, expected) = share(&out, m);
        assert!(
            (expected - want).abs() < 0.001,
            "{m}: expected {expected}\n{out}"
        );
        assert!((got - want).abs() < 0.02, "{m}: share {got}\n{out}");
    }
    // The first tier down: the second takes everything.
    let out = run(&[
        "f.example.com",
        "--down",
        "192.0.2.50",
        "--down",
        "192.0.2.51",
    ]);
    assert_eq!(share(&out, "192.0.2.52"), (1.0, 1.0), "{out}");
    // A region client.
    let out = run(&["www.example.com", "--client", "198.51.100.7"]);
    assert_eq!(share(&out, "192.0.2.20"), (1.0, 1.0), "{out}");
}

#[test]
fn policy_keys_belong_to_their_policy() {
    let member = "{ address = \"192.0.2.1\", weight = 1 }";
    for (pool, needle) in [
        (
            "policy = \"weighted\"\nmembers = [ { address = \"192.0.2.1\", weight = 1, priority = 2 } ]".to_string(),
            "member 192.0.2.1: `priority` is for policy = \"failover\"",
        ),
        (
            format!("trickle = 0.1\nmembers = [ {member} ]"),
            "`trickle` is for policy = \"failover\"",
        ),
        (
            format!("policy = \"failover\"\ntrickle = 1.5\nmembers = [ {member} ]"),
            "trickle must be at least 0 and below 1",
        ),
        (
            "policy = \"hash\"\nmembers = [ { address = \"192.0.2.1\", weight = 1, region = \"eu\" } ]".to_string(),
            "`region` is for policy = \"region\"",
        ),
        (
            format!("policy = \"region\"\nmembers = [ {member} ]"),
            "policy = \"region\" needs `regions",
        ),
        (
            "policy = \"region\"\nregions = { eu = [\"192.0.2.0/24\"] }\nmembers = [ { address = \"192.0.2.1\", weight = 1, region = \"us\" } ]".to_string(),
            "member 192.0.2.1: region `us` is not in `regions`",
        ),
        (
            format!("ecs = false\nmembers = [ {member} ]"),
            "`ecs` is for policy = \"hash\" or \"region\"",
        ),
        (
            format!("policy = \"sticky\"\nmembers = [ {member} ]"),
            "policy must be weighted, failover, hash, round-robin, region or geo",
        ),
    ] {
        let dir = dir_with_config(&format!(
            "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\n{pool}\n"
        ));
        let problems = load_problems(&dir.path().join("dnslb.toml"));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("dnslb.toml:") && p.contains(needle)),
            "{needle:?} in {problems:?}"
        );
    }
}
