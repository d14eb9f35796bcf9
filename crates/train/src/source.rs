//! [`BatchSource`]: where the trainer's batches come from, with a cursor that a checkpoint
//! saves and a resumed run restores, so the resumed run sees the same batches in the same order.

use crate::error::Result;

/// A stream of training batches with a restorable position.
///
/// The contract that makes resume exact: after `restore(&c)` with `c` taken by
/// [`BatchSource::cursor`] after `n` batches, the batches returned are the same as batches
/// `n + 1, n + 2, ...` of the original stream. A source whose batches are a function of
/// `(seed, position)` (or whose shuffles are keyed by `(seed, epoch)`) satisfies it with a
/// cursor of a few integers.
pub trait BatchSource {
    /// One batch.
    type Batch;

    /// The next batch.
    fn next_batch(&mut self) -> Result<Self::Batch>;

    /// The position in the stream (after the last batch returned), as JSON for `state.json`.
    fn cursor(&self) -> serde_json::Value;

    /// Moves to a position from [`BatchSource::cursor`]; a malformed cursor is an error that
    /// leaves the source unchanged.
    fn restore(&mut self, cursor: &serde_json::Value) -> Result<()>;

    /// Items (images) per batch, for the images-per-second figure.
    fn batch_items(&self) -> usize;
}
