//! Per-action checks: every action the engine returns is judged against the
//! model and the step's prediction, then applied to the model.

use core::time::Duration;

use super::{check, floor_ms, hinted, Ctx, Live, Model, Ping, Plan, Status, Terminal};
use super::{ensure, Violation};
use crate::close::code;
use crate::connection::Role;
use crate::io::{Action, ConnId, FailReason, Input, State, Transport};
use crate::queue::CAPACITY;
use crate::time::millis;

impl Model {
    /// The smallest pong deadline any ping can get, in ms.
    pub(in crate::fuzzing) fn min_pong_ms(&self) -> u64 {
        let hb = &self.cfg.heartbeat;
        let routine = if hb.adaptive {
            hb.min_timeout.min(hb.timeout)
        } else {
            hb.timeout
        };
        millis(routine.min(hb.probe_timeout.min(hb.timeout)))
    }

    fn live_open(&self, conn: crate::io::ConnId) -> bool {
        self.live
            .is_some_and(|l| l.conn == conn && l.status == Status::Open)
    }

    /// The window the drawn policy delay for attempt `next` lies in.
    fn drawn(&self, next: u32) -> Option<(Duration, Duration)> {
        let p = &self.cfg.reconnect.policy;
        let a = p.bounds(next, self.prev.0)?;
        let b = p.bounds(next, self.prev.1)?;
        Some((a.0.min(b.0), a.1.max(b.1)))
    }

    /// Judges one action and applies it to the model.
    ///
    /// The two actions that come by the window (a resend of `max_queued`
    /// transmits, a timer after every drain) are judged inline; every other
    /// action goes to [`on_other_action`](Self::on_other_action).
    #[inline]
    pub(in crate::fuzzing) fn on_action(
        &mut self,
        a: Action,
        ctx: &mut Ctx,
    ) -> Result<(), Violation> {
        match a {
            Action::Transmit { conn, seq } => {
                check(
                    self.live_open(conn),
                    "transmit on a generation not open",
                    &a,
                    ctx,
                )?;
                check(seq >= 1, "seq 0 transmitted", &a, ctx)?;
                ctx.transmits += 1;
                ctx.max_tx = ctx.max_tx.max(seq);
                let cap = self.cfg.delivery.max_queued as usize;
                check(
                    ctx.transmits <= cap,
                    "more transmits than the window",
                    &a,
                    ctx,
                )
            }
            Action::ScheduleTimer { at } => {
                check(at >= ctx.now, "timer scheduled in the past", &a, ctx)?;
                self.announced = Some(at);
                Ok(())
            }
            _ => self.on_other_action(a, ctx),
        }
    }

    /// [`on_action`](Self::on_action) for every action but `Transmit` and
    /// `ScheduleTimer`.
    #[inline(never)]
    fn on_other_action(&mut self, a: Action, ctx: &mut Ctx) -> Result<(), Violation> {
        let computed = matches!(
            a,
            Action::Ack { .. }
                | Action::Transmit { .. }
                | Action::DeliveryOverdue { .. }
                | Action::ScheduleTimer { .. }
        );
        if !computed {
            ctx.control += 1;
            let cap = if ctx.batch {
                CAPACITY
            } else {
                crate::queue::MAX_PER_INPUT
            };
            check(ctx.control <= cap, "too many control actions", &a, ctx)?;
        }
        match a {
            Action::Connect {
                conn,
                transport,
                attempt,
            } => {
                check(self.role == Role::Client, "a server dialed", &a, ctx)?;
                check(
                    self.live.is_none(),
                    "Connect while a generation is live",
                    &a,
                    ctx,
                )?;
                check(
                    self.terminal.is_none(),
                    "reconnect after close/fatal",
                    &a,
                    ctx,
                )?;
                let fresh = conn.0 == self.issued.wrapping_add(1);
                check(fresh, "generation not the next one", &a, ctx)?;
                check(attempt == self.attempt, "Connect attempt != model", &a, ctx)?;
                // Known (finding F4): the HTTP reconnect after a failed
                // probe is itself treated as a probe by the engine.
                let f4 = transport == Transport::Http
                    && ctx.probe_failed
                    && !self.strict.has(super::super::Strict::F4);
                let probe = (transport == Transport::WebSocket && self.fallback_active) || f4;
                match transport {
                    Transport::Http => {
                        check(self.fallback_active, "Http before a Downgrade", &a, ctx)?
                    }
                    Transport::WebSocket if probe => {
                        let ok = self.cfg.fallback.probe_interval.is_some()
                            && matches!(ctx.input, Input::Timeout);
                        check(ok, "WebSocket dialed while on the fallback", &a, ctx)?;
                    }
                    Transport::WebSocket => {}
                }
                self.issued = conn.0;
                self.lazy = false;
                self.live = Some(Live {
                    conn,
                    transport,
                    status: Status::Connecting,
                    probe,
                });
            }
            Action::ReconnectAfter { delay, attempt } => {
                self.on_reconnect_after(a, delay, attempt, ctx)?
            }
            Action::SendPing { conn, nonce } => {
                check(
                    self.live_open(conn),
                    "ping on a generation not open",
                    &a,
                    ctx,
                )?;
                check(
                    self.cfg.heartbeat.enabled(),
                    "ping with heartbeats off",
                    &a,
                    ctx,
                )?;
                let next = self.last_nonce.wrapping_add(1);
                check(nonce == next, "ping nonces must count up by one", &a, ctx)?;
                if let Some(p) = self.ping {
                    let late_after = p
                        .earliest
                        .as_millis()
                        .saturating_add(self.min_pong_ms())
                        .saturating_add(millis(self.cfg.heartbeat.late_threshold));
                    let late =
                        matches!(ctx.input, Input::Timeout) && ctx.now.as_millis() > late_after;
                    check(
                        ctx.probe_ok || late,
                        "second ping while one is outstanding",
                        &a,
                        ctx,
                    )?;
                }
                self.last_nonce = nonce;
                let earliest = ctx.now;
                self.ping = Some(Ping {
                    earliest,
                    latest: ctx.now,
                });
            }
            Action::SendPong { conn, nonce } => {
                check(
                    self.live_open(conn),
                    "pong on a generation not open",
                    &a,
                    ctx,
                )?;
                let ok = ctx.expect_pong == Some(nonce) && ctx.pongs == 0;
                check(ok, "pong that answers no ping", &a, ctx)?;
                ctx.pongs += 1;
            }
            // Judged by `on_action`, which never passes them on.
            Action::ScheduleTimer { .. } | Action::Transmit { .. } => {
                return self.on_action(a, ctx);
            }
            Action::Ack { conn, upto } => {
                check(
                    self.live_open(conn),
                    "ack on a generation not open",
                    &a,
                    ctx,
                )?;
                check(self.cfg.delivery.acks, "ack with acks off", &a, ctx)?;
                check(upto == self.delivered, "ack mark != delivered", &a, ctx)?;
                ctx.acks += 1;
                check(ctx.acks <= 1, "two acks in one drain", &a, ctx)?;
            }
            Action::Resume { conn, last } => {
                check(
                    self.live_open(conn),
                    "resume on a generation not open",
                    &a,
                    ctx,
                )?;
                check(ctx.expect_resume, "resume outside an open", &a, ctx)?;
                check(last == self.delivered, "resume mark != delivered", &a, ctx)?;
                ctx.expect_resume = false;
            }
            Action::Deliver { .. } | Action::Discard { .. } => {
                let ok = ctx.expect_verdict == Some(a) && ctx.verdicts == 0;
                check(ok, "verdict differs from the reference model", &a, ctx)?;
                ctx.verdicts += 1;
            }
            Action::Close { conn, code } => self.on_close(a, conn, code, ctx)?,
            Action::Abandon { conn } => {
                if self.retiring == Some(conn) {
                    self.retiring = None;
                } else {
                    let live = self.live.filter(|l| l.conn == conn);
                    check(live.is_some(), "abandon of a generation not live", &a, ctx)?;
                    if ctx.unpaired_close == Some(conn) {
                        ctx.unpaired_close = None;
                    }
                    let was_open = live.is_some_and(|l| l.status == Status::Open);
                    let probing = live.is_some_and(|l| l.probe && l.status == Status::Connecting);
                    if probing && ctx.input == Input::Timeout {
                        ctx.probe_failed = true;
                    }
                    self.end_generation(ctx.now, was_open);
                }
            }
            Action::Downgrade { reason } => {
                check(
                    ctx.expect_downgrade == Some(reason),
                    "unexpected downgrade",
                    &a,
                    ctx,
                )?;
                ctx.expect_downgrade = None;
                self.fallback_active = true;
            }
            Action::StateChanged { state } => {
                check(
                    state != self.reported,
                    "StateChanged to the same state",
                    &a,
                    ctx,
                )?;
                self.reported = state;
            }
            Action::DeliveryOverdue { seq } => {
                check(
                    seq > self.overdue_last,
                    "overdue reported twice or out of order",
                    &a,
                    ctx,
                )?;
                self.overdue_last = seq;
                ctx.overdue += 1;
                ctx.min_overdue = Some(ctx.min_overdue.map_or(seq, |m| m.min(seq)));
                let cap = self.cfg.delivery.max_queued as usize;
                check(
                    ctx.overdue <= cap,
                    "more overdue reports than queued",
                    &a,
                    ctx,
                )?;
            }
            Action::Failed { reason } => self.on_failed(a, reason, ctx)?,
        }
        Ok(())
    }

    fn on_reconnect_after(
        &mut self,
        a: Action,
        delay: Duration,
        attempt: u32,
        ctx: &mut Ctx,
    ) -> Result<(), Violation> {
        check(
            self.role == Role::Client,
            "a server schedules a reconnect",
            &a,
            ctx,
        )?;
        check(
            self.live.is_none(),
            "reconnect while a generation is live",
            &a,
            ctx,
        )?;
        check(
            self.terminal.is_none(),
            "reconnect after close/fatal",
            &a,
            ctx,
        )?;
        check(self.online, "reconnect scheduled while offline", &a, ctx)?;
        let (lo, hi) = if ctx.online_wait {
            check(
                attempt == self.attempt,
                "online wait changed the attempt",
                &a,
                ctx,
            )?;
            (Duration::ZERO, floor_ms(self.cfg.online_jitter))
        } else if let Some(h) = ctx.hint_wait {
            check(attempt == self.attempt, "hint changed the attempt", &a, ctx)?;
            hinted(h)
        } else {
            let next = self.attempt.saturating_add(1);
            check(attempt == next, "attempt is not the next one", &a, ctx)?;
            let max = self.cfg.reconnect.max_attempts;
            check(
                max.is_none_or(|m| next <= m),
                "attempts exceed max_attempts",
                &a,
                ctx,
            )?;
            let Some(drawn) = self.drawn(next) else {
                return check(false, "reconnect past the policy's end", &a, ctx);
            };
            let standing = self
                .window
                .take()
                .filter(|&(c, _)| c == ConnId(self.issued))
                .map(|(_, w)| w);
            let window = if let Some(h) = self.hint.take() {
                self.prev = drawn;
                hinted(h)
            } else {
                match ctx.plan {
                    // A window widens the first attempt's window only.
                    Plan::Backoff if standing.is_some() && next == 1 => {
                        self.prev = drawn;
                        let w = standing.map_or(Duration::ZERO, floor_ms);
                        (drawn.0, drawn.1.max(w))
                    }
                    Plan::Backoff => {
                        self.prev = (delay, delay);
                        drawn
                    }
                    Plan::Uniform { min, max } => {
                        self.prev = drawn;
                        (floor_ms(min), floor_ms(max))
                    }
                    Plan::AtLeast { floor } => {
                        self.prev = if delay > floor {
                            (delay, delay)
                        } else {
                            (drawn.0, drawn.1.min(floor))
                        };
                        (drawn.0.max(floor), drawn.1.max(floor))
                    }
                }
            };
            self.attempt = next;
            window
        };
        ensure!(
            lo <= delay && delay <= hi,
            "delay {delay:?} outside [{lo:?}, {hi:?}] (attempt {attempt}, plan {:?}, online {}, hint {:?}) after {:?} at {}",
            ctx.plan,
            ctx.online_wait,
            ctx.hint_wait,
            ctx.input,
            ctx.now
        );
        ctx.waited = Some((delay, attempt));
        Ok(())
    }

    fn on_close(
        &mut self,
        a: Action,
        conn: crate::io::ConnId,
        code: u16,
        ctx: &mut Ctx,
    ) -> Result<(), Violation> {
        let live = self.live.filter(|l| l.conn == conn);
        check(live.is_some(), "close of a generation not live", &a, ctx)?;
        check(
            self.sendable(code),
            "close code that may not be sent",
            &a,
            ctx,
        )?;
        if ctx.user_close {
            let ok = ctx.input == Input::Close { code };
            return check(ok, "close code differs from the app's", &a, ctx);
        }
        ctx.unpaired_close = Some(conn);
        match code {
            code::HEARTBEAT_TIMEOUT => {
                let ok = matches!(ctx.input, Input::Timeout)
                    && self.ping.is_some_and(|p| {
                        // Instant arithmetic: it saturates at the end of
                        // time, as the engine's deadlines do.
                        ctx.now
                            >= p.earliest + core::time::Duration::from_millis(self.min_pong_ms())
                    });
                check(ok, "declared dead without an unanswered ping", &a, ctx)?;
                ctx.dead = true;
            }
            code::PROTOCOL_ERROR => {
                let ok = matches!(ctx.expect_fail, Some(FailReason::Protocol(_)));
                check(ok, "1002 without a protocol error", &a, ctx)?;
            }
            code::NORMAL => {
                let ok = matches!(ctx.input, Input::Timeout)
                    && live.is_some_and(|l| l.transport == Transport::Http)
                    && self.cfg.fallback.probe_interval.is_some();
                check(
                    ok,
                    "engine closed with 1000 outside an upgrade probe",
                    &a,
                    ctx,
                )?;
            }
            _ => check(false, "unexpected engine-initiated close", &a, ctx)?,
        }
        Ok(())
    }

    fn on_failed(&mut self, a: Action, reason: FailReason, ctx: &mut Ctx) -> Result<(), Violation> {
        let shown = self.reported == State::Failed { reason };
        check(shown, "Failed without StateChanged(Failed) first", &a, ctx)?;
        match ctx.expect_fail {
            Some(r) => check(
                r == reason,
                "failure reason differs from the model",
                &a,
                ctx,
            )?,
            None => {
                let ok = match reason {
                    FailReason::AttemptsExhausted { attempts } => {
                        attempts == self.attempt && self.exhausted(attempts.saturating_add(1))
                    }
                    _ => false,
                };
                check(ok, "unexpected failure", &a, ctx)?;
            }
        }
        self.terminal = Some(Terminal::Failed(reason));
        Ok(())
    }
}
