//! `cargo run --example demo`: a redial client and server on loopback, a
//! fault proxy between them, and a scripted story of the ways networks fail.
//! Prints a timeline and checks every guarantee; exits non-zero if one broke.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redial::backoff::{BackoffPolicy, ReconnectConfig};
use redial::driver::{
    Bytes, Client, ClientConfig, Epoch, Event, Events, FaultProxy, NewConnections, Server,
    ServerConfig, ServerEvents, Step,
};
use redial::{Action, Config, DiscardReason, DowngradeReason, Input, State, Transport};
use tokio::sync::watch;

const SESSION: u64 = 42;

fn config() -> Config {
    let mut c = Config::reliable();
    c.heartbeat.interval = Duration::from_millis(800);
    c.heartbeat.timeout = Duration::from_millis(400);
    c.heartbeat.min_timeout = Duration::from_millis(200);
    c.heartbeat.probe_timeout = Duration::from_millis(300);
    c.reconnect = ReconnectConfig {
        policy: BackoffPolicy::Rfc6455 {
            first_window: Duration::from_millis(300),
            cap: Duration::from_millis(1200),
        },
        max_attempts: None,
        min_uptime: Duration::from_secs(1),
    };
    c.connect_timeout = Duration::from_secs(1);
    c.close_timeout = Duration::from_millis(500);
    c.delivery.ack_timeout = Duration::from_secs(1);
    c.delivery.ack_delay = Duration::from_millis(50);
    c.fallback.after_handshake_failures = Some(2);
    c.fallback.probe_interval = Some(Duration::from_millis(1500));
    c
}

/// What the printer task has seen, for the script to wait on.
#[derive(Clone, Default)]
struct Seen {
    states: Vec<(u64, State, Option<Duration>)>,
    acked: u64,
}

fn state_name(s: State) -> String {
    match s {
        State::Connecting { attempt } => format!("connecting/{attempt}"),
        State::Waiting { attempt, .. } => format!("waiting/{attempt}"),
        other => other.name().to_owned(),
    }
}

fn describe(step: &Step) -> Option<String> {
    let t = |t: Transport| {
        if t == Transport::WebSocket {
            "ws"
        } else {
            "http"
        }
    };
    Some(match *step {
        Step::Input(Input::Opened { conn }) => format!("<- opened {conn}"),
        Step::Input(Input::Closed { conn, code }) => format!("<- closed {conn} code {code}"),
        Step::Input(Input::ConnectFailed { conn, error }) => {
            format!("<- connect failed {conn}: {error:?}")
        }
        Step::Input(_) => return None,
        Step::Action(a) => match a {
            Action::Connect {
                conn,
                transport,
                attempt,
            } => format!("-> connect {conn} {} (attempt {attempt})", t(transport)),
            Action::ReconnectAfter { delay, attempt } => format!(
                "-> retry in {} ms (attempt {attempt}, jittered)",
                delay.as_millis()
            ),
            Action::SendPing { conn, nonce } => format!("-> ping {conn} nonce {nonce}"),
            Action::Transmit { conn, seq } => format!("-> transmit {conn} seq {seq}"),
            Action::Ack { conn, upto } => format!("-> ack {conn} upto {upto}"),
            Action::Resume { conn, last } => format!("-> resume {conn} last {last}"),
            Action::Deliver { id } => format!("-> deliver {id:?}"),
            Action::Discard { id, reason } => format!(
                "-> discard {id:?} ({})",
                if reason == DiscardReason::Duplicate {
                    "dup"
                } else {
                    "gap"
                }
            ),
            Action::Close { conn, code } => format!("-> close {conn} code {code}"),
            Action::Abandon { conn } => format!("-> abandon {conn}"),
            Action::Downgrade {
                reason: DowngradeReason::InvalidUrl,
            } => "-> downgrade to HTTP (invalid URL)".into(),
            Action::Downgrade {
                reason: DowngradeReason::HandshakeFailures { count },
            } => format!("-> downgrade to HTTP ({count} refused upgrades)"),
            Action::StateChanged { state } => format!("== {}", state_name(state)),
            Action::DeliveryOverdue { seq } => format!("!! overdue seq {seq}"),
            Action::Failed { reason } => format!("!! failed: {reason}"),
            _ => return None,
        },
    })
}

/// Prints the client's trace as a timeline and publishes what it saw.
async fn printer(mut events: Events, seen: watch::Sender<Seen>) {
    let mut state = State::Idle;
    while let Some(ev) = events.next().await {
        match ev {
            Event::Trace { at, step } => {
                if let Step::Action(Action::StateChanged { state: s }) = step {
                    state = s;
                }
                if let Some(line) = describe(&step) {
                    println!("{:>7} ms  {:<14} {line}", at.as_millis(), state_name(state));
                }
            }
            Event::StateChanged { state, retry_in } => {
                let at = seen.borrow().states.len() as u64;
                seen.send_modify(|s| s.states.push((at, state, retry_in)));
            }
            Event::Acked { upto } => seen.send_modify(|s| s.acked = upto),
            _ => {}
        }
    }
}

/// Records what the server delivered, in order.
async fn ledger(mut events: ServerEvents, log: Arc<Mutex<Vec<Bytes>>>) {
    while let Some(ev) = events.next().await {
        if let Event::Delivered { payload, .. } = ev.event {
            if let Ok(mut l) = log.lock() {
                l.push(payload);
            }
        }
    }
}

struct Script {
    client: Client,
    seen: watch::Receiver<Seen>,
    epoch: Epoch,
    sent: Vec<Bytes>,
    failures: Vec<String>,
}

impl Script {
    fn section(&self, title: &str) {
        println!(
            "\n{:>7} ms  ── {title} ──",
            self.epoch.elapsed().as_millis()
        );
    }

    fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        println!(
            "{:>7} ms  {} {what}",
            self.epoch.elapsed().as_millis(),
            if ok { "✔" } else { "✘" }
        );
        if !ok {
            self.failures.push(what);
        }
    }

    async fn send(&mut self, n: usize) {
        for _ in 0..n {
            let p = Bytes::from(format!("msg-{}", self.sent.len() + 1));
            match self.client.send(p.clone()).await {
                Ok(_) => self.sent.push(p),
                Err(e) => self.failures.push(format!("send refused: {e}")),
            }
        }
    }

    /// Index of the next state to be reported.
    fn mark(&self) -> usize {
        self.seen.borrow().states.len()
    }

    /// Waits for a state named `name` reported after `mark`; returns when
    /// (epoch ms) and its retry delay.
    async fn state_after(
        &mut self,
        mark: usize,
        name: &str,
        within: Duration,
    ) -> Option<(u64, Option<Duration>)> {
        let found = tokio::time::timeout(
            within,
            self.seen.wait_for(|s| {
                s.states
                    .iter()
                    .skip(mark)
                    .any(|(_, st, _)| st.name() == name)
            }),
        )
        .await;
        let now = self.epoch.elapsed().as_millis();
        match found {
            Ok(Ok(s)) => s
                .states
                .iter()
                .skip(mark)
                .find(|(_, st, _)| st.name() == name)
                .map(|(_, _, r)| (now, *r)),
            _ => {
                self.failures
                    .push(format!("no `{name}` state within {within:?}"));
                None
            }
        }
    }

    async fn acked_all(&mut self, within: Duration) {
        let want = self.sent.len() as u64;
        let ok = tokio::time::timeout(within, self.seen.wait_for(|s| s.acked >= want))
            .await
            .is_ok();
        self.check(ok, format!("peer acknowledged all {want} messages"));
    }
}

#[tokio::main]
async fn main() {
    let epoch = Epoch::now();
    let cfg = config();
    let (mut server, server_events) = Server::new(ServerConfig::new(cfg)).expect("valid config");
    let addr = server
        .start_on("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let proxy = FaultProxy::start(addr).await.expect("proxy");
    let client_cfg = ClientConfig::new(format!("ws://{}/ws", proxy.addr()))
        .session(SESSION)
        .engine(cfg)
        .epoch(epoch)
        .trace(true);
    println!(
        "redial demo: server {addr}, fault proxy {}, session {SESSION}",
        proxy.addr()
    );
    println!(
        "heartbeat 800 ms / pong 400 ms, backoff RFC 6455 (300 ms window, cap 1.2 s), acks on"
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(ledger(server_events, log.clone()));
    let (client, events) = Client::start(client_cfg).expect("valid config");
    let (seen_tx, seen_rx) = watch::channel(Seen::default());
    tokio::spawn(printer(events, seen_tx));
    let mut s = Script {
        client,
        seen: seen_rx,
        epoch,
        sent: Vec::new(),
        failures: Vec::new(),
    };

    let story = async {
        let secs = Duration::from_secs(5);
        s.section("1. connect, send 5 messages, acks come back");
        s.state_after(0, "open", secs).await;
        s.send(5).await;
        s.acked_all(secs).await;

        s.section("2. the link goes silent (blackhole: TCP open, nothing forwarded)");
        let m = s.mark();
        let cut = epoch.elapsed().as_millis();
        proxy.blackhole_existing();
        s.send(3).await;
        if let Some((at, retry)) = s.state_after(m, "waiting", secs).await {
            let bound = (cfg.heartbeat.interval + cfg.heartbeat.timeout).as_millis() as u64 + 200;
            s.check(
                at - cut <= bound,
                format!(
                    "dead link detected after {} ms (bound {bound} ms)",
                    at - cut
                ),
            );
            let d = retry.unwrap_or_default();
            s.check(
                d <= Duration::from_millis(300),
                format!("first retry drawn in [0, 300] ms: {} ms", d.as_millis()),
            );
        }
        s.state_after(m, "open", secs).await;
        s.acked_all(secs).await;

        s.section("3. the server restarts (sessions kept, sockets dropped)");
        let m = s.mark();
        server.stop().await;
        s.send(3).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        server.start_on(addr).await.expect("rebind");
        println!(
            "{:>7} ms  (server listening again)",
            epoch.elapsed().as_millis()
        );
        s.state_after(m, "open", secs).await;
        s.acked_all(secs).await;

        s.section("4. the server closes an idle session with 1001");
        let m = s.mark();
        let _ = server.close_client(SESSION, 1001).await;
        s.state_after(m, "idle", secs).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let quiet = s.mark() == m + 1;
        s.check(quiet, "stayed idle: no reconnect without a reason");
        s.send(1).await;
        s.state_after(m, "open", secs).await;
        s.acked_all(secs).await;

        s.section("5. a proxy strips WebSocket upgrades (HTTP 400)");
        let m = s.mark();
        proxy.set_new_connections(NewConnections::StripUpgrade);
        proxy.reset_existing();
        s.send(3).await;
        s.state_after(m, "fallback", secs).await;
        s.acked_all(secs).await;
        println!(
            "{:>7} ms  (proxy lets WebSocket through again)",
            epoch.elapsed().as_millis()
        );
        proxy.set_new_connections(NewConnections::Pass);
        let m = s.mark();
        s.state_after(m, "open", secs).await;
        s.send(3).await;
        s.acked_all(secs).await;
    };
    if tokio::time::timeout(Duration::from_secs(30), story)
        .await
        .is_err()
    {
        s.failures
            .push("the story did not finish within 30 s".into());
    }

    tokio::time::sleep(Duration::from_millis(100)).await;
    let delivered = log.lock().map(|l| l.clone()).unwrap_or_default();
    let lost = s.sent.iter().filter(|p| !delivered.contains(p)).count();
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup();
    let duplicated = delivered.len() - unique.len();
    if delivered != s.sent {
        s.failures
            .push("server did not receive exactly what was sent, in order".into());
    }
    println!(
        "\nsent {}, delivered {}, lost {lost}, duplicated {duplicated}",
        s.sent.len(),
        delivered.len()
    );
    if s.failures.is_empty() {
        println!("all guarantees held ({} ms)", epoch.elapsed().as_millis());
    } else {
        for f in &s.failures {
            println!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}
