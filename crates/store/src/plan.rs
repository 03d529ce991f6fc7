//! The SQL behind a conversation list request, built in one place. The stores run
//! these statements, and the benchmark's raw-SQL driver runs exactly the same ones
//! (same text, same arguments), so "server vs. raw SQL" cannot drift apart.
//!
//! A list request is: the total (`conversation_total`), then the page with each
//! conversation's channel, customer and blocking blacklist entry
//! (`conversation_page`). The caller's membership (`MEMBERSHIP_ROLE`) is asked
//! first, unless the server has it cached (it usually has).

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

/// The caller's role in a tenant; every tenant-scoped request asks it first.
pub const MEMBERSHIP_ROLE: &str =
    "SELECT role FROM tenant_memberships WHERE tenant_id = $1 AND user_id = $2";

/// `SELECT c.id FROM ... WHERE ...` for the filter, without order or limit.
pub fn filtered_ids(dialect: Dialect, tenant: TenantId, filter: &ConversationFilter) -> SqlBuilder {
    let mut b = SqlBuilder::default();
    b.push("SELECT c.id FROM ");
    let search = filter.search.as_ref();
    match (dialect, search) {
        // Drive the query from the FTS5 trigram index, then keep this tenant's rows.
        (Dialect::Sqlite, Some(p)) if p.is_indexable() => {
            b.push("conversation_search CROSS JOIN conversations c ON c.id = conversation_search.rowid");
        }
        _ => {
            b.push("conversations c");
        }
    }
    b.push(" WHERE c.tenant_id = ").arg(Arg::Int(tenant.0));
    if let Some(t) = filter.channel_type {
        b.push(" AND c.channel_type = ")
            .arg(Arg::Text(t.as_str().to_string()));
    }
    if let Some(pattern) = search {
        push_search_condition(&mut b, dialect, pattern);
    }
    b
}

fn push_search_condition(b: &mut SqlBuilder, dialect: Dialect, pattern: &SearchPattern) {
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

/// One page of the filtered list, `offset` rows in, with each conversation's channel,
/// customer and the blacklist entry blocking it at `now` (`CONVERSATION_COLUMNS`), in
/// list order.
pub fn conversation_page(
    dialect: Dialect,
    tenant: TenantId,
    filter: &ConversationFilter,
    page: PageRequest,
    offset: i64,
    now: DateTime<Utc>,
) -> SqlBuilder {
    let mut ids = filtered_ids(dialect, tenant, filter);
    ids.push(" ORDER BY c.activity_at DESC, c.id DESC LIMIT ")
        .arg(Arg::Int(page.per_page))
        .push(" OFFSET ")
        .arg(Arg::Int(offset));
    hydrate(dialect, tenant, ids, now)
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
    let mut b = SqlBuilder::default();
    b.push("SELECT ")
        .push(CONVERSATION_COLUMNS)
        .push(" FROM (")
        .push(&page.sql);
    b.args = page.args;
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
