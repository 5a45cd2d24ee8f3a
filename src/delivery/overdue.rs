//! Push-time checkpoints for overdue reports (R6), in fixed memory.
//!
//! Pushes are grouped into at most [`CHECKPOINTS`] runs of consecutive seqs.
//! A run records the time of its *latest* push, so the time it reports for
//! any of its seqs is never before that seq's real push: deadlines computed
//! from it are never early. A new run opens once the current one is
//! `deadline / SPLIT` old, which bounds how late they can be.
//!
//! Why the ring never fills while the owner reports promptly: a run stays
//! live only while some seq in it is neither acked nor reported, i.e. until
//! its stamp plus the deadline. Every live run but the newest is followed by a
//! run that opened within the last deadline; openings are at least
//! `deadline / SPLIT` apart, so there are at most `SPLIT` of those, plus the
//! newest run, plus the one a push is about to open: `SPLIT + 2` slots.

use core::time::Duration;

use crate::time::{millis, Instant};

/// Slots in the ring.
pub(super) const CHECKPOINTS: usize = 16;
/// A new run opens every `deadline / SPLIT` (two slots spare, see above).
pub(super) const SPLIT: u64 = CHECKPOINTS as u64 - 2;

/// Seqs from `first` up to the next run's `first` (or the newest push), the
/// latest of them pushed at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Checkpoint {
    first: u64,
    at: Instant,
}

/// A ring of [`Checkpoint`]s covering every seq not yet acked or reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Checkpoints {
    ring: [Checkpoint; CHECKPOINTS],
    /// Slot of the oldest live run.
    head: u8,
    /// Live runs.
    len: u8,
    /// When the newest run opened.
    started: Instant,
}

impl Checkpoints {
    /// No runs.
    pub(super) const fn new() -> Self {
        Self {
            ring: [Checkpoint {
                first: 0,
                at: Instant::ZERO,
            }; CHECKPOINTS],
            head: 0,
            len: 0,
            started: Instant::ZERO,
        }
    }

    /// The `i`-th live run, oldest first.
    #[inline]
    fn get(&self, i: usize) -> Option<&Checkpoint> {
        self.ring.get((usize::from(self.head) + i) % CHECKPOINTS)
    }

    /// Records the push of `seq` (the newest seq) at `now`. With no deadline
    /// the newest run just absorbs it: later, never earlier, if one is set
    /// afterwards.
    #[inline]
    pub(super) fn record(&mut self, seq: u64, now: Instant, deadline: Option<Duration>) {
        let len = usize::from(self.len);
        let step = deadline.map(|d| millis(d).div_ceil(SPLIT).max(1));
        let age = millis(now.saturating_duration_since(self.started));
        let open_new = len == 0 || (len < CHECKPOINTS && step.is_some_and(|s| age >= s));
        let idx = if open_new { len } else { len.saturating_sub(1) };
        let slot = (usize::from(self.head) + idx) % CHECKPOINTS;
        if let Some(cp) = self.ring.get_mut(slot) {
            if open_new {
                *cp = Checkpoint {
                    first: seq,
                    at: now,
                };
            } else {
                cp.at = now;
            }
        }
        if open_new {
            self.len = self.len.saturating_add(1);
            self.started = now;
        }
    }

    /// Drops runs whose every seq is `<= done`; `newest` is the newest seq.
    #[inline]
    pub(super) fn prune(&mut self, done: u64, newest: u64) {
        while self.len > 0 {
            let end = if self.len > 1 {
                self.get(1).map_or(0, |c| c.first.saturating_sub(1))
            } else {
                newest
            };
            if end > done {
                break;
            }
            // CHECKPOINTS is 16, so the index math stays far inside u8.
            self.head = (self.head + 1) % CHECKPOINTS as u8;
            self.len = self.len.saturating_sub(1);
        }
    }

    /// When `seq` becomes overdue: its run's stamp plus `deadline`. `None` if
    /// no live run covers it.
    #[inline]
    pub(super) fn due(&self, seq: u64, deadline: Duration) -> Option<Instant> {
        let cp = (0..usize::from(self.len))
            .rev()
            .filter_map(|i| self.get(i))
            .find(|c| c.first <= seq)?;
        Some(cp.at.saturating_add(deadline))
    }

    /// Live runs (for tests and invariants).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        usize::from(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    const D: Option<Duration> = Some(Duration::from_secs(14)); // step 1 s

    #[test]
    fn runs_split_by_step_and_carry_their_latest_push() {
        let mut c = Checkpoints::new();
        c.record(1, t(0), D);
        c.record(2, t(500), D);
        c.record(3, t(1500), D);
        assert_eq!(c.len(), 2);
        let d = Duration::from_secs(14);
        assert_eq!(
            [c.due(1, d), c.due(2, d), c.due(3, d)],
            [Some(t(14_500)), Some(t(14_500)), Some(t(15_500))]
        );
        c.prune(2, 3);
        assert_eq!((c.len(), c.due(3, d)), (1, Some(t(15_500))));
        c.prune(3, 3);
        assert_eq!((c.len(), c.due(3, d)), (0, None));
    }

    #[test]
    fn a_full_ring_absorbs_into_the_newest_run_later_never_earlier() {
        let mut c = Checkpoints::new();
        for seq in 1..=20 {
            c.record(seq, t(seq * 1000), D);
        }
        assert_eq!(c.len(), CHECKPOINTS);
        let d = Duration::from_secs(14);
        assert_eq!(c.due(15, d), Some(t(29_000)));
        // 16..=20 share the last run, stamped at 20 s.
        assert_eq!(c.due(16, d), Some(t(34_000)));
        assert_eq!(c.due(20, d), Some(t(34_000)));
    }

    #[test]
    fn without_a_deadline_one_run_tracks_the_latest_push() {
        let mut c = Checkpoints::new();
        for seq in 1..=100 {
            c.record(seq, t(seq * 1000), None);
        }
        assert_eq!(c.len(), 1);
        assert_eq!(c.due(1, Duration::from_secs(1)), Some(t(101_000)));
    }
}
