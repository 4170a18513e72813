//! `local-cluster`: a master, tablet servers and a gateway on this machine, as separate
//! processes; the program is [`master::launcher`].

/// mimalloc rather than glibc malloc: under load, glibc's malloc/free/consolidate took
/// about 14% of a tablet server's and the driver's CPU (BENCHMARKS.md, "Cluster").
/// [`tablet::allocator::keep_freed_memory`] sets how long it keeps freed memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tablet::allocator::keep_freed_memory();
    master::launcher::main()
}
