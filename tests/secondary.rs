//! dnslb as a secondary, with real Knot and NSD as primaries on loopback: the zone is transferred
//! (AXFR, then IXFR from Knot's journal), served with the TOML's pools placed in it, followed
//! within a second of a NOTIFY, kept at its last good version when a transfer does not load,
//! and dropped (SERVFAIL) once the SOA's expire passes with the primary gone. TSIG: the right
//! key transfers, a wrong or missing one is refused by the primary; transfers out of dnslb and
//! NOTIFY into it check keys and addresses. Two dnslb secondaries of one Knot follow a NOTIFY
//! together and tell themselves apart by NSID.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// The TSIG secret the tests share (base64).
const SECRET: &str = "ZG5zbGItdGVzdC1rZXktb2YtdGhpcnR5LXR3by1vY3RldHM=";
const WRONG: &str = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=";

/// The zone a primary serves: serial `serial`, SOA timers `timers` (refresh retry expire),
/// and `extra` lines.
fn zone(serial: u32, timers: &str, extra: &str) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster {serial} {timers} 60\n@ NS ns1\nns1 A 192.0.2.1\nstatic A 192.0.2.7\n{extra}"
    )
}

const TIMERS: &str = "3600 600 86400";

/// `n` more names, to make a transfer take several messages.
fn hosts(n: usize) -> String {
    (0..n)
        .map(|i| format!("host{i} A 10.0.{}.{}\n", i / 256, i % 256))
        .collect()
}

/// Knot, primary of example.com (and of `more` zones, same data) on a loopback port; transfers
/// need the key when `keyed`; NOTIFY goes to `notify`.
async fn knot(zone_text: &str, keyed: bool, notify: &[SocketAddr]) -> Daemon {
    let text = zone_text.to_string();
    let setup = move |dir: &Path| std::fs::write(dir.join("example.com.zone"), &text).unwrap();
    let notify = notify.to_vec();
    let config = move |port: u16, dir: &Path| {
        let d = dir.display();
        let key = if keyed { "\n    key: xfr-key" } else { "" };
        let remotes: String = notify
            .iter()
            .enumerate()
            .map(|(i, a)| format!("  - id: s{i}\n    address: {}@{}{key}\n", a.ip(), a.port()))
            .collect();
        let ids: Vec<String> = (0..notify.len()).map(|i| format!("s{i}")).collect();
        format!(
            "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
             control:\n  listen: \"{d}/knot.sock\"\n\
             log:\n  - target: \"{d}/knot.log\"\n    any: debug\n\
             database:\n  storage: \"{d}\"\n\
             key:\n  - id: xfr-key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
             {remote}\
             acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer{key}\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    zonefile-load: difference\n    journal-content: changes\n    semantic-checks: off\n\
             zone:\n  - domain: example.com\n    file: example.com.zone\n    acl: xfr\n{notify}",
            remote = if remotes.is_empty() {
                String::new()
            } else {
                format!("remote:\n{remotes}")
            },
            notify = if ids.is_empty() {
                String::new()
            } else {
                format!("    notify: [{}]\n", ids.join(", "))
            },
        )
    };
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start("knotd", "knot.conf", &["-c"], setup, config, &probe).await
}

/// Rewrites Knot's zone file and has it reloaded (it journals the difference, for IXFR, and
/// sends NOTIFY).
async fn knot_update(knot: &Daemon, zone_text: &str) {
    std::fs::write(knot.dir.path().join("example.com.zone"), zone_text).unwrap();
    let sock = knot.dir.path().join("knot.sock");
    let out = tokio::process::Command::new("knotc")
        .arg("-s")
        .arg(&sock)
        .args(["zone-reload", "example.com"])
        .output()
        .await
        .expect("knotc runs");
    assert!(out.status.success(), "knotc: {out:?}");
}

/// Knot's log, for a failing assertion.
fn knot_log(knot: &Daemon) -> String {
    std::fs::read_to_string(knot.dir.path().join("knot.log")).unwrap_or_default()
}

/// A `[[secondary]]` for example.com from `primary`, with `lines` added.
fn secondary(primary: SocketAddr, lines: &str) -> String {
    format!("[[secondary]]\nzone = \"example.com.\"\nprimaries = [\"{primary}\"]\n{lines}\n")
}

fn key_line(secret: &str) -> String {
    format!("tsig = {{ name = \"xfr-key\", algorithm = \"hmac-sha256\", secret = \"{secret}\" }}")
}

/// A pool in example.com, as the TOML places it in the transferred zone.
const POOL: &str = "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [{ address = \"192.0.2.10\", weight = 1 }]\n\n";

/// Starts dnslb with no zone files and `extra` TOML.
async fn dnslb(extra: &str) -> TestServer {
    dnslb_named(extra, None).await
}

/// [`dnslb`], telling `identity` (NSID) when given.
async fn dnslb_named(extra: &str, identity: Option<&str>) -> TestServer {
    let dir = dir_with_zones(extra, &[]);
    if let Some(id) = identity {
        let conf = dir.path().join("dnslb.toml");
        let text = std::fs::read_to_string(&conf).unwrap();
        let text = text.replacen(
            "watch = false\n",
            &format!("watch = false\nidentity = \"{id}\"\n"),
            1,
        );
        std::fs::write(&conf, text).unwrap();
    }
    start_dir(dir).await
}

/// Where a primary goes in a config written before the primary runs (the primary must know
/// dnslb's address for its NOTIFY, and dnslb's own port is known only once it runs): the discard
/// port, which refuses. [`repoint`] puts the real one in.
const NOT_YET: &str = "127.0.0.1:9";

/// Writes `primary` in place of [`NOT_YET`] in the config of `s` and reloads it.
async fn repoint(s: &TestServer, primary: SocketAddr) {
    let conf = s.config();
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace(NOT_YET, &primary.to_string())).unwrap();
    let (code, body) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(code, 200, "{body}");
}

/// The serial dnslb serves for example.com, or the rcode when it does not.
async fn served_serial(addr: SocketAddr) -> Result<u32, ResponseCode> {
    zone_serial(addr, "example.com.").await
}

async fn wait_serial(addr: SocketAddr, serial: u32, limit: Duration) -> Option<Duration> {
    wait_until(
        limit,
        || async move { served_serial(addr).await == Ok(serial) },
    )
    .await
}

/// Waits (at most 5 s) until example.com's status error mentions `needle`.
async fn wait_for_error(s: &TestServer, needle: &str) -> Option<Duration> {
    wait_until(Duration::from_secs(5), || async {
        status(s).await["error"]
            .as_str()
            .is_some_and(|e| e.contains(needle))
    })
    .await
}

/// `/status`'s entry for example.com among the secondaries.
async fn status(s: &TestServer) -> serde_json::Value {
    secondary_status(s, "example.com.").await
}

fn tools() -> bool {
    have_tool("knotd") && have_tool("knotc") && have_tool("dig")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knot_as_primary_transfers_notifies_ixfr_and_pools_work_in_the_zone() {
    if !tools() {
        return;
    }
    let s = dnslb(&format!(
        "{POOL}{}[[zone]]\nname = \"example.com.\"\nallow_transfer = [\"127.0.0.1\"]\n",
        secondary(
            NOT_YET.parse().unwrap(),
            &format!("{}\ncache_file = \"example.com.cache\"", key_line(SECRET))
        )
    ))
    .await;
    // 3,000 names: Knot sends the AXFR in several messages, each signed.
    let primary = knot(&zone(1, TIMERS, &hosts(3000)), true, &[s.addr]).await;
    repoint(&s, primary.addr).await;
    assert!(
        wait_serial(s.addr, 1, Duration::from_secs(10))
            .await
            .is_some(),
        "dnslb transferred serial 1 from Knot, signed"
    );
    assert_eq!(
        addresses(&udp(s.addr, "static.example.com.", RecordType::A).await),
        ["192.0.2.7"]
    );
    assert_eq!(
        addresses(&udp(s.addr, "host2999.example.com.", RecordType::A).await),
        ["10.0.11.183"]
    );
    // The TOML's pool, placed in the transferred zone, answers as in a file zone.
    assert_eq!(
        addresses(&udp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.10"]
    );
    let st = status(&s).await;
    assert_eq!(st["state"], "serving", "{st}");
    assert_eq!(st["last_transfer"], "AXFR", "{st}");
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    assert!(
        metrics.contains("dnslb_secondary_zone_state{zone=\"example.com.\",state=\"serving\"} 1"),
        "{metrics}"
    );

    // A change on the primary: Knot journals it and sends NOTIFY; dnslb asks for an IXFR.
    knot_update(
        &primary,
        &zone(2, TIMERS, &format!("{}fresh A 192.0.2.99\n", hosts(3000))),
    )
    .await;
    let took = wait_serial(s.addr, 2, Duration::from_secs(5)).await;
    assert!(
        took.is_some(),
        "dnslb followed Knot's NOTIFY to serial 2: {}\n{}",
        status(&s).await,
        knot_log(&primary)
    );
    eprintln!("serial 2 served {took:?} after knotc zone-reload");
    assert!(
        took.unwrap() < Duration::from_secs(1),
        "within a second of the NOTIFY: {took:?}"
    );
    assert_eq!(
        addresses(&udp(s.addr, "fresh.example.com.", RecordType::A).await),
        ["192.0.2.99"]
    );
    let st = status(&s).await;
    assert_eq!(
        st["last_transfer"], "IXFR",
        "Knot's journal gave an IXFR: {st}"
    );
    assert_eq!(st["serial"], 2, "{st}");
    // A dnslb secondary passes the zone on (`[[zone]] allow_transfer`): serial 2, no pool.
    let listing = dig(s.addr, &["example.com", "AXFR"]).await;
    assert!(listing.contains("fresh.example.com."), "{listing}");
    assert!(!listing.contains("www.example.com."), "{listing}");

    // A transfer that does not load (a CNAME where the TOML places the pool): the last good
    // version keeps serving, and the status says why.
    knot_update(
        &primary,
        &zone(
            3,
            TIMERS,
            &format!("{}fresh A 192.0.2.99\nwww CNAME static\n", hosts(3000)),
        ),
    )
    .await;
    let said = wait_for_error(&s, "serial 3").await;
    assert!(
        said.is_some(),
        "the status names the transfer that did not load: {}",
        status(&s).await
    );
    assert_eq!(
        served_serial(s.addr).await,
        Ok(2),
        "the last good version serves"
    );
    assert_eq!(
        addresses(&udp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.10"]
    );

    // The cache file holds the last version that loaded; a restart serves it before any
    // primary answers.
    let cache = s.dir.path().join("example.com.cache");
    let text = std::fs::read_to_string(&cache).expect("the cache file is written");
    assert!(text.contains("fresh.example.com."), "{text}");
    primary.stop().await;
    let dir = s.dir.path().to_path_buf();
    let running = s.running.unwrap();
    running.stop().await;
    let again = dnslb::app::start(&dir.join("dnslb.toml"))
        .await
        .expect("restarts");
    assert_eq!(
        served_serial(again.dns_addrs[0]).await,
        Ok(2),
        "served from the cache file at once"
    );
    again.stop().await;
    drop(s.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_zone_answers_servfail_and_a_secondary_only_config_starts_empty() {
    if !tools() {
        return;
    }
    // Refresh 1 s, retry 1 s, expire 3 s.
    let primary = knot(&zone(1, "1 1 3", ""), false, &[]).await;
    let s = dnslb(&secondary(primary.addr, "")).await;
    assert!(
        wait_serial(s.addr, 1, Duration::from_secs(10))
            .await
            .is_some()
    );
    primary.stop().await;
    let gone = wait_until(Duration::from_secs(8), || async {
        served_serial(s.addr).await == Err(ResponseCode::ServFail)
    })
    .await;
    assert!(gone.is_some(), "SERVFAIL once expired");
    eprintln!("expired {gone:?} after the primary stopped (expire 3 s)");
    let st = status(&s).await;
    assert_eq!(st["state"], "expired", "{st}");
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    assert!(
        metrics.contains("dnslb_secondary_zone_state{zone=\"example.com.\",state=\"expired\"} 1"),
        "{metrics}"
    );
    assert!(
        st["error"]
            .as_str()
            .is_some_and(|e| e.contains("SOA query")),
        "{st}"
    );
    s.stop().await;

    // Nothing transferred yet: SERVFAIL (as Knot), and `check` says why instead of failing.
    let port = closed_port();
    let s = dnslb(&secondary(format!("127.0.0.1:{port}").parse().unwrap(), "")).await;
    let m = udp(s.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let m = udp(s.addr, "example.net.", RecordType::A).await;
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::Refused,
        "other names as before"
    );
    assert_eq!(status(&s).await["state"], "waiting");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"))
        .arg("--config")
        .arg(s.config())
        .arg("check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("secondary zone example.com.: SERVFAIL until its first transfer"),
        "{stdout}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsig_right_key_transfers_and_a_wrong_or_missing_one_is_refused_both_ways() {
    if !tools() {
        return;
    }
    let primary = knot(&zone(1, TIMERS, ""), true, &[]).await;
    // Into dnslb: a wrong key and no key are refused by Knot; nothing is served.
    for lines in [key_line(WRONG), String::new()] {
        let s = dnslb(&secondary(primary.addr, &lines)).await;
        let refused = wait_for_error(&s, "AXFR").await;
        assert!(refused.is_some(), "{lines}: {}", status(&s).await);
        assert_eq!(
            served_serial(s.addr).await,
            Err(ResponseCode::ServFail),
            "{lines}"
        );
        s.stop().await;
    }
    primary.stop().await;

    // Out of dnslb, with `[[zone]] tsig`: dig with the key gets the zone; with another key
    // NOTAUTH (BADSIG); unsigned REFUSED.
    let dir = dir_with_zones(
        &format!(
            "[[zone]]\nname = \"example.com.\"\nallow_transfer = [\"127.0.0.1\"]\n{}\n",
            key_line(SECRET)
        ),
        &[("example.com.zone", &zone(1, TIMERS, &hosts(3000)))],
    );
    let s = start_dir(dir).await;
    // 3,000 names: several messages, each signed and chained to the one before; dig checks.
    let right = dig(
        s.addr,
        &[
            "-y",
            &format!("hmac-sha256:xfr-key:{SECRET}"),
            "example.com",
            "AXFR",
        ],
    )
    .await;
    assert!(right.contains("static.example.com."), "{right}");
    assert!(right.contains("host2999.example.com."), "{right}");
    assert!(!right.contains("failed"), "{right}");
    assert!(right.contains("TSIG"), "the transfer is signed: {right}");
    let wrong = dig(
        s.addr,
        &[
            "-y",
            &format!("hmac-sha256:xfr-key:{WRONG}"),
            "example.com",
            "AXFR",
        ],
    )
    .await;
    assert!(!wrong.contains("static.example.com."), "{wrong}");
    assert!(
        wrong.contains("NOTAUTH") || wrong.contains("BADSIG") || wrong.contains("failed"),
        "{wrong}"
    );
    let unsigned = dig(s.addr, &["example.com", "AXFR"]).await;
    assert!(!unsigned.contains("static.example.com."), "{unsigned}");
    assert!(
        unsigned.contains("REFUSED") || unsigned.contains("failed"),
        "{unsigned}"
    );
    s.stop().await;
}

/// A NOTIFY for `zone` from `from`, signed with `secret` when given.
async fn send_notify(to: SocketAddr, from: &str, zone: &str, secret: Option<&str>) -> Message {
    let mut m = Message::new(77, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(
        Name::from_ascii(zone).unwrap(),
        RecordType::SOA,
    ));
    if let Some(secret) = secret {
        let raw = dnslb::config::RawTsig {
            name: "xfr-key".into(),
            algorithm: "hmac-sha256".into(),
            secret_file: None,
            secret: Some(secret.into()),
        };
        let key = dnslb::tsig::TsigKey::read(&raw, Path::new(".")).unwrap();
        m.finalize(key.signer(), dnslb::tsig::now()).unwrap();
    }
    let sock = tokio::net::UdpSocket::bind(format!("{from}:0"))
        .await
        .unwrap();
    sock.send_to(&m.to_vec().unwrap(), to).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(REPLY_TIMEOUT, sock.recv(&mut buf))
        .await
        .expect("a reply")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_from_elsewhere_or_badly_signed_is_refused_and_fetches_nothing() {
    // A primary that counts the SOA queries it gets and answers each REFUSED: the secondary
    // then waits its first retry (2 s) before asking again, unless a NOTIFY wakes it.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let primary = socket.local_addr().unwrap();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let fake = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            reply.metadata.response_code = ResponseCode::Refused;
            reply.add_queries(query.queries.iter().cloned());
            let _ = socket.send_to(&reply.to_vec().unwrap(), from).await;
        }
    });
    let count = || asked.load(std::sync::atomic::Ordering::SeqCst);
    let s = dnslb(&secondary(primary, &key_line(SECRET))).await;
    assert!(
        wait_until(Duration::from_secs(2), || async { count() == 1 })
            .await
            .is_some(),
        "the start-up SOA query"
    );
    let m = send_notify(s.addr, "127.0.0.2", "example.com.", Some(SECRET)).await;
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::Refused,
        "not in allow_notify"
    );
    let m = send_notify(s.addr, "127.0.0.1", "example.com.", Some(WRONG)).await;
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NotAuth,
        "bad signature"
    );
    let m = send_notify(s.addr, "127.0.0.1", "example.com.", None).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused, "unsigned");
    let m = send_notify(s.addr, "127.0.0.1", "example.org.", Some(SECRET)).await;
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NotAuth,
        "not our zone"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(),
        1,
        "no refused NOTIFY made the secondary ask its primary"
    );
    let m = send_notify(s.addr, "127.0.0.1", "example.com.", Some(SECRET)).await;
    assert!(
        wait_until(Duration::from_millis(800), || async { count() == 2 })
            .await
            .is_some(),
        "the accepted NOTIFY made it ask at once"
    );
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "the right key, from a primary"
    );
    assert!(m.metadata.authoritative);
    assert!(m.signature().is_some(), "the answer is signed");
    s.stop().await;
    fake.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsd_as_primary_is_followed_on_notify() {
    if !have_tool("nsd") {
        return;
    }
    let s = dnslb(&secondary(NOT_YET.parse().unwrap(), "")).await;
    let port = s.addr.port();
    let text = zone(1, TIMERS, "");
    let config = move |nsd_port: u16, dir: &Path| {
        let d = dir.display();
        format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {nsd_port}\n  server-count: 1\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  logfile: \"{d}/nsd.log\"\n  rrl-ratelimit: 0\n\
             remote-control:\n  control-enable: yes\n  control-interface: {d}/nsd.sock\n\
             zone:\n  name: \"example.com\"\n  zonefile: \"example.com.zone\"\n  \
             provide-xfr: 127.0.0.0/8 NOKEY\n  notify: 127.0.0.1@{port} NOKEY\n"
        )
    };
    let setup = move |dir: &Path| std::fs::write(dir.join("example.com.zone"), &text).unwrap();
    let probe = query_message("example.com.", RecordType::SOA, None);
    let nsd = Daemon::start("nsd", "nsd.conf", &["-d", "-c"], setup, config, &probe).await;
    repoint(&s, nsd.addr).await;
    assert!(
        wait_serial(s.addr, 1, Duration::from_secs(10))
            .await
            .is_some()
    );
    std::fs::write(
        nsd.dir.path().join("example.com.zone"),
        zone(2, TIMERS, "fresh A 192.0.2.99\n"),
    )
    .unwrap();
    let out = tokio::process::Command::new("nsd-control")
        .arg("-c")
        .arg(nsd.dir.path().join("nsd.conf"))
        .args(["reload", "example.com"])
        .output()
        .await
        .expect("nsd-control runs");
    assert!(out.status.success(), "nsd-control: {out:?}");
    let took = wait_serial(s.addr, 2, Duration::from_secs(5)).await;
    assert!(took.is_some(), "dnslb followed NSD's NOTIFY");
    eprintln!("serial 2 from NSD served {took:?} after nsd-control reload");
    nsd.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_secondaries_follow_one_notify_together_and_nsid_tells_them_apart() {
    if !tools() {
        return;
    }
    let mut servers = Vec::new();
    for i in 0..2 {
        let name = format!("dnslb-{i}");
        let s = dnslb_named(&secondary(NOT_YET.parse().unwrap(), ""), Some(&name)).await;
        servers.push((i, s));
    }
    let me: Vec<SocketAddr> = servers.iter().map(|(_, s)| s.addr).collect();
    let primary = knot(&zone(1, TIMERS, ""), false, &me).await;
    for (_, s) in &servers {
        repoint(s, primary.addr).await;
    }
    for (_, s) in &servers {
        assert!(
            wait_serial(s.addr, 1, Duration::from_secs(10))
                .await
                .is_some()
        );
    }
    knot_update(&primary, &zone(2, TIMERS, "")).await;
    for (i, s) in &servers {
        let took = wait_serial(s.addr, 2, Duration::from_secs(5)).await;
        assert!(took.is_some(), "instance {i} followed the NOTIFY");
        assert!(
            took.unwrap() < Duration::from_secs(1),
            "instance {i}: {took:?}"
        );
    }
    let mut ids = Vec::new();
    for (_, s) in &servers {
        let out = dig(s.addr, &["+nsid", "example.com", "SOA"]).await;
        let id = out
            .lines()
            .find(|l| l.contains("NSID"))
            .unwrap_or_else(|| panic!("an NSID: {out}"))
            .to_string();
        ids.push(id);
    }
    assert!(ids[0].contains("dnslb-0"), "{}", ids[0]);
    assert!(ids[1].contains("dnslb-1"), "{}", ids[1]);
    primary.stop().await;
    for (_, s) in servers {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secondary_below_a_file_zone_answers_servfail_until_transferred() {
    // The parent's prepared answers must not answer for the child while it has nothing.
    let primary: SocketAddr = format!("127.0.0.1:{}", closed_port()).parse().unwrap();
    let dir = dir_with_zones(
        &format!("[[secondary]]\nzone = \"sub.example.com.\"\nprimaries = [\"{primary}\"]\n"),
        &[("example.com.zone", &zone(1, TIMERS, ""))],
    );
    let s = start_dir(dir).await;
    for name in ["sub.example.com.", "www.sub.example.com."] {
        let m = udp(s.addr, name, RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{name}");
        let m = tcp(s.addr, name, RecordType::A).await;
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::ServFail,
            "{name} over TCP"
        );
    }
    assert_eq!(
        addresses(&udp(s.addr, "static.example.com.", RecordType::A).await),
        ["192.0.2.7"],
        "the parent serves as before"
    );
    s.stop().await;
}

#[test]
fn a_bad_secondary_table_names_its_line() {
    let problems = |lines: &str| {
        let dir = dir_with_zones(&format!("[[secondary]]\n{lines}\n"), &[]);
        load_problems(&dir.path().join("dnslb.toml")).join("\n")
    };
    // `dir_with_zones` writes 7 lines before the extra TOML: [[secondary]] is line 8.
    let p = problems("zone = \"example.com.\"\nprimaries = [\"not-an-address\"]");
    assert!(p.contains("dnslb.toml:10: "), "{p}");
    assert!(p.contains("`not-an-address` is not an address"), "{p}");
    let p = problems(&format!(
        "zone = \"example.com.\"\nprimaries = [\"127.0.0.1\"]\n{}",
        key_line("%%%")
    ));
    assert!(p.contains("dnslb.toml:11: "), "{p}");
    assert!(p.contains("not base64"), "{p}");
    let p = problems(
        "zone = \"example.com.\"\nprimaries = [\"127.0.0.1\"]\ntsig = { name = \"k\", algorithm = \"hmac-md5\", secret = \"AAAA\" }",
    );
    assert!(
        p.contains("dnslb.toml:11: ") && p.contains("hmac-md5"),
        "{p}"
    );
    let p = problems(
        "zone = \"example.com.\"\nprimaries = [\"127.0.0.1\"]\nallow_notify = [\"nowhere\"]",
    );
    assert!(
        p.contains("dnslb.toml:11: ") && p.contains("`nowhere` is not an IP address"),
        "{p}"
    );
    let p = problems(
        "zone = \"example.com.\"\nprimaries = [\"127.0.0.1\"]\ncache_file = \"zones/example.com.zone\"",
    );
    assert!(
        p.contains("dnslb.toml:11: ") && p.contains("zone directory"),
        "{p}"
    );
    let p = problems("zone = \"example.com.\"\nprimaries = [\"127.0.0.1\"]\nprimary = \"x\"");
    assert!(p.contains("unknown field `primary`"), "{p}");
    // A zone both in the zone directory and a secondary.
    let dir = dir_with_zones(
        "[[secondary]]\nzone = \"example.com.\"\nprimaries = [\"127.0.0.1\"]\n",
        &[("example.com.zone", &zone(1, TIMERS, ""))],
    );
    let p = load_problems(&dir.path().join("dnslb.toml")).join("\n");
    assert!(p.contains("both this file and a [[secondary]]"), "{p}");
}

/// A primary of our own on loopback, for what Knot and NSD never send: SOA over UDP with the
/// serial in `serial`, and over TCP an AXFR of that serial, complete for serial 1 and cut short
/// (no closing SOA) for any other.
async fn fake_primary(serial: std::sync::Arc<std::sync::atomic::AtomicU32>) -> SocketAddr {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (udp, tcp) = udp_and_tcp_on_one_port().await;
    let addr = udp.local_addr().unwrap();
    let soa = |n: u32| {
        let origin = Name::from_ascii("example.com.").unwrap();
        hickory_proto::rr::Record::from_rdata(
            origin.clone(),
            300,
            RData::SOA(hickory_proto::rr::rdata::SOA::new(
                Name::from_ascii("ns1.example.com.").unwrap(),
                Name::from_ascii("hostmaster.example.com.").unwrap(),
                n,
                1,
                1,
                600,
                60,
            )),
        )
    };
    let reply = move |query: &Message, records: Vec<hickory_proto::rr::Record>| {
        let mut m = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        m.add_queries(query.queries.iter().cloned());
        m.add_answers(records);
        m.to_vec().unwrap()
    };
    let s = serial.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            if let Ok(q) = Message::from_vec(&buf[..n]) {
                let _ = udp
                    .send_to(&reply(&q, vec![soa(s.load(SeqCst))]), from)
                    .await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = tcp.accept().await {
            let n = serial.load(SeqCst);
            let mut len = [0u8; 2];
            if conn.read_exact(&mut len).await.is_err() {
                continue;
            }
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if conn.read_exact(&mut msg).await.is_err() {
                continue;
            }
            let Ok(q) = Message::from_vec(&msg) else {
                continue;
            };
            let ns = hickory_proto::rr::Record::from_rdata(
                Name::from_ascii("example.com.").unwrap(),
                300,
                RData::NS(hickory_proto::rr::rdata::NS(
                    Name::from_ascii("ns1.example.com.").unwrap(),
                )),
            );
            let a = hickory_proto::rr::Record::from_rdata(
                Name::from_ascii("ns1.example.com.").unwrap(),
                300,
                RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 1)),
            );
            let mut records = vec![soa(n), ns, a];
            if n == 1 {
                records.push(soa(n));
            }
            let out = reply(&q, records);
            let _ = conn.write_all(&(out.len() as u16).to_be_bytes()).await;
            let _ = conn.write_all(&out).await;
            // Then the connection closes, cut short or not.
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cut_short_keeps_the_last_good_zone() {
    let serial = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(1));
    let primary = fake_primary(serial.clone()).await;
    let s = dnslb(&secondary(primary, "")).await;
    assert!(
        wait_serial(s.addr, 1, Duration::from_secs(10))
            .await
            .is_some()
    );
    // Serial 2 is announced, but its transfer ends without the closing SOA (refresh is 1 s).
    serial.store(2, std::sync::atomic::Ordering::SeqCst);
    let failed = wait_for_error(&s, "AXFR").await;
    assert!(
        failed.is_some(),
        "the cut transfer is an error: {}",
        status(&s).await
    );
    let st = status(&s).await;
    assert_eq!(st["state"], "serving", "{st}");
    assert_eq!(st["serial"], 1, "{st}");
    assert_eq!(served_serial(s.addr).await, Ok(1), "serial 1 still serves");
    s.stop().await;
}

/// The records of an AXFR from `addr`, read over TCP until the closing SOA, as sorted lines
/// (owner lower-cased, TTL, type, RDATA), for comparing two servers' copies of a zone.
async fn axfr_listing(addr: SocketAddr) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let q = query_message("example.com.", RecordType::AXFR, None)
        .to_vec()
        .unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    conn.write_all(&framed).await.unwrap();
    let mut lines = Vec::new();
    let mut soas = 0;
    while soas < 2 {
        let mut len = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut len))
            .await
            .expect("the next message within 10 s")
            .expect("the transfer goes on to its closing SOA");
        let mut m = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut m).await.unwrap();
        let m = Message::from_vec(&m).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        for r in m.answers {
            if r.record_type() == RecordType::SOA {
                soas += 1;
                if soas == 2 {
                    continue;
                }
            }
            lines.push(format!(
                "{} {} {} {}",
                r.name.to_lowercase(),
                r.ttl,
                r.record_type(),
                r.data
            ));
        }
    }
    lines.sort_unstable();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300000_record_zone_transfers_whole_ten_times_and_an_ixfr_of_40000_names_is_quick() {
    if !tools() {
        return;
    }
    let names = 299_998; // with the apex NS, ns1, static and the SOA: 300,002 records
    let text = zone(1, TIMERS, &many(names));
    let plain = knot(&text, false, &[]).await;
    let keyed = knot(&text, true, &[]).await;
    let knots = axfr_listing(plain.addr).await;
    assert_eq!(knots.len(), 300_002, "Knot's AXFR, the closing SOA aside");
    for round in 0..10 {
        // Five rounds from the Knot that wants TSIG, five from the one that does not; each a
        // fresh dnslb, so each an AXFR of the whole zone.
        let (primary, key) = if round < 5 {
            (&keyed, key_line(SECRET))
        } else {
            (&plain, String::new())
        };
        let s = dnslb(&format!(
            "{}[[zone]]\nname = \"example.com.\"\nallow_transfer = [\"127.0.0.1\"]\n",
            secondary(primary.addr, &key)
        ))
        .await;
        let took = wait_serial(s.addr, 1, Duration::from_secs(60)).await;
        assert!(took.is_some(), "round {round}: {}", status(&s).await);
        let ours = axfr_listing(s.addr).await;
        assert_eq!(ours.len(), knots.len(), "round {round}: every record");
        assert!(ours == knots, "round {round}: record for record");
        eprintln!(
            "round {round} (TSIG: {}): 300,002 records served after {took:?}, transfer {}",
            round < 5,
            status(&s).await["transfer_seconds"]
        );
        if round < 9 {
            s.stop().await;
            continue;
        }
        // The last dnslb follows an IXFR adding 40,000 names; /status answers meanwhile.
        let more: String = (0..40_000)
            .map(|i| format!("new{i} A 10.9.{}.{}\n", i / 256, i % 256))
            .collect();
        knot_update(&plain, &zone(2, TIMERS, &format!("{}{more}", many(names)))).await;
        let mut slowest = Duration::ZERO;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while served_serial(s.addr).await != Ok(2) {
            assert!(
                std::time::Instant::now() < deadline,
                "serial 2: {}",
                status(&s).await
            );
            // A NOTIFY from the primary's address, as Knot would send.
            let mut n = Message::new(9, MessageType::Query, OpCode::Notify);
            n.add_query(Query::query(
                Name::from_ascii("example.com.").unwrap(),
                RecordType::SOA,
            ));
            udp_raw(s.addr, &n.to_vec().unwrap(), Duration::from_secs(1)).await;
            let asked = std::time::Instant::now();
            let (code, _) = tokio::time::timeout(
                Duration::from_secs(2),
                http(s.admin(), "GET", "/status", ""),
            )
            .await
            .expect("/status answers within 2 s while the IXFR is applied");
            assert_eq!(code, 200);
            slowest = slowest.max(asked.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let st = status(&s).await;
        assert_eq!(st["last_transfer"], "IXFR", "{st}");
        let seconds = st["transfer_seconds"].as_f64().unwrap();
        eprintln!(
            "IXFR of 40,000 names read and applied in {seconds:.3} s; slowest /status {slowest:?}"
        );
        assert!(
            seconds < 1.0,
            "the IXFR is applied in linear time: {seconds} s"
        );
        assert_eq!(
            addresses(&udp(s.addr, "new39999.example.com.", RecordType::A).await),
            ["10.9.156.63"]
        );
        assert_eq!(axfr_listing(s.addr).await.len(), 340_002);
        s.stop().await;
    }
}

/// `n` names with addresses for any `n` below 2^24.
fn many(n: usize) -> String {
    (0..n)
        .map(|i| format!("h{i} A 10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255))
        .collect()
}
