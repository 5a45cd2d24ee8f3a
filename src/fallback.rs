//! When to leave WebSocket for HTTP, and when to try to come back (R1, R13, R25).
//!
//! The seed posts draw the line precisely: only a URL the transport cannot
//! parse is a reason to downgrade at once (`new WebSocket(url)` throws
//! `SyntaxError`); a network loss never is, because the WebSocket handshake is
//! itself an HTTP request, so if the network is down HTTP is down too (R13).
//!
//! Between the two sits the case SockJS exists for: a proxy or firewall that
//! answers the upgrade with a plain HTTP error. The network works, WebSocket
//! does not. After `after_handshake_failures` consecutive refused handshakes
//! (network failures neither count nor reset the streak) the engine
//! downgrades. While on HTTP it can probe WebSocket again every
//! `probe_interval`; a successful probe moves the session back.
//!
//! This machine only counts and keeps the probe deadline; the
//! [`Connection`](crate::Connection) carries out the switch.

use core::time::Duration;

use crate::error::ConfigError;
use crate::io::DowngradeReason;
use crate::time::Instant;

/// Fallback settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FallbackConfig {
    /// Downgrade to HTTP when the WebSocket URL cannot be parsed (R1).
    /// Default `true`: retrying an unparseable URL can never succeed, and the
    /// seed's project kept working over HTTP polling.
    pub on_invalid_url: bool,
    /// Downgrade after this many consecutive refused WebSocket handshakes
    /// (non-101 answers). Default `None` (off): a downgrade only helps when the
    /// server also serves the HTTP fallback, which the engine cannot know.
    /// `Some(3)` is a good value when it does.
    pub after_handshake_failures: Option<u32>,
    /// While on HTTP, try WebSocket again this often. Default `None` (off),
    /// for the same reason; 60 s is reasonable when enabled.
    pub probe_interval: Option<Duration>,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        Self {
            on_invalid_url: true,
            after_handshake_failures: None,
            probe_interval: None,
        }
    }
}

impl FallbackConfig {
    /// Rejects a zero failure count or a zero probe interval.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.after_handshake_failures == Some(0) {
            return Err(ConfigError::new(
                "fallback.after_handshake_failures",
                "must be at least 1 (use None to disable)",
            ));
        }
        if self.probe_interval == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "fallback.probe_interval",
                "must be above zero (use None to disable)",
            ));
        }
        Ok(())
    }
}

/// Fallback state: the refused-handshake streak, whether HTTP is in use, and
/// the next upgrade probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fallback {
    refused: u32,
    active: bool,
    probe_at: Option<Instant>,
    /// The URL cannot be parsed: a WebSocket upgrade can never succeed, so
    /// no probe is ever armed (R1).
    url_invalid: bool,
}

impl Fallback {
    /// WebSocket, no failures counted.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            refused: 0,
            active: false,
            probe_at: None,
            url_invalid: false,
        }
    }

    /// True once the session has moved to HTTP.
    #[must_use]
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The WebSocket URL is unparseable: downgrade, if allowed.
    pub fn on_invalid_url(&mut self, cfg: &FallbackConfig) -> Option<DowngradeReason> {
        if self.active || !cfg.on_invalid_url {
            return None;
        }
        self.active = true;
        self.url_invalid = true;
        Some(DowngradeReason::InvalidUrl)
    }

    /// A WebSocket handshake was refused: count it, downgrade at the threshold.
    pub fn on_handshake_refused(&mut self, cfg: &FallbackConfig) -> Option<DowngradeReason> {
        self.refused = self.refused.saturating_add(1);
        match cfg.after_handshake_failures {
            Some(n) if !self.active && self.refused >= n => {
                self.active = true;
                Some(DowngradeReason::HandshakeFailures {
                    count: self.refused,
                })
            }
            _ => None,
        }
    }

    /// A WebSocket opened: the streak ends and the session is on WebSocket.
    #[inline]
    pub fn on_websocket_open(&mut self) {
        self.refused = 0;
        self.active = false;
        self.probe_at = None;
    }

    /// The HTTP session opened: arm the next upgrade probe, if probing is on.
    pub fn on_http_open(&mut self, now: Instant, cfg: &FallbackConfig) {
        self.probe_at = if self.url_invalid {
            None
        } else {
            cfg.probe_interval.map(|p| now + p)
        };
    }

    /// The HTTP session ended: no probe while it is down.
    #[inline]
    pub fn on_http_close(&mut self) {
        self.probe_at = None;
    }

    /// A probe failed: stay on HTTP; the next probe is armed when HTTP reopens.
    pub fn on_probe_failed(&mut self) {
        self.active = true;
        self.probe_at = None;
    }

    /// When the next upgrade probe is due.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.probe_at
    }

    /// True (once) when the probe deadline has passed: try WebSocket now.
    pub fn poll_probe(&mut self, now: Instant) -> bool {
        match self.probe_at {
            Some(at) if at <= now => {
                self.probe_at = None;
                true
            }
            _ => false,
        }
    }

    /// Refused handshakes in a row.
    #[must_use]
    pub fn refused(&self) -> u32 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_url_downgrades_once() {
        let cfg = FallbackConfig::default();
        let mut f = Fallback::new();
        assert_eq!(f.on_invalid_url(&cfg), Some(DowngradeReason::InvalidUrl));
        assert_eq!(f.on_invalid_url(&cfg), None);
        assert!(f.is_active());
    }

    #[test]
    fn invalid_url_respects_switch() {
        let cfg = FallbackConfig {
            on_invalid_url: false,
            ..FallbackConfig::default()
        };
        assert_eq!(Fallback::new().on_invalid_url(&cfg), None);
    }

    #[test]
    fn handshake_streak_downgrades_at_threshold_and_resets_on_open() {
        let cfg = FallbackConfig {
            after_handshake_failures: Some(3),
            ..FallbackConfig::default()
        };
        let mut f = Fallback::new();
        assert_eq!(f.on_handshake_refused(&cfg), None);
        assert_eq!(f.on_handshake_refused(&cfg), None);
        f.on_websocket_open();
        assert_eq!(f.on_handshake_refused(&cfg), None);
        assert_eq!(f.on_handshake_refused(&cfg), None);
        assert_eq!(
            f.on_handshake_refused(&cfg),
            Some(DowngradeReason::HandshakeFailures { count: 3 })
        );
    }

    #[test]
    fn off_by_default_never_downgrades_on_refusals() {
        let cfg = FallbackConfig::default();
        let mut f = Fallback::new();
        for _ in 0..100 {
            assert_eq!(f.on_handshake_refused(&cfg), None);
        }
    }

    #[test]
    fn probe_fires_once_after_interval() {
        let cfg = FallbackConfig {
            probe_interval: Some(Duration::from_secs(60)),
            ..FallbackConfig::default()
        };
        let mut f = Fallback::new();
        f.on_http_open(Instant::from_millis(1_000), &cfg);
        assert_eq!(f.poll_timeout(), Some(Instant::from_millis(61_000)));
        assert!(!f.poll_probe(Instant::from_millis(60_999)));
        assert!(f.poll_probe(Instant::from_millis(61_000)));
        assert!(!f.poll_probe(Instant::from_millis(90_000)));
    }

    #[test]
    fn validate_names_field() {
        let bad = FallbackConfig {
            after_handshake_failures: Some(0),
            ..FallbackConfig::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.field),
            Err("fallback.after_handshake_failures")
        );
        let bad = FallbackConfig {
            probe_interval: Some(Duration::ZERO),
            ..FallbackConfig::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.field),
            Err("fallback.probe_interval")
        );
    }
}
