//! Server configuration: raw settings gathered from defaults, a TOML file, the
//! environment and flags, and the validated [`Config`] the server runs with.
//!
//! Each source yields a [`RawSettings`] whose fields are all optional; later sources
//! override earlier ones field by field ([`RawSettings::overridden_by`]). Only
//! [`RawSettings::validate`] turns them into a [`Config`], so every check lives in one
//! place and an error names the setting that is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::runtime::{Limits, MAX_DEADLINE};

/// Where the server listens unless told otherwise: loopback only, so a first start on a
/// laptop does not expose the admin API to the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// A SQLite file in the working directory, created on first start: zero set-up.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://switchyard.db";
/// Request bodies larger than this are refused with 413. The admin API and gateway
/// posts carry small JSON documents; plugin uploads will get their own, larger limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Admin tokens set by hand must be at least this long, so that a placeholder such as
/// `secret` is refused instead of guarding the admin API.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;
/// How long an agent's session lasts after logging in: a working day and some.
pub const DEFAULT_AGENT_SESSION_HOURS: u64 = 12;
/// How long the CometD server holds a connect with nothing to send, in milliseconds:
/// the Java CometD server's default. Proxies in front must allow requests this long.
pub const DEFAULT_COMETD_TIMEOUT_MS: u64 = 30_000;
/// The longest hold an operator may configure: 5 minutes, past what proxies allow.
pub const MAX_COMETD_TIMEOUT_MS: u64 = 300_000;
/// Seconds a ready agent may be without a live CometD connection by default: long
/// enough for a browser to reload and reconnect, short enough that nothing is offered
/// to a closed one for long.
pub const DEFAULT_AGENT_PRESENCE_SECS: u64 = 60;

/// Seconds a client may take to send a request's headers by default. Real clients send
/// them in one go; a client that dribbles them holds a connection for nothing
/// (slowloris).
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// Seconds a request body may stall between two reads by default: long enough for a
/// slow mobile link, short enough that stalled uploads do not pile up.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
/// The longest either timeout may be configured: 10 minutes.
pub const MAX_REQUEST_TIMEOUT_SECS: u64 = 600;

/// The longest session an operator may configure: 30 days. A stolen token should not
/// outlive the agent's next password change by months.
pub const MAX_AGENT_SESSION_HOURS: u64 = 720;

/// Settings as one source states them; `None` means "this source does not say".
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub admin_token: Option<String>,
    pub cache_dir: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    /// Whether this node processes the communication queue in the background. A node
    /// without it still serves the API, whose process calls run on demand.
    pub queue_worker: Option<bool>,
    /// Hours an agent's session lasts after logging in.
    pub agent_session_hours: Option<u64>,
    /// Milliseconds the CometD server holds a connect with nothing to send.
    pub cometd_timeout_ms: Option<u64>,
    /// Seconds a ready agent may be without a live CometD connection before being made
    /// not ready; 0 turns the sweep off.
    pub agent_presence_secs: Option<u64>,
    /// Seconds a client may take to send a request's headers.
    pub header_timeout_secs: Option<u64>,
    /// Seconds a request body may stall between two reads.
    pub body_timeout_secs: Option<u64>,
    /// The server's address as gateways reach it (`https://sms.example.com`), the base
    /// of the URL Twilio signs; without it, `http://` and the post's `Host`.
    pub public_url: Option<String>,
    #[serde(default)]
    pub plugins: RawPluginLimits,
}

/// The `[plugins]` section: default limits for every plugin invocation.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPluginLimits {
    pub fuel: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub memory_mib: Option<usize>,
}

/// A configuration error, naming the setting and the source it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

impl RawSettings {
    /// Reads a TOML file. Unknown keys are errors: a misspelt setting silently ignored
    /// is worse than a refusal to start.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Reads `SWITCHYARD_*` variables through `lookup` (normally `std::env::var`), so
    /// tests can supply an environment without touching the process's own. Empty
    /// values count as unset, as shells make it easy to export an empty variable.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        Self {
            listen: var("SWITCHYARD_LISTEN"),
            database_url: var("SWITCHYARD_DATABASE_URL"),
            admin_token: var("SWITCHYARD_ADMIN_TOKEN"),
            cache_dir: var("SWITCHYARD_CACHE_DIR").map(PathBuf::from),
            max_body_bytes: None,
            queue_worker: var("SWITCHYARD_QUEUE_WORKER")
                .map(|v| !matches!(v.as_str(), "0" | "false" | "off" | "no")),
            agent_session_hours: None,
            cometd_timeout_ms: None,
            agent_presence_secs: var("SWITCHYARD_AGENT_PRESENCE_SECS").and_then(|v| v.parse().ok()),
            header_timeout_secs: var("SWITCHYARD_HEADER_TIMEOUT_SECS").and_then(|v| v.parse().ok()),
            body_timeout_secs: var("SWITCHYARD_BODY_TIMEOUT_SECS").and_then(|v| v.parse().ok()),
            public_url: var("SWITCHYARD_PUBLIC_URL"),
            plugins: RawPluginLimits::default(),
        }
    }

    /// These settings with every field that `later` sets replaced by its value.
    pub fn overridden_by(self, later: RawSettings) -> Self {
        Self {
            listen: later.listen.or(self.listen),
            database_url: later.database_url.or(self.database_url),
            admin_token: later.admin_token.or(self.admin_token),
            cache_dir: later.cache_dir.or(self.cache_dir),
            max_body_bytes: later.max_body_bytes.or(self.max_body_bytes),
            queue_worker: later.queue_worker.or(self.queue_worker),
            agent_session_hours: later.agent_session_hours.or(self.agent_session_hours),
            cometd_timeout_ms: later.cometd_timeout_ms.or(self.cometd_timeout_ms),
            agent_presence_secs: later.agent_presence_secs.or(self.agent_presence_secs),
            header_timeout_secs: later.header_timeout_secs.or(self.header_timeout_secs),
            body_timeout_secs: later.body_timeout_secs.or(self.body_timeout_secs),
            public_url: later.public_url.or(self.public_url),
            plugins: RawPluginLimits {
                fuel: later.plugins.fuel.or(self.plugins.fuel),
                deadline_ms: later.plugins.deadline_ms.or(self.plugins.deadline_ms),
                memory_mib: later.plugins.memory_mib.or(self.plugins.memory_mib),
            },
        }
    }

    /// Checks every setting and fills in defaults.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let listen_text = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::Invalid {
                setting: "listen",
                message: format!("`{listen_text}` is not an address such as 127.0.0.1:8080"),
            })?;

        let database_url = self
            .database_url
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                setting: "database_url",
                message: "expected a sqlite:// or postgres:// URL".into(),
            });
        }

        let admin_token = match self.admin_token {
            Some(token) => {
                Some(
                    AdminToken::parse(&token).map_err(|message| ConfigError::Invalid {
                        setting: "admin_token",
                        message,
                    })?,
                )
            }
            None => None,
        };

        let max_body_bytes = self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            return Err(ConfigError::Invalid {
                setting: "max_body_bytes",
                message: "must be positive".into(),
            });
        }

        let session_hours = self
            .agent_session_hours
            .unwrap_or(DEFAULT_AGENT_SESSION_HOURS);
        if !(1..=MAX_AGENT_SESSION_HOURS).contains(&session_hours) {
            return Err(ConfigError::Invalid {
                setting: "agent_session_hours",
                message: format!(
                    "must be between 1 and {MAX_AGENT_SESSION_HOURS}, not {session_hours}"
                ),
            });
        }

        let cometd_timeout_ms = self.cometd_timeout_ms.unwrap_or(DEFAULT_COMETD_TIMEOUT_MS);
        if !(1..=MAX_COMETD_TIMEOUT_MS).contains(&cometd_timeout_ms) {
            return Err(ConfigError::Invalid {
                setting: "cometd_timeout_ms",
                message: format!(
                    "must be between 1 and {MAX_COMETD_TIMEOUT_MS}, not {cometd_timeout_ms}"
                ),
            });
        }

        let request_timeout = |setting: &'static str, secs: Option<u64>, default: u64| {
            let secs = secs.unwrap_or(default);
            if (1..=MAX_REQUEST_TIMEOUT_SECS).contains(&secs) {
                Ok(Duration::from_secs(secs))
            } else {
                Err(ConfigError::Invalid {
                    setting,
                    message: format!(
                        "must be between 1 and {MAX_REQUEST_TIMEOUT_SECS}, not {secs}"
                    ),
                })
            }
        };
        let header_timeout = request_timeout(
            "header_timeout_secs",
            self.header_timeout_secs,
            DEFAULT_HEADER_TIMEOUT_SECS,
        )?;
        let body_timeout = request_timeout(
            "body_timeout_secs",
            self.body_timeout_secs,
            DEFAULT_BODY_TIMEOUT_SECS,
        )?;

        let public_url = match self.public_url {
            Some(url)
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.contains(['?', '#']) =>
            {
                return Err(ConfigError::Invalid {
                    setting: "public_url",
                    message: format!(
                        "must be an http:// or https:// URL without a query, not `{url}`"
                    ),
                });
            }
            // The path a post arrives at is appended to it.
            url => url.map(|u| u.trim_end_matches('/').to_owned()),
        };

        let defaults = Limits::default();
        let limits = Limits {
            fuel: self.plugins.fuel.unwrap_or(defaults.fuel),
            deadline: self
                .plugins
                .deadline_ms
                .map_or(defaults.deadline, Duration::from_millis),
            memory: match self.plugins.memory_mib {
                // Shifting a huge number of MiB would wrap; refuse it instead.
                Some(mib) => mib.checked_mul(1 << 20).ok_or(ConfigError::Invalid {
                    setting: "plugins.memory_mib",
                    message: "too large".into(),
                })?,
                None => defaults.memory,
            },
            ..defaults
        };
        if limits.fuel == 0 || limits.deadline.is_zero() || limits.memory == 0 {
            return Err(ConfigError::Invalid {
                setting: "plugins",
                message: "fuel, deadline_ms and memory_mib must be positive".into(),
            });
        }
        if limits.deadline > MAX_DEADLINE {
            return Err(ConfigError::Invalid {
                setting: "plugins.deadline_ms",
                message: format!("may be at most {} (ms)", MAX_DEADLINE.as_millis()),
            });
        }

        Ok(Config {
            listen,
            database_url,
            admin_token,
            cache_dir: self.cache_dir,
            max_body_bytes,
            queue_worker: self.queue_worker.unwrap_or(true),
            agent_session: Duration::from_secs(session_hours * 3_600),
            cometd_timeout: Duration::from_millis(cometd_timeout_ms),
            agent_presence: match self
                .agent_presence_secs
                .unwrap_or(DEFAULT_AGENT_PRESENCE_SECS)
            {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            header_timeout,
            body_timeout,
            public_url,
            plugin_limits: limits,
        })
    }
}

/// The validated configuration of `switchyard serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// The admin token set by the operator; `None` means use the one stored in the
    /// database, generating it at the first start.
    pub admin_token: Option<AdminToken>,
    /// Where compiled plugins are cached between runs.
    pub cache_dir: Option<PathBuf>,
    pub max_body_bytes: usize,
    /// Whether the background queue worker runs on this node.
    pub queue_worker: bool,
    /// How long an agent's session lasts after logging in.
    pub agent_session: Duration,
    /// How long the CometD server holds a connect with nothing to send.
    pub cometd_timeout: Duration,
    /// How long a ready agent may be without a CometD connection before being made not
    /// ready (`None`: never).
    pub agent_presence: Option<Duration>,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a request body may stall between two reads.
    pub body_timeout: Duration,
    /// The server's address as gateways reach it, without a trailing `/`.
    pub public_url: Option<String>,
    /// Default limits of each plugin invocation.
    pub plugin_limits: Limits,
}

impl Config {
    /// The defaults with `database_url` and `listen` replaced: what tests and embedders
    /// usually want.
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        let mut config = RawSettings::default()
            .validate()
            .expect("the defaults are valid");
        config.listen = listen;
        config.database_url = database_url.into();
        config
    }
}

impl Config {
    /// Where compiled plugins are cached: the configured directory, or by default
    /// `switchyard-cache` beside a SQLite database file (the host's data lives there
    /// already), or the user's cache directory for PostgreSQL. `None` (an in-memory
    /// SQLite database without a home directory to fall back on) caches in memory only.
    pub fn plugin_cache_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        if let Some(file) = sqlite_file(&self.database_url) {
            let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
            return Some(parent.unwrap_or(Path::new(".")).join("switchyard-cache"));
        }
        let user_cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
        user_cache.map(|dir| dir.join("switchyard"))
    }
}

/// The file of a `sqlite:` URL, or `None` for another backend or an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// The bearer token that guards `/api/v1`. Its `Debug` hides the value so that logging
/// a [`Config`] never leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Accepts a token of at least [`MIN_ADMIN_TOKEN_LEN`] visible ASCII characters:
    /// the token travels in an HTTP header, where other bytes are trouble.
    pub fn parse(token: &str) -> Result<Self, String> {
        if token.len() < MIN_ADMIN_TOKEN_LEN {
            return Err(format!(
                "must be at least {MIN_ADMIN_TOKEN_LEN} characters long"
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must consist of visible ASCII characters (no spaces)".into());
        }
        Ok(Self(token.to_owned()))
    }

    /// A fresh token of 256 random bits, hex-encoded.
    pub fn generate() -> Self {
        Self(hex::encode(rand::random::<[u8; 32]>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let config = RawSettings::default().validate().unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert!(config.admin_token.is_none());
        assert_eq!(config.plugin_limits, Limits::default());
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(config.agent_session, Duration::from_secs(12 * 3_600));
        assert_eq!(config.header_timeout, Duration::from_secs(10));
        assert_eq!(config.body_timeout, Duration::from_secs(30));
    }

    #[test]
    fn later_sources_override_earlier_ones_field_by_field() {
        let file: RawSettings = toml::from_str(
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"sqlite://file.db\"\n[plugins]\nfuel = 7\n",
        )
        .unwrap();
        let environment = RawSettings::from_env(env(&[
            ("SWITCHYARD_DATABASE_URL", "postgres://db/x"),
            ("SWITCHYARD_LISTEN", ""),
        ]));
        let flags = RawSettings {
            admin_token: Some("0123456789abcdef0123".into()),
            ..RawSettings::default()
        };
        let config = file
            .overridden_by(environment)
            .overridden_by(flags)
            .validate()
            .unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.database_url, "postgres://db/x");
        assert_eq!(config.admin_token.unwrap().as_str(), "0123456789abcdef0123");
        assert_eq!(config.plugin_limits.fuel, 7);
        assert_eq!(config.plugin_limits.deadline, Limits::default().deadline);
    }

    #[test]
    fn the_public_url_is_an_http_base_without_its_trailing_slash() {
        let with = |url: &str| {
            RawSettings {
                public_url: Some(url.into()),
                ..RawSettings::default()
            }
            .validate()
        };
        assert_eq!(
            with("https://sms.example.com/")
                .unwrap()
                .public_url
                .as_deref(),
            Some("https://sms.example.com")
        );
        assert!(with("sms.example.com").is_err());
        assert!(with("https://sms.example.com/?a=1").is_err());
        assert_eq!(RawSettings::default().validate().unwrap().public_url, None);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap();
        let err = RawSettings::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("listen_port"), "{err}");
    }

    #[test]
    fn bad_values_name_their_setting() {
        let bad = |raw: RawSettings| raw.validate().unwrap_err().to_string();
        let listen = bad(RawSettings {
            listen: Some("localhost".into()),
            ..Default::default()
        });
        assert!(listen.starts_with("listen:"), "{listen}");
        let db = bad(RawSettings {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        });
        assert!(db.starts_with("database_url:"), "{db}");
        let token = bad(RawSettings {
            admin_token: Some("secret".into()),
            ..Default::default()
        });
        assert!(token.starts_with("admin_token:"), "{token}");
        let limits = bad(RawSettings {
            plugins: RawPluginLimits {
                deadline_ms: Some(0),
                ..Default::default()
            },
            ..Default::default()
        });
        assert!(limits.starts_with("plugins:"), "{limits}");
        let long = bad(RawSettings {
            plugins: RawPluginLimits {
                deadline_ms: Some(MAX_DEADLINE.as_millis() as u64 + 1),
                ..Default::default()
            },
            ..Default::default()
        });
        assert!(long.starts_with("plugins.deadline_ms:"), "{long}");
        for hours in [0, 721] {
            let session = bad(RawSettings {
                agent_session_hours: Some(hours),
                ..Default::default()
            });
            assert!(session.starts_with("agent_session_hours:"), "{session}");
        }
        for (setting, raw) in [
            (
                "header_timeout_secs",
                RawSettings {
                    header_timeout_secs: Some(0),
                    ..Default::default()
                },
            ),
            (
                "body_timeout_secs",
                RawSettings {
                    body_timeout_secs: Some(601),
                    ..Default::default()
                },
            ),
        ] {
            let message = bad(raw);
            assert!(message.starts_with(setting), "{message}");
        }
        let environment = RawSettings::from_env(env(&[
            ("SWITCHYARD_HEADER_TIMEOUT_SECS", "3"),
            ("SWITCHYARD_BODY_TIMEOUT_SECS", "4"),
        ]))
        .validate()
        .unwrap();
        assert_eq!(environment.header_timeout, Duration::from_secs(3));
        assert_eq!(environment.body_timeout, Duration::from_secs(4));
        let file: RawSettings = toml::from_str("agent_session_hours = 8").unwrap();
        assert_eq!(
            file.validate().unwrap().agent_session,
            Duration::from_secs(8 * 3_600)
        );
    }

    #[test]
    fn the_plugin_cache_defaults_to_beside_the_sqlite_file() {
        let config = |url: &str| Config::new("127.0.0.1:0".parse().unwrap(), url);
        assert_eq!(
            config("sqlite:///var/lib/sy/switchyard.db?mode=rwc").plugin_cache_dir(),
            Some(PathBuf::from("/var/lib/sy/switchyard-cache"))
        );
        assert_eq!(
            config(DEFAULT_DATABASE_URL).plugin_cache_dir(),
            Some(PathBuf::from("./switchyard-cache"))
        );
        let mut chosen = config(DEFAULT_DATABASE_URL);
        chosen.cache_dir = Some("/tmp/c".into());
        assert_eq!(chosen.plugin_cache_dir(), Some(PathBuf::from("/tmp/c")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://db/x"), None);
    }

    #[test]
    fn generated_tokens_are_long_random_and_valid() {
        let a = AdminToken::generate();
        let b = AdminToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64, "256 bits, hex-encoded");
        assert!(AdminToken::parse(a.as_str()).is_ok());
        assert_eq!(format!("{a:?}"), "AdminToken(..)");
    }
}
