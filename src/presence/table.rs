//! The storage behind [`Presence`]: slab, open-addressing index, timing wheel.

use super::*;

/// What one index position says about an id (see [`Presence::probe`]).
pub(super) enum Probe {
    /// An empty position: the id is not in the index.
    Empty,
    /// The id's record, in this slab slot.
    Hit(u32),
    /// Another id's record: probe the next position.
    Other,
}

impl Presence {
    /// Raise a tracked id's `last` to `at`; false if the id is not tracked.
    pub(super) fn touch(&mut self, id: u64, at: u64) -> bool {
        let Some((_, slot)) = self.lookup(id) else {
            return false;
        };
        if let Some(r) = self.records.get_mut(slot as usize) {
            r.last = r.last.max(at);
        }
        true
    }

    pub(super) fn record(&self, id: u64) -> Option<&Record> {
        self.lookup(id)
            .and_then(|(_, slot)| self.records.get(slot as usize))
    }

    pub(super) fn link(&self, slot: u32) -> u32 {
        self.links.get(slot as usize).copied().unwrap_or(NIL)
    }

    pub(super) fn set_link(&mut self, slot: u32, to: u32) {
        if let Some(l) = self.links.get_mut(slot as usize) {
            *l = to;
        }
    }

    pub(super) fn bucket(&self, tick: u64) -> usize {
        // Wheel size is a power of two <= 2^16: the mask keeps the value tiny.
        (tick & (self.heads.len() as u64).wrapping_sub(1)) as usize
    }

    pub(super) fn home(&self, id: u64) -> usize {
        // Truncating the hash is intended; the mask keeps it in range.
        (mix(id ^ self.seed) as usize) & self.index.len().wrapping_sub(1)
    }

    /// `(index position, slab slot)` of `id`.
    pub(super) fn lookup(&self, id: u64) -> Option<(usize, u32)> {
        let mask = self.index.len().wrapping_sub(1);
        let mut pos = self.home(id);
        for _ in 0..self.index.len() {
            match self.probe(pos, id) {
                Probe::Empty => return None,
                Probe::Hit(slot) => return Some((pos, slot)),
                Probe::Other => pos = (pos + 1) & mask,
            }
        }
        None
    }

    /// One step of a lookup: what index position `pos` says about `id`.
    #[inline]
    pub(super) fn probe(&self, pos: usize, id: u64) -> Probe {
        match self.index.get(pos).copied() {
            None | Some(EMPTY) => Probe::Empty,
            Some(slot) if self.records.get(slot as usize).is_some_and(|r| r.id == id) => {
                Probe::Hit(slot)
            }
            Some(_) => Probe::Other,
        }
    }

    pub(super) fn insert(&mut self, id: u64, last: u64) -> Result<(), PresenceFull> {
        let full = PresenceFull {
            max_clients: self.max_clients,
        };
        if self.live >= usize::try_from(self.max_clients).unwrap_or(usize::MAX) {
            self.rejected = self.rejected.saturating_add(1);
            return Err(full);
        }
        let rec = Record { id, last };
        let slot = if self.free != NIL {
            let slot = self.free;
            self.free = self.link(slot) & NIL;
            if let Some(r) = self.records.get_mut(slot as usize) {
                *r = rec;
            }
            slot
        } else {
            match u32::try_from(self.records.len()) {
                Ok(slot) if slot < NIL => {
                    self.records.push(rec);
                    self.links.push(NIL);
                    slot
                }
                _ => {
                    self.rejected = self.rejected.saturating_add(1);
                    return Err(full);
                }
            }
        };
        if self.in_wheel == 0 {
            // Empty wheel: skip the ticks nobody is waiting on.
            self.cursor = self
                .cursor
                .max(self.clock.now().as_millis() / self.resolution);
        }
        if (self.live + 1).saturating_mul(4) > self.index.len().saturating_mul(3) {
            self.grow_index();
        }
        self.place(slot, id);
        self.live += 1;
        self.in_wheel += 1;
        // A record already expired when it arrives (loaded with an old
        // last_seen) is due now: hand it straight to the sweep, so it is
        // reported even where its bucket tick is out of reach (u64::MAX).
        let now = self.clock.now().as_millis();
        if now.saturating_sub(last.max(self.epoch)) >= self.threshold {
            self.set_link(slot, self.draining);
            self.draining = slot;
        } else {
            self.schedule(slot);
        }
        Ok(())
    }

    /// Put `slot` into the first free index position from `id`'s home.
    pub(super) fn place(&mut self, slot: u32, id: u64) {
        let mask = self.index.len().wrapping_sub(1);
        let mut pos = self.home(id);
        for _ in 0..self.index.len() {
            match self.index.get_mut(pos) {
                Some(e) if *e == EMPTY => {
                    *e = slot;
                    return;
                }
                Some(_) => pos = (pos + 1) & mask,
                None => return,
            }
        }
    }

    pub(super) fn grow_index(&mut self) {
        let bigger = self.index.len().saturating_mul(2);
        let old = core::mem::replace(&mut self.index, vec![EMPTY; bigger]);
        for slot in old.into_iter().filter(|&s| s != EMPTY) {
            if let Some(id) = self.records.get(slot as usize).map(|r| r.id) {
                self.place(slot, id);
            }
        }
    }

    /// Empty index position `pos`, shifting later entries of its probe run back.
    pub(super) fn unindex(&mut self, mut pos: usize) {
        let mask = self.index.len().wrapping_sub(1);
        let mut next = pos;
        for _ in 0..self.index.len() {
            next = (next + 1) & mask;
            let slot = self.index.get(next).copied().unwrap_or(EMPTY);
            if slot == EMPTY {
                break;
            }
            let home = self
                .records
                .get(slot as usize)
                .map_or(next, |r| self.home(r.id));
            // Move it back if its home is not within (pos, next] (cyclically).
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(pos) & mask) {
                if let Some(e) = self.index.get_mut(pos) {
                    *e = slot;
                }
                pos = next;
            }
        }
        if let Some(e) = self.index.get_mut(pos) {
            *e = EMPTY;
        }
    }

    /// Link a live record into the bucket of its expiry tick (never a past one).
    pub(super) fn schedule(&mut self, slot: u32) {
        let Some(r) = self.records.get(slot as usize) else {
            return;
        };
        let expiry = r.last.max(self.epoch).saturating_add(self.threshold);
        let tick = expiry
            .div_ceil(self.resolution)
            .max(self.cursor.saturating_add(1));
        let b = self.bucket(tick);
        let head = self.heads.get(b).copied().unwrap_or(NIL);
        self.set_link(slot, head);
        if let Some(h) = self.heads.get_mut(b) {
            *h = slot;
        }
        if let Some(word) = self.occupied.get_mut(b / 64) {
            *word |= 1u64 << (b % 64);
        }
    }

    /// Return a slot that left the wheel to the free list.
    pub(super) fn release(&mut self, slot: u32) {
        let free = self.free;
        self.set_link(slot, free);
        self.free = slot;
        self.in_wheel = self.in_wheel.saturating_sub(1);
    }
}
