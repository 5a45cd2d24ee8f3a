//! Lifecycle scenarios, one per requirement of DESIGN.md. Each prints a
//! trace (input lines at their virtual ms, actions indented below) that insta
//! snapshots, and asserts the property the requirement is about.

mod common;

use std::time::Duration;

use common::Script;
use redial::backoff::ReconnectConfig;
use redial::close::code;
use redial::{
    Action, Config, ConnectError, FailReason, HeartbeatMode, Input, Instant, State, Transport,
};

/// Heartbeats off, so lifecycle traces show only the lifecycle.
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

#[test]
fn r01_invalid_url_downgrades_to_http_and_never_retries_websocket() {
    let mut s = Script::new(quiet(), 1);
    s.input(Input::Start);
    let conn = s.live();
    s.input(Input::ConnectFailed {
        conn,
        error: ConnectError::InvalidUrl,
    });
    s.opened();
    assert_eq!(s.state(), State::Fallback);
    s.closed(code::ABNORMAL);
    s.wait_for_connect(10_000);
    s.opened();
    let ws_connects = s
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Connect {
                    transport: Transport::WebSocket,
                    ..
                }
            )
        })
        .count();
    assert_eq!(ws_connects, 1, "the unparseable URL is tried once");
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r02_unreachable_server_backs_off_instead_of_looping() {
    let mut s = Script::new(quiet(), 2);
    s.input(Input::Start);
    s.note("server accepts TCP but never answers the handshake");
    s.advance(10_000);
    s.note("then every attempt ends in 1006 with no reason");
    for _ in 0..5 {
        s.wait_for_connect(60_000);
        s.closed(code::ABNORMAL);
    }
    assert_eq!(s.engine.stats().connect_timeouts, 1);
    assert!(
        s.connects() <= 7,
        "no hot loop: {} connects in ~5 min",
        s.connects()
    );
    let d = delays(&s.actions);
    assert!(d.len() >= 5);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r03_close_codes_are_classified_one_by_one() {
    let mut s = Script::new(quiet(), 3);
    s.input(Input::Start);
    s.opened();
    s.note("4001: app range 4000-4499 retries");
    s.closed(4001);
    assert!(matches!(s.state(), State::Waiting { .. }));
    s.wait_for_connect(6_000);
    s.opened();
    s.note("1000 with nothing queued: stop");
    s.closed(code::NORMAL);
    assert_eq!(s.state(), State::Idle);
    s.input(Input::Start);
    s.opened();
    s.note("4500: app range 4500-4999 is fatal");
    s.closed(4500);
    assert_eq!(
        s.state(),
        State::Failed {
            reason: FailReason::FatalClose { code: 4500 }
        }
    );
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r04_seed_schedule_delays_grow_1_2_3_5_10_20() {
    let mut c = quiet();
    c.reconnect = ReconnectConfig::seed_schedule();
    let mut s = Script::new(c, 4);
    s.input(Input::Start);
    for _ in 0..7 {
        s.closed(code::ABNORMAL);
        s.wait_for_connect(30_000);
    }
    assert_eq!(
        delays(&s.actions),
        vec![1000, 2000, 3000, 5000, 10000, 20000, 20000]
    );
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r08_send_while_connecting_is_buffered_and_flushed_in_order() {
    let mut s = Script::new(quiet(), 8);
    s.input(Input::Start);
    for expect in 1..=3 {
        assert_eq!(s.send().ok(), Some(expect), "no error in readyState 0");
    }
    let out = s.opened();
    let seqs: Vec<u64> = out
        .iter()
        .filter_map(|a| match a {
            Action::Transmit { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r10_idle_close_1001_reconnects_lazily_on_next_send() {
    let mut s = Script::new(quiet(), 10);
    s.input(Input::Start);
    s.opened();
    s.closed(code::GOING_AWAY);
    assert_eq!(s.state(), State::Idle);
    let before = s.connects();
    s.advance(600_000);
    assert_eq!(s.connects(), before, "no reconnect while idle");
    s.send().expect("send");
    assert_eq!(s.connects(), before + 1, "the send dials");
    let out = s.opened();
    assert!(out.contains(&Action::Transmit {
        conn: s.live(),
        seq: 1
    }));
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r11_abnormal_close_reconnects_promptly_to_any_node() {
    let mut s = Script::new(quiet(), 11);
    s.input(Input::Start);
    s.opened();
    s.note("node dies: 1006");
    s.closed(code::ABNORMAL);
    let d = delays(&s.actions);
    assert!(
        d[0] <= 5_000,
        "first reconnect within the RFC 6455 0-5 s window"
    );
    s.wait_for_connect(5_000);
    s.note("the next attempt lands on another node and opens");
    s.opened();
    assert_eq!(s.state(), State::Open);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r12_errors_end_in_close_and_close_drives_recovery() {
    let mut s = Script::new(quiet(), 12);
    s.input(Input::Start);
    s.note("the browser fires error then close(1006) during the handshake");
    s.closed(code::ABNORMAL);
    assert!(matches!(s.state(), State::Waiting { .. }));
    s.wait_for_connect(5_000);
    s.note("a driver may report the same failure as ConnectFailed");
    let conn = s.live();
    s.input(Input::ConnectFailed {
        conn,
        error: ConnectError::Network,
    });
    assert!(matches!(s.state(), State::Waiting { .. }));
    s.note("and the late close of that attempt is ignored");
    s.input(Input::Closed {
        conn,
        code: code::ABNORMAL,
    });
    assert_eq!(s.engine.stats().stale_events, 1);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r13_network_loss_never_downgrades() {
    let mut c = quiet();
    c.fallback.after_handshake_failures = Some(2);
    let mut s = Script::new(c, 13);
    s.input(Input::Start);
    for _ in 0..6 {
        let conn = s.live();
        s.input(Input::ConnectFailed {
            conn,
            error: ConnectError::Network,
        });
        s.wait_for_connect(40_000);
    }
    assert!(!s
        .actions
        .iter()
        .any(|a| matches!(a, Action::Downgrade { .. })));
    assert!(s.actions.iter().all(|a| !matches!(
        a,
        Action::Connect {
            transport: Transport::Http,
            ..
        }
    )));
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r18_close_while_offline_is_abandoned_after_the_close_timeout() {
    let mut s = Script::new(quiet(), 18);
    s.input(Input::Start);
    s.opened();
    s.input(Input::Offline);
    s.input(Input::Close { code: code::NORMAL });
    assert_eq!(s.state(), State::Closing);
    s.note("onclose never fires");
    s.advance(5_000);
    assert_eq!(s.state(), State::Closed);
    s.note("Wi-Fi returns and the browser finally fires onclose: ignored");
    s.input(Input::Online);
    s.closed(code::ABNORMAL);
    s.advance(60_000);
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.connects(), 1);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r19_rfc6455_first_delay_uniform_0_to_5s_then_truncated_exponential() {
    let mut s = Script::new(quiet(), 19);
    s.input(Input::Start);
    for _ in 0..8 {
        s.closed(code::ABNORMAL);
        s.wait_for_connect(31_000);
    }
    let d = delays(&s.actions);
    for (i, ms) in d.iter().enumerate() {
        let window = (5_000u128 << i).min(30_000);
        assert!(
            *ms <= window,
            "attempt {} delay {ms} > window {window}",
            i + 1
        );
    }
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r19_first_delay_spreads_over_the_whole_window_across_clients() {
    let mut lo = u128::MAX;
    let mut hi = 0;
    for seed in 0..500 {
        let mut s = Script::new(quiet(), seed);
        s.input(Input::Start);
        s.opened();
        s.advance(10_000);
        s.closed(code::ABNORMAL);
        let d = delays(&s.actions)[0];
        lo = lo.min(d);
        hi = hi.max(d);
    }
    assert!(lo < 100 && hi > 4_900, "spread {lo}..{hi}");
}

#[test]
fn r26_offline_pauses_online_resumes_and_attempts_run_out_only_while_online() {
    let mut c = quiet();
    c.reconnect.max_attempts = Some(3);
    let mut s = Script::new(c, 26);
    s.input(Input::Start);
    s.opened();
    s.closed(code::ABNORMAL);
    s.input(Input::Offline);
    assert_eq!(s.state(), State::Offline);
    s.advance(600_000);
    assert_eq!(s.connects(), 1, "no attempts while offline");
    s.input(Input::Online);
    assert!(
        s.wait_for_connect(1_000) <= 1_000,
        "online reconnects within 1 s"
    );
    for _ in 0..3 {
        s.closed(code::ABNORMAL);
        s.wait_for_connect(40_000);
    }
    assert!(matches!(
        s.state(),
        State::Failed {
            reason: FailReason::AttemptsExhausted { .. }
        }
    ));
    insta::assert_snapshot!(s.trace);
}

#[test]
fn r27_one_loss_never_reconnects_twice() {
    let mut c = Config::default();
    c.heartbeat.interval = Duration::from_secs(5);
    c.heartbeat.timeout = Duration::from_secs(2);
    let mut s = Script::new(c, 27);
    s.input(Input::Start);
    s.opened();
    let dead = s.live();
    s.note("the link goes silent; the heartbeat notices within interval + timeout");
    let start = s.now.as_millis();
    while s.engine.stats().dead_peers == 0 {
        let t = s.engine.poll_timeout().expect("a heartbeat deadline");
        s.now = t;
        s.input(Input::Timeout);
    }
    assert!(s.now.as_millis() - start <= 7_000);
    s.note("the old socket's onclose arrives late: it must not reconnect again");
    s.input(Input::Closed {
        conn: dead,
        code: code::ABNORMAL,
    });
    s.wait_for_connect(10_000);
    s.opened();
    s.advance(1_000);
    assert_eq!(s.connects(), 2, "exactly one reconnect for one loss");
    assert_eq!(s.engine.stats().stale_events, 1);
    assert_eq!(s.state(), State::Open);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn fatal_codes_stop_for_good() {
    for fatal in [1002, 1003, 1007, 1008, 1009, 1010, 1015, 4500, 4999] {
        let mut s = Script::new(quiet(), 100);
        s.input(Input::Start);
        s.opened();
        s.closed(fatal);
        assert_eq!(
            s.state(),
            State::Failed {
                reason: FailReason::FatalClose { code: fatal }
            }
        );
        s.advance(3_600_000);
        assert_eq!(s.connects(), 1, "code {fatal} reconnected");
        if fatal == 1008 {
            insta::assert_snapshot!(s.trace);
        }
    }
}

#[test]
fn service_restart_1012_waits_uniform_5_to_30s() {
    for seed in 0..300 {
        let mut s = Script::new(quiet(), seed);
        s.input(Input::Start);
        s.opened();
        s.closed(code::SERVICE_RESTART);
        let d = delays(&s.actions)[0];
        assert!((5_000..=30_000).contains(&d), "seed {seed}: {d}");
    }
}

#[test]
fn minimum_uptime_gate_keeps_a_flapping_server_backing_off() {
    let mut s = Script::new(quiet(), 21);
    s.input(Input::Start);
    s.note("server opens then drops us after 100 ms, five times");
    for _ in 0..5 {
        s.opened();
        s.advance(100);
        s.closed(code::ABNORMAL);
        s.wait_for_connect(40_000);
    }
    assert_eq!(
        s.engine.attempt(),
        5,
        "attempts keep counting across short opens"
    );
    s.note("now it stays up for 6 s: the next loss starts from attempt 1");
    s.opened();
    s.advance(6_000);
    s.closed(code::ABNORMAL);
    assert_eq!(s.engine.attempt(), 1);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn max_attempts_ends_in_failed() {
    let c = Config::builder()
        .heartbeat_mode(HeartbeatMode::Off)
        .max_attempts(2)
        .build()
        .expect("valid");
    let mut s = Script::new(c, 5);
    s.input(Input::Start);
    for _ in 0..3 {
        s.closed(code::ABNORMAL);
        s.wait_for_connect(40_000);
    }
    assert!(matches!(
        s.state(),
        State::Failed {
            reason: FailReason::AttemptsExhausted { attempts: 2 }
        }
    ));
    assert_eq!(s.connects(), 3);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn buffer_cap_refuses_with_an_error_and_keeps_what_it_has() {
    let mut c = quiet();
    c.delivery.max_queued = 4;
    let mut s = Script::new(c, 6);
    s.input(Input::Start);
    for _ in 0..4 {
        s.send().expect("room");
    }
    let err = s.send().expect_err("full");
    assert_eq!(
        err.to_string(),
        "send queue full: 4 messages already waiting for an ack"
    );
    let out = s.opened();
    let n = out
        .iter()
        .filter(|a| matches!(a, Action::Transmit { .. }))
        .count();
    assert_eq!(n, 4, "all four buffered messages go out");
    assert_eq!(s.send().ok(), Some(5), "room again once flushed");
    insta::assert_snapshot!(s.trace);
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut s = Script::new(quiet(), 7);
    s.now = Instant::from_millis(100_000);
    s.input(Input::Start);
    s.closed(code::ABNORMAL);
    let Some(deadline) = s.engine.poll_timeout() else {
        panic!("a backoff deadline")
    };
    s.jump(50_000);
    s.input(Input::Timeout);
    assert!(
        matches!(s.state(), State::Waiting { .. }),
        "an earlier now fires nothing"
    );
    assert!(s.engine.poll_timeout() >= Some(Instant::from_millis(100_000)));
    assert_eq!(s.engine.poll_timeout(), Some(deadline));
    s.jump(deadline.as_millis());
    s.input(Input::Timeout);
    assert!(matches!(s.state(), State::Connecting { .. }));
    insta::assert_snapshot!(s.trace);
}

#[test]
fn every_close_code_is_classified_without_panic() {
    let mut s = Script::new(quiet(), 9);
    for code in 0..=u16::MAX {
        if !matches!(s.state(), State::Open) {
            s.engine = Script::new(quiet(), 9).engine;
            s.engine.handle(s.now, Input::Start).expect("start");
            let mut conn = None;
            while let Some(a) = s.engine.poll_action() {
                if let Action::Connect { conn: c, .. } = a {
                    conn = Some(c);
                }
            }
            let conn = conn.expect("connect");
            s.conn = Some(conn);
            s.engine
                .handle(s.now, Input::Opened { conn })
                .expect("open");
            while s.engine.poll_action().is_some() {}
        }
        let conn = s.live();
        s.engine
            .handle(s.now, Input::Closed { conn, code })
            .expect("closed");
        while let Some(a) = s.engine.poll_action() {
            if let Action::Close { code: sent, .. } = a {
                assert!(![1005, 1006, 1015].contains(&sent));
            }
        }
        let ok = matches!(
            s.state(),
            State::Idle | State::Waiting { .. } | State::Failed { .. }
        );
        assert!(ok, "code {code} left {:?}", s.state());
    }
}

#[test]
fn user_close_refuses_reserved_codes_and_changes_nothing() {
    let mut s = Script::new(quiet(), 1);
    s.input(Input::Start);
    s.opened();
    for bad in [1005u16, 1006, 1015, 999, 5000] {
        let e = s.engine.handle(s.now, Input::Close { code: bad });
        assert_eq!(e, Err(redial::Error::InvalidCloseCode { code: bad }));
        assert_eq!(s.state(), State::Open);
    }
}

#[test]
fn r25_refused_handshakes_fall_back_to_http_and_probe_back_to_websocket() {
    let mut c = quiet();
    c.fallback.after_handshake_failures = Some(2);
    c.fallback.probe_interval = Some(Duration::from_secs(60));
    let mut s = Script::new(c, 25);
    s.input(Input::Start);
    s.note("a proxy strips the upgrade: HTTP 400, twice");
    for _ in 0..2 {
        let conn = s.live();
        s.input(Input::ConnectFailed {
            conn,
            error: ConnectError::Handshake { status: Some(400) },
        });
        if !s
            .actions
            .iter()
            .any(|a| matches!(a, Action::Downgrade { .. }))
        {
            s.wait_for_connect(10_000);
        }
    }
    assert!(s
        .actions
        .iter()
        .any(|a| matches!(a, Action::Downgrade { .. })));
    s.opened();
    assert_eq!(s.state(), State::Fallback);
    s.note("60 s later: probe WebSocket; the proxy still refuses, so straight back to HTTP");
    s.wait_for_connect(60_000);
    let conn = s.live();
    s.input(Input::ConnectFailed {
        conn,
        error: ConnectError::Handshake { status: Some(400) },
    });
    s.opened();
    assert_eq!(s.state(), State::Fallback);
    s.note("the next probe gets through: back on WebSocket");
    s.wait_for_connect(60_000);
    s.opened();
    assert_eq!(s.state(), State::Open);
    let transports: Vec<Transport> = s
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect { transport, .. } => Some(*transport),
            _ => None,
        })
        .collect();
    use Transport::{Http, WebSocket};
    assert_eq!(
        transports,
        vec![WebSocket, WebSocket, Http, WebSocket, Http, WebSocket]
    );
    insta::assert_snapshot!(s.trace);
}

#[test]
fn normal_close_stops_until_the_app_sends_again() {
    let mut s = Script::new(quiet(), 1000);
    s.input(Input::Start);
    s.opened();
    s.closed(code::NORMAL);
    s.advance(600_000);
    assert_eq!(s.connects(), 1, "1000 with nothing queued: no reconnect");
    s.send().expect("accepted");
    assert_eq!(s.connects(), 2, "new work dials again");
}
