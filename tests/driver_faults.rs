//! The tokio driver against real sockets on loopback, with faults injected
//! by the fault proxy or the server's hooks. Every wait is bounded.

mod support;

use std::time::Duration;

use redial::driver::{DriverError, Event, Refusal};
use redial::{Error, FailReason, HeartbeatMode, State};
use support::{fast, payloads, send_all, wait_for, wait_state, Harness, FIRST_WINDOW, HEARTBEAT};

const SECS: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_is_detected_by_the_heartbeat_and_nothing_is_lost() {
    let mut h = Harness::new(fast()).await;
    let (client, mut ev) = h.client(1, fast());
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    let first = payloads("m", 0..5);
    send_all(&client, &first).await;
    assert!(h.wait_delivered(1, 5, SECS).await);

    let cut = h.epoch.elapsed().as_millis();
    assert_eq!(h.proxy.blackhole_existing(), 1);
    let during = payloads("m", 5..10);
    send_all(&client, &during).await;

    // Dead within interval + timeout of the last inbound frame (+ slack for
    // the scheduler): the link never reports a close by itself.
    let dead = wait_state(&mut ev, &h.epoch, "waiting", SECS)
        .await
        .expect("dead link detected");
    let bound = (fast().heartbeat.interval + fast().heartbeat.timeout).as_millis() as u64 + 150;
    assert!(
        dead - cut <= bound,
        "detected after {} ms (bound {bound})",
        dead - cut
    );

    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("reopens");
    assert!(
        h.wait_delivered(1, 10, SECS).await,
        "all delivered after recovery"
    );
    let all: Vec<_> = first.into_iter().chain(during).collect();
    h.assert_exactly(1, &all);
    let st = client.status().await.expect("status");
    assert_eq!(st.stats.connects, 2, "one reconnect for one loss");
    assert_eq!(st.stats.dead_peers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_reconnects_within_backoff_and_resumes() {
    let mut h = Harness::new(fast()).await;
    let (client, mut ev) = h.client(2, fast());
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    let first = payloads("r", 0..5);
    send_all(&client, &first).await;
    assert!(h.wait_delivered(2, 5, SECS).await);

    h.server.stop().await;
    let (_, waiting) = wait_for(&mut ev, &h.epoch, SECS, |e| {
        matches!(
            e,
            Event::StateChanged {
                state: State::Waiting { .. },
                ..
            }
        )
    })
    .await
    .expect("the drop is noticed");
    let Event::StateChanged {
        retry_in: Some(d), ..
    } = waiting
    else {
        panic!("retry_in")
    };
    assert!(
        d <= FIRST_WINDOW,
        "first retry within the RFC window: {d:?}"
    );
    let during = payloads("r", 5..10);
    send_all(&client, &during).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let restarted = h.epoch.elapsed().as_millis();
    let addr = h.addr;
    h.server.start_on(addr).await.expect("same port again");
    let open = wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("reconnects");
    // At most one capped backoff step plus a failed-attempt round trip.
    let bound = (support::BACKOFF_CAP + fast().connect_timeout).as_millis() as u64 + 200;
    assert!(
        open - restarted <= bound,
        "reopened after {} ms",
        open - restarted
    );

    assert!(h.wait_delivered(2, 10, SECS).await);
    let all: Vec<_> = first.into_iter().chain(during).collect();
    h.assert_exactly(2, &all);
    let st = h.server.session_status(2).await.expect("session kept");
    assert_eq!(st.stats.delivered, 10, "the same session engine resumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_close_1001_stays_idle_then_reconnects_on_next_send() {
    let mut h = Harness::new(fast()).await;
    let (client, mut ev) = h.client(3, fast());
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    client.send("before").await.expect("send");
    wait_for(&mut ev, &h.epoch, SECS, |e| {
        matches!(e, Event::Acked { upto: 1 })
    })
    .await
    .expect("acked");

    assert!(h.server_open(3, SECS).await);
    assert!(h.server.close_client(3, 1001).await.expect("session"));
    wait_state(&mut ev, &h.epoch, "idle", SECS)
        .await
        .expect("idle");
    let quiet = support::states_within(&mut ev, Duration::from_millis(800)).await;
    assert!(quiet.is_empty(), "no reconnect while idle: {quiet:?}");
    assert_eq!(h.server.stats().upgrade_requests, 1);

    client.send("after").await.expect("lazy reconnect");
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("reopens on send");
    assert!(h.wait_delivered(3, 2, SECS).await);
    h.assert_exactly(3, &payloads_of(&["before", "after"]));
    assert_eq!(h.server.stats().upgrade_requests, 2);
}

fn payloads_of(items: &[&'static str]) -> Vec<redial::driver::Bytes> {
    items
        .iter()
        .map(|s| redial::driver::Bytes::from_static(s.as_bytes()))
        .collect()
}

async fn fatal_close(code: u16, sid: u64) {
    let h = Harness::new(fast()).await;
    let (client, mut ev) = h.client(sid, fast());
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    assert!(h.server_open(sid, SECS).await);
    assert!(h.server.close_client(sid, code).await.expect("session"));
    let (_, failed) = wait_for(&mut ev, &h.epoch, SECS, |e| {
        matches!(e, Event::Failed { .. })
    })
    .await
    .expect("fails");
    assert_eq!(
        failed,
        Event::Failed {
            reason: FailReason::FatalClose { code }
        }
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        h.server.stats().upgrade_requests,
        1,
        "no attempt after a fatal close"
    );
    assert_eq!(h.proxy.accepted(), 1);
    let refused = client.send("x").await;
    assert!(
        matches!(refused, Err(DriverError::Engine(Error::NotRunning { .. }))),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_close_1008_fails_without_further_attempts() {
    fatal_close(1008, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_close_4500_fails_without_further_attempts() {
    fatal_close(4500, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_handshake_times_out_and_backs_off_without_a_hot_loop() {
    let h = Harness::new(fast()).await;
    h.server.set_refusal(Refusal::Silent);
    let (client, mut ev) = h.client(6, fast());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let attempts = h.server.stats().tcp_accepted;
    // Each cycle costs connect_timeout (500 ms) plus a backoff draw: at most
    // 5 full cycles fit in 2.5 s, and at least 2 must have happened.
    assert!((2..=6).contains(&attempts), "attempts: {attempts}");
    let st = client.status().await.expect("status");
    assert!(st.stats.connect_timeouts >= 2, "{:?}", st.stats);
    assert!(st.stats.opens == 0);

    h.server.set_refusal(Refusal::None);
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens once the server answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_frame_heartbeats_and_server_to_client_messages() {
    let mut cfg = fast();
    cfg.heartbeat.mode = HeartbeatMode::ControlFrames;
    // Both ends ping after `interval` of inbound silence, and each end's
    // pings keep the other quiet. On loopback both ends hear each other in
    // the same millisecond, so with equal intervals which end pings each
    // round is a scheduling coin flip, and the client may never ping (CI saw
    // exactly that once). A server watchdog slower than the client, the
    // usual deployment, makes the client the one that pings.
    let mut server_cfg = cfg;
    server_cfg.heartbeat.interval = HEARTBEAT * 3;
    let mut h = Harness::new(server_cfg).await;
    let (client, mut ev) = h.client(7, cfg);
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    // Several heartbeat rounds on an idle link: no reconnect.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let st = client.status().await.expect("status");
    assert_eq!((st.stats.connects, st.stats.dead_peers), (1, 0));
    assert!(st.stats.rtt.is_some(), "pongs were matched");

    for i in 0..3 {
        h.server
            .send(7, format!("down-{i}"))
            .await
            .expect("server send");
    }
    for i in 0..3 {
        let (_, e) = wait_for(&mut ev, &h.epoch, SECS, |e| {
            matches!(e, Event::Delivered { .. })
        })
        .await
        .expect("delivered to client");
        let Event::Delivered { seq, payload } = e else {
            unreachable!()
        };
        assert_eq!(
            (seq, &payload[..]),
            (Some(i + 1), format!("down-{i}").as_bytes())
        );
    }

    h.proxy.blackhole_existing();
    wait_state(&mut ev, &h.epoch, "waiting", SECS)
        .await
        .expect("control-frame pongs stop: dead");
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("reopens");
    client.send("up").await.expect("send");
    assert!(h.wait_delivered(7, 1, SECS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_reset_connections_map_to_network_errors_and_back_off() {
    let h = Harness::new(fast()).await;
    h.proxy
        .set_new_connections(redial::driver::NewConnections::Refuse);
    let (client, mut ev) = h.client(8, fast());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let tries = h.proxy.accepted();
    // Backoff draws from [0, 100], [0, 200], [0, 400], [0, 400]…: a few
    // attempts per second, never hundreds.
    assert!((2..=25).contains(&tries), "attempts: {tries}");
    let st = client.status().await.expect("status");
    assert_eq!(st.stats.opens, 0);
    assert!(
        !matches!(st.state, State::Fallback),
        "network errors never downgrade"
    );
    assert_eq!(h.server.stats().tcp_accepted, 0);
    h.proxy
        .set_new_connections(redial::driver::NewConnections::Pass);
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_under_the_pong_deadline_costs_no_reconnect() {
    let mut h = Harness::new(fast()).await;
    h.proxy.set_delay(Duration::from_millis(60));
    let (client, mut ev) = h.client(9, fast());
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    let items = payloads("d", 0..5);
    send_all(&client, &items).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(h.wait_delivered(9, 5, SECS).await);
    h.assert_exactly(9, &items);
    let st = client.status().await.expect("status");
    assert_eq!((st.stats.connects, st.stats.dead_peers), (1, 0));
    let rtt = st.stats.rtt.expect("pongs matched");
    assert!(rtt.latest >= Duration::from_millis(120), "{rtt:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restarted_on_another_port_behind_the_proxy_resumes_the_session() {
    let mut h = Harness::new(fast()).await;
    let (client, mut ev) = h.client(10, fast());
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    client.send("one").await.expect("send");
    assert!(h.wait_delivered(10, 1, SECS).await);
    h.server.stop().await;
    let addr = h
        .server
        .start_on("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    h.proxy.set_upstream(addr);
    client.send("two").await.expect("send");
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("reopens");
    assert!(h.wait_delivered(10, 2, SECS).await);
    h.assert_exactly(10, &payloads_of(&["one", "two"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_watchdog_drops_a_client_that_went_silent() {
    let h = Harness::new(fast()).await;
    let mut quiet = fast();
    quiet.heartbeat.mode = HeartbeatMode::Off; // the client would never notice
    let (_client, mut ev) = h.client(13, quiet);
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    assert!(h.server_open(13, SECS).await);
    h.proxy.blackhole_existing();
    tokio::time::sleep(
        fast().heartbeat.interval + fast().heartbeat.timeout + Duration::from_millis(300),
    )
    .await;
    let st = h.server.session_status(13).await.expect("session");
    assert_eq!(
        st.stats.dead_peers, 1,
        "the server's heartbeat found the dead client"
    );
    assert_eq!(
        st.state,
        State::Idle,
        "servers never dial: idle until the client returns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_client_traffic_and_survives_a_restart() {
    let mut cfg = redial::driver::ServerConfig::new(fast());
    cfg.presence.threshold = Duration::from_millis(800);
    cfg.presence.resolution = Duration::from_millis(50);
    let mut h = Harness::with(cfg).await;
    let (client, mut ev) = h.client(14, fast());
    wait_state(&mut ev, &h.epoch, "open", SECS)
        .await
        .expect("opens");
    assert!(h.server_open(14, SECS).await);
    assert!(h.server.is_online(14), "a connected client is online");
    assert!(!h.server.is_online(99), "an unknown id is not");
    // Heartbeats (every 300 ms) keep it online past the 800 ms threshold.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(h.server.is_online(14));
    // A restart does not mark everyone offline at once (R24).
    h.server.stop().await;
    let addr = h.addr;
    h.server.start_on(addr).await.expect("rebind");
    assert!(h.server.is_online(14), "in grace after the restart");
    drop(client); // the client goes away for good
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        !h.server.is_online(14),
        "silent for a full threshold: offline"
    );
}
