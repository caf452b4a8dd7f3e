//! dnslb: an authoritative DNS server whose A, AAAA and CNAME answers are drawn from weighted
//! record sets, with weights that health probes adjust at runtime.
//!
//! How a query flows: a UDP datagram is read in a batch by [`dns`]'s own loop and answered
//! by its fast path from the answers [`prepare`] made when the current [`snapshot::Snapshot`] was
//! built (one atomic pointer, no lock): bytes copied, or, at a pool node, the members [`pool`]
//! draws appended. Anything else (TCP, odd queries) takes the general path: [`answer`]'s logic
//! over what the generation serves ([`served`]: the zones of [`zone`]), encoded by
//! hickory-proto. Each serving thread answers with a worker of its own (RNG, draw tables,
//! round-robin credits, rate-limit table, counters), so no query writes what another reads. At a pool node each member's
//! availability comes from the cells that [`scheduler`]'s probe tasks keep up to date
//! ([`health`]) and its policy picks. [`load`] builds a snapshot from the config in named
//! stages; [`reload`] installs it with one swap; [`state`] is what the DNS handler, [`admin`]
//! and the reloader share; [`app`] wires them together.

pub mod admin;
pub mod answer;
pub mod app;
pub mod config;
pub mod control;
pub mod dns;
pub mod dnssec;
pub mod geo;
pub mod health;
pub mod load;
pub mod logging;
pub mod memory;
pub mod pool;
pub mod prepare;
pub mod problem;
pub mod reload;
pub mod scheduler;
pub mod secondary;
pub mod served;
pub mod simulate;
pub mod snapshot;
pub mod state;
pub mod tsig;
pub mod zone;

pub use problem::Problem;
