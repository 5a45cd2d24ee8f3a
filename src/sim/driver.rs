//! The driver half of the world: feed one engine, carry out what it asks
//! exactly as a real driver would, and check the invariants after every step.

use std::format;

use super::check::Property;
use super::fault::{Dir, Side};
use super::net::Wire;
use super::world::{Ev, Sim};
use crate::close::{self, CloseAction};
use crate::delivery::DataId;
use crate::error::Error;
use crate::io::{Action, ConnId, ConnectError, DowngradeReason, FailReason, Frame, Input, State};
use crate::time::{millis, Instant};

/// What a step does to an engine.
#[derive(Clone, Copy, Debug)]
pub(super) enum Op {
    /// `handle(now, input)`.
    Input(Input),
    /// A data frame `(conn, frame, seq, msg)` arrived.
    Data(ConnId, Frame, u64, u64),
    /// The app sends message `msg`.
    Send(u64),
    /// Server: the upgrade on socket `sock` is accepted.
    Accept(usize),
}

/// Why the engine may be scheduling a reconnect in this step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cause {
    /// A `Closed` with this code.
    Close(u16),
    /// The host came back online.
    Online,
    /// A retry-after hint (ms, capped) arrived while waiting: it replaces
    /// the wait.
    Hint(u64),
    /// Anything else (timers, failed connects).
    Other,
}

/// What the step's checks need to know while actions are applied.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ctx {
    pub(super) cause: Cause,
    /// The input named a generation that is not live: nothing may change.
    pub(super) stale: bool,
    /// The data frame being judged: `(seq, msg)`.
    pub(super) data: Option<(u64, u64)>,
    pub(super) judged: bool,
    /// A generation that may still be abandoned in this step (the one an
    /// `accept` replaces).
    pub(super) released: Option<ConnId>,
    pub(super) invalid_url: bool,
    /// A heartbeat close (4000) not yet followed by its `Abandon`.
    pub(super) dead_close: Option<ConnId>,
    /// The input may legitimately send a probe ping (online/offline).
    pub(super) probe: bool,
    pub(super) actions: usize,
}

impl Sim {
    /// Feeds one operation to `side`'s engine, drains and checks.
    pub(super) fn step(&mut self, side: Side, op: Op) {
        let now = self.now;
        if now < self.peer(side).frozen_until {
            return self.peer_mut(side).backlog.push(op);
        }
        let p = self.peer(side);
        let clock = p.clock(now);
        let before = p.engine.state();
        let mut ctx = Ctx {
            cause: Cause::Other,
            stale: false,
            data: None,
            judged: false,
            released: None,
            invalid_url: false,
            dead_close: None,
            probe: false,
            actions: 0,
        };
        let input = match op {
            Op::Input(i) => Some(i),
            Op::Data(conn, frame, seq, msg) => {
                ctx.data = Some((seq, msg));
                Some(Input::Message { conn, frame })
            }
            Op::Send(_) | Op::Accept(_) => None,
        };
        if let Some(input) = input {
            self.note(&format!("{} <- {input:?}", side.letter()));
            let p = self.peer(side);
            ctx.stale = super::peer::Peer::owns(&input).is_some_and(|c| Some(c) != p.live);
            ctx.cause = match input {
                Input::Closed { code, .. } => Cause::Close(code),
                Input::Online => Cause::Online,
                _ => Cause::Other,
            };
            ctx.probe = matches!(input, Input::Online | Input::Offline);
            ctx.invalid_url = matches!(
                input,
                Input::ConnectFailed {
                    error: ConnectError::InvalidUrl,
                    ..
                }
            ) && !ctx.stale;
            if let Input::RetryAfter { after, .. } = input {
                let h = millis(after).min(millis(self.cfg.max_retry_after));
                if matches!(before, State::Waiting { .. }) {
                    ctx.cause = Cause::Hint(h);
                } else if !ctx.stale {
                    self.peer_mut(side).hint = Some(h);
                }
            }
            let p = self.peer_mut(side);
            if input == Input::Start {
                p.stopped = false;
            }
            let result = p.engine.handle(clock, input);
            // A terminal event the engine accepted releases the generation
            // before its actions run (they may already dial the next one).
            if let Input::Closed { conn, .. } | Input::ConnectFailed { conn, .. } = input {
                if p.live == Some(conn) && p.engine.live_conn() != Some(conn) {
                    p.live = None;
                }
            }
            if let Err(e) = result {
                self.violate(Property::Driver, format!("{side:?} refused {input:?}: {e}"));
            }
        }
        match op {
            Op::Send(msg) => self.app_send(side, clock, msg),
            Op::Accept(sock) => ctx.released = self.accept(clock, sock),
            Op::Input(_) | Op::Data(..) => {}
        }
        self.drain(side, &mut ctx);
        self.after_step(side, before, &ctx);
    }

    fn app_send(&mut self, side: Side, clock: Instant, msg: u64) {
        let p = self.peer_mut(side);
        match p.engine.send(clock) {
            Ok(seq) => {
                let expected = u64::try_from(p.sent.len())
                    .unwrap_or(u64::MAX)
                    .saturating_add(1);
                let stored = p.outbox.insert(seq, msg);
                p.sent.push(msg);
                self.note(&format!("{} send msg {msg} -> seq {seq}", side.letter()));
                if seq != expected || stored.is_err() {
                    self.violate(
                        Property::Driver,
                        format!("{side:?} send gave seq {seq}, expected {expected} ({stored:?})"),
                    );
                }
            }
            Err(Error::Send(_) | Error::NotRunning { .. }) => {
                p.refused = p.refused.saturating_add(1);
                self.note(&format!("{} send msg {msg} refused", side.letter()));
            }
            Err(e) => self.violate(Property::Driver, format!("{side:?} send failed: {e}")),
        }
    }

    /// Server accepts the upgrade on `sock`; returns the generation it replaces.
    fn accept(&mut self, clock: Instant, sock: usize) -> Option<ConnId> {
        self.note(&format!("S <- accept (socket {sock})"));
        let now = self.now;
        let p = &mut self.server;
        let old = p.live;
        match p.engine.accept(clock) {
            Ok(conn) => {
                p.live = Some(conn);
                p.socks.insert(conn.0, sock);
                p.last_inbound = now;
                p.hint = None;
                p.pings = 0;
                if let Some(end) = self.end_mut(sock, Side::Server) {
                    end.conn = Some(conn);
                    end.alive = true;
                    end.opened = true;
                }
                self.send_wire(sock, Dir::ToClient, Wire::Accepted);
                old
            }
            Err(e) => {
                self.violate(Property::Driver, format!("accept failed: {e}"));
                None
            }
        }
    }

    fn drain(&mut self, side: Side, ctx: &mut Ctx) {
        let cap = usize::try_from(self.cfg.delivery.max_queued)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
            .saturating_add(64);
        while let Some(a) = self.peer_mut(side).engine.poll_action() {
            ctx.actions = ctx.actions.saturating_add(1);
            if ctx.actions > cap {
                self.violate(
                    Property::Bounds,
                    format!("{side:?} poll_action does not drain"),
                );
                break;
            }
            self.note(&format!("    {} -> {a:?}", side.letter()));
            self.apply(side, a, ctx);
        }
    }

    fn apply(&mut self, side: Side, a: Action, ctx: &mut Ctx) {
        if ctx.stale
            && !matches!(
                a,
                Action::Ack { .. }
                    | Action::Transmit { .. }
                    | Action::DeliveryOverdue { .. }
                    | Action::ScheduleTimer { .. }
            )
        {
            self.violate(
                Property::StaleEvent,
                format!("{side:?} acted on a stale event: {a:?}"),
            );
        }
        match a {
            Action::Connect {
                conn, transport, ..
            } => self.connect(side, conn, transport),
            Action::ReconnectAfter { delay, attempt } => {
                self.check_backoff(side, delay, attempt, ctx)
            }
            Action::SendPing { conn, nonce } => {
                let now = self.now;
                let p = self.peer_mut(side);
                p.pings = p.pings.saturating_add(1);
                let (pings, calm) = (p.pings, now > p.disturbed_until);
                if pings > 1 && !ctx.probe && calm {
                    self.violate(
                        Property::Bounds,
                        format!("{side:?} ping {nonce} while one is outstanding"),
                    );
                }
                self.emit(side, conn, Wire::Ping { nonce });
            }
            Action::SendPong { conn, nonce } => self.emit(side, conn, Wire::Pong { nonce }),
            Action::Ack { conn, upto } => self.emit(side, conn, Wire::Ack { upto }),
            Action::Resume { conn, last } => self.emit(side, conn, Wire::Resume { last }),
            Action::Transmit { conn, seq } => match self.peer(side).outbox.get(seq).copied() {
                Some(msg) => self.emit(side, conn, Wire::Data { seq, msg }),
                None => self.violate(
                    Property::Driver,
                    format!("{side:?} transmit of seq {seq}, which the outbox does not hold"),
                ),
            },
            Action::Deliver { id } => {
                let fresh = !ctx.judged;
                ctx.judged = true;
                match (id, ctx.data) {
                    (DataId::Seq(s), Some((seq, msg))) if s == seq && fresh => {
                        self.peer_mut(side).received.push(msg);
                    }
                    _ => self.violate(
                        Property::Driver,
                        format!("{side:?} {a:?} matches no frame ({:?})", ctx.data),
                    ),
                }
            }
            Action::Discard { .. } => {
                if ctx.judged || ctx.data.is_none() {
                    self.violate(Property::Driver, format!("{side:?} {a:?} matches no frame"));
                }
                ctx.judged = true;
            }
            Action::Close { conn, code } => {
                if !close::can_send(code) {
                    self.violate(
                        Property::Driver,
                        format!("{side:?} sends close code {code}"),
                    );
                }
                if code == close::code::HEARTBEAT_TIMEOUT {
                    ctx.dead_close = Some(conn);
                    let p = self.peer(side);
                    if p.live == Some(conn) && self.now > p.disturbed_until {
                        let took = self.now.saturating_sub(p.last_inbound);
                        self.stats.max_dead_detect = self.stats.max_dead_detect.max(took);
                    }
                }
                let sock = self.peer(side).socks.get(&conn.0).copied();
                let http = sock
                    .and_then(|i| self.link.sockets.get(i))
                    .is_some_and(|s| s.transport == crate::io::Transport::Http);
                if side == Side::Client && http && code == close::code::NORMAL {
                    self.probe_break = true;
                }
                self.emit(side, conn, Wire::Close { code, hint: None });
                if let Some(end) = self
                    .peer(side)
                    .socks
                    .get(&conn.0)
                    .copied()
                    .and_then(|s| self.end_mut(s, side))
                {
                    end.close_sent = true;
                }
            }
            Action::Abandon { conn } => self.abandon(side, conn, ctx),
            Action::Downgrade { reason } => {
                let allowed = match reason {
                    DowngradeReason::InvalidUrl => self.sched.invalid_url,
                    DowngradeReason::HandshakeFailures { .. } => {
                        self.cfg.fallback.after_handshake_failures.is_some()
                    }
                };
                if !allowed || side == Side::Server {
                    self.violate(
                        Property::Downgrade,
                        format!("{side:?} downgraded: {reason:?}"),
                    );
                }
                self.peer_mut(side).downgraded = true;
            }
            Action::StateChanged { state } => self.state_changed(side, state, ctx.cause),
            Action::DeliveryOverdue { .. } => {
                let p = self.peer_mut(side);
                p.overdue = p.overdue.saturating_add(1);
            }
            Action::Failed { .. } => {}
            Action::ScheduleTimer { at } => {
                if at < self.peer(side).engine.now() {
                    self.violate(
                        Property::Timer,
                        format!("{side:?} timer at {at} before now"),
                    );
                }
            }
        }
    }

    fn connect(&mut self, side: Side, conn: ConnId, transport: crate::io::Transport) {
        if side == Side::Server {
            return self.violate(Property::DoubleConnect, "the server dialled".into());
        }
        let (stopped, live, downgraded) = {
            let p = self.peer(side);
            (p.stopped, p.live, p.downgraded)
        };
        if stopped {
            self.violate(
                Property::DoubleConnect,
                format!("Connect {conn} after Closed/Failed without Start"),
            );
        }
        if let Some(live) = live {
            self.violate(
                Property::DoubleConnect,
                format!("Connect {conn} while {live} is live"),
            );
        }
        let ws = transport == crate::io::Transport::WebSocket;
        if !ws {
            self.stats.http_connects = self.stats.http_connects.saturating_add(1);
        }
        if self.sched.invalid_url && ws && downgraded {
            self.violate(
                Property::Downgrade,
                "WebSocket dialled again after the invalid-URL downgrade".into(),
            );
        }
        let deadline = self.now.saturating_add(millis(self.cfg.connect_timeout));
        let p = self.peer_mut(side);
        p.live = Some(conn);
        p.phase_deadline = Some((deadline, "connecting"));
        if self.sched.invalid_url && ws {
            // `new WebSocket(url)` throws at once.
            return self.push(self.now, Ev::InvalidUrl(conn));
        }
        let broken = [
            self.now < self.blackhole_until[0],
            self.now < self.blackhole_until[1],
        ];
        let sock = self.link.open(conn, transport, broken);
        self.client.socks.insert(conn.0, sock);
        self.send_wire(sock, Dir::ToServer, Wire::Upgrade);
    }

    /// Puts an engine frame on `conn`'s socket, after checking the engine
    /// may send on it.
    fn emit(&mut self, side: Side, conn: ConnId, wire: Wire) {
        let p = self.peer(side);
        if p.live != Some(conn) {
            let live = p.live;
            return self.violate(
                Property::DeadConn,
                format!("{side:?} {wire:?} on {conn}, live is {live:?}"),
            );
        }
        let Some(sock) = p.socks.get(&conn.0).copied() else {
            return self.violate(
                Property::DeadConn,
                format!("{side:?} {wire:?} on {conn}, which has no socket"),
            );
        };
        let Some(end) = self.link.sockets.get(sock).map(|s| *s.end(side)) else {
            return;
        };
        if !end.alive {
            return; // the host already dropped it; the engine hears of it next
        }
        if end.close_sent || (side == Side::Client && !end.opened) {
            return self.violate(
                Property::DeadConn,
                format!(
                    "{side:?} {wire:?} on {conn} (opened {}, closing {})",
                    end.opened, end.close_sent
                ),
            );
        }
        self.send_wire(sock, Dir::from(side), wire);
    }

    fn abandon(&mut self, side: Side, conn: ConnId, ctx: &mut Ctx) {
        if ctx.dead_close == Some(conn) {
            ctx.dead_close = None;
        }
        let p = self.peer_mut(side);
        if p.live == Some(conn) {
            p.live = None;
        } else if ctx.released == Some(conn) {
            ctx.released = None;
        } else {
            let live = p.live;
            self.violate(
                Property::Generation,
                format!("{side:?} abandons {conn}, live is {live:?}"),
            );
        }
        let Some(sock) = self.peer(side).socks.get(&conn.0).copied() else {
            return;
        };
        let Some(end) = self.end_mut(sock, side) else {
            return;
        };
        let was = *end;
        end.alive = false;
        end.abandoned = true;
        if was.alive && !was.close_sent {
            self.send_wire(sock, Dir::from(side), Wire::Eof);
        }
        self.late_events(side, conn, was.opened);
    }

    fn state_changed(&mut self, side: Side, state: State, cause: Cause) {
        let now = self.now;
        let restart = now.saturating_add(self.params.restart_delay);
        let pauses = self.pauses;
        let connect = now.saturating_add(millis(self.cfg.connect_timeout));
        let closing = now.saturating_add(millis(self.cfg.close_timeout));
        let p = self.peer_mut(side);
        p.phase_deadline = match state {
            State::Connecting { .. } => Some((connect, "connecting")),
            State::Closing => Some((closing, "closing")),
            State::Waiting { until, .. } => Some((p.world_time(until), "waiting")),
            _ => None,
        };
        match state {
            State::Open | State::Fallback => {
                p.last_inbound = now;
                p.hint = None;
                p.pings = 0;
            }
            State::Failed { reason } => {
                p.stopped = true;
                if let FailReason::Protocol(e) = reason {
                    self.violate(Property::Protocol, format!("{side:?} failed: {e}"));
                }
                if side == Side::Client && pauses == 0 {
                    self.push(restart, Ev::AppStart { pause_end: false });
                }
            }
            State::Closed => {
                p.stopped = true;
                if side == Side::Client && pauses == 0 {
                    self.push(restart, Ev::AppStart { pause_end: false });
                }
            }
            State::Idle => {
                // A "stop" close (1000) with nothing queued ends the session:
                // later sends are buffered but never dial (only a lazy 1001
                // Idle dials on send). The app decides to come back.
                let stop = matches!(cause, Cause::Close(code) if self.cfg.close.action(code) == CloseAction::Stop);
                if side == Side::Client && stop && pauses == 0 {
                    self.push(restart, Ev::AppStart { pause_end: false });
                }
            }
            _ => {}
        }
    }
}
