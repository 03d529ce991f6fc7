//! The store tests' harness: one fresh database per test, on each backend.
//!
//! Every test runs against a fresh SQLite file and, when `TEST_POSTGRES_URL` names a
//! PostgreSQL server (for example `postgres://postgres@127.0.0.1:5432/postgres`),
//! against a fresh PostgreSQL database created for the test and dropped afterwards,
//! even when the test fails. Without the variable the PostgreSQL variants are
//! reported as ignored (see build.rs).

// Each test file uses its own part of the harness.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use std::sync::Arc;
use switchboard_core::{ChannelType, NewChannel, NewConversation, Store, TenantId};
use switchboard_store::test_support::{test_postgres_url, PgTestDatabase};
use switchboard_store::{Database, StoreOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database and the store over it. Fields drop in order: the store
/// (its pools) first, then the SQLite directory or the PostgreSQL database.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgTestDatabase>,
}

impl TestDb {
    /// `None` for PostgreSQL when no server is configured (those tests are then
    /// compiled as ignored, see build.rs).
    pub async fn open(backend: Backend) -> Option<TestDb> {
        let (url, dir, pg) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temporary directory for SQLite");
                let url = format!("sqlite://{}", dir.path().join("store.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let admin = test_postgres_url()?;
                let guard = PgTestDatabase::create(&admin, "sbstore").await;
                (guard.url().to_string(), None, Some(guard))
            }
        };
        let database = Database::connect(&url, &StoreOptions::default())
            .await
            .expect("connect to the fresh test database");
        let applied = database
            .migrate()
            .await
            .expect("migrate the fresh test database");
        assert!(
            applied >= 1,
            "a fresh database must get the initial migration"
        );
        let store = database.into_store();
        let expected_backend = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        assert_eq!(store.backend(), expected_backend, "store backend");
        Some(TestDb {
            backend,
            url,
            store,
            _dir: dir,
            _pg: pg,
        })
    }
}

/// Runs `$body` with `$conn` a fresh connection of the test database's own backend
/// (`sqlx::SqliteConnection` or `sqlx::PgConnection`), for statements a test runs on
/// the database directly, around the store. `$what` names the statement in a failure.
#[macro_export]
macro_rules! on_raw_connection {
    ($db:expr, $what:expr, |$conn:ident| $body:expr) => {{
        use sqlx::Connection as _;
        match $db.backend {
            $crate::common::Backend::Sqlite => {
                let mut $conn = sqlx::SqliteConnection::connect(&$db.url)
                    .await
                    .expect("open a raw SQLite connection");
                let $conn = &mut $conn;
                $body
                    .await
                    .unwrap_or_else(|e| panic!("{} (SQLite): {e}", $what))
            }
            $crate::common::Backend::Postgres => {
                let mut $conn = sqlx::PgConnection::connect(&$db.url)
                    .await
                    .expect("open a raw PostgreSQL connection");
                let $conn = &mut $conn;
                $body
                    .await
                    .unwrap_or_else(|e| panic!("{} (PostgreSQL): {e}", $what))
            }
        }
    }};
}

impl TestDb {
    /// Rows of `(integer, integer, text)` selected by `sql` with two integer arguments.
    pub async fn conversation_keys(&self, sql: &str, a: i64, b: i64) -> Vec<(i64, i64, String)> {
        crate::on_raw_connection!(self, "select keys", |conn| sqlx::query_as(sql)
            .bind(a)
            .bind(b)
            .fetch_all(conn))
    }

    /// Moves a blacklist entry's `blocked_at`, bound as the store binds its instants.
    pub async fn set_blacklist_blocked_at(&self, id: i64, blocked_at: DateTime<Utc>) {
        let sql = "UPDATE channel_blacklists SET blocked_at = $1 WHERE id = $2";
        let updated = crate::on_raw_connection!(self, "update blocked_at", |conn| async {
            let done = sqlx::query(sql)
                .bind(blocked_at)
                .bind(id)
                .execute(conn)
                .await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        });
        assert_eq!(updated, 1, "blacklist entry {id} updated");
    }
}

/// Runs each `async fn name(db: TestDb)` once per backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::TestDb::open($crate::common::Backend::Sqlite)
                        .await
                        .expect("SQLite is always available");
                    $crate::$name(db).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(pg_tests), ignore = "TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")]
                async fn $name() {
                    let db = $crate::common::TestDb::open($crate::common::Backend::Postgres)
                        .await
                        .expect("TEST_POSTGRES_URL must be set to run the PostgreSQL tests");
                    $crate::$name(db).await
                }
            )*
        }
    };
}

/// A new Telegram channel of the tenant and a conversation on it with `address`, both
/// made at `when`; the conversation's id.
pub async fn conversation_on_a_new_channel(
    store: &dyn Store,
    tenant: TenantId,
    address: &str,
    when: DateTime<Utc>,
) -> i64 {
    let channel = store
        .create_channel(
            tenant,
            NewChannel {
                channel_type: ChannelType::Telegram,
                name: format!("bot {address}"),
                address: format!("bot_{address}"),
                inbound_secret_hash: format!("{:064x}", tenant.0),
            },
            when,
        )
        .await
        .expect("channel");
    store
        .create_conversation(
            tenant,
            NewConversation {
                channel_id: channel.id,
                address: address.into(),
                first_name: None,
                last_name: None,
            },
            when,
        )
        .await
        .expect("conversation")
        .value
        .id
}
