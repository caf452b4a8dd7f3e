//! Stage 4 (run while pools are built): the cells that outlive a generation. A member whose
//! (pool, type, member) is unchanged keeps its [`MemberState`] (served counter, overrides), and a
//! probe target whose (spec, address) is unchanged keeps its [`TargetHealth`], as pingora's
//! `do_update` keeps a backend's health across a membership update.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};
use rustc_hash::FxHashMap;

use crate::health::{ProbeSpec, TargetHealth};
use crate::pool::MemberState;
use crate::snapshot::Snapshot;

/// The cells of the previous generation, handed out to the new one by key.
#[derive(Debug, Default)]
pub struct Cells {
    members: FxHashMap<(Name, RecordType, String), Arc<MemberState>>,
    targets: FxHashMap<(ProbeSpec, SocketAddr), Arc<TargetHealth>>,
}

impl Cells {
    /// The cells of `previous` (none at start-up).
    pub fn carried_over(previous: Option<&Snapshot>) -> Self {
        let mut cells = Self::default();
        for p in previous.map_or(&[][..], |s| &s.pools) {
            for m in p.members.iter() {
                cells
                    .members
                    .insert((p.name.clone(), p.rtype, m.label.clone()), m.state.clone());
                if let (Some(spec), Some(addr), Some(h)) = (&p.probe, m.check, &m.health) {
                    cells.targets.insert((spec.clone(), addr), h.clone());
                }
            }
        }
        cells
    }

    /// The state of a member: the previous one, or a fresh one.
    pub fn member(&mut self, pool: &Name, rtype: RecordType, label: &str) -> Arc<MemberState> {
        self.members
            .entry((pool.clone(), rtype, label.to_string()))
            .or_insert_with(|| Arc::new(MemberState::new()))
            .clone()
    }

    /// The health of a probe target: the previous one, or a fresh (unprobed) one.
    pub fn target(&mut self, spec: &ProbeSpec, addr: SocketAddr) -> Arc<TargetHealth> {
        self.targets
            .entry((spec.clone(), addr))
            .or_insert_with(|| Arc::new(TargetHealth::default()))
            .clone()
    }
}
