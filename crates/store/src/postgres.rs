//! PostgreSQL: a pool for reads and one for writes; substring search through a pg_trgm GIN index that starts
//! with tenant_id (btree_gin), and conversation counters spread over slots.

use crate::{OpenError, StoreOptions};
use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;
use switchboard_core::store::StoreResult;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Concurrent creates in one tenant update one of this many counter rows.
const COUNTER_SLOTS: i64 = 16;

pub struct PgStore {
    /// Reads: as many connections as the cores can keep busy (`default_pool_size`).
    read: PgPool,
    /// Write transactions and one-statement writes, which mostly wait for their
    /// commit's flush and so want more connections (`StoreOptions::max_write_connections`).
    write: PgPool,
    /// One connection for the once-a-second polls (`poller()`).
    poll: PgPool,
    /// The conversation list's reads, through tokio-postgres (`postgres_direct.rs`).
    list: crate::postgres_direct::DirectReads,
    /// Keeps the closing of the list's idle connections running.
    _closing_idle: std::sync::Arc<()>,
    search_counts: crate::search_counts::SearchCounts,
    search_walk_max: i64,
    tenant_in_search_index_max: i64,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";
    const DIALECT: crate::plan::Dialect = crate::plan::Dialect::Postgres;

    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, OpenError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .application_name("switchboard");
        let pool = |size: u32| {
            PgPoolOptions::new()
                .max_connections(size.max(1))
                .idle_timeout(options.pool_idle_timeout())
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire(false)
                .before_acquire(|conn, meta| Box::pin(alive_unless_just_used(conn, meta)))
        };
        let read = pool(options.max_connections)
            .connect_with(
                connect
                    .clone()
                    .options(crate::plan::POSTGRES_READ_SETTINGS.iter().copied()),
            )
            .await
            .map_err(OpenError::Connect)?;
        let write = pool(options.max_write_connections).connect_lazy_with(connect.clone());
        let list = crate::postgres_direct::DirectReads::new(url, options.max_connections)
            .map_err(OpenError::ListConnections)?;
        let closing_idle = std::sync::Arc::new(());
        if let Some(idle) = options.pool_idle_timeout() {
            list.close_idle_now_and_then(std::sync::Arc::downgrade(&closing_idle), idle);
        }
        let poll = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(connect);
        Ok(Self {
            read,
            write,
            poll,
            list,
            _closing_idle: closing_idle,
            search_counts: Default::default(),
            search_walk_max: options.search_walk_max,
            tenant_in_search_index_max: options.tenant_in_search_index_max,
        })
    }

    pub async fn migrate(&self) -> Result<usize, OpenError> {
        let before = applied(&self.write).await;
        MIGRATOR.run(&self.write).await?;
        Ok(applied(&self.write).await.saturating_sub(before))
    }

    async fn close_pools(&self) {
        self.read.close().await;
        self.write.close().await;
        self.poll.close().await;
        self.list.close();
    }

    fn reader(&self) -> &PgPool {
        &self.read
    }

    fn conversation_reader(&self) -> crate::postgres_direct::DirectReader<'_> {
        self.list.reader()
    }

    /// For the once-a-second polls: a connection of their own, so that the pool's
    /// connections can go idle and close.
    fn poller(&self) -> &PgPool {
        &self.poll
    }

    fn search_counts(&self) -> &crate::search_counts::SearchCounts {
        &self.search_counts
    }

    fn search_walk_max(&self) -> i64 {
        self.search_walk_max
    }

    async fn begin_write(&self) -> StoreResult<WriteTx> {
        let pool = self.write.clone();
        crate::rows::begin_whatever_the_caller_does(async move { pool.begin().await }).await
    }

    fn counter_slot() -> i64 {
        rand::thread_rng().gen_range(0..COUNTER_SLOTS)
    }

    /// Whether a write transaction excludes every other writer until it commits:
    /// Writers commit side by side (row locks only).
    const WRITERS_EXCLUSIVE: bool = false;

    /// Appended to a read of the conversation row that a write transaction goes on to
    /// update: the writers of one conversation then take their turns before they
    /// insert a message, so message ids follow commit order and the conversation's
    /// `last_message_*` is the newest message, not the one whose update came last.
    /// Of `c`, the conversation only, where the read joins its customer.
    const ROW_LOCK: &'static str = " FOR UPDATE OF c";

    /// Where a write that is one statement runs on its own, committing as it ends:
    /// a new conversation (`plan::create_conversation_in_one_statement`) in one round
    /// trip instead of nine, an inbound message to a stored conversation
    /// (`plan::INGEST_INTO_STORED_CONVERSATION`) in one instead of five.
    fn one_statement_writer(&self) -> Option<&PgPool> {
        Some(&self.write)
    }
}

/// Whether a pooled connection may be handed out: one that was in use a moment ago
/// is, one that sat idle is pinged first. sqlx would ping on every acquire, a round
/// trip to the database per request (a fifth of a list request's system calls); a
/// server that restarted shows itself on the first use after a quiet spell, and a
/// connection that breaks mid-burst fails its query like any lost connection.
/// A failed ping drops the connection and the pool takes or opens another.
async fn alive_unless_just_used(
    conn: &mut sqlx::PgConnection,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if meta.idle_for >= PING_WHEN_IDLE_FOR {
        conn.ping().await?;
    }
    Ok(true)
}

/// How long a connection may sit idle and still be handed out without a ping.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// A write transaction of the shared store code.
type WriteTx = Transaction<'static, Postgres>;

async fn applied(pool: &PgPool) -> usize {
    sqlx::query_scalar::<Postgres, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}

impl_shared_store!(PgStore, sqlx::Postgres, sqlx::PgConnection);
impl_messaging_store!(PgStore, sqlx::Postgres, sqlx::PgConnection);
impl_auth_store!(PgStore, sqlx::Postgres, sqlx::PgConnection);
impl_file_records!(PgStore, sqlx::Postgres);

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection as _;

    /// A database of its own for a test, dropped with the guard (also when the test
    /// fails).
    async fn test_database() -> crate::test_support::PgTestDatabase {
        let admin = crate::test_support::test_postgres_url().expect("TEST_POSTGRES_URL");
        crate::test_support::PgTestDatabase::create(&admin, "sbunit").await
    }

    /// The list request reads PostgreSQL through tokio-postgres (`postgres_direct.rs`);
    /// through sqlx (`list::SqlxReader`, the rest of the store's way) it must read the
    /// very same pages.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(pg_tests), ignore = "TEST_POSTGRES_URL is not set")]
    async fn the_direct_list_reads_what_sqlx_reads() {
        use crate::list_parity::*;
        let db = test_database().await;
        let url = db.url().to_string();
        let store = PgStore::connect(&url, &options()).await.expect("open");
        store.migrate().await.expect("migrate");
        let (counts, settings) = (store.search_counts(), store.list_settings());
        let direct = || store.list.reader();
        let sqlx = || crate::list::SqlxReader::new(&store.read);
        readers_agree(&store, counts, settings, direct, sqlx).await;
        store.close_pools().await;
    }

    /// An idle server closes its list connections as sqlx's pools close theirs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(pg_tests), ignore = "TEST_POSTGRES_URL is not set")]
    async fn idle_list_connections_close() {
        let db = test_database().await;
        let url = db.url().to_string();
        let options = StoreOptions {
            idle_timeout: Duration::from_millis(300),
            ..StoreOptions::default()
        };
        let store = PgStore::connect(&url, &options).await.expect("open");
        let mut readers: Vec<_> = (0..3).map(|_| store.list.reader()).collect();
        crate::list::each_reader_answers(&mut readers).await;
        drop(readers);
        assert_eq!(store.list.size(), 3, "list connections were opened");
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(store.list.size(), 0, "every idle list connection closed");
        store.close_pools().await;
    }

    /// The list's connections are not pinged when taken from their pool: one that
    /// PostgreSQL closed (a restart, an administrator) must be replaced when it is
    /// next taken, not fail the request that takes it, nor every request after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(pg_tests), ignore = "TEST_POSTGRES_URL is not set")]
    async fn the_list_reconnects_after_postgres_closed_its_connections() {
        let db = test_database().await;
        let url = db.url().to_string();
        let store = PgStore::connect(&url, &StoreOptions::default())
            .await
            .expect("open");
        let connections = StoreOptions::default().max_connections as usize;
        // Every connection of the pool in use at once, each answering.
        let read_on_every_connection = || async {
            let mut readers: Vec<_> = (0..connections).map(|_| store.list.reader()).collect();
            crate::list::each_reader_answers(&mut readers).await;
        };
        let list_connections = || async {
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = $1",
            )
            .bind(crate::postgres_direct::APPLICATION_NAME)
            .fetch_one(&mut conn)
            .await
            .expect("count")
        };
        read_on_every_connection().await;
        assert_eq!(list_connections().await, connections as i64);
        assert_eq!(store.list.size(), connections);
        let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect");
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
        )
        .bind(crate::postgres_direct::APPLICATION_NAME)
        .fetch_all(&mut admin)
        .await
        .expect("terminate");
        assert_eq!(terminated, vec![true; connections]);
        // The connections' tasks notice the close as it arrives.
        tokio::time::sleep(Duration::from_millis(500)).await;
        read_on_every_connection().await;
        assert_eq!(list_connections().await, connections as i64);
        store.close_pools().await;
    }
}
