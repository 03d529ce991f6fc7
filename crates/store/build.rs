//! Marks the build with `pg_tests` when TEST_POSTGRES_URL is set, so that the
//! PostgreSQL variants of the store tests run; otherwise they are reported as ignored,
//! with the reason, in `cargo test` output. And rebuilds the store when a migration is
//! added: `sqlx::migrate!` tracks the files it read, not the directory, so a binary
//! built before a new migration file would otherwise go on without it.
fn main() {
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo::rerun-if-env-changed=TEST_POSTGRES_URL");
    if std::env::var("TEST_POSTGRES_URL").is_ok_and(|v| !v.trim().is_empty()) {
        println!("cargo::rustc-cfg=pg_tests");
    }
}
