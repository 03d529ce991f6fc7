//! Configuration: defaults, then an optional TOML file, then environment variables
//! (`SWITCHBOARD_*`, and `DATABASE_URL` for the database), then command-line flags.
//! Later sources win.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchboard_store::{StoreOptions, DEFAULT_SQLITE_URL};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    /// Base of absolute URLs in responses (pagination links), e.g.
    /// `https://inbox.example.com`; the request's Host header when unset.
    pub public_base_url: Option<String>,
    /// Requests per minute per token (per client IP when unauthenticated); 0 is off.
    pub rate_limit_per_minute: u32,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub db_max_connections: u32,
    /// PostgreSQL connections for writes (SQLite always has one writer).
    pub db_max_write_connections: u32,
    /// How long a database connection may sit idle before it is closed.
    pub db_idle_timeout: Duration,
    /// Where the local file store keeps message media.
    pub files_dir: std::path::PathBuf,
    /// Largest accepted media upload, in bytes.
    pub max_upload_bytes: usize,
    /// How long a signed file URL stays valid.
    pub file_url_ttl_secs: i64,
    /// How often the server removes the bytes of files no live message holds;
    /// `None`: never (an operator runs `switchboard files sweep` instead).
    pub file_sweep_interval: Option<Duration>,
    /// On SIGTERM/SIGINT, how long in-flight requests may take before the server stops.
    pub shutdown_timeout: Duration,
    /// Connections served at once; more wait in the accept backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// Lifetime of OAuth access tokens, in seconds.
    pub access_token_ttl_secs: i64,
    /// Lifetime of OAuth refresh tokens, in seconds (each rotation starts a new one).
    pub refresh_token_ttl_secs: i64,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see `http::client_addr`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Config {
    fn default() -> Self {
        // The pool's defaults are the store's own, so the two cannot drift apart.
        let store = StoreOptions::default();
        Self {
            listen: DEFAULT_LISTEN.to_string(),
            database_url: DEFAULT_SQLITE_URL.to_string(),
            public_base_url: None,
            rate_limit_per_minute: 1000,
            log_format: LogFormat::Text,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            db_max_connections: store.max_connections,
            db_max_write_connections: store.max_write_connections,
            db_idle_timeout: store.idle_timeout,
            files_dir: std::path::PathBuf::from("./data/files"),
            max_upload_bytes: 50 * 1024 * 1024,
            file_url_ttl_secs: 900,
            file_sweep_interval: Some(Duration::from_secs(60)),
            shutdown_timeout: Duration::from_secs(30),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            access_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The optional TOML file; every key is optional and named like its variable.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_base_url: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
    pub log_format: Option<LogFormat>,
    pub max_body_bytes: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub db_max_connections: Option<u32>,
    pub db_max_write_connections: Option<u32>,
    pub db_idle_timeout_secs: Option<u64>,
    pub files_dir: Option<PathBuf>,
    pub max_upload_bytes: Option<usize>,
    pub file_url_ttl_secs: Option<i64>,
    pub file_sweep_interval_secs: Option<u64>,
    pub shutdown_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_token_ttl_secs: Option<i64>,
    pub trusted_proxies: Option<Vec<String>>,
}

/// Settings from flags and environment (clap reads both); `None` when not given.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB (also DATABASE_URL).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DATABASE_URL",
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Public base URL used in absolute links, e.g. https://inbox.example.com.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_PUBLIC_BASE_URL",
        value_name = "URL"
    )]
    pub public_base_url: Option<String>,
    /// Requests per minute per token; 0 turns rate limiting off.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_RATE_LIMIT_PER_MINUTE",
        value_name = "N"
    )]
    pub rate_limit_per_minute: Option<u32>,
    /// Log format.
    #[arg(long, global = true, env = "SWITCHBOARD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest accepted request body, in bytes.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_BODY_BYTES",
        value_name = "BYTES"
    )]
    pub max_body_bytes: Option<usize>,
    /// Longest a request may take before it is answered 503.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_REQUEST_TIMEOUT_SECS",
        value_name = "SECONDS"
    )]
    pub request_timeout_secs: Option<u64>,
    /// Database connections for reads (PostgreSQL; SQLite readers).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DB_MAX_CONNECTIONS",
        value_name = "N"
    )]
    pub db_max_connections: Option<u32>,
    /// PostgreSQL connections for writes (SQLite always has a single writer).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DB_MAX_WRITE_CONNECTIONS",
        value_name = "N"
    )]
    pub db_max_write_connections: Option<u32>,
    /// Seconds a database connection may sit idle before it is closed (its memory,
    /// SQLite's page cache above all, goes back; a busy server keeps its connections).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DB_IDLE_TIMEOUT_SECS",
        value_name = "SECS"
    )]
    pub db_idle_timeout_secs: Option<u64>,
    /// Directory for message media (local file store).
    #[arg(long, global = true, env = "SWITCHBOARD_FILES_DIR", value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
    /// Largest accepted media upload, in bytes.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_UPLOAD_BYTES",
        value_name = "BYTES"
    )]
    pub max_upload_bytes: Option<usize>,
    /// Lifetime of signed file download URLs.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_FILE_URL_TTL_SECS",
        value_name = "SECONDS"
    )]
    pub file_url_ttl_secs: Option<i64>,
    /// How often unheld files are removed from the files directory; 0 turns it off.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_FILE_SWEEP_INTERVAL_SECS",
        value_name = "SECONDS"
    )]
    pub file_sweep_interval_secs: Option<u64>,
    /// On SIGTERM, how long in-flight requests may still take.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS",
        value_name = "SECONDS"
    )]
    pub shutdown_timeout_secs: Option<u64>,
    /// Connections served at once; more wait in the accept backlog.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_CONNECTIONS",
        value_name = "N"
    )]
    pub max_connections: Option<usize>,
    /// How long a client may take to send a request's headers.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_HEADER_READ_TIMEOUT_SECS",
        value_name = "SECONDS"
    )]
    pub header_read_timeout_secs: Option<u64>,
    /// Lifetime of OAuth access tokens.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_ACCESS_TOKEN_TTL_SECS",
        value_name = "SECONDS"
    )]
    pub access_token_ttl_secs: Option<i64>,
    /// Lifetime of OAuth refresh tokens.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_REFRESH_TOKEN_TTL_SECS",
        value_name = "SECONDS"
    )]
    pub refresh_token_ttl_secs: Option<i64>,
    /// Reverse proxies (addresses or networks, comma-separated) whose
    /// X-Forwarded-For names the client; without any, the header is ignored.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_TRUSTED_PROXIES",
        value_name = "NETS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Resolves the configuration. `listen` is the `serve --listen` flag, if any;
    /// `database_url_env` is the plain `DATABASE_URL` variable.
    pub fn resolve(
        overrides: &Overrides,
        listen: Option<&str>,
        listen_env: Option<String>,
        database_url_env: Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let defaults = Config::default();
        let config = Config {
            listen: listen
                .map(str::to_string)
                .or(listen_env)
                .or(file.listen)
                .unwrap_or(defaults.listen),
            database_url: overrides
                .database_url
                .clone()
                .or(database_url_env)
                .or(file.database_url)
                .unwrap_or(defaults.database_url),
            public_base_url: overrides
                .public_base_url
                .clone()
                .or(file.public_base_url)
                .map(|u| u.trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty()),
            rate_limit_per_minute: overrides
                .rate_limit_per_minute
                .or(file.rate_limit_per_minute)
                .unwrap_or(defaults.rate_limit_per_minute),
            log_format: overrides
                .log_format
                .or(file.log_format)
                .unwrap_or(defaults.log_format),
            max_body_bytes: overrides
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            request_timeout: overrides
                .request_timeout_secs
                .or(file.request_timeout_secs)
                .map(Duration::from_secs)
                .unwrap_or(defaults.request_timeout),
            db_max_connections: overrides
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or(defaults.db_max_connections),
            db_max_write_connections: overrides
                .db_max_write_connections
                .or(file.db_max_write_connections)
                .unwrap_or(defaults.db_max_write_connections),
            db_idle_timeout: overrides
                .db_idle_timeout_secs
                .or(file.db_idle_timeout_secs)
                .map(Duration::from_secs)
                .unwrap_or(defaults.db_idle_timeout),
            files_dir: overrides
                .files_dir
                .clone()
                .or(file.files_dir)
                .unwrap_or(defaults.files_dir),
            max_upload_bytes: overrides
                .max_upload_bytes
                .or(file.max_upload_bytes)
                .unwrap_or(defaults.max_upload_bytes),
            file_url_ttl_secs: overrides
                .file_url_ttl_secs
                .or(file.file_url_ttl_secs)
                .unwrap_or(defaults.file_url_ttl_secs),
            file_sweep_interval: match overrides
                .file_sweep_interval_secs
                .or(file.file_sweep_interval_secs)
            {
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
                None => defaults.file_sweep_interval,
            },
            shutdown_timeout: overrides
                .shutdown_timeout_secs
                .or(file.shutdown_timeout_secs)
                .map(Duration::from_secs)
                .unwrap_or(defaults.shutdown_timeout),
            max_connections: overrides
                .max_connections
                .or(file.max_connections)
                .unwrap_or(defaults.max_connections),
            header_read_timeout: overrides
                .header_read_timeout_secs
                .or(file.header_read_timeout_secs)
                .map(Duration::from_secs)
                .unwrap_or(defaults.header_read_timeout),
            access_token_ttl_secs: overrides
                .access_token_ttl_secs
                .or(file.access_token_ttl_secs)
                .unwrap_or(defaults.access_token_ttl_secs),
            refresh_token_ttl_secs: overrides
                .refresh_token_ttl_secs
                .or(file.refresh_token_ttl_secs)
                .unwrap_or(defaults.refresh_token_ttl_secs),
            trusted_proxies: overrides
                .trusted_proxies
                .clone()
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .iter()
                .filter(|t| !t.trim().is_empty())
                .map(|t| crate::http::client_addr::parse_trusted(t))
                .collect::<Result<_, _>>()
                .map_err(|e| ConfigError::Invalid(format!("trusted proxies: {e}")))?,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "public base URL must start with http:// or https://, got {url:?}"
                )));
            }
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::Invalid(
                "max body bytes must be at least 1".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "max connections must be at least 1".into(),
            ));
        }
        if self.db_max_connections == 0 || self.db_max_write_connections == 0 {
            return Err(ConfigError::Invalid(
                "database connections must be at least 1".into(),
            ));
        }
        if self.header_read_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "header read timeout must be at least 1 second".into(),
            ));
        }
        if self.file_url_ttl_secs < 1 {
            return Err(ConfigError::Invalid(
                "file URL lifetime must be at least 1 second".into(),
            ));
        }
        // A refresh token must outlive the access token it replaces; ten years is
        // far beyond any sensible setting and keeps timestamps in range.
        const MAX_TTL: i64 = 10 * 365 * 24 * 3600;
        if !(1..=MAX_TTL).contains(&self.access_token_ttl_secs)
            || !(1..=MAX_TTL).contains(&self.refresh_token_ttl_secs)
        {
            return Err(ConfigError::Invalid(
                "token lifetimes must be between 1 second and 10 years".into(),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "request timeout must be at least 1 second".into(),
            ));
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_sources_win() {
        let dir = std::env::temp_dir().join(format!("sb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("switchboard.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"sqlite://file.db\"\nrate_limit_per_minute = 5\ndb_idle_timeout_secs = 12\n",
        )
        .unwrap();
        let overrides = Overrides {
            config: Some(file.clone()),
            rate_limit_per_minute: Some(7),
            ..Default::default()
        };
        let c = Config::resolve(&overrides, None, None, Some("postgres://env/db".into())).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.database_url, "postgres://env/db");
        assert_eq!(c.rate_limit_per_minute, 7);
        assert_eq!(c.db_idle_timeout, Duration::from_secs(12));
        let defaults = Config::resolve(&Overrides::default(), None, None, None).unwrap();
        assert_eq!(defaults.db_idle_timeout, Duration::from_secs(30));
        let c = Config::resolve(&overrides, Some("127.0.0.1:1"), None, None).unwrap();
        assert_eq!(c.listen, "127.0.0.1:1");
        assert_eq!(c.database_url, "sqlite://file.db");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn database_pools_default_to_the_cores_and_can_be_set() {
        let defaults = Config::resolve(&Overrides::default(), None, None, None).unwrap();
        let cores = std::thread::available_parallelism().unwrap().get() as u32;
        assert_eq!(defaults.db_max_connections, (cores * 2).clamp(2, 32));
        assert_eq!(defaults.db_max_write_connections, 16);

        let dir = std::env::temp_dir().join(format!("sb-config-pools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pools.toml");
        std::fs::write(
            &file,
            "db_max_connections = 3\ndb_max_write_connections = 24\n",
        )
        .unwrap();
        let from_file = Overrides {
            config: Some(file.clone()),
            ..Default::default()
        };
        let c = Config::resolve(&from_file, None, None, None).unwrap();
        assert_eq!((c.db_max_connections, c.db_max_write_connections), (3, 24));
        let flag_wins = Overrides {
            db_max_write_connections: Some(5),
            ..from_file
        };
        let c = Config::resolve(&flag_wins, None, None, None).unwrap();
        assert_eq!((c.db_max_connections, c.db_max_write_connections), (3, 5));
        let zero = Overrides {
            db_max_write_connections: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            Config::resolve(&zero, None, None, None),
            Err(ConfigError::Invalid(_))
        ));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_file_sweep_runs_every_minute_unless_set_or_turned_off() {
        let interval = |secs: Option<u64>| {
            let overrides = Overrides {
                file_sweep_interval_secs: secs,
                ..Default::default()
            };
            Config::resolve(&overrides, None, None, None)
                .unwrap()
                .file_sweep_interval
        };
        assert_eq!(interval(None), Some(Duration::from_secs(60)));
        assert_eq!(interval(Some(5)), Some(Duration::from_secs(5)));
        assert_eq!(interval(Some(0)), None, "0 turns the sweeper off");
        // The grace period outlasts any request.
        let slow = Config {
            request_timeout: Duration::from_secs(7200),
            ..Config::default()
        };
        assert_eq!(
            crate::files::sweep_grace(&Config::default()).num_seconds(),
            3600
        );
        assert_eq!(crate::files::sweep_grace(&slow).num_seconds(), 14_400);
    }

    #[test]
    fn trusted_proxies_come_from_flags_or_file_and_are_checked() {
        let dir = std::env::temp_dir().join(format!("sb-config-proxy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("proxy.toml");
        std::fs::write(&file, "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").unwrap();
        let from_file = Overrides {
            config: Some(file.clone()),
            ..Default::default()
        };
        let c = Config::resolve(&from_file, None, None, None).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(c.trusted_proxies[0].contains(&"10.2.3.4".parse::<std::net::IpAddr>().unwrap()));
        let flag = Overrides {
            config: Some(file),
            trusted_proxies: Some(vec!["192.168.0.1".into()]),
            ..Default::default()
        };
        let c = Config::resolve(&flag, None, None, None).unwrap();
        assert_eq!(
            c.trusted_proxies,
            vec!["192.168.0.1/32".parse::<ipnet::IpNet>().unwrap()]
        );
        let bad = Overrides {
            trusted_proxies: Some(vec!["proxy.local".into()]),
            ..Default::default()
        };
        assert!(matches!(
            Config::resolve(&bad, None, None, None),
            Err(ConfigError::Invalid(_))
        ));
        assert!(Config::resolve(&Overrides::default(), None, None, None)
            .unwrap()
            .trusted_proxies
            .is_empty());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("sb-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        let overrides = Overrides {
            config: Some(file),
            ..Default::default()
        };
        assert!(matches!(
            Config::resolve(&overrides, None, None, None),
            Err(ConfigError::Parse { .. })
        ));
        std::fs::remove_dir_all(dir).ok();
    }
}
