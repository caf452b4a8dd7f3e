//! The answering logic of an authoritative server (RFC 1034 §4.3.2, RFC 2308, RFC 4592,
//! RFC 8482), as a pure function of (what is served, question, rng): no I/O, no locks.
//!
//! The result borrows the zones' records; only wildcard-synthesised records are owned.
//!
//! With DO set and a signed zone, each RRset comes with its RRSIGs and negative answers,
//! wildcard answers and referrals with their proofs ([`proof`]).

mod proof;

use std::borrow::Cow;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use smallvec::SmallVec;

use crate::pool::{Clients, Picker, Pool};
use crate::served::Served;
use crate::zone::pool_signatures::PoolSignatures;
use crate::zone::{Lookup, Node, RRset, Signed, Zone};

/// How many CNAMEs (and DNAME substitutions) are followed before the answer stops. NSD follows
/// any chain; we stop at 16, so that the work of one query stays bounded.
const MAX_CHAIN: usize = 16;

/// The sections of a response, before encoding.
#[derive(Debug, Default)]
pub struct Answer<'a> {
    /// The response code.
    pub rcode: ResponseCode,
    /// AA: set for answers from our zones, clear for referrals.
    pub authoritative: bool,
    /// Answer section.
    pub answers: SmallVec<[Cow<'a, Record>; 4]>,
    /// Authority section.
    pub authority: SmallVec<[Cow<'a, Record>; 4]>,
    /// Additional section.
    pub additional: SmallVec<[Cow<'a, Record>; 4]>,
    /// The ECS scope prefix length (RFC 7871): how much of the client's subnet the answer
    /// depends on (0: nothing).
    pub ecs_scope: u8,
    /// Some record was drawn from a pool: the answer differs from one query to the next, so it
    /// cannot be prepared ahead ([`crate::prepare`]).
    pub drawn: bool,
}

impl<'a> Answer<'a> {
    /// Drops every record, for a truncated (TC) response: no partial RRsets.
    pub fn clear_records(&mut self) {
        self.answers.clear();
        self.authority.clear();
        self.additional.clear();
    }
}

/// A question: its name (as the client wrote it), its type, and whether it asked for DNSSEC
/// records (the DO bit, RFC 3225).
#[derive(Debug, Clone, Copy)]
pub struct Question<'q> {
    /// The name.
    pub name: &'q Name,
    /// The type.
    pub qtype: RecordType,
    /// DO: RRSIGs and proofs wanted, where the zone is signed.
    pub dnssec_ok: bool,
}

/// Answers `question` (class IN) from `served`. Answer records owned by the query name carry
/// its name exactly as given (the client's case, so that they compress against the question).
pub fn resolve<'a>(
    served: &'a Served,
    question: Question<'_>,
    picker: &mut Picker,
    clients: &Clients,
) -> Answer<'a> {
    resolve_with(served, question, &mut Draw::Yes { picker, clients })
}

/// [`resolve`] for an answer that draws from no pool: `None` when it would draw (nothing is
/// drawn, no member counted as served, no policy state moved). What [`crate::prepare`] asks.
pub fn resolve_undrawn<'a>(served: &'a Served, question: Question<'_>) -> Option<Answer<'a>> {
    let answer = resolve_with(served, question, &mut Draw::No);
    (!answer.drawn).then_some(answer)
}

/// Whether pools are drawn.
enum Draw<'r> {
    /// Yes, with the serving thread's picker, for these clients.
    Yes {
        picker: &'r mut Picker,
        clients: &'r Clients,
    },
    /// No: a pool marks the answer drawn and adds nothing.
    No,
}

impl Draw<'_> {
    /// Draws from `pool` into `out`, with the RRSIGs of the drawn set when `signatures` (a zone
    /// signed here, asked with DO); returns the ECS scope.
    fn pool<'a>(
        &mut self,
        pool: &'a Pool,
        signatures: Option<&PoolSignatures>,
        out: &mut SmallVec<[Cow<'a, Record>; 8]>,
    ) -> u8 {
        match self {
            Draw::Yes { picker, clients } => pool.draw_with(picker, clients, |picks, scope| {
                let members = |picks: &[usize], out: &mut SmallVec<[Cow<'a, Record>; 8]>| {
                    out.extend(
                        picks
                            .iter()
                            .map(|&i| Cow::Borrowed(&pool.members[i].record)),
                    );
                };
                let Some(signatures) = signatures else {
                    members(picks, out);
                    return scope;
                };
                signatures.with_signed(picks, |picks, rrsigs, hit| {
                    signatures.count_general(hit);
                    members(picks, out);
                    let records = PoolSignatures::decode(rrsigs, &pool.name);
                    out.extend(records.into_iter().map(Cow::Owned));
                });
                scope
            }),
            Draw::No => 0,
        }
    }
}

fn resolve_with<'a>(served: &'a Served, question: Question<'_>, draw: &mut Draw<'_>) -> Answer<'a> {
    let (qname, qtype) = (question.name, question.qtype);
    let mut zone = match first_zone(served, qname, qtype) {
        Ok(zone) => zone,
        Err(rcode) => {
            return Answer {
                rcode,
                ..Answer::default()
            };
        }
    };
    let mut ans = Answer {
        rcode: ResponseCode::NoError,
        authoritative: true,
        ..Answer::default()
    };
    let mut name: Cow<'_, Name> = Cow::Borrowed(qname);
    for _ in 0..=MAX_CHAIN {
        // Signatures and proofs: asked for, and this link's zone signed.
        let signed = zone.dnssec.as_deref().filter(|_| question.dnssec_ok);
        match zone.lookup(&name, qtype) {
            Lookup::NxDomain => {
                ans.rcode = ResponseCode::NXDomain;
                negative(zone, signed, &mut ans);
                if let Some(s) = signed {
                    proof::nxdomain(zone, s, &name, &mut ans.authority);
                }
                break;
            }
            Lookup::Referral(cut, cut_name) => {
                if ans.answers.is_empty() {
                    ans.authoritative = false;
                }
                referral(zone, cut, &mut ans);
                if let Some(s) = signed {
                    proof::referral(zone, s, cut, &cut_name, &mut ans.authority);
                }
                break;
            }
            Lookup::Dname(node, owner) => {
                let Some(target) = dname(node, &owner, &name, signed.is_some(), &mut ans) else {
                    break;
                };
                // The synthesised CNAME itself is the last answer: loops are checked before it.
                let before = ans.answers.len() - 1;
                let Some(next) = follow(served, &ans.answers[..before], target) else {
                    break;
                };
                (zone, name) = next;
            }
            Lookup::Node { node, wildcard } => {
                let first = ans.answers.is_empty();
                let at = At {
                    zone,
                    node,
                    name: &name,
                    owner: (first || wildcard).then_some(&*name),
                    wildcard,
                    signed,
                };
                let next = node_answer(&at, qtype, draw, &mut ans);
                let Some(target) = next else { break };
                let Some(next) = follow(served, &ans.answers, target) else {
                    break;
                };
                (zone, name) = next;
            }
        }
    }
    ans
}

/// The zone that answers `qname` first: SERVFAIL for an unavailable secondary zone, REFUSED
/// for a name that is not ours; DS at a child's apex from the parent, when we serve it too
/// (DS lives on the parent side of a cut, RFC 4035 §3.1.4.1).
fn first_zone<'a>(
    served: &'a Served,
    qname: &Name,
    qtype: RecordType,
) -> Result<&'a Zone, ResponseCode> {
    let found = served.find_zone(qname);
    if !served.unavailable.is_empty() && served.is_unavailable(qname, found) {
        return Err(ResponseCode::ServFail);
    }
    let zone = found.ok_or(ResponseCode::Refused)?;
    if qtype == RecordType::DS
        && zone.origin == *qname
        && !qname.is_root()
        && let Some(parent) = served.find_zone(&qname.base_name())
    {
        return Ok(parent);
    }
    Ok(zone)
}

/// The SOA of a negative answer in the authority section, with its RRSIGs when `signed`
/// (given the negative TTL too, as Knot does).
fn negative<'a>(zone: &'a Zone, signed: Option<&Signed>, ans: &mut Answer<'a>) {
    let soa = zone.negative_soa();
    ans.authority.push(Cow::Borrowed(soa));
    if signed.is_some() {
        let sigs = zone.negative_soa_signatures();
        ans.authority.extend(sigs.into_iter().map(Cow::Owned));
    }
}

/// Where [`node_answer`] answers: an existing node (or the wildcard synthesising `name`).
struct At<'a, 'n> {
    zone: &'a Zone,
    node: Node<'a>,
    /// The name asked at this link of the chain.
    name: &'n Name,
    /// When given, replaces the records' owner where it differs (a wildcard's, or the
    /// question's case).
    owner: Option<&'n Name>,
    /// `node` is the wildcard that synthesises `name`.
    wildcard: bool,
    /// The zone's signing, when the answer carries DNSSEC records.
    signed: Option<&'a Signed>,
}

impl<'a> At<'a, '_> {
    /// The signatures of `pool`'s RRsets, when the answer carries DNSSEC records and dnslb
    /// signed the zone.
    fn pool_signatures(&self, pool: &Pool) -> Option<&'a PoolSignatures> {
        self.signed?;
        self.zone.pool_signatures(pool).map(|s| &**s)
    }
}

/// Where a chain goes next: `target`'s zone, while it stays inside our zones and does not loop
/// back to an owner already answered.
fn follow<'a, 'n>(
    served: &'a Served,
    answered: &[Cow<'a, Record>],
    target: Name,
) -> Option<(&'a Zone, Cow<'n, Name>)> {
    if answered.iter().any(|r| r.name == target) {
        return None;
    }
    served.find_zone(&target).map(|z| (z, Cow::Owned(target)))
}

/// Answers at an existing node; returns the CNAME target to follow, if any.
fn node_answer<'a>(
    at: &At<'a, '_>,
    qtype: RecordType,
    draw: &mut Draw<'_>,
    ans: &mut Answer<'a>,
) -> Option<Name> {
    let (zone, node) = (at.zone, at.node);
    let start = ans.answers.len();
    let mut picked: SmallVec<[Cow<'a, Record>; 8]> = SmallVec::new();
    let mut follow = None;
    let mut scope = 0;
    let signed = at.signed.is_some();

    if qtype == RecordType::RRSIG {
        every_signature(node, &mut picked);
    } else if node.has_cname() && node.rrset(qtype).is_none() {
        // (The types beside a CNAME, its NSEC and RRSIGs, are answered as themselves.)
        match node.pool(RecordType::CNAME) {
            Some(pool) => {
                ans.drawn = true;
                scope = draw.pool(pool, at.pool_signatures(pool), &mut picked);
            }
            None => pick(node.rrset(RecordType::CNAME), signed, &mut picked),
        }
        follow = picked.first().and_then(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.clone()),
            _ => None,
        });
        // A minimal ANY at a CNAME is the CNAME itself (RFC 8482 §4.2); no chase.
        if qtype == RecordType::ANY {
            follow = None;
        }
    } else if qtype == RecordType::ANY {
        // RFC 8482: one RRset is a complete answer; pools first, as the name's purpose.
        if let Some(pool) = node.pools().first() {
            ans.drawn = true;
            scope = draw.pool(pool, at.pool_signatures(pool), &mut picked);
        } else {
            pick(node.any_rrset(), signed, &mut picked);
        }
    } else if let Some(pool) = node.pool(qtype) {
        ans.drawn = true;
        scope = draw.pool(pool, at.pool_signatures(pool), &mut picked);
    } else {
        pick(node.rrset(qtype), signed, &mut picked);
    }

    ans.ecs_scope = ans.ecs_scope.max(scope);
    for r in picked {
        ans.answers.push(match at.owner {
            Some(owner) if !r.name.eq_case(owner) => {
                let mut synth = r.into_owned();
                synth.name = owner.clone();
                Cow::Owned(synth)
            }
            _ => r,
        });
    }
    if ans.answers.len() == start {
        // NODATA (an empty non-terminal, another type, or an all-down pool answering empty).
        negative(zone, at.signed, ans);
        if let Some(s) = at.signed {
            proof::nodata(zone, s, node, at.name, at.wildcard, &mut ans.authority);
        }
        return None;
    }
    if let Some(s) = at.signed
        && at.wildcard
    {
        proof::wildcard_answer(zone, s, at.name, &mut ans.authority);
    }
    if follow.is_none() {
        additional_for(zone, signed, ans, start);
    }
    follow
}

/// Every signature at `node`, as NSD answers a question for RRSIG.
fn every_signature<'a>(node: Node<'_>, out: &mut SmallVec<[Cow<'a, Record>; 8]>) {
    for set in node.rrsets() {
        let sigs = match set.rtype {
            RecordType::RRSIG => Some(set),
            _ => set.signatures(),
        };
        out.extend(sigs.into_iter().flat_map(RRset::records).map(Cow::Owned));
    }
}

/// Picks the records of `set` (none when absent), and their RRSIGs when `signed`.
fn pick<'a>(set: Option<RRset<'_>>, signed: bool, out: &mut SmallVec<[Cow<'a, Record>; 8]>) {
    let Some(set) = set else { return };
    out.extend(set.records().into_iter().map(Cow::Owned));
    if signed {
        out.extend(proof::signatures(set).into_iter().map(Cow::Owned));
    }
}

/// Answers a name below a DNAME (RFC 6672 §3.3): the DNAME, and a CNAME from `name` to the
/// substituted name with the DNAME's TTL. Returns the name to follow; `None` (and YXDOMAIN) when
/// the substituted name would be too long.
fn dname<'a>(
    node: Node<'a>,
    owner: &Name,
    name: &Name,
    signed: bool,
    ans: &mut Answer<'a>,
) -> Option<Name> {
    let set = node.rrset(RecordType::DNAME)?;
    let record = set.records().into_iter().next()?;
    let RData::Unknown { rdata, .. } = &record.data else {
        return None;
    };
    let target = name_from_wire(&rdata.anything)?;
    let ttl = record.ttl;
    ans.answers.push(Cow::Owned(record));
    if signed {
        // The DNAME is signed; the CNAME made from it is not (RFC 6672 §5.3.1).
        let sigs = proof::signatures(set);
        ans.answers.extend(sigs.into_iter().map(Cow::Owned));
    }
    let prefix = name.num_labels() - owner.num_labels();
    let labels = name.iter().take(usize::from(prefix));
    let substituted = Name::from_labels(labels.chain(target.iter()))
        .ok()
        .filter(|n| n.len() <= 255);
    let Some(mut substituted) = substituted else {
        ans.rcode = ResponseCode::YXDomain;
        return None;
    };
    substituted.set_fqdn(true);
    let cname = Record::from_rdata(name.clone(), ttl, RData::CNAME(CNAME(substituted.clone())));
    ans.answers.push(Cow::Owned(cname));
    Some(substituted)
}

/// Decodes a name in wire form (as opaque RDATA holds it).
fn name_from_wire(bytes: &[u8]) -> Option<Name> {
    use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
    Name::read(&mut BinDecoder::new(bytes)).ok()
}

/// Adds a referral: the cut's NS in authority, glue and in-zone addresses in additional.
fn referral<'a>(zone: &'a Zone, cut: Node<'a>, ans: &mut Answer<'a>) {
    let Some(ns) = cut.rrset(RecordType::NS) else {
        return;
    };
    let records = ns.records();
    for r in &records {
        if let RData::NS(target) = &r.data {
            push_addresses(zone, &target.0, false, &mut ans.additional);
        }
    }
    ans.authority.extend(records.into_iter().map(Cow::Owned));
}

/// Additional-section processing for MX, SRV and NS answers (RFC 1035 §3.3, RFC 2782), from
/// the zone that answered them only (as NSD and Knot do).
fn additional_for<'a>(zone: &'a Zone, signed: bool, ans: &mut Answer<'a>, from: usize) {
    let mut extra: SmallVec<[Cow<'a, Record>; 4]> = SmallVec::new();
    for r in &ans.answers[from..] {
        let target = match &r.data {
            RData::MX(mx) => &mx.exchange,
            RData::SRV(srv) => &srv.target,
            RData::NS(ns) => &ns.0,
            _ => continue,
        };
        push_addresses(zone, target, signed, &mut extra);
    }
    ans.additional.extend(extra);
}

/// Pushes the static A and AAAA records of `name` in `zone`: its authoritative data (with its
/// RRSIGs when `signed`, RFC 4035 §3.1.1), or glue.
fn push_addresses<'a>(
    zone: &'a Zone,
    name: &Name,
    signed: bool,
    out: &mut SmallVec<[Cow<'a, Record>; 4]>,
) {
    if !zone.origin.zone_of(name) {
        return;
    }
    match zone.node(name) {
        Some(node) if !node.cut() => {
            for t in [RecordType::A, RecordType::AAAA] {
                if let Some(set) = node.rrset(t) {
                    out.extend(set.records().into_iter().map(Cow::Owned));
                    if signed {
                        let sigs = proof::signatures(set);
                        out.extend(sigs.into_iter().map(Cow::Owned));
                    }
                }
            }
        }
        _ => out.extend(zone.glue(name).iter().map(Cow::Borrowed)),
    }
}
