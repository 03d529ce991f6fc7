//! Test harness: each test gets its own database (a fresh SQLite file, or a fresh
//! PostgreSQL database created from TEST_POSTGRES_URL and dropped afterwards) and a
//! real server on 127.0.0.1:0, spoken to over HTTP.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use reqwest::{Client, RequestBuilder};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use switchboard::app::{self, AppState};
use switchboard::bootstrap::issue_personal_token;
use switchboard::config::Config;
use switchboard_core::*;
use switchboard_store::test_support::{test_postgres_url, PgTestDatabase};
use switchboard_store::{Database, StoreOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(app: TestApp)` once per backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(pg_tests), ignore = "TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")]
                async fn $name() {
                    super::$name($crate::common::TestApp::spawn($crate::common::Backend::Postgres).await).await
                }
            )*
        }
    };
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc)
}

/// A fresh, empty database for one test; removed when dropped.
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgTestDatabase>,
}

/// Numbers the e-mail addresses of `TestApp::member`.
static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
                TestDatabase {
                    backend,
                    url,
                    _dir: Some(dir),
                    _pg: None,
                }
            }
            Backend::Postgres => {
                let admin = test_postgres_url()
                    .expect("TEST_POSTGRES_URL must be set to run the PostgreSQL tests");
                let pg = PgTestDatabase::create(&admin, "sbtest").await;
                TestDatabase {
                    backend,
                    url: pg.url().to_string(),
                    _dir: None,
                    _pg: Some(pg),
                }
            }
        }
    }

    /// Runs one raw SQL statement against the test database (for fixtures that the
    /// API cannot make yet).
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query(sql).execute(&mut conn).await.expect("execute");
            }
            Backend::Postgres => {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query(sql).execute(&mut conn).await.expect("execute");
            }
        }
    }

    /// Runs a query returning one integer.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("scalar")
            }
            Backend::Postgres => {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("scalar")
            }
        }
    }
}

/// A tenant member with a token.
#[derive(Debug, Clone)]
pub struct Member {
    pub tenant: i64,
    pub user: i64,
    pub token: String,
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub db: TestDatabase,
    pub config: Config,
    pub state: AppState,
    _files: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDatabase::new(backend).await;
        let files = tempfile::tempdir().expect("files dir");
        let mut config = Config {
            listen: "127.0.0.1:0".to_string(),
            database_url: db.url.clone(),
            rate_limit_per_minute: 0,
            files_dir: files.path().to_path_buf(),
            // Tests sweep the files directory themselves, on their own clock.
            file_sweep_interval: None,
            ..Config::default()
        };
        configure(&mut config);
        let opened = Database::connect(
            &config.database_url,
            &StoreOptions {
                max_connections: 8,
                ..StoreOptions::default()
            },
        )
        .await
        .expect("open database");
        opened.migrate().await.expect("migrate");
        let store = opened.into_store();
        let clock = Arc::new(ManualClock::new(start_time()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = AppState::new(store.clone(), clock.clone(), config.clone())
            .await
            .expect("state");
        tokio::spawn(app::serve(listener, state.clone(), std::future::pending()));
        TestApp {
            base: format!("http://{addr}"),
            client: Client::new(),
            store,
            clock,
            db,
            config,
            state,
            _files: files,
        }
    }

    /// Makes `change` in the store directly, as another process would make it (a
    /// revocation, a membership or channel change), and waits until the server's
    /// revocation watcher has dropped its cache (within about a second). The cache's
    /// generation is read before the change: read after it, the watcher's clearing
    /// could already have happened and the wait would never end.
    pub async fn change_made_elsewhere<T>(
        &self,
        change: impl std::future::Future<Output = T>,
    ) -> T {
        let before = self.state.token_cache.generation();
        let changed = change.await;
        for _ in 0..100 {
            if self.state.token_cache.generation() != before {
                return changed;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the server did not notice a change made in the store within 5 s");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A new tenant with an owner holding a `read write` token.
    pub async fn member(&self, tenant_name: &str) -> Member {
        let now = self.clock.now();
        let tenant = self
            .store
            .create_tenant(tenant_name, now)
            .await
            .expect("tenant");
        self.join(
            tenant.id.0,
            &format!(
                "owner{}@{}.test",
                COUNTER.fetch_add(1, Ordering::SeqCst),
                tenant.id
            ),
            &["read", "write"],
        )
        .await
    }

    /// A new user in `tenant` with a token of `scopes`.
    pub async fn join(&self, tenant: i64, email: &str, scopes: &[&str]) -> Member {
        let now = self.clock.now();
        let user = self
            .store
            .create_user(
                NewUser {
                    email: email.to_string(),
                    name: format!("User {email}"),
                    password_hash: "x".into(),
                },
                now,
            )
            .await
            .expect("user");
        self.store
            .put_membership(TenantId(tenant), user.id, Role::Owner, now)
            .await
            .expect("membership");
        let token = self.token(user.id.0, scopes, Some(30 * 24 * 3600)).await;
        Member {
            tenant,
            user: user.id.0,
            token,
        }
    }

    pub async fn token(&self, user: i64, scopes: &[&str], lifetime_secs: Option<i64>) -> String {
        let (token, _) = issue_personal_token(
            self.store.as_ref(),
            self.clock.as_ref(),
            UserId(user),
            "test",
            scopes.iter().map(|s| s.to_string()).collect(),
            lifetime_secs,
        )
        .await
        .expect("token");
        token
    }

    pub async fn channel(&self, tenant: i64, channel_type: ChannelType, name: &str) -> i64 {
        self.store
            .create_channel(
                TenantId(tenant),
                NewChannel {
                    channel_type,
                    name: name.to_string(),
                    address: format!("{name}-address"),
                    inbound_secret_hash: "0".repeat(64),
                },
                self.clock.now(),
            )
            .await
            .expect("channel")
            .id
    }

    pub fn get(&self, m: &Member, path: &str) -> RequestBuilder {
        self.client
            .get(self.url(path))
            .bearer_auth(&m.token)
            .header("X-Tenant", m.tenant.to_string())
    }

    pub fn post(&self, m: &Member, path: &str, body: &Value) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(&m.token)
            .header("X-Tenant", m.tenant.to_string())
            .json(body)
    }

    /// POST /api/v1/conversations; returns status and body.
    pub async fn create_conversation(&self, m: &Member, body: Value) -> (u16, Value) {
        let response = self
            .post(m, "/api/v1/conversations", &body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }

    /// GET /api/v1/conversations?query; the response must be 200.
    pub async fn list(&self, m: &Member, query: &str) -> Value {
        let response = self
            .get(m, &format!("/api/v1/conversations?{query}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "list {query}");
        response.json().await.expect("json body")
    }

    /// Appends a message through the store, at the clock's current time.
    pub async fn message(
        &self,
        m: &Member,
        conversation: i64,
        is_customer: bool,
        text: &str,
    ) -> i64 {
        self.store
            .add_message(
                TenantId(m.tenant),
                conversation,
                NewMessage {
                    user_id: (!is_customer).then_some(UserId(m.user)),
                    user_name: (!is_customer).then(|| "Agent".to_string()),
                    is_customer,
                    message_type: "text".into(),
                    body: Some(text.to_string()),
                    external_id: None,
                    status: None,
                    sent_at: self.clock.now(),
                },
            )
            .await
            .expect("message")
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(chrono::Duration::seconds(seconds));
    }
}

/// The ids of a list response's `data`, in order.
pub fn ids(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|c| c["id"].as_i64().expect("id"))
        .collect()
}
