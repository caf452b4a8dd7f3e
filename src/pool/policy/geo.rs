//! `geo`: members grouped into datacenters, and a map from where the client is to an ordered
//! list of datacenters to fail over through, as gdnsd's `plugin_geoip`:
//!
//! ```toml
//! policy = "geo"
//! datacenters = { fra = ["192.0.2.10", "192.0.2.11"], iad = ["198.51.100.10"] }
//! map = { "EU" = ["fra", "iad"], "NA/US" = ["iad", "fra"], "NA/US/CA" = ["iad"],
//!         "AS64500" = ["iad"], "203.0.113.0/24" = ["fra"], default = ["iad", "fra"] }
//! ```
//!
//! The most specific key that matches wins: a network, then an ASN, then a subdivision, a
//! country, a continent, and `default` (all datacenters in name order when not given). With
//! `closest = true` and `coordinates`, datacenters are ordered by great-circle distance from
//! the client's coordinates instead (PowerDNS's `pickclosest`, gdnsd's `auto_dc_coords`).
//!
//! At load the map is compiled against every network of the databases ([`crate::geo`]) into a
//! table of our own: disjoint CIDR blocks, each with the rule that decides it, found by one
//! binary search per query. A block is as large as the decision allows (neighbouring networks
//! with the same rule are merged, and cut where a more specific rule's network starts), and its
//! prefix is the ECS scope of the answer: a resolver may cache it for the whole block, never
//! for addresses another rule decides. Within a datacenter members are drawn by weight among
//! those available; a datacenter with none is skipped to the next; when no datacenter of the
//! list has one, any other datacenter that has (in name order) answers, as `region` falls back
//! to everyone; when none has: the pool's `all_down` rule.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use serde_json::json;

use super::{Ask, Client, Entry, Input, Picks, Policy, Scope, Select, only, shares};
use crate::config::PolicyName;
use crate::geo::{Databases, Location, key, key_prefix};
use crate::pool::select::{Candidate, select};

/// The config's `geo`: pool keys `datacenters`, `map`, `closest`, `coordinates` and `ecs`.
pub const ENTRY: Entry = Entry {
    name: PolicyName::Geo,
    pool_keys: &["ecs", "datacenters", "map", "closest", "coordinates"],
    member_keys: &[],
    build,
};

/// No datacenter: a member in none.
const NONE: u16 = u16::MAX;

/// The `geo` policy of one pool.
pub struct Geo {
    /// Datacenter names, by index (sorted).
    names: Box<[String]>,
    /// Each member's datacenter (`NONE`: in none).
    member_dc: Box<[u16]>,
    /// The rules (their key as written, their datacenters in order, and how many database
    /// networks they decide) and the table compiled from them: shared by the pools with the
    /// same map, and kept across loads while the databases do not change.
    compiled: Arc<Compiled>,
    /// The databases it was compiled from (to say where a client is).
    databases: Arc<Databases>,
}

impl std::fmt::Debug for Geo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Geo")
            .field("datacenters", &self.names)
            .field("rules", &self.compiled.rules.len())
            .field("blocks", &self.compiled.table.starts.len())
            .finish()
    }
}

/// The rules and their table.
#[derive(Debug)]
struct Compiled {
    rules: Vec<Rule>,
    table: Table,
}

/// One rule: what it matches (as the config writes it) and where it sends.
#[derive(Debug, Clone)]
struct Rule {
    key: String,
    order: Box<[u16]>,
    networks: u64,
}

/// Disjoint CIDR blocks covering the whole address space, each with its rule, sorted.
#[derive(Debug, Default)]
struct Table {
    starts: Box<[u128]>,
    /// The block's prefix length (in the 128-bit space) and its rule.
    blocks: Box<[(u8, u16)]>,
}

impl Table {
    /// The rule deciding `k` and its block's prefix length.
    #[inline]
    fn find(&self, k: u128) -> (u16, u8) {
        let i = self.starts.partition_point(|&s| s <= k).saturating_sub(1);
        let (prefix, rule) = self.blocks[i];
        (rule, prefix)
    }
}

/// A run of addresses (`end` included) with one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seg {
    start: u128,
    end: u128,
    rule: u16,
}

/// What a map key matches.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Network(IpNet),
    Asn(u32),
    Subdivision(String, String),
    Country(String),
    Continent(String),
    Default,
}

fn parse_key(text: &str) -> Result<Key, String> {
    if text.eq_ignore_ascii_case("default") {
        return Ok(Key::Default);
    }
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(Key::Network(net.trunc()));
    }
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(Key::Network(IpNet::from(addr)));
    }
    let upper = text.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("AS").and_then(|n| n.parse::<u32>().ok()) {
        return Ok(Key::Asn(n));
    }
    let parts: Vec<&str> = upper.split('/').collect();
    let code =
        |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_alphanumeric());
    if !parts.iter().all(|p| code(p)) {
        return Err(format!(
            "map key `{text}` is not a location (EU, NA/US, NA/US/CA), an ASN (AS64500), a network or `default`"
        ));
    }
    match parts[..] {
        [continent] => Ok(Key::Continent(continent.into())),
        [_, country] => Ok(Key::Country(country.into())),
        [_, country, sub] => Ok(Key::Subdivision(country.into(), sub.into())),
        _ => Err(format!("map key `{text}` has more than three levels")),
    }
}

fn build(input: &Input<'_>) -> Result<Policy, String> {
    let raw = input.raw;
    let Some(datacenters) = &raw.datacenters else {
        return Err("policy = \"geo\" needs `datacenters = { NAME = [\"member\", ...] }`".into());
    };
    let Some(databases) = input.geoip.cloned() else {
        return Err("policy = \"geo\" needs a `[geoip]` database".into());
    };
    let names: Vec<String> = datacenters.keys().cloned().collect();
    let member_dc = member_datacenters(datacenters, input.labels)?;
    let rules = map_rules(raw, &names)?;
    let closest = raw.closest.unwrap_or(false);
    if closest && rules.iter().any(|(k, _)| *k != Key::Default) {
        return Err("`closest` orders by distance: give `map` only its `default`".into());
    }
    let coordinates = if closest {
        Some(coordinates(raw, &names)?)
    } else {
        if raw.coordinates.is_some() {
            return Err("`coordinates` are for `closest = true`".into());
        }
        None
    };
    let recipe = format!("{rules:?}|{coordinates:?}");
    let compiled = databases.memo(&recipe, || {
        let (table, rules) = compile(&databases, rules, coordinates.as_deref())?;
        Ok(Compiled { rules, table })
    })?;
    Ok(Box::new(Geo {
        names: names.into_boxed_slice(),
        member_dc: member_dc.into_boxed_slice(),
        compiled,
        databases,
    }))
}

/// Each member's datacenter (every member in exactly one).
fn member_datacenters(
    datacenters: &std::collections::BTreeMap<String, Vec<String>>,
    labels: &[String],
) -> Result<Vec<u16>, String> {
    let mut member_dc = vec![NONE; labels.len()];
    for (i, (name, members)) in datacenters.iter().enumerate() {
        for label in members {
            let m = labels
                .iter()
                .position(|l| l.eq_ignore_ascii_case(label))
                .ok_or_else(|| format!("datacenters.{name}: `{label}` is not a member"))?;
            if member_dc[m] != NONE {
                return Err(format!("member {label} is in two datacenters"));
            }
            member_dc[m] = i as u16;
        }
    }
    match member_dc.iter().position(|d| *d == NONE) {
        Some(m) => Err(format!("member {} is in no datacenter", labels[m])),
        None => Ok(member_dc),
    }
}

/// The rules of `map`, and `default` (every datacenter in name order) when it has none.
fn map_rules(raw: &crate::config::RawPool, names: &[String]) -> Result<Vec<(Key, Rule)>, String> {
    let dc = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .map(|i| i as u16)
            .ok_or_else(|| format!("datacenter `{name}` is not in `datacenters`"))
    };
    let mut rules: Vec<(Key, Rule)> = Vec::new();
    for (text, order) in raw.map.iter().flatten() {
        let order = order
            .iter()
            .map(|n| dc(n))
            .collect::<Result<Box<[u16]>, _>>()
            .map_err(|e| format!("map.{text}: {e}"))?;
        if order.is_empty() {
            return Err(format!("map.{text}: no datacenter"));
        }
        let rule = Rule {
            key: text.clone(),
            order,
            networks: 0,
        };
        rules.push((parse_key(text)?, rule));
    }
    if !rules.iter().any(|(k, _)| *k == Key::Default) {
        let rule = Rule {
            key: "default".into(),
            order: (0..names.len() as u16).collect(),
            networks: 0,
        };
        rules.push((Key::Default, rule));
    }
    Ok(rules)
}

/// Each datacenter's coordinates, in name order.
fn coordinates(raw: &crate::config::RawPool, names: &[String]) -> Result<Vec<(f64, f64)>, String> {
    let Some(given) = &raw.coordinates else {
        return Err(
            "`closest = true` needs `coordinates = { NAME = [latitude, longitude] }`".into(),
        );
    };
    names
        .iter()
        .map(|n| {
            given
                .get(n)
                .map(|[lat, lon]| (*lat, *lon))
                .ok_or_else(|| format!("coordinates: datacenter `{n}` has none"))
        })
        .collect()
}

/// Great-circle distance (radians of arc) between two points given in degrees.
fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * h.sqrt().min(1.0).asin()
}

/// The rules keyed by location, for the walk over the city database.
struct ByPlace {
    subdivision: FxHashMap<(String, String), u16>,
    country: FxHashMap<String, u16>,
    continent: FxHashMap<String, u16>,
}

impl ByPlace {
    fn rule(&self, at: &Location) -> Option<u16> {
        let country = at.country.as_deref();
        let sub = country.zip(at.subdivision.as_deref());
        sub.and_then(|(c, s)| self.subdivision.get(&(c.to_string(), s.to_string())))
            .or_else(|| country.and_then(|c| self.country.get(c)))
            .or_else(|| at.continent.as_deref().and_then(|c| self.continent.get(c)))
            .copied()
    }
}

/// The rules by what they match: location, ASN, network; and the default's index.
struct Index {
    by_place: ByPlace,
    asn: FxHashMap<u32, u16>,
    networks: Vec<(IpNet, u16)>,
    default: u16,
}

impl Index {
    fn of(keyed: &[(Key, Rule)]) -> Self {
        let mut index = Index {
            by_place: ByPlace {
                subdivision: FxHashMap::default(),
                country: FxHashMap::default(),
                continent: FxHashMap::default(),
            },
            asn: FxHashMap::default(),
            networks: Vec::new(),
            default: 0,
        };
        for (i, (k, _)) in keyed.iter().enumerate() {
            let i = i as u16;
            let places = &mut index.by_place;
            match k {
                Key::Subdivision(c, s) => {
                    places.subdivision.insert((c.clone(), s.clone()), i);
                }
                Key::Country(c) => {
                    places.country.insert(c.clone(), i);
                }
                Key::Continent(c) => {
                    places.continent.insert(c.clone(), i);
                }
                Key::Asn(n) => {
                    index.asn.insert(*n, i);
                }
                Key::Network(n) => index.networks.push((*n, i)),
                Key::Default => index.default = i,
            }
        }
        index
    }
}

/// The rule of a distance order, added to `rules` the first time it is seen.
fn closest_rule(
    at: (f64, f64),
    dcs: &[(f64, f64)],
    rules: &mut Vec<Rule>,
    orders: &mut FxHashMap<Box<[u16]>, u16>,
) -> u16 {
    let mut order: Vec<u16> = (0..dcs.len() as u16).collect();
    order.sort_by(|&a, &b| distance(at, dcs[a as usize]).total_cmp(&distance(at, dcs[b as usize])));
    let order = order.into_boxed_slice();
    let next = rules.len() as u16;
    *orders.entry(order.clone()).or_insert_with(|| {
        rules.push(Rule {
            key: "closest: ".into(),
            order,
            networks: 0,
        });
        next
    })
}

/// Compiles `keyed` against the databases into the table (with each rule's network count);
/// with `coordinates`, the rules are the distinct distance orders instead.
fn compile(
    databases: &Databases,
    keyed: Vec<(Key, Rule)>,
    coordinates: Option<&[(f64, f64)]>,
) -> Result<(Table, Vec<Rule>), String> {
    let mut index = Index::of(&keyed);
    let mut rules: Vec<Rule> = keyed.into_iter().map(|(_, r)| r).collect();
    let mut orders = FxHashMap::default();
    let mut place = Vec::new();
    if let Some(db) = &databases.city {
        db.each_network(|start, prefix, at, alias| {
            let rule = match coordinates {
                Some(dcs) => at
                    .coordinates
                    .map(|c| closest_rule(c, dcs, &mut rules, &mut orders)),
                None => index.by_place.rule(at),
            };
            if let Some(rule) = rule {
                rules[rule as usize].networks += u64::from(!alias);
                push(&mut place, start, prefix, rule);
            }
        })?;
    }
    let mut by_asn = Vec::new();
    if let (Some(db), false) = (&databases.asn, index.asn.is_empty()) {
        db.each_network(|start, prefix, at, alias| {
            if let Some(&rule) = at.asn.and_then(|n| index.asn.get(&n)) {
                rules[rule as usize].networks += u64::from(!alias);
                push(&mut by_asn, start, prefix, rule);
            }
        })?;
    }
    let whole = [Seg {
        start: 0,
        end: u128::MAX,
        rule: index.default,
    }];
    let mut segs = overlay(&overlay(&whole, &place), &by_asn);
    // Networks of the config: shortest first, so that a more specific one is laid over it.
    index.networks.sort_by_key(|(n, _)| n.prefix_len());
    for (net, rule) in index.networks {
        let mut one = Vec::new();
        let prefix = key_prefix(net.network(), net.prefix_len());
        push(&mut one, key(net.network()), prefix, rule);
        rules[rule as usize].networks += 1;
        segs = overlay(&segs, &one);
    }
    if rules.len() > usize::from(NONE) {
        return Err("more than 65,535 distinct datacenter orders".into());
    }
    Ok((blocks(&segs), rules))
}

/// Appends the network `start`/`prefix` with `rule`, merged with the last run when they touch
/// and agree.
fn push(out: &mut Vec<Seg>, start: u128, prefix: u8, rule: u16) {
    let end = if prefix == 0 {
        u128::MAX
    } else {
        start | (u128::MAX >> prefix)
    };
    if let Some(last) = out.last_mut()
        && last.rule == rule
        && last.end.checked_add(1) == Some(start)
    {
        last.end = end;
        return;
    }
    out.push(Seg { start, end, rule });
}

/// `base` (a partition of the whole space) with `top` (sorted, disjoint runs) laid over it.
fn overlay(base: &[Seg], top: &[Seg]) -> Vec<Seg> {
    if top.is_empty() {
        return base.to_vec();
    }
    let mut out: Vec<Seg> = Vec::with_capacity(base.len() + 2 * top.len());
    let emit = |out: &mut Vec<Seg>, s: Seg| match out.last_mut() {
        Some(last) if last.rule == s.rule && last.end.checked_add(1) == Some(s.start) => {
            last.end = s.end
        }
        _ => out.push(s),
    };
    let (mut i, mut j) = (0, 0);
    let mut pos: u128 = 0;
    loop {
        while j < top.len() && top[j].end < pos {
            j += 1;
        }
        let end = if let Some(t) = top.get(j).filter(|t| t.start <= pos) {
            emit(&mut out, Seg { start: pos, ..*t });
            t.end
        } else {
            while base[i].end < pos {
                i += 1;
            }
            let limit = top.get(j).map_or(u128::MAX, |t| t.start - 1);
            let end = base[i].end.min(limit);
            emit(
                &mut out,
                Seg {
                    start: pos,
                    end,
                    rule: base[i].rule,
                },
            );
            end
        };
        match end.checked_add(1) {
            Some(next) => pos = next,
            None => return out,
        }
    }
}

/// The runs cut into CIDR blocks (each as large as its alignment allows), as the table keeps
/// them.
fn blocks(segs: &[Seg]) -> Table {
    let mut starts = Vec::new();
    let mut meta = Vec::new();
    for s in segs {
        let mut at = s.start;
        loop {
            let align = if at == 0 { 128 } else { at.trailing_zeros() };
            let room = s.end - at; // addresses after `at` in the run
            let fits = if room == u128::MAX {
                128
            } else {
                127 - (room + 1).leading_zeros()
            };
            let bits = align.min(fits);
            starts.push(at);
            meta.push(((128 - bits) as u8, s.rule));
            if bits == 128 {
                break;
            }
            match at.checked_add(1u128 << bits) {
                Some(next) if next <= s.end => at = next,
                _ => break,
            }
        }
    }
    Table {
        starts: starts.into_boxed_slice(),
        blocks: meta.into_boxed_slice(),
    }
}

impl Geo {
    /// The rule deciding `client`, and the ECS scope of its block (capped at the client's
    /// prefix).
    fn decide(&self, client: &Client) -> (u16, Scope) {
        let (rule, prefix) = self.compiled.table.find(key(client.addr));
        let scope = match client.addr {
            IpAddr::V4(_) => prefix.saturating_sub(96),
            IpAddr::V6(_) => prefix,
        };
        (rule, scope.min(client.prefix))
    }

    /// The datacenters of `order` in turn: the first with an available member answers.
    fn first_available(
        &self,
        order: &[u16],
        candidates: &[Candidate],
    ) -> Option<smallvec::SmallVec<[Candidate; 16]>> {
        order.iter().find_map(|&dc| {
            let mine = only(candidates, |i| self.member_dc[i] == dc);
            mine.iter()
                .any(|c| *c != Candidate::Unavailable)
                .then_some(mine)
        })
    }

    /// The members that answer under `rule`: its datacenters in turn; when none of them has an
    /// available member, any other datacenter that has one (in name order), as the `region`
    /// policy falls back to everyone; when none has, nothing (the pool's `all_down` rule).
    fn serving(
        &self,
        rule: u16,
        candidates: &[Candidate],
    ) -> Option<smallvec::SmallVec<[Candidate; 16]>> {
        let order = &self.compiled.rules[rule as usize].order;
        self.first_available(order, candidates).or_else(|| {
            let rest: Vec<u16> = (0..self.names.len() as u16)
                .filter(|d| !order.contains(d))
                .collect();
            self.first_available(&rest, candidates)
        })
    }

    fn order_names(&self, order: &[u16]) -> Vec<&str> {
        order
            .iter()
            .map(|&d| self.names[d as usize].as_str())
            .collect()
    }
}

impl Select for Geo {
    fn name(&self) -> &'static str {
        "geo"
    }

    fn uses_client(&self) -> bool {
        true
    }

    fn pick(&self, ask: Ask<'_>) -> (Picks, Scope) {
        let Some(client) = ask.client else {
            return ask.by_weight();
        };
        let (rule, scope) = self.decide(client);
        match self.serving(rule, ask.candidates) {
            Some(mine) => (select(&mine, ask.n, &mut ask.picker.rng), scope),
            None => (Picks::new(), scope),
        }
    }

    /// The answering datacenter's members by weight.
    fn expected_first(&self, candidates: &[Candidate], client: Option<&Client>) -> Vec<f64> {
        let Some(client) = client else {
            return shares(candidates, |_| true);
        };
        let (rule, _) = self.decide(client);
        match self.serving(rule, candidates) {
            Some(mine) => shares(&mine, |_| true),
            None => vec![0.0; candidates.len()],
        }
    }

    /// Each rule: its datacenters and how many database networks it decides.
    fn spread(&self, _labels: &[String], _candidates: &[Candidate]) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .compiled
            .rules
            .iter()
            .map(|r| {
                let v =
                    json!({ "datacenters": self.order_names(&r.order), "networks": r.networks });
                (self.rule_key(r), v)
            })
            .collect();
        serde_json::Value::Object(map)
    }

    fn describe(&self, client: &Client) -> Option<String> {
        let at = self.databases.locate(client.addr);
        let (rule, scope) = self.decide(client);
        let rule = &self.compiled.rules[rule as usize];
        let mut out = format!("location {at}, rule {}", self.rule_key(rule));
        let _ = write!(
            out,
            ", datacenters {}, scope /{scope}",
            self.order_names(&rule.order).join(" > ")
        );
        Some(out)
    }
}

impl Geo {
    /// A rule's key as `/status` and `explain` say it (a distance order by datacenter names).
    fn rule_key(&self, r: &Rule) -> String {
        if r.key.starts_with("closest: ") {
            format!("closest: {}", self.order_names(&r.order).join(" > "))
        } else {
            r.key.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: u128, end: u128, rule: u16) -> Seg {
        Seg { start, end, rule }
    }

    #[test]
    fn overlay_lays_the_top_over_the_base_and_merges() {
        let base = [seg(0, u128::MAX, 0)];
        let top = [seg(10, 19, 1), seg(20, 29, 1), seg(40, 49, 2)];
        let out = overlay(&base, &top);
        assert_eq!(
            out,
            [
                seg(0, 9, 0),
                seg(10, 29, 1),
                seg(30, 39, 0),
                seg(40, 49, 2),
                seg(50, u128::MAX, 0)
            ]
        );
        let again = overlay(&out, &[seg(25, 44, 3)]);
        assert_eq!(
            again,
            [
                seg(0, 9, 0),
                seg(10, 24, 1),
                seg(25, 44, 3),
                seg(45, 49, 2),
                seg(50, u128::MAX, 0)
            ]
        );
    }

    #[test]
    fn blocks_are_aligned_cidrs_covering_each_run() {
        let t = blocks(&[seg(0, 9, 0), seg(10, 29, 1), seg(30, u128::MAX, 2)]);
        // 0/125 (0-7), 8/127 (8-9), 10/127, 12/126, 16/125, 24/126, 28/127, 30/127, 32/123, ...
        assert_eq!(t.find(0), (0, 125));
        assert_eq!(t.find(9), (0, 127));
        assert_eq!(t.find(17), (1, 125));
        assert_eq!(t.find(29), (1, 127));
        assert_eq!(t.find(u128::MAX), (2, 1));
        for w in t.starts.windows(2) {
            assert!(w[0] < w[1]);
        }
        let whole = blocks(&[seg(0, u128::MAX, 4)]);
        assert_eq!(whole.find(12345), (4, 0));
    }

    #[test]
    fn keys_are_read_by_kind() {
        assert_eq!(parse_key("EU").unwrap(), Key::Continent("EU".into()));
        assert_eq!(parse_key("na/us").unwrap(), Key::Country("US".into()));
        assert_eq!(
            parse_key("NA/US/CA").unwrap(),
            Key::Subdivision("US".into(), "CA".into())
        );
        assert_eq!(parse_key("AS64500").unwrap(), Key::Asn(64500));
        assert_eq!(
            parse_key("192.0.2.7/24").unwrap(),
            Key::Network("192.0.2.0/24".parse().unwrap())
        );
        assert_eq!(parse_key("default").unwrap(), Key::Default);
        assert!(parse_key("Europe!").is_err());
    }

    #[test]
    fn distances_order_the_nearest_first() {
        let frankfurt = (50.11, 8.68);
        let ashburn = (39.04, -77.49);
        let singapore = (1.35, 103.82);
        let paris = (48.86, 2.35);
        assert!(distance(paris, frankfurt) < distance(paris, ashburn));
        assert!(distance(paris, ashburn) < distance(paris, singapore));
    }
}
