//! DNSSEC, part 1: signed zones served as NSD and Knot serve them. Zones are signed in the test
//! by `ldns-signzone` with keys `ldns-keygen` makes there (NSEC, NSEC3, NSEC3 with opt-out), and
//! checked by real validators on loopback: Unbound validating with the zone's DS as its trust
//! anchor (over UDP, where the fast path may answer, and over TCP, where the general path does),
//! and BIND's `delv`. Nothing leaves 127.0.0.1: Unbound's stub zones all point at dnslb.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::*;
use hickory_proto::rr::RecordType;

/// What a validator must conclude of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Secure: AD set.
    Secure,
    /// Secure, but for opt-out NSEC3 whose span may hide an insecure delegation (RFC 5155
    /// §9.2): there a validator calls it insecure, never bogus.
    SecureUnlessOptOut,
    /// Insecure (below an unsigned delegation): no AD, and no SERVFAIL.
    Insecure,
}

/// Every kind of question a signed zone answers: owner × type, missing names and types,
/// wildcards, CNAME chains, DNAME, empty non-terminals, signed and unsigned delegations.
const QUESTIONS: &[(&str, &str, &str, Verdict)] = {
    use Verdict::*;
    &[
        ("example.com", "SOA", "NOERROR", Secure),
        ("example.com", "NS", "NOERROR", Secure),
        ("example.com", "MX", "NOERROR", Secure),
        ("example.com", "TXT", "NOERROR", Secure),
        ("example.com", "DNSKEY", "NOERROR", Secure),
        ("example.com", "AAAA", "NOERROR", Secure),
        ("www.example.com", "A", "NOERROR", Secure),
        ("www.example.com", "AAAA", "NOERROR", Secure),
        ("www.example.com", "TXT", "NOERROR", Secure),
        ("mail.example.com", "AAAA", "NOERROR", Secure),
        ("ns1.example.com", "A", "NOERROR", Secure),
        ("nothere.example.com", "A", "NXDOMAIN", SecureUnlessOptOut),
        (
            "a.b.nothere.example.com",
            "AAAA",
            "NXDOMAIN",
            SecureUnlessOptOut,
        ),
        ("cdn.example.com", "A", "NOERROR", Secure),
        ("chain.example.com", "AAAA", "NOERROR", Secure),
        ("chain.example.com", "CNAME", "NOERROR", Secure),
        ("a.wild.example.com", "A", "NOERROR", SecureUnlessOptOut),
        ("a.wild.example.com", "TXT", "NOERROR", SecureUnlessOptOut),
        ("b.c.wild.example.com", "A", "NOERROR", SecureUnlessOptOut),
        ("a.wild.example.com", "MX", "NOERROR", SecureUnlessOptOut),
        ("wild.example.com", "A", "NOERROR", Secure),
        ("x.wcname.example.com", "A", "NOERROR", SecureUnlessOptOut),
        ("y.ent.example.com", "A", "NOERROR", Secure),
        ("ent.example.com", "TXT", "NOERROR", Secure),
        ("x.y.ent.example.com", "A", "NOERROR", Secure),
        ("x.y.ent.example.com", "AAAA", "NOERROR", Secure),
        ("q.x.y.ent.example.com", "A", "NXDOMAIN", SecureUnlessOptOut),
        ("a.d.example.com", "A", "NOERROR", Secure),
        ("x.d.example.com", "A", "NXDOMAIN", SecureUnlessOptOut),
        ("d.example.com", "DNAME", "NOERROR", Secure),
        ("_sip._tcp.example.com", "SRV", "NOERROR", Secure),
        ("_tcp.example.com", "A", "NOERROR", Secure),
        ("sub.example.com", "DS", "NOERROR", Secure),
        ("www.sub.example.com", "A", "NOERROR", Secure),
        ("nothere.sub.example.com", "A", "NXDOMAIN", Secure),
        ("sub.example.com", "DNSKEY", "NOERROR", Secure),
        ("insecure.example.com", "DS", "NOERROR", SecureUnlessOptOut),
        ("www.insecure.example.com", "A", "NOERROR", Insecure),
        ("outside.example.com", "A", "NOERROR", Insecure),
    ]
};

/// dnslb serving the signed fixture (signed now in `keys` with `denial`); the trust anchor.
async fn signed_server(keys: &Path, denial: Denial) -> (TestServer, String) {
    let (zones, ds) = signed_fixture(keys, denial);
    (start_dir(dir_with_origins("", &zones)).await, ds)
}

/// A validating Unbound on loopback whose only trust anchor is `ds`, asking dnslb (over TCP
/// when `tcp`) for every zone, the root included, so that nothing leaves 127.0.0.1.
async fn validating_unbound(dnslb: SocketAddr, ds: &str, tcp: bool) -> Daemon {
    let stub = |zone: &str| unbound_stub(zone, dnslb);
    let elsewhere = unbound_loopback_only();
    let config = |port: u16, dir: &Path| {
        format!(
            "server:\n  interface: 127.0.0.1\n  port: {port}\n  outgoing-interface: 127.0.0.1\n  \
             do-not-query-localhost: no\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  \
             directory: \"{dir}\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  \
             num-threads: 1\n  so-reuseport: no\n  module-config: \"validator iterator\"\n  \
             trust-anchor: \"{ds}\"\n  tcp-upstream: {tcp}\n  qname-minimisation: no\n  \
             access-control: 127.0.0.0/8 allow\n  do-ip6: no\n  prefetch: no\n  verbosity: 1\n  \
             val-log-level: 2\n{elsewhere}{}{}{}{}",
            stub("example.com"),
            stub("sub.example.com"),
            stub("insecure.example.com"),
            stub("."),
            dir = dir.display(),
            tcp = if tcp { "yes" } else { "no" },
        )
    };
    unbound_daemon(config).await
}

/// Asks Unbound every question; returns what differs from the expected verdicts.
async fn validate_all(unbound: SocketAddr, denial: Denial) -> Vec<String> {
    let mut wrong = Vec::new();
    for &(name, qtype, rcode, verdict) in QUESTIONS {
        let out = dig(unbound, &["+dnssec", name, qtype]).await;
        let status_ok = out.contains(&format!("status: {rcode},"));
        let flags = out
            .lines()
            .find_map(|l| l.strip_prefix(";; flags:"))
            .unwrap_or_default();
        let ad = flags
            .split(';')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .any(|f| f == "ad");
        let expect_ad = match verdict {
            Verdict::Secure => Some(true),
            Verdict::SecureUnlessOptOut if denial != Denial::Nsec3OptOut => Some(true),
            Verdict::SecureUnlessOptOut => None,
            Verdict::Insecure => Some(false),
        };
        if !status_ok || expect_ad.is_some_and(|e| e != ad) {
            wrong.push(format!(
                "{name} {qtype}: expected {rcode} {verdict:?} ({denial:?})\n{out}"
            ));
        }
    }
    wrong
}

/// Unbound, validating over UDP and over TCP, finds every answer of the signed fixture
/// secure (AD) where it should be, and never bogus, for each way of denying existence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_validates_every_answer_of_a_signed_zone() {
    if !have_tool("unbound") || !have_tool("dig") || !have_tool("ldns-signzone") {
        return;
    }
    for denial in [Denial::Nsec, Denial::Nsec3, Denial::Nsec3OptOut] {
        let keys = tempfile::tempdir().unwrap();
        let (server, ds) = signed_server(keys.path(), denial).await;
        for tcp in [false, true] {
            let unbound = validating_unbound(server.addr, &ds, tcp).await;
            let wrong = validate_all(unbound.addr, denial).await;
            unbound.stop().await;
            assert!(
                wrong.is_empty(),
                "{} wrong (tcp: {tcp}):\n{}",
                wrong.len(),
                wrong.join("\n")
            );
        }
        server.stop().await;
    }
}

/// BIND's `delv`, validating against dnslb itself with the zone's DS, agrees: every sample
/// answer and every negative answer is "fully validated".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delv_fully_validates_answers_and_denials() {
    if !have_tool("delv") || !have_tool("ldns-signzone") {
        return;
    }
    for denial in [Denial::Nsec, Denial::Nsec3] {
        let keys = tempfile::tempdir().unwrap();
        let (server, ds) = signed_server(keys.path(), denial).await;
        let fields: Vec<&str> = ds.split_whitespace().collect();
        let anchors = keys.path().join("anchors.conf");
        std::fs::write(
            &anchors,
            format!(
                "trust-anchors {{ {} static-ds {} {} {} \"{}\"; }};\n",
                fields[0], fields[3], fields[4], fields[5], fields[6]
            ),
        )
        .unwrap();
        for (name, qtype) in [
            ("www.example.com", "A"),
            ("example.com", "MX"),
            ("nothere.example.com", "A"),
            ("www.example.com", "TXT"),
            ("y.ent.example.com", "A"),
            ("a.wild.example.com", "A"),
            ("a.wild.example.com", "MX"),
            ("chain.example.com", "A"),
            ("www.sub.example.com", "A"),
            ("insecure.example.com", "DS"),
        ] {
            let out = tokio::process::Command::new("delv")
                .arg(format!("@{}", server.addr.ip()))
                .args(["-p", &server.addr.port().to_string()])
                .arg("-a")
                .arg(&anchors)
                .args(["+root=example.com", name, qtype])
                .output()
                .await
                .expect("delv runs");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(
                text.contains("; fully validated")
                    || text.contains("; negative response, fully validated"),
                "{denial:?} {name} {qtype}:\n{text}"
            );
        }
        server.stop().await;
    }
}

/// `check` says a signed zone's state in one line; signatures that expired still load, with a
/// warning, and `/metrics` and `/status` tell how long is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_status_and_metrics_tell_a_signed_zones_state() {
    if !have_tool("ldns-signzone") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dnssec");
    let text = std::fs::read_to_string(fixture.join("insecure.example.com.zone")).unwrap();
    let fresh = sign_zone(
        keys.path(),
        "insecure.example.com",
        &text,
        Denial::Nsec3,
        None,
    );
    let expired = sign_zone(
        keys.path(),
        "insecure.example.com",
        &text,
        Denial::Nsec,
        Some(("20200101", "20200201")),
    );
    let dir = dir_with_zones("", &[("insecure.example.com.zone", &fresh.text)]);
    let config = dir.path().join("dnslb.toml");
    let check = |config: &Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"))
            .arg("-c")
            .arg(config)
            .arg("check")
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (out, err) = check(&config);
    assert!(
        out.contains(
            "signed: ECDSAP256SHA256; NSEC3 (iterations 0, salt -); earliest signature expiry in 2"
        ),
        "{out}{err}"
    );
    assert!(!err.contains("warning"), "{err}");

    write_file(dir.path(), "zones/insecure.example.com.zone", &expired.text);
    let (out, err) = check(&config);
    assert!(
        out.contains("signed: ECDSAP256SHA256; NSEC; signatures EXPIRED"),
        "{out}"
    );
    assert!(err.contains("a signature expired"), "{err}");

    let server = start_dir(dir).await;
    let answer = dig(server.addr, &["+dnssec", "www.insecure.example.com", "A"]).await;
    assert!(
        answer.contains("RRSIG"),
        "an expired zone is still served: {answer}"
    );
    let (_, metrics) = http(server.admin(), "GET", "/metrics", "").await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("dnslb_dnssec_expiry_seconds{zone=\"insecure.example.com.\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let left: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(left < -86_400 * 300, "{line}");
    let (_, status) = http(server.admin(), "GET", "/status", "").await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["zones"][0]["dnssec"]["expired"], true, "{status}");
    server.stop().await;
}

/// A signed zone loads whole: RRSIG and NSEC beside a CNAME (RFC 4035 §2.5), the NSEC3 chain
/// apart from the names; and a pool placed in it is refused, naming the pool's line, since
/// its answers could not be signed.
#[test]
fn a_signed_zone_loads_and_refuses_a_pool() {
    if !have_tool("ldns-signzone") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (zones, _) = signed_fixture(keys.path(), Denial::Nsec3);
    let dir = dir_with_origins("", &zones);
    assert_eq!(
        load_problems(&dir.path().join("dnslb.toml")),
        Vec::<String>::new()
    );
    let loaded = dnslb::load::check(&dir.path().join("dnslb.toml")).unwrap();
    let zone = loaded
        .snapshot
        .zones()
        .into_iter()
        .find(|z| z.origin.to_string() == "example.com.")
        .unwrap();
    // The NSEC3 owners are no names of the zone: 17 owners, 2 cuts, 4 empty non-terminals
    // (`wild`, `wcname`, `ent`, `y.ent`, `other`, `_tcp`) less the 4 wildcard and deep owners
    // counted once: 21 names, each with its NSEC3.
    assert_eq!(zone.node_count(), 21);
    let signed = zone.dnssec.as_ref().expect("signed");
    let dnslb::zone::Denial::Nsec3(chain) = &signed.denial else {
        panic!("{:?}", signed.denial)
    };
    assert_eq!(chain.len(), 21);

    let pool = "[[pool]]\nname = \"pooled.example.com.\"\ntype = \"A\"\nmembers = [ { address = \"192.0.2.9\", weight = 1 } ]\n";
    let dir = dir_with_origins(pool, &zones);
    let problems = load_problems(&dir.path().join("dnslb.toml"));
    assert!(
        problems.iter().any(|p| p.contains("dnslb.toml:")
            && p.contains("pool pooled.example.com. is in the signed zone example.com.")),
        "{problems:?}"
    );
}

/// Knot as a signing primary (its own keys, NSEC3, RFC 9276 parameters) on loopback, sending
/// NOTIFY to `notify`; its zone file is `zone_text`.
async fn knot_signer(zone_text: &str, notify: SocketAddr) -> Daemon {
    let text = zone_text.to_string();
    let setup = move |dir: &Path| std::fs::write(dir.join("example.com.zone"), &text).unwrap();
    let config = move |port: u16, dir: &Path| {
        let d = dir.display();
        format!(
            "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
             control:\n  listen: \"{d}/knot.sock\"\n\
             log:\n  - target: \"{d}/knot.log\"\n    any: info\n\
             database:\n  storage: \"{d}\"\n\
             remote:\n  - id: dnslb\n    address: {}@{}\n\
             acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n\
             policy:\n  - id: signer\n    algorithm: ecdsap256sha256\n    nsec3: on\n    nsec3-iterations: 0\n    nsec3-salt-length: 0\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    zonefile-load: difference-no-serial\n    journal-content: all\n    semantic-checks: off\n\
             zone:\n  - domain: example.com\n    file: example.com.zone\n    acl: xfr\n    notify: [dnslb]\n    dnssec-signing: on\n    dnssec-policy: signer\n",
            notify.ip(),
            notify.port()
        )
    };
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start("knotd", "knot.conf", &["-c"], setup, config, &probe).await
}

/// `knotc` on Knot's control socket.
async fn knotc(knot: &Daemon, args: &[&str]) -> String {
    let out = tokio::process::Command::new("knotc")
        .arg("-s")
        .arg(knot.dir.path().join("knot.sock"))
        .args(args)
        .output()
        .await
        .expect("knotc runs");
    assert!(out.status.success(), "knotc {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The serial dnslb serves, once it differs from `old` (at most 10 s).
async fn new_serial(addr: SocketAddr, old: Option<u32>) -> u32 {
    for _ in 0..100 {
        let serial = zone_serial(addr, "example.com.").await.ok();
        if let Some(s) = serial.filter(|s| Some(*s) != old) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("dnslb serves no new serial after {old:?} in 10 s")
}

/// Knot signs, dnslb is its secondary, Unbound validates what dnslb serves; Knot's re-signing
/// and a changed record reach dnslb by IXFR and still validate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knot_signs_dnslb_serves_by_transfer_and_unbound_validates() {
    if !have_tool("knotd") || !have_tool("keymgr") || !have_tool("unbound") {
        return;
    }
    let zone = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n*.wild A 192.0.2.99\n";
    let s = start_dir(dir_with_zones(
        "[[secondary]]\nzone = \"example.com.\"\nprimaries = [\"127.0.0.1:9\"]\n\
         cache_file = \"example.com.cache\"\n",
        &[],
    ))
    .await;
    let knot = knot_signer(zone, s.addr).await;
    let conf = s.config();
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("127.0.0.1:9", &knot.addr.to_string())).unwrap();
    let (code, body) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(code, 200, "{body}");
    let first = new_serial(s.addr, None).await;

    let keymgr = std::process::Command::new("keymgr")
        .arg("-c")
        .arg(knot.dir.path().join("knot.conf"))
        .args(["example.com.", "ds"])
        .output()
        .unwrap();
    let ds_lines = String::from_utf8_lossy(&keymgr.stdout).into_owned();
    let ds = ds_lines
        .lines()
        .find(|l| l.contains(" DS 13 2 ") || l.split_whitespace().nth(4) == Some("2"))
        .unwrap_or_else(|| panic!("keymgr ds: {keymgr:?}"))
        .to_string();

    let unbound = validating_unbound(s.addr, &ds, false).await;
    for (name, qtype, rcode) in [
        ("www.example.com", "A", "NOERROR"),
        ("nothere.example.com", "A", "NXDOMAIN"),
        ("www.example.com", "TXT", "NOERROR"),
        ("a.wild.example.com", "A", "NOERROR"),
    ] {
        let out = dig(unbound.addr, &["+dnssec", name, qtype]).await;
        assert!(
            out.contains(&format!("status: {rcode},")) && out.contains(" ad;"),
            "{name} {qtype} by transfer from Knot:\n{out}"
        );
    }
    unbound.stop().await;

    // A new record, signed by Knot, and everything re-signed: both come by IXFR.
    std::fs::write(
        knot.dir.path().join("example.com.zone"),
        format!("{zone}new A 192.0.2.33\n"),
    )
    .unwrap();
    knotc(&knot, &["zone-reload", "example.com"]).await;
    let second = new_serial(s.addr, Some(first)).await;
    knotc(&knot, &["zone-sign", "example.com"]).await;
    let third = new_serial(s.addr, Some(second)).await;
    let status = secondary_status(&s, "example.com.").await;
    assert_eq!(status["last_transfer"], "IXFR", "{status}");
    validate_after(&s, &ds, "after IXFR").await;

    // Restarted with its primary gone, dnslb serves the signed zone from its cache file (the
    // signatures written back as zone-file text and read again), and it still validates.
    knot.stop().await;
    let mut s = s;
    if let Some(running) = s.running.take() {
        running.stop().await;
    }
    let s = start_dir(s.dir).await;
    assert_eq!(zone_serial(s.addr, "example.com.").await, Ok(third));
    validate_after(&s, &ds, "from the cache file").await;
    s.stop().await;
}

/// Unbound, validating with `ds`, finds a new name, an old one and a missing one secure.
async fn validate_after(s: &TestServer, ds: &str, when: &str) {
    let unbound = validating_unbound(s.addr, ds, false).await;
    for (name, rcode) in [
        ("new.example.com", "NOERROR"),
        ("www.example.com", "NOERROR"),
        ("gone.example.com", "NXDOMAIN"),
    ] {
        let out = dig(unbound.addr, &["+dnssec", name, "A"]).await;
        assert!(
            out.contains(&format!("status: {rcode},")) && out.contains(" ad;"),
            "{name} {when}:\n{out}"
        );
    }
    unbound.stop().await;
}

/// DNSViz (`probe -A` against dnslb alone, inside a network namespace of its own with only
/// loopback up, then `grok`) finds every signature valid, every proof of absence valid, the
/// delegation from the DS secure, and no error or warning, for NSEC and NSEC3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsviz_finds_no_error_in_a_signed_zone() {
    if !have_tool("dnsviz") || !have_tool("unshare") || !have_tool("ldns-signzone") {
        return;
    }
    for denial in [Denial::Nsec, Denial::Nsec3] {
        let keys = tempfile::tempdir().unwrap();
        let (zones, ds) = signed_fixture(keys.path(), denial);
        let dir = dir_with_origins("", &zones);
        let names = "example.com www.example.com nothere.example.com a.wild.example.com \
                     chain.example.com y.ent.example.com x.d.example.com";
        assert_dnsviz_clean(dir.path(), &ds, names, &format!("{denial:?}")).await;
    }
}

/// With DO, a response whose signatures and proofs do not fit is sent with TC and no records
/// (RFC 4035 §3.1.1), never without what a validator needs; with room, and over TCP, it is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_answer_that_does_not_fit_is_truncated_whole() {
    if !have_tool("ldns-signzone") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (server, _) = signed_server(keys.path(), Denial::Nsec3).await;
    let ask = |payload: u16| {
        let mut m = query_message("nothere.example.com.", RecordType::NS, Some(payload));
        m.edns.as_mut().unwrap().set_dnssec_ok(true);
        m
    };
    // The SOA and three NSEC3, each with its RRSIG: more than 512 octets.
    let small = udp_msg(server.addr, &ask(512)).await;
    assert!(small.metadata.truncation, "{small:?}");
    assert!(
        small.answers.is_empty() && small.authorities.is_empty(),
        "{small:?}"
    );
    let sigs = |m: &hickory_proto::op::Message| {
        m.authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::RRSIG)
            .count()
    };
    let roomy = udp_msg(server.addr, &ask(1232)).await;
    assert!(!roomy.metadata.truncation);
    assert_eq!((roomy.authorities.len(), sigs(&roomy)), (8, 4), "{roomy:?}");
    let whole = tcp_pipelined(server.addr, &[ask(512)]).await.remove(0);
    assert_eq!((whole.authorities.len(), sigs(&whole)), (8, 4), "{whole:?}");
    server.stop().await;
}

/// A transfer out of a signed zone sends every record the signer wrote, NSEC3 chain and RRSIGs
/// included, though the server keeps the chain apart from the names: the same records of each
/// type as the signed file, counted by owner and type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axfr_of_a_signed_zone_sends_every_signed_record() {
    if !have_tool("ldns-signzone") || !have_tool("dig") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (zones, _) = signed_fixture(keys.path(), Denial::Nsec3);
    let conf = "[[zone]]\nname = \"example.com.\"\nallow_transfer = [\"127.0.0.0/8\"]\n";
    let s = start_dir(dir_with_origins(conf, &zones)).await;
    // Owner (lower case) and type of each record of a listing: the file's or dig's.
    let census = |text: &str| {
        let mut out: std::collections::BTreeMap<(String, String), usize> = Default::default();
        for line in text
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 4 {
                *out.entry((f[0].to_lowercase(), f[3].to_string()))
                    .or_default() += 1;
            }
        }
        out
    };
    let mut want = census(&zones[0].1);
    let listing = dig(s.addr, &["example.com", "AXFR"]).await;
    let mut got = census(&listing);
    // dig lists the SOA twice (first and last), the file once.
    let soa = ("example.com.".to_string(), "SOA".to_string());
    *got.get_mut(&soa).unwrap() -= 1;
    want.retain(|_, n| *n > 0);
    assert!(want.keys().any(|(_, t)| t == "NSEC3"), "{want:?}");
    assert_eq!(got, want, "{listing}");
    s.stop().await;
}

/// An NSEC3 record whose owner is no base32hex hash is an error naming its file and line, and a
/// reload that brings it keeps the last good zone serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_nsec3_owner_names_its_line_and_the_last_good_zone_serves() {
    if !have_tool("ldns-signzone") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (zones, _) = signed_fixture(keys.path(), Denial::Nsec3);
    let dir = dir_with_origins("", &zones);
    let server = start_dir(dir).await;
    let good = zone_serial(server.addr, "example.com.").await;
    assert!(good.is_ok(), "{good:?}");

    // One NSEC3 record moved to an owner that is no hash ('z' is not base32hex).
    let text = &zones.iter().find(|(o, _)| o == "example.com").unwrap().1;
    let line = text
        .lines()
        .position(|l| l.split_whitespace().nth(3) == Some("NSEC3"))
        .expect("an NSEC3 record");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let owner_end = lines[line].find('.').unwrap();
    lines[line].replace_range(..owner_end, "zzz");
    write_file(
        server.dir.path(),
        "zones/example.com.zone",
        &lines.join("\n"),
    );
    let problems = load_problems(&server.config());
    assert!(
        problems
            .iter()
            .any(|p| p.contains(&format!("example.com.zone:{}:", line + 1))
                && p.contains("is not a base32hex hash")),
        "{problems:?}"
    );
    // The config is fine: the reload succeeds, names the zone's problem, and keeps its last
    // good version (as for any broken zone file).
    let (code, body) = http(server.admin(), "POST", "/reload", "").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("is not a base32hex hash"), "{body}");
    assert_eq!(zone_serial(server.addr, "example.com.").await, good);
    let answer = dig(server.addr, &["+dnssec", "www.example.com", "A"]).await;
    assert!(answer.contains("RRSIG"), "{answer}");
    server.stop().await;
}
