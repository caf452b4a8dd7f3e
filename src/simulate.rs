//! `dnslb check --simulate NAME`: draws answers through the real selection code, with chosen
//! members marked down and for chosen clients, and prints each member's share beside the share
//! it should get. Health probes are not run: every member is up unless named with `--down`.

use std::fmt::Write as _;
use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::pool::{Ask, Candidate, Client, Picker, Pool};
use crate::snapshot::Snapshot;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The pool's name.
    pub name: String,
    /// Members (as the config writes them) to treat as down.
    pub down: Vec<String>,
    /// Clients (`192.0.2.1` or `192.0.2.0/24`); none: clients do not matter, or vary at random.
    pub clients: Vec<String>,
    /// Draws per client.
    pub queries: usize,
}

/// The report, or why there is none.
pub fn run(snapshot: &Snapshot, sim: &Simulation) -> Result<String, String> {
    let mut name = Name::from_ascii(&sim.name)
        .map_err(|e| format!("`{}` is not a domain name: {e}", sim.name))?;
    name.set_fqdn(true);
    let pools: Vec<&Pool> = snapshot
        .pools
        .iter()
        .filter(|p| p.name == name)
        .map(|p| &**p)
        .collect();
    if pools.is_empty() {
        return Err(format!("no pool named {name}"));
    }
    for d in &sim.down {
        if !pools
            .iter()
            .any(|p| p.members.iter().any(|m| m.label.eq_ignore_ascii_case(d)))
        {
            return Err(format!("--down {d}: no member {d} in {name}"));
        }
    }
    let clients: Vec<Option<Client>> = if sim.clients.is_empty() {
        vec![None]
    } else {
        sim.clients
            .iter()
            .map(|c| parse_client(c).map(Some))
            .collect::<Result<_, _>>()?
    };
    let mut out = String::new();
    for pool in pools {
        for client in &clients {
            report(&mut out, pool, sim, client.as_ref());
        }
    }
    Ok(out)
}

fn parse_client(text: &str) -> Result<Client, String> {
    let bad = || format!("--client {text}: not an address or a network like 192.0.2.0/24");
    match text.split_once('/') {
        Some((addr, prefix)) => {
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let prefix: u8 = prefix.parse().map_err(|_| bad())?;
            Ok(Client::new(addr, prefix))
        }
        None => text.parse().map(Client::from_resolver).map_err(|_| bad()),
    }
}

fn report(out: &mut String, pool: &Pool, sim: &Simulation, client: Option<&Client>) {
    let candidates: Vec<Candidate> = pool
        .members
        .iter()
        .map(|m| {
            if sim.down.iter().any(|d| d.eq_ignore_ascii_case(&m.label)) {
                Candidate::Unavailable
            } else if m.weight == 0 {
                Candidate::Backup
            } else {
                Candidate::Weighted(m.weight)
            }
        })
        .collect();
    // A picker of its own: seeded, with round-robin credits no serving thread shares.
    let mut picker = Picker::seeded(1);
    let mut counts = vec![0usize; candidates.len()];
    for i in 0..sim.queries.max(1) {
        // No client given: a client policy sees a different network each time.
        let random = Client::new(IpAddr::from([10, (i >> 8) as u8, i as u8, 0]), 24);
        let who = client
            .copied()
            .or(pool.policy.uses_client().then_some(random));
        let (picks, _) = pool.policy.pick(Ask {
            picker: &mut picker,
            pool: pool.id,
            candidates: &candidates,
            n: 1,
            client: who.as_ref(),
        });
        if let Some(&first) = picks.first() {
            counts[first] += 1;
        }
    }
    let expected = pool.policy.expected_first(&candidates, client);
    let who = client.map_or("any client".to_string(), |c| {
        format!("client {}/{}", c.addr, c.prefix)
    });
    let _ = writeln!(
        out,
        "{} {} (policy {}, {} draws, {who})",
        pool.name,
        pool.rtype,
        pool.policy.name(),
        sim.queries.max(1)
    );
    if let Some(said) = client.and_then(|c| pool.policy.describe(c)) {
        let _ = writeln!(out, "  {said}");
    }
    let _ = writeln!(
        out,
        "  {:<40} {:>6} {:>5} {:>7} {:>9}",
        "member", "weight", "state", "share", "expected"
    );
    for (i, m) in pool.members.iter().enumerate() {
        let state = if candidates[i] == Candidate::Unavailable {
            "down"
        } else {
            "up"
        };
        let share = counts[i] as f64 / sim.queries.max(1) as f64;
        let _ = writeln!(
            out,
            "  {:<40} {:>6} {:>5} {:>7.3} {:>9.3}",
            m.label, m.weight, state, share, expected[i]
        );
    }
}
