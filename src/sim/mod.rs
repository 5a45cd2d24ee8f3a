//! Deterministic simulation: a client engine and a server engine over a
//! simulated, faulty link, with the invariants of DESIGN.md checked at every
//! step (feature `sim`).
//!
//! ```
//! use redial::sim::{run, Mix, Params, Schedule};
//!
//! let outcome = run(&Schedule::random(7, Mix::Lifecycle), &Params::default());
//! assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
//! assert_eq!(outcome.to_server.lost + outcome.to_client.lost, 0);
//! ```
//!
//! # Time
//!
//! Virtual milliseconds. The loop always jumps to the earliest of: the next
//! scheduled event (a frame arriving, a fault, an app send) and each engine's
//! `poll_timeout()`. Nothing sleeps, so an hour of virtual time with a few
//! hundred events runs in microseconds. Each driver's clock is world time plus
//! an offset that clock-jump faults move (the engine must clamp backwards
//! steps and survive forward leaps).
//!
//! # The driver
//!
//! Each engine is driven exactly as a real driver would drive it:
//!
//! * `Connect{conn, transport}` opens a socket; the upgrade request travels to
//!   the server, which `accept`s (a new server generation) and answers `101`;
//!   its arrival is the client's `Opened{conn}`. A server that is down answers
//!   with a reset (`ConnectFailed{Network}`), one that rejects the upgrade
//!   with an HTTP status (`ConnectFailed{Handshake}`), one that hangs never
//!   answers (the client's connect timeout must fire).
//! * `Transmit{seq}` sends the payload the [`Outbox`](crate::Outbox) holds
//!   for `seq` (the app's message id); `Ack`, `Resume`, `SendPing`,
//!   `SendPong` become the matching frames. An arriving frame is
//!   `Message{conn, frame}`; `Deliver` hands the frame's message id to the app.
//! * `Close{conn, code}` sends a close frame (the driver keeps the socket);
//!   the peer's transport answers with its own close frame and reports
//!   `Closed{conn, code}`; the echo's arrival is our `Closed`. A close the
//!   *server host* starts (restart, kick) is reported to the server engine at
//!   once.
//! * `Abandon{conn}` drops the socket silently: the peer sees end-of-stream
//!   (1006) unless a close frame went first. With `late_events`, the dropped
//!   socket may still produce a late `onclose`, `onopen`, connect error or
//!   frame (any kind), which the engine must ignore.
//! * The client app presses Start again [`Params::restart_delay`] after
//!   `Failed`, after a `Closed` it did not ask for, and after a "stop" close
//!   (1000) left the session `Idle`: a send in that state is buffered but never
//!   dials (only a lazy 1001 `Idle` dials on send).
//!
//! # Faults (see [`Fault`])
//!
//! * **Drop**: the next engine frame in one direction (within
//!   [`FRAME_FAULT_WINDOW`]) vanishes. TCP never does this inside a live
//!   connection; it is a stronger adversary that exercises retransmit (R17),
//!   resume and the gap rule.
//! * **Duplicate / Replay**: TCP never duplicates either, so duplicates are
//!   modelled as the *sender* transmitting a data frame again: `Duplicate`
//!   sends the next data frame twice on the same socket (an HTTP POST retried),
//!   `Replay` re-sends an earlier data frame, possibly from an older
//!   generation, on the live socket (a duplicate across reconnects). The
//!   copy always carries the same payload as the original seq.
//! * **Delay**: frames sent in a window take longer; order is kept.
//! * **Blackhole**: every socket alive in the window (and every socket opened
//!   during it) loses everything in one or both directions, for good, with no
//!   close event ever (the Wi-Fi drop; one direction = half-open).
//! * **Reset**: every socket dies; both ends see 1006.
//! * **ServerRestart**: the server engine and its outbox survive (persisted
//!   sessions); every socket dies with a reset (or a 1012 close frame when
//!   graceful) and the server engine hears `Closed` at once; for `down` ms
//!   connects are refused. **NoHandshake**, **RejectUpgrade** (WebSocket
//!   only: plain HTTP still passes), **Flapping** (accepted sockets die
//!   100 ms after opening) change how the server host answers upgrades for a
//!   while.
//! * **ServerClose**: the server host closes the live socket with a code
//!   (1000, 1001, 1008, 1011–1014, 3000, 4001, 4500), optionally with a
//!   retry-after hint the client driver feeds as `RetryAfter` before `Closed`.
//! * **Offline**: `Offline` then `Online`; with `net_down` the network is
//!   really gone (a blackhole) in between.
//! * **ClockJump**: a driver clock leaps forward or steps back.
//! * **Freeze**: one side's event loop stalls (a sleeping laptop, a throttled
//!   tab); on waking it handles the backlog, due timers first or last.
//! * **UserPause**: the app closes (`Close{code}`) and starts again later.
//! * **Invalid URL** ([`Schedule::invalid_url`]): every WebSocket connect
//!   fails with `InvalidUrl` at once; the engine must downgrade and dial HTTP
//!   only (which the simulated link carries the same way).
//!
//! A schedule also carries a [`Variant`] of the engine config (backoff
//! presets, attempt budgets, small queues, short delivery deadlines, the
//! adaptive heartbeat, HTTP fallback with upgrade probes).
//!
//! # Properties (see [`Property`])
//!
//! Checked after every engine step: the engine's live generation equals the
//! driver's (every forgotten generation was reported closed or abandoned; a
//! heartbeat close is always followed by its `Abandon`), no `Connect` while
//! one is live or after `Closed`/`Failed` before `Start`, no action on a dead
//! generation, stale events change nothing, at most one ping outstanding,
//! queue depth `<= max_queued` and equal to what the outbox holds,
//! `poll_action` drains within `2 * max_queued + 64` actions,
//! `poll_timeout() >= now` and a `Timeout` at that deadline moves it, every
//! `ReconnectAfter` within the policy's `bounds(attempt, _)` (or the close
//! code's window, the server's retry-after hint, the online jitter), downgrade
//! only for an invalid URL (or refused handshakes, when configured) and no
//! WebSocket dial after an invalid-URL downgrade. Checked as time passes: a
//! generation open with no inbound frame for `interval + timeout + 1` ms is a
//! dead-peer violation; a `Connecting`/`Closing`/`Waiting` phase must end by
//! its deadline (both suspended after clock jumps and freezes). After the
//! faults end (plus one heartbeat verdict and one ack timeout), the client
//! must reach a healthy `Open` (both ends on the same socket, both directions
//! working) within restart delay + the longest phase deadline + the longest
//! wait any policy, close code or hint allows + four link latencies (+ any
//! backward clock jump or freeze), and stay there. At the end: the
//! total-queue check per direction (lost, duplicated, reordered, phantom all
//! zero) and nothing still queued.

mod check;
mod driver;
mod fault;
mod host;
mod net;
mod peer;
mod props;
mod rng;
mod schedule;
mod sweep;
mod transport;
mod variant;
mod world;

#[cfg(test)]
mod tests;

use core::time::Duration;
use std::vec::Vec;

pub use check::{account, Flow, Property, Violation};
pub use fault::{Dir, Dirs, Fault, LinkParams, Side, FRAME_FAULT_WINDOW};
pub use net::Wire;
pub use rng::SimRng;
pub use schedule::{Mix, Schedule};
pub use sweep::{
    explain, first_seed_from_env, schedules_from_env, sweep, threads_from_env, Failure, Sweep,
    MAX_FAILURES,
};
pub use variant::{Policy, Variant};

use crate::backoff::{BackoffPolicy, ReconnectConfig};
use crate::config::Config;
use crate::heartbeat::HeartbeatConfig;

/// The engine config the simulations use: [`Config::reliable`] with short
/// timers so a run covers many reconnects in little virtual time.
///
/// Heartbeat 2 s / 1 s (probe 500 ms), RFC 6455 backoff with a 500 ms first
/// window and a 4 s cap, 1 s uptime gate, connect timeout 2 s, close timeout
/// 1 s, ack timeout 1 s, ack delay 50 ms, at most 32 queued messages (so
/// outages hit the cap), delivery deadline 60 s, online jitter 300 ms. The
/// close policy keeps its defaults (1012: 5–30 s, 1013: at least 10 s).
#[must_use]
pub fn sim_config() -> Config {
    let mut c = Config::reliable();
    c.heartbeat = HeartbeatConfig {
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        min_timeout: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(500),
        ..HeartbeatConfig::default()
    };
    c.reconnect = ReconnectConfig {
        policy: BackoffPolicy::Rfc6455 {
            first_window: Duration::from_millis(500),
            cap: Duration::from_secs(4),
        },
        max_attempts: None,
        min_uptime: Duration::from_secs(1),
    };
    c.connect_timeout = Duration::from_secs(2);
    c.close_timeout = Duration::from_secs(1);
    c.delivery.ack_timeout = Duration::from_secs(1);
    // Resends back off 1, 2, 4, 8 s (F5): lost frames on a live link are
    // still resent well inside the schedules' settling margins.
    c.delivery.max_ack_timeout = Duration::from_secs(8);
    c.delivery.ack_delay = Duration::from_millis(50);
    c.delivery.ack_every = 8;
    c.delivery.max_queued = 32;
    c.delivery.delivery_deadline = Some(Duration::from_secs(60));
    c.online_jitter = Duration::from_millis(300);
    c
}

/// How to run a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Engine config for both ends. Default [`sim_config`].
    pub config: Config,
    /// The client app presses Start this long after `Failed` (or a `Closed`
    /// it did not ask for). Default 2 s.
    pub restart_delay: u64,
    /// Record a trace (one line per input, action and fault). Default off:
    /// turn it on to replay a failing seed.
    pub trace: bool,
    /// Stop a run after this many world steps. Default 2,000,000.
    pub max_steps: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            config: sim_config(),
            restart_delay: 2_000,
            trace: false,
            max_steps: 2_000_000,
        }
    }
}

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// World time the run ended, ms.
    pub end: u64,
    /// World steps taken (events and timer firings).
    pub steps: u64,
    /// Client `Connect`s.
    pub connects: u32,
    /// Client transports opened.
    pub opens: u32,
    /// Client `Connect`s asking for HTTP (after a downgrade).
    pub http_connects: u32,
    /// Client connect attempts abandoned at the connect timeout.
    pub connect_timeouts: u32,
    /// Dead links found by heartbeats, both ends.
    pub dead_peers: u32,
    /// Dead links found by the server's heartbeat (R16).
    pub server_dead_peers: u32,
    /// Longest time from the last inbound frame to a heartbeat close (4000).
    pub max_dead_detect: u64,
    /// Stale events the engines ignored, both ends.
    pub stale_events: u64,
    /// Time from the end of the faults to a healthy session, ms.
    pub recovery: Option<u64>,
}

/// What one run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Every property violation (at most 16), in order.
    pub violations: Vec<Violation>,
    /// Client-to-server accounting.
    pub to_server: Flow,
    /// Server-to-client accounting.
    pub to_client: Flow,
    /// Counters.
    pub stats: RunStats,
    /// The trace, if [`Params::trace`] was set.
    pub trace: Vec<std::string::String>,
}

/// Runs `schedule` to completion and reports what broke. A config that does
/// not validate is reported as a single [`Property::Driver`] violation.
#[must_use]
pub fn run(schedule: &Schedule, params: &Params) -> Outcome {
    let mut params = *params;
    schedule.variant.apply(&mut params.config);
    match world::Sim::new(schedule, &params) {
        Ok(sim) => sim.run(),
        Err(e) => Outcome {
            violations: std::vec![Violation {
                at: 0,
                property: Property::Driver,
                detail: std::format!("{e}"),
            }],
            to_server: Flow::default(),
            to_client: Flow::default(),
            stats: RunStats::default(),
            trace: Vec::new(),
        },
    }
}
