//! Pools: names whose A, AAAA or CNAME answer is drawn per query from weighted members.
//!
//! A [`Pool`] is immutable data of one snapshot. What changes between reloads lives in cells the
//! pool points to: each member's [`MemberState`] (served counter, admin overrides) and, for probed
//! pools, the [`TargetHealth`] of the address it is probed at. A query reads those cells with
//! relaxed atomic loads, builds a [`Candidate`] per member and calls the pure [`select`].

mod select;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand::Rng;

pub use select::{Candidate, Picks, select};

use crate::config::{RawPool, parse_duration};
use crate::health::{ProbeSpec, TargetHealth};

/// Default TTL of pool answers.
pub const DEFAULT_TTL: u32 = 30;

/// What a pool answers when every member is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllDown {
    /// Answer as if all were up (Route 53's and gdnsd's rule).
    Open,
    /// Answer NODATA.
    Empty,
}

/// One weighted record set.
#[derive(Debug)]
pub struct Pool {
    /// Owner name, as configured (fully qualified).
    pub name: Name,
    /// A, AAAA or CNAME.
    pub rtype: RecordType,
    /// TTL of the answers.
    pub ttl: u32,
    /// Distinct members per answer.
    pub answers: usize,
    /// The members, in config order.
    pub members: Box<[Member]>,
    /// Behaviour when every member is down.
    pub all_down: AllDown,
    /// Ramp time of a recovered member, if any.
    pub slow_start: Option<Duration>,
    /// How members are probed; `None`: always healthy.
    pub probe: Option<ProbeSpec>,
    /// The config file and line of the `[[pool]]`.
    pub config_file: PathBuf,
    /// 1-based line of the pool in the config.
    pub config_line: usize,
    /// Set while every member is down (kept by the health task; read by status).
    pub all_members_down: AtomicBool,
}

/// One member of a pool.
#[derive(Debug)]
pub struct Member {
    /// The answer record (owner = pool name, TTL = pool TTL).
    pub record: Record,
    /// The address or target as the config writes it; the member's name in the admin API.
    pub label: String,
    /// Configured weight.
    pub weight: u32,
    /// Where the member is probed (its address and the probe's port, or `check`).
    pub check: Option<SocketAddr>,
    /// Counters and overrides, carried over by reloads.
    pub state: Arc<MemberState>,
    /// Health of the probe target; `None` when the pool is not probed.
    pub health: Option<Arc<TargetHealth>>,
}

/// Per-member state that outlives a snapshot.
#[derive(Debug, Default)]
pub struct MemberState {
    /// Times this member was served.
    pub served: AtomicU64,
    /// Drained by the admin: never served.
    pub drained: AtomicBool,
    /// Weight set by the admin; negative: none.
    pub weight_override: AtomicI64,
}

impl MemberState {
    /// A fresh state with no overrides.
    pub fn new() -> Self {
        Self {
            weight_override: AtomicI64::new(-1),
            ..Self::default()
        }
    }

    /// The admin's weight, if set.
    pub fn weight_override(&self) -> Option<u32> {
        u32::try_from(self.weight_override.load(Ordering::Relaxed)).ok()
    }
}

impl Member {
    /// The weight before health: the admin's override or the configured one.
    pub fn base_weight(&self) -> u32 {
        self.state.weight_override().unwrap_or(self.weight)
    }

    /// What selection sees of this member now.
    pub fn candidate(&self, slow_start: Option<Duration>) -> Candidate {
        if self.state.drained.load(Ordering::Relaxed) {
            return Candidate::Unavailable;
        }
        let base = self.base_weight();
        let Some(health) = &self.health else {
            return weighted(base);
        };
        match health.weight_factor(slow_start) {
            None => Candidate::Unavailable,
            Some(_) if base == 0 => Candidate::Backup,
            Some(0) => Candidate::Unavailable,
            Some(permille) => {
                let w = (u64::from(base) * u64::from(permille)).div_ceil(1000);
                Candidate::Weighted(u32::try_from(w).unwrap_or(u32::MAX).max(1))
            }
        }
    }

    /// The weight this member is drawn with now (0 when unavailable or a backup).
    pub fn effective_weight(&self, slow_start: Option<Duration>) -> u32 {
        match self.candidate(slow_start) {
            Candidate::Weighted(w) => w,
            _ => 0,
        }
    }
}

fn weighted(w: u32) -> Candidate {
    if w == 0 {
        Candidate::Backup
    } else {
        Candidate::Weighted(w)
    }
}

impl Pool {
    /// Draws this query's members; pushes their records onto `out`, counting each as served.
    pub fn draw<'a, R: Rng + ?Sized>(&'a self, rng: &mut R, out: &mut impl Extend<&'a Record>) {
        let candidates: smallvec::SmallVec<[Candidate; 16]> = self
            .members
            .iter()
            .map(|m| m.candidate(self.slow_start))
            .collect();
        let mut picks = select(&candidates, self.answers, rng);
        if picks.is_empty() && self.all_down == AllDown::Open {
            // Fail open: every member as if it were up, admin drains still honoured.
            let open: smallvec::SmallVec<[Candidate; 16]> = self
                .members
                .iter()
                .map(|m| {
                    if m.state.drained.load(Ordering::Relaxed) {
                        Candidate::Unavailable
                    } else {
                        weighted(m.base_weight())
                    }
                })
                .collect();
            picks = select(&open, self.answers, rng);
        }
        out.extend(picks.into_iter().map(|i| {
            let m = &self.members[i];
            m.state.served.fetch_add(1, Ordering::Relaxed);
            &m.record
        }));
    }
}

/// Validates one raw pool into a [`Pool`] (zone placement is checked by the snapshot builder).
///
/// `state_of` returns the member state to use for a member (carried over on reload);
/// `health_of` the health cell of a probe target.
pub fn build(
    raw: &RawPool,
    config_file: PathBuf,
    config_line: usize,
    state_of: &mut dyn FnMut(&Name, RecordType, &str) -> Arc<MemberState>,
    health_of: &mut dyn FnMut(&ProbeSpec, SocketAddr) -> Arc<TargetHealth>,
) -> Result<Pool, String> {
    let mut name = Name::from_ascii(&raw.name)
        .map_err(|e| format!("pool name `{}` is not a domain name: {e}", raw.name))?;
    name.set_fqdn(true);
    let rtype = match raw.rtype.to_ascii_uppercase().as_str() {
        "A" => RecordType::A,
        "AAAA" => RecordType::AAAA,
        "CNAME" => RecordType::CNAME,
        other => {
            return Err(format!(
                "pool {name}: type must be A, AAAA or CNAME, not `{other}`"
            ));
        }
    };
    let ttl = raw.ttl.unwrap_or(DEFAULT_TTL);
    let answers = match raw.answers {
        None => 1,
        Some(n) if n < 1 => {
            return Err(format!("pool {name}: answers must be at least 1, not {n}"));
        }
        Some(n) if rtype == RecordType::CNAME && n != 1 => {
            return Err(format!(
                "pool {name}: a CNAME pool answers with one member; remove `answers`"
            ));
        }
        Some(n) => usize::try_from(n).map_err(|_| format!("pool {name}: answers is too large"))?,
    };
    if raw.members.is_empty() {
        return Err(format!("pool {name}: the pool has no members"));
    }
    let slow_start = raw
        .slow_start
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| format!("pool {name}: slow_start: {e}"))?;
    let all_down = match raw.all_down.as_deref() {
        None | Some("open") => AllDown::Open,
        Some("empty") => AllDown::Empty,
        Some(other) => {
            return Err(format!(
                "pool {name}: all_down must be \"open\" or \"empty\", not \"{other}\""
            ));
        }
    };
    let probe = raw
        .probe
        .as_ref()
        .map(|p| ProbeSpec::from_raw(p, &name))
        .transpose()
        .map_err(|e| format!("pool {name}: probe: {e}"))?;

    let mut members = Vec::with_capacity(raw.members.len());
    for spanned in &raw.members {
        let m = spanned.get_ref();
        let weight = u32::try_from(m.weight).map_err(|_| {
            format!(
                "pool {name}: weight {} must be a non-negative integer",
                m.weight
            )
        })?;
        let (rdata, label, ip) = match (rtype, &m.address, &m.target) {
            (RecordType::CNAME, None, Some(t)) => {
                let mut target = Name::from_ascii(t)
                    .map_err(|e| format!("pool {name}: target `{t}` is not a domain name: {e}"))?;
                target.set_fqdn(true);
                (RData::CNAME(CNAME(target)), t.clone(), None)
            }
            (RecordType::CNAME, _, _) => {
                return Err(format!(
                    "pool {name}: a CNAME pool's members have `target`, not `address`"
                ));
            }
            (_, Some(a), None) => {
                let ip: IpAddr = a
                    .parse()
                    .map_err(|_| format!("pool {name}: `{a}` is not an IP address"))?;
                let rdata = match (rtype, ip) {
                    (RecordType::A, IpAddr::V4(v4)) => RData::A(A(v4)),
                    (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
                    _ => {
                        return Err(format!("pool {name}: {a} is not an {rtype} address"));
                    }
                };
                (rdata, a.clone(), Some(ip))
            }
            _ => {
                return Err(format!(
                    "pool {name}: an {rtype} pool's members have `address`, not `target`"
                ));
            }
        };
        if members.iter().any(|x: &Member| x.record.data == rdata) {
            return Err(format!("pool {name}: member {label} is listed twice"));
        }
        let check = match (&m.check, &probe, ip) {
            (Some(c), _, _) => Some(
                c.parse::<SocketAddr>()
                    .map_err(|_| format!("pool {name}: check `{c}` is not host:port"))?,
            ),
            (None, Some(p), Some(ip)) => Some(SocketAddr::new(
                ip,
                p.port.ok_or_else(|| {
                    format!("pool {name}: probe needs a port (or each member a `check`)")
                })?,
            )),
            (None, Some(_), None) => {
                return Err(format!(
                    "pool {name}: member {label} of a CNAME pool needs `check = \"host:port\"` to be probed"
                ));
            }
            (None, None, _) => None,
        };
        let health = match (&probe, check) {
            (Some(p), Some(addr)) => Some(health_of(p, addr)),
            _ => None,
        };
        members.push(Member {
            record: Record::from_rdata(name.clone(), ttl, rdata),
            state: state_of(&name, rtype, &label),
            label,
            weight,
            check,
            health,
        });
    }
    Ok(Pool {
        name,
        rtype,
        ttl,
        answers,
        members: members.into_boxed_slice(),
        all_down,
        slow_start,
        probe,
        config_file,
        config_line,
        all_members_down: AtomicBool::new(false),
    })
}
