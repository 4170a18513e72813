//! `tablet-server`: serves tablets over gRPC (docs/rpc.md), under a master or alone; the
//! program is [`tablet::server::cli`].
fn main() -> std::process::ExitCode {
    tablet::server::cli::main()
}
