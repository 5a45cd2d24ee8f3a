//! Engine-config variants: a schedule also says which knobs differ from
//! [`sim_config`](super::sim_config), so random runs cover the backoff
//! presets, attempt budgets, small queues, short delivery deadlines, the
//! adaptive heartbeat and the HTTP fallback with upgrade probes.

use core::fmt;
use core::time::Duration;

use super::rng::SimRng;
use crate::backoff::ReconnectConfig;
use crate::config::Config;

/// Which reconnect policy the client uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Policy {
    /// [`sim_config`](super::sim_config)'s RFC 6455 policy (500 ms first
    /// window, 4 s cap).
    #[default]
    Sim,
    /// [`ReconnectConfig::socket_io`].
    SocketIo,
    /// [`ReconnectConfig::seed_schedule`] (1, 2, 3, 5, 10, 20 s).
    SeedTable,
    /// [`ReconnectConfig::centrifugo`].
    Centrifugo,
    /// [`ReconnectConfig::phoenix`].
    Phoenix,
    /// [`ReconnectConfig::signalr`]: gives up after four attempts.
    SignalR,
}

/// Knobs that differ from [`sim_config`](super::sim_config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Variant {
    /// Reconnect policy.
    pub policy: Policy,
    /// Reconnect budget (`None`: the policy's own).
    pub max_attempts: Option<u32>,
    /// `reconnect.min_uptime` in ms (`None`: unchanged, 1 s).
    pub min_uptime: Option<u64>,
    /// `delivery.max_queued` (`None`: unchanged, 32).
    pub max_queued: Option<u32>,
    /// `delivery.ack_every` (`None`: unchanged, 8).
    pub ack_every: Option<u32>,
    /// `delivery.delivery_deadline` in ms (`None`: unchanged, 60 s).
    pub deadline: Option<u64>,
    /// Adaptive pong deadline.
    pub adaptive: bool,
    /// Downgrade to HTTP after 2 refused handshakes and probe WebSocket
    /// every 8 s while on HTTP.
    pub http_fallback: bool,
}

impl Variant {
    /// A random variant; about half of the draws change nothing.
    #[must_use]
    pub fn random(rng: &mut SimRng) -> Self {
        if rng.chance(500) {
            return Self::default();
        }
        let policy = match rng.range(0, 5) {
            0 => Policy::SocketIo,
            1 => Policy::SeedTable,
            2 => Policy::Centrifugo,
            3 => Policy::Phoenix,
            4 => Policy::SignalR,
            _ => Policy::Sim,
        };
        Self {
            policy,
            max_attempts: rng
                .chance(200)
                .then(|| u32::try_from(rng.range(1, 6)).unwrap_or(1)),
            min_uptime: rng.chance(300).then(|| rng.range(0, 5_000)),
            max_queued: rng
                .chance(300)
                .then(|| u32::try_from(rng.range(1, 8)).unwrap_or(1)),
            ack_every: rng
                .chance(300)
                .then(|| u32::try_from(rng.range(1, 40)).unwrap_or(1)),
            deadline: rng.chance(300).then(|| rng.range(1, 5_000)),
            adaptive: rng.chance(300),
            http_fallback: rng.chance(300),
        }
    }

    /// Clamps values a config would reject or that would make a run crawl.
    #[must_use]
    pub fn sanitize(mut self) -> Self {
        self.max_queued = self.max_queued.map(|n| n.clamp(1, 4_096));
        self.ack_every = self.ack_every.map(|n| n.clamp(1, 4_096));
        self.deadline = self.deadline.map(|ms| ms.clamp(1, 600_000));
        self.min_uptime = self.min_uptime.map(|ms| ms.min(600_000));
        self
    }

    /// Applies the variant to `c`.
    pub fn apply(&self, c: &mut Config) {
        let keep = c.reconnect;
        c.reconnect = match self.policy {
            Policy::Sim => keep,
            Policy::SocketIo => ReconnectConfig::socket_io(),
            Policy::SeedTable => ReconnectConfig::seed_schedule(),
            Policy::Centrifugo => ReconnectConfig::centrifugo(),
            Policy::Phoenix => ReconnectConfig::phoenix(),
            Policy::SignalR => ReconnectConfig::signalr(),
        };
        if let Some(n) = self.max_attempts {
            c.reconnect.max_attempts = Some(n);
        }
        if let Some(ms) = self.min_uptime {
            c.reconnect.min_uptime = Duration::from_millis(ms);
        }
        if let Some(n) = self.max_queued {
            c.delivery.max_queued = n;
        }
        if let Some(n) = self.ack_every {
            c.delivery.ack_every = n;
        }
        if let Some(ms) = self.deadline {
            c.delivery.delivery_deadline = Some(Duration::from_millis(ms));
        }
        c.heartbeat.adaptive = self.adaptive;
        if self.http_fallback {
            c.fallback.after_handshake_failures = Some(2);
            c.fallback.probe_interval = Some(Duration::from_secs(8));
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}
