//! How long to wait before reconnecting: policies, presets and the attempt counter.
//!
//! # RFC 6455 §7.2.3, the default
//!
//! A dropped WebSocket often means the server (or a node in its cluster) went
//! down, and then every client it served drops at the same instant. RFC 6455
//! §7.2.3 ("Recovering from Abnormal Closure") names the danger and the cure:
//!
//! > if each deployed client experiences an abnormal closure and immediately
//! > and persistently tries to reconnect, the server may experience what
//! > amounts to a denial-of-service attack by a large number of clients trying
//! > to reconnect.
//!
//! > The first reconnect attempt SHOULD be delayed by a random amount of time.
//! > [...] a value chosen randomly between 0 and 5 seconds is a reasonable
//! > initial delay [...]
//!
//! > Should the first reconnect attempt fail, subsequent reconnect attempts
//! > SHOULD be delayed by increasingly longer amounts of time, using a method
//! > such as truncated binary exponential backoff.
//!
//! [`BackoffPolicy::Rfc6455`] is that sentence turned into arithmetic: attempt 1
//! waits a uniform draw from `[0, 5 s]`; attempt `n` waits a uniform draw from
//! `[0, min(30 s, 5 s · 2^(n-1))]` ("truncated" = the window stops doubling at
//! the cap). It is the default of [`ReconnectConfig`].
//!
//! # Why full jitter
//!
//! Clients that lost their connection together stay synchronised if their
//! delays are deterministic (every one of them retries at 1 s, 2 s, 4 s…), so
//! the server sees the same spike at every step. Drawing the whole delay
//! uniformly from `[0, window]` ("full jitter") spreads each wave evenly over
//! the window; doubling the window halves the arrival rate per step. In AWS's
//! "Exponential Backoff and Jitter" simulation it needed the fewest calls of
//! the schemes compared, which is why the RFC policy here uses it. Other shapes
//! ([`Jitter`]) exist so the presets can reproduce what other libraries do.
//!
//! # Why `min_uptime`
//!
//! A server that accepts the handshake and then drops the connection a moment
//! later (crash loop, auth rejected after open, overloaded proxy) would reset
//! a naive counter on every open, so its clients would hammer it at the first,
//! shortest delay forever. [`Backoff`] resets only after a connection stayed
//! open for [`ReconnectConfig::min_uptime`] (reconnecting-websocket's
//! `minUptime`); a flapping server keeps seeing growing delays.
//!
//! All arithmetic saturates, every exponent loop stops once the value can no
//! longer change the result, and no input (including `attempt = u32::MAX` and
//! `Duration::MAX`) panics. Delays have millisecond resolution, rounded down.

use core::time::Duration;
use rand_core::Rng;

use crate::time::Instant;

mod nanos;
mod policy;
mod presets;
#[cfg(test)]
mod tests;

pub use policy::{AfterSchedule, BackoffPolicy, CapOrder, Jitter, Schedule, MAX_SCHEDULE_STEPS};
pub use presets::ReconnectConfig;

/// Reconnect state: attempt counter, previous delay, and the stable-uptime gate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    attempt: u32,
    prev: Duration,
    opened_at: Option<Instant>,
}

impl Backoff {
    /// No attempts made, nothing open.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            attempt: 0,
            prev: Duration::ZERO,
            opened_at: None,
        }
    }

    /// Counts one more attempt and draws its delay. `None` = give up (the policy
    /// ended, or the attempt would exceed `max_attempts`); the state is then
    /// left unchanged, so asking again gives `None` again until a reset.
    pub fn next_delay<R: Rng + ?Sized>(
        &mut self,
        cfg: &ReconnectConfig,
        rng: &mut R,
    ) -> Option<Duration> {
        let next = self.attempt.saturating_add(1);
        if cfg.max_attempts.is_some_and(|max| next > max) {
            return None;
        }
        let delay = cfg.policy.delay(next, self.prev, rng)?;
        self.attempt = next;
        self.prev = delay;
        Some(delay)
    }

    /// Attempts made since the last reset.
    #[must_use]
    pub const fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The last delay drawn (zero after a reset).
    #[must_use]
    pub const fn prev(&self) -> Duration {
        self.prev
    }

    /// When the current transport opened, if one is open.
    #[must_use]
    pub const fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    /// A transport opened at `now`.
    pub fn on_open(&mut self, now: Instant) {
        self.opened_at = Some(now);
    }

    /// The transport closed at `now`. Resets the counter only if it had been open
    /// for at least `cfg.min_uptime`, so a server that flaps keeps growing the
    /// delays. A close with no matching open (a failed attempt) changes nothing.
    pub fn on_close(&mut self, now: Instant, cfg: &ReconnectConfig) {
        if let Some(opened) = self.opened_at.take() {
            if now.saturating_duration_since(opened) >= cfg.min_uptime {
                self.reset();
            }
        }
    }

    /// Explicit reset (user start, back online after offline): attempt 0, no
    /// previous delay. The open/closed state is kept.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.prev = Duration::ZERO;
    }
}
