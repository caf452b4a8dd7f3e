//! Interop with real tools: `dig` against dnslb, and Unbound (a real resolver, on loopback, with
//! stub zones pointing at dnslb) resolving through it. Skipped when a tool is missing, unless
//! `DNSLB_REQUIRE_TOOLS=1` (set by `.ci/run`), which turns the skip into a failure.

mod common;

use std::net::SocketAddr;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_sees_authoritative_answers() {
    if !have_tool("dig") {
        return;
    }
    let s = start_fixture("core").await;
    let soa = dig(s.addr, &["example.com", "SOA", "+norec"]).await;
    assert!(soa.contains("flags: qr aa;"), "{soa}");
    assert!(soa.contains("status: NOERROR"), "{soa}");
    assert!(soa.contains("udp: 1232"), "{soa}");

    let short = dig(s.addr, &["www.example.com", "A", "+short"]).await;
    assert_eq!(short.trim(), "192.0.2.80");

    let tcp = dig(s.addr, &["big.example.com", "TXT", "+tcp"]).await;
    assert_eq!(tcp.matches("\tTXT\t").count(), 6, "{tcp}");

    // Without EDNS the big answer is truncated, and dig retries over TCP by itself.
    let retried = dig(s.addr, &["big.example.com", "TXT", "+noedns"]).await;
    assert!(
        retried.contains("Truncated, retrying in TCP mode"),
        "{retried}"
    );
    assert_eq!(retried.matches("\tTXT\t").count(), 6, "{retried}");

    let nx = dig(s.addr, &["x.b.c.example.com", "A"]).await;
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    s.stop().await;
}

/// Unbound on loopback, forwarding nothing anywhere but dnslb: stub zones for our zones and for
/// the root, so every query it makes stays on 127.0.0.1.
async fn unbound(dnslb: SocketAddr) -> Daemon {
    unbound_with(dnslb, "  module-config: \"iterator\"\n").await
}

/// [`unbound`] with `extra` server options (the module configuration among them).
async fn unbound_with(dnslb: SocketAddr, extra: &str) -> Daemon {
    let stub = |zone: &str| unbound_stub(zone, dnslb);
    // Belt and braces: every IPv4 address but 127/8 is one Unbound may not query.
    let elsewhere = unbound_loopback_only();
    let config = |port: u16, dir: &std::path::Path| {
        format!(
            "server:\n  interface: 127.0.0.1\n  port: {port}\n  outgoing-interface: 127.0.0.1\n  \
             do-not-query-localhost: no\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  \
             directory: \"{dir}\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  \
             num-threads: 1\n  so-reuseport: no\n{extra}  qname-minimisation: no\n  \
             access-control: 127.0.0.0/8 allow\n  do-ip6: no\n  prefetch: no\n  verbosity: 1\n\
             {elsewhere}{}{}{}",
            stub("example.com"),
            stub("other.test"),
            stub("."),
            dir = dir.display(),
        )
    };
    unbound_daemon(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_resolves_through_dnslb() {
    if !have_tool("unbound") || !have_tool("dig") {
        return;
    }
    let s = start_fixture("core").await;
    let u = unbound(s.addr).await;

    let a = dig(u.addr, &["www.example.com", "A"]).await;
    assert!(a.contains("status: NOERROR"), "{a}");
    assert!(a.contains("192.0.2.80"), "{a}");
    assert!(
        !a.contains("flags: qr aa"),
        "a resolver's answer is not authoritative: {a}"
    );

    // A CNAME chain across two of our zones.
    let chain = dig(u.addr, &["chain1.example.com", "A", "+short"]).await;
    assert_eq!(
        chain.trim().lines().collect::<Vec<_>>(),
        ["chain2.example.com.", "www.other.test.", "192.0.2.70"],
        "{chain}"
    );

    // NXDOMAIN passes through.
    let nx = dig(u.addr, &["x.b.c.example.com", "A"]).await;
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");

    u.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_with_client_subnet_caches_each_subnets_sticky_answer() {
    if !have_tool("unbound") || !have_tool("dig") {
        return;
    }
    let members: Vec<String> = (10..14)
        .map(|i| format!("{{ address = \"192.0.2.{i}\", weight = 1 }}"))
        .collect();
    let pool = format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nttl = 300\npolicy = \"hash\"\nmembers = [ {} ]\n",
        members.join(", ")
    );
    let s = start_dir(dir_with_config(&pool)).await;
    // Two subnets that dnslb itself sends to different members.
    let direct = |subnet: String| {
        let addr = s.addr;
        async move {
            dig(
                addr,
                &[
                    "www.example.com",
                    "A",
                    "+short",
                    &format!("+subnet={subnet}/24"),
                ],
            )
            .await
            .trim()
            .to_string()
        }
    };
    let first_subnet = "10.0.1.0".to_string();
    let first_answer = direct(first_subnet.clone()).await;
    let mut other = None;
    for i in 2..200 {
        let subnet = format!("10.0.{i}.0");
        let a = direct(subnet.clone()).await;
        if a != first_answer {
            other = Some((subnet, a));
            break;
        }
    }
    let (second_subnet, second_answer) = other.expect("two subnets with different members");

    let u = unbound_with(
        s.addr,
        "  module-config: \"subnetcache iterator\"\n  send-client-subnet: 127.0.0.1\n  \
         max-client-subnet-ipv4: 24\n",
    )
    .await;
    for _ in 0..3 {
        for (subnet, want) in [
            (&first_subnet, &first_answer),
            (&second_subnet, &second_answer),
        ] {
            let full = dig(
                u.addr,
                &["www.example.com", "A", &format!("+subnet={subnet}/24")],
            )
            .await;
            assert!(
                full.contains(&format!("\t{want}")),
                "{subnet}: {want} in {full}"
            );
            assert!(
                full.contains(&format!("CLIENT-SUBNET: {subnet}/24/24")),
                "the scope comes back through Unbound: {full}"
            );
        }
    }
    u.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_explains_a_pool() {
    if !have_tool("dig") {
        return;
    }
    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_port = up.local_addr().unwrap().port();
    let _accept = tokio::spawn(async move { while up.accept().await.is_ok() {} });
    let pool = format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\n\
         probe = {{ kind = \"tcp\", interval = \"10s\", timeout = \"300ms\" }}\n\
         members = [ {{ address = \"192.0.2.10\", weight = 1, check = \"127.0.0.1:{up_port}\" }}, \
                     {{ address = \"192.0.2.11\", weight = 1, check = \"127.0.0.1:{}\" }} ]\n",
        closed_port()
    );
    let s = start_dir(dir_with_config(&pool)).await;
    let (st, _) = http(
        s.admin(),
        "POST",
        "/pools/www.example.com./members/192.0.2.10/weight",
        "7",
    )
    .await;
    assert_eq!(st, 200);
    let out = dig(
        s.addr,
        &["-c", "CH", "-t", "TXT", "explain.www.example.com", "+short"],
    )
    .await;
    assert!(
        out.contains("\"pool www.example.com. A policy weighted answers 1 ttl 30 all_down open\""),
        "{out}"
    );
    assert!(
        out.contains("\"member 192.0.2.10 weight 1 effective 7 up: weight set to 7 by the admin\""),
        "{out}"
    );
    assert!(
        out.contains("\"member 192.0.2.11 weight 1 effective 0 down: down since ")
            && out.contains("connect: "),
        "{out}"
    );
    let not_a_pool = dig(
        s.addr,
        &["-c", "CH", "-t", "TXT", "explain.ns1.example.com", "+short"],
    )
    .await;
    assert!(
        not_a_pool.contains("ns1.example.com. is not a pool"),
        "{not_a_pool}"
    );
    s.stop().await;
}

/// A server whose `[server]` section also holds `lines`.
async fn start_with_server_lines(lines: &str) -> TestServer {
    let dir = dir_with_config("");
    let config = dir.path().join("dnslb.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("watch = false\n", &format!("watch = false\n{lines}\n")),
    )
    .unwrap();
    start_dir(dir).await
}

/// The TXT strings of a `dig +short` answer, unquoted.
fn strings(short: &str) -> Vec<String> {
    short
        .lines()
        .map(|l| l.trim().trim_matches('"').to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_tells_which_instance_answered() {
    if !have_tool("dig") {
        return;
    }
    // By default: the host name, by NSID and by id.server / hostname.bind; no version.
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let s = start_with_server_lines("").await;
    let nsid = dig(s.addr, &["example.com", "SOA", "+nsid", "+norec"]).await;
    assert!(nsid.contains(&format!("(\"{host}\")")), "{nsid}");
    for name in ["id.server", "hostname.bind"] {
        let id = dig(s.addr, &["-c", "CH", "-t", "TXT", name, "+short"]).await;
        assert_eq!(strings(&id), vec![host.clone()], "{name}");
    }
    let version = dig(s.addr, &["-c", "CH", "-t", "TXT", "version.bind"]).await;
    assert!(version.contains("status: REFUSED"), "{version}");
    // Without NSID in the query, none in the answer (and the UDP fast path answers it).
    let plain = dig(s.addr, &["example.com", "SOA", "+norec"]).await;
    assert!(!plain.contains("NSID"), "{plain}");
    s.stop().await;

    // Set: the configured identity, over UDP and TCP, and the version when asked for.
    let s = start_with_server_lines("identity = \"dns-a.example\"\nversion = true").await;
    for transport in ["+notcp", "+tcp"] {
        let nsid = dig(s.addr, &["example.com", "SOA", "+nsid", transport]).await;
        assert!(nsid.contains("(\"dns-a.example\")"), "{nsid}");
        let id = dig(
            s.addr,
            &["-c", "CH", "-t", "TXT", "ID.Server", "+short", transport],
        )
        .await;
        assert_eq!(strings(&id), ["dns-a.example"]);
    }
    for name in ["version.bind", "version.server"] {
        let v = dig(s.addr, &["-c", "CH", "-t", "TXT", name, "+short"]).await;
        assert_eq!(
            strings(&v),
            [format!("dnslb {}", env!("CARGO_PKG_VERSION"))]
        );
    }
    s.stop().await;

    // "": nothing said: REFUSED, and no NSID.
    let s = start_with_server_lines("identity = \"\"").await;
    let id = dig(s.addr, &["-c", "CH", "-t", "TXT", "id.server"]).await;
    assert!(id.contains("status: REFUSED"), "{id}");
    let nsid = dig(s.addr, &["example.com", "SOA", "+nsid"]).await;
    assert!(
        nsid.contains("status: NOERROR") && !nsid.contains("NSID"),
        "{nsid}"
    );
    s.stop().await;
}
