//! The bounded queue of control actions between `handle` and `poll_action`.
//!
//! Transmissions, acks and overdue reports are not queued: `poll_action`
//! computes them from the delivery cursors, so a flush of a thousand buffered
//! messages costs no memory. What is queued here is the handful of control
//! actions a single input can cause (at most [`MAX_PER_INPUT`]); the engine
//! refuses an input when fewer slots than that are free, so nothing is ever
//! dropped and the queue never grows.

use crate::io::Action;

/// Capacity of the queue.
pub const CAPACITY: usize = 16;

/// The most control actions one `handle` call can queue (the worst case is a
/// dead link found by a timer while a hint is pending: close, abandon, state,
/// retry-after, plus overdue bookkeeping — counted in the connection tests).
pub const MAX_PER_INPUT: usize = 8;

/// A fixed ring of actions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActionQueue {
    slots: [Option<Action>; CAPACITY],
    head: usize,
    len: usize,
}

impl ActionQueue {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [None; CAPACITY],
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
            *slot = Some(a);
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
        let a = self.slots.get_mut(self.head).and_then(Option::take);
        self.head = (self.head + 1) % CAPACITY;
        self.len -= 1;
        a
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
}
