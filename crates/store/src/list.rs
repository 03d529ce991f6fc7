//! The conversation list request: which statements it runs and in what order, written
//! once for every way of running them (`ConversationReader`). PostgreSQL runs them
//! through tokio-postgres (`postgres_direct.rs`), which costs the server less per
//! statement than sqlx (BENCHMARKS.md, "The tenth machine"); SQLite through rusqlite
//! on the blocking pool (`sqlite_direct.rs`), because sqlx's SQLite driver costs a
//! list page several times what its statement costs ("The SQLite read path").
//! Through sqlx (`SqlxReader`) only in the tests, which compare the two.

use crate::plan::{self, Dialect};
use crate::rows::SqlBuilder;
use crate::search_counts::SearchCounts;
use chrono::{DateTime, Utc};
use switchboard_core::store::StoreResult;
use switchboard_core::{Conversation, ConversationFilter, PageOf, PageRequest, TenantId};

/// Runs the list request's statements. One reader serves one request: it may keep a
/// connection from its first statement to its last.
#[async_trait::async_trait]
pub(crate) trait ConversationReader: Send {
    /// Conversations of a statement selecting `CONVERSATION_COLUMNS`, in its order.
    async fn conversations(&mut self, statement: SqlBuilder) -> StoreResult<Vec<Conversation>>;

    /// Conversations of a statement selecting `CONVERSATION_COLUMNS` and one integer
    /// after them, with that integer of its first row (`None` when there is no row).
    async fn conversations_and_number(
        &mut self,
        statement: SqlBuilder,
    ) -> StoreResult<(Vec<Conversation>, Option<i64>)>;

    /// `conversations_and_number` of a statement that reads few rows (a page near the
    /// top of the list, `SMALL_READ_MAX_ROWS`): a reader may run it on the request's
    /// own thread rather than hand it to another one and wait.
    async fn small_conversations_and_number(
        &mut self,
        statement: SqlBuilder,
    ) -> StoreResult<(Vec<Conversation>, Option<i64>)> {
        self.conversations_and_number(statement).await
    }

    /// The integer columns of the statement's only row.
    async fn integers<const N: usize>(&mut self, statement: SqlBuilder) -> StoreResult<[i64; N]>;

    /// Gives a connection it holds back to its pool, for a wait on something else.
    fn release(&mut self);
}

/// What a store tunes about its list request.
#[derive(Clone, Copy)]
pub(crate) struct ListSettings {
    pub dialect: Dialect,
    /// `StoreOptions::search_walk_max`.
    pub search_walk_max: i64,
    /// `StoreOptions::tenant_in_search_index_max`.
    pub tenant_in_search_index_max: i64,
}

/// The most rows (skipped and returned) a page without a search may read to count as a
/// small read (`small_conversations_and_number`). Such a page walks the list index for
/// its rows, joins a page's worth of them and sums the counters: on SQLite a few dozen
/// microseconds at the top of the list, under a millisecond at this depth (BENCHMARKS.md,
/// "The hand-over"), no more than encoding the JSON of a large page costs the same thread.
pub(crate) const SMALL_READ_MAX_ROWS: i64 = 1_000;

pub(crate) async fn list_conversations(
    reader: &mut impl ConversationReader,
    counts: &SearchCounts,
    settings: ListSettings,
    tenant: TenantId,
    filter: &ConversationFilter,
    page: PageRequest,
    now: DateTime<Utc>,
) -> StoreResult<PageOf<Conversation>> {
    let dialect = settings.dialect;
    // Without a search, a page not too deep comes with its total in one statement; an
    // empty one says nothing of the total, which is then asked alone below.
    if let (None, Some(offset)) = (&filter.search, page.offset()) {
        if offset <= plan::MERGED_TOTAL_MAX_OFFSET {
            let sql =
                plan::conversation_page_with_total(dialect, tenant, filter, page, offset, now);
            let read = if offset + page.per_page <= SMALL_READ_MAX_ROWS {
                reader.small_conversations_and_number(sql).await?
            } else {
                reader.conversations_and_number(sql).await?
            };
            if let (items, Some(total)) = read {
                return Ok(PageOf { items, total });
            }
        }
    }
    // Without a search the total comes from the counters; with one, from the search
    // counts at the tenant's current epoch (`search_counts.rs`).
    let (total, base, tenant_size) = if filter.search.is_none() {
        let [total] = reader
            .integers(plan::conversation_total(dialect, tenant, filter))
            .await?;
        (total, None, 0)
    } else {
        let ticket = counts.ticket();
        let [epoch, base, size] = reader.integers(plan::search_state(tenant, filter)).await?;
        counts.bound(tenant, ticket, epoch);
        let total = match counts.get(tenant, filter, epoch) {
            Some(total) => total,
            None => {
                // One count per search at a time (`SearchCounts::turn`); the connection
                // goes back to the pool while this one waits.
                reader.release();
                let _turn = counts.turn(tenant, filter).await;
                match counts.get_at_least(tenant, filter, epoch) {
                    Some(total) => total,
                    None => {
                        let in_index =
                            plan::tenant_in_search_index(size, settings.tenant_in_search_index_max);
                        let count = plan::search_count(dialect, tenant, filter, in_index);
                        let ticket = counts.ticket();
                        let [epoch, total] = reader.integers(count).await?;
                        counts.bound(tenant, ticket, epoch);
                        counts.put(tenant, filter, epoch, total);
                        total
                    }
                }
            }
        };
        (total, Some(base), size)
    };
    let offset = match page.offset() {
        Some(offset) if offset < total => offset,
        // Past the end: nothing to fetch, and no huge OFFSET to run.
        _ => {
            return Ok(PageOf {
                items: Vec::new(),
                total,
            })
        }
    };
    // A common search finds its page among the most recent conversations; a rare one
    // through the search index (`plan::walk_window`).
    let window = base.and_then(|base| {
        plan::walk_window(base, total, offset, page.per_page, settings.search_walk_max)
            .map(|window| (base, window))
    });
    if let Some((base, window)) = window {
        let walk =
            plan::conversation_page_window(tenant, filter, page, offset, window, now, dialect);
        let items = reader.conversations(walk).await?;
        // A full page is the page; so is whatever a walk of the whole list found.
        let wanted = page.per_page.min(total - offset);
        if items.len() as i64 >= wanted || window >= base {
            return Ok(PageOf { items, total });
        }
    }
    let in_index = plan::tenant_in_search_index(tenant_size, settings.tenant_in_search_index_max);
    let page_sql = plan::conversation_page(dialect, tenant, filter, page, offset, now, in_index);
    let items = reader.conversations(page_sql).await?;
    Ok(PageOf { items, total })
}

/// Has each reader run a statement while all of them hold their connections: a
/// reader pool then has as many open. Panics with the reader that failed.
#[cfg(test)]
pub(crate) async fn each_reader_answers(readers: &mut [impl ConversationReader]) {
    for (k, reader) in readers.iter_mut().enumerate() {
        let mut one = SqlBuilder::default();
        one.push("SELECT CAST(1 AS BIGINT)");
        let read = reader.integers(one).await;
        let [n] = read.unwrap_or_else(|e| panic!("reader {k}: {e}"));
        assert_eq!(n, 1, "reader {k}");
    }
}

/// A `ConversationReader` over a sqlx pool: it takes a connection at its first
/// statement and keeps it until `release` or its end. Implemented for each backend
/// by the shared store macro. The list reads of both backends have left sqlx
/// (`sqlite_direct.rs`, `postgres_direct.rs`); the tests hold them to what sqlx reads.
#[cfg(test)]
pub(crate) struct SqlxReader<'a, DB: sqlx::Database> {
    pub pool: &'a sqlx::Pool<DB>,
    pub conn: Option<sqlx::pool::PoolConnection<DB>>,
}

#[cfg(test)]
impl<'a, DB: sqlx::Database> SqlxReader<'a, DB> {
    pub fn new(pool: &'a sqlx::Pool<DB>) -> Self {
        Self { pool, conn: None }
    }

    pub async fn connection(&mut self) -> StoreResult<&mut DB::Connection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await.map_err(crate::rows::db_err)?,
        };
        Ok(&mut **self.conn.insert(conn))
    }
}
