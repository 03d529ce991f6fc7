//! Storage backends for Switchboard: embedded SQLite and PostgreSQL, chosen by the
//! scheme of the database URL. Both implement `switchboard_core::Store` from one body
//! of SQL (see `shared.rs`); only connection handling, write transactions and the
//! search index differ.

mod list;
#[cfg(test)]
mod list_parity;
pub mod plan;
mod rows;
mod search_counts;
#[macro_use]
mod shared;
#[macro_use]
mod messaging_shared;
#[macro_use]
mod auth_shared;
#[macro_use]
mod files_shared;
mod group_commit;
mod postgres;
mod postgres_direct;
mod sqlite;
mod sqlite_build;
mod sqlite_direct;
mod sqlite_memory;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;
use switchboard_core::Store;

/// A store's housekeeping: runs `work` every `period` (the first time one period
/// after the start) until `alive` is dropped with its store, or `work` says to stop
/// (`false`).
pub(crate) fn every_while_alive<F, Fut>(
    alive: std::sync::Weak<()>,
    period: std::time::Duration,
    mut work: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if alive.strong_count() == 0 || !work().await {
                return;
            }
        }
    });
}

pub const DEFAULT_SQLITE_URL: &str = "sqlite://./data/switchboard.db";

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL pool size; SQLite readers (SQLite always has a single writer).
    /// Defaults to `default_pool_size()`.
    pub max_connections: u32,
    /// PostgreSQL connections for writes; SQLite ignores it (one writer, batched
    /// commits). A write spends most of its time waiting for its commit to reach the
    /// disk, not on a core, and PostgreSQL flushes the commits that wait together in one
    /// go, so writes want more connections than reads: on the benchmark's 2 cores, 16
    /// write connections gave 2,884 creates/s and 3,483 inbound messages/s against
    /// 2,280 and 2,495 with the 4 that suit reads.
    pub max_write_connections: u32,
    /// How long a connection may sit idle before the pool closes it: an idle server
    /// gives back the page caches of the SQLite readers a burst opened. Zero: never.
    pub idle_timeout: std::time::Duration,
    /// The most conversations a search page walks in list order before the search
    /// index finds the matches instead (`plan::walk_window`); 0 never walks. Tests
    /// lower it to exercise both ways on small data.
    pub search_walk_max: i64,
    /// The most conversations a tenant may have for its PostgreSQL searches to look it
    /// up in the search indexes (`plan::TENANT_IN_SEARCH_INDEX_MAX`, the default).
    /// Tests lower it to exercise the other form on small data.
    pub tenant_in_search_index_max: i64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: default_pool_size(),
            max_write_connections: 16,
            idle_timeout: std::time::Duration::from_secs(30),
            search_walk_max: plan::MAX_WALK,
            tenant_in_search_index_max: plan::TENANT_IN_SEARCH_INDEX_MAX,
        }
    }
}

/// Twice the cores this process may run on, at least 2 and at most 32: the old
/// PostgreSQL rule of thumb (connections = cores x 2 + spindles) for a database on
/// this machine, as SQLite always is. More connections than that do not add
/// throughput when the queries are CPU-bound, they only let more requests share the
/// cores at once, and every one of them then waits longer: on the benchmark's 2 cores,
/// 4 connections instead of 16 cut the list page's p99 from 17.5 to 10.4 ms on
/// PostgreSQL and from 10.6 to 7.1 ms on SQLite, with more requests per second
/// (BENCHMARKS.md). A remote PostgreSQL with more cores than this machine wants
/// `db_max_connections` set to its own count.
pub fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores as u32).saturating_mul(2).clamp(2, 32)
}

impl StoreOptions {
    fn pool_idle_timeout(&self) -> Option<std::time::Duration> {
        (!self.idle_timeout.is_zero()).then_some(self.idle_timeout)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedScheme(String),
    #[error(
        "in-memory SQLite databases are not supported ({0}): the server reads through \
         connections of its own, each of which would see an empty database; use sqlite://PATH"
    )]
    InMemorySqlite(String),
    #[error("cannot create the directory for the SQLite database: {0}")]
    Directory(#[from] std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("the database URL does not suit the list reads' driver (tokio-postgres): {0}")]
    ListConnections(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("completing the search indexes of stored conversations failed: {0}")]
    Derive(#[source] sqlx::Error),
}

/// An opened database, before it is handed out as `dyn Store`.
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Database {
    /// Opens the database named by `url` (`sqlite://...` or `postgres[ql]://...`).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Database, OpenError> {
        if url.starts_with("sqlite:") {
            Ok(Database::Sqlite(SqliteStore::connect(url, options).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Database::Postgres(PgStore::connect(url, options).await?))
        } else {
            Err(OpenError::UnsupportedScheme(redact(url)))
        }
    }

    /// Applies pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, OpenError> {
        match self {
            Database::Sqlite(s) => s.migrate().await,
            Database::Postgres(s) => s.migrate().await,
        }
    }

    pub fn into_store(self) -> Arc<dyn Store> {
        match self {
            Database::Sqlite(s) => Arc::new(s),
            Database::Postgres(s) => Arc::new(s),
        }
    }
}

/// A URL fit for logs: the password, if any, replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://./x.db"), "sqlite://./x.db");
    }
}
