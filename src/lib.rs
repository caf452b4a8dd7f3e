//! dnslb: an authoritative DNS server whose A, AAAA and CNAME answers are drawn from weighted
//! record sets, with weights that health probes adjust at runtime.
//!
//! How a query flows: hickory-server's sockets hand the request to [`dns`], which loads the
//! current [`snapshot::Snapshot`] once (one atomic pointer, no lock) and asks [`answer`] for the
//! sections: the zone lookup ([`zone`]) finds the node; at a pool node, [`pool`] draws members by
//! their effective weights, which [`health`] probe tasks keep up to date in atomic cells. A reload
//! builds a new snapshot aside with [`snapshot::load`] and swaps it in whole.

pub mod admin;
pub mod answer;
pub mod app;
pub mod config;
pub mod dns;
pub mod health;
pub mod pool;
pub mod problem;
pub mod reload;
pub mod snapshot;
pub mod zone;

pub use problem::Problem;
