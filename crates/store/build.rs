//! Marks the build with `pg_tests` when TEST_POSTGRES_URL is set, so that the
//! PostgreSQL variants of the store tests run; otherwise they are reported as ignored,
//! with the reason, in `cargo test` output.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo::rerun-if-env-changed=TEST_POSTGRES_URL");
    if std::env::var("TEST_POSTGRES_URL").is_ok_and(|v| !v.trim().is_empty()) {
        println!("cargo::rustc-cfg=pg_tests");
    }
}
