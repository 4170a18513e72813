//! A progress bar on stderr, only when stderr is a terminal (so logs and pipes stay clean).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// How many ops a thread does between two progress updates.
pub const TICK: u64 = 1024;

/// A progress bar over `total` ops, or nothing when stderr is not a terminal. Cheap to
/// clone and to share between threads.
#[derive(Debug, Clone)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for benchmark `name` doing `total` ops.
    pub fn new(name: &str, total: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:<12} [{bar:30}] {human_pos}/{human_len} ops, eta {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(name.to_string());
        Progress(Some(bar))
    }

    /// No bar at all.
    pub fn hidden() -> Progress {
        Progress(None)
    }

    /// Adds `n` finished ops.
    #[inline]
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
