//! rise/fall as in HAProxy: the state flips only after `rise` successes or `fall` failures in a
//! row. Pure, so it is tested without sockets.

/// The rise/fall state of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    /// Current state.
    pub up: bool,
    /// Successes in a row.
    pub successes: u32,
    /// Failures in a row.
    pub failures: u32,
}

impl Hysteresis {
    /// The state after a target's very first probe: that one result decides.
    pub fn first(ok: bool) -> Self {
        Self {
            up: ok,
            successes: u32::from(ok),
            failures: u32::from(!ok),
        }
    }

    /// Feeds one probe result; returns the new state.
    pub fn observe(mut self, ok: bool, rise: u32, fall: u32) -> Self {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if !self.up && self.successes >= rise {
                self.up = true;
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
            if self.up && self.failures >= fall {
                self.up = false;
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_needs_fall_failures_and_rise_successes_in_a_row() {
        let mut h = Hysteresis {
            up: true,
            successes: 0,
            failures: 0,
        };
        h = h.observe(false, 2, 3).observe(false, 2, 3);
        assert!(h.up);
        h = h
            .observe(true, 2, 3)
            .observe(false, 2, 3)
            .observe(false, 2, 3);
        assert!(h.up, "a success in between resets the count");
        h = h.observe(false, 2, 3);
        assert!(!h.up);
        h = h.observe(true, 2, 3);
        assert!(!h.up);
        h = h.observe(true, 2, 3);
        assert!(h.up);
    }

    #[test]
    fn the_first_probe_decides_alone() {
        assert!(Hysteresis::first(true).up);
        assert!(!Hysteresis::first(false).up);
        assert_eq!(Hysteresis::first(false).failures, 1);
    }
}
