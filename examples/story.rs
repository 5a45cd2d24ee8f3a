//! A scripted story over a simulated link, in virtual time: a redial client
//! and a redial server engine, acked messages, a Wi-Fi drop that never fires
//! `onclose`, backoff, resume, an idle close and a lazy reconnect.
//!
//! `cargo run --example story` prints a timeline (virtual ms, side, state,
//! action) and a final summary; it exits non-zero if a guarantee failed.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::close::code;
use redial::{Action, Config, ConnId, DataId, Frame, Input, Instant};

type Engine = redial::Connection<ChaCha8Rng>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Something that happens at a virtual instant.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// A frame reaches `to` on its socket `conn`.
    Frame {
        to: Side,
        conn: ConnId,
        frame: Frame,
    },
    /// The client's handshake completes.
    Handshake { conn: ConnId },
    /// A close reaches `to`.
    Closed { to: Side, conn: ConnId, code: u16 },
}

struct World {
    now: u64,
    client: Engine,
    server: Engine,
    events: BTreeMap<(u64, u64), Event>,
    next_id: u64,
    latency: u64,
    blackhole: bool,
    /// Client generation <-> server generation of the live socket pair.
    pair: Option<(ConnId, ConnId)>,
    sent: Vec<u64>,
    delivered: Vec<u64>,
    duplicates: usize,
}

impl World {
    fn at(&mut self, delay: u64, e: Event) {
        self.next_id += 1;
        self.events.insert((self.now + delay, self.next_id), e);
    }

    fn feed(&mut self, side: Side, input: Input) {
        let now = Instant::from_millis(self.now);
        let engine = match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        };
        if let Err(e) = engine.handle(now, input) {
            println!("{:>7} ms  {side:?}: refused: {e}", self.now);
        }
        self.drain(side);
    }

    fn drain(&mut self, side: Side) {
        loop {
            let engine = match side {
                Side::Client => &mut self.client,
                Side::Server => &mut self.server,
            };
            let Some(a) = engine.poll_action() else { break };
            let state = engine.state().name();
            if !matches!(a, Action::ScheduleTimer { .. }) {
                println!(
                    "{:>7} ms  {:<6} {:<10} {}",
                    self.now,
                    format!("{side:?}").to_lowercase(),
                    state,
                    describe(&a)
                );
            }
            self.carry_out(side, a);
        }
    }

    /// The simulated driver: turn an action into link events.
    fn carry_out(&mut self, side: Side, a: Action) {
        let other = match side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let peer_conn = |pair: Option<(ConnId, ConnId)>, conn: ConnId| match (side, pair) {
            (Side::Client, Some((c, s))) if c == conn => Some(s),
            (Side::Server, Some((c, s))) if s == conn => Some(c),
            _ => None,
        };
        let frame = match a {
            Action::Connect { conn, .. } => {
                // A blackholed link swallows the handshake too: the engine's
                // connect timeout has to notice.
                if !self.blackhole {
                    self.at(30, Event::Handshake { conn });
                }
                return;
            }
            Action::Transmit { conn, seq } => Some((conn, Frame::Data(DataId::Seq(seq)))),
            Action::Ack { conn, upto } => Some((conn, Frame::Ack { upto })),
            Action::Resume { conn, last } => Some((conn, Frame::Resume { last })),
            Action::SendPing { conn, nonce } => Some((conn, Frame::Ping { nonce })),
            Action::SendPong { conn, nonce } => Some((conn, Frame::Pong { nonce })),
            Action::Close { conn, code } => {
                if let (Some(to_conn), false) = (peer_conn(self.pair, conn), self.blackhole) {
                    // The peer's stack answers the close frame, as RFC 6455 §5.5.1 asks.
                    let latency = self.latency;
                    self.at(
                        latency,
                        Event::Closed {
                            to: other,
                            conn: to_conn,
                            code,
                        },
                    );
                    self.at(
                        2 * latency,
                        Event::Closed {
                            to: side,
                            conn,
                            code,
                        },
                    );
                }
                None
            }
            Action::Abandon { conn } => {
                if peer_conn(self.pair, conn).is_some() {
                    self.pair = None;
                }
                None
            }
            Action::Deliver {
                id: DataId::Seq(seq),
            } if side == Side::Server => {
                self.delivered.push(seq);
                None
            }
            Action::Discard { .. } => {
                self.duplicates += 1;
                None
            }
            _ => None,
        };
        if let Some((conn, frame)) = frame {
            if let (Some(to_conn), false) = (peer_conn(self.pair, conn), self.blackhole) {
                let latency = self.latency;
                self.at(
                    latency,
                    Event::Frame {
                        to: other,
                        conn: to_conn,
                        frame,
                    },
                );
            }
        }
    }

    /// Runs until `until`, firing link events and engine deadlines in order.
    fn run_until(&mut self, until: u64) {
        loop {
            let link = self.events.keys().next().map(|k| k.0);
            let c = self.client.poll_timeout().map(Instant::as_millis);
            let s = self.server.poll_timeout().map(Instant::as_millis);
            let next = [link, c, s].into_iter().flatten().min();
            let Some(t) = next.filter(|t| *t <= until) else {
                break;
            };
            self.now = self.now.max(t);
            if link == Some(t) {
                let Some((_, e)) = self.events.pop_first() else {
                    break;
                };
                self.deliver(e);
            } else if c == Some(t) {
                self.feed(Side::Client, Input::Timeout);
            } else {
                self.feed(Side::Server, Input::Timeout);
            }
        }
        self.now = self.now.max(until);
    }

    fn deliver(&mut self, e: Event) {
        match e {
            Event::Handshake { conn } => {
                let Ok(server_conn) = self.server.accept(Instant::from_millis(self.now)) else {
                    return;
                };
                self.pair = Some((conn, server_conn));
                self.drain(Side::Server);
                self.feed(Side::Client, Input::Opened { conn });
            }
            Event::Frame { to, conn, frame } => self.feed(to, Input::Message { conn, frame }),
            Event::Closed { to, conn, code } => {
                self.feed(to, Input::Closed { conn, code });
            }
        }
    }

    fn send(&mut self, n: usize) {
        for _ in 0..n {
            match self.client.send(Instant::from_millis(self.now)) {
                Ok(seq) => {
                    println!(
                        "{:>7} ms  client {:<10} app sends message {seq}",
                        self.now,
                        self.client.state().name()
                    );
                    self.sent.push(seq);
                }
                Err(e) => println!("{:>7} ms  client refused send: {e}", self.now),
            }
            self.drain(Side::Client);
        }
    }

    fn scene(&self, title: &str) {
        println!("\n--- {title}");
    }
}

fn describe(a: &Action) -> String {
    match *a {
        Action::Connect {
            conn,
            transport,
            attempt,
        } => format!("connect {conn} {transport:?} (attempt {attempt})"),
        Action::ReconnectAfter { delay, attempt } => {
            format!("retry in {} ms (attempt {attempt})", delay.as_millis())
        }
        Action::StateChanged { state } => format!("-> {}", state.name()),
        Action::Transmit { conn, seq } => format!("transmit {seq} on {conn}"),
        Action::Deliver {
            id: DataId::Seq(seq),
        } => format!("deliver message {seq} to the app"),
        Action::Ack { upto, .. } => format!("ack up to {upto}"),
        Action::Resume { last, .. } => format!("resume: I delivered up to {last}"),
        Action::SendPing { nonce, .. } => format!("ping {nonce}"),
        Action::SendPong { nonce, .. } => format!("pong {nonce}"),
        Action::Close { conn, code } => format!("close {conn} with {code}"),
        Action::Abandon { conn } => format!("abandon {conn} (no waiting for onclose)"),
        other => format!("{other:?}"),
    }
}

fn main() -> ExitCode {
    let mut cfg = Config::reliable();
    cfg.heartbeat.interval = Duration::from_secs(5);
    cfg.heartbeat.timeout = Duration::from_secs(2);
    let client = Engine::new(cfg, ChaCha8Rng::seed_from_u64(7)).expect("valid config");
    let server = Engine::server(cfg, ChaCha8Rng::seed_from_u64(8)).expect("valid config");
    let mut w = World {
        now: 0,
        client,
        server,
        events: BTreeMap::new(),
        next_id: 0,
        latency: 15,
        blackhole: false,
        pair: None,
        sent: Vec::new(),
        delivered: Vec::new(),
        duplicates: 0,
    };

    w.scene("start, and send while still connecting (buffered, flushed on open)");
    w.feed(Side::Client, Input::Start);
    w.send(2);
    w.run_until(1_000);

    w.scene("Wi-Fi drops: frames vanish, onclose never fires; messages keep being sent");
    w.blackhole = true;
    w.send(3);
    w.run_until(7_500);
    w.scene("the heartbeat noticed within interval + timeout; the link comes back");
    w.blackhole = false;
    w.run_until(20_000);

    w.scene("the server closes an idle connection with 1001: no reconnect until the next send");
    w.feed(
        Side::Server,
        Input::Close {
            code: code::GOING_AWAY,
        },
    );
    w.run_until(60_000);
    w.send(1);
    w.run_until(62_000);

    let lost = w.sent.iter().filter(|s| !w.delivered.contains(s)).count();
    let mut dup = w.delivered.clone();
    dup.sort_unstable();
    dup.dedup();
    let duplicated = w.delivered.len() - dup.len();
    let in_order = w.delivered.windows(2).all(|p| p[0] < p[1]);
    println!(
        "\nsent {}, delivered {}, lost {lost}, duplicated {duplicated}, in order {in_order} (duplicates discarded on the wire: {})",
        w.sent.len(),
        w.delivered.len(),
        w.duplicates
    );
    if lost == 0 && duplicated == 0 && in_order && w.client.state() == redial::State::Open {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
