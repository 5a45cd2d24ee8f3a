//! The HTTP fallback over real sockets: downgrade on an unparseable URL,
//! downgrade after refused upgrades (a proxy that strips WebSocket), and
//! the upgrade probe back to WebSocket.

mod support;

use std::time::Duration;

use redial::driver::{Client, Event, NewConnections, Step};
use redial::{Action, Config, ConnectError, DowngradeReason, Input, State};
use support::{fast, payloads, send_all, wait_for, wait_state, Harness};

const SECS: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_url_downgrades_and_messages_flow_over_http() {
    let mut h = Harness::new(fast()).await;
    let cfg = h
        .client_config(11, fast())
        .http_url(h.http_url())
        .trace(true);
    let mut cfg = cfg;
    cfg.url = "ws://not a host:1/ws".into();
    let (client, mut ev) = Client::start(cfg).expect("config");
    let mut saw_invalid = false;
    wait_for(&mut ev, &h.epoch, SECS, |e| {
        if let Event::Trace {
            step: Step::Input(Input::ConnectFailed { error, .. }),
            ..
        } = e
        {
            saw_invalid |= *error == ConnectError::InvalidUrl;
        }
        matches!(
            e,
            Event::StateChanged {
                state: State::Fallback,
                ..
            }
        )
    })
    .await
    .expect("falls back");
    assert!(saw_invalid, "the URL was reported as invalid");

    let up = payloads("h", 0..10);
    send_all(&client, &up).await;
    assert!(h.wait_delivered(11, 10, SECS).await);
    h.assert_exactly(11, &up);

    for i in 0..3 {
        h.server
            .send(11, format!("down-{i}"))
            .await
            .expect("server send");
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        let (_, e) = wait_for(&mut ev, &h.epoch, SECS, |e| {
            matches!(e, Event::Delivered { .. })
        })
        .await
        .expect("delivered over http");
        if let Event::Delivered { payload, .. } = e {
            got.push(payload);
        }
    }
    assert_eq!(got, payloads("down", 0..3));
    // Heartbeats run over HTTP too: a second of idling costs no reconnect.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let st = client.status().await.expect("status");
    assert_eq!(st.state, State::Fallback);
    assert_eq!(st.stats.dead_peers, 0);
    let s = h.server.stats();
    assert_eq!(s.upgrade_requests, 0, "an unparseable URL is never dialled");
    assert_eq!(s.http_opens, 1);
}

fn with_fallback() -> Config {
    let mut c = fast();
    c.fallback.after_handshake_failures = Some(2);
    c.fallback.probe_interval = Some(Duration::from_millis(600));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripped_upgrades_fall_back_then_upgrade_back() {
    let mut h = Harness::new(with_fallback()).await;
    h.proxy.set_new_connections(NewConnections::StripUpgrade);
    let (client, mut ev) =
        Client::start(h.client_config(12, with_fallback()).trace(true)).expect("config");
    let mut downgrade = None;
    wait_for(&mut ev, &h.epoch, SECS, |e| {
        if let Event::Trace {
            step: Step::Action(Action::Downgrade { reason }),
            ..
        } = e
        {
            downgrade = Some(*reason);
        }
        matches!(
            e,
            Event::StateChanged {
                state: State::Fallback,
                ..
            }
        )
    })
    .await
    .expect("falls back");
    assert_eq!(
        downgrade,
        Some(DowngradeReason::HandshakeFailures { count: 2 }),
        "after exactly the configured number of refused upgrades"
    );
    assert_eq!(
        h.server.stats().upgrade_requests,
        0,
        "the proxy answered 400 itself"
    );

    let first = payloads("s", 0..5);
    send_all(&client, &first).await;
    assert!(h.wait_delivered(12, 5, SECS).await);

    // Probes while the proxy still strips: each fails and HTTP resumes.
    let states = support::states_within(&mut ev, Duration::from_millis(1400)).await;
    assert!(
        states.iter().filter(|s| **s == State::Fallback).count() >= 1,
        "a failed probe returns to HTTP: {states:?}"
    );
    let second = payloads("s", 5..10);
    send_all(&client, &second).await;

    h.proxy.set_new_connections(NewConnections::Pass);
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("upgrades back to WebSocket");
    let third = payloads("s", 10..15);
    send_all(&client, &third).await;
    assert!(h.wait_delivered(12, 15, SECS).await);
    let all: Vec<_> = first.into_iter().chain(second).chain(third).collect();
    h.assert_exactly(12, &all);
    assert!(h.server.stats().ws_accepted >= 1);
}
