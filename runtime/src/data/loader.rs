//! A parallel prefetching loader with a deterministic output.
//!
//! Each epoch visits `dataset.len() * dataset.repeat()` positions, shuffled (when configured) by a generator
//! seeded with (seed, epoch). Batch `b` holds positions `b*B .. (b+1)*B`; `drop_last` drops a short last
//! batch. Worker threads claim whole batches (load, transform, collate into CPU tensors), at most
//! `prefetch` batches ahead of the consumer; the consumer receives them in batch order. Every datapoint's
//! random choices come from a generator seeded with (seed, epoch, position), so the batches are identical
//! whatever the number of workers and the thread timing. A datapoint that upstream would skip (no query left)
//! is replaced by the next dataset index, as upstream's retry loop does.
//!
//! Workers build CPU tensors only (copies of Rust buffers; `tch::Tensor` is `Send` and creating CPU tensors
//! on several threads is safe in libtorch); the consumer moves a batch to its device with
//! [`Batch::to_device`].

use super::collate::{collate, Batch};
use super::datapoint::Datapoint;
use super::rng::Rng;
use super::transforms::Pipeline;
use super::DataError;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// A source of raw datapoints.
pub trait Dataset: Send + Sync {
    /// Number of distinct datapoints.
    fn len(&self) -> usize;

    /// True when the dataset has no datapoint.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times one epoch visits each datapoint.
    fn repeat(&self) -> usize {
        1
    }

    /// Whether datapoints carry masks (then batches carry target masks).
    fn loads_masks(&self) -> bool;

    /// Load datapoint `index` before transforms; `rng` drives any random choice (clip sampling).
    /// `Ok(None)`: the datapoint has no query and is skipped, as upstream does.
    fn load(&self, index: usize, rng: &mut Rng) -> Result<Option<Datapoint>, DataError>;
}

/// How batches are formed and produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Datapoints per batch.
    pub batch_size: usize,
    /// Worker threads; 0 loads on the consumer's thread.
    pub workers: usize,
    /// Shuffle the order every epoch.
    pub shuffle: bool,
    /// Drop the last batch when it is short.
    pub drop_last: bool,
    /// Seed of the order and of every augmentation.
    pub seed: u64,
    /// Largest number of batches produced ahead of the consumer (the bounded queue), at least 1.
    pub prefetch: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 1,
            workers: 2,
            shuffle: true,
            drop_last: false,
            seed: 123,
            prefetch: 4,
        }
    }
}

/// Upstream's `_MAX_RETRIES`: how many following indices are tried when a datapoint is skipped.
const MAX_RETRIES: usize = 100;
/// Separates the shuffle stream from the per-position streams.
const SHUFFLE_STREAM: u64 = u64::MAX;

/// Loads, transforms and collates batches of a dataset.
pub struct Loader {
    inner: Arc<Inner>,
}

struct Inner {
    dataset: Arc<dyn Dataset>,
    pipeline: Pipeline,
    config: LoaderConfig,
}

impl Loader {
    /// A loader; errors on an empty dataset or a batch size or prefetch depth of 0.
    pub fn new(
        dataset: Arc<dyn Dataset>,
        pipeline: Pipeline,
        config: LoaderConfig,
    ) -> Result<Loader, DataError> {
        if config.batch_size == 0 {
            return Err(DataError::Config("batch size must be at least 1".into()));
        }
        if config.prefetch == 0 {
            return Err(DataError::Config("prefetch must be at least 1".into()));
        }
        if dataset.is_empty() || dataset.repeat() == 0 {
            return Err(DataError::Config("the dataset has no datapoint".into()));
        }
        Ok(Loader {
            inner: Arc::new(Inner {
                dataset,
                pipeline,
                config,
            }),
        })
    }

    /// Positions visited per epoch.
    pub fn epoch_len(&self) -> usize {
        self.inner.dataset.len() * self.inner.dataset.repeat()
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.epoch_len(), self.inner.config.batch_size);
        if self.inner.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The dataset index at each position of `epoch`, in visiting order.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let len = self.inner.dataset.len();
        let mut order: Vec<usize> = (0..self.epoch_len()).map(|p| p % len).collect();
        if self.inner.config.shuffle {
            Rng::from_words(&[self.inner.config.seed, epoch, SHUFFLE_STREAM]).shuffle(&mut order);
        }
        order
    }

    /// The transformed datapoint at `position` of `epoch` (what the batches contain), for inspection.
    pub fn datapoint(&self, epoch: u64, position: usize) -> Result<Datapoint, DataError> {
        let order = self.order(epoch);
        let index = *order.get(position).ok_or_else(|| {
            DataError::Config(format!(
                "position {position} is past the epoch's {} positions",
                order.len()
            ))
        })?;
        self.inner.load_transformed(epoch, position, index)
    }

    /// The batches of `epoch`, produced by the workers.
    pub fn epoch(&self, epoch: u64) -> EpochIter {
        self.epoch_from(epoch, 0)
    }

    /// The batches of `epoch` from batch `first_batch` on, identical to those of [`Loader::epoch`] (resuming an
    /// interrupted epoch loads nothing it skips).
    pub fn epoch_from(&self, epoch: u64, first_batch: usize) -> EpochIter {
        let order = self.order(epoch);
        let b = self.inner.config.batch_size;
        let mut batches: Vec<Vec<(usize, usize)>> = order
            .iter()
            .copied()
            .enumerate()
            .collect::<Vec<_>>()
            .chunks(b)
            .map(|c| c.to_vec())
            .collect();
        if self.inner.config.drop_last && batches.last().is_some_and(|c| c.len() < b) {
            batches.pop();
        }
        batches.drain(..first_batch.min(batches.len()));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                next_claim: 0,
                consumed: 0,
                ready: BTreeMap::new(),
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let batches = Arc::new(batches);
        let workers = (0..self.inner.config.workers)
            .map(|_| {
                let (inner, shared, batches) =
                    (self.inner.clone(), shared.clone(), batches.clone());
                std::thread::spawn(move || worker(&inner, &shared, &batches, epoch))
            })
            .collect();
        EpochIter {
            inner: self.inner.clone(),
            shared,
            batches,
            epoch,
            workers,
        }
    }
}

impl Inner {
    fn load_transformed(
        &self,
        epoch: u64,
        position: usize,
        index: usize,
    ) -> Result<Datapoint, DataError> {
        let mut rng = Rng::from_words(&[self.config.seed, epoch, position as u64]);
        let len = self.dataset.len();
        let mut idx = index;
        for _ in 0..MAX_RETRIES {
            if let Some(dp) = self.dataset.load(idx, &mut rng)? {
                let description = dp.description.clone();
                match self.pipeline.apply(dp, &mut rng) {
                    Ok(Some(dp)) => return Ok(dp),
                    Ok(None) => {}
                    Err(message) => {
                        return Err(DataError::Datapoint {
                            datapoint: description,
                            message,
                        })
                    }
                }
            }
            idx = (idx + 1) % len;
        }
        Err(DataError::Config(format!(
            "no usable datapoint in the {MAX_RETRIES} indices from {index}: every one has no query left \
             after the pipeline's filters"
        )))
    }

    fn load_batch(&self, epoch: u64, slots: &[(usize, usize)]) -> Result<Batch, DataError> {
        let datapoints = slots
            .iter()
            .map(|&(position, index)| self.load_transformed(epoch, position, index))
            .collect::<Result<Vec<_>, _>>()?;
        collate(&datapoints, self.dataset.loads_masks()).map_err(DataError::Config)
    }

    /// `load_batch`, with a panic (a bug) turned into an error instead of a hung consumer.
    fn load_batch_guarded(&self, epoch: u64, slots: &[(usize, usize)]) -> Result<Batch, DataError> {
        catch_unwind(AssertUnwindSafe(|| self.load_batch(epoch, slots))).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(DataError::Config(format!("data worker panicked: {what}")))
        })
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    next_claim: usize,
    consumed: usize,
    ready: BTreeMap<usize, Result<Batch, DataError>>,
    stop: bool,
}

fn worker(inner: &Inner, shared: &Shared, batches: &[Vec<(usize, usize)>], epoch: u64) {
    loop {
        let claimed = {
            let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if st.stop || st.next_claim >= batches.len() {
                    return;
                }
                if st.next_claim < st.consumed + inner.config.prefetch {
                    break;
                }
                st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.next_claim += 1;
            st.next_claim - 1
        };
        let result = inner.load_batch_guarded(epoch, &batches[claimed]);
        let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.ready.insert(claimed, result);
        shared.changed.notify_all();
    }
}

/// The batches of one epoch, in order. Dropping it stops the workers (after their current batch).
pub struct EpochIter {
    inner: Arc<Inner>,
    shared: Arc<Shared>,
    batches: Arc<Vec<Vec<(usize, usize)>>>,
    epoch: u64,
    workers: Vec<JoinHandle<()>>,
}

impl EpochIter {
    /// Batches in this epoch.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    /// True when the epoch has no batch.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

impl Iterator for EpochIter {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let wanted = st.consumed;
        if wanted >= self.batches.len() {
            return None;
        }
        if self.workers.is_empty() {
            st.consumed += 1;
            drop(st);
            return Some(
                self.inner
                    .load_batch_guarded(self.epoch, &self.batches[wanted]),
            );
        }
        loop {
            if let Some(result) = st.ready.remove(&wanted) {
                st.consumed += 1;
                self.shared.changed.notify_all();
                return Some(result);
            }
            st = self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.stop = true;
            self.shared.changed.notify_all();
        }
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}
