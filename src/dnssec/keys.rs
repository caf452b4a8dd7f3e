//! A zone's signing keys, read from the files operators already make: BIND's key pairs
//! `K<zone>+<alg>+<tag>.key` (the DNSKEY record) and `.private` (the private key and, from
//! format v1.3, the timing metadata), as `dnssec-keygen`, `dnssec-settime`, `ldns-keygen` and
//! `keymgr` write them. The timings decide, at each moment, which keys are published, which
//! sign and which have their CDS/CDNSKEY published, as BIND's `auto-dnssec maintain` read them.
//!
//! ECDSAP256SHA256 (13) and ED25519 (15) sign, through ring; other algorithms are refused with
//! the file's name.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};

use crate::Problem;

/// DNSKEY flags: a zone key (256), and the secure entry point (257: a KSK).
const ZONE_KEY: u16 = 0x0100;
const SEP: u16 = 0x0001;

/// One key pair and its timings.
pub struct Key {
    /// The key tag (RFC 4034 Appendix B).
    pub tag: u16,
    /// The algorithm (13 or 15).
    pub algorithm: u8,
    /// DNSKEY flags (256 ZSK, 257 KSK).
    pub flags: u16,
    /// The DNSKEY RDATA.
    pub dnskey: Vec<u8>,
    /// When it is published, signs, stops signing, goes, and has its CDS published.
    pub timing: Timing,
    /// The `.private` file it came from.
    pub file: PathBuf,
    pair: Pair,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("tag", &self.tag)
            .field("algorithm", &self.algorithm)
            .field("flags", &self.flags)
            .field("timing", &self.timing)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// The private half, ready to sign.
enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A key's timing metadata, in seconds since the epoch (`None`: not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    /// Created.
    pub created: Option<u64>,
    /// In the DNSKEY RRset from.
    pub publish: Option<u64>,
    /// Signs from.
    pub activate: Option<u64>,
    /// Signs no more from (still published).
    pub inactive: Option<u64>,
    /// Out of the DNSKEY RRset from.
    pub delete: Option<u64>,
    /// CDS and CDNSKEY published from (RFC 7344).
    pub sync_publish: Option<u64>,
    /// CDS and CDNSKEY gone from.
    pub sync_delete: Option<u64>,
}

/// What a key does at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not yet published.
    Created,
    /// In the DNSKEY RRset, not signing (a pre-published or retired key).
    Published,
    /// Published and signing.
    Active,
    /// Signing no more, still published.
    Inactive,
    /// Out of the DNSKEY RRset.
    Removed,
}

impl State {
    /// The state's name, as `/status` and `check` print it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Published => "published",
            State::Active => "active",
            State::Inactive => "retired",
            State::Removed => "removed",
        }
    }
}

impl Timing {
    /// Every timing set, as (name, when).
    fn all(&self) -> [(&'static str, Option<u64>); 7] {
        [
            ("created", self.created),
            ("publish", self.publish),
            ("activate", self.activate),
            ("inactive", self.inactive),
            ("delete", self.delete),
            ("sync-publish", self.sync_publish),
            ("sync-delete", self.sync_delete),
        ]
    }

    /// The first timing after `now`, with its name.
    pub fn next_after(&self, now: u64) -> Option<(&'static str, u64)> {
        self.all()
            .into_iter()
            .filter_map(|(n, t)| Some((n, t?)))
            .filter(|&(_, t)| t > now)
            .min_by_key(|&(_, t)| t)
    }
}

/// Whether `when` (unset: never) has come by `now`.
fn reached(when: Option<u64>, now: u64) -> bool {
    when.is_some_and(|t| t <= now)
}

impl Key {
    /// A KSK (the SEP flag).
    pub fn is_ksk(&self) -> bool {
        self.flags & SEP != 0
    }

    /// Its state at `now`. A key with neither Publish nor Activate set (as `ldns-keygen` makes
    /// them) is published and signs; Publish alone pre-publishes it; Activate alone publishes
    /// it when it starts to sign.
    pub fn state(&self, now: u64) -> State {
        let t = &self.timing;
        if reached(t.delete, now) {
            return State::Removed;
        }
        let published = match (t.publish, t.activate) {
            (None, None) => true,
            (Some(p), _) => p <= now,
            (None, Some(a)) => a <= now,
        };
        if !published {
            return State::Created;
        }
        if reached(t.inactive, now) {
            return State::Inactive;
        }
        match t.activate {
            Some(a) if a > now => State::Published,
            None if t.publish.is_some() => State::Published,
            _ => State::Active,
        }
    }

    /// Whether its CDS and CDNSKEY are published at `now` (a published KSK inside its
    /// SyncPublish..SyncDelete).
    pub fn syncs(&self, now: u64) -> bool {
        self.is_ksk()
            && matches!(self.state(now), State::Active | State::Published)
            && reached(self.timing.sync_publish, now)
            && !reached(self.timing.sync_delete, now)
    }

    /// Signs `data` (an RRSIG's RDATA before the signature, then the RRset in canonical form).
    pub fn sign(&self, data: &[u8]) -> Option<Vec<u8>> {
        match &self.pair {
            Pair::Ecdsa(k) => k
                .sign(&SystemRandom::new(), data)
                .ok()
                .map(|s| s.as_ref().to_vec()),
            Pair::Ed25519(k) => Some(k.sign(data).as_ref().to_vec()),
        }
    }

    /// The DS RDATA for this key, SHA-256 (digest type 2), owned by `origin` (RFC 4509).
    pub fn ds(&self, origin: &Name) -> Vec<u8> {
        let digest = self.ds_digest(origin, 2).unwrap_or_default();
        let mut out = Vec::with_capacity(4 + 32);
        out.extend_from_slice(&self.tag.to_be_bytes());
        out.push(self.algorithm);
        out.push(2);
        out.extend_from_slice(&digest);
        out
    }

    /// The digest of a DS of `digest_type` (1 SHA-1, 2 SHA-256, 4 SHA-384) for this key owned
    /// by `origin` (RFC 4034 §5.1.4); `None` for another type.
    pub fn ds_digest(&self, origin: &Name, digest_type: u8) -> Option<Vec<u8>> {
        let algorithm = match digest_type {
            1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            2 => &ring::digest::SHA256,
            4 => &ring::digest::SHA384,
            _ => return None,
        };
        let mut input = crate::prepare::wire_lower(origin).to_vec();
        input.extend_from_slice(&self.dnskey);
        Some(ring::digest::digest(algorithm, &input).as_ref().to_vec())
    }
}

/// The key tag of a DNSKEY RDATA (RFC 4034 Appendix B).
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for (i, b) in rdata.iter().enumerate() {
        acc += if i & 1 == 0 {
            u32::from(*b) << 8
        } else {
            u32::from(*b)
        };
    }
    acc += (acc >> 16) & 0xffff;
    (acc & 0xffff) as u16
}

/// Reads every key pair of `origin` in `dir` (files `K<origin>+<alg>+<tag>.private` with their
/// `.key`); a file that cannot be used is a problem naming it, and the other keys still load.
pub fn read_dir(dir: &Path, origin: &Name, problems: &mut Vec<Problem>) -> Vec<Arc<Key>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Problem::file(
                dir,
                format!("cannot read the key directory: {e}"),
            ));
            return Vec::new();
        }
    };
    let prefix = format!("k{}+", origin.to_ascii().to_ascii_lowercase());
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.to_ascii_lowercase().starts_with(&prefix) && name.ends_with(".private")
        })
        .collect();
    paths.sort();
    let mut keys = Vec::new();
    for private in paths {
        match read_pair(&private, origin) {
            Ok(k) => keys.push(Arc::new(k)),
            Err(msg) => problems.push(Problem::file(&private, msg)),
        }
    }
    if keys.is_empty() && problems.is_empty() {
        problems.push(Problem::file(
            dir,
            format!("no key pair for {origin} (files K{origin}+013+NNNNN.key and .private)"),
        ));
    }
    keys
}

/// The key pair whose private half is `private`.
fn read_pair(private: &Path, origin: &Name) -> Result<Key, String> {
    let public = private.with_extension("key");
    let key_text = std::fs::read_to_string(&public)
        .map_err(|e| format!("cannot read {}: {e}", public.display()))?;
    let private_text =
        std::fs::read_to_string(private).map_err(|e| format!("cannot read the file: {e}"))?;
    let dnskey = dnskey_of(&key_text, origin).map_err(|e| format!("{}: {e}", public.display()))?;
    let fields = fields(&private_text);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let algorithm = dnskey[3];
    let declared = field("Algorithm")
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse::<u8>().ok());
    if declared != Some(algorithm) {
        return Err(format!(
            "its Algorithm does not match the DNSKEY's ({algorithm}) in {}",
            public.display()
        ));
    }
    let secret = field("PrivateKey")
        .and_then(|b| data_encoding::BASE64.decode(b.as_bytes()).ok())
        .ok_or("no PrivateKey line in base64 (RSA keys are not supported: use 13 or 15)")?;
    let pair = pair(algorithm, &secret, &dnskey[4..])?;
    let mut timing = timing_of(&fields);
    if timing == Timing::default() {
        // Older formats keep the timings as comments in the .key file only.
        timing = timing_of(&comment_fields(&key_text));
    }
    Ok(Key {
        tag: key_tag(&dnskey),
        algorithm,
        flags: u16::from_be_bytes([dnskey[0], dnskey[1]]),
        dnskey,
        timing,
        file: private.to_path_buf(),
        pair,
    })
}

/// The signing half for `algorithm` from the private key octets and the DNSKEY's public key.
fn pair(algorithm: u8, secret: &[u8], public: &[u8]) -> Result<Pair, String> {
    match algorithm {
        13 => {
            // DNSKEY holds x || y; ring wants the uncompressed point 04 || x || y.
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(public);
            // BIND writes the scalar as a number: without its leading zero octets (one key in
            // 256 has one); ring wants all 32.
            let mut scalar = [0u8; 32];
            let Some(start) = 32usize.checked_sub(secret.len()) else {
                return Err("the private key is longer than a P-256 scalar".into());
            };
            scalar[start..].copy_from_slice(secret);
            EcdsaKeyPair::from_private_key_and_public_key(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &scalar,
                &point,
                &SystemRandom::new(),
            )
            .map(Pair::Ecdsa)
            .map_err(|_| "the private key does not match the DNSKEY's public key".into())
        }
        15 => Ed25519KeyPair::from_seed_and_public_key(secret, public)
            .map(Pair::Ed25519)
            .map_err(|_| "the private key does not match the DNSKEY's public key".into()),
        other => Err(format!(
            "algorithm {other} cannot sign here: use ECDSAP256SHA256 (13) or ED25519 (15)"
        )),
    }
}

/// The DNSKEY RDATA of the record in a `.key` file (comments aside), owned by `origin`.
fn dnskey_of(text: &str, origin: &Name) -> Result<Vec<u8>, String> {
    let line = text
        .lines()
        .map(|l| l.split(';').next().unwrap_or_default().trim())
        .find(|l| !l.is_empty())
        .ok_or("no DNSKEY record")?;
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let at = tokens
        .iter()
        .position(|t| t.eq_ignore_ascii_case("DNSKEY"))
        .ok_or("no DNSKEY record")?;
    let owner = Name::from_ascii(tokens[0]).map_err(|e| format!("owner: {e}"))?;
    if !owner.eq_case(origin) && owner.to_lowercase() != origin.to_lowercase() {
        return Err(format!("the key is for {owner}, not {origin}"));
    }
    let [flags, protocol, algorithm, key @ ..] = &tokens[at + 1..] else {
        return Err("a DNSKEY needs flags, protocol, algorithm and key".into());
    };
    let flags: u16 = flags.parse().map_err(|_| "flags are not a number")?;
    if flags & ZONE_KEY == 0 {
        return Err("not a zone key (flags without 256)".into());
    }
    let protocol: u8 = protocol.parse().map_err(|_| "protocol is not a number")?;
    let algorithm: u8 = algorithm.parse().map_err(|_| "algorithm is not a number")?;
    let key = data_encoding::BASE64
        .decode(key.concat().as_bytes())
        .map_err(|e| format!("public key: {e}"))?;
    let mut rdata = Vec::with_capacity(4 + key.len());
    rdata.extend_from_slice(&flags.to_be_bytes());
    rdata.push(protocol);
    rdata.push(algorithm);
    rdata.extend_from_slice(&key);
    Ok(rdata)
}

/// The `Name: value` lines of a `.private` file.
fn fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The `; Name: value (...)` comments of a `.key` file.
fn comment_fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(';'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            let v = v.split_whitespace().next().unwrap_or_default();
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// The timings among `fields` (BIND's names, YYYYMMDDHHMMSS in UTC).
fn timing_of(fields: &[(String, String)]) -> Timing {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| parse_time(v))
    };
    Timing {
        created: get("Created"),
        publish: get("Publish"),
        activate: get("Activate"),
        inactive: get("Inactive"),
        delete: get("Delete"),
        sync_publish: get("SyncPublish"),
        sync_delete: get("SyncDelete"),
    }
}

/// YYYYMMDDHHMMSS (UTC) in seconds since the epoch.
pub fn parse_time(text: &str) -> Option<u64> {
    let digits = text.split_whitespace().next()?;
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<u64>().ok();
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + s)
}

/// Days from 1970-01-01 to the date (Howard Hinnant's algorithm), for years from 1970.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// Seconds since the epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A time in seconds since the epoch as YYYYMMDDHHMMSS (UTC), as the key files write it.
pub fn format_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // civil_from_days (Howard Hinnant).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Whether the private key file can be read by others than its owner (a `check` warning).
pub fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair as _;

    #[test]
    fn times_read_and_written_as_bind_does() {
        assert_eq!(parse_time("19700101000000"), Some(0));
        assert_eq!(parse_time("20261207165500"), Some(1_796_662_500));
        assert_eq!(format_time(1_796_662_500), "20261207165500");
        assert_eq!(parse_time("2026120716550"), None);
        assert_eq!(parse_time("20261307165500"), None);
    }

    #[test]
    fn key_tag_of_rfc_4034_example() {
        // RFC 4034 §5.4's DNSKEY of dskey.example.com has key tag 60485.
        let key = data_encoding::BASE64
            .decode(
                b"AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==",
            )
            .unwrap();
        let mut rdata = vec![1, 0, 3, 5];
        rdata.extend_from_slice(&key);
        assert_eq!(key_tag(&rdata), 60485);
    }

    #[test]
    fn states_follow_the_timings() {
        let t = Timing {
            publish: Some(100),
            activate: Some(200),
            inactive: Some(300),
            delete: Some(400),
            ..Timing::default()
        };
        let state = |now| state_of(t, now);
        assert_eq!(state(50), State::Created);
        assert_eq!(state(100), State::Published);
        assert_eq!(state(250), State::Active);
        assert_eq!(state(350), State::Inactive);
        assert_eq!(state(400), State::Removed);
        assert_eq!(state_of(Timing::default(), 0), State::Active);
        let prepublished = Timing {
            publish: Some(0),
            ..Timing::default()
        };
        assert_eq!(state_of(prepublished, 10), State::Published);
        assert_eq!(t.next_after(250), Some(("inactive", 300)));
    }

    /// A P-256 scalar BIND wrote without its leading zero octet (one key in 256) still loads.
    #[test]
    fn a_short_ecdsa_scalar_is_padded() {
        let rng = SystemRandom::new();
        // ring's PKCS#8 for P-256: the scalar at octets 36..68, the point 04 || x || y last.
        let (scalar, public) = loop {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let doc = doc.as_ref();
            if doc[36] == 0 {
                break (doc[37..68].to_vec(), doc[doc.len() - 64..].to_vec());
            }
        };
        assert_eq!(scalar.len(), 31);
        assert!(pair(13, &scalar, &public).is_ok());
    }

    fn state_of(timing: Timing, now: u64) -> State {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
        let mut dnskey = vec![1, 0, 3, 15];
        dnskey.extend_from_slice(pair.public_key().as_ref());
        Key {
            tag: key_tag(&dnskey),
            algorithm: 15,
            flags: 256,
            dnskey,
            timing,
            file: PathBuf::new(),
            pair: Pair::Ed25519(pair),
        }
        .state(now)
    }
}
