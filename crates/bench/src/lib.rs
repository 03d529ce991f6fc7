//! Benchmark tooling for Switchboard: realistic data (`data`), a bulk seeder (`seed`),
//! a checker of the server's answers on seeded data (`check`) and the raw-SQL driver
//! (`raw`), and the thinnest HTTP server around the raw driver's statement (`floor`).
//! The binaries `switchboard-bench` and `switchboard-floor` expose them;
//! `scripts/bench.sh` runs the whole benchmark.

pub mod check;
pub mod data;
pub mod floor;
pub mod raw;
pub mod seed;

/// A binary's `main`: runs `work` on a new tokio runtime; prints what it returns, or
/// its error on stderr after the program's name.
pub fn run_main<F>(program: &str, work: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<Option<String>, seed::BoxError>>,
{
    use std::process::ExitCode;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{program}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(output) => {
            if let Some(output) = output {
                println!("{output}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}
