//! The one answer to "is this member available, and with what weight?". The draw, fail-open,
//! `/status`, the metrics and all-down bookkeeping all read [`Availability`], so they cannot
//! disagree.

use super::select::Candidate;

/// Who took a member out while its target is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainedBy {
    /// The admin endpoint.
    Admin,
    /// The member's agent (`drain`, or a weight of `0%`).
    Agent,
}

/// A member's condition, as `/status` and the metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Probed and up.
    Up,
    /// Not probed: always healthy.
    Unprobed,
    /// Probed and down.
    Down,
    /// Taken out on purpose.
    Drained(DrainedBy),
}

impl State {
    /// `up`, `unprobed`, `down` or `drained`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Unprobed => "unprobed",
            State::Down => "down",
            State::Drained(_) => "drained",
        }
    }
}

/// What a member is worth at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    /// Its condition.
    pub state: State,
    /// The weight before health: the admin's override or the configured one.
    pub base_weight: u32,
    /// The weight it is drawn with now: 0 when it is not served, or served only as a stand-in.
    pub effective_weight: u32,
    /// The share of its base weight health allows, in permille (agent %, slow start); 0 when it
    /// is not served.
    pub permille: u32,
}

impl Availability {
    /// Decides a member's availability from its parts.
    ///
    /// `health_factor` is what its probe target says: `None` when unprobed, `Some(None)` when
    /// the target must not be served (down or agent-drained; `target_up` tells which), and
    /// `Some(Some(permille))` for the share of its weight health allows (agent %, slow start).
    pub fn decide(
        admin_drained: bool,
        base_weight: u32,
        health_factor: Option<Option<u32>>,
        target_up: bool,
    ) -> Self {
        let (state, effective_weight, permille) = if admin_drained {
            (State::Drained(DrainedBy::Admin), 0, 0)
        } else {
            match health_factor {
                None => (State::Unprobed, base_weight, 1000),
                Some(None) if target_up => (State::Drained(DrainedBy::Agent), 0, 0),
                Some(None) => (State::Down, 0, 0),
                Some(Some(p)) if base_weight == 0 => (State::Up, 0, p),
                Some(Some(0)) => (State::Drained(DrainedBy::Agent), 0, 0),
                Some(Some(p)) => {
                    let w = (u64::from(base_weight) * u64::from(p)).div_ceil(1000);
                    (State::Up, u32::try_from(w).unwrap_or(u32::MAX).max(1), p)
                }
            }
        };
        Self {
            state,
            base_weight,
            effective_weight,
            permille,
        }
    }

    /// The weight as health scales it, unrounded (slow start on a weight-1 member shows here).
    pub fn exact_weight(&self) -> f64 {
        f64::from(self.base_weight) * f64::from(self.permille) / 1000.0
    }

    /// Whether the member may be served (as a weighted member or as a stand-in).
    pub fn is_served(&self) -> bool {
        matches!(self.state, State::Up | State::Unprobed)
    }

    /// What the selection sees.
    pub fn candidate(&self) -> Candidate {
        match (self.is_served(), self.effective_weight) {
            (false, _) => Candidate::Unavailable,
            (true, 0) => Candidate::Backup,
            (true, w) => Candidate::Weighted(w),
        }
    }

    /// What the selection sees when every member is down and the pool fails open: every member
    /// as if it were up, at its base weight; only the admin's drain still counts.
    pub fn fail_open_candidate(&self) -> Candidate {
        match (self.state, self.base_weight) {
            (State::Drained(DrainedBy::Admin), _) => Candidate::Unavailable,
            (_, 0) => Candidate::Backup,
            (_, w) => Candidate::Weighted(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_decision_for_every_case() {
        let d = Availability::decide;
        assert_eq!(d(false, 5, None, true).candidate(), Candidate::Weighted(5));
        assert_eq!(d(false, 0, None, true).candidate(), Candidate::Backup);
        assert_eq!(
            d(true, 5, None, true).state,
            State::Drained(DrainedBy::Admin)
        );
        assert_eq!(d(false, 5, Some(None), false).state, State::Down);
        assert_eq!(
            d(false, 5, Some(None), true).state,
            State::Drained(DrainedBy::Agent)
        );
        // An agent at 0 % takes the member out, and says so (it used to read "up").
        let zero = d(false, 5, Some(Some(0)), true);
        assert_eq!(zero.state, State::Drained(DrainedBy::Agent));
        assert!(!zero.is_served());
        assert_eq!(zero.candidate(), Candidate::Unavailable);
        // Slow start at 10 % of weight 1 still draws it, at weight 1.
        assert_eq!(
            d(false, 1, Some(Some(100)), true).candidate(),
            Candidate::Weighted(1)
        );
        assert_eq!(d(false, 100, Some(Some(550)), true).effective_weight, 55);
        // Fail open honours only the admin's drain.
        assert_eq!(
            d(false, 3, Some(None), false).fail_open_candidate(),
            Candidate::Weighted(3)
        );
        assert_eq!(
            d(true, 3, Some(None), false).fail_open_candidate(),
            Candidate::Unavailable
        );
    }
}
