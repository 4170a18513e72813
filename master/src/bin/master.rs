//! `master`: the cluster master (docs/master.md); the program is [`master::cli`].
fn main() -> std::process::ExitCode {
    master::cli::main()
}
