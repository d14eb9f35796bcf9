//! [`Loader`]: batches in a seeded order, prepared on a background thread while the consumer
//! trains, with a [`Cursor`] a checkpoint saves to resume on exactly the same batches.
//!
//! Each epoch visits the items `0..len` in an order that is a function of `(seed, epoch)`
//! only (a Fisher-Yates shuffle driven by `ChaCha8`, seeded with `seed` on stream `epoch`,
//! with Lemire's unbiased bounded draws: stable across platforms and releases). Batches are
//! consecutive runs of that order; the last one of an epoch is short unless `drop_last`.
//! Every batch gets a seed, a function of `(seed, epoch, position)`, for its augmentations:
//! a batch is therefore a function of the cursor at its start, and a resumed run sees exactly
//! the batches of an uninterrupted one.
//!
//! ```
//! use noether_data::{Cursor, Loader, LoaderConfig};
//!
//! let config = LoaderConfig { epochs: Some(2), ..LoaderConfig::new(4) };
//! let loader = Loader::new(10, config, Cursor::new(7), |req| {
//!     Ok(req.indices.iter().map(|&i| i * i).collect::<Vec<_>>())
//! })?;
//! let batches = loader.collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(batches.len(), 6); // 4 + 4 + 2 per epoch
//! # Ok::<(), noether_data::DataError>(())
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use noether_augment::{Image, Pipeline, View, make_views};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::store::ImageStore;

/// Where a loader stands: the next batch starts at item `position` of epoch `epoch`'s order,
/// under `seed`. Save it with a checkpoint (it is serde) and pass it to [`Loader::new`] to go
/// on with exactly the batches an uninterrupted run would have seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The epoch, from 0.
    pub epoch: u64,
    /// Items of this epoch's order already delivered.
    pub position: u64,
    /// The seed of the order and of the batch seeds.
    pub seed: u64,
}

impl Cursor {
    /// The start of epoch 0 under `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            epoch: 0,
            position: 0,
            seed,
        }
    }
}

/// How batches are cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoaderConfig {
    /// Items per batch (at least 1).
    pub batch_size: usize,
    /// Shuffle each epoch (else items in index order).
    pub shuffle: bool,
    /// Drop each epoch's last batch when it is short.
    pub drop_last: bool,
    /// Stop after this many epochs (counted from epoch 0, whatever the start cursor);
    /// `None` runs forever.
    pub epochs: Option<u64>,
    /// Batches the background thread may have ready beyond the one it is making.
    pub prefetch: usize,
}

impl LoaderConfig {
    /// `batch_size` items per batch, shuffled, short last batch kept, no epoch limit, two
    /// batches prefetched.
    pub fn new(batch_size: usize) -> Self {
        Self {
            batch_size,
            shuffle: true,
            drop_last: false,
            epochs: None,
            prefetch: 2,
        }
    }
}

/// What the batch function is asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    /// The epoch.
    pub epoch: u64,
    /// Where the batch starts in the epoch's order.
    pub position: u64,
    /// The items, in batch order.
    pub indices: Vec<usize>,
    /// The seed for this batch's randomness (augmentations, view pairs): a function of
    /// `(cursor seed, epoch, position)`.
    pub seed: u64,
}

/// A batch: the request it answers and the data made for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch<T> {
    /// The epoch.
    pub epoch: u64,
    /// Where the batch starts in the epoch's order.
    pub position: u64,
    /// The items, in batch order.
    pub indices: Vec<usize>,
    /// The batch's seed (see [`BatchRequest::seed`]).
    pub seed: u64,
    /// What the batch function made.
    pub data: T,
}

/// The order of items `0..len` in `epoch` under `seed` (identity when not shuffling).
pub fn epoch_order(len: usize, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if shuffle {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(epoch);
        for i in (1..len).rev() {
            let j = below(&mut rng, i as u64 + 1) as usize;
            order.swap(i, j);
        }
    }
    order
}

/// A uniform draw from `0..n` (`n > 0`), Lemire's multiply-and-reject.
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of the batch that starts at `position` of `epoch` under `seed`.
pub fn batch_seed(seed: u64, epoch: u64, position: u64) -> u64 {
    mix(mix(mix(seed) ^ epoch) ^ position)
}

/// Moves `c` to the start of the next epoch when no batch is left in its epoch.
fn normalize(len: usize, config: &LoaderConfig, mut c: Cursor) -> Cursor {
    let left = (len as u64).saturating_sub(c.position);
    if left == 0 || (config.drop_last && left < config.batch_size as u64) {
        c.epoch += 1;
        c.position = 0;
    }
    c
}

/// The batch at `c` (normalised): its start and length, `None` past the last epoch.
fn batch_at(len: usize, config: &LoaderConfig, c: Cursor) -> Option<(Cursor, usize)> {
    let c = normalize(len, config, c);
    if config.epochs.is_some_and(|e| c.epoch >= e) {
        return None;
    }
    let n = (len as u64 - c.position).min(config.batch_size as u64) as usize;
    Some((c, n))
}

/// Batches made on a background thread, in the order and with the seeds that the cursor
/// fixes. Iterate it (`Item = Result<Batch<T>>`); after an error it yields nothing more.
/// Dropping it stops the thread (after the batch it is making, if any) and joins it.
pub struct Loader<T> {
    rx: Option<Receiver<Result<Batch<T>>>>,
    handle: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    cursor: Cursor,
    len: usize,
    config: LoaderConfig,
    done: bool,
}

impl<T> std::fmt::Debug for Loader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("cursor", &self.cursor)
            .field("len", &self.len)
            .field("config", &self.config)
            .field("done", &self.done)
            .finish()
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl<T: Send + 'static> Loader<T> {
    /// A loader over items `0..len` from `start`, making each batch with `make` on a
    /// background thread. An `Err` from `make` (or a panic in it, turned into an `Err`)
    /// reaches the consumer in order and ends the loader.
    pub fn new<F>(len: usize, config: LoaderConfig, start: Cursor, mut make: F) -> Result<Self>
    where
        F: FnMut(&BatchRequest) -> Result<T> + Send + 'static,
    {
        if len == 0 {
            return Err(DataError::invalid("loader", "no item to load"));
        }
        if config.batch_size == 0 {
            return Err(DataError::invalid(
                "loader.batch_size",
                "must be at least 1",
            ));
        }
        if config.drop_last && config.batch_size > len {
            return Err(DataError::invalid(
                "loader.batch_size",
                format!(
                    "{} with drop_last over {len} items gives no batch",
                    config.batch_size
                ),
            ));
        }
        let (tx, rx) = sync_channel(config.prefetch);
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_w, cfg) = (Arc::clone(&stop), config.clone());
        let handle = std::thread::Builder::new()
            .name("noether-loader".into())
            .spawn(move || {
                let mut cur = start;
                let mut order: Option<(u64, Vec<usize>)> = None;
                while !stop_w.load(Ordering::Relaxed) {
                    let Some((c, n)) = batch_at(len, &cfg, cur) else {
                        break;
                    };
                    if order.as_ref().is_none_or(|(e, _)| *e != c.epoch) {
                        order = Some((c.epoch, epoch_order(len, c.seed, c.epoch, cfg.shuffle)));
                    }
                    let ord = order.as_ref().map_or(&[][..], |(_, o)| o.as_slice());
                    let p = c.position as usize;
                    let req = BatchRequest {
                        epoch: c.epoch,
                        position: c.position,
                        indices: ord[p..p + n].to_vec(),
                        seed: batch_seed(c.seed, c.epoch, c.position),
                    };
                    let msg = match catch_unwind(AssertUnwindSafe(|| make(&req))) {
                        Ok(Ok(data)) => Ok(Batch {
                            epoch: req.epoch,
                            position: req.position,
                            indices: req.indices,
                            seed: req.seed,
                            data,
                        }),
                        Ok(Err(e)) => Err(e),
                        Err(p) => Err(DataError::invalid(
                            "loader",
                            format!(
                                "the batch function panicked at epoch {}, position {}: {}",
                                c.epoch,
                                c.position,
                                panic_message(p.as_ref())
                            ),
                        )),
                    };
                    let failed = msg.is_err();
                    if tx.send(msg).is_err() || failed {
                        break;
                    }
                    cur = Cursor {
                        position: c.position + n as u64,
                        ..c
                    };
                }
            })
            .map_err(|e| DataError::invalid("loader", format!("cannot start its thread: {e}")))?;
        Ok(Self {
            rx: Some(rx),
            handle: Some(handle),
            stop,
            cursor: normalize(len, &config, start),
            len,
            config,
            done: false,
        })
    }
}

impl<T> Loader<T> {
    /// The cursor of the next batch the consumer will get (prefetched batches not counted):
    /// save it with a checkpoint.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        if self.config.drop_last {
            self.len / self.config.batch_size
        } else {
            self.len.div_ceil(self.config.batch_size)
        }
    }
}

impl<T> Iterator for Loader<T> {
    type Item = Result<Batch<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(Ok(batch)) => {
                let next = Cursor {
                    epoch: batch.epoch,
                    position: batch.position + batch.indices.len() as u64,
                    seed: self.cursor.seed,
                };
                self.cursor = normalize(self.len, &self.config, next);
                Some(Ok(batch))
            }
            Ok(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            Err(_) => {
                self.done = true;
                // The thread hung up: the normal end, unless batches were still due.
                batch_at(self.len, &self.config, self.cursor).map(|_| {
                    Err(DataError::invalid(
                        "loader",
                        "the background thread stopped before the last batch",
                    ))
                })
            }
        }
    }
}

impl<T> Drop for Loader<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver wakes a thread blocked on a full channel.
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Images with labels, addressable by index, shareable across threads: what
/// [`Loader::augmented`] reads.
pub trait ImageSource: Send + Sync {
    /// Number of images.
    fn len(&self) -> usize;
    /// True when there is no image.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Image `index`.
    fn image(&self, index: usize) -> Result<Image>;
    /// The label of image `index`.
    fn label(&self, index: usize) -> Option<i64>;
}

impl ImageSource for ImageStore {
    fn len(&self) -> usize {
        ImageStore::len(self)
    }
    fn image(&self, index: usize) -> Result<Image> {
        ImageStore::image(self, index)
    }
    fn label(&self, index: usize) -> Option<i64> {
        ImageStore::label(self, index)
    }
}

/// A batch of augmented views: `views_per_image` consecutive views per item, items in batch
/// order, with each item's label.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewBatch {
    /// The views, image by image.
    pub views: Vec<View>,
    /// One label per item (`-1` where the source has none).
    pub labels: Vec<i64>,
}

impl Loader<ViewBatch> {
    /// A loader of augmented views of `source`: each batch loads its images (in parallel) and
    /// runs [`make_views`] with `pipelines` and the batch's seed, so view `v` of the `i`-th
    /// item of a batch is a function of `(batch seed, i, v)`.
    pub fn augmented<S: ImageSource + 'static>(
        source: Arc<S>,
        pipelines: Vec<Pipeline>,
        views_per_image: usize,
        config: LoaderConfig,
        start: Cursor,
    ) -> Result<Self> {
        if pipelines.is_empty() || views_per_image == 0 {
            return Err(DataError::invalid(
                "loader",
                "augmented batches need a pipeline and at least one view per image",
            ));
        }
        let len = source.len();
        Loader::new(len, config, start, move |req| {
            let images = req
                .indices
                .par_iter()
                .map(|&i| source.image(i))
                .collect::<Result<Vec<_>>>()?;
            let labels = req
                .indices
                .iter()
                .map(|&i| source.label(i).unwrap_or(-1))
                .collect();
            let views = make_views(&pipelines, &images, views_per_image, req.seed)?;
            Ok(ViewBatch { views, labels })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_a_permutation_and_depends_on_epoch() {
        let a = epoch_order(100, 3, 0, true);
        let b = epoch_order(100, 3, 1, true);
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_ne!(a, b);
        assert_eq!(a, epoch_order(100, 3, 0, true));
        assert_eq!(epoch_order(5, 3, 0, false), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn below_is_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in 1..200 {
            assert!(below(&mut rng, n) < n);
        }
    }
}
