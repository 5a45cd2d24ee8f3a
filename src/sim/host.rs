//! The server host and the fault schedule: how upgrades are answered, and
//! what each fault does to the world.

use super::driver::Op;
use super::fault::{Dir, Fault, Side, FRAME_FAULT_WINDOW};
use super::net::Wire;
use super::world::{Ev, Sim};
use crate::io::{Input, Transport};

/// What the server host does with an upgrade request right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Up,
    Down,
    Reject(u16),
    Hang,
    Flap,
}

impl Sim {
    fn mode(&self) -> Mode {
        if self.now < self.down_until {
            Mode::Down
        } else if self.now < self.reject_until {
            Mode::Reject(self.reject_status)
        } else if self.now < self.hang_until {
            Mode::Hang
        } else if self.now < self.flap_until {
            Mode::Flap
        } else {
            Mode::Up
        }
    }

    fn break_all(&mut self, dirs: super::fault::Dirs, until: u64) {
        for dir in [Dir::ToServer, Dir::ToClient] {
            if dirs.has(dir) {
                for s in &mut self.link.sockets {
                    if let Some(b) = s.broken.get_mut(dir.index()) {
                        *b = true;
                    }
                }
                if let Some(u) = self.blackhole_until.get_mut(dir.index()) {
                    *u = (*u).max(until);
                }
            }
        }
    }

    pub(super) fn fault(&mut self, f: Fault) {
        let now = self.now;
        match f {
            Fault::Drop { dir } => {
                self.link
                    .arm(dir, false, now.saturating_add(FRAME_FAULT_WINDOW))
            }
            Fault::Duplicate { dir } => {
                self.link
                    .arm(dir, true, now.saturating_add(FRAME_FAULT_WINDOW))
            }
            Fault::Replay { dir } => self.replay(dir),
            Fault::Delay { extra, dur } => self.link.add_delay(now, now.saturating_add(dur), extra),
            Fault::Blackhole { dur, dirs } => self.break_all(dirs, now.saturating_add(dur)),
            Fault::Reset => {
                for i in 0..self.link.sockets.len() {
                    for side in [Side::Client, Side::Server] {
                        let alive = self.link.sockets.get(i).is_some_and(|s| s.end(side).alive);
                        if alive {
                            let at = now.saturating_add(self.link.latency());
                            let dir = Dir::from(side.peer());
                            let (sock, wire, force) = (i, Wire::Reset, true);
                            self.push(
                                at,
                                Ev::Arrive {
                                    sock,
                                    dir,
                                    wire,
                                    force,
                                },
                            );
                        }
                    }
                }
            }
            Fault::ServerRestart { down, graceful } => {
                for i in 0..self.link.sockets.len() {
                    let code = graceful.then_some(crate::close::code::SERVICE_RESTART);
                    self.kill(i, code);
                }
                self.down_until = self.down_until.max(now.saturating_add(down));
            }
            Fault::NoHandshake { dur } => {
                self.hang_until = self.hang_until.max(now.saturating_add(dur));
            }
            Fault::RejectUpgrade { dur, status } => {
                self.reject_until = self.reject_until.max(now.saturating_add(dur));
                self.reject_status = status;
            }
            Fault::Flapping { dur } => {
                self.flap_until = self.flap_until.max(now.saturating_add(dur));
            }
            Fault::ServerClose { code, hint } => self.server_close(code, hint),
            Fault::Offline { dur, net_down } => {
                if net_down {
                    self.break_all(super::fault::Dirs::Both, now.saturating_add(dur));
                }
                self.step(Side::Client, Op::Input(Input::Offline));
                self.push(now.saturating_add(dur), Ev::Online);
            }
            Fault::ClockJump { side, delta } => {
                let until = now
                    .saturating_add(delta.unsigned_abs())
                    .saturating_add(self.exempt_window);
                let p = self.peer_mut(side);
                p.offset = p.offset.saturating_add(delta);
                p.disturbed_until = p.disturbed_until.max(until);
            }
            Fault::Freeze {
                side,
                dur,
                timers_first,
            } => {
                let wake = now.saturating_add(dur);
                let until = wake.saturating_add(self.exempt_window);
                let p = self.peer_mut(side);
                if p.frozen_until > now {
                    return; // already frozen
                }
                p.frozen_until = wake;
                p.disturbed_until = p.disturbed_until.max(until);
                self.push(wake, Ev::Wake { side, timers_first });
            }
            Fault::UserPause { dur, code } => {
                self.pauses = self.pauses.saturating_add(1);
                self.step(Side::Client, Op::Input(Input::Close { code }));
                self.push(now.saturating_add(dur), Ev::AppStart { pause_end: true });
            }
        }
    }

    /// Re-sends an earlier data frame of `dir` on the sender's live socket.
    fn replay(&mut self, dir: Dir) {
        let sender = match dir {
            Dir::ToServer => Side::Client,
            Dir::ToClient => Side::Server,
        };
        let Some(sock) = self.peer(sender).live_socket() else {
            return;
        };
        let usable = self.link.sockets.get(sock).is_some_and(|s| {
            let e = s.end(sender);
            e.alive && e.opened && !e.close_sent
        });
        let history = self
            .link
            .history
            .get(dir.index())
            .cloned()
            .unwrap_or_default();
        if !usable || history.is_empty() {
            return;
        }
        let pick = self.rng.index(history.len());
        if let Some(&(seq, msg)) = history.get(pick) {
            self.send_wire(sock, dir, Wire::Data { seq, msg });
        }
    }

    /// The server host drops socket `sock`: a close frame with `code`, or a
    /// reset; the server engine hears of it at once.
    pub(super) fn kill(&mut self, sock: usize, code: Option<u16>) {
        let Some(s) = self.link.sockets.get_mut(sock) else {
            return;
        };
        if s.hung {
            s.hung = false;
            if s.end(Side::Client).alive {
                self.send_wire(sock, Dir::ToClient, Wire::Reset);
            }
            return;
        }
        let end = s.end_mut(Side::Server);
        if !end.alive {
            return;
        }
        end.alive = false;
        let conn = end.conn;
        let wire = match code {
            Some(code) => {
                end.close_sent = true;
                Wire::Close { code, hint: None }
            }
            None => Wire::Reset,
        };
        self.send_wire(sock, Dir::ToClient, wire);
        if let Some(conn) = conn {
            let code = code.unwrap_or(crate::close::code::ABNORMAL);
            self.step(Side::Server, Op::Input(Input::Closed { conn, code }));
        }
    }

    fn server_close(&mut self, code: u16, hint: Option<u64>) {
        let Some(sock) = self.server.live_socket() else {
            return;
        };
        let Some(end) = self
            .link
            .sockets
            .get_mut(sock)
            .map(|s| s.end_mut(Side::Server))
        else {
            return;
        };
        if !end.alive || end.close_sent {
            return;
        }
        end.alive = false;
        end.close_sent = true;
        let conn = end.conn;
        self.send_wire(sock, Dir::ToClient, Wire::Close { code, hint });
        if let Some(conn) = conn {
            self.step(Side::Server, Op::Input(Input::Closed { conn, code }));
        }
    }

    pub(super) fn upgrade(&mut self, sock: usize) {
        match self.mode() {
            Mode::Down => self.send_wire(sock, Dir::ToClient, Wire::Reset),
            // A proxy that refuses the upgrade still passes plain HTTP.
            Mode::Reject(_)
                if self
                    .link
                    .sockets
                    .get(sock)
                    .is_some_and(|s| s.transport == Transport::Http) =>
            {
                self.step(Side::Server, Op::Accept(sock));
            }
            Mode::Reject(status) => self.send_wire(sock, Dir::ToClient, Wire::Rejected { status }),
            Mode::Hang => {
                if let Some(s) = self.link.sockets.get_mut(sock) {
                    s.hung = true;
                }
            }
            Mode::Up => self.step(Side::Server, Op::Accept(sock)),
            Mode::Flap => {
                self.step(Side::Server, Op::Accept(sock));
                self.push(self.now.saturating_add(100), Ev::FlapKill(sock));
            }
        }
    }
}
