//! The launcher's child processes: each is this same executable running one role, with
//! a pipe as stdin (closing it stops the child gracefully, see [`super::roles`]), stdout
//! read for the address the role prints when ready, and stderr appended to its log file.
//!
//! Each child's exit is awaited by a task of its own, which reports on one channel, so
//! the launcher can wait for "any child ended" and for "these children ended" alike.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

/// One child process.
#[derive(Debug)]
pub struct Child {
    /// Its name in messages and its log file's stem (`master`, `tablet-server-1`, ...).
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// Where its stderr (its log) goes.
    pub log: PathBuf,
    /// The address it printed when ready (none for a standby that is still waiting).
    pub address: Option<String>,
    /// The write end of its stdin; dropping it asks the child to stop.
    stdin: Option<ChildStdin>,
    /// Kills the child (SIGKILL) when sent.
    kill: Option<oneshot::Sender<()>>,
    /// How it ended, once it has.
    pub exit: Option<String>,
}

impl Child {
    /// True until its exit has been seen.
    pub fn running(&self) -> bool {
        self.exit.is_none()
    }
}

/// Every child the launcher started, in start order.
#[derive(Debug)]
pub struct Children {
    exe: PathBuf,
    /// The children; an index into this is a child's id.
    pub list: Vec<Child>,
    exits_tx: mpsc::UnboundedSender<(usize, String, bool)>,
    exits: mpsc::UnboundedReceiver<(usize, String, bool)>,
}

/// How a process ended, for people.
fn describe(status: &std::io::Result<ExitStatus>) -> (String, bool) {
    match status {
        Ok(s) if s.success() => ("exited with status 0".to_string(), true),
        Ok(s) => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(sig) = s.signal() {
                    let name = match sig {
                        9 => " (SIGKILL)",
                        15 => " (SIGTERM)",
                        2 => " (SIGINT)",
                        6 => " (SIGABRT)",
                        11 => " (SIGSEGV)",
                        _ => "",
                    };
                    return (format!("killed by signal {sig}{name}"), false);
                }
            }
            (format!("exited with {s}"), false)
        }
        Err(e) => (format!("could not be waited for: {e}"), false),
    }
}

/// The last `n` lines of `path`, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(n);
            lines.get(from..).unwrap_or_default().iter().map(|l| format!("    {l}\n")).collect()
        }
        Err(e) => format!("    (cannot read {}: {e})\n", path.display()),
    }
}

impl Children {
    /// No children yet; they will run `exe`.
    pub fn new(exe: PathBuf) -> Children {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        Children { exe, list: Vec::new(), exits_tx, exits }
    }

    /// Starts `exe role <role_args...> --stop-with-parent` as `name`, logging to `log`
    /// (appended). With `ready_within`, waits that long for the address line on stdout
    /// and fails (with the log's last lines) if the child ends or stays silent; without,
    /// returns at once (a standby master prints its address only when it takes over).
    pub async fn spawn(
        &mut self,
        name: &str,
        role_args: Vec<OsString>,
        log: &Path,
        ready_within: Option<Duration>,
    ) -> Result<usize, String> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        writeln!(file, "=== local-cluster: starting {name} (unix time {started}) ===")
            .map_err(|e| format!("cannot write the log {}: {e}", log.display()))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("role").args(&role_args).arg("--stop-with-parent");
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::from(file));
        // Its own process group: Ctrl-C in the terminal reaches the launcher only, which
        // then stops the children in order (servers before the master).
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {name} ({}): {e}", self.exe.display()))?;
        let pid = child.id().unwrap_or_default();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let (kill_tx, mut kill_rx) = oneshot::channel::<()>();
        let id = self.list.len();
        let exits = self.exits_tx.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                Ok(()) = &mut kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let (how, ok) = describe(&status);
            let _ = exits.send((id, how, ok));
        });
        self.list.push(Child {
            name: name.to_string(),
            pid,
            log: log.to_path_buf(),
            address: None,
            stdin,
            kill: Some(kill_tx),
            exit: None,
        });
        let Some(stdout) = stdout else { return Ok(id) };
        let mut lines = BufReader::new(stdout).lines();
        if let Some(within) = ready_within {
            let first = tokio::time::timeout(within, lines.next_line()).await;
            let address = match first {
                Ok(Ok(Some(line))) if !line.trim().is_empty() => line.trim().to_string(),
                Ok(_) => return Err(format!("{name} ended before it was ready; its log {}:\n{}", log.display(), tail(log, 15))),
                Err(_) => {
                    return Err(format!(
                        "{name} was not ready within {within:?} (is another cluster running on this root?); its log {}:\n{}",
                        log.display(),
                        tail(log, 15)
                    ))
                }
            };
            if let Some(c) = self.list.get_mut(id) {
                c.address = Some(address);
            }
        }
        // Anything more on stdout (a standby's address when it takes over) goes to the log.
        let log = log.to_path_buf();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut f) = OpenOptions::new().append(true).open(&log) {
                    let _ = writeln!(f, "(stdout) {line}");
                }
            }
        });
        Ok(id)
    }

    /// Waits for the next child to end: its id, how it ended, and whether that was a
    /// clean exit. `None` when no child is left running.
    pub async fn next_exit(&mut self) -> Option<(usize, String, bool)> {
        if !self.list.iter().any(Child::running) {
            return None;
        }
        let (id, how, ok) = self.exits.recv().await?;
        if let Some(c) = self.list.get_mut(id) {
            c.exit = Some(how.clone());
        }
        Some((id, how, ok))
    }

    /// Asks the children `ids` to stop (closes their stdin) and waits up to `grace` for
    /// them; kills whichever is still running then. Returns false if any of them did not
    /// end cleanly.
    pub async fn stop(&mut self, ids: &[usize], grace: Duration) -> bool {
        for &id in ids {
            if let Some(c) = self.list.get_mut(id) {
                c.stdin.take();
            }
        }
        let mut clean = true;
        let deadline = tokio::time::Instant::now() + grace;
        while ids.iter().any(|&id| self.list.get(id).is_some_and(Child::running)) {
            match tokio::time::timeout_at(deadline, self.next_exit()).await {
                Ok(Some((id, how, ok))) => {
                    if ids.contains(&id) && !ok {
                        clean = false;
                    }
                    if let Some(c) = self.list.get(id) {
                        println!("  {:<16} stopped: {how}", c.name);
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    for &id in ids {
                        if let Some(c) = self.list.get_mut(id).filter(|c| c.running()) {
                            println!("  {:<16} did not stop within {grace:?}; killing it", c.name);
                            if let Some(k) = c.kill.take() {
                                let _ = k.send(());
                            }
                        }
                    }
                    clean = false;
                    // The kills are certain to end them; wait without a deadline.
                    while ids.iter().any(|&id| self.list.get(id).is_some_and(Child::running)) {
                        if self.next_exit().await.is_none() {
                            break;
                        }
                    }
                }
            }
        }
        clean
    }

    /// Kills every child still running (SIGKILL), without waiting.
    pub fn kill_all(&mut self) {
        for c in self.list.iter_mut().filter(|c| c.running()) {
            if let Some(k) = c.kill.take() {
                let _ = k.send(());
            }
        }
    }
}
