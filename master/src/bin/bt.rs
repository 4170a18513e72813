//! `bt`: the everyday verbs of Google's `cbt` for our cluster (`bt help`; README, "bt").

fn main() {
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(bad) => {
                eprintln!("bt: argument {bad:?} is not valid UTF-8 (write other bytes as \\xNN)");
                std::process::exit(2);
            }
        }
    }
    let env_master = std::env::var("BT_MASTER").ok();
    std::process::exit(master::bt::main(&args, env_master.as_deref()));
}
