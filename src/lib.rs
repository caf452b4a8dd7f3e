//! dnslb: an authoritative DNS server whose A, AAAA and CNAME answers are drawn from weighted
//! record sets, with weights that health probes adjust at runtime.
//!
//! How a query flows: hickory-server's sockets hand the request to [`dns`], which loads the
//! current [`snapshot::Snapshot`] once (one atomic pointer, no lock) and asks [`answer`] for the
//! sections: the zone lookup ([`zone`]) finds the node; at a pool node, [`pool`] reads each
//! member's availability from the cells that [`scheduler`]'s probe tasks keep up to date
//! ([`health`]) and its policy picks. [`load`] builds a snapshot from the config in named stages;
//! [`reload`] installs it with one swap; [`state`] is what the DNS handler, [`admin`] and the
//! reloader share; [`app`] wires them together.

pub mod admin;
pub mod answer;
pub mod app;
pub mod config;
pub mod control;
pub mod dns;
pub mod health;
pub mod load;
pub mod logging;
pub mod pool;
pub mod prepare;
pub mod problem;
pub mod reload;
pub mod scheduler;
pub mod simulate;
pub mod snapshot;
pub mod state;
pub mod zone;

pub use problem::Problem;
