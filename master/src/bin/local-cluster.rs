//! `local-cluster`: a master, tablet servers and a gateway on this machine, as separate
//! processes; the program is [`master::launcher`].
fn main() -> std::process::ExitCode {
    master::launcher::main()
}
