//! Zone transfers out and NOTIFY, with real `dig` and a real NSD as the secondary, on loopback:
//! AXFR to an allowed address gets the zone file's records (several messages for a large zone,
//! never a pool's draw), anyone else REFUSED; IXFR gets one SOA when up to date and the whole
//! zone otherwise; NSD transfers the zone from dnslb and follows a serial bump that dnslb
//! announces with NOTIFY.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use hickory_proto::rr::RecordType;

/// The records of a dig transfer listing, one normalised line each (comments dropped).
fn records(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The example zone with `extra` names (to need several messages), serial `serial`.
fn zone(serial: u32, extra: usize) -> String {
    let mut z = format!(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nstatic A 192.0.2.7\n"
    );
    for i in 0..extra {
        z.push_str(&format!("host{i} A 10.0.{}.{}\n", i / 256, i % 256));
    }
    z
}

/// A pool in the zone (never transferred), and `[[zone]]` with `zone_lines`.
fn config(zone_lines: &str) -> String {
    format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [{{ address = \"192.0.2.10\", weight = 1 }}]\n\n\
         [[zone]]\nname = \"example.com.\"\n{zone_lines}\n"
    )
}

/// A server of the example zone (serial 1, `extra` more names) with `[[zone]]` `zone_lines`.
async fn server(zone_lines: &str, extra: usize) -> TestServer {
    let dir = dir_with_zones(
        &config(zone_lines),
        &[("example.com.zone", &zone(1, extra))],
    );
    start_dir(dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axfr_to_an_allowed_address_sends_the_zone_file_and_refuses_others() {
    if !have_tool("dig") {
        return;
    }
    let s = server("allow_transfer = [\"127.0.0.0/8\"]", 2000).await;
    let listing = dig(s.addr, &["example.com", "AXFR"]).await;
    let got = records(&listing);
    assert_eq!(
        got.len(),
        2000 + 5,
        "SOA, NS, 2 A, 2000 hosts, SOA: {}",
        &listing[..listing.len().min(2000)]
    );
    assert!(got.first().unwrap().contains(" SOA ") && got.last().unwrap().contains(" SOA "));
    assert!(
        got.iter()
            .any(|r| r == "host1999.example.com. 300 IN A 10.0.7.207")
    );
    assert!(
        !listing.contains("192.0.2.10"),
        "a pool's draw is never transferred"
    );
    // Several messages: dig counts them (";; XFR size: 2005 records (messages 3, bytes ...)").
    let messages: usize = listing
        .lines()
        .find_map(|l| l.split("(messages ").nth(1))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        messages > 1,
        "{messages} messages: {}",
        &listing[listing.len().saturating_sub(300)..]
    );

    // IXFR from the current serial: one SOA. From an older one: the zone, in AXFR form.
    let up_to_date = dig(s.addr, &["example.com", "IXFR=1"]).await;
    assert_eq!(records(&up_to_date).len(), 1, "{up_to_date}");
    let behind = dig(s.addr, &["example.com", "IXFR=0"]).await;
    assert_eq!(records(&behind), got);
    // Over UDP, the SOA alone whether the client is up to date or behind (RFC 1995 §2: one
    // behind then comes back over TCP).
    for serial in ["IXFR=1", "IXFR=0"] {
        let udp = dig(s.addr, &["+notcp", "example.com", serial]).await;
        let soa = records(&udp);
        assert_eq!(soa.len(), 1, "{udp}");
        assert!(
            soa[0].contains("SOA") && soa[0].contains(" 1 7200 "),
            "{udp}"
        );
    }
    s.stop().await;

    // Not allowed: REFUSED, and nothing sent. No [[zone]] at all: the same.
    for lines in ["allow_transfer = [\"192.0.2.0/24\"]", ""] {
        let s = server(lines, 0).await;
        let refused = dig(s.addr, &["example.com", "AXFR"]).await;
        assert!(refused.contains("Transfer failed"), "{refused}");
        assert!(records(&refused).is_empty(), "{refused}");
        s.stop().await;
    }
}

/// A zone whose names are not all served: a delegation with glue, data the cut hides at it and
/// below it, a duplicate and an owner in capitals. The server keeps the zone's records only in
/// its own store (the parse is let go), so a transfer out is made from that store: every record
/// of the file, once, spelled as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axfr_gives_back_every_record_of_the_file_from_the_zone_store() {
    if !have_tool("dig") {
        return;
    }
    let zone = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
                @ NS ns1\nns1 A 192.0.2.1\nMixed A 192.0.2.8\nsub NS ns.sub\n\
                sub TXT \"hidden at the cut\"\nsub A 192.0.2.9\nns.sub A 192.0.2.53\n\
                deep.sub TXT \"below the cut\"\ndup A 192.0.2.2\ndup A 192.0.2.2\n";
    let conf = "[[zone]]\nname = \"example.com.\"\nallow_transfer = [\"127.0.0.0/8\"]\n";
    let s = start_dir(dir_with_zones(conf, &[("example.com.zone", zone)])).await;
    let listing = dig(s.addr, &["example.com", "AXFR"]).await;
    let got = records(&listing);
    let soa =
        "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300";
    assert_eq!(got.first().map(String::as_str), Some(soa), "{listing}");
    assert_eq!(got.last().map(String::as_str), Some(soa), "{listing}");
    let body: BTreeSet<&str> = got[1..got.len() - 1].iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "example.com. 300 IN NS ns1.example.com.",
        "ns1.example.com. 300 IN A 192.0.2.1",
        "Mixed.example.com. 300 IN A 192.0.2.8",
        "sub.example.com. 300 IN NS ns.sub.example.com.",
        "sub.example.com. 300 IN TXT \"hidden at the cut\"",
        "sub.example.com. 300 IN A 192.0.2.9",
        "ns.sub.example.com. 300 IN A 192.0.2.53",
        "deep.sub.example.com. 300 IN TXT \"below the cut\"",
        "dup.example.com. 300 IN A 192.0.2.2",
    ]
    .into_iter()
    .collect();
    assert_eq!(body, want, "{listing}");
    assert_eq!(got.len(), want.len() + 2, "each record once: {listing}");
    s.stop().await;
}

/// NSD, secondary of `primary` for example.com, taking NOTIFY from loopback.
async fn nsd_secondary(primary: SocketAddr) -> Daemon {
    let config = move |port: u16, dir: &Path| {
        let d = dir.display();
        format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  server-count: 1\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  logfile: \"{d}/nsd.log\"\n  rrl-ratelimit: 0\n  xfrd-reload-timeout: 0\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: \"example.com\"\n  zonefile: \"example.com.zone\"\n  \
             request-xfr: {} NOKEY\n  allow-notify: 127.0.0.1 NOKEY\n",
            format_args!("{}@{}", primary.ip(), primary.port())
        )
    };
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start("nsd", "nsd.conf", &["-d", "-c"], |_| {}, config, &probe).await
}

/// Points dnslb's NOTIFY (`127.0.0.1:9` in `conf`) at `secondary`, then bumps the zone to serial
/// 2 with a new name, `fresh`, and reloads: the reload sends the NOTIFY.
async fn bump_and_notify(s: &TestServer, conf: &Path, secondary: SocketAddr) {
    let text = std::fs::read_to_string(conf).unwrap();
    std::fs::write(conf, text.replace("127.0.0.1:9", &secondary.to_string())).unwrap();
    write_file(
        s.config().parent().unwrap(),
        "zones/example.com.zone",
        &format!("{}fresh A 192.0.2.99\n", zone(2, 0)),
    );
    let (status, body) = http(s.admin(), "POST", "/reload", "").await;
    assert_eq!(status, 200, "{body}");
}

/// How long until `secondary` answers the name serial 2 brought.
async fn wait_for_fresh(secondary: &Daemon, limit: Duration) -> Option<Duration> {
    wait_until(limit, || async {
        nsd_addresses(secondary, "fresh.example.com.")
            .await
            .contains("192.0.2.99")
    })
    .await
}

/// The A addresses a daemon (NSD, BIND) answers for `name`.
async fn nsd_addresses(nsd: &Daemon, name: &str) -> BTreeSet<String> {
    match udp_raw(
        nsd.addr,
        &query_message(name, RecordType::A, None).to_vec().unwrap(),
        Duration::from_millis(500),
    )
    .await
    {
        Some(reply) => hickory_proto::op::Message::from_vec(&reply)
            .map(|m| addresses(&m).into_iter().collect())
            .unwrap_or_default(),
        None => BTreeSet::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsd_as_a_secondary_transfers_the_zone_and_follows_a_notify() {
    if !have_tool("nsd") {
        return;
    }
    // dnslb's NOTIFY goes to NSD's port, which is known only once NSD runs: start dnslb first
    // with a placeholder, then write the real address and reload.
    let dir = dir_with_zones(
        &config("allow_transfer = [\"127.0.0.1\"]\nnotify = [\"127.0.0.1:9\"]"),
        &[("example.com.zone", &zone(1, 0))],
    );
    let conf = dir.path().join("dnslb.toml");
    let s = start_dir(dir).await;
    let nsd = nsd_secondary(s.addr).await;
    let took = wait_until(Duration::from_secs(10), || async {
        nsd_addresses(&nsd, "static.example.com.")
            .await
            .contains("192.0.2.7")
    })
    .await;
    assert!(took.is_some(), "NSD transferred the zone from dnslb");

    // A serial bump with a new name; the reload sends NOTIFY, NSD asks for the zone again.
    bump_and_notify(&s, &conf, nsd.addr).await;
    let took = wait_for_fresh(&nsd, Duration::from_secs(10)).await;
    assert!(took.is_some(), "NSD followed the NOTIFY to serial 2");
    eprintln!("NSD had serial 2 {took:?} after the reload");
    nsd.stop().await;
    s.stop().await;
}

#[test]
fn a_bad_zone_table_names_its_line() {
    let problems = |zone_lines: &str| {
        let dir = dir_with_zones(
            &format!("[[zone]]\n{zone_lines}\n"),
            &[("example.com.zone", &zone(1, 0))],
        );
        load_problems(&dir.path().join("dnslb.toml")).join("\n")
    };
    // `dir_with_zones` writes 7 lines before the extra TOML: [[zone]] is line 8.
    let p = problems("name = \"example.com.\"\nallow_transfer = [\"not-a-network\"]");
    assert!(p.contains("dnslb.toml:10: "), "{p}");
    assert!(p.contains("`not-a-network` is not a network"), "{p}");
    let p = problems("name = \"example.com.\"\nnotify = [\"192.0.2.53\"]");
    assert!(p.contains("dnslb.toml:10: "), "{p}");
    assert!(
        p.contains("`192.0.2.53` is not an address like 192.0.2.53:53"),
        "{p}"
    );
    let p = problems("name = \"nothere.test.\"");
    assert!(p.contains("nothere.test.: no such zone is served"), "{p}");
    let p = problems("name = \"example.com.\"\nallow = []");
    assert!(p.contains("allow"), "an unknown key is an error: {p}");
}

/// The TSIG secret of the BIND test (base64).
const SECRET: &str = "ZG5zbGItdGVzdC1rZXktb2YtdGhpcnR5LXR3by1vY3RldHM=";

/// BIND 9, secondary of `primary` for example.com, its SOA queries and transfers signed with
/// `xfr-key`, taking NOTIFY from loopback.
async fn bind_secondary(primary: SocketAddr) -> Daemon {
    let config = move |port: u16, dir: &Path| {
        let d = dir.display();
        format!(
            "key \"xfr-key\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};\n\
             options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; session-keyfile \"{d}/session.key\";\n\
               managed-keys-directory \"{d}\"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n\
               recursion no; dnssec-validation no; notify no; allow-query {{ any; }}; }};\n\
             controls {{ }};\n\
             logging {{ channel f {{ file \"{d}/named.log\"; severity debug 3; }}; category default {{ f; }}; }};\n\
             zone \"example.com\" {{ type secondary; file \"example.com.db\";\n\
               primaries {{ {} port {} key xfr-key; }}; allow-notify {{ 127.0.0.1; }}; }};\n",
            primary.ip(),
            primary.port()
        )
    };
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start("named", "named.conf", &["-f", "-c"], |_| {}, config, &probe).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_as_a_tsig_keyed_secondary_transfers_and_follows_a_notify() {
    if !have_tool("named") || !have_tool("dig") {
        return;
    }
    let key = format!(
        "tsig = {{ name = \"xfr-key\", algorithm = \"hmac-sha256\", secret = \"{SECRET}\" }}"
    );
    let dir = dir_with_zones(
        &config(&format!(
            "allow_transfer = [\"127.0.0.1\"]\nnotify = [\"127.0.0.1:9\"]\n{key}"
        )),
        &[("example.com.zone", &zone(1, 0))],
    );
    let conf = dir.path().join("dnslb.toml");
    let s = start_dir(dir).await;
    let bind = bind_secondary(s.addr).await;
    let log = || std::fs::read_to_string(bind.dir.path().join("named.log")).unwrap_or_default();
    let took = wait_until(Duration::from_secs(15), || async {
        nsd_addresses(&bind, "static.example.com.")
            .await
            .contains("192.0.2.7")
    })
    .await;
    assert!(
        took.is_some(),
        "BIND transferred the zone from dnslb, signed:\n{}",
        log()
    );

    // BIND checks the SOA with a signed query, which dnslb must answer signed, then transfers.
    bump_and_notify(&s, &conf, bind.addr).await;
    let took = wait_for_fresh(&bind, Duration::from_secs(15)).await;
    assert!(
        took.is_some(),
        "BIND followed the NOTIFY to serial 2:\n{}",
        log()
    );
    assert!(
        !log().contains("expected a TSIG"),
        "BIND accepted every answer:\n{}",
        log()
    );

    // dig -y: the right key gets a signed answer, a wrong secret BADSIG, an unknown key BADKEY.
    let right = dig(
        s.addr,
        &[
            "-y",
            &format!("hmac-sha256:xfr-key:{SECRET}"),
            "example.com",
            "SOA",
        ],
    )
    .await;
    assert!(right.contains("status: NOERROR"), "{right}");
    assert!(right.contains("TSIG PSEUDOSECTION"), "{right}");
    assert!(
        !right.contains("WARNING -- Some TSIG") && !right.contains("Couldn't verify"),
        "{right}"
    );
    let wrong = dig(
        s.addr,
        &[
            "-y",
            "hmac-sha256:xfr-key:d3Jvbmctd3Jvbmctd3Jvbmc=",
            "example.com",
            "SOA",
        ],
    )
    .await;
    assert!(
        wrong.contains("status: NOTAUTH") && wrong.contains("BADSIG"),
        "{wrong}"
    );
    let unknown = dig(
        s.addr,
        &[
            "-y",
            &format!("hmac-sha256:other-key:{SECRET}"),
            "example.com",
            "SOA",
        ],
    )
    .await;
    assert!(
        unknown.contains("status: NOTAUTH") && unknown.contains("BADKEY"),
        "{unknown}"
    );
    bind.stop().await;
    s.stop().await;
}
