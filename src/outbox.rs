//! A payload store keyed by delivery seq, so a driver keeps no bookkeeping.
//!
//! The engine decides with sequence numbers only. When the app sends, the
//! engine hands out the next seq (1, 2, 3…, consecutive); later it asks the
//! driver to `Transmit { seq }` (possibly several times, for retransmits) and
//! reports `Ack { upto }` once the peer holds everything up to `upto`. An
//! [`Outbox`] is the matching other half: [`insert`](Outbox::insert) the
//! payload under the seq the engine returned, [`get`](Outbox::get) it for
//! every transmit, and [`ack`](Outbox::ack) to drop what is done.
//!
//! Because seqs are consecutive, the payloads sit in a ring buffer
//! ([`VecDeque`]) indexed by `seq - first_seq`: every operation is O(1)
//! (`ack` is O(number dropped)) and no per-message map entry exists. Once the
//! ring has grown to the largest in-flight window the session reaches, steady
//! state allocates nothing per message: acked slots are reused by later
//! inserts. (Allocation inside `T` itself, e.g. a `Vec<u8>` payload, is the
//! driver's choice; pass pooled buffers or `bytes::Bytes` to avoid it.)
//!
//! ```
//! use redial::outbox::{Outbox, OutboxError};
//!
//! let mut out = Outbox::new();
//! out.insert(1, "hello")?;
//! out.insert(2, "world")?;
//! assert_eq!(out.get(2), Some(&"world")); // Transmit { seq: 2 }
//! assert_eq!(out.ack(1), 1);              // Ack { upto: 1 }
//! assert_eq!(out.get(1), None);
//! assert_eq!(out.insert(4, "skip"), Err(OutboxError::OutOfOrder { expected: 3, got: 4 }));
//! # Ok::<(), OutboxError>(())
//! ```

use alloc::collections::VecDeque;
use thiserror::Error;

/// Why [`Outbox::insert`] refused a payload. Nothing was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OutboxError {
    /// The seq is not the one after the last inserted seq.
    #[error("outbox insert out of order: expected seq {expected}, got {got}")]
    OutOfOrder {
        /// The only seq the outbox accepts next.
        expected: u64,
        /// The seq that was offered.
        got: u64,
    },
    /// `u64::MAX` has been inserted, so no later seq exists.
    #[error("outbox seq space exhausted after {last}, got {got}")]
    Exhausted {
        /// The last seq inserted (`u64::MAX`).
        last: u64,
        /// The seq that was offered.
        got: u64,
    },
}

/// Payloads awaiting acknowledgement, keyed by consecutive seqs.
///
/// Invariant: `items[i]` belongs to seq `last - (items.len() - 1 - i)`, so the
/// back of the ring is always `last`. Anchoring on the last seq (rather than
/// the first) means no seq past `u64::MAX` ever needs representing.
#[derive(Clone, Debug)]
pub struct Outbox<T> {
    /// The most recent seq inserted; `None` before the first insert, which
    /// may then use any seq (an outbox can start mid-session).
    last: Option<u64>,
    /// Unacked payloads, oldest at the front.
    items: VecDeque<T>,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Outbox<T> {
    /// An empty outbox; it allocates on the first insert.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            last: None,
            items: VecDeque::new(),
        }
    }

    /// An empty outbox with room for `n` unacked payloads before it grows
    /// (size it to the engine's in-flight window to never grow at all).
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Self {
            last: None,
            items: VecDeque::with_capacity(n),
        }
    }

    /// Store the payload for `seq`, which must be the seq right after the
    /// previously inserted one (the one the engine just returned from a
    /// send). The very first insert accepts any seq. Acks do not change
    /// which seq comes next.
    ///
    /// # Errors
    /// [`OutboxError::OutOfOrder`] for any other seq, or
    /// [`OutboxError::Exhausted`] after `u64::MAX`; nothing is stored then.
    pub fn insert(&mut self, seq: u64, payload: T) -> Result<(), OutboxError> {
        if let Some(last) = self.last {
            let expected = last
                .checked_add(1)
                .ok_or(OutboxError::Exhausted { last, got: seq })?;
            if seq != expected {
                return Err(OutboxError::OutOfOrder { expected, got: seq });
            }
        }
        self.items.push_back(payload);
        self.last = Some(seq);
        Ok(())
    }

    /// The payload stored for `seq`, or `None` if it was acked already, never
    /// inserted, or lies beyond the last insert.
    #[must_use]
    pub fn get(&self, seq: u64) -> Option<&T> {
        self.index_of(seq).and_then(|i| self.items.get(i))
    }

    /// Drop every payload with seq `<= upto` and return how many were
    /// dropped. Acking below the first seq drops nothing; acking beyond the
    /// last drops everything and is not an error (a peer may ack what a
    /// restarted outbox never held).
    pub fn ack(&mut self, upto: u64) -> usize {
        let Some(first) = self.first_seq() else {
            return 0;
        };
        let Some(span) = upto.checked_sub(first) else {
            return 0;
        };
        // span + 1 payloads are due, capped at what is held; a span that
        // does not fit in usize is certainly beyond the end.
        let count = usize::try_from(span)
            .ok()
            .and_then(|s| s.checked_add(1))
            .map_or(self.items.len(), |n| n.min(self.items.len()));
        for _ in 0..count {
            self.items.pop_front();
        }
        count
    }

    /// How many payloads are waiting for an ack.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is waiting for an ack.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The oldest unacked seq, if any.
    #[must_use]
    pub fn first_seq(&self) -> Option<u64> {
        let last = self.last_seq()?;
        let behind = u64::try_from(self.items.len().saturating_sub(1)).ok()?;
        // Consecutive inserts ending at `last` cannot start below 0.
        last.checked_sub(behind)
    }

    /// The newest unacked seq, if any.
    #[must_use]
    pub fn last_seq(&self) -> Option<u64> {
        if self.items.is_empty() {
            None
        } else {
            self.last
        }
    }

    /// The next seq [`insert`](Self::insert) accepts: `None` before the first
    /// insert (any seq is accepted) and after `u64::MAX` (none is).
    #[must_use]
    pub fn next_seq(&self) -> Option<u64> {
        self.last.and_then(|l| l.checked_add(1))
    }

    /// Unacked payloads with their seqs, oldest first (e.g. to retransmit
    /// everything after a resume).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        let first = self.first_seq().unwrap_or(0);
        self.items.iter().enumerate().map(move |(i, item)| {
            let offset = u64::try_from(i).unwrap_or(u64::MAX);
            (first.saturating_add(offset), item)
        })
    }

    /// Position of `seq` in the ring, if held.
    fn index_of(&self, seq: u64) -> Option<usize> {
        let last = self.last_seq()?;
        let back = usize::try_from(last.checked_sub(seq)?).ok()?;
        self.items.len().checked_sub(1)?.checked_sub(back)
    }
}

#[cfg(test)]
mod tests;
