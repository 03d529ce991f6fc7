//! PostgreSQL's list reads, run through tokio-postgres instead of sqlx.
//!
//! On two cores shared with PostgreSQL, a list page costs the machine the statement
//! (PostgreSQL's CPU, the same whoever asks) and what the client spends around it,
//! and the second decides how close the server comes to pgbench. The thinnest HTTP
//! server around L1's statement answered 21 to 33 % more pages a second through
//! tokio-postgres than through sqlx, with a lower p99 (BENCHMARKS.md, "The tenth
//! machine"). Each request has a connection to itself, from a pool (deadpool, fair:
//! first come, first served), as with sqlx: sharing connections between requests
//! (tokio-postgres pipelines the statements of a shared connection) gained no more
//! and doubled the p99, since a request queued behind a slow one on its connection
//! waits although another connection is free.
//!
//! Each connection keeps the statements it prepared, declares their parameters' types
//! as sqlx does (int8, text, timestamptz), so PostgreSQL plans them as it does for
//! sqlx, and runs with the read settings (`plan::POSTGRES_READ_SETTINGS`). A
//! connection that closed (PostgreSQL restarted, an administrator ended it) is
//! noticed when it is next taken from the pool, and replaced; idle ones close after
//! the store's idle timeout, as sqlx's do.

use crate::list::ConversationReader;
use crate::rows::{Arg, ConversationRow, SqlBuilder};
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use std::collections::HashMap;
use switchboard_core::store::{StoreError, StoreResult};
use switchboard_core::Conversation;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

/// Statements a connection keeps prepared. A list page's SQL differs by filter and by
/// its LIMIT and OFFSET (literals), so a connection sees a few dozen in common use;
/// past this many it forgets them all (PostgreSQL keeps each until it is closed).
const PREPARED_STATEMENTS: usize = 64;

/// How the list's connections name themselves to PostgreSQL (`pg_stat_activity`);
/// the store's sqlx connections are `switchboard`.
pub(crate) const APPLICATION_NAME: &str = "switchboard-list";

/// A pool of tokio-postgres connections for the list reads.
#[derive(Clone)]
pub(crate) struct DirectReads {
    pool: managed::Pool<Opener>,
}

impl DirectReads {
    /// A pool of up to `size` connections to the database at `url`, opened as needed.
    pub fn new(url: &str, size: u32) -> Result<Self, String> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| {
                // tokio-postgres says only "invalid connection string"; its source says why.
                match std::error::Error::source(&e) {
                    Some(why) => format!("{e}: {why}"),
                    None => e.to_string(),
                }
            })?;
        let settings = crate::plan::postgres_read_options();
        let options = match config.get_options() {
            Some(given) => format!("{given} {settings}"),
            None => settings,
        };
        config.options(&options);
        config.application_name(APPLICATION_NAME);
        if config.get_connect_timeout().is_none() {
            // As long as the store's sqlx pools wait for a connection.
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let pool = managed::Pool::builder(Opener { config })
            .max_size(size.max(1) as usize)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { pool })
    }

    pub fn reader(&self) -> DirectReader<'_> {
        DirectReader {
            pool: &self.pool,
            conn: None,
        }
    }

    /// Closes the connections idle for `idle` or longer, as sqlx's pools do theirs
    /// (`PgStore::connect` calls it every `idle`).
    pub fn close_idle(&self, idle: std::time::Duration) {
        self.pool.retain(|_, metrics| metrics.last_used() < idle);
    }

    /// Until `alive` is dropped, closes the idle connections every `idle`.
    pub fn close_idle_now_and_then(&self, alive: std::sync::Weak<()>, idle: std::time::Duration) {
        let reads = self.clone();
        crate::every_while_alive(alive, idle, move || {
            reads.close_idle(idle);
            std::future::ready(true)
        });
    }

    /// Connections open now, idle or in use.
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.pool.status().size
    }

    pub fn close(&self) {
        self.pool.close();
    }
}

/// Opens the pool's connections.
struct Opener {
    config: tokio_postgres::Config,
}

/// An open connection and the statements prepared on it.
pub(crate) struct Connection {
    client: Client,
    prepared: HashMap<String, Statement>,
}

impl managed::Manager for Opener {
    type Type = Connection;
    type Error = StoreError;

    async fn create(&self) -> Result<Connection, StoreError> {
        let (client, connection) = self
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(pg_err)?;
        // The connection's socket, driven until the client is dropped or it fails.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "a PostgreSQL list connection failed");
            }
        });
        Ok(Connection {
            client,
            prepared: HashMap::new(),
        })
    }

    /// A connection whose socket task ended (PostgreSQL closed it, the network broke)
    /// is dropped, and the pool opens another: no round trip, unlike a ping.
    async fn recycle(&self, conn: &mut Connection, _: &Metrics) -> RecycleResult<StoreError> {
        if conn.client.is_closed() {
            return Err(RecycleError::message("the connection closed"));
        }
        Ok(())
    }
}

impl Connection {
    async fn statement(&mut self, statement: &SqlBuilder) -> StoreResult<Statement> {
        if let Some(prepared) = self.prepared.get(&statement.sql) {
            return Ok(prepared.clone());
        }
        let types: Vec<Type> = statement.args.iter().map(Arg::postgres_type).collect();
        let prepared = self
            .client
            .prepare_typed(&statement.sql, &types)
            .await
            .map_err(pg_err)?;
        if self.prepared.len() >= PREPARED_STATEMENTS {
            self.prepared.clear();
        }
        self.prepared
            .insert(statement.sql.clone(), prepared.clone());
        Ok(prepared)
    }

    async fn query(&mut self, statement: &SqlBuilder) -> StoreResult<Vec<Row>> {
        let prepared = self.statement(statement).await?;
        let params: Vec<&(dyn ToSql + Sync)> =
            statement.args.iter().map(Arg::postgres_value).collect();
        self.client.query(&prepared, &params).await.map_err(pg_err)
    }
}

fn pg_err(e: tokio_postgres::Error) -> StoreError {
    // A NUL in a text parameter, as `rows::db_err` maps it for sqlx: the input's fault.
    if e.code() == Some(&tokio_postgres::error::SqlState::CHARACTER_NOT_IN_REPERTOIRE) {
        return StoreError::Unstorable(e.to_string());
    }
    StoreError::Database(e.to_string())
}

/// A `ConversationReader` over `DirectReads`: takes a connection at its first
/// statement and keeps it until `release` or its end.
pub(crate) struct DirectReader<'a> {
    pool: &'a managed::Pool<Opener>,
    conn: Option<managed::Object<Opener>>,
}

impl DirectReader<'_> {
    async fn rows(&mut self, statement: &SqlBuilder) -> StoreResult<Vec<Row>> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.get().await.map_err(|e| match e {
                managed::PoolError::Backend(e) => e,
                e => StoreError::Database(format!("no PostgreSQL list connection: {e}")),
            })?,
        };
        self.conn.insert(conn).query(statement).await
    }
}

#[async_trait::async_trait]
impl ConversationReader for DirectReader<'_> {
    async fn conversations(&mut self, statement: SqlBuilder) -> StoreResult<Vec<Conversation>> {
        let rows = self.rows(&statement).await?;
        read_conversations(&rows, None).map(|(items, _)| items)
    }

    async fn conversations_and_number(
        &mut self,
        statement: SqlBuilder,
    ) -> StoreResult<(Vec<Conversation>, Option<i64>)> {
        let rows = self.rows(&statement).await?;
        read_conversations(&rows, Some(crate::rows::CONVERSATION_COLUMN_COUNT))
    }

    async fn integers<const N: usize>(&mut self, statement: SqlBuilder) -> StoreResult<[i64; N]> {
        let rows = self.rows(&statement).await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Database("no rows returned".to_string()))?;
        let mut values = [0; N];
        for (k, value) in values.iter_mut().enumerate() {
            *value = row.try_get(k).map_err(pg_err)?;
        }
        Ok(values)
    }

    fn release(&mut self) {
        self.conn = None;
    }
}

/// The conversations of rows selecting `CONVERSATION_COLUMNS`, and the integer in
/// column `number_at` of the first row, if asked for and there is a row.
fn read_conversations(
    rows: &[Row],
    number_at: Option<usize>,
) -> StoreResult<(Vec<Conversation>, Option<i64>)> {
    let number = match (number_at, rows.first()) {
        (Some(k), Some(row)) => Some(row.try_get(k).map_err(pg_err)?),
        _ => None,
    };
    let items = rows
        .iter()
        .map(|row| conversation_row(row)?.into_conversation())
        .collect::<StoreResult<_>>()?;
    Ok((items, number))
}

/// A conversation row by position, in the order of `CONVERSATION_COLUMNS` (as the
/// sqlx decoder in `rows.rs` reads it). Each value's type is checked against its
/// column's: a column out of place fails here rather than decoding as nonsense.
fn conversation_row(row: &Row) -> StoreResult<ConversationRow> {
    let mut column = 0..crate::rows::CONVERSATION_COLUMN_COUNT;
    let mut next = || column.next().unwrap_or(usize::MAX);
    let mut read = || -> Result<ConversationRow, tokio_postgres::Error> {
        Ok(ConversationRow {
            id: row.try_get(next())?,
            tenant_id: row.try_get(next())?,
            address: row.try_get(next())?,
            created_at: row.try_get(next())?,
            channel_id: row.try_get(next())?,
            channel_name: row.try_get(next())?,
            channel_type: row.try_get(next())?,
            channel_address: row.try_get(next())?,
            customer_id: row.try_get(next())?,
            first_name: row.try_get(next())?,
            last_name: row.try_get(next())?,
            phone_number: row.try_get(next())?,
            email: row.try_get(next())?,
            avatar_url: row.try_get(next())?,
            last_message_id: row.try_get(next())?,
            last_message_preview: row.try_get(next())?,
            last_message_at: row.try_get(next())?,
            last_message_type: row.try_get(next())?,
            last_message_is_customer: row.try_get(next())?,
            unread_count: row.try_get(next())?,
            agent_disabled: row.try_get(next())?,
            agent_expires_at: row.try_get(next())?,
            agent_disabled_by_user_name: row.try_get(next())?,
            blacklist_id: row.try_get(next())?,
            blacklist_reason: row.try_get(next())?,
            blacklist_note: row.try_get(next())?,
            blacklist_metadata: row.try_get(next())?,
            blacklist_blocked_at: row.try_get(next())?,
            blacklist_expires_at: row.try_get(next())?,
            blacklist_is_active: row.try_get(next())?,
            blacklist_created_at: row.try_get(next())?,
            blacklist_updated_at: row.try_get(next())?,
            blacklist_deleted_at: row.try_get(next())?,
        })
    };
    read().map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list's connections take the URL's own options and add the read settings;
    /// they name themselves apart from the store's other connections.
    #[test]
    fn the_url_is_read_and_the_read_settings_added() {
        let url = "postgres://app:s%40cret@db.example:6543/inbox?options=-c%20search_path%3Dinbox&connect_timeout=3";
        let reads = DirectReads::new(url, 4).expect("a pool");
        let config = &reads.pool.manager().config;
        assert_eq!(config.get_user(), Some("app"));
        assert_eq!(config.get_password(), Some(&b"s@cret"[..]));
        assert_eq!(config.get_dbname(), Some("inbox"));
        assert_eq!(config.get_ports(), &[6543]);
        assert_eq!(
            config.get_options(),
            Some("-c search_path=inbox -c plan_cache_mode=force_generic_plan -c max_parallel_workers_per_gather=0")
        );
        assert_eq!(config.get_application_name(), Some(APPLICATION_NAME));
        assert_eq!(
            config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        assert_eq!(reads.pool.status().max_size, 4);
    }

    /// A URL the list's driver cannot read is refused when the store opens, with
    /// the reason, not when the first list request comes.
    #[test]
    fn a_url_the_driver_cannot_read_is_refused_with_its_reason() {
        let error = DirectReads::new("postgres://app@db.example/inbox?sslmode=sometimes", 4)
            .err()
            .expect("refused");
        assert!(error.contains("sslmode"), "{error}");
    }
}
