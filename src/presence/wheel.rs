//! The timing wheel's lists: table positions in blocks of [`BLOCK`] (512 B,
//! eight cache lines), drawn from a pool with a free list.
//!
//! A bucket's positions are scattered over the table (they are hashed), so
//! a list linked through the positions themselves would make the sweep wait
//! for one cache miss before it knows the next position. A block names 126
//! positions at once: the sweep takes one block (one chain step per 126
//! records), reads all its entries before judging any, so their misses
//! overlap, and then judges them. Lists only grow at their head block and
//! the sweep only takes whole blocks from the head of the list it drains, so
//! every block but a list's head is full: the pool holds at most
//! `in_wheel / 126` blocks plus one per bucket, and once it has grown to its
//! peak it is reused without allocating. (Blocks of 14 and 62 positions
//! swept 1M clients 2x and 1.3x slower: BENCHMARKS.md.)

use super::*;

/// Positions per block: 126 × 4 B plus the two `u32` fields fill 512 B.
pub(super) const BLOCK: usize = 126;

/// Up to [`BLOCK`] positions of one list, and the next block of the list.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))] // whole cache lines
pub(super) struct Block {
    /// The next block of the list (or, on the free list, the next free one).
    next: u32,
    /// Positions in use, at the front of `pos`.
    len: u32,
    pos: [u32; BLOCK],
}

impl Presence {
    /// Add `pos` to the list headed by block `head`; returns the new head.
    #[inline]
    pub(super) fn push_position(&mut self, head: u32, pos: u32) -> u32 {
        if let Some(b) = self.blocks.get_mut(head as usize) {
            if let Some(slot) = b.pos.get_mut(b.len as usize) {
                *slot = pos;
                b.len += 1;
                return head;
            }
        }
        let mut first = [0; BLOCK];
        if let Some(slot) = first.first_mut() {
            *slot = pos;
        }
        let block = Block {
            next: head,
            len: 1,
            pos: first,
        };
        let free = self.free_block;
        match self.blocks.get_mut(free as usize) {
            Some(b) => {
                self.free_block = b.next;
                *b = block;
                free
            }
            None => {
                // Fewer blocks than positions, so the count stays below NIL.
                self.blocks.push(block);
                u32::try_from(self.blocks.len().saturating_sub(1)).unwrap_or(NIL)
            }
        }
    }

    /// Detach the first block of the sweep's list: its positions.
    pub(super) fn take_draining_block(&mut self) -> Option<([u32; BLOCK], usize)> {
        let head = self.draining;
        let Some(b) = self.blocks.get_mut(head as usize) else {
            self.draining = NIL;
            return None;
        };
        let taken = (b.pos, (b.len as usize).min(BLOCK));
        self.draining = b.next;
        // Back to the pool's free list.
        b.next = self.free_block;
        self.free_block = head;
        Some(taken)
    }

    /// Forget every list (a rehash rebuilds them); keeps the pool's memory.
    pub(super) fn clear_wheel(&mut self) {
        self.blocks.clear();
        self.free_block = NIL;
        self.heads.fill(NIL);
        self.occupied.fill(0);
        self.draining = NIL;
        self.held_len = 0;
        self.in_wheel = 0;
    }
}
