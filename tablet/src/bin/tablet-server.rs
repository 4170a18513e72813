//! `tablet-server`: serves tablets over gRPC (docs/rpc.md), under a master or alone; the
//! program is [`tablet::server::cli`].

/// mimalloc rather than glibc malloc: under load, glibc's malloc/free/consolidate took
/// about 14% of a tablet server's and the driver's CPU (BENCHMARKS.md, "Cluster").
/// [`tablet::allocator::keep_freed_memory`] sets how long it keeps freed memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tablet::allocator::keep_freed_memory();
    tablet::server::cli::main()
}
