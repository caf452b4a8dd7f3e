//! The status page in a real browser: headless Chromium (Debian's `chromium`) loads the admin
//! endpoint's `/`, runs its script against `/status`, and the rendered rows are read back; a
//! member whose listener is closed turns to `down`. A screenshot is kept as a test artifact in
//! `target/test-artifacts/status.png`. Skipped without `chromium`, unless
//! `DNSLB_REQUIRE_TOOLS=1`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;

/// Runs headless Chromium on `url` with `args` (bounded to 60 s); returns its stdout.
async fn chromium(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--no-default-browser-check",
                // No name is looked up: the page is on 127.0.0.1, and nothing else is fetched.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                // Let the page's script fetch /status and render before the dump.
                "--virtual-time-budget=4000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes within 60 s")
    .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The class of the rendered row of `member` (`up`, `down`, ...), from a DOM dump.
fn row_class(dom: &str, member: &str) -> Option<String> {
    let at = dom.find(&format!("data-member=\"{member}\""))?;
    let start = dom[..at].rfind("<tr")?;
    let tag = &dom[start..at];
    let class = tag.split("class=\"").nth(1)?;
    Some(class.split('"').next()?.to_string())
}

async fn member_state(admin: SocketAddr, member: &str) -> String {
    let (_, body) = http(admin, "GET", "/status", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["pools"][0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == member)
        .map(|m| m["state"].as_str().unwrap().to_string())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_a_member_going_down() {
    if !have_tool("chromium") {
        return;
    }
    let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let _a = tokio::spawn(async move { while a.accept().await.is_ok() {} });
    let b_task = tokio::spawn(async move { while b.accept().await.is_ok() {} });
    let pool = format!(
        "[[pool]]\nname = \"www.example.com.\"\ntype = \"A\"\n\
         probe = {{ kind = \"tcp\", interval = \"100ms\", timeout = \"200ms\", rise = 2, fall = 2 }}\n\
         members = [ {{ address = \"192.0.2.10\", weight = 3, check = \"127.0.0.1:{pa}\" }}, \
                     {{ address = \"192.0.2.11\", weight = 1, check = \"127.0.0.1:{pb}\" }} ]\n"
    );
    let s = start_dir(dir_with_config(&pool)).await;
    let url = format!("http://{}/", s.admin());
    draw_counts(s.addr, "www.example.com.", 40).await;

    let dom = chromium(&url, &["--dump-dom"]).await;
    assert!(
        dom.contains("www.example.com. A"),
        "the pool is rendered: {dom}"
    );
    assert_eq!(
        row_class(&dom, "192.0.2.10").as_deref(),
        Some("up"),
        "{dom}"
    );
    assert_eq!(
        row_class(&dom, "192.0.2.11").as_deref(),
        Some("up"),
        "{dom}"
    );

    // The listener goes away: within the failover time (interval × fall + timeout = 400 ms,
    // with generous slack) the member is down, and the page shows it.
    b_task.abort();
    let _ = b_task.await;
    let down = wait_until(Duration::from_secs(5), || async {
        member_state(s.admin(), "192.0.2.11").await == "down"
    })
    .await;
    assert!(down.is_some(), "the member went down");
    let dom = chromium(&url, &["--dump-dom"]).await;
    assert_eq!(
        row_class(&dom, "192.0.2.11").as_deref(),
        Some("down"),
        "{dom}"
    );
    assert_eq!(row_class(&dom, "192.0.2.10").as_deref(), Some("up"));

    // A screenshot, for people.
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1500,700",
        ],
    )
    .await;
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_a_secondary_zone_waiting_and_why() {
    if !have_tool("chromium") {
        return;
    }
    // The primary refuses connections: the zone waits for its first transfer.
    let port = closed_port();
    let secondary =
        format!("[[secondary]]\nzone = \"example.net.\"\nprimaries = [\"127.0.0.1:{port}\"]\n");
    let s = start_dir(dir_with_config(&secondary)).await;
    let failed = wait_until(Duration::from_secs(10), || async {
        let (_, body) = http(s.admin(), "GET", "/status", "").await;
        body.contains("SOA query")
    })
    .await;
    assert!(failed.is_some(), "the first refresh failed");
    let dom = chromium(&format!("http://{}/", s.admin()), &["--dump-dom"]).await;
    assert!(dom.contains("Secondary zones"), "{dom}");
    let at = dom
        .find("data-zone=\"example.net.\"")
        .expect("the zone's row");
    let row = &dom[dom[..at].rfind("<tr").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("class=\"waiting\""), "{row}");
    assert!(row.contains(&format!("127.0.0.1:{port}")), "{row}");
    assert!(row.contains("SOA query"), "the error is shown: {row}");
    s.stop().await;
}
