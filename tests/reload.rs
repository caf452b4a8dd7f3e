//! Live reload over real sockets, with files edited in a temporary directory: SIGHUP, POST
//! /reload and the file watcher; atomic swaps under load; broken files keep the last good
//! version; health, counters and overrides carry over.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

fn zone(version: u32) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster {version} 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n\
         alias CNAME a{version}\na{version} A 192.0.2.{version}\n"
    )
}

fn write_zone(dir: &std::path::Path, text: &str) {
    write_file(dir, "zones/example.com.zone", text);
}

/// Turns the file watcher on in a test directory's config.
fn watching(dir: tempfile::TempDir) -> tempfile::TempDir {
    let path = dir.path().join("dnslb.toml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, cfg.replace("watch = false", "watch = true")).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_swaps_in_a_new_zone_and_keeps_the_serial() {
    let dir = dir_with_config("");
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    assert_eq!(
        addresses(&udp(s.addr, "alias.example.com.", RecordType::A).await),
        ["192.0.2.1"]
    );
    write_zone(s.dir.path(), &zone(2));
    let (st, body) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(st, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({ "generation": 2, "problems": [] }),
        "the new generation, and no problem"
    );
    assert_eq!(
        addresses(&udp(s.addr, "alias.example.com.", RecordType::A).await),
        ["192.0.2.2"]
    );
    let soa = udp(s.addr, "example.com.", RecordType::SOA).await;
    let RData::SOA(soa) = &soa.answers[0].data else {
        panic!()
    };
    assert_eq!(soa.serial, 2, "the file's serial, untouched");
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    assert!(
        metrics.contains("dnslb_zone_serial{zone=\"example.com.\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\ndnslb_snapshot_generation 2\n"),
        "{metrics}"
    );
    // The memory gauges: prepared answers exist, and the process's memory is measured.
    let gauge = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(gauge("dnslb_prepared_answers_bytes") > 0);
    assert!(gauge("dnslb_resident_memory_bytes") > gauge("dnslb_prepared_answers_bytes"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_config_file_reloads_by_itself() {
    let dir = watching(dir_with_config(""));
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    let r = udp(s.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    let cfg = std::fs::read_to_string(s.config()).unwrap();
    write_file(
        s.dir.path(),
        "dnslb.toml",
        &format!(
            "{cfg}\n[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [ {{ address = \"192.0.2.10\", weight = 1 }} ]\n"
        ),
    );
    let took = wait_until(Duration::from_secs(5), || async {
        addresses(&udp(s.addr, "www.example.com.", RecordType::A).await) == ["192.0.2.10"]
    })
    .await;
    assert!(took.is_some(), "the config edit was picked up");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_query_is_lost_or_mixed_across_50_reloads_under_load() {
    let dir = dir_with_config("");
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for _ in 0..2 {
        let (stop, sent, bad, addr) = (stop.clone(), sent.clone(), bad.clone(), s.addr);
        load.push(tokio::spawn(async move {
            let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = vec![0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let q = query_message("alias.example.com.", RecordType::A, Some(1232));
                sock.send_to(&q.to_vec().unwrap(), addr).await.unwrap();
                sent.fetch_add(1, Ordering::Relaxed);
                let ok =
                    match tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf)).await {
                        Ok(Ok(n)) => {
                            let r = hickory_proto::op::Message::from_vec(&buf[..n]).unwrap();
                            // One world or the other: CNAME aN and A 192.0.2.N with the same N.
                            let shown = show(&r.answers);
                            r.metadata.response_code == ResponseCode::NoError
                                && r.metadata.id == q.metadata.id
                                && (shown
                                    == [
                                        "alias.example.com. 300 CNAME a1.example.com.",
                                        "a1.example.com. 300 A 192.0.2.1",
                                    ]
                                    || shown
                                        == [
                                            "alias.example.com. 300 CNAME a2.example.com.",
                                            "a2.example.com. 300 A 192.0.2.2",
                                        ])
                        }
                        _ => false,
                    };
                if !ok {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let shared = s.running.as_ref().unwrap().shared.clone();
    for i in 0..50u32 {
        write_zone(s.dir.path(), &zone(1 + (i % 2)));
        let installed = shared.reload().await.expect("reload succeeds");
        assert_eq!(installed.generation, u64::from(i) + 2);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("{sent} queries across 50 reloads");
    assert!(sent > 200, "the load really ran: {sent} queries");
    assert_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "of {sent} queries, some were lost, wrong or mixed"
    );
    let errors: u64 = shared
        .stats
        .counts()
        .iter()
        .filter(|(rc, _)| *rc != ResponseCode::NoError)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(errors, 0, "no error responses");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_zone_keeps_its_last_good_version_and_says_why() {
    let dir = dir_with_config("");
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    write_zone(
        s.dir.path(),
        &format!("{}bad 300 IN A 192.0.2.999\n", zone(2)),
    );
    let (st, body) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(
        st, 200,
        "the config is fine; one zone kept its last good version: {body}"
    );
    assert!(body.contains("example.com.zone:8: bad A record"), "{body}");
    assert_eq!(
        addresses(&udp(s.addr, "alias.example.com.", RecordType::A).await),
        ["192.0.2.1"],
        "still version 1"
    );
    let (_, status) = http(s.admin(), "GET", "/status", "").await;
    assert!(
        status.contains("example.com.zone:8: bad A record"),
        "{status}"
    );
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    assert!(
        metrics.contains("dnslb_reload_failures_total 1"),
        "{metrics}"
    );

    // Fixed: served again, and the problem is gone from the status.
    write_zone(s.dir.path(), &zone(2));
    let (st, _) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(st, 200);
    assert_eq!(
        addresses(&udp(s.addr, "alias.example.com.", RecordType::A).await),
        ["192.0.2.2"]
    );
    let (_, status) = http(s.admin(), "GET", "/status", "").await;
    assert!(status.contains("\"problems\":[]"), "{status}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_keeps_the_running_one() {
    let dir = dir_with_config(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [ { address = \"192.0.2.10\", weight = 1 } ]\n",
    );
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    let config = s.config();
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace("weight = 1", "weight = -4")).unwrap();
    let (st, body) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(st, 422, "{body}");
    assert!(
        body.contains("weight -4 must be a non-negative integer"),
        "{body}"
    );
    assert!(
        body.contains("dnslb.toml:"),
        "names the file and line: {body}"
    );
    assert_eq!(
        addresses(&udp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.10"]
    );
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    assert!(
        metrics.contains("dnslb_reload_failures_total 1"),
        "{metrics}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_changes_reload_by_themselves() {
    let dir = watching(dir_with_config(""));
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    write_zone(s.dir.path(), &zone(2));
    let took = wait_until(Duration::from_secs(5), || async {
        addresses(&udp(s.addr, "alias.example.com.", RecordType::A).await) == ["192.0.2.2"]
    })
    .await;
    assert!(took.is_some(), "the zone edit was picked up");
    // A new zone file appears: served.
    std::fs::write(
        s.dir.path().join("zones/other.test.zone"),
        "@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.7\n",
    )
    .unwrap();
    let took = wait_until(Duration::from_secs(5), || async {
        addresses(&udp(s.addr, "ns.other.test.", RecordType::A).await) == ["192.0.2.7"]
    })
    .await;
    assert!(took.is_some(), "the new zone was picked up");
    // Reads alone (every reload reads the files) do not start a reload loop.
    let generation = s
        .running
        .as_ref()
        .unwrap()
        .shared
        .snapshot
        .load()
        .generation;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        s.running
            .as_ref()
            .unwrap()
            .shared
            .snapshot
            .load()
            .generation,
        generation
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_counters_and_overrides_carry_over() {
    let keep = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let keep_port = keep.local_addr().unwrap().port();
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_port = gone.local_addr().unwrap().port();
    let gone_hits = Arc::new(AtomicU64::new(0));
    let hits = gone_hits.clone();
    let _k = tokio::spawn(async move { while keep.accept().await.is_ok() {} });
    let _g = tokio::spawn(async move {
        while gone.accept().await.is_ok() {
            hits.fetch_add(1, Ordering::Relaxed);
        }
    });
    let probe = "{ kind = \"tcp\", interval = \"100ms\", timeout = \"200ms\" }";
    // A second pool whose only member starts down and needs 100 successes to rise.
    let late = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    late.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let late_port = late.local_addr().unwrap().as_socket().unwrap().port();
    let slow_pool = format!(
        "[[pool]]\nname = \"late.example.com.\"\ntype = \"A\"\n\
         probe = {{ kind = \"tcp\", interval = \"100ms\", timeout = \"200ms\", rise = 100 }}\n\
         members = [ {{ address = \"192.0.2.40\", weight = 1, check = \"127.0.0.1:{late_port}\" }} ]\n"
    );
    let pool = |members: &str| {
        format!(
            "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nprobe = {probe}\nmembers = [ {members} ]\n{slow_pool}"
        )
    };
    let a =
        format!("{{ address = \"192.0.2.10\", weight = 1, check = \"127.0.0.1:{keep_port}\" }}");
    let b =
        format!("{{ address = \"192.0.2.11\", weight = 1, check = \"127.0.0.1:{gone_port}\" }}");
    let c = format!(
        "{{ address = \"192.0.2.12\", weight = 1, check = \"127.0.0.1:{}\" }}",
        closed_port()
    );
    let dir = dir_with_config(&pool(&format!("{a}, {b}")));
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    let late_cell = s.running.as_ref().unwrap().shared.snapshot.load().pools[1].members[0]
        .health
        .clone()
        .unwrap();
    assert!(!late_cell.is_up(), "nothing listens at start-up");
    late.listen(1024).unwrap();
    let answered = wait_until(Duration::from_secs(3), || async {
        late_cell.last_ok.load(Ordering::Relaxed)
    })
    .await;
    assert!(answered.is_some(), "its probe now succeeds");
    draw_counts(s.addr, "www.example.com.", 40).await;
    let (st, _) = http(
        s.admin(),
        "POST",
        "/pools/www.example.com./members/192.0.2.10/weight",
        "5",
    )
    .await;
    assert_eq!(st, 200);
    let served_before = s.running.as_ref().unwrap().shared.snapshot.load().pools[0].members[0]
        .state
        .served();
    assert!(served_before > 0);

    // New config: member b removed, member c (nothing listening) added.
    let cfg = std::fs::read_to_string(s.config()).unwrap();
    let start = cfg.find("[[pool]]").unwrap();
    std::fs::write(
        s.config(),
        format!("{}{}", &cfg[..start], pool(&format!("{a}, {c}"))),
    )
    .unwrap();
    let (st, body) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(st, 200, "{body}");

    // c was probed before the swap: never served. a kept its override and its counter.
    let counts = draw_counts(s.addr, "www.example.com.", 40).await;
    assert_eq!(counts.get("192.0.2.10"), Some(&40), "{counts:?}");
    let snap = s.running.as_ref().unwrap().shared.snapshot.load();
    let m = &snap.pools[0].members[0];
    assert_eq!(m.state.weight_override(), Some(5));
    assert_eq!(m.state.served(), served_before + 40);
    assert!(m.health.as_ref().unwrap().is_up());
    // Carried over, not probed afresh: d was down at start-up and its listener opened since,
    // but rise = 100 keeps it down. A fresh cell would be probed before the swap and come up.
    assert!(!snap.pools[1].members[0].health.as_ref().unwrap().is_up());
    assert!(
        snap.pools[1].members[0]
            .health
            .as_ref()
            .unwrap()
            .last_ok
            .load(Ordering::Relaxed),
        "its listener answers, yet it stays down until rise is met"
    );
    // b's probe stopped with the old generation.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let after = gone_hits.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        gone_hits.load(Ordering::Relaxed),
        after,
        "no probe of a removed member lingers"
    );
    s.stop().await;
}

#[test]
fn sighup_reloads_the_binary() {
    let dir = dir_with_config("");
    write_zone(dir.path(), &zone(1));
    let mut child = Binary(
        Command::new(env!("CARGO_BIN_EXE_dnslb"))
            .args(["--config", "dnslb.toml"])
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("dnslb starts"),
    );
    // The log is read on a thread of its own, so that every wait for a line is bounded.
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut next_line = || match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(line) => {
            seen.push(line.clone());
            line
        }
        Err(e) => panic!("no log line within 10 s ({e}); the log so far: {seen:#?}"),
    };
    let addr = loop {
        let line = next_line();
        if line.contains("listening for DNS") {
            break line
                .split("addr=")
                .nth(1)
                .map(|a| a.trim().parse::<SocketAddr>().unwrap())
                .expect("the log names the DNS address");
        }
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(udp(addr, "alias.example.com.", RecordType::A))
            .answers
            .len(),
        2
    );
    write_zone(dir.path(), &zone(2));
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    while !next_line().contains("reloaded") {}
    assert_eq!(
        addresses(&rt.block_on(udp(addr, "alias.example.com.", RecordType::A))),
        ["192.0.2.2"]
    );
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child
        .wait(Duration::from_secs(5))
        .expect("exits within 5 s of SIGTERM");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

/// The real binary, killed when dropped (a failing test leaves no server behind).
struct Binary(std::process::Child);

impl Binary {
    /// Waits at most `limit` for the process to exit.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_zone_keeps_serving_its_last_good_records_with_the_new_pools() {
    let dir = dir_with_config("");
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    // Break the zone and add a pool inside it, in one reload.
    write_zone(s.dir.path(), &format!("{}broken\n", zone(2)));
    let cfg = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        format!("{cfg}\n[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [ {{ address = \"192.0.2.10\", weight = 1 }} ]\n"),
    )
    .unwrap();
    let (st, body) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("example.com.zone:8:"), "{body}");
    assert_eq!(
        addresses(&udp(s.addr, "alias.example.com.", RecordType::A).await),
        ["192.0.2.1"],
        "last good records"
    );
    assert_eq!(
        addresses(&udp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.10"],
        "new pool"
    );
    // A second reload of the still-broken file still serves the last good version.
    let (st, _) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(st, 200);
    assert_eq!(
        addresses(&udp(s.addr, "alias.example.com.", RecordType::A).await),
        ["192.0.2.1"]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_missing_include_file_is_noticed() {
    let dir = watching(dir_with_config(""));
    write_zone(dir.path(), &format!("{}$INCLUDE extra.inc\n", zone(1)));
    std::fs::write(
        dir.path().join("zones/other.test.zone"),
        "@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.7\n",
    )
    .unwrap();
    let s = start_dir(dir).await;
    let r = udp(s.addr, "alias.example.com.", RecordType::A).await;
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::Refused,
        "example.com is broken at start-up"
    );
    std::fs::write(
        s.dir.path().join("zones/extra.inc"),
        "extra 300 IN A 192.0.2.77\n",
    )
    .unwrap();
    let took = wait_until(Duration::from_secs(5), || async {
        addresses(&udp(s.addr, "extra.example.com.", RecordType::A).await) == ["192.0.2.77"]
    })
    .await;
    assert!(took.is_some(), "the new include file was noticed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_that_hides_a_changed_configured_weight_is_flagged() {
    let pool = |w: u32| {
        format!(
            "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [ {{ address = \"192.0.2.10\", weight = {w} }} ]\n"
        )
    };
    let dir = dir_with_config(&pool(1));
    write_zone(dir.path(), &zone(1));
    let s = start_dir(dir).await;
    let flag = || async {
        let (_, body) = http(s.admin(), "GET", "/status", "").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["pools"][0]["members"][0]["override_masks_config"].clone()
    };
    let member = "/pools/www.example.com./members/192.0.2.10/weight";
    assert_eq!(http(s.admin(), "POST", member, "5").await.0, 200);
    assert_eq!(flag().await, false);
    let cfg = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(s.config(), cfg.replace("weight = 1", "weight = 2")).unwrap();
    assert_eq!(http(s.admin(), "POST", "/reload", "").await.0, 200);
    assert_eq!(
        flag().await,
        true,
        "configured 2, override 5 set when it was 1"
    );
    assert_eq!(http(s.admin(), "DELETE", member, "").await.0, 200);
    assert_eq!(flag().await, false);
    s.stop().await;
}

/// A reload does not build again a zone that did not change and holds no pool: the previous
/// generation's zone serves on (the same one, not a copy); a zone with a pool, or whose file
/// changed, is built anew.
#[test]
fn an_unchanged_zone_without_pools_is_not_built_again() {
    let other = "$ORIGIN other.test.\n$TTL 300\n@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n";
    let pool = "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [ { address = \"192.0.2.10\", weight = 1 } ]\n";
    let dir = dir_with_zones(
        pool,
        &[
            ("example.com.zone", EXAMPLE_ZONE),
            ("other.test.zone", other),
        ],
    );
    let config = dir.path().join("dnslb.toml");
    let store = Default::default();
    let load = |previous: Option<&dnslb::load::Loaded>| {
        let previous = previous.map(|p| dnslb::load::Previous {
            snapshot: &p.snapshot,
            sources: &p.sources,
        });
        dnslb::load::load(&config, previous, &store).expect("loads")
    };
    let zone = |l: &dnslb::load::Loaded, origin: &str| {
        l.snapshot
            .zone(&hickory_proto::rr::Name::from_ascii(origin).unwrap())
            .expect("served")
            .clone()
    };
    let first = load(None);
    let second = load(Some(&first));
    assert!(Arc::ptr_eq(
        &zone(&first, "other.test."),
        &zone(&second, "other.test.")
    ));
    assert!(
        !Arc::ptr_eq(
            &zone(&first, "example.com."),
            &zone(&second, "example.com.")
        ),
        "a zone with a pool is built with the new pools"
    );
    write_file(
        dir.path(),
        "zones/other.test.zone",
        &other.replace(" 1 7200", " 2 7200"),
    );
    let third = load(Some(&second));
    assert!(!Arc::ptr_eq(
        &zone(&second, "other.test."),
        &zone(&third, "other.test.")
    ));
    assert_eq!(zone(&third, "other.test.").serial, 2);
}
