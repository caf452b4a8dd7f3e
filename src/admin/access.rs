//! Who may use the admin endpoint. Every request: the client is on loopback or in `admin.allow`,
//! and the Host header names an address or `localhost` (a DNS-rebinding page cannot reach us by a
//! name of its own). Requests that change something (POST, DELETE) also: no cross-origin browser
//! (a JSON content type or the `X-Dnslb-Admin` header is required, which no simple form POST can
//! send, and an `Origin` must match the Host), and the bearer token when one is configured.
//! Every refusal is a 401 or 403 that says why.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use serde_json::json;

/// The header a script can send instead of a JSON content type.
pub const ADMIN_HEADER: &str = "x-dnslb-admin";

/// The access rules of one endpoint.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The bearer token changes need, if any.
    pub token: Option<String>,
    /// Client networks allowed besides loopback.
    pub allow: Vec<IpNet>,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("client {0} is not in admin.allow")]
    Client(IpAddr),
    #[error("Host `{0}` is not an address or localhost")]
    Host(String),
    #[error("cross-origin request from `{0}` refused")]
    Origin(String),
    #[error("a change needs Content-Type: application/json or the X-Dnslb-Admin header")]
    SimpleRequest,
    #[error("a change needs Authorization: Bearer <admin token>")]
    Token,
}

/// Whether a client at `peer` may use the endpoint at all: loopback, or inside `allow` (an
/// IPv4-mapped IPv6 address is taken as its IPv4 address). The accept loop closes the others'
/// connections before they take a place; requests are checked again.
pub fn admitted(peer: IpAddr, allow: &[ipnet::IpNet]) -> bool {
    let peer = canonical(peer);
    peer.is_loopback() || allow.iter().any(|n| n.contains(&peer))
}

impl Access {
    /// Checks a request from `peer`.
    pub fn check(&self, peer: IpAddr, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        if !admitted(peer, &self.allow) {
            return Err(Refusal::Client(canonical(peer)));
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !host_is_address(host) {
            return Err(Refusal::Host(host.to_string()));
        }
        if matches!(*method, Method::GET | Method::HEAD) {
            return Ok(());
        }
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let origin_host = origin.split("://").nth(1).unwrap_or(origin);
            if origin_host != host {
                return Err(Refusal::Origin(origin.to_string()));
            }
        }
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        if !json && !headers.contains_key(ADMIN_HEADER) {
            return Err(Refusal::SimpleRequest);
        }
        if let Some(token) = &self.token {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|a| a.to_str().ok())
                .and_then(|a| a.strip_prefix("Bearer "));
            if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
                return Err(Refusal::Token);
            }
        }
        Ok(())
    }
}

/// An IPv4 client seen through an IPv6 socket is the IPv4 client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `127.0.0.1:8053`, `[::1]:8053`, `localhost:8053` and the like.
fn host_is_address(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.parse::<IpAddr>().is_ok() || name.eq_ignore_ascii_case("localhost")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: refuses what [`Access::check`] refuses.
pub async fn enforce(
    State(access): State<Arc<Access>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match access.check(peer.ip(), request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let status = match refusal {
                Refusal::Token => StatusCode::UNAUTHORIZED,
                _ => StatusCode::FORBIDDEN,
            };
            tracing::debug!(%peer, %refusal, "admin request refused");
            let mut response =
                (status, axum::Json(json!({ "error": refusal.to_string() }))).into_response();
            if refusal == Refusal::Token {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn who_is_admitted_at_accept() {
        let allow: Vec<ipnet::IpNet> = vec!["192.0.2.0/24".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(admitted(ip("127.0.0.1"), &[]));
        assert!(admitted(ip("::1"), &[]));
        assert!(admitted(ip("192.0.2.5"), &allow));
        assert!(
            admitted(ip("::ffff:192.0.2.5"), &allow),
            "IPv4-mapped, as a dual-stack listener sees it"
        );
        assert!(!admitted(ip("198.51.100.1"), &allow));
        assert!(!admitted(ip("::ffff:198.51.100.1"), &allow));
        assert!(!admitted(ip("2001:db8::1"), &allow));
    }

    #[test]
    fn the_rules() {
        let open = Access::default();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let far: IpAddr = "192.0.2.7".parse().unwrap();
        let host = ("host", "127.0.0.1:8053");
        assert_eq!(open.check(lo, &Method::GET, &headers(&[host])), Ok(()));
        assert_eq!(
            open.check(far, &Method::GET, &headers(&[host])),
            Err(Refusal::Client(far))
        );
        assert_eq!(
            open.check(lo, &Method::GET, &headers(&[("host", "evil.example:8053")])),
            Err(Refusal::Host("evil.example:8053".into()))
        );
        assert_eq!(
            open.check(lo, &Method::POST, &headers(&[host])),
            Err(Refusal::SimpleRequest)
        );
        assert_eq!(
            open.check(lo, &Method::POST, &headers(&[host, (ADMIN_HEADER, "1")])),
            Ok(())
        );
        assert_eq!(
            open.check(
                lo,
                &Method::POST,
                &headers(&[
                    host,
                    ("content-type", "application/json"),
                    ("origin", "http://evil.example")
                ])
            ),
            Err(Refusal::Origin("http://evil.example".into()))
        );
        let guarded = Access {
            token: Some("s3cret".into()),
            allow: vec!["192.0.2.0/24".parse().unwrap()],
        };
        let change = [host, (ADMIN_HEADER, "1")];
        assert_eq!(guarded.check(far, &Method::GET, &headers(&[host])), Ok(()));
        assert_eq!(
            guarded.check(far, &Method::POST, &headers(&change)),
            Err(Refusal::Token)
        );
        let with_token = [
            host,
            (ADMIN_HEADER, "1"),
            ("authorization", "Bearer s3cret"),
        ];
        assert_eq!(
            guarded.check(far, &Method::POST, &headers(&with_token)),
            Ok(())
        );
        assert!(host_is_address("[::1]:8053") && host_is_address("localhost"));
    }
}
