//! A bounded window of recently seen opaque message ids.
//!
//! Peers we do not control may label their messages with ids that carry no
//! order (UUID halves, hashes, server-assigned numbers with holes). The only
//! duplicate check possible without unbounded memory is "have I seen this id
//! among the last *N* distinct ids?". [`DedupWindow`] answers exactly that with
//! a fixed ring of up to [`MAX_WINDOW`] ids, so exactly-once delivery holds only
//! *within the window*: an id that comes back after `N` other distinct ids has
//! been forgotten and is delivered again.

/// The largest window a [`DedupWindow`] can hold, and the capacity of the
/// default one.
pub const MAX_WINDOW: u16 = 256;

/// The most recently remembered opaque ids, oldest evicted first.
///
/// `N` is the ring's capacity in ids, fixed at compile time (the core
/// allocates nothing): 256 by default, 8 bytes per id. An engine whose peers
/// label messages with sequence numbers only never uses it, and can be built
/// with `N = 0` (see [`Connection::with_role`](crate::Connection::with_role)),
/// which saves the 2 KiB. `N` above [`MAX_WINDOW`] does not compile.
///
/// The window size is an argument of every call rather than a field, so the
/// caller's config stays the single source of truth. A window smaller than
/// what has been stored simply looks at fewer of the newest entries; a window
/// is clamped to `0..=N`, and a window of 0 remembers nothing: every id is
/// new.
///
/// A duplicate does not refresh its entry: ids leave the window in the order
/// they were first remembered (FIFO), which keeps the rule easy to state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DedupWindow<const N: usize = 256> {
    /// Ring of remembered ids; `head` is the slot the next id goes to.
    ids: [u64; N],
    /// How many slots hold a remembered id (at most `N`).
    len: u16,
    /// Next slot to write, always `< N` (0 when `N` is 0).
    head: u16,
}

impl<const N: usize> Default for DedupWindow<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl DedupWindow {
    /// An empty window of the default capacity ([`MAX_WINDOW`] ids).
    #[must_use]
    pub const fn new() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> DedupWindow<N> {
    /// The ring's capacity in ids (`N`); checked against [`MAX_WINDOW`] when
    /// the type is used, so an oversized window is a compile error.
    #[allow(clippy::cast_possible_truncation)] // N <= 256, asserted first
    pub const CAPACITY: u16 = {
        assert!(
            N <= MAX_WINDOW as usize,
            "DedupWindow holds at most 256 ids"
        );
        N as u16
    };

    /// An empty window.
    pub const EMPTY: Self = {
        // Evaluates the capacity check for this `N`.
        let _ = Self::CAPACITY;
        Self {
            ids: [0; N],
            len: 0,
            head: 0,
        }
    };

    /// Whether `id` is among the newest `window` remembered ids.
    #[must_use]
    pub fn contains(&self, id: u64, window: u16) -> bool {
        let n = usize::from(self.len(window));
        let head = usize::from(self.head);
        // Walk back from the newest entry; the index arithmetic stays in
        // 0..2*N before the modulo, so it cannot overflow, and with `n` = 0
        // (always so when `N` is 0) there is no step and no modulo.
        (1..=n).any(|back| self.ids.get((head + N - back) % N) == Some(&id))
    }

    /// Remembers `id` unless it is already in the window.
    ///
    /// Returns `true` if `id` is new (deliver it) and `false` if it is a
    /// duplicate (drop it). Remembering evicts the oldest id once the ring is
    /// full. A window of 0, or a ring of capacity 0, remembers nothing and
    /// answers `true`.
    pub fn observe(&mut self, id: u64, window: u16) -> bool {
        if window == 0 {
            return true;
        }
        if self.contains(id, window) {
            return false;
        }
        if let Some(slot) = self.ids.get_mut(usize::from(self.head)) {
            *slot = id;
            // Only reached with N >= 1: the ring has a slot.
            self.head = (self.head + 1) % Self::CAPACITY;
            self.len = self.len.saturating_add(1).min(Self::CAPACITY);
        }
        true
    }

    /// How many ids the window currently remembers, for a given `window`
    /// size (clamped to `0..=N`).
    #[must_use]
    pub fn len(&self, window: u16) -> u16 {
        self.len.min(window.min(Self::CAPACITY))
    }

    /// Whether nothing has been remembered yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every id.
    pub fn clear(&mut self) {
        *self = Self::EMPTY;
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
            assert!(w.observe(id, 1));
        }
        assert!(!w.observe(4, 1));
        // A window of 0 remembers nothing: every id is new, even one stored,
        // and it stores nothing either.
        assert!(w.observe(4, 0));
        assert!(!w.contains(4, 0));
        assert_eq!(w.len(MAX_WINDOW), 4);
        assert!(w.contains(1, 4));
        assert!(!w.contains(1, 2));
        assert!(w.contains(1, u16::MAX)); // clamped to MAX_WINDOW
        w.clear();
        assert!(w.is_empty());
        assert!(!w.contains(4, MAX_WINDOW));
    }

    #[test]
    fn a_ring_of_capacity_zero_remembers_nothing() {
        let mut w = DedupWindow::<0>::default();
        // Two u16 cursors, aligned as the empty `[u64; 0]`.
        assert_eq!(core::mem::size_of::<DedupWindow<0>>(), 8);
        for window in [0, 1, MAX_WINDOW, u16::MAX] {
            assert!(w.observe(7, window));
            assert!(!w.contains(7, window));
            assert_eq!(w.len(window), 0);
        }
        assert!(w.is_empty());
    }

    #[test]
    fn a_small_ring_wraps_at_its_own_capacity() {
        let mut w = DedupWindow::<3>::default();
        for id in 1..=3 {
            assert!(w.observe(id, MAX_WINDOW));
        }
        assert_eq!(w.len(MAX_WINDOW), 3);
        assert!(!w.observe(1, MAX_WINDOW));
        assert!(w.observe(4, MAX_WINDOW)); // evicts 1
        assert!(w.observe(1, MAX_WINDOW));
        assert!(!w.observe(3, MAX_WINDOW));
    }
}
