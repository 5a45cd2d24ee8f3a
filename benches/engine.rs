//! Per-input cost of the engine, and two engines exchanging messages.
//!
//! `cargo bench --bench engine`. Every bench feeds one input (or one cycle)
//! and drains `poll_action` to `None`, as a driver must, so the numbers are
//! what a driver pays per event. Time is virtual and the rng is seeded.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::{Action, Config, Connection, DataId, Frame, Input, Instant};

mod common;
use common::{drain, open};

fn config() -> Criterion {
    // Modest times: two shared cores; medians are what BENCHMARKS.md reports.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

fn per_input(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));

    // Send -> Transmit while open (default config: no acks, so the queue
    // empties as it transmits).
    g.bench_function("send_to_transmit", |b| {
        let (mut e, _) = open(Config::default());
        let now = Instant::from_millis(1);
        b.iter(|| {
            black_box(e.send(now).expect("room"));
            drain(&mut e);
        });
    });

    // Inbound data -> Deliver, plus the coalesced ack decision (acks on:
    // an ack goes out every 32 messages or 200 ms after the first unacked).
    g.bench_function("inbound_data_deliver_ack", |b| {
        let (mut e, conn) = open(Config::reliable());
        let mut seq = 0u64;
        let mut ms = 1u64;
        b.iter(|| {
            seq += 1;
            if seq % 8 == 0 {
                ms += 1; // ~8 messages per ms
            }
            let frame = Frame::Data(DataId::Seq(seq));
            e.handle(Instant::from_millis(ms), Input::Message { conn, frame })
                .expect("drained");
            drain(&mut e);
        });
    });

    // A timer wake-up with nothing due (acks on, open, idle).
    g.bench_function("timeout_nothing_due", |b| {
        let (mut e, _) = open(Config::reliable());
        let now = Instant::from_millis(1);
        b.iter(|| {
            e.handle(black_box(now), Input::Timeout).expect("drained");
            drain(&mut e);
        });
    });

    // One heartbeat cycle: the ping timer fires, the pong comes back.
    g.bench_function("heartbeat_cycle", |b| {
        let (mut e, conn) = open(Config::default());
        b.iter(|| {
            let at = e.poll_timeout().expect("ping timer armed");
            e.handle(at, Input::Timeout).expect("drained");
            let nonce = drain(&mut e).1.expect("a ping");
            let frame = Frame::Pong { nonce };
            e.handle(at, Input::Message { conn, frame })
                .expect("drained");
            drain(&mut e);
        });
    });

    // Loss -> backoff -> connect -> open -> resume, acks on.
    g.bench_function("loss_reconnect_resume_cycle", |b| {
        let (mut e, first) = open(Config::reliable());
        let mut conn = first;
        let mut now = Instant::from_millis(10_000);
        b.iter(|| {
            e.handle(now, Input::Closed { conn, code: 1006 })
                .expect("drained");
            drain(&mut e);
            now = e.poll_timeout().expect("waiting");
            e.handle(now, Input::Timeout).expect("drained");
            conn = drain(&mut e).0.expect("connect");
            e.handle(now, Input::Opened { conn }).expect("drained");
            drain(&mut e);
            let frame = Frame::Resume { last: 0 };
            e.handle(now, Input::Message { conn, frame })
                .expect("drained");
            drain(&mut e);
            // Stay up past min_uptime so every cycle starts at attempt 1.
            now = now + Duration::from_secs(6);
        });
    });
    g.finish();
}

/// Client and server, acks on, over a perfect link: every `Transmit` on one
/// side becomes a `Data` frame on the other, every `Ack` an `Ack` frame.
fn exchange(c: &mut Criterion) {
    const BATCH: u64 = 1_000;
    let mut g = c.benchmark_group("exchange");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("two_engines_1000_messages", |b| {
        let (mut client, cconn) = open(Config::reliable());
        let mut server =
            Connection::server(Config::reliable(), ChaCha8Rng::seed_from_u64(2)).expect("valid");
        let sconn = server.accept(Instant::ZERO).expect("server role");
        drain(&mut server);
        let frame = Frame::Resume { last: 0 };
        server
            .handle(Instant::ZERO, Input::Message { conn: sconn, frame })
            .expect("drained");
        drain(&mut server);
        let mut ms = 1u64;
        b.iter(|| {
            for _ in 0..BATCH {
                ms += 1;
                let now = Instant::from_millis(ms / 4);
                client.send(now).expect("room");
                let mut to_server = None;
                let mut to_client = None;
                while let Some(a) = client.poll_action() {
                    if let Action::Transmit { seq, .. } = a {
                        to_server = Some(seq);
                    }
                }
                if let Some(seq) = to_server {
                    let frame = Frame::Data(DataId::Seq(seq));
                    server
                        .handle(now, Input::Message { conn: sconn, frame })
                        .expect("drained");
                    while let Some(a) = server.poll_action() {
                        if let Action::Ack { upto, .. } = a {
                            to_client = Some(upto);
                        }
                    }
                }
                if let Some(upto) = to_client {
                    let frame = Frame::Ack { upto };
                    client
                        .handle(now, Input::Message { conn: cconn, frame })
                        .expect("drained");
                    drain(&mut client);
                }
                // Coalesced acks fall due with time: let both sides fire.
                for (e, conn) in [(&mut client, cconn), (&mut server, sconn)] {
                    if e.poll_timeout().is_some_and(|t| t <= now) {
                        e.handle(now, Input::Timeout).expect("drained");
                        while let Some(a) = e.poll_action() {
                            black_box((a, conn));
                        }
                    }
                }
            }
            // Hand over any ack still pending so the queue never fills.
            let upto = server.delivery().delivered();
            let frame = Frame::Ack { upto };
            client
                .handle(
                    Instant::from_millis(ms / 4),
                    Input::Message { conn: cconn, frame },
                )
                .expect("drained");
            drain(&mut client);
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = per_input, exchange
}
criterion_main!(benches);
