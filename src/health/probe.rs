//! Probe kinds and the scheduler (filled in by the health-probe work).
