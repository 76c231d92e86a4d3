//! Where batch work runs: on the calling thread, or on a cached rayon pool of a given size.
//!
//! `threads = Some(1)` never touches rayon, so a single-threaded measurement is exactly that.
//! Pools are built once per thread count and kept for the life of the process: building a pool
//! costs far more than hashing a small batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::Error;

/// Below this many leaves a tree is built on the calling thread even when threads are allowed.
/// Measured with `benches/core.rs` (`tree_build_small`): handing work to a pool whose threads
/// have gone to sleep costs 50-90 us on this VM (8 us when they are still spinning), and a
/// 4,096-leaf build costs about 0.93 ms on one thread, so from here the hand-off is under a tenth
/// of the work and two threads clearly win; below it the gain shrinks to nothing.
pub const PARALLEL_MIN_LEAVES: usize = 4096;

/// Below this many signatures a bulk check stays on the calling thread. One check costs about
/// 15 us, so 16 of them (0.24 ms) outweigh even a cold hand-off (50-90 us) a few times over.
pub const PARALLEL_MIN_SIGNATURES: usize = 16;

/// The number of threads `threads=None` means: every core this process may use.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where to run a batch job.
#[derive(Clone)]
pub struct Workers {
    pool: Option<Arc<ThreadPool>>,
}

impl Workers {
    /// Run everything on the calling thread.
    pub fn sequential() -> Self {
        Workers { pool: None }
    }

    /// `None` means all available cores; `Some(1)` means the calling thread only.
    pub fn new(threads: Option<usize>) -> Result<Self, Error> {
        let count = match threads {
            None => available_threads(),
            Some(0) => {
                return Err(Error::InvalidArgument {
                    detail: "threads must be at least 1 (or None for all cores)".to_owned(),
                })
            }
            Some(n) => n,
        };
        if count == 1 {
            return Ok(Workers::sequential());
        }
        Ok(Workers {
            pool: Some(cached_pool(count)?),
        })
    }

    /// Number of threads jobs may use.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.current_num_threads())
    }

    /// True when `items` of work are worth spreading over the pool (given the threshold for
    /// that kind of item).
    pub fn parallel_for(&self, items: usize, threshold: usize) -> bool {
        self.pool.is_some() && items >= threshold
    }

    /// Run `job` inside the pool (so rayon's parallel iterators use it), or inline when
    /// sequential.
    pub fn install<R: Send>(&self, job: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(job),
            None => job(),
        }
    }
}

fn cached_pool(threads: usize) -> Result<Arc<ThreadPool>, Error> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    // A panic while holding this lock cannot leave the map inconsistent (insert is atomic from
    // our point of view), so a poisoned lock is still usable.
    let mut pools = pools
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = pools.get(&threads) {
        return Ok(Arc::clone(pool));
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("rust_core-{threads}-{i}"))
        .build()
        .map_err(|e| Error::InvalidArgument {
            detail: format!("cannot start a pool of {threads} threads: {e}"),
        })?;
    let pool = Arc::new(pool);
    pools.insert(threads, Arc::clone(&pool));
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_is_rejected() {
        assert!(matches!(
            Workers::new(Some(0)),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn pools_are_cached_per_thread_count() {
        let a = Workers::new(Some(2)).unwrap();
        let b = Workers::new(Some(2)).unwrap();
        assert!(Arc::ptr_eq(
            a.pool.as_ref().unwrap(),
            b.pool.as_ref().unwrap()
        ));
        assert_eq!(a.threads(), 2);
        assert!(Workers::new(Some(1)).unwrap().pool.is_none());
    }
}
