//! Stage 3: every `[[pool]]`, validated into a [`Pool`] whose members get their cells from the
//! previous generation ([`Cells`]). Placing pools in zones is stage 4's job.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::cells::Cells;
use super::probes;
use super::settings::Config;
use crate::Problem;
use crate::config::{AllDownMode, PoolType, RawMember, RawPool, parse_duration};
use crate::health::ProbeSpec;
use crate::pool::{AllDown, DEFAULT_TTL, Member, Pool};

/// Builds every pool of the config; each invalid one is a problem at its line.
pub fn build_all(
    config: &Config,
    geoip: Option<&Arc<crate::geo::Databases>>,
    cells: &mut Cells,
    fatal: &mut Vec<Problem>,
) -> Vec<Arc<Pool>> {
    let mut pools = Vec::new();
    for spanned in &config.raw.pool {
        let line = config.line_of(spanned.span().start);
        match build(config, spanned.get_ref(), line, geoip, cells) {
            Ok(p) => pools.push(Arc::new(p)),
            // A member's problem is at the member's own line; the others at the pool's.
            Err((at, msg)) => fatal.push(Problem::line(config.path(), at.unwrap_or(line), msg)),
        }
    }
    pools
}

/// Validates one raw pool; an error says the line of the member it is about, when it is.
fn build(
    config: &Config,
    raw: &RawPool,
    config_line: usize,
    geoip: Option<&Arc<crate::geo::Databases>>,
    cells: &mut Cells,
) -> Result<Pool, (Option<usize>, String)> {
    let config_file: PathBuf = config.path().to_path_buf();
    let name = pool_name(&raw.name).map_err(|e| (None, e))?;
    let rtype = match raw.rtype {
        PoolType::A => RecordType::A,
        PoolType::Aaaa => RecordType::AAAA,
        PoolType::Cname => RecordType::CNAME,
    };
    let at = |e: String| (None, format!("pool {name}: {e}"));
    let answers = answers(raw.answers, rtype).map_err(at)?;
    if raw.members.is_empty() {
        return Err(at("the pool has no members".into()));
    }
    let slow_start = raw
        .slow_start
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| at(format!("slow_start: {e}")))?;
    let probe = raw
        .probe
        .as_ref()
        .map(|p| probes::spec(p, &name))
        .transpose()
        .map_err(|e| at(format!("probe: {e}")))?;
    let ttl = raw.ttl.unwrap_or(DEFAULT_TTL);
    let shape = Shape {
        name: &name,
        rtype,
        ttl,
        probe: probe.as_ref(),
    };
    let mut members: Vec<Member> = Vec::with_capacity(raw.members.len());
    for m in &raw.members {
        let line = config.line_of(m.span().start);
        let at_member = |e: String| (Some(line), format!("pool {name}: {e}"));
        let member = shape.member(m.get_ref(), cells).map_err(at_member)?;
        if members.iter().any(|x| x.record.data == member.record.data) {
            return Err(at_member(format!(
                "member {} is listed twice",
                member.label
            )));
        }
        members.push(member);
    }
    let labels: Vec<String> = members.iter().map(|m| m.label.clone()).collect();
    let (policy, ecs) = crate::pool::policy::build(raw, &labels, geoip).map_err(at)?;
    let uses_client = policy.uses_client();
    Ok(Pool {
        name,
        rtype,
        ttl,
        answers,
        policy,
        uses_client,
        ecs,
        members: members.into_boxed_slice(),
        all_down: match raw.all_down {
            None | Some(AllDownMode::Open) => AllDown::Open,
            Some(AllDownMode::Empty) => AllDown::Empty,
        },
        slow_start,
        probe,
        config_file,
        config_line,
        all_members_down: AtomicBool::new(false),
        id: Pool::new_id(),
    })
}

/// The pool's name, fully qualified.
fn pool_name(text: &str) -> Result<Name, String> {
    let mut name =
        Name::from_ascii(text).map_err(|e| format!("pool `{text}` is not a domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name)
}

/// How many members an answer carries.
fn answers(raw: Option<i64>, rtype: RecordType) -> Result<usize, String> {
    match raw {
        None => Ok(1),
        Some(n) if n < 1 => Err(format!("answers must be at least 1, not {n}")),
        Some(n) if rtype == RecordType::CNAME && n != 1 => {
            Err("a CNAME pool answers with one member; remove `answers`".into())
        }
        Some(n) => usize::try_from(n).map_err(|_| "answers is too large".into()),
    }
}

/// What every member of one pool shares.
struct Shape<'a> {
    name: &'a Name,
    rtype: RecordType,
    ttl: u32,
    probe: Option<&'a ProbeSpec>,
}

impl Shape<'_> {
    /// Validates one member; its cells come from `cells`.
    fn member(&self, m: &RawMember, cells: &mut Cells) -> Result<Member, String> {
        let weight = u32::try_from(m.weight).map_err(|_| match m.weight {
            w if w < 0 => format!("weight {w} must be a non-negative integer"),
            w => format!("weight {w} is too big (at most {})", u32::MAX),
        })?;
        let (rdata, label, ip) = self.rdata(m)?;
        let check = self.check(m, &label, ip)?;
        let state = cells.member(self.name, self.rtype, &label);
        if state.override_masks(weight) {
            tracing::warn!(pool = %self.name, member = %label, configured = weight,
                override = ?state.weight_override(),
                "the admin's weight override hides the changed configured weight; DELETE it to use the new one");
        }
        let health = match (self.probe, check) {
            (Some(p), Some(addr)) => Some(cells.target(p, addr)),
            _ => None,
        };
        Ok(Member {
            record: Record::from_rdata(self.name.clone(), self.ttl, rdata),
            state,
            label,
            weight,
            check,
            health,
        })
    }

    /// The member's record data, its label, and its address (A/AAAA).
    fn rdata(&self, m: &RawMember) -> Result<(RData, String, Option<IpAddr>), String> {
        let rtype = self.rtype;
        match (rtype, &m.address, &m.target) {
            (RecordType::CNAME, None, Some(t)) => {
                let mut target = Name::from_ascii(t)
                    .map_err(|e| format!("target `{t}` is not a domain name: {e}"))?;
                target.set_fqdn(true);
                Ok((RData::CNAME(CNAME(target)), t.clone(), None))
            }
            (RecordType::CNAME, _, _) => {
                Err("a CNAME pool's members have `target`, not `address`".into())
            }
            (_, Some(a), None) => {
                let ip: IpAddr = a
                    .parse()
                    .map_err(|_| format!("`{a}` is not an IP address"))?;
                let rdata = match (rtype, ip) {
                    (RecordType::A, IpAddr::V4(v4)) => RData::A(A(v4)),
                    (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
                    _ => return Err(format!("{a} is not an {rtype} address")),
                };
                Ok((rdata, a.clone(), Some(ip)))
            }
            _ => Err(format!(
                "an {rtype} pool's members have `address`, not `target`"
            )),
        }
    }

    /// Where the member is probed: `check`, or its address at the probe's port.
    fn check(
        &self,
        m: &RawMember,
        label: &str,
        ip: Option<IpAddr>,
    ) -> Result<Option<SocketAddr>, String> {
        match (&m.check, self.probe, ip) {
            (Some(c), _, _) => c
                .parse::<SocketAddr>()
                .map(Some)
                .map_err(|_| format!("check `{c}` is not host:port")),
            (None, Some(p), Some(ip)) => p
                .port
                .map(|port| Some(SocketAddr::new(ip, port)))
                .ok_or_else(|| "probe needs a port (or each member a `check`)".into()),
            (None, Some(_), None) => Err(format!(
                "member {label} of a CNAME pool needs `check = \"host:port\"` to be probed"
            )),
            (None, None, _) => Ok(None),
        }
    }
}
