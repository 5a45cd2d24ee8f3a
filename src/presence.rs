//! Server-side presence: which client ids are online, judged by their last
//! heartbeat (R20), surviving a server restart without a mass "offline" (R24).
//!
//! # Rules
//!
//! * **Online iff `now - last < threshold`** (strict), exactly as seed 003
//!   states it, at millisecond precision. [`Presence::is_online`] answers it
//!   for any instant; `resolution` only coarsens *when* the sweep reports.
//! * **Transitions alternate per id**: `Online`, `Offline`, `Online`, …
//!   [`Presence::heartbeat`] yields `Online` when the id has no record (never
//!   seen, its `Offline` already yielded, or [`Presence::remove`]d), and
//!   [`Presence::poll_expired`] yields `Offline` once and drops the record. A
//!   heartbeat that lands after `last + threshold` but before the sweep got to
//!   the record yields nothing: no `Offline` was published, so the shared
//!   store still says "online", and an `Online` now would count the client
//!   twice. A store that adds one per `Online` and subtracts one per `Offline`
//!   therefore stays exact.
//! * **Sweep granularity**: an expired client is reported by the first
//!   `poll_expired(now)` with `now` at or after the end of its `resolution`
//!   bucket, i.e. at most `resolution - 1 ms` after `last + threshold` when the
//!   driver polls at [`Presence::poll_timeout`]. Order across ids roughly
//!   follows expiry time but is not guaranteed.
//! * **Restart epoch (R24)**: [`Presence::restart`] records the instant the
//!   server came back. A record whose `last` is before that epoch is judged
//!   as if last seen *at* the epoch: online for a fresh `threshold`, and
//!   reported `Offline` (with its true pre-restart `last_seen`) only if it has
//!   not heartbeated by `epoch + threshold`. Why: while the server was down no
//!   heartbeat could arrive, so an old `last` says nothing about the client;
//!   judging it by `now - last` would mark every client offline at once, the
//!   failure seed 003 warns about. One threshold (60 s by default) covers a
//!   client's reconnect after close code 1012 (uniform 5–30 s) plus its first
//!   heartbeat (every 25 s); a client whose backoff keeps it away longer
//!   (say after a crash seen as 1006) is reported `Offline`, then `Online`
//!   when it returns. [`Presence::is_confirmed`] tells clients heard from
//!   since the epoch from those in grace. Restoring from a store: call `restart(now)`
//!   first, then [`Presence::load`] each stored id (`last_seen` translated to
//!   this clock; values later than the table's clock are clamped to it).
//! * **Time**: a `now` earlier than one already seen is clamped to the latest
//!   (the table keeps a [`Clock`]); `&self` queries use `max(now, latest)`.
//!   Instants after [`Presence::LATEST`] (equal to [`Instant::MAX`]) are
//!   clamped to it, and arithmetic saturates. Drivers should call
//!   `heartbeat` when a client connects as well as on each ping or message.
//! * **Batches**: [`Presence::heartbeat_many`] takes the heartbeats a server
//!   read in one wake-up at once, with the same result as one call per id,
//!   and overlaps their cache misses (faster once the table outgrows the CPU
//!   caches; BENCHMARKS.md).
//!
//! # Data structure
//!
//! * **Table**: open addressing with linear probing over 16 B entries
//!   `{ id: u64, last: u64 ms }`, four to a cache line, power-of-two size.
//!   The record *is* the table entry, so a heartbeat reads and writes one
//!   cache line: at a million clients, one cache miss instead of the two of
//!   an index pointing into a slab. `last` is a full `u64`, so `last_seen`
//!   stays exact across any gap with no rebasing pass; the one value it
//!   reserves, `u64::MAX`, marks a vacant entry, which is why the table's
//!   clock stops at [`Presence::LATEST`]. Removal and expiry leave a
//!   vacated entry that probes pass over (positions never move, so the
//!   wheel can name them); records plus vacated entries stay at or below
//!   3/4 of the table, and crossing that rehashes: to twice the size if the
//!   records alone fill more than 5/8, else at the same size, dropping the
//!   vacated entries. Hash: multiply-shift, the top bits of `id × a` for an odd
//!   64-bit `a` drawn from the seed (seed 0 unless
//!   [`Presence::with_capacity_and_seed`]). With `a` random this is a
//!   universal family (Dietzfelbinger et al., 1997: two ids share a home
//!   position with probability at most 2/size), so pick a random seed if
//!   clients choose their own ids, to resist hash flooding. One multiply
//!   and one shift: 10 instructions fewer per heartbeat than the SplitMix64
//!   finalizer this replaced.
//! * **Timing wheel** of `W` bucket lists (`W` = power of two, at least
//!   `ceil(threshold / resolution) + 1` and 64), one bit per bucket in an
//!   occupancy bitmap. A list holds table positions in 512 B blocks of 126
//!   (see `wheel`), so the sweep has a block's worth of independent reads
//!   in flight instead of chasing one pointer per record. Every record sits
//!   in exactly one bucket. A heartbeat only rewrites `last` (O(1), no list
//!   surgery). The sweep detaches each due bucket and rechecks every record
//!   in it: removed → vacated; expired → `Offline`; still alive → relinked
//!   at its current expiry tick. A client heartbeating every 25 s is
//!   relinked about once per 35–60 s, so the sweep costs O(1) amortized per
//!   heartbeat, plus O(1) per record that expires or was removed, plus the
//!   buckets passed. It never scans the table: after a gap longer than the
//!   wheel it visits each bucket once (at most `W` per call), and with no
//!   records it jumps straight to `now`.
//!
//! # Memory per client
//!
//! [`Presence::BYTES_PER_POSITION`] (16 B) per table position at a load of
//! 3/8..3/4, that is 21–43 B, plus about 4.1 B of wheel blocks per record.
//! Sized with [`Presence::with_capacity`]: 1,000,000 clients take 2^21
//! positions (33.6 MB) and 7,937 blocks (4.1 MB), 37.6 MB or 37 B each; the
//! slab-and-index layout this replaced took 28 B, but two cache misses per
//! heartbeat (BENCHMARKS.md has both). Fixed overhead: `W` × 4 B heads,
//! `W` / 8 B bitmap, and up to `W` + 1 partly filled blocks. Vacated
//! positions are reused by new ids once the sweep has passed them, and a
//! rehash drops the rest, so memory follows the peak of live plus recently
//! removed clients.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::error::ConfigError;
use crate::time::{millis, Clock, Instant};

mod batch;
mod table;
#[cfg(test)]
mod tests;
mod wheel;

/// No block: the end of a list (block numbers stay below it).
const NIL: u32 = u32::MAX;
/// Most table positions (the wheel stores them as `u32`).
const MAX_POSITIONS: usize = 1 << 30;
/// Largest `ceil(threshold / resolution)` accepted (bounds the wheel).
const MAX_BUCKETS: u64 = 65_535;

/// Tuning for [`Presence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PresenceConfig {
    /// A client is online iff `now - last_heartbeat < threshold`. Default 60 s:
    /// two client heartbeat intervals (25 s each) plus 10 s slack, so one lost
    /// or late heartbeat never flips a client offline, two in a row do, and
    /// network delay or a quick reconnect fits in the slack. Whole
    /// milliseconds; must be at least 1 ms.
    pub threshold: Duration,
    /// Width of one expiry bucket: offline transitions are reported at most
    /// this late. Default 1 s: invisible next to a 60 s threshold, and the
    /// wheel stays at 64 buckets. Whole milliseconds, at least 1 ms, at most
    /// `threshold`, and `threshold / resolution` at most 65535.
    pub resolution: Duration,
    /// Most clients tracked at once; heartbeats from new ids beyond it are
    /// refused ([`Presence::try_heartbeat`] says so). Default 16,777,216
    /// (2^24): above the few million connections a single server process
    /// holds in published benchmarks, while bounding the table near 600 MB.
    /// At most [`Presence::MAX_CLIENTS`].
    pub max_clients: u32,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            threshold: Duration::from_secs(60),
            resolution: Duration::from_secs(1),
            max_clients: 1 << 24,
        }
    }
}

impl PresenceConfig {
    /// Check every field; names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (thr, res) = (millis(self.threshold), millis(self.resolution));
        let checks = [
            (thr == 0, "presence.threshold", "must be at least 1 ms"),
            (res == 0, "presence.resolution", "must be at least 1 ms"),
            (
                res > thr,
                "presence.resolution",
                "must not exceed presence.threshold",
            ),
            (
                thr.div_ceil(res.max(1)) > MAX_BUCKETS,
                "presence.resolution",
                "too fine: presence.threshold / presence.resolution must be at most 65535",
            ),
            (
                self.max_clients == 0 || self.max_clients > Presence::MAX_CLIENTS,
                "presence.max_clients",
                "must be in 1..=805306368",
            ),
        ];
        match checks.into_iter().find(|c| c.0) {
            Some((_, field, problem)) => Err(ConfigError::new(field, problem)),
            None => Ok(()),
        }
    }
}

/// A change of a client's presence, for publishing to a shared store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Transition {
    /// The client came online (first heartbeat of an online period).
    Online {
        /// The client.
        id: u64,
    },
    /// The client went silent for a full threshold and is no longer tracked.
    Offline {
        /// The client.
        id: u64,
        /// Its last heartbeat (before the restart epoch, for clients that
        /// never came back after a restart).
        last_seen: Instant,
    },
}

/// A heartbeat from a new id was refused: the table holds `max_clients`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("presence table full ({max_clients} clients)")]
pub struct PresenceFull {
    /// The configured limit that was hit.
    pub max_clients: u32,
}

/// Last-heartbeat table with expiry sweep; see the module docs.
#[derive(Clone)]
pub struct Presence {
    threshold: u64,
    resolution: u64,
    max_clients: u32,
    /// The hash's odd multiplier, drawn from the seed (module docs).
    multiplier: u64,
    /// The table: records and vacant positions, a power of two of them.
    entries: Vec<table::Entry>,
    /// The wheel's lists: blocks of positions (see `wheel`).
    blocks: Vec<wheel::Block>,
    /// First block of the pool's free list.
    free_block: u32,
    live: usize,
    /// Positions vacated (freed or removed) since the last rehash: probes
    /// pass them, so they count toward the load bound.
    vacated: usize,
    /// Rehashes so far (wrapping): a batch re-resolves positions after one.
    rehashes: u32,
    /// Positions in buckets or in `draining`, records or removed.
    in_wheel: usize,
    heads: Vec<u32>,
    occupied: Vec<u64>,
    /// Last tick whose bucket was detached; every bucket for later ticks is intact.
    cursor: u64,
    /// Rest of the detached bucket being swept.
    draining: u32,
    /// Positions of the sweep's current block not judged yet: the first
    /// `held_len` of `held` (taken off `draining`, still in the wheel).
    held: [u32; wheel::BLOCK],
    held_len: usize,
    clock: Clock,
    epoch: u64,
    rejected: u64,
}

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presence")
            .field("threshold_ms", &self.threshold)
            .field("resolution_ms", &self.resolution)
            .field("len", &self.live)
            .field("positions", &self.entries.len())
            .field("vacated", &self.vacated)
            .field("buckets", &self.heads.len())
            .field("cursor", &self.cursor)
            .field("epoch", &self.epoch)
            .field("latest", &self.clock.now())
            .finish_non_exhaustive()
    }
}

/// SplitMix64's output finalizer: a bijection with full avalanche (turns a
/// seed into the hash's multiplier).
fn mix(x: u64) -> u64 {
    let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Table positions for `n` records at load at most 3/4 (power of two, at
/// least 8, at most [`MAX_POSITIONS`]).
fn positions_for(n: usize) -> usize {
    n.saturating_add(n / 3)
        .saturating_add(1)
        .max(8)
        .checked_next_power_of_two()
        .unwrap_or(MAX_POSITIONS)
        .min(MAX_POSITIONS)
}

impl Presence {
    /// Most clients a table can address: 3/4 of its 2^30 positions.
    pub const MAX_CLIENTS: u32 = 3 << 28;
    /// Bytes per table position: the 16 B entry (id, last heartbeat). The
    /// table keeps records and vacated positions at or below 3/4 of its
    /// positions, and rehashes to 3/8 or less when it grows. The wheel adds
    /// about 4.1 B per record (512 B blocks of 126 positions).
    pub const BYTES_PER_POSITION: usize = core::mem::size_of::<table::Entry>();
    /// The latest instant the table represents: later ones are clamped to it.
    /// The table stores milliseconds and marks vacant positions with
    /// `u64::MAX`, one past the last millisecond an [`Instant`] holds, so
    /// this is [`Instant::MAX`] (it was 1 ms before it while an `Instant`
    /// could hold `u64::MAX` ms).
    pub const LATEST: Instant = Instant::from_millis(table::VACANT - 1);

    /// An empty table.
    pub fn new(cfg: PresenceConfig) -> Result<Self, ConfigError> {
        Self::with_capacity_and_seed(cfg, 0, 0)
    }

    /// An empty table with room for `n` clients before any reallocation
    /// (`n` is capped at `cfg.max_clients`; a failed allocation grows lazily).
    pub fn with_capacity(cfg: PresenceConfig, n: usize) -> Result<Self, ConfigError> {
        Self::with_capacity_and_seed(cfg, n, 0)
    }

    /// Like [`Presence::with_capacity`], with the hash's multiplier drawn
    /// from `seed` (draw the seed from your rng when ids are client-chosen).
    pub fn with_capacity_and_seed(
        cfg: PresenceConfig,
        n: usize,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let (threshold, resolution) = (millis(cfg.threshold), millis(cfg.resolution));
        // <= 65536 by validate(); at least one bitmap word.
        let buckets = usize::try_from(threshold.div_ceil(resolution).saturating_add(1))
            .unwrap_or(1 << 16)
            .max(64)
            .next_power_of_two();
        let n = n.min(usize::try_from(cfg.max_clients).unwrap_or(usize::MAX));
        let mut entries = Vec::new();
        let mut size = positions_for(n);
        if entries.try_reserve_exact(size).is_err() {
            size = positions_for(0); // A failed allocation grows lazily.
        }
        entries.resize(size, table::Entry::vacant(table::NEVER_USED));
        // The wheel's peak: every record in a full block, one partial block
        // per bucket and one for the sweep (a failure grows lazily too).
        let mut blocks = Vec::new();
        let _ = blocks.try_reserve_exact((n / wheel::BLOCK).saturating_add(buckets + 1));
        Ok(Self {
            threshold,
            resolution,
            max_clients: cfg.max_clients,
            multiplier: mix(seed ^ 0x9E37_79B9_7F4A_7C15) | 1,
            entries,
            blocks,
            free_block: NIL,
            live: 0,
            vacated: 0,
            rehashes: 0,
            in_wheel: 0,
            heads: vec![NIL; buckets],
            occupied: vec![0; buckets / 64],
            cursor: 0,
            draining: NIL,
            held: [0; wheel::BLOCK],
            held_len: 0,
            clock: Clock::default(),
            epoch: 0,
            rejected: 0,
        })
    }

    /// Record a heartbeat from `id` at `now`. O(1) amortized. Yields `Online`
    /// if the id had no record (see the alternation rule in the module docs).
    /// When the table is full a new id is not recorded and this returns `None`;
    /// [`Presence::rejected`] counts those, [`Presence::try_heartbeat`] reports them.
    pub fn heartbeat(&mut self, id: u64, now: Instant) -> Option<Transition> {
        self.try_heartbeat(id, now).unwrap_or(None)
    }

    /// [`Presence::heartbeat`], with a full table reported as an error.
    pub fn try_heartbeat(
        &mut self,
        id: u64,
        now: Instant,
    ) -> Result<Option<Transition>, PresenceFull> {
        let now = self.observe(now);
        if self.touch(id, now) {
            return Ok(None);
        }
        self.insert(id, now)?;
        Ok(Some(Transition::Online { id }))
    }

    /// Restore a client from a shared store without a transition (after
    /// [`Presence::restart`], so it gets the grace period). `last_seen` is
    /// clamped to the table's latest instant; an id already present keeps
    /// the later of the two.
    pub fn load(&mut self, id: u64, last_seen: Instant) -> Result<(), PresenceFull> {
        let last = last_seen.min(self.clock.now()).as_millis();
        if self.touch(id, last) {
            return Ok(());
        }
        self.insert(id, last)
    }

    /// Online iff `now - last < threshold`, with `last` raised to the restart
    /// epoch for pre-restart records (the grace period). Unknown ids: false.
    #[must_use]
    pub fn is_online(&self, id: u64, now: Instant) -> bool {
        let now = now.min(Self::LATEST).max(self.clock.now()).as_millis();
        self.record(id).is_some_and(|r| self.alive(r.last, now))
    }

    /// Whether `id` has heartbeated since the last [`Presence::restart`]
    /// (false for unknown ids and for pre-restart clients in their grace period).
    #[must_use]
    pub fn is_confirmed(&self, id: u64) -> bool {
        self.record(id).is_some_and(|r| r.last >= self.epoch)
    }

    /// The last heartbeat of a tracked client (`None` once its `Offline` was
    /// yielded or it was removed).
    #[must_use]
    pub fn last_seen(&self, id: u64) -> Option<Instant> {
        self.record(id).map(|e| Instant::from_millis(e.last))
    }

    /// Forget a client that disconnected cleanly; no `Offline` will follow
    /// (publish it yourself). Returns whether it was tracked.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some(pos) = self.lookup(id) else {
            return false;
        };
        // The position stays in its bucket until the sweep frees it.
        if let Some(e) = self.entries.get_mut(pos) {
            *e = table::Entry::vacant(table::REMOVED);
        }
        self.vacated += 1;
        self.live = self.live.saturating_sub(1);
        true
    }

    /// The next `Offline` transition due at `now`, one per call; call until
    /// `None`. Work: O(1) per record expired, freed or relinked, plus buckets
    /// passed (at most the wheel size per call). Pre-restart records are
    /// judged from the restart epoch (module docs).
    #[must_use]
    pub fn poll_expired(&mut self, now: Instant) -> Option<Transition> {
        let now = self.observe(now);
        // Bucket t is due once t * resolution <= now; at the end of time every tick is.
        let target = if now >= Self::LATEST.as_millis() {
            now.div_ceil(self.resolution)
        } else {
            now / self.resolution
        };
        loop {
            if self.held_len > 0 || self.draining != NIL {
                if let Some(t) = self.sweep_block(now) {
                    return Some(t);
                }
                continue;
            }
            if self.cursor >= target {
                return None;
            }
            if self.in_wheel == 0 {
                self.cursor = target;
                return None;
            }
            let w = self.heads.len() as u64;
            // A gap longer than the wheel: visit each bucket once, not every tick.
            self.cursor = self.cursor.max(target.saturating_sub(w)).saturating_add(1);
            let b = self.bucket(self.cursor);
            if let Some(h) = self.heads.get_mut(b) {
                self.draining = core::mem::replace(h, NIL);
            }
            if let Some(word) = self.occupied.get_mut(b / 64) {
                *word &= !(1u64 << (b % 64));
            }
        }
    }

    /// Judge the sweep's current block, taking the next one off `draining`
    /// when none is held: relink the live records, free the removed ones,
    /// and report the first expired one (the rest stay held for the next
    /// call). A block just taken has all its entries read before any is
    /// judged, so their cache misses overlap. Every call reads the entries
    /// anew, so what happened between calls (heartbeats, removals) counts.
    fn sweep_block(&mut self, now: u64) -> Option<Transition> {
        if self.held_len == 0 {
            let (block, n) = self.take_draining_block()?;
            self.held = block;
            self.held_len = n;
        }
        let gone = table::Entry::vacant(table::REMOVED);
        let mut read = [gone; wheel::BLOCK];
        for (e, &pos) in read.iter_mut().zip(&self.held).take(self.held_len) {
            *e = self.entries.get(pos as usize).copied().unwrap_or(gone);
        }
        while let Some(i) = self.held_len.checked_sub(1) {
            self.held_len = i;
            let pos = self.held.get(i).copied().unwrap_or(NIL) as usize;
            let e = read.get(i).copied().unwrap_or(gone);
            if !e.is_record() {
                // Removed: its last trip through the wheel is over.
                self.release(pos);
                continue;
            }
            if self.alive(e.last, now) {
                self.schedule(pos, e.last);
                continue;
            }
            self.release(pos);
            self.live = self.live.saturating_sub(1);
            return Some(Transition::Offline {
                id: e.id,
                last_seen: Instant::from_millis(e.last),
            });
        }
        None
    }

    /// Mark a server restart at `now` (R24): every client last seen before it
    /// gets a fresh grace period of `threshold` from `now`. O(1); repeated
    /// calls keep the latest epoch.
    pub fn restart(&mut self, now: Instant) {
        let now = self.observe(now);
        self.epoch = self.epoch.max(now);
    }

    /// When [`Presence::poll_expired`] may next yield something: never before
    /// the latest `now` seen; `None` with no records. May be early (a bucket
    /// whose records all heartbeated since), never late.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let latest = self.clock.now();
        if self.draining != NIL || self.held_len > 0 {
            return Some(latest);
        }
        if self.in_wheel == 0 {
            return None;
        }
        let w = self.heads.len();
        let start = self.bucket(self.cursor.saturating_add(1));
        let words = self.occupied.len();
        let mut wi = start / 64;
        let mut word = self.occupied.get(wi).copied().unwrap_or(0) & (u64::MAX << (start % 64));
        for _ in 0..=words {
            if word != 0 {
                let b = wi * 64 + word.trailing_zeros() as usize;
                let ahead = (b + w - start) % w;
                let tick = self.cursor.saturating_add(1).saturating_add(ahead as u64);
                // Every tick is due at the table's last instant.
                let at = Instant::from_millis(tick.saturating_mul(self.resolution));
                return Some(at.min(Self::LATEST).max(latest));
            }
            wi = (wi + 1) % words.max(1);
            word = self.occupied.get(wi).copied().unwrap_or(0);
        }
        None
    }

    /// The table's clock: `now` clamped to [`Presence::LATEST`] and to the
    /// latest seen, in ms.
    fn observe(&mut self, now: Instant) -> u64 {
        self.clock.observe(now.min(Self::LATEST)).as_millis()
    }

    /// Clients tracked: online, in grace, or expired but not yet swept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.live
    }

    /// No client tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Heartbeats from new ids refused because the table was full.
    #[must_use]
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Heap bytes held: positions × 16 B, the wheel's blocks × 64 B, and
    /// the wheel's heads and bitmap.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        [
            (
                self.entries.capacity(),
                core::mem::size_of::<table::Entry>(),
            ),
            (self.blocks.capacity(), core::mem::size_of::<wheel::Block>()),
            (self.heads.len(), 4),
            (self.occupied.len(), 8),
        ]
        .into_iter()
        .fold(0, |sum, (n, size)| {
            sum.saturating_add(n.saturating_mul(size))
        })
    }

    /// [`Presence::memory_bytes`] divided by the clients tracked (at least 1).
    #[must_use]
    pub fn memory_per_client(&self) -> usize {
        self.memory_bytes() / self.live.max(1)
    }
}
