//! The authoritative core over real UDP and TCP sockets: one test per behaviour of RFC 1034,
//! 1035, 2181, 2308, 4592, 6891 and 8482 that the server must get right.

mod common;

use common::*;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

async fn server() -> TestServer {
    start_fixture("core").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soa_at_apex_is_authoritative() {
    let s = server().await;
    for r in [
        udp(s.addr, "example.com.", RecordType::SOA).await,
        tcp(s.addr, "example.com.", RecordType::SOA).await,
    ] {
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.authoritative);
        assert_eq!(
            show(&r.answers),
            [
                "example.com. 3600 SOA ns1.example.com. hostmaster.example.com. 2026112401 7200 3600 1209600 300"
            ]
        );
        assert!(r.authorities.is_empty(), "minimal responses");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_names_are_refused() {
    let s = server().await;
    for name in ["example.org.", "com.", "."] {
        let r = udp(s.addr, name, RecordType::A).await;
        assert_eq!(r.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(!r.metadata.authoritative);
        assert!(r.answers.is_empty());
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_and_nodata_carry_the_negative_soa() {
    let s = server().await;
    // Below b.c (an empty non-terminal) no wildcard applies: `*` only covers direct children of
    // the apex's closest encloser, and here the closest encloser is b.c.example.com.
    let nx = udp(s.addr, "x.b.c.example.com.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative);
    assert!(nx.answers.is_empty());
    assert_eq!(
        show(&nx.authorities),
        [
            "example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2026112401 7200 3600 1209600 300"
        ]
    );

    // NODATA: the name exists without the type. TTL is min(SOA TTL 3600, MINIMUM 300).
    let nodata = udp(s.addr, "mail.example.com.", RecordType::TXT).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities.len(), 1);
    assert_eq!(nodata.authorities[0].ttl, 300);

    // The negative TTL is the SOA's own TTL where that is the smaller (short.test: SOA TTL 30,
    // MINIMUM 3600), for NXDOMAIN and NODATA alike.
    let nx = udp(s.addr, "nothing.short.test.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        show(&nx.authorities),
        ["short.test. 30 SOA ns.short.test. admin.short.test. 1 3600 600 86400 3600"]
    );
    let nodata = udp(s.addr, "ns.short.test.", RecordType::TXT).await;
    assert_eq!(nodata.authorities[0].ttl, 30);

    // An empty non-terminal is NODATA, not NXDOMAIN.
    let ent = udp(s.addr, "b.c.example.com.", RecordType::A).await;
    assert_eq!(ent.metadata.response_code, ResponseCode::NoError);
    assert!(ent.answers.is_empty());
    assert_eq!(ent.authorities[0].record_type(), RecordType::SOA);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_follow_rfc_4592() {
    let s = server().await;
    // Synthesised, owner rewritten to the query name.
    let w = udp(s.addr, "nothere.example.com.", RecordType::A).await;
    assert_eq!(show(&w.answers), ["nothere.example.com. 3600 A 192.0.2.99"]);
    assert!(w.metadata.authoritative);
    // Wildcard with no data of the type: NODATA.
    let w = udp(s.addr, "nothere.example.com.", RecordType::MX).await;
    assert_eq!(w.metadata.response_code, ResponseCode::NoError);
    assert!(w.answers.is_empty());
    // An existing name blocks the wildcard, even for a type it does not have.
    let www = udp(s.addr, "www.example.com.", RecordType::MX).await;
    assert_eq!(www.metadata.response_code, ResponseCode::NoError);
    assert!(www.answers.is_empty(), "{:?}", show(&www.answers));
    // An empty non-terminal blocks it too (c.example.com exists as ENT).
    let ent = udp(s.addr, "c.example.com.", RecordType::A).await;
    assert!(ent.answers.is_empty());
    // Deeper names under the wildcard's parent's other children are not covered.
    let deeper = udp(s.addr, "x.c.example.com.", RecordType::A).await;
    assert_eq!(deeper.metadata.response_code, ResponseCode::NXDomain);
    // Two labels below the apex, closest encloser is the apex: synthesised.
    let two = udp(s.addr, "a.nothere.example.com.", RecordType::A).await;
    assert_eq!(
        show(&two.answers),
        ["a.nothere.example.com. 3600 A 192.0.2.99"]
    );
    // A wildcard CNAME is synthesised and chased.
    let wc = udp(s.addr, "foo.wcname.example.com.", RecordType::A).await;
    assert_eq!(
        show(&wc.answers),
        [
            "foo.wcname.example.com. 3600 CNAME www.example.com.",
            "www.example.com. 3600 A 192.0.2.80"
        ]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_is_returned_for_any_type_and_chased_inside_our_zones() {
    let s = server().await;
    let r = udp(s.addr, "alias.example.com.", RecordType::A).await;
    assert_eq!(
        show(&r.answers),
        [
            "alias.example.com. 3600 CNAME www.example.com.",
            "www.example.com. 3600 A 192.0.2.80"
        ]
    );
    // The CNAME itself when asked for.
    let r = udp(s.addr, "alias.example.com.", RecordType::CNAME).await;
    assert_eq!(
        show(&r.answers),
        ["alias.example.com. 3600 CNAME www.example.com."]
    );
    // A chain across two of our zones.
    let r = udp(s.addr, "chain1.example.com.", RecordType::A).await;
    assert_eq!(
        show(&r.answers),
        [
            "chain1.example.com. 3600 CNAME chain2.example.com.",
            "chain2.example.com. 3600 CNAME www.other.test.",
            "www.other.test. 600 A 192.0.2.70"
        ]
    );
    assert!(r.metadata.authoritative);
    // A chain leaving our zones stops at the CNAME.
    let r = udp(s.addr, "outside.example.com.", RecordType::A).await;
    assert_eq!(
        show(&r.answers),
        ["outside.example.com. 3600 CNAME www.example.net."]
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    // A loop ends after one turn, without an error.
    let r = udp(s.addr, "loop1.example.com.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        show(&r.answers),
        [
            "loop1.example.com. 3600 CNAME loop2.example.com.",
            "loop2.example.com. 3600 CNAME loop1.example.com."
        ]
    );
    // A chain to a missing name in our zone: NXDOMAIN with the CNAME (RFC 6604).
    let r = udp(s.addr, "dangling.example.com.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        show(&r.answers),
        ["dangling.example.com. 3600 CNAME nothing.other.test."]
    );
    assert_eq!(
        show(&r.authorities),
        ["other.test. 60 SOA ns.other.test. admin.other.test. 7 3600 600 86400 60"],
        "the negative SOA of the zone where the chain ended"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cname_chain_stops_after_sixteen_links() {
    // c0.short.test: ten links, followed to the address as NSD follows them.
    let s = server().await;
    let r = udp(s.addr, "c0.short.test.", RecordType::A).await;
    assert_eq!(r.answers.len(), 11);
    assert_eq!(addresses(&r), ["192.0.2.10"]);
    s.stop().await;

    // Twenty links: the first CNAME and 16 followed links are answered, then the answer stops
    // (NOERROR, no address), and a resolver follows the rest itself.
    let chain: String = (0..20)
        .map(|i| format!("c{i} IN CNAME c{}\n", i + 1))
        .collect();
    let zone = format!("$TTL 600\n{MINIMAL_ZONE}{chain}c20 IN A 192.0.2.20\n");
    let s = start_dir(dir_with_zones("", &[("long.test.zone", &zone)])).await;
    for r in [
        udp(s.addr, "c0.long.test.", RecordType::A).await,
        tcp(s.addr, "c0.long.test.", RecordType::A).await,
    ] {
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        let expected: Vec<String> = (0..17)
            .map(|i| format!("c{i}.long.test. 600 CNAME c{}.long.test.", i + 1))
            .collect();
        assert_eq!(show(&r.answers), expected);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegations_get_referrals_with_glue() {
    let s = server().await;
    for name in [
        "sub.example.com.",
        "www.sub.example.com.",
        "deep.below.sub.example.com.",
    ] {
        let r = udp(s.addr, name, RecordType::A).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(!r.metadata.authoritative, "{name}: referrals clear AA");
        assert!(r.answers.is_empty(), "{name}");
        let mut auth = show(&r.authorities);
        auth.sort();
        assert_eq!(
            auth,
            [
                "sub.example.com. 3600 NS ns.sub.example.com.",
                "sub.example.com. 3600 NS ns1.example.com."
            ]
        );
        let mut add = show(&r.additionals);
        add.sort();
        assert_eq!(
            add,
            [
                "ns.sub.example.com. 3600 A 192.0.2.53",
                "ns1.example.com. 3600 A 192.0.2.1"
            ],
            "{name}"
        );
    }
    // DS at the cut is the parent's data: answered authoritatively (NODATA here, no DS).
    let ds = udp(s.addr, "sub.example.com.", RecordType::DS).await;
    assert!(ds.metadata.authoritative);
    assert!(ds.answers.is_empty());
    assert_eq!(ds.authorities[0].record_type(), RecordType::SOA);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_payload_truncation_and_tcp() {
    let s = server().await;
    // Without EDNS: 512 bytes; the 6 x 100-byte TXT RRset does not fit: TC, no partial RRset.
    let r = udp_msg(
        s.addr,
        &query_message("big.example.com.", RecordType::TXT, None),
    )
    .await;
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty());
    assert!(r.edns.is_none(), "no OPT when the query had none");
    // With EDNS 1232 it fits; the OPT is echoed, advertising 1232.
    let r = udp(s.addr, "big.example.com.", RecordType::TXT).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 6);
    assert_eq!(r.edns.as_ref().expect("OPT echoed").max_payload(), 1232);
    // A client asking for 4096 still gets at most 1232 advertised.
    let r = udp_msg(
        s.addr,
        &query_message("www.example.com.", RecordType::A, Some(4096)),
    )
    .await;
    assert_eq!(r.edns.as_ref().unwrap().max_payload(), 1232);
    // A client payload below 512 is treated as 512 (RFC 6891 §6.2.5); TC keeps the OPT.
    let r = udp_msg(
        s.addr,
        &query_message("big.example.com.", RecordType::TXT, Some(100)),
    )
    .await;
    assert!(r.metadata.truncation);
    assert!(r.edns.is_some(), "OPT kept in a truncated answer");
    // Over TCP the whole answer comes.
    let r = tcp_pipelined(
        s.addr,
        &[query_message("big.example.com.", RecordType::TXT, None)],
    )
    .await;
    assert!(!r[0].metadata.truncation);
    assert_eq!(r[0].answers.len(), 6);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_udp_response_is_larger_than_1232_bytes() {
    let s = server().await;
    // huge.short.test: about 1,450 bytes of TXT. The client offers 4096; we send at most 1232,
    // so it is truncated (whole RRsets or none) and the client retries over TCP.
    let q = query_message("huge.short.test.", RecordType::TXT, Some(4096));
    let raw = udp_raw(s.addr, &q.to_vec().unwrap(), REPLY_TIMEOUT)
        .await
        .expect("a reply");
    assert!(raw.len() <= 1232, "{} bytes over UDP", raw.len());
    let r = hickory_proto::op::Message::from_vec(&raw).unwrap();
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty());
    assert_eq!(r.edns.as_ref().unwrap().max_payload(), 1232);
    let r = tcp(s.addr, "huge.short.test.", RecordType::TXT).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 14);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_version_above_zero_gets_badvers() {
    let s = server().await;
    let mut q = query_message("www.example.com.", RecordType::A, Some(1232));
    q.edns.as_mut().unwrap().set_version(1);
    let r = udp_msg(s.addr, &q).await;
    assert_eq!(u16::from(r.metadata.response_code), 16, "BADVERS");
    assert!(r.answers.is_empty());
    assert_eq!(r.edns.as_ref().expect("BADVERS needs OPT").version(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_tcp_queries_are_all_answered() {
    let s = server().await;
    let names = [
        "www.example.com.",
        "mail.example.com.",
        "ns1.example.com.",
        "nothere.example.com.",
        "www.other.test.",
    ];
    let msgs: Vec<Message> = names
        .iter()
        .map(|n| query_message(n, RecordType::A, None))
        .collect();
    let replies = tcp_pipelined(s.addr, &msgs).await;
    assert_eq!(replies.len(), names.len());
    for (q, r) in msgs.iter().zip(&replies) {
        assert_eq!(q.metadata.id, r.metadata.id);
        assert_eq!(r.answers.len(), 1, "{}", q.queries[0].name());
        assert_eq!(r.answers[0].name, *q.queries[0].name());
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_gets_a_minimal_answer() {
    let s = server().await;
    // www has A and TXT: one RRset only (RFC 8482).
    let r = udp(s.addr, "www.example.com.", RecordType::ANY).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    // The first RRset by type code: A (1) before TXT (16).
    assert_eq!(show(&r.answers), ["www.example.com. 3600 A 192.0.2.80"]);
    // ANY at a CNAME is the CNAME, not chased.
    let r = udp(s.addr, "alias.example.com.", RecordType::ANY).await;
    assert_eq!(
        show(&r.answers),
        ["alias.example.com. 3600 CNAME www.example.com."]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_case_is_echoed_as_sent() {
    let s = server().await;
    // Built by hand, so that no client library can change the case on the way out.
    let qname = b"\x03wWw\x07ExAmPlE\x03cOm\x00";
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(qname);
    q.extend_from_slice(&[0, 1, 0, 1]);
    let reply = udp_raw(s.addr, &q, common::REPLY_TIMEOUT)
        .await
        .expect("a reply");
    assert_eq!(
        &reply[12..12 + qname.len()],
        qname,
        "question echoed byte for byte"
    );
    let r = Message::from_vec(&reply).unwrap();
    assert_eq!(addresses(&r), ["192.0.2.80"]);
    // The answer's owner is the name as sent, case and all: a pointer to the question.
    assert_eq!(r.answers[0].name.to_string(), "wWw.ExAmPlE.cOm.");
    assert_eq!(
        &reply[12 + qname.len() + 4..12 + qname.len() + 6],
        [0xc0, 0x0c],
        "the owner's bytes"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcode_is_notimp_and_other_classes_are_refused() {
    let s = server().await;
    let mut q = query_message("www.example.com.", RecordType::A, None);
    q.metadata.op_code = OpCode::Status;
    let r = udp_msg(s.addr, &q).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NotImp);

    let mut q = query_message("www.example.com.", RecordType::A, None);
    q.queries[0].set_query_class(DNSClass::CH);
    let r = udp_msg(s.addr, &q).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_transfers_over_udp_and_from_strangers_and_for_foreign_zones() {
    let s = server().await;
    for rtype in [RecordType::AXFR, RecordType::IXFR] {
        let mut q = query_message("example.com.", rtype, None);
        q.metadata.recursion_desired = true;
        let r = udp_msg(s.addr, &q).await;
        // AXFR over UDP is not implemented; IXFR over UDP from a client that may not transfer
        // the zone is REFUSED (NSD's answers).
        let over_udp = match rtype {
            RecordType::AXFR => ResponseCode::NotImp,
            _ => ResponseCode::Refused,
        };
        assert_eq!(r.metadata.response_code, over_udp, "{rtype}");
        let r = tcp_pipelined(s.addr, std::slice::from_ref(&q))
            .await
            .remove(0);
        assert_eq!(r.metadata.response_code, ResponseCode::Refused, "{rtype}");
        assert!(r.answers.is_empty(), "{rtype}");
        assert!(r.metadata.recursion_desired, "RD copied");
        // A zone we do not serve: NOTAUTH, as NSD and Knot answer.
        let mut q = query_message("nothere.test.", rtype, None);
        q.metadata.recursion_desired = true;
        let r = tcp_pipelined(s.addr, std::slice::from_ref(&q))
            .await
            .remove(0);
        assert_eq!(r.metadata.response_code, ResponseCode::NotAuth, "{rtype}");
        assert!(r.metadata.recursion_desired, "RD copied");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_opt_follow_nsd_and_knot() {
    let s = server().await;
    // RD copied, CD cleared, DO copied into our OPT (RFC 3225).
    let mut q = query_message("www.example.com.", RecordType::A, Some(1232));
    q.metadata.recursion_desired = true;
    q.metadata.checking_disabled = true;
    q.edns.as_mut().unwrap().set_dnssec_ok(true);
    let r = udp_msg(s.addr, &q).await;
    assert!(r.metadata.recursion_desired && !r.metadata.checking_disabled);
    assert!(!r.metadata.recursion_available);
    assert!(r.edns.as_ref().unwrap().flags().dnssec_ok, "DO copied");
    let r = udp(s.addr, "www.example.com.", RecordType::A).await;
    assert!(
        !r.edns.as_ref().unwrap().flags().dnssec_ok,
        "no DO asked, none given"
    );

    // REFUSED for a name outside our zones carries EDE 20, "Not Authoritative" (RFC 8914).
    let r = udp(s.addr, "example.org.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let ede = r
        .edns
        .as_ref()
        .unwrap()
        .options()
        .as_ref()
        .iter()
        .find_map(|(code, opt)| (u16::from(*code) == 15).then(|| opt.clone()));
    assert_eq!(
        ede,
        Some(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(
            15,
            vec![0, 20]
        ))
    );
    let r = udp_msg(s.addr, &query_message("example.org.", RecordType::A, None)).await;
    assert!(r.edns.is_none(), "no OPT without EDNS");

    // QCLASS ANY is answered as IN.
    let mut q = query_message("www.example.com.", RecordType::A, None);
    q.queries[0].set_query_class(DNSClass::ANY);
    assert_eq!(addresses(&udp_msg(s.addr, &q).await), ["192.0.2.80"]);

    // QTYPE OPT: NODATA with the SOA.
    let r = udp(s.addr, "www.example.com.", RecordType::OPT).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities[0].record_type(), RecordType::SOA);

    // Two questions: FORMERR, echoing no question.
    let mut q = query_message("www.example.com.", RecordType::A, None);
    q.add_query(hickory_proto::op::Query::query(
        "mail.example.com.".parse().unwrap(),
        RecordType::A,
    ));
    let raw = udp_raw(s.addr, &q.to_vec().unwrap(), REPLY_TIMEOUT)
        .await
        .expect("a reply");
    let r = Message::from_vec(&raw).unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    assert!(r.queries.is_empty(), "{:?}", r.queries);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_never_crash_the_server() {
    let s = server().await;
    // A response (QR set) gets no reply, against reflection.
    let mut q = query_message("www.example.com.", RecordType::A, None);
    q.metadata.message_type = MessageType::Response;
    let wait = std::time::Duration::from_millis(300);
    assert!(udp_raw(s.addr, &q.to_vec().unwrap(), wait).await.is_none());
    // A header claiming a question that is not there: FORMERR.
    let mut bytes = query_message("www.example.com.", RecordType::A, None)
        .to_vec()
        .unwrap();
    bytes.truncate(15);
    let reply = udp_raw(s.addr, &bytes, common::REPLY_TIMEOUT)
        .await
        .expect("a FORMERR reply");
    let r = Message::from_vec(&reply).unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    // Garbage of every length, including labels pointing at themselves.
    let mut seed = 0x9e3779b97f4a7c15u64;
    for len in 0..200usize {
        let mut junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        if len > 2 {
            junk[2] &= 0x7f; // QR clear, so the server tries to parse it
        }
        let _ = udp_raw(s.addr, &junk, std::time::Duration::from_millis(20)).await;
    }
    // A question name that points at itself: FORMERR, never an answer.
    let loop_ptr = [0u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
    let reply = udp_raw(s.addr, &loop_ptr, REPLY_TIMEOUT)
        .await
        .expect("a FORMERR reply");
    assert_eq!(&reply[..2], &[0, 1], "the ID is echoed");
    assert_eq!(reply[3] & 0x0f, 1, "rcode FORMERR: {reply:?}");
    // Still answering, on both transports.
    assert_eq!(
        addresses(&udp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.80"]
    );
    assert_eq!(
        addresses(&tcp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.80"]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn additional_section_for_mx_srv_and_ns() {
    let s = server().await;
    let mx = udp(s.addr, "example.com.", RecordType::MX).await;
    let mut add = show(&mx.additionals);
    add.sort();
    assert_eq!(
        add,
        [
            "mail.example.com. 3600 A 192.0.2.25",
            "mail.example.com. 3600 AAAA 2001:db8::25"
        ]
    );
    let srv = udp(s.addr, "_sip._tcp.example.com.", RecordType::SRV).await;
    assert_eq!(srv.additionals.len(), 2);
    let ns = udp(s.addr, "example.com.", RecordType::NS).await;
    let mut add = show(&ns.additionals);
    add.sort();
    assert_eq!(
        add,
        [
            "ns1.example.com. 3600 A 192.0.2.1",
            "ns2.example.com. 3600 A 192.0.2.2"
        ]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_listen_addresses_serve_udp_and_tcp() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let dir = copy_fixture("core");
    let config = dir.path().join("dnslb.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[\"127.0.0.1:0\"]", "[\"127.0.0.1:0\", \"[::1]:0\"]"),
    )
    .unwrap();
    let s = start_dir(dir).await;
    let v6 = s.running.as_ref().unwrap().dns_addrs[1];
    assert!(v6.is_ipv6());
    let sock = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    let q = query_message("www.example.com.", RecordType::A, None);
    sock.send_to(&q.to_vec().unwrap(), v6).await.unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(common::REPLY_TIMEOUT, sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        addresses(&Message::from_vec(&buf[..n]).unwrap()),
        ["192.0.2.80"]
    );
    assert_eq!(
        addresses(&tcp(v6, "www.example.com.", RecordType::A).await),
        ["192.0.2.80"]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_whose_glue_does_not_fit_sets_tc() {
    let s = server().await;
    // 20 NS with in-bailiwick glue: over 512 bytes without EDNS.
    let r = udp_msg(
        s.addr,
        &query_message("www.wide.example.com.", RecordType::A, None),
    )
    .await;
    assert!(!r.metadata.authoritative);
    assert!(r.metadata.truncation, "RFC 9471: missing glue sets TC");
    assert_eq!(r.authorities.len(), 20, "the NS RRset itself is whole");
    assert!(r.additionals.len() < 20);
    // With EDNS 1232 it all fits; over TCP too.
    let r = udp(s.addr, "www.wide.example.com.", RecordType::A).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.additionals.len(), 20);
    let r = tcp_pipelined(
        s.addr,
        &[query_message("www.wide.example.com.", RecordType::A, None)],
    )
    .await
    .remove(0);
    assert!(!r.metadata.truncation && !r.metadata.authoritative);
    assert_eq!((r.authorities.len(), r.additionals.len()), (20, 20));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_additional_data_that_does_not_fit_is_dropped_without_tc() {
    let s = server().await;
    let r = udp_msg(
        s.addr,
        &query_message("mxmany.example.com.", RecordType::MX, None),
    )
    .await;
    assert!(r.metadata.authoritative);
    assert!(
        !r.metadata.truncation,
        "RFC 2181 §9: additional data is optional"
    );
    assert_eq!(r.answers.len(), 10);
    assert!(
        !r.additionals.is_empty() && r.additionals.len() < 20,
        "{}",
        r.additionals.len()
    );
    let r = tcp(s.addr, "mxmany.example.com.", RecordType::MX).await;
    assert_eq!(r.additionals.len(), 20);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_zone_we_serve_answers_for_itself_but_ds_comes_from_the_parent() {
    let s = server().await;
    let r = udp(s.addr, "www.child.example.com.", RecordType::A).await;
    assert!(
        r.metadata.authoritative,
        "answered from the child, not referred"
    );
    assert_eq!(addresses(&r), ["192.0.2.61"]);
    let soa = udp(s.addr, "child.example.com.", RecordType::SOA).await;
    assert_eq!(soa.answers[0].name.to_string(), "child.example.com.");
    // DS at the child's apex: the parent's NODATA (its SOA), not the child's.
    let ds = udp(s.addr, "child.example.com.", RecordType::DS).await;
    assert!(ds.metadata.authoritative);
    assert!(ds.answers.is_empty());
    assert_eq!(ds.authorities[0].name.to_string(), "example.com.");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_port_is_served_by_every_thread() {
    // A fixed port gets one SO_REUSEPORT socket and thread per core; the kernel spreads clients
    // over them by source port. Every client must be answered, whichever thread it lands on.
    // The port is picked free and may be taken before the server binds it: try a few.
    let mut started = None;
    for _ in 0..5 {
        let port = free_port();
        let dir = copy_fixture("core");
        let config = dir.path().join("dnslb.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
        )
        .unwrap();
        if let Ok(running) = dnslb::app::start(&config).await {
            started = Some(TestServer {
                addr: running.dns_addrs[0],
                running: Some(running),
                dir,
            });
            break;
        }
    }
    let s = started.expect("a free fixed port within five tries");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(
        s.running.as_ref().unwrap().dns_threads(),
        cores,
        "one serving thread (and socket) per core"
    );
    for _ in 0..40 {
        // A new socket, so a new source port, each time.
        assert_eq!(
            addresses(&udp(s.addr, "www.example.com.", RecordType::A).await),
            ["192.0.2.80"]
        );
    }
    assert_eq!(
        addresses(&tcp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.80"]
    );
    s.stop().await;
}
