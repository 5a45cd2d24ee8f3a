//! [`Model::pre_input`]: what each input is predicted to do, and the
//! effects the engine applies without an action (a generation the peer
//! closed, a delivered message…).

use core::time::Duration;

use super::{Ctx, Live, Model, Outcome, Plan, Snapshot, Status, Terminal};
use crate::close::CloseAction;
use crate::connection::Role;
use crate::delivery::{DataId, ProtocolError};
use crate::error::Error;
use crate::io::{
    Action, ConnId, ConnectError, DiscardReason, DowngradeReason, FailReason, Frame, Input, State,
    Transport,
};
use crate::time::Instant;

impl Model {
    /// What `reconnect()` leads to, given the model's state.
    fn reconnect_outcome(&self, ctx: &mut Ctx) {
        ctx.outcome = if self.role == Role::Server {
            Outcome::State(State::Idle)
        } else if !self.online {
            Outcome::State(State::Offline)
        } else if self.exhausted(self.attempt.saturating_add(1)) {
            let reason = FailReason::AttemptsExhausted {
                attempts: self.attempt,
            };
            ctx.expect_fail = Some(reason);
            Outcome::State(State::Failed { reason })
        } else {
            Outcome::Waiting
        };
    }

    fn fail_with(ctx: &mut Ctx, reason: FailReason) {
        ctx.expect_fail = Some(reason);
        ctx.outcome = Outcome::State(State::Failed { reason });
    }

    /// A fresh step context for `input` at `now` (clamped to the model's
    /// clock, as the engine clamps it), to be filled by
    /// [`pre_input`](Self::pre_input). Two calls rather than one that
    /// returns the filled `Ctx`: that way the (large, once per step) `Ctx`
    /// is built in place in the caller's frame instead of being copied out.
    #[inline]
    pub(in crate::fuzzing) fn ctx(&self, now: Instant, input: Input, before: &Snapshot) -> Ctx {
        Ctx::new(input, now.max(self.clock), *before)
    }

    /// Predicts what `ctx.input` at `ctx.now` does; mutates the model for
    /// effects the engine applies without an action (a generation closed by
    /// the peer, a delivered message…). Refusals are predicted without
    /// mutating.
    pub(in crate::fuzzing) fn pre_input(&mut self, ctx: &mut Ctx) {
        let (input, now) = (ctx.input, ctx.now);
        let before_state = ctx.before.state;
        let unchanged = Outcome::State(before_state);
        let client = self.role == Role::Client;
        match input {
            Input::Start => {
                let restart = matches!(
                    before_state,
                    State::Idle | State::Closed | State::Failed { .. }
                );
                if client && restart {
                    self.attempt = 0;
                    self.prev = (Duration::ZERO, Duration::ZERO);
                    self.server_errors = 0;
                    self.terminal = None;
                    self.lazy = false;
                    ctx.outcome = if self.online {
                        Outcome::Connecting
                    } else {
                        Outcome::State(State::Offline)
                    };
                } else {
                    ctx.outcome = unchanged;
                }
            }
            Input::Opened { conn } => {
                if self.live_is(conn, Some(Status::Connecting)) {
                    if let Some(l) = self.live.as_mut() {
                        l.status = Status::Open;
                        let t = l.transport;
                        self.on_open(now, t);
                        ctx.outcome = Outcome::State(match t {
                            Transport::WebSocket => State::Open,
                            Transport::Http => State::Fallback,
                        });
                    }
                    ctx.expect_resume = self.cfg.delivery.acks;
                } else {
                    ctx.stale = true;
                    ctx.outcome = unchanged;
                }
            }
            Input::Closed { conn, code } => self.pre_closed(now, conn, code, ctx),
            Input::ConnectFailed { conn, error } => self.pre_failed(now, conn, error, ctx),
            Input::Message { conn, frame } => self.pre_message(conn, frame, ctx),
            Input::Send => self.pre_send(ctx),
            Input::Timeout => {}
            Input::Online => {
                self.online = true;
                if before_state == State::Offline {
                    ctx.online_wait = true;
                    ctx.outcome = Outcome::Waiting;
                } else {
                    ctx.probe_ok = true;
                    ctx.outcome = unchanged;
                }
            }
            Input::Offline => {
                self.online = false;
                ctx.probe_ok = true;
                ctx.outcome = match before_state {
                    State::Waiting { .. } if client => Outcome::State(State::Offline),
                    State::Connecting { .. } => Outcome::State(State::Offline),
                    _ => unchanged,
                };
            }
            Input::Close { code } => {
                if !self.sendable(code) {
                    ctx.expect_err = Some(Error::InvalidCloseCode { code });
                    ctx.outcome = unchanged;
                } else {
                    ctx.user_close = true;
                    ctx.outcome = match before_state {
                        State::Open | State::Fallback => {
                            if let Some(l) = self.live.as_mut() {
                                l.status = Status::Closing;
                            }
                            self.ping = None;
                            self.terminal = Some(Terminal::UserClosed);
                            Outcome::State(State::Closing)
                        }
                        State::Connecting { .. }
                        | State::Idle
                        | State::Waiting { .. }
                        | State::Offline => {
                            self.terminal = Some(Terminal::UserClosed);
                            Outcome::State(State::Closed)
                        }
                        _ => unchanged,
                    };
                }
            }
            Input::RetryAfter { conn, after } => {
                let live = self.live.map(|l| l.conn) == Some(conn);
                if conn != ConnId(self.issued) || !(live || self.reported_closed == Some(conn)) {
                    ctx.stale = true;
                } else {
                    let after = after.min(self.cfg.max_retry_after);
                    if matches!(before_state, State::Waiting { .. }) {
                        ctx.hint_wait = Some(after);
                        ctx.outcome = Outcome::Waiting;
                    } else {
                        self.hint = Some(after);
                        ctx.outcome = unchanged;
                    }
                }
            }
            Input::ReconnectWindow { conn, window } => {
                let open = self
                    .live
                    .is_some_and(|l| l.conn == conn && l.status == Status::Open);
                if open && client {
                    let window = window.min(self.cfg.max_retry_after);
                    self.window = (!window.is_zero()).then_some((conn, window));
                } else {
                    ctx.stale = true;
                }
                ctx.outcome = unchanged;
            }
            Input::Accepted => self.pre_accept(now, ctx),
        }
    }

    fn pre_closed(&mut self, now: Instant, conn: ConnId, code: u16, ctx: &mut Ctx) {
        let Some(live) = self.live.filter(|l| l.conn == conn) else {
            ctx.stale = true;
            ctx.outcome = Outcome::State(ctx.before.state);
            return;
        };
        self.reported_closed = Some(conn);
        self.lazy = false;
        match live.status {
            Status::Closing => {
                self.end_generation(now, false);
                ctx.outcome = Outcome::State(State::Closed);
            }
            Status::Connecting if live.probe => {
                self.end_generation(now, false);
                ctx.probe_failed = true;
                ctx.outcome = Outcome::Connecting;
            }
            status => {
                self.end_generation(now, status == Status::Open);
                let pending = ctx.before.queued > 0;
                match self.cfg.close.action(code) {
                    CloseAction::Stop | CloseAction::Lazy if pending => self.reconnect_outcome(ctx),
                    // Either way a later send dials again (see `after_close`).
                    CloseAction::Stop | CloseAction::Lazy => {
                        self.lazy = self.role == Role::Client;
                        ctx.outcome = Outcome::State(State::Idle);
                    }
                    CloseAction::Retry => self.reconnect_outcome(ctx),
                    CloseAction::RetryBudgeted => {
                        self.server_errors = self.server_errors.saturating_add(1);
                        if self.server_errors > self.cfg.server_error_budget {
                            let count = self.server_errors;
                            Self::fail_with(ctx, FailReason::ServerErrors { count });
                        } else {
                            self.reconnect_outcome(ctx);
                        }
                    }
                    CloseAction::RetryUniform { min, max } => {
                        ctx.plan = Plan::Uniform { min, max };
                        self.reconnect_outcome(ctx);
                    }
                    CloseAction::RetryAtLeast { floor } => {
                        ctx.plan = Plan::AtLeast { floor };
                        self.reconnect_outcome(ctx);
                    }
                    CloseAction::Fatal => Self::fail_with(ctx, FailReason::FatalClose { code }),
                }
            }
        }
    }

    fn pre_failed(&mut self, now: Instant, conn: ConnId, error: ConnectError, ctx: &mut Ctx) {
        let Some(live) = self
            .live
            .filter(|l| l.conn == conn && l.status == Status::Connecting)
        else {
            ctx.stale = true;
            ctx.outcome = Outcome::State(ctx.before.state);
            return;
        };
        self.end_generation(now, false);
        if live.probe {
            ctx.probe_failed = true;
            ctx.outcome = Outcome::Connecting;
            return;
        }
        let fb = self.cfg.fallback;
        let downgrade = match (error, live.transport) {
            (ConnectError::InvalidUrl, Transport::WebSocket) => {
                if self.fallback_active || !fb.on_invalid_url {
                    return Self::fail_with(ctx, FailReason::InvalidUrl);
                }
                Some(DowngradeReason::InvalidUrl)
            }
            (ConnectError::InvalidUrl, Transport::Http) => {
                return Self::fail_with(ctx, FailReason::InvalidUrl);
            }
            (ConnectError::Handshake { .. }, Transport::WebSocket) => {
                self.refused = self.refused.saturating_add(1);
                match fb.after_handshake_failures {
                    Some(n) if !self.fallback_active && self.refused >= n => {
                        Some(DowngradeReason::HandshakeFailures {
                            count: self.refused,
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match downgrade {
            Some(reason) => {
                ctx.expect_downgrade = Some(reason);
                ctx.outcome = Outcome::Connecting;
            }
            None => self.reconnect_outcome(ctx),
        }
    }

    fn pre_message(&mut self, conn: ConnId, frame: Frame, ctx: &mut Ctx) {
        if !self.live_is(conn, None) {
            ctx.stale = true;
            ctx.outcome = Outcome::State(ctx.before.state);
            return;
        }
        ctx.outcome = Outcome::State(ctx.before.state);
        if !self.live_is(conn, Some(Status::Open)) {
            ctx.ignored = true;
            return;
        }
        self.ping = None;
        let b = ctx.before;
        let acks = self.cfg.delivery.acks;
        let error = match frame {
            Frame::Ping { nonce } => {
                ctx.expect_pong = Some(nonce);
                None
            }
            Frame::Data(id) => {
                ctx.expect_verdict = Some(self.verdict(id));
                None
            }
            Frame::Ack { upto } if upto > b.high_sent => Some(ProtocolError::AckFromFuture {
                upto,
                sent: b.high_sent,
            }),
            Frame::Resume { last } if last > b.high_sent => Some(ProtocolError::ResumeFromFuture {
                last,
                sent: b.high_sent,
            }),
            Frame::Resume { last } if acks && last < b.acked => Some(ProtocolError::ResumeBehind {
                last,
                acked: b.acked,
            }),
            _ => None,
        };
        if let Some(e) = error {
            // `protocol_error` emits Close + Abandon, which end the
            // generation when processed.
            Self::fail_with(ctx, FailReason::Protocol(e));
        }
    }

    /// The verdict for an inbound data id, applied to the model.
    fn verdict(&mut self, id: DataId) -> Action {
        let window = usize::from(self.cfg.delivery.dedup_window);
        let discard = |reason| Action::Discard { id, reason };
        match id {
            DataId::None => Action::Deliver { id },
            DataId::Opaque(x) => {
                if self.dedup.contains(&x) {
                    discard(DiscardReason::Duplicate)
                } else {
                    self.dedup.push_back(x);
                    while self.dedup.len() > window {
                        self.dedup.pop_front();
                    }
                    Action::Deliver { id }
                }
            }
            DataId::Seq(s) if s <= self.delivered => discard(DiscardReason::Duplicate),
            DataId::Seq(s) if s == self.delivered.saturating_add(1) => {
                self.delivered = s;
                Action::Deliver { id }
            }
            DataId::Seq(_) => discard(DiscardReason::Gap),
        }
    }

    fn pre_send(&mut self, ctx: &mut Ctx) {
        let b = ctx.before;
        ctx.outcome = Outcome::State(b.state);
        if matches!(b.state, State::Closed | State::Failed { .. }) {
            ctx.expect_err = Some(Error::NotRunning {
                state: b.state.name(),
            });
        } else if b.queued >= u64::from(self.cfg.delivery.max_queued) || b.next_seq == u64::MAX {
            ctx.expect_err = Some(Error::Send(crate::delivery::SendError::Full {
                cap: self.cfg.delivery.max_queued,
            }));
        } else if self.lazy && b.state == State::Idle && self.role == Role::Client {
            self.lazy = false;
            ctx.outcome = Outcome::Connecting;
        }
    }

    fn pre_accept(&mut self, now: Instant, ctx: &mut Ctx) {
        if self.role != Role::Server {
            ctx.expect_err = Some(Error::WrongRole { role: "client" });
            ctx.outcome = Outcome::State(ctx.before.state);
            return;
        }
        if let Some(old) = self.live {
            self.retiring = Some(old.conn);
            self.end_generation(now, old.status == Status::Open);
        }
        self.issued = self.issued.wrapping_add(1);
        self.live = Some(Live {
            conn: ConnId(self.issued),
            transport: Transport::WebSocket,
            status: Status::Open,
            probe: false,
        });
        self.on_open(now, Transport::WebSocket);
        self.terminal = None;
        self.lazy = false;
        ctx.expect_resume = self.cfg.delivery.acks;
        ctx.outcome = Outcome::State(State::Open);
    }
}
