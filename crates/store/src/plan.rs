//! The SQL behind a conversation list request, built in one place. The stores run
//! these statements, and the benchmark's raw-SQL driver runs exactly the same ones
//! (same text, same arguments), so "server vs. raw SQL" cannot drift apart.
//!
//! A list request without a search is one statement: the page with each
//! conversation's channel, customer and blocking blacklist entry, and the total from
//! the counters beside it (`conversation_page_with_total`); past the first
//! `MERGED_TOTAL_MAX_OFFSET` rows the total comes first (`conversation_total`), so
//! that a page past the end is never fetched. A search reads its state
//! (`search_state`), then its page (`conversation_page_window` or
//! `conversation_page`). The caller's membership (`MEMBERSHIP_ROLE`) is asked first,
//! unless the server has it cached (it usually has).

pub use crate::rows::{Arg, SqlBuilder};
use crate::rows::{CONVERSATION_BLACKLIST_JOIN, CONVERSATION_COLUMNS, CONVERSATION_JOINS};
use chrono::{DateTime, Utc};
use switchboard_core::search::SearchPattern;
use switchboard_core::{ConversationFilter, PageRequest, TenantId};

/// The two SQL dialects; they differ only in how search reaches its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Session settings of the PostgreSQL connections that read (and of the raw-SQL
/// driver's, so that it runs the statements as the server does).
///
/// `plan_cache_mode = force_generic_plan`: a prepared statement is planned once per
/// connection, not on every execution. Left to choose, PostgreSQL planned a list
/// page with a search anew every time (its generic plan, not knowing the pattern,
/// looks dearer than a custom one): 0.8 ms of planning for 0.4 ms of execution,
/// measured on the walked search page at a million conversations. Every statement
/// the server reads with has the same best plan whatever its arguments: the list
/// order index for a tenant's page, the walk, the trigram index for a search's
/// matches (inside a materialised CTE, which no argument can talk the planner out
/// of), and whether the tenant is named to the search indexes is the server's choice
/// by the tenant's size (`TENANT_IN_SEARCH_INDEX_MAX`), not the planner's.
///
/// `max_parallel_workers_per_gather = 0`: no parallel workers. Starting them takes
/// milliseconds, far more than any statement here needs (a digits search's count:
/// 6.5 ms with two workers, 0.3 ms of work), and on a server answering many requests
/// at once every core is already someone's.
pub const POSTGRES_READ_SETTINGS: &[(&str, &str)] = &[
    ("plan_cache_mode", "force_generic_plan"),
    ("max_parallel_workers_per_gather", "0"),
];

/// `POSTGRES_READ_SETTINGS` as a connection's startup options (`-c name=value ...`),
/// for the clients that take them that way: libpq's `PGOPTIONS`, tokio-postgres.
pub fn postgres_read_options() -> String {
    POSTGRES_READ_SETTINGS
        .iter()
        .map(|(name, value)| format!("-c {name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The caller's role in a tenant; every tenant-scoped request asks it first.
pub const MEMBERSHIP_ROLE: &str =
    "SELECT role FROM tenant_memberships WHERE tenant_id = $1 AND user_id = $2";

/// `SELECT c.id FROM ... WHERE ...` for the filter, without order or limit.
pub fn filtered_ids(dialect: Dialect, tenant: TenantId, filter: &ConversationFilter) -> SqlBuilder {
    let mut b = SqlBuilder::default();
    push_filtered(&mut b, dialect, tenant, filter, "c.id", true);
    b
}

/// The most conversations a tenant may have for a PostgreSQL search to look its
/// tenant up in the search indexes. The trigram index starts with `tenant_id`, and
/// intersecting a tenant's list there costs as much as the tenant is large: 4 ms a
/// search at a million conversations, where the search's own matches take 0.1 to 1
/// ms. So a larger tenant's searches name it in a form no index serves
/// (`(c.tenant_id + 0) = $n`), and PostgreSQL checks the tenant of each match instead;
/// a small tenant in a large database keeps the index's help. (With generic plans,
/// `POSTGRES_READ_SETTINGS`, the planner cannot tell the two apart itself; given the
/// choice it even intersected the digits index with the tenant's list, 800 ms.)
pub const TENANT_IN_SEARCH_INDEX_MAX: i64 = 50_000;

/// Whether a search of a tenant of `tenant_size` conversations names the tenant to
/// the search indexes (`TENANT_IN_SEARCH_INDEX_MAX`, or `max` in its place).
pub fn tenant_in_search_index(tenant_size: i64, max: i64) -> bool {
    tenant_size <= max
}

/// `SELECT columns FROM ... WHERE ...` for the filter (`c` is the conversation);
/// `tenant_in_index` as `tenant_in_search_index` decides.
fn push_filtered(
    b: &mut SqlBuilder,
    dialect: Dialect,
    tenant: TenantId,
    filter: &ConversationFilter,
    columns: &str,
    tenant_in_index: bool,
) {
    b.push("SELECT ").push(columns).push(" FROM ");
    let search = filter.search.as_ref();
    match (dialect, search) {
        // Drive the query from the FTS5 index of digit suffixes, or the trigram one,
        // then keep this tenant's rows.
        (Dialect::Sqlite, Some(p)) if p.digits().is_some() => {
            b.push("conversation_digits CROSS JOIN conversations c ON c.id = conversation_digits.rowid");
        }
        (Dialect::Sqlite, Some(p)) if p.is_indexable() => {
            b.push("conversation_search CROSS JOIN conversations c ON c.id = conversation_search.rowid");
        }
        _ => {
            b.push("conversations c");
        }
    }
    let tenant_by_filter = dialect == Dialect::Postgres && search.is_some() && !tenant_in_index;
    b.push(if tenant_by_filter {
        " WHERE (c.tenant_id + 0) = "
    } else {
        " WHERE c.tenant_id = "
    })
    .arg(Arg::Int(tenant.0));
    if let Some(t) = filter.channel_type {
        b.push(" AND c.channel_type = ")
            .arg(Arg::Text(t.as_str().to_string()));
    }
    if let Some(pattern) = search {
        push_search_condition(b, dialect, pattern);
    }
}

fn push_search_condition(b: &mut SqlBuilder, dialect: Dialect, pattern: &SearchPattern) {
    // Six digits or more: a prefix of one of the key's digit-run suffixes
    // (`search::digit_suffixes`, migration 0008), in each database's own prefix query.
    if let Some(digits) = pattern.digits() {
        match dialect {
            Dialect::Sqlite => {
                b.push(" AND conversation_digits MATCH ")
                    .arg(Arg::Text(format!("\"{digits}\"*")));
            }
            Dialect::Postgres => {
                b.push(" AND to_tsvector('simple'::regconfig, search_digit_suffixes(c.search_key)) @@ to_tsquery('simple'::regconfig, ")
                    .arg(Arg::Text(format!("{digits}:*")))
                    .push(")");
            }
        }
        return;
    }
    if dialect == Dialect::Sqlite && pattern.is_indexable() {
        b.push(" AND conversation_search MATCH ")
            .arg(Arg::Text(pattern.fts_phrase()));
    } else {
        // PostgreSQL: served by the (tenant_id, search_key gin_trgm_ops) index. SQLite,
        // too short for trigrams: filter the tenant's rows in list order.
        b.push(" AND c.search_key LIKE ")
            .arg(Arg::Text(pattern.like_pattern()))
            .push(" ESCAPE '\\'");
    }
}

/// The exact number of conversations the filter matches: from the counters when there
/// is no search (one index probe however large the tenant), else counted.
pub fn conversation_total(
    dialect: Dialect,
    tenant: TenantId,
    filter: &ConversationFilter,
) -> SqlBuilder {
    let mut b = SqlBuilder::default();
    if filter.search.is_none() {
        b.push("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM conversation_counts WHERE tenant_id = ")
            .arg(Arg::Int(tenant.0));
        if let Some(t) = filter.channel_type {
            b.push(" AND channel_type = ")
                .arg(Arg::Text(t.as_str().to_string()));
        }
    } else {
        let ids = filtered_ids(dialect, tenant, filter);
        b.push("SELECT COUNT(*) FROM (")
            .push(&ids.sql)
            .push(") matches");
        b.args = ids.args;
    }
    b
}

/// The sum of the tenant's counters in `table` (`conversation_counts` or
/// `search_changes`), optionally of one channel type.
fn counter_sum(b: &mut SqlBuilder, table: &str, tenant: TenantId, channel_type: Option<&str>) {
    let sum = counter_sum_expression(b, table, tenant, channel_type);
    b.push(&sum);
}

/// `counter_sum` as SQL text whose arguments are added to `b`, for a place in the
/// statement other than its end.
fn counter_sum_expression(
    b: &mut SqlBuilder,
    table: &str,
    tenant: TenantId,
    channel_type: Option<&str>,
) -> String {
    let mut sum = format!(
        "COALESCE((SELECT SUM(n) FROM {table} WHERE tenant_id = {}",
        b.param(Arg::Int(tenant.0))
    );
    if let Some(t) = channel_type {
        sum.push_str(" AND channel_type = ");
        sum.push_str(&b.param(Arg::Text(t.to_string())));
    }
    sum.push_str("), 0)");
    sum
}

/// The deepest page (in rows skipped) that a list request without a search fetches
/// together with its total (`conversation_page_with_total`). A page past the end of
/// the list then costs reading the list up to it, so that is bounded, as a search
/// walk is (`MAX_WALK`): deeper pages ask the total first and are not fetched when
/// they lie past the end.
pub const MERGED_TOTAL_MAX_OFFSET: i64 = 50_000;

/// `conversation_page` of a list without a search, with the filter's total from the
/// counters in a column of every row (`total`), read in the same snapshot: one round
/// trip instead of two. No rows: the page is empty, and the caller asks the total
/// alone (`conversation_total`).
pub fn conversation_page_with_total(
    dialect: Dialect,
    tenant: TenantId,
    filter: &ConversationFilter,
    page: PageRequest,
    offset: i64,
    now: DateTime<Utc>,
) -> SqlBuilder {
    let ids = conversation_page_ids(dialect, tenant, filter, page, offset, true);
    hydrate_with(dialect, tenant, ids, now, |b| {
        let total = counter_sum_expression(
            b,
            "conversation_counts",
            tenant,
            filter.channel_type.map(|t| t.as_str()),
        );
        Some(format!("CAST({total} AS BIGINT) AS total"))
    })
}

/// SQLite: moves the search entries that wait in `conversation_search_pending` into
/// both FTS5 indexes, one statement each (migration 0013). Group commit runs it in
/// each batch just before the COMMIT (so FTS5 writes one segment per batch, not one
/// per write), the store when it migrates (for rows a writer that does not know about
/// the table left there) and the benchmark's seeder. Harmless when nothing waits.
pub const SQLITE_INDEX_PENDING_SEARCH: &str = "\
    INSERT INTO conversation_search (rowid, search_key) \
        SELECT id, search_key FROM conversation_search_pending; \
    INSERT INTO conversation_digits (rowid, search_digits) \
        SELECT id, search_digits FROM conversation_search_pending WHERE search_digits IS NOT NULL; \
    DELETE FROM conversation_search_pending";

/// What a conversation's `search_digits` column holds: the key's digit suffixes on
/// SQLite, whose FTS5 index reads them from there; nothing on PostgreSQL, whose index
/// derives them from the key (migration 0008).
pub fn stored_search_digits(dialect: Dialect, search_key: &str) -> Option<String> {
    match dialect {
        Dialect::Sqlite => Some(switchboard_core::search::digit_suffixes(search_key)),
        Dialect::Postgres => None,
    }
}

/// The tenant's search epoch: it moves with every new conversation (the conversation
/// counters) and every new search key (`search_changes`, kept by a trigger), so a
/// search total counted at one epoch is exact for as long as the epoch stays.
fn push_search_epoch(b: &mut SqlBuilder, tenant: TenantId) {
    let tenant = b.param(Arg::Int(tenant.0));
    b.push(&search_epoch_of(&tenant));
}

/// `push_search_epoch` of the tenant in the SQL expression `tenant`.
fn search_epoch_of(tenant: &str) -> String {
    format!(
        "CAST(COALESCE((SELECT SUM(n) FROM conversation_counts WHERE tenant_id = {tenant}), 0) \
         + COALESCE((SELECT SUM(n) FROM search_changes WHERE tenant_id = {tenant}), 0) AS BIGINT)"
    )
}

/// Creates the conversation of a key not stored yet, with its customer and its
/// count, in one round trip, and selects it as `CONVERSATION_COLUMNS` plus `epoch`.
/// By dialect: `create_conversation_in_one_statement` (PostgreSQL) and
/// `create_conversation_in_one_script` (SQLite).
pub fn create_conversation_at_once(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => create_conversation_in_one_statement(),
        Dialect::Sqlite => create_conversation_in_one_script(),
    }
}

/// PostgreSQL: creates the conversation of a key not stored yet, with its customer and
/// its count, in one statement that commits on its own, and selects it as
/// `CONVERSATION_COLUMNS` plus `epoch`: the tenant's search epoch before it (the
/// statement's sub-statements cannot see each other's writes).
/// `$1` tenant, `$2` channel, `$3` address, `$4` first name, `$5` last name, `$6` now,
/// `$7`/`$8` the customer's search key with/without the address as its phone,
/// `$9`/`$10` the conversation's, `$11` the counter slot, `$12`/`$13` the
/// conversation's `search_digits` (`stored_search_digits` of `$9`/`$10`).
/// No row: the channel is not the tenant's (or is deleted), or the key is stored. A
/// unique violation: a concurrent create of the same key won. Either way nothing was
/// written, and the caller goes the long way (`create_conversation`).
/// The new customer cannot be blacklisted yet, so the blacklist columns are null.
/// Built once: every create on PostgreSQL runs it.
fn create_conversation_in_one_statement() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
        "WITH ch AS (\
             SELECT id, name, type, address FROM channels \
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND NOT EXISTS (\
                 SELECT 1 FROM conversations WHERE tenant_id = $1 AND channel_id = $2 AND address = $3)), \
         cu AS (\
             INSERT INTO customers (tenant_id, first_name, last_name, phone_number, default_channel_id, \
                 search_key, created_at, updated_at) \
             SELECT $1, $4, $5, CASE WHEN ch.type = 'whatsapp' THEN $3 END, ch.id, \
                 CASE WHEN ch.type = 'whatsapp' THEN $7 ELSE $8 END, $6, $6 FROM ch \
             RETURNING id, first_name, last_name, phone_number, email, avatar_url), \
         c AS (\
             INSERT INTO conversations (tenant_id, channel_id, channel_type, customer_id, address, search_key, \
                 search_digits, activity_at, created_at, updated_at) \
             SELECT $1, ch.id, ch.type, cu.id, $3, CASE WHEN ch.type = 'whatsapp' THEN $9 ELSE $10 END, \
                 CASE WHEN ch.type = 'whatsapp' THEN $12 ELSE $13 END, $6, $6, $6 FROM ch CROSS JOIN cu \
             RETURNING *), \
         counted AS (\
             INSERT INTO conversation_counts (tenant_id, channel_type, slot, n) \
             SELECT tenant_id, channel_type, $11, 1 FROM c \
             ON CONFLICT (tenant_id, channel_type, slot) DO UPDATE SET n = conversation_counts.n + 1) \
         SELECT {CONVERSATION_COLUMNS}, {epoch} AS epoch \
         FROM c JOIN ch ON ch.id = c.channel_id JOIN cu ON cu.id = c.customer_id \
         LEFT JOIN channel_blacklists b ON FALSE",
        epoch = search_epoch_of("$1"),
    )
    });
    &SQL
}

/// SQLite, which has no writing statements inside `WITH`: the same in one script of
/// four statements, sent as one query (sqlx binds each statement's `$n` from the one
/// argument list) inside a write transaction of the single writer. Each statement
/// goes on only if the one before it changed a row (`changes()`), and takes the row
/// it made by `last_insert_rowid()`; the writer is exclusive, so the key checked
/// absent in the first stays absent. The final select sees the new conversation, so
/// its `epoch` includes the addition (`SearchCounts::record_own_epoch`).
/// The arguments are `create_conversation_in_one_statement`'s. No row: the channel is
/// not the tenant's (or is deleted), or the key is stored; nothing was written.
fn create_conversation_in_one_script() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO customers (tenant_id, first_name, last_name, phone_number, default_channel_id, \
                 search_key, created_at, updated_at) \
             SELECT $1, $4, $5, CASE WHEN ch.type = 'whatsapp' THEN $3 END, ch.id, \
                 CASE WHEN ch.type = 'whatsapp' THEN $7 ELSE $8 END, $6, $6 FROM channels ch \
             WHERE ch.tenant_id = $1 AND ch.id = $2 AND ch.deleted_at IS NULL AND NOT EXISTS (\
                 SELECT 1 FROM conversations WHERE tenant_id = $1 AND channel_id = $2 AND address = $3); \
             INSERT INTO conversations (tenant_id, channel_id, channel_type, customer_id, address, search_key, \
                 search_digits, activity_at, created_at, updated_at) \
             SELECT $1, ch.id, ch.type, last_insert_rowid(), $3, \
                 CASE WHEN ch.type = 'whatsapp' THEN $9 ELSE $10 END, \
                 CASE WHEN ch.type = 'whatsapp' THEN $12 ELSE $13 END, $6, $6, $6 FROM channels ch \
             WHERE ch.tenant_id = $1 AND ch.id = $2 AND changes() = 1; \
             INSERT INTO conversation_counts (tenant_id, channel_type, slot, n) \
             SELECT tenant_id, channel_type, $11, 1 FROM conversations \
             WHERE tenant_id = $1 AND id = last_insert_rowid() AND changes() = 1 \
             ON CONFLICT (tenant_id, channel_type, slot) DO UPDATE SET n = conversation_counts.n + 1; \
             SELECT {CONVERSATION_COLUMNS}, {epoch} AS epoch \
             FROM conversations c {CONVERSATION_JOINS} LEFT JOIN channel_blacklists b ON FALSE \
             WHERE c.tenant_id = $1 AND c.channel_id = $2 AND c.address = $3 AND changes() = 1",
            epoch = search_epoch_of("$1"),
        )
    });
    &SQL
}

/// PostgreSQL: stores an inbound message in the stored conversation of its key, in one
/// statement that commits on its own: it locks the conversation (as the long way's
/// `find_inbound_key` does), inserts the message and moves the conversation's last
/// message, unread count and activity. Selects `(conversation_id, message_id)`.
/// No row: there is no conversation of the key, or the delivery is one the long way
/// must decide (its customer is blocked on the channel, lacks a name the delivery
/// brings, or the `external_id` is stored). A unique violation on
/// `messages_external_id`: a concurrent copy of the delivery, committed while this one
/// waited for the lock, won. Either way nothing was written, and the caller goes the
/// long way (`ingest`).
/// `$1` tenant, `$2` channel, `$3` address, `$4` message type, `$5` body, `$6` external
/// id, `$7` sent at, `$8` now, `$9`/`$10` the delivery's first and last name.
pub const INGEST_INTO_STORED_CONVERSATION: &str = "WITH k AS (\
         SELECT c.id FROM conversations c \
         JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id \
         WHERE c.tenant_id = $1 AND c.channel_id = $2 AND c.address = $3 \
         AND (cu.first_name IS NOT NULL OR CAST($9 AS TEXT) IS NULL) \
         AND (cu.last_name IS NOT NULL OR CAST($10 AS TEXT) IS NULL) \
         AND NOT EXISTS (SELECT 1 FROM channel_blacklists b WHERE b.tenant_id = $1 AND b.channel_id = $2 \
             AND b.customer_id = c.customer_id AND b.deleted_at IS NULL AND b.is_active \
             AND (b.expires_at IS NULL OR b.expires_at > $8)) \
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = $1 AND m.conversation_id = c.id \
             AND m.external_id = $6) \
         FOR UPDATE OF c), \
     m AS (\
         INSERT INTO messages (tenant_id, conversation_id, is_customer, message_type, body, external_id, \
             created_at, updated_at) \
         SELECT $1, k.id, TRUE, $4, $5, $6, $7, $8 FROM k \
         RETURNING conversation_id, id), \
     moved AS (\
         UPDATE conversations c SET last_message_id = m.id, last_message_preview = $5, last_message_at = $7, \
             last_message_type = $4, last_message_is_customer = TRUE, unread_count = c.unread_count + 1, \
             activity_at = CASE WHEN c.activity_at > $7 THEN c.activity_at ELSE $7 END, updated_at = $8 \
         FROM m WHERE c.tenant_id = $1 AND c.id = m.conversation_id) \
     SELECT conversation_id, id FROM m";

/// The tenant's search epoch alone: what a write that added a conversation reads, in
/// its transaction and after its commit, to keep the search counts (`search_counts.rs`).
pub fn search_epoch(tenant: TenantId) -> SqlBuilder {
    let mut b = SqlBuilder::default();
    b.push("SELECT ");
    push_search_epoch(&mut b, tenant);
    b
}

/// `(epoch, base, size)`: the tenant's search epoch, how many conversations the list
/// has before the search filters it (the channel type applied), and how many the
/// tenant has. Asked by every search request; counter probes only.
pub fn search_state(tenant: TenantId, filter: &ConversationFilter) -> SqlBuilder {
    let mut b = SqlBuilder::default();
    b.push("SELECT ");
    push_search_epoch(&mut b, tenant);
    b.push(" AS epoch, CAST(");
    counter_sum(
        &mut b,
        "conversation_counts",
        tenant,
        filter.channel_type.map(|t| t.as_str()),
    );
    b.push(" AS BIGINT) AS base, CAST(");
    counter_sum(&mut b, "conversation_counts", tenant, None);
    b.push(" AS BIGINT) AS size");
    b
}

/// `(epoch, count)`: the exact number of conversations a search matches, with the
/// epoch it was counted at, read in one statement (one snapshot); `tenant_in_index`
/// as `tenant_in_search_index` decides.
pub fn search_count(
    dialect: Dialect,
    tenant: TenantId,
    filter: &ConversationFilter,
    tenant_in_index: bool,
) -> SqlBuilder {
    let mut b = SqlBuilder::default();
    b.push("SELECT ");
    push_search_epoch(&mut b, tenant);
    b.push(" AS epoch, (SELECT COUNT(*) FROM (");
    push_filtered(&mut b, dialect, tenant, filter, "c.id", tenant_in_index);
    b.push(") matches) AS matches");
    b
}

/// The most rows of list order a search page walks (`conversation_page_window`)
/// before the search index is the cheaper way to its matches (the default of
/// `StoreOptions::search_walk_max`). The list indexes carry the search key, so a walk
/// reads index pages only: 50,000 rows take some 10 ms, against 30-60 ms for fetching
/// and sorting the 17,615 matches of a common surname in a million.
pub const MAX_WALK: i64 = 50_000;

/// Rows of list order a walk may read per match the index would fetch, before the
/// index is the cheaper way: a walked row is an index entry read in order, a match
/// from the index is a lookup, a fetch and a place in a sort (the measurement at
/// `MAX_WALK`: about 2.8 walked rows per match cost a third to a sixth of the index).
const WALK_ROWS_PER_MATCH: i64 = 8;

/// How many rows of list order a search page may walk (`conversation_page_window`),
/// when walking is the cheaper way, or `None` for the search index: `count` of the
/// `base` conversations match, and the page needs the matches `offset+1 ..=
/// offset+per_page`. A common name is found among the most recent few hundred
/// conversations, while the index would fetch and sort every one of its matches; a
/// rare one is not. The walk stops as soon as the page is full, so its window is only
/// a bound, the whole list or `max_walk` rows: what it costs is the rows it reads
/// before the page fills, which the decision estimates assuming the matches are
/// spread evenly, with room for unevenness (recent conversations can be unlike the
/// rest: a burst of new ones that do not match only makes the walk read further).
pub fn walk_window(
    base: i64,
    count: i64,
    offset: i64,
    per_page: i64,
    max_walk: i64,
) -> Option<i64> {
    if count <= 0 || base <= 0 || max_walk <= 0 {
        return None;
    }
    let wanted = offset.saturating_add(per_page).min(count);
    // Rows to read if the matches were spread evenly, with room for unevenness.
    let expected = wanted.saturating_mul(base) / count;
    let estimate = expected.saturating_mul(3).max(200).min(base);
    let window = base.min(max_walk);
    (estimate <= window && estimate <= count.saturating_mul(WALK_ROWS_PER_MATCH)).then_some(window)
}

/// A search page found by walking the `window` most recent conversations of the list
/// (the channel type applied) and keeping those the search matches, `offset` of them
/// skipped; with channel, customer and blacklist entry like `conversation_page`. Exact
/// whenever it yields a full page, or the window covers the whole list. The walk
/// stops at the page's last match: PostgreSQL knows the window comes in list order and
/// needs no sort for the outer `ORDER BY`. SQLite does not, and would read the whole
/// window and sort its matches (36 ms for 50,000 rows against 6), so on SQLite the
/// outer query has no `ORDER BY` and takes the first matches in the order the window's
/// co-routine yields them, list order (`hydrate` orders the page itself); the
/// reference test in `tests/search.rs` compares every walked page with the index's.
pub fn conversation_page_window(
    tenant: TenantId,
    filter: &ConversationFilter,
    page: PageRequest,
    offset: i64,
    window: i64,
    now: DateTime<Utc>,
    dialect: Dialect,
) -> SqlBuilder {
    let mut ids = SqlBuilder::default();
    ids.push("SELECT w.id FROM (SELECT c.id, c.activity_at, c.search_key FROM conversations c WHERE c.tenant_id = ")
        .arg(Arg::Int(tenant.0));
    if let Some(t) = filter.channel_type {
        ids.push(" AND c.channel_type = ")
            .arg(Arg::Text(t.as_str().to_string()));
    }
    ids.push(" ORDER BY c.activity_at DESC, c.id DESC LIMIT ")
        .int(window)
        .push(") w");
    if let Some(pattern) = &filter.search {
        ids.push(" WHERE w.search_key LIKE ")
            .arg(Arg::Text(pattern.like_pattern()))
            .push(" ESCAPE '\\'");
    }
    if dialect == Dialect::Postgres {
        ids.push(" ORDER BY w.activity_at DESC, w.id DESC");
    }
    ids.push(" LIMIT ")
        .int(page.per_page)
        .push(" OFFSET ")
        .int(offset);
    hydrate(dialect, tenant, ids, now)
}

/// One page of the filtered list, `offset` rows in, with each conversation's channel,
/// customer and the blacklist entry blocking it at `now` (`CONVERSATION_COLUMNS`), in
/// list order; `tenant_in_index` as `tenant_in_search_index` decides (no matter
/// without a search).
pub fn conversation_page(
    dialect: Dialect,
    tenant: TenantId,
    filter: &ConversationFilter,
    page: PageRequest,
    offset: i64,
    now: DateTime<Utc>,
    tenant_in_index: bool,
) -> SqlBuilder {
    let ids = conversation_page_ids(dialect, tenant, filter, page, offset, tenant_in_index);
    hydrate(dialect, tenant, ids, now)
}

/// The ids of `conversation_page`, in list order.
fn conversation_page_ids(
    dialect: Dialect,
    tenant: TenantId,
    filter: &ConversationFilter,
    page: PageRequest,
    offset: i64,
    tenant_in_index: bool,
) -> SqlBuilder {
    let mut ids = SqlBuilder::default();
    if dialect == Dialect::Postgres && filter.search.is_some() {
        // A search comes here when its matches are few (`walk_window`): find them all
        // through the trigram index, then order them. Left to itself, PostgreSQL may
        // instead walk the whole list order for the first matches (the list index
        // carries the search key), misjudging how rare they are: measured at a
        // million conversations, 3.3 s for a phone number against 0.1 s.
        ids.push("WITH matches AS MATERIALIZED (");
        push_filtered(
            &mut ids,
            dialect,
            tenant,
            filter,
            "c.id, c.activity_at",
            tenant_in_index,
        );
        ids.push(") SELECT m.id FROM matches m ORDER BY m.activity_at DESC, m.id DESC");
    } else {
        push_filtered(&mut ids, dialect, tenant, filter, "c.id", tenant_in_index);
        ids.push(" ORDER BY c.activity_at DESC, c.id DESC");
    }
    ids.push(" LIMIT ")
        .int(page.per_page)
        .push(" OFFSET ")
        .int(offset);
    ids
}

/// Conversations with their channel, customer and blocking blacklist entry (at `now`)
/// for the ids `page` selects, in list order: one statement, one round trip.
///
/// SQLite must join from the page outwards: with a plain JOIN its planner (without
/// statistics) prefers to walk the whole tenant through the activity index, because
/// that order already satisfies the ORDER BY, and probe the page for every row: a
/// list request then costs O(tenant size), 1.5 s at a million conversations.
/// `CROSS JOIN` is SQLite's way to fix the join order; PostgreSQL plans this join
/// well from its statistics (and has no CROSS JOIN with ON).
pub fn hydrate(
    dialect: Dialect,
    tenant: TenantId,
    page: SqlBuilder,
    now: DateTime<Utc>,
) -> SqlBuilder {
    hydrate_with(dialect, tenant, page, now, |_| None)
}

/// `hydrate`, with one more column (SQL text whose arguments `column` adds).
fn hydrate_with(
    dialect: Dialect,
    tenant: TenantId,
    page: SqlBuilder,
    now: DateTime<Utc>,
    column: impl FnOnce(&mut SqlBuilder) -> Option<String>,
) -> SqlBuilder {
    // The page's placeholders are the first; the column's follow them.
    let mut b = SqlBuilder {
        sql: String::new(),
        args: page.args,
    };
    let column = column(&mut b);
    b.push("SELECT ").push(CONVERSATION_COLUMNS);
    if let Some(column) = column {
        b.push(", ").push(&column);
    }
    b.push(" FROM (").push(&page.sql);
    b.push(match dialect {
        Dialect::Sqlite => ") page CROSS JOIN conversations c",
        Dialect::Postgres => ") page JOIN conversations c",
    });
    b.push(" ON c.id = page.id AND c.tenant_id = ")
        .arg(Arg::Int(tenant.0))
        .push(" ")
        .push(CONVERSATION_JOINS)
        .push(" ")
        .push(CONVERSATION_BLACKLIST_JOIN)
        .arg(Arg::Time(now))
        .push(") ORDER BY c.activity_at DESC, c.id DESC");
    b
}

#[cfg(test)]
mod tests {
    use super::walk_window;

    #[test]
    fn common_searches_walk_and_rare_ones_use_the_index() {
        // A small list is walked whole when the search is common in it...
        assert_eq!(walk_window(300, 120, 0, 15, 50_000), Some(300));
        // ...and not when the index has only a few matches to fetch.
        assert_eq!(walk_window(3000, 1, 0, 15, 50_000), None);
        assert_eq!(walk_window(10_000, 176, 0, 15, 50_000), None);
        // A common name in a million: page 1 is among the most recent ~850 rows, and
        // the walk may read up to the most allowed should those be unlike the rest.
        assert_eq!(walk_window(1_000_000, 17_615, 0, 15, 50_000), Some(50_000));
        assert_eq!(
            walk_window(1_000_000, 17_615, 150, 15, 50_000),
            Some(50_000)
        );
        // In a list shorter than the most allowed, the bound is the whole list.
        assert_eq!(walk_window(40_000, 4_000, 0, 15, 50_000), Some(40_000));
        // Deep pages of it, or a rare name, are the index's.
        assert_eq!(walk_window(1_000_000, 17_615, 900, 15, 50_000), None);
        assert_eq!(walk_window(1_000_000, 40, 0, 15, 50_000), None);
        // Nothing to find, walking off, or an empty list.
        assert_eq!(walk_window(1_000_000, 0, 0, 15, 50_000), None);
        assert_eq!(walk_window(3000, 10, 0, 15, 0), None);
        assert_eq!(walk_window(0, 0, 0, 15, 50_000), None);
    }
}
