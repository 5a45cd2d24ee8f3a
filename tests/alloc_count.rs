//! Heap allocations, counted by a global allocator: the core (engine,
//! backoff, admission) allocates nothing at all over a long random run, and
//! the `alloc` helpers (Outbox, Presence) allocate nothing per message or per
//! heartbeat once warmed up.
//!
//! The counter is per thread, so tests running in parallel (and the test
//! harness's own threads) do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redial::admission::{format_retry_after, parse_retry_after, Admission, MAX_HINT_LEN};
use redial::{Action, Config, ConnId, ConnectError, Connection, DataId, Frame, Input, Instant};

/// The system allocator, counting allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: during thread teardown the slot may be gone; never panic
    // inside the allocator.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds the `GlobalAlloc` contract; counting touches only a thread-local
// `Cell<u64>` with a const initializer (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

#[test]
fn the_counter_sees_allocations() {
    let (n, v) = allocations(|| vec![1u8; 100]);
    assert_eq!(v.len(), 100);
    assert!(n >= 1, "a Vec must be counted, got {n}");
}

/// One random input for an engine whose live generation is `live`.
fn random_input(rng: &mut ChaCha8Rng, live: ConnId) -> Input {
    // Mostly the live generation, sometimes a stale or future one (R27).
    let conn = match rng.next_u32() % 8 {
        0 => ConnId(live.0.wrapping_sub(1)),
        1 => ConnId(live.0.wrapping_add(1)),
        _ => live,
    };
    let small = u64::from(rng.next_u32() % 64);
    let frame = match rng.next_u32() % 7 {
        0 => Frame::Data(DataId::Seq(small)),
        1 => Frame::Data(DataId::Opaque(rng.next_u64() % 512)),
        2 => Frame::Ping { nonce: small },
        3 => Frame::Pong { nonce: small },
        4 => Frame::Ack { upto: small },
        5 => Frame::Resume { last: small },
        _ => Frame::Other,
    };
    match rng.next_u32() % 16 {
        0 => Input::Start,
        1 | 2 => Input::Opened { conn },
        3 => Input::Closed {
            conn,
            code: [1000, 1001, 1006, 1011, 1012, 1013, 4000, 4500][(small % 8) as usize],
        },
        4 => Input::ConnectFailed {
            conn,
            error: [
                ConnectError::Network,
                ConnectError::Handshake { status: Some(503) },
                ConnectError::InvalidUrl,
            ][(small % 3) as usize],
        },
        5..=8 => Input::Message { conn, frame },
        9 | 10 => Input::Send,
        11 => Input::Timeout,
        12 => Input::Online,
        13 => Input::Offline,
        14 => Input::Close {
            code: if small % 2 == 0 { 1000 } else { 1006 },
        },
        _ => Input::RetryAfter {
            conn,
            after: Duration::from_millis(rng.next_u64() % 20_000),
        },
    }
}

#[test]
fn a_long_random_run_of_the_core_allocates_nothing() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let configs = [Config::default(), Config::reliable()];
    let mut client = Connection::new(configs[1], ChaCha8Rng::seed_from_u64(1)).expect("valid");
    let mut server = Connection::server(configs[0], ChaCha8Rng::seed_from_u64(2)).expect("valid");
    let mut gate = Admission::new(1, 2).expect("valid"); // busier than the steps
    let mut now = Instant::ZERO;
    let mut live = ConnId(0);
    let (mut handled, mut actions, mut refused) = (0u64, 0u64, 0u64);

    let (count, ()) = allocations(|| {
        for step in 0..200_000u32 {
            // Time moves by 0..2 s, or jumps to the next deadline.
            now = match client.poll_timeout() {
                Some(t) if step % 3 == 0 => t,
                _ => now + Duration::from_millis(rng.next_u64() % 2_000),
            };
            let input = random_input(&mut rng, live);
            if client.handle(now, input).is_ok() {
                handled += 1;
            }
            while let Some(a) = client.poll_action() {
                actions += 1;
                if let Action::Connect { conn, .. } = a {
                    live = conn;
                }
            }
            // The server side: sessions accepted, fed frames, gated.
            if step % 5 == 0 {
                let _ = server.accept(now);
            }
            let sconn = server.live_conn().unwrap_or(ConnId(0));
            let _ = server.handle(now, random_input(&mut rng, sconn));
            while server.poll_action().is_some() {}
            if let Err(wait) = gate.admit(now) {
                refused += 1;
                let mut buf = [0u8; MAX_HINT_LEN];
                let hint = parse_retry_after(format_retry_after(wait, &mut buf));
                assert_eq!(hint.map(|d| d.as_millis()), Some(wait.as_millis()));
            }
        }
    });
    assert_eq!(count, 0, "the core allocated {count} times");
    // The run really exercised the engine.
    assert!(handled > 150_000, "{handled}");
    assert!(actions > 100_000, "{actions}");
    assert!(refused > 0);
    assert!(client.stats().connects > 1_000, "{:?}", client.stats());
}

#[cfg(feature = "alloc")]
mod helpers {
    use super::*;
    use redial::presence::{Presence, PresenceConfig};
    use redial::Outbox;

    #[test]
    fn outbox_steady_state_allocates_nothing_per_message() {
        let mut engine =
            Connection::new(Config::reliable(), ChaCha8Rng::seed_from_u64(5)).expect("valid");
        let mut out: Outbox<[u8; 64]> = Outbox::new();
        let now = Instant::ZERO;
        engine.handle(now, Input::Start).expect("start");
        let mut conn = ConnId(0);
        while let Some(a) = engine.poll_action() {
            if let Action::Connect { conn: c, .. } = a {
                conn = c;
            }
        }
        engine.handle(now, Input::Opened { conn }).expect("open");
        while engine.poll_action().is_some() {}
        let resume = Frame::Resume { last: 0 };
        engine
            .handle(
                now,
                Input::Message {
                    conn,
                    frame: resume,
                },
            )
            .expect("resume");
        while engine.poll_action().is_some() {}

        // One round: send 32 messages, transmit each from the outbox, ack all.
        let mut round = |ms: u64| {
            let now = Instant::from_millis(ms);
            let mut sent = 0usize;
            for _ in 0..32 {
                let seq = engine.send(now).expect("room");
                out.insert(seq, [seq as u8; 64]).expect("in order");
                while let Some(a) = engine.poll_action() {
                    if let Action::Transmit { seq, .. } = a {
                        sent += usize::from(out.get(seq).is_some());
                    }
                }
            }
            let upto = engine.delivery().highest_sent();
            let frame = Frame::Ack { upto };
            engine
                .handle(now, Input::Message { conn, frame })
                .expect("ack");
            while engine.poll_action().is_some() {}
            out.ack(upto);
            sent
        };
        let (warm, _) = allocations(|| (1..=10).map(&mut round).sum::<usize>());
        assert!(warm >= 1, "warm-up grows the ring once");
        let (count, sent) = allocations(|| (11..=10_010).map(&mut round).sum::<usize>());
        assert_eq!(sent, 320_000);
        assert_eq!(count, 0, "{count} allocations for 320,000 messages");
        assert!(out.is_empty());
    }

    #[test]
    fn presence_steady_state_allocates_nothing_per_heartbeat() {
        presence_churn(false);
    }

    #[test]
    fn presence_batched_heartbeats_allocate_nothing() {
        presence_churn(true);
    }

    /// 1,000 s of heartbeats with churn, one call per heartbeat or in
    /// `heartbeat_many` batches of up to 64 (a stack buffer).
    fn presence_churn(batched: bool) {
        const CLIENTS: u64 = 20_000;
        let cfg = PresenceConfig::default(); // 60 s threshold, 1 s resolution
        let mut p = Presence::with_capacity(cfg, CLIENTS as usize).expect("valid");
        // Every client heartbeats every 25 s; client i is silent during
        // seconds where (s / 100) % 50 == i % 50 (2 % churn: they expire,
        // then come back Online).
        let mut run = |seconds: std::ops::Range<u64>| {
            let (mut online, mut offline) = (0u64, 0u64);
            let mut buf = [0u64; 64];
            for s in seconds {
                let now = Instant::from_millis(s * 1_000);
                let due = (0..CLIENTS)
                    .filter(|i| (i * 25_000 / CLIENTS) / 1_000 == s % 25)
                    .filter(|i| (s / 100) % 50 != i % 50)
                    .map(|i| i * 7_919);
                let mut n = 0;
                for id in due {
                    if !batched {
                        online += u64::from(p.heartbeat(id, now).is_some());
                        continue;
                    }
                    buf[n] = id;
                    n += 1;
                    if n == buf.len() {
                        p.heartbeat_many(&buf, now, |_| online += 1);
                        n = 0;
                    }
                }
                p.heartbeat_many(&buf[..n], now, |_| online += 1);
                while p.poll_expired(now).is_some() {
                    offline += 1;
                }
            }
            (online, offline)
        };
        let (_, _) = allocations(|| run(0..300));
        let (count, (online, offline)) = allocations(|| run(300..1_300));
        assert_eq!(count, 0, "{count} allocations over 1000 s of heartbeats");
        // Churn happened: clients expired and came back.
        assert!(offline >= 3_000, "{offline}");
        assert!(online >= 3_000, "{online}");
    }
}
