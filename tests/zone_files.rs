//! Zone files: every invalid case is refused with the file, the line and the reason; the gaps of
//! hickory's parser are covered (or refused clearly), each pinned here; `dnslb check` reports
//! every problem; start-up serves the valid zones when one is broken.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use hickory_proto::rr::RecordType;

use common::MINIMAL_ZONE as SOA;

/// A temporary directory with a config and the given zone files.
fn dir_with(zones: &[(&str, &str)]) -> tempfile::TempDir {
    dir_with_zones("", zones)
}

/// The problems of loading `zone` as example.com.
fn problems_of(zone: &str) -> Vec<String> {
    let dir = dir_with(&[("example.com.zone", zone), ("ok.test.zone", SOA)]);
    load_problems(&dir.path().join("dnslb.toml"))
}

fn assert_one_problem(zone: &str, line: usize, needle: &str) {
    let p = problems_of(zone);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(&format!("example.com.zone:{line}: ")),
        "line {line} named: {p:?}"
    );
    assert!(p[0].contains(needle), "{needle:?} in {p:?}");
}

#[test]
fn syntax_error_names_the_line() {
    assert_one_problem(&format!("{SOA}www 3600 IN A\n"), 4, "bad A record");
    assert_one_problem(
        &format!("{SOA}www 3600 IN BOGUS 1\n"),
        4,
        "unknown record type `BOGUS`",
    );
    assert_one_problem(
        &format!("{SOA}www 3600 IN TXT (\"a\"\n"),
        4,
        "`(` without a matching `)`",
    );
}

#[test]
fn cname_beside_other_data_is_refused() {
    assert_one_problem(
        &format!("{SOA}www 3600 IN A 192.0.2.1\nwww 3600 IN CNAME ns\n"),
        5,
        "CNAME and other data",
    );
}

#[test]
fn missing_soa_is_refused() {
    let p = problems_of("www 3600 IN A 192.0.2.1\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("example.com.zone: ") && p[0].contains("no SOA"),
        "{p:?}"
    );
}

#[test]
fn record_outside_the_origin_is_refused() {
    assert_one_problem(
        &format!("{SOA}www.example.net. 3600 IN A 192.0.2.1\n"),
        4,
        "outside the zone example.com.",
    );
}

#[test]
fn bad_address_is_refused() {
    assert_one_problem(
        &format!("{SOA}www 3600 IN A 192.0.2.300\n"),
        4,
        "bad A record",
    );
    assert_one_problem(
        &format!("{SOA}www 3600 IN AAAA 192.0.2.1\n"),
        4,
        "bad AAAA record",
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let p = problems_of(&format!("{SOA}a 3600 IN A 1.2.3\nb 3600 IN A 1.2.3.4.5\n"));
    assert_eq!(p.len(), 2, "{p:?}");
}

// The gaps of hickory's parser, one test each.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal_escapes_decode_in_names_and_strings() {
    // hickory-dns #3955 decoded \DDD wrongly; the `domain` scanner reads it as RFC 1035 says.
    let zone = format!(
        "$ORIGIN example.com.\n{SOA}a\\065b 3600 IN A 192.0.2.1\nt 3600 IN TXT \"caf\\233\" \"x\\\"y\"\n"
    );
    let s = start_dir(dir_with(&[("example.com.zone", &zone)])).await;
    assert_eq!(
        addresses(&udp(s.addr, "aAb.example.com.", RecordType::A).await),
        ["192.0.2.1"]
    );
    let q = query_message("t.example.com.", RecordType::TXT, None);
    let raw = udp_raw(s.addr, &q.to_vec().unwrap(), REPLY_TIMEOUT)
        .await
        .unwrap();
    assert!(
        raw.ends_with(b"\x00\x09\x04caf\xe9\x03x\"y"),
        "RDATA: length 9, \"caf\\233\" and \"x\\\"y\": {raw:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_with_origin_and_origin_does_not_leak_back() {
    // hickory-dns #3928 / #3950: $INCLUDE's origin argument, and $ORIGIN inside an include.
    let main = format!(
        "$ORIGIN example.com.\n{SOA}$INCLUDE inc/hosts.inc lab.example.com.\nafter 3600 IN A 192.0.2.9\n"
    );
    let inc = "web 3600 IN A 192.0.2.5\n$ORIGIN elsewhere.example.com.\nx 3600 IN A 192.0.2.6\n";
    let dir = dir_with(&[("example.com.zone", &main), ("inc/hosts.inc", inc)]);
    let s = start_dir(dir).await;
    assert_eq!(
        addresses(&udp(s.addr, "web.lab.example.com.", RecordType::A).await),
        ["192.0.2.5"]
    );
    assert_eq!(
        addresses(&udp(s.addr, "x.elsewhere.example.com.", RecordType::A).await),
        ["192.0.2.6"]
    );
    // After the include, the origin is example.com. again, not elsewhere.example.com.
    assert_eq!(
        addresses(&udp(s.addr, "after.example.com.", RecordType::A).await),
        ["192.0.2.9"]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_restores_the_owner_after_the_included_file() {
    // RFC 1035 §5.1: after $INCLUDE, a line with a blank owner continues the including file's
    // last owner, not the included file's.
    let main = format!(
        "$ORIGIN example.com.\n{SOA}www 3600 IN A 192.0.2.1\n$INCLUDE inside.inc\n 3600 IN TXT \"after\"\n"
    );
    let dir = dir_with(&[
        ("example.com.zone", &main),
        ("inside.inc", "inside 3600 IN A 192.0.2.2\n"),
    ]);
    let s = start_dir(dir).await;
    let www = udp(s.addr, "www.example.com.", RecordType::TXT).await;
    assert_eq!(show(&www.answers), ["www.example.com. 3600 TXT after"]);
    let inside = udp(s.addr, "inside.example.com.", RecordType::TXT).await;
    assert!(inside.answers.is_empty(), "{:?}", show(&inside.answers));
    assert_eq!(
        addresses(&udp(s.addr, "inside.example.com.", RecordType::A).await),
        ["192.0.2.2"]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowercase_directives_ttl_units_and_rfc_3597() {
    let zone = "$origin example.com.\n$ttl 1h\n@ IN SOA ns h 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.1\n\
                g1 IN TYPE65280 \\# 4 0A000001\n\
                g2 IN A \\# 4 C0000202\n\
                t 90m IN TXT \"x\"\n";
    let s = start_dir(dir_with(&[("example.com.zone", zone)])).await;
    let ns = udp(s.addr, "ns.example.com.", RecordType::A).await;
    assert_eq!(ns.answers[0].ttl, 3600, "$ttl 1h applies");
    assert_eq!(
        addresses(&udp(s.addr, "g2.example.com.", RecordType::A).await),
        ["192.0.2.2"]
    );
    let g1 = udp(s.addr, "g1.example.com.", RecordType::Unknown(65280)).await;
    assert_eq!(g1.answers.len(), 1, "TYPE65280 served");
    assert_eq!(g1.answers[0].record_type(), RecordType::Unknown(65280));
    let t = udp(s.addr, "t.example.com.", RecordType::TXT).await;
    assert_eq!(t.answers[0].ttl, 5400);
    s.stop().await;
}

#[test]
fn generic_rdata_must_match_its_length() {
    assert_one_problem(
        &format!("{SOA}g 3600 IN A \\# 5 C0000202\n"),
        4,
        "says 5 octets but has 4",
    );
    assert_one_problem(&format!("{SOA}g 3600 IN TYPE999 1 2 3\n"), 4, "RFC 3597");
}

#[test]
fn include_cycles_and_missing_files_are_errors() {
    let main = format!("{SOA}$INCLUDE self.inc\n");
    let dir = dir_with(&[
        ("example.com.zone", &main),
        ("self.inc", "$INCLUDE self.inc\n"),
        ("ok.test.zone", SOA),
    ]);
    let p = load_problems(&dir.path().join("dnslb.toml"));
    assert!(
        p.iter()
            .any(|p| p.contains("self.inc:1: $INCLUDE self.inc includes itself")),
        "{p:?}"
    );

    let main = format!("{SOA}$INCLUDE missing.inc\n");
    assert_one_problem(&main, 4, "cannot read");
}

#[test]
fn include_bombs_and_cycles_written_another_way_are_refused() {
    // Each level includes the next four times, written with `../zones/` so that the paths
    // differ as text: 4^8 = 65,536 reads, where the budget allows 64.
    let mut files: Vec<(String, String)> = (0..8)
        .map(|i| {
            let next = format!("$INCLUDE ../zones/l{}.inc\n", i + 1);
            (format!("l{i}.inc"), next.repeat(4))
        })
        .collect();
    files.push(("l8.inc".into(), "x 3600 IN A 192.0.2.1\n".into()));
    files.push(("example.com.zone".into(), format!("{SOA}$INCLUDE l0.inc\n")));
    files.push(("loop.test.zone".into(), format!("{SOA}$INCLUDE loop.inc\n")));
    files.push(("loop.inc".into(), "$INCLUDE ../zones/loop.inc\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let dir = dir_with(&refs);
    let origin = hickory_proto::rr::Name::from_ascii("example.com.").unwrap();
    let parsed = dnslb::zone::parse_zone_file(&dir.path().join("zones/example.com.zone"), &origin);
    assert!(
        parsed.errors.iter().any(|p| p
            .to_string()
            .contains("more than 64 files through $INCLUDE")),
        "{:?}",
        parsed.errors
    );
    assert!(
        parsed.records.len() < 200,
        "stopped at the budget: {} records read",
        parsed.records.len()
    );
    let p = load_problems(&dir.path().join("dnslb.toml"));
    assert!(
        p.iter()
            .any(|p| p.contains("loop.inc:1: $INCLUDE ../zones/loop.inc includes itself")),
        "{p:?}"
    );
}

fn dnslb(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dnslb"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("dnslb runs")
}

#[test]
fn check_prints_every_problem_and_fails() {
    let dir = dir_with(&[
        (
            "example.com.zone",
            &format!("{SOA}www 3600 IN A 300.1.1.1\nx 3600 IN CNAME a\nx 3600 IN TXT \"t\"\n"),
        ),
        ("ok.test.zone", SOA),
    ]);
    let out = dnslb(&["check", "--config", "dnslb.toml"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("example.com.zone:4: bad A record `300.1.1.1`:"),
        "the value is quoted: {err}"
    );
    assert!(
        err.contains("example.com.zone:5: x.example.com. has a CNAME and other data"),
        "{err}"
    );

    let good = dir_with(&[("ok.test.zone", SOA)]);
    let out = dnslb(&["check", "--config", "dnslb.toml"], good.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("zone ok.test. serial 1 ok"));
}

#[test]
fn check_reports_config_errors_with_their_line() {
    let dir = dir_with(&[("ok.test.zone", SOA)]);
    std::fs::write(
        dir.path().join("dnslb.toml"),
        "[server]\nlisten = [\"127.0.0.1:0\"]\nzone = \"zones\"\n",
    )
    .unwrap();
    let out = dnslb(&["check", "--config", "dnslb.toml"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("dnslb.toml:3: unknown field `zone`"), "{err}");
}

#[test]
fn check_goes_on_past_unknown_and_mistyped_keys_to_the_zones() {
    let dir = dir_with(&[("ok.test.zone", &format!("{SOA}bad 3600 IN A 192.0.2.300\n"))]);
    std::fs::write(
        dir.path().join("dnslb.toml"),
        "[server]\nlisten = [\"127.0.0.1:0\"]\ntll = 3\ntcp_max = \"many\"\n\n\
         [[pool]]\nname = \"www.ok.test.\"\ntype = \"A\"\nbogus = 1\n\
         members = [{ address = \"192.0.2.1\", weight = 1 }]\n",
    )
    .unwrap();
    let out = dnslb(&["check", "--config", "dnslb.toml"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for expected in [
        "dnslb.toml:3: unknown field `tll`",
        "dnslb.toml:4: `tcp_max`: invalid type",
        "dnslb.toml:9: unknown field `bogus`",
        "ok.test.zone:4: bad A record",
    ] {
        assert!(err.contains(expected), "{expected}:\n{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_serves_the_valid_zones_and_skips_a_broken_one() {
    let dir = dir_with(&[
        ("example.com.zone", "garbage here\n"),
        ("ok.test.zone", SOA),
    ]);
    let s = start_dir(dir).await;
    assert_eq!(
        addresses(&udp(s.addr, "ns.ok.test.", RecordType::A).await),
        ["192.0.2.1"]
    );
    let r = udp(s.addr, "ns.example.com.", RecordType::A).await;
    assert_eq!(
        r.metadata.response_code,
        hickory_proto::op::ResponseCode::Refused
    );
    s.stop().await;
}

#[test]
fn an_empty_zone_directory_says_there_is_nothing_to_serve() {
    let dir = dir_with(&[]);
    let problems = load_problems(&dir.path().join("dnslb.toml"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("no zone loaded: nothing to serve"),
        "{problems:?}"
    );
}

#[tokio::test]
async fn start_up_fails_when_no_zone_loads() {
    let dir = dir_with(&[("example.com.zone", "garbage here\n")]);
    let err = dnslb::app::start(&dir.path().join("dnslb.toml"))
        .await
        .err()
        .expect("fails");
    let text = err.to_string();
    assert!(
        text.contains("cannot be served") && text.contains("example.com.zone:1:"),
        "{text}"
    );
}

#[test]
fn check_warns_of_what_is_probably_not_meant_and_strict_fails_on_it() {
    let pool = "[[pool]]\nname = \"www.ok.test.\"\ntype = \"A\"\nanswers = 3\n\
                probe = { kind = \"tcp\", port = 80, interval = \"1s\", timeout = \"2s\" }\n\
                members = [ { address = \"192.0.2.1\", weight = 1 }, { address = \"192.0.2.2\", weight = 1 } ]\n";
    let dir = dir_with_zones(pool, &[("ok.test.zone", SOA), ("forgotten.zon", SOA)]);
    let out = dnslb(&["check", "--config", "dnslb.toml"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "warnings alone pass: {err}");
    assert!(
        err.contains("warning: ") && err.contains("dnslb.toml:8: pool www.ok.test.: probe timeout 2s is not shorter than its interval 1s"),
        "{err}"
    );
    assert!(
        err.contains("answers = 3 but the pool has 2 members"),
        "{err}"
    );
    assert!(err.contains("forgotten.zon: not named NAME.zone"), "{err}");
    let out = dnslb(&["check", "--strict", "--config", "dnslb.toml"], dir.path());
    assert!(!out.status.success(), "--strict fails on warnings");
}

#[test]
fn check_reports_the_problems_of_every_pool_not_just_the_first() {
    let pools = "[[pool]]\nname = \"a.ok.test.\"\ntype = \"A\"\nmembers = [ { address = \"192.0.2.1\", weight = 1, colour = \"red\" } ]\n\n\
                 [[pool]]\nname = \"b.ok.test.\"\ntype = \"A\"\nmembers = [ { address = \"192.0.2.2\", weight = \"heavy\" } ]\n";
    let dir = dir_with_zones(pools, &[("ok.test.zone", SOA)]);
    let out = dnslb(&["check", "--config", "dnslb.toml"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("dnslb.toml:11: unknown field `colour`"),
        "{err}"
    );
    // The second pool's problem too, at its member's own line.
    assert!(
        err.contains("dnslb.toml:16: `weight`: invalid type: string \"heavy\""),
        "{err}"
    );
}
