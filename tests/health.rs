//! Health probes against real listeners on loopback, and the admin endpoint over real HTTP:
//! members leave and return with fall/rise, hung targets fail at the timeout, all-down fails open
//! (or answers empty), drains act at once, agents steer weights, HTTP statuses count.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A loopback TCP listener that accepts and closes connections, until dropped.
struct Listener {
    port: u16,
    task: JoinHandle<()>,
}

impl Listener {
    async fn open(port: u16) -> Listener {
        let l = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the probe target");
        let port = l.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
        Listener { port, task }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one line per connection (an agent), or an HTTP status, or nothing at all (hung).
enum Behaviour {
    Agent(Arc<Mutex<String>>),
    /// Answers with this status; keeps the last request's head.
    Http(Arc<AtomicU16>, Arc<Mutex<String>>),
    Hang,
}

fn serve(l: TcpListener, behaviour: Behaviour) -> JoinHandle<()> {
    let behaviour = Arc::new(behaviour);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            match &*behaviour {
                Behaviour::Agent(line) => {
                    let line = line.lock().unwrap().clone();
                    let _ = s.write_all(line.as_bytes()).await;
                }
                Behaviour::Http(status, head) => {
                    let status = status.load(Ordering::Relaxed);
                    let head = head.clone();
                    tokio::spawn(async move {
                        let mut buf = [0u8; 2048];
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        *head.lock().unwrap() = String::from_utf8_lossy(&got).into_owned();
                        let reply = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        let _ = s.write_all(reply.as_bytes()).await;
                    });
                }
                Behaviour::Hang => held.push(s),
            }
        }
    })
}

/// A port bound but not yet listening: connections are refused until [`Deferred::open`], and no
/// other test can be handed the port meanwhile.
struct Deferred {
    sock: socket2::Socket,
    port: u16,
}

impl Deferred {
    fn new() -> Deferred {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let port = sock.local_addr().unwrap().as_socket().unwrap().port();
        Deferred { sock, port }
    }

    /// Starts listening (and accepting and closing connections) on the port.
    fn open(self) -> Listener {
        self.sock.listen(128).unwrap();
        self.sock.set_nonblocking(true).unwrap();
        let l = TcpListener::from_std(std::net::TcpListener::from(self.sock)).unwrap();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
        Listener {
            port: self.port,
            task,
        }
    }
}

async fn bound() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn pool(probe: &str, members: &[(&str, u32, u16)], extra: &str) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(a, w, port)| {
            format!("{{ address = \"{a}\", weight = {w}, check = \"127.0.0.1:{port}\" }}")
        })
        .collect();
    format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nprobe = {probe}\n{extra}members = [ {} ]\n",
        members.join(", ")
    )
}

const FAST_TCP: &str =
    "{ kind = \"tcp\", interval = \"100ms\", timeout = \"200ms\", rise = 2, fall = 2 }";

/// Waits (at most 3 s) until `member` is served, or is not; panics with `why` otherwise.
async fn until_served(s: &TestServer, member: &str, want: bool, why: &str) -> Duration {
    wait_until(Duration::from_secs(3), || async {
        served(s.addr, member).await == want
    })
    .await
    .expect(why)
}

async fn served(addr: SocketAddr, member: &str) -> bool {
    draw_counts(addr, "www.example.com.", 30)
        .await
        .contains_key(member)
}

/// A server whose pool www.example.com. has two members, each probed at a listener of its own.
async fn two_healthy_members() -> (Listener, Listener, TestServer) {
    let a = Listener::open(0).await;
    let b = Listener::open(0).await;
    let members = [("192.0.2.10", 1, a.port), ("192.0.2.11", 1, b.port)];
    let s = start_dir(dir_with_config(&pool(FAST_TCP, &members, ""))).await;
    (a, b, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_listener_leaves_within_interval_times_fall_plus_timeout_and_returns_after_rise() {
    let (_a, b, s) = two_healthy_members().await;
    assert!(served(s.addr, "192.0.2.11").await);

    let port_b = b.port;
    drop(b);
    // interval × fall + timeout = 400 ms; the bound is generous, for a loaded 2-core machine.
    let took = until_served(
        &s,
        "192.0.2.11",
        false,
        "the closed member stops being served",
    )
    .await;
    assert!(took <= Duration::from_secs(2), "took {took:?}");
    // Stays out, and the other member takes all the answers.
    let counts = draw_counts(s.addr, "www.example.com.", 100).await;
    assert_eq!(counts.get("192.0.2.10"), Some(&100), "{counts:?}");

    let _b = Listener::open(port_b).await;
    let took = until_served(&s, "192.0.2.11", true, "the member comes back").await;
    // rise = 2: two probes, at least one interval (100 ms, less 5 % jitter) apart.
    assert!(
        took >= Duration::from_millis(90),
        "needs rise = 2 successes, took {took:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_answers_already_reflect_health() {
    let up = Listener::open(0).await;
    // fall = 3 with a 10 s interval: only the first round, before serving, can take 192.0.2.11 out.
    let probe = "{ kind = \"tcp\", interval = \"10s\", timeout = \"500ms\", fall = 3 }";
    let s = start_dir(dir_with_config(&pool(
        probe,
        &[
            ("192.0.2.10", 1, up.port),
            ("192.0.2.11", 100, closed_port()),
        ],
        "",
    )))
    .await;
    let counts = draw_counts(s.addr, "www.example.com.", 50).await;
    assert_eq!(counts.get("192.0.2.10"), Some(&50), "{counts:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_target_fails_at_the_timeout() {
    let (l, port) = bound().await;
    let _hang = serve(l, Behaviour::Hang);
    let good = Listener::open(0).await;
    let probe = "{ kind = \"http\", path = \"/health\", interval = \"10s\", timeout = \"300ms\" }";
    let started = tokio::time::Instant::now();
    let s = start_dir(dir_with_config(&pool(
        probe,
        &[("192.0.2.10", 1, good.port), ("192.0.2.11", 1, port)],
        "",
    )))
    .await;
    let start_up = started.elapsed();
    assert!(
        start_up < Duration::from_secs(2),
        "first round bounded by the timeout: {start_up:?}"
    );
    let (status, body) = http(s.admin(), "GET", "/status", "").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let m = &v["pools"][0]["members"][1];
    assert_eq!(m["member"], "192.0.2.11");
    assert_eq!(m["state"], "down", "{m}");
    assert!(
        m["last_probe_error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{m}"
    );
    let (_, metrics) = http(s.admin(), "GET", "/metrics", "").await;
    let line =
        format!("dnslb_probe_failures_total{{target=\"127.0.0.1:{port}\",reason=\"timeout\"}} 1");
    assert!(metrics.contains(&line), "{line} in {metrics}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_listener_that_accepts_nothing_fails_at_the_timeout() {
    // A listener that never accepts, with its accept queue filled: the kernel drops further SYNs,
    // so a probe's handshake never completes.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(0).unwrap();
    let port = sock.local_addr().unwrap().as_socket().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..3 {
        let c = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await;
        if let Ok(Ok(c)) = c {
            fillers.push(c);
        }
    }
    let good = Listener::open(0).await;
    let probe = "{ kind = \"tcp\", interval = \"10s\", timeout = \"300ms\" }";
    let s = start_dir(dir_with_config(&pool(
        probe,
        &[("192.0.2.10", 1, good.port), ("192.0.2.11", 1, port)],
        "",
    )))
    .await;
    let (_, body) = http(s.admin(), "GET", "/status", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let m = &v["pools"][0]["members"][1];
    assert_eq!(m["state"], "down", "{m}");
    assert_eq!(m["last_probe_error"], "timed out after 300ms", "{m}");
    let counts = draw_counts(s.addr, "www.example.com.", 30).await;
    assert_eq!(counts.get("192.0.2.10"), Some(&30), "{counts:?}");
    drop(sock);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probes_see_status_codes() {
    let (l, port) = bound().await;
    let status = Arc::new(AtomicU16::new(200));
    let _srv = serve(l, Behaviour::Http(status.clone(), Arc::default()));
    let (l2, other) = bound().await;
    let _other = serve(
        l2,
        Behaviour::Http(Arc::new(AtomicU16::new(200)), Arc::default()),
    );
    let probe = "{ kind = \"http\", path = \"/health\", interval = \"100ms\", timeout = \"300ms\", rise = 1, fall = 1, expect = [\"200-299\"] }";
    let s = start_dir(dir_with_config(&pool(
        probe,
        &[("192.0.2.10", 1, port), ("192.0.2.11", 1, other)],
        "",
    )))
    .await;
    assert!(served(s.addr, "192.0.2.10").await);
    status.store(503, Ordering::Relaxed);
    let out = wait_until(Duration::from_secs(3), || async {
        !served(s.addr, "192.0.2.10").await
    })
    .await;
    let (_, body) = http(s.admin(), "GET", "/status", "").await;
    assert!(out.is_some(), "503 takes the member out: {body}");
    status.store(302, Ordering::Relaxed);
    // Wait until a probe has seen the 302: only then does "not served" say anything.
    let saw_302 = wait_until(Duration::from_secs(3), || async {
        member_field(&s, 0, "last_probe_error").await == "http status 302"
    })
    .await;
    assert!(saw_302.is_some(), "a probe saw the 302");
    assert!(
        !served(s.addr, "192.0.2.10").await,
        "302 is outside expect = 200-299"
    );
    status.store(204, Ordering::Relaxed);
    until_served(&s, "192.0.2.10", true, "204 brings it back").await;
    s.stop().await;
}

/// A field of member `i` of the first pool in `/status`, as a string (`""` when null).
async fn member_field(s: &TestServer, i: usize, field: &str) -> String {
    let (_, body) = http(s.admin(), "GET", "/status", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    match &v["pools"][0]["members"][i][field] {
        serde_json::Value::String(x) => x.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probes_send_the_path_and_host_and_expect_2xx_3xx_by_default() {
    let (l, port) = bound().await;
    let status = Arc::new(AtomicU16::new(302));
    let head = Arc::new(Mutex::new(String::new()));
    let _srv = serve(l, Behaviour::Http(status.clone(), head.clone()));
    let (l2, good) = bound().await;
    let _good = serve(
        l2,
        Behaviour::Http(Arc::new(AtomicU16::new(200)), Arc::default()),
    );
    // No `host`: the pool's name. No `expect`: 200-399.
    let probe = "{ kind = \"http\", path = \"/healthz?deep=1\", interval = \"100ms\", timeout = \"300ms\", rise = 1, fall = 1 }";
    let s = start_dir(dir_with_config(&pool(
        probe,
        &[("192.0.2.10", 1, port), ("192.0.2.11", 1, good)],
        "",
    )))
    .await;
    let request = head.lock().unwrap().clone();
    assert!(
        request.starts_with("GET /healthz?deep=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("\r\nhost: www.example.com\r\n"),
        "{request}"
    );
    assert_eq!(
        member_field(&s, 0, "state").await,
        "up",
        "302 is healthy by default"
    );
    status.store(404, Ordering::Relaxed);
    until_served(&s, "192.0.2.10", false, "404 is not").await;
    assert_eq!(
        member_field(&s, 0, "last_probe_error").await,
        "http status 404"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_zero_member_stands_in_only_while_no_weighted_member_is_up() {
    let main = Deferred::new();
    let backup = Listener::open(0).await;
    let main_port = main.port;
    let s = start_dir(dir_with_config(&pool(
        FAST_TCP,
        &[("192.0.2.10", 0, backup.port), ("192.0.2.11", 5, main_port)],
        "",
    )))
    .await;
    // The weighted member is down (its port refuses): the stand-in answers, alone.
    let counts = draw_counts(s.addr, "www.example.com.", 30).await;
    assert_eq!(counts.get("192.0.2.10"), Some(&30), "{counts:?}");
    assert_eq!(member_field(&s, 0, "state").await, "up");
    // The weighted member comes up: the stand-in is never drawn again.
    let _main = main.open();
    until_served(&s, "192.0.2.11", true, "the weighted member comes up").await;
    let counts = draw_counts(s.addr, "www.example.com.", 60).await;
    assert_eq!(counts.get("192.0.2.11"), Some(&60), "{counts:?}");
    s.stop().await;
}

/// A pool of two members of weight 100 with `slow_start`: 192.0.2.10 is down until the caller
/// opens its listener (the `Deferred`), 192.0.2.11 up.
async fn one_member_recovering(slow_start: &str) -> (Deferred, Listener, TestServer) {
    let late = Deferred::new();
    let other = Listener::open(0).await;
    let s = start_dir(dir_with_config(&pool(
        FAST_TCP,
        &[
            ("192.0.2.10", 100, late.port),
            ("192.0.2.11", 100, other.port),
        ],
        &format!("slow_start = \"{slow_start}\"\n"),
    )))
    .await;
    (late, other, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_start_from_the_config_ramps_a_recovered_member() {
    let (late, _other, s) = one_member_recovering("60s").await;
    assert_eq!(member_field(&s, 0, "state").await, "down");
    let _late = late.open();
    let up = wait_until(Duration::from_secs(3), || async {
        member_field(&s, 0, "state").await == "up"
    })
    .await;
    assert!(up.is_some(), "the member comes back");
    // A minute's ramp from 10 %: a few seconds in, it is drawn with far less than its weight.
    let w: f64 = member_field(&s, 0, "effective_weight")
        .await
        .parse()
        .unwrap();
    assert!((10.0..=20.0).contains(&w), "effective weight {w} of 100");
    assert_eq!(member_field(&s, 1, "effective_weight").await, "100.0");
    let ramping: f64 = member_field(&s, 0, "slow_start_percent")
        .await
        .parse()
        .unwrap();
    assert!(
        (10.0..=20.0).contains(&ramping),
        "slow start at {ramping} %"
    );
    s.stop().await;
}

/// The draw follows slow start query by query (its weight changes with time, so the pool draws
/// from the members' cells while it ramps) and comes back to the weights once the ramp ends
/// (when the pool's draw table is built again: a table kept from the ramp would keep the
/// recovered member at a tenth).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draws_follow_a_slow_start_ramp_and_its_end() {
    let (late, _other, s) = one_member_recovering("4s").await;
    let _late = late.open();
    wait_until(Duration::from_secs(3), || async {
        served(s.addr, "192.0.2.10").await
    })
    .await
    .expect("the recovered member is drawn again");
    // Early in the ramp (10 % rising to 100 % over 4 s): well under half of the answers.
    let early = draw_counts(s.addr, "www.example.com.", 200).await;
    let share = *early.get("192.0.2.10").unwrap_or(&0) as f64 / 200.0;
    assert!(share < 0.35, "ramping member's share {share}: {early:?}");
    // After the ramp: both at weight 100, about half each.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = draw_counts(s.addr, "www.example.com.", 400).await;
    let share = *after.get("192.0.2.10").unwrap_or(&0) as f64 / 400.0;
    assert!(
        (0.38..=0.62).contains(&share),
        "share {share} after the ramp: {after:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_down_fails_open_or_answers_empty() {
    let members = [
        ("192.0.2.10", 1, closed_port()),
        ("192.0.2.11", 1, closed_port()),
    ];
    let s = start_dir(dir_with_config(&pool(FAST_TCP, &members, ""))).await;
    let counts = draw_counts(s.addr, "www.example.com.", 60).await;
    assert_eq!(
        counts.len(),
        2,
        "fail open: both still answered: {counts:?}"
    );
    let (_, body) = http(s.admin(), "GET", "/status", "").await;
    assert!(body.contains("\"all_members_down\":true"), "{body}");
    s.stop().await;

    let s = start_dir(dir_with_config(&pool(
        FAST_TCP,
        &members,
        "all_down = \"empty\"\n",
    )))
    .await;
    let r = udp(s.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty(), "NODATA");
    assert_eq!(r.authorities[0].record_type(), RecordType::SOA);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_percentages_steer_the_share() {
    let (la, pa) = bound().await;
    let (lb, pb) = bound().await;
    let line_a = Arc::new(Mutex::new("up 50%\n".to_string()));
    let line_b = Arc::new(Mutex::new("up 100%\n".to_string()));
    let _a = serve(la, Behaviour::Agent(line_a.clone()));
    let _b = serve(lb, Behaviour::Agent(line_b));
    // fall = 100: only the agent's own `down` can take a member down within the test.
    let probe = "{ kind = \"agent\", interval = \"100ms\", timeout = \"300ms\", fall = 100 }";
    let s = start_dir(dir_with_config(&pool(
        probe,
        &[("192.0.2.10", 10, pa), ("192.0.2.11", 10, pb)],
        "",
    )))
    .await;
    let counts = draw_counts(s.addr, "www.example.com.", 3000).await;
    let share = counts["192.0.2.10"] as f64 / 3000.0;
    assert!(
        (share - 1.0 / 3.0).abs() < 0.04,
        "50 % vs 100 %: share {share:.3}"
    );

    *line_a.lock().unwrap() = "drain\n".into();
    until_served(&s, "192.0.2.10", false, "drain takes the member out").await;
    *line_a.lock().unwrap() = "down\n".into();
    let down = wait_until(Duration::from_secs(3), || async {
        member_field(&s, 0, "state").await == "down"
    })
    .await;
    assert!(
        down.is_some(),
        "`down` takes the member down at once, fall = 100 or not"
    );
    assert_eq!(
        member_field(&s, 0, "last_probe_error").await,
        "agent reports down"
    );
    *line_a.lock().unwrap() = "ready up 100%\n".into();
    until_served(&s, "192.0.2.10", true, "ready brings it back").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_overrides_status_and_metrics_over_http() {
    let (_a, _b, s) = two_healthy_members().await;
    let admin = s.admin();

    // Drain: out at once.
    let (st, body) = http(
        admin,
        "POST",
        "/pools/www.example.com./members/192.0.2.11/drain",
        "",
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"state\":\"drained\""), "{body}");
    let counts = draw_counts(s.addr, "www.example.com.", 50).await;
    assert_eq!(counts.get("192.0.2.11"), None, "{counts:?}");
    let (st, _) = http(
        admin,
        "POST",
        "/pools/www.example.com/members/192.0.2.11/undrain",
        "",
    )
    .await;
    assert_eq!(st, 200);
    assert!(served(s.addr, "192.0.2.11").await);

    // Weight: 0 makes it a stand-in; the other takes everything.
    let (st, body) = http(
        admin,
        "POST",
        "/pools/www.example.com./members/192.0.2.10/weight",
        "0",
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let counts = draw_counts(s.addr, "www.example.com.", 50).await;
    assert_eq!(counts.get("192.0.2.11"), Some(&50), "{counts:?}");
    // Undrain does not clear a weight override; DELETE .../weight does.
    let (_, body) = http(
        admin,
        "POST",
        "/pools/www.example.com./members/192.0.2.10/undrain",
        "",
    )
    .await;
    assert!(body.contains("\"weight_override\":0"), "{body}");
    let (st, body) = http(
        admin,
        "DELETE",
        "/pools/www.example.com./members/192.0.2.10/weight",
        "",
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"weight_override\":null"), "{body}");
    assert!(body.contains("\"effective_weight\":1.0"), "{body}");
    assert!(served(s.addr, "192.0.2.10").await);
    let (st, body) = http(
        admin,
        "DELETE",
        "/pools/www.example.com./members/192.0.2.10/drain",
        "",
    )
    .await;
    assert_eq!(st, 404, "{body}");
    assert!(
        body.contains("use DELETE .../weight, or POST .../undrain"),
        "{body}"
    );
    // Set it again for the status checks below.
    let (st, _) = http(
        admin,
        "POST",
        "/pools/www.example.com./members/192.0.2.10/weight",
        "0",
    )
    .await;
    assert_eq!(st, 200);

    // Errors say why.
    for (path, body, status, needle) in [
        (
            "/pools/nope.example.com./members/192.0.2.10/drain",
            "",
            404,
            "no pool named nope.example.com.",
        ),
        (
            "/pools/www.example.com./members/192.0.2.99/drain",
            "",
            404,
            "has no member 192.0.2.99",
        ),
        (
            "/pools/www.example.com./members/192.0.2.10/weight",
            "lots",
            400,
            "non-negative integer",
        ),
        (
            "/pools/www.example.com./members/192.0.2.10/explode",
            "",
            404,
            "unknown action `explode`",
        ),
    ] {
        let (st, text) = http(admin, "POST", path, body).await;
        assert_eq!(st, status, "{path}: {text}");
        assert!(text.contains(needle), "{path}: {needle:?} in {text}");
    }

    // Status: weights, state, served counts, RTT.
    let (st, body) = http(admin, "GET", "/status", "").await;
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let m0 = &v["pools"][0]["members"][0];
    assert_eq!(m0["configured_weight"], 1);
    assert_eq!(m0["weight_override"], 0);
    assert_eq!(m0["effective_weight"].as_f64(), Some(0.0));
    // Typed and stable: probe settings as fields, RFC 3339 times, null where nothing is known.
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        v["zones"][0]["loaded"].as_str().unwrap().ends_with('Z'),
        "{}",
        v["zones"]
    );
    assert!(v["uptime_seconds"].as_u64().is_some());
    let probe = &v["pools"][0]["probe"];
    assert_eq!(
        (
            &probe["kind"],
            &probe["interval"],
            &probe["timeout"],
            &probe["rise"],
            &probe["fall"]
        ),
        (
            &serde_json::json!("tcp"),
            &serde_json::json!("100ms"),
            &serde_json::json!("200ms"),
            &serde_json::json!(2),
            &serde_json::json!(2)
        )
    );
    assert!(m0["last_probe"].as_str().unwrap().ends_with('Z'), "{m0}");
    assert!(m0["last_change"].as_str().unwrap().ends_with('Z'), "{m0}");
    assert_eq!(m0["rise_fall"]["rise"], 2);
    assert!(m0["agent_percent"].is_null(), "not an agent probe: {m0}");
    assert!(m0["slow_start_percent"].is_null());
    assert_eq!(m0["state"], "up");
    assert!(m0["rtt_ms"].as_f64().is_some());
    let m1 = &v["pools"][0]["members"][1];
    assert!(m1["served"].as_u64().unwrap() >= 50, "{m1}");

    // Metrics: Prometheus text with queries by rcode, member state, weights, served, probe latency.
    let (st, text) = http(admin, "GET", "/metrics", "").await;
    assert_eq!(st, 200);
    for needle in [
        "dnslb_responses_total{rcode=\"NOERROR\"}",
        "dnslb_member_up{pool=\"www.example.com.\",type=\"A\",member=\"192.0.2.10\"} 1",
        "dnslb_member_effective_weight{pool=\"www.example.com.\",type=\"A\",member=\"192.0.2.10\"} 0",
        "dnslb_member_served_total{pool=\"www.example.com.\",type=\"A\",member=\"192.0.2.11\"}",
        "dnslb_probe_duration_seconds_bucket{",
        "dnslb_reload_failures_total 0",
        "dnslb_member_state{pool=\"www.example.com.\",type=\"A\",member=\"192.0.2.10\",state=\"up\"} 1",
        "dnslb_member_state{pool=\"www.example.com.\",type=\"A\",member=\"192.0.2.10\",state=\"down\"} 0",
        "dnslb_queries_total{protocol=\"udp\",type=\"A\"}",
        "dnslb_build_info{version=\"0.1.0\"} 1",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_target_shared_by_two_pools_is_probed_once() {
    let (l, port) = bound().await;
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let _srv = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            drop(s);
        }
    });
    let probe = "{ kind = \"tcp\", interval = \"200ms\", timeout = \"200ms\" }";
    let two = format!(
        "{}\n[[pool]]\nname = \"api.example.com.\"\ntype = \"A\"\nprobe = {probe}\nmembers = [ {{ address = \"192.0.2.20\", weight = 1, check = \"127.0.0.1:{port}\" }} ]\n",
        pool(probe, &[("192.0.2.10", 1, port)], "")
    );
    let s = start_dir(dir_with_config(&two)).await;
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let n = accepted.load(Ordering::Relaxed);
    // One first-round probe plus about five rounds in a second; twice that if probed per pool.
    assert!((3..=8).contains(&n), "{n} probes in ~1 s");
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn slow_start_ramps_from_ten_percent() {
    use dnslb::health::TargetHealth;
    use dnslb::pool::{Candidate, Member, MemberState};
    let health = Arc::new(TargetHealth::default());
    let member = Member {
        record: hickory_proto::rr::Record::from_rdata(
            "www.example.com.".parse().unwrap(),
            30,
            hickory_proto::rr::RData::A("192.0.2.10".parse().unwrap()),
        ),
        label: "192.0.2.10".into(),
        weight: 100,
        check: None,
        state: Arc::new(MemberState::new()),
        health: Some(health.clone()),
    };
    let ss = Some(Duration::from_secs(30));
    health.set_up(false, true);
    assert_eq!(member.candidate(ss), Candidate::Unavailable);
    health.set_up(true, true);
    assert_eq!(member.candidate(ss), Candidate::Weighted(10));
    tokio::time::advance(Duration::from_secs(15)).await;
    assert_eq!(member.candidate(ss), Candidate::Weighted(55));
    tokio::time::advance(Duration::from_secs(15)).await;
    assert_eq!(member.candidate(ss), Candidate::Weighted(100));
    // Without slow start, full weight at once.
    health.set_up(false, true);
    health.set_up(true, true);
    assert_eq!(member.candidate(None), Candidate::Weighted(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_reads_status_and_changes_members() {
    let (_a, _b, s) = two_healthy_members().await;
    let admin = s.admin().to_string();
    let config = s.config();
    let run = |args: Vec<String>| {
        let config = config.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"))
                    .arg("--config")
                    .arg(&config)
                    .args(&args)
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let args = |list: &[&str]| -> Vec<String> {
        list.iter()
            .map(|a| a.to_string())
            .chain(["--admin".into(), admin.clone()])
            .collect()
    };
    let out = run(args(&["status"])).await;
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("POOL") && table.contains("LAST PROBE"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains("192.0.2.11"))
        .unwrap()
        .to_string();
    assert!(
        row.contains("www.example.com.") && row.contains(" up ") && row.contains("ok "),
        "{row}"
    );

    let out = run(args(&["drain", "www.example.com", "192.0.2.11"])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!served(s.addr, "192.0.2.11").await);
    let out = run(args(&["weight", "www.example.com", "192.0.2.10", "7"])).await;
    assert!(out.status.success());
    let out = run(args(&["status"])).await;
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = table
        .lines()
        .find(|l| l.contains("192.0.2.10"))
        .unwrap()
        .to_string();
    assert!(row.contains("7*"), "an override is marked: {row}");
    let row = table
        .lines()
        .find(|l| l.contains("192.0.2.11"))
        .unwrap()
        .to_string();
    assert!(row.contains("drained"), "{row}");
    let out = run(args(&[
        "weight",
        "www.example.com",
        "192.0.2.10",
        "--clear",
    ]))
    .await;
    assert!(out.status.success());
    let out = run(args(&["undrain", "www.example.com", "192.0.2.11"])).await;
    assert!(out.status.success());
    assert!(served(s.addr, "192.0.2.11").await);
    // Errors come back with the endpoint's reason and a failing exit.
    let out = run(args(&["drain", "www.example.com", "192.0.2.99"])).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no member 192.0.2.99"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool() {
    if !have_tool("promtool") {
        return;
    }
    let (_a, _b, s) = two_healthy_members().await;
    draw_counts(s.addr, "www.example.com.", 10).await;
    tcp(s.addr, "www.example.com.", RecordType::A).await;
    let (st, text) = http(s.admin(), "GET", "/metrics", "").await;
    assert_eq!(st, 200);
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("promtool finishes")
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
    assert!(
        text.contains("# TYPE dnslb_responses_total counter"),
        "{text}"
    );
    s.stop().await;
}

/// Thousands of new targets: the first round probes at most 1,024 of them before the swap, and
/// the rest are spread over the interval, never probed all at once (each refuses at once here:
/// nothing listens on 127.1.x.y).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_new_targets_are_probed_spread_over_the_interval() {
    const TARGETS: usize = 3000;
    const INTERVAL_S: f64 = 60.0;
    let port = closed_port();
    let members: Vec<String> = (0..TARGETS)
        .map(|i| {
            format!(
                "{{ address = \"127.1.{}.{}\", weight = 1 }}",
                i / 250,
                i % 250 + 1
            )
        })
        .collect();
    let pool = format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\nprobe = {{ kind = \"tcp\", port = {port}, interval = \"{INTERVAL_S}s\", timeout = \"1s\" }}\nmembers = [\n{}\n]\n",
        members.join(",\n")
    );
    let started = std::time::Instant::now();
    let s = start_dir(dir_with_config(&pool)).await;
    let (_, body) = http(s.admin(), "GET", "/status", "").await;
    let elapsed = started.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let members = v["pools"][0]["members"].as_array().unwrap();
    assert_eq!(members.len(), TARGETS);
    let probed = members
        .iter()
        .filter(|m| !m["last_probe"].is_null())
        .count();
    // The first round, plus what the spread allows since the swap (with a second's slack).
    let spread = (TARGETS as f64 * (elapsed + 1.0) / INTERVAL_S).ceil() as usize;
    assert!(
        (1024..=1024 + spread).contains(&probed),
        "{probed} of {TARGETS} targets probed {elapsed:.1} s after the start"
    );
    s.stop().await;
}
