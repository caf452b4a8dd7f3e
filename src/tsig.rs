//! TSIG (RFC 8945): the keys the config names, the check of a signed request, and the signing
//! of the responses to it. The MACs themselves are hickory-proto's ([`TSigner`]); what lives here
//! is the server's side of the exchange: which key a request must carry, what to answer when it
//! does not, and the chaining of a multi-message transfer's signatures (RFC 8945 §5.3.1).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::ProtoError;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError, make_tsig_record};
use hickory_proto::rr::{Name, TSigResponseContext, TSigner};
use hickory_proto::serialize::binary::BinEncoder;

use crate::config::RawTsig;

/// Seconds of clock difference a signature may have (RFC 8945 §10 recommends 300).
const FUDGE: u16 = 300;

/// A TSIG key: its name, algorithm and secret.
#[derive(Clone)]
pub struct TsigKey {
    signer: TSigner,
}

impl TsigKey {
    /// Reads a `tsig = { name, algorithm, secret_file | secret }` table; a secret file is
    /// relative to `base` (the config's directory).
    pub fn read(raw: &RawTsig, base: &Path) -> Result<Self, String> {
        let mut name = Name::from_ascii(&raw.name)
            .map_err(|e| format!("tsig.name: `{}` is not a domain name ({e})", raw.name))?;
        name.set_fqdn(true);
        let algorithm = match raw.algorithm.to_ascii_lowercase().trim_end_matches('.') {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => {
                return Err(format!(
                    "tsig.algorithm: `{other}` is not one of hmac-sha256, hmac-sha384, hmac-sha512"
                ));
            }
        };
        let text = match (&raw.secret_file, &raw.secret) {
            (Some(file), None) => {
                let path = base.join(file);
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("tsig.secret_file: cannot read {}: {e}", path.display()))?
            }
            (None, Some(secret)) => secret.clone(),
            _ => return Err("tsig: give one of secret_file and secret".to_string()),
        };
        let secret = data_encoding::BASE64
            .decode(text.trim().as_bytes())
            .map_err(|e| format!("tsig: the secret is not base64 ({e})"))?;
        if secret.is_empty() {
            return Err("tsig: the secret is empty".to_string());
        }
        let signer = TSigner::new(secret, algorithm, name.to_lowercase(), FUDGE)
            .map_err(|e| format!("tsig: {e}"))?;
        Ok(Self { signer })
    }

    /// The key's name (lower case).
    pub fn name(&self) -> &Name {
        self.signer.signer_name()
    }

    /// The hickory signer, for the transfer client.
    pub fn signer(&self) -> &TSigner {
        &self.signer
    }
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "TsigKey({} {})", self.name(), self.signer.algorithm())
    }
}

impl PartialEq for TsigKey {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
            && self.signer.algorithm() == other.signer.algorithm()
            && self.signer.key() == other.signer.key()
    }
}

impl Eq for TsigKey {}

/// Seconds since the epoch, as TSIG counts time.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a request's TSIG says, against the key the zone requires.
pub enum Check {
    /// No key is required and none was sent.
    Unsigned,
    /// Signed with the required key: sign the responses with this.
    Signed(ResponseSigner),
    /// Refused: the rcode, and the TSIG the error response carries (RFC 8945 §5.2), if any.
    Failed {
        /// REFUSED (no signature where one is required) or NOTAUTH.
        rcode: ResponseCode,
        /// Why, for the log.
        why: &'static str,
        /// The error response's TSIG record (BADKEY, BADSIG unsigned; BADTIME signed).
        tsig: Option<Box<hickory_proto::rr::Record<TSIG>>>,
    },
}

/// Checks the signature of `request` (its octets `bytes`) against `key`, the one the zone
/// requires (`None`: none required; a signed request is then checked against nothing and
/// refused, as NSD and Knot refuse a key they do not know).
pub fn check(bytes: &[u8], request: &Message, key: Option<&TsigKey>) -> Check {
    let id = request.metadata.id;
    let now = now();
    let Some(tsig) = request.signature() else {
        return match key {
            None => Check::Unsigned,
            Some(_) => Check::Failed {
                rcode: ResponseCode::Refused,
                why: "not signed with the zone's TSIG key",
                tsig: None,
            },
        };
    };
    let unknown = || Check::Failed {
        rcode: ResponseCode::NotAuth,
        why: "signed with an unknown TSIG key (BADKEY)",
        tsig: TSigResponseContext::unknown_key(id, now, tsig.name.clone())
            .sign(&[])
            .ok(),
    };
    let Some(key) = key else { return unknown() };
    if tsig.name.to_lowercase() != *key.name() || tsig.data.algorithm != *key.signer.algorithm() {
        return unknown();
    }
    let Ok((mac, _, range)) = key.signer.verify_message_byte(bytes, None, true) else {
        return Check::Failed {
            rcode: ResponseCode::NotAuth,
            why: "its TSIG signature does not verify (BADSIG)",
            tsig: TSigResponseContext::bad_signature(id, now, key.signer.clone())
                .sign(&[])
                .ok(),
        };
    };
    if !range.contains(&now) {
        // "A response indicating a BADTIME error MUST be signed by the same key."
        let context =
            TSigResponseContext::new(id, now, key.signer.clone(), mac, Some(TsigError::BadTime));
        let mut m = Message::error_msg(id, request.op_code, ResponseCode::NotAuth);
        m.metadata.message_type = hickory_proto::op::MessageType::Response;
        let tsig = m.to_vec().ok().and_then(|b| context.sign(&b).ok());
        return Check::Failed {
            rcode: ResponseCode::NotAuth,
            why: "its TSIG time is outside the allowed skew (BADTIME)",
            tsig,
        };
    }
    Check::Signed(ResponseSigner {
        signer: key.signer.clone(),
        prior_mac: mac,
        request_id: id,
        first: true,
    })
}

/// Signs the messages answering one signed request, each chained to the one before.
pub struct ResponseSigner {
    signer: TSigner,
    prior_mac: Vec<u8>,
    request_id: u16,
    first: bool,
}

impl ResponseSigner {
    /// `message`, encoded and signed. The first response's MAC covers the request's MAC and
    /// every TSIG variable; each later one the prior MAC, the message and the timers only
    /// (RFC 8945 §5.3.1).
    pub fn sign(&mut self, mut message: Message) -> Result<Vec<u8>, ProtoError> {
        let unsigned = message.to_vec()?;
        let now = now();
        let record = if self.first {
            let context = TSigResponseContext::new(
                self.request_id,
                now,
                self.signer.clone(),
                self.prior_mac.clone(),
                None,
            );
            context.sign(&unsigned)?
        } else {
            let mut tbs = Vec::with_capacity(unsigned.len() + self.prior_mac.len() + 10);
            let mut encoder = BinEncoder::new(&mut tbs);
            encoder.emit_u16(self.prior_mac.len() as u16)?;
            encoder.emit_vec(&self.prior_mac)?;
            encoder.emit_vec(&unsigned)?;
            encoder.emit_u16((now >> 32) as u16)?;
            encoder.emit_u32(now as u32)?;
            encoder.emit_u16(self.signer.fudge())?;
            let mac = self
                .signer
                .sign(&tbs)
                .map_err(|e| ProtoError::from(e.to_string()))?;
            let tsig = TSIG::new(
                self.signer.algorithm().clone(),
                now,
                self.signer.fudge(),
                mac,
                self.request_id,
                None,
                Vec::new(),
            );
            Box::new(make_tsig_record(self.signer.signer_name().clone(), tsig))
        };
        self.first = false;
        self.prior_mac = record.data.mac.clone();
        message.set_signature(record);
        message.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::RecordType;

    fn key(secret: &str, algorithm: &str) -> TsigKey {
        let raw = RawTsig {
            name: "xfr-key".into(),
            algorithm: algorithm.into(),
            secret_file: None,
            secret: Some(secret.into()),
        };
        TsigKey::read(&raw, Path::new(".")).expect("a valid key")
    }

    fn signed_axfr(with: &TsigKey) -> (Vec<u8>, Message) {
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(
            Name::from_ascii("example.com.").unwrap(),
            RecordType::AXFR,
        ));
        m.finalize(with.signer(), now()).unwrap();
        let bytes = m.to_vec().unwrap();
        (bytes.clone(), Message::from_vec(&bytes).unwrap())
    }

    #[test]
    fn a_request_signed_with_the_right_key_passes_and_others_fail() {
        let right = key("c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "hmac-sha256");
        let wrong = key("b3RoZXItb3RoZXItb3RoZXI=", "hmac-sha256");
        let (bytes, m) = signed_axfr(&right);
        assert!(matches!(check(&bytes, &m, Some(&right)), Check::Signed(_)));
        match check(&bytes, &m, Some(&wrong)) {
            Check::Failed { rcode, tsig, .. } => {
                assert_eq!(rcode, ResponseCode::NotAuth);
                assert_eq!(tsig.unwrap().data.error, Some(TsigError::BadSig));
            }
            _ => panic!("a wrong secret must fail"),
        }
        match check(&bytes, &m, None) {
            Check::Failed { rcode, tsig, .. } => {
                assert_eq!(rcode, ResponseCode::NotAuth);
                assert_eq!(tsig.unwrap().data.error, Some(TsigError::BadKey));
            }
            _ => panic!("a key we do not require is unknown"),
        }
        let mut plain = Message::new(7, MessageType::Query, OpCode::Query);
        plain.add_query(m.queries[0].clone());
        let bytes = plain.to_vec().unwrap();
        assert!(matches!(
            check(&bytes, &plain, Some(&right)),
            Check::Failed {
                rcode: ResponseCode::Refused,
                ..
            }
        ));
        assert!(matches!(check(&bytes, &plain, None), Check::Unsigned));
    }

    #[test]
    fn chained_responses_verify_with_hickorys_verifier() {
        let k = key("c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "hmac-sha512");
        let mut request = Message::new(9, MessageType::Query, OpCode::Query);
        request.add_query(Query::query(
            Name::from_ascii("example.com.").unwrap(),
            RecordType::AXFR,
        ));
        let mut verifier = request.finalize(k.signer(), now()).unwrap().unwrap();
        let bytes = request.to_vec().unwrap();
        let parsed = Message::from_vec(&bytes).unwrap();
        let Check::Signed(mut signer) = check(&bytes, &parsed, Some(&k)) else {
            panic!("signed request")
        };
        for _ in 0..3 {
            let mut m = Message::new(9, MessageType::Response, OpCode::Query);
            m.add_query(parsed.queries[0].clone());
            let out = signer.sign(m).unwrap();
            verifier
                .verify(&out)
                .expect("each message verifies in turn");
        }
    }

    #[test]
    fn bad_keys_are_explained() {
        let raw = |alg: &str, secret: Option<&str>| RawTsig {
            name: "k".into(),
            algorithm: alg.into(),
            secret_file: None,
            secret: secret.map(Into::into),
        };
        let err = TsigKey::read(&raw("hmac-md5", Some("AAAA")), Path::new(".")).unwrap_err();
        assert!(err.contains("hmac-md5"), "{err}");
        let err = TsigKey::read(&raw("hmac-sha256", Some("%%%")), Path::new(".")).unwrap_err();
        assert!(err.contains("base64"), "{err}");
        let err = TsigKey::read(&raw("hmac-sha256", None), Path::new(".")).unwrap_err();
        assert!(err.contains("secret_file"), "{err}");
    }
}
