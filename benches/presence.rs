//! Presence at 1,000,000 clients: one heartbeat, and the expiry sweep, side
//! by side with a naive `HashMap<id, Instant>` and a full scan.
//!
//! `cargo bench --features alloc --bench presence`. Both tables hold the
//! same 1M ids (SplitMix-scrambled, as session ids are), heartbeating every
//! 25 s at a uniform rate; threshold 60 s, as the defaults. The sweep bench
//! times one sweep per simulated second, after that second's 40,000
//! heartbeats (applied outside the timed region). 0.1 % of the clients at a
//! time fall silent for 100 s, so the sweep also finds and reports expiries.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant as WallInstant};

use criterion::{criterion_group, criterion_main, Criterion};
use redial::presence::{Presence, PresenceConfig};
use redial::Instant;

const CLIENTS: u64 = 1_000_000;
const INTERVAL_MS: u64 = 25_000;
const THRESHOLD_MS: u64 = 60_000;

fn id(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Client `i` heartbeats at `i * INTERVAL / CLIENTS (mod INTERVAL)`: the
/// heartbeats due in `(from, to]` ms, as client indices.
fn due(from: u64, to: u64) -> impl Iterator<Item = u64> {
    let per_ms = CLIENTS / INTERVAL_MS; // 40
    (from + 1..=to).flat_map(move |ms| {
        let phase = ms % INTERVAL_MS;
        phase * per_ms..(phase + 1) * per_ms
    })
}

/// Churn: 0.1 % of the clients at a time fall silent for 100 s (so they
/// expire) and then come back (so they are `Online` again).
fn silent(i: u64, second: u64) -> bool {
    (second / 100) % 1_000 == i % 1_000
}

fn presence_table() -> Presence {
    presence_of(CLIENTS)
}

/// A table of `n` clients that heartbeated once, spread over one interval.
fn presence_of(n: u64) -> Presence {
    let cfg = PresenceConfig::default();
    let mut p = Presence::with_capacity(cfg, n as usize).expect("valid");
    for i in 0..n {
        let at = i * INTERVAL_MS / n;
        p.heartbeat(id(i), Instant::from_millis(at));
    }
    p
}

fn naive_table() -> HashMap<u64, std::time::Duration> {
    let mut m = HashMap::with_capacity(CLIENTS as usize);
    for i in 0..CLIENTS {
        m.insert(id(i), Duration::from_millis(i * INTERVAL_MS / CLIENTS));
    }
    m
}

/// The client indices in a random order (a fixed seed): heartbeats reach a
/// server in an order unrelated to when the clients first connected.
fn shuffled() -> Vec<u64> {
    let mut order: Vec<u64> = (0..CLIENTS).collect();
    for i in (1..order.len()).rev() {
        let j = (id(i as u64 ^ 0xA5A5) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// The heartbeat stream every heartbeat bench walks: client `k`, `k + 1`, …
/// of `n` (or of a shuffled order), time advancing 1 ms per 40 heartbeats
/// (1M clients every 25 s).
struct Walk {
    n: u64,
    order: Option<Vec<u64>>,
    k: u64,
    now: u64,
}

impl Walk {
    fn in_order(n: u64) -> Self {
        Self {
            n,
            order: None,
            k: 0,
            now: INTERVAL_MS,
        }
    }

    fn shuffled() -> Self {
        Self {
            order: Some(shuffled()),
            ..Self::in_order(CLIENTS)
        }
    }

    /// The next heartbeat: `(client id, now in ms)`.
    #[inline]
    fn next(&mut self) -> (u64, u64) {
        // A compare, not `% n`: a 64-bit division per heartbeat (several ns)
        // would be the walk's cost, not the table's.
        self.k += 1;
        if self.k == self.n {
            self.k = 0;
        }
        if self.k % 40 == 0 {
            self.now += 1;
        }
        let i = match &self.order {
            Some(order) => order[self.k as usize],
            None => self.k,
        };
        (id(i), self.now)
    }
}

/// Heartbeats per `heartbeat_many` call in the batched benches: what one
/// event-loop wake-up of a busy server typically reads.
const BATCH: usize = 64;

/// `heartbeat_many` in batches of BATCH along `walk`, timed per heartbeat
/// (`iters` heartbeats per sample; a batch carries its last heartbeat's time).
#[allow(clippy::disallowed_methods)] // a bench may time itself
fn batched(b: &mut criterion::Bencher<'_>, mut walk: Walk) {
    let mut p = presence_table();
    let mut ids = [0u64; BATCH];
    b.iter_custom(|iters| {
        let mut left = iters;
        let t0 = WallInstant::now();
        while left > 0 {
            let n = BATCH.min(usize::try_from(left).unwrap_or(BATCH));
            let mut now = 0;
            for slot in &mut ids[..n] {
                (*slot, now) = walk.next();
            }
            let mut online = 0u32;
            p.heartbeat_many(&ids[..n], Instant::from_millis(now), |_| online += 1);
            black_box(online);
            left -= n as u64;
        }
        t0.elapsed()
    });
}

/// One `Presence::heartbeat` per iteration along `walk`.
fn single(b: &mut criterion::Bencher<'_>, mut p: Presence, mut walk: Walk) {
    b.iter(|| {
        let (client, now) = walk.next();
        black_box(p.heartbeat(client, Instant::from_millis(now)))
    });
}

/// One naive `HashMap::insert` per iteration along `walk`.
fn naive(b: &mut criterion::Bencher<'_>, mut walk: Walk) {
    let mut m = naive_table();
    b.iter(|| {
        let (client, now) = walk.next();
        black_box(m.insert(client, Duration::from_millis(now)))
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

fn heartbeat(c: &mut Criterion) {
    let mut g = c.benchmark_group("presence_heartbeat_1M");
    // Clients heartbeat in the order they first connected: their records
    // lie in that order, so only the index read misses.
    g.bench_function("redial_presence", |b| {
        single(b, presence_table(), Walk::in_order(CLIENTS))
    });
    // The same, in a random order: the record is no longer next to the
    // previous one, so both reads miss.
    g.bench_function("redial_presence_shuffled", |b| {
        single(b, presence_table(), Walk::shuffled())
    });
    // BATCH heartbeats per `heartbeat_many` call, in insertion order and in
    // a random order; the figure is per heartbeat.
    g.bench_function("redial_presence_batch64", |b| {
        batched(b, Walk::in_order(CLIENTS))
    });
    g.bench_function("redial_presence_shuffled_batch64", |b| {
        batched(b, Walk::shuffled())
    });
    // The same table at 10,000 clients (fits in L2): what the 1M figure
    // pays in cache misses.
    g.bench_function("redial_presence_10k_cache_resident", |b| {
        const N: u64 = 10_000;
        single(b, presence_of(N), Walk::in_order(N))
    });
    g.bench_function("naive_hashmap", |b| naive(b, Walk::in_order(CLIENTS)));
    g.bench_function("naive_hashmap_shuffled", |b| naive(b, Walk::shuffled()));
    g.finish();
}

// A bench is a driver, not the engine: it may read the wall clock to time
// only the sweep (the heartbeats between sweeps are setup).
#[allow(clippy::disallowed_methods)]
fn sweep(c: &mut Criterion) {
    let mut g = c.benchmark_group("presence_sweep_1M");
    g.bench_function("redial_presence_per_second", |b| {
        let mut p = presence_table();
        let mut second = INTERVAL_MS / 1_000;
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let from = second * 1_000;
                second += 1;
                let to = second * 1_000;
                for i in due(from, to) {
                    if !silent(i, second) {
                        p.heartbeat(id(i), Instant::from_millis(to));
                    }
                }
                let t0 = WallInstant::now();
                let mut offline = 0u32;
                while p.poll_expired(Instant::from_millis(to)).is_some() {
                    offline += 1;
                }
                spent += t0.elapsed();
                black_box(offline);
            }
            spent
        });
    });
    g.bench_function("naive_full_scan_per_second", |b| {
        let mut m = naive_table();
        let mut second = INTERVAL_MS / 1_000;
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let from = second * 1_000;
                second += 1;
                let to = second * 1_000;
                for i in due(from, to) {
                    if !silent(i, second) {
                        m.insert(id(i), Duration::from_millis(to));
                    }
                }
                let now = Duration::from_millis(to);
                let threshold = Duration::from_millis(THRESHOLD_MS);
                let t0 = WallInstant::now();
                let mut offline = 0u32;
                m.retain(|_, last| {
                    let alive = now.saturating_sub(*last) < threshold;
                    offline += u32::from(!alive);
                    alive
                });
                spent += t0.elapsed();
                black_box(offline);
            }
            spent
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = heartbeat, sweep
}
criterion_main!(benches);
