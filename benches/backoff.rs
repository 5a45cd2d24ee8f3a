//! Next reconnect delay: redial's default policy side by side with the
//! exponential policies of the `backoff` and `backon` crates.
//!
//! `cargo bench --bench backoff`. Each iteration draws one delay; every 8
//! draws the state is reset (a reconnect succeeded), so attempts 1..8 are
//! averaged and no policy sits at its cap forever.

use std::hint::black_box;
use std::time::Duration;

use backoff::backoff::Backoff as _;
use backon::BackoffBuilder as _;
use criterion::{criterion_group, criterion_main, Criterion};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::backoff::Backoff;
use redial::ReconnectConfig;

mod common;
use common::SplitMix;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

fn next_delay(c: &mut Criterion) {
    let mut g = c.benchmark_group("backoff_next_delay");

    let cfg = ReconnectConfig::default();
    g.bench_function("redial_default_chacha8", |b| {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut state = Backoff::new();
        b.iter(|| {
            if state.attempt() == 8 {
                state.reset();
            }
            black_box(state.next_delay(black_box(&cfg), &mut rng))
        });
    });
    g.bench_function("redial_default_splitmix", |b| {
        let mut rng = SplitMix(1);
        let mut state = Backoff::new();
        b.iter(|| {
            if state.attempt() == 8 {
                state.reset();
            }
            black_box(state.next_delay(black_box(&cfg), &mut rng))
        });
    });
    let socket_io = ReconnectConfig::socket_io();
    g.bench_function("redial_socket_io_preset_splitmix", |b| {
        let mut rng = SplitMix(1);
        let mut state = Backoff::new();
        b.iter(|| {
            if state.attempt() == 8 {
                state.reset();
            }
            black_box(state.next_delay(black_box(&socket_io), &mut rng))
        });
    });

    // backoff 0.4: ExponentialBackoff defaults (500 ms, x1.5, ±50 %, 60 s
    // cap), no elapsed-time limit. It reads the system clock on every call
    // and draws from rand 0.8's thread_rng.
    g.bench_function("backoff_crate_exponential", |b| {
        let mut policy = backoff::ExponentialBackoffBuilder::new()
            .with_max_elapsed_time(None)
            .build();
        let mut n = 0u32;
        b.iter(|| {
            n += 1;
            if n == 8 {
                n = 0;
                policy.reset();
            }
            black_box(policy.next_backoff())
        });
    });

    // backon 1.x: ExponentialBuilder defaults (1 s, x2, 60 s cap) with
    // jitter, no attempt limit; a fresh iterator every 8 draws.
    g.bench_function("backon_exponential_jitter", |b| {
        let builder = backon::ExponentialBuilder::default()
            .with_jitter()
            .without_max_times();
        let mut it = builder.build();
        let mut n = 0u32;
        b.iter(|| {
            n += 1;
            if n == 8 {
                n = 0;
                it = builder.build();
            }
            black_box(it.next())
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = next_delay
}
criterion_main!(benches);
