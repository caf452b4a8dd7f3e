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

pub use agent::{AgentReport, parse as parse_agent};

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
    let (ok, error, agent) = match result {
        Err(_) => (
            false,
            Some(format!("timed out after {:?}", spec.timeout)),
            None,
        ),
        Ok(Err(e)) => (false, Some(e), None),
        Ok(Ok(agent)) => {
            let down = agent.is_some_and(|a| a.up == Some(false));
            (!down, down.then(|| "agent reports down".to_string()), agent)
        }
    };
    Outcome {
        ok,
        rtt,
        error,
        agent,
    }
}
