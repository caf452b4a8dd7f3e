//! Stage 1: the config file, read into raw types, and the settings read once at start-up.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

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
    /// The admin endpoint, if any.
    pub admin: Option<AdminSettings>,
    /// Reload on file changes.
    pub watch: bool,
    /// Concurrent DNS TCP connections at most.
    pub tcp_max: usize,
    /// Response rate limiting, when configured.
    pub rrl: Option<crate::dns::RrlConfig>,
    /// The zone directory (read again by every load).
    pub zones_dir: PathBuf,
    /// What this instance says about itself (NSID, `id.server`, `version.bind`).
    pub identity: crate::dns::identity::Identity,
    /// The `[geoip]` database files (every load reads them; the watcher follows these).
    pub geoip_files: Vec<PathBuf>,
}

impl Settings {
    /// The settings that differ in `new` and take effect only at a restart: every field but
    /// the zone directory (which every load reads again) and the config path. Destructured
    /// whole, so that a new setting cannot be left out of the comparison.
    pub fn restart_needed_for(&self, new: &Settings) -> Vec<&'static str> {
        let Settings {
            config_path: _,
            listen,
            admin,
            watch,
            tcp_max,
            rrl,
            zones_dir: _,
            identity,
            geoip_files,
        } = self;
        [
            ("listen", *listen != new.listen),
            ("[admin]", *admin != new.admin),
            ("watch", *watch != new.watch),
            ("tcp_max", *tcp_max != new.tcp_max),
            ("[server.rrl]", *rrl != new.rrl),
            (
                "the identity (nsid, hostname, version)",
                *identity != new.identity,
            ),
            ("the [geoip] files watched", *geoip_files != new.geoip_files),
        ]
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name)
        .collect()
    }
}

/// `[admin]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// The HTTP address.
    pub listen: SocketAddr,
    /// The bearer token mutating requests must carry, if one is set.
    pub token: Option<String>,
    /// Client networks allowed besides loopback.
    pub allow: Vec<IpNet>,
    /// Concurrent connections at most.
    pub max_connections: usize,
    /// A connection with no complete request for this long is closed.
    pub idle_timeout: Duration,
}

/// The config as written, with its text (for line numbers) and its settings.
#[derive(Debug)]
pub struct Config {
    /// The raw TOML.
    pub raw: RawConfig,
    /// Where the file's lines start.
    pub lines: crate::problem::Lines,
    /// The start-up settings it gives.
    pub settings: Settings,
}

impl Config {
    /// The config file's path.
    pub fn path(&self) -> &Path {
        &self.settings.config_path
    }

    /// The config file's directory, which relative paths in it start from.
    pub fn dir(&self) -> &Path {
        self.path().parent().unwrap_or(Path::new("."))
    }

    /// A problem at a byte span of the config.
    pub fn problem_at(&self, span: std::ops::Range<usize>, message: String) -> Problem {
        Problem::line(self.path(), self.line_of(span.start), message)
    }

    /// The 1-based line of an offset in the config's text.
    pub fn line_of(&self, offset: usize) -> usize {
        self.lines.line(offset)
    }
}

/// Reads the config file; problems with addresses go to `fatal`.
pub fn read(path: &Path, fatal: &mut Vec<Problem>) -> Result<Config, Vec<Problem>> {
    let (raw, text, skipped) = config::read(path)?;
    fatal.extend(skipped);
    let base = path.parent().unwrap_or(Path::new("."));
    let zones_dir = base.join(&raw.server.zones);
    let mut config = Config {
        settings: Settings {
            config_path: path.to_path_buf(),
            listen: Vec::new(),
            admin: None,
            watch: raw.server.watch,
            tcp_max: raw.server.tcp_max.max(1),
            rrl: raw.server.rrl.as_ref().map(|r| crate::dns::RrlConfig {
                responses_per_second: r.responses_per_second.max(1),
                slip: r.slip.unwrap_or(2),
                window: r.window.unwrap_or(15).max(1),
                ipv4_prefix: r.ipv4_prefix.unwrap_or(24).min(32),
                ipv6_prefix: r.ipv6_prefix.unwrap_or(56).min(128),
            }),
            zones_dir,
            identity: crate::dns::identity::Identity::new(
                raw.server.identity.as_deref(),
                raw.server.version,
            ),
            geoip_files: raw
                .geoip
                .as_ref()
                .map(|g| geoip_files(base, g.get_ref()))
                .unwrap_or_default(),
        },
        raw,
        lines: crate::problem::Lines::new(&text),
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

fn admin(config: &Config, fatal: &mut Vec<Problem>) -> Option<AdminSettings> {
    let a = config.raw.admin.as_ref()?;
    let at = |message: String| config.problem_at(a.listen.span(), message);
    let Ok(listen) = a.listen.get_ref().parse::<SocketAddr>() else {
        fatal.push(at(format!(
            "admin.listen: `{}` is not an address like 127.0.0.1:8053",
            a.listen.get_ref()
        )));
        return None;
    };
    let mut allow = Vec::new();
    for net in a.allow.iter().flatten() {
        let text = net.get_ref();
        match text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        {
            Ok(n) => allow.push(n),
            Err(_) => fatal.push(config.problem_at(
                net.span(),
                format!("admin.allow: `{text}` is not a network like 192.0.2.0/24"),
            )),
        }
    }
    let token = a.token_file.as_ref().and_then(|file| {
        let path = config.path().parent().unwrap_or(Path::new(".")).join(file);
        match std::fs::read_to_string(&path) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => {
                fatal.push(at(format!("admin.token_file {} is empty", path.display())));
                None
            }
            Err(e) => {
                fatal.push(at(format!("admin.token_file {}: {e}", path.display())));
                None
            }
        }
    });
    if !listen.ip().is_loopback() && (a.token_file.is_none() || a.allow.is_none()) {
        fatal.push(at(format!(
            "admin.listen {listen} is not a loopback address: set admin.token_file (a bearer token \
             for changes) and admin.allow (the client networks) too"
        )));
    }
    let idle_timeout = match a.idle_timeout.as_deref().map(crate::config::parse_duration) {
        None => Duration::from_secs(10),
        Some(Ok(d)) if !d.is_zero() => d,
        Some(Ok(_)) => {
            fatal.push(at("admin.idle_timeout must be more than zero".into()));
            Duration::from_secs(10)
        }
        Some(Err(e)) => {
            fatal.push(at(format!("admin.idle_timeout: {e}")));
            Duration::from_secs(10)
        }
    };
    Some(AdminSettings {
        listen,
        token,
        allow,
        max_connections: a.max_connections.unwrap_or(32).max(1),
        idle_timeout,
    })
}

/// The database files `[geoip]` names, for the watcher.
fn geoip_files(config_dir: &Path, raw: &config::RawGeoip) -> Vec<PathBuf> {
    [&raw.city, &raw.asn]
        .into_iter()
        .flatten()
        .map(|f| config_dir.join(f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_start_up_setting_that_changes_is_named() {
        let old = Settings {
            config_path: "a/dnslb.toml".into(),
            listen: vec!["127.0.0.1:53".parse().unwrap()],
            admin: None,
            watch: true,
            tcp_max: 100,
            rrl: None,
            zones_dir: "a/zones".into(),
            identity: Default::default(),
            geoip_files: Vec::new(),
        };
        let mut new = old.clone();
        new.zones_dir = "b/zones".into();
        new.config_path = "b/dnslb.toml".into();
        assert!(
            old.restart_needed_for(&new).is_empty(),
            "read by every load"
        );
        new.watch = false;
        new.tcp_max = 10;
        new.rrl = Some(crate::dns::RrlConfig {
            responses_per_second: 5,
            slip: 2,
            window: 15,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        });
        assert_eq!(
            old.restart_needed_for(&new),
            ["watch", "tcp_max", "[server.rrl]"]
        );
    }
}
