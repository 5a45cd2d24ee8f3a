//! [`Stats`], the counters an app reads, and [`Counters`], the part of them
//! the engine stores: the round-trip estimate lives in the heartbeat machine
//! and is read from there, not kept twice.

use crate::heartbeat::RttStats;

/// Counters for dashboards and tests. All saturate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `Connect` actions emitted.
    pub connects: u32,
    /// Transports that opened.
    pub opens: u32,
    /// Links declared dead by the heartbeat.
    pub dead_peers: u32,
    /// Connect attempts abandoned at `connect_timeout`.
    pub connect_timeouts: u32,
    /// Events ignored because they named a stale generation (R27).
    pub stale_events: u32,
    /// Frames ignored because no transport was open.
    pub ignored_frames: u32,
    /// `Transmit` actions emitted (first sends and retransmits).
    pub transmits: u64,
    /// Inbound data frames delivered to the app.
    pub delivered: u64,
    /// Inbound data frames discarded as duplicates or gaps.
    pub discarded: u64,
    /// The latest round-trip estimate, if any ping was answered.
    pub rtt: Option<RttStats>,
}

/// What the engine counts itself: [`Stats`] without `rtt` (48 bytes instead
/// of 120 on 64-bit targets). Field meanings are those of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) connects: u32,
    pub(crate) opens: u32,
    pub(crate) dead_peers: u32,
    pub(crate) connect_timeouts: u32,
    pub(crate) stale_events: u32,
    pub(crate) ignored_frames: u32,
    pub(crate) transmits: u64,
    pub(crate) delivered: u64,
    pub(crate) discarded: u64,
}

impl Counters {
    /// The app's view: these counters and the heartbeat's estimate.
    pub(crate) fn with_rtt(self, rtt: Option<RttStats>) -> Stats {
        // Every `Stats` field is named here, so a field added to one struct
        // and not the other fails to build (or, unread, fails `-D warnings`).
        Stats {
            connects: self.connects,
            opens: self.opens,
            dead_peers: self.dead_peers,
            connect_timeouts: self.connect_timeouts,
            stale_events: self.stale_events,
            ignored_frames: self.ignored_frames,
            transmits: self.transmits,
            delivered: self.delivered,
            discarded: self.discarded,
            rtt,
        }
    }
}
