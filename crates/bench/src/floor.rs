//! The floor of an HTTP list request: the thinnest server we can write around the raw
//! driver's statement, to tell what the L1 ratio target asks of the real one.
//!
//! It answers `GET /` with L1's statement (the same `plan` functions as the raw driver
//! and the server), its rows written as JSON objects of column name to value. It has
//! no authentication, no rate limiter, no request log, no routing to speak of, and no
//! domain types between the rows and the JSON. On SQLite each of tokio's worker
//! threads keeps its own connection and runs the statement right there
//! (`FloorMode::Inline`), or a blocking thread does (`FloorMode::Blocking`, the
//! hand-over the server makes); on PostgreSQL the server's list driver runs it
//! (`FloorMode::Inline`: tokio-postgres, as many connections as the server's pool,
//! each request with one to itself, the server's session settings), or sqlx does
//! (`FloorMode::Sqlx`, the driver of the server's other reads). `FloorMode::Static`
//! answers a page read once at start: HTTP and a body of the page's size, no
//! database. What the floor costs over the raw driver is what HTTP and JSON cost,
//! with nothing of the server's own in it.

use crate::raw::{self, RawRequest};
use crate::seed::BoxError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use serde::ser::{SerializeMap, Serializer};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Column as _, Row as _, TypeInfo as _};
use std::cell::RefCell;
use std::str::FromStr;
use std::sync::Arc;
use switchboard::http::json_writer::JsonWriter;
use switchboard_store::plan::{self, Arg, Dialect, SqlBuilder};

/// Where the statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloorMode {
    /// SQLite: on the tokio worker that read the request. PostgreSQL: through
    /// tokio-postgres, the server's list driver.
    Inline,
    /// SQLite: on tokio's blocking pool, as the server runs its list reads.
    Blocking,
    /// PostgreSQL: through a sqlx pool, the driver of the server's other reads.
    Sqlx,
    /// Nowhere: the page read at start, answered as it is.
    Static,
}

enum Database {
    Sqlite { path: String },
    Postgres(PostgresConnections),
    Sqlx(PgPool),
}

/// tokio-postgres connections with the statements prepared on each, handed to one
/// request at a time (first come, first served), as the server's pool does.
type PostgresConnections =
    deadpool::unmanaged::Pool<(tokio_postgres::Client, Vec<tokio_postgres::Statement>)>;

struct Floor {
    database: Database,
    statements: Vec<SqlBuilder>,
    /// SQLite: each statement's `"column":` keys, written once at start.
    keys: Vec<Vec<&'static str>>,
}

thread_local! {
    static SQLITE: RefCell<Option<rusqlite::Connection>> = const { RefCell::new(None) };
}

/// Serves `request`'s page from the database at `url` on `listener` until killed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    url: &str,
    request: RawRequest,
    mode: FloorMode,
) -> Result<(), BoxError> {
    let app = axum::Router::new();
    let app = match mode {
        FloorMode::Static => {
            let body =
                axum::body::Bytes::from(Floor::open(url, &request, mode).await?.page().await?);
            app.route("/", axum::routing::get(move || async move { json(body) }))
        }
        FloorMode::Inline | FloorMode::Blocking | FloorMode::Sqlx => {
            let floor = Arc::new(Floor::open(url, &request, mode).await?);
            let blocking = mode == FloorMode::Blocking;
            app.route(
                "/",
                axum::routing::get(move || {
                    let floor = floor.clone();
                    async move {
                        let page = match (&floor.database, blocking) {
                            (Database::Sqlite { .. }, true) => {
                                tokio::task::spawn_blocking(move || floor.sqlite_page())
                                    .await
                                    .map_err(|e| e.to_string())
                                    .and_then(|page| page)
                            }
                            _ => floor.page().await,
                        };
                        match page {
                            Ok(page) => json(page),
                            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
                        }
                    }
                }),
            )
        }
    };
    axum::serve(listener, app).await?;
    Ok(())
}

fn json(body: impl Into<axum::body::Body>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}

impl Floor {
    async fn open(url: &str, request: &RawRequest, mode: FloorMode) -> Result<Self, BoxError> {
        let now = Utc::now();
        if let Some(path) = raw::sqlite_path(url) {
            let statements = raw::statements(Dialect::Sqlite, request, None, now);
            let conn = raw::open_sqlite_reader(&path)?;
            let keys = statements
                .iter()
                .map(|statement| json_keys(&conn, statement))
                .collect::<Result<_, _>>()?;
            return Ok(Self {
                database: Database::Sqlite { path },
                statements,
                keys,
            });
        }
        let statements = raw::statements(Dialect::Postgres, request, None, now);
        if mode != FloorMode::Sqlx {
            return Ok(Self {
                database: Database::Postgres(open_postgres(url, &statements).await?),
                statements,
                keys: Vec::new(),
            });
        }
        let pool = PgPoolOptions::new()
            .max_connections(switchboard_store::default_pool_size())
            .connect_with(
                PgConnectOptions::from_str(url)?
                    .options(plan::POSTGRES_READ_SETTINGS.iter().copied()),
            )
            .await?;
        Ok(Self {
            database: Database::Sqlx(pool),
            statements,
            keys: Vec::new(),
        })
    }

    async fn page(&self) -> Result<Vec<u8>, String> {
        match &self.database {
            Database::Sqlite { .. } => self.sqlite_page(),
            Database::Postgres(connections) => self.postgres_page(connections).await,
            Database::Sqlx(pool) => self.sqlx_page(pool).await,
        }
    }

    async fn postgres_page(&self, connections: &PostgresConnections) -> Result<Vec<u8>, String> {
        let taken = connections.get().await.map_err(|e| e.to_string())?;
        let (client, prepared) = &*taken;
        let page = async {
            let mut page = PageWriter::new();
            for (statement, prepared) in self.statements.iter().zip(prepared) {
                let params: Vec<_> = statement.args.iter().map(Arg::postgres_value).collect();
                let rows = client.query(prepared, &params).await?;
                for row in rows {
                    let columns = row.columns();
                    page.row(columns.len(), |k| {
                        Ok((columns[k].name(), PostgresValue::read(&row, k)?))
                    })?;
                }
            }
            Ok::<_, BoxError>(page.finish())
        }
        .await;
        page.map_err(|e| e.to_string())
    }

    /// The page from this thread's SQLite connection (opened at its first page).
    fn sqlite_page(&self) -> Result<Vec<u8>, String> {
        let Database::Sqlite { path } = &self.database else {
            return Err("not SQLite".to_string());
        };
        SQLITE.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                *cell = Some(raw::open_sqlite_reader(path).map_err(|e| e.to_string())?);
            }
            let conn = cell.as_ref().ok_or("no connection")?;
            // The server's own JSON writer, so the floor writes its page as the server
            // writes its own.
            let mut page = JsonWriter::with_capacity(PAGE_CAPACITY);
            page.raw("{\"data\":[");
            let mut rows = 0;
            for (statement, keys) in self.statements.iter().zip(&self.keys) {
                raw::sqlite_rows(conn, statement, |row| {
                    page.raw(if rows == 0 { "{" } else { ",{" });
                    rows += 1;
                    write_sqlite_row(&mut page, keys, row);
                    page.raw("}");
                    Ok(())
                })
                .map_err(|e| e.to_string())?;
            }
            page.raw("]}");
            Ok(page.into_bytes())
        })
    }

    async fn sqlx_page(&self, pool: &PgPool) -> Result<Vec<u8>, String> {
        let mut page = PageWriter::new();
        for statement in &self.statements {
            for row in raw::postgres_query(statement)
                .fetch_all(pool)
                .await
                .map_err(|e| e.to_string())?
            {
                let columns = row.columns();
                page.row(columns.len(), |k| {
                    Ok((columns[k].name(), SqlxValue::read(&row, k)?))
                })
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(page.finish())
    }
}

/// The page's buffer: enough for a page of 15 rows in one allocation.
const PAGE_CAPACITY: usize = 16 * 1024;

/// `{"data":[...]}`, written row by row with no tree of values in between (PostgreSQL's
/// rows, whose values are decoded by their type through serde).
struct PageWriter {
    body: Vec<u8>,
    rows: usize,
}

impl PageWriter {
    fn new() -> Self {
        let mut body = Vec::with_capacity(PAGE_CAPACITY);
        body.extend_from_slice(b"{\"data\":[");
        Self { body, rows: 0 }
    }

    /// One row of `width` columns, the k-th given by `column(k)`.
    fn row<'r, V: serde::Serialize>(
        &mut self,
        width: usize,
        mut column: impl FnMut(usize) -> Result<(&'r str, V), BoxError>,
    ) -> Result<(), BoxError> {
        if self.rows > 0 {
            self.body.push(b',');
        }
        self.rows += 1;
        let mut json = serde_json::Serializer::new(&mut self.body);
        let mut object = json.serialize_map(Some(width))?;
        for k in 0..width {
            let (name, value) = column(k)?;
            object.serialize_entry(name, &value)?;
        }
        object.end()?;
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        self.body.extend_from_slice(b"]}");
        self.body
    }
}

/// The `"name":` key of each column of `statement`. Leaked: the floor opens once and
/// serves until killed, and `JsonWriter::raw` takes only text that lives that long.
fn json_keys(
    conn: &rusqlite::Connection,
    statement: &SqlBuilder,
) -> Result<Vec<&'static str>, BoxError> {
    let prepared = conn.prepare_cached(&statement.sql)?;
    prepared
        .column_names()
        .into_iter()
        .map(|name| Ok(&*format!("{}:", serde_json::to_string(name)?).leak()))
        .collect()
}

/// One SQLite row's members, `"key":value,...`, through the server's writer: text
/// with nothing to escape one copy, integers through `itoa`, the rest through serde.
fn write_sqlite_row(w: &mut JsonWriter, keys: &[&'static str], row: &rusqlite::Row<'_>) {
    for (k, key) in keys.iter().enumerate() {
        if k > 0 {
            w.raw(",");
        }
        w.raw(key);
        match row.get_ref(k) {
            Ok(ValueRef::Integer(v)) => w.int(v),
            Ok(ValueRef::Text(v)) => match std::str::from_utf8(v) {
                Ok(text) => w.str(text),
                Err(_) => w.serde(&String::from_utf8_lossy(v)),
            },
            Ok(ValueRef::Real(v)) => w.serde(&v),
            Ok(ValueRef::Blob(v)) => w.serde(&v.len()),
            Ok(ValueRef::Null) | Err(_) => w.raw("null"),
        };
    }
}

/// A PostgreSQL column's value through sqlx, decoded by its type.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum SqlxValue {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Time(Option<DateTime<Utc>>),
}

impl SqlxValue {
    fn read(row: &PgRow, k: usize) -> Result<Self, BoxError> {
        Ok(match row.columns()[k].type_info().name() {
            "INT8" => Self::Int(row.try_get(k)?),
            "INT4" => Self::Int(row.try_get::<Option<i32>, _>(k)?.map(i64::from)),
            "INT2" => Self::Int(row.try_get::<Option<i16>, _>(k)?.map(i64::from)),
            "BOOL" => Self::Bool(row.try_get(k)?),
            "TIMESTAMPTZ" => Self::Time(row.try_get(k)?),
            _ => Self::Text(row.try_get(k)?),
        })
    }
}

/// The server's pool size of connections with the server's read settings, each with
/// `statements` prepared.
async fn open_postgres(
    url: &str,
    statements: &[SqlBuilder],
) -> Result<PostgresConnections, BoxError> {
    let mut config = tokio_postgres::Config::from_str(url)?;
    config.options(plan::postgres_read_options());
    let mut connections = Vec::new();
    for _ in 0..switchboard_store::default_pool_size() {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let mut prepared = Vec::new();
        for statement in statements {
            let types: Vec<_> = statement.args.iter().map(Arg::postgres_type).collect();
            prepared.push(client.prepare_typed(&statement.sql, &types).await?);
        }
        connections.push((client, prepared));
    }
    Ok(PostgresConnections::from(connections))
}

/// A PostgreSQL column's value through tokio-postgres, decoded by its type; text
/// borrowed from the row.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum PostgresValue<'r> {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<&'r str>),
    Time(Option<DateTime<Utc>>),
}

impl<'r> PostgresValue<'r> {
    fn read(row: &'r tokio_postgres::Row, k: usize) -> Result<Self, BoxError> {
        use tokio_postgres::types::Type;
        let ty = row.columns()[k].type_();
        Ok(if *ty == Type::INT8 {
            Self::Int(row.try_get(k)?)
        } else if *ty == Type::INT4 {
            Self::Int(row.try_get::<_, Option<i32>>(k)?.map(i64::from))
        } else if *ty == Type::INT2 {
            Self::Int(row.try_get::<_, Option<i16>>(k)?.map(i64::from))
        } else if *ty == Type::BOOL {
            Self::Bool(row.try_get(k)?)
        } else if *ty == Type::TIMESTAMPTZ {
            Self::Time(row.try_get(k)?)
        } else {
            Self::Text(row.try_get(k)?)
        })
    }
}
