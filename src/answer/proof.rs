//! DNSSEC in answers to queries with DO (RFC 4035 §3.1): the proofs that a name, a type or a
//! wildcard does not exist, by NSEC (RFC 4035 §3.1.3) or NSEC3 (RFC 5155 §7.2), and the DS or
//! its absence in referrals (RFC 4035 §3.1.4). Every proof is found among the signer's records;
//! nothing is signed here. Each RRset goes in once, with its RRSIGs.

use std::borrow::Cow;

use hickory_proto::rr::{Name, Record, RecordType};
use smallvec::SmallVec;

use crate::zone::signed::Nsec3Chain;
use crate::zone::{Denial, Node, RRset, Signed, Zone};

/// A section of the answer being built.
pub(super) type Section<'a> = SmallVec<[Cow<'a, Record>; 4]>;

/// Pushes `set` and its signatures into `out`, unless an RRset of its owner and type is
/// there already.
pub(super) fn push_signed<'a>(set: RRset<'_>, out: &mut Section<'a>) {
    let records = set.records();
    let Some(first) = records.first() else { return };
    let there = out
        .iter()
        .any(|r| r.record_type() == set.rtype && r.name == first.name);
    if there {
        return;
    }
    out.extend(records.into_iter().map(Cow::Owned));
    if let Some(sigs) = set.signatures() {
        out.extend(sigs.records().into_iter().map(Cow::Owned));
    }
}

/// The RRSIGs of `set` (none when it is unsigned).
pub(super) fn signatures(set: RRset<'_>) -> Vec<Record> {
    set.signatures().map(RRset::records).unwrap_or_default()
}

/// How many labels `name` has, a `*` label counted (hickory's `num_labels` leaves it out, as
/// an RRSIG's label count does).
fn depth(name: &Name) -> usize {
    name.iter().count()
}

/// The nearest existing ancestor of `name`, which does not exist (or is synthesised from a
/// wildcard): its closest encloser (RFC 4592 §3.3.1).
fn closest_encloser(zone: &Zone, name: &Name) -> Name {
    let mut ce = name.base_name();
    while depth(&ce) > depth(&zone.origin) && zone.node(&ce).is_none() {
        ce = ce.base_name();
    }
    ce
}

/// The NSEC RRset at `owner`, if any.
fn nsec_at<'z>(zone: &'z Zone, owner: &Name) -> Option<RRset<'z>> {
    zone.node(owner)?.rrset(RecordType::NSEC)
}

/// Pushes the NSEC that covers (or matches) `name`.
fn push_nsec_covering(zone: &Zone, owners: &[Name], name: &Name, out: &mut Section<'_>) {
    if let Some(owner) = Denial::nsec_owner(owners, name)
        && let Some(set) = nsec_at(zone, &owner)
    {
        push_signed(set, out);
    }
}

/// Pushes the NSEC3 that covers the hash of `name`.
fn push_nsec3_covering(chain: &Nsec3Chain, name: &Name, out: &mut Section<'_>) {
    if let Some(link) = chain.hash(name).and_then(|h| chain.covering(&h)) {
        push_signed(link.set(), out);
    }
}

/// Pushes the NSEC3 that matches `name`; whether there is one.
fn push_nsec3_matching(chain: &Nsec3Chain, name: &Name, out: &mut Section<'_>) -> bool {
    match chain.hash(name).and_then(|h| chain.matching(&h)) {
        Some(link) => {
            push_signed(link.set(), out);
            true
        }
        None => false,
    }
}

/// The closest encloser proof (RFC 5155 §7.2.1): the NSEC3 matching the closest provable
/// encloser of `name` (`from` or an ancestor: under opt-out an empty non-terminal may have
/// none), and the one covering the next closer name. Returns the encloser proved.
fn push_encloser_proof(
    zone: &Zone,
    chain: &Nsec3Chain,
    name: &Name,
    from: &Name,
    out: &mut Section<'_>,
) -> Name {
    let mut ce = from.clone();
    while !push_nsec3_matching(chain, &ce, out) && depth(&ce) > depth(&zone.origin) {
        ce = ce.base_name();
    }
    if depth(name) > depth(&ce) {
        let next_closer = name.trim_to(depth(&ce) + 1);
        push_nsec3_covering(chain, &next_closer, out);
    }
    ce
}

/// `*.<name>`.
fn wildcard_of(name: &Name) -> Option<Name> {
    name.prepend_label("*").ok()
}

/// NXDOMAIN: the name and the wildcard that could have made it are both absent.
pub(super) fn nxdomain(zone: &Zone, signed: &Signed, name: &Name, out: &mut Section<'_>) {
    let ce = closest_encloser(zone, name);
    match &signed.denial {
        Denial::Nsec(owners) => {
            push_nsec_covering(zone, owners, name, out);
            if let Some(wild) = wildcard_of(&ce) {
                push_nsec_covering(zone, owners, &wild, out);
            }
        }
        Denial::Nsec3(chain) => {
            let ce = push_encloser_proof(zone, chain, name, &ce, out);
            if let Some(wild) = wildcard_of(&ce) {
                push_nsec3_covering(chain, &wild, out);
            }
        }
        Denial::Missing => {}
    }
}

/// NODATA at `node` (`name`, or a wildcard that synthesises `name`): the type is absent.
pub(super) fn nodata(
    zone: &Zone,
    signed: &Signed,
    node: Node<'_>,
    name: &Name,
    wildcard: bool,
    out: &mut Section<'_>,
) {
    match &signed.denial {
        Denial::Nsec(owners) => {
            match node.rrset(RecordType::NSEC) {
                // The wildcard's NSEC proves the type absent; another proves the name absent.
                Some(own) if wildcard => {
                    push_nsec_covering(zone, owners, name, out);
                    push_signed(own, out);
                }
                Some(own) => push_signed(own, out),
                // An empty non-terminal has no NSEC: the one covering it proves it has no data.
                None => push_nsec_covering(zone, owners, name, out),
            }
        }
        Denial::Nsec3(chain) => {
            if wildcard {
                let ce = closest_encloser(zone, name);
                let ce = push_encloser_proof(zone, chain, name, &ce, out);
                if let Some(wild) = wildcard_of(&ce) {
                    push_nsec3_matching(chain, &wild, out);
                }
            } else if !push_nsec3_matching(chain, name, out) {
                // No NSEC3 of its own: a DS question at an opt-out delegation (RFC 5155
                // §7.2.4), or an empty non-terminal only above such delegations.
                push_encloser_proof(zone, chain, name, name, out);
            }
        }
        Denial::Missing => {}
    }
}

/// A wildcard's answer: the proof that `name` itself does not exist (RFC 4035 §3.1.3.3,
/// RFC 5155 §7.2.6).
pub(super) fn wildcard_answer(zone: &Zone, signed: &Signed, name: &Name, out: &mut Section<'_>) {
    match &signed.denial {
        Denial::Nsec(owners) => push_nsec_covering(zone, owners, name, out),
        Denial::Nsec3(chain) => {
            let ce = closest_encloser(zone, name);
            if depth(name) > depth(&ce) {
                let next_closer = name.trim_to(depth(&ce) + 1);
                push_nsec3_covering(chain, &next_closer, out);
            }
        }
        Denial::Missing => {}
    }
}

/// A referral's DS with its RRSIG, or the proof that the child has none (RFC 4035 §3.1.4,
/// RFC 5155 §7.2.7).
pub(super) fn referral(
    zone: &Zone,
    signed: &Signed,
    cut: Node<'_>,
    cut_name: &Name,
    out: &mut Section<'_>,
) {
    if let Some(ds) = cut.rrset(RecordType::DS) {
        push_signed(ds, out);
        return;
    }
    match &signed.denial {
        Denial::Nsec(_) => {
            if let Some(nsec) = cut.rrset(RecordType::NSEC) {
                push_signed(nsec, out);
            }
        }
        Denial::Nsec3(chain) => {
            if !push_nsec3_matching(chain, cut_name, out) {
                push_encloser_proof(zone, chain, cut_name, cut_name, out);
            }
        }
        Denial::Missing => {}
    }
}
