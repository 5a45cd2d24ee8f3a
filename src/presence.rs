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
//!   Arithmetic saturates at [`Instant::MAX`]. Drivers should call
//!   `heartbeat` when a client connects as well as on each ping or message.
//! * **Batches**: [`Presence::heartbeat_many`] takes the heartbeats a server
//!   read in one wake-up at once, with the same result as one call per id,
//!   and overlaps their cache misses (faster once the table outgrows the CPU
//!   caches; BENCHMARKS.md).
//!
//! # Data structure
//!
//! * **Slab** of records `{ id: u64, last: u64 ms }` (16 B) with a parallel
//!   `Vec<u32>` of links (4 B): the next record in the same expiry bucket, top
//!   bit = "removed". Freed slots go on a free list threaded through the links.
//!   `last` is a full `u64` so `last_seen` stays exact across any gap, with
//!   no rebasing pass; a `u32` offset would save 4 B but needs one.
//! * **Index**: open addressing with linear probing over `u32` slab numbers
//!   (4 B per slot), power-of-two size, load kept at or below 3/4, deletion by
//!   backward shift (no tombstones). Hash: the SplitMix64 finalizer of
//!   `id ^ seed` (seed 0 unless [`Presence::with_capacity_and_seed`]; pick a
//!   random seed if clients choose their own ids, to resist hash flooding).
//! * **Timing wheel** of `W` bucket lists (`W` = power of two, at least
//!   `ceil(threshold / resolution) + 1` and 64), one bit per bucket in an
//!   occupancy bitmap. Every record sits in exactly one bucket. A heartbeat
//!   only rewrites `last` (O(1), no list surgery). The sweep detaches each due
//!   bucket and rechecks every record in it: removed → freed; expired →
//!   `Offline`; still alive → relinked at its current expiry tick. A client
//!   heartbeating every 25 s is relinked about once per 35–60 s, so the sweep
//!   costs O(1) amortized per heartbeat, plus O(1) per record that expires or
//!   was removed, plus the buckets passed. It never scans the table: after a
//!   gap longer than the wheel it visits each bucket once (at most `W` per
//!   call), and with no records it jumps straight to `now`.
//!
//! # Memory per client
//!
//! 16 B record + 4 B link = [`Presence::BYTES_PER_RECORD`] (20 B), plus index
//! slots of [`Presence::BYTES_PER_INDEX_SLOT`] (4 B) at load 3/8..3/4, that is
//! 5.3–10.7 B. Sized with [`Presence::with_capacity`]: 25–31 B per client
//! (1,000,000 clients: 20 MB slab + 8 MiB index = 28.4 MB, 28 B each). Growing
//! by pushes can leave up to as much again of spare slab capacity. Fixed
//! overhead: `W` × 4 B heads + `W` / 8 B bitmap (264 B by default). Slab
//! slots of removed clients are reused once the sweep passes their bucket, so
//! memory follows the peak of live plus recently removed clients.

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

/// End of a bucket or free list; also the number of slab slots addressable.
const NIL: u32 = 0x7FFF_FFFF;
/// Link flag: the record was removed and waits for the sweep to free it.
const DEAD: u32 = 0x8000_0000;
/// An empty index slot.
const EMPTY: u32 = u32::MAX;
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
    /// holds in published benchmarks, while bounding the table near 500 MB.
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
                "must be in 1..=2147483647",
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    id: u64,
    /// Last heartbeat, ms on the table's clock.
    last: u64,
}

/// Last-heartbeat table with expiry sweep; see the module docs.
#[derive(Clone)]
pub struct Presence {
    threshold: u64,
    resolution: u64,
    max_clients: u32,
    seed: u64,
    records: Vec<Record>,
    links: Vec<u32>,
    free: u32,
    index: Vec<u32>,
    live: usize,
    /// Records in buckets or in `draining`, live or removed.
    in_wheel: usize,
    heads: Vec<u32>,
    occupied: Vec<u64>,
    /// Last tick whose bucket was detached; every bucket for later ticks is intact.
    cursor: u64,
    /// Rest of the detached bucket being swept.
    draining: u32,
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
            .field("slab", &self.records.len())
            .field("index_slots", &self.index.len())
            .field("buckets", &self.heads.len())
            .field("cursor", &self.cursor)
            .field("epoch", &self.epoch)
            .field("latest", &self.clock.now())
            .finish_non_exhaustive()
    }
}

/// SplitMix64's output finalizer: a bijection with full avalanche.
fn mix(x: u64) -> u64 {
    let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Index slots for `n` records at load at most 3/4 (power of two, at least 8).
fn index_slots(n: usize) -> usize {
    n.saturating_add(n / 3)
        .saturating_add(1)
        .max(8)
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
}

impl Presence {
    /// Most clients a table can address (slab numbers are 31 bits).
    pub const MAX_CLIENTS: u32 = NIL;
    /// Bytes per slab slot: 16 B record + 4 B bucket link.
    pub const BYTES_PER_RECORD: usize = core::mem::size_of::<Record>() + 4;
    /// Bytes per index slot (the index keeps load at or below 3/4).
    pub const BYTES_PER_INDEX_SLOT: usize = 4;

    /// An empty table.
    pub fn new(cfg: PresenceConfig) -> Result<Self, ConfigError> {
        Self::with_capacity_and_seed(cfg, 0, 0)
    }

    /// An empty table with room for `n` clients before any reallocation
    /// (`n` is capped at `cfg.max_clients`; a failed allocation grows lazily).
    pub fn with_capacity(cfg: PresenceConfig, n: usize) -> Result<Self, ConfigError> {
        Self::with_capacity_and_seed(cfg, n, 0)
    }

    /// Like [`Presence::with_capacity`], hashing ids with `seed` mixed in
    /// (draw it from your rng when ids are client-chosen).
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
        let mut records = Vec::new();
        let mut links = Vec::new();
        let reserved = records.try_reserve_exact(n).is_ok() && links.try_reserve_exact(n).is_ok();
        let slots = index_slots(if reserved { n } else { 0 });
        Ok(Self {
            threshold,
            resolution,
            max_clients: cfg.max_clients,
            seed,
            records,
            links,
            free: NIL,
            index: vec![EMPTY; slots],
            live: 0,
            in_wheel: 0,
            heads: vec![NIL; buckets],
            occupied: vec![0; buckets / 64],
            cursor: 0,
            draining: NIL,
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
        let now = self.clock.observe(now).as_millis();
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
        let now = now.max(self.clock.now()).as_millis();
        self.record(id)
            .is_some_and(|r| now.saturating_sub(r.last.max(self.epoch)) < self.threshold)
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
        self.record(id).map(|r| Instant::from_millis(r.last))
    }

    /// Forget a client that disconnected cleanly; no `Offline` will follow
    /// (publish it yourself). Returns whether it was tracked.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some((pos, slot)) = self.lookup(id) else {
            return false;
        };
        self.unindex(pos);
        // The record stays in its bucket until the sweep frees it.
        if let Some(l) = self.links.get_mut(slot as usize) {
            *l |= DEAD;
        }
        self.live = self.live.saturating_sub(1);
        true
    }

    /// The next `Offline` transition due at `now`, one per call; call until
    /// `None`. Work: O(1) per record expired, freed or relinked, plus buckets
    /// passed (at most the wheel size per call). Pre-restart records are
    /// judged from the restart epoch (module docs).
    #[must_use]
    pub fn poll_expired(&mut self, now: Instant) -> Option<Transition> {
        let now = self.clock.observe(now).as_millis();
        // Bucket t is due once t * resolution <= now; at the end of time every tick is.
        let target = if now == u64::MAX {
            now.div_ceil(self.resolution)
        } else {
            now / self.resolution
        };
        loop {
            if self.draining != NIL {
                let slot = self.draining;
                let link = self.link(slot);
                self.draining = link & NIL;
                if link & DEAD != 0 {
                    self.release(slot);
                    continue;
                }
                let Some(r) = self.records.get(slot as usize).copied() else {
                    continue;
                };
                if now.saturating_sub(r.last.max(self.epoch)) < self.threshold {
                    self.schedule(slot);
                    continue;
                }
                if let Some((pos, found)) = self.lookup(r.id) {
                    if found == slot {
                        self.unindex(pos);
                    }
                }
                self.release(slot);
                self.live = self.live.saturating_sub(1);
                return Some(Transition::Offline {
                    id: r.id,
                    last_seen: Instant::from_millis(r.last),
                });
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

    /// Mark a server restart at `now` (R24): every client last seen before it
    /// gets a fresh grace period of `threshold` from `now`. O(1); repeated
    /// calls keep the latest epoch.
    pub fn restart(&mut self, now: Instant) {
        self.epoch = self.epoch.max(self.clock.observe(now).as_millis());
    }

    /// When [`Presence::poll_expired`] may next yield something: never before
    /// the latest `now` seen; `None` with no records. May be early (a bucket
    /// whose records all heartbeated since), never late.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let latest = self.clock.now();
        if self.draining != NIL {
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
                return Some(
                    Instant::from_millis(tick.saturating_mul(self.resolution)).max(latest),
                );
            }
            wi = (wi + 1) % words.max(1);
            word = self.occupied.get(wi).copied().unwrap_or(0);
        }
        None
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

    /// Heap bytes held: slab capacity × 20 B + index slots × 4 B + wheel.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        [
            (self.records.capacity(), core::mem::size_of::<Record>()),
            (self.links.capacity(), 4),
            (self.index.len(), Self::BYTES_PER_INDEX_SLOT),
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
