//! Shared helpers for the real-socket driver tests: short configs, a server
//! behind a fault proxy on loopback, and waits bounded in time.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use redial::backoff::{BackoffPolicy, ReconnectConfig};
use redial::driver::{
    Bytes, Client, ClientConfig, Epoch, Event, Events, FaultProxy, Server, ServerConfig,
    ServerEvent, ServerEvents,
};
use redial::{Config, State};

/// Heartbeat 300 ms / pong deadline 200 ms.
pub const HEARTBEAT: Duration = Duration::from_millis(300);
/// Pong deadline.
pub const PONG_TIMEOUT: Duration = Duration::from_millis(200);
/// Backoff window of the first reconnect.
pub const FIRST_WINDOW: Duration = Duration::from_millis(100);
/// Backoff cap.
pub const BACKOFF_CAP: Duration = Duration::from_millis(400);

/// A reliable config with every timer short, so each test takes seconds.
pub fn fast() -> Config {
    let mut c = Config::reliable();
    c.heartbeat.interval = HEARTBEAT;
    c.heartbeat.timeout = PONG_TIMEOUT;
    c.heartbeat.min_timeout = Duration::from_millis(100);
    c.heartbeat.probe_timeout = Duration::from_millis(150);
    c.reconnect = ReconnectConfig {
        policy: BackoffPolicy::Rfc6455 {
            first_window: FIRST_WINDOW,
            cap: BACKOFF_CAP,
        },
        max_attempts: None,
        min_uptime: Duration::from_millis(500),
    };
    c.connect_timeout = Duration::from_millis(500);
    c.close_timeout = Duration::from_millis(300);
    c.delivery.ack_timeout = Duration::from_millis(500);
    c.delivery.ack_delay = Duration::from_millis(20);
    c.delivery.delivery_deadline = Some(Duration::from_secs(20));
    c.online_jitter = Duration::from_millis(50);
    c
}

/// A server on loopback with a fault proxy in front of it.
pub struct Harness {
    pub server: Server,
    pub events: ServerEvents,
    pub proxy: FaultProxy,
    pub epoch: Epoch,
    pub addr: SocketAddr,
    /// Payloads the server delivered, per session, in order.
    pub delivered: HashMap<u64, Vec<Bytes>>,
}

impl Harness {
    pub async fn new(engine: Config) -> Self {
        Self::with(ServerConfig::new(engine)).await
    }

    pub async fn with(mut cfg: ServerConfig) -> Self {
        let epoch = Epoch::now();
        cfg.epoch = epoch;
        cfg.long_poll = Duration::from_millis(250);
        let (mut server, events) = Server::new(cfg).expect("valid server config");
        let addr = server
            .start_on("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let proxy = FaultProxy::start(addr).await.expect("proxy");
        Self {
            server,
            events,
            proxy,
            epoch,
            addr,
            delivered: HashMap::new(),
        }
    }

    /// `ws://<proxy>/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.proxy.addr())
    }

    /// `http://<proxy>`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.proxy.addr())
    }

    pub fn client_config(&self, session: u64, engine: Config) -> ClientConfig {
        ClientConfig::new(self.ws_url())
            .session(session)
            .engine(engine)
            .seed(session)
            .epoch(self.epoch)
    }

    pub fn client(&self, session: u64, engine: Config) -> (Client, Events) {
        Client::start(self.client_config(session, engine)).expect("valid client config")
    }

    /// Reads server events into the ledger until `session` has `n`
    /// deliveries (or `within` passes). Returns whether it got there.
    pub async fn wait_delivered(&mut self, session: u64, n: usize, within: Duration) -> bool {
        let reached = async {
            while self.delivered.get(&session).map_or(0, Vec::len) < n {
                match self.events.next().await {
                    Some(ev) => self.record(ev),
                    None => return false,
                }
            }
            true
        };
        tokio::time::timeout(within, reached).await.unwrap_or(false)
    }

    /// Reads whatever server events are waiting.
    pub fn pump_events(&mut self) {
        while let Some(ev) = self.events.try_next() {
            self.record(ev);
        }
    }

    fn record(&mut self, ev: ServerEvent) {
        if let Event::Delivered { payload, .. } = ev.event {
            self.delivered.entry(ev.session).or_default().push(payload);
        }
    }

    /// Asserts `session` received exactly `sent`, in order: lost 0,
    /// duplicated 0.
    pub fn assert_exactly(&self, session: u64, sent: &[Bytes]) {
        let got = self.delivered.get(&session).cloned().unwrap_or_default();
        assert_eq!(got.len(), sent.len(), "session {session}: count");
        assert_eq!(got, sent, "session {session}: order and content");
    }
}

/// Waits for a client event matching `pred`; returns it with the epoch time
/// it was seen at.
pub async fn wait_for(
    events: &mut Events,
    epoch: &Epoch,
    within: Duration,
    mut pred: impl FnMut(&Event) -> bool,
) -> Option<(u64, Event)> {
    let found = async {
        while let Some(ev) = events.next().await {
            if pred(&ev) {
                return Some((epoch.elapsed().as_millis(), ev));
            }
        }
        None
    };
    tokio::time::timeout(within, found).await.ok().flatten()
}

/// Waits for the client to report `state` (by name).
pub async fn wait_state(
    events: &mut Events,
    epoch: &Epoch,
    name: &str,
    within: Duration,
) -> Option<u64> {
    wait_for(
        events,
        epoch,
        within,
        |e| matches!(e, Event::StateChanged { state, .. } if state.name() == name),
    )
    .await
    .map(|(t, _)| t)
}

/// Every state the client reports within `within`.
pub async fn states_within(events: &mut Events, within: Duration) -> Vec<State> {
    let mut out = Vec::new();
    let collect = async {
        while let Some(ev) = events.next().await {
            if let Event::StateChanged { state, .. } = ev {
                out.push(state);
            }
        }
    };
    let _ = tokio::time::timeout(within, collect).await;
    out
}

/// `n` payloads named `<prefix>-<i>`.
pub fn payloads(prefix: &str, range: std::ops::Range<usize>) -> Vec<Bytes> {
    range
        .map(|i| Bytes::from(format!("{prefix}-{i}")))
        .collect()
}

/// Sends each payload, asserting it was accepted.
pub async fn send_all(client: &Client, items: &[Bytes]) {
    for p in items {
        client.send(p.clone()).await.expect("send accepted");
    }
}

impl Harness {
    /// Waits until the server's engine for `session` has a live transport
    /// (the client may see its upgrade answered a moment before the server
    /// has handed the socket to the session).
    pub async fn server_open(&self, session: u64, within: Duration) -> bool {
        let open = async {
            loop {
                if let Ok(st) = self.server.session_status(session).await {
                    if st.state == State::Open {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(within, open).await.is_ok()
    }
}
