//! The property checks that are not tied to one action: after every engine
//! step (`after_step`), as time passes (`periodic`), and on every reconnect
//! delay (`check_backoff`).

use core::time::Duration;
use std::format;

use super::check::Property;
use super::driver::{Cause, Ctx};
use super::fault::Side;
use super::peer::is_open;
use super::world::Sim;
use crate::close::CloseAction;
use crate::io::State;
use crate::time::millis;

impl Sim {
    pub(super) fn check_backoff(&mut self, side: Side, delay: Duration, attempt: u32, ctx: &Ctx) {
        if side == Side::Server {
            return self.violate(Property::Backoff, "the server schedules a reconnect".into());
        }
        let policy = self.cfg.reconnect.policy;
        let backoff = policy.bounds(attempt, Duration::ZERO);
        let (lo, hi) = match ctx.cause {
            Cause::Online => (Duration::ZERO, self.cfg.online_jitter),
            Cause::Close(code) => match self.cfg.close.action(code) {
                CloseAction::RetryUniform { min, max } => (min, max),
                CloseAction::RetryAtLeast { floor } => {
                    let (lo, hi) = backoff.unwrap_or_default();
                    (lo.max(floor), hi.max(floor))
                }
                _ => backoff.unwrap_or_default(),
            },
            Cause::Other | Cause::Hint(_) => backoff.unwrap_or_default(),
        };
        let (mut lo, mut hi) = (millis(lo), millis(hi));
        // A server's hint replaces the computed delay, spread by up to a
        // tenth of it (at most 1 s).
        let hint = match ctx.cause {
            Cause::Online => None,
            Cause::Hint(h) => Some(h),
            Cause::Close(_) | Cause::Other => self.peer_mut(side).hint.take(),
        };
        if let Some(h) = hint {
            (lo, hi) = (h, h.saturating_add((h / 10).min(1_000)));
        }
        let d = millis(delay);
        let max_attempts = self.cfg.reconnect.max_attempts.unwrap_or(u32::MAX);
        let counted = matches!(ctx.cause, Cause::Online | Cause::Hint(_))
            || (1..=max_attempts).contains(&attempt);
        if d < lo || d > hi || !counted {
            self.violate(
                Property::Backoff,
                format!(
                    "delay {d}ms attempt {attempt} outside [{lo}, {hi}] ms ({:?})",
                    ctx.cause
                ),
            );
        }
    }

    pub(super) fn after_step(&mut self, side: Side, before: State, ctx: &Ctx) {
        let max_queued = u64::from(self.cfg.delivery.max_queued);
        let p = self.peer_mut(side);
        let acked = p.engine.delivery().acked();
        p.outbox.ack(acked);
        let queued = p.engine.delivery().queued();
        let held = u64::try_from(p.outbox.len()).unwrap_or(u64::MAX);
        let now = p.engine.now();
        let timer = p.engine.poll_timeout();
        let live = p.engine.live_conn();
        let mine = p.live;
        p.live = live;
        let state = p.engine.state();
        let downgraded = p.downgraded;
        if held != queued || queued > max_queued {
            self.violate(
                Property::Bounds,
                format!("{side:?} queued {queued}, outbox holds {held}, cap {max_queued}"),
            );
        }
        if timer.is_some_and(|t| t < now) {
            self.violate(
                Property::Timer,
                format!("{side:?} poll_timeout {timer:?} before now {now}"),
            );
        }
        if live != mine {
            self.violate(
                Property::Generation,
                format!("{side:?} engine holds {live:?}, driver holds {mine:?}"),
            );
        }
        if let Some(conn) = ctx.dead_close {
            self.violate(
                Property::Generation,
                format!("{side:?} heartbeat close of {conn} without Abandon"),
            );
        }
        if let Some(old) = ctx.released {
            self.violate(
                Property::Generation,
                format!("{side:?} replaced {old} without abandoning it"),
            );
        }
        if ctx.stale && state != before {
            self.violate(
                Property::StaleEvent,
                format!("{side:?} state {before:?} -> {state:?} on a stale event"),
            );
        }
        if ctx.invalid_url && !downgraded && !matches!(state, State::Failed { .. }) {
            self.violate(
                Property::Downgrade,
                "no downgrade after an invalid URL".into(),
            );
        }
    }

    /// Checks that depend on time passing, after every world step.
    pub(super) fn periodic(&mut self) {
        let now = self.now;
        let hb = self.cfg.heartbeat;
        let silence = millis(hb.interval)
            .saturating_add(millis(hb.timeout))
            .saturating_add(1);
        for side in [Side::Client, Side::Server] {
            let p = self.peer_mut(side);
            let calm = now > p.disturbed_until;
            if let Some((deadline, phase)) = p.phase_deadline {
                if calm && now > deadline.saturating_add(1) {
                    p.phase_deadline = None;
                    self.violate(
                        Property::StuckPhase,
                        format!(
                            "{side:?} still {phase} {}ms after its deadline",
                            now.saturating_sub(deadline)
                        ),
                    );
                    continue;
                }
            }
            let p = self.peer_mut(side);
            if hb.enabled()
                && calm
                && is_open(p.engine.state())
                && p.live.is_some()
                && p.dead_flagged != p.live
                && now > p.last_inbound.saturating_add(silence)
            {
                p.dead_flagged = p.live;
                let last = p.last_inbound;
                self.violate(
                    Property::DeadPeer,
                    format!("{side:?} open on a link silent since {last}"),
                );
            }
        }
        if self.over {
            let healthy = self.healthy();
            match self.healthy_at {
                None if healthy => {
                    self.healthy_at = Some(now);
                    self.probe_break = false;
                    if self.stats.recovery.is_none() {
                        self.stats.recovery = Some(now.saturating_sub(self.faults_over));
                    }
                }
                None if !self.liveness_flagged
                    && now > self.liveness_from.saturating_add(self.bound) =>
                {
                    self.liveness_flagged = true;
                    let state = self.client.engine.state();
                    self.violate(
                        Property::Liveness,
                        format!(
                            "not healthy {}ms after the faults ended (client {state:?})",
                            self.bound
                        ),
                    );
                }
                Some(_) if !healthy && self.probe_break => {
                    // The client left a working HTTP session to probe
                    // WebSocket: it must be back within the bound.
                    self.probe_break = false;
                    self.healthy_at = None;
                    self.liveness_from = now;
                }
                Some(_) if !healthy && !self.liveness_flagged => {
                    self.liveness_flagged = true;
                    self.violate(
                        Property::Liveness,
                        "the healthy session broke after the faults ended".into(),
                    );
                }
                _ => {}
            }
        }
    }

    /// Client open on a socket the server engine also holds open, with both
    /// directions working.
    pub(super) fn healthy(&self) -> bool {
        if !is_open(self.client.engine.state()) || self.server.engine.state() != State::Open {
            return false;
        }
        let Some(s) = self
            .client
            .live_socket()
            .and_then(|i| self.link.sockets.get(i))
        else {
            return false;
        };
        let (c, sv) = (s.end(Side::Client), s.end(Side::Server));
        !s.broken[0]
            && !s.broken[1]
            && c.alive
            && c.opened
            && sv.alive
            && sv.conn.is_some()
            && sv.conn == self.server.live
    }
}
