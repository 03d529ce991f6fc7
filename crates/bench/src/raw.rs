//! The physical limit: the SQL the server issues for one list request, run directly
//! against the database with the same concurrency, without HTTP, auth or JSON.
//!
//! The statements come from `switchboard_store::plan`, the very functions the stores
//! use, in the order a request runs them (the membership is cached by the server).
//! SQLite is driven from threads over rusqlite (the thinnest client of the same
//! library); PostgreSQL by `pgbench -M prepared`, with the arguments as parameters
//! and the server's session settings (`plan::POSTGRES_READ_SETTINGS`).

use crate::seed::BoxError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::time::{Duration, Instant};
use switchboard_core::search::SearchPattern;
use switchboard_core::{ChannelType, ConversationFilter, PageRequest, TenantId};
use switchboard_store::plan::{self, Arg, Dialect, SqlBuilder};

/// Which list request to replay.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub tenant: TenantId,
    pub user: i64,
    pub filter: ConversationFilter,
    pub page: PageRequest,
}

impl RawRequest {
    /// L1, L3 (`channel_type`) or L4 (`search`).
    pub fn new(
        tenant: i64,
        user: i64,
        channel_type: Option<&str>,
        search: Option<&str>,
    ) -> Result<Self, BoxError> {
        let channel_type = channel_type
            .map(|t| {
                t.parse::<ChannelType>()
                    .map_err(|_| format!("unknown channel type {t}"))
            })
            .transpose()?;
        Ok(Self {
            tenant: TenantId(tenant),
            user,
            filter: ConversationFilter {
                channel_type,
                search: search.and_then(SearchPattern::parse),
            },
            page: PageRequest {
                page: 1,
                per_page: 15,
            },
        })
    }
}

impl RawRequest {
    /// `new` for the big tenant of a seed report (its first), as the caller it made.
    pub fn of_big_tenant(
        report: &crate::seed::SeedReport,
        channel_type: Option<&str>,
        search: Option<&str>,
    ) -> Result<Self, BoxError> {
        let tenant = report.tenants.first().ok_or("the report has no tenant")?;
        Self::new(tenant.id, report.user_id, channel_type, search)
    }
}

/// The file of a `sqlite://` URL (its parameters dropped); `None` for another scheme.
pub fn sqlite_path(url: &str) -> Option<String> {
    let path = url.strip_prefix("sqlite://")?;
    Some(path.split('?').next().unwrap_or(path).to_string())
}

#[derive(Debug, Clone, Serialize)]
pub struct RawResult {
    pub driver: String,
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub avg_ms: f64,
}

// ---- SQLite ------------------------------------------------------------------------

fn sqlite_value(arg: &Arg) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match arg {
        Arg::Int(v) => Value::Integer(*v),
        Arg::Text(v) => Value::Text(v.clone()),
        // As sqlx stores instants in SQLite: RFC 3339 text.
        Arg::Time(v) => Value::Text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
    }
}

/// Runs `b`, handing each row to `each`.
pub(crate) fn sqlite_rows(
    conn: &rusqlite::Connection,
    b: &SqlBuilder,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(&b.sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(b.args.iter().map(sqlite_value)))?;
    while let Some(row) = rows.next()? {
        each(row)?;
    }
    Ok(())
}

/// A read-only connection with the server's reader settings.
pub(crate) fn open_sqlite_reader(path: &str) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA cache_size = -2000; PRAGMA busy_timeout = 10000;")?;
    Ok(conn)
}

/// Runs `b`, reading every column of every row.
fn sqlite_run(conn: &rusqlite::Connection, b: &SqlBuilder) -> rusqlite::Result<()> {
    sqlite_rows(conn, b, |row| {
        for k in 0..row.as_ref().column_count() {
            row.get_ref(k)?;
        }
        Ok(())
    })
}

/// The statements the server runs for `request` in its steady state, given what the
/// database holds now: without a search, the page with the total from the counters
/// (one statement; two past `MERGED_TOTAL_MAX_OFFSET`); with one, the search state (the search's total is then in the server's memory,
/// counted at that epoch) and the page, walked or from the index as the server
/// chooses (`plan::walk_window`).
pub(crate) fn statements(
    dialect: Dialect,
    request: &RawRequest,
    search: Option<SearchState>,
    now: DateTime<Utc>,
) -> Vec<SqlBuilder> {
    let (tenant, filter, page) = (request.tenant, &request.filter, request.page);
    let offset = page.offset().unwrap_or(0);
    match search {
        // A page within the first `MERGED_TOTAL_MAX_OFFSET` rows of a list that
        // has it: one statement with its total.
        None if offset <= plan::MERGED_TOTAL_MAX_OFFSET => {
            vec![plan::conversation_page_with_total(
                dialect, tenant, filter, page, offset, now,
            )]
        }
        None => vec![
            plan::conversation_total(dialect, tenant, filter),
            plan::conversation_page(dialect, tenant, filter, page, offset, now, true),
        ],
        Some(SearchState { total, base, size }) => {
            // On freshly seeded data the walk finds the page (the checker has
            // just compared the server's answers with the seed's), so that is the
            // statement the server runs.
            let page_sql =
                match plan::walk_window(base, total, offset, page.per_page, plan::MAX_WALK) {
                    Some(window) => plan::conversation_page_window(
                        tenant, filter, page, offset, window, now, dialect,
                    ),
                    None => plan::conversation_page(
                        dialect,
                        tenant,
                        filter,
                        page,
                        offset,
                        now,
                        in_index(size),
                    ),
                };
            vec![plan::search_state(tenant, filter), page_sql]
        }
    }
}

/// What a search request's statements depend on, as the server reads it: the search's
/// total, the list size it filters and the tenant's size (`plan::search_state`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchState {
    total: i64,
    base: i64,
    size: i64,
}

/// Whether the server's search of a tenant of `size` conversations names the tenant to
/// the search indexes (its default limit).
fn in_index(size: i64) -> bool {
    plan::tenant_in_search_index(size, plan::TENANT_IN_SEARCH_INDEX_MAX)
}

/// For a search: its `SearchState`.
fn sqlite_search_state(path: &str, request: &RawRequest) -> Result<Option<SearchState>, BoxError> {
    if request.filter.search.is_none() {
        return Ok(None);
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // The one row of `b`, whose columns are all integers.
    let integers = |b: &SqlBuilder| -> rusqlite::Result<Vec<i64>> {
        let mut statement = conn.prepare(&b.sql)?;
        let columns = statement.column_count();
        statement.query_row(
            rusqlite::params_from_iter(b.args.iter().map(sqlite_value)),
            |r| (0..columns).map(|k| r.get(k)).collect(),
        )
    };
    let state = integers(&plan::search_state(request.tenant, &request.filter))?;
    let (base, size) = (state[1], state[2]);
    let count = plan::search_count(
        Dialect::Sqlite,
        request.tenant,
        &request.filter,
        in_index(size),
    );
    let total = integers(&count)?[1];
    Ok(Some(SearchState { total, base, size }))
}

/// `concurrency` threads, each with its own read-only connection, replaying the
/// request for `seconds` after `warmup` seconds.
pub fn run_sqlite(
    path: &str,
    request: &RawRequest,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<RawResult, BoxError> {
    let now = Utc::now();
    let statements = std::sync::Arc::new(statements(
        Dialect::Sqlite,
        request,
        sqlite_search_state(path, request)?,
        now,
    ));
    let start = Instant::now() + warmup;
    let end = start + duration;
    let handles: Vec<_> = (0..concurrency)
        .map(|_| {
            let path = path.to_string();
            let statements = statements.clone();
            std::thread::spawn(move || -> Result<Vec<u32>, String> {
                let conn = open_sqlite_reader(&path).map_err(|e| e.to_string())?;
                let mut latencies = Vec::new();
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    for statement in statements.iter() {
                        sqlite_run(&conn, statement).map_err(|e| e.to_string())?;
                    }
                    if began >= start {
                        latencies.push(began.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.join().map_err(|_| "a driver thread panicked")??);
    }
    Ok(summarize("rusqlite", concurrency, duration, all))
}

fn summarize(
    driver: &str,
    concurrency: usize,
    duration: Duration,
    mut latencies: Vec<u32>,
) -> RawResult {
    latencies.sort_unstable();
    let pick = |q: f64| -> Option<f64> {
        (!latencies.is_empty()).then(|| {
            let k = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            f64::from(latencies[k]) / 1000.0
        })
    };
    let requests = latencies.len() as u64;
    let seconds = duration.as_secs_f64();
    let sum: f64 = latencies.iter().map(|l| f64::from(*l)).sum();
    RawResult {
        driver: driver.to_string(),
        concurrency,
        seconds,
        requests,
        requests_per_sec: requests as f64 / seconds,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        avg_ms: if requests > 0 {
            sum / requests as f64 / 1000.0
        } else {
            0.0
        },
    }
}

// ---- PostgreSQL (pgbench) ----------------------------------------------------------

/// A pgbench script for one request, and the `-D name=value` definitions of its
/// variables: pgbench sends variables as bind parameters in prepared mode, as sqlx does.
pub async fn pgbench_script(
    url: &str,
    request: &RawRequest,
) -> Result<(String, Vec<String>), BoxError> {
    use sqlx::Connection;
    let now = Utc::now();
    let search = if request.filter.search.is_some() {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let state = plan::search_state(request.tenant, &request.filter);
        let state = fetch_integers(&mut conn, &state).await?;
        let (base, size) = (state[1], state[2]);
        let count = plan::search_count(
            Dialect::Postgres,
            request.tenant,
            &request.filter,
            in_index(size),
        );
        let total = fetch_integers(&mut conn, &count).await?[1];
        conn.close().await?;
        Some(SearchState { total, base, size })
    } else {
        None
    };
    let mut script = String::new();
    let mut defines = Vec::new();
    let mut add = |b: &SqlBuilder, script: &mut String| {
        let statement = script.matches(';').count();
        let mut sql = b.sql.clone();
        // Replace from the highest number down so that $1 does not eat $10's prefix.
        for (k, arg) in b.args.iter().enumerate().rev() {
            let name = format!("s{statement}a{}", k + 1);
            sql = sql.replace(&format!("${}", k + 1), &format!(":{name}"));
            let value = match arg {
                Arg::Int(v) => v.to_string(),
                Arg::Text(v) => v.clone(),
                Arg::Time(v) => v.to_rfc3339_opts(SecondsFormat::Secs, true),
            };
            defines.push(format!("{name}={value}"));
        }
        script.push_str(&sql);
        script.push_str(";\n");
    };
    for statement in statements(Dialect::Postgres, request, search, now) {
        add(&statement, &mut script);
    }
    Ok((script, defines))
}

/// `b` as a sqlx query with its arguments bound, as the server binds them.
pub(crate) fn postgres_query(
    b: &SqlBuilder,
) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut query = sqlx::query(&b.sql);
    for arg in &b.args {
        query = match arg {
            Arg::Int(v) => query.bind(*v),
            Arg::Text(v) => query.bind(v.as_str()),
            Arg::Time(v) => query.bind(*v),
        };
    }
    query
}

/// The one row of `b`, whose columns are all integers.
async fn fetch_integers(
    conn: &mut sqlx::PgConnection,
    b: &SqlBuilder,
) -> Result<Vec<i64>, sqlx::Error> {
    use sqlx::Row;
    let row = postgres_query(b).fetch_one(conn).await?;
    (0..row.len()).map(|k| row.try_get(k)).collect()
}

/// Runs pgbench with the script and reads its throughput and average latency.
pub async fn run_pgbench(
    url: &str,
    request: &RawRequest,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<RawResult, BoxError> {
    let (script, defines) = pgbench_script(url, request).await?;
    let dir = std::env::temp_dir().join(format!("switchboard-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("request.sql");
    std::fs::write(&file, &script)?;
    let log_prefix = dir.join("latency");
    let run = |seconds: u64, log: bool| {
        let mut command = std::process::Command::new("pgbench");
        // The server's session settings for reading (libpq reads PGOPTIONS).
        command
            .env("PGOPTIONS", plan::postgres_read_options())
            .args(["-n", "-M", "prepared", "-j", "2"])
            .arg("-c")
            .arg(concurrency.to_string())
            .arg("-T")
            .arg(seconds.to_string())
            .arg("-f")
            .arg(&file);
        for d in &defines {
            command.arg("-D").arg(d);
        }
        if log {
            // One line per transaction, its latency in microseconds third.
            command
                .arg("-l")
                .arg(format!("--log-prefix={}", log_prefix.display()));
        }
        command.arg(url);
        command.output()
    };
    if warmup.as_secs() > 0 {
        run(warmup.as_secs(), false)?;
    }
    let output = run(duration.as_secs().max(1), true)?;
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("latency"));
        if is_log {
            latencies.extend(
                std::fs::read_to_string(&path)?
                    .lines()
                    .filter_map(|line| line.split_whitespace().nth(2)?.parse::<u32>().ok()),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "pgbench failed: {}\n{stdout}\nscript:\n{script}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let number_after = |label: &str| -> Option<f64> {
        stdout
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .map(|rest| rest.trim_start_matches([' ', '=', ':']))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let tps = number_after("tps").ok_or_else(|| format!("no tps in pgbench output:\n{stdout}"))?;
    let requests = number_after("number of transactions actually processed").unwrap_or(0.0);
    let latency = number_after("latency average").unwrap_or(0.0);
    let percentiles = summarize("pgbench", concurrency, duration, latencies);
    Ok(RawResult {
        driver: "pgbench -M prepared".to_string(),
        concurrency,
        seconds: duration.as_secs_f64(),
        requests: requests as u64,
        requests_per_sec: tps,
        p50_ms: percentiles.p50_ms,
        p99_ms: percentiles.p99_ms,
        avg_ms: latency,
    })
}
