/// mimalloc instead of the system allocator: under load glibc's malloc spent about a
/// sixth of the server's time (arena consolidation across the SQLite worker threads),
/// measured with `perf` on the list benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    switchboard::cli::main()
}
