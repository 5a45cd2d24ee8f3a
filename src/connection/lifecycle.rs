//! The transitions of [`Connection`]: what each input does in each phase.
//!
//! Every handler first checks the generation an event carries against the
//! live one; anything else is a late event from an abandoned socket and is
//! ignored, which is what makes "one loss, one reconnect" (R27) hold even when
//! an explicit close and its `onclose` both arrive.

use core::borrow::Borrow;
use core::time::Duration;

use rand_core::Rng;

use super::{Connection, Phase, Role};
use crate::close::{self, CloseAction};
use crate::config::Config;
use crate::delivery::{ProtocolError, Verdict};
use crate::error::Error;
use crate::heartbeat::HeartbeatEvent;
use crate::io::{Action, ConnId, ConnectError, DiscardReason, FailReason, Frame, Transport};
use crate::random::uniform_duration;
use crate::time::Instant;

/// How the next reconnect delay is chosen.
#[derive(Clone, Copy, Debug)]
enum Plan {
    /// The reconnect policy's delay.
    Backoff,
    /// Uniform in a window (1012 service restart).
    Uniform { min: Duration, max: Duration },
    /// The policy's delay, but at least `floor` (1013 try again later).
    AtLeast { floor: Duration },
}

impl<R: Rng, C: Borrow<Config>, const IDS: usize> Connection<R, C, IDS> {
    pub(super) fn on_start(&mut self, now: Instant) {
        if self.role == Role::Server {
            return;
        }
        match self.phase {
            Phase::Idle { .. } | Phase::Closed | Phase::Failed(_) => {
                self.backoff.reset();
                self.server_errors = 0;
                if self.online {
                    self.start_connect(now, None);
                } else {
                    self.set_phase(Phase::Offline);
                }
            }
            _ => {}
        }
    }

    /// Opens a new generation. `force` picks the transport (upgrade probes);
    /// otherwise the fallback decides.
    pub(super) fn start_connect(&mut self, now: Instant, force: Option<Transport>) {
        let transport = force.unwrap_or(if self.fallback.is_active() {
            Transport::Http
        } else {
            Transport::WebSocket
        });
        let conn = self.next_conn();
        self.set_phase(Phase::Connecting {
            conn,
            transport,
            deadline: now + self.cfg.borrow().connect_timeout,
            probe: force.is_some(),
        });
        self.stats.connects = self.stats.connects.saturating_add(1);
        self.emit(Action::Connect {
            conn,
            transport,
            attempt: self.backoff.attempt(),
        });
    }

    pub(super) fn on_opened(&mut self, now: Instant, conn: ConnId) {
        match self.phase {
            Phase::Connecting {
                conn: live,
                transport,
                ..
            } if live == conn => {
                self.set_phase(Phase::Open { conn, transport });
                self.on_transport_open(now, conn, transport);
            }
            _ => self.stale(),
        }
    }

    /// Everything that starts with a transport: liveness, resume, the uptime
    /// gate, the fallback bookkeeping.
    pub(super) fn on_transport_open(&mut self, now: Instant, conn: ConnId, transport: Transport) {
        self.stats.opens = self.stats.opens.saturating_add(1);
        self.retry_after = None;
        self.backoff.on_open(now);
        self.heartbeat
            .on_open(now, &self.cfg.borrow().heartbeat, &mut self.rng);
        match transport {
            Transport::WebSocket => self.fallback.on_websocket_open(),
            Transport::Http => self.fallback.on_http_open(now, &self.cfg.borrow().fallback),
        }
        if let Some(last) = self.delivery.on_open(now, &self.cfg.borrow().delivery) {
            self.emit(Action::Resume { conn, last });
        }
    }

    /// Everything that ends with a transport, however it ended.
    pub(super) fn transport_gone(&mut self, now: Instant) {
        let was_open = matches!(self.phase, Phase::Open { .. });
        self.heartbeat.on_close();
        self.delivery.on_close(&self.cfg.borrow().delivery);
        self.fallback.on_http_close();
        if was_open {
            self.backoff.on_close(now, &self.cfg.borrow().reconnect);
            if self.backoff.attempt() == 0 {
                // The connection stayed up past min_uptime: the 1011 streak ends too.
                self.server_errors = 0;
            }
        }
    }

    pub(super) fn on_closed(&mut self, now: Instant, conn: ConnId, code: u16) {
        if self.live_conn() == Some(conn) {
            self.reported_closed = Some(conn);
        }
        match self.phase {
            Phase::Connecting {
                conn: live, probe, ..
            } if live == conn => {
                self.transport_gone(now);
                if probe {
                    self.probe_failed(now);
                } else {
                    self.after_close(now, code);
                }
            }
            Phase::Open { conn: live, .. } if live == conn => {
                self.transport_gone(now);
                self.after_close(now, code);
            }
            Phase::Closing { conn: live, .. } if live == conn => {
                self.transport_gone(now);
                self.set_phase(Phase::Closed);
            }
            _ => self.stale(),
        }
    }

    /// The peer (or the network) closed: the close policy decides (R3).
    fn after_close(&mut self, now: Instant, code: u16) {
        let pending = self.delivery.queued() > 0;
        match self.cfg.borrow().close.action(code) {
            CloseAction::Stop | CloseAction::Lazy if pending => self.reconnect(now, Plan::Backoff),
            // Stop and Lazy differ only while work is queued (handled above):
            // either way a later send reconnects, so an accepted message is
            // never left waiting on a session nobody will dial.
            CloseAction::Stop | CloseAction::Lazy => self.set_phase(Phase::Idle {
                lazy: self.role == Role::Client,
            }),
            CloseAction::Retry => self.reconnect(now, Plan::Backoff),
            CloseAction::RetryBudgeted => {
                self.server_errors = self.server_errors.saturating_add(1);
                if self.server_errors > self.cfg.borrow().server_error_budget {
                    self.fail(FailReason::ServerErrors {
                        count: self.server_errors,
                    });
                } else {
                    self.reconnect(now, Plan::Backoff);
                }
            }
            CloseAction::RetryUniform { min, max } => {
                self.reconnect(now, Plan::Uniform { min, max })
            }
            CloseAction::RetryAtLeast { floor } => self.reconnect(now, Plan::AtLeast { floor }),
            CloseAction::Fatal => self.fail(FailReason::FatalClose { code }),
        }
    }

    /// Schedules the next attempt (R4, R19), or pauses while offline (R26),
    /// or gives up when the budget is spent. Servers never dial.
    fn reconnect(&mut self, now: Instant, plan: Plan) {
        if self.role == Role::Server {
            self.set_phase(Phase::Idle { lazy: false });
            return;
        }
        if !self.online {
            self.set_phase(Phase::Offline);
            return;
        }
        let Some(drawn) = self
            .backoff
            .next_delay(&self.cfg.borrow().reconnect, &mut self.rng)
        else {
            self.fail(FailReason::AttemptsExhausted {
                attempts: self.backoff.attempt(),
            });
            return;
        };
        // A standing window applies to the loss of the generation it was
        // announced on, only where the backoff would have decided, and only
        // to a first attempt (a connection that lived `min_uptime`): a
        // flapping server keeps backing off. It can only widen the policy's
        // first window, never shorten it.
        let window = self
            .window
            .take()
            .filter(|&(conn, _)| conn == ConnId(self.generation))
            .map(|(_, w)| w);
        let first = if self.backoff.attempt() == 1 {
            self.cfg.borrow().reconnect.policy.bounds(1, Duration::ZERO)
        } else {
            None
        };
        let mut delay = match (plan, window, first) {
            (Plan::Backoff, Some(w), Some((lo, hi))) => {
                uniform_duration(&mut self.rng, lo, hi.max(w))
            }
            (Plan::Backoff, _, _) => drawn,
            (Plan::Uniform { min, max }, _, _) => uniform_duration(&mut self.rng, min, max),
            (Plan::AtLeast { floor }, _, _) => drawn.max(floor),
        };
        if let Some(hint) = self.retry_after.take() {
            // The server knows its capacity better than any client-side
            // policy: its hint replaces the delay (even a 1013 floor), spread
            // by up to a tenth of it (at most 1 s) so clients given the same
            // slot do not arrive in the same millisecond.
            delay = self.hinted(hint);
        }
        self.wait(now, delay);
    }

    fn hinted(&mut self, hint: Duration) -> Duration {
        let spread = (hint / 10).min(Duration::from_secs(1));
        hint.saturating_add(uniform_duration(&mut self.rng, Duration::ZERO, spread))
    }

    fn wait(&mut self, now: Instant, delay: Duration) {
        self.set_phase(Phase::Waiting { until: now + delay });
        self.emit(Action::ReconnectAfter {
            delay,
            attempt: self.backoff.attempt(),
        });
    }

    pub(super) fn fail(&mut self, reason: FailReason) {
        self.set_phase(Phase::Failed(reason));
        self.emit(Action::Failed { reason });
    }

    pub(super) fn on_connect_failed(&mut self, now: Instant, conn: ConnId, error: ConnectError) {
        let Phase::Connecting {
            conn: live,
            transport,
            probe,
            ..
        } = self.phase
        else {
            return self.stale();
        };
        if live != conn {
            return self.stale();
        }
        self.transport_gone(now);
        if probe {
            return self.probe_failed(now);
        }
        let downgrade = match (error, transport) {
            (ConnectError::InvalidUrl, Transport::WebSocket) => {
                match self.fallback.on_invalid_url(&self.cfg.borrow().fallback) {
                    Some(reason) => Some(reason),
                    None => return self.fail(FailReason::InvalidUrl),
                }
            }
            (ConnectError::InvalidUrl, Transport::Http) => {
                return self.fail(FailReason::InvalidUrl)
            }
            (ConnectError::Handshake { .. }, Transport::WebSocket) => self
                .fallback
                .on_handshake_refused(&self.cfg.borrow().fallback),
            // Network loss never downgrades (R13).
            _ => None,
        };
        match downgrade {
            Some(reason) => {
                self.emit(Action::Downgrade { reason });
                self.start_connect(now, None);
            }
            None => self.reconnect(now, Plan::Backoff),
        }
    }

    /// A WebSocket upgrade probe from the fallback failed: back to HTTP now.
    fn probe_failed(&mut self, now: Instant) {
        self.fallback.on_probe_failed();
        // Back to HTTP as an ordinary connect (the fallback is active again):
        // if *that* fails it must go through backoff, not straight back here.
        self.start_connect(now, None);
    }

    // Forced into `handle`: inbound frames are the hottest input, and the
    // call cost a second prologue per message (icount: inbound 362 -> 355).
    #[inline(always)]
    pub(super) fn on_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        let Phase::Open { conn: live, .. } = self.phase else {
            if self.live_conn() == Some(conn) {
                self.stats.ignored_frames = self.stats.ignored_frames.saturating_add(1);
            } else {
                self.stale();
            }
            return;
        };
        if live != conn {
            return self.stale();
        }
        // Any inbound frame proves the link is alive (R23).
        self.heartbeat.on_inbound(now, &self.cfg.borrow().heartbeat);
        let cfg = &self.cfg.borrow().delivery;
        let result = match frame {
            Frame::Ping { nonce } => {
                self.emit(Action::SendPong { conn, nonce });
                Ok(())
            }
            Frame::Pong { nonce } => {
                self.heartbeat
                    .on_pong(now, nonce, &self.cfg.borrow().heartbeat);
                Ok(())
            }
            Frame::Data(id) => {
                let action = match self.delivery.on_data(now, id, cfg) {
                    Verdict::Deliver => {
                        self.stats.delivered = self.stats.delivered.saturating_add(1);
                        Action::Deliver { id }
                    }
                    Verdict::Duplicate => Action::Discard {
                        id,
                        reason: DiscardReason::Duplicate,
                    },
                    Verdict::Gap => Action::Discard {
                        id,
                        reason: DiscardReason::Gap,
                    },
                };
                if matches!(action, Action::Discard { .. }) {
                    self.stats.discarded = self.stats.discarded.saturating_add(1);
                }
                self.emit(action);
                Ok(())
            }
            Frame::Ack { upto } => self.delivery.on_ack(now, upto, cfg),
            Frame::Resume { last } => self.delivery.on_resume(now, last, cfg),
            Frame::Other => Ok(()),
        };
        if let Err(e) = result {
            self.protocol_error(now, conn, e);
        }
    }

    /// The peer broke the delivery protocol: close with 1002 and stop, rather
    /// than guess (documented in the README's delivery section).
    fn protocol_error(&mut self, now: Instant, conn: ConnId, e: ProtocolError) {
        self.emit(Action::Close {
            conn,
            code: close::code::PROTOCOL_ERROR,
        });
        self.emit(Action::Abandon { conn });
        self.transport_gone(now);
        self.fail(FailReason::Protocol(e));
    }

    pub(super) fn on_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Connecting {
                conn,
                deadline,
                probe,
                ..
            } if deadline <= now => {
                // A handshake that never completes costs a backoff step (R2).
                self.stats.connect_timeouts = self.stats.connect_timeouts.saturating_add(1);
                self.emit(Action::Abandon { conn });
                self.transport_gone(now);
                if probe {
                    self.probe_failed(now);
                } else {
                    self.reconnect(now, Plan::Backoff);
                }
            }
            Phase::Closing { conn, deadline } if deadline <= now => {
                // Never wait on onclose without a deadline (R18).
                self.emit(Action::Abandon { conn });
                self.transport_gone(now);
                self.set_phase(Phase::Closed);
            }
            Phase::Waiting { until } if until <= now => self.start_connect(now, None),
            Phase::Open { conn, transport } => {
                if self.heartbeat.poll_timeout().is_some_and(|t| t <= now) {
                    match self
                        .heartbeat
                        .handle_timeout(now, &self.cfg.borrow().heartbeat)
                    {
                        Some(HeartbeatEvent::SendPing { nonce }) => {
                            self.emit(Action::SendPing { conn, nonce });
                        }
                        Some(HeartbeatEvent::Dead) => return self.link_dead(now, conn),
                        None => {}
                    }
                }
                if transport == Transport::Http && self.fallback.poll_probe(now) {
                    // Try WebSocket again: end the HTTP session, dial WS. A
                    // refused probe comes straight back to HTTP.
                    self.emit(Action::Close {
                        conn,
                        code: close::code::NORMAL,
                    });
                    self.emit(Action::Abandon { conn });
                    self.transport_gone(now);
                    self.start_connect(now, Some(Transport::WebSocket));
                }
            }
            _ => {}
        }
        self.delivery
            .handle_timeout(now, &self.cfg.borrow().delivery);
    }

    /// The heartbeat found the link dead: close, forget the socket at once (do
    /// not wait for an `onclose` that may never come, R14/R18), reconnect once.
    fn link_dead(&mut self, now: Instant, conn: ConnId) {
        self.stats.dead_peers = self.stats.dead_peers.saturating_add(1);
        self.emit(Action::Close {
            conn,
            code: close::code::HEARTBEAT_TIMEOUT,
        });
        self.emit(Action::Abandon { conn });
        self.transport_gone(now);
        self.reconnect(now, Plan::Backoff);
    }

    pub(super) fn on_online(&mut self, now: Instant) {
        self.online = true;
        match self.phase {
            Phase::Offline => {
                let delay = uniform_duration(
                    &mut self.rng,
                    Duration::ZERO,
                    self.cfg.borrow().online_jitter,
                );
                self.wait(now, delay);
            }
            Phase::Open { conn, .. } => {
                if let Some(HeartbeatEvent::SendPing { nonce }) =
                    self.heartbeat.on_online(now, &self.cfg.borrow().heartbeat)
                {
                    self.emit(Action::SendPing { conn, nonce });
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_offline(&mut self, now: Instant) {
        self.online = false;
        match self.phase {
            Phase::Waiting { .. } if self.role == Role::Client => self.set_phase(Phase::Offline),
            Phase::Connecting { conn, .. } => {
                self.emit(Action::Abandon { conn });
                self.transport_gone(now);
                self.set_phase(Phase::Offline);
            }
            Phase::Open { conn, .. } => {
                // The OS says the network is gone, but a socket can survive a
                // brief blip: probe with a short deadline instead of dropping.
                if let Some(HeartbeatEvent::SendPing { nonce }) =
                    self.heartbeat.on_offline(now, &self.cfg.borrow().heartbeat)
                {
                    self.emit(Action::SendPing { conn, nonce });
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_user_close(&mut self, now: Instant, code: u16) -> Result<(), Error> {
        if !close::can_send_as(self.side(), code) {
            return Err(Error::InvalidCloseCode { code });
        }
        match self.phase {
            Phase::Open { conn, .. } => {
                self.emit(Action::Close { conn, code });
                self.heartbeat.on_close();
                // Nothing is sent while Closing: delivery must not keep an
                // ack deadline armed (it would stay due until the close ends).
                self.delivery.on_close(&self.cfg.borrow().delivery);
                self.set_phase(Phase::Closing {
                    conn,
                    deadline: now + self.cfg.borrow().close_timeout,
                });
            }
            Phase::Connecting { conn, .. } => {
                self.emit(Action::Abandon { conn });
                self.transport_gone(now);
                self.set_phase(Phase::Closed);
            }
            Phase::Idle { .. } | Phase::Waiting { .. } | Phase::Offline => {
                self.set_phase(Phase::Closed)
            }
            Phase::Closing { .. } | Phase::Closed | Phase::Failed(_) => {}
        }
        Ok(())
    }

    pub(super) fn on_retry_after(&mut self, now: Instant, conn: ConnId, after: Duration) {
        // Only the latest generation, and only while live or after the
        // driver reported it closed (an abandoned one is gone, R27).
        let latest = conn == ConnId(self.generation);
        if !latest || (self.live_conn() != Some(conn) && self.reported_closed != Some(conn)) {
            return self.stale();
        }
        let after = after.min(self.cfg.borrow().max_retry_after);
        match self.phase {
            // The hint arrived after the close: it replaces the wait.
            Phase::Waiting { .. } => {
                let delay = self.hinted(after);
                self.set_phase(Phase::Waiting { until: now + delay });
                self.emit(Action::ReconnectAfter {
                    delay,
                    attempt: self.backoff.attempt(),
                });
            }
            _ => self.retry_after = Some(after),
        }
    }

    pub(super) fn on_reconnect_window(&mut self, conn: ConnId, window: Duration) {
        // Only an open, current generation can announce one, and only to a
        // client (a server never dials).
        let open = matches!(self.phase, Phase::Open { conn: live, .. } if live == conn);
        if !open || self.role == Role::Server {
            return self.stale();
        }
        let window = window.min(self.cfg.borrow().max_retry_after);
        self.window = (!window.is_zero()).then_some((conn, window));
    }

    pub(super) fn stale(&mut self) {
        self.stats.stale_events = self.stats.stale_events.saturating_add(1);
    }
}
