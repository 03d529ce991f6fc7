//! Embedded SQLite: one file, WAL journal, durable commits (`synchronous = FULL`).
//!
//! Writes go through a pool of exactly one connection, so writers queue in the
//! process instead of failing with SQLITE_BUSY, and write transactions share commits
//! (`group_commit.rs`): each is a savepoint of a batch transaction that begins with
//! `BEGIN IMMEDIATE`, so that another process (the CLI) cannot interleave. Reads use
//! their own pool and see committed data only.

use crate::group_commit::{GroupCommit, GroupWrite};
use crate::{OpenError, StoreOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use switchboard_core::store::StoreResult;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    read: SqlitePool,
    write: std::sync::Arc<GroupCommit>,
    /// One reader for the once-a-second polls (`poller()`).
    poll: SqlitePool,
    /// The list request's reads (`sqlite_direct.rs`).
    direct: crate::sqlite_direct::DirectReads,
    search_counts: crate::search_counts::SearchCounts,
    search_walk_max: i64,
    tenant_in_search_index_max: i64,
    /// Keeps the housekeeping (`Tidy::now_and_then`) running.
    _collecting: std::sync::Arc<()>,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";
    const DIALECT: crate::plan::Dialect = crate::plan::Dialect::Sqlite;

    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, OpenError> {
        let on_mimalloc = crate::sqlite_memory::install();
        if !on_mimalloc {
            tracing::debug!(
                "SQLite was initialised before the store: it keeps the system allocator"
            );
        }
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // The page cache is per connection and counts against the server's memory;
            // the operating system's file cache (not the process's) holds the rest of
            // the database. The writer gets more: index inserts revisit their pages.
            .pragma("cache_size", "-8000");
        if is_in_memory(url) {
            return Err(OpenError::InMemorySqlite(crate::redact(url)));
        }
        if let Some(dir) = connect
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
        // The writer opens (and creates) the file first, so readers find it in WAL mode.
        // It is never closed for age or idleness: it may be inside a batch
        // transaction while it waits in the pool (`group_commit.rs`). Nor pinged when
        // taken: every write takes it, a file does not go away like a socket, and the
        // pool pings it anyway when it comes back.
        for problem in crate::sqlite_build::slow_build_options() {
            tracing::warn!("{problem}; {}", crate::sqlite_build::REMEDY);
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await
            .map_err(OpenError::Connect)?;
        let path = connect.get_filename().to_path_buf();
        let reading = connect.read_only(true).pragma("cache_size", "-2000");
        // No ping when a reader is taken: a file does not hang up like a socket, and the
        // ping is a hand-over to the connection's thread and back on every read.
        let read = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .idle_timeout(options.pool_idle_timeout())
            .test_before_acquire(false)
            .connect_with(reading.clone())
            .await
            .map_err(OpenError::Connect)?;
        let poll = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(reading.pragma("cache_size", "-200"));
        let direct = crate::sqlite_direct::DirectReads::new(path, options.max_connections)
            .map_err(|e| OpenError::Connect(sqlx::Error::Configuration(e.into())))?;
        let write = GroupCommit::new(write, Some(crate::plan::SQLITE_INDEX_PENDING_SEARCH));
        let collecting = std::sync::Arc::new(());
        if let Some(period) = options.pool_idle_timeout() {
            let tidy = Tidy {
                direct: direct.clone(),
                write: std::sync::Arc::clone(&write),
                on_mimalloc,
            };
            tidy.now_and_then(std::sync::Arc::downgrade(&collecting), period);
        }
        Ok(Self {
            read,
            write,
            poll,
            direct,
            search_counts: Default::default(),
            search_walk_max: options.search_walk_max,
            tenant_in_search_index_max: options.tenant_in_search_index_max,
            _collecting: collecting,
        })
    }

    pub async fn migrate(&self) -> Result<usize, OpenError> {
        let before = applied(self.write.pool()).await;
        MIGRATOR.run(self.write.pool()).await?;
        derive_search_digits(self.write.pool()).await?;
        index_pending_search(self.write.pool()).await?;
        Ok(applied(self.write.pool()).await.saturating_sub(before))
    }

    async fn close_pools(&self) {
        self.read.close().await;
        self.poll.close().await;
        self.direct.close();
        // Closing the writer checkpoints the WAL into the database file.
        self.write.pool().close().await;
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn conversation_reader(&self) -> crate::sqlite_direct::DirectReader<'_> {
        self.direct.reader()
    }

    /// For the once-a-second polls: a reader of their own, so that the other readers
    /// can go idle, and not the writer, which may be inside an uncommitted batch.
    fn poller(&self) -> &SqlitePool {
        &self.poll
    }

    fn search_counts(&self) -> &crate::search_counts::SearchCounts {
        &self.search_counts
    }

    fn search_walk_max(&self) -> i64 {
        self.search_walk_max
    }

    async fn begin_write(&self) -> StoreResult<WriteTx> {
        self.write.begin().await
    }

    /// One writer at a time: a single counter row per key never contends.
    fn counter_slot() -> i64 {
        0
    }

    /// Whether a write transaction excludes every other writer until it commits:
    /// `BEGIN IMMEDIATE`: a write transaction holds the database's write lock from its
    /// first statement, so no other commit, of this process or another, comes inside it.
    const WRITERS_EXCLUSIVE: bool = true;

    /// Nothing to add: a write transaction (`BEGIN IMMEDIATE`) already excludes every
    /// other writer.
    const ROW_LOCK: &'static str = "";

    /// None: SQLite has no writing statements inside `WITH`, and its writes are
    /// batched (`group_commit.rs`): a create is one script inside a write
    /// transaction (`plan::create_conversation_at_once`), an inbound message the long
    /// way.
    fn one_statement_writer(&self) -> Option<&SqlitePool> {
        None
    }
}

/// The SQLite store's housekeeping, every idle timeout: it gives back what an idle
/// store holds (the list readers, the writer's page cache, what ended threads left in
/// mimalloc). sqlx's reader pools close their idle connections themselves.
struct Tidy {
    direct: crate::sqlite_direct::DirectReads,
    write: std::sync::Arc<GroupCommit>,
    on_mimalloc: bool,
}

impl Tidy {
    /// Until `alive` is dropped, tidies up every `idle`.
    fn now_and_then(self, alive: std::sync::Weak<()>, idle: Duration) {
        let tidy = std::sync::Arc::new(self);
        crate::every_while_alive(alive, idle, move || {
            let tidy = tidy.clone();
            async move {
                tidy.direct.close_idle(idle);
                tidy.write.release_memory_when_idle().await;
                if tidy.on_mimalloc {
                    let collected =
                        tokio::task::spawn_blocking(crate::sqlite_memory::collect_abandoned);
                    return collected.await.is_ok();
                }
                true
            }
        });
    }
}

/// A write transaction of the shared store code.
type WriteTx = GroupWrite;

/// Whether `url` names an in-memory database (`sqlite::memory:`, `mode=memory`), which
/// the store refuses: each of its reader pools, rusqlite's among them, would open a
/// database of its own instead of the writer's. Read the way sqlx reads the URL (the
/// database, then `?` and its parameters); sqlx keeps its own flag private.
fn is_in_memory(url: &str) -> bool {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|pair| pair == "mode=memory")
}

async fn applied(pool: &SqlitePool) -> usize {
    sqlx::query_scalar::<Sqlite, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}

/// Moves the search entries a writer left waiting (migration 0013) into the
/// indexes. Every batch of the store's own writer moves its own before it commits;
/// a writer that does not (another program, an older copy of the benchmark's seeder)
/// would leave conversations that no search finds.
async fn index_pending_search(pool: &SqlitePool) -> Result<(), OpenError> {
    let mut tx = pool.begin().await.map_err(OpenError::Derive)?;
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversation_search_pending")
        .fetch_one(&mut *tx)
        .await
        .map_err(OpenError::Derive)?;
    if waiting > 0 {
        sqlx::query(crate::plan::SQLITE_INDEX_PENDING_SEARCH)
            .execute(&mut *tx)
            .await
            .map_err(OpenError::Derive)?;
        tracing::info!(
            conversations = waiting,
            "indexed the search entries of conversations a writer left unindexed"
        );
    }
    tx.commit().await.map_err(OpenError::Derive)
}

/// Derives `search_digits` (migration 0008) for conversations that do not
/// have it: those written before the migration. Run by `migrate`
/// (PostgreSQL's index derives them itself), before the store serves, so
/// that a digits search never misses a row; tenant by tenant, in batches of
/// one transaction each, so that a large database is not one huge
/// transaction.
async fn derive_search_digits(pool: &SqlitePool) -> Result<u64, OpenError> {
    use switchboard_core::search::digit_suffixes;
    let failed = OpenError::Derive;
    let tenants: Vec<i64> = sqlx::query_scalar::<Sqlite, i64>("SELECT id FROM tenants ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(failed)?;
    let mut derived = 0;
    for tenant in tenants {
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, String)> = sqlx::query_as::<Sqlite, (i64, String)>(
                "SELECT id, search_key FROM conversations \
                 WHERE tenant_id = $1 AND id > $2 AND search_digits IS NULL ORDER BY id LIMIT 2000",
            )
            .bind(tenant)
            .bind(after)
            .fetch_all(pool)
            .await
            .map_err(failed)?;
            let Some(&(last, _)) = rows.last() else { break };
            after = last;
            let mut tx = pool.begin().await.map_err(failed)?;
            for (id, key) in &rows {
                sqlx::query::<Sqlite>(
                    "UPDATE conversations SET search_digits = $3 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(digit_suffixes(key))
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            }
            tx.commit().await.map_err(failed)?;
            derived += rows.len() as u64;
        }
    }
    if derived > 0 {
        tracing::info!(
            conversations = derived,
            "derived the digits index of stored conversations"
        );
    }
    Ok(derived)
}

impl_shared_store!(SqliteStore, sqlx::Sqlite, sqlx::SqliteConnection);
impl_messaging_store!(SqliteStore, sqlx::Sqlite, sqlx::SqliteConnection);
impl_auth_store!(SqliteStore, sqlx::Sqlite, sqlx::SqliteConnection);
impl_file_records!(SqliteStore, sqlx::Sqlite);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::auth_store::AuthStore;

    /// An in-memory database would be a different, empty one for each reader pool: the
    /// store says so at startup instead of failing every list request.
    #[tokio::test]
    async fn in_memory_databases_are_refused_at_startup() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://?mode=memory",
            "sqlite://x.db?mode=memory&cache=private",
        ] {
            match SqliteStore::connect(url, &StoreOptions::default()).await {
                Err(e @ OpenError::InMemorySqlite(_)) => {
                    assert!(e.to_string().contains("use sqlite://PATH"), "{url}: {e}")
                }
                Err(e) => panic!("{url}: another error: {e}"),
                Ok(_) => panic!("{url}: opened"),
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let file = format!("sqlite://{}?mode=rwc", dir.path().join("file.db").display());
        SqliteStore::connect(&file, &StoreOptions::default())
            .await
            .expect("a file opens");
    }

    /// The revocation poll runs every second for the server's whole life; if it went
    /// through the readers, their idle timeout would never come (it did: 16 readers
    /// and their page caches stayed open on an idle server).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_readers_close_while_the_revocation_poll_goes_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("idle.db").display());
        let options = StoreOptions {
            idle_timeout: Duration::from_millis(300),
            ..StoreOptions::default()
        };
        let store = SqliteStore::connect(&url, &options).await.expect("open");
        store.migrate().await.expect("migrate");
        // Several readers at once: the pool opens several connections.
        let held = hold_readers(&store.read, 4).await;
        drop(held);
        assert!(store.read.size() >= 2, "readers were opened");
        for _ in 0..25 {
            store.revocation_serial().await.expect("poll");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(store.read.size(), 0, "every idle reader closed");
        // And the list request's own readers (`sqlite_direct.rs`), several at once.
        let mut readers: Vec<_> = (0..3).map(|_| store.direct.reader()).collect();
        crate::list::each_reader_answers(&mut readers).await;
        drop(readers);
        assert_eq!(store.direct.size(), 3, "list readers were opened");
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(store.direct.size(), 0, "every idle list reader closed");
        store.close_pools().await;
    }

    /// The list request reads SQLite through rusqlite (`sqlite_direct.rs`); through
    /// sqlx (`list::SqlxReader`, PostgreSQL's way) it must read the very same pages:
    /// every column, every kind of page, instants and blacklist entries included; the
    /// small pages read on the request's thread, the deep ones on the blocking pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_direct_list_reads_what_sqlx_reads() {
        use crate::list_parity::*;
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("same.db").display());
        let store = SqliteStore::connect(&url, &options()).await.expect("open");
        store.migrate().await.expect("migrate");
        let (counts, settings) = (store.search_counts(), store.list_settings());
        let direct = || store.direct.reader();
        let sqlx = || crate::list::SqlxReader::new(&store.read);
        readers_agree(&store, counts, settings, direct, sqlx).await;
        store.close_pools().await;
    }

    /// A write whose caller goes away while it begins (a client that disconnects, the
    /// request timeout) must not leave the single writer inside a transaction nobody
    /// can end: every later write would fail.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_go_on_after_callers_gave_up_while_beginning() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("cancel.db").display());
        let store = SqliteStore::connect(&url, &StoreOptions::default())
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        for attempt in 0..3_000u64 {
            // Deadlines from nothing to the time a BEGIN takes, so that some land
            // inside it.
            let deadline = Duration::from_micros(attempt % 120);
            if let Ok(begun) = tokio::time::timeout(deadline, store.begin_write()).await {
                drop(begun.expect("a write begins"));
            }
        }
        let tx = store.begin_write().await.expect("the writer is free");
        tx.commit().await.expect("commit");
        store.close_pools().await;
    }

    async fn hold_readers(pool: &SqlitePool, n: usize) -> Vec<sqlx::pool::PoolConnection<Sqlite>> {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(pool.acquire().await.expect("a reader"));
        }
        held
    }
}
