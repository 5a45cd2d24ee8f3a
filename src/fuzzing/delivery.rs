//! The `delivery` target: a client and a server engine over a faulty link,
//! each checked after every step, and the total-queue property at the end.
//!
//! The link is one socket pair at a time. Frames travel in order in each
//! direction; the fuzzer picks which direction moves next, and may drop or
//! duplicate the frame at the head, reset the connection (both sides see
//! 1006) or only one half of it (the other side must notice by itself), and
//! let time pass while frames wait. At the end the link heals and the run
//! must settle: every message sent on either side delivered to the other
//! app exactly once, in order (checked at every `Deliver`), nothing left
//! queued.

use core::time::Duration;

use arbitrary::Arbitrary;

use super::{or_panic, FuzzRng, Violation};

mod world;
use crate::config::Config;
use crate::heartbeat::HeartbeatMode;
use world::world;

/// Ops per run before the link heals.
pub const LINK_OPS: usize = 300;
/// Wires a direction holds; data frames beyond it are lost. (Without a
/// cap, a stalled link with heartbeats off grows by a whole window per
/// resend; resends back off (F5, `TESTING.md`) but never stop.)
pub const LINK_CAP: usize = 256;
/// Events the healing phase may take to settle.
pub const HEAL_EVENTS: usize = 20_000;
/// Codes an app may close with here (none is fatal to the other side).
const CODES: [u16; 9] = [1000, 1001, 1011, 1012, 1013, 1014, 3000, 4000, 4001];

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// The two engines' common config knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub struct LinkSetup {
    /// Send cap `1 + n % 16`.
    pub max_queued: u8,
    /// Ack every `1 + n % 8` deliveries.
    pub ack_every: u8,
    /// Heartbeats (5 s / 2 s) on.
    pub heartbeat: bool,
    /// Report overdue after 3 s.
    pub deadline: bool,
    /// Client rng.
    pub client_rng: FuzzRng,
    /// Server rng.
    pub server_rng: FuzzRng,
}

impl LinkSetup {
    fn config(&self) -> Config {
        let mut c = Config::reliable();
        let d = &mut c.delivery;
        d.max_queued = 1 + u32::from(self.max_queued % 16);
        d.ack_every = 1 + u32::from(self.ack_every % 8);
        d.ack_timeout = Duration::from_secs(1);
        d.ack_delay = Duration::from_millis(100);
        d.delivery_deadline = self.deadline.then_some(Duration::from_secs(3));
        let hb = &mut c.heartbeat;
        if self.heartbeat {
            hb.interval = Duration::from_secs(5);
            hb.timeout = Duration::from_secs(2);
            hb.probe_timeout = Duration::from_secs(1);
            hb.late_threshold = Duration::from_millis(500);
        } else {
            hb.mode = HeartbeatMode::Off;
        }
        c.server_error_budget = u32::MAX;
        c
    }
}

/// Which end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum Side {
    /// The dialing engine.
    Client,
    /// The accepting engine.
    Server,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Self::Client => CLIENT,
            Self::Server => SERVER,
        }
    }
}

/// One step of a `delivery` run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum LinkOp {
    /// The app on this side sends one message.
    Send(Side),
    /// … `1 + n % 8` messages.
    SendMany(Side, u8),
    /// The next frame travelling to this side arrives.
    Deliver(Side),
    /// The next frame travelling to this side is lost.
    Drop(Side),
    /// The next frame travelling to this side arrives twice.
    Duplicate(Side),
    /// Everything in flight arrives.
    Flush,
    /// The client's pending handshake completes (the server accepts).
    Handshake,
    /// The client's pending attempt fails.
    Refuse,
    /// The connection resets: both sides see 1006.
    Reset,
    /// Only this side sees the reset (a half-open connection).
    HalfReset(Side),
    /// The app on this side closes with `CODES[n % 9]`.
    Close(Side, u8),
    /// The client app starts (again).
    Start,
    /// Time passes (ms), timers fire on time.
    Advance(u16),
    /// Time passes (s), timers fire on time.
    AdvanceSecs(u8),
    /// Time jumps (ms) and the timers fire late.
    Late(u16),
    /// This side's host goes offline.
    Offline(Side),
    /// This side's host comes back.
    Online(Side),
}

/// The `delivery` target; `Err` on the first broken invariant.
///
/// # Errors
/// The violation.
pub fn try_run_delivery(data: &[u8]) -> Result<(), Violation> {
    check_delivery(data, super::Strict::from_env())
}

/// [`try_run_delivery`] with the strictness given explicitly.
///
/// # Errors
/// The violation.
pub fn check_delivery(data: &[u8], strict: super::Strict) -> Result<(), Violation> {
    world(data, false, strict).1
}

/// Replays a `delivery` input and returns a readable log of every op and
/// every step on both sides, ending with the violation, if any.
#[must_use]
pub fn explain_delivery(data: &[u8]) -> std::string::String {
    let (w, r) = world(data, true, super::Strict::from_env());
    let mut out = w.and_then(|w| w.log).unwrap_or_default();
    if let Err(v) = r {
        out.push_str(&std::format!("{v}\n"));
    }
    out
}

/// The `delivery` target: panics on the first broken invariant.
pub fn run_delivery(data: &[u8]) {
    or_panic(try_run_delivery(data));
}
