//! 200 concurrent clients against one server through a mass disconnect:
//! every one recovers, and every message arrives exactly once, in order.

mod support;

use std::time::Duration;

use redial::driver::Client;
use redial::Config;
use support::{fast, payloads, send_all, wait_state, Harness};

const CLIENTS: u64 = 200;

/// `fast()` with a laxer heartbeat: 200 engines in a debug build on two
/// cores can miss a 200 ms pong deadline, and dead-peer timing is tested
/// elsewhere; here a false alarm would only cost a spurious reconnect.
fn config() -> Config {
    let mut c = fast();
    c.heartbeat.interval = Duration::from_millis(1000);
    c.heartbeat.timeout = Duration::from_millis(500);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_recover_from_a_mass_disconnect() {
    let mut h = Harness::new(config()).await;
    let mut clients: Vec<(Client, _)> = (1..=CLIENTS).map(|sid| h.client(sid, config())).collect();
    for (_, ev) in &mut clients {
        wait_state(ev, &h.epoch, "open", Duration::from_secs(10))
            .await
            .expect("all open");
    }
    for (c, _) in &clients {
        send_all(c, &payloads(&format!("c{}", c.session()), 0..5)).await;
    }

    // Everyone's link drops at once (a load balancer restart), and every
    // client keeps sending through the outage.
    // At least one live connection per client (a closing one may linger).
    let cut = h.proxy.reset_existing();
    assert!(cut >= CLIENTS as usize, "{cut} connections cut");
    for (c, _) in &clients {
        send_all(c, &payloads(&format!("c{}", c.session()), 5..10)).await;
    }
    for (_, ev) in &mut clients {
        wait_state(ev, &h.epoch, "open", Duration::from_secs(10))
            .await
            .expect("all recover");
    }
    for (c, _) in &clients {
        assert!(
            h.wait_delivered(c.session(), 10, Duration::from_secs(10))
                .await,
            "session {}",
            c.session()
        );
    }
    for (c, _) in &clients {
        h.assert_exactly(c.session(), &payloads(&format!("c{}", c.session()), 0..10));
    }
    let s = h.server.stats();
    assert_eq!(s.sessions, CLIENTS as usize);
    assert!(s.ws_accepted >= 2 * CLIENTS, "{s:?}");
}
