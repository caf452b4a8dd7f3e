//! Hardening: the server stops, completely and quickly, whatever its log sink does; a server a
//! test drops is gone; logging never stalls a query; reloads happen on real changes only.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;

/// The real binary, killed when dropped (a failing test leaves no server behind).
struct Binary {
    child: Child,
}

impl Binary {
    /// Starts `dnslb` in `dir` with stderr piped.
    fn start(dir: &std::path::Path, log: &str) -> Binary {
        let child = Command::new(env!("CARGO_BIN_EXE_dnslb"))
            .args(["--config", "dnslb.toml"])
            .current_dir(dir)
            .env("RUST_LOG", log)
            .stderr(Stdio::piped())
            .spawn()
            .expect("dnslb starts");
        Binary { child }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Waits at most `limit` for the process to exit.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the log until the DNS and admin addresses are named; returns them and the reader.
fn addresses_from_log(
    stderr: std::process::ChildStderr,
) -> (SocketAddr, SocketAddr, BufReader<std::process::ChildStderr>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let (mut dns, mut admin) = (None, None);
        let mut line = String::new();
        while dns.is_none() || admin.is_none() {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let addr = || {
                line.split("addr=")
                    .nth(1)
                    .and_then(|a| a.trim().parse::<SocketAddr>().ok())
            };
            if line.contains("listening for DNS") {
                dns = addr();
            } else if line.contains("admin endpoint listening") {
                admin = addr();
            }
        }
        let _ = tx.send((dns, admin));
        reader
    });
    let (dns, admin) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the log names the addresses within 10 s");
    let reader = handle.join().unwrap();
    (
        dns.expect("DNS address"),
        admin.expect("admin address"),
        reader,
    )
}

#[test]
fn a_closed_log_pipe_neither_kills_probes_nor_prevents_stopping() {
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port();
    drop(target); // nothing listens: the member starts down
    let steady = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let steady_port = steady.local_addr().unwrap().port();
    let pool = format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\n\
         probe = {{ kind = \"tcp\", interval = \"100ms\", timeout = \"200ms\", rise = 1, fall = 1 }}\n\
         members = [ {{ address = \"192.0.2.10\", weight = 1, check = \"127.0.0.1:{port}\" }}, \
                     {{ address = \"192.0.2.11\", weight = 1, check = \"127.0.0.1:{steady_port}\" }} ]\n"
    );
    let dir = dir_with_config(&pool);
    let mut bin = Binary::start(dir.path(), "debug");
    let stderr = bin.child.stderr.take().unwrap();
    let (dns, admin, reader) = addresses_from_log(stderr);
    // The log shipper goes away: every later log line meets a closed pipe.
    drop(reader);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Queries (debug lines each), reloads and probes all log, and all go on.
        for _ in 0..50 {
            let r = udp(dns, "www.example.com.", RecordType::A).await;
            assert_eq!(addresses(&r), ["192.0.2.11"]);
        }
        let (st, body) = http(admin, "POST", "/reload", "").await;
        assert_eq!(st, 200, "{body}");
        // The probe task is alive: a listener appearing brings the member up.
        let _up = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let up = wait_until(Duration::from_secs(5), || async {
            addresses(&udp(dns, "www.example.com.", RecordType::A).await) == ["192.0.2.10"]
                || draw_counts(dns, "www.example.com.", 20)
                    .await
                    .contains_key("192.0.2.10")
        })
        .await;
        assert!(up.is_some(), "the probe still runs");
    });
    bin.signal("TERM");
    let status = bin
        .wait(Duration::from_secs(2))
        .expect("stopped within 2 s of SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_log_reader_that_never_reads_stalls_no_query() {
    let dir = dir_with_config("");
    let mut bin = Binary::start(dir.path(), "debug");
    let stderr = bin.child.stderr.take().unwrap();
    let (dns, _admin, reader) = addresses_from_log(stderr);
    // `reader` is kept, unread: the pipe fills after a few hundred debug lines.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answered = rt.block_on(async {
        let mut answered = 0;
        for _ in 0..3000 {
            let r = udp(dns, "ns1.example.com.", RecordType::A).await;
            answered += usize::from(addresses(&r) == ["192.0.2.1"]);
        }
        answered
    });
    assert_eq!(answered, 3000);
    bin.signal("TERM");
    assert!(
        bin.wait(Duration::from_secs(2)).is_some(),
        "stopped within 2 s with a full log pipe"
    );
    drop(reader);
}

#[test]
fn a_second_signal_ends_the_process_at_once() {
    let dir = dir_with_config("");
    let mut bin = Binary::start(dir.path(), "info");
    let stderr = bin.child.stderr.take().unwrap();
    let (_dns, _admin, _reader) = addresses_from_log(stderr);
    bin.signal("INT");
    bin.signal("INT");
    assert!(bin.wait(Duration::from_secs(2)).is_some());
}

#[test]
fn a_server_dropped_without_stop_stops_its_threads_and_its_runtime_ends() {
    // As when a test panics: the runtime is dropped, and the server with it.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = rt.block_on(start_fixture("core"));
        let addr = s.addr;
        drop(s); // no stop()
        drop(rt);
        let _ = tx.send(addr);
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the runtime ends within 5 s");
    // The DNS threads are gone: nothing answers on the address.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let silent = rt.block_on(wait_until(Duration::from_secs(3), || async {
        let q = query_message("www.example.com.", RecordType::A, None);
        udp_raw(addr, &q.to_vec().unwrap(), Duration::from_millis(100))
            .await
            .is_none()
    }));
    assert!(
        silent.is_some(),
        "DNS still answered after the server was dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_watched_files_triggers_no_reload_and_a_failed_one_is_not_retried() {
    let config =
        "[server]\nlisten = [\"127.0.0.1:0\"]\nwatch = true\n\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    let dir = dir_with_zones(
        "",
        &[
            ("example.com.zone", EXAMPLE_ZONE),
            ("broken.test.zone", "this is not a zone\n"),
        ],
    );
    std::fs::write(dir.path().join("dnslb.toml"), config).unwrap();
    let s = start_dir(dir).await;
    let shared = s.running.as_ref().unwrap().shared.clone();
    let generation = shared.snapshot.load().generation;
    let read_everything = || {
        for e in std::fs::read_dir(s.dir.path().join("zones")).unwrap() {
            let _ = std::fs::read(e.unwrap().path());
        }
        let _ = std::fs::read(s.config());
    };
    for _ in 0..5 {
        read_everything();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        shared.snapshot.load().generation,
        generation,
        "reads reload nothing"
    );
    assert_eq!(shared.reload_failures(), 0);

    // A broken config: one failed reload, and no retry while nothing changes.
    let good = std::fs::read_to_string(s.config()).unwrap();
    write_file(s.dir.path(), "dnslb.toml", &format!("{good}bogus = 1\n"));
    let failed = wait_until(Duration::from_secs(5), || async {
        shared.reload_failures() == 1
    })
    .await;
    assert!(failed.is_some(), "the broken config was tried once");
    for _ in 0..5 {
        read_everything();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(shared.reload_failures(), 1, "not retried while unchanged");
    // Fixed: reloaded.
    write_file(s.dir.path(), "dnslb.toml", &good);
    let fixed = wait_until(Duration::from_secs(5), || async {
        shared.snapshot.load().generation > generation
    })
    .await;
    assert!(fixed.is_some(), "the fix was picked up");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_lets_in_only_what_it_should() {
    let pool = "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [ { address = \"192.0.2.10\", weight = 1 } ]\n";
    let dir = dir_with_config(pool);
    std::fs::write(dir.path().join("admin.token"), "s3cret\n").unwrap();
    let config = dir.path().join("dnslb.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "[admin]\nlisten = \"127.0.0.1:0\"\n",
            "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"admin.token\"\nmax_connections = 4\nidle_timeout = \"300ms\"\n",
        ),
    )
    .unwrap();
    let s = start_dir(dir).await;
    let admin = s.admin();
    let drain = "/pools/www.example.com./members/192.0.2.10/drain";
    // Reads need no token.
    assert_eq!(http(admin, "GET", "/status", "").await.0, 200);
    // A change without the token: 401, and nothing changes.
    let (st, body) = http(admin, "POST", drain, "").await;
    assert_eq!(st, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let (st, _) = http_with(
        admin,
        "POST",
        drain,
        &[("x-dnslb-admin", "1"), ("authorization", "Bearer wrong")],
        "",
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(
        addresses(&udp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.10"]
    );
    // A browser's cross-origin form POST: 403, token or not.
    let (st, body) = http_with(
        admin,
        "POST",
        drain,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "http://evil.example"),
            ("authorization", "Bearer s3cret"),
        ],
        "",
    )
    .await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("cross-origin"), "{body}");
    let (st, body) = http_with(
        admin,
        "POST",
        drain,
        &[
            ("content-type", "text/plain"),
            ("authorization", "Bearer s3cret"),
        ],
        "",
    )
    .await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("X-Dnslb-Admin"), "{body}");
    // DNS rebinding: a page reaching us by a name of its own.
    let (st, body) = http_with(
        admin,
        "GET",
        "/status",
        &[("host", "rebind.example:8053")],
        "",
    )
    .await;
    assert_eq!(st, 403, "{body}");
    // With the token and a JSON content type: done.
    let (st, body) = http_with(
        admin,
        "POST",
        drain,
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer s3cret"),
        ],
        "",
    )
    .await;
    assert_eq!(st, 200, "{body}");

    // The connection cap: four idle connections hold every place; a fifth is closed at once.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(admin).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fifth = tokio::net::TcpStream::connect(admin).await.unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::io::AsyncReadExt::read(&mut fifth, &mut buf),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the fifth is closed: {closed:?}"
    );
    // The idle ones are closed after idle_timeout, and the endpoint serves again.
    let back = wait_until(Duration::from_secs(3), || async { status_ok(admin).await }).await;
    assert!(back.is_some(), "idle connections were closed");
    s.stop().await;
}

#[test]
fn a_non_loopback_admin_needs_a_token_and_an_allow_list() {
    let dir = dir_with_config("");
    let config = dir.path().join("dnslb.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("listen = \"127.0.0.1:0\"\n\n", "listen = \"0.0.0.0:0\"\n\n"),
    )
    .unwrap();
    let problems = load_problems(&config);
    assert!(
        problems.iter().any(|p| p.contains(
            "dnslb.toml:6: admin.listen 0.0.0.0:0 is not a loopback address: set admin.token_file"
        )),
        "{problems:?}"
    );
}

/// Whether `GET /status` answers 200 on a new connection (false when the connection is closed).
async fn status_ok(admin: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(admin).await else {
        return false;
    };
    let request = format!("GET /status HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_millis(500), s.read_to_end(&mut reply)).await;
    read.is_ok() && reply.starts_with(b"HTTP/1.1 200")
}

/// CPU time (user + system, in clock ticks) the process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses: utime and stime are 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_tcp_flood_under_a_low_descriptor_limit_leaves_udp_tcp_and_probes_working() {
    let steady = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = steady.local_addr().unwrap().port();
    let pool = format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\n\
         probe = {{ kind = \"tcp\", interval = \"100ms\", timeout = \"300ms\", rise = 1, fall = 2 }}\n\
         members = [ {{ address = \"192.0.2.10\", weight = 1, check = \"127.0.0.1:{port}\" }} ]\n"
    );
    let dir = dir_with_config(&pool);
    // 256 descriptors: the TCP cap becomes 256 - 128 = 128... or tcp_max (100), whichever is less.
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec {} --config dnslb.toml",
            env!("CARGO_BIN_EXE_dnslb")
        ))
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut bin = Binary { child };
    let stderr = bin.child.stderr.take().unwrap();
    let (dns, admin, _reader) = addresses_from_log(stderr);
    let pid = bin.child.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // 400 connections that never send a byte: more than the cap and the descriptor limit.
        let mut held = Vec::new();
        for _ in 0..400 {
            if let Ok(Ok(c)) = tokio::time::timeout(
                Duration::from_millis(100),
                tokio::net::TcpStream::connect(dns),
            )
            .await
            {
                held.push(c);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = cpu_ticks(pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let used = cpu_ticks(pid) - before;
        assert!(
            used < 30,
            "{used} ticks of CPU in one second under the flood"
        );
        // UDP is answered, a new TCP query within a second, and the probe still sees its target.
        let r = udp(dns, "www.example.com.", RecordType::A).await;
        assert_eq!(addresses(&r), ["192.0.2.10"]);
        let q = query_message("ns1.example.com.", RecordType::A, None);
        let answered =
            tokio::time::timeout(Duration::from_secs(1), tcp_raw(dns, &q.to_vec().unwrap())).await;
        assert!(answered.is_ok(), "a TCP query is answered within a second");
        let (_, status) = http(admin, "GET", "/status", "").await;
        assert!(status.contains("\"state\":\"up\""), "{status}");
        assert!(status.contains("\"last_probe_ok\":true"), "{status}");
        drop(held);
    });
    bin.signal("TERM");
    assert!(bin.wait(Duration::from_secs(2)).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_rules_are_nsds_and_each_malformed_message_is_counted_not_logged() {
    let s = start_dir(dir_with_config("")).await;
    let wait = Duration::from_millis(300);
    // A question whose name points into the header: FORMERR, ID and opcode kept, no question.
    let into_header = [
        0xab, 0xcd, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0, 1, 0, 1,
    ];
    for transport in ["udp", "tcp"] {
        let reply = if transport == "udp" {
            udp_raw(s.addr, &into_header, REPLY_TIMEOUT)
                .await
                .expect("a reply")
        } else {
            tcp_raw(s.addr, &into_header).await
        };
        assert_eq!(
            reply,
            [0xab, 0xcd, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0],
            "{transport}: FORMERR, no question"
        );
    }
    // A response (QR set), however malformed: no reply. Shorter than a header: no reply.
    let mut response = into_header;
    response[2] |= 0x80;
    assert!(udp_raw(s.addr, &response, wait).await.is_none());
    assert!(udp_raw(s.addr, &[1, 2, 3, 4, 5], wait).await.is_none());
    // A flood of them: counted by kind, and no log line each (the counters say how many).
    for _ in 0..200 {
        udp_raw(s.addr, &response, Duration::from_millis(1)).await;
    }
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    for needle in [
        "dnslb_malformed_total{kind=\"unparseable\"} 2",
        "dnslb_malformed_total{kind=\"short\"} 1",
        "dnslb_responses_total{rcode=\"FORMERR\"} 2",
    ] {
        assert!(metrics.contains(needle), "{needle} in {metrics}");
    }
    let responses = metrics
        .lines()
        .find(|l| l.starts_with("dnslb_malformed_total{kind=\"response\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap();
    assert!(responses >= 190, "{responses} responses counted");
    // Still answering.
    assert_eq!(
        addresses(&udp(s.addr, "ns1.example.com.", RecordType::A).await),
        ["192.0.2.1"]
    );
    s.stop().await;
}

/// Sends `n` queries from a socket bound to `from`; counts (full answers, truncated, unanswered).
async fn from_source(dns: SocketAddr, from: &str, n: usize) -> (usize, usize, usize) {
    let sock = tokio::net::UdpSocket::bind((from, 0)).await.unwrap();
    let (mut full, mut slipped, mut dropped) = (0, 0, 0);
    let mut buf = [0u8; 1500];
    for _ in 0..n {
        let q = query_message("www.example.com.", RecordType::A, Some(1232));
        sock.send_to(&q.to_vec().unwrap(), dns).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(40), sock.recv(&mut buf)).await {
            Ok(Ok(len)) => {
                let r = hickory_proto::op::Message::from_vec(&buf[..len]).unwrap();
                if r.metadata.truncation {
                    assert!(r.answers.is_empty(), "a slip carries no records");
                    slipped += 1;
                } else {
                    assert_eq!(addresses(&r), ["192.0.2.10"]);
                    full += 1;
                }
            }
            _ => dropped += 1,
        }
    }
    (full, slipped, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_drops_and_slips_one_source_and_answers_another() {
    let pool = "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nmembers = [ { address = \"192.0.2.10\", weight = 1 } ]\n";
    let s = start_dir(dir_with_config(&format!(
        "[server.rrl]\nresponses_per_second = 5\nslip = 2\n\n{pool}"
    )))
    .await;
    let started = Instant::now();
    let (full, slipped, dropped) = from_source(s.addr, "127.0.0.1", 60).await;
    let seconds = started.elapsed().as_secs() + 1;
    assert!(
        full as u64 <= 5 + 5 * seconds,
        "{full} full answers in {seconds} s at 5/s"
    );
    assert!(
        slipped >= 10 && dropped >= 10,
        "slipped {slipped}, dropped {dropped}"
    );
    assert!(slipped.abs_diff(dropped) <= 2, "slip = 2: every other one");
    // Another network (127.0.1.0/24) is not affected, and TCP never is.
    let (full, _, _) = from_source(s.addr, "127.0.1.1", 5).await;
    assert_eq!(full, 5);
    assert_eq!(
        addresses(&tcp(s.addr, "www.example.com.", RecordType::A).await),
        ["192.0.2.10"]
    );
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    assert!(
        metrics.contains(&format!(
            "dnslb_rrl_responses_total{{action=\"drop\"}} {dropped}"
        )),
        "{metrics}"
    );
    s.stop().await;
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let dir = dir_with_config("");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dnslb"))
        .args(["--config", "dnslb.toml"])
        .current_dir(dir.path())
        .env("NOTIFY_SOCKET", &socket_path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut bin = Binary { child };
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = socket.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
    };
    assert_eq!(next(), "READY=1");
    bin.signal("HUP");
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert_eq!(next(), "READY=1", "the reload ended");
    bin.signal("TERM");
    assert_eq!(next(), "STOPPING=1");
    assert!(bin.wait(Duration::from_secs(2)).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holding_idle_admin_connections_cannot_lock_another_out() {
    // The default cap (32): one client may hold a quarter of it.
    let s = start_dir(dir_with_config("")).await;
    let admin = s.admin();
    let mut flood = Vec::new();
    for _ in 0..40 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        if let Ok(c) = socket.connect(admin).await {
            flood.push(c);
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Another client (127.0.0.1) still gets /status, every time, while the flood holds.
    for _ in 0..5 {
        let (code, body) = http(admin, "GET", "/status", "").await;
        assert_eq!(code, 200, "{body}");
    }
    // And the flooding client is held to its share: a connection beyond it is closed at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut extra = socket.connect(admin).await.unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::io::AsyncReadExt::read(&mut extra, &mut buf),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "beyond its share, closed: {closed:?}"
    );
    drop(flood);
    s.stop().await;
}
