//! `switchboard-floor`: the thinnest HTTP server around L1's statement
//! (`switchboard_bench::floor`), to measure what HTTP and JSON alone cost over the raw
//! driver. `scripts/bench.sh` runs it for the L1-floor scenarios; see BENCHMARKS.md.

use clap::Parser;
use std::process::ExitCode;
use switchboard_bench::floor::{self, FloorMode};
use switchboard_bench::{raw, seed};

/// The server's allocator, so the floor is not slower than the server for a reason
/// of its own.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchboard-floor",
    about = "The floor of an HTTP list request"
)]
struct Cli {
    /// The seeded database: sqlite://<path> or postgres://...
    #[arg(long)]
    database_url: String,
    /// The seed report (its first tenant is the big one).
    #[arg(long)]
    report: std::path::PathBuf,
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    #[arg(long, value_enum, default_value_t = FloorMode::Inline)]
    mode: FloorMode,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    switchboard_bench::run_main("switchboard-floor", async { run(cli).await.map(|()| None) })
}

async fn run(cli: Cli) -> Result<(), seed::BoxError> {
    let report = seed::SeedReport::read(&cli.report)?;
    let request = raw::RawRequest::of_big_tenant(&report, None, None)?;
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    // The address on stdout, for the script that started it.
    println!("{}", listener.local_addr()?);
    floor::serve(listener, &cli.database_url, request, cli.mode).await
}
