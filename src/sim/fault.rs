//! Faults and schedules: what goes wrong, and when.
//!
//! A [`Schedule`] is everything one simulated run depends on besides the
//! engine config: link latencies, the app's send times, the fault list and a
//! few switches. [`Schedule::random`] derives one from a seed, so a failing
//! run is reproduced by its seed alone; a schedule can also be written by hand
//! (regression tests) or built from fuzzer bytes.

use core::fmt;

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Side {
    /// The dialling end.
    Client,
    /// The accepting end.
    Server,
}

impl Side {
    /// The other end.
    #[must_use]
    pub fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }

    /// One letter for traces.
    #[must_use]
    pub fn letter(self) -> char {
        match self {
            Self::Client => 'C',
            Self::Server => 'S',
        }
    }
}

/// A direction of travel on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Dir {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

impl Dir {
    /// The end that receives what travels this way.
    #[must_use]
    pub fn receiver(self) -> Side {
        match self {
            Self::ToServer => Side::Server,
            Self::ToClient => Side::Client,
        }
    }

    /// The direction `side` sends in.
    #[must_use]
    pub fn from(side: Side) -> Self {
        match side {
            Side::Client => Self::ToServer,
            Side::Server => Self::ToClient,
        }
    }

    /// Index 0 (to server) or 1 (to client).
    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Self::ToServer => 0,
            Self::ToClient => 1,
        }
    }
}

/// Which directions a blackhole swallows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Dirs {
    /// Both: the Wi-Fi-drop / NAT-timeout case.
    Both,
    /// Only one: a half-open connection.
    One(Dir),
}

impl Dirs {
    /// Whether `dir` is swallowed.
    #[must_use]
    pub fn has(self, dir: Dir) -> bool {
        match self {
            Self::Both => true,
            Self::One(d) => d == dir,
        }
    }
}

/// One thing that goes wrong (see the module docs of [`crate::sim`] for the
/// exact model of each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Fault {
    /// The next engine frame sent in `dir` (within [`FRAME_FAULT_WINDOW`])
    /// vanishes (stronger than TCP, which
    /// never loses a frame inside a live connection: it exercises retransmit).
    Drop {
        /// Direction.
        dir: Dir,
    },
    /// The next data frame sent in `dir` (within [`FRAME_FAULT_WINDOW`]) goes
    /// out twice (the sender's driver
    /// retransmits, e.g. an HTTP POST retried after a timeout).
    Duplicate {
        /// Direction.
        dir: Dir,
    },
    /// A data frame sent earlier in `dir` (possibly on an older generation)
    /// is sent again on the current one: a duplicate across generations.
    Replay {
        /// Direction.
        dir: Dir,
    },
    /// Frames sent during `dur` ms take `extra` ms longer (order kept).
    Delay {
        /// Added latency, ms.
        extra: u64,
        /// Window length, ms.
        dur: u64,
    },
    /// Every socket alive now, or opened in the next `dur` ms, silently loses
    /// every frame in `dirs`, for good; no close event ever comes.
    Blackhole {
        /// Window for new sockets, ms.
        dur: u64,
        /// Swallowed directions.
        dirs: Dirs,
    },
    /// A middlebox resets every socket: both ends see 1006.
    Reset,
    /// The server process restarts; the session engine survives (persisted),
    /// every socket dies (1006, or a 1012 close frame when `graceful`), and
    /// connects are refused (`ConnectFailed{Network}`) for `down` ms.
    ServerRestart {
        /// Refusing connects for this long, ms.
        down: u64,
        /// Send close 1012 first instead of just dying.
        graceful: bool,
    },
    /// For `dur` ms the server accepts TCP but never answers the upgrade.
    NoHandshake {
        /// Window, ms.
        dur: u64,
    },
    /// For `dur` ms the server answers the upgrade with HTTP `status`
    /// (`ConnectFailed{Handshake}`).
    RejectUpgrade {
        /// Window, ms.
        dur: u64,
        /// HTTP status.
        status: u16,
    },
    /// For `dur` ms every accepted socket is dropped 100 ms after opening.
    Flapping {
        /// Window, ms.
        dur: u64,
    },
    /// The server host closes the live socket with `code`, optionally with a
    /// retry-after hint (ms) in the close reason.
    ServerClose {
        /// Close code sent.
        code: u16,
        /// Retry-after hint, ms.
        hint: Option<u64>,
    },
    /// The client host reports `Offline`, then `Online` after `dur` ms; with
    /// `net_down` the network really is gone meanwhile (a blackhole).
    Offline {
        /// Length, ms.
        dur: u64,
        /// Whether the network is actually down.
        net_down: bool,
    },
    /// `side`'s driver clock jumps by `delta` ms (negative: backwards).
    ClockJump {
        /// Whose clock.
        side: Side,
        /// Jump, ms.
        delta: i64,
    },
    /// `side`'s whole event loop stalls for `dur` ms (a sleeping laptop, a
    /// throttled tab): what happens meanwhile is handled on waking, due
    /// timers first when `timers_first`, else queued events first.
    Freeze {
        /// Who stalls.
        side: Side,
        /// How long, ms.
        dur: u64,
        /// Order on waking.
        timers_first: bool,
    },
    /// The client app closes the session with `code`, and starts it again
    /// `dur` ms later.
    UserPause {
        /// Pause length, ms.
        dur: u64,
        /// Close code (1000 or 4000-4499 style).
        code: u16,
    },
}

/// A `Drop` or `Duplicate` hits the next matching frame sent within this
/// many ms, or nothing.
pub const FRAME_FAULT_WINDOW: u64 = 5_000;

impl Fault {
    /// How long after its start this fault can still have an effect, given
    /// the largest one-way latency `max_latency`.
    #[must_use]
    pub fn span(&self, max_latency: u64) -> u64 {
        let settle = max_latency.saturating_mul(2).saturating_add(100);
        let own = match *self {
            Self::Delay { extra, dur } => dur.saturating_add(extra),
            Self::Blackhole { dur, .. }
            | Self::NoHandshake { dur }
            | Self::RejectUpgrade { dur, .. }
            | Self::Offline { dur, .. }
            | Self::Freeze { dur, .. }
            | Self::UserPause { dur, .. } => dur,
            Self::Flapping { dur } => dur.saturating_add(100),
            Self::Drop { .. } | Self::Duplicate { .. } => FRAME_FAULT_WINDOW,
            Self::ServerRestart { down, .. } => down,
            Self::Replay { .. }
            | Self::Reset
            | Self::ServerClose { .. }
            | Self::ClockJump { .. } => 0,
        };
        own.saturating_add(settle)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Drop { dir } => write!(f, "drop {dir:?}"),
            Self::Duplicate { dir } => write!(f, "duplicate {dir:?}"),
            Self::Replay { dir } => write!(f, "replay {dir:?}"),
            Self::Delay { extra, dur } => write!(f, "delay +{extra}ms for {dur}ms"),
            Self::Blackhole { dur, dirs } => write!(f, "blackhole {dirs:?} for {dur}ms"),
            Self::Reset => f.write_str("reset"),
            Self::ServerRestart { down, graceful } => {
                write!(f, "server restart (down {down}ms, graceful {graceful})")
            }
            Self::NoHandshake { dur } => write!(f, "no handshake for {dur}ms"),
            Self::RejectUpgrade { dur, status } => write!(f, "reject upgrade {status} for {dur}ms"),
            Self::Flapping { dur } => write!(f, "flapping for {dur}ms"),
            Self::ServerClose { code, hint } => write!(f, "server close {code} hint {hint:?}"),
            Self::Offline { dur, net_down } => write!(f, "offline {dur}ms (net down {net_down})"),
            Self::ClockJump { side, delta } => write!(f, "clock jump {side:?} {delta:+}ms"),
            Self::Freeze {
                side,
                dur,
                timers_first,
            } => write!(f, "freeze {side:?} {dur}ms (timers first {timers_first})"),
            Self::UserPause { dur, code } => write!(f, "user close {code}, start after {dur}ms"),
        }
    }
}

/// Link timing: every frame takes `base + uniform[0, jitter]` ms one way; an
/// upgrade request takes `handshake` ms more. Order per socket and direction
/// is always kept (it is TCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct LinkParams {
    /// Fixed one-way latency, ms.
    pub base: u64,
    /// Random extra per frame, ms.
    pub jitter: u64,
    /// Extra for the upgrade request (TCP + TLS setup), ms.
    pub handshake: u64,
}

impl LinkParams {
    /// The longest one-way latency without faults.
    #[must_use]
    pub fn max_latency(&self) -> u64 {
        self.base
            .saturating_add(self.jitter)
            .saturating_add(self.handshake)
    }
}
