//! For tests only (the store's own and the server's; feature `test-support`): a
//! PostgreSQL database made for one test on `TEST_POSTGRES_URL`'s server, dropped
//! (WITH FORCE) when its guard drops, also while a failing test unwinds, so no test
//! leaves a database behind.

use sqlx::Connection;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable naming the PostgreSQL server the tests may create databases on.
pub const TEST_POSTGRES_URL: &str = "TEST_POSTGRES_URL";

/// The server to create test databases on, if one is configured.
pub fn test_postgres_url() -> Option<String> {
    std::env::var(TEST_POSTGRES_URL)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// A database of its own for one test; dropped with the guard.
pub struct PgTestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgTestDatabase {
    /// Creates `{prefix}_{process}_{n}` on the server at `admin` (a stale one of the
    /// same name, left by a killed run, is dropped first). Panics when it cannot:
    /// this is test code, and the test cannot run without it.
    pub async fn create(admin: &str, prefix: &str) -> PgTestDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .unwrap_or_else(|e| panic!("connect to {TEST_POSTGRES_URL}: {e}"));
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            if let Err(e) = sqlx::query(&sql).execute(&mut conn).await {
                panic!("{sql}: {e}");
            }
        }
        let _ = conn.close().await;
        PgTestDatabase {
            admin: admin.to_string(),
            url: with_database(admin, &name),
            name,
        }
    }

    /// The URL of the test's database (the server's URL with its path replaced).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // The test's runtime may be gone or busy unwinding: a thread with its own.
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&sql)
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok(())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

/// `admin` with its database path replaced by `name` (query string kept).
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_replaces_the_path_and_keeps_the_query() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
