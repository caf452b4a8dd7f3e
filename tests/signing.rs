//! DNSSEC, part 2: dnslb signs what it serves, pools included. Keys are made in the test by
//! BIND's `dnssec-keygen` (with its timing options for rollovers), and what dnslb serves is
//! checked by real validators on loopback: Unbound validating with the DS `dnslb dnssec ds`
//! prints as its trust anchor (its cache off, so that every answer is dnslb's), and `delv`;
//! Knot signs the same zone with the same keys for the differential test. Probe targets are
//! listeners the test opens and closes on 127.0.0.1.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// The zone dnslb signs: the part-1 fixture without its signed child (its delegation to the
/// unsigned `insecure.example.com` kept), and the pools' names beside it.
fn zone_text() -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dnssec");
    let text = std::fs::read_to_string(src.join("example.com.zone")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with("sub ") && !l.starts_with("ns.sub "))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `dnssec-keygen` in `dir` for example.com with `args` (ECDSAP256SHA256 unless they say
/// otherwise); the key's base name (`Kexample.com.+013+NNNNN`).
fn keygen(dir: &Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new("dnssec-keygen");
    cmd.args(["-q", "-K"]).arg(dir);
    if !args.contains(&"-a") {
        cmd.args(["-a", "ECDSAP256SHA256"]);
    }
    let out = cmd.args(args).arg("example.com").output().unwrap();
    assert!(out.status.success(), "dnssec-keygen {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The key tag in a key's base name.
fn tag(base: &str) -> u16 {
    base.rsplit('+').next().unwrap().parse().unwrap()
}

/// A server directory: the zone, `extra` config (pools) and a `[[zone]]` signing it with the
/// keys in `keys/` (`dnssec` adds to its table).
fn signed_dir(extra: &str, dnssec: &str) -> tempfile::TempDir {
    signed_dir_with(extra, dnssec, "")
}

/// [`signed_dir`] with `zone` lines more in its `[[zone]]`.
fn signed_dir_with(extra: &str, dnssec: &str, zone: &str) -> tempfile::TempDir {
    let insecure = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dnssec/insecure.example.com.zone"),
    )
    .unwrap();
    let config = format!(
        "[[zone]]\nname = \"example.com\"\ndnssec = {{ keys = \"keys\"{dnssec} }}\n{zone}\n{extra}"
    );
    let dir = dir_with_zones(
        &config,
        &[
            ("example.com.zone", &zone_text()),
            ("insecure.example.com.zone", &insecure),
        ],
    );
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    dir
}

/// `dnslb dnssec ds example.com` for the config at `config`: the DS lines.
fn ds_lines(config: &Path) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"))
        .arg("-c")
        .arg(config)
        .args(["dnssec", "ds", "example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "dnslb dnssec ds: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A validating Unbound asking dnslb for everything (the root included, so nothing leaves
/// 127.0.0.1), trusting `anchors` (DS lines), keeping nothing in its cache.
async fn validating_unbound(dnslb: SocketAddr, anchors: &[String]) -> Daemon {
    let stubs: String = ["example.com", "insecure.example.com", "."]
        .iter()
        .map(|z| unbound_stub(z, dnslb))
        .collect();
    let anchors: String = anchors
        .iter()
        .map(|a| format!("  trust-anchor: \"{a}\"\n"))
        .collect();
    let elsewhere = unbound_loopback_only();
    let config = move |port: u16, dir: &Path| {
        format!(
            "server:\n  interface: 127.0.0.1\n  port: {port}\n  outgoing-interface: 127.0.0.1\n  \
             do-not-query-localhost: no\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  \
             directory: \"{dir}\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  \
             num-threads: 1\n  so-reuseport: no\n  module-config: \"validator iterator\"\n\
             {anchors}  qname-minimisation: no\n  access-control: 127.0.0.0/8 allow\n  \
             do-ip6: no\n  prefetch: no\n  verbosity: 1\n  val-log-level: 2\n  \
             cache-max-ttl: 0\n  cache-max-negative-ttl: 0\n  key-cache-size: 0\n  \
             trust-anchor-signaling: no\n\
             {elsewhere}{stubs}",
            dir = dir.display(),
        )
    };
    unbound_daemon(config).await
}

/// Every policy, each pool of several members: weighted with probes (its members' targets
/// are `ports`), failover, hash by ECS, round robin, region, an AAAA and a CNAME pool.
fn pools(ports: &[u16]) -> String {
    let mut probed: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{{ address = \"192.0.2.{}\", weight = {}, check = \"127.0.0.1:{p}\" }}",
                100 + i,
                i + 1
            )
        })
        .collect();
    let probe = match ports.is_empty() {
        true => {
            probed = vec![
                "{ address = \"192.0.2.100\", weight = 1 }".into(),
                "{ address = \"192.0.2.101\", weight = 1 }".into(),
            ];
            ""
        }
        false => {
            "probe = { kind = \"tcp\", interval = \"200ms\", timeout = \"200ms\", rise = 1, fall = 1 }\n"
        }
    };
    format!(
        "[[pool]]\nname = \"lb.example.com.\"\ntype = \"A\"\nanswers = 2\nttl = 5\n\
         {probe}members = [ {} ]\n\n\
         [[pool]]\nname = \"fo.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\n\
         members = [ {{ address = \"192.0.2.201\", weight = 1, priority = 1 }}, {{ address = \"192.0.2.202\", weight = 1, priority = 2 }} ]\n\n\
         [[pool]]\nname = \"h.example.com.\"\ntype = \"A\"\npolicy = \"hash\"\necs = true\nanswers = 2\n\
         members = [ {{ address = \"192.0.2.211\", weight = 1 }}, {{ address = \"192.0.2.212\", weight = 2 }}, {{ address = \"192.0.2.213\", weight = 1 }} ]\n\n\
         [[pool]]\nname = \"rr.example.com.\"\ntype = \"A\"\npolicy = \"round-robin\"\nanswers = 2\n\
         members = [ {{ address = \"192.0.2.221\", weight = 1 }}, {{ address = \"192.0.2.222\", weight = 1 }}, {{ address = \"192.0.2.223\", weight = 1 }} ]\n\n\
         [[pool]]\nname = \"rg.example.com.\"\ntype = \"A\"\npolicy = \"region\"\n\
         regions = {{ here = [\"127.0.0.0/8\"], there = [\"198.51.100.0/24\"] }}\n\
         members = [ {{ address = \"192.0.2.231\", weight = 1, region = \"here\" }}, {{ address = \"192.0.2.232\", weight = 1, region = \"there\" }} ]\n\n\
         [[pool]]\nname = \"lb.example.com.\"\ntype = \"AAAA\"\nanswers = 3\n\
         members = [ {{ address = \"2001:db8::a1\", weight = 1 }}, {{ address = \"2001:db8::a2\", weight = 1 }}, {{ address = \"2001:db8::a3\", weight = 1 }}, {{ address = \"2001:db8::a4\", weight = 1 }} ]\n\n\
         [[pool]]\nname = \"cn.example.com.\"\ntype = \"CNAME\"\n\
         members = [ {{ target = \"www.example.com.\", weight = 1 }}, {{ target = \"mail.example.com.\", weight = 1 }} ]\n",
        probed.join(", ")
    )
}

/// The questions asked through Unbound, with the answer expected: pools, static names, a
/// wildcard, missing names and types, an insecure delegation.
const QUESTIONS: &[(&str, RecordType, ResponseCode, bool)] = {
    use RecordType::*;
    use ResponseCode::*;
    &[
        ("lb.example.com.", A, NoError, true),
        ("lb.example.com.", AAAA, NoError, true),
        ("lb.example.com.", TXT, NoError, true),
        ("fo.example.com.", A, NoError, true),
        ("h.example.com.", A, NoError, true),
        ("rr.example.com.", A, NoError, true),
        ("rg.example.com.", A, NoError, true),
        ("cn.example.com.", A, NoError, true),
        ("www.example.com.", A, NoError, true),
        ("example.com.", MX, NoError, true),
        ("a.wild.example.com.", A, NoError, true),
        ("nothere.example.com.", A, NXDomain, true),
        ("x.lb.example.com.", A, NXDomain, true),
        ("y.ent.example.com.", A, NoError, true),
        ("insecure.example.com.", DS, NoError, true),
        ("www.insecure.example.com.", A, NoError, false),
    ]
};

/// A TCP listener that probes find up, or closed (down), switched by the test.
struct Target {
    port: u16,
    listener: Option<std::net::TcpListener>,
}

impl Target {
    fn new() -> Self {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Target {
            port: l.local_addr().unwrap().port(),
            listener: Some(l),
        }
    }

    fn set(&mut self, up: bool) {
        match (up, self.listener.is_some()) {
            (true, false) => {
                self.listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).ok();
            }
            (false, true) => self.listener = None,
            _ => {}
        }
    }
}

/// One query through Unbound (RD, DO): its rcode, its AD bit, its answer records.
async fn resolve(unbound: SocketAddr, name: &str, qtype: RecordType) -> Option<Message> {
    let mut m = query_message(name, qtype, Some(1232));
    m.metadata.recursion_desired = true;
    if let Some(e) = m.edns.as_mut() {
        e.set_dnssec_ok(true);
    }
    let reply = udp_raw(unbound, &m.to_vec().unwrap(), Duration::from_secs(5)).await?;
    Message::from_vec(&reply).ok()
}

/// Unbound validates 10,000 answers (pools of every policy, static names, missing names)
/// while the probed pool's members go down and up and an admin drains and undrains members:
/// every one NOERROR or NXDOMAIN as expected, with AD (none below the insecure delegation),
/// none SERVFAIL; `delv` agrees on a sample; no signature was made per query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_validates_10000_signed_pool_answers_through_flaps_and_drains() {
    if !have_tool("unbound") || !have_tool("dnssec-keygen") {
        return;
    }
    let mut targets: Vec<Target> = (0..4).map(|_| Target::new()).collect();
    let ports: Vec<u16> = targets.iter().map(|t| t.port).collect();
    let dir = signed_dir(&pools(&ports), "");
    let keys = dir.path().join("keys");
    keygen(&keys, &["-f", "KSK"]);
    keygen(&keys, &[]);
    let anchors = ds_lines(&dir.path().join("dnslb.toml"));
    let s = start_dir(dir).await;
    let unbound = validating_unbound(s.addr, &anchors).await;
    let made = signatures_made(&s).await;

    let wrong = Arc::new(std::sync::Mutex::new(Vec::new()));
    let asked = Arc::new(AtomicUsize::new(0));
    let mut askers = Vec::new();
    for worker in 0..16 {
        let (wrong, asked) = (wrong.clone(), asked.clone());
        let unbound = unbound.addr;
        askers.push(tokio::spawn(async move {
            for i in 0..625 {
                let (name, qtype, rcode, secure) = QUESTIONS[(worker * 7 + i) % QUESTIONS.len()];
                asked.fetch_add(1, Ordering::Relaxed);
                let verdict = match resolve(unbound, name, qtype).await {
                    None => Some("no reply".to_string()),
                    Some(r)
                        if r.metadata.response_code != rcode
                            || r.metadata.authentic_data != secure =>
                    {
                        Some(format!(
                            "{:?} AD={}",
                            r.metadata.response_code, r.metadata.authentic_data
                        ))
                    }
                    Some(_) => None,
                };
                if let Some(v) = verdict {
                    wrong.lock().unwrap().push(format!("{name} {qtype}: {v}"));
                }
                // Paced: the flaps and drains below happen while they ask.
                tokio::time::sleep(Duration::from_millis(4)).await;
            }
        }));
    }
    // Flaps and drains while they ask.
    let drain = |m: &str, what: &str| format!("/pools/lb.example.com./members/{m}/{what}");
    let mut round = 0;
    while asked.load(Ordering::Relaxed) < 10_000 && round < 400 {
        let down = round % targets.len();
        for (i, t) in targets.iter_mut().enumerate() {
            t.set(i != down || round % 3 == 0);
        }
        if round % 5 == 0 {
            let what = if round % 10 == 0 { "drain" } else { "undrain" };
            assert_eq!(
                http(s.admin(), "POST", &drain("192.0.2.101", what), "")
                    .await
                    .0,
                200
            );
        }
        if round == 7 {
            for t in &mut targets {
                t.set(false); // every member down for a while: the pool fails open
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        round += 1;
    }
    for a in askers {
        a.await.unwrap();
    }
    let wrong = wrong.lock().unwrap().clone();
    assert_eq!(asked.load(Ordering::Relaxed), 10_000);
    assert!(
        round >= 10,
        "the members flapped while they asked: {round} rounds"
    );
    assert!(
        wrong.is_empty(),
        "{} of 10,000 wrong:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
    // Every answer was drawn from sets signed at load: no signature since.
    assert_eq!(signatures_made(&s).await, made);
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    let pool_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("dnslb_dnssec_pool_signatures"))
        .collect();
    assert!(
        pool_lines.contains(&"dnslb_dnssec_pool_signatures_total{result=\"miss\"} 0"),
        "{pool_lines:?}"
    );

    if have_tool("delv") {
        let ds = anchors.iter().find(|a| !a.is_empty()).unwrap();
        let f: Vec<&str> = ds.split_whitespace().collect();
        let conf = s.dir.path().join("anchors.conf");
        let anchor = format!(
            "trust-anchors {{ {} static-ds {} {} {} \"{}\"; }};\n",
            f[0], f[3], f[4], f[5], f[6]
        );
        std::fs::write(&conf, anchor).unwrap();
        for (name, qtype) in [
            ("lb.example.com", "A"),
            ("lb.example.com", "AAAA"),
            ("h.example.com", "A"),
            ("rr.example.com", "A"),
            ("nothere.example.com", "A"),
            ("lb.example.com", "MX"),
        ] {
            let text = delv(s.addr, &conf, name, qtype).await;
            assert!(text.contains("fully validated"), "{name} {qtype}:\n{text}");
        }
    }
    unbound.stop().await;
    s.stop().await;
}

/// `delv` asking dnslb at `addr` with the trust anchors in `anchors`.
async fn delv(addr: SocketAddr, anchors: &Path, name: &str, qtype: &str) -> String {
    let out = tokio::process::Command::new("delv")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string()])
        .arg("-a")
        .arg(anchors)
        .args(["+root=example.com", name, qtype])
        .output()
        .await
        .expect("delv runs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The total of `dnslb_dnssec_signatures_made` in `/metrics`.
async fn signatures_made(s: &TestServer) -> u64 {
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    metrics
        .lines()
        .filter(|l| l.starts_with("dnslb_dnssec_signatures_made_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The records dnslb answers to `name`/`qtype` with DO (over TCP: whole).
async fn answers(
    addr: SocketAddr,
    name: &str,
    qtype: RecordType,
) -> Vec<hickory_proto::rr::Record> {
    let mut m = query_message(name, qtype, Some(4096));
    if let Some(e) = m.edns.as_mut() {
        e.set_dnssec_ok(true);
    }
    tcp_pipelined(addr, &[m]).await.remove(0).answers
}

/// The key tags `records` of type `rtype` name: a DNSKEY's own, an RRSIG's signer's, a CDS's.
fn tags_of(records: &[hickory_proto::rr::Record], rtype: RecordType) -> Vec<u16> {
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
    let mut out: Vec<u16> = records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .map(|r| {
            let mut bytes = Vec::new();
            r.data.emit(&mut BinEncoder::new(&mut bytes)).unwrap();
            match rtype {
                RecordType::RRSIG => u16::from_be_bytes([bytes[16], bytes[17]]),
                RecordType::DNSKEY => dnslb::dnssec::keys::key_tag(&bytes),
                _ => u16::from_be_bytes([bytes[0], bytes[1]]),
            }
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A ZSK rollover by pre-publication and a KSK rollover by double DS, their steps seconds apart
/// (keys made by `dnssec-keygen -P/-A/-I/-D` and `-Psync/-Dsync`): the DNSKEY RRset, the key
/// that signs and the CDS follow the timings without a reload, and Unbound (trusting both KSKs'
/// DS, as the parent would during the roll) validates before, during and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zsk_and_ksk_rollovers_follow_the_key_timings() {
    if !have_tool("unbound") || !have_tool("dnssec-keygen") {
        return;
    }
    let dir = signed_dir(&pools(&[]), "");
    let keys = dir.path().join("keys");
    // BIND writes whole seconds: a step is due from the second it names.
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Old keys: sign until +10, go at +15; the old KSK's CDS until +5. New keys: published
    // now, signing from +10; the new KSK's CDS from +5.
    let timed = |extra: &[&'static str]| {
        let mut a = vec!["-P", "now"];
        a.extend_from_slice(extra);
        a
    };
    let ksk1 = tag(&keygen(
        &keys,
        &timed(&[
            "-f", "KSK", "-A", "now", "-I", "now+10", "-D", "now+15", "-Psync", "now", "-Dsync",
            "now+5",
        ]),
    ));
    let zsk1 = tag(&keygen(
        &keys,
        &timed(&["-A", "now", "-I", "now+10", "-D", "now+15"]),
    ));
    let ksk2 = tag(&keygen(
        &keys,
        &timed(&["-f", "KSK", "-A", "now+10", "-Psync", "now+5"]),
    ));
    let zsk2 = tag(&keygen(&keys, &timed(&["-A", "now+10"])));
    let anchors = ds_lines(&dir.path().join("dnslb.toml"));
    assert_eq!(anchors.len(), 2, "both KSKs are published: {anchors:?}");
    let s = start_dir(dir).await;
    let unbound = validating_unbound(s.addr, &anchors).await;
    let elapsed = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            - t0
    };
    let all = |mut v: Vec<u16>| {
        v.sort_unstable();
        v
    };
    // (DNSKEYs, the key signing www A, the CDS) from each step on.
    let steps = [
        (
            0.0,
            all(vec![ksk1, zsk1, ksk2, zsk2]),
            vec![zsk1],
            vec![ksk1],
        ),
        (
            5.0,
            all(vec![ksk1, zsk1, ksk2, zsk2]),
            vec![zsk1],
            vec![ksk2],
        ),
        (
            10.0,
            all(vec![ksk1, zsk1, ksk2, zsk2]),
            vec![zsk2],
            vec![ksk2],
        ),
        (15.0, all(vec![ksk2, zsk2]), vec![zsk2], vec![ksk2]),
    ];
    let mut checked = std::collections::BTreeSet::new();
    while elapsed() < 18.0 {
        let before = elapsed();
        let dnskey = answers(s.addr, "example.com.", RecordType::DNSKEY).await;
        let www = answers(s.addr, "www.example.com.", RecordType::A).await;
        let cds = answers(s.addr, "example.com.", RecordType::CDS).await;
        let after = elapsed();
        // A step is served within [its second - 1, its second + 1] (whole seconds, and the
        // signing timer's tick): judge only what was asked away from every step.
        let clear = steps
            .iter()
            .all(|(at, ..)| after < at - 1.0 || before > at + 1.5);
        if let Some((at, keys_now, signer, cds_now)) = steps
            .iter()
            .rev()
            .find(|st| st.0 <= before)
            .filter(|_| clear)
        {
            let what = format!("{before:.1} s (step at {at} s)");
            assert_eq!(
                &tags_of(&dnskey, RecordType::DNSKEY),
                keys_now,
                "{what}: DNSKEY"
            );
            assert_eq!(
                &tags_of(&www, RecordType::RRSIG),
                signer,
                "{what}: www A signed by"
            );
            assert_eq!(&tags_of(&cds, RecordType::CDS), cds_now, "{what}: CDS");
            checked.insert(*at as u32);
        }
        for (name, qtype) in [
            ("www.example.com.", RecordType::A),
            ("lb.example.com.", RecordType::A),
            ("nothere.example.com.", RecordType::A),
        ] {
            let r = resolve(unbound.addr, name, qtype)
                .await
                .expect("Unbound answers");
            assert!(
                r.metadata.authentic_data && r.metadata.response_code != ResponseCode::ServFail,
                "{before:.1} s: {name} {qtype}: {r:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(checked.len(), 4, "every step checked: {checked:?}");
    unbound.stop().await;
    s.stop().await;
}

/// Signatures made again before they run out (validity 10 s here: refreshed at 8 s), under
/// load: every query answered, each answer's RRSIG valid when it arrives, the new signatures
/// served after the swap, and `/metrics` counts the refresh apart from the load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_refreshed_under_load_without_a_lost_query() {
    if !have_tool("dnssec-keygen") {
        return;
    }
    let dir = signed_dir(&pools(&[]), ", validity = \"10s\"");
    keygen(&dir.path().join("keys"), &["-f", "KSK"]);
    keygen(&dir.path().join("keys"), &[]);
    let s = start_dir(dir).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(std::sync::Mutex::new(Vec::new()));
    let expirations = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let mut load = Vec::new();
    for name in ["lb.example.com.", "www.example.com."] {
        let (stop, sent, bad, expirations) =
            (stop.clone(), sent.clone(), bad.clone(), expirations.clone());
        let addr = s.addr;
        load.push(tokio::spawn(async move {
            let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = vec![0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let mut q = query_message(name, RecordType::A, Some(1232));
                if let Some(e) = q.edns.as_mut() {
                    e.set_dnssec_ok(true);
                }
                sock.send_to(&q.to_vec().unwrap(), addr).await.unwrap();
                sent.fetch_add(1, Ordering::Relaxed);
                let reply = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf)).await;
                let Ok(Ok(n)) = reply else {
                    bad.lock().unwrap().push(format!("{name}: no reply"));
                    continue;
                };
                let r = Message::from_vec(&buf[..n]).unwrap();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let sigs: Vec<u32> = r
                    .answers
                    .iter()
                    .filter(|a| a.record_type() == RecordType::RRSIG)
                    .map(|a| {
                        use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
                        let mut b = Vec::new();
                        a.data.emit(&mut BinEncoder::new(&mut b)).unwrap();
                        u32::from_be_bytes([b[8], b[9], b[10], b[11]])
                    })
                    .collect();
                let ok = r.metadata.id == q.metadata.id
                    && r.metadata.response_code == ResponseCode::NoError
                    && !sigs.is_empty()
                    && sigs.iter().all(|&e| u64::from(e) > now);
                if !ok {
                    bad.lock().unwrap().push(format!("{name}: {r:?}"));
                }
                expirations.lock().unwrap().extend(sigs);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(11)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let sent = sent.load(Ordering::Relaxed);
    let bad = bad.lock().unwrap().clone();
    assert!(sent > 500, "the load ran: {sent} queries");
    assert!(
        bad.is_empty(),
        "{} of {sent} wrong:\n{}",
        bad.len(),
        bad[..bad.len().min(5)].join("\n")
    );
    let expirations = expirations.lock().unwrap().clone();
    assert!(
        expirations.len() >= 2,
        "signatures of two signings served: {expirations:?}"
    );
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    let refreshed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("dnslb_dnssec_signatures_made_total{cause=\"refresh\"} "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(refreshed > 0, "{metrics}");
    s.stop().await;
}

/// DNSViz (`probe -A` against dnslb alone in a network namespace with only loopback up, then
/// `grok`) finds every signature dnslb made valid, pools' included, every proof valid, the
/// delegation from the DS secure, and no error or warning, with NSEC3 and with NSEC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsviz_finds_no_error_in_a_zone_dnslb_signs() {
    if !have_tool("dnsviz") || !have_tool("unshare") || !have_tool("dnssec-keygen") {
        return;
    }
    for denial in ["nsec3", "nsec"] {
        let dir = signed_dir(&pools(&[]), &format!(", denial = \"{denial}\""));
        keygen(&dir.path().join("keys"), &["-f", "KSK"]);
        keygen(&dir.path().join("keys"), &[]);
        let ds = ds_lines(&dir.path().join("dnslb.toml")).remove(0);
        let names = "example.com lb.example.com h.example.com rr.example.com cn.example.com \
                     www.example.com nothere.example.com a.wild.example.com y.ent.example.com";
        assert_dnsviz_clean(dir.path(), &ds, names, denial).await;
    }
}

/// Knot signing example.com (NSEC3 with RFC 9276's parameters) with the BIND key files in
/// `keys`, imported by `keymgr`; no key of its own, no CDS.
async fn knot_signing_with(keys: &Path) -> Daemon {
    let keys = keys.to_path_buf();
    let setup = move |dir: &Path| {
        std::fs::write(dir.join("example.com.zone"), zone_text()).unwrap();
        for e in std::fs::read_dir(&keys).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "private") {
                let out = std::process::Command::new("keymgr")
                    .arg("-D")
                    .arg(dir.join("keys"))
                    .args(["example.com.", "import-bind"])
                    .arg(p.with_extension(""))
                    .output()
                    .unwrap();
                assert!(out.status.success(), "keymgr import-bind: {out:?}");
            }
        }
    };
    let config = |port: u16, dir: &Path| {
        let d = dir.display();
        format!(
            "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
             log:\n  - target: \"{d}/knot.log\"\n    any: info\n\
             database:\n  storage: \"{d}\"\n\
             acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n\
             policy:\n  - id: signer\n    manual: on\n    algorithm: ecdsap256sha256\n    nsec3: on\n    nsec3-iterations: 0\n    nsec3-salt-length: 0\n    cds-cdnskey-publish: none\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    semantic-checks: off\n\
             zone:\n  - domain: example.com\n    file: example.com.zone\n    acl: xfr\n    dnssec-signing: on\n    dnssec-policy: signer\n"
        )
    };
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start("knotd", "knot.conf", &["-c"], setup, config, &probe).await
}

/// An AXFR of example.com from `addr` by `dig`, each record as compared: owner lower-cased,
/// TTL, type, and RDATA, an RRSIG's without its times and signature (which differ per
/// signer), the SOA's without its serial (Knot increments it when it signs).
async fn axfr_as_compared(addr: SocketAddr) -> std::collections::BTreeSet<String> {
    // Two more tries when the first finds the machine too busy (the other tests of this file
    // run beside it): a transfer that fails thrice is a failure, with what dig said.
    let mut out = String::new();
    for _ in 0..3 {
        out = axfr_text(addr).await;
        if !out.contains("; Transfer failed") && !out.contains("connection timed out") {
            break;
        }
    }
    let records = axfr_records(&out);
    assert!(records.len() > 60, "{addr}: {out}");
    records
}

/// `dig`'s text of an AXFR of example.com from `addr`.
async fn axfr_text(addr: SocketAddr) -> String {
    dig(
        addr,
        &[
            "+nocmd",
            "+nostats",
            "+nocomments",
            "+onesoa",
            "example.com",
            "AXFR",
        ],
    )
    .await
}

/// The records of [`axfr_text`], as compared.
fn axfr_records(out: &str) -> std::collections::BTreeSet<String> {
    out.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (owner, ttl, rtype) = (f[0].to_ascii_lowercase(), f[1], f[3]);
            let rdata: Vec<&str> = match rtype {
                // covered type, algorithm, labels, original TTL, (times), key tag, signer
                "RRSIG" => vec![f[4], f[5], f[6], f[7], f[10], f[11]],
                "SOA" => f[4..]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != 2)
                    .map(|(_, x)| *x)
                    .collect(),
                _ => f[4..].to_vec(),
            };
            format!(
                "{owner} {ttl} {rtype} {}",
                rdata.join(" ").to_ascii_lowercase()
            )
        })
        .collect()
}

/// The differential test against Knot: with the same zone and the same keys, dnslb and Knot
/// sign the same RRsets with the same keys (the same covered types at the same owners), make
/// the same DNSKEY and NSEC3PARAM RRsets and the same NSEC3 chain (owners, next hashes,
/// bitmaps, TTLs); signatures differ only in value and time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnslb_and_knot_sign_the_same_zone_alike() {
    if !have_tool("knotd") || !have_tool("keymgr") || !have_tool("dnssec-keygen") {
        return;
    }
    let dir = signed_dir_with("", "", "allow_transfer = [\"127.0.0.0/8\"]");
    let keys = dir.path().join("keys");
    keygen(&keys, &["-f", "KSK"]);
    keygen(&keys, &[]);
    let knot = knot_signing_with(&keys).await;
    let s = start_dir(dir).await;
    let ours = axfr_as_compared(s.addr).await;
    let theirs = axfr_as_compared(knot.addr).await;
    let only_ours: Vec<&String> = ours.difference(&theirs).collect();
    let only_theirs: Vec<&String> = theirs.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "only dnslb: {only_ours:#?}\nonly Knot: {only_theirs:#?}"
    );
    knot.stop().await;
    s.stop().await;
}

/// A pool with more possible RRsets than `pool_limit` (6 members answering 3: 41 sets, limit
/// 10): only its singletons are signed ahead; a draw of three is first answered with one member
/// (signed), its set signed off the query path, and then answered whole; Unbound validates
/// every answer, and `/metrics` counts the misses, the hits and the signatures made for the
/// cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_beyond_the_limit_is_signed_on_demand_and_never_served_unsigned() {
    if !have_tool("unbound") || !have_tool("dnssec-keygen") {
        return;
    }
    let members: Vec<String> = (1..=6)
        .map(|i| format!("{{ address = \"192.0.2.{i}\", weight = 1 }}"))
        .collect();
    let pool = format!(
        "[[pool]]\nname = \"big.example.com.\"\ntype = \"A\"\nanswers = 3\nmembers = [ {} ]\n",
        members.join(", ")
    );
    let dir = signed_dir(&pool, ", pool_limit = 10");
    keygen(&dir.path().join("keys"), &["-f", "KSK"]);
    keygen(&dir.path().join("keys"), &[]);
    let anchors = ds_lines(&dir.path().join("dnslb.toml"));
    let s = start_dir(dir).await;
    let unbound = validating_unbound(s.addr, &anchors).await;
    let mut sizes = std::collections::BTreeMap::new();
    for _ in 0..300 {
        let records = answers(s.addr, "big.example.com.", RecordType::A).await;
        let addresses = records
            .iter()
            .filter(|r| r.record_type() == RecordType::A)
            .count();
        let sigs = records
            .iter()
            .filter(|r| r.record_type() == RecordType::RRSIG)
            .count();
        assert_eq!(sigs, 1, "every answer signed: {records:?}");
        *sizes.entry(addresses).or_insert(0) += 1;
        let r = resolve(unbound.addr, "big.example.com.", RecordType::A)
            .await
            .expect("Unbound answers");
        assert!(r.metadata.authentic_data, "{r:?}");
    }
    assert!(
        sizes.get(&1).is_some_and(|&n| n > 0),
        "misses answered smaller: {sizes:?}"
    );
    assert!(
        sizes.get(&3).is_some_and(|&n| n > 100),
        "then whole: {sizes:?}"
    );
    assert_eq!(
        sizes.keys().copied().collect::<Vec<_>>(),
        [1, 3],
        "{sizes:?}"
    );
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    let value = |line: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(
        value("dnslb_dnssec_signatures_made_total{cause=\"cache\"}") > 0,
        "{metrics}"
    );
    assert!(
        value("dnslb_dnssec_pool_signatures_total{result=\"miss\"}") > 0,
        "{metrics}"
    );
    assert!(
        value("dnslb_dnssec_pool_signatures_total{result=\"hit\"}") > 100,
        "{metrics}"
    );
    unbound.stop().await;
    s.stop().await;
}

/// Zonemaster's DNSSEC test cases (undelegated: the name server given as 127.0.0.1, the DS on
/// the command line), run with dnslb alone in a network namespace with only loopback up
/// (there it may listen on port 53, where Zonemaster asks): no message at WARNING or above,
/// and the keys, the DS and the denial found, for NSEC3 and NSEC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zonemaster_finds_no_dnssec_problem_in_a_zone_dnslb_signs() {
    if !have_tool("zonemaster-cli") || !have_tool("unshare") || !have_tool("dnssec-keygen") {
        return;
    }
    for (denial, found) in [("nsec3", "DS10_HAS_NSEC3"), ("nsec", "DS10_HAS_NSEC")] {
        let dir = signed_dir(&pools(&[]), &format!(", denial = \"{denial}\""));
        let d = dir.path();
        // The zone's name server is the one Zonemaster asks.
        let zone = d.join("zones/example.com.zone");
        let text = std::fs::read_to_string(&zone).unwrap();
        std::fs::write(&zone, text.replace("ns1 A 192.0.2.1", "ns1 A 127.0.0.1")).unwrap();
        keygen(&d.join("keys"), &["-f", "KSK"]);
        keygen(&d.join("keys"), &[]);
        let ds = ds_lines(&d.join("dnslb.toml")).remove(0);
        let f: Vec<&str> = ds.split_whitespace().collect();
        let command = format!(
            "zonemaster-cli --no-ipv6 --ns ns1.example.com/127.0.0.1 --ds {},{},{},{} \
             --test DNSSEC --level INFO --show-testcase --raw --no-count example.com",
            f[3], f[4], f[5], f[6]
        );
        let out = alone_with_dnslb(d, 53, &command).await;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{out:?}");
        let serious: Vec<&str> = text
            .lines()
            .filter(|l| {
                ["WARNING", "ERROR", "CRITICAL"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .collect();
        assert!(serious.is_empty(), "{denial}: {serious:#?}\n{text}");
        for expected in ["ALGORITHM_OK", "RRSIG_EXPIRATION", found] {
            assert!(text.contains(expected), "{denial}: no {expected}:\n{text}");
        }
    }
}

/// `dnslb check` on a zone dnslb signs: each key with its role, state and next timing, the
/// signing's summary; warnings for a parent's DS that leads to no key and for a private key
/// others can read (`--strict` fails on them); a right DS quiets the first; a key directory
/// with no key is an error naming it; `dnssec ds` refuses a zone dnslb does not sign.
#[test]
fn check_shows_the_keys_and_warns_of_a_wrong_ds_and_a_readable_private_key() {
    if !have_tool("dnssec-keygen") {
        return;
    }
    let check = |dir: &Path, strict: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"));
        cmd.arg("-c").arg(dir.join("dnslb.toml")).arg("check");
        if strict {
            cmd.arg("--strict");
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let wrong = "12345 13 2 00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
    let dir = signed_dir("", &format!(", ds = [\"{wrong}\"]"));
    let keys = dir.path().join("keys");
    let ksk = tag(&keygen(
        &keys,
        &["-f", "KSK", "-P", "now", "-A", "now", "-I", "now+30d"],
    ));
    let zsk = keygen(&keys, &[]);
    let (ok, text) = check(dir.path(), false);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "key {ksk} ECDSAP256SHA256 KSK active; inactive at "
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("key {} ECDSAP256SHA256 ZSK active", tag(&zsk))),
        "{text}"
    );
    assert!(
        text.contains("signed here: ") && text.contains("next refresh at "),
        "{text}"
    );
    assert!(
        text.contains("the parent's DS 12345 13 2 matches no published key"),
        "{text}"
    );
    assert!(
        text.contains("no DS given for the parent matches a key that signs the DNSKEY"),
        "{text}"
    );
    assert!(!text.contains("can be read by others"), "{text}");
    assert!(!check(dir.path(), true).0, "--strict fails on the warnings");

    use std::os::unix::fs::PermissionsExt;
    let private = keys.join(format!("{zsk}.private"));
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let right = ds_lines(&dir.path().join("dnslb.toml")).remove(0);
    let conf = dir.path().join("dnslb.toml");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace(wrong, &right);
    std::fs::write(&conf, text).unwrap();
    let (ok, text) = check(dir.path(), false);
    assert!(ok, "{text}");
    assert!(
        !text.contains("matches no published key") && !text.contains("no DS given"),
        "{text}"
    );
    assert!(
        text.contains("can be read by others than its owner"),
        "{text}"
    );

    for f in std::fs::read_dir(&keys).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let (ok, text) = check(dir.path(), false);
    assert!(
        !ok && text.contains("keys: no key pair for example.com."),
        "{text}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"))
        .arg("-c")
        .arg(dir.path().join("dnslb.toml"))
        .args(["dnssec", "ds", "insecure.example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dnslb does not sign it"),
        "{out:?}"
    );
}

/// `delv` validating against dnslb with the DS of `config`'s zone: one line per question,
/// what delv concluded.
async fn delv_all(addr: SocketAddr, config: &Path, questions: &[(&str, &str)]) -> Vec<String> {
    let anchors = config.with_file_name("anchors.conf");
    let lines: Vec<String> = ds_lines(config)
        .iter()
        .map(|ds| {
            let f: Vec<&str> = ds.split_whitespace().collect();
            format!(
                "{} static-ds {} {} {} \"{}\";",
                f[0], f[3], f[4], f[5], f[6]
            )
        })
        .collect();
    std::fs::write(
        &anchors,
        format!("trust-anchors {{ {} }};\n", lines.join(" ")),
    )
    .unwrap();
    let mut out = Vec::new();
    for (name, qtype) in questions {
        let text = delv(addr, &anchors, name, qtype).await;
        let verdict = text
            .lines()
            .find(|l| l.contains("validated") || l.contains("resolution failed"))
            .unwrap_or("no verdict");
        out.push(format!("{name} {qtype}: {verdict}"));
    }
    out
}

/// ED25519 keys (algorithm 15) sign as ECDSA ones do: `delv` fully validates answers, pools'
/// and denials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_keys_sign_and_validate() {
    if !have_tool("delv") || !have_tool("dnssec-keygen") {
        return;
    }
    let dir = signed_dir(&pools(&[]), "");
    keygen(&dir.path().join("keys"), &["-a", "ED25519", "-f", "KSK"]);
    keygen(&dir.path().join("keys"), &["-a", "ED25519"]);
    let s = start_dir(dir).await;
    let questions = [
        ("www.example.com", "A"),
        ("lb.example.com", "A"),
        ("lb.example.com", "AAAA"),
        ("nothere.example.com", "A"),
        ("example.com", "DNSKEY"),
    ];
    for line in delv_all(s.addr, &s.config(), &questions).await {
        assert!(line.contains("fully validated"), "{line}");
    }
    assert!(
        dig(s.addr, &["+dnssec", "example.com", "DNSKEY"])
            .await
            .contains("257 3 15 ")
    );
    s.stop().await;
}

/// A "bump in the wire": dnslb, secondary for a zone another dnslb serves unsigned by AXFR,
/// signs what it receives (a pool included) and `delv` validates it. (A zone changing at the
/// primary is the secondary tests' matter: the reload that installs it signs it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_transferred_unsigned_is_signed_on_the_way_through() {
    if !have_tool("delv") || !have_tool("dnssec-keygen") {
        return;
    }
    let primary = start_dir(dir_with_zones(
        "[[zone]]\nname = \"example.com\"\nallow_transfer = [\"127.0.0.0/8\"]\n",
        &[("example.com.zone", &zone_text())],
    ))
    .await;
    let secondary_config = format!(
        "[[secondary]]\nzone = \"example.com.\"\nprimaries = [\"{}\"]\n\n\
         [[zone]]\nname = \"example.com\"\ndnssec = {{ keys = \"keys\" }}\n\n{}",
        primary.addr,
        pools(&[])
            .split("[[pool]]")
            .nth(1)
            .map(|p| format!("[[pool]]{p}"))
            .unwrap()
    );
    let dir = dir_with_zones(&secondary_config, &[]);
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    keygen(&dir.path().join("keys"), &["-f", "KSK"]);
    keygen(&dir.path().join("keys"), &[]);
    let s = start_dir(dir).await;
    let signed = wait_until(Duration::from_secs(10), || async {
        dig(s.addr, &["+dnssec", "www.example.com", "A"])
            .await
            .contains("RRSIG")
    })
    .await;
    assert!(signed.is_some(), "the transferred zone is served signed");
    let questions = [
        ("www.example.com", "A"),
        ("lb.example.com", "A"),
        ("nothere.example.com", "A"),
        ("example.com", "SOA"),
    ];
    for line in delv_all(s.addr, &s.config(), &questions).await {
        assert!(line.contains("fully validated"), "{line}");
    }
    s.stop().await;
    primary.stop().await;
}

/// A reload that cannot sign (the key files gone) keeps the zone serving as it was signed, and
/// says why; the keys back, the next reload signs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_whose_keys_go_missing_keeps_serving_signed() {
    if !have_tool("dnssec-keygen") {
        return;
    }
    let dir = signed_dir("", "");
    let keys = dir.path().join("keys");
    keygen(&keys, &["-f", "KSK"]);
    keygen(&keys, &[]);
    let s = start_dir(dir).await;
    let signed = |out: String| out.contains("RRSIG") && out.contains("status: NOERROR");
    assert!(signed(
        dig(s.addr, &["+dnssec", "www.example.com", "A"]).await
    ));
    let aside = s.dir.path().join("keys-aside");
    std::fs::rename(&keys, &aside).unwrap();
    let shared = s.running.as_ref().unwrap().shared.clone();
    let installed = shared.reload().await.expect("the reload installs");
    let problems: Vec<String> = installed.problems.iter().map(ToString::to_string).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("cannot read the key directory")),
        "{problems:?}"
    );
    assert!(signed(
        dig(s.addr, &["+dnssec", "www.example.com", "A"]).await
    ));
    std::fs::rename(&aside, &keys).unwrap();
    let installed = shared.reload().await.expect("the reload installs");
    assert!(installed.problems.is_empty(), "{:?}", installed.problems);
    assert!(signed(
        dig(s.addr, &["+dnssec", "www.example.com", "A"]).await
    ));
    s.stop().await;
}
