//! One engine and what its driver keeps about it.

use std::collections::BTreeMap;
use std::vec::Vec;

use super::driver::Op;
use super::rng::SimRng;
use crate::connection::Connection;
use crate::io::{ConnId, Input, State};
use crate::outbox::Outbox;
use crate::time::Instant;

/// One engine and its driver's bookkeeping.
pub(super) struct Peer {
    pub(super) engine: Connection<SimRng>,
    pub(super) outbox: Outbox<u64>,
    /// Driver clock = world time + offset (clock-jump faults).
    pub(super) offset: i64,
    /// Message ids by seq - 1.
    pub(super) sent: Vec<u64>,
    /// Message ids the app received, in order.
    pub(super) received: Vec<u64>,
    pub(super) refused: u64,
    pub(super) overdue: u64,
    /// The generation the driver holds for the engine.
    pub(super) live: Option<ConnId>,
    /// Generation number to socket index.
    pub(super) socks: BTreeMap<u32, usize>,
    /// World time of the latest frame on the live generation (or its open).
    pub(super) last_inbound: u64,
    /// `(world deadline, phase)` the engine must leave the phase by.
    pub(super) phase_deadline: Option<(u64, &'static str)>,
    /// Timing checks are off until then (clock jumps).
    pub(super) disturbed_until: u64,
    /// After `Closed`/`Failed` until the app's next `Start`.
    pub(super) stopped: bool,
    pub(super) downgraded: bool,
    /// A retry-after hint the engine holds for its next reconnect.
    pub(super) hint: Option<u64>,
    pub(super) dead_flagged: Option<ConnId>,
    /// The event loop is stalled until then (freeze fault); steps wait in
    /// `backlog`.
    pub(super) frozen_until: u64,
    pub(super) backlog: Vec<Op>,
    /// Pings sent on the live generation since its last inbound frame.
    pub(super) pings: u32,
}

impl Peer {
    pub(super) fn new(engine: Connection<SimRng>) -> Self {
        Self {
            engine,
            outbox: Outbox::new(),
            offset: 0,
            sent: Vec::new(),
            received: Vec::new(),
            refused: 0,
            overdue: 0,
            live: None,
            socks: BTreeMap::new(),
            last_inbound: 0,
            phase_deadline: None,
            disturbed_until: 0,
            stopped: false,
            downgraded: false,
            hint: None,
            dead_flagged: None,
            frozen_until: 0,
            backlog: Vec::new(),
            pings: 0,
        }
    }

    /// The driver's clock at world time `now`.
    pub(super) fn clock(&self, now: u64) -> Instant {
        let t = i128::from(now) + i128::from(self.offset);
        Instant::from_millis(u64::try_from(t.max(0)).unwrap_or(u64::MAX))
    }

    /// The world time at which this driver's clock shows `at`.
    pub(super) fn world_time(&self, at: Instant) -> u64 {
        let t = i128::from(at.as_millis()) - i128::from(self.offset);
        u64::try_from(t.max(0)).unwrap_or(u64::MAX)
    }

    /// The socket of the live generation.
    pub(super) fn live_socket(&self) -> Option<usize> {
        self.live.and_then(|c| self.socks.get(&c.0).copied())
    }

    pub(super) fn owns(input: &Input) -> Option<ConnId> {
        match *input {
            Input::Opened { conn }
            | Input::Closed { conn, .. }
            | Input::ConnectFailed { conn, .. }
            | Input::Message { conn, .. }
            | Input::RetryAfter { conn, .. } => Some(conn),
            _ => None,
        }
    }
}

pub(super) fn is_open(state: State) -> bool {
    matches!(state, State::Open | State::Fallback)
}
