//! The TOML configuration as written by the operator: raw serde structs that stay close to the
//! file (unknown keys are errors), and the error type that names the file, the line and the key.
//!
//! Closed sets (a pool's type, a probe's kind, the all-down rule) are enums here, each with the
//! message an operator needs when the value is not one of them. Validation into domain objects
//! (pools bound to zones, probes with parsed durations) happens in [`crate::load`], the one
//! pipeline that start-up, reload and `dnslb check` share.

use std::path::Path;

use serde::Deserialize;

use crate::Problem;
use toml::Spanned;

/// The whole `dnslb.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[server]`: sockets and the zone directory.
    pub server: RawServer,
    /// `[admin]`: the HTTP admin endpoint; off when absent.
    pub admin: Option<RawAdmin>,
    /// `[geoip]`: MaxMind databases the `geo` policy steers by.
    pub geoip: Option<Spanned<RawGeoip>>,
    /// `[[pool]]`: weighted record sets.
    #[serde(default)]
    pub pool: Vec<Spanned<RawPool>>,
    /// `[[zone]]`: per-zone settings (transfers out).
    #[serde(default)]
    pub zone: Vec<Spanned<RawZone>>,
    /// `[[secondary]]`: zones pulled from primaries by AXFR/IXFR.
    #[serde(default)]
    pub secondary: Vec<Spanned<RawSecondary>>,
}

/// `[[secondary]]`: a zone transferred from primaries instead of read from the zone directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecondary {
    /// The zone's origin.
    pub zone: Spanned<String>,
    /// Where to transfer it from (`address:port`, port 53 when left out), tried in order.
    pub primaries: Vec<Spanned<String>>,
    /// The TSIG key that signs SOA queries, transfers and NOTIFY, if any.
    pub tsig: Option<Spanned<RawTsig>>,
    /// Addresses whose NOTIFY is heeded; default: the primaries'.
    pub allow_notify: Option<Vec<Spanned<String>>>,
    /// A copy of the last transfer on disk (a zone file), relative to the config file: a
    /// restart serves it at once.
    pub cache_file: Option<Spanned<String>>,
    /// Records one transfer may bring at most (default 10,000,000).
    pub max_records: Option<Spanned<u64>>,
    /// Octets one transfer may bring at most (default 2 GiB).
    pub max_octets: Option<Spanned<u64>>,
    /// The longest wait for a transfer's next message (default `10s`).
    pub idle_timeout: Option<Spanned<String>>,
    /// A limit on a whole transfer (default: none; the idle timeout and the limits above bound it).
    pub transfer_timeout: Option<Spanned<String>>,
}

/// A TSIG key (RFC 8945): its name, algorithm and base64 secret (in a file, or inline).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTsig {
    /// The key's name, as the peer knows it.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: String,
    /// A file holding the base64 secret, relative to the config file.
    pub secret_file: Option<String>,
    /// The base64 secret itself.
    pub secret: Option<String>,
}

/// `[[zone]]`: what a zone of the zone directory allows besides answering.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    /// The zone's origin (a file `NAME.zone` in the zone directory).
    pub name: Spanned<String>,
    /// Client networks that may transfer the zone (AXFR, IXFR) over TCP; none by default.
    #[serde(default)]
    pub allow_transfer: Vec<Spanned<String>>,
    /// Secondaries sent a NOTIFY when a reload changes the zone's serial (`address:port`).
    #[serde(default)]
    pub notify: Vec<Spanned<String>>,
    /// The TSIG key transfers (and our NOTIFY) must be signed with, if any.
    pub tsig: Option<Spanned<RawTsig>>,
    /// dnslb signs the zone with these keys and settings.
    pub dnssec: Option<Spanned<RawDnssec>>,
}

/// `[[zone]] dnssec = { keys = "..." }`: online signing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDnssec {
    /// The directory of the zone's BIND-format key files, relative to the config file.
    pub keys: String,
    /// `nsec3` (the default: RFC 9276's parameters) or `nsec`.
    pub denial: Option<String>,
    /// How long signatures are valid (default `14d`).
    pub validity: Option<String>,
    /// A pool with more possible RRsets than this is not signed ahead whole (default 4096).
    pub pool_limit: Option<usize>,
    /// The DS records the parent publishes (`TAG ALG DIGEST-TYPE HEX`, or a whole DS line):
    /// `check` warns when they do not lead to the keys.
    pub ds: Option<Vec<toml::Spanned<String>>>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Each address is served on UDP and TCP.
    pub listen: Vec<Spanned<String>>,
    /// Directory of `NAME.zone` files, relative to the config file.
    #[serde(default = "default_zones")]
    pub zones: String,
    /// Reload when a zone file or the config changes on disk.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// Concurrent DNS TCP connections at most (NSD's default, 100).
    #[serde(default = "default_tcp_max")]
    pub tcp_max: usize,
    /// `[server.rrl]`: response rate limiting over UDP; off when absent.
    pub rrl: Option<RawRrl>,
    /// What `id.server`, `hostname.bind` and NSID say (default: the host name; "": nothing).
    pub identity: Option<String>,
    /// Whether `version.server` and `version.bind` say the version (default: no).
    #[serde(default)]
    pub version: bool,
}

/// `[server.rrl]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRrl {
    /// Responses per second per (client network, kind of response, name).
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent truncated (default 2; 0: never).
    pub slip: Option<u32>,
    /// Seconds of debt a flood may build up (default 15).
    pub window: Option<u32>,
    /// IPv4 clients are grouped by this prefix (default 24).
    pub ipv4_prefix: Option<u8>,
    /// IPv6 clients are grouped by this prefix (default 56).
    pub ipv6_prefix: Option<u8>,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Address of the HTTP listener; loopback port 8053 by default.
    #[serde(default = "default_admin_listen")]
    pub listen: Spanned<String>,
    /// File holding the bearer token that mutating requests must carry (required when `listen`
    /// is not a loopback address), relative to the config file.
    pub token_file: Option<String>,
    /// Client networks allowed besides loopback (`["192.0.2.0/24"]`); required when `listen` is
    /// not a loopback address.
    pub allow: Option<Vec<Spanned<String>>>,
    /// Concurrent connections at most (default 32); more are closed at once.
    pub max_connections: Option<usize>,
    /// A connection that sends no complete request for this long is closed (default `"10s"`).
    pub idle_timeout: Option<String>,
}

/// One `[[pool]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    /// Owner name of the pool; must lie inside one of our zones.
    pub name: String,
    /// `A`, `AAAA` or `CNAME`.
    #[serde(rename = "type")]
    pub rtype: PoolType,
    /// TTL of the answers.
    pub ttl: Option<u32>,
    /// How many distinct members one answer carries (A/AAAA only).
    pub answers: Option<i64>,
    /// The weighted members.
    pub members: Vec<Spanned<RawMember>>,
    /// How the members are probed; absent means always healthy.
    pub probe: Option<RawProbe>,
    /// Ramp a recovered member from 10 % to 100 % over this time (`"30s"`).
    pub slow_start: Option<String>,
    /// `"open"` (default: answer as if all were up) or `"empty"` (NODATA) when every member is down.
    pub all_down: Option<AllDownMode>,
    /// How members are chosen (default `weighted`).
    pub policy: Option<PolicyName>,
    /// Failover only: share of answers sent to the next tier while the first is available.
    pub trickle: Option<f64>,
    /// Hash and region only: steer by EDNS Client Subnet when the query has it (default true).
    pub ecs: Option<bool>,
    /// Region only: each region's client networks.
    pub regions: Option<std::collections::BTreeMap<String, Vec<Spanned<String>>>>,
    /// Geo only: each datacenter's members, by label.
    pub datacenters: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// Geo only: locations (continent, `CONTINENT/COUNTRY`, `CONTINENT/COUNTRY/SUBDIVISION`,
    /// `ASnnn`, a network, `default`) to the ordered datacenters that serve them.
    pub map: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// Geo only: order the datacenters by distance from the client instead of by `map`.
    pub closest: Option<bool>,
    /// Geo only, with `closest`: each datacenter's latitude and longitude.
    pub coordinates: Option<std::collections::BTreeMap<String, [f64; 2]>>,
}

/// `[geoip]`: MaxMind DB files (GeoIP2 / GeoLite2 City or Country, ASN, or any mmdb with the
/// same fields), relative to the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeoip {
    /// A City or Country database: continent, country, subdivisions, coordinates.
    pub city: Option<String>,
    /// An ASN database: the network's autonomous system number.
    pub asn: Option<String>,
}

/// One member of a pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    /// An IPv4 or IPv6 address (A and AAAA pools).
    pub address: Option<String>,
    /// A domain name (CNAME pools).
    pub target: Option<String>,
    /// Relative weight; a non-negative integer.
    pub weight: i64,
    /// `host:port` probed instead of the served address.
    pub check: Option<String>,
    /// Failover only: the member's tier (lowest first; default 1).
    pub priority: Option<u32>,
    /// Region only: the region the member serves.
    pub region: Option<String>,
}

/// The `probe = { ... }` table of a pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// `tcp`, `http` or `agent`.
    pub kind: ProbeKindName,
    /// Port probed on the member's address (unless the member has `check`).
    pub port: Option<u16>,
    /// Time between probes (`"5s"`).
    pub interval: Option<String>,
    /// Time a probe may take (`"2s"`).
    pub timeout: Option<String>,
    /// Successes in a row that bring a member up.
    pub rise: Option<u32>,
    /// Failures in a row that take a member down.
    pub fall: Option<u32>,
    /// HTTP path (http probes).
    pub path: Option<String>,
    /// HTTP Host header (http probes); defaults to the pool's name.
    pub host: Option<String>,
    /// Healthy HTTP statuses, e.g. `[200, 204]` or `["200-399"]`.
    pub expect: Option<Vec<toml::Value>>,
}

/// Defines a closed set of config words as an enum read from a string (any case), with the
/// message an operator sees for anything else.
macro_rules! config_words {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
        #[serde(try_from = "String")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The word as the config writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $(if s.eq_ignore_ascii_case($word) {
                    return Ok(Self::$variant);
                })+
                Err(format!(concat!($what, ", not `{}`"), s))
            }
        }
    };
}

config_words!(
    /// A pool's record type.
    PoolType, "type must be A, AAAA or CNAME", {
        /// IPv4 addresses.
        A = "A",
        /// IPv6 addresses.
        Aaaa = "AAAA",
        /// Alias targets.
        Cname = "CNAME",
    }
);

config_words!(
    /// A pool's selection policy.
    PolicyName, "policy must be weighted, failover, hash, round-robin, region or geo", {
        /// A weighted random draw.
        Weighted = "weighted",
        /// Tiers by priority.
        Failover = "failover",
        /// Sticky by client network.
        Hash = "hash",
        /// Exact shares over short windows.
        RoundRobin = "round-robin",
        /// The client's region first.
        Region = "region",
        /// The client's location (MaxMind databases) first, failing over through datacenters.
        Geo = "geo",
    }
);

config_words!(
    /// What a probe checks.
    ProbeKindName, "kind must be tcp, http or agent", {
        /// The TCP handshake.
        Tcp = "tcp",
        /// An HTTP GET.
        Http = "http",
        /// HAProxy's agent-check line.
        Agent = "agent",
    }
);

config_words!(
    /// What a pool answers when every member is down.
    AllDownMode, "all_down must be \"open\" or \"empty\"", {
        /// Answer as if all were up.
        Open = "open",
        /// NODATA.
        Empty = "empty",
    }
);

fn default_zones() -> String {
    "zones".to_string()
}

fn default_admin_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:8053".to_string())
}

fn default_tcp_max() -> usize {
    100
}

fn default_true() -> bool {
    true
}

/// Reads and parses the config file into raw structs; syntax errors, unknown keys and bad
/// values are reported with their line. A syntax error stops the reading (nothing after it can
/// be trusted); otherwise every `[[pool]]` is read on its own too, so that a problem in one does
/// not hide the problems of the others.
///
/// An unknown or mistyped key is a problem, and reading goes on without it (its line is read
/// as blank, so that every other line keeps its place): the config is then returned with those
/// problems, and the loader goes on to report everything else too (a zone's problems among
/// them), as `nsd-checkconf` and `knotc conf-check` report more than the first problem. The
/// server never starts or reloads with such a config: every problem is fatal.
pub fn read(path: &Path) -> Result<(RawConfig, String, Vec<Problem>), Vec<Problem>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![Problem::file(path, format!("cannot read the config: {e}"))])?;
    let mut work = text.clone();
    let mut skipped: Vec<Problem> = Vec::new();
    let mut blanked: Vec<String> = Vec::new();
    let first = loop {
        let e = match toml::from_str::<RawConfig>(&work) {
            Ok(raw) => {
                skipped.sort_by_key(|p| p.line);
                return Ok((raw, text, skipped));
            }
            Err(e) => e,
        };
        // A required key we skipped is now missing: that says nothing new.
        if blanked
            .iter()
            .any(|k| e.message().contains(&format!("missing field `{k}`")))
        {
            break None;
        }
        let problem = problem(path, &work, &e);
        match skippable_line(&work, &e).filter(|_| skipped.len() < MAX_SKIPPED) {
            Some(line) => {
                if let Some((key, _)) = work[line.clone()].split_once('=') {
                    blanked.push(key.trim().to_string());
                }
                blank(&mut work, line);
                skipped.push(problem);
            }
            None => break Some(problem),
        }
    };
    let mut problems = skipped;
    problems.extend(first);
    // The syntax was fine if it reads as plain tables: read each pool by itself, and say its
    // problem at the pool's line (the first problem keeps its exact line).
    if let Ok(loose) = toml::from_str::<LooseConfig>(&text) {
        let lines: Vec<usize> = loose
            .pool
            .iter()
            .map(|p| crate::problem::line_of(&text, p.span().start))
            .collect();
        for i in 0..loose.pool.len() {
            let (start, end) = (lines[i], lines.get(i + 1).copied().unwrap_or(usize::MAX));
            if problems
                .iter()
                .any(|p| p.line.is_some_and(|l| (start..end).contains(&l)))
            {
                continue;
            }
            // The pool's own lines: from its header to the next table header.
            let (body, first_line) = pool_lines(&text, start);
            if let Err(e) = toml::from_str::<RawPool>(&body) {
                let mut p = problem(path, &body, &e);
                p.line = Some(p.line.map_or(start, |l| l + first_line - 1));
                problems.push(p);
            }
        }
    }
    problems.sort_by_key(|p| p.line);
    Err(problems)
}

/// Keys skipped at most in one config before reading stops at the next problem.
const MAX_SKIPPED: usize = 32;

/// The byte range of the line an unknown or mistyped key stands on, when skipping that line
/// leaves the rest readable: a `key = value` line of its own (not a table header, and not a
/// value that goes on over several lines).
fn skippable_line(text: &str, e: &toml::de::Error) -> Option<std::ops::Range<usize>> {
    let message = e.message();
    let kind = [
        "unknown field",
        "invalid type",
        "invalid value",
        "invalid length",
    ];
    if !kind.iter().any(|k| message.contains(k)) {
        return None;
    }
    let at = e.span()?.start;
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[start..end].trim();
    let (key, value) = line.split_once('=')?;
    let value = value.trim();
    let balanced = |open: char, close: char| {
        value.chars().filter(|&c| c == open).count()
            == value.chars().filter(|&c| c == close).count()
    };
    let whole = !key.trim_start().starts_with('[')
        && !value.is_empty()
        && balanced('[', ']')
        && balanced('{', '}')
        && !value.starts_with("\"\"\"")
        && !value.starts_with("'''");
    whole.then_some(start..end)
}

/// `range` of `text` made blank (spaces: every offset after it stays where it was).
fn blank(text: &mut String, range: std::ops::Range<usize>) {
    let spaces = " ".repeat(range.len());
    text.replace_range(range, &spaces);
}

/// The text of the `[[pool]]` whose header is at 1-based line `header`: its lines up to the
/// next table header, and the line the first of them is.
fn pool_lines(text: &str, header: usize) -> (String, usize) {
    let body: Vec<&str> = text
        .lines()
        .skip(header)
        .take_while(|l| !l.trim_start().starts_with('['))
        .collect();
    (body.join("\n"), header + 1)
}

/// The config with its pools as plain tables, to read each pool on its own.
#[derive(Debug, Deserialize)]
struct LooseConfig {
    #[serde(default)]
    pool: Vec<Spanned<toml::Table>>,
}

/// A problem from a TOML error at its line, with the key named when the message does not.
fn problem(path: &Path, text: &str, e: &toml::de::Error) -> Problem {
    let mut message = e.message().trim().to_string();
    // A type or value error names no field: take it from the line (`weight = "5"`).
    if let Some(key) = e.span().and_then(|span| key_before(text, span.start))
        && !message.contains(&format!("`{key}`"))
    {
        message = format!("`{key}`: {message}");
    }
    match e.span() {
        Some(span) => Problem::at(path, text, span, message),
        None => Problem::file(path, message),
    }
}

/// The key whose value starts at `offset`: the word before the last `=` on the same line.
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset)?;
    let line = before.rsplit('\n').next()?;
    let (left, _) = line.rsplit_once('=')?;
    let key = left
        .rsplit(|c: char| c == '{' || c == ',' || c.is_whitespace())
        .find(|w| !w.is_empty())?;
    key.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        .then_some(key)
}

/// Parses a duration as people write it (`"500ms"`, `"2s"`, `"1m"`).
pub fn parse_duration(value: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("`{value}` is not a duration ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawConfig, Problem> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dnslb.toml");
        std::fs::write(&path, text).unwrap();
        // Problems of keys skipped count as the config's first problem, as the loader takes them.
        match read(&path) {
            Ok((_, _, mut skipped)) if !skipped.is_empty() => Err(skipped.remove(0)),
            Ok((raw, _, _)) => Ok(raw),
            Err(mut p) => Err(p.remove(0)),
        }
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let err = parse("[server]\nlisten = [\"127.0.0.1:5300\"]\nlisen = 3\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("unknown field `lisen`"), "{err}");
    }

    #[test]
    fn fractional_weight_is_an_error() {
        let err = parse(
            "[server]\nlisten = []\n[[pool]]\nname = \"a.\"\ntype = \"A\"\nmembers = [ { address = \"192.0.2.1\", weight = 1.5 } ]\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(6), "{err}");
    }

    #[test]
    fn durations_parse_like_people_write_them() {
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("1m").unwrap().as_secs(), 60);
        assert!(parse_duration("five").is_err());
    }
}
