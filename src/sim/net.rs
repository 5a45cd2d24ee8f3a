//! The simulated link: sockets, what travels on them, and how long it takes.
//!
//! Each socket is one TCP connection carrying one transport generation. Per
//! socket and direction frames arrive in the order sent (arrival times never
//! decrease), because that is what TCP guarantees; faults act on whole frames
//! (see [`crate::sim`] for the exact rules).

use std::vec::Vec;

use super::fault::{Dir, LinkParams, Side};
use super::rng::SimRng;
use crate::delivery::DataId;
use crate::io::{ConnId, Frame, Transport};

/// What travels on a simulated socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// The client's HTTP upgrade request.
    Upgrade,
    /// The server's `101 Switching Protocols`.
    Accepted,
    /// The server's refusal of the upgrade with an HTTP status.
    Rejected {
        /// HTTP status.
        status: u16,
    },
    /// Application data: the engine's seq and the app's message id.
    Data {
        /// Delivery seq.
        seq: u64,
        /// Message id (the "payload").
        msg: u64,
    },
    /// Cumulative ack.
    Ack {
        /// Mark.
        upto: u64,
    },
    /// Resume after reconnect.
    Resume {
        /// Mark.
        last: u64,
    },
    /// Heartbeat ping.
    Ping {
        /// Nonce.
        nonce: u64,
    },
    /// Heartbeat pong.
    Pong {
        /// Nonce.
        nonce: u64,
    },
    /// A close frame, with an optional retry-after hint (ms) in its reason.
    Close {
        /// Close code.
        code: u16,
        /// Retry-after hint, ms.
        hint: Option<u64>,
    },
    /// End of stream without a close frame (the peer dropped its socket).
    Eof,
    /// TCP reset.
    Reset,
}

impl Wire {
    /// The engine frame this carries, if it is one.
    #[must_use]
    pub fn frame(&self) -> Option<Frame> {
        match *self {
            Self::Data { seq, .. } => Some(Frame::Data(DataId::Seq(seq))),
            Self::Ack { upto } => Some(Frame::Ack { upto }),
            Self::Resume { last } => Some(Frame::Resume { last }),
            Self::Ping { nonce } => Some(Frame::Ping { nonce }),
            Self::Pong { nonce } => Some(Frame::Pong { nonce }),
            _ => None,
        }
    }
}

/// One end of a socket, as its driver sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct End {
    /// The engine generation at this end (the server's only after accept).
    pub conn: Option<ConnId>,
    /// The driver still holds the socket and reports its events.
    pub alive: bool,
    /// Client: the `101` arrived. Server: accepted.
    pub opened: bool,
    /// A close frame went out from this end.
    pub close_sent: bool,
    /// Dropped by an `Abandon` action.
    pub abandoned: bool,
}

/// One simulated TCP connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    /// Which transport the client asked for.
    pub transport: Transport,
    /// Client end, then server end.
    pub ends: [End; 2],
    /// Directions that silently lose everything (blackholed), by `Dir::index`.
    pub broken: [bool; 2],
    /// The server took the TCP connection but never answers the upgrade.
    pub hung: bool,
    /// Latest arrival scheduled per direction (keeps TCP order).
    pub last_arrival: [u64; 2],
}

impl Socket {
    /// The end at `side`.
    #[must_use]
    pub fn end(&self, side: Side) -> &End {
        match side {
            Side::Client => &self.ends[0],
            Side::Server => &self.ends[1],
        }
    }

    /// The end at `side`, mutably.
    pub fn end_mut(&mut self, side: Side) -> &mut End {
        match side {
            Side::Client => &mut self.ends[0],
            Side::Server => &mut self.ends[1],
        }
    }

    /// Whether `dir` loses everything.
    #[must_use]
    pub fn is_broken(&self, dir: Dir) -> bool {
        match dir {
            Dir::ToServer => self.broken[0],
            Dir::ToClient => self.broken[1],
        }
    }
}

/// The link: every socket ever opened, latency draws and pending
/// frame-level faults.
#[derive(Clone, Debug)]
pub struct Link {
    /// Timing.
    pub params: LinkParams,
    /// All sockets, by index.
    pub sockets: Vec<Socket>,
    rng: SimRng,
    /// `(start, end, extra)`: frames sent in `[start, end)` take `extra` more.
    delays: Vec<(u64, u64, u64)>,
    /// Engine frames still to drop, per direction, if sent before the
    /// window ends: `(count, until)`.
    pub pending_drop: [(u32, u64); 2],
    /// Data frames still to send twice, per direction: `(count, until)`.
    pub pending_dup: [(u32, u64); 2],
    /// Data frames sent so far per direction (the last 64), for replays.
    pub history: [Vec<(u64, u64)>; 2],
}

impl Link {
    /// A link with no sockets.
    #[must_use]
    pub fn new(params: LinkParams, rng: SimRng) -> Self {
        Self {
            params,
            sockets: Vec::new(),
            rng,
            delays: Vec::new(),
            pending_drop: [(0, 0); 2],
            pending_dup: [(0, 0); 2],
            history: [Vec::new(), Vec::new()],
        }
    }

    /// Opens a socket for client generation `conn`; returns its index.
    pub fn open(&mut self, conn: ConnId, transport: Transport, broken: [bool; 2]) -> usize {
        let client = End {
            conn: Some(conn),
            alive: true,
            ..End::default()
        };
        self.sockets.push(Socket {
            transport,
            ends: [client, End::default()],
            broken,
            hung: false,
            last_arrival: [0; 2],
        });
        self.sockets.len().saturating_sub(1)
    }

    /// Arms one more drop (or duplicate, `dup`) in `dir` for frames sent
    /// before `until`.
    pub fn arm(&mut self, dir: Dir, dup: bool, until: u64) {
        let slot = if dup {
            self.pending_dup.get_mut(dir.index())
        } else {
            self.pending_drop.get_mut(dir.index())
        };
        if let Some((n, u)) = slot {
            *n = n.saturating_add(1);
            *u = (*u).max(until);
        }
    }

    /// Frames sent in `[start, end)` take `extra` ms longer.
    pub fn add_delay(&mut self, start: u64, end: u64, extra: u64) {
        self.delays.push((start, end, extra));
    }

    /// Puts `wire` on socket `sock` in `dir` at `now`, applying drop and
    /// duplicate faults; returns the arrival time of each copy (none if the
    /// frame was dropped). `extra` is added latency (the upgrade's handshake).
    pub fn send(&mut self, now: u64, sock: usize, dir: Dir, wire: Wire, extra: u64) -> Vec<u64> {
        let d = dir.index();
        let mut copies = 1;
        if wire.frame().is_some() && take(self.pending_drop.get_mut(d), now) {
            return Vec::new();
        }
        if let Wire::Data { seq, msg } = wire {
            if let Some(h) = self.history.get_mut(d) {
                if h.len() >= 64 {
                    h.remove(0);
                }
                h.push((seq, msg));
            }
            if take(self.pending_dup.get_mut(d), now) {
                copies = 2;
            }
        }
        let spike: u64 = self
            .delays
            .iter()
            .filter(|(s, e, _)| (*s..*e).contains(&now))
            .map(|(_, _, x)| *x)
            .max()
            .unwrap_or(0);
        let mut out = Vec::with_capacity(copies);
        for _ in 0..copies {
            let latency = self
                .params
                .base
                .saturating_add(self.rng.range(0, self.params.jitter))
                .saturating_add(spike)
                .saturating_add(extra);
            let Some(socket) = self.sockets.get_mut(sock) else {
                return out;
            };
            let Some(last) = socket.last_arrival.get_mut(d) else {
                return out;
            };
            let at = now.saturating_add(latency).max(*last);
            *last = at;
            out.push(at);
        }
        out
    }

    /// A one-way latency draw (for events that do not travel on a socket).
    pub fn latency(&mut self) -> u64 {
        self.params
            .base
            .saturating_add(self.rng.range(0, self.params.jitter))
    }
}

/// Consumes one armed fault if its window is still open (an expired window
/// is cleared).
fn take(slot: Option<&mut (u32, u64)>, now: u64) -> bool {
    let Some((n, until)) = slot else {
        return false;
    };
    if now >= *until {
        *n = 0;
    }
    if *n == 0 {
        return false;
    }
    *n = n.saturating_sub(1);
    true
}
