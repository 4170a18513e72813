//! Background threads that run flushes and compactions, shareable by many databases.
//!
//! Two queues: flushes go to the high-priority queue so that a long compaction never keeps
//! a full memtable waiting; a worker takes high-priority jobs first. Jobs are closures; a
//! database tracks its own jobs so that `close` can wait for them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Job priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Memtable flushes.
    High,
    /// Compactions.
    Low,
}

#[derive(Default)]
struct Queues {
    high: VecDeque<Job>,
    low: VecDeque<Job>,
    shutdown: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    cv: Condvar,
}

/// A fixed set of worker threads. Dropping the pool lets queued jobs finish, then joins.
pub struct BackgroundPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
}

impl std::fmt::Debug for BackgroundPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundPool").field("threads", &self.size).finish()
    }
}

impl BackgroundPool {
    /// A pool of `threads` workers (at least one).
    pub fn new(threads: usize) -> Arc<Self> {
        let shared = Arc::new(Shared { queues: Mutex::new(Queues::default()), cv: Condvar::new() });
        let size = threads.max(1);
        let handles = (0..size)
            .filter_map(|i| {
                let s = shared.clone();
                std::thread::Builder::new().name(format!("engine-bg-{i}")).spawn(move || worker(&s)).ok()
            })
            .collect();
        Arc::new(BackgroundPool { shared, threads: Mutex::new(handles), size })
    }

    /// Number of worker threads.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Queues a job.
    pub fn schedule(&self, priority: Priority, job: impl FnOnce() + Send + 'static) {
        let mut q = self.shared.queues.lock();
        match priority {
            Priority::High => q.high.push_back(Box::new(job)),
            Priority::Low => q.low.push_back(Box::new(job)),
        }
        drop(q);
        self.shared.cv.notify_one();
    }
}

fn worker(s: &Shared) {
    loop {
        let job = {
            let mut q = s.queues.lock();
            loop {
                if let Some(j) = q.high.pop_front().or_else(|| q.low.pop_front()) {
                    break j;
                }
                if q.shutdown {
                    return;
                }
                s.cv.wait(&mut q);
            }
        };
        job();
    }
}

impl Drop for BackgroundPool {
    fn drop(&mut self) {
        self.shared.queues.lock().shutdown = true;
        self.shared.cv.notify_all();
        let me = std::thread::current().id();
        for h in self.threads.lock().drain(..) {
            // A job may hold the last reference to the pool; a thread cannot join itself.
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_all_jobs_high_first() {
        let pool = BackgroundPool::new(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        {
            let gate = gate.clone();
            pool.schedule(Priority::Low, move || {
                let mut open = gate.0.lock();
                while !*open {
                    gate.1.wait(&mut open);
                }
            });
        }
        for i in 0..3 {
            let o = order.clone();
            pool.schedule(Priority::Low, move || o.lock().push(("low", i)));
        }
        let o = order.clone();
        pool.schedule(Priority::High, move || o.lock().push(("high", 0)));
        *gate.0.lock() = true;
        gate.1.notify_all();
        drop(pool);
        assert_eq!(order.lock().clone(), vec![("high", 0), ("low", 0), ("low", 1), ("low", 2)]);
    }

    #[test]
    fn many_threads_many_jobs() {
        let pool = BackgroundPool::new(4);
        let n = Arc::new(AtomicUsize::new(0));
        for _ in 0..1000 {
            let n = n.clone();
            pool.schedule(Priority::Low, move || {
                n.fetch_add(1, Ordering::Relaxed);
            });
        }
        drop(pool);
        assert_eq!(n.load(Ordering::Relaxed), 1000);
    }
}
