//! A scripted driver for scenario tests: virtual time, a seeded rng, and a
//! trace with one readable line per input and per action.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::string::String;
use std::vec::Vec;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::{
    Action, Config, ConnId, DataId, DiscardReason, DowngradeReason, Input, Instant, State,
    Transport,
};

/// Renders an action as one short line.
pub fn action_line(a: &Action) -> String {
    match *a {
        Action::Connect {
            conn,
            transport,
            attempt,
        } => {
            format!(
                "connect {conn} {} attempt {attempt}",
                transport_name(transport)
            )
        }
        Action::ReconnectAfter { delay, attempt } => {
            format!("reconnect-after {}ms attempt {attempt}", delay.as_millis())
        }
        Action::SendPing { conn, nonce } => format!("ping {conn} nonce {nonce}"),
        Action::SendPong { conn, nonce } => format!("pong {conn} nonce {nonce}"),
        Action::ScheduleTimer { at } => format!("timer @{}", at.as_millis()),
        Action::Transmit { conn, seq } => format!("transmit {conn} seq {seq}"),
        Action::Ack { conn, upto } => format!("ack {conn} upto {upto}"),
        Action::Resume { conn, last } => format!("resume {conn} last {last}"),
        Action::Deliver { id } => format!("deliver {}", id_text(id)),
        Action::Discard { id, reason } => format!(
            "discard {} ({})",
            id_text(id),
            match reason {
                DiscardReason::Duplicate => "duplicate",
                DiscardReason::Gap => "gap",
            }
        ),
        Action::Close { conn, code } => format!("close {conn} code {code}"),
        Action::Abandon { conn } => format!("abandon {conn}"),
        Action::Downgrade { reason } => match reason {
            DowngradeReason::InvalidUrl => "downgrade to http (invalid url)".into(),
            DowngradeReason::HandshakeFailures { count } => {
                format!("downgrade to http ({count} refused handshakes)")
            }
        },
        Action::StateChanged { state } => format!("state {}", state_text(state)),
        Action::DeliveryOverdue { seq } => format!("overdue seq {seq}"),
        Action::Failed { reason } => format!("failed: {reason}"),
        _ => format!("{a:?}"),
    }
}

pub fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::WebSocket => "ws",
        Transport::Http => "http",
    }
}

pub fn id_text(id: DataId) -> String {
    match id {
        DataId::None => "unsequenced".into(),
        DataId::Seq(s) => format!("seq {s}"),
        DataId::Opaque(x) => format!("id {x:#x}"),
    }
}

pub fn state_text(s: State) -> String {
    match s {
        State::Connecting { attempt } => format!("connecting (attempt {attempt})"),
        State::Waiting { until, attempt } => {
            format!("waiting (until @{}, attempt {attempt})", until.as_millis())
        }
        State::Failed { reason } => format!("failed ({reason})"),
        other => other.name().into(),
    }
}

/// The scripted driver.
pub struct Script {
    pub engine: redial::Connection<ChaCha8Rng>,
    pub now: Instant,
    pub trace: String,
    pub actions: Vec<Action>,
    pub conn: Option<ConnId>,
}

impl Script {
    pub fn new(cfg: Config, seed: u64) -> Self {
        let engine =
            redial::Connection::new(cfg, ChaCha8Rng::seed_from_u64(seed)).expect("valid config");
        Self {
            engine,
            now: Instant::ZERO,
            trace: String::new(),
            actions: Vec::new(),
            conn: None,
        }
    }

    pub fn server(cfg: Config, seed: u64) -> Self {
        let engine =
            redial::Connection::server(cfg, ChaCha8Rng::seed_from_u64(seed)).expect("valid config");
        Self {
            engine,
            now: Instant::ZERO,
            trace: String::new(),
            actions: Vec::new(),
            conn: None,
        }
    }

    fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(a) = self.engine.poll_action() {
            if let Action::Connect { conn, .. } = a {
                self.conn = Some(conn);
            }
            let _ = writeln!(self.trace, "          -> {}", action_line(&a));
            out.push(a);
            assert!(out.len() < 10_000, "poll_action does not drain");
        }
        self.actions.extend(out.iter().copied());
        out
    }

    /// Feeds `input` now; returns the actions it caused.
    pub fn input(&mut self, input: Input) -> Vec<Action> {
        let _ = writeln!(
            self.trace,
            "{:>7}  {}",
            self.now.as_millis(),
            input_line(&input)
        );
        match self.engine.handle(self.now, input) {
            Ok(()) => {}
            Err(e) => {
                let _ = writeln!(self.trace, "          !! error: {e}");
            }
        }
        self.drain()
    }

    /// Server role: a client's socket arrives.
    pub fn accept(&mut self) -> ConnId {
        let _ = writeln!(self.trace, "{:>7}  accept", self.now.as_millis());
        let conn = self.engine.accept(self.now).expect("server role");
        self.conn = Some(conn);
        self.drain();
        conn
    }

    /// The app sends one message.
    pub fn send(&mut self) -> Result<u64, redial::Error> {
        let r = self.engine.send(self.now);
        match r {
            Ok(seq) => {
                let _ = writeln!(self.trace, "{:>7}  send -> seq {seq}", self.now.as_millis());
            }
            Err(e) => {
                let _ = writeln!(
                    self.trace,
                    "{:>7}  send -> error: {e}",
                    self.now.as_millis()
                );
            }
        }
        self.drain();
        r
    }

    /// Moves time forward by `ms`, firing every deadline on the way, each at
    /// its own instant (as a well-behaved driver would).
    pub fn advance(&mut self, ms: u64) -> Vec<Action> {
        let end = Instant::from_millis(self.now.as_millis().saturating_add(ms));
        let mut out = Vec::new();
        for _ in 0..100_000 {
            match self.engine.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    out.extend(self.input(Input::Timeout));
                }
                _ => break,
            }
        }
        self.now = end;
        out
    }

    /// Fires deadlines one at a time until the engine emits a `Connect` (or
    /// `max_ms` pass). Returns the milliseconds waited.
    pub fn wait_for_connect(&mut self, max_ms: u64) -> u64 {
        let start = self.now.as_millis();
        let end = start.saturating_add(max_ms);
        for _ in 0..10_000 {
            match self.engine.poll_timeout() {
                Some(t) if t.as_millis() <= end => {
                    self.now = t.max(self.now);
                    let out = self.input(Input::Timeout);
                    if out.iter().any(|a| matches!(a, Action::Connect { .. })) {
                        break;
                    }
                }
                _ => {
                    self.now = Instant::from_millis(end);
                    break;
                }
            }
        }
        self.now.as_millis() - start
    }

    /// Jumps to `at` without firing anything on the way (a late timer).
    pub fn jump(&mut self, at: u64) {
        let _ = writeln!(
            self.trace,
            "{:>7}  (clock jumps to {at})",
            self.now.as_millis()
        );
        self.now = Instant::from_millis(at);
    }

    pub fn live(&self) -> ConnId {
        self.conn.expect("a connect happened")
    }

    pub fn opened(&mut self) -> Vec<Action> {
        let conn = self.live();
        self.input(Input::Opened { conn })
    }

    pub fn closed(&mut self, code: u16) -> Vec<Action> {
        let conn = self.live();
        self.input(Input::Closed { conn, code })
    }

    pub fn frame(&mut self, frame: redial::Frame) -> Vec<Action> {
        let conn = self.live();
        self.input(Input::Message { conn, frame })
    }

    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.trace, "         # {text}");
    }

    pub fn state(&self) -> State {
        self.engine.state()
    }

    /// Every `Connect` action seen so far.
    pub fn connects(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a, Action::Connect { .. }))
            .count()
    }
}

pub fn input_line(i: &Input) -> String {
    match *i {
        Input::Start => "start".into(),
        Input::Opened { conn } => format!("opened {conn}"),
        Input::Closed { conn, code } => format!("closed {conn} code {code}"),
        Input::ConnectFailed { conn, error } => format!("connect-failed {conn} {error:?}"),
        Input::Message { conn, frame } => format!("frame {conn} {frame:?}"),
        Input::Send => "send".into(),
        Input::Timeout => "timeout".into(),
        Input::Online => "online".into(),
        Input::Offline => "offline".into(),
        Input::Close { code } => format!("app close code {code}"),
        Input::RetryAfter { conn, after } => format!("retry-after {conn} {}ms", after.as_millis()),
        Input::Accepted => "accepted".into(),
        Input::ReconnectWindow { conn, window } => {
            format!("reconnect-window {conn} {}ms", window.as_millis())
        }
        _ => format!("{i:?}"),
    }
}
