//! `dnslb status`, `drain`, `undrain` and `weight`: the admin endpoint from the command line,
//! as `gdnsdctl` and `knotc` are to their servers. The address and token come from the config
//! (`[admin]`), or `--admin`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where the admin endpoint is, and the token changes need.
#[derive(Debug, Clone)]
pub struct Control {
    addr: SocketAddr,
    token: Option<String>,
}

impl Control {
    /// From the config's `[admin]` section; `admin` overrides the address.
    pub fn from_config(config: &Path, admin: Option<SocketAddr>) -> Result<Self, String> {
        let settings = crate::load::read_settings(config).map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let section = settings.admin.as_ref();
        let mut addr = admin
            .or(section.map(|a| a.listen))
            .ok_or("the config has no [admin] section: give --admin ADDRESS")?;
        if addr.ip().is_unspecified() {
            // Listening everywhere: talk to it over loopback.
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        Ok(Self {
            addr,
            token: section.and_then(|a| a.token.clone()),
        })
    }

    /// One request; returns the status and the body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<(u16, String), String> {
        let unreachable = |e: &dyn std::fmt::Display| format!("admin endpoint {}: {e}", self.addr);
        let stream = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::net::TcpStream::connect(self.addr),
        )
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|e| unreachable(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.addr.to_string())
            .header(crate::admin::ADMIN_HEADER, "1");
        if let Some(token) = &self.token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(bytes::Bytes::from(body.to_string())))
            .map_err(|e| unreachable(&e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The `/status` JSON as a table: one line per member.
pub fn status_table(json: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not a status: {e}"))?;
    let mut out = String::new();
    let _ = writeln!(out, "generation {}", v["generation"]);
    for z in v["zones"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "zone {} serial {} ({} names)",
            text(&z["origin"]),
            z["serial"],
            z["names"]
        );
    }
    let _ = writeln!(
        out,
        "{:<28} {:<5} {:<11} {:<26} {:<9} {:>6} {:>9} {:>9}  LAST PROBE",
        "POOL", "TYPE", "POLICY", "MEMBER", "STATE", "WEIGHT", "EFFECTIVE", "SERVED"
    );
    for p in v["pools"].as_array().into_iter().flatten() {
        for m in p["members"].as_array().into_iter().flatten() {
            let weight = match &m["weight_override"] {
                Value::Null => m["configured_weight"].to_string(),
                o => format!("{o}*"),
            };
            let probe = match (&m["last_probe_ok"], &m["last_probe_error"], &m["rtt_ms"]) {
                (Value::Bool(true), _, rtt) => format!("ok {rtt} ms"),
                (Value::Bool(false), err, _) => format!("failed: {}", text(err)),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "{:<28} {:<5} {:<11} {:<26} {:<9} {:>6} {:>9} {:>9}  {}",
                text(&p["name"]),
                text(&p["type"]),
                text(&p["policy"]),
                text(&m["member"]),
                text(&m["state"]),
                weight,
                m["effective_weight"].to_string(),
                m["served"].to_string(),
                probe
            );
        }
    }
    for problem in v["problems"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "problem: {}", text(problem));
    }
    Ok(out)
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}
