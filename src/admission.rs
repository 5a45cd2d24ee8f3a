//! Server-side admission control for reconnect storms, and the retry-after
//! hint that tells a refused client when to come back.
//!
//! # The problem
//!
//! When a node dies, every client it held sees close 1006 at the same
//! instant. Client-side jitter (RFC 6455 §7.2.3, [`crate::backoff`]) spreads
//! the *first* wave, but a server that can admit `C` sessions per second and
//! faces `N` clients still refuses most of them, and each refused client
//! guesses its next delay blindly: some come back too early and are refused
//! again, others wait far longer than needed. Only the server knows its
//! capacity, so redial lets it say when to come back.
//!
//! # Admission
//!
//! [`Admission`] is a sans-IO rate limiter with a booking horizon:
//!
//! * **Walk-ins** are judged by GCRA (the virtual-scheduling form of a token
//!   bucket): at most `burst` at once after an idle period, then one per
//!   `1 s / rate_per_sec`. So over any span `d`, at most
//!   `burst + rate_per_sec · d` clients are admitted.
//! * **A refused client is given a slot**: the next free one on a booking
//!   horizon that advances by exactly one interval per refusal, never earlier
//!   than the walk-in schedule and never sooner than `min_retry` from now.
//!   [`admit`](Admission::admit) returns the wait until that slot, rounded up
//!   to whole milliseconds (the unit of the hint format below), so a client
//!   that honours it never arrives before its slot. Refused clients thus
//!   come back **spread exactly at the admission rate**, in the order they
//!   were refused, and find capacity when they arrive.
//! * **`min_retry`** (default 5 s, the RFC 6455 first-retry window): a fleet
//!   that lost a node keeps arriving for the length of its first window, so
//!   a slot inside it would be contested by first attempts and its holder
//!   refused a second time. The first refusal of an overload is therefore
//!   booked at least `min_retry` ahead; later ones queue behind it. While a
//!   backlog exists (until 1 s, the engine's largest spread, after its last
//!   slot) the floor is not applied again: a client refused then joins the
//!   end of the queue instead of waiting `min_retry` more.
//! * **`max_retry`** (default 10 min, the engine's own cap on hints): a slot
//!   further out is not booked; the client is told `max_retry` and is judged
//!   afresh when it returns.
//! * Slots are not tied to identities (bounded state: eight integers and a
//!   clock). A walk-in arriving while booked clients return takes capacity
//!   like anyone else; whoever then finds none gets a later slot. Honest
//!   clients are never asked back before capacity exists for them.
//! * Time is an argument ([`Instant`], ms); an earlier `now` than one already
//!   seen is clamped. Internally time is kept in nanoseconds, so rates that
//!   do not divide a second are exact to 1 ns per slot (the interval is
//!   rounded up, so the rate is never exceeded). All arithmetic saturates:
//!   near `u64::MAX` ns (year 2554 on a Unix-epoch clock) everything clamps,
//!   nothing panics.
//!
//! # The hint on the wire
//!
//! A refusal is a WebSocket close with code 1013 (try again later) whose
//! reason text carries the hint as the token `retry-after=<ms>`: decimal
//! milliseconds, no sign, no unit, e.g. `retry-after=12500`. Tokens in a
//! reason are separated by `;`, `,` or ASCII whitespace, so a server may add
//! words (`overloaded; retry-after=12500`). The key is ASCII
//! case-insensitive; the first `retry-after` token decides (malformed = no
//! hint). At most [`MAX_HINT_LEN`] bytes, well inside the 123-byte limit of a
//! close reason. The same text may travel as a dedicated text frame before
//! the close. A driver passes a parsed hint to the engine as
//! [`Input::RetryAfter`](crate::Input::RetryAfter) on the same generation;
//! the engine replaces its own delay with it, spread by up to
//! `min(hint / 10, 1 s)` so clients handed the same millisecond do not land
//! together.
//!
//! # The standing reconnect window
//!
//! A hint reaches a client only with its first refusal; by then a whole
//! fleet has already made its first attempt within the backoff's first
//! window (5 s for RFC 6455), far faster than the next node can take it.
//! So a server may also announce, while connections are healthy, how long
//! its admission rate needs to take back everyone it holds:
//! [`Admission::reconnect_window`] of its population. It sends the token
//! `reconnect-window=<ms>` (same syntax as above) in a text frame after
//! the open, and again when the population changes much; the driver passes
//! it as [`Input::ReconnectWindow`](crate::Input::ReconnectWindow). If the
//! connection is then lost abnormally, the client draws its first
//! reconnect uniformly over the window (or over the backoff's own first
//! window, if that is longer), so the fleet arrives at the admission rate
//! from the first millisecond and nearly every first attempt is admitted.
//! The trade-off: a client that loses its own network and learns it from
//! the host (`Offline`, then `Online`) keeps the short online jitter, but
//! one that only sees a bare 1006 (a Wi-Fi hand-off the OS did not report)
//! also waits up to the window. Announce a window only as long as the
//! population needs, and withdraw it (zero) when the server is lightly
//! loaded.
//!
//! A refusal at the HTTP upgrade (status 503 or 429) carries the standard
//! `Retry-After` header instead; [`parse_http_retry_after`] reads its
//! delta-seconds form.
//!
//! ```
//! use core::time::Duration;
//! use redial::admission::{format_retry_after, parse_retry_after, Admission, MAX_HINT_LEN};
//! use redial::Instant;
//!
//! let mut gate = Admission::new(1_000, 1).expect("valid"); // 1000/s, no burst
//! let now = Instant::from_millis(0);
//! assert_eq!(gate.admit(now), Ok(()));
//! let wait = gate.admit(now).expect_err("over the rate");
//! assert_eq!(wait, Duration::from_secs(5)); // first slot past min_retry
//! let mut buf = [0u8; MAX_HINT_LEN];
//! let reason = format_retry_after(wait, &mut buf);
//! assert_eq!(reason, "retry-after=5000");
//! assert_eq!(parse_retry_after(reason), Some(wait));
//! // The next refused client is given the next slot, 1 ms later.
//! assert_eq!(gate.admit(now), Err(Duration::from_millis(5_001)));
//! ```

use core::fmt;
use core::time::Duration;

use crate::error::ConfigError;
use crate::time::{millis, Clock, Instant};

#[cfg(test)]
mod tests;

const NS_PER_SEC: u64 = 1_000_000_000;
const NS_PER_MS: u64 = 1_000_000;
/// The longest spread the engine adds to a hint (`min(hint / 10, 1 s)`): a
/// hinted client may arrive this long after its slot.
const RETURN_SPREAD: u64 = NS_PER_SEC;

/// The key of the hint token in a close reason.
pub const RETRY_AFTER_KEY: &str = "retry-after";

/// The key of the standing reconnect-window token.
pub const RECONNECT_WINDOW_KEY: &str = "reconnect-window";

/// Longest token [`format_retry_after`] or [`format_reconnect_window`]
/// writes: the longer key, `=`, and up to 20 digits (`u64::MAX`).
pub const MAX_HINT_LEN: usize = RECONNECT_WINDOW_KEY.len() + 1 + 20;

/// Tuning for [`Admission`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AdmissionConfig {
    /// Sessions admitted per second, sustained. Default 1000: a conservative
    /// figure for one process that terminates TLS and restores a session per
    /// connect; measure yours and set it. `1..=1_000_000_000`.
    pub rate_per_sec: u32,
    /// Sessions admitted at once after an idle period. Default 100 (100 ms
    /// at the default rate): enough to absorb the jitter of hinted returns
    /// without letting a storm's first instant take a second's capacity.
    /// At least 1.
    pub burst: u32,
    /// Shortest wait a refused client is given. Default 5 s, the first-retry
    /// window of RFC 6455 §7.2.3 (and redial's default policy): a fleet that
    /// lost a node keeps arriving for that long, so earlier slots would be
    /// contested by first attempts. Zero books from the next free slot.
    pub min_retry: Duration,
    /// Longest wait handed out; slots further out are not booked. Default
    /// 10 min, the engine's default cap on hints (`Config::max_retry_after`):
    /// a longer hint would be cut short by the client anyway. At least
    /// `min_retry` and 1 ms.
    pub max_retry: Duration,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            rate_per_sec: 1_000,
            burst: 100,
            min_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(600),
        }
    }
}

impl AdmissionConfig {
    /// Rejects values the limiter cannot work with, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rate = u64::from(self.rate_per_sec);
        if rate == 0 || rate > NS_PER_SEC {
            return Err(ConfigError::new(
                "admission.rate_per_sec",
                "must be in 1..=1000000000 (one slot per nanosecond at most)",
            ));
        }
        if self.burst == 0 {
            return Err(ConfigError::new("admission.burst", "must be at least 1"));
        }
        if millis(self.max_retry) == 0 {
            return Err(ConfigError::new(
                "admission.max_retry",
                "must be at least 1 ms",
            ));
        }
        if self.min_retry > self.max_retry {
            return Err(ConfigError::new(
                "admission.min_retry",
                "must not exceed admission.max_retry",
            ));
        }
        Ok(())
    }
}

/// Rate limiter that tells every refused client its slot; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Nanoseconds per slot, rounded up.
    interval: u64,
    /// GCRA tolerance: `(burst - 1) · interval`.
    tolerance: u64,
    min_retry: u64,
    max_retry: u64,
    /// GCRA theoretical arrival time: when the walk-in schedule is free (ns).
    tat: u64,
    /// Next slot of the booking horizon (ns); every earlier slot is taken.
    /// Zero until the first booking (a booked slot is always after zero).
    booked: u64,
    clock: Clock,
    admitted: u64,
    refused: u64,
}

impl Admission {
    /// A limiter admitting `rate_per_sec` sessions per second with bursts of
    /// `burst`, other settings default.
    pub fn new(rate_per_sec: u32, burst: u32) -> Result<Self, ConfigError> {
        Self::with_config(AdmissionConfig {
            rate_per_sec,
            burst,
            ..AdmissionConfig::default()
        })
    }

    /// A limiter from a full config.
    pub fn with_config(cfg: AdmissionConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let interval = NS_PER_SEC.div_ceil(u64::from(cfg.rate_per_sec));
        Ok(Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(cfg.burst) - 1),
            min_retry: duration_ns(cfg.min_retry),
            max_retry: duration_ns(cfg.max_retry),
            tat: 0,
            booked: 0,
            clock: Clock::default(),
            admitted: 0,
            refused: 0,
        })
    }

    /// One client asks to connect at `now`. `Ok` admits it; `Err(wait)`
    /// refuses it and books its slot: tell it to come back after `wait`
    /// (whole milliseconds, never before the slot). O(1), no allocation.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        let now = self
            .clock
            .observe(now)
            .as_millis()
            .saturating_mul(NS_PER_MS);
        if self.tat <= now.saturating_add(self.tolerance) {
            self.tat = self.tat.max(now).saturating_add(self.interval);
            self.admitted = self.admitted.saturating_add(1);
            return Ok(());
        }
        self.refused = self.refused.saturating_add(1);
        // `min_retry` keeps a new storm's slots clear of its first wave; once
        // a backlog exists, its queue (plus the engine's spread) already is.
        let backlog = self.booked != 0 && now < self.booked.saturating_add(RETURN_SPREAD);
        let floor = if backlog { 0 } else { self.min_retry };
        let slot = self.booked.max(self.tat).max(now.saturating_add(floor));
        let wait = slot.saturating_sub(now);
        if wait > self.max_retry {
            return Err(ms_ceil(self.max_retry));
        }
        self.booked = slot.saturating_add(self.interval);
        Err(ms_ceil(wait))
    }

    /// The time between two slots (`1 s / rate`, rounded up to whole ns).
    #[must_use]
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// How far past `now` (or the latest instant seen) slots are booked:
    /// the wait the next refused client would get, before `min_retry`.
    #[must_use]
    pub fn backlog(&self, now: Instant) -> Duration {
        let now = now
            .max(self.clock.now())
            .as_millis()
            .saturating_mul(NS_PER_MS);
        Duration::from_nanos(self.booked.max(self.tat).saturating_sub(now))
    }

    /// The standing reconnect window for a server holding `population`
    /// sessions: how long this limiter needs to admit them all again
    /// (`population × interval`, rounded up to whole ms), at most
    /// `max_retry`. Announce it to every client as
    /// [`format_reconnect_window`]; see the module docs.
    #[must_use]
    pub fn reconnect_window(&self, population: u64) -> Duration {
        ms_ceil(population.saturating_mul(self.interval).min(self.max_retry))
    }

    /// Clients admitted so far (saturating).
    #[must_use]
    pub fn admitted(&self) -> u64 {
        self.admitted
    }

    /// Clients refused so far (saturating).
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

/// Nanoseconds in `d`, saturating.
fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `ns` rounded up to whole milliseconds.
fn ms_ceil(ns: u64) -> Duration {
    Duration::from_millis(ns.div_ceil(NS_PER_MS))
}

/// Whole milliseconds in `d`, rounded up (a hint must never be shorter than
/// the wait it encodes), saturating at `u64::MAX`.
fn hint_millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(u128::from(NS_PER_MS))).unwrap_or(u64::MAX)
}

/// Writes the hint `retry-after=<ms>` for `after` (rounded up to whole ms)
/// into `buf` and returns it as text, ready to be a close reason.
pub fn format_retry_after(after: Duration, buf: &mut [u8; MAX_HINT_LEN]) -> &str {
    format_token(RETRY_AFTER_KEY, after, buf)
}

/// Writes the standing window `reconnect-window=<ms>` for `window`
/// (rounded up to whole ms) into `buf` and returns it as text.
pub fn format_reconnect_window(window: Duration, buf: &mut [u8; MAX_HINT_LEN]) -> &str {
    format_token(RECONNECT_WINDOW_KEY, window, buf)
}

/// `key=<ms>` into `buf`.
fn format_token<'a>(key: &str, value: Duration, buf: &'a mut [u8; MAX_HINT_LEN]) -> &'a str {
    let mut digits = [0u8; 20];
    let mut value = hint_millis(value);
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            // value % 10 < 10: the cast cannot truncate.
            *d = b'0' + (value % 10) as u8;
        }
        value /= 10;
        if value == 0 || start == 0 {
            break;
        }
    }
    let key = key.as_bytes();
    let num = digits.get(start..).unwrap_or(&[]);
    let len = key.len() + 1 + num.len();
    let parts = buf.iter_mut().zip(key.iter().chain(b"=").chain(num));
    for (slot, &byte) in parts {
        *slot = byte;
    }
    // Only ASCII was written, so this never fails; fall back to "" anyway.
    buf.get(..len)
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or("")
}

/// The hint `after` as a value that displays as `retry-after=<ms>`, for
/// drivers that build close reasons with `format!`/`write!`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfterHint(pub Duration);

impl fmt::Display for RetryAfterHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{RETRY_AFTER_KEY}={}", hint_millis(self.0))
    }
}

/// The hint in a close reason (see the module docs for the format), or
/// `None` if there is none or the first `retry-after` token is malformed.
#[must_use]
pub fn parse_retry_after(reason: &str) -> Option<Duration> {
    parse_token(reason, RETRY_AFTER_KEY)
}

/// The standing window in a text frame (`reconnect-window=<ms>`, same
/// syntax as the hint), or `None` if there is none or the first such token
/// is malformed.
#[must_use]
pub fn parse_reconnect_window(text: &str) -> Option<Duration> {
    parse_token(text, RECONNECT_WINDOW_KEY)
}

/// The value of the first `key=<ms>` token in `text`.
fn parse_token(text: &str, key: &str) -> Option<Duration> {
    let separator = |c: char| c == ';' || c == ',' || c.is_ascii_whitespace();
    let token = text.split(separator).find(|t| {
        t.get(..key.len())
            .is_some_and(|k| k.eq_ignore_ascii_case(key))
    })?;
    let value = token.get(key.len()..)?.strip_prefix('=')?;
    parse_decimal(value).map(Duration::from_millis)
}

/// The delta-seconds form of an HTTP `Retry-After` header value (RFC 9110
/// §10.2.3), e.g. `120`, surrounding whitespace ignored. The HTTP-date form
/// needs a wall clock and is not read (`None`).
#[must_use]
pub fn parse_http_retry_after(value: &str) -> Option<Duration> {
    parse_decimal(value.trim_matches(|c: char| c.is_ascii_whitespace())).map(Duration::from_secs)
}

/// 1 to 20 ASCII digits whose value fits a `u64`.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}
