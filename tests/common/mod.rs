//! Shared helpers for the integration tests: a server started in-process on port 0 from a
//! fixture directory copied to a temporary one, and DNS clients over real UDP and TCP sockets.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long a test waits for one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// A server running in this process, with its files in a temporary directory.
pub struct TestServer {
    /// The temporary directory holding `dnslb.toml` and `zones/`.
    pub dir: tempfile::TempDir,
    /// The running server.
    pub running: Option<dnslb::app::Running>,
    /// Its DNS address (UDP and TCP).
    pub addr: SocketAddr,
}

impl TestServer {
    /// Path of the config in the temporary directory.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("dnslb.toml")
    }

    /// The admin endpoint's address (the config must have `[admin]`).
    pub fn admin(&self) -> SocketAddr {
        self.running
            .as_ref()
            .unwrap()
            .admin_addr
            .expect("the config has [admin]")
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// Copies a fixture directory (under `tests/fixtures/`) to a temporary directory.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&src, dir.path());
    dir
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// Starts the server on a copy of a fixture directory.
pub async fn start_fixture(name: &str) -> TestServer {
    start_dir(copy_fixture(name)).await
}

/// Starts the server on a directory holding `dnslb.toml`.
pub async fn start_dir(dir: tempfile::TempDir) -> TestServer {
    let running = dnslb::app::start(&dir.path().join("dnslb.toml"))
        .await
        .expect("server starts");
    let addr = running.dns_addrs[0];
    TestServer {
        dir,
        running: Some(running),
        addr,
    }
}

/// A query message; `edns` is the advertised UDP payload size, if any.
pub fn query_message(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    query_for(Name::from_str(name).unwrap(), rtype, edns)
}

/// [`query_message`] for a name that may hold any octet.
pub fn query_for(name: Name, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    m.add_query(Query::query(name, rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(4242);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Sends raw bytes over UDP; returns the reply, or `None` when none comes within `wait`.
pub async fn udp_raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(bytes, addr).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// Sends a message over UDP and parses the reply.
pub async fn udp_msg(addr: SocketAddr, m: &Message) -> Message {
    let reply = udp_raw(addr, &m.to_vec().unwrap(), REPLY_TIMEOUT)
        .await
        .expect("a UDP reply");
    let r = Message::from_vec(&reply).expect("the reply parses");
    assert_eq!(r.metadata.id, m.metadata.id, "reply id matches");
    r
}

/// Runs the real `dig` against `server` with `args` (3 s, one try); its standard output.
pub async fn dig(server: SocketAddr, args: &[&str]) -> String {
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+time=3", "+tries=1"])
        .args(args)
        .output()
        .await
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Queries over UDP with EDNS (payload 1232).
pub async fn udp(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
    udp_msg(addr, &query_message(name, rtype, Some(1232))).await
}

/// Sends several raw messages on one TCP connection, all before reading, and reads the raw
/// replies.
pub async fn tcp_raw_pipelined(addr: SocketAddr, msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = Vec::new();
    for b in msgs {
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
        out.extend_from_slice(b);
    }
    s.write_all(&out).await.unwrap();
    let mut replies = Vec::new();
    for _ in msgs {
        let mut len = [0u8; 2];
        tokio::time::timeout(REPLY_TIMEOUT, s.read_exact(&mut len))
            .await
            .expect("TCP reply in time")
            .unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).await.unwrap();
        replies.push(buf);
    }
    replies
}

/// Sends several messages on one TCP connection, all before reading, and reads the replies.
pub async fn tcp_pipelined(addr: SocketAddr, msgs: &[Message]) -> Vec<Message> {
    let raw: Vec<Vec<u8>> = msgs.iter().map(|m| m.to_vec().unwrap()).collect();
    tcp_raw_pipelined(addr, &raw)
        .await
        .iter()
        .map(|b| Message::from_vec(b).unwrap())
        .collect()
}

/// Sends one message over TCP; returns the raw reply.
pub async fn tcp_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    tcp_raw_pipelined(addr, &[bytes.to_vec()]).await.remove(0)
}

/// Queries over TCP.
pub async fn tcp(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
    tcp_pipelined(addr, &[query_message(name, rtype, Some(1232))])
        .await
        .remove(0)
}

/// The records of a section as `owner TTL TYPE rdata` strings, for readable assertions.
pub fn show(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

/// The A/AAAA addresses of the answer section, as strings.
pub fn addresses(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            RData::AAAA(a) => Some(a.to_string()),
            _ => None,
        })
        .collect()
}

/// Whether an external tool is installed; with `DNSLB_REQUIRE_TOOLS=1` a missing one fails the test.
pub fn have_tool(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("DNSLB_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("{tool} is not installed and DNSLB_REQUIRE_TOOLS=1");
        }
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// One HTTP/1.1 request over a real TCP connection, as a script would send it (changes carry the
/// `X-Dnslb-Admin` header); returns (status, body).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let headers: &[(&str, &str)] = if method == "GET" {
        &[]
    } else {
        &[("x-dnslb-admin", "1")]
    };
    http_with(addr, method, path, headers, body).await
}

/// [`http`] with exactly these headers (besides Host, which is the address unless given).
pub async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    let stream = TcpStream::connect(addr)
        .await
        .expect("admin endpoint reachable");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder().method(method).uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header(http::header::HOST, addr.to_string());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .unwrap();
    let resp = tokio::time::timeout(REPLY_TIMEOUT, sender.send_request(req))
        .await
        .expect("HTTP reply in time")
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A minimal zone for example.com, for tests that bring their own pools.
pub const EXAMPLE_ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n";

/// The smallest valid zone body for any origin (names relative to it): SOA, NS and the NS's
/// address, with explicit TTLs.
pub const MINIMAL_ZONE: &str = "@ 3600 IN SOA ns.example.com. h.example.com. 1 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.1\n";

/// Writes `text` to `rel` under `dir` (parents created) aside and renames it into place, as
/// editors and deploy tools do, so that no reader sees half a file.
pub fn write_file(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

/// A temporary directory with `dnslb.toml` (loopback port 0, no watching, an admin endpoint on
/// port 0, then `extra` TOML) and the given files under `zones/`.
pub fn dir_with_zones(extra: &str, zones: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    for (name, text) in zones {
        write_file(dir.path(), &format!("zones/{name}"), text);
    }
    std::fs::write(
        dir.path().join("dnslb.toml"),
        format!("[server]\nlisten = [\"127.0.0.1:0\"]\nwatch = false\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n{extra}"),
    )
    .unwrap();
    dir
}

/// [`dir_with_zones`] with the example zone.
pub fn dir_with_config(extra: &str) -> tempfile::TempDir {
    dir_with_zones(extra, &[("example.com.zone", EXAMPLE_ZONE)])
}

/// Every problem of loading the config at `config`, whether it loads or not, one per line.
pub fn load_problems(config: &Path) -> Vec<String> {
    let problems = match dnslb::load::load(config, None, &Default::default()) {
        Ok(l) => l.snapshot.problems,
        Err(p) => p,
    };
    problems.iter().map(ToString::to_string).collect()
}

/// A loopback TCP port that refuses connections for the rest of the test process: a socket is
/// bound to it and never listens, so no other test can be handed the same port.
pub fn closed_port() -> u16 {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let port = sock.local_addr().unwrap().as_socket().unwrap().port();
    std::mem::forget(sock);
    port
}

/// A loopback port that was free for both UDP and TCP a moment ago, for a program that must be
/// told its port (an external daemon, or a fixed-port server). Picked below the kernel's
/// ephemeral range (32768 and up), where the TIME-WAIT sockets of the suite's many TCP queries
/// lie: Knot binds its TCP listener without SO_REUSEADDR and fails on such a port. Another
/// process may take it in between: callers retry with a new one when the bind fails
/// ([`Daemon::start`] does).
pub fn free_port() -> u16 {
    use socket2::{Domain, Socket, Type};
    for _ in 0..1000 {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
        let udp = std::net::UdpSocket::bind(addr);
        // No SO_REUSEADDR: a port that still has TIME-WAIT connections is refused, as Knot sees it.
        let tcp = Socket::new(Domain::IPV4, Type::STREAM, None)
            .and_then(|s| s.bind(&addr.into()).map(|()| s));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for UDP and TCP in 1,000 tries");
}

/// An external DNS server (NSD, Unbound, ...) run from a test on a loopback port, killed when
/// dropped, panicking test or not.
pub struct Daemon {
    child: tokio::process::Child,
    /// Where it answers DNS.
    pub addr: SocketAddr,
    /// Its working directory (config, zones, logs).
    pub dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `program` with `args(config path)` after writing `config(port, dir)` to
    /// `dir/name`, and waits (at most 5 s) until it answers `probe` over UDP. When it does not
    /// (it exited, or its port was taken meanwhile), tries again on a new port, five times.
    pub async fn start(
        program: &str,
        conf_name: &str,
        args: &[&str],
        setup: impl Fn(&Path),
        config: impl Fn(u16, &Path) -> String,
        probe: &Message,
    ) -> Daemon {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            setup(dir.path());
            let port = free_port();
            let conf = dir.path().join(conf_name);
            std::fs::write(&conf, config(port, dir.path())).unwrap();
            let mut child = tokio::process::Command::new(program)
                .args(args)
                .arg(&conf)
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("{program} starts: {e}"));
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            for _ in 0..50 {
                if udp_raw(addr, &probe.to_vec().unwrap(), Duration::from_millis(100))
                    .await
                    .is_some()
                {
                    return Daemon { child, addr, dir };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    eprintln!("{program} exited ({status}); trying another port");
                    break;
                }
            }
            let _ = child.kill().await;
        }
        panic!("{program} did not answer on any of five ports");
    }

    /// Stops it and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Polls `check` every 20 ms until it is true or `limit` passes; returns the time it took.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Which addresses `n` UDP queries for `name` A got, counted.
pub async fn draw_counts(
    addr: SocketAddr,
    name: &str,
    n: usize,
) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for _ in 0..n {
        for a in addresses(&udp(addr, name, RecordType::A).await) {
            *counts.entry(a).or_insert(0) += 1;
        }
    }
    counts
}

/// A UDP socket and a TCP listener on one loopback port (a DNS server's pair). The UDP port is
/// picked by the system; when its TCP twin is taken (by another test's daemon), another is tried.
pub async fn udp_and_tcp_on_one_port() -> (UdpSocket, tokio::net::TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = tokio::net::TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP in 20 tries");
}

/// The SOA serial `addr` serves for `zone`, or the rcode when it does not.
pub async fn zone_serial(
    addr: SocketAddr,
    zone: &str,
) -> Result<u32, hickory_proto::op::ResponseCode> {
    let m = udp(addr, zone, RecordType::SOA).await;
    m.answers
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        })
        .ok_or(m.metadata.response_code)
}

/// `/status`'s entry for the secondary zone `zone`.
pub async fn secondary_status(s: &TestServer, zone: &str) -> serde_json::Value {
    let (code, body) = http(s.admin(), "GET", "/status", "").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["secondaries"][zone].clone()
}

/// How a zone signed in a test proves that names and types are absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    Nsec,
    /// NSEC3 with RFC 9276's parameters: no salt, no extra iterations.
    Nsec3,
    /// NSEC3 with every link's opt-out flag (RFC 5155 §6).
    Nsec3OptOut,
}

/// A zone signed in a test: its text, and the DS of its key-signing key (one line, as
/// `ldns-keygen` writes it).
pub struct SignedZone {
    pub text: String,
    pub ds: String,
}

/// Signs `text` (the zone `origin`, no final dot) in `dir` with a KSK and a ZSK (ECDSA P-256)
/// made now by `ldns-keygen`, by `ldns-signzone` (Debian's ldnsutils); `validity` is the
/// signatures' (inception, expiration) as `YYYYMMDD`, else from an hour ago for four weeks.
pub fn sign_zone(
    dir: &Path,
    origin: &str,
    text: &str,
    denial: Denial,
    validity: Option<(&str, &str)>,
) -> SignedZone {
    let run = |program: &str, args: &[&str]| -> String {
        let out = std::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ksk = run("ldns-keygen", &["-a", "ECDSAP256SHA256", "-k", origin]);
    let zsk = run("ldns-keygen", &["-a", "ECDSAP256SHA256", origin]);
    let unsigned = format!("{origin}.unsigned");
    std::fs::write(dir.join(&unsigned), text).unwrap();
    let signed = format!("{origin}.signed");
    let mut args: Vec<&str> = vec!["-o", origin, "-f", &signed];
    match denial {
        Denial::Nsec => {}
        Denial::Nsec3 => args.extend(["-n", "-s", "", "-t", "0"]),
        Denial::Nsec3OptOut => args.extend(["-n", "-p", "-s", "", "-t", "0"]),
    }
    // By default an hour back (clocks differ; DNSViz warns of an inception within its skew)
    // to four weeks ahead, as seconds since the epoch.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (from, until) = ((now - 3600).to_string(), (now + 28 * 86_400).to_string());
    let (inception, expiration) = validity.unwrap_or((&from, &until));
    args.extend(["-i", inception, "-e", expiration]);
    args.extend([unsigned.as_str(), ksk.as_str(), zsk.as_str()]);
    run("ldns-signzone", &args);
    SignedZone {
        text: std::fs::read_to_string(dir.join(&signed)).unwrap(),
        ds: std::fs::read_to_string(dir.join(format!("{ksk}.ds")))
            .unwrap()
            .trim()
            .to_string(),
    }
}

/// The signed fixture (`tests/fixtures/dnssec`), signed in `dir` with `denial`: example.com
/// with a signed child sub.example.com (its DS in the parent) and an unsigned child
/// insecure.example.com. Returns the three zone files (origin, text) and the DS of
/// example.com, the trust anchor.
pub fn signed_fixture(dir: &Path, denial: Denial) -> (Vec<(String, String)>, String) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dnssec");
    let read = |origin: &str| std::fs::read_to_string(src.join(format!("{origin}.zone"))).unwrap();
    let child = sign_zone(
        dir,
        "sub.example.com",
        &read("sub.example.com"),
        Denial::Nsec,
        None,
    );
    let parent_text = format!("{}\n{}\n", read("example.com"), child.ds);
    let parent = sign_zone(dir, "example.com", &parent_text, denial, None);
    let zones = vec![
        ("example.com".to_string(), parent.text),
        ("sub.example.com".to_string(), child.text),
        (
            "insecure.example.com".to_string(),
            read("insecure.example.com"),
        ),
    ];
    (zones, parent.ds)
}

/// [`dir_with_zones`] from (origin, text) pairs: each written as `<origin>.zone`.
pub fn dir_with_origins(extra: &str, zones: &[(String, String)]) -> tempfile::TempDir {
    let files: Vec<(String, &str)> = zones
        .iter()
        .map(|(origin, text)| (format!("{origin}.zone"), text.as_str()))
        .collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    dir_with_zones(extra, &refs)
}

/// Unbound's `stub-zone` section sending `zone` to dnslb at `addr`.
pub fn unbound_stub(zone: &str, addr: SocketAddr) -> String {
    format!(
        "stub-zone:\n  name: \"{zone}\"\n  stub-addr: {}@{}\n",
        addr.ip(),
        addr.port()
    )
}

/// Unbound `server:` lines forbidding every IPv4 address but 127/8 (belt and braces: its stub
/// zones all point at loopback, so it has no reason to query anything else).
pub fn unbound_loopback_only() -> String {
    [
        "0.0.0.0/2",
        "64.0.0.0/3",
        "96.0.0.0/4",
        "112.0.0.0/5",
        "120.0.0.0/6",
        "124.0.0.0/7",
        "126.0.0.0/8",
        "128.0.0.0/1",
    ]
    .iter()
    .map(|b| format!("  do-not-query-address: {b}\n"))
    .collect()
}

/// Counts every `status` in DNSViz's report and collects every `errors` and `warnings` entry.
pub fn dnsviz_walk(
    v: &serde_json::Value,
    path: &str,
    statuses: &mut std::collections::BTreeMap<String, usize>,
    complaints: &mut Vec<String>,
) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}/{k}");
                match (k.as_str(), v) {
                    ("status", serde_json::Value::String(s)) => {
                        *statuses.entry(s.clone()).or_default() += 1;
                    }
                    ("errors" | "warnings", v) => complaints.push(format!("{here}: {v}")),
                    _ => dnsviz_walk(v, &here, statuses, complaints),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                dnsviz_walk(v, &format!("{path}[{i}]"), statuses, complaints);
            }
        }
        _ => {}
    }
}

/// DNSViz's verdict on dnslb serving the directory `dir` (its config's listen address is set to
/// 127.0.0.1:5300: alone in a network namespace with only loopback up, dnslb can take a fixed
/// port), probing `names` of example.com with `ds` as the parent's DS: the report of `dnsviz
/// grok`, its statuses counted, and every error and warning.
pub async fn dnsviz_report(
    dir: &Path,
    ds: &str,
    names: &str,
) -> (
    serde_json::Value,
    std::collections::BTreeMap<String, usize>,
    Vec<String>,
) {
    std::fs::write(dir.join("ds.txt"), format!("{ds}\n")).unwrap();
    let server = "example.com:ns1.example.com=127.0.0.1:5300";
    let probe = alone_with_dnslb(
        dir,
        5300,
        &format!(
            "dnsviz probe -A -a example.com -x '{server}' -N '{server}' -D 'example.com:{d}/ds.txt' \
             -o {d}/probe.json {names}",
            d = dir.display()
        ),
    )
    .await;
    assert!(probe.status.success(), "{probe:?}");
    let grok = std::process::Command::new("dnsviz")
        .arg("grok")
        .stdin(std::fs::File::open(dir.join("probe.json")).unwrap())
        .output()
        .unwrap();
    assert!(grok.status.success(), "{grok:?}");
    let report: serde_json::Value = serde_json::from_slice(&grok.stdout).unwrap();
    let mut statuses = std::collections::BTreeMap::new();
    let mut complaints = Vec::new();
    dnsviz_walk(&report, "", &mut statuses, &mut complaints);
    (report, statuses, complaints)
}

/// Runs `command` (a shell command line) in a network namespace of its own with only loopback
/// up, beside dnslb serving the directory `dir` on 127.0.0.1:`port` (its config's listen
/// address rewritten: alone there, dnslb can take a fixed port, 53 included), once dnslb
/// answers for example.com. A PID namespace too: when the command ends (or the test is killed),
/// the kernel ends dnslb with it. At most 2 minutes.
pub async fn alone_with_dnslb(dir: &Path, port: u16, command: &str) -> std::process::Output {
    let conf = dir.join("dnslb.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    let listen = format!("127.0.0.1:{port}\"]");
    std::fs::write(&conf, text.replace("127.0.0.1:0\"]", &listen)).unwrap();
    let script = format!(
        "ip link set lo up\n\
         {dnslb} -c {d}/dnslb.toml serve > {d}/dnslb.log 2>&1 &\n\
         for i in $(seq 100); do dig +time=1 +tries=1 @127.0.0.1 -p {port} example.com SOA \
           >/dev/null 2>&1 && break; sleep 0.1; done\n\
         {command}\n",
        dnslb = env!("CARGO_BIN_EXE_dnslb"),
        d = dir.display(),
    );
    let run = tokio::process::Command::new("unshare")
        .args([
            "--net",
            "--pid",
            "--fork",
            "--kill-child",
            "sh",
            "-c",
            &script,
        ])
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the command finishes in 2 minutes")
        .unwrap()
}

/// DNSViz finds the signed example.com in `dir` clean ([`dnsviz_report`] with `ds`, probing
/// `names`): no error or warning, the delegation from the DS secure, at least 25 things valid,
/// and every status VALID, SECURE, NOERROR or NXDOMAIN. `what` names the case in a failure.
pub async fn assert_dnsviz_clean(dir: &Path, ds: &str, names: &str, what: &str) {
    let (report, statuses, complaints) = dnsviz_report(dir, ds, names).await;
    assert!(complaints.is_empty(), "{what}: {complaints:#?}");
    assert_eq!(
        report["example.com."]["delegation"]["status"], "SECURE",
        "{what}: {report}"
    );
    let valid = statuses.get("VALID").copied().unwrap_or(0);
    assert!(valid >= 25, "{what}: {statuses:?}");
    assert!(
        statuses
            .keys()
            .all(|s| ["VALID", "SECURE", "NOERROR", "NXDOMAIN"].contains(&s.as_str())),
        "{what}: {statuses:?}\n{report}"
    );
}

/// Unbound in the foreground on a loopback port with the config `config(port, dir)` makes, once
/// it answers for example.com (it refuses nothing while it starts: an answer is enough).
pub async fn unbound_daemon(config: impl Fn(u16, &Path) -> String) -> Daemon {
    let probe = query_message("example.com.", RecordType::SOA, None);
    Daemon::start(
        "unbound",
        "unbound.conf",
        &["-d", "-c"],
        |_| {},
        config,
        &probe,
    )
    .await
}
