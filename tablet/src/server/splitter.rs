//! Automatic splits: a tablet that grows past its threshold (`--split-mb`) is split in the
//! background (docs/cluster.md, "Checkpoints and splits").
//!
//! Each write adds its size to the tablet's count of unchecked bytes ([`note_write`]). Once
//! that passes an eighth of the threshold (at most 1 MiB), a size check starts in its own
//! task, unless one is already running for the tablet: at most one check or split per
//! tablet at a time. Engine work runs on blocking threads, never on the executor's:
//!
//! 1. `Tablet::approximate_size` against the threshold; then a flush and
//!    `Tablet::split_point` (none: a single huge row, or too few blocks; not tried again
//!    until the tablet grew by another quarter of the threshold).
//! 2. `layout::prepare_split_dirs`: the children's ids and `e<epoch>` directories at the
//!    parent's epoch; `Tablet::split` into them (writes held for the checkpoint, then the
//!    parent refuses writes for good).
//! 3. The `SPLIT` marker (`layout::write_split_marker`). Should it fail, the children are
//!    closed unused and the parent's write gate is opened again: the parent serves on.
//! 4. The children are swapped into the served map in one step ([`TabletMap::swap_split`]);
//!    the parent takes no new request, finishes the ones in it and is closed.
//! 5. With a master, `MasterControl.ReportSplit`, retried until the master answers; a
//!    refusal is logged (the master learns of the split at the parent's next load anyway,
//!    from the marker).
//! 6. Each child is checked at once (a tablet far past the threshold, after a bulk load,
//!    splits again without waiting for more writes). Under a master, a child may split
//!    only once the master accepted its parent's split, so that reports arrive in order.
//!
//! A write that reaches the parent after its gate closed wrote nothing and got
//! `Error::NotServing`; the data service waits for step 4 and runs it again on the child
//! ([`super::Shared::on_row`]), so clients rarely see the split. Reads go on throughout:
//! the parent holds all of its data until it is closed.
//!
//! [`TabletMap::swap_split`]: super::tablets::TabletMap::swap_split

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Endpoint;
use tonic::Code;
use tracing::{debug, info, warn};

use super::tablets::{Child, HeldTablet};
use super::Shared;
use crate::error::{Error, Result};
use crate::gate::GateState;
use crate::keys::escape_for_display;
use crate::layout;
use crate::proto::bt::internal::v1::master_control_client::MasterControlClient;
use crate::proto::bt::internal::v1::ReportSplitRequest;
use crate::tablet::Tablet;

/// Most bytes written between two size checks of a tablet.
const MAX_CHECK_EVERY: u64 = 1 << 20;
/// First and longest pause between attempts to report a split to the master.
const REPORT_RETRY_FIRST: Duration = Duration::from_millis(100);
const REPORT_RETRY_MAX: Duration = Duration::from_secs(5);

/// A tablet's split bookkeeping. Atomics with `Relaxed` order except `busy`: they are
/// hints (when to check next), and `busy`'s acquire/release pairs one check's end with the
/// next one's start.
#[derive(Debug, Default)]
pub(crate) struct SplitProgress {
    /// A check or split of this tablet is running.
    busy: AtomicBool,
    /// Between `Tablet::split` and the swap (Status says `SPLITTING`).
    splitting: AtomicBool,
    /// Bytes written since the last check started.
    unchecked: AtomicU64,
    /// The size at the last check that found no split point (0: none).
    fruitless_at: AtomicU64,
    /// Not to be split yet: a split child whose parent's split the master has not
    /// accepted yet.
    held_back: AtomicBool,
}

impl SplitProgress {
    /// True between `Tablet::split` and the children's swap.
    pub(crate) fn is_splitting(&self) -> bool {
        self.splitting.load(Ordering::Relaxed)
    }

    /// Holds the tablet back from splitting (`true`) until [`SplitProgress::release`].
    pub(crate) fn hold_back(&self, held_back: bool) {
        self.held_back.store(held_back, Ordering::Relaxed);
    }

    /// Lets a held-back tablet split.
    fn release(&self) {
        self.held_back.store(false, Ordering::Relaxed);
    }
}

/// Counts `bytes` written to `held`; starts a size check in the background when enough
/// were written since the last one. Call from the runtime (it spawns).
pub(crate) fn note_write(shared: &Arc<Shared>, held: &Arc<HeldTablet>, bytes: u64) {
    let threshold = held.split_threshold;
    if threshold == 0 {
        return;
    }
    let every = (threshold / 8).clamp(1, MAX_CHECK_EVERY);
    let written = held.split.unchecked.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
    if written >= every {
        start_check(shared, held);
    }
}

/// Starts a size check of `held` in its own task, unless one is running or the tablet may
/// not split (now or ever).
fn start_check(shared: &Arc<Shared>, held: &Arc<HeldTablet>) {
    if held.split_threshold == 0 || held.split.held_back.load(Ordering::Relaxed) {
        return;
    }
    if held.split.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return;
    }
    held.split.unchecked.store(0, Ordering::Relaxed);
    tokio::spawn(run(shared.clone(), held.clone()));
}

/// What the blocking part of a split hands to the rest.
struct Done {
    report: ReportSplitRequest,
    left: Tablet,
    right: Tablet,
}

/// Checks `held` and splits it if it is past its threshold; see the module docs.
async fn run(shared: Arc<Shared>, held: Arc<HeldTablet>) {
    let (s, h) = (shared.clone(), held.clone());
    let planned = tokio::task::spawn_blocking(move || split_blocking(&s, &h))
        .await
        .unwrap_or_else(|e| Err(Error::invalid(format!("split task failed: {e}"))));
    let done = match planned {
        Ok(Some(done)) => done,
        Ok(None) => {
            held.split.busy.store(false, Ordering::Release);
            return;
        }
        Err(e) => {
            warn!(tablet = %held.name(), error = %e, "split failed; the tablet serves on unsplit");
            held.split.busy.store(false, Ordering::Release);
            return;
        }
    };
    let Done { report, left, right } = done;
    let master = shared.config.master.clone();
    let child = |desc: &Option<_>, tablet| Child {
        desc: desc.clone().unwrap_or_default(),
        tablet,
        split_threshold: held.split_threshold,
        held_back: master.is_some(),
    };
    let children = [child(&report.left, left), child(&report.right, right)];
    let served = match shared.tablets.swap_split(&held, children) {
        Ok(served) => {
            info!(
                tablet = %held.name(),
                left = %report.left.as_ref().map(|d| d.tablet_id.as_str()).unwrap_or_default(),
                right = %report.right.as_ref().map(|d| d.tablet_id.as_str()).unwrap_or_default(),
                split_row = %report.left.as_ref().map(|d| escape_for_display(&d.end_key)).unwrap_or_default(),
                "tablet split"
            );
            // In its own task: a long ReadRows stream on the parent delays neither the
            // report nor the children's checks.
            let (s, parent) = (shared.clone(), held.clone());
            tokio::spawn(async move {
                if let Err(e) = s.tablets.retire(parent.clone()).await {
                    warn!(tablet = %parent.name(), error = %e, "closing the split parent failed");
                }
            });
            Some(served)
        }
        Err(children) => {
            // An unload (or shutdown) took the parent meanwhile: the split is on disk (the
            // marker), so a later load of the parent answers with it; the children are
            // closed unused.
            info!(tablet = %held.name(), "the tablet was unloaded while it split; the children are not served");
            let closed = tokio::task::spawn_blocking(move || {
                children.iter().map(|c| c.tablet.close()).collect::<Result<Vec<()>>>()
            })
            .await;
            if let Ok(Err(e)) = closed {
                warn!(tablet = %held.name(), error = %e, "closing the unserved split children failed");
            }
            None
        }
    };
    let accepted = match &master {
        Some(master) => report_split(&shared, master, report).await,
        None => true,
    };
    if accepted {
        for child in served.iter().flatten() {
            child.split.release();
            start_check(&shared, child);
        }
    }
}

/// Steps 1 to 3 of the module docs, on a blocking thread. `None`: no split now.
fn split_blocking(shared: &Shared, held: &Arc<HeldTablet>) -> Result<Option<Done>> {
    if !shared.lease.is_valid() || held.split.held_back.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let Some(guard) = held.enter() else { return Ok(None) };
    let tablet = &guard.tablet;
    let threshold = held.split_threshold;
    let size = tablet.approximate_size()?;
    let fruitless_at = held.split.fruitless_at.load(Ordering::Relaxed);
    if size < threshold || (fruitless_at > 0 && size < fruitless_at.saturating_add(threshold / 4)) {
        return Ok(None);
    }
    // Samples come from table files only: flush first for the whole picture.
    tablet.db().flush()?;
    let Some(split_row) = tablet.split_point()? else {
        debug!(tablet = %held.name(), size, "past the split threshold, but no row to split at");
        held.split.fruitless_at.store(size.max(1), Ordering::Relaxed);
        return Ok(None);
    };
    let desc = &held.desc;
    let root = &shared.config.root;
    let fs = shared.tablet_options.engine.fs.clone();
    let dirs = layout::prepare_split_dirs(fs.as_ref(), root, &desc.table_id, &desc.tablet_id, desc.epoch)?;
    held.split.splitting.store(true, Ordering::Relaxed);
    let (left, right) = match tablet.split(&split_row, &dirs.left_dir, &dirs.right_dir) {
        Ok(children) => children,
        Err(e) => {
            held.split.splitting.store(false, Ordering::Relaxed);
            return Err(e);
        }
    };
    let server_id = shared.server_id.lock().clone();
    let report = layout::split_report(&server_id, desc, &split_row, &dirs.left_id, &dirs.right_id);
    if let Err(e) = layout::write_split_marker(fs.as_ref(), root, &report) {
        // Nothing was served from the children: drop them and let the parent go on.
        let _ = left.close();
        let _ = right.close();
        *tablet.db.hold_writes() = GateState::Open;
        held.split.splitting.store(false, Ordering::Relaxed);
        shared.tablets.notify_split_done();
        return Err(e);
    }
    Ok(Some(Done { report, left, right }))
}

/// Codes worth another try: the master is unreachable, busy or failing over.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Internal
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Cancelled
    )
}

/// Sends `report` to the master until it answers (or the server stops); true when the
/// master accepted it.
async fn report_split(shared: &Shared, master: &str, report: ReportSplitRequest) -> bool {
    let parent = report.parent.as_ref().map(|d| format!("{}/{}@{}", d.table_name, d.tablet_id, d.epoch));
    let parent = parent.unwrap_or_default();
    let uri = if master.contains("://") { master.to_string() } else { format!("http://{master}") };
    let endpoint = match Endpoint::from_shared(uri) {
        Ok(e) => e.connect_timeout(shared.config.renew_timeout),
        Err(e) => {
            warn!(master, error = %e, %parent, "bad master address; the split is not reported");
            return false;
        }
    };
    let mut client = MasterControlClient::new(endpoint.connect_lazy());
    let mut stop = shared.stop.subscribe();
    let mut pause = REPORT_RETRY_FIRST;
    loop {
        match tokio::time::timeout(shared.config.renew_timeout, client.report_split(report.clone())).await {
            Ok(Ok(resp)) if resp.get_ref().accepted => {
                info!(%parent, "split reported to the master");
                return true;
            }
            Ok(Ok(_)) => {
                warn!(%parent, "the master refused the split report");
                return false;
            }
            Ok(Err(status)) if !retryable(status.code()) => {
                warn!(%parent, code = ?status.code(), message = %status.message(), "the master refused the split report");
                return false;
            }
            Ok(Err(status)) => {
                debug!(%parent, code = ?status.code(), message = %status.message(), "split report failed; retrying")
            }
            Err(_) => debug!(%parent, "split report timed out; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stopped| *stopped) => {
                warn!(%parent, "server stopping; the split was not reported (the master finds the SPLIT marker)");
                return false;
            }
        }
        pause = (pause * 2).min(REPORT_RETRY_MAX);
    }
}
