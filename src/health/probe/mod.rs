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
    async fn run(&self, addr: SocketAddr) -> Result<Option<AgentReport>, ProbeError> {
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

/// Why a probe failed: each kind's errors, and what `/status` and the log say of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No verdict within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection was refused, reset or unreachable.
    #[error("connect: {0}")]
    Connect(String),
    /// The HTTP exchange failed.
    #[error("http: {0}")]
    Http(String),
    /// The HTTP status is not one of `expect`.
    #[error("http status {0}")]
    Status(u16),
    /// The agent's line could not be read.
    #[error("agent: {0}")]
    AgentRead(String),
    /// The agent's line is not agent-check grammar.
    #[error("agent said `{0}`, which is not agent-check grammar")]
    AgentGrammar(String),
    /// The agent sent nothing but spaces.
    #[error("agent sent an empty line")]
    AgentEmpty,
    /// The agent said the target is down.
    #[error("agent reports down")]
    AgentDown,
}

impl ProbeError {
    /// The reason `dnslb_probe_failures_total` counts it under.
    pub fn failure(&self) -> Failure {
        match self {
            ProbeError::Timeout(_) => Failure::Timeout,
            ProbeError::Connect(_) => Failure::Connect,
            ProbeError::Http(_) | ProbeError::Status(_) => Failure::Http,
            ProbeError::AgentRead(_) | ProbeError::AgentGrammar(_) | ProbeError::AgentEmpty => {
                Failure::Agent
            }
            ProbeError::AgentDown => Failure::AgentDown,
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
    /// Time from connect to verdict.
    pub rtt: Duration,
    /// Why it failed; `None`: healthy.
    pub error: Option<ProbeError>,
    /// What an agent said.
    pub agent: Option<AgentReport>,
}

impl Outcome {
    /// Healthy.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Why it failed, as the counters say, when it did.
    pub fn failure(&self) -> Option<Failure> {
        self.error.as_ref().map(ProbeError::failure)
    }

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
    let (error, agent) = match result {
        Err(_) => (Some(ProbeError::Timeout(spec.timeout)), None),
        Ok(Err(e)) => (Some(e), None),
        Ok(Ok(agent)) => {
            let down = agent.is_some_and(|a| a.up == Some(false));
            (down.then_some(ProbeError::AgentDown), agent)
        }
    };
    Outcome { rtt, error, agent }
}
