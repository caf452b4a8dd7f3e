//! Steering by location over real UDP: databases made in the test with MaxMind's own writer
//! (Debian's `libmaxmind-db-writer-perl`, through `tests/fixtures/geo/write-mmdb.pl`), a `geo`
//! pool mapping continents, countries, subdivisions, an ASN and a network to ordered
//! datacenters, and queries with EDNS Client Subnet (or none: the source address decides).

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use common::*;
use hickory_proto::op::{Edns, Message};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};

/// The city database: nested networks in several continents, IPv4 and IPv6, with coordinates.
const CITY: &str = r#"[
 ["10.0.0.0/8", {"continent": {"code": "EU"}, "country": {"iso_code": "DE"}, "location": {"latitude": 50.11, "longitude": 8.68}}],
 ["10.1.0.0/16", {"continent": {"code": "EU"}, "country": {"iso_code": "FR"}, "location": {"latitude": 48.86, "longitude": 2.35}}],
 ["10.2.0.0/16", {"continent": {"code": "NA"}, "country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}], "location": {"latitude": 37.77, "longitude": -122.42}}],
 ["10.3.0.0/16", {"continent": {"code": "NA"}, "country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "NY"}], "location": {"latitude": 40.71, "longitude": -74.0}}],
 ["10.4.0.0/16", {"continent": {"code": "AS"}, "country": {"iso_code": "SG"}, "location": {"latitude": 1.35, "longitude": 103.82}}],
 ["127.0.0.0/8", {"continent": {"code": "NA"}, "country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "TX"}], "location": {"latitude": 32.78, "longitude": -96.8}}],
 ["2001:db8:1::/48", {"continent": {"code": "EU"}, "country": {"iso_code": "DE"}, "location": {"latitude": 50.11, "longitude": 8.68}}],
 ["2001:db8:2::/48", {"continent": {"code": "AS"}, "country": {"iso_code": "SG"}, "location": {"latitude": 1.35, "longitude": 103.82}}]
]"#;

/// The ASN database.
const ASN: &str = r#"[["10.5.0.0/16", {"autonomous_system_number": 64500}]]"#;

const POOL: &str = r#"
[geoip]
city = "city.mmdb"
asn = "asn.mmdb"

[[pool]]
name = "www.example.com."
type = "A"
policy = "geo"
members = [
  { address = "192.0.2.10", weight = 1 },
  { address = "192.0.2.11", weight = 1 },
  { address = "198.51.100.10", weight = 1 },
  { address = "203.0.113.10", weight = 1 },
]
datacenters = { fra = ["192.0.2.10", "192.0.2.11"], iad = ["198.51.100.10"], sin = ["203.0.113.10"] }
map = { "EU" = ["fra", "iad"], "NA/US" = ["iad", "fra"], "NA/US/CA" = ["iad", "sin"], "AS" = ["sin", "fra"], "AS64500" = ["iad"], "10.1.9.0/24" = ["sin"], default = ["iad", "fra", "sin"] }
"#;

/// Whether MaxMind's writer can run here (required in CI).
fn writer() -> bool {
    let ok = std::process::Command::new("perl")
        .args(["-MMaxMind::DB::Writer::Tree", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let required = std::env::var("DNSLB_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "MaxMind::DB::Writer is not installed and DNSLB_REQUIRE_TOOLS=1"
        );
        eprintln!("skipped: MaxMind::DB::Writer (libmaxmind-db-writer-perl) is not installed");
    }
    ok
}

/// Writes `networks` (JSON) as a database of `kind` at `path`, with MaxMind's writer.
fn write_mmdb(path: &Path, kind: &str, networks: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geo/write-mmdb.pl");
    let mut child = std::process::Command::new("perl")
        .arg(script)
        .arg(path)
        .arg(kind)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("perl runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(networks.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "the writer wrote {kind}");
}

/// What `mmdblookup` (libmaxmind's own reader) says of `ip` in the database at `path`.
fn mmdblookup(path: &Path, ip: &str) -> String {
    let out = std::process::Command::new("mmdblookup")
        .arg("--file")
        .arg(path)
        .args(["--ip", ip])
        .output()
        .expect("mmdblookup runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn geo_dir(pool: &str) -> tempfile::TempDir {
    let dir = dir_with_config(pool);
    write_mmdb(&dir.path().join("city.mmdb"), "GeoIP2-City", CITY);
    write_mmdb(&dir.path().join("asn.mmdb"), "GeoLite2-ASN", ASN);
    dir
}

/// The A answer and the ECS scope for a client network.
async fn ask(server: SocketAddr, net: &str) -> (Vec<String>, Option<u8>) {
    let (addr, prefix) = net.split_once('/').unwrap();
    let addr: IpAddr = addr.parse().unwrap();
    let mut m = query_message("www.example.com.", RecordType::A, Some(1232));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut()
        .insert(EdnsOption::Subnet(ClientSubnet::new(
            addr,
            prefix.parse().unwrap(),
            0,
        )));
    m.set_edns(edns);
    let r = udp_msg(server, &m).await;
    (addresses(&r), scope(&r))
}

fn scope(r: &Message) -> Option<u8> {
    match r.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(cs) => Some(cs.scope_prefix()),
        _ => None,
    }
}

const FRA: [&str; 2] = ["192.0.2.10", "192.0.2.11"];
const IAD: &str = "198.51.100.10";
const SIN: &str = "203.0.113.10";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_network_gets_its_first_datacenter_with_the_scope_of_its_block() {
    if !writer() {
        return;
    }
    let dir = geo_dir(POOL);
    // The databases read back as written, by MaxMind's own C reader.
    if have_tool("mmdblookup") {
        let ca = mmdblookup(&dir.path().join("city.mmdb"), "10.2.7.1");
        assert!(ca.contains("\"CA\"") && ca.contains("\"US\""), "{ca}");
        let fr = mmdblookup(&dir.path().join("city.mmdb"), "10.1.200.1");
        assert!(fr.contains("\"FR\""), "{fr}");
        let asn = mmdblookup(&dir.path().join("asn.mmdb"), "10.5.0.1");
        assert!(asn.contains("64500"), "{asn}");
    }
    let s = start_dir(dir).await;
    // A continent (10.1.0.0/16 is FR, in EU), with the largest block the decision allows:
    // 10.1.0.0-10.1.8.255 is EU, cut by the network rule at 10.1.9.0/24: 10.1.0.0/21.
    let (a, sc) = ask(s.addr, "10.1.5.0/24").await;
    assert!(FRA.contains(&a[0].as_str()), "{a:?}");
    assert_eq!(sc, Some(21));
    // The network rule inside it.
    assert_eq!(
        ask(s.addr, "10.1.9.0/24").await,
        (vec![SIN.to_string()], Some(24))
    );
    // A subdivision before its country, a country before its continent.
    assert_eq!(
        ask(s.addr, "10.2.7.0/24").await,
        (vec![IAD.to_string()], Some(16))
    );
    assert_eq!(ask(s.addr, "10.3.7.0/24").await.0, [IAD]);
    assert_eq!(
        ask(s.addr, "10.4.7.0/24").await,
        (vec![SIN.to_string()], Some(16))
    );
    // An ASN before the location (10.5.0.0/16 is DE, in EU, by the city database).
    assert_eq!(
        ask(s.addr, "10.5.7.0/24").await,
        (vec![IAD.to_string()], Some(16))
    );
    // The scope never exceeds the client's prefix.
    assert_eq!(ask(s.addr, "10.2.0.0/8").await.1, Some(8));
    // IPv6.
    let (a, sc) = ask(s.addr, "2001:db8:1::/56").await;
    assert!(FRA.contains(&a[0].as_str()), "{a:?}");
    assert_eq!(sc, Some(48));
    assert_eq!(
        ask(s.addr, "2001:db8:2:100::/56").await,
        (vec![SIN.to_string()], Some(48))
    );
    // Nowhere the databases know: the default.
    assert_eq!(ask(s.addr, "192.0.2.0/24").await.0, [IAD]);
    // No ECS: the source address decides (127.0.0.1 is US/TX here: NA/US).
    let r = udp(s.addr, "www.example.com.", RecordType::A).await;
    assert_eq!(addresses(&r), [IAD]);
    // The first datacenter drained: the next in the list, and back.
    let drain = "/pools/www.example.com./members/198.51.100.10/drain";
    assert_eq!(http(s.admin(), "POST", drain, "").await.0, 200);
    assert_eq!(
        ask(s.addr, "10.2.7.0/24").await.0,
        [SIN],
        "NA/US/CA: iad, then sin"
    );
    let (a, _) = ask(s.addr, "10.3.7.0/24").await;
    assert!(FRA.contains(&a[0].as_str()), "NA/US: iad, then fra: {a:?}");
    // AS64500's list is iad alone: another datacenter with an available member answers.
    let (a, _) = ask(s.addr, "10.5.7.0/24").await;
    assert!(FRA.contains(&a[0].as_str()) || a == [SIN], "{a:?}");
    let undrain = "/pools/www.example.com./members/198.51.100.10/undrain";
    assert_eq!(http(s.admin(), "POST", undrain, "").await.0, 200);
    assert_eq!(ask(s.addr, "10.2.7.0/24").await.0, [IAD]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sees_the_rule_the_datacenters_and_the_databases() {
    if !writer() {
        return;
    }
    let dir = geo_dir(POOL);
    let config = dir.path().join("dnslb.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnslb"))
        .arg("--config")
        .arg(&config)
        .args([
            "check",
            "--simulate",
            "www.example.com",
            "--client",
            "10.2.3.4",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("location NA/US/CA")
            && text.contains("rule NA/US/CA")
            && text.contains("iad > sin"),
        "{text}"
    );
    let s = start_dir(dir).await;
    let txt = dig(
        s.addr,
        &[
            "CH",
            "TXT",
            "explain.www.example.com",
            "+subnet=10.4.0.0/24",
        ],
    )
    .await;
    assert!(
        txt.contains("location AS/SG") && txt.contains("sin > fra"),
        "{txt}"
    );
    let (_, body) = http(s.admin(), "GET", "/status", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["geoip"]["city"]["type"], "GeoIP2-City", "{body}");
    assert_eq!(v["geoip"]["asn"]["type"], "GeoLite2-ASN", "{body}");
    let spread = &v["pools"][0]["spread"];
    assert_eq!(
        spread["EU"]["datacenters"],
        serde_json::json!(["fra", "iad"]),
        "{spread}"
    );
    // 10.0.0.0/8 and 10.1.0.0/16 (its parts outside 10.1/16 and the others), 2001:db8:1::/48.
    assert!(spread["EU"]["networks"].as_u64().unwrap() >= 3, "{spread}");
    assert_eq!(spread["AS64500"]["networks"], 1, "{spread}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closest_orders_datacenters_by_distance() {
    if !writer() {
        return;
    }
    let pool = POOL
        .replace(
            r#"map = { "EU" = ["fra", "iad"], "NA/US" = ["iad", "fra"], "NA/US/CA" = ["iad", "sin"], "AS" = ["sin", "fra"], "AS64500" = ["iad"], "10.1.9.0/24" = ["sin"], default = ["iad", "fra", "sin"] }"#,
            "closest = true\ncoordinates = { fra = [50.11, 8.68], iad = [39.04, -77.49], sin = [1.35, 103.82] }",
        );
    let s = start_dir(geo_dir(&pool)).await;
    assert!(FRA.contains(&ask(s.addr, "10.1.5.0/24").await.0[0].as_str()));
    assert_eq!(
        ask(s.addr, "10.3.7.0/24").await.0,
        [IAD],
        "New York: Ashburn"
    );
    assert_eq!(ask(s.addr, "10.4.7.0/24").await.0, [SIN]);
    // New York: Ashburn, then Frankfurt (6,200 km; Singapore is 15,300).
    let drain = "/pools/www.example.com./members/198.51.100.10/drain";
    assert_eq!(http(s.admin(), "POST", drain, "").await.0, 200);
    assert!(FRA.contains(&ask(s.addr, "10.3.7.0/24").await.0[0].as_str()));
    // Singapore with Singapore drained: Frankfurt (10,300 km), not Ashburn (15,500).
    let drain = "/pools/www.example.com./members/203.0.113.10/drain";
    assert_eq!(http(s.admin(), "POST", drain, "").await.0, 200);
    assert!(FRA.contains(&ask(s.addr, "10.4.7.0/24").await.0[0].as_str()));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_takes_effect_with_no_lost_query_and_a_broken_one_keeps_the_last_good() {
    if !writer() {
        return;
    }
    let dir = geo_dir(POOL);
    let path = dir.path().to_path_buf();
    let s = start_dir(dir).await;
    // Two versions: 10.4.0.0/16 in Singapore, then moved to Germany.
    let moved = CITY.replace(
        r#"{"continent": {"code": "AS"}, "country": {"iso_code": "SG"}, "location": {"latitude": 1.35, "longitude": 103.82}}],
 ["127"#,
        r#"{"continent": {"code": "EU"}, "country": {"iso_code": "DE"}}],
 ["127"#,
    );
    assert_ne!(moved, CITY);
    write_mmdb(&path.join("moved.mmdb"), "GeoIP2-City", &moved);
    write_mmdb(&path.join("city.mmdb.orig"), "GeoIP2-City", CITY);
    let server = s.addr;
    let asking = tokio::spawn(async move {
        let (mut answered, mut lost) = (0, 0);
        for _ in 0..400 {
            let (a, _) = ask(server, "10.4.7.0/24").await;
            if a.len() == 1 {
                answered += 1;
            } else {
                lost += 1;
            }
        }
        (answered, lost)
    });
    let shared = s.running.as_ref().unwrap().shared.clone();
    for i in 0..20 {
        let from = if i % 2 == 0 {
            "moved.mmdb"
        } else {
            "city.mmdb.orig"
        };
        std::fs::copy(path.join(from), path.join("city.mmdb.tmp")).unwrap();
        std::fs::rename(path.join("city.mmdb.tmp"), path.join("city.mmdb")).unwrap();
        shared.reload().await.expect("reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (answered, lost) = asking.await.unwrap();
    assert_eq!((answered, lost), (400, 0));
    // The last copy was the original: Singapore again; then the moved one: Frankfurt.
    assert_eq!(ask(s.addr, "10.4.7.0/24").await.0, [SIN]);
    std::fs::copy(path.join("moved.mmdb"), path.join("city.mmdb")).unwrap();
    shared.reload().await.expect("reload");
    assert!(FRA.contains(&ask(s.addr, "10.4.7.0/24").await.0[0].as_str()));
    // A broken file: the reload keeps serving the last good database and says why.
    std::fs::write(path.join("city.mmdb"), b"not a database").unwrap();
    shared.reload().await.expect("the config still loads");
    assert!(FRA.contains(&ask(s.addr, "10.4.7.0/24").await.0[0].as_str()));
    let (_, body) = http(s.admin(), "GET", "/status", "").await;
    assert!(
        body.contains("geoip.city") && body.contains("the last good version serves"),
        "{body}"
    );
    s.stop().await;
}

#[test]
fn a_geo_pool_without_a_database_or_with_unknown_datacenters_is_refused_with_its_line() {
    let dir =
        dir_with_config(&POOL.replace("[geoip]\ncity = \"city.mmdb\"\nasn = \"asn.mmdb\"\n", ""));
    let problems = load_problems(&dir.path().join("dnslb.toml"));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("dnslb.toml:") && p.contains("needs a `[geoip]` database")),
        "{problems:?}"
    );
    let dir =
        dir_with_config(&POOL.replace(r#""AS" = ["sin", "fra"]"#, r#""AS" = ["sin", "lhr"]"#));
    let problems = load_problems(&dir.path().join("dnslb.toml"));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("dnslb.toml:")
                && p.contains("datacenter `lhr` is not in `datacenters`")),
        "{problems:?}"
    );
}

/// A small deterministic generator (xorshift), for the random databases and clients.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Places a random network may be (continent, country, subdivision).
const PLACES: [(&str, &str, Option<&str>); 10] = [
    ("EU", "DE", None),
    ("EU", "FR", Some("IDF")),
    ("NA", "US", Some("CA")),
    ("NA", "US", Some("NY")),
    ("NA", "US", None),
    ("NA", "MX", None),
    ("AS", "SG", None),
    ("AS", "JP", Some("13")),
    ("OC", "AU", None),
    ("SA", "BR", None),
];

/// 400 random nested networks (IPv4 inside 10.0.0.0/8, IPv6 inside 2001:db8::/32), broader
/// first, each at a random place.
fn random_city(rng: &mut Xorshift) -> String {
    let mut nets: Vec<(u8, String)> = (0..400)
        .map(|i| {
            if i % 4 == 3 {
                let prefix = 36 + rng.below(21) as u8;
                let bits = rng.next() as u128 & ((1u128 << (prefix - 32)) - 1);
                let addr = (0x2001_0db8u128 << 96) | (bits << (128 - prefix));
                (
                    prefix,
                    format!("{}/{prefix}", std::net::Ipv6Addr::from(addr)),
                )
            } else {
                let prefix = 12 + rng.below(13) as u8;
                let bits = rng.next() as u32 & ((1u32 << (prefix - 8)) - 1);
                let addr = (10u32 << 24) | (bits << (32 - prefix));
                (
                    prefix,
                    format!("{}/{prefix}", std::net::Ipv4Addr::from(addr)),
                )
            }
        })
        .collect();
    nets.sort_by_key(|(p, _)| *p);
    let records: Vec<String> = nets
        .iter()
        .map(|(_, net)| {
            let (cont, country, sub) = PLACES[rng.below(PLACES.len() as u64) as usize];
            let sub = sub.map_or(String::new(), |s| {
                format!(r#", "subdivisions": [{{"iso_code": "{s}"}}]"#)
            });
            format!(
                r#"["{net}", {{"continent": {{"code": "{cont}"}}, "country": {{"iso_code": "{country}"}}{sub}}}]"#
            )
        })
        .collect();
    format!("[{}]", records.join(",\n"))
}

/// gdnsd's `plugin_geoip` and dnslb on the same database and the same map: for 10,000 random
/// client subnets (IPv4 and IPv6, inside and outside the database's networks, some under the
/// map's own networks), the same datacenter answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_datacenters_as_gdnsd_for_ten_thousand_client_subnets() {
    if !writer() || !have_tool("gdnsd") {
        return;
    }
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    let city = random_city(&mut rng);
    let db = tempfile::tempdir().unwrap();
    let db_path = db.path().join("city.mmdb");
    write_mmdb(&db_path, "GeoIP2-City", &city);
    let pool = r#"
[geoip]
city = "city.mmdb"

[[pool]]
name = "www.example.com."
type = "A"
policy = "geo"
members = [ { address = "192.0.2.10", weight = 1 }, { address = "198.51.100.10", weight = 1 }, { address = "203.0.113.10", weight = 1 } ]
datacenters = { fra = ["192.0.2.10"], iad = ["198.51.100.10"], sin = ["203.0.113.10"] }
map = { "EU" = ["fra", "iad"], "NA/US" = ["iad", "fra"], "NA/US/CA" = ["iad", "sin"], "AS" = ["sin", "fra"], "AS/JP" = ["sin", "iad"], "OC" = ["sin", "iad"], "10.128.0.0/9" = ["fra"], "10.200.3.0/24" = ["sin"], default = ["iad", "fra", "sin"] }
"#;
    let dir = dir_with_config(pool);
    std::fs::copy(&db_path, dir.path().join("city.mmdb")).unwrap();
    let ours = start_dir(dir).await;
    let gdnsd_config = |port: u16, dir: &Path| {
        format!(
            r#"options => {{
  listen => [ 127.0.0.1:{port} ]
  run_dir => {dir}/run
  state_dir => {dir}/state
}}
plugins => {{ geoip => {{
  maps => {{ m => {{
    geoip2_db => city.mmdb
    datacenters => [iad, fra, sin]
    map => {{
      EU => [fra, iad]
      NA => {{ US => {{ CA => [iad, sin], default => [iad, fra] }} }}
      AS => {{ JP => [sin, iad], default => [sin, fra] }}
      OC => [sin, iad]
      default => [iad, fra, sin]
    }}
    nets => {{ 10.128.0.0/9 => [fra], 10.200.3.0/24 => [sin] }}
  }} }}
  resources => {{ www => {{
    map => m
    dcmap => {{ iad => 198.51.100.10, fra => 192.0.2.10, sin => 203.0.113.10 }}
  }} }}
}} }}
"#,
            dir = dir.display()
        )
    };
    let setup = |dir: &Path| {
        for sub in ["zones", "geoip", "run", "state"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        std::fs::copy(&db_path, dir.join("geoip/city.mmdb")).unwrap();
        std::fs::write(
            dir.join("zones/example.com"),
            "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww 30 DYNA geoip!www\n",
        )
        .unwrap();
    };
    let gdnsd = Daemon::start(
        "sh",
        "config",
        &[
            "-c",
            "exec gdnsd -c \"$(dirname \"$0\")\" start 2>/dev/null",
        ],
        setup,
        gdnsd_config,
        &query_message("ns1.example.com.", RecordType::A, None),
    )
    .await;
    let mut differ = Vec::new();
    let mut by_dc = std::collections::BTreeMap::new();
    for i in 0..10_000u32 {
        let net = match i % 10 {
            0..=6 => format!("10.{}.{}.0/24", rng.below(256), rng.below(256)),
            7 | 8 => format!(
                "2001:db8:{:x}:{:x}00::/56",
                rng.below(65_536),
                rng.below(256)
            ),
            _ => format!(
                "{}.{}.{}.0/24",
                11 + rng.below(200),
                rng.below(256),
                rng.below(256)
            ),
        };
        let (a, _) = ask(ours.addr, &net).await;
        let (b, _) = ask(gdnsd.addr, &net).await;
        *by_dc.entry(a.clone()).or_insert(0) += 1;
        if a != b {
            differ.push(format!("{net}: dnslb {a:?}, gdnsd {b:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} differ: {:?}",
        differ.len(),
        &differ[..differ.len().min(10)]
    );
    // Every datacenter answered a share: the comparison covered every rule's outcome.
    assert_eq!(by_dc.len(), 3, "{by_dc:?}");
    ours.stop().await;
}
