//! Differential test: dnslb and NSD serve the same zone file on loopback and must give the same
//! answers (rcode, AA, TC, and every section) to the same questions. NSD runs with
//! `minimal-responses: yes` (no apex NS in the authority section of positive answers), as dnslb
//! and Knot answer. Two differences are deliberate, and checked as such:
//! - dnslb adds the addresses of MX and SRV targets (additional-section processing, as Knot
//!   does); minimal NSD leaves them out.
//! - a referral whose in-domain glue does not all fit sets TC in dnslb (RFC 9471, 2023); NSD 4.6
//!   predates it. (It also fits one glue record fewer: hickory's encoder compresses against the
//!   question name as a whole only.)
//!
//! Skipped without `nsd`, unless `DNSLB_REQUIRE_TOOLS=1`.

mod common;

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

/// NSD serving `zone_file` as example.com on a loopback port.
async fn nsd(zone_file: &std::path::Path) -> Daemon {
    let setup = |dir: &std::path::Path| {
        std::fs::copy(zone_file, dir.join("example.com.zone")).unwrap();
    };
    let config = |port: u16, dir: &std::path::Path| {
        let d = dir.display();
        format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  server-count: 1\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  logfile: \"{d}/nsd.log\"\n  rrl-ratelimit: 0\n  minimal-responses: yes\n  \
             refuse-any: no\n  ipv4-edns-size: 1232\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: example.com\n  zonefile: example.com.zone\n"
        )
    };
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start("nsd", "nsd.conf", &["-d", "-c"], setup, config, &probe).await
}

/// What must match between the two servers; `with_additional: false` leaves the additional
/// section (and TC) out.
fn summary(m: &Message, with_additional: bool) -> String {
    let sorted = |records: &[hickory_proto::rr::Record]| {
        let mut v = show(records);
        v.sort();
        v
    };
    format!(
        "rcode={} aa={} tc={}\nanswer={:?}\nauthority={:?}\nadditional={:?}",
        m.metadata.response_code,
        m.metadata.authoritative,
        m.metadata.truncation && with_additional,
        // Answers in order when a CNAME chain makes order meaningful; sets otherwise.
        if m.answers
            .iter()
            .any(|r| r.record_type() == RecordType::CNAME)
        {
            show(&m.answers)
        } else {
            sorted(&m.answers)
        },
        sorted(&m.authorities),
        if with_additional {
            sorted(&m.additionals)
        } else {
            Vec::new()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnslb_answers_like_nsd() {
    if !have_tool("nsd") {
        return;
    }
    // The core fixture's example.com zone, alone (names in other zones are out of zone for both).
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    let zone = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/core/zones/example.com.zone");
    std::fs::copy(&zone, dir.path().join("zones/example.com.zone")).unwrap();
    std::fs::write(
        dir.path().join("dnslb.toml"),
        "[server]\nlisten = [\"127.0.0.1:0\"]\nwatch = false\n",
    )
    .unwrap();
    let ours = start_dir(dir).await;
    let nsd = nsd(&zone).await;

    let questions: &[(&str, RecordType)] = &[
        ("example.com.", RecordType::SOA),
        ("example.com.", RecordType::NS),
        ("example.com.", RecordType::MX),
        ("example.com.", RecordType::A),
        ("www.example.com.", RecordType::A),
        ("www.example.com.", RecordType::TXT),
        ("www.example.com.", RecordType::MX),
        ("WwW.ExAmPlE.CoM.", RecordType::A),
        ("mail.example.com.", RecordType::AAAA),
        ("alias.example.com.", RecordType::A),
        ("alias.example.com.", RecordType::CNAME),
        ("alias.example.com.", RecordType::TXT),
        ("chain1.example.com.", RecordType::A),
        ("outside.example.com.", RecordType::A),
        ("nothere.example.com.", RecordType::A),
        ("nothere.example.com.", RecordType::TXT),
        ("nothere.example.com.", RecordType::MX),
        ("a.nothere.example.com.", RecordType::A),
        ("foo.wcname.example.com.", RecordType::A),
        ("b.c.example.com.", RecordType::A),
        ("c.example.com.", RecordType::A),
        ("x.b.c.example.com.", RecordType::A),
        ("a.b.c.example.com.", RecordType::A),
        ("sub.example.com.", RecordType::A),
        ("sub.example.com.", RecordType::NS),
        ("www.sub.example.com.", RecordType::A),
        ("deep.below.sub.example.com.", RecordType::AAAA),
        ("ns.sub.example.com.", RecordType::A),
        ("_sip._tcp.example.com.", RecordType::SRV),
        ("big.example.com.", RecordType::TXT),
        ("mxmany.example.com.", RecordType::MX),
        ("www.wide.example.com.", RecordType::A),
        ("child.example.com.", RecordType::A),
        ("x.child.example.com.", RecordType::A),
    ];
    let mut differences = Vec::new();
    let mut glue_cuts = 0;
    for &(name, rtype) in questions {
        for edns in [Some(1232), None] {
            let q = query_message(name, rtype, edns);
            let (a, b) = (udp_msg(ours.addr, &q).await, udp_msg(nsd.addr, &q).await);
            let mx_or_srv = matches!(rtype, RecordType::MX | RecordType::SRV);
            let glue_cut =
                !a.metadata.authoritative && a.metadata.truncation && !a.authorities.is_empty();
            if mx_or_srv {
                assert!(
                    a.additionals.len() >= b.additionals.len(),
                    "{name}: dnslb adds target addresses"
                );
            }
            if glue_cut {
                glue_cuts += 1;
                assert!(
                    !b.metadata.truncation && a.additionals.len() <= b.additionals.len(),
                    "{name}"
                );
            }
            let with_additional = !mx_or_srv && !glue_cut;
            let (a, b) = (summary(&a, with_additional), summary(&b, with_additional));
            if a != b {
                differences.push(format!(
                    "{name} {rtype} edns={edns:?}\n  dnslb: {a}\n  nsd:   {b}"
                ));
            }
        }
    }
    assert_eq!(
        glue_cuts, 1,
        "the wide referral without EDNS is the one glue cut"
    );
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    nsd.stop().await;
    ours.stop().await;
}
