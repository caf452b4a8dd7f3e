//! Pools: names whose A, AAAA or CNAME answer is drawn per query from weighted members.
//!
//! A [`Pool`] is immutable data of one snapshot. What changes between reloads lives in cells the
//! pool points to: each member's [`MemberState`] (served counter, admin overrides) and, for probed
//! pools, the [`TargetHealth`] of the address it is probed at. A query reads those cells with
//! relaxed atomic loads into one [`Availability`] per member, and the pool's [`Policy`] picks.
//!
//! Pools are built from the config by [`crate::load`]; nothing here reads the config.

mod availability;
mod picker;
pub mod policy;
mod select;
mod table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::rr::{Name, Record, RecordType};
use smallvec::SmallVec;

pub use availability::{Availability, DrainedBy, State};
pub use picker::Picker;
pub use policy::{Ask, Client, Policy, Scope, Select, seed as policy_seed};
pub use select::{Candidate, Picks, select};

use crate::health::{ProbeSpec, TargetHealth};

/// Default TTL of pool answers.
pub const DEFAULT_TTL: u32 = 30;

/// What a pool answers when every member is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllDown {
    /// Answer as if all were up (Route 53's and gdnsd's rule).
    Open,
    /// Answer NODATA.
    Empty,
}

impl AllDown {
    /// `open` or `empty`, as the config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AllDown::Open => "open",
            AllDown::Empty => "empty",
        }
    }
}

/// One weighted record set.
#[derive(Debug)]
pub struct Pool {
    /// Owner name, as configured (fully qualified).
    pub name: Name,
    /// A, AAAA or CNAME.
    pub rtype: RecordType,
    /// TTL of the answers.
    pub ttl: u32,
    /// Distinct members per answer.
    pub answers: usize,
    /// How members are chosen.
    pub policy: Policy,
    /// Whether the policy steers by the client (read per query: no call through the policy).
    pub uses_client: bool,
    /// Steer by EDNS Client Subnet when the query has it (hash and region).
    pub ecs: bool,
    /// The members, in config order.
    pub members: Box<[Member]>,
    /// Behaviour when every member is down.
    pub all_down: AllDown,
    /// Ramp time of a recovered member, if any.
    pub slow_start: Option<Duration>,
    /// How members are probed; `None`: always healthy.
    pub probe: Option<ProbeSpec>,
    /// The config file of the `[[pool]]`.
    pub config_file: PathBuf,
    /// 1-based line of the pool in the config.
    pub config_line: usize,
    /// Set while every member is down: written only by the scheduler (through
    /// [`Pool::set_all_members_down`]), read by status. Starts false.
    pub(crate) all_members_down: AtomicBool,
    /// Unique among every pool this process builds ([`Pool::new_id`]): the key of its draw
    /// table in each serving thread.
    pub(crate) id: u64,
}

/// One member of a pool.
#[derive(Debug)]
pub struct Member {
    /// The answer record (owner = pool name, TTL = pool TTL).
    pub record: Record,
    /// The address or target as the config writes it; the member's name in the admin API.
    pub label: String,
    /// Configured weight.
    pub weight: u32,
    /// Where the member is probed (its address and the probe's port, or `check`).
    pub check: Option<SocketAddr>,
    /// Counters and overrides, carried over by reloads.
    pub state: Arc<MemberState>,
    /// Health of the probe target; `None` when the pool is not probed.
    pub health: Option<Arc<TargetHealth>>,
}

/// Who is asking, as far as a policy may steer by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clients {
    /// The resolver's network (/24 or /56), when known.
    pub source: Option<Client>,
    /// The query's EDNS Client Subnet, when it has one.
    pub ecs: Option<Client>,
}

/// Per-member state that outlives a snapshot: what the admin set, and how often it was served.
#[derive(Debug)]
pub struct MemberState {
    served: Served,
    drained: AtomicBool,
    /// The admin's weight; `NO_OVERRIDE` when none is set.
    weight_override: AtomicU64,
    /// The configured weight when the override was set.
    configured_then: AtomicU64,
}

/// `weight_override` when the admin has set none (weights are `u32`, so it cannot clash).
const NO_OVERRIDE: u64 = u64::MAX;

impl Default for MemberState {
    fn default() -> Self {
        Self::new()
    }
}

impl MemberState {
    /// A fresh state with no overrides.
    pub fn new() -> Self {
        Self {
            served: Served::new(),
            drained: AtomicBool::new(false),
            weight_override: AtomicU64::new(NO_OVERRIDE),
            configured_then: AtomicU64::new(NO_OVERRIDE),
        }
    }

    /// Stops serving the member at once.
    pub fn drain(&self) {
        self.drained.store(true, Ordering::Relaxed);
        crate::health::changed();
    }

    /// Ends the admin's drain (a weight override stays).
    pub fn undrain(&self) {
        self.drained.store(false, Ordering::Relaxed);
        crate::health::changed();
    }

    /// Whether the admin drained the member.
    pub fn is_drained(&self) -> bool {
        self.drained.load(Ordering::Relaxed)
    }

    /// Replaces the configured weight (`configured` now) until cleared.
    pub fn set_weight(&self, weight: u32, configured: u32) {
        self.configured_then
            .store(u64::from(configured), Ordering::Relaxed);
        self.weight_override
            .store(u64::from(weight), Ordering::Relaxed);
        crate::health::changed();
    }

    /// Whether an override hides a configured weight that changed since it was set.
    pub fn override_masks(&self, configured: u32) -> bool {
        self.weight_override().is_some()
            && self.configured_then.load(Ordering::Relaxed) != u64::from(configured)
    }

    /// Goes back to the configured weight.
    pub fn clear_weight(&self) {
        self.weight_override.store(NO_OVERRIDE, Ordering::Relaxed);
        crate::health::changed();
    }

    /// The admin's weight, if set.
    pub fn weight_override(&self) -> Option<u32> {
        u32::try_from(self.weight_override.load(Ordering::Relaxed)).ok()
    }

    /// Times the member was served.
    pub fn served(&self) -> u64 {
        self.served.sum()
    }
}

/// A counter that each thread adds to on a cache line of its own (as far as there are lines:
/// twice the cores, rounded up to a power of two), summed when read: a query writes nothing
/// that another serving thread writes.
#[derive(Debug)]
struct Served {
    stripes: Box<[Stripe]>,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe(AtomicU64);

impl Served {
    fn new() -> Self {
        static STRIPES: OnceLock<usize> = OnceLock::new();
        let n = *STRIPES.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (2 * cores).next_power_of_two().min(64)
        });
        Self {
            stripes: (0..n).map(|_| Stripe::default()).collect(),
        }
    }

    /// Adds one on the stripe of this thread ([`DrawCache`]'s).
    #[inline]
    fn add(&self, stripe: usize) {
        self.stripes[stripe & (self.stripes.len() - 1)]
            .0
            .fetch_add(1, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

impl Member {
    /// The weight before health: the admin's override or the configured one.
    pub fn base_weight(&self) -> u32 {
        self.state.weight_override().unwrap_or(self.weight)
    }

    /// The member's availability now (`slow_start` is its pool's).
    #[inline]
    pub fn availability(&self, slow_start: Option<Duration>) -> Availability {
        let health = self.health.as_deref();
        Availability::decide(
            self.state.is_drained(),
            self.base_weight(),
            health.map(|h| h.weight_factor(slow_start)),
            health.is_some_and(TargetHealth::is_up),
        )
    }

    /// What selection sees of this member now.
    #[inline]
    pub fn candidate(&self, slow_start: Option<Duration>) -> Candidate {
        self.availability(slow_start).candidate()
    }
}

impl Pool {
    /// Every member's availability now, in member order.
    pub fn availabilities(&self) -> SmallVec<[Availability; 16]> {
        self.members
            .iter()
            .map(|m| m.availability(self.slow_start))
            .collect()
    }

    /// A fresh [`Pool::id`].
    pub(crate) fn new_id() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// Draws this query's members with `picker`; pushes their records onto `out`, counting
    /// each as served. Returns the ECS scope prefix length the answer may be cached for (0 when
    /// the policy did not use the query's ECS).
    pub fn draw<'a>(
        &'a self,
        picker: &mut Picker,
        clients: &Clients,
        out: &mut impl Extend<&'a Record>,
    ) -> Scope {
        self.draw_with(picker, clients, |picks, scope| {
            out.extend(picks.iter().map(|&i| &self.members[i].record));
            scope
        })
    }

    /// Draws this query's members, counts each as served, and hands `answer` their indexes in
    /// answer order (none: no member may be served) and the ECS scope. The UDP fast path,
    /// which holds each member's record encoded ahead, answers inside `answer`.
    ///
    /// A policy that draws without looking at the client draws from the picker's table of the
    /// pool (see `table.rs`); the others, and a pool in slow start, pick from the members'
    /// availability now.
    #[inline]
    pub fn draw_with<T>(
        &self,
        picker: &mut Picker,
        clients: &Clients,
        answer: impl FnOnce(&[usize], Scope) -> T,
    ) -> T {
        let answer = match picker.draw_table(self, answer) {
            Ok(t) => return t,
            Err(answer) => answer,
        };
        let (picks, scope) = self.pick_now(picker, clients);
        self.count_served(&picks, picker.stripe);
        answer(&picks, scope)
    }

    /// Counts the members of one answer as served, on `stripe`.
    #[inline]
    fn count_served(&self, picks: &[usize], stripe: usize) {
        for &i in picks {
            self.members[i].state.served.add(stripe);
        }
    }

    /// The policy's pick from the members' availability now (and, when that gives nothing and
    /// the pool fails open, from every member as if up).
    fn pick_now(&self, picker: &mut Picker, clients: &Clients) -> (Picks, Scope) {
        let (client, from_ecs) = match (self.ecs, &clients.ecs) {
            (true, Some(c)) => (Some(c), true),
            _ => (clients.source.as_ref(), false),
        };
        // What the policy sees of each member now: on the stack for pools of up to 8.
        let mut inline = [Candidate::Unavailable; 8];
        let mut heap = Vec::new();
        let candidates: &mut [Candidate] = if self.members.len() <= inline.len() {
            &mut inline[..self.members.len()]
        } else {
            heap.resize(self.members.len(), Candidate::Unavailable);
            &mut heap
        };
        for (c, m) in candidates.iter_mut().zip(&self.members) {
            *c = m.candidate(self.slow_start);
        }
        let (mut picks, mut scope) = self.policy.pick(Ask {
            picker,
            pool: self.id,
            candidates,
            n: self.answers,
            client,
        });
        if picks.is_empty() && self.all_down == AllDown::Open {
            let open = self.fail_open_candidates();
            (picks, scope) = self.policy.pick(Ask {
                picker,
                pool: self.id,
                candidates: &open,
                n: self.answers,
                client,
            });
        }
        (picks, if from_ecs { scope } else { 0 })
    }

    /// What the policy sees of each member when every one is down and the pool fails open.
    fn fail_open_candidates(&self) -> SmallVec<[Candidate; 16]> {
        self.availabilities()
            .iter()
            .map(|a| a.fail_open_candidate())
            .collect()
    }

    /// Whether every probed member is out now (unprobed members never are).
    pub fn every_member_is_out(&self) -> bool {
        self.members
            .iter()
            .all(|m| m.health.is_some() && !m.availability(self.slow_start).is_served())
    }

    /// Records whether every member is down; returns what it was before.
    pub fn set_all_members_down(&self, down: bool) -> bool {
        self.all_members_down.swap(down, Ordering::Relaxed)
    }

    /// Whether every member was down when last checked.
    pub fn all_members_down(&self) -> bool {
        self.all_members_down.load(Ordering::Relaxed)
    }
}
