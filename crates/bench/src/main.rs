//! `switchboard-bench`: seeds a database for the benchmark, checks a running server's
//! answers on it, and replays the server's SQL directly (the raw-SQL limit).
//! `scripts/bench.sh` drives it; see BENCHMARKS.md.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;
use switchboard_bench::{check, raw, seed};

#[derive(Parser)]
#[command(name = "switchboard-bench", about = "Switchboard benchmark tooling")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fill a database (created and migrated if needed) with one big tenant and
    /// several small ones; prints the seed report (JSON) and writes it to --out.
    Seed {
        #[arg(long)]
        database_url: String,
        /// Conversations of the big tenant.
        #[arg(long, default_value_t = 1_000_000)]
        conversations: usize,
        #[arg(long, default_value_t = 4)]
        small_tenants: usize,
        /// Tenants in all: the big one and T-1 small ones (instead of --small-tenants).
        #[arg(long, conflicts_with = "small_tenants", value_parser = clap::value_parser!(u32).range(1..))]
        tenants: Option<u32>,
        #[arg(long, default_value_t = 2_000)]
        small_conversations: usize,
        /// Average messages per conversation (each gets 1 to 2M-1).
        #[arg(long, default_value_t = 3)]
        messages_per_conversation: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Check a running server's answers on the seeded data; prints the scenario
    /// parameters (JSON) when every check passes.
    Check {
        #[arg(long)]
        report: std::path::PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[arg(long, default_value = check::DEFAULT_NAME_SEARCH)]
        name_search: String,
    },
    /// Replay one list request's SQL directly against the database (rusqlite threads
    /// for SQLite, pgbench for PostgreSQL); prints throughput and latency (JSON).
    Raw {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        report: std::path::PathBuf,
        /// L3: filter by this channel type.
        #[arg(long)]
        channel_type: Option<String>,
        /// L4: search for this.
        #[arg(long)]
        search: Option<String>,
        /// L2: this page (of 15) instead of the first.
        #[arg(long, default_value_t = 1)]
        page: i64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 3)]
        warmup_seconds: u64,
    },
    /// Print customer names as the seeder draws them ("first<TAB>last" per line, either
    /// may be empty), for the soak's new conversations to look like the seeded ones.
    Names {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Another seed than the seeder's, so the names are not the seed's customers.
        #[arg(long, default_value_t = 2)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    switchboard_bench::run_main("switchboard-bench", async {
        run(cli.command).await.map(Some)
    })
}

async fn run(command: Command) -> Result<String, seed::BoxError> {
    match command {
        Command::Seed {
            database_url,
            conversations,
            small_tenants,
            tenants,
            small_conversations,
            messages_per_conversation,
            seed: seed_value,
            out,
        } => {
            let report = seed::seed(&seed::SeedOptions {
                database_url,
                conversations,
                small_tenants: tenants.map_or(small_tenants, |t| t as usize - 1),
                small_conversations,
                messages_per_conversation,
                seed: seed_value,
            })
            .await?;
            let json = serde_json::to_string_pretty(&report)?;
            if let Some(out) = out {
                std::fs::write(out, &json)?;
            }
            Ok(json)
        }
        Command::Names { count, seed } => Ok(switchboard_bench::data::customer_names(count, seed)
            .into_iter()
            .map(|(first, last)| format!("{}\t{}", first.unwrap_or(""), last.unwrap_or("")))
            .collect::<Vec<_>>()
            .join("\n")),
        Command::Check {
            report,
            url,
            name_search,
        } => {
            let report = seed::SeedReport::read(&report)?;
            let params = check::check(&report, &url, &name_search).await?;
            Ok(serde_json::to_string_pretty(&params)?)
        }
        Command::Raw {
            database_url,
            report,
            channel_type,
            search,
            page,
            concurrency,
            seconds,
            warmup_seconds,
        } => {
            let report = seed::SeedReport::read(&report)?;
            let mut request = raw::RawRequest::of_big_tenant(
                &report,
                channel_type.as_deref(),
                search.as_deref(),
            )?;
            if page < 1 {
                return Err("--page starts at 1".into());
            }
            request.page.page = page;
            let warmup = Duration::from_secs(warmup_seconds);
            let duration = Duration::from_secs(seconds);
            let result = if let Some(path) = raw::sqlite_path(&database_url) {
                tokio::task::spawn_blocking(move || {
                    raw::run_sqlite(&path, &request, concurrency, warmup, duration)
                })
                .await??
            } else {
                raw::run_pgbench(&database_url, &request, concurrency, warmup, duration).await?
            };
            Ok(serde_json::to_string(&result)?)
        }
    }
}
