//! Group commit for SQLite's single writer.
//!
//! A durable SQLite commit (`synchronous = FULL`) waits for an fsync of the WAL, and
//! the single writer waits with it: with one transaction per commit the benchmark's
//! creates stopped at 858 a second (BENCHMARKS.md). So write transactions share
//! commits. Each one runs inside a savepoint of
//! a batch transaction (`BEGIN IMMEDIATE`); when it finishes while other writers queue
//! for the connection, it releases its savepoint and hands the connection on instead
//! of committing, and waits. The last member of the batch, or the first to get the
//! connection back, commits, and every member learns the outcome of that one commit.
//! Nobody is answered before the commit that holds its write is durable, and a failed
//! commit fails every member of its batch: nothing acknowledged is lost.
//!
//! A member that fails or is dropped rolls back its own savepoint only; the writes of
//! the members before it stay in the batch. Members see the uncommitted writes of the
//! members before them (they are the same writer, in order); readers see nothing of a
//! batch until it commits.
//!
//! A batch may end with statements of its own, run inside its transaction just before
//! the COMMIT (`GroupCommit::new`): the store moves the batch's search entries into
//! FTS5 there, once per batch instead of once per member (migration 0013).
//!
//! The commit protocol runs in tasks of its own, so that a caller that goes away (a
//! client that disconnects, the request timeout) cannot leave a batch open with nobody
//! to commit it.

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, TransactionManager};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_core::store::StoreResult;
use switchboard_core::StoreError;

type Manager = <Sqlite as sqlx::Database>::TransactionManager;

/// The most writes one commit carries: bounds how long the first member waits.
const MAX_MEMBERS: usize = 64;

/// The longest a batch stays open for more members.
const MAX_OPEN: Duration = Duration::from_millis(10);

/// What the members of a batch learn: its commit's outcome, the error as text (an
/// `sqlx::Error` is not `Clone`).
type Outcome = Result<(), String>;

pub(crate) struct GroupCommit {
    /// Exactly one connection: the writer.
    pool: SqlitePool,
    /// Callers waiting in `begin` for the writer: a member hands the connection on
    /// only when somebody will take it.
    waiting: AtomicUsize,
    open: Mutex<Option<OpenBatch>>,
    /// `MAX_OPEN`; tests that hand a batch on by steps hold it open longer.
    max_open: Duration,
    next_batch: AtomicUsize,
    /// Batches committed (or failed) so far.
    commits: AtomicUsize,
    /// Run inside each batch just before its COMMIT (`new`).
    finish: Option<&'static str>,
    /// `commits` when `release_memory_when_idle` last looked.
    commits_seen: AtomicUsize,
}

/// The batch transaction open on the writer connection.
struct OpenBatch {
    id: usize,
    opened: Instant,
    members: usize,
    /// Members that released their savepoint and wait for the commit: each of them
    /// will take the connection back and commit if nobody did before.
    pending: usize,
    done: Arc<tokio::sync::watch::Sender<Option<Outcome>>>,
}

#[derive(Clone)]
struct BatchRef {
    id: usize,
    done: Arc<tokio::sync::watch::Sender<Option<Outcome>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// The member's savepoint was released: its writes are in the batch.
    Released,
    /// The member's savepoint was rolled back: it has nothing in the batch.
    RolledBack,
    /// Rolled back, but what the member read may be writes of the batch's other
    /// members (a replayed idempotency key, a row another create made): it answers
    /// only once they are committed.
    RolledBackAfterReading,
}

impl GroupCommit {
    /// `finish`: statements every batch runs inside its transaction just before its
    /// COMMIT; when they fail, the batch fails as a failed COMMIT does (every member
    /// hears the error and nothing of the batch is stored).
    pub fn new(pool: SqlitePool, finish: Option<&'static str>) -> Arc<Self> {
        Self::holding_batches_open_for(pool, MAX_OPEN, finish)
    }

    fn holding_batches_open_for(
        pool: SqlitePool,
        max_open: Duration,
        finish: Option<&'static str>,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            waiting: AtomicUsize::new(0),
            open: Mutex::new(None),
            max_open,
            next_batch: AtomicUsize::new(0),
            commits: AtomicUsize::new(0),
            commits_seen: AtomicUsize::new(0),
            finish,
        })
    }

    /// When nothing was written since the last call and no batch is open, lets the
    /// writer's page cache go (`PRAGMA shrink_memory`): the writer is never closed, and
    /// after a write load its cache (up to `cache_size`) would stay for good. The next
    /// write reads its pages again from the operating system's file cache. Returns
    /// whether it did.
    pub async fn release_memory_when_idle(&self) -> bool {
        let commits = self.commits.load(Ordering::SeqCst);
        if self.commits_seen.swap(commits, Ordering::SeqCst) != commits {
            return false;
        }
        // Never waits: a writer that comes now has the connection a moment later. The
        // connection itself says whether a batch is open on it: a member holds it, or
        // it waits in the pool inside the batch's transaction.
        let Some(mut conn) = self.pool.try_acquire() else {
            return false;
        };
        if Manager::get_transaction_depth(&conn) != 0 {
            return false;
        }
        sqlx::query("PRAGMA shrink_memory")
            .execute(&mut *conn)
            .await
            .is_ok()
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction: a savepoint in the open batch, or in a new one.
    pub async fn begin(self: &Arc<Self>) -> StoreResult<GroupWrite> {
        let group = Arc::clone(self);
        let begun = tokio::spawn(async move {
            group.waiting.fetch_add(1, Ordering::SeqCst);
            let conn = group.pool.acquire().await;
            group.waiting.fetch_sub(1, Ordering::SeqCst);
            let mut conn = conn?;
            let batch = group.join(&mut conn).await?;
            let mut write = GroupWrite {
                conn: Some(conn),
                group,
                batch,
                in_savepoint: false,
            };
            Manager::begin(write.connection(), None).await?;
            write.in_savepoint = true;
            Ok::<_, sqlx::Error>(write)
        });
        match begun.await {
            Ok(begun) => begun.map_err(crate::rows::db_err),
            Err(e) => Err(StoreError::Database(format!(
                "beginning a transaction failed: {e}"
            ))),
        }
    }

    /// Joins the batch open on the connection, opening one when there is none.
    async fn join(&self, conn: &mut PoolConnection<Sqlite>) -> Result<BatchRef, sqlx::Error> {
        if Manager::get_transaction_depth(conn) == 0 {
            // A batch still named here was lost with its connection (the pool closed
            // it): nothing of it is stored, and its members must hear so.
            if let Some(lost) = self.lock().take() {
                lost.done.send_replace(Some(Err(
                    "the writer connection closed before the commit".into()
                )));
            }
            Manager::begin(conn, Some("BEGIN IMMEDIATE".into())).await?;
        }
        let mut open = self.lock();
        let batch = open.get_or_insert_with(|| OpenBatch {
            id: self.next_batch.fetch_add(1, Ordering::Relaxed),
            opened: Instant::now(),
            members: 0,
            pending: 0,
            done: Arc::new(tokio::sync::watch::channel(None).0),
        });
        batch.members += 1;
        Ok(BatchRef {
            id: batch.id,
            done: Arc::clone(&batch.done),
        })
    }

    /// A member is done with the connection: it hands the connection on (and, if its
    /// writes are in the batch, waits for the commit), or commits the batch.
    async fn leave(
        self: Arc<Self>,
        conn: PoolConnection<Sqlite>,
        batch: BatchRef,
        leaving: Leaving,
    ) -> Outcome {
        let hand_on = {
            let mut open = self.lock();
            match open.as_mut().filter(|b| b.id == batch.id) {
                Some(b) => {
                    let somebody_commits = match leaving {
                        Leaving::Released => {
                            self.waiting.load(Ordering::SeqCst) > 0
                                && b.members < MAX_MEMBERS
                                && b.opened.elapsed() < self.max_open
                        }
                        Leaving::RolledBack | Leaving::RolledBackAfterReading => b.pending > 0,
                    };
                    if somebody_commits && leaving == Leaving::Released {
                        b.pending += 1;
                    }
                    somebody_commits
                }
                None => false,
            }
        };
        if !hand_on {
            return self.commit(conn, &batch).await;
        }
        drop(conn);
        match leaving {
            Leaving::Released | Leaving::RolledBackAfterReading => self.wait(batch).await,
            Leaving::RolledBack => Ok(()),
        }
    }

    /// Waits for the batch's commit, and makes it on getting the connection first.
    async fn wait(self: Arc<Self>, batch: BatchRef) -> Outcome {
        let mut done = batch.done.subscribe();
        loop {
            if let Some(outcome) = done.borrow_and_update().clone() {
                return outcome;
            }
            tokio::select! {
                _ = done.changed() => {}
                conn = self.pool.acquire() => match conn {
                    Ok(conn) if self.is_open(&batch) => return self.commit(conn, &batch).await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "waiting for a group commit: the writer is out of reach");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
    }

    fn is_open(&self, batch: &BatchRef) -> bool {
        self.lock().as_ref().is_some_and(|b| b.id == batch.id)
    }

    /// Commits the batch open on `conn` and tells its members.
    async fn commit(&self, mut conn: PoolConnection<Sqlite>, batch: &BatchRef) -> Outcome {
        let outcome = if Manager::get_transaction_depth(&conn) == 1 {
            match self.finish_and_commit(&mut conn).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    if Manager::get_transaction_depth(&conn) > 0 {
                        if let Err(rollback) = Manager::rollback(&mut conn).await {
                            tracing::warn!(error = %rollback, "rolling back a failed group commit failed");
                        }
                    }
                    Err(e.to_string())
                }
            }
        } else {
            Err("the writer connection is not inside its batch".to_string())
        };
        {
            let mut open = self.lock();
            if open.as_ref().is_some_and(|b| b.id == batch.id) {
                *open = None;
            }
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        batch.done.send_replace(Some(outcome.clone()));
        // Only now may the next writer have the connection: it finds no batch open.
        drop(conn);
        outcome
    }

    async fn finish_and_commit(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        if let Some(statements) = self.finish {
            sqlx::query(statements).execute(&mut *conn).await?;
        }
        Manager::commit(conn).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OpenBatch>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Awaited, not queued (`start_rollback`): the commit that may follow checks the
/// connection's transaction depth.
async fn roll_back_savepoint(conn: &mut SqliteConnection) {
    if let Err(e) = Manager::rollback(conn).await {
        tracing::warn!(error = %e, "rolling back a write's savepoint failed");
    }
}

/// One write transaction of a batch; the counterpart of `sqlx::Transaction` (the
/// shared store code uses either). Dropped without `commit`, it rolls back.
pub(crate) struct GroupWrite {
    /// `None` once committed or rolled back.
    conn: Option<PoolConnection<Sqlite>>,
    group: Arc<GroupCommit>,
    batch: BatchRef,
    in_savepoint: bool,
}

impl GroupWrite {
    fn connection(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_deref_mut()
            .expect("a write transaction's connection is there until it ends")
    }

    /// Makes the transaction's writes part of its batch and returns once the batch
    /// is committed (durable), or with the error that failed it.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let (conn, group, batch) = self.take();
        let Some(mut conn) = conn else {
            return Ok(());
        };
        let left = tokio::spawn(async move {
            match Manager::commit(&mut conn).await {
                Ok(()) => group.leave(conn, batch, Leaving::Released).await,
                Err(e) => {
                    // This member's error is its own; the batch goes on without it.
                    roll_back_savepoint(&mut conn).await;
                    let _ = group.leave(conn, batch, Leaving::RolledBack).await;
                    Err(e.to_string())
                }
            }
        });
        match left.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(sqlx::Error::Protocol(format!("the commit failed: {e}"))),
            Err(e) => Err(sqlx::Error::Protocol(format!("the commit failed: {e}"))),
        }
    }

    /// Undoes the transaction's writes; the batch goes on without them. Returns once
    /// the writes of the batch's other members, which this one may have read, are
    /// committed, or with the error that failed them: a caller answers from what it
    /// read, and nothing may be answered from a write that is then lost.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        let (conn, group, batch) = self.take();
        let Some(mut conn) = conn else {
            return Ok(());
        };
        let left = tokio::spawn(async move {
            let rolled_back = Manager::rollback(&mut conn).await;
            let batch = group
                .leave(conn, batch, Leaving::RolledBackAfterReading)
                .await;
            rolled_back?;
            batch.map_err(|e| {
                sqlx::Error::Protocol(format!("the writes read were not committed: {e}"))
            })
        });
        match left.await {
            Ok(rolled_back) => rolled_back,
            Err(e) => Err(sqlx::Error::Protocol(format!("the rollback failed: {e}"))),
        }
    }

    fn take(&mut self) -> (Option<PoolConnection<Sqlite>>, Arc<GroupCommit>, BatchRef) {
        (
            self.conn.take(),
            Arc::clone(&self.group),
            self.batch.clone(),
        )
    }
}

impl std::ops::Deref for GroupWrite {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_deref()
            .expect("a write transaction's connection is there until it ends")
    }
}

impl std::ops::DerefMut for GroupWrite {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.connection()
    }
}

impl Drop for GroupWrite {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let (group, batch, in_savepoint) = (
            Arc::clone(&self.group),
            self.batch.clone(),
            self.in_savepoint,
        );
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if in_savepoint {
                        roll_back_savepoint(&mut conn).await;
                    }
                    let _ = group.leave(conn, batch, Leaving::RolledBack).await;
                });
            }
            // Without a runtime nothing can commit: the rollback is queued on the
            // connection, which goes back inside its batch; the next writer to take
            // it joins that batch.
            Err(_) => {
                if in_savepoint {
                    Manager::start_rollback(&mut conn);
                }
                drop(conn)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
    use sqlx::Executor;
    use std::str::FromStr;

    struct Db {
        _dir: tempfile::TempDir,
        group: Arc<GroupCommit>,
        reader: SqlitePool,
    }

    /// A file of its own, with a table whose foreign key is checked at commit only
    /// (a commit that fails on demand).
    async fn db() -> Db {
        db_holding_batches_open_for(MAX_OPEN).await
    }

    /// For tests that open a batch and hand it on by steps: with `MAX_OPEN`, a busy
    /// machine could let the batch's time pass between two steps (the first write then
    /// commits alone instead of handing on, and the test waits in vain).
    async fn db_holding_batches_open_for(max_open: Duration) -> Db {
        db_finishing_with(max_open, None).await
    }

    /// `finishes` has a row for each finish of a batch that counts `items` (below
    /// three: a finish that fails on demand).
    async fn db_finishing_with(max_open: Duration, finish: Option<&'static str>) -> Db {
        // As the store does, before SQLite starts: tests of this process share it.
        crate::sqlite_memory::install();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("group.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .expect("url")
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(options.clone())
            .await
            .expect("writer");
        writer
            .execute(
                "CREATE TABLE parents (id INTEGER PRIMARY KEY); \
                 CREATE TABLE items (id INTEGER PRIMARY KEY, \
                   parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED); \
                 CREATE TABLE finishes (items INTEGER CHECK (items < 3)); \
                 INSERT INTO parents (id) VALUES (1)",
            )
            .await
            .expect("schema");
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .expect("reader");
        Db {
            _dir: dir,
            group: GroupCommit::holding_batches_open_for(writer, max_open, finish),
            reader,
        }
    }

    async fn insert(write: &mut GroupWrite, id: i64, parent: i64) {
        sqlx::query("INSERT INTO items (id, parent) VALUES (?, ?)")
            .bind(id)
            .bind(parent)
            .execute(&mut **write)
            .await
            .expect("insert");
    }

    async fn stored(reader: &SqlitePool) -> Vec<i64> {
        sqlx::query_scalar("SELECT id FROM items ORDER BY id")
            .fetch_all(reader)
            .await
            .expect("read")
    }

    async fn until(what: &str, condition: impl Fn() -> bool) {
        for _ in 0..2_000 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting until {what}");
    }

    fn pending(group: &GroupCommit) -> usize {
        group.lock().as_ref().map_or(0, |b| b.pending)
    }

    /// Long enough for the steps of `first_pending_then_second` on any machine.
    const STEPS: Duration = Duration::from_secs(60);

    /// A first write of row 1 that committed while a second writer waited, so it
    /// handed the writer on and waits for the batch; and that second writer.
    async fn first_pending_then_second(
        db: &Db,
    ) -> (tokio::task::JoinHandle<Result<(), sqlx::Error>>, GroupWrite) {
        let mut first = db.group.begin().await.expect("begin");
        insert(&mut first, 1, 1).await;
        let second = {
            let group = Arc::clone(&db.group);
            tokio::spawn(async move { group.begin().await.expect("begin") })
        };
        until("the second writer waits", || {
            db.group.waiting.load(Ordering::SeqCst) == 1
        })
        .await;
        // Somebody waits: the first hands the connection on and waits for the commit.
        let first_commit = tokio::spawn(first.commit());
        until("the first is pending", || pending(&db.group) == 1).await;
        (first_commit, second.await.expect("second begun"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_all_of_them_are_stored() {
        let db = db().await;
        let writes = 200;
        let tasks: Vec<_> = (1..=writes)
            .map(|id| {
                let group = Arc::clone(&db.group);
                tokio::spawn(async move {
                    let mut write = group.begin().await.expect("begin");
                    insert(&mut write, id, 1).await;
                    write.commit().await.expect("commit");
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("writer task");
        }
        assert_eq!(stored(&db.reader).await, (1..=writes).collect::<Vec<_>>());
        let commits = db.group.commits.load(Ordering::Relaxed);
        assert!(
            commits < writes as usize / 2,
            "{commits} commits for {writes} concurrent writes"
        );
    }

    /// A batch's finish runs once, just before its COMMIT and inside its transaction:
    /// it sees every member's writes, and when it fails the batch fails with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_finishes_once_before_its_commit_and_fails_with_its_finish() {
        let db = db_finishing_with(
            STEPS,
            Some("INSERT INTO finishes (items) SELECT COUNT(*) FROM items"),
        )
        .await;
        let finishes = || async {
            sqlx::query_scalar::<_, i64>("SELECT items FROM finishes ORDER BY rowid")
                .fetch_all(&db.reader)
                .await
                .expect("read finishes")
        };
        let (first_commit, mut second) = first_pending_then_second(&db).await;
        insert(&mut second, 2, 1).await;
        second.commit().await.expect("second commit");
        first_commit.await.expect("task").expect("first commit");
        assert_eq!(finishes().await, vec![2], "one finish, after both members");

        let mut third = db.group.begin().await.expect("begin");
        insert(&mut third, 3, 1).await;
        assert!(
            third.commit().await.is_err(),
            "a batch whose finish fails is not committed"
        );
        assert_eq!(
            stored(&db.reader).await,
            vec![1, 2],
            "nothing of it is stored"
        );
        assert_eq!(finishes().await, vec![2], "nor its finish");

        let mut fourth = db.group.begin().await.expect("the writer goes on");
        sqlx::query("DELETE FROM items WHERE id = 2")
            .execute(&mut *fourth)
            .await
            .expect("delete");
        insert(&mut fourth, 4, 1).await;
        fourth.commit().await.expect("fourth commit");
        assert_eq!(stored(&db.reader).await, vec![1, 4]);
        assert_eq!(finishes().await, vec![2, 2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_is_answered_only_once_its_batch_is_committed() {
        let db = db_holding_batches_open_for(STEPS).await;
        let (first_commit, mut second) = first_pending_then_second(&db).await;
        assert!(!first_commit.is_finished(), "answered before any commit");
        assert!(
            stored(&db.reader).await.is_empty(),
            "readers see no batch before its commit"
        );
        insert(&mut second, 2, 1).await;
        second.commit().await.expect("second commit");
        first_commit.await.expect("task").expect("first commit");
        assert_eq!(stored(&db.reader).await, vec![1, 2]);
        assert_eq!(
            db.group.commits.load(Ordering::Relaxed),
            1,
            "one commit for both"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_that_read_the_batch_and_rolled_back_answers_after_its_commit() {
        let db = db_holding_batches_open_for(STEPS).await;
        let (first_commit, mut second) = first_pending_then_second(&db).await;
        // The second finds the first's row (a replayed key, say) and writes nothing.
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
            .fetch_one(&mut *second)
            .await
            .expect("read in the batch");
        assert_eq!(seen, 1);
        second.rollback().await.expect("rollback");
        assert_eq!(
            stored(&db.reader).await,
            vec![1],
            "what it read is committed when it answers"
        );
        first_commit.await.expect("task").expect("first commit");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_member_and_stores_nothing_of_the_batch() {
        let db = db_holding_batches_open_for(STEPS).await;
        let (first_commit, mut second) = first_pending_then_second(&db).await;
        // No parent 99: the deferred key fails the batch's COMMIT, not the savepoint.
        insert(&mut second, 2, 99).await;
        assert!(
            second.commit().await.is_err(),
            "the committing member hears"
        );
        assert!(
            first_commit.await.expect("task").is_err(),
            "the waiting member hears"
        );
        assert!(stored(&db.reader).await.is_empty());
        // The writer goes on.
        let mut third = db.group.begin().await.expect("begin after a failed batch");
        insert(&mut third, 3, 1).await;
        third.commit().await.expect("commit");
        assert_eq!(stored(&db.reader).await, vec![3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_that_give_up_take_only_their_own_writes() {
        let db = db().await;
        let tasks: Vec<_> = (1..=120i64)
            .map(|id| {
                let group = Arc::clone(&db.group);
                tokio::spawn(async move {
                    let mut write = group.begin().await.expect("begin");
                    insert(&mut write, id, 1).await;
                    match id % 3 {
                        0 => write.rollback().await.expect("rollback"),
                        1 => drop(write),
                        _ => {
                            // The caller goes away while the commit is under way: the
                            // commit goes on without it.
                            let _ = tokio::time::timeout(Duration::ZERO, write.commit()).await;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("writer task");
        }
        // Every abandoned commit completes in its own task; a last write flushes the
        // batch they may be in.
        let last = db.group.begin().await.expect("begin");
        last.commit().await.expect("commit");
        until("no batch is open", || db.group.lock().is_none()).await;
        let expected: Vec<i64> = (1..=120).filter(|id| id % 3 == 2).collect();
        assert_eq!(stored(&db.reader).await, expected);
    }

    /// Bytes of the writer's page cache (`SQLITE_DBSTATUS_CACHE_USED`).
    async fn writer_cache_bytes(group: &GroupCommit) -> i32 {
        let mut conn = group.pool.acquire().await.expect("the writer");
        let mut handle = conn.lock_handle().await.expect("its handle");
        let (mut used, mut highest) = (0, 0);
        // SAFETY: the handle is locked for the call; the outputs are plain integers.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_db_status(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_DBSTATUS_CACHE_USED,
                &mut used,
                &mut highest,
                0,
            )
        };
        assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
        used
    }

    /// The writer is never closed; once nothing is written, its page cache goes, and
    /// never while a write is open or just after one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_writer_lets_its_page_cache_go() {
        let db = db().await;
        let mut write = db.group.begin().await.expect("begin");
        sqlx::query(
            "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO items (id, parent) SELECT i, 1 FROM n",
        )
        .execute(&mut *write)
        .await
        .expect("many rows");
        assert!(
            !db.group.release_memory_when_idle().await,
            "not while a write is open"
        );
        write.commit().await.expect("commit");
        let filled = writer_cache_bytes(&db.group).await;
        assert!(filled > 100_000, "the writes filled the cache: {filled}");
        // Writes came since the call above: the next call only notes that.
        assert!(
            !db.group.release_memory_when_idle().await,
            "just after a write"
        );
        // The connection goes back to the pool a moment after its last user is done.
        let mut released = false;
        for _ in 0..100 {
            released = db.group.release_memory_when_idle().await;
            if released {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(released, "idle since");
        let after = writer_cache_bytes(&db.group).await;
        assert!(
            after < filled / 4,
            "the cache went: {filled} bytes before, {after} after"
        );
        // And the writer still writes.
        let mut write = db.group.begin().await.expect("begin");
        insert(&mut write, 20_001, 1).await;
        write.commit().await.expect("commit");
        assert_eq!(stored(&db.reader).await.len(), 20_001);
    }
}
