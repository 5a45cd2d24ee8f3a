//! Configuration: one validated [`Config`], built from the per-concern configs
//! of each module, with `Default`, a builder and presets.
//!
//! Every bound the engine keeps (buffer, window, attempts, retries) is here
//! with its default and the reason for it. [`Config::validate`] rejects values
//! that cannot work with a [`ConfigError`] naming the field;
//! [`Connection::new`](crate::Connection::new) calls it, so an engine never
//! runs on a bad config.

use core::time::Duration;

use crate::backoff::ReconnectConfig;
use crate::close::ClosePolicy;
use crate::delivery::DeliveryConfig;
use crate::error::ConfigError;
use crate::fallback::FallbackConfig;
use crate::heartbeat::{HeartbeatConfig, HeartbeatMode};

/// Everything the engine can be told. Start from [`Config::default`] (or a
/// preset) and change fields, or use [`Config::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Config {
    /// Reconnect policy, attempt budget and the minimum-uptime gate.
    /// Default: RFC 6455 §7.2.3 (first delay uniform in 0–5 s, then truncated
    /// binary exponential with full jitter, cap 30 s), unlimited attempts,
    /// 5 s minimum uptime.
    pub reconnect: ReconnectConfig,
    /// What each close code means. Default: the table in the `close` module.
    pub close: ClosePolicy,
    /// Heartbeat: app-level pings every 25 s with a 10 s pong deadline.
    pub heartbeat: HeartbeatConfig,
    /// Sequence numbers, acks, buffering and overdue reports. Default: no acks
    /// (a plain server does not send them), 1024 queued messages.
    pub delivery: DeliveryConfig,
    /// HTTP fallback. Default: downgrade only on an unparseable URL.
    pub fallback: FallbackConfig,
    /// How long a handshake may take before the attempt is abandoned and
    /// counted as failed. Default 10 s: a server that accepts TCP and never
    /// answers (R2) must cost a backoff step, not a hung session; 10 s is
    /// above a slow mobile TLS handshake and matches common client defaults.
    pub connect_timeout: Duration,
    /// How long to wait for `onclose` after sending a close frame before
    /// abandoning the socket. Default 5 s: a close while offline can stay in
    /// CLOSING forever (R18); RFC 6455 leaves the wait to the client, and a
    /// few seconds covers any live peer.
    pub close_timeout: Duration,
    /// How many 1011 (internal error) closes in a row are retried before
    /// giving up. Default 5: a crashing server should not be hammered forever,
    /// but a single crash is usually transient.
    pub server_error_budget: u32,
    /// When the host comes back online, reconnect after a uniform delay in
    /// `[0, online_jitter]`. Default 1 s: "at once" for a person, yet a whole
    /// office regaining Wi-Fi does not arrive in the same millisecond.
    pub online_jitter: Duration,
    /// Upper bound on a server's retry-after hint the engine will honour.
    /// Default 10 min: a hint is a request, not a reason to sleep for a day.
    pub max_retry_after: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            reconnect: ReconnectConfig::default(),
            close: ClosePolicy::default(),
            heartbeat: HeartbeatConfig::default(),
            delivery: DeliveryConfig::default(),
            fallback: FallbackConfig::default(),
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            server_error_budget: 5,
            online_jitter: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Self::default(),
        }
    }

    /// The defaults with a different reconnect policy (e.g.
    /// [`ReconnectConfig::socket_io`]).
    #[must_use]
    pub fn with_reconnect(reconnect: ReconnectConfig) -> Self {
        Self {
            reconnect,
            ..Self::default()
        }
    }

    /// The defaults with acked delivery switched on: what two redial peers (or
    /// a server speaking the envelope) should use.
    #[must_use]
    pub fn reliable() -> Self {
        let mut c = Self::default();
        c.delivery.acks = true;
        c
    }

    /// Checks every field and the relations between them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.reconnect.validate()?;
        self.close.validate()?;
        self.heartbeat.validate()?;
        self.delivery.validate()?;
        self.fallback.validate()?;
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new("connect_timeout", "must be above zero"));
        }
        if self.close_timeout.is_zero() {
            return Err(ConfigError::new("close_timeout", "must be above zero"));
        }
        if self.server_error_budget == 0 {
            return Err(ConfigError::new(
                "server_error_budget",
                "must be at least 1 (override code 1011 as fatal instead)",
            ));
        }
        if self.max_retry_after.is_zero() {
            return Err(ConfigError::new("max_retry_after", "must be above zero"));
        }
        Ok(())
    }
}

/// Builds a [`Config`] field by field; [`build`](Self::build) validates.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Reconnect policy and budget.
    pub fn reconnect(mut self, r: ReconnectConfig) -> Self {
        self.config.reconnect = r;
        self
    }
    /// Give up after this many reconnect attempts.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.reconnect.max_attempts = Some(n);
        self
    }
    /// Close-code policy.
    pub fn close_policy(mut self, p: ClosePolicy) -> Self {
        self.config.close = p;
        self
    }
    /// Heartbeat interval and pong deadline.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.heartbeat.interval = interval;
        self.config.heartbeat.timeout = timeout;
        self
    }
    /// Heartbeat mode (app frames, control frames, off).
    pub fn heartbeat_mode(mut self, mode: HeartbeatMode) -> Self {
        self.config.heartbeat.mode = mode;
        self
    }
    /// Delivery settings.
    pub fn delivery(mut self, d: DeliveryConfig) -> Self {
        self.config.delivery = d;
        self
    }
    /// Switch acked delivery on or off.
    pub fn acks(mut self, on: bool) -> Self {
        self.config.delivery.acks = on;
        self
    }
    /// Fallback settings.
    pub fn fallback(mut self, f: FallbackConfig) -> Self {
        self.config.fallback = f;
        self
    }
    /// Handshake deadline.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }
    /// Closing deadline.
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.config.close_timeout = d;
        self
    }
    /// Validates and returns the config.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Config::reliable().validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let field = |c: ConfigBuilder| c.build().map_err(|e| e.field);
        assert_eq!(
            field(Config::builder().connect_timeout(Duration::ZERO)),
            Err("connect_timeout")
        );
        assert_eq!(
            field(Config::builder().close_timeout(Duration::ZERO)),
            Err("close_timeout")
        );
        assert_eq!(
            field(Config::builder().heartbeat(Duration::from_secs(5), Duration::from_secs(5))),
            Err("heartbeat.timeout")
        );
        let c = Config {
            server_error_budget: 0,
            ..Config::default()
        };
        assert_eq!(
            c.validate().map_err(|e| e.field),
            Err("server_error_budget")
        );
    }

    #[test]
    fn error_message_is_readable() {
        let e = ConfigError::new("backoff.cap", "must be at least backoff.first_window");
        assert_eq!(
            std::format!("{e}"),
            "invalid config: `backoff.cap` must be at least backoff.first_window"
        );
    }
}
