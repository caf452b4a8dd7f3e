//! `dnslb`: parse arguments, load, serve until a signal, drain. Errors are printed here, once.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
    Check,
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
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Check => check(&cli.config),
        Command::Serve => serve(cli.config),
    }
}

/// `RUST_LOG`, or `info`; hickory's own per-query logging stays off (it costs about 16 % of the
/// throughput at INFO) unless `RUST_LOG` names hickory explicitly.
fn log_filter() -> EnvFilter {
    let mut spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    if !spec.contains("hickory") {
        spec.push_str(",hickory_server=warn,hickory_net=warn,hickory_proto=warn");
    }
    EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("dnslb: RUST_LOG={spec:?} is not a log filter ({e}); using info");
        EnvFilter::new("info,hickory_server=warn,hickory_net=warn,hickory_proto=warn")
    })
}

fn check(config: &std::path::Path) -> ExitCode {
    match dnslb::load::load(config, None) {
        Ok(loaded) if loaded.snapshot.problems.is_empty() => {
            let snap = &loaded.snapshot;
            for z in snap.zones() {
                println!(
                    "zone {} serial {} ok ({} names)",
                    z.origin,
                    z.serial,
                    z.node_count()
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
    runtime.block_on(async move {
        let running = match dnslb::app::start(&config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("dnslb: {e}");
                return ExitCode::FAILURE;
            }
        };
        wait_for_stop(&running).await;
        tracing::info!("shutting down");
        running.stop().await;
        ExitCode::SUCCESS
    })
}

/// Waits for SIGINT or SIGTERM.
async fn wait_for_stop(_running: &dnslb::app::Running) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
