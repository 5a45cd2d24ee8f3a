//! The engine a `connection` run starts with.

use core::time::Duration;

use arbitrary::Arbitrary;

use super::super::FuzzRng;
use crate::backoff::ReconnectConfig;
use crate::close::CloseRule;
use crate::config::Config;
use crate::connection::Role;
use crate::heartbeat::HeartbeatMode;

/// Which reconnect preset the engine starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum Preset {
    /// RFC 6455 (the default).
    Rfc6455,
    /// The seed post's 1, 2, 3, 5, 10, 20 s table.
    SeedSchedule,
    /// socket.io-client.
    SocketIo,
    /// SignalR (gives up after four attempts).
    Signalr,
    /// phoenix.js.
    Phoenix,
    /// reconnecting-websocket.
    ReconnectingWebsocket,
    /// centrifuge-js.
    Centrifugo,
    /// graphql-ws (five attempts).
    GraphqlWs,
    /// AWS full jitter, 100 ms base, 10 s cap.
    AwsFullJitter,
    /// AWS decorrelated jitter, 100 ms base, 10 s cap.
    AwsDecorrelated,
}

/// Heartbeat timing for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum HeartbeatSetup {
    /// No heartbeats.
    Off,
    /// The defaults (25 s / 10 s).
    Default,
    /// 5 s interval, 2 s timeout, 1 s probes, 500 ms late threshold.
    Fast {
        /// RTT-adaptive pong deadline.
        adaptive: bool,
        /// Control frames instead of app frames (same timing).
        control: bool,
    },
}

/// The engine a `connection` run starts with: a preset plus a few knobs
/// chosen to reach the caps quickly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub struct ConnSetup {
    /// Server role (accepts, never dials) instead of client.
    pub server: bool,
    /// Reconnect preset.
    pub preset: Preset,
    /// Acked delivery.
    pub acks: bool,
    /// Send buffer cap: `1 + n % 16`, or the default 1024 when `n >= 240`.
    pub max_queued: u8,
    /// Attempt budget (`n % 8`), if any.
    pub max_attempts: Option<u8>,
    /// Heartbeat timing.
    pub heartbeat: HeartbeatSetup,
    /// Downgrade after `1 + n % 3` refused handshakes.
    pub handshake_fallback: Option<u8>,
    /// Upgrade probes every `1 + n` seconds while on HTTP.
    pub probe_secs: Option<u8>,
    /// Do not downgrade on an invalid URL.
    pub no_url_fallback: bool,
    /// One close-code override (dropped if it does not validate).
    pub rule: Option<CloseRule>,
    /// Delivery deadline in ms (at least 1), if any.
    pub deadline_ms: Option<u16>,
    /// 1011 budget: `1 + n % 4`.
    pub budget: u8,
    /// Minimum uptime in ms.
    pub min_uptime_ms: u16,
    /// The engine's random generator.
    pub rng: FuzzRng,
}

impl ConnSetup {
    /// The config this setup describes (always valid).
    #[must_use]
    pub fn config(&self) -> Config {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(10));
        let mut c = Config::with_reconnect(match self.preset {
            Preset::Rfc6455 => ReconnectConfig::rfc6455(),
            Preset::SeedSchedule => ReconnectConfig::seed_schedule(),
            Preset::SocketIo => ReconnectConfig::socket_io(),
            Preset::Signalr => ReconnectConfig::signalr(),
            Preset::Phoenix => ReconnectConfig::phoenix(),
            Preset::ReconnectingWebsocket => ReconnectConfig::reconnecting_websocket(),
            Preset::Centrifugo => ReconnectConfig::centrifugo(),
            Preset::GraphqlWs => ReconnectConfig::graphql_ws(),
            Preset::AwsFullJitter => ReconnectConfig::aws_full_jitter(base, cap),
            Preset::AwsDecorrelated => ReconnectConfig::aws_decorrelated(base, cap),
        });
        c.delivery.acks = self.acks;
        if self.max_queued < 240 {
            c.delivery.max_queued = 1 + u32::from(self.max_queued % 16);
        }
        if let Some(n) = self.max_attempts {
            c.reconnect.max_attempts = Some(u32::from(n % 8));
        }
        c.reconnect.min_uptime = Duration::from_millis(u64::from(self.min_uptime_ms));
        match self.heartbeat {
            HeartbeatSetup::Off => c.heartbeat.mode = HeartbeatMode::Off,
            HeartbeatSetup::Default => {}
            HeartbeatSetup::Fast { adaptive, control } => {
                let hb = &mut c.heartbeat;
                hb.interval = Duration::from_secs(5);
                hb.timeout = Duration::from_secs(2);
                hb.probe_timeout = Duration::from_secs(1);
                hb.min_timeout = Duration::from_millis(300);
                hb.late_threshold = Duration::from_millis(500);
                hb.adaptive = adaptive;
                if control {
                    hb.mode = HeartbeatMode::ControlFrames;
                }
            }
        }
        c.fallback.after_handshake_failures = self.handshake_fallback.map(|n| 1 + u32::from(n % 3));
        c.fallback.probe_interval = self
            .probe_secs
            .map(|s| Duration::from_secs(1 + u64::from(s)));
        c.fallback.on_invalid_url = !self.no_url_fallback;
        c.delivery.delivery_deadline = self
            .deadline_ms
            .map(|ms| Duration::from_millis(u64::from(ms.max(1))));
        c.server_error_budget = 1 + u32::from(self.budget % 4);
        if let Some(rule) = self.rule {
            let with = c.close.with_range(rule.lo, rule.hi, rule.action);
            if let Ok(policy) = with.and_then(|p| p.validate().map(|()| p)) {
                c.close = policy;
            }
        }
        c
    }

    /// Client or server.
    #[must_use]
    pub fn role(&self) -> Role {
        if self.server {
            Role::Server
        } else {
            Role::Client
        }
    }
}
