//! Heartbeats: ping/pong deadlines that find dead links and keep idle ones open.
//!
//! A WebSocket can die without a close event: turn off Wi-Fi and the browser
//! keeps "sending" into a socket whose `onclose` may fire minutes later or
//! never (R14). TCP keepalive does not help, its default first probe comes
//! after two hours (R22). And proxies drop connections that stay silent for
//! longer than their idle timeout — nginx `proxy_read_timeout` and the AWS ALB
//! both default to 60 s, Heroku's router to 55 s — so a quiet session needs
//! some traffic well inside that window (R15, R21). A [`Heartbeat`] answers
//! both: after `interval` of inbound silence it asks for a ping, and a peer
//! that then stays silent past a deadline is reported [`HeartbeatEvent::Dead`];
//! the connection closes the transport with code 4000 and lets its normal
//! close path reconnect (R23).
//!
//! The same machine runs in both roles. A server drives one per client and
//! drops the client when it reports `Dead` (R16). Because *any* inbound frame
//! postpones the next ping, when both sides ping, each side's pings keep the
//! other side quiet: usually only one of them ends up pinging.
//!
//! # Rules
//!
//! * **Silence triggers pings.** Any inbound frame (data, ack, ping, pong…) is
//!   proof of life ([`Heartbeat::on_inbound`]): it clears the pong deadline
//!   and moves the next ping to `now + interval`. Outbound traffic proves
//!   nothing about the peer and does not count.
//! * **Lazy re-arm.** A frame does not move the armed ping timer; it records
//!   when it arrived. When the timer wakes, it re-arms at that instant plus
//!   `interval` if that is still ahead, and pings otherwise. Pings go out at
//!   the same instants as with a timer moved per frame, but a busy link
//!   changes the timer (one `ScheduleTimer` for the driver) about once per
//!   `interval` instead of once per frame, at the price of one wake-up per
//!   `interval` that only re-arms. Linux re-arms its TCP keepalive timer the
//!   same way.
//! * **First ping is jittered.** On open the first ping is drawn uniformly in
//!   `[now, now + interval]`, so a fleet that reconnects together after an
//!   outage does not ping in lockstep for ever after.
//! * **At most one ping outstanding.** Sending a ping disarms the ping timer
//!   until the peer says something; a probe replaces the ping it supersedes
//!   (the older ping's pong is then "stale": proof of life, no RTT sample).
//!   Nonces increase by one per ping, starting at 1, wrapping deliberately
//!   after `u64::MAX` (centuries away at any sane interval).
//! * **Deadline.** A ping's pong deadline is `now + timeout`, or with
//!   `adaptive`, `clamp(SRTT + 4·RTTVAR, min_timeout, timeout)` once there is
//!   an RTT sample. Probes use `min(probe_timeout, timeout)`. Any inbound
//!   frame clears it.
//! * **RTT.** A pong whose nonce matches the outstanding ping gives one RFC
//!   6298 sample ([`crate::rtt`]); the estimate survives reconnects, since
//!   the path to the server usually does too.
//! * **Probes.** When the network comes back ([`Heartbeat::on_online`]) the
//!   old socket may be bound to an interface that is gone; when it is reported
//!   gone ([`Heartbeat::on_offline`], as Pusher does) the socket is probably
//!   dead but the report may be wrong. Either way, ping *now* with the short
//!   probe deadline rather than wait for the next ping — unless a ping
//!   already outstanding would give its verdict no later.
//! * **Late-timer guard.** If [`Heartbeat::handle_timeout`] runs more than
//!   `late_threshold` after the pong deadline, the host was asleep or the
//!   timer was throttled, and the missing pong proves nothing: it may be
//!   sitting in the socket's receive buffer, unread because our own event
//!   loop was frozen. Instead of `Dead`, a fresh probe goes out (new nonce,
//!   probe deadline from `now`). Only a deadline whose expiry is handled
//!   on time (within `late_threshold`) is `Dead`. A late ping timer needs no
//!   guard: it simply pings. This is the failure Socket.IO users hit in
//!   Chromium background tabs, whose timers are throttled to about once a
//!   minute after five hidden minutes (socket.io issue #4040): the timeout
//!   callback ran long after its deadline and a healthy session was torn
//!   down. The price: while every timer keeps firing late, the machine keeps
//!   probing instead of giving up; once timers run on time again a silent
//!   peer is found within the probe deadline.
//! * **Modes.** [`HeartbeatMode::Off`] never pings and is never `Dead`.
//!   [`HeartbeatMode::ControlFrames`] has the same timing as
//!   [`HeartbeatMode::App`]; only the driver's encoding of
//!   [`HeartbeatEvent::SendPing`] differs (the connection maps it).
//!
//! # Dead-peer bound
//!
//! With timers handled on time and a valid config, a peer whose last frame
//! arrives at `t` is declared `Dead` no later than `t + interval + timeout`.
//!
//! Proof. At every instant the machine (while open, not `Off`) has exactly one
//! of two timers armed, set at some `s <= t` (nothing arrives after `t`, and
//! probes never move a verdict later):
//!
//! 1. the ping timer at `p`: armed by an inbound frame as `s + interval`, or
//!    on open as `s + uniform[0, interval]`, or by a lazy re-arm as
//!    `heard + interval` with `heard <= t`, so `p <= t + interval`. Once `p`
//!    is at or after `t + interval` the last frame has been folded in (a
//!    wake-up re-arms only to an instant later than itself, and at most
//!    once after `t`), so at `p` a ping goes out with deadline `p + d`,
//!    `d <= timeout` (adaptive deadlines are clamped to `timeout`). With no
//!    reply the deadline fires on time: `Dead` at `<= t + interval + timeout`.
//! 2. a pong deadline `q`, set when a ping was sent at `s`, so
//!    `q <= s + timeout` (probe deadlines are capped at `timeout` too):
//!    `Dead` at `q <= t + timeout`.
//!
//! A probe from `on_online`/`on_offline` at `u` either is refused (case 2
//! already has an earlier or equal deadline) or sets `u + probe` with
//! `probe = min(probe_timeout, timeout)`: in case 1 `u <= p` (timers on
//! time), so `u + probe <= p + timeout`; in case 2 it is earlier than `q`. A late-timer probe only happens when a
//! timer was late, outside the hypothesis. All arithmetic saturates, so the
//! bound also holds (trivially, at [`Instant::MAX`]) near the end of time.
//! `tests::dead_peer_bound_*` check it over 1000 seeded runs.

use core::time::Duration;

use rand_core::Rng;

use crate::error::ConfigError;
use crate::random::uniform_duration;
use crate::rtt::RttEstimator;
pub use crate::rtt::RttStats;
use crate::time::{Earliest, Instant};

#[cfg(test)]
mod tests;

/// How heartbeats are carried on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum HeartbeatMode {
    /// Ping and pong as application data frames, agreed with the backend.
    /// The default because it is all a browser can do: the WebSocket API
    /// exposes no way to send control frames.
    #[default]
    App,
    /// Native WebSocket ping/pong control frames (RFC 6455 §5.5.2-3), for
    /// drivers whose library exposes them (servers, native clients). Same
    /// timing as [`HeartbeatMode::App`].
    ControlFrames,
    /// No heartbeats: never pings, never reports a dead peer.
    Off,
}

/// Heartbeat timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct HeartbeatConfig {
    /// Default [`HeartbeatMode::App`]: the only mode every client (browsers
    /// included) can speak.
    pub mode: HeartbeatMode,
    /// Inbound silence after which a ping is sent. Default 25 s: under the
    /// common 30–60 s proxy idle timeouts (nginx `proxy_read_timeout` 60 s,
    /// AWS ALB 60 s, Heroku 55 s) even with a pong round trip on top, and the
    /// figure Socket.IO's servers ping at.
    pub interval: Duration,
    /// Pong deadline after a ping. Default 10 s: generous for a slow mobile
    /// round trip, yet a dead link is found within 35 s of its last frame.
    /// Must be below `interval`.
    pub timeout: Duration,
    /// Default `false`. If `true`, the pong deadline becomes
    /// `clamp(SRTT + 4·RTTVAR, min_timeout, timeout)` once an RTT sample
    /// exists: faster detection on fast, steady paths. Off by default because
    /// one slow pong on a jittery path then costs a reconnect.
    pub adaptive: bool,
    /// Floor of the adaptive deadline. Default 2 s: RTT estimates collapse
    /// on a quiet LAN, and a deadline of a few ms would turn one GC pause on
    /// the peer into a reconnect.
    pub min_timeout: Duration,
    /// How late a deadline may be handled and still count as evidence.
    /// Default 1 s: well above normal event-loop jitter, well below the
    /// tens of seconds a throttled background tab or a sleeping laptop adds.
    pub late_threshold: Duration,
    /// Deadline of probe pings (late-timer guard, online/offline probes).
    /// Default 3 s: a probe is sent when something suggests the link changed,
    /// so the answer is wanted sooner than a routine pong. Must be below
    /// `interval`; a value above `timeout` acts as `timeout` (see
    /// [`Heartbeat::probe_timeout`]), which keeps the dead-peer bound.
    pub probe_timeout: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            mode: HeartbeatMode::App,
            interval: Duration::from_secs(25),
            timeout: Duration::from_secs(10),
            adaptive: false,
            min_timeout: Duration::from_secs(2),
            late_threshold: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(3),
        }
    }
}

impl HeartbeatConfig {
    /// Reject values that cannot work. With [`HeartbeatMode::Off`] nothing is
    /// checked: no timer is ever armed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mode == HeartbeatMode::Off {
            return Ok(());
        }
        if self.interval.is_zero() {
            return Err(ConfigError::new("heartbeat.interval", "must be above zero"));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new("heartbeat.timeout", "must be above zero"));
        }
        if self.timeout >= self.interval {
            return Err(ConfigError::new(
                "heartbeat.timeout",
                "must be below heartbeat.interval",
            ));
        }
        if self.min_timeout > self.timeout {
            return Err(ConfigError::new(
                "heartbeat.min_timeout",
                "must not exceed heartbeat.timeout",
            ));
        }
        if self.probe_timeout.is_zero() {
            return Err(ConfigError::new(
                "heartbeat.probe_timeout",
                "must be above zero",
            ));
        }
        if self.probe_timeout >= self.interval {
            return Err(ConfigError::new(
                "heartbeat.probe_timeout",
                "must be below heartbeat.interval",
            ));
        }
        Ok(())
    }

    /// `true` unless the mode is [`HeartbeatMode::Off`].
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.mode != HeartbeatMode::Off
    }
}

/// What the heartbeat asks of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum HeartbeatEvent {
    /// Send a ping carrying `nonce` (a data frame or a control frame,
    /// depending on [`HeartbeatMode`]); the peer echoes it in its pong.
    SendPing {
        /// Echoed back in the pong; matches it to this ping.
        nonce: u64,
    },
    /// The peer missed its deadline: the connection will close (code 4000)
    /// and reconnect. The machine disarms itself until the next `on_open`.
    Dead,
}

/// The one timer the machine has armed: the two cases of the dead-peer
/// proof, never both at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Nothing armed: no transport, declared dead, or heartbeats off.
    Off,
    /// The ping timer wakes at `at`; no frame has arrived since it was armed,
    /// so the ping is due then.
    Ping { at: Instant },
    /// The ping timer wakes at `at`, but the latest frame since it was armed
    /// arrived at `heard`: the ping is due at `heard + interval`, and the
    /// wake-up re-arms for it (the lazy re-arm of the module docs).
    Heard { at: Instant, heard: Instant },
    /// A ping is out; its pong is due by `at`.
    Pong { at: Instant },
}

/// The heartbeat sub-machine of one connection (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// A transport is open and the machine has not declared it dead.
    open: bool,
    timer: Timer,
    /// When the latest ping whose pong has not arrived was sent (kept after
    /// another frame clears the deadline, so its pong still yields an RTT
    /// sample). Its nonce is not stored: only `send_ping` sets this, right
    /// after taking `next_nonce`, so it is always `next_nonce - 1`.
    outstanding: Option<Instant>,
    /// The latest ping was sent by a probe (short deadline) rather than the
    /// ping timer; meaningful while it is outstanding.
    probe: bool,
    /// Nonce of the next ping.
    next_nonce: u64,
    rtt: RttEstimator,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

impl Heartbeat {
    /// A machine with no transport open.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            open: false,
            timer: Timer::Off,
            outstanding: None,
            probe: false,
            next_nonce: 1,
            rtt: RttEstimator::new(),
        }
    }

    /// Transport opened: arm the first ping at `now + uniform[0, interval]`
    /// (so a fleet does not ping in lockstep). Forgets any earlier ping.
    pub fn on_open<R: Rng + ?Sized>(&mut self, now: Instant, cfg: &HeartbeatConfig, rng: &mut R) {
        self.open = true;
        self.outstanding = None;
        self.timer = if cfg.enabled() {
            Timer::Ping {
                at: now + uniform_duration(rng, Duration::ZERO, cfg.interval),
            }
        } else {
            Timer::Off
        };
    }

    /// Transport gone: disarm everything. The RTT estimate and the nonce
    /// counter are kept across reconnects.
    #[inline]
    pub fn on_close(&mut self) {
        self.open = false;
        self.timer = Timer::Off;
        self.outstanding = None;
    }

    /// Any inbound frame (data, ack, ping, pong…): proof of life. Clears the
    /// pong deadline and moves the next ping to `now + interval`, so pings
    /// only go out after `interval` of inbound silence. While the ping timer
    /// is armed this only records `now`: the timer keeps its earlier wake-up
    /// and re-arms itself then ([`Heartbeat::handle_timeout`]), so a busy
    /// link costs one timer change per `interval`, not one per frame.
    /// Ignored when no transport is open or after [`HeartbeatEvent::Dead`].
    #[inline(always)]
    pub fn on_inbound(&mut self, now: Instant, cfg: &HeartbeatConfig) {
        if !self.open {
            return;
        }
        self.timer = match self.timer {
            Timer::Ping { at } | Timer::Heard { at, .. } => Timer::Heard { at, heard: now },
            Timer::Pong { .. } | Timer::Off if cfg.enabled() => Timer::Ping {
                at: now + cfg.interval,
            },
            Timer::Pong { .. } | Timer::Off => Timer::Off,
        };
    }

    /// A pong carrying `nonce`. If it matches the outstanding ping: one RTT
    /// sample, and the ping is no longer outstanding. A stale or unknown
    /// nonce gives no sample. Either way it is proof of life: this already
    /// does [`Heartbeat::on_inbound`] (calling both is harmless).
    #[inline]
    pub fn on_pong(&mut self, now: Instant, nonce: u64, cfg: &HeartbeatConfig) {
        if !self.open {
            return;
        }
        if let Some(sent_at) = self
            .outstanding
            .filter(|_| self.outstanding_nonce() == nonce)
        {
            let rtt = now.saturating_duration_since(sent_at);
            self.rtt.on_sample(crate::time::millis(rtt));
            self.outstanding = None;
        }
        self.on_inbound(now, cfg);
    }

    /// The network came back while open: the socket may be bound to a path
    /// that no longer exists, so probe at once (deadline
    /// [`Heartbeat::probe_timeout`]).
    /// `None` if heartbeats are off, no transport is open, or the ping
    /// already outstanding is due no later than the probe would be.
    pub fn on_online(&mut self, now: Instant, cfg: &HeartbeatConfig) -> Option<HeartbeatEvent> {
        self.probe(now, cfg)
    }

    /// The network was reported gone while open (Pusher reacts the same
    /// way): the report may be wrong, so instead of closing, probe with the
    /// short probe deadline. Same rules as [`Heartbeat::on_online`].
    pub fn on_offline(&mut self, now: Instant, cfg: &HeartbeatConfig) -> Option<HeartbeatEvent> {
        self.probe(now, cfg)
    }

    /// The next instant [`Heartbeat::handle_timeout`] wants to run, if any.
    /// With frames arriving, this can be earlier than the next ping: the
    /// wake-up then only re-arms the timer.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.fold_timeout(Earliest::NONE).get()
    }

    /// [`poll_timeout`](Self::poll_timeout) folded into `acc`.
    #[must_use]
    #[inline]
    pub(crate) fn fold_timeout(&self, acc: Earliest) -> Earliest {
        match self.timer {
            Timer::Off => acc,
            Timer::Ping { at } | Timer::Heard { at, .. } | Timer::Pong { at } => acc.with(Some(at)),
        }
    }

    /// Run due timers; call when `now >= poll_timeout()` (earlier calls are
    /// harmless and return `None`). Returns at most one event.
    #[inline]
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        cfg: &HeartbeatConfig,
    ) -> Option<HeartbeatEvent> {
        if !self.open || !cfg.enabled() {
            self.timer = Timer::Off;
            return None;
        }
        let (at, heard) = match self.timer {
            Timer::Off => return None,
            Timer::Ping { at } => (at, None),
            Timer::Heard { at, heard } => (at, Some(heard)),
            Timer::Pong { at: deadline } => {
                return (now >= deadline).then(|| self.pong_overdue(now, deadline, cfg));
            }
        };
        if now < at {
            return None;
        }
        // Lazy re-arm: frames heard since the timer was armed move the ping
        // to `heard + interval`, if that is still ahead.
        if let Some(due) = heard.map(|h| h + cfg.interval).filter(|&due| due > now) {
            self.timer = Timer::Ping { at: due };
            return None;
        }
        // A late ping timer needs no guard: it just pings.
        let deadline = now + self.pong_timeout(cfg);
        Some(self.send_ping(now, deadline, false))
    }

    /// The pong deadline has passed: `Dead`, unless the timer ran late.
    fn pong_overdue(
        &mut self,
        now: Instant,
        deadline: Instant,
        cfg: &HeartbeatConfig,
    ) -> HeartbeatEvent {
        if now.saturating_duration_since(deadline) > cfg.late_threshold {
            // Late-timer guard: our own timer ran late, so the pong may be
            // unread behind it. Ask again instead of convicting.
            return self.send_ping(now, now + Self::probe_timeout(cfg), true);
        }
        self.open = false;
        self.timer = Timer::Off;
        self.outstanding = None;
        HeartbeatEvent::Dead
    }

    /// The current RTT estimate, `None` before the first matching pong.
    #[must_use]
    pub fn rtt(&self) -> Option<RttStats> {
        self.rtt.stats()
    }

    /// The nonce of the ping whose pong has not arrived yet, if any.
    #[must_use]
    pub fn outstanding(&self) -> Option<u64> {
        self.outstanding.map(|_| self.outstanding_nonce())
    }

    /// The nonce of the latest ping sent (the one before `next_nonce`,
    /// wrapping as the counter does).
    fn outstanding_nonce(&self) -> u64 {
        self.next_nonce.wrapping_sub(1)
    }

    /// `true` while the outstanding ping is a probe (short deadline).
    #[must_use]
    pub fn probing(&self) -> bool {
        self.outstanding.is_some() && self.probe
    }

    /// When the outstanding ping's pong is due, if a deadline is armed.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        match self.timer {
            Timer::Pong { at } => Some(at),
            _ => None,
        }
    }

    /// The pong deadline a routine ping would get now: `timeout`, or the
    /// clamped RTO when `adaptive` and an RTT sample exists.
    #[must_use]
    pub fn pong_timeout(&self, cfg: &HeartbeatConfig) -> Duration {
        match self.rtt.rto().filter(|_| cfg.adaptive) {
            // max-then-min rather than `clamp`, which panics on an
            // unvalidated config with min_timeout > timeout.
            Some(rto) => rto.max(cfg.min_timeout).min(cfg.timeout),
            None => cfg.timeout,
        }
    }

    /// The deadline a probe gets: `min(probe_timeout, timeout)`, so a probe
    /// never waits longer than a routine ping would.
    #[must_use]
    pub fn probe_timeout(cfg: &HeartbeatConfig) -> Duration {
        cfg.probe_timeout.min(cfg.timeout)
    }

    fn probe(&mut self, now: Instant, cfg: &HeartbeatConfig) -> Option<HeartbeatEvent> {
        if !self.open || !cfg.enabled() {
            return None;
        }
        let deadline = now + Self::probe_timeout(cfg);
        if self.deadline().is_some_and(|d| d <= deadline) {
            return None;
        }
        Some(self.send_ping(now, deadline, true))
    }

    fn send_ping(&mut self, now: Instant, deadline: Instant, probe: bool) -> HeartbeatEvent {
        let nonce = self.next_nonce;
        // Wraps deliberately: nonces only need to differ from recent ones.
        self.next_nonce = self.next_nonce.wrapping_add(1);
        self.outstanding = Some(now);
        self.probe = probe;
        self.timer = Timer::Pong { at: deadline };
        HeartbeatEvent::SendPing { nonce }
    }
}
