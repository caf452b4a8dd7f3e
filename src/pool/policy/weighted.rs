//! `weighted`: a weighted random draw without replacement ([`select`]); a draw table holds it.

use super::{Ask, Entry, Input, Picks, Policy, Scope, Select};
use crate::config::PolicyName;
use crate::pool::select::Candidate;
use crate::pool::table::{Outcomes, select_outcomes};

/// The config's `weighted` (the default).
pub const ENTRY: Entry = Entry {
    name: PolicyName::Weighted,
    pool_keys: &[],
    member_keys: &[],
    build,
};

fn build(_: &Input<'_>) -> Result<Policy, String> {
    Ok(Box::new(Weighted))
}

/// A weighted random draw without replacement.
#[derive(Debug)]
pub struct Weighted;

impl Select for Weighted {
    fn name(&self) -> &'static str {
        "weighted"
    }

    fn pick(&self, ask: Ask<'_>) -> (Picks, Scope) {
        ask.by_weight()
    }

    fn outcomes(&self, candidates: &[Candidate], n: usize) -> Option<Outcomes> {
        let mut out = Outcomes::default();
        select_outcomes(candidates, n, 1.0, &mut out).then_some(out)
    }
}
