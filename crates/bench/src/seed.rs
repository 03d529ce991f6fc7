//! Fills a database fast: tenants, a user, a token and channels through the `Store`
//! (the server's own code paths), then customers, conversations, messages and the
//! conversation counters in bulk: COPY for PostgreSQL, prepared multi-row INSERTs in
//! one transaction for SQLite. Search keys and normalised addresses come from
//! `switchboard_core` (see `data.rs`), so the server answers correctly on the result.

use crate::data::{ChannelRef, Conversation, Generator, Spec, CHANNEL_MIX};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection, SqliteConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;
use switchboard::bootstrap::issue_personal_token;
use switchboard::credentials::{new_secret, secret_hash};
use switchboard_core::{
    ChannelType, NewChannel, NewUser, Role, Store, SystemClock, TenantId, UserId,
};
use switchboard_store::{Database, StoreOptions};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Conversations written per batch (each batch: its customers, then conversations,
/// then messages, so foreign keys always point backwards).
const BATCH: usize = 5_000;
/// SQLite binds at most 32766 parameters per statement.
const SQLITE_MAX_PARAMS: usize = 30_000;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub database_url: String,
    pub conversations: usize,
    pub small_tenants: usize,
    pub small_conversations: usize,
    pub messages_per_conversation: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeededChannel {
    pub id: i64,
    #[serde(rename = "type")]
    pub channel_type: String,
    pub inbound_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeededTenant {
    pub id: i64,
    pub conversations: usize,
    pub seed: u64,
    pub channels: Vec<SeededChannel>,
    /// First ids of this tenant's bulk rows (ids then run consecutively).
    pub first_customer_id: i64,
    pub first_conversation_id: i64,
    pub first_message_id: i64,
}

/// What a seed run made: everything the checker and the load scripts need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedReport {
    pub backend: String,
    pub base_time: DateTime<Utc>,
    pub messages_per_conversation: usize,
    pub user_id: i64,
    pub token: String,
    /// The first tenant is the big one.
    pub tenants: Vec<SeededTenant>,
    pub rows: RowCounts,
    pub seconds: f64,
}

impl SeedReport {
    /// The report a seed run wrote to `path`.
    pub fn read(path: &std::path::Path) -> Result<Self, BoxError> {
        Ok(serde_json::from_slice(&std::fs::read(path)?)?)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RowCounts {
    pub customers: u64,
    pub conversations: u64,
    pub messages: u64,
}

impl SeededTenant {
    pub fn spec(&self, report: &SeedReport) -> Spec {
        Spec {
            conversations: self.conversations,
            messages_per_conversation: report.messages_per_conversation,
            seed: self.seed,
            base_time: report.base_time,
        }
    }

    pub fn channel_refs(&self) -> Result<Vec<ChannelRef>, BoxError> {
        self.channels
            .iter()
            .map(|c| {
                Ok(ChannelRef {
                    id: c.id,
                    channel_type: ChannelType::from_str(&c.channel_type)
                        .map_err(|_| format!("unknown channel type {}", c.channel_type))?,
                })
            })
            .collect()
    }
}

pub async fn seed(options: &SeedOptions) -> Result<SeedReport, BoxError> {
    let started = Instant::now();
    let base_time = Utc::now().trunc_subsecs(0);
    let db = Database::connect(&options.database_url, &StoreOptions::default()).await?;
    db.migrate().await?;
    let backend = match db {
        Database::Sqlite(_) => "sqlite",
        Database::Postgres(_) => "postgres",
    };
    let store: Arc<dyn Store> = db.into_store();
    let clock = SystemClock;
    let user = store
        .create_user(
            NewUser {
                email: format!("bench-{}@switchboard.local", base_time.timestamp()),
                name: "Bench Agent".to_string(),
                // Nobody signs in as this user; an unguessable hash of nothing.
                password_hash: secret_hash(&new_secret("")),
            },
            base_time,
        )
        .await?;
    let (token, _) = issue_personal_token(
        &*store,
        &clock,
        user.id,
        "benchmark",
        vec!["read".to_string(), "write".to_string()],
        None,
    )
    .await?;

    let mut tenants = Vec::new();
    let sizes = std::iter::once(options.conversations).chain(std::iter::repeat_n(
        options.small_conversations,
        options.small_tenants,
    ));
    for (n, size) in sizes.enumerate() {
        let name = if n == 0 {
            "Bench: big tenant".to_string()
        } else {
            format!("Bench: small tenant {n}")
        };
        let tenant = store.create_tenant(&name, base_time).await?;
        store
            .put_membership(tenant.id, user.id, Role::Owner, base_time)
            .await?;
        let mut channels = Vec::new();
        for (k, (channel_type, _)) in CHANNEL_MIX.iter().enumerate() {
            let secret = new_secret("sbc_");
            let channel = store
                .create_channel(
                    tenant.id,
                    NewChannel {
                        channel_type: *channel_type,
                        name: format!("{} {}", channel_type.as_str(), k + 1),
                        address: format!("bench-{}-{k}", tenant.id.0),
                        inbound_secret_hash: secret_hash(&secret),
                    },
                    base_time,
                )
                .await?;
            channels.push(SeededChannel {
                id: channel.id,
                channel_type: channel_type.as_str().to_string(),
                inbound_secret: secret,
            });
        }
        tenants.push(SeededTenant {
            id: tenant.id.0,
            conversations: size,
            seed: options.seed.wrapping_add(n as u64),
            channels,
            first_customer_id: 0,
            first_conversation_id: 0,
            first_message_id: 0,
        });
    }
    store.close().await;

    let mut report = SeedReport {
        backend: backend.to_string(),
        base_time,
        messages_per_conversation: options.messages_per_conversation,
        user_id: user.id.0,
        token,
        tenants,
        rows: RowCounts::default(),
        seconds: 0.0,
    };
    match backend {
        "sqlite" => bulk_sqlite(&options.database_url, &mut report).await?,
        _ => bulk_postgres(&options.database_url, &mut report).await?,
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Row ids and counters while writing one tenant.
struct Cursor {
    tenant: TenantId,
    channels: Vec<ChannelRef>,
    user: UserId,
    customer_id: i64,
    conversation_id: i64,
    message_id: i64,
    per_type: [i64; 4],
    dialect: switchboard_store::plan::Dialect,
}

impl Cursor {
    fn count(&mut self, t: ChannelType) {
        let k = ChannelType::ALL.iter().position(|x| *x == t).unwrap_or(0);
        self.per_type[k] += 1;
    }
}

/// One row's values, in the order of the table's column list.
enum Value {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
    Bool(bool),
    Null,
}

const CUSTOMER_COLUMNS: &str =
    "id, tenant_id, first_name, last_name, phone_number, default_channel_id, search_key, created_at, updated_at";
const CONVERSATION_COLUMNS: &str = "id, tenant_id, channel_id, channel_type, customer_id, address, search_key, search_digits, \
     last_message_id, last_message_preview, last_message_at, last_message_type, last_message_is_customer, \
     unread_count, activity_at, created_at, updated_at";
const MESSAGE_COLUMNS: &str =
    "id, tenant_id, conversation_id, user_id, user_name, is_customer, message_type, body, \
     status, external_id, read_at, created_at, updated_at";

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// The rows of one batch: customers, conversations, messages.
#[derive(Default)]
struct Batch {
    customers: Vec<Vec<Value>>,
    conversations: Vec<Vec<Value>>,
    messages: Vec<Vec<Value>>,
}

impl Batch {
    fn add(&mut self, cursor: &mut Cursor, c: &Conversation) {
        let tenant = cursor.tenant.0;
        let channel_id = cursor.channels[c.channel].id;
        let customer_id = cursor.customer_id;
        let conversation_id = cursor.conversation_id;
        cursor.customer_id += 1;
        cursor.conversation_id += 1;
        cursor.count(c.channel_type);
        self.customers.push(vec![
            Value::Int(customer_id),
            Value::Int(tenant),
            opt_text(c.first_name),
            opt_text(c.last_name),
            opt_text(c.phone.as_deref()),
            Value::Int(channel_id),
            Value::Text(c.customer_search_key()),
            Value::Time(c.created_at),
            Value::Time(c.created_at),
        ]);
        let mut last_message_id = None;
        for m in &c.messages {
            let id = cursor.message_id;
            cursor.message_id += 1;
            last_message_id = Some(id);
            self.messages.push(vec![
                Value::Int(id),
                Value::Int(tenant),
                Value::Int(conversation_id),
                if m.is_customer {
                    Value::Null
                } else {
                    Value::Int(cursor.user.0)
                },
                if m.is_customer {
                    Value::Null
                } else {
                    text("Bench Agent")
                },
                Value::Bool(m.is_customer),
                text("text"),
                Value::Text(m.body.clone()),
                opt_text(m.status),
                opt_text(m.external_id.as_deref()),
                if m.read {
                    Value::Time(m.at)
                } else {
                    Value::Null
                },
                Value::Time(m.at),
                Value::Time(m.at),
            ]);
        }
        let last = c.messages.last();
        self.conversations.push(vec![
            Value::Int(conversation_id),
            Value::Int(tenant),
            Value::Int(channel_id),
            text(c.channel_type.as_str()),
            Value::Int(customer_id),
            Value::Text(c.address.clone()),
            Value::Text(c.search_key()),
            switchboard_store::plan::stored_search_digits(cursor.dialect, &c.search_key())
                .map_or(Value::Null, Value::Text),
            last_message_id.map_or(Value::Null, Value::Int),
            opt_text(last.map(|m| m.body.as_str())),
            last.map_or(Value::Null, |m| Value::Time(m.at)),
            if last.is_some() {
                text("text")
            } else {
                Value::Null
            },
            last.map_or(Value::Null, |m| Value::Bool(m.is_customer)),
            Value::Int(c.unread_count()),
            Value::Time(c.activity_at()),
            Value::Time(c.created_at),
            Value::Time(c.activity_at()),
        ]);
    }

    fn len(&self) -> usize {
        self.conversations.len()
    }
}

// ---- SQLite ------------------------------------------------------------------------

async fn bulk_sqlite(url: &str, report: &mut SeedReport) -> Result<(), BoxError> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .pragma("cache_size", "-1000000");
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let mut tx = conn.begin().await?;
    let mut rows = RowCounts::default();
    for t in 0..report.tenants.len() {
        let mut cursor = sqlite_cursor(&mut tx, report, t).await?;
        let spec = report.tenants[t].spec(report);
        let mut batch = Batch::default();
        for c in Generator::new(spec) {
            batch.add(&mut cursor, &c);
            if batch.len() >= BATCH {
                write_sqlite_batch(&mut tx, std::mem::take(&mut batch), &mut rows).await?;
            }
        }
        write_sqlite_batch(&mut tx, batch, &mut rows).await?;
        for (k, n) in cursor.per_type.iter().enumerate().filter(|(_, n)| **n > 0) {
            sqlx::query(
                "INSERT INTO conversation_counts (tenant_id, channel_type, slot, n) VALUES ($1, $2, 0, $3) \
                 ON CONFLICT (tenant_id, channel_type, slot) DO UPDATE SET n = conversation_counts.n + excluded.n",
            )
            .bind(cursor.tenant.0)
            .bind(ChannelType::ALL[k].as_str())
            .bind(n)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    // Fold the WAL into the database file, as a server's clean shutdown would.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    report.rows = rows;
    Ok(())
}

async fn sqlite_cursor(
    conn: &mut SqliteConnection,
    report: &mut SeedReport,
    t: usize,
) -> Result<Cursor, BoxError> {
    let mut ids = [0i64; 3];
    for (k, table) in ["customers", "conversations", "messages"]
        .iter()
        .enumerate()
    {
        ids[k] =
            sqlx::query_scalar::<_, i64>(&format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}"))
                .fetch_one(&mut *conn)
                .await?;
    }
    let [customer_id, conversation_id, message_id] = ids;
    let tenant = &mut report.tenants[t];
    tenant.first_customer_id = customer_id;
    tenant.first_conversation_id = conversation_id;
    tenant.first_message_id = message_id;
    Ok(Cursor {
        tenant: TenantId(tenant.id),
        channels: tenant.channel_refs()?,
        user: UserId(report.user_id),
        customer_id,
        conversation_id,
        message_id,
        per_type: [0; 4],
        dialect: switchboard_store::plan::Dialect::Sqlite,
    })
}

async fn write_sqlite_batch(
    conn: &mut SqliteConnection,
    batch: Batch,
    rows: &mut RowCounts,
) -> Result<(), BoxError> {
    rows.customers += batch.customers.len() as u64;
    rows.conversations += batch.conversations.len() as u64;
    rows.messages += batch.messages.len() as u64;
    insert_sqlite(conn, "customers", CUSTOMER_COLUMNS, batch.customers).await?;
    insert_sqlite(
        conn,
        "conversations",
        CONVERSATION_COLUMNS,
        batch.conversations,
    )
    .await?;
    // The conversations' search entries wait for their batch's end, as the store's
    // own writes do (migration 0013): one FTS5 segment per seeding batch.
    sqlx::query(switchboard_store::plan::SQLITE_INDEX_PENDING_SEARCH)
        .execute(&mut *conn)
        .await?;
    insert_sqlite(conn, "messages", MESSAGE_COLUMNS, batch.messages).await?;
    Ok(())
}

/// Multi-row INSERTs of as many rows as SQLite's parameter limit allows; full chunks
/// share one prepared statement.
async fn insert_sqlite(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &str,
    rows: Vec<Vec<Value>>,
) -> Result<(), BoxError> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    let per_statement = SQLITE_MAX_PARAMS / width;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        let tuple = format!("({})", vec!["?"; width].join(", "));
        let sql = format!(
            "INSERT INTO {table} ({columns}) VALUES {}",
            vec![tuple.as_str(); chunk.len()].join(", ")
        );
        let mut query = sqlx::query(&sql);
        for value in chunk.into_iter().flatten() {
            query = match value {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::Time(v) => query.bind(v),
                Value::Bool(v) => query.bind(v),
                Value::Null => query.bind(None::<String>),
            };
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

// ---- PostgreSQL --------------------------------------------------------------------

async fn bulk_postgres(url: &str, report: &mut SeedReport) -> Result<(), BoxError> {
    let mut conn = PgConnection::connect(url).await?;
    // Index builds during COPY go faster with room to sort in.
    sqlx::query("SET maintenance_work_mem = '512MB'")
        .execute(&mut conn)
        .await?;
    let mut tx = conn.begin().await?;
    let mut rows = RowCounts::default();
    for t in 0..report.tenants.len() {
        let mut cursor = pg_cursor(&mut tx, report, t).await?;
        let spec = report.tenants[t].spec(report);
        let mut batch = Batch::default();
        for c in Generator::new(spec) {
            batch.add(&mut cursor, &c);
            if batch.len() >= BATCH {
                write_pg_batch(&mut tx, std::mem::take(&mut batch), &mut rows).await?;
            }
        }
        write_pg_batch(&mut tx, batch, &mut rows).await?;
        for (k, n) in cursor.per_type.iter().enumerate().filter(|(_, n)| **n > 0) {
            sqlx::query(
                "INSERT INTO conversation_counts (tenant_id, channel_type, slot, n) VALUES ($1, $2, 0, $3) \
                 ON CONFLICT (tenant_id, channel_type, slot) DO UPDATE SET n = conversation_counts.n + excluded.n",
            )
            .bind(cursor.tenant.0)
            .bind(ChannelType::ALL[k].as_str())
            .bind(n)
            .execute(&mut *tx)
            .await?;
        }
    }
    // Explicit ids were written: move the identity sequences past them.
    for table in ["customers", "conversations", "messages"] {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // What autovacuum would do to tables at rest: planner statistics and the
    // visibility map (for index-only scans), for every table the requests read.
    sqlx::query("VACUUM (ANALYZE)").execute(&mut conn).await?;
    // The load and the vacuum leave a checkpoint due, which PostgreSQL spreads over
    // the next minutes (`checkpoint_completion_target`), under the first scenarios.
    // Take it now. (It was not what made be84aa6's first PostgreSQL scenarios slow:
    // BENCHMARKS.md, "Results".) It needs the pg_checkpoint role (or a superuser);
    // without it the run goes on as before.
    if let Err(e) = sqlx::query("CHECKPOINT").execute(&mut conn).await {
        eprintln!(
            "seed: no checkpoint after seeding ({e}); the first scenarios may run beside one"
        );
    }
    conn.close().await?;
    report.rows = rows;
    Ok(())
}

async fn pg_cursor(
    conn: &mut PgConnection,
    report: &mut SeedReport,
    t: usize,
) -> Result<Cursor, BoxError> {
    let mut ids = [0i64; 3];
    for (k, table) in ["customers", "conversations", "messages"]
        .iter()
        .enumerate()
    {
        // Past both the stored rows and the identity sequence (rows made by the Store).
        ids[k] = sqlx::query_scalar::<_, i64>(&format!(
            "SELECT GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), \
             (SELECT last_value FROM {seq})) + 1",
            seq = sequence_name(table)
        ))
        .fetch_one(&mut *conn)
        .await?;
    }
    let tenant = &mut report.tenants[t];
    tenant.first_customer_id = ids[0];
    tenant.first_conversation_id = ids[1];
    tenant.first_message_id = ids[2];
    Ok(Cursor {
        tenant: TenantId(tenant.id),
        channels: tenant.channel_refs()?,
        user: UserId(report.user_id),
        customer_id: ids[0],
        conversation_id: ids[1],
        message_id: ids[2],
        per_type: [0; 4],
        dialect: switchboard_store::plan::Dialect::Postgres,
    })
}

fn sequence_name(table: &str) -> String {
    format!("{table}_id_seq")
}

async fn write_pg_batch(
    conn: &mut PgConnection,
    batch: Batch,
    rows: &mut RowCounts,
) -> Result<(), BoxError> {
    rows.customers += batch.customers.len() as u64;
    rows.conversations += batch.conversations.len() as u64;
    rows.messages += batch.messages.len() as u64;
    copy_pg(conn, "customers", CUSTOMER_COLUMNS, &batch.customers).await?;
    copy_pg(
        conn,
        "conversations",
        CONVERSATION_COLUMNS,
        &batch.conversations,
    )
    .await?;
    copy_pg(conn, "messages", MESSAGE_COLUMNS, &batch.messages).await?;
    Ok(())
}

async fn copy_pg(
    conn: &mut PgConnection,
    table: &str,
    columns: &str,
    rows: &[Vec<Value>],
) -> Result<(), BoxError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut data = String::with_capacity(rows.len() * 160);
    for row in rows {
        for (k, value) in row.iter().enumerate() {
            if k > 0 {
                data.push('\t');
            }
            match value {
                Value::Int(v) => data.push_str(&v.to_string()),
                Value::Text(v) => push_copy_text(&mut data, v),
                Value::Time(v) => data.push_str(&v.to_rfc3339_opts(SecondsFormat::Secs, true)),
                Value::Bool(v) => data.push(if *v { 't' } else { 'f' }),
                Value::Null => data.push_str("\\N"),
            }
        }
        data.push('\n');
    }
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
        .await?;
    copy.send(data.as_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// COPY's text format: backslash escapes for the characters it gives meaning to.
fn push_copy_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}
