//! PostgreSQL: one pool; substring search through a pg_trgm GIN index that starts
//! with tenant_id (btree_gin), and conversation counters spread over slots.

use crate::rows::SqlBuilder;
use crate::{OpenError, StoreOptions};
use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;
use switchboard_core::search::SearchPattern;
use switchboard_core::store::StoreResult;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Concurrent creates in one tenant update one of this many counter rows.
const COUNTER_SLOTS: i64 = 16;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";

    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, OpenError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .application_name("switchboard");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<usize, OpenError> {
        let before = applied(&self.pool).await;
        MIGRATOR.run(&self.pool).await?;
        Ok(applied(&self.pool).await.saturating_sub(before))
    }

    async fn close_pools(&self) {
        self.pool.close().await;
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(crate::rows::db_err)
    }

    fn counter_slot() -> i64 {
        rand::thread_rng().gen_range(0..COUNTER_SLOTS)
    }

    fn push_search_source(b: &mut SqlBuilder, _search: Option<&SearchPattern>) {
        b.push("conversations c");
    }

    fn push_search_condition(b: &mut SqlBuilder, pattern: &SearchPattern) {
        // LIKE on the folded key: served by the (tenant_id, search_key gin_trgm_ops) index.
        b.push(" AND c.search_key LIKE ")
            .arg(crate::rows::Arg::Text(pattern.like_pattern()))
            .push(" ESCAPE '\\'");
    }
}

async fn applied(pool: &PgPool) -> usize {
    sqlx::query_scalar::<Postgres, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}

impl_shared_store!(PgStore, sqlx::Postgres, sqlx::PgConnection);
impl_messaging_store!(PgStore, sqlx::Postgres, sqlx::PgConnection);
impl_auth_store!(PgStore, sqlx::Postgres, sqlx::PgConnection);
