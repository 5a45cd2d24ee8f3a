//! The checks that run after every step: the engine's getters against the
//! model, the step's prediction, and the engine-wide invariants (time,
//! liveness, buffers, progress).

use super::{ensure, Violation};
use super::{Ctx, Model, Outcome, Snapshot, Status, Terminal};
use crate::connection::Connection;
use crate::error::Error;
use crate::io::{Input, State, Transport};
use crate::time::Instant;

impl Model {
    /// Compares the engine with the model after a step whose actions were
    /// all drained and passed through [`Model::on_action`]. `e` holds the
    /// engine's getters read once after the drain (every check below is on
    /// those values; the engine does not change while they are checked).
    pub(in crate::fuzzing) fn check_invariants(
        &self,
        e: &Snapshot,
        ctx: &Ctx,
    ) -> Result<(), Violation> {
        let (st, now, pt, b) = (e.state, e.now, e.poll_timeout, &ctx.before);
        let at = || {
            std::format!(
                "after {:?} at {} (state before {:?}, now {:?})",
                ctx.input,
                ctx.now,
                b.state,
                st
            )
        };

        // Time.
        ensure!(
            now == self.clock,
            "engine clock {now} != model {} {}",
            self.clock,
            at()
        );
        ensure!(
            pt.is_none_or(|t| t >= now),
            "poll_timeout {pt:?} earlier than now {}",
            at()
        );
        ensure!(
            pt.is_none() || self.announced == pt,
            "poll_timeout {pt:?} never announced by ScheduleTimer (last {:?}) {}",
            self.announced,
            at()
        );

        // States and generations.
        ensure!(
            st == self.reported,
            "state() is not what StateChanged said ({:?}) {}",
            self.reported,
            at()
        );
        ensure!(
            e.live == self.live_conn(),
            "live generation {:?} != model {:?} {}",
            e.live,
            self.live,
            at()
        );
        let consistent = match (st, self.live) {
            (State::Connecting { attempt }, Some(l)) => {
                l.status == Status::Connecting && attempt == self.attempt
            }
            (State::Open, Some(l)) => {
                l.status == Status::Open && l.transport == Transport::WebSocket
            }
            (State::Fallback, Some(l)) => {
                l.status == Status::Open && l.transport == Transport::Http
            }
            (State::Closing, Some(l)) => l.status == Status::Closing,
            (
                State::Idle
                | State::Waiting { .. }
                | State::Offline
                | State::Closed
                | State::Failed { .. },
                None,
            ) => true,
            _ => false,
        };
        ensure!(
            consistent,
            "state does not match the live generation {:?} {}",
            self.live,
            at()
        );
        if let State::Waiting { until, attempt } = st {
            ensure!(
                attempt == self.attempt,
                "waiting attempt {attempt} != {} {}",
                self.attempt,
                at()
            );
            ensure!(
                pt.is_some_and(|t| t <= until.max(now)),
                "waiting until {until} but poll_timeout {pt:?} {}",
                at()
            );
            if let Some((delay, a)) = ctx.waited {
                ensure!(
                    until == ctx.now + delay && attempt == a,
                    "waiting until {until}, announced {delay:?} {}",
                    at()
                );
            }
        }
        let terminal_ok = match self.terminal {
            Some(Terminal::UserClosed) => matches!(st, State::Closing | State::Closed),
            Some(Terminal::Failed(reason)) => st == State::Failed { reason },
            None => !matches!(st, State::Closed | State::Failed { .. }),
        };
        ensure!(
            terminal_ok,
            "terminal state lost or reached unexpectedly (model {:?}) {}",
            self.terminal,
            at()
        );
        let outcome_ok = match ctx.outcome {
            Outcome::Any => true,
            Outcome::State(s) => st == s,
            Outcome::Waiting => matches!(st, State::Waiting { .. }) && ctx.waited.is_some(),
            Outcome::Connecting => matches!(st, State::Connecting { .. }),
        };
        ensure!(outcome_ok, "expected {:?} {}", ctx.outcome, at());

        // Backoff budget.
        ensure!(
            e.attempt == self.attempt,
            "attempt {} != model {} {}",
            e.attempt,
            self.attempt,
            at()
        );
        let max = self.cfg.reconnect.max_attempts;
        ensure!(
            max.is_none_or(|m| self.attempt <= m),
            "attempt {} over max {max:?} {}",
            self.attempt,
            at()
        );

        // Buffers and counters.
        let cap = u64::from(self.cfg.delivery.max_queued);
        ensure!(
            e.queued <= cap,
            "queued {} over the cap {cap} {}",
            e.queued,
            at()
        );
        ensure!(
            e.acked <= e.sent && e.sent <= e.high_sent && e.high_sent < e.next_seq,
            "cursors out of order: acked {} sent {} high {} next {} {}",
            e.acked,
            e.sent,
            e.high_sent,
            e.next_seq,
            at()
        );
        ensure!(
            e.acked >= b.acked
                && e.high_sent >= b.high_sent
                && e.next_seq >= b.next_seq
                && e.delivered >= b.delivered,
            "a counter went backwards {}",
            at()
        );
        ensure!(
            e.delivered == self.delivered,
            "delivered {} != model {} {}",
            e.delivered,
            self.delivered,
            at()
        );
        ensure!(
            ctx.max_tx < e.next_seq,
            "transmitted seq {} never pushed {}",
            ctx.max_tx,
            at()
        );
        if let Some(m) = ctx.min_overdue {
            ensure!(
                m > e.acked,
                "overdue seq {m} already acked ({}) {}",
                e.acked,
                at()
            );
        }

        // What the input was predicted to do.
        let s = e.stats;
        ensure!(
            s.stale_events == b.stats.stale_events.saturating_add(u32::from(ctx.stale)),
            "stale event not counted exactly once {}",
            at()
        );
        ensure!(
            s.ignored_frames
                == b.stats
                    .ignored_frames
                    .saturating_add(u32::from(ctx.ignored)),
            "ignored frame not counted exactly once {}",
            at()
        );
        ensure!(
            !(ctx.stale || ctx.ignored) || ctx.control == 0,
            "a stale or ignored event had effects {}",
            at()
        );
        ensure!(
            ctx.expect_pong.is_none() || ctx.pongs == 1,
            "ping not answered {}",
            at()
        );
        ensure!(
            ctx.expect_verdict.is_none() || ctx.verdicts == 1,
            "no verdict for a data frame {}",
            at()
        );
        ensure!(
            !ctx.expect_resume,
            "open without Resume in acked mode {}",
            at()
        );
        ensure!(
            ctx.expect_downgrade.is_none(),
            "expected {:?} {}",
            ctx.expect_downgrade,
            at()
        );
        ensure!(
            ctx.unpaired_close.is_none(),
            "engine closed {:?} without abandoning it {}",
            ctx.unpaired_close,
            at()
        );

        // Progress: a due deadline is consumed by its Timeout (no spinning).
        let due = b.poll_timeout.is_some_and(|t| t <= ctx.now);
        // Known (finding F2): in Closing a due ack deadline is never consumed.
        let f2 = !self.strict.has(super::super::Strict::F2)
            && self.cfg.delivery.acks
            && b.state == State::Closing
            && st == State::Closing;
        if ctx.input == Input::Timeout && due && now != Instant::MAX && !f2 {
            let acted = ctx.control + ctx.transmits + ctx.acks + ctx.overdue > 0;
            ensure!(
                acted || pt.is_none_or(|t| t > now),
                "Timeout at a due deadline did nothing and it is still due ({pt:?}) {}",
                at()
            );
        }

        // Liveness: every live phase has its deadline armed.
        let hb = &self.cfg.heartbeat;
        match st {
            State::Open | State::Fallback if hb.enabled() => {
                let limit = now.saturating_add(hb.interval);
                ensure!(
                    pt.is_some_and(|t| t <= limit),
                    "open with heartbeats but no timer within interval ({pt:?}) {}",
                    at()
                );
                if let Some(p) = self.ping {
                    let verdict = now.max(p.latest.saturating_add(hb.timeout));
                    ensure!(
                        pt.is_some_and(|t| t <= verdict),
                        "unanswered ping sent at {} without a deadline by {verdict} {}",
                        p.latest,
                        at()
                    );
                }
            }
            State::Connecting { .. } => {
                let limit = now.saturating_add(self.cfg.connect_timeout);
                ensure!(
                    pt.is_some_and(|t| t <= limit),
                    "connecting without a deadline {}",
                    at()
                );
            }
            State::Closing => {
                let limit = now.saturating_add(self.cfg.close_timeout);
                ensure!(
                    pt.is_some_and(|t| t <= limit),
                    "closing without a deadline {}",
                    at()
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// A refused input: the predicted error, and nothing changed.
    pub(in crate::fuzzing) fn check_refusal<R: rand_core::Rng>(
        &mut self,
        e: &Connection<R>,
        ctx: &Ctx,
        err: Error,
    ) -> Result<(), Violation> {
        let pending = matches!(err, Error::ActionsPending { .. });
        ensure!(
            ctx.expect_err == Some(err) || (ctx.batch && pending),
            "refused with {err:?}, model expected {:?} for {:?} in {:?}",
            ctx.expect_err,
            ctx.input,
            ctx.before.state
        );
        let (b, d) = (&ctx.before, e.delivery());
        let same = e.state() == b.state
            && e.live_conn() == b.live
            && e.attempt() == b.attempt
            && e.stats() == b.stats
            && d.queued() == b.queued
            && d.next_seq() == b.next_seq
            && d.acked() == b.acked
            && d.sent() == b.sent
            && d.highest_sent() == b.high_sent
            && d.delivered() == b.delivered;
        ensure!(same, "refused {:?} ({err:?}) changed the engine", ctx.input);
        if self.strict.has(super::super::Strict::F1) || pending {
            ensure!(
                e.now() == b.now && e.poll_timeout() == b.poll_timeout,
                "refused {:?} ({err:?}) moved the clock {} -> {} / poll_timeout {:?} -> {:?}",
                ctx.input,
                b.now,
                e.now(),
                b.poll_timeout,
                e.poll_timeout()
            );
        } else {
            // Known (finding F1): the engine may observe `now` before refusing.
            ensure!(
                e.now() == b.now || e.now() == ctx.now,
                "refused {:?} moved the clock to {}",
                ctx.input,
                e.now()
            );
            self.clock = e.now();
            let clamped = b.poll_timeout.map(|t| t.max(e.now()));
            ensure!(
                e.poll_timeout() == clamped,
                "refused {:?} ({err:?}) moved poll_timeout {:?} -> {:?}",
                ctx.input,
                b.poll_timeout,
                e.poll_timeout()
            );
        }
        Ok(())
    }
}
