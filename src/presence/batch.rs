//! Heartbeats in batches: the same result as one [`Presence::heartbeat`] per
//! id, with the cache misses of a batch overlapped.
//!
//! At a million clients the table is tens of megabytes, so one heartbeat is
//! a read from memory: the entry at the id's home position. A server's event
//! loop reads heartbeats from many sockets per wake-up, so it can hand them
//! over together. [`Presence::heartbeat_many`] then reads, for a group of
//! ids, the first two positions of each id's probe run in one tight pass: the
//! reads do not depend on each other, so the CPU keeps many misses in flight
//! instead of waiting for each in turn. Probe rounds then decide, from what
//! was read, where each id's record is, and a last pass applies the
//! heartbeats in order, from cache.

use super::table::{Entry, NEVER_USED};
use super::*;

/// Ids read ahead per group: more than the misses one core keeps in flight
/// (about 20-30 on current x86_64 and Arm server cores), few enough for the
/// group's state (3 KiB) to stay in L1. At a million clients 64 measured
/// faster than 32 in each of three alternating runs, 32 faster than 16
/// (BENCHMARKS.md).
const GROUP: usize = 64;

/// Positions of each id's probe run read in the gather pass: its home and the
/// next one. The next is in the same cache line three times in four, and
/// otherwise its miss overlaps the group's instead of the second probe round
/// waiting for it on its own.
const GATHERED: usize = 2;

/// Probe positions read ahead per id: at the index's load (3/8 to 3/4), all
/// but a few percent of ids are found within three.
const PROBES: usize = 3;

/// A batch id whose probe run is not resolved yet (no position is this large).
const UNRESOLVED: usize = usize::MAX;
/// A batch id that was not tracked when its group began.
const ABSENT: usize = usize::MAX - 1;

impl Presence {
    /// Record a heartbeat at `now` from every id in `ids`, in order, exactly
    /// as `for id in ids { heartbeat(id, now) }` would, calling `online` with
    /// each `Online` transition in that order. A full table refuses new ids
    /// as [`Presence::heartbeat`] does (counted in [`Presence::rejected`]).
    /// Repeated ids are fine. No allocation except the table's own growth.
    ///
    /// Faster per heartbeat than single calls once the table outgrows the
    /// CPU caches (BENCHMARKS.md has the figures); the same at small sizes.
    pub fn heartbeat_many<F: FnMut(Transition)>(&mut self, ids: &[u64], now: Instant, online: F) {
        let mut online = online;
        if ids.is_empty() {
            return; // No heartbeat, so the clock does not move either.
        }
        let now = self.observe(now);
        for group in ids.chunks(GROUP) {
            // Per group: an insert in the previous one may have rehashed.
            let mask = self.entries.len().wrapping_sub(1);
            // Where each id's probe run starts (pure arithmetic, which the
            // compiler vectorises), then what its first GATHERED positions
            // hold: one pass of independent reads with nothing else between
            // them, so the whole group's misses are in flight together. (The
            // probe round does several times more work per id; with the reads
            // inside it, fewer misses fit in the core's reorder window at
            // once, and at a million clients on a 32 MiB L3 the batch took
            // twice as long: BENCHMARKS.md.)
            let mut pos = [0usize; GROUP];
            for (p, &id) in pos.iter_mut().zip(group) {
                *p = self.home(id);
            }
            let mut seen = [[Entry::vacant(NEVER_USED); GATHERED]; GROUP];
            let table = self.entries.as_slice();
            for (read, &p) in seen.iter_mut().zip(&pos) {
                *read = core::array::from_fn(|k| Entry::read(table, (p + k) & mask));
            }
            // Probe rounds: round r looks at position `home + r` of every id
            // not yet resolved (gathered above for the first GATHERED rounds,
            // read here after that; `probe` is the step `lookup` repeats).
            // Most ids sit at their home position (load <= 3/4), nearly all
            // within PROBES; the rest take the ordinary lookup in the last
            // pass. Per id: UNRESOLVED, ABSENT (not tracked when the group
            // began), or the position of its record.
            let mut found = [UNRESOLVED; GROUP];
            for round in 0..PROBES {
                for (((f, p), read), &id) in
                    found.iter_mut().zip(pos.iter_mut()).zip(&seen).zip(group)
                {
                    if *f != UNRESOLVED {
                        continue;
                    }
                    // No branch on what was read: a mispredicted one would
                    // throw away the reads issued after it. A hit stores the
                    // position, a never-used position ABSENT; another
                    // record leaves UNRESOLVED and steps on.
                    let e = match read.get(round) {
                        Some(&e) => e,
                        None => Entry::read(table, *p),
                    };
                    let (hit, other) = e.step(id);
                    let miss = if other { UNRESOLVED } else { ABSENT };
                    *f = if hit { *p } else { miss };
                    *p = (*p + usize::from(other)) & mask;
                }
            }
            // Apply in order. A found position keeps its record through the
            // group: inserts only fill vacant positions, and only `remove`
            // and the sweep vacate, neither of which runs here. A rehash (an
            // insert that grew or purged the table) moves every record, so
            // after one the rest of the group looks its ids up again.
            // UNRESOLVED and ABSENT name no position: those ids (new ones,
            // ones inserted earlier in this group, long probe runs) take the
            // single-call path.
            let rehashes = self.rehashes;
            for (&at, &id) in found.iter().zip(group) {
                let hit = if self.rehashes == rehashes {
                    self.entries
                        .get_mut(at)
                        .filter(|e| e.id == id && e.is_record())
                } else {
                    None
                };
                if let Some(e) = hit {
                    e.last = e.last.max(now);
                } else if !self.touch(id, now) && self.insert(id, now).is_ok() {
                    online(Transition::Online { id });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn cfg(max_clients: u32) -> PresenceConfig {
        PresenceConfig {
            threshold: Duration::from_millis(100),
            resolution: Duration::from_millis(10),
            max_clients,
        }
    }

    /// Everything observable about `ids` and the table at `now` (read-only).
    fn observe(p: &mut Presence, ids: &[u64], now: u64) -> Vec<(u64, bool, bool, Option<Instant>)> {
        let mut seen: Vec<_> = ids
            .iter()
            .map(|&id| {
                let t = Instant::from_millis(now);
                (id, p.is_online(id, t), p.is_confirmed(id), p.last_seen(id))
            })
            .collect();
        seen.push((p.len() as u64, p.is_empty(), false, None));
        seen.push((p.rejected(), false, false, p.poll_timeout()));
        seen
    }

    /// Random batches (repeats, new ids, a nearly full table, restarts,
    /// removals, sweeps) against the same heartbeats one call at a time.
    #[test]
    fn same_as_one_call_per_id() {
        for seed in 0..40u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let max = 1 + (rng.next_u32() % 300);
            let mut batched = Presence::new(cfg(max)).unwrap();
            let mut single = batched.clone();
            // A small id space makes repeats, hits and refusals all common.
            let space = 1 + u64::from(rng.next_u32() % 400);
            let all: Vec<u64> = (0..space).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
            let mut now = 0u64;
            for _ in 0..60 {
                now += u64::from(rng.next_u32() % 40);
                let at = Instant::from_millis(now);
                match rng.next_u32() % 10 {
                    0 => {
                        let id = all[(rng.next_u32() as usize) % all.len()];
                        assert_eq!(batched.remove(id), single.remove(id));
                    }
                    1 => {
                        batched.restart(at);
                        single.restart(at);
                    }
                    2 => loop {
                        let t = batched.poll_expired(at);
                        assert_eq!(t, single.poll_expired(at), "seed {seed}");
                        if t.is_none() {
                            break;
                        }
                    },
                    _ => {
                        let n = (rng.next_u32() % 140) as usize; // up to two groups and a bit
                        let ids: Vec<u64> = (0..n)
                            .map(|_| all[(rng.next_u32() as usize) % all.len()])
                            .collect();
                        let mut got = Vec::new();
                        batched.heartbeat_many(&ids, at, |t| got.push(t));
                        let want: Vec<_> = ids
                            .iter()
                            .filter_map(|&id| single.heartbeat(id, at))
                            .collect();
                        assert_eq!(got, want, "seed {seed}");
                    }
                }
                assert_eq!(
                    observe(&mut batched, &all, now),
                    observe(&mut single, &all, now),
                    "seed {seed}"
                );
            }
        }
    }

    /// A batch that makes the index grow mid-group still applies every hit.
    #[test]
    fn growth_inside_a_group_keeps_hits() {
        let mut p = Presence::new(cfg(1 << 20)).unwrap();
        let ids: Vec<u64> = (0..6).collect();
        p.heartbeat_many(&ids, Instant::from_millis(0), |_| {});
        let slots = p.entries.len();
        // Old ids (hits) interleaved with enough new ones to grow the index.
        let mixed: Vec<u64> = (0..64)
            .map(|i| if i % 2 == 0 { i / 2 % 6 } else { 100 + i })
            .collect();
        let mut new = 0;
        p.heartbeat_many(&mixed, Instant::from_millis(50), |_| new += 1);
        assert!(p.entries.len() > slots, "the test must make the table grow");
        assert_eq!(new, 32);
        for id in 0..6 {
            assert_eq!(p.last_seen(id), Some(Instant::from_millis(50)));
        }
    }

    /// Time going backwards is clamped for the whole batch, as for single calls.
    #[test]
    fn earlier_now_is_clamped() {
        let mut p = Presence::new(cfg(10)).unwrap();
        p.heartbeat_many(&[1, 2], Instant::from_millis(70), |_| {});
        p.heartbeat_many(&[1, 3], Instant::from_millis(20), |_| {});
        assert_eq!(p.last_seen(1), Some(Instant::from_millis(70)));
        assert_eq!(p.last_seen(3), Some(Instant::from_millis(70)));
    }
}
