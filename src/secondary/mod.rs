//! Secondary zones: zones pulled from primaries by AXFR/IXFR instead of read from the zone
//! directory (`[[secondary]]`).
//!
//! One task per zone ([`task`]) asks the primaries for the SOA at start-up, on NOTIFY and when
//! the SOA's refresh (after a failure, its retry) comes due, transfers the zone when the serial
//! moved (RFC 1982 arithmetic), keeps the records in the [`Store`] and asks the reloader for a
//! reload. The loader takes a secondary zone's records from the store as it takes a file zone's
//! from its file ([`crate::load`]): the same validation, the same pools, the same atomic swap,
//! and a bad transfer keeps the last good version. When no primary has answered for the SOA's
//! expire time, the records are dropped and the zone answers SERVFAIL, as BIND and Knot do; so
//! does a zone not transferred yet.
//!
//! Transfers are read from the TCP stream by our own reader ([`receive`]): every message in
//! order, TSIG-checked, merged into the compact store as it arrives, within the zone's limits
//! (`max_records`, `max_octets`, `idle_timeout`, `transfer_timeout`). hickory-net's transfer
//! stream is not used: it drops messages when its channel is full (hickory-dns issue #2049).
//! The SOA query uses hickory-net's UDP client. A transfer that does not load is discarded:
//! the records held before are kept, the next attempt is an AXFR, at the SOA's retry.

mod client;
mod receive;
mod task;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::state::ReloadRequest;

pub use crate::zone::secondary::{Held, SecondaryZone, State, Status, Store};
pub use task::Tasks;

/// What the zone tasks need besides their zone.
#[derive(Clone)]
pub struct Context {
    /// The records and statuses.
    pub store: Arc<Store>,
    /// Reload requests go here; each answers with the generation it installed.
    pub reloads: mpsc::Sender<ReloadRequest>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}
