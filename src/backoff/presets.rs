//! [`ReconnectConfig`] and the presets that reproduce popular libraries.

use core::time::Duration;

use crate::error::ConfigError;

use super::policy::{AfterSchedule, BackoffPolicy, CapOrder, Jitter, Schedule};

/// Reconnect settings: the delay policy, the attempt budget and the uptime gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ReconnectConfig {
    /// How each delay is drawn. Default: `Rfc6455 { first_window: 5 s, cap: 30 s }`,
    /// the RFC's recommendation (see the module docs), capped at 30 s so a
    /// recovered server is found again within half a minute.
    pub policy: BackoffPolicy,
    /// Attempts allowed since the last reset before giving up; `None` = unlimited.
    /// Default: `None`, because the engine also has an online/offline gate and
    /// a long-lived session should come back whenever the server does; `Some(0)`
    /// disables reconnection.
    pub max_attempts: Option<u32>,
    /// How long a connection must stay open before the attempt counter resets.
    /// Default: 5 s (reconnecting-websocket's `minUptime`): long enough that a
    /// server which accepts and immediately drops keeps seeing growing delays,
    /// short enough that a healthy reconnect starts the next outage fresh.
    pub min_uptime: Duration,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self::rfc6455()
    }
}

pub(super) const fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Shorthand for the presets: an exponential policy in whole milliseconds.
const fn exponential(
    initial: u64,
    factor: u32,
    max: u64,
    jitter: Jitter,
    order: CapOrder,
) -> BackoffPolicy {
    BackoffPolicy::Exponential {
        initial: ms(initial),
        factor_permille: factor,
        max: ms(max),
        jitter,
        cap_order: order,
    }
}

/// Shorthand for the presets.
const fn preset(
    policy: BackoffPolicy,
    max_attempts: Option<u32>,
    min_uptime: u64,
) -> ReconnectConfig {
    ReconnectConfig {
        policy,
        max_attempts,
        min_uptime: ms(min_uptime),
    }
}

impl ReconnectConfig {
    /// Rejects unusable settings; field paths are `reconnect.*`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy.validate()
    }

    /// RFC 6455 §7.2.3 (= [`Default`]): uniform `[0, 5 s]`, then
    /// uniform `[0, min(30 s, 5 s · 2^(n-1))]`; unlimited attempts; 5 s uptime gate.
    #[must_use]
    pub const fn rfc6455() -> Self {
        let policy = BackoffPolicy::Rfc6455 {
            first_window: ms(5_000),
            cap: ms(30_000),
        };
        preset(policy, None, 5_000)
    }

    /// The seed post's table: 1, 2, 3, 5, 10, 20 s, then 20 s forever, no
    /// jitter (add some with [`Schedule::with_jitter`]); 5 s uptime gate.
    #[must_use]
    pub fn seed_schedule() -> Self {
        let table = [1_000, 2_000, 3_000, 5_000, 10_000, 20_000];
        let schedule = Schedule::from_millis(&table, AfterSchedule::RepeatLast);
        preset(BackoffPolicy::Schedule(schedule), None, 5_000)
    }

    /// socket.io-client defaults: `reconnectionDelay` 1000, `reconnectionDelayMax`
    /// 5000, `randomizationFactor` 0.5, `reconnectionAttempts` Infinity, fed to
    /// backo2 (factor 2). backo2 computes `ms = 1000 · 2^(n-1)`, moves it by
    /// `±floor(rand · 0.5 · ms)`, and only then caps: `min(ms, 5000)`. So attempt
    /// `n` lies in `[500·2^(n-1), 1500·2^(n-1)]` capped at 5 s (jitter, then cap).
    /// backo2 draws the sign from the same random number as the size; we draw
    /// uniformly over the same window. Socket.IO resets on every successful
    /// reconnect, hence `min_uptime` 0.
    /// Source: socket.io-client `lib/manager.ts` (constructor defaults) and backo2.
    #[must_use]
    pub const fn socket_io() -> Self {
        let jitter = Jitter::Proportional { permille: 500 };
        preset(
            exponential(1_000, 2_000, 5_000, jitter, CapOrder::AfterJitter),
            None,
            0,
        )
    }

    /// @microsoft/signalr `withAutomaticReconnect()` with no argument: waits 0,
    /// 2000, 10000, 30000 ms before attempts 1..4, then stops (its default table
    /// ends in `null`). The retry count restarts with each reconnect, hence
    /// `min_uptime` 0. Source: `DefaultReconnectPolicy.ts`.
    #[must_use]
    pub fn signalr() -> Self {
        let schedule = Schedule::from_millis(&[0, 2_000, 10_000, 30_000], AfterSchedule::GiveUp);
        preset(BackoffPolicy::Schedule(schedule), None, 0)
    }

    /// phoenix.js `Socket` default `reconnectAfterMs`:
    /// `[10, 50, 100, 150, 200, 250, 500, 1000, 2000][tries - 1] || 5000`, no jitter,
    /// unlimited. The timer is reset when the socket opens, hence `min_uptime` 0.
    /// Source: phoenix `assets/js/phoenix/socket.js`.
    #[must_use]
    pub fn phoenix() -> Self {
        let table = [10, 50, 100, 150, 200, 250, 500, 1_000, 2_000];
        let schedule = Schedule::from_millis(&table, AfterSchedule::Fixed(ms(5_000)));
        preset(BackoffPolicy::Schedule(schedule), None, 0)
    }

    /// reconnecting-websocket defaults: `minReconnectionDelay = 1000 + Math.random()
    /// · 4000`, `reconnectionDelayGrowFactor` 1.3, `maxReconnectionDelay` 10000,
    /// `minUptime` 5000, `maxRetries` Infinity. Retry `n` waits
    /// `min(10000, minReconnectionDelay · 1.3^(n-1))`, i.e. `1000·1.3^(n-1) · [1, 5]`
    /// capped at 10 s (jitter, then cap). The library draws the random base once
    /// per page load; we draw it per attempt, so each attempt's window matches
    /// but successive attempts are not correlated. The retry count resets only
    /// after `minUptime`. Source: reconnecting-websocket `reconnecting-websocket.ts`.
    #[must_use]
    pub const fn reconnecting_websocket() -> Self {
        let jitter = Jitter::Scaled {
            lo_permille: 1_000,
            hi_permille: 5_000,
        };
        preset(
            exponential(1_000, 1_300, 10_000, jitter, CapOrder::AfterJitter),
            None,
            5_000,
        )
    }

    /// centrifuge-js defaults: `minReconnectDelay` 500, `maxReconnectDelay` 20000,
    /// `backoff(step, min, max) = min(max, min + randomInt(0, min(max, min · 2^step)))`
    /// with `step = n - 1` (full jitter above a 500 ms floor, capped before and
    /// after). Unlimited attempts; the count resets on a connect reply, hence
    /// `min_uptime` 0. Source: centrifuge-js `src/utils.ts`, `src/centrifuge.ts`.
    #[must_use]
    pub const fn centrifugo() -> Self {
        let jitter = Jitter::FullPlus { offset: ms(500) };
        preset(
            exponential(500, 2_000, 20_000, jitter, CapOrder::BeforeAndAfter),
            None,
            0,
        )
    }

    /// graphql-ws `createClient` defaults: `retryAttempts` 5 and `retryWait` =
    /// `1000 · 2^retries + floor(Math.random() · 2700 + 300)` ms with `retries`
    /// starting at 0, i.e. attempt `n` lies in `[1000·2^(n-1) + 300, 1000·2^(n-1) + 2999]`.
    /// graphql-ws has no cap (its 5-attempt budget bounds it), so `max` is
    /// `u64::MAX` ms. Retries reset on `ConnectionAck`, hence `min_uptime` 0.
    /// Source: graphql-ws `src/client.ts`.
    #[must_use]
    pub const fn graphql_ws() -> Self {
        let jitter = Jitter::Additive {
            min: ms(300),
            max: ms(2_999),
        };
        let order = CapOrder::BeforeJitter;
        preset(
            exponential(1_000, 2_000, u64::MAX, jitter, order),
            Some(5),
            0,
        )
    }

    /// AWS "Exponential Backoff and Jitter", Full Jitter:
    /// `sleep = random_between(0, min(cap, base · 2^attempt))`, the blog's
    /// `attempt` being our `n - 1` (cap, then jitter). Unlimited; 5 s uptime gate.
    #[must_use]
    pub const fn aws_full_jitter(base: Duration, cap: Duration) -> Self {
        let (jitter, cap_order) = (Jitter::Full, CapOrder::BeforeJitter);
        let policy = BackoffPolicy::Exponential {
            initial: base,
            factor_permille: 2_000,
            max: cap,
            jitter,
            cap_order,
        };
        preset(policy, None, 5_000)
    }

    /// AWS "Exponential Backoff and Jitter", Decorrelated Jitter:
    /// `sleep = min(cap, random_between(base, sleep · 3))`, starting from
    /// `sleep = base`. Unlimited attempts; 5 s uptime gate.
    #[must_use]
    pub const fn aws_decorrelated(base: Duration, cap: Duration) -> Self {
        preset(BackoffPolicy::Decorrelated { base, cap }, None, 5_000)
    }
}
