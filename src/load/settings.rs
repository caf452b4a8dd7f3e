//! Stage 1: the config file, read into raw types, and the settings read once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::Problem;
use crate::config::{self, RawConfig};

/// What the server reads at start-up only: its sockets and whether it watches files. A reload
/// reads them again only to say that a change needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The config file.
    pub config_path: PathBuf,
    /// DNS addresses (UDP and TCP).
    pub listen: Vec<SocketAddr>,
    /// Admin HTTP address.
    pub admin: Option<SocketAddr>,
    /// Reload on file changes.
    pub watch: bool,
    /// The zone directory (read again by every load).
    pub zones_dir: PathBuf,
}

/// The config as written, with its text (for line numbers) and its settings.
#[derive(Debug)]
pub struct Config {
    /// The raw TOML.
    pub raw: RawConfig,
    /// The file's text.
    pub text: String,
    /// The start-up settings it gives.
    pub settings: Settings,
}

impl Config {
    /// The config file's path.
    pub fn path(&self) -> &Path {
        &self.settings.config_path
    }

    /// A problem at a byte span of the config.
    pub fn problem_at(&self, span: std::ops::Range<usize>, message: String) -> Problem {
        Problem::at(self.path(), &self.text, span, message)
    }
}

/// Reads the config file; problems with addresses go to `fatal`.
pub fn read(path: &Path, fatal: &mut Vec<Problem>) -> Result<Config, Vec<Problem>> {
    let (raw, text) = config::read(path).map_err(|e| vec![e])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let zones_dir = base.join(&raw.server.zones);
    let mut config = Config {
        settings: Settings {
            config_path: path.to_path_buf(),
            listen: Vec::new(),
            admin: None,
            watch: raw.server.watch,
            zones_dir,
        },
        raw,
        text,
    };
    config.settings.listen = listen(&config, fatal);
    config.settings.admin = admin(&config, fatal);
    Ok(config)
}

fn listen(config: &Config, fatal: &mut Vec<Problem>) -> Vec<SocketAddr> {
    let raw = &config.raw.server.listen;
    if raw.is_empty() {
        fatal.push(Problem::file(
            config.path(),
            "server.listen is empty: give at least one address",
        ));
    }
    raw.iter()
        .filter_map(|a| match a.get_ref().parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                fatal.push(config.problem_at(
                    a.span(),
                    format!(
                        "server.listen: `{}` is not an address like 127.0.0.1:5300 or [::1]:5300",
                        a.get_ref()
                    ),
                ));
                None
            }
        })
        .collect()
}

fn admin(config: &Config, fatal: &mut Vec<Problem>) -> Option<SocketAddr> {
    let a = config.raw.admin.as_ref()?;
    match a.listen.get_ref().parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            fatal.push(config.problem_at(
                a.listen.span(),
                format!(
                    "admin.listen: `{}` is not an address like 127.0.0.1:8053",
                    a.listen.get_ref()
                ),
            ));
            None
        }
    }
}
