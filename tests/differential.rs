//! Differential test: dnslb, NSD and Knot serve the same zone files on loopback, and dnslb must
//! give each of them the same responses to the same questions: every header bit, the question section as sent, the OPT
//! record (presence, payload size, version, DO, options) and all three sections, over UDP with
//! and without EDNS and over TCP. The questions are every owner of every fixture zone (core and
//! fidelity) with its own types, A, ANY and DS, a name below it that does not exist, and a list of
//! special cases (case, classes, EDNS versions, OPT, loops, dangling CNAMEs, delegations).
//!
//! NSD runs with `minimal-responses: yes` (no apex NS in the authority section of positive
//! answers), as dnslb and Knot answer. Two differences are deliberate, and checked as exactly
//! that:
//! - dnslb adds the addresses of MX and SRV targets to the additional section (additional-section
//!   processing, as Knot does); minimal NSD leaves them out. Only those records are excused.
//! - a referral whose in-domain glue does not all fit sets TC in dnslb (RFC 9471, 2023); NSD 4.6
//!   predates it. Only TC and the glue records that were cut are excused.
//!
//! Knot 3.2 (one UDP and one TCP worker, as the benchmark runs it) is compared the same way;
//! where it differs from NSD, dnslb follows NSD, and `excused_knot` lists each such difference.
//!
//! Skipped without `nsd` or `knotd`, unless `DNSLB_REQUIRE_TOOLS=1`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// Every fixture zone: (origin, file).
fn fixture_zones() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut zones = Vec::new();
    for set in ["core", "fidelity"] {
        for e in std::fs::read_dir(root.join(set).join("zones")).unwrap() {
            let path = e.unwrap().path();
            let origin = path.file_stem().unwrap().to_string_lossy().into_owned();
            zones.push((origin, path));
        }
    }
    zones.sort();
    zones
}

/// NSD serving `zones` on a loopback port.
async fn nsd(zones: &[(String, PathBuf)]) -> Daemon {
    let setup = |dir: &Path| {
        for (origin, file) in zones {
            std::fs::copy(file, dir.join(format!("{origin}.zone"))).unwrap();
        }
    };
    let config = |port: u16, dir: &Path| {
        let d = dir.display();
        let mut conf = format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  server-count: 1\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  logfile: \"{d}/nsd.log\"\n  rrl-ratelimit: 0\n  minimal-responses: yes\n  \
             refuse-any: no\n  ipv4-edns-size: 1232\n  hide-version: yes\n  hide-identity: yes\n\
             remote-control:\n  control-enable: no\n"
        );
        for (origin, _) in zones {
            conf.push_str(&format!(
                "zone:\n  name: \"{origin}\"\n  zonefile: \"{origin}.zone\"\n"
            ));
        }
        conf
    };
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start("nsd", "nsd.conf", &["-d", "-c"], setup, config, &probe).await
}

/// Knot serving `zones` on a loopback port, as the benchmark runs it (one UDP and one TCP
/// worker), version and identity hidden.
async fn knot(zones: &[(String, PathBuf)]) -> Daemon {
    let setup = |dir: &Path| {
        for (origin, file) in zones {
            // Knot 3.2 reads no class given as `CLASS1`: the same record as `IN`.
            let text = std::fs::read_to_string(file)
                .unwrap()
                .replace(" CLASS1 ", " IN ");
            std::fs::write(dir.join(format!("{origin}.zone")), text).unwrap();
        }
    };
    let config = |port: u16, dir: &Path| {
        let d = dir.display();
        let mut conf = format!(
            "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  udp-workers: 1\n  tcp-workers: 1\n  \
             background-workers: 1\n  identity: \"\"\n  version: \"\"\n\
             database:\n  storage: \"{d}\"\n\
             log:\n  - target: \"{d}/knot.log\"\n    any: info\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    semantic-checks: off\n    zonefile-sync: -1\n\
             zone:\n"
        );
        for (origin, _) in zones {
            conf.push_str(&format!(
                "  - domain: \"{origin}\"\n    file: \"{origin}.zone\"\n"
            ));
        }
        conf
    };
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start("knotd", "knot.conf", &["-c"], setup, config, &probe).await
}

/// dnslb serving `zones` on a loopback port.
async fn dnslb(zones: &[(String, PathBuf)]) -> TestServer {
    let files: Vec<(String, String)> = zones
        .iter()
        .map(|(origin, file)| {
            (
                format!("{origin}.zone"),
                std::fs::read_to_string(file).unwrap(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    start_dir(dir_with_zones("", &refs)).await
}

/// How a question is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// UDP with EDNS (payload 1232).
    Edns,
    /// UDP without EDNS (512 bytes).
    Plain,
    /// TCP with EDNS.
    Tcp,
}

/// One question: name, type, class, EDNS version, DO.
#[derive(Debug, Clone)]
struct Question {
    name: Name,
    rtype: RecordType,
    class: DNSClass,
    version: u8,
    dnssec_ok: bool,
}

impl Question {
    fn new(name: Name, rtype: RecordType) -> Self {
        Self {
            name,
            rtype,
            class: DNSClass::IN,
            version: 0,
            dnssec_ok: false,
        }
    }

    fn message(&self, ask: Ask) -> Message {
        let edns = (ask != Ask::Plain).then_some(1232);
        let mut m = query_for(self.name.clone(), self.rtype, edns);
        m.queries[0].set_query_class(self.class);
        if let Some(e) = m.edns.as_mut() {
            e.set_version(self.version);
            e.set_dnssec_ok(self.dnssec_ok);
        }
        m
    }
}

/// Every owner of every fixture zone with its own types, A, ANY and DS, and a missing child.
fn questions_from_zones(zones: &[(String, PathBuf)]) -> Vec<Question> {
    let mut seen = std::collections::BTreeSet::new();
    for (origin, file) in zones {
        let origin = Name::from_ascii(format!("{origin}.")).unwrap();
        let parsed = dnslb::zone::parse_zone_file(file, &origin);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        for r in parsed.records.iter() {
            let owner = r.record.name.clone();
            for t in [
                r.record.record_type(),
                RecordType::A,
                RecordType::ANY,
                RecordType::DS,
            ] {
                seen.insert((owner.clone(), u16::from(t)));
            }
            seen.insert((
                owner.prepend_label("nx-child").unwrap(),
                u16::from(RecordType::A),
            ));
        }
    }
    seen.into_iter()
        .map(|(n, t)| Question::new(n, RecordType::from(t)))
        .collect()
}

/// A name from dot-separated labels taken as raw octets (`/` and case kept).
fn raw_name(text: &str) -> Name {
    let mut name =
        Name::from_labels(text.trim_end_matches('.').split('.').map(str::as_bytes)).unwrap();
    name.set_fqdn(true);
    name
}

/// The special cases, beyond the zones' own names.
fn special_questions() -> Vec<Question> {
    let mut v: Vec<Question> = [
        ("WwW.ExAmPlE.CoM.", RecordType::A),
        ("nothere.example.com.", RecordType::MX),
        ("a.nothere.example.com.", RecordType::A),
        ("foo.wcname.example.com.", RecordType::A),
        ("x.b.c.example.com.", RecordType::A),
        ("www.sub.example.com.", RecordType::A),
        ("deep.below.sub.example.com.", RecordType::AAAA),
        ("www.wide.example.com.", RecordType::A),
        ("x.child.example.com.", RecordType::A),
        ("child.example.com.", RecordType::DS),
        ("loop1.example.com.", RecordType::A),
        ("dangling.example.com.", RecordType::A),
        ("x.128/25.100.51.198.in-addr.arpa.", RecordType::PTR),
        ("129.100.51.198.in-addr.arpa.", RecordType::PTR),
        ("x.wild.example.net.", RecordType::TXT),
        ("example.org.", RecordType::A),
        ("www.example.com.", RecordType::OPT),
    ]
    .iter()
    .map(|(n, t)| Question::new(raw_name(n), *t))
    .collect();
    // Near 255 octets, under a wildcard: eight answers fit in 512 octets only with their
    // owners compressed against the question, as NSD and Knot compress them.
    let long = format!(
        "{}.{}.{}.{}.wildlong.example.com.",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(30)
    );
    v.push(Question::new(raw_name(&long), RecordType::A));
    let www = Name::from_ascii("www.example.com.").unwrap();
    let mut ch = Question::new(www.clone(), RecordType::A);
    ch.class = DNSClass::CH;
    let mut any_class = Question::new(www.clone(), RecordType::A);
    any_class.class = DNSClass::ANY;
    let mut badvers = Question::new(www.clone(), RecordType::A);
    badvers.version = 1;
    let mut dnssec_ok = Question::new(www.clone(), RecordType::A);
    dnssec_ok.dnssec_ok = true;
    v.extend([ch, any_class, badvers, dnssec_ok]);
    v
}

/// What a deliberate difference excuses in one exchange.
#[derive(Debug, Default)]
struct Excused {
    /// Records left out of both sides.
    records: Vec<Record>,
    /// TC is not compared.
    tc: bool,
    /// The rcode is not compared.
    rcode: bool,
    /// AA is not compared.
    aa: bool,
    /// The OPT record's options are not compared.
    options: bool,
}

impl Excused {
    fn nothing(&self) -> bool {
        self.records.is_empty() && !self.tc && !self.rcode && !self.aa && !self.options
    }
}

/// Everything of a response that must match, one item a line, but what `excused` leaves out.
fn summary(m: &Message, excused: &Excused) -> String {
    let sorted = |records: &[Record]| {
        let mut v: Vec<String> = records
            .iter()
            .filter(|r| !excused.records.contains(r))
            .map(|r| {
                format!(
                    "{} {} {} {} {}",
                    r.name,
                    r.ttl,
                    r.dns_class,
                    r.record_type(),
                    r.data
                )
            })
            .collect();
        v.sort();
        v
    };
    let h = &m.metadata;
    let opt = m.edns.as_ref().map(|e| {
        let options = if excused.options {
            "(not compared)".to_string()
        } else {
            format!("{:?}", e.options().as_ref())
        };
        format!(
            "payload={} version={} do={} options={options}",
            e.max_payload(),
            e.version(),
            e.flags().dnssec_ok,
        )
    });
    let answers = if m
        .answers
        .iter()
        .any(|r| r.record_type() == RecordType::CNAME)
    {
        // A chain's order means something; where its RRSIGs stand does not (NSD puts each
        // after its RRset, Knot all at the end): they are compared as a set, after it.
        let (sigs, chain): (Vec<Record>, Vec<Record>) = m
            .answers
            .iter()
            .filter(|r| !excused.records.contains(r))
            .cloned()
            .partition(|r| r.record_type() == RecordType::RRSIG);
        let mut v: Vec<String> = chain
            .iter()
            .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
            .collect();
        v.extend(sorted(&sigs));
        v
    } else {
        sorted(&m.answers)
    };
    let rcode = if excused.rcode {
        "(not compared)".to_string()
    } else {
        m.metadata.response_code.to_string()
    };
    format!(
        "rcode={rcode} opcode={:?} qr={:?} aa={} tc={} rd={} ra={} ad={} cd={}\nquestion={:?}\nopt={opt:?}\nanswer={answers:?}\nauthority={:?}\nadditional={:?}",
        h.op_code,
        h.message_type,
        h.authoritative && !excused.aa,
        h.truncation && !excused.tc,
        h.recursion_desired,
        h.recursion_available,
        h.authentic_data,
        h.checking_disabled,
        m.queries
            .iter()
            .map(|q| format!("{} {} {}", q.name(), q.query_type(), q.query_class()))
            .collect::<Vec<_>>(),
        sorted(&m.authorities),
        sorted(&m.additionals),
    )
}

/// What a deliberate difference from NSD excuses (see the module's text).
fn excused(question: &Question, ours: &Message, theirs: &Message) -> Excused {
    // MX and SRV answers (asked for, or ANY): the addresses of the targets we add.
    let mx_or_srv = ours
        .answers
        .iter()
        .any(|r| matches!(r.record_type(), RecordType::MX | RecordType::SRV));
    if mx_or_srv {
        let targets: Vec<&Name> = ours
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some(&mx.exchange),
                RData::SRV(srv) => Some(&srv.target),
                _ => None,
            })
            .collect();
        let added = ours
            .additionals
            .iter()
            .filter(|r| targets.contains(&&r.name) && !theirs.additionals.contains(r))
            .cloned()
            .collect();
        return Excused {
            records: added,
            ..Excused::default()
        };
    }
    // A referral whose glue was cut: TC (RFC 9471), and the glue NSD still fitted.
    let glue_cut = !ours.metadata.authoritative
        && ours.metadata.truncation
        && !theirs.metadata.truncation
        && ours.answers.is_empty()
        && !ours.authorities.is_empty();
    if glue_cut {
        assert!(
            ours.additionals
                .iter()
                .all(|r| theirs.additionals.contains(r)),
            "{}: our cut glue is a part of NSD's",
            question.name
        );
        let missing = theirs
            .additionals
            .iter()
            .filter(|r| !ours.additionals.contains(r))
            .cloned()
            .collect();
        // Compare as if ours had them: `summary` leaves them out of NSD's side below.
        return Excused {
            records: missing,
            tc: true,
            ..Excused::default()
        };
    }
    Excused::default()
}

/// [`excused`], and with DO one difference more, where NSD is wrong and Knot answers as we do:
/// a DNAME whose substituted name does not exist. NSD 4.6 proves the wildcard absent but not
/// the substituted name itself (its NXDOMAIN proof lacks the NSEC covering it, which Unbound
/// needs); ours has both, as Knot's. Only NSEC records (and their RRSIGs) that we add are
/// excused, and NSD's must all be ours.
///
/// With NSEC3, two kinds of name more where NSD 4.6 departs from RFC 5155 and Knot answers as
/// we do (the Knot comparison checks them whole): an NSEC3 owner name or a name below one,
/// which NSD takes to exist (RFC 5155 §7.2.8: NXDOMAIN, with its proofs), and the wildcard's
/// own name (`*.wild` asked for a type it lacks), where NSD adds the proof a synthesised
/// NODATA needs (the encloser's NSEC3) to the wildcard's own NSEC3, which alone proves it.
/// There the rcode and the NSEC3 records (with their RRSIGs) are excused.
fn excused_signed(question: &Question, ours: &Message, theirs: &Message) -> Excused {
    let e = excused(question, ours, theirs);
    let nsec3_owner = |label: &[u8]| {
        label.len() == 32
            && label
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(b))
    };
    let odd =
        question.name.iter().next() == Some(&b"*"[..]) || question.name.iter().any(nsec3_owner);
    let nsec3 = |r: &&Record| match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::NSEC3(_)) => true,
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
            sig.input().type_covered == RecordType::NSEC3
        }
        _ => r.record_type() == RecordType::NSEC3,
    };
    let has_nsec3 = ours
        .authorities
        .iter()
        .chain(&theirs.authorities)
        .any(|r| nsec3(&r));
    if e.nothing() && odd && has_nsec3 {
        let records = ours
            .authorities
            .iter()
            .chain(&theirs.authorities)
            .filter(nsec3)
            .cloned()
            .collect();
        return Excused {
            records,
            rcode: true,
            ..Excused::default()
        };
    }
    let dname_nx = ours.metadata.response_code == hickory_proto::op::ResponseCode::NXDomain
        && ours
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::DNAME);
    if !e.nothing() || !dname_nx {
        return e;
    }
    if !theirs
        .authorities
        .iter()
        .all(|r| ours.authorities.contains(r))
    {
        return e;
    }
    let added = ours
        .authorities
        .iter()
        .filter(|r| !theirs.authorities.contains(r))
        .filter(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::RRSIG))
        .cloned()
        .collect();
    Excused {
        records: added,
        ..Excused::default()
    }
}

/// Asks, and returns the response parsed and raw.
async fn ask(addr: SocketAddr, m: &Message, how: Ask) -> (Message, Vec<u8>) {
    let raw = match how {
        Ask::Tcp => tcp_raw(addr, &m.to_vec().unwrap()).await,
        _ => udp_raw(addr, &m.to_vec().unwrap(), REPLY_TIMEOUT)
            .await
            .expect("a UDP reply"),
    };
    (Message::from_vec(&raw).expect("the reply parses"), raw)
}

/// The RDATA of every record whose RDATA is never compressed (every type but those of RFC 1035
/// with names), exactly as it came on the wire: `section type hex`, sorted. hickory's parsed
/// records could hide a difference in octets that its decoding normalises.
fn raw_rdata(raw: &[u8]) -> Vec<String> {
    use domain::base::iana::Rtype;
    use domain::base::rdata::UnknownRecordData;
    let msg = domain::base::Message::from_octets(raw.to_vec()).unwrap();
    let mut out = Vec::new();
    let sections = [
        ("an", msg.answer().unwrap()),
        ("ns", msg.authority().unwrap()),
        ("ar", msg.additional().unwrap()),
    ];
    for (label, section) in sections {
        for record in section {
            let record = record.unwrap();
            let compressible = [Rtype::NS, Rtype::CNAME, Rtype::SOA, Rtype::MX, Rtype::PTR];
            if compressible.contains(&record.rtype()) || record.rtype() == Rtype::OPT {
                continue;
            }
            let r = record
                .to_record::<UnknownRecordData<&[u8]>>()
                .unwrap()
                .expect("any type reads as unknown data");
            out.push(format!("{label} {} {}", r.rtype(), hex(r.data().data())));
        }
    }
    out.sort();
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnslb_answers_like_knot() {
    if !have_tool("knotd") {
        return;
    }
    let zones = fixture_zones();
    let ours = dnslb(&zones).await;
    let theirs = knot(&zones).await;
    compare(&zones, ours.addr, theirs.addr, "knot", excused_knot).await;
    theirs.stop().await;
    ours.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnslb_answers_like_nsd() {
    if !have_tool("nsd") {
        return;
    }
    let zones = fixture_zones();
    let ours = dnslb(&zones).await;
    let theirs = nsd(&zones).await;
    compare(&zones, ours.addr, theirs.addr, "nsd", excused).await;
    theirs.stop().await;
    ours.stop().await;
}

/// What a deliberate difference from a peer excuses.
type Excuse = fn(&Question, &Message, &Message) -> Excused;

/// Every difference from Knot that we keep, each where NSD answers as we do (the README's
/// table says why): RFC 9471's TC when a referral's glue does not fit, as against NSD, and
/// - a CNAME chain: Knot stops at the edge of the zone and after a few links; we (and NSD)
///   follow it into our other zones, up to 16 links. Where Knot's answer is the start of ours and
///   ends at a CNAME, the rest of ours, the authority section, the rcode and the additional
///   section are excused;
/// - minimal ANY at a name with several preferred types: Knot answers the lowest type code (NS
///   at an apex, with its glue); we answer NSD's choice;
/// - QCLASS ANY: Knot sets AA; we clear it, as NSD does;
/// - a class we do not serve: we add Extended DNS Error 21 (Not Supported); Knot adds none;
/// - a referral whose glue does not all fit (both set TC): Knot fits a glue record more (it
///   compresses every name against every other); ours are a part of Knot's;
/// - HTTPS and SVCB answers: Knot adds the targets' addresses; we add none, as NSD.
fn excused_knot(question: &Question, ours: &Message, theirs: &Message) -> Excused {
    // What differs from NSD for the same reasons (RFC 9471's TC for cut glue; Knot, like us,
    // adds the targets' addresses, so that rule excuses nothing here).
    let e = excused(question, ours, theirs);
    if !e.nothing() {
        return e;
    }
    let mut e = Excused::default();
    let (a, b) = (&ours.answers, &theirs.answers);
    // Ours went on into another of our zones: more records, or that zone's negative answer.
    let another_zone = ours
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA && !r.name.zone_of(&question.name));
    // (With DO, the chain's RRSIGs aside.)
    let unsigned = |m: &[Record]| -> Vec<Record> {
        m.iter()
            .filter(|r| r.record_type() != RecordType::RRSIG)
            .cloned()
            .collect()
    };
    let (plain_a, plain_b) = (unsigned(a), unsigned(b));
    let chain_cut = (plain_b.len() < plain_a.len() || another_zone)
        && plain_a.starts_with(&plain_b)
        && plain_b
            .last()
            .is_some_and(|r| r.record_type() == RecordType::CNAME);
    if chain_cut {
        e.records
            .extend(a.iter().filter(|r| !b.contains(r)).cloned());
        e.records.extend(ours.authorities.iter().cloned());
        e.records.extend(theirs.authorities.iter().cloned());
        e.records.extend(ours.additionals.iter().cloned());
        e.records.extend(theirs.additionals.iter().cloned());
        e.rcode = true;
        return e;
    }
    if question.rtype == RecordType::ANY && a != b {
        for m in [ours, theirs] {
            e.records.extend(m.answers.iter().cloned());
            e.records.extend(m.additionals.iter().cloned());
        }
        return e;
    }
    // A question for RRSIG: Knot answers the signatures of one RRset (the lowest type, as its
    // minimal ANY); we, like NSD, every signature at the name. Knot's must be ours.
    if question.rtype == RecordType::RRSIG && a != b && b.iter().all(|r| a.contains(r)) {
        e.records
            .extend(a.iter().filter(|r| !b.contains(r)).cloned());
        return e;
    }
    // A question for NSEC at a CNAME that has none (an NSEC3 zone): Knot answers NODATA there;
    // we, like NSD, follow the CNAME, as for any type the name lacks.
    if question.rtype == RecordType::NSEC
        && b.is_empty()
        && a.first()
            .is_some_and(|r| r.record_type() == RecordType::CNAME)
    {
        for m in [ours, theirs] {
            e.records.extend(m.answers.iter().cloned());
            e.records.extend(m.authorities.iter().cloned());
        }
        return e;
    }
    // The same without EDNS, where all of ours do not fit in 512 octets (TC) and Knot's one does.
    if question.rtype == RecordType::RRSIG && ours.metadata.truncation && a.is_empty() {
        e.records.extend(b.iter().cloned());
        e.tc = true;
        return e;
    }
    if question.class == DNSClass::ANY {
        e.aa = true;
    }
    if !matches!(question.class, DNSClass::IN | DNSClass::ANY) {
        e.options = true;
    }
    // HTTPS and SVCB answers: Knot adds their targets' addresses (RFC 9460 §4.1 allows it);
    // NSD and we do not.
    let svcb = ours
        .answers
        .iter()
        .any(|r| matches!(r.record_type(), RecordType::HTTPS | RecordType::SVCB));
    // A referral whose glue was cut (TC from both): Knot's encoding is a little tighter and fits
    // a glue record or two more; ours are a part of Knot's.
    let both_cut = ours.metadata.truncation
        && theirs.metadata.truncation
        && !ours.metadata.authoritative
        && ours.answers.is_empty();
    if (both_cut || svcb)
        && ours
            .additionals
            .iter()
            .all(|r| theirs.additionals.contains(r))
    {
        e.records.extend(
            theirs
                .additionals
                .iter()
                .filter(|r| !ours.additionals.contains(r))
                .cloned(),
        );
    }
    e
}

/// Asks dnslb at `ours` and the peer at `theirs` every question of the fixture zones and the
/// special cases, three ways, and fails on any difference `excuse` does not allow.
async fn compare(
    zones: &[(String, PathBuf)],
    ours: SocketAddr,
    theirs: SocketAddr,
    peer: &str,
    excuse: Excuse,
) {
    let mut questions = questions_from_zones(zones);
    questions.extend(special_questions());
    let (asked, octets) = compare_on(&questions, (ours, theirs), peer, excuse).await;
    assert!(asked > 1000, "{asked} exchanges");
    assert!(octets > 300, "{octets} exchanges compared RDATA octets");
}

/// Asks dnslb (`servers.0`) and the peer (`servers.1`) each of `questions` three ways, and
/// fails on any difference `excuse` does not allow; returns how many exchanges there were, and
/// in how many RDATA was compared octet by octet.
async fn compare_on(
    questions: &[Question],
    (ours, theirs): (SocketAddr, SocketAddr),
    peer: &str,
    excuse: Excuse,
) -> (usize, usize) {
    let (mut differences, mut asked, mut excuses, mut octets) = (Vec::new(), 0, 0, 0);
    for q in questions {
        for how in [Ask::Edns, Ask::Plain, Ask::Tcp] {
            let m = q.message(how);
            let ((a, raw_a), (b, raw_b)) = (ask(ours, &m, how).await, ask(theirs, &m, how).await);
            asked += 1;
            let excused = excuse(q, &a, &b);
            excuses += usize::from(!excused.nothing());
            let (mut sa, mut sb) = (summary(&a, &excused), summary(&b, &excused));
            if excused.nothing() {
                octets += usize::from(!raw_rdata(&raw_a).is_empty());
                sa.push_str(&format!("\nrdata={:?}", raw_rdata(&raw_a)));
                sb.push_str(&format!("\nrdata={:?}", raw_rdata(&raw_b)));
            }
            if sa != sb {
                differences.push(format!("{q:?} {how:?}\n  dnslb: {sa}\n  {peer}:   {sb}"));
            }
        }
    }
    eprintln!(
        "{asked} exchanges, {octets} with RDATA compared octet by octet, {excuses} with a deliberate difference"
    );
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    (asked, octets)
}

/// Every owner of the signed fixture (NSEC3 owners and the signatures' owners included) with
/// its own types and A, ANY, DS, RRSIG, NSEC, DNSKEY and NSEC3PARAM, and a missing child, all
/// with DO; and the validators' usual questions beside them.
fn signed_questions(zones: &[(String, PathBuf)]) -> Vec<Question> {
    let mut questions = questions_from_zones(zones);
    for q in questions.clone() {
        for t in [
            RecordType::RRSIG,
            RecordType::NSEC,
            RecordType::DNSKEY,
            RecordType::NSEC3PARAM,
            RecordType::MX,
        ] {
            questions.push(Question::new(q.name.clone(), t));
        }
    }
    for (name, t) in [
        ("a.b.wild.example.com.", RecordType::A),
        ("x.wild.example.com.", RecordType::MX),
        ("x.wcname.example.com.", RecordType::A),
        ("q.x.y.ent.example.com.", RecordType::A),
        ("x.d.example.com.", RecordType::A),
        ("a.d.example.com.", RecordType::A),
        ("www.sub.example.com.", RecordType::A),
        ("deep.below.insecure.example.com.", RecordType::A),
        // (A mixed-case name whose answer has an authority section is not asked: NSD
        // compresses the apex's owners against the question whatever its case, and writes them
        // in the client's case; hickory's encoder matches case exactly, so ours stay as the
        // zone writes them. Names compare without case; the difference is cosmetic.)
        ("WwW.ExAmPlE.CoM.", RecordType::A),
    ] {
        questions.push(Question::new(raw_name(name), t));
    }
    for q in &mut questions {
        q.dnssec_ok = true;
    }
    questions.sort_by(|a, b| (&a.name, u16::from(a.rtype)).cmp(&(&b.name, u16::from(b.rtype))));
    questions.dedup_by(|a, b| a.name == b.name && a.rtype == b.rtype);
    questions
}

/// With DO, over the fixture signed three ways (NSEC, NSEC3, NSEC3 with opt-out): the same
/// RRsets and the same RRSIG, NSEC and NSEC3 records in every section as NSD and as Knot
/// (order aside), over UDP with and without EDNS and over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_zones_answer_like_nsd_and_knot_with_do() {
    if !have_tool("nsd") || !have_tool("knotd") || !have_tool("ldns-signzone") {
        return;
    }
    for denial in [Denial::Nsec, Denial::Nsec3, Denial::Nsec3OptOut] {
        let keys = tempfile::tempdir().unwrap();
        let (signed, _) = signed_fixture(keys.path(), denial);
        let zones: Vec<(String, PathBuf)> = signed
            .iter()
            .map(|(origin, text)| {
                let path = keys.path().join(format!("{origin}.zone"));
                std::fs::write(&path, text).unwrap();
                (origin.clone(), path)
            })
            .collect();
        let questions = signed_questions(&zones);
        let ours = dnslb(&zones).await;
        let theirs = nsd(&zones).await;
        let (asked, octets) =
            compare_on(&questions, (ours.addr, theirs.addr), "nsd", excused_signed).await;
        assert!(asked > 800 && octets > 500, "{denial:?}: {asked}, {octets}");
        theirs.stop().await;
        let theirs = knot(&zones).await;
        compare_on(&questions, (ours.addr, theirs.addr), "knot", excused_knot).await;
        theirs.stop().await;
        ours.stop().await;
    }
}

#[test]
fn every_fixture_zone_checks_clean() {
    for set in ["core", "fidelity"] {
        let config = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(set)
            .join("dnslb.toml");
        assert_eq!(load_problems(&config), Vec::<String>::new(), "{set}");
    }
}
