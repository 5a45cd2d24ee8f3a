//! Close codes: what each one means, and what the engine does after it (R3).
//!
//! A WebSocket session ends with a status code, and the codes mean very
//! different things: some say "come back later", some say "never come back",
//! some are not even allowed on the wire. redial judges every code on its own
//! (never "any close ⇒ reconnect") in two steps:
//!
//! 1. [`classify`] names the code's family ([`CloseClass`]), for logs and
//!    `Failed` reasons;
//! 2. [`ClosePolicy::action`] picks the [`CloseAction`]: first any override
//!    rule the app configured (per code or per range, first match wins), then
//!    the default table below.
//!
//! # Default table
//!
//! | code | meaning | [`CloseAction`] |
//! |---|---|---|
//! | 1000 | normal | [`Stop`](CloseAction::Stop) (the engine reconnects with backoff only if the app still has work queued) |
//! | 1001 | going away / idle timeout | [`Lazy`](CloseAction::Lazy): back to `Idle`, reconnect on the next send (R10) |
//! | 1005, 1006 | no status / abnormal (never on the wire) | [`Retry`](CloseAction::Retry) with backoff (R11, R19) |
//! | 1002, 1003, 1007–1010 | protocol / data / policy | [`Fatal`](CloseAction::Fatal) |
//! | 1011 | server error | [`RetryBudgeted`](CloseAction::RetryBudgeted): backoff, counted against a smaller budget |
//! | 1012 | service restart | [`RetryUniform`](CloseAction::RetryUniform) 5–30 s |
//! | 1013 | try again later | [`RetryAtLeast`](CloseAction::RetryAtLeast): backoff, but never under 10 s |
//! | 1014 | bad gateway | [`Retry`](CloseAction::Retry) with backoff |
//! | 1015 | TLS failure | [`Fatal`](CloseAction::Fatal) |
//! | 3000–3499, 4000–4499 | registered / private, "retry" half | [`Retry`](CloseAction::Retry) |
//! | 3500–3999, 4500–4999 | registered / private, "terminal" half | [`Fatal`](CloseAction::Fatal) |
//! | 1004, 1016–2999, < 1000, > 4999 | invalid on the wire | treated as 1002: [`Fatal`](CloseAction::Fatal) |
//!
//! # Where the rows come from
//!
//! RFC 6455 §7.4.1 defines 1000–1011 and 1015. Three of them are not codes a
//! peer can send at all: 1005, 1006 and 1015 are each "a reserved value and
//! MUST NOT be set as a status code in a Close control frame by an endpoint".
//! A driver reports 1005 when a Close frame carried no code, 1006 when the
//! socket died without any Close frame (network loss, a crashed node, an
//! address that is not a WebSocket server at all, R2), and 1015 when TLS failed.
//! **The engine never sends 1005, 1006 or 1015**: [`can_send`] is false for them.
//!
//! - 1006 retries: it is the code of a lost network and of a dead cluster node,
//!   and the next attempt may reach a healthy node (R11). It is also the only
//!   code an unreachable server produces, so the retry always goes through
//!   backoff and the engine's attempt budget: never a full-speed loop (R2, R4).
//! - 1015 is fatal: a certificate that fails to verify will fail the same way
//!   on every attempt, and retrying a TLS failure silently hides an attack.
//! - 1002/1003/1007–1010 are fatal: a peer that says "protocol error" (or
//!   "indicates that an endpoint is terminating the connection because it has
//!   received a message that violates its policy", 1008) will say it again.
//! - 1011 ("encountered an unexpected condition that prevented it from
//!   fulfilling the request") may be a transient crash or a request that
//!   always crashes the server, so it retries, but against a smaller budget
//!   owned by the engine's config.
//!
//! 1012–1014 come from the IANA "WebSocket Close Code Number" registry. Its
//! note for 1012 says a client "should reconnect using a randomized delay of
//! 5 - 30s", hence the uniform window (see [`ClosePolicy::restart_max`]). For
//! 1013 ("the service is experiencing overload") it says to come back "upon
//! user action"; [`ClosePolicy::try_again_floor`] explains the 10 s floor.
//!
//! RFC 6455 §7.4.2 splits the rest: 0–999 are "not used"; 1000–2999 are
//! "reserved for definition by this protocol, its future revisions, and
//! extensions", so the unassigned ones there (1004 "Reserved", 1016–2999) are
//! invalid; 3000–3999 are "reserved for use by libraries, frameworks, and
//! applications" ([`CloseClass::Registered`]); 4000–4999 are "reserved for
//! private use" ([`CloseClass::Private`]); 5000 and up fit no range: invalid.
//!
//! An invalid code is a peer breaking the protocol, so it is treated exactly
//! like 1002 (including any override the app set for 1002), unless an override
//! names the invalid code itself.
//!
//! # The 3000–4999 split
//!
//! The meaning of 3000–4999 is whatever the app and its backend agreed (R3).
//! Without such an agreement redial follows Centrifugo's convention: the lower
//! half of each thousand (3000–3499, 4000–4499) means "reconnect", the upper
//! half (3500–3999, 4500–4999) means "terminal, do not reconnect". A backend
//! that uses the codes differently overrides them with
//! [`ClosePolicy::with_range`]. redial's own [`code::HEARTBEAT_TIMEOUT`] (4000)
//! sits in the retry half on purpose, so a peer that also runs redial comes
//! back after a missed heartbeat instead of giving up.
//!
//! # Overrides
//!
//! Up to [`MAX_RULES`] rules, kept in a fixed array (no allocation). Each rule
//! covers `lo..=hi`; the first matching rule wins; codes no rule covers fall
//! through to the table. Any code may be overridden, **including 1005 and
//! 1006** (an app may prefer to give up rather than retry). Be careful there:
//! 1006 is what every network loss looks like, so making it fatal turns each
//! Wi-Fi hiccup into a terminal `Failed` that only the app can undo.

use core::time::Duration;

use crate::error::ConfigError;

#[cfg(test)]
mod tests;

/// Close codes by name: the RFC 6455 and IANA codes, and redial's own.
pub mod code {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: the endpoint is going away (server shutdown, idle timeout, page left).
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: the endpoint saw a protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1003: the endpoint got a kind of data it cannot accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// 1004: reserved, no meaning yet; invalid on the wire.
    pub const RESERVED: u16 = 1004;
    /// 1005: a Close frame arrived without a code. Never on the wire.
    pub const NO_STATUS: u16 = 1005;
    /// 1006: the connection died without a Close frame. Never on the wire.
    pub const ABNORMAL: u16 = 1006;
    /// 1007: message data did not match its type (e.g. invalid UTF-8 text).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// 1010: the client needed an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: u16 = 1010;
    /// 1011: the endpoint hit an unexpected internal condition.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// 1012 (IANA): the service is restarting.
    pub const SERVICE_RESTART: u16 = 1012;
    /// 1013 (IANA): the service is overloaded; try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// 1014 (IANA): a gateway or proxy got an invalid upstream response.
    pub const BAD_GATEWAY: u16 = 1014;
    /// 1015: the TLS handshake failed. Never on the wire.
    pub const TLS_HANDSHAKE: u16 = 1015;
    /// 4000 (redial): we closed because the peer missed a pong deadline.
    /// In the 4000–4499 retry half, so the peer reconnects rather than gives up.
    pub const HEARTBEAT_TIMEOUT: u16 = 4000;
}

/// What the engine does after a close with a given code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CloseAction {
    /// Stop (1000). The engine reconnects with backoff only if the app still
    /// has work queued; otherwise the session is over.
    Stop,
    /// Back to `Idle`; reconnect on the next send (1001, R10).
    Lazy,
    /// Reconnect after the backoff policy's delay (1005, 1006, 1014, x000–x499).
    Retry,
    /// Like [`Retry`](Self::Retry), but each attempt also counts against the
    /// smaller budget the engine's config sets for server errors (1011).
    RetryBudgeted,
    /// Reconnect after a delay drawn uniformly from `min..=max` (1012).
    RetryUniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// Reconnect after `max(backoff delay, floor)` (1013).
    RetryAtLeast {
        /// Lower bound on the delay.
        floor: Duration,
    },
    /// Give up: the session goes to `Failed` (1002, 1003, 1007–1010, 1015,
    /// x500–x999, invalid codes).
    Fatal,
}

impl CloseAction {
    /// Whether this action ends the session for good.
    #[must_use]
    pub const fn is_fatal(self) -> bool {
        matches!(self, Self::Fatal)
    }

    /// Whether this action schedules a reconnect by itself (a delayed one);
    /// [`Stop`](Self::Stop), [`Lazy`](Self::Lazy) and [`Fatal`](Self::Fatal) do not.
    #[must_use]
    pub const fn retries(self) -> bool {
        matches!(
            self,
            Self::Retry
                | Self::RetryBudgeted
                | Self::RetryUniform { .. }
                | Self::RetryAtLeast { .. }
        )
    }
}

/// The family a close code belongs to: why it was judged as it was (small
/// and `Copy`, so a `Failed` reason can carry it as is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CloseClass {
    /// 1000.
    Normal,
    /// 1001.
    GoingAway,
    /// 1005 (never on the wire).
    NoStatus,
    /// 1006 (never on the wire).
    Abnormal,
    /// 1002.
    Protocol,
    /// 1003.
    UnsupportedData,
    /// 1007.
    InvalidPayload,
    /// 1008.
    Policy,
    /// 1009.
    TooBig,
    /// 1010.
    MandatoryExtension,
    /// 1011.
    ServerError,
    /// 1012.
    ServiceRestart,
    /// 1013.
    TryAgainLater,
    /// 1014.
    BadGateway,
    /// 1015 (never on the wire).
    Tls,
    /// 3000–3999: registered with IANA by libraries and frameworks.
    Registered,
    /// 4000–4999: private, agreed between the app and its backend.
    Private,
    /// Not a legal code: < 1000, 1004, 1016–2999, > 4999.
    Invalid,
}

/// The family of `code`. Total over `u16`.
#[must_use]
pub const fn classify(code: u16) -> CloseClass {
    match code {
        code::NORMAL => CloseClass::Normal,
        code::GOING_AWAY => CloseClass::GoingAway,
        code::PROTOCOL_ERROR => CloseClass::Protocol,
        code::UNSUPPORTED_DATA => CloseClass::UnsupportedData,
        code::NO_STATUS => CloseClass::NoStatus,
        code::ABNORMAL => CloseClass::Abnormal,
        code::INVALID_PAYLOAD => CloseClass::InvalidPayload,
        code::POLICY_VIOLATION => CloseClass::Policy,
        code::MESSAGE_TOO_BIG => CloseClass::TooBig,
        code::MANDATORY_EXTENSION => CloseClass::MandatoryExtension,
        code::INTERNAL_ERROR => CloseClass::ServerError,
        code::SERVICE_RESTART => CloseClass::ServiceRestart,
        code::TRY_AGAIN_LATER => CloseClass::TryAgainLater,
        code::BAD_GATEWAY => CloseClass::BadGateway,
        code::TLS_HANDSHAKE => CloseClass::Tls,
        3000..=3999 => CloseClass::Registered,
        4000..=4999 => CloseClass::Private,
        _ => CloseClass::Invalid,
    }
}

/// Whether `code` may appear in a Close frame at all (RFC 6455 §7.4 plus the
/// IANA registry): 1000–1003, 1007–1014 and 3000–4999. A receiver treats a
/// frame carrying anything else as a protocol error. 1005, 1006 and 1015 are
/// never valid here: they only exist as reports from the driver.
#[must_use]
pub const fn is_valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Which end of the connection is sending a Close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Side {
    /// The dialing end: what the reconnecting engine is.
    Client,
    /// The accepting end (a server-side watchdog, R16).
    Server,
}

/// Whether an endpoint on `side` may put `code` in a Close frame.
///
/// Starts from [`is_valid_on_wire`], then drops the codes whose definition
/// names the other side:
/// - 1010 is client-only: RFC 6455 notes it "is not used by the server,
///   because it can fail the WebSocket handshake instead".
/// - 1012–1014 are server-only: each IANA entry describes the server's state
///   (restarting, overloaded, a gateway with a bad upstream).
///
/// 1011 is allowed from both sides: the RFC words it for a server, but the
/// IANA entry is just "Internal Error", and a client that hits an internal
/// fault mid-session has no better code to send. Never true for 1004, 1005,
/// 1006, 1015, anything below 1000 or above 4999.
#[must_use]
pub const fn can_send_as(side: Side, code: u16) -> bool {
    if !is_valid_on_wire(code) {
        return false;
    }
    match side {
        Side::Client => !matches!(code, 1012..=1014),
        Side::Server => code != code::MANDATORY_EXTENSION,
    }
}

/// Whether the engine (the client side) may send `code` on the user's
/// behalf: 1000–1003, 1007–1011 and 3000–4999. Same as
/// `can_send_as(Side::Client, code)`.
#[must_use]
pub const fn can_send(code: u16) -> bool {
    can_send_as(Side::Client, code)
}

/// An override: codes `lo..=hi` get `action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CloseRule {
    /// First code covered (inclusive).
    pub lo: u16,
    /// Last code covered (inclusive); never below `lo` in a valid policy.
    pub hi: u16,
    /// What the engine does for a code in the range.
    pub action: CloseAction,
}

impl CloseRule {
    /// Whether `code` falls in `lo..=hi`.
    #[must_use]
    pub const fn matches(&self, code: u16) -> bool {
        self.lo <= code && code <= self.hi
    }

    /// Checks the range and the action's durations.
    ///
    /// # Errors
    /// `close.rules` when `lo > hi`, a `RetryUniform` has a zero `max` or
    /// `min > max` (a zero delay is an immediate-reconnect storm), or a
    /// `RetryAtLeast` has a zero `floor` (that is plain `Retry`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        const F: &str = "close.rules";
        ensure(self.lo <= self.hi, F, "range start must not exceed its end")?;
        match self.action {
            CloseAction::RetryUniform { min, max } => {
                ensure(!max.is_zero(), F, "RetryUniform max must be nonzero")?;
                ensure(min <= max, F, "RetryUniform min must not exceed max")
            }
            CloseAction::RetryAtLeast { floor } => {
                ensure(!floor.is_zero(), F, "RetryAtLeast floor must be nonzero")
            }
            _ => Ok(()),
        }
    }
}

/// `Ok` when `ok`, else the error naming `field` and `problem`.
fn ensure(ok: bool, field: &'static str, problem: &'static str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(field, problem))
    }
}

/// How many override rules a [`ClosePolicy`] holds. Eight covers the usual
/// cases (a few codes plus a couple of app ranges) while the whole policy stays
/// a small `Copy` value with no allocation.
pub const MAX_RULES: usize = 8;

/// The close-code policy: up to [`MAX_RULES`] overrides (first match wins),
/// then the default table of the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ClosePolicy {
    /// Override rules in insertion order; `None` slots are free. Default: all
    /// free, because the table alone already follows RFC 6455 and IANA.
    rules: [Option<CloseRule>; MAX_RULES],
    /// Shortest delay after 1012 (service restart). Default 5 s, the lower end
    /// of the "randomized delay of 5 - 30s" in the IANA registration: a
    /// restarted process needs a few seconds before it accepts connections.
    pub restart_min: Duration,
    /// Longest delay after 1012. Default 30 s, the upper end of the IANA
    /// window: wide enough to spread every client of the restarted server
    /// over 25 s instead of reconnecting them all at once.
    pub restart_max: Duration,
    /// Lower bound on the delay after 1013 (try again later). Default 10 s.
    /// The IANA note asks clients of an overloaded server to come back to it
    /// only "upon user action", but an unattended device has no user, so redial
    /// keeps reconnecting on its own and only makes sure it does not add to
    /// the overload: 10 s is twice the whole 0–5 s first-retry window of
    /// RFC 6455 §7.2.3, so clients shed together stay out of that first wave,
    /// and it is the point where the R4 example schedule (1, 2, 3, 5, 10, 20 s)
    /// turns long. Apps that want the strict reading override 1013 with
    /// [`CloseAction::Lazy`] (wait for the next send) or [`CloseAction::Fatal`].
    pub try_again_floor: Duration,
}

impl ClosePolicy {
    /// The default table with no overrides (same as [`Default`]).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            rules: [None; MAX_RULES],
            restart_min: Duration::from_secs(5),
            restart_max: Duration::from_secs(30),
            try_again_floor: Duration::from_secs(10),
        }
    }

    /// Adds an override for one code. See [`with_range`](Self::with_range).
    ///
    /// # Errors
    /// As [`with_range`](Self::with_range).
    pub fn with_code(self, code: u16, action: CloseAction) -> Result<Self, ConfigError> {
        self.with_range(code, code, action)
    }

    /// Adds an override: codes `lo..=hi` get `action`. Rules added earlier win
    /// where ranges overlap.
    ///
    /// # Errors
    /// `close.rules` when the rule is invalid (see [`CloseRule::validate`]) or
    /// when all [`MAX_RULES`] slots are taken.
    pub fn with_range(
        mut self,
        lo: u16,
        hi: u16,
        action: CloseAction,
    ) -> Result<Self, ConfigError> {
        let rule = CloseRule { lo, hi, action };
        rule.validate()?;
        match self.rules.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => {
                *slot = Some(rule);
                Ok(self)
            }
            None => Err(ConfigError::new(
                "close.rules",
                "holds at most 8 override rules",
            )),
        }
    }

    /// Sets the 1012 delay window to `min..=max`.
    ///
    /// # Errors
    /// `close.restart_max` when `max` is zero, `close.restart_min` when
    /// `min > max`.
    pub fn with_restart_window(
        mut self,
        min: Duration,
        max: Duration,
    ) -> Result<Self, ConfigError> {
        self.restart_min = min;
        self.restart_max = max;
        self.validate_params()?;
        Ok(self)
    }

    /// Sets the 1013 delay floor.
    ///
    /// # Errors
    /// `close.try_again_floor` when `floor` is zero.
    pub fn with_try_again_floor(mut self, floor: Duration) -> Result<Self, ConfigError> {
        self.try_again_floor = floor;
        self.validate_params()?;
        Ok(self)
    }

    /// The override rules in the order they are tried.
    pub fn rules(&self) -> impl Iterator<Item = &CloseRule> + '_ {
        self.rules.iter().flatten()
    }

    /// The action of the first rule covering `code`, if any.
    #[must_use]
    pub fn override_for(&self, code: u16) -> Option<CloseAction> {
        self.rules()
            .find(|rule| rule.matches(code))
            .map(|rule| rule.action)
    }

    /// What the engine does after a close with `code`. Total over `u16`.
    ///
    /// Order: a rule naming `code`; for an invalid code, then a rule naming
    /// 1002; then the default table, where an invalid code gets 1002's row.
    #[must_use]
    pub fn action(&self, code: u16) -> CloseAction {
        if let Some(action) = self.override_for(code) {
            return action;
        }
        if matches!(classify(code), CloseClass::Invalid) {
            if let Some(action) = self.override_for(code::PROTOCOL_ERROR) {
                return action;
            }
        }
        self.default_action(code)
    }

    /// The default table's action for `code`, ignoring override rules (but
    /// using this policy's 1012 window and 1013 floor).
    #[must_use]
    pub const fn default_action(&self, code: u16) -> CloseAction {
        match classify(code) {
            CloseClass::Normal => CloseAction::Stop,
            CloseClass::GoingAway => CloseAction::Lazy,
            CloseClass::NoStatus | CloseClass::Abnormal | CloseClass::BadGateway => {
                CloseAction::Retry
            }
            CloseClass::ServerError => CloseAction::RetryBudgeted,
            CloseClass::ServiceRestart => CloseAction::RetryUniform {
                min: self.restart_min,
                max: self.restart_max,
            },
            CloseClass::TryAgainLater => CloseAction::RetryAtLeast {
                floor: self.try_again_floor,
            },
            // Lower half of each thousand retries, upper half is terminal.
            CloseClass::Registered | CloseClass::Private => {
                if code % 1000 < 500 {
                    CloseAction::Retry
                } else {
                    CloseAction::Fatal
                }
            }
            CloseClass::Protocol
            | CloseClass::UnsupportedData
            | CloseClass::InvalidPayload
            | CloseClass::Policy
            | CloseClass::TooBig
            | CloseClass::MandatoryExtension
            | CloseClass::Tls
            | CloseClass::Invalid => CloseAction::Fatal,
        }
    }

    /// Checks every rule and parameter.
    ///
    /// # Errors
    /// - `close.rules`: see [`CloseRule::validate`];
    /// - `close.restart_max`: zero (every client of a restarted server would
    ///   reconnect at once); `close.restart_min`: above `restart_max`;
    /// - `close.try_again_floor`: zero (the server asked for a longer wait).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.rules().try_for_each(CloseRule::validate)?;
        self.validate_params()
    }

    fn validate_params(&self) -> Result<(), ConfigError> {
        let (min, max) = (self.restart_min, self.restart_max);
        ensure(!max.is_zero(), "close.restart_max", "must be nonzero")?;
        ensure(
            min <= max,
            "close.restart_min",
            "must not exceed restart_max",
        )?;
        ensure(
            !self.try_again_floor.is_zero(),
            "close.try_again_floor",
            "must be nonzero",
        )
    }
}

impl Default for ClosePolicy {
    fn default() -> Self {
        Self::new()
    }
}
