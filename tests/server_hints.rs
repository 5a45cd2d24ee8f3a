//! What a server can tell its clients about coming back: the standing
//! reconnect window announced while the link is healthy
//! (`Input::ReconnectWindow`), next to the rules it must not bend.

mod common;

use std::time::Duration;

use common::Script;
use redial::close::code;
use redial::{Action, Config, ConnectError, HeartbeatMode, Input, State};

fn quiet() -> Config {
    let mut c = Config::default();
    c.heartbeat.mode = HeartbeatMode::Off;
    c
}

fn delays(actions: &[Action]) -> Vec<u128> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ReconnectAfter { delay, .. } => Some(delay.as_millis()),
            _ => None,
        })
        .collect()
}

/// Opened, told a 20 s window, then lost with `code` after a minute.
fn announced_then_lost(seed: u64, code: u16) -> Script {
    let mut s = Script::new(quiet(), seed);
    s.input(Input::Start);
    s.opened();
    let conn = s.live();
    s.input(Input::ReconnectWindow {
        conn,
        window: Duration::from_secs(20),
    });
    s.advance(60_000);
    s.closed(code);
    s
}

#[test]
fn an_announced_window_spreads_the_first_reconnect_after_an_abnormal_loss() {
    let mut s = announced_then_lost(7, code::ABNORMAL);
    s.note("the window was for #1's loss: the next attempt backs off as usual");
    s.wait_for_connect(30_000);
    let conn = s.live();
    s.input(Input::ConnectFailed {
        conn,
        error: ConnectError::Network,
    });
    let d = delays(&s.actions);
    assert_eq!(d.len(), 2);
    assert!(d[0] <= 20_000, "first delay {} ms", d[0]);
    assert!(d[1] <= 10_000, "second attempt: RFC 6455 window 10 s");
    insta::assert_snapshot!(s.trace);
}

#[test]
fn a_fleet_told_the_window_arrives_evenly_across_it() {
    // 2,000 clients told 20 s: the first attempts cover the whole window,
    // evenly (each 5 s quarter gets its share), never beyond.
    let mut quarters = [0u32; 4];
    for seed in 0..2_000 {
        let s = announced_then_lost(seed, code::ABNORMAL);
        let d = delays(&s.actions)[0];
        assert!(d <= 20_000, "seed {seed}: {d} ms");
        let q = usize::try_from(d / 5_001).unwrap_or(3).min(3);
        quarters[q] += 1;
    }
    for (i, n) in quarters.iter().enumerate() {
        assert!((420..=580).contains(n), "quarter {i}: {n} of 2000");
    }
}

#[test]
fn a_dead_heartbeat_counts_as_an_abnormal_loss() {
    let mut s = Script::new(Config::default(), 3);
    s.input(Input::Start);
    s.opened();
    let conn = s.live();
    s.input(Input::ReconnectWindow {
        conn,
        window: Duration::from_secs(40),
    });
    // No pong, no frame: the heartbeat declares the link dead.
    let out = s.advance(120_000);
    assert!(out.iter().any(|a| matches!(a, Action::Abandon { .. })));
    let d = delays(&out);
    assert!(!d.is_empty() && d[0] <= 40_000, "{d:?}");
    assert_eq!(s.engine.stats().dead_peers, 1);
}

#[test]
fn server_directed_closes_keep_their_own_rules() {
    // 1012 (service restart) waits 5-30 s and 1013 (try again later) at
    // least 10 s whatever the window says: those codes already carry the
    // server's wish, and a window is only for losses nobody announced.
    for seed in 0..200 {
        let d = delays(&announced_then_lost(seed, 1012).actions)[0];
        assert!((5_000..=30_000).contains(&d), "1012: {d}");
        let d = delays(&announced_then_lost(seed, 1013).actions)[0];
        assert!(d >= 10_000, "1013: {d}");
    }
}

#[test]
fn the_host_going_offline_is_not_slowed_by_the_window() {
    let mut s = Script::new(quiet(), 5);
    s.input(Input::Start);
    s.opened();
    let conn = s.live();
    s.input(Input::ReconnectWindow {
        conn,
        window: Duration::from_secs(600),
    });
    s.input(Input::Offline);
    s.closed(code::ABNORMAL);
    assert_eq!(s.state(), State::Offline);
    let waited = {
        s.input(Input::Online);
        s.wait_for_connect(60_000)
    };
    assert!(
        waited <= 5_000,
        "back online: reconnect within the online jitter, took {waited} ms"
    );
}

#[test]
fn only_the_open_generation_may_announce_and_zero_withdraws() {
    let mut s = Script::new(quiet(), 9);
    s.input(Input::Start);
    let conn = s.live();
    // While connecting: not open yet, so ignored (counted as stale).
    s.input(Input::ReconnectWindow {
        conn,
        window: Duration::from_secs(20),
    });
    assert_eq!(s.engine.stats().stale_events, 1);
    s.opened();
    s.input(Input::ReconnectWindow {
        conn,
        window: Duration::from_secs(20),
    });
    s.input(Input::ReconnectWindow {
        conn,
        window: Duration::ZERO,
    });
    s.closed(code::ABNORMAL);
    let d = delays(&s.actions)[0];
    assert!(d <= 5_000, "withdrawn: the RFC window applies, got {d}");
}

#[test]
fn a_window_is_capped_by_max_retry_after() {
    let mut cfg = quiet();
    cfg.max_retry_after = Duration::from_secs(30);
    for seed in 0..100 {
        let mut s = Script::new(cfg, seed);
        s.input(Input::Start);
        s.opened();
        let conn = s.live();
        s.input(Input::ReconnectWindow {
            conn,
            window: Duration::from_secs(86_400),
        });
        s.closed(code::ABNORMAL);
        let d = delays(&s.actions)[0];
        assert!(d <= 30_000, "{d}");
    }
}

#[test]
fn a_window_never_shortens_the_policys_first_window() {
    // A small server announces 1 ms: clients still spread over the RFC's
    // 0-5 s, not into a 1 ms hot loop.
    let mut hi = 0;
    for seed in 0..300 {
        let mut s = Script::new(quiet(), seed);
        s.input(Input::Start);
        s.opened();
        let conn = s.live();
        s.input(Input::ReconnectWindow {
            conn,
            window: Duration::from_millis(1),
        });
        s.advance(60_000);
        s.closed(code::ABNORMAL);
        let d = delays(&s.actions)[0];
        assert!(d <= 5_000, "{d}");
        hi = hi.max(d);
    }
    assert!(hi > 4_000, "the RFC window still applies: max {hi} ms");
}

#[test]
fn a_flapping_server_gets_the_backoff_not_the_window() {
    // Each connection dies before min_uptime (5 s): attempts keep growing
    // and the announced window does not reset the delay to its draw.
    let mut s = Script::new(quiet(), 11);
    s.input(Input::Start);
    for round in 0..6 {
        s.opened();
        let conn = s.live();
        s.input(Input::ReconnectWindow {
            conn,
            window: Duration::from_secs(20),
        });
        s.advance(100);
        s.closed(code::ABNORMAL);
        let attempt = s
            .actions
            .iter()
            .rev()
            .find_map(|a| match a {
                Action::ReconnectAfter { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .unwrap_or(0);
        assert_eq!(attempt, round + 1, "the uptime gate keeps counting");
        s.wait_for_connect(60_000);
    }
    // From the second attempt on the RFC windows apply (10, 20, 30 s caps):
    // the window (first attempts only) was used at most once.
    let d = delays(&s.actions);
    assert!(
        d.iter()
            .skip(1)
            .zip([10_000, 20_000, 30_000, 30_000, 30_000])
            .all(|(&x, cap)| x <= cap),
        "{d:?}"
    );
}
