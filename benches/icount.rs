//! Instruction counts per operation, for `valgrind --tool=callgrind`: a
//! load-independent cross-check of the criterion timings (the machine is
//! shared, instruction counts are not).
//!
//! ```sh
//! cargo bench --bench icount --no-run          # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null BIN inbound 100000
//! ```
//!
//! Run each scenario twice (e.g. 100,000 and 200,000 iterations) and divide
//! the difference in `Ir` by the difference in iterations: setup cancels out.
//! With no arguments (as under `cargo bench`) every scenario runs briefly.

use std::hint::black_box;
use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::backoff::Backoff;
use redial::{Config, DataId, Frame, Input, Instant, ReconnectConfig};

mod common;
use common::{drain, open, SplitMix};

const SCENARIOS: &[&str] = &[
    "send",
    "inbound",
    "timeout",
    "heartbeat",
    "cycle",
    "backoff_chacha8",
    "backoff_splitmix",
    "backoff_socket_io",
    "presence_heartbeat",
    "presence_heartbeat_many",
    "presence_sweep",
];

fn run(scenario: &str, iters: u64) -> Result<(), String> {
    match scenario {
        "send" => {
            let (mut e, _) = open(Config::default());
            for _ in 0..iters {
                black_box(e.send(Instant::from_millis(1)).map_err(|e| e.to_string())?);
                drain(&mut e);
            }
        }
        "inbound" => {
            let (mut e, conn) = open(Config::reliable());
            for seq in 1..=iters {
                let frame = Frame::Data(DataId::Seq(seq));
                let now = Instant::from_millis(1 + seq / 8);
                e.handle(now, Input::Message { conn, frame })
                    .map_err(|e| e.to_string())?;
                drain(&mut e);
            }
        }
        "timeout" => {
            let (mut e, _) = open(Config::reliable());
            for _ in 0..iters {
                e.handle(Instant::from_millis(1), Input::Timeout)
                    .map_err(|e| e.to_string())?;
                drain(&mut e);
            }
        }
        "heartbeat" => {
            let (mut e, conn) = open(Config::default());
            for _ in 0..iters {
                let at = e.poll_timeout().ok_or("no ping timer")?;
                e.handle(at, Input::Timeout).map_err(|e| e.to_string())?;
                let nonce = drain(&mut e).1.ok_or("no ping")?;
                let frame = Frame::Pong { nonce };
                e.handle(at, Input::Message { conn, frame })
                    .map_err(|e| e.to_string())?;
                drain(&mut e);
            }
        }
        "cycle" => {
            let (mut e, mut conn) = open(Config::reliable());
            let mut now = Instant::from_millis(10_000);
            for _ in 0..iters {
                e.handle(now, Input::Closed { conn, code: 1006 })
                    .map_err(|e| e.to_string())?;
                drain(&mut e);
                now = e.poll_timeout().ok_or("not waiting")?;
                e.handle(now, Input::Timeout).map_err(|e| e.to_string())?;
                conn = drain(&mut e).0.ok_or("no connect")?;
                e.handle(now, Input::Opened { conn })
                    .map_err(|e| e.to_string())?;
                drain(&mut e);
                let frame = Frame::Resume { last: 0 };
                e.handle(now, Input::Message { conn, frame })
                    .map_err(|e| e.to_string())?;
                drain(&mut e);
                now = now + Duration::from_secs(6);
            }
        }
        "backoff_chacha8" | "backoff_splitmix" | "backoff_socket_io" => {
            let cfg = if scenario == "backoff_socket_io" {
                ReconnectConfig::socket_io()
            } else {
                ReconnectConfig::default()
            };
            let mut state = Backoff::new();
            let mut chacha = ChaCha8Rng::seed_from_u64(1);
            let mut split = SplitMix(1);
            for _ in 0..iters {
                if state.attempt() == 8 {
                    state.reset();
                }
                let d = if scenario == "backoff_chacha8" {
                    state.next_delay(black_box(&cfg), &mut chacha)
                } else {
                    state.next_delay(black_box(&cfg), &mut split)
                };
                black_box(d);
            }
        }
        #[cfg(feature = "alloc")]
        "presence_heartbeat" | "presence_heartbeat_many" | "presence_sweep" => {
            use redial::presence::{Presence, PresenceConfig};
            const N: u64 = 1_000_000;
            let mix = |i: u64| {
                let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            };
            let cfg = PresenceConfig::default();
            let mut p = Presence::with_capacity(cfg, N as usize).map_err(|e| e.to_string())?;
            for i in 0..N {
                p.heartbeat(mix(i), Instant::from_millis(i / 40));
            }
            if scenario == "presence_sweep" {
                // `iters` seconds of the sweep bench's traffic (every client
                // every 25 s), sweeping once per second. Count only the
                // sweep with `--toggle-collect='*poll_expired*'`.
                for second in 25..25 + iters {
                    let to = second * 1_000;
                    for ms in to - 999..=to {
                        let phase = ms % 25_000;
                        for i in phase * 40..(phase + 1) * 40 {
                            p.heartbeat(mix(i), Instant::from_millis(to));
                        }
                    }
                    let mut offline = 0u32;
                    while p.poll_expired(Instant::from_millis(to)).is_some() {
                        offline += 1;
                    }
                    black_box(offline);
                }
            } else if scenario == "presence_heartbeat" {
                for k in 0..iters {
                    let now = Instant::from_millis(25_000 + k / 40);
                    black_box(p.heartbeat(mix(k % N), now));
                }
            } else {
                // Batches of 64, as the criterion bench; `iters` heartbeats.
                let mut ids = [0u64; 64];
                for first in (0..iters).step_by(ids.len()) {
                    for (j, slot) in ids.iter_mut().enumerate() {
                        *slot = mix((first + j as u64) % N);
                    }
                    let now = Instant::from_millis(25_000 + first / 40);
                    let mut online = 0u32;
                    p.heartbeat_many(&ids, now, |_| online += 1);
                    black_box(online);
                }
            }
        }
        #[cfg(not(feature = "alloc"))]
        "presence_heartbeat" | "presence_heartbeat_many" | "presence_sweep" => {
            return Err("needs --features alloc".into())
        }
        other => return Err(format!("unknown scenario {other}; one of {SCENARIOS:?}")),
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        // `cargo bench` passes `--bench`: run everything briefly.
        None | Some("--bench") => SCENARIOS
            .iter()
            .filter(|s| cfg!(feature = "alloc") || !s.starts_with("presence"))
            .try_for_each(|s| run(s, 1_000)),
        Some(scenario) => {
            let iters = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
            run(scenario, iters)
        }
    };
    if let Err(e) = result {
        eprintln!("icount: {e}");
        std::process::exit(2);
    }
}
