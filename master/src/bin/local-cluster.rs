//! `local-cluster`: a master, tablet servers and a gateway on this machine, as separate
//! processes; the program is [`master::launcher`].

/// mimalloc rather than glibc malloc: under load, glibc's malloc/free/consolidate took
/// about 14% of a tablet server's and the driver's CPU (BENCHMARKS.md, "Cluster").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    master::launcher::main()
}
