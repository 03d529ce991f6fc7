//! SQLite's list reads, run through rusqlite on tokio's blocking pool instead of
//! through sqlx.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every row of a
//! result to the request's task over a channel: a list page of 15 rows is some twenty
//! hand-overs between threads, and under the list benchmark the server spent several
//! times what the statement itself costs (BENCHMARKS.md, "The SQLite read path").
//! Here a request takes a connection from a pool, and one blocking task runs the
//! statement, decodes its rows and maps them to conversations: one hand-over there
//! and one back.
//!
//! The connections are read-only, like sqlx's readers, and see what the writer has
//! committed (WAL). Instants are bound and read as sqlx writes them: RFC 3339 text.

use crate::list::ConversationReader;
use crate::rows::{Arg, ConversationRow, SqlBuilder};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use deadpool::managed::{self, Metrics, RecycleResult};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use std::path::PathBuf;
use std::time::Duration;
use switchboard_core::store::{StoreError, StoreResult};
use switchboard_core::Conversation;

/// Statements a connection keeps prepared. A list page's SQL differs by filter and by
/// its LIMIT and OFFSET (literals), so a connection sees a few dozen in common use.
const PREPARED_STATEMENTS: usize = 64;

/// A pool of read-only rusqlite connections to one database file.
#[derive(Clone)]
pub(crate) struct DirectReads {
    pool: managed::Pool<Opener>,
}

impl DirectReads {
    pub fn new(path: PathBuf, max_connections: u32) -> Result<Self, String> {
        let pool = managed::Pool::builder(Opener { path })
            .max_size(max_connections.max(1) as usize)
            .runtime(deadpool::Runtime::Tokio1)
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

    /// Closes the connections idle for `idle` or longer, as sqlx's pools do theirs:
    /// an idle server gives their page caches back (`SqliteStore`'s housekeeping).
    pub fn close_idle(&self, idle: Duration) {
        self.pool.retain(|_, metrics| metrics.last_used() < idle);
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
    path: PathBuf,
}

impl managed::Manager for Opener {
    type Type = rusqlite::Connection;
    type Error = StoreError;

    async fn create(&self) -> Result<rusqlite::Connection, StoreError> {
        let path = self.path.clone();
        blocking(move || open(&path)).await
    }

    /// Nothing to check: a file does not hang up like a socket, and a statement that
    /// fails on a broken connection reports it like any failure.
    async fn recycle(
        &self,
        _: &mut rusqlite::Connection,
        _: &Metrics,
    ) -> RecycleResult<StoreError> {
        Ok(())
    }
}

/// A reader connection with the settings of sqlx's readers (`sqlite.rs`).
fn open(path: &std::path::Path) -> StoreResult<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err)?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sqlite_err)?;
    conn.execute_batch("PRAGMA cache_size = -2000")
        .map_err(sqlite_err)?;
    conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    Ok(conn)
}

/// Runs `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Database(format!("a SQLite read did not finish: {e}")))?
}

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A `ConversationReader` over `DirectReads`: takes a connection at its first
/// statement and keeps it until `release` or its end.
pub(crate) struct DirectReader<'a> {
    pool: &'a managed::Pool<Opener>,
    conn: Option<managed::Object<Opener>>,
}

impl DirectReader<'_> {
    async fn connection(&mut self) -> StoreResult<managed::Object<Opener>> {
        match self.conn.take() {
            Some(conn) => Ok(conn),
            None => self.pool.get().await.map_err(|e| match e {
                managed::PoolError::Backend(e) => e,
                e => StoreError::Database(format!("no SQLite reader: {e}")),
            }),
        }
    }

    /// Runs `work` with the reader's connection on the blocking pool.
    async fn run<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = self.connection().await?;
        // If this task is dropped while the statement runs, the connection goes back
        // to the pool when the statement ends.
        let (conn, result) = blocking(move || {
            let result = work(&conn);
            Ok((conn, result))
        })
        .await?;
        self.conn = Some(conn);
        result
    }

    /// Runs `work` with the reader's connection right here, on the request's thread:
    /// for a small read the hand-over to a blocking thread and back costs more than
    /// the statement (BENCHMARKS.md, "The hand-over").
    async fn run_here<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = self.connection().await?;
        let result = work(&conn);
        self.conn = Some(conn);
        result
    }
}

#[async_trait::async_trait]
impl ConversationReader for DirectReader<'_> {
    async fn conversations(&mut self, statement: SqlBuilder) -> StoreResult<Vec<Conversation>> {
        self.run(move |conn| read_conversations(conn, &statement, None).map(|(items, _)| items))
            .await
    }

    async fn conversations_and_number(
        &mut self,
        statement: SqlBuilder,
    ) -> StoreResult<(Vec<Conversation>, Option<i64>)> {
        let number_at = Some(crate::rows::CONVERSATION_COLUMN_COUNT);
        self.run(move |conn| read_conversations(conn, &statement, number_at))
            .await
    }

    async fn small_conversations_and_number(
        &mut self,
        statement: SqlBuilder,
    ) -> StoreResult<(Vec<Conversation>, Option<i64>)> {
        let number_at = Some(crate::rows::CONVERSATION_COLUMN_COUNT);
        self.run_here(|conn| read_conversations(conn, &statement, number_at))
            .await
    }

    async fn integers<const N: usize>(&mut self, statement: SqlBuilder) -> StoreResult<[i64; N]> {
        self.run(move |conn| {
            let mut values = None;
            query(conn, &statement, |row| {
                if values.is_none() {
                    let mut read = [0; N];
                    for (k, value) in read.iter_mut().enumerate() {
                        *value = row.get(k).map_err(sqlite_err)?;
                    }
                    values = Some(read);
                }
                Ok(())
            })?;
            values.ok_or_else(|| StoreError::Database("no rows returned".to_string()))
        })
        .await
    }

    fn release(&mut self) {
        self.conn = None;
    }
}

/// The conversations of a statement selecting `CONVERSATION_COLUMNS`, and the integer
/// in column `number_at` of its first row, if asked for and there is a row.
fn read_conversations(
    conn: &rusqlite::Connection,
    statement: &SqlBuilder,
    number_at: Option<usize>,
) -> StoreResult<(Vec<Conversation>, Option<i64>)> {
    let mut items = Vec::new();
    let mut number = None;
    query(conn, statement, |row| {
        if let (Some(k), None) = (number_at, number) {
            number = Some(row.get(k).map_err(sqlite_err)?);
        }
        items.push(conversation_row(row)?.into_conversation()?);
        Ok(())
    })?;
    Ok((items, number))
}

/// Runs `statement`, handing each row to `each`.
fn query(
    conn: &rusqlite::Connection,
    statement: &SqlBuilder,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut prepared = conn.prepare_cached(&statement.sql).map_err(sqlite_err)?;
    let mut rows = prepared
        .query(rusqlite::params_from_iter(statement.args.iter().map(value)))
        .map_err(sqlite_err)?;
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        each(row)?;
    }
    Ok(())
}

/// An argument as sqlx binds it: instants as RFC 3339 text, which is how they are
/// stored and so how they compare.
fn value(arg: &Arg) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match arg {
        Arg::Int(v) => Value::Integer(*v),
        Arg::Text(v) => Value::Text(v.clone()),
        Arg::Time(v) => Value::Text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
    }
}

/// A stored instant, read as sqlx reads one: RFC 3339 text (how sqlx writes it, and
/// so every instant the store wrote), another of the text forms SQLite's date
/// functions use, Unix seconds, or a Julian day number.
struct StoredInstant(DateTime<Utc>);

impl FromSql for StoredInstant {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let instant = match value {
            ValueRef::Text(_) => parse_instant(value.as_str()?),
            ValueRef::Integer(seconds) => DateTime::from_timestamp(seconds, 0),
            ValueRef::Real(day) => {
                DateTime::from_timestamp_millis(((day - 2_440_587.5) * 86_400_000.0).round() as i64)
            }
            _ => None,
        };
        instant
            .map(StoredInstant)
            .ok_or_else(|| FromSqlError::Other(format!("not an instant: {value:?}").into()))
    }
}

/// The text forms sqlx reads after RFC 3339, in its order.
const INSTANT_FORMATS: [&str; 12] = [
    "%F %T%.f",
    "%F %R",
    "%F %RZ",
    "%F %R%:z",
    "%F %T%.fZ",
    "%F %T%.f%:z",
    "%FT%R",
    "%FT%RZ",
    "%FT%R%:z",
    "%FT%T%.f",
    "%FT%T%.fZ",
    "%FT%T%.f%:z",
];

fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_utc_rfc3339(text.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    INSTANT_FORMATS.iter().find_map(|format| {
        DateTime::parse_from_str(text, format)
            .map(|t| t.to_utc())
            .or_else(|_| NaiveDateTime::parse_from_str(text, format).map(|t| t.and_utc()))
            .ok()
    })
}

/// The one form the store writes, `2026-12-05T10:20:30[.fffffffff]+00:00` (or with
/// `Z`), read digit by digit: a list page reads some sixty instants, and chrono's
/// general RFC 3339 parser was a tenth of decoding its rows. Anything else, a leap
/// second included, is `None` and left to chrono.
fn parse_utc_rfc3339(text: &[u8]) -> Option<DateTime<Utc>> {
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        text.get(range)?.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !punctuation.iter().all(|&(k, c)| text.get(k) == Some(&c)) {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        let value = fraction[..digits]
            .iter()
            .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
        nanos = value * 10u32.pow((9 - digits) as u32);
        rest = &fraction[digits..];
    }
    if rest != b"+00:00" && rest != b"Z" {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let second = number(17..19)?;
    if second > 59 {
        return None;
    }
    Some(
        date.and_hms_nano_opt(number(11..13)?, number(14..16)?, second, nanos)?
            .and_utc(),
    )
}

/// A conversation row by position, in the order of `CONVERSATION_COLUMNS` (as the
/// sqlx decoder in `rows.rs` reads it).
fn conversation_row(row: &rusqlite::Row<'_>) -> StoreResult<ConversationRow> {
    let mut column = 0..crate::rows::CONVERSATION_COLUMN_COUNT;
    let mut next = || column.next().unwrap_or(usize::MAX);
    let time = |k: usize| row.get::<_, StoredInstant>(k).map(|t| t.0);
    let maybe_time = |k: usize| {
        row.get::<_, Option<StoredInstant>>(k)
            .map(|t| t.map(|t| t.0))
    };
    let mut read = || -> rusqlite::Result<ConversationRow> {
        Ok(ConversationRow {
            id: row.get(next())?,
            tenant_id: row.get(next())?,
            address: row.get(next())?,
            created_at: time(next())?,
            channel_id: row.get(next())?,
            channel_name: row.get(next())?,
            channel_type: row.get(next())?,
            channel_address: row.get(next())?,
            customer_id: row.get(next())?,
            first_name: row.get(next())?,
            last_name: row.get(next())?,
            phone_number: row.get(next())?,
            email: row.get(next())?,
            avatar_url: row.get(next())?,
            last_message_id: row.get(next())?,
            last_message_preview: row.get(next())?,
            last_message_at: maybe_time(next())?,
            last_message_type: row.get(next())?,
            last_message_is_customer: row.get(next())?,
            unread_count: row.get(next())?,
            agent_disabled: row.get(next())?,
            agent_expires_at: maybe_time(next())?,
            agent_disabled_by_user_name: row.get(next())?,
            blacklist_id: row.get(next())?,
            blacklist_reason: row.get(next())?,
            blacklist_note: row.get(next())?,
            blacklist_metadata: row.get(next())?,
            blacklist_blocked_at: maybe_time(next())?,
            blacklist_expires_at: maybe_time(next())?,
            blacklist_is_active: row.get(next())?,
            blacklist_created_at: maybe_time(next())?,
            blacklist_updated_at: maybe_time(next())?,
            blacklist_deleted_at: maybe_time(next())?,
        })
    };
    read().map_err(sqlite_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_fast_instant_reader_agrees_with_chrono_or_leaves_it_to_chrono() {
        let chrono_reads = |text: &str| DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc());
        // The forms the store writes: read by the fast path, as chrono reads them.
        for text in [
            "2026-12-05T10:20:30+00:00",
            "2026-12-05T10:20:30Z",
            "2026-12-05T10:20:30.5+00:00",
            "2026-12-05T10:20:30.000000001+00:00",
            "2026-12-05T10:20:30.123456789Z",
            "2024-02-29T23:59:59.999+00:00",
            "0001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59+00:00",
        ] {
            let fast = parse_utc_rfc3339(text.as_bytes());
            assert!(fast.is_some(), "{text}");
            assert_eq!(fast, chrono_reads(text), "{text}");
            assert_eq!(parse_instant(text), fast, "{text}");
        }
        // Everything else is not the fast path's; parse_instant still reads what
        // chrono reads.
        for text in [
            "2026-12-05T10:20:30+02:00",
            "2026-12-05T10:20:30-00:00",
            "2026-12-05t10:20:30Z",
            "2026-12-05T10:20:60Z",
            "2026-02-30T10:20:30Z",
            "2026-12-05T24:20:30Z",
            "2026-12-05T10:20:30.Z",
            "2026-12-05T10:20:30.1234567891Z",
            "2026-12-05T10:20:30+00:00 ",
            "2026-12-0510:20:30+00:00",
            "+2026-12-05T10:20:30Z",
            "",
        ] {
            assert_eq!(parse_utc_rfc3339(text.as_bytes()), None, "{text}");
            if let Some(t) = chrono_reads(text) {
                assert_eq!(parse_instant(text), Some(t), "{text}");
            }
        }
    }

    #[test]
    fn instants_are_read_in_every_form_sqlx_reads() {
        let at = |s| Utc.with_ymd_and_hms(2026, 12, 5, 10, 20, s).single();
        let read = |v: ValueRef<'_>| StoredInstant::column_result(v).ok().map(|t| t.0);
        // As sqlx writes them (and so `value` binds them): RFC 3339 with an offset.
        let written = at(30).map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, false));
        assert_eq!(written.as_deref(), Some("2026-12-05T10:20:30+00:00"));
        for text in [
            "2026-12-05T10:20:30+00:00",
            "2026-12-05T12:20:30+02:00",
            "2026-12-05T10:20:30Z",
            "2026-12-05 10:20:30",
            "2026-12-05 10:20:30.000",
            "2026-12-05T10:20:30",
            "2026-12-05 10:20:30+00:00",
        ] {
            assert_eq!(read(ValueRef::Text(text.as_bytes())), at(30), "{text}");
        }
        assert_eq!(read(ValueRef::Text(b"2026-12-05 10:20")), at(0));
        let seconds = at(30).map(|t| t.timestamp()).unwrap_or_default();
        assert_eq!(read(ValueRef::Integer(seconds)), at(30));
        // SQLite's julianday('2026-12-05 10:20:30').
        assert_eq!(read(ValueRef::Real(2_461_379.930_902_777_7)), at(30));
        assert_eq!(read(ValueRef::Text(b"yesterday")), None);
        assert_eq!(read(ValueRef::Null), None);
    }
}
