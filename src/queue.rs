//! The bounded queue of control actions between `handle` and `poll_action`.
//!
//! Transmissions, acks and overdue reports are not queued: `poll_action`
//! computes them from the delivery cursors, so a flush of a thousand buffered
//! messages costs no memory. What is queued here is the handful of control
//! actions a single input can cause (at most [`MAX_PER_INPUT`]); the engine
//! refuses an input when fewer slots than that are free, so nothing is ever
//! dropped and the queue never grows.

use crate::io::Action;
use crate::time::Instant;

/// Capacity of the queue.
pub const CAPACITY: usize = 16;

/// The most control actions one `handle` call can queue (the worst case is a
/// dead link found by a timer while a hint is pending: close, abandon, state,
/// retry-after, plus overdue bookkeeping — counted in the connection tests).
pub const MAX_PER_INPUT: usize = 8;

/// A fixed ring of actions.
///
/// Slots hold `Action`s, not `Option<Action>`s: `pop` copies the slot out
/// and leaves it as it was, where `Option::take` also wrote `None` back
/// into it. The loads are the same either way (compared in the compiled
/// code) and so is the instruction count, yet without that one byte stored
/// into a slot just read, an inbound message costs 21 ns natively instead
/// of 33, and a loss-reconnect cycle 159 ns instead of 226 (BENCHMARKS.md,
/// "The action queue's slots"). The mechanism is not identified: this VM
/// exposes no hardware counters.
#[derive(Clone, Copy)]
pub(crate) struct ActionQueue {
    /// Slots `head..head + len` (wrapping) hold queued actions; the others
    /// hold stale ones that are never read.
    slots: [Action; CAPACITY],
    head: usize,
    len: usize,
}

impl ActionQueue {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [Action::ScheduleTimer { at: Instant::ZERO }; CAPACITY],
            head: 0,
            len: 0,
        }
    }

    /// Appends `a`; false (and nothing stored) when full.
    #[inline]
    pub(crate) fn push(&mut self, a: Action) -> bool {
        if self.len >= CAPACITY {
            return false;
        }
        let at = (self.head + self.len) % CAPACITY;
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = a;
            self.len += 1;
            true
        } else {
            false
        }
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Action> {
        if self.len == 0 {
            return None;
        }
        let a = self.slots.get(self.head).copied();
        self.head = (self.head + 1) % CAPACITY;
        self.len -= 1;
        a
    }

    /// The queued actions, oldest first.
    fn iter(&self) -> impl Iterator<Item = &Action> {
        (0..self.len).filter_map(|i| self.slots.get((self.head + i) % CAPACITY))
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn free(&self) -> usize {
        CAPACITY - self.len
    }
}

/// Lists the queued actions only: the other slots hold stale ones.
impl core::fmt::Debug for ActionQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ConnId;

    #[test]
    fn fifo_and_bounded() {
        let mut q = ActionQueue::new();
        for i in 0..CAPACITY as u32 {
            assert!(q.push(Action::Abandon { conn: ConnId(i) }));
        }
        assert!(!q.push(Action::Abandon { conn: ConnId(99) }));
        assert_eq!(q.free(), 0);
        for i in 0..CAPACITY as u32 {
            assert_eq!(q.pop(), Some(Action::Abandon { conn: ConnId(i) }));
        }
        assert_eq!(q.pop(), None);
        // wraps around
        for round in 0..3u32 {
            assert!(q.push(Action::Abandon {
                conn: ConnId(round)
            }));
            assert_eq!(
                q.pop(),
                Some(Action::Abandon {
                    conn: ConnId(round)
                })
            );
        }
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn debug_lists_only_queued_actions() {
        let mut q = ActionQueue::new();
        for i in 0..3 {
            assert!(q.push(Action::Abandon { conn: ConnId(i) }));
        }
        let _ = q.pop();
        assert_eq!(
            alloc::format!("{q:?}"),
            "[Abandon { conn: ConnId(1) }, Abandon { conn: ConnId(2) }]"
        );
    }
}
