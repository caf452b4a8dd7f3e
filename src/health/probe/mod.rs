//! The probe kinds, one file each, behind [`ProbeKind`]: [`probe_once`] connects, hands the
//! stream to the kind, and bounds the whole by the timeout. Targets that hang, refuse or reset
//! are ordinary failures.
//!
//! A new kind is a variant here, a file beside this one, and its config word in
//! [`crate::config::ProbeKindName`] (read into the variant by [`crate::load`]).

mod agent;
mod http;
mod tcp;

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

pub use agent::AgentReport;

use super::ProbeSpec;

/// How a target is probed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// The TCP handshake completes.
    Tcp,
    /// `GET path` with a Host header answers with an expected status.
    Http {
        /// Request path.
        path: String,
        /// Host header.
        host: String,
        /// Healthy statuses.
        expect: Vec<RangeInclusive<u16>>,
    },
    /// The target answers one line of HAProxy's agent-check grammar.
    Agent,
}

impl ProbeKind {
    /// The kind's name as the config writes it.
    pub fn name(&self) -> &'static str {
        match self {
            ProbeKind::Tcp => "tcp",
            ProbeKind::Http { .. } => "http",
            ProbeKind::Agent => "agent",
        }
    }

    /// Probes `addr` once, without a time limit; what an agent said, if one spoke.
    async fn run(&self, addr: SocketAddr) -> Result<Option<AgentReport>, String> {
        let stream = tcp::connect(addr).await?;
        match self {
            ProbeKind::Tcp => Ok(None),
            ProbeKind::Http { path, host, expect } => {
                http::check(stream, path, host, expect).await.map(|()| None)
            }
            ProbeKind::Agent => agent::read(stream).await.map(Some),
        }
    }
}

/// Why a probe failed, as `dnslb_probe_failures_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No verdict within the timeout.
    Timeout,
    /// The connection was refused, reset or unreachable.
    Connect,
    /// An HTTP error or an unexpected status.
    Http,
    /// The agent's line could not be read or understood.
    Agent,
    /// The agent said the target is down.
    AgentDown,
}

impl Failure {
    /// Every reason, in counter order.
    pub const ALL: [Failure; 5] = [
        Failure::Timeout,
        Failure::Connect,
        Failure::Http,
        Failure::Agent,
        Failure::AgentDown,
    ];

    /// The reason's label.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Connect => "connect",
            Failure::Http => "http",
            Failure::Agent => "agent",
            Failure::AgentDown => "agent_down",
        }
    }
}

/// What one probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Healthy.
    pub ok: bool,
    /// Time from connect to verdict.
    pub rtt: Duration,
    /// Why it failed.
    pub error: Option<String>,
    /// What an agent said.
    pub agent: Option<AgentReport>,
    /// Why it failed, when it did.
    pub failure: Option<Failure>,
}

impl Outcome {
    /// The agent itself said the target is down (no need to wait for `fall`).
    pub fn agent_says_down(&self) -> bool {
        self.agent.is_some_and(|a| a.up == Some(false))
    }
}

/// Probes `addr` once; never takes longer than `spec.timeout`.
pub async fn probe_once(spec: &ProbeSpec, addr: SocketAddr) -> Outcome {
    let start = tokio::time::Instant::now();
    let result = tokio::time::timeout(spec.timeout, spec.kind.run(addr)).await;
    let rtt = start.elapsed();
    let (error, agent, failure) = match result {
        Err(_) => (
            Some(format!("timed out after {:?}", spec.timeout)),
            None,
            Some(Failure::Timeout),
        ),
        Ok(Err(e)) => {
            // The kinds' messages start with what failed: `connect:`, `http`, `agent`.
            let failure = if e.starts_with("connect") {
                Failure::Connect
            } else if e.starts_with("http") {
                Failure::Http
            } else {
                Failure::Agent
            };
            (Some(e), None, Some(failure))
        }
        Ok(Ok(agent)) => {
            let down = agent.is_some_and(|a| a.up == Some(false));
            (
                down.then(|| "agent reports down".to_string()),
                agent,
                down.then_some(Failure::AgentDown),
            )
        }
    };
    Outcome {
        ok: failure.is_none(),
        rtt,
        error,
        agent,
        failure,
    }
}
