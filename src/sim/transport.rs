//! Sockets as the two hosts' network stacks see them: putting frames on the
//! link, and what an arriving frame means to the receiving driver.

use core::time::Duration;

use super::driver::Op;
use super::fault::{Dir, Side};
use super::net::Wire;
use super::world::{Ev, Sim};
use crate::close;
use crate::delivery::DataId;
use crate::io::{ConnId, ConnectError, Frame, Input};

impl Sim {
    /// Sends `wire` on socket `sock` in `dir` now (through the fault filters).
    pub(super) fn send_wire(&mut self, sock: usize, dir: Dir, wire: Wire) {
        let extra = if wire == Wire::Upgrade {
            self.link.params.handshake
        } else {
            0
        };
        for at in self.link.send(self.now, sock, dir, wire, extra) {
            self.push(
                at,
                Ev::Arrive {
                    sock,
                    dir,
                    wire,
                    force: false,
                },
            );
        }
    }

    /// The end at `side` of socket `sock`, mutably.
    pub(super) fn end_mut(&mut self, sock: usize, side: Side) -> Option<&mut super::net::End> {
        self.link.sockets.get_mut(sock).map(|s| s.end_mut(side))
    }

    pub(super) fn arrive(&mut self, sock: usize, dir: Dir, wire: Wire, force: bool) {
        let to = dir.receiver();
        let Some(s) = self.link.sockets.get_mut(sock) else {
            return;
        };
        if !force && s.is_broken(dir) {
            self.note(&std::format!(
                "   (vanished on socket {sock}: {wire:?} {dir:?})"
            ));
            return;
        }
        if wire == Wire::Upgrade {
            return self.upgrade(sock);
        }
        let end = *s.end(to);
        if !end.alive {
            if to == Side::Server && matches!(wire, Wire::Eof | Wire::Reset) {
                s.hung = false;
            }
            return;
        }
        let Some(conn) = end.conn else {
            return;
        };
        let gone = |sim: &mut Self| {
            if let Some(e) = sim.end_mut(sock, to) {
                e.alive = false;
            }
        };
        let failed_or_closed = |code: u16| {
            if to == Side::Client && !end.opened {
                Input::ConnectFailed {
                    conn,
                    error: ConnectError::Network,
                }
            } else {
                Input::Closed { conn, code }
            }
        };
        let input = match wire {
            Wire::Upgrade => return,
            Wire::Accepted => {
                if end.opened {
                    return;
                }
                if let Some(e) = self.end_mut(sock, to) {
                    e.opened = true;
                }
                Input::Opened { conn }
            }
            Wire::Rejected { status } => {
                gone(self);
                Input::ConnectFailed {
                    conn,
                    error: ConnectError::Handshake {
                        status: Some(status),
                    },
                }
            }
            Wire::Close { code, hint } => {
                gone(self);
                if !end.close_sent {
                    // The transport answers a close frame by itself.
                    if let Some(e) = self.end_mut(sock, to) {
                        e.close_sent = true;
                    }
                    self.send_wire(sock, Dir::from(to), Wire::Close { code, hint: None });
                }
                if let (Side::Client, Some(h)) = (to, hint) {
                    let after = Duration::from_millis(h);
                    self.step(to, Op::Input(Input::RetryAfter { conn, after }));
                }
                failed_or_closed(code)
            }
            Wire::Eof | Wire::Reset => {
                gone(self);
                failed_or_closed(crate::close::code::ABNORMAL)
            }
            Wire::Data { .. }
            | Wire::Ack { .. }
            | Wire::Resume { .. }
            | Wire::Ping { .. }
            | Wire::Pong { .. } => {
                let Some(frame) = wire.frame() else {
                    return;
                };
                if !end.opened {
                    return;
                }
                let now = self.now;
                let p = self.peer_mut(to);
                if p.live == Some(conn) {
                    p.last_inbound = now;
                    p.pings = 0;
                }
                if let Wire::Data { seq, msg } = wire {
                    return self.step(to, Op::Data(conn, frame, seq, msg));
                }
                Input::Message { conn, frame }
            }
        };
        self.step(to, Op::Input(input));
    }

    /// A socket the driver dropped may still fire: onclose, onopen, an
    /// error before open, or frames still buffered (any kind; data with a seq
    /// the engine would deliver next). The engine must ignore all of them.
    pub(super) fn late_events(&mut self, side: Side, conn: ConnId, opened: bool) {
        if !self.sched.late_events {
            return;
        }
        let next = self
            .peer(side)
            .engine
            .delivery()
            .delivered()
            .saturating_add(1);
        for _ in 0..self.rng.range(0, 3) {
            let frame = match self.rng.range(0, 4) {
                0 => Frame::Data(DataId::Seq(self.rng.range(1, next))),
                1 => Frame::Ping { nonce: 7 },
                2 => Frame::Pong { nonce: 1 },
                3 => Frame::Resume { last: 0 },
                _ => Frame::Ack { upto: 0 },
            };
            let input = match self.rng.range(0, 5) {
                0 | 1 => Input::Message { conn, frame },
                2 if side == Side::Client && !opened => Input::Opened { conn },
                3 if side == Side::Client && !opened => Input::ConnectFailed {
                    conn,
                    error: ConnectError::Network,
                },
                _ => Input::Closed {
                    conn,
                    code: close::code::ABNORMAL,
                },
            };
            let at = self.now.saturating_add(self.rng.range(0, 3_000));
            self.push(at, Ev::Late { side, input });
        }
    }
}
