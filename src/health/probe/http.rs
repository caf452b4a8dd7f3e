//! `http`: `GET path` with a `Host` header; healthy when the status is in `expect`.

use std::ops::RangeInclusive;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::ProbeError;

/// Sends one request over `stream` and checks the status.
pub async fn check(
    stream: TcpStream,
    path: &str,
    host: &str,
    expect: &[RangeInclusive<u16>],
) -> Result<(), ProbeError> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ProbeError::Http(e.to_string()))?;
    let req = http::Request::get(path)
        .header(http::header::HOST, host)
        .header(http::header::USER_AGENT, "dnslb-probe")
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| ProbeError::Http(e.to_string()))?;
    let mut conn = std::pin::pin!(conn);
    let mut send = std::pin::pin!(sender.send_request(req));
    // Drive the connection until the response arrives; when the connection ends first (it may,
    // with `Connection: close`), the response is already waiting in `send`.
    let resp = tokio::select! {
        r = &mut send => r,
        c = &mut conn => match c {
            Ok(()) => send.await,
            Err(e) => return Err(ProbeError::Http(e.to_string())),
        },
    }
    .map_err(|e| ProbeError::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    if expect.iter().any(|r| r.contains(&status)) {
        Ok(())
    } else {
        Err(ProbeError::Status(status))
    }
}
