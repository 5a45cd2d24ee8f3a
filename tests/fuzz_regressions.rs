//! Replays the committed fuzz corpus and every regression input through the
//! same `redial::fuzzing` functions the `cargo fuzz` targets call, so
//! `cargo test --all-features` re-checks them without a nightly toolchain.
//!
//! The `f*` tests are the engine findings of `TESTING.md`, each as a minimal
//! reproduction on the public API and as the fuzzer's input under strict
//! checks. The API-level reproduction is the regression: the byte inputs
//! were minimized against the op set of commit `810c315`, and every op or
//! config field added since re-decodes them (derived `Arbitrary` scales a
//! `u32` by the variant count), so they now replay as ordinary corpus. They are ignored until their patch lands (run them with
//! `cargo test --all-features -- --ignored`); the tolerant replay of the
//! same inputs runs in `regressions_replay_clean`.
#![cfg(feature = "arbitrary")]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::fuzzing::{
    check_config, check_connection, check_delivery, check_presence, try_run_envelope, FuzzRng,
    Strict, Violation,
};
use redial::presence::{Presence, PresenceConfig, Transition};
use redial::{
    Action, Config, ConnectError, Connection, DataId, Error, Frame, HeartbeatMode, Input, Instant,
    State,
};

type Target = fn(&[u8], Strict) -> Result<(), Violation>;

fn envelope(data: &[u8], _: Strict) -> Result<(), Violation> {
    try_run_envelope(data)
}

const TARGETS: [(&str, Target); 5] = [
    ("connection", check_connection),
    ("delivery", check_delivery),
    ("envelope", envelope),
    ("presence", check_presence),
    ("config", check_config),
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file());
    files.sort();
    files
}

/// Runs every file under `fuzz/<kind>/<target>/` through its target.
fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut n = 0;
    for (name, run) in TARGETS {
        for file in files(&root.join(name)) {
            let data = fs::read(&file).expect("readable corpus file");
            if let Err(v) = run(&data, Strict::from_env()) {
                panic!("{}: {v}", file.display());
            }
            n += 1;
        }
    }
    n
}

#[test]
fn corpus_replays_clean() {
    let n = replay("corpus");
    assert!(n >= 5 * 3, "the seed corpus is missing ({n} files)");
}

#[test]
fn regressions_replay_clean() {
    assert!(replay("regressions") >= 6);
}

/// Runs the regression input `fuzz/regressions/<target>/<file>` strictly.
fn strict_regression(target: &str, file: &str, strict: Strict) -> Result<(), Violation> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target)
        .join(file);
    let data = fs::read(&path).expect("regression file");
    let (_, run) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("known target");
    run(&data, strict)
}

/// A few hundred pseudo-random inputs per target, so the harnesses
/// themselves run on every `cargo test`.
#[test]
fn random_inputs_smoke() {
    use rand_chacha::rand_core::Rng as _;
    let mut rng = FuzzRng::Mix(0x5eed);
    for (name, run) in TARGETS {
        for i in 0..300 {
            let len = 1 + (rng.next_u32() % 2048) as usize;
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            if let Err(v) = run(&data, Strict::from_env()) {
                panic!("{name} input #{i} ({len} bytes): {v}");
            }
        }
    }
}

// ----- helpers for the minimal reproductions -----

type Engine = Connection<ChaCha8Rng>;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn quiet() -> Config {
    let mut c = Config::default();
    c.heartbeat.mode = HeartbeatMode::Off;
    c
}

fn drain(e: &mut Engine) -> Vec<Action> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

fn feed(e: &mut Engine, now: u64, input: Input) -> Vec<Action> {
    e.handle(t(now), input).expect("accepted");
    drain(e)
}

// ----- F1: a refused input moves the engine's clock -----

#[test]
fn f1_a_refused_input_leaves_the_clock_and_deadlines_alone() {
    let mut e = Engine::new(quiet(), ChaCha8Rng::seed_from_u64(1)).expect("valid");
    feed(&mut e, 0, Input::Start); // connecting, deadline at 10 s
    let before = (e.now(), e.poll_timeout());
    assert_eq!(before, (t(0), Some(t(10_000))));
    let refused = e.handle(t(20_000), Input::Close { code: 1005 });
    assert_eq!(refused, Err(Error::InvalidCloseCode { code: 1005 }));
    assert_eq!((e.now(), e.poll_timeout()), before, "nothing may change");
}

#[test]
fn f1_fuzz_input_refused_close() {
    let r = strict_regression("connection", "f1-refused-close-moves-clock", Strict::F1);
    assert_eq!(r, Ok(()));
}

// ----- F2: in Closing, a due ack deadline is never consumed (spin) -----

#[test]
fn f2_closing_with_an_ack_due_does_not_spin() {
    let mut e = Engine::new(
        {
            let mut c = Config::reliable();
            c.heartbeat.mode = HeartbeatMode::Off;
            c
        },
        ChaCha8Rng::seed_from_u64(1),
    )
    .expect("valid");
    feed(&mut e, 0, Input::Start);
    let conn = e.live_conn().expect("connecting");
    feed(&mut e, 0, Input::Opened { conn });
    let resume = Frame::Resume { last: 0 };
    feed(
        &mut e,
        0,
        Input::Message {
            conn,
            frame: resume,
        },
    );
    let data = Frame::Data(DataId::Seq(1));
    feed(&mut e, 10, Input::Message { conn, frame: data }); // ack due at 210
    feed(&mut e, 20, Input::Close { code: 1000 });
    assert_eq!(e.state(), State::Closing);
    let due = e.poll_timeout().expect("a deadline");
    let acted = feed(&mut e, due.as_millis(), Input::Timeout);
    assert!(
        !acted.is_empty() || e.poll_timeout() > Some(due),
        "Timeout at {due} did nothing and poll_timeout is still {:?}: a driver spins until the close deadline",
        e.poll_timeout()
    );
}

#[test]
fn f2_fuzz_inputs_closing_ack_spin() {
    for target in ["connection", "delivery"] {
        let r = strict_regression(target, "f2-closing-ack-spin", Strict::F2);
        assert_eq!(r, Ok(()), "{target}");
    }
}

// ----- F3: presence never sweeps a stale record loaded at u64::MAX -----

#[test]
fn f3_presence_reports_a_stale_record_loaded_at_the_end_of_time() {
    let cfg = PresenceConfig {
        threshold: Duration::from_millis(100),
        resolution: Duration::from_millis(1),
        max_clients: 8,
    };
    let mut p = Presence::new(cfg).expect("valid");
    assert_eq!(
        p.heartbeat(1, Instant::MAX),
        Some(Transition::Online { id: 1 })
    );
    let stale = Instant::from_millis(u64::MAX - 1_000);
    assert_eq!(p.load(2, stale), Ok(()));
    assert!(!p.is_online(2, Instant::MAX));
    let out: Vec<_> = std::iter::from_fn(|| p.poll_expired(Instant::MAX)).collect();
    assert_eq!(
        out,
        [Transition::Offline {
            id: 2,
            last_seen: stale
        }]
    );
}

#[test]
fn f3_fuzz_input_end_of_time_sweep() {
    let r = strict_regression("presence", "f3-end-of-time-sweep", Strict::F3);
    assert_eq!(r, Ok(()));
}

// ----- F4: the HTTP reconnect after a failed upgrade probe never backs off -----

#[test]
fn f4_http_reconnect_after_a_failed_probe_backs_off() {
    let mut c = quiet();
    c.fallback.probe_interval = Some(Duration::from_secs(60));
    // A proxy that strips the upgrade (an invalid URL is never probed again).
    c.fallback.after_handshake_failures = Some(1);
    let mut e = Engine::new(c, ChaCha8Rng::seed_from_u64(1)).expect("valid");
    feed(&mut e, 0, Input::Start);
    let conn = e.live_conn().expect("ws");
    let error = ConnectError::Handshake { status: Some(400) };
    feed(&mut e, 0, Input::ConnectFailed { conn, error }); // downgrade
    let conn = e.live_conn().expect("http");
    feed(&mut e, 0, Input::Opened { conn });
    feed(&mut e, 60_000, Input::Timeout); // upgrade probe
    let conn = e.live_conn().expect("ws probe");
    let error = ConnectError::Handshake { status: Some(400) };
    feed(&mut e, 60_000, Input::ConnectFailed { conn, error }); // back to http
    let mut connects = 0;
    for _ in 0..100 {
        let Some(conn) = e.live_conn() else { break };
        let error = ConnectError::Network;
        let out = feed(&mut e, 60_000, Input::ConnectFailed { conn, error });
        connects += out
            .iter()
            .filter(|a| matches!(a, Action::Connect { .. }))
            .count();
    }
    assert_eq!(
        connects, 0,
        "{connects} reconnects at one instant, no backoff"
    );
    assert!(matches!(e.state(), State::Waiting { .. }));
}

#[test]
fn f4_fuzz_input_probe_http_reconnect() {
    let r = strict_regression(
        "connection",
        "f4-probe-http-reconnect-no-backoff",
        Strict::F4,
    );
    assert_eq!(r, Ok(()));
}

// ----- F6: a server engine applies the client's close-code rules -----

#[test]
fn f6_a_server_may_close_with_service_restart_but_not_1010() {
    let server = || Engine::server(quiet(), ChaCha8Rng::seed_from_u64(1)).expect("valid");
    let mut s = server();
    s.accept(t(0)).expect("server");
    drain(&mut s);
    assert_eq!(s.handle(t(0), Input::Close { code: 1012 }), Ok(()));
    let mut s = server();
    s.accept(t(0)).expect("server");
    drain(&mut s);
    let r = s.handle(t(0), Input::Close { code: 1010 });
    assert_eq!(r, Err(Error::InvalidCloseCode { code: 1010 }));
}

#[test]
fn f6_fuzz_input_server_close_codes() {
    let r = strict_regression("connection", "f6-server-close-code-rules", Strict::F6);
    assert_eq!(r, Ok(()));
}
