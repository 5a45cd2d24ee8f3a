//! The storage behind [`Presence`]: one open-addressing table of
//! `{ id, last }` entries, and how records enter and leave the timing wheel
//! (whose lists are in `wheel`).

use super::*;

/// `last` of a position that holds no record; its `id` then says which kind.
pub(super) const VACANT: u64 = u64::MAX;
/// Vacant kinds (the `id` of a vacant entry): never used, so a probe run ends
/// here.
pub(super) const NEVER_USED: u64 = 0;
/// A record left; probes go on past it, and it is not in the wheel, so an
/// insert may take it.
pub(super) const FREED: u64 = 1;
/// A record was removed but its position is still linked in the wheel; the
/// sweep turns it into [`FREED`] when it gets there.
pub(super) const REMOVED: u64 = 2;

/// One table position (16 B, four to a cache line): a client's id and last
/// heartbeat, side by side, so a heartbeat reads and writes one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) id: u64,
    /// Last heartbeat, ms on the table's clock (at most [`Presence::LATEST`]),
    /// or [`VACANT`].
    pub(super) last: u64,
}

impl Entry {
    pub(super) const fn vacant(kind: u64) -> Self {
        Self {
            id: kind,
            last: VACANT,
        }
    }

    pub(super) fn is_record(self) -> bool {
        self.last != VACANT
    }

    /// `id`'s record. (`&`, not `&&`: both halves are cheap, and the batch
    /// must not branch on them.)
    #[inline]
    pub(super) fn holds(self, id: u64) -> bool {
        (self.id == id) & self.is_record()
    }

    /// A never-used position: a probe run that reaches one ends there, with
    /// the id not in the table.
    #[inline]
    pub(super) fn ends_runs(self) -> bool {
        !self.is_record() & (self.id == NEVER_USED)
    }

    /// The entry at `pos` of `table`, or a never-used one if `pos` is out of
    /// range (for [`Presence::heartbeat_many`], which reads without branching
    /// on what it finds; a slice rather than `&Presence`, so the loop keeps
    /// the table's address in a register).
    #[inline]
    pub(super) fn read(table: &[Entry], pos: usize) -> Entry {
        table.get(pos).copied().unwrap_or(Entry::vacant(NEVER_USED))
    }

    /// [`Presence::probe`]'s outcome for `id` at this entry, as two flags
    /// computed without a branch (for [`Presence::heartbeat_many`]): `hit`
    /// (the id's record is here) and `other` (another record or a vacated
    /// position: go on). Neither: the id is not in the table.
    #[inline]
    pub(super) fn step(self, id: u64) -> (bool, bool) {
        let hit = self.holds(id);
        (hit, !hit & !self.ends_runs())
    }

    /// A position an insert may fill: never used, or freed and unlinked.
    fn is_reusable(self) -> bool {
        !self.is_record() && self.id != REMOVED
    }
}

/// What one table position says about an id (see [`Presence::probe`]).
pub(super) enum Probe {
    /// A never-used position: the id is not in the table.
    Empty,
    /// The id's record, at this position.
    Hit(usize),
    /// Another id's record or a vacated position: probe the next one.
    Other,
}

impl Presence {
    /// Raise a tracked id's `last` to `at`; false if the id is not tracked.
    pub(super) fn touch(&mut self, id: u64, at: u64) -> bool {
        let Some(pos) = self.lookup(id) else {
            return false;
        };
        if let Some(e) = self.entries.get_mut(pos) {
            e.last = e.last.max(at);
        }
        true
    }

    /// The record of a tracked id.
    pub(super) fn record(&self, id: u64) -> Option<Entry> {
        self.lookup(id)
            .and_then(|pos| self.entries.get(pos).copied())
    }

    pub(super) fn bucket(&self, tick: u64) -> usize {
        // Wheel size is a power of two <= 2^16: the mask keeps the value tiny.
        (tick & (self.heads.len() as u64).wrapping_sub(1)) as usize
    }

    /// Where `id`'s probe run starts: the top `log2(len)` bits of
    /// `id × multiplier` (multiply-shift; the low bits of a product depend
    /// only on the low bits of `id`, the top ones on all of them).
    #[inline]
    pub(super) fn home(&self, id: u64) -> usize {
        // `len` is a power of two, so the shift is 64 - log2(len), in
        // 1..=64; `wrapping_shr` takes 64 as 0 (a one-position table), and
        // the mask keeps the result in range either way. Truncating to
        // usize after the shift loses nothing.
        let len = self.entries.len();
        let h = id
            .wrapping_mul(self.multiplier)
            .wrapping_shr(64 - len.trailing_zeros());
        (h as usize) & len.wrapping_sub(1)
    }

    /// The position of `id`'s record.
    pub(super) fn lookup(&self, id: u64) -> Option<usize> {
        let mask = self.entries.len().wrapping_sub(1);
        let mut pos = self.home(id);
        for _ in 0..self.entries.len() {
            match self.probe(pos, id) {
                Probe::Empty => return None,
                Probe::Hit(at) => return Some(at),
                Probe::Other => pos = (pos + 1) & mask,
            }
        }
        None
    }

    /// One step of a lookup: what position `pos` says about `id`.
    #[inline]
    pub(super) fn probe(&self, pos: usize, id: u64) -> Probe {
        match self.entries.get(pos) {
            Some(e) if e.holds(id) => Probe::Hit(pos),
            Some(e) if !e.ends_runs() => Probe::Other,
            _ => Probe::Empty,
        }
    }

    /// The online rule for a record last seen at `last`, at `now` (ms):
    /// `now - last < threshold`, with `last` raised to the restart epoch.
    #[inline]
    pub(super) fn alive(&self, last: u64, now: u64) -> bool {
        now.saturating_sub(last.max(self.epoch)) < self.threshold
    }

    /// Track a new id (not in the table) with last heartbeat `last`.
    pub(super) fn insert(&mut self, id: u64, last: u64) -> Result<(), PresenceFull> {
        let full = PresenceFull {
            max_clients: self.max_clients,
        };
        if self.live >= usize::try_from(self.max_clients).unwrap_or(usize::MAX) {
            self.rejected = self.rejected.saturating_add(1);
            return Err(full);
        }
        // Records and vacated positions together stay at or below 3/4, so
        // probe runs stay short and always end at a never-used position.
        let used = self.live + self.vacated + 1;
        if used.saturating_mul(4) > self.entries.len().saturating_mul(3) && !self.rehash() {
            self.rejected = self.rejected.saturating_add(1);
            return Err(full);
        }
        if self.in_wheel == 0 {
            // Empty wheel: skip the ticks nobody is waiting on.
            self.cursor = self
                .cursor
                .max(self.clock.now().as_millis() / self.resolution);
        }
        let Some(pos) = self.place(Entry { id, last }) else {
            // Unreachable: the load bound leaves a reusable position.
            self.rejected = self.rejected.saturating_add(1);
            return Err(full);
        };
        self.live += 1;
        self.enqueue(pos, last);
        Ok(())
    }

    /// Put `e` at the first reusable position from its id's home.
    fn place(&mut self, e: Entry) -> Option<usize> {
        let mask = self.entries.len().wrapping_sub(1);
        let mut pos = self.home(e.id);
        for _ in 0..self.entries.len() {
            let slot = self.entries.get_mut(pos)?;
            if slot.is_reusable() {
                if slot.id == FREED {
                    self.vacated = self.vacated.saturating_sub(1);
                }
                *slot = e;
                return Some(pos);
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// Link a position that just got its record into the wheel. A record
    /// already expired when it arrives (loaded with an old `last_seen`) is
    /// due now: it goes straight to the sweep, so it is reported even where
    /// its bucket tick is out of reach (`u64::MAX`).
    fn enqueue(&mut self, pos: usize, last: u64) {
        self.in_wheel += 1;
        let now = self.clock.now().as_millis();
        if !self.alive(last, now) {
            self.draining = self.push_position(self.draining, pos as u32);
        } else {
            self.schedule(pos, last);
        }
    }

    /// Rebuild the table without its vacated positions, twice as large if
    /// the records alone are above 5/8 of it (else the same size), and the
    /// wheel from the records' expiry ticks. O(records). False if the table
    /// is already as large as positions can address.
    fn rehash(&mut self) -> bool {
        let len = self.entries.len();
        let grow = self.live.saturating_mul(8) > len.saturating_mul(5);
        let size = if grow { len.saturating_mul(2) } else { len };
        if size > MAX_POSITIONS {
            return false;
        }
        let old = core::mem::replace(&mut self.entries, vec![Entry::vacant(NEVER_USED); size]);
        self.clear_wheel();
        self.vacated = 0;
        for e in old.into_iter().filter(|e| e.is_record()) {
            if let Some(pos) = self.place(e) {
                self.enqueue(pos, e.last);
            }
        }
        self.rehashes = self.rehashes.wrapping_add(1);
        true
    }

    /// Link the record at `pos`, last seen at `last`, into the bucket of its
    /// expiry tick (never a past one).
    #[inline]
    pub(super) fn schedule(&mut self, pos: usize, last: u64) {
        let expiry = last.max(self.epoch).saturating_add(self.threshold);
        let tick = expiry
            .div_ceil(self.resolution)
            .max(self.cursor.saturating_add(1));
        let b = self.bucket(tick);
        let head = self.heads.get(b).copied().unwrap_or(NIL);
        let head = self.push_position(head, pos as u32);
        if let Some(h) = self.heads.get_mut(b) {
            *h = head;
        }
        if let Some(word) = self.occupied.get_mut(b / 64) {
            *word |= 1u64 << (b % 64);
        }
    }

    /// A position left the wheel for good: vacate it (probes go on past it).
    pub(super) fn release(&mut self, pos: usize) {
        if let Some(e) = self.entries.get_mut(pos) {
            if e.is_record() {
                self.vacated += 1;
            }
            *e = Entry::vacant(FREED);
        }
        self.in_wheel = self.in_wheel.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Presence, PresenceConfig};
    use crate::time::Instant;
    use alloc::vec::Vec;

    /// Mean and longest distance from home over `ids`, after inserting them
    /// all into a table sized for them.
    fn probe_lengths(ids: &[u64], seed: u64) -> (f64, usize) {
        let cfg = PresenceConfig::default();
        let mut p = Presence::with_capacity_and_seed(cfg, ids.len(), seed).unwrap();
        for &id in ids {
            let _ = p.heartbeat(id, Instant::from_millis(1));
        }
        let mask = p.entries.len() - 1;
        let dist: Vec<usize> = ids
            .iter()
            .map(|&id| (p.lookup(id).unwrap().wrapping_sub(p.home(id))) & mask)
            .collect();
        let mean = dist.iter().sum::<usize>() as f64 / dist.len() as f64;
        (mean, dist.iter().copied().max().unwrap_or(0))
    }

    /// Multiply-shift keeps probe runs short on the id sets servers have:
    /// counters, strides of powers of two (ids with zero low bits, or only
    /// high bits set), and random ids, for the default seed and a drawn one.
    /// At the table's load (about 1/2 here) linear probing with a random
    /// hash averages about 0.5 steps from home.
    #[test]
    fn multiply_shift_keeps_probe_runs_short_on_structured_ids() {
        const N: u64 = 50_000;
        let mut z = 7u64;
        let random: Vec<u64> = (0..N)
            .map(|_| {
                z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
                super::super::mix(z)
            })
            .collect();
        let sets: [(&str, Vec<u64>); 5] = [
            ("counter", (1..=N).collect()),
            ("stride 1024", (1..=N).map(|i| i << 10).collect()),
            ("high bits only", (1..=N).map(|i| i << 40).collect()),
            ("counter + 2^63", (1..=N).map(|i| i | 1 << 63).collect()),
            ("random", random),
        ];
        for seed in [0, 0x5EED_1234_ABCD_0001] {
            for (name, ids) in &sets {
                let (mean, max) = probe_lengths(ids, seed);
                assert!(mean < 1.0, "{name}, seed {seed:#x}: mean {mean}");
                assert!(max < 64, "{name}, seed {seed:#x}: longest {max}");
            }
        }
    }
}
