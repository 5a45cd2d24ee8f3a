extern crate std;

use super::*;
use crate::random::uniform;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::vec::Vec;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn cfg() -> HeartbeatConfig {
    HeartbeatConfig::default()
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Open at `at` and return the machine plus its first ping time.
fn opened(at: u64, cfg: &HeartbeatConfig, seed: u64) -> (Heartbeat, Instant) {
    let mut hb = Heartbeat::new();
    hb.on_open(t(at), cfg, &mut rng(seed));
    let first = hb.poll_timeout().expect("first ping armed");
    (hb, first)
}

/// When the next routine ping goes out if nothing else arrives: follows the
/// timer through its lazy re-arms, on a copy of the machine.
fn next_ping(hb: &Heartbeat, cfg: &HeartbeatConfig) -> Option<Instant> {
    let mut hb = *hb;
    // A wake-up re-arms at most once per frame heard; two suffice.
    for _ in 0..3 {
        let at = hb.poll_timeout()?;
        match hb.handle_timeout(at, cfg) {
            Some(HeartbeatEvent::SendPing { .. }) => return Some(at),
            Some(HeartbeatEvent::Dead) => return None,
            None => {}
        }
    }
    None
}

/// Open and send the first ping; returns the machine and the ping time.
fn pinged(cfg: &HeartbeatConfig) -> (Heartbeat, Instant) {
    let (mut hb, p) = opened(0, cfg, 1);
    assert_eq!(
        hb.handle_timeout(p, cfg),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
    (hb, p)
}

#[test]
fn defaults_are_valid_and_documented_values() {
    let c = cfg();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.mode, HeartbeatMode::App);
    assert_eq!((c.interval, c.timeout), (ms(25_000), ms(10_000)));
    assert_eq!(
        (c.min_timeout, c.late_threshold, c.probe_timeout),
        (ms(2_000), ms(1_000), ms(3_000))
    );
    assert!(!c.adaptive);
}

#[test]
fn first_ping_within_open_plus_interval() {
    let c = cfg();
    let mut seen = Vec::new();
    for seed in 0..500 {
        let (mut hb, first) = opened(1_000, &c, seed);
        assert!(
            first >= t(1_000) && first <= t(26_000),
            "seed {seed}: {first}"
        );
        if first > t(1_000) {
            let before = Instant::from_millis(first.as_millis() - 1);
            assert_eq!(hb.handle_timeout(before, &c), None);
        }
        assert_eq!(
            hb.handle_timeout(first, &c),
            Some(HeartbeatEvent::SendPing { nonce: 1 })
        );
        assert_eq!(hb.deadline(), Some(first + ms(10_000)));
        assert_eq!(hb.poll_timeout(), Some(first + ms(10_000)));
        seen.push(first);
    }
    seen.sort();
    seen.dedup();
    assert!(
        seen.len() > 400,
        "first pings should be spread, got {} distinct",
        seen.len()
    );
    // Same seed, same schedule.
    assert_eq!(opened(1_000, &c, 42).1, opened(1_000, &c, 42).1);
}

#[test]
fn cadence_while_pongs_arrive() {
    let c = cfg();
    let (mut hb, mut p) = opened(0, &c, 3);
    for nonce in 1..=6u64 {
        assert_eq!(hb.poll_timeout(), Some(p));
        assert_eq!(
            hb.handle_timeout(p, &c),
            Some(HeartbeatEvent::SendPing { nonce })
        );
        assert_eq!(hb.outstanding(), Some(nonce));
        let pong_at = p + ms(40);
        hb.on_pong(pong_at, nonce, &c);
        // Next ping after exactly `interval` of inbound silence.
        p = pong_at + ms(25_000);
    }
    assert_eq!(hb.rtt().map(|r| (r.samples, r.latest)), Some((6, ms(40))));
    // A zero-RTT peer gives a cadence of exactly `interval`.
    let (mut hb, mut p) = opened(0, &c, 4);
    for nonce in 1..=4u64 {
        assert_eq!(
            hb.handle_timeout(p, &c),
            Some(HeartbeatEvent::SendPing { nonce })
        );
        hb.on_pong(p, nonce, &c);
        assert_eq!(hb.poll_timeout(), Some(p + ms(25_000)));
        p = p + ms(25_000);
    }
}

#[test]
fn pong_clears_deadline() {
    let c = cfg();
    let (mut hb, p) = pinged(&c);
    hb.on_pong(p + ms(120), 1, &c);
    assert_eq!((hb.deadline(), hb.outstanding()), (None, None));
    assert_eq!(hb.poll_timeout(), Some(p + ms(25_120)));
    assert_eq!(hb.handle_timeout(p + ms(10_000), &c), None);
    assert_eq!(hb.rtt().map(|r| r.latest), Some(ms(120)));
}

#[test]
fn any_inbound_frame_postpones_ping_and_clears_deadline() {
    let c = cfg();
    let (mut hb, first) = opened(0, &c, 9);
    hb.on_inbound(first, &c); // same instant as the timer: frame wins
    assert_eq!(hb.handle_timeout(first, &c), None);
    hb.on_inbound(first + ms(20_000), &c);
    assert_eq!(next_ping(&hb, &c), Some(first + ms(45_000)));
    // Lazy re-arm: the frame did not move the timer. It wakes at the ping
    // time the first frame set, finds a later frame, and moves on.
    assert_eq!(hb.poll_timeout(), Some(first + ms(25_000)));
    assert_eq!(hb.handle_timeout(first + ms(25_000), &c), None);
    assert_eq!(hb.poll_timeout(), Some(first + ms(45_000)));
    assert_eq!(hb.handle_timeout(first + ms(44_999), &c), None);
    let p = first + ms(45_000);
    assert_eq!(
        hb.handle_timeout(p, &c),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
    // A data frame while the ping is out also proves life.
    hb.on_inbound(p + ms(5), &c);
    assert_eq!(hb.deadline(), None);
    assert_eq!(hb.poll_timeout(), Some(p + ms(25_005)));
    assert_eq!(hb.handle_timeout(p + ms(10_000), &c), None);
    // Its pong, arriving later, still yields an RTT sample.
    assert_eq!(hb.outstanding(), Some(1));
    hb.on_pong(p + ms(70), 1, &c);
    assert_eq!(hb.rtt().map(|r| r.latest), Some(ms(70)));
    assert_eq!(next_ping(&hb, &c), Some(p + ms(25_070)));
}

#[test]
fn missed_pong_is_dead_exactly_at_deadline() {
    let c = cfg();
    let (mut hb, p) = pinged(&c);
    assert_eq!(hb.handle_timeout(p + ms(9_999), &c), None);
    assert_eq!(
        hb.handle_timeout(p + ms(10_000), &c),
        Some(HeartbeatEvent::Dead)
    );
    // Disarmed until the next open: no second Dead, no re-arm by stray frames.
    assert_eq!(hb.poll_timeout(), None);
    assert_eq!(hb.handle_timeout(p + ms(60_000), &c), None);
    hb.on_inbound(p + ms(10_001), &c);
    hb.on_pong(p + ms(10_001), 1, &c);
    assert_eq!((hb.poll_timeout(), hb.rtt()), (None, None));
    // Reopen works, nonces keep counting.
    hb.on_open(p + ms(20_000), &c, &mut rng(5));
    let q = hb.poll_timeout().unwrap();
    assert_eq!(
        hb.handle_timeout(q, &c),
        Some(HeartbeatEvent::SendPing { nonce: 2 })
    );
}

#[test]
fn handled_within_late_threshold_is_still_dead() {
    let c = cfg();
    let (mut hb, p) = pinged(&c);
    assert_eq!(
        hb.handle_timeout(p + ms(11_000), &c),
        Some(HeartbeatEvent::Dead)
    );
}

#[test]
fn stale_nonce_is_life_but_no_rtt_sample() {
    let c = cfg();
    let (mut hb, p) = pinged(&c);
    hb.on_pong(p + ms(30), 99, &c);
    assert_eq!(hb.rtt(), None);
    assert_eq!(hb.deadline(), None);
    assert_eq!(hb.outstanding(), Some(1));
    assert_eq!(hb.poll_timeout(), Some(p + ms(25_030)));
    hb.on_pong(p + ms(50), 1, &c);
    assert_eq!(hb.rtt().map(|r| (r.samples, r.latest)), Some((1, ms(50))));
    // A repeated pong for the same nonce is now stale.
    hb.on_pong(p + ms(60), 1, &c);
    assert_eq!(hb.rtt().map(|r| r.samples), Some(1));
}

#[test]
fn late_deadline_probes_then_on_time_probe_expiry_is_dead() {
    let c = cfg();
    let (mut hb, p) = pinged(&c);
    // Host slept: deadline p+10 s handled at p+40 s (30 s late > 1 s).
    let wake = p + ms(40_000);
    assert_eq!(
        hb.handle_timeout(wake, &c),
        Some(HeartbeatEvent::SendPing { nonce: 2 })
    );
    assert!(hb.probing());
    assert_eq!(hb.deadline(), Some(wake + ms(3_000)));
    assert_eq!(hb.handle_timeout(wake + ms(2_999), &c), None);
    assert_eq!(
        hb.handle_timeout(wake + ms(3_000), &c),
        Some(HeartbeatEvent::Dead)
    );
}

#[test]
fn late_probe_expiry_probes_again() {
    let c = cfg();
    let (mut hb, p) = pinged(&c);
    let wake = p + ms(12_000); // 2 s late
    assert_eq!(
        hb.handle_timeout(wake, &c),
        Some(HeartbeatEvent::SendPing { nonce: 2 })
    );
    let wake2 = wake + ms(3_000 + 1_001); // probe deadline handled 1.001 s late
    assert_eq!(
        hb.handle_timeout(wake2, &c),
        Some(HeartbeatEvent::SendPing { nonce: 3 })
    );
    assert_eq!(hb.deadline(), Some(wake2 + ms(3_000)));
    assert_eq!(
        hb.handle_timeout(wake2 + ms(4_000), &c),
        Some(HeartbeatEvent::Dead)
    );
}

#[test]
fn pong_after_late_probe_keeps_connection_alive() {
    let c = cfg();
    let (mut hb, p) = pinged(&c);
    let wake = p + ms(70_000);
    assert_eq!(
        hb.handle_timeout(wake, &c),
        Some(HeartbeatEvent::SendPing { nonce: 2 })
    );
    // The old pong was sitting unread: stale, but proof of life.
    hb.on_pong(wake + ms(1), 1, &c);
    assert_eq!((hb.deadline(), hb.rtt()), (None, None));
    // Then the probe's own pong: sample, no longer outstanding.
    hb.on_pong(wake + ms(80), 2, &c);
    assert_eq!(hb.outstanding(), None);
    assert_eq!(hb.rtt().map(|r| r.latest), Some(ms(80)));
    assert_eq!(next_ping(&hb, &c), Some(wake + ms(25_080)));
    assert_eq!(hb.handle_timeout(wake + ms(3_000), &c), None);
}

#[test]
fn late_ping_timer_just_pings() {
    let c = cfg();
    let (mut hb, first) = opened(0, &c, 2);
    let late = first + ms(600_000);
    assert_eq!(
        hb.handle_timeout(late, &c),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
    assert!(!hb.probing());
    assert_eq!(hb.deadline(), Some(late + ms(10_000)));
}

#[test]
fn online_and_offline_probe() {
    let c = cfg();
    let (mut hb, first) = opened(0, &c, 6);
    let now = Instant::from_millis(first.as_millis() / 2);
    assert_eq!(
        hb.on_online(now, &c),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
    assert_eq!((hb.deadline(), hb.probing()), (Some(now + ms(3_000)), true));
    assert_eq!(hb.poll_timeout(), Some(now + ms(3_000)));
    // A second report while the probe is out: its deadline is already sooner.
    assert_eq!(hb.on_offline(now + ms(100), &c), None);
    assert_eq!(
        hb.handle_timeout(now + ms(3_000), &c),
        Some(HeartbeatEvent::Dead)
    );

    // A routine ping outstanding with a later deadline is superseded by a probe.
    let (mut hb, p) = pinged(&c);
    assert_eq!(
        hb.on_offline(p + ms(1_000), &c),
        Some(HeartbeatEvent::SendPing { nonce: 2 })
    );
    assert_eq!(hb.deadline(), Some(p + ms(4_000)));
    // ...but not when it would be due sooner than the probe.
    let (mut hb, p) = pinged(&c);
    assert_eq!(hb.on_online(p + ms(7_000), &c), None);
    assert_eq!(hb.on_online(p + ms(8_000), &c), None);
    assert_eq!(hb.deadline(), Some(p + ms(10_000)));
    // A probe answered: alive, next ping after interval.
    let (mut hb, _) = opened(0, &c, 8);
    assert_eq!(
        hb.on_online(t(5), &c),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
    hb.on_pong(t(25), 1, &c);
    assert_eq!(hb.poll_timeout(), Some(t(25_025)));
    // Closed or Off: nothing.
    hb.on_close();
    assert_eq!(hb.on_online(t(30), &c), None);
    let off = HeartbeatConfig {
        mode: HeartbeatMode::Off,
        ..c
    };
    let mut hb = Heartbeat::new();
    hb.on_open(t(0), &off, &mut rng(1));
    assert_eq!(hb.on_offline(t(1), &off), None);
}

#[test]
fn rtt_follows_rfc6298() {
    let c = cfg();
    let (mut hb, mut p) = opened(0, &c, 11);
    let mut feed = |hb: &mut Heartbeat, rtt: u64, nonce: u64| {
        assert_eq!(
            hb.handle_timeout(p, &c),
            Some(HeartbeatEvent::SendPing { nonce })
        );
        hb.on_pong(p + ms(rtt), nonce, &c);
        p = p + ms(rtt + 25_000);
    };
    feed(&mut hb, 100, 1);
    let r = hb.rtt().unwrap();
    assert_eq!((r.srtt, r.rttvar), (ms(100), ms(50)));
    feed(&mut hb, 200, 2);
    let r = hb.rtt().unwrap();
    assert_eq!(
        (r.srtt, r.rttvar),
        (
            Duration::from_micros(112_500),
            Duration::from_micros(62_500)
        )
    );
    feed(&mut hb, 80, 3);
    let r = hb.rtt().unwrap();
    assert_eq!(
        (r.srtt, r.rttvar, r.min),
        (Duration::from_micros(108_375), ms(55), ms(80))
    );
    for nonce in 4..100 {
        feed(&mut hb, 50, nonce);
    }
    let r = hb.rtt().unwrap();
    assert_eq!((r.srtt, r.rttvar), (ms(50), Duration::ZERO));
    assert_eq!((r.min, r.latest, r.samples), (ms(50), ms(50), 99));
    // Kept across a reconnect.
    hb.on_close();
    assert_eq!(hb.rtt(), Some(r));
}

#[test]
fn adaptive_deadline_is_clamped() {
    let c = HeartbeatConfig {
        adaptive: true,
        ..cfg()
    };
    let deadline_after = |rtt: u64| {
        let (mut hb, p) = pinged(&c);
        assert_eq!(
            hb.deadline(),
            Some(p + ms(10_000)),
            "no samples: full timeout"
        );
        hb.on_pong(p + ms(rtt), 1, &c);
        let q = p + ms(rtt + 25_000);
        assert_eq!(
            hb.handle_timeout(q, &c),
            Some(HeartbeatEvent::SendPing { nonce: 2 })
        );
        hb.deadline().unwrap().saturating_duration_since(q)
    };
    assert_eq!(deadline_after(10), ms(2_000)); // RTO 30 ms -> min_timeout
    assert_eq!(deadline_after(1_000), ms(3_000)); // RTO 1000 + 4*500
    assert_eq!(deadline_after(8_000), ms(10_000)); // RTO 24 s -> timeout
                                                   // Non-adaptive ignores samples.
    let mut hb = Heartbeat::new();
    hb.rtt.on_sample(10);
    assert_eq!(hb.pong_timeout(&cfg()), ms(10_000));
    // An unvalidated min_timeout > timeout does not panic.
    let bad = HeartbeatConfig {
        min_timeout: ms(20_000),
        ..c
    };
    assert_eq!(hb.pong_timeout(&bad), ms(10_000));
}

/// Drive one seeded run with on-time timers: a peer that answers pings after
/// 0-1.5 s and sends data at random, until it goes silent at `silence`;
/// network reports arrive at random. Returns (silence, last delivered frame,
/// dead_at).
fn silent_peer_run(seed: u64, c: &HeartbeatConfig) -> (u64, u64, u64) {
    let mut r = rng(seed);
    let open = uniform(&mut r, 0, 1_000_000);
    let silence = open + uniform(&mut r, 0, 200_000);
    let mut hb = Heartbeat::new();
    hb.on_open(t(open), c, &mut r);
    let mut pongs: Vec<(u64, u64)> = Vec::new();
    let mut next_data = open + uniform(&mut r, 1, 60_000);
    let mut next_net = open + uniform(&mut r, 1, 100_000);
    let mut last_in = open;
    loop {
        let timer = hb
            .poll_timeout()
            .expect("open machine always has a timer")
            .as_millis();
        let pong = pongs.iter().map(|p| p.0).min().unwrap_or(u64::MAX);
        let first = timer.min(pong).min(next_data).min(next_net);
        assert!(
            first < silence + 1_000_000,
            "seed {seed}: never declared dead"
        );
        if pong == first {
            // Deliveries before timers at the same instant.
            let i = pongs.iter().position(|p| p.0 == first).unwrap();
            let (at, nonce) = pongs.swap_remove(i);
            hb.on_pong(t(at), nonce, c);
            last_in = at;
        } else if next_data == first {
            if first <= silence {
                hb.on_inbound(t(first), c);
                last_in = first;
            }
            next_data = first + uniform(&mut r, 1, 60_000);
        } else if next_net == first {
            let ev = if r.next_u32() % 2 == 0 {
                hb.on_online(t(first), c)
            } else {
                hb.on_offline(t(first), c)
            };
            if let Some(HeartbeatEvent::SendPing { nonce }) = ev {
                let at = first + uniform(&mut r, 0, 1_500);
                if at <= silence {
                    pongs.push((at, nonce));
                }
            }
            next_net = first + uniform(&mut r, 1, 100_000);
        } else {
            match hb.handle_timeout(t(timer), c) {
                Some(HeartbeatEvent::SendPing { nonce }) => {
                    let at = timer + uniform(&mut r, 0, 1_500);
                    if at <= silence {
                        pongs.push((at, nonce));
                    }
                }
                Some(HeartbeatEvent::Dead) => return (silence, last_in, timer),
                // A lazy re-arm: allowed only if the timer moved on.
                None => assert!(
                    hb.poll_timeout() > Some(t(timer)),
                    "seed {seed}: poll_timeout {timer} produced nothing"
                ),
            }
        }
    }
}

#[test]
fn dead_peer_bound_over_1000_seeds() {
    let plain = cfg();
    let adaptive = HeartbeatConfig {
        adaptive: true,
        ..cfg()
    };
    let bound = 25_000 + 10_000;
    let mut worst = 0;
    for seed in 0..1_000 {
        let c = if seed % 2 == 0 { &plain } else { &adaptive };
        let (silence, last_in, dead) = silent_peer_run(seed, c);
        assert!(last_in <= silence);
        // A live peer (RTT <= 1.5 s < every deadline) is never convicted.
        assert!(
            dead > silence,
            "seed {seed}: dead at {dead}, silent from {silence}"
        );
        assert!(
            dead <= silence + bound,
            "seed {seed}: dead at {dead}, silent from {silence}"
        );
        assert!(
            dead <= last_in + bound,
            "seed {seed}: dead at {dead}, last frame {last_in}"
        );
        worst = worst.max(dead - last_in);
    }
    // The bound is tight-ish: some run comes within 5 s of it.
    assert!(worst > bound - 5_000, "worst {worst}");
}

#[test]
fn mode_off_never_pings_never_dead() {
    let c = HeartbeatConfig {
        mode: HeartbeatMode::Off,
        ..cfg()
    };
    let mut hb = Heartbeat::new();
    hb.on_open(t(0), &c, &mut rng(1));
    assert_eq!(hb.poll_timeout(), None);
    hb.on_inbound(t(10), &c);
    assert_eq!(hb.poll_timeout(), None);
    for now in [0, 25_000, 35_000, 1_000_000, u64::MAX] {
        assert_eq!(hb.handle_timeout(t(now), &c), None);
    }
    // Switching to Off mid-connection disarms at the next timeout.
    let (mut hb, p) = pinged(&cfg());
    assert_eq!(hb.handle_timeout(p + ms(10_000), &c), None);
    assert_eq!(hb.poll_timeout(), None);
}

#[test]
fn control_frames_have_app_timing() {
    let app = cfg();
    let ctl = HeartbeatConfig {
        mode: HeartbeatMode::ControlFrames,
        ..cfg()
    };
    let trace = |c: &HeartbeatConfig| {
        let (mut hb, p) = opened(0, c, 77);
        let a = hb.handle_timeout(p, c);
        hb.on_pong(p + ms(10), 1, c);
        let q = hb.poll_timeout();
        let b = hb.handle_timeout(q.unwrap(), c);
        let d = hb.handle_timeout(q.unwrap() + ms(10_000), c);
        (p, a, q, b, d)
    };
    assert_eq!(trace(&app), trace(&ctl));
}

#[test]
fn nonces_wrap_deliberately() {
    let c = cfg();
    let (mut hb, p) = opened(0, &c, 1);
    hb.next_nonce = u64::MAX;
    assert_eq!(
        hb.handle_timeout(p, &c),
        Some(HeartbeatEvent::SendPing { nonce: u64::MAX })
    );
    hb.on_pong(p, u64::MAX, &c);
    let q = p + ms(25_000);
    assert_eq!(
        hb.handle_timeout(q, &c),
        Some(HeartbeatEvent::SendPing { nonce: 0 })
    );
}

#[test]
fn close_disarms_and_ignores_late_pongs() {
    let c = cfg();
    let (mut hb, p) = pinged(&c);
    hb.on_close();
    assert_eq!((hb.poll_timeout(), hb.outstanding()), (None, None));
    hb.on_pong(p + ms(5), 1, &c);
    hb.on_inbound(p + ms(5), &c);
    assert_eq!((hb.poll_timeout(), hb.rtt()), (None, None));
    assert_eq!(hb.handle_timeout(p + ms(10_000), &c), None);
}

#[test]
fn extreme_instants_saturate() {
    let c = cfg();
    let (mut hb, first) = opened(u64::MAX - 5, &c, 3);
    assert!(first >= t(u64::MAX - 5));
    assert_eq!(
        hb.handle_timeout(Instant::MAX, &c),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
    assert_eq!(hb.deadline(), Some(Instant::MAX));
    assert_eq!(
        hb.handle_timeout(Instant::MAX, &c),
        Some(HeartbeatEvent::Dead)
    );
    // Pong "before" its ping (clock stepped back): zero sample, no panic.
    let (mut hb, _) = pinged(&c);
    hb.on_pong(Instant::ZERO, 1, &c);
    assert_eq!(hb.rtt().map(|r| r.latest), Some(Duration::ZERO));
    // Unvalidated huge durations saturate instead of overflowing.
    let huge = HeartbeatConfig {
        interval: Duration::MAX,
        timeout: Duration::MAX,
        probe_timeout: Duration::MAX,
        late_threshold: Duration::ZERO,
        ..c
    };
    let mut hb = Heartbeat::new();
    hb.on_open(t(u64::MAX - 1), &huge, &mut rng(9));
    hb.on_inbound(t(u64::MAX - 1), &huge);
    assert_eq!(hb.poll_timeout(), Some(Instant::MAX));
    assert_eq!(
        hb.on_online(Instant::MAX, &huge),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
    assert_eq!(
        hb.handle_timeout(Instant::MAX, &huge),
        Some(HeartbeatEvent::Dead)
    );
}

#[test]
fn validate_names_the_field() {
    let field = |c: HeartbeatConfig| c.validate().err().map(|e| e.field);
    let base = cfg();
    assert_eq!(
        field(HeartbeatConfig {
            interval: ms(0),
            ..base
        }),
        Some("heartbeat.interval")
    );
    assert_eq!(
        field(HeartbeatConfig {
            timeout: ms(0),
            ..base
        }),
        Some("heartbeat.timeout")
    );
    let e = HeartbeatConfig {
        timeout: ms(25_000),
        ..base
    }
    .validate()
    .unwrap_err();
    assert_eq!(
        (e.field, e.problem),
        ("heartbeat.timeout", "must be below heartbeat.interval")
    );
    assert_eq!(
        field(HeartbeatConfig {
            min_timeout: ms(10_001),
            ..base
        }),
        Some("heartbeat.min_timeout")
    );
    assert_eq!(
        field(HeartbeatConfig {
            probe_timeout: ms(0),
            ..base
        }),
        Some("heartbeat.probe_timeout")
    );
    let e = HeartbeatConfig {
        probe_timeout: ms(25_000),
        ..base
    }
    .validate()
    .unwrap_err();
    assert_eq!(
        (e.field, e.problem),
        (
            "heartbeat.probe_timeout",
            "must be below heartbeat.interval"
        )
    );
    assert_eq!(
        field(HeartbeatConfig {
            probe_timeout: ms(24_999),
            ..base
        }),
        None
    );
    assert_eq!(
        field(HeartbeatConfig {
            late_threshold: ms(0),
            ..base
        }),
        None
    );
    // Off skips the timing checks.
    let off = HeartbeatConfig {
        mode: HeartbeatMode::Off,
        interval: ms(0),
        timeout: ms(0),
        ..base
    };
    assert_eq!(off.validate(), Ok(()));
}

#[test]
fn peer_pings_postpone_ours() {
    // Server role: the client's pings are inbound frames, so a server whose
    // client pings every 20 s never needs to ping itself.
    let c = cfg();
    let (mut hb, _) = opened(0, &c, 12);
    let mut now = 0;
    for _ in 0..10 {
        hb.on_inbound(t(now), &c); // client's ping (the connection answers it)
        assert_eq!(next_ping(&hb, &c), Some(t(now + 25_000)));
        assert_eq!(hb.handle_timeout(t(now), &c), None);
        now += 20_000;
    }
    assert_eq!(hb.outstanding(), None);
}

#[test]
fn probe_deadline_never_exceeds_timeout() {
    let c = HeartbeatConfig {
        timeout: ms(2_000),
        probe_timeout: ms(5_000),
        ..cfg()
    };
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(Heartbeat::probe_timeout(&c), ms(2_000));
    let (mut hb, _) = opened(0, &c, 13);
    assert_eq!(
        hb.on_offline(t(1), &c),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
    assert_eq!(hb.deadline(), Some(t(2_001)));
    // Late-timer probes are capped the same way.
    assert_eq!(
        hb.handle_timeout(t(9_000), &c),
        Some(HeartbeatEvent::SendPing { nonce: 2 })
    );
    assert_eq!(hb.deadline(), Some(t(11_000)));
}

#[test]
fn busy_link_moves_the_timer_once_per_interval_not_per_frame() {
    // One frame per millisecond for 100 s: with the timer moved per frame
    // the driver would re-arm it 100,000 times; lazily, about 100 s / 25 s.
    let c = cfg();
    let (mut hb, first) = opened(0, &c, 21);
    let mut changes = 0;
    let mut armed = hb.poll_timeout();
    for now in 1..=100_000 {
        if armed.is_some_and(|a| a <= t(now)) {
            assert_eq!(hb.handle_timeout(t(now), &c), None, "pinged at {now}");
        }
        hb.on_inbound(t(now), &c);
        if hb.poll_timeout() != armed {
            changes += 1;
            armed = hb.poll_timeout();
        }
    }
    assert!(first <= t(25_000));
    assert!((4..=5).contains(&changes), "{changes} timer changes");
    // Silence from t = 100 s: the ping goes out exactly `interval` later.
    assert_eq!(next_ping(&hb, &c), Some(t(125_000)));
    assert_eq!(hb.handle_timeout(t(124_999), &c), None);
    assert_eq!(
        hb.handle_timeout(t(125_000), &c),
        Some(HeartbeatEvent::SendPing { nonce: 1 })
    );
}
