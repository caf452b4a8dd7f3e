//! Selection policies: how a pool turns its members' candidates into this answer's picks. A
//! policy is a value the pool holds; each is a pure function of (candidates, how many, rng).
//!
//! A new policy is a variant here with its function (beside [`select`](super::select())), its
//! config word, and the line of [`crate::load`] that reads the word into the variant.

use rand::Rng;

use super::select::{Candidate, Picks, select};

/// How a pool chooses among its available members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// A weighted random draw without replacement.
    #[default]
    Weighted,
}

impl Policy {
    /// The policy's name as the config and `/status` write it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Weighted => "weighted",
        }
    }

    /// Picks up to `n` of `candidates` for one answer, in answer order.
    pub fn pick<R: Rng + ?Sized>(self, candidates: &[Candidate], n: usize, rng: &mut R) -> Picks {
        match self {
            Policy::Weighted => select(candidates, n, rng),
        }
    }
}
