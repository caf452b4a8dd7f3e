//! `agent`: the target sends one line of HAProxy's agent-check grammar (`up`, `down`, `drain`,
//! `ready`, `75%`, ...), which [`parse`] understands.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;

use super::ProbeError;

/// One line of HAProxy's agent-check grammar, understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentReport {
    /// `up` (true) or `down`/`fail`/`stopped`/`maint` (false).
    pub up: Option<bool>,
    /// `drain` (true) or `ready` (false).
    pub drain: Option<bool>,
    /// `75%` as 750 permille.
    pub permille: Option<u32>,
}

/// Reads the agent's line (at most 512 bytes) from `stream`.
pub async fn read(stream: TcpStream) -> Result<AgentReport, ProbeError> {
    let mut line = Vec::new();
    BufReader::new(stream)
        .take(512)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| ProbeError::AgentRead(e.to_string()))?;
    parse(&String::from_utf8_lossy(&line))
}

/// Parses an agent's line: words separated by spaces or commas, any case (HAProxy's grammar).
pub fn parse(line: &str) -> Result<AgentReport, ProbeError> {
    let mut r = AgentReport::default();
    let mut understood = false;
    for word in line
        .split([' ', ',', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
    {
        let w = word.to_ascii_lowercase();
        understood = true;
        match w.as_str() {
            "up" => r.up = Some(true),
            "down" | "fail" | "stopped" | "maint" => r.up = Some(false),
            "drain" => r.drain = Some(true),
            "ready" => r.drain = Some(false),
            _ => match w.strip_suffix('%').and_then(|n| n.parse::<u32>().ok()) {
                Some(pct) => r.permille = Some(pct.saturating_mul(10)),
                None => understood = false,
            },
        }
        if !understood {
            return Err(ProbeError::AgentGrammar(line.trim().to_string()));
        }
    }
    if !understood {
        return Err(ProbeError::AgentEmpty);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_grammar() {
        assert_eq!(parse("up\n").unwrap().up, Some(true));
        assert_eq!(parse("DOWN").unwrap().up, Some(false));
        assert_eq!(parse("75%\r\n").unwrap().permille, Some(750));
        let r = parse("up, 50% drain").unwrap();
        assert_eq!(
            (r.up, r.permille, r.drain),
            (Some(true), Some(500), Some(true))
        );
        assert_eq!(parse("ready").unwrap().drain, Some(false));
        assert!(parse("").is_err());
        assert!(parse("banana").is_err());
    }
}
