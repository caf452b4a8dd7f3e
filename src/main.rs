//! `dnslb`: parse arguments, load, serve until a signal, drain. Errors are printed here, once.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// An authoritative DNS server with weighted, health-checked record sets.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The config file.
    #[arg(long, short, global = true, default_value = "dnslb.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve DNS (the default).
    Serve,
    /// Load the config and every zone, print every problem, exit non-zero if there is one.
    Check {
        /// Fail on warnings too.
        #[arg(long)]
        strict: bool,
        /// Draw answers for this pool name through the real selection code, and print shares.
        #[arg(long, value_name = "NAME")]
        simulate: Option<String>,
        /// With --simulate: treat this member as down (repeatable).
        #[arg(long, value_name = "ADDR", requires = "simulate")]
        down: Vec<String>,
        /// With --simulate: draw for this client, an address or a network (repeatable).
        #[arg(long, value_name = "ADDR", requires = "simulate")]
        client: Vec<String>,
        /// With --simulate: draws per client.
        #[arg(long, default_value_t = 10_000, requires = "simulate")]
        queries: usize,
    },
    /// Print every pool and member of a running server (through its admin endpoint).
    Status {
        /// The admin endpoint, if not the config's.
        #[arg(long, value_name = "ADDRESS")]
        admin: Option<std::net::SocketAddr>,
    },
    /// Stop serving a member at once.
    Drain(MemberArgs),
    /// Serve a drained member again.
    Undrain(MemberArgs),
    /// Replace a member's configured weight, or go back to it with --clear.
    Weight {
        #[command(flatten)]
        member: MemberArgs,
        /// The new weight.
        #[arg(required_unless_present = "clear")]
        weight: Option<u32>,
        /// Clear the override: back to the configured weight.
        #[arg(long, conflicts_with = "weight")]
        clear: bool,
    },
    /// DNSSEC tools for the zones dnslb signs.
    Dnssec {
        #[command(subcommand)]
        action: DnssecCommand,
    },
}

/// `dnslb dnssec …`.
#[derive(Subcommand)]
enum DnssecCommand {
    /// Print the DS records (SHA-256) of ZONE's published KSKs, to give its parent.
    Ds {
        /// The zone (the trailing dot is optional).
        zone: String,
    },
}

/// A pool member, named as the admin endpoint names it.
#[derive(clap::Args)]
struct MemberArgs {
    /// The pool's name (the trailing dot is optional).
    pool: String,
    /// The member's address or target, as the config writes it.
    member: String,
    /// The admin endpoint, if not the config's.
    #[arg(long, value_name = "ADDRESS")]
    admin: Option<std::net::SocketAddr>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage_error = e.use_stderr();
            let _ = e.print();
            // 64 (EX_USAGE) for bad usage; --help and --version are not errors.
            return if usage_error {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let _log = dnslb::logging::init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Status { admin } => {
            control(&cli.config, admin, "GET", "/status".into(), String::new())
        }
        Command::Drain(m) => member_action(&cli.config, m, "POST", "drain", String::new()),
        Command::Undrain(m) => member_action(&cli.config, m, "POST", "undrain", String::new()),
        Command::Weight {
            member,
            clear: true,
            ..
        } => member_action(&cli.config, member, "DELETE", "weight", String::new()),
        Command::Weight { member, weight, .. } => member_action(
            &cli.config,
            member,
            "POST",
            "weight",
            weight.unwrap_or_default().to_string(),
        ),
        Command::Check {
            simulate: None,
            strict,
            ..
        } => check(&cli.config, strict),
        Command::Check {
            simulate: Some(name),
            down,
            client,
            queries,
            ..
        } => simulate(
            &cli.config,
            &dnslb::simulate::Simulation {
                name,
                down,
                clients: client,
                queries,
            },
        ),
        Command::Dnssec {
            action: DnssecCommand::Ds { zone },
        } => print_ds(&cli.config, &zone),
        Command::Serve => serve(cli.config),
    }
}

/// `dnslb dnssec ds ZONE`: the DS records of the zone's keys, one per line.
fn print_ds(config: &std::path::Path, zone: &str) -> ExitCode {
    match dnslb::load::ds_records(config, zone) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            ExitCode::FAILURE
        }
    }
}

fn member_action(
    config: &std::path::Path,
    m: MemberArgs,
    method: &str,
    action: &str,
    body: String,
) -> ExitCode {
    let path = format!("/pools/{}/members/{}/{action}", m.pool, m.member);
    control(config, m.admin, method, path, body)
}

/// One request to the admin endpoint; `/status` is printed as a table, other answers as they
/// come.
fn control(
    config: &std::path::Path,
    admin: Option<std::net::SocketAddr>,
    method: &str,
    path: String,
    body: String,
) -> ExitCode {
    let control = match dnslb::control::Control::from_config(config, admin) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dnslb: {e}");
            return ExitCode::from(64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dnslb: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(control.request(method, &path, &body)) {
        Ok((200, text)) if path == "/status" => match dnslb::control::status_table(&text) {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("dnslb: {e}");
                ExitCode::FAILURE
            }
        },
        Ok((200, text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok((status, text)) => {
            eprintln!("dnslb: {status}: {text}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("dnslb: {e}");
            ExitCode::FAILURE
        }
    }
}

fn simulate(config: &std::path::Path, sim: &dnslb::simulate::Simulation) -> ExitCode {
    let loaded = match dnslb::load::check(config) {
        Ok(l) => l,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            return ExitCode::FAILURE;
        }
    };
    match dnslb::simulate::run(&loaded.snapshot, sim) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dnslb: {e}");
            ExitCode::from(64)
        }
    }
}

fn check(config: &std::path::Path, strict: bool) -> ExitCode {
    let loaded = dnslb::load::check(config);
    if let Ok(l) = &loaded {
        for w in &l.warnings {
            eprintln!("warning: {w}");
        }
    }
    match loaded {
        Ok(loaded) if strict && !loaded.warnings.is_empty() => ExitCode::FAILURE,
        Ok(loaded) if loaded.snapshot.problems.is_empty() => {
            let snap = &loaded.snapshot;
            for z in snap.zones() {
                println!(
                    "zone {} serial {} ok ({} names)",
                    z.origin,
                    z.serial,
                    z.node_count()
                );
                if let Some(signed) = &z.dnssec {
                    println!("  {}", signed.summary(std::time::SystemTime::now()));
                    for line in signed.ours.iter().flat_map(|o| o.describe()) {
                        println!("  {line}");
                    }
                }
            }
            for origin in &snap.served.unavailable {
                let zone = &snap.secondaries[origin];
                let from: Vec<String> = zone.primaries.iter().map(ToString::to_string).collect();
                println!(
                    "secondary zone {origin}: SERVFAIL until its first transfer from {}",
                    from.join(", ")
                );
            }
            println!("{} pools ok", snap.pools.len());
            ExitCode::SUCCESS
        }
        Ok(loaded) => {
            for p in &loaded.snapshot.problems {
                eprintln!("{p}");
            }
            ExitCode::FAILURE
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            ExitCode::FAILURE
        }
    }
}

fn serve(config: PathBuf) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dnslb: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let running = match dnslb::app::start(&config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("dnslb: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut signals = match Signals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("dnslb: cannot listen for signals: {e}");
                return ExitCode::FAILURE;
            }
        };
        // systemd (Type=notify): serving, after the first probe round and the binds.
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        signals.next().await;
        tracing::info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        // Stopping is bounded: a second signal, or STOP_LIMIT, ends the process at once.
        tokio::select! {
            () = running.stop() => ExitCode::SUCCESS,
            () = signals.next() => {
                tracing::warn!("second signal: exiting now");
                ExitCode::from(130)
            }
            () = tokio::time::sleep(STOP_LIMIT) => {
                tracing::warn!("not stopped within {STOP_LIMIT:?}: exiting now");
                ExitCode::FAILURE
            }
        }
    });
    // Blocking work still running (a join of threads that did not stop) is not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// How long a stop may take before the process exits regardless.
const STOP_LIMIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// SIGINT and SIGTERM.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
