//! Progress on stderr for long work, and only when stderr is a terminal: scripts and pipes
//! see nothing. Work that streams its output (a scan, a log dump) shows a bar only when
//! stdout is not that terminal too, so the bar never garbles the lines it would share it with.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work on at least this many bytes counts as long.
pub const LONG_BYTES: u64 = 32 << 20;
/// A scan of at least this many entries counts as long.
pub const LONG_ENTRIES: u64 = 200_000;

fn visible(long: bool) -> bool {
    long && std::io::stderr().is_terminal()
}

/// Whether work that prints as it goes may show a bar (stdout is a file or a pipe).
pub fn streaming_allowed() -> bool {
    !std::io::stdout().is_terminal()
}

/// A bar of `len` units, drawn only if `long` and stderr is a terminal.
pub fn bar(len: u64, long: bool, what: &str) -> ProgressBar {
    if !visible(long) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(what.to_owned());
    pb
}

/// A bar counting bytes.
pub fn byte_bar(len: u64, long: bool, what: &str) -> ProgressBar {
    let pb = bar(len, long, what);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// A spinner for one long call that reports no progress of its own.
pub fn spinner(long: bool, what: &str) -> ProgressBar {
    if !visible(long) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_message(what.to_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}
