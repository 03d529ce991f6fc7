//! How the bundled SQLite was compiled, checked when a SQLite store opens.
//!
//! `.cargo/config.toml` compiles it without its one page cache for the whole process
//! (`SQLITE_ENABLE_MEMORY_MANAGEMENT`) and without memory statistics: both take a
//! global mutex on every page fetch or allocation, where concurrent readers queued
//! (BENCHMARKS.md, "SQLite's global mutexes"). A build outside the source tree (a
//! `cargo install` from elsewhere, a vendored copy without `.cargo/`) does not read
//! that file and gets libsqlite3-sys's defaults: the server then says so at start.

/// What to do about any of `slow_build_options`.
pub(crate) const REMEDY: &str = "build Switchboard inside its source tree, whose \
     .cargo/config.toml sets LIBSQLITE3_FLAGS, or set LIBSQLITE3_FLAGS as it does";

/// What in the running SQLite's `PRAGMA compile_options` slows concurrent readers;
/// empty for the build the project makes. Read once per process (the options are the
/// linked library's): tests open many stores.
pub(crate) fn slow_build_options() -> &'static [&'static str] {
    static SLOW: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    SLOW.get_or_init(|| match compile_options() {
        Ok(options) => slow_options_among(&options),
        Err(e) => {
            tracing::warn!(error = %e, "could not read SQLite's compile options");
            Vec::new()
        }
    })
}

fn compile_options() -> rusqlite::Result<Vec<String>> {
    let conn = rusqlite::Connection::open_in_memory()?;
    let mut statement = conn.prepare("PRAGMA compile_options")?;
    let options = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect();
    options
}

fn slow_options_among(options: &[String]) -> Vec<&'static str> {
    let mut slow = Vec::new();
    if options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT") {
        slow.push(
            "SQLite was compiled with SQLITE_ENABLE_MEMORY_MANAGEMENT: every connection \
             shares one page cache behind one mutex, and concurrent reads queue on it",
        );
    }
    if !options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0") {
        slow.push(
            "SQLite was compiled with memory statistics on: every allocation takes a \
             global mutex",
        );
    }
    slow
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when `.cargo/config.toml`'s `LIBSQLITE3_FLAGS` did not reach the build
    /// (checked by building with `LIBSQLITE3_FLAGS=""`).
    #[test]
    fn sqlite_is_built_without_its_global_mutexes() {
        let options = compile_options().expect("PRAGMA compile_options");
        assert!(!options.is_empty(), "SQLite lists its compile options");
        assert!(slow_build_options().is_empty(), "{options:?}");
    }

    #[test]
    fn libsqlite3_sys_defaults_are_reported() {
        let options = |list: &[&str]| list.iter().map(|o| o.to_string()).collect::<Vec<_>>();
        let defaults = options(&["ENABLE_MEMORY_MANAGEMENT", "THREADSAFE=1"]);
        let reported = slow_options_among(&defaults);
        assert_eq!(reported.len(), 2, "{reported:?}");
        assert!(reported[0].contains("SQLITE_ENABLE_MEMORY_MANAGEMENT"));
        assert!(reported[1].contains("memory statistics"));
        let ours = options(&["DEFAULT_MEMSTATUS=0", "THREADSAFE=1"]);
        assert!(slow_options_among(&ours).is_empty());
    }
}
