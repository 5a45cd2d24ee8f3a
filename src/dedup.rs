//! A bounded window of recently seen opaque message ids.
//!
//! Peers we do not control may label their messages with ids that carry no
//! order (UUID halves, hashes, server-assigned numbers with holes). The only
//! duplicate check possible without unbounded memory is "have I seen this id
//! among the last *N* distinct ids?". [`DedupWindow`] answers exactly that with
//! a fixed ring of [`MAX_WINDOW`] ids, so exactly-once delivery holds only
//! *within the window*: an id that comes back after `N` other distinct ids has
//! been forgotten and is delivered again.

/// The largest window [`DedupWindow`] can hold (its ring has this many slots).
pub const MAX_WINDOW: u16 = 256;

/// Ring capacity as an index type.
const SLOTS: usize = MAX_WINDOW as usize;

/// The most recently remembered opaque ids, oldest evicted first.
///
/// The window size is an argument of every call rather than a field, so the
/// caller's config stays the single source of truth. A window smaller than
/// what has been stored simply looks at fewer of the newest entries; a window
/// is clamped to `1..=`[`MAX_WINDOW`].
///
/// A duplicate does not refresh its entry: ids leave the window in the order
/// they were first remembered (FIFO), which keeps the rule easy to state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DedupWindow {
    /// Ring of remembered ids; `head` is the slot the next id goes to.
    ids: [u64; SLOTS],
    /// How many slots hold a remembered id (at most [`MAX_WINDOW`]).
    len: u16,
    /// Next slot to write, always `< MAX_WINDOW`.
    head: u16,
}

impl Default for DedupWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl DedupWindow {
    /// An empty window.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            ids: [0; SLOTS],
            len: 0,
            head: 0,
        }
    }

    /// Whether `id` is among the newest `window` remembered ids.
    #[must_use]
    pub fn contains(&self, id: u64, window: u16) -> bool {
        let window = window.clamp(1, MAX_WINDOW);
        let n = usize::from(self.len.min(window));
        let head = usize::from(self.head);
        // Walk back from the newest entry; the index arithmetic stays in
        // 0..2*SLOTS before the modulo, so it cannot overflow.
        (1..=n).any(|back| self.ids.get((head + SLOTS - back) % SLOTS) == Some(&id))
    }

    /// Remembers `id` unless it is already in the window.
    ///
    /// Returns `true` if `id` is new (deliver it) and `false` if it is a
    /// duplicate (drop it). Remembering evicts the oldest id once the ring is
    /// full.
    pub fn observe(&mut self, id: u64, window: u16) -> bool {
        if self.contains(id, window) {
            return false;
        }
        if let Some(slot) = self.ids.get_mut(usize::from(self.head)) {
            *slot = id;
        }
        self.head = (self.head + 1) % MAX_WINDOW;
        self.len = self.len.saturating_add(1).min(MAX_WINDOW);
        true
    }

    /// How many ids the window currently remembers, for a given `window` size.
    #[must_use]
    pub fn len(&self, window: u16) -> u16 {
        self.len.min(window.clamp(1, MAX_WINDOW))
    }

    /// Whether nothing has been remembered yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every id.
    pub fn clear(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_eviction_at_window_size() {
        let mut w = DedupWindow::new();
        assert!(w.is_empty());
        assert!(w.observe(10, 3));
        assert!(w.observe(20, 3));
        assert!(w.observe(30, 3));
        assert!(!w.observe(20, 3));
        assert_eq!(w.len(3), 3);
        // 40 evicts 10, the oldest; a duplicate (20 above) did not refresh.
        assert!(w.observe(40, 3));
        assert!(!w.contains(10, 3));
        assert!(w.observe(10, 3));
        // Window now 30, 40, 10: 20 is gone.
        assert!(w.observe(20, 3));
        assert!(!w.observe(10, 3));
    }

    #[test]
    fn full_ring_wraps_and_zero_id_is_an_ordinary_id() {
        let mut w = DedupWindow::new();
        assert!(!w.contains(0, MAX_WINDOW));
        for id in 0..u64::from(MAX_WINDOW) {
            assert!(w.observe(id, MAX_WINDOW));
        }
        assert_eq!(w.len(MAX_WINDOW), MAX_WINDOW);
        assert!(!w.observe(0, MAX_WINDOW));
        assert!(!w.observe(255, MAX_WINDOW));
        assert!(w.observe(1000, MAX_WINDOW));
        // 0 was the oldest and is evicted; 1 survives.
        assert!(!w.contains(0, MAX_WINDOW));
        assert!(w.contains(1, MAX_WINDOW));
    }

    #[test]
    fn window_is_clamped_and_may_shrink_between_calls() {
        let mut w = DedupWindow::new();
        for id in [1, 2, 3, 4] {
            assert!(w.observe(id, 0)); // 0 is clamped to 1
        }
        assert!(!w.observe(4, 0));
        assert!(w.contains(1, 4));
        assert!(!w.contains(1, 2));
        assert!(w.contains(1, u16::MAX)); // clamped to MAX_WINDOW
        w.clear();
        assert!(w.is_empty());
        assert!(!w.contains(4, MAX_WINDOW));
    }
}
