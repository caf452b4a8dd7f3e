//! Truncation, as NSD and Knot do it: a response that does not fit carries TC and no partial
//! RRsets (and never loses its OPT record, whose octets are set aside first); optional
//! additional records that do not fit are dropped without TC (RFC 2181 §9), but a referral that
//! loses glue sets TC (RFC 9471). Decided here rather than left to the encoder; a pure function
//! of the answer, the question and the room.

use hickory_server::proto::ProtoError;
use hickory_server::proto::rr::{RData, Record};
use hickory_server::proto::serialize::binary::BinEncoder;
use smallvec::SmallVec;

use crate::answer::Answer;

/// Makes `answer` fit in `room` octets (the response's size limit less our OPT record) after a
/// header and `question` (one question, as the response carries it); returns whether the
/// response must carry TC. Records are cleared when the answer or authority does not fit.
pub fn truncate(question: &[u8], answer: &mut Answer<'_>, room: usize) -> Result<bool, ProtoError> {
    Ok(match fit(question, answer, room)? {
        Fit::Whole => false,
        // RFC 9471: glue a referral needs but cannot carry must send the resolver to TCP.
        Fit::AdditionalTrimmed => !answer.authoritative,
        Fit::No => {
            answer.clear_records();
            true
        }
    })
}

/// How much of an answer fits in the room a response has.
#[derive(Debug, PartialEq, Eq)]
enum Fit {
    /// All of it.
    Whole,
    /// The answer and authority sections; the additional section was cut to what fits.
    AdditionalTrimmed,
    /// Not even the answer and authority sections.
    No,
}

/// Measures whether the answer and authority sections fit in `room` bytes, and trims the
/// additional section to what fits. Cheap for the usual small answer: the exact (compressed) size
/// is only measured when an uncompressed upper bound says it might not fit.
fn fit(question: &[u8], answer: &mut Answer<'_>, room: usize) -> Result<Fit, ProtoError> {
    let bound = 12
        + question.len()
        + answer.answers.iter().map(|r| size_bound(r)).sum::<usize>()
        + answer
            .authority
            .iter()
            .map(|r| size_bound(r))
            .sum::<usize>()
        + answer
            .additional
            .iter()
            .map(|r| size_bound(r))
            .sum::<usize>();
    if bound <= room {
        return Ok(Fit::Whole);
    }
    let mut buf = Vec::with_capacity(room);
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(u16::try_from(room).unwrap_or(u16::MAX));
    encoder.emit_vec(&[0u8; 12])?;
    // The question exactly as the response will carry it: the raw bytes, its name known to the
    // compression table (as `learn_question_name` makes it known), so the measure matches.
    let start = encoder.offset();
    encoder.emit_vec(question)?;
    if question.len() > 5 {
        encoder.store_label_pointer(start, start + question.len() - 5);
    }
    let answers: SmallVec<[&Record; 8]> = answer.answers.iter().map(AsRef::as_ref).collect();
    let authority: SmallVec<[&Record; 8]> = answer.authority.iter().map(AsRef::as_ref).collect();
    for section in [&answers[..], &authority[..]] {
        if let Err(e) = encoder.emit_all(section.iter().copied()) {
            return match e {
                ProtoError::NotAllRecordsWritten { .. } => Ok(Fit::No),
                e => Err(e),
            };
        }
    }
    match encoder.emit_all(answer.additional.iter().map(AsRef::as_ref)) {
        Ok(_) => Ok(Fit::Whole),
        Err(ProtoError::NotAllRecordsWritten { count, .. }) => {
            answer.additional.truncate(count);
            Ok(Fit::AdditionalTrimmed)
        }
        Err(e) => Err(e),
    }
}

/// An upper bound of a record's encoded size, without compression.
fn size_bound(r: &Record) -> usize {
    const UNKNOWN: usize = 1 << 16;
    let name = |n: &hickory_server::proto::rr::Name| n.len() + 1;
    let rdata = match &r.data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::CNAME(n) => name(&n.0),
        RData::NS(n) => name(&n.0),
        RData::PTR(n) => name(&n.0),
        RData::MX(mx) => 2 + name(&mx.exchange),
        RData::SRV(srv) => 6 + name(&srv.target),
        RData::SOA(soa) => name(&soa.mname) + name(&soa.rname) + 20,
        RData::TXT(txt) => txt.txt_data.iter().map(|s| s.len() + 1).sum(),
        RData::Unknown { rdata, .. } => rdata.anything.len(),
        _ => UNKNOWN,
    };
    name(&r.name) + 10 + rdata
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use hickory_server::proto::rr::Name;
    use hickory_server::proto::rr::rdata::{A, NS, TXT};

    use super::*;

    fn question(name: &Name) -> Vec<u8> {
        let mut q = Vec::new();
        for label in name.iter() {
            q.push(label.len() as u8);
            q.extend_from_slice(label);
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    fn txt(owner: &Name, octets: usize) -> Cow<'static, Record> {
        let text = "x".repeat(octets);
        Cow::Owned(Record::from_rdata(
            owner.clone(),
            300,
            RData::TXT(TXT::new(vec![text])),
        ))
    }

    #[test]
    fn what_fits_is_sent_whole() {
        let name = Name::from_str("www.example.com.").unwrap();
        let mut answer = Answer {
            authoritative: true,
            ..Answer::default()
        };
        answer.answers.push(txt(&name, 100));
        assert!(!truncate(&question(&name), &mut answer, 512).unwrap());
        assert_eq!(answer.answers.len(), 1);
    }

    #[test]
    fn an_answer_that_does_not_fit_is_cleared_with_tc() {
        let name = Name::from_str("www.example.com.").unwrap();
        let mut answer = Answer {
            authoritative: true,
            ..Answer::default()
        };
        for _ in 0..3 {
            answer.answers.push(txt(&name, 200));
        }
        assert!(truncate(&question(&name), &mut answer, 512).unwrap());
        assert!(answer.answers.is_empty() && answer.additional.is_empty());
    }

    #[test]
    fn additional_data_is_trimmed_and_tc_only_for_a_referral() {
        let name = Name::from_str("sub.example.com.").unwrap();
        let ns = Name::from_str("ns.sub.example.com.").unwrap();
        let glue = |i: u8| {
            Cow::Owned(Record::from_rdata(
                ns.clone(),
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, i))),
            ))
        };
        let build = |authoritative: bool| {
            let mut answer = Answer {
                authoritative,
                ..Answer::default()
            };
            answer.authority.push(Cow::Owned(Record::from_rdata(
                name.clone(),
                300,
                RData::NS(NS(ns.clone())),
            )));
            for i in 0..40 {
                answer.additional.push(glue(i));
            }
            answer
        };
        let mut referral = build(false);
        assert!(truncate(&question(&name), &mut referral, 300).unwrap());
        assert!(!referral.authority.is_empty(), "the referral's NS stays");
        assert!(referral.additional.len() < 40 && !referral.additional.is_empty());
        let mut authoritative = build(true);
        assert!(!truncate(&question(&name), &mut authoritative, 300).unwrap());
        assert!(authoritative.additional.len() < 40);
    }
}
