//! The SOA query of a refresh, over hickory-net's UDP client (one question, one answer; its
//! signature checked by hickory's TSIG verifier when the zone has a key), and the errors of a
//! refresh. Transfers are read by [`super::receive`], not by hickory-net's transfer stream,
//! which drops messages (hickory-dns issue #2049).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use crate::tsig::TsigKey;

/// The wait for a SOA answer.
const SOA_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a refresh from one primary failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The network or the protocol failed.
    #[error("{0}")]
    Net(String),
    /// The primary answered with an error rcode.
    #[error("the primary answered {0}")]
    Rcode(ResponseCode),
    /// The answer made no sense, or passed a limit.
    #[error("{0}")]
    Invalid(String),
}

fn net(e: impl std::fmt::Display) -> RefreshError {
    RefreshError::Net(e.to_string())
}

/// The serial of `origin`'s SOA at `primary`.
pub async fn soa_serial(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&TsigKey>,
) -> Result<u32, RefreshError> {
    let stream = UdpClientStream::builder(primary, TokioRuntimeProvider::default())
        .with_timeout(Some(SOA_TIMEOUT))
        .with_signer(key.map(|k| k.signer().clone()))
        .build();
    let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
    let background = tokio::spawn(background);
    let response = client
        .query(origin.clone(), DNSClass::IN, RecordType::SOA)
        .await;
    background.abort();
    let response = response.map_err(net)?;
    if response.response_code != ResponseCode::NoError {
        return Err(RefreshError::Rcode(response.response_code));
    }
    response
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(soa) if r.name.to_lowercase() == *origin => Some(soa.serial),
            _ => None,
        })
        .ok_or_else(|| RefreshError::Invalid("the primary's answer has no SOA for the zone".into()))
}
