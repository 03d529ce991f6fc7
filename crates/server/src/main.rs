/// mimalloc instead of the system allocator: under load glibc's malloc spent about a
/// sixth of the server's time (arena consolidation across the SQLite worker threads),
/// measured with `perf` on the list benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    without_transparent_huge_pages();
    switchboard::cli::main()
}

/// mimalloc asks the kernel for transparent huge pages on its heap (`MADV_HUGEPAGE`),
/// and a huge page stays resident whole, 2 MiB, while any part of it is in use; the
/// kernel's khugepaged even joins mostly empty ranges back into huge pages. After the
/// 10-minute SQLite soak 48 MB of the idle server's 79 MB were huge pages that
/// mimalloc's own count put at a fraction of that (BENCHMARKS.md, "Soak"). The
/// server's heap is small enough that the TLB reach huge pages buy does not matter.
/// Only allocations before this call (the runtime's first few) can be in a huge page.
fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes integers only and touches no memory of ours;
        // on a kernel without it the call fails and nothing changes.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}
