//! The single `aerostic` binary; everything lives in `aerostic-launcher`.

// glibc's allocator serialises our many small JSON allocations on its arena
// locks under load; mimalloc's per-thread heaps do not (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aerostic_launcher::main()
}
