//! The link between the two engines of the `delivery` target: one socket
//! pair at a time, in-order wires per direction, faults applied by the ops.

use core::time::Duration;

use std::collections::VecDeque;
use std::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};

use super::super::{ensure, Checked, FuzzRng, Strict, Violation};
use super::{LinkOp, LinkSetup, CLIENT, CODES, HEAL_EVENTS, LINK_CAP, LINK_OPS, SERVER};
use crate::connection::Role;
use crate::delivery::DataId;
use crate::io::{Action, ConnId, ConnectError, Frame, Input, State};
use crate::time::Instant;

/// What travels on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wire {
    Frame(Frame),
    Close(u16),
    Eof,
}

pub(super) struct World {
    peers: [Checked<FuzzRng>; 2],
    now: Instant,
    pending: Option<ConnId>,
    pair: [Option<ConnId>; 2],
    up: [bool; 2],
    /// `to[x]`: wires travelling to side `x`.
    to: [VecDeque<Wire>; 2],
    pushed: [u64; 2],
    got: [u64; 2],
    scratch: Vec<Action>,
    pub(super) log: Option<std::string::String>,
}

impl World {
    fn peer(&mut self, x: usize) -> &mut Checked<FuzzRng> {
        let [c, s] = &mut self.peers;
        if x == CLIENT {
            c
        } else {
            s
        }
    }

    fn queue(&mut self, x: usize) -> &mut VecDeque<Wire> {
        let [c, s] = &mut self.to;
        if x == CLIENT {
            c
        } else {
            s
        }
    }

    fn input(&mut self, x: usize, input: Input) -> Result<(), Violation> {
        let now = self.now;
        let r = self.peer(x).input(now, input);
        self.collect(x);
        let _ = r?;
        self.route(x)
    }

    /// Moves side `x`'s step trace into the run's log.
    fn collect(&mut self, x: usize) {
        let t = self.peer(x).take_trace();
        if let Some(log) = self.log.as_mut() {
            for line in t.lines() {
                log.push_str(if x == CLIENT {
                    "[client] "
                } else {
                    "[server] "
                });
                log.push_str(line);
                log.push('\n');
            }
        }
    }

    fn send(&mut self, x: usize) -> Result<(), Violation> {
        let now = self.now;
        let r = self.peer(x).send(now);
        self.collect(x);
        if let Ok(seq) = r? {
            let want = self.pushed.get(x).copied().unwrap_or(0).saturating_add(1);
            ensure!(seq == want, "side {x} app got seq {seq}, expected {want}");
            if let Some(p) = self.pushed.get_mut(x) {
                *p = seq;
            }
        }
        self.route(x)
    }

    /// Carries out side `x`'s last actions on the link.
    fn route(&mut self, x: usize) -> Result<(), Violation> {
        let other = 1 - x;
        let mut acts = core::mem::take(&mut self.scratch);
        acts.clear();
        acts.extend_from_slice(self.peer(x).actions());
        for &a in &acts {
            let mine = self.pair.get(x).copied().flatten();
            let up = self.up.get(x).copied().unwrap_or(false);
            let on_pair = |conn: ConnId| up && mine == Some(conn);
            let wire = match a {
                Action::Connect { conn, .. } => {
                    self.pending = Some(conn);
                    None
                }
                Action::Transmit { conn, seq } if on_pair(conn) => {
                    Some(Wire::Frame(Frame::Data(DataId::Seq(seq))))
                }
                Action::Ack { conn, upto } if on_pair(conn) => {
                    Some(Wire::Frame(Frame::Ack { upto }))
                }
                Action::Resume { conn, last } if on_pair(conn) => {
                    Some(Wire::Frame(Frame::Resume { last }))
                }
                Action::SendPing { conn, nonce } if on_pair(conn) => {
                    Some(Wire::Frame(Frame::Ping { nonce }))
                }
                Action::SendPong { conn, nonce } if on_pair(conn) => {
                    Some(Wire::Frame(Frame::Pong { nonce }))
                }
                Action::Close { conn, code } if on_pair(conn) => Some(Wire::Close(code)),
                Action::Abandon { conn } => {
                    if self.pending == Some(conn) {
                        self.pending = None;
                    }
                    if on_pair(conn) {
                        self.half_down(x);
                        Some(Wire::Eof)
                    } else {
                        None
                    }
                }
                Action::Deliver { id } => {
                    let got = self.got.get(x).copied().unwrap_or(0);
                    let sent = self.pushed.get(other).copied().unwrap_or(0);
                    let ok = id == DataId::Seq(got.saturating_add(1)) && got < sent;
                    ensure!(ok, "side {x} delivered {id:?} to the app after {got} of {sent}: duplicate, gap or invented");
                    if let Some(g) = self.got.get_mut(x) {
                        *g = got + 1;
                    }
                    None
                }
                _ => None,
            };
            if let Some(w) = wire {
                // A full socket buffer loses data frames (the engine resends);
                // closes always get through.
                let q = self.queue(other);
                if q.len() < LINK_CAP || !matches!(w, Wire::Frame(_)) {
                    q.push_back(w);
                }
            }
        }
        self.scratch = acts;
        Ok(())
    }

    fn half_down(&mut self, x: usize) {
        if let Some(u) = self.up.get_mut(x) {
            *u = false;
        }
        self.queue(x).clear();
    }

    /// The wire at the head of `to[x]` arrives (`dup`: and stays for once more).
    fn deliver(&mut self, x: usize, dup: bool) -> Result<(), Violation> {
        let Some(w) = self.queue(x).pop_front() else {
            return Ok(());
        };
        let (Some(conn), true) = (
            self.pair.get(x).copied().flatten(),
            self.up.get(x).copied().unwrap_or(false),
        ) else {
            return Ok(());
        };
        match w {
            Wire::Frame(frame) => {
                if dup {
                    self.queue(x).push_front(w);
                }
                self.input(x, Input::Message { conn, frame })
            }
            Wire::Close(code) => {
                self.half_down(x);
                if self.up.get(1 - x).copied().unwrap_or(false) {
                    self.queue(1 - x).push_back(Wire::Close(code));
                }
                self.input(x, Input::Closed { conn, code })
            }
            Wire::Eof => {
                self.half_down(x);
                self.input(x, Input::Closed { conn, code: 1006 })
            }
        }
    }

    fn reset(&mut self, x: usize) -> Result<(), Violation> {
        if let (Some(conn), true) = (
            self.pair.get(x).copied().flatten(),
            self.up.get(x).copied().unwrap_or(false),
        ) {
            self.half_down(x);
            self.input(x, Input::Closed { conn, code: 1006 })?;
        }
        Ok(())
    }

    fn handshake(&mut self) -> Result<(), Violation> {
        let Some(c) = self.pending.take() else {
            return Ok(());
        };
        if self.peers[CLIENT].engine().live_conn() != Some(c) {
            return Ok(());
        }
        let s = ConnId(self.peers[SERVER].model().issued().0.wrapping_add(1));
        self.pair = [Some(c), Some(s)];
        self.up = [true, true];
        self.to = [VecDeque::new(), VecDeque::new()];
        let now = self.now;
        {
            let r = self.peer(SERVER).accept(now);
            self.collect(SERVER);
            let _ = r?;
        };
        self.route(SERVER)?;
        self.input(CLIENT, Input::Opened { conn: c })
    }

    /// Fires every deadline up to `end` at its own instant (or at `end`
    /// when `late`), in time order across both sides.
    fn advance(&mut self, end: Instant, late: bool) -> Result<(), Violation> {
        if late {
            self.now = self.now.max(end);
        }
        for _ in 0..256 {
            let t = [CLIENT, SERVER].map(|x| self.peers[x].poll_timeout());
            let Some((x, at)) = [CLIENT, SERVER]
                .into_iter()
                .filter_map(|x| t.get(x).copied().flatten().map(|at| (x, at)))
                .min_by_key(|&(_, at)| at)
            else {
                break;
            };
            if at > end.max(self.now) {
                break;
            }
            self.now = self.now.max(at);
            self.input(x, Input::Timeout)?;
        }
        self.now = self.now.max(end);
        Ok(())
    }

    fn apply(&mut self, op: LinkOp) -> Result<(), Violation> {
        let later = |w: &World, ms: u64| w.now.saturating_add(Duration::from_millis(ms));
        match op {
            LinkOp::Send(s) => self.send(s.index())?,
            LinkOp::SendMany(s, n) => {
                for _ in 0..=n % 8 {
                    self.send(s.index())?;
                }
            }
            LinkOp::Deliver(s) => self.deliver(s.index(), false)?,
            LinkOp::Drop(s) => drop(self.queue(s.index()).pop_front()),
            LinkOp::Duplicate(s) => self.deliver(s.index(), true)?,
            LinkOp::Flush => {
                for _ in 0..64 {
                    if self.to.iter().all(VecDeque::is_empty) {
                        break;
                    }
                    self.deliver(SERVER, false)?;
                    self.deliver(CLIENT, false)?;
                }
            }
            LinkOp::Handshake => self.handshake()?,
            LinkOp::Refuse => {
                if let Some(conn) = self.pending.take() {
                    let error = ConnectError::Network;
                    self.input(CLIENT, Input::ConnectFailed { conn, error })?;
                }
            }
            LinkOp::Reset => {
                self.reset(CLIENT)?;
                self.reset(SERVER)?;
            }
            LinkOp::HalfReset(s) => self.reset(s.index())?,
            LinkOp::Close(s, n) => {
                let code = CODES
                    .get(usize::from(n) % CODES.len())
                    .copied()
                    .unwrap_or(1000);
                self.input(s.index(), Input::Close { code })?;
            }
            LinkOp::Start => self.input(CLIENT, Input::Start)?,
            LinkOp::Advance(ms) => self.advance(later(self, u64::from(ms)), false)?,
            LinkOp::AdvanceSecs(s) => {
                self.advance(later(self, u64::from(s).saturating_mul(1000)), false)?;
            }
            LinkOp::Late(ms) => self.advance(later(self, u64::from(ms)), true)?,
            LinkOp::Offline(s) => self.input(s.index(), Input::Offline)?,
            LinkOp::Online(s) => self.input(s.index(), Input::Online)?,
        }
        self.check_acks()
    }

    /// An acked message reached the other app: acks never run ahead.
    fn check_acks(&self) -> Result<(), Violation> {
        for x in [CLIENT, SERVER] {
            let acked = self.peers[x].engine().delivery().acked();
            let got = self.got.get(1 - x).copied().unwrap_or(0);
            ensure!(
                acked <= got,
                "side {x} counts {acked} acked, the other app got {got}"
            );
        }
        Ok(())
    }

    fn settled(&self) -> bool {
        let quiet = self.to.iter().all(VecDeque::is_empty) && self.pending.is_none();
        quiet
            && self.got == [self.pushed[SERVER], self.pushed[CLIENT]]
            && self
                .peers
                .iter()
                .all(|p| p.engine().delivery().queued() == 0)
    }

    /// The network heals: everything arrives, handshakes complete, timers
    /// fire on time. The run must settle.
    fn heal(&mut self) -> Result<(), Violation> {
        self.input(CLIENT, Input::Online)?;
        self.input(SERVER, Input::Online)?;
        let hb = self.peers[CLIENT].engine().config().heartbeat.enabled();
        for _ in 0..HEAL_EVENTS {
            if self.settled() {
                return Ok(());
            }
            let state = self.peers[CLIENT].state();
            ensure!(
                !matches!(state, State::Failed { .. }),
                "client failed: {state:?}"
            );
            let sstate = self.peers[SERVER].state();
            ensure!(
                !matches!(sstate, State::Failed { .. }),
                "server failed: {sstate:?}"
            );
            if !self.to.iter().all(VecDeque::is_empty) {
                self.deliver(SERVER, false)?;
                self.deliver(CLIENT, false)?;
            } else if self.pending.is_some() {
                self.handshake()?;
            } else if matches!(state, State::Idle | State::Closed) {
                self.input(CLIENT, Input::Start)?;
            } else if !hb && self.up != [true, true] && self.up != [false, false] {
                // Without heartbeats only the OS notices a half-open socket.
                self.reset(CLIENT)?;
                self.reset(SERVER)?;
            } else {
                let next = [CLIENT, SERVER]
                    .into_iter()
                    .filter_map(|x| self.peers[x].poll_timeout())
                    .min();
                let Some(mut at) = next else { break };
                let closing = self.peers.iter().any(|p| p.state() == State::Closing);
                if at <= self.now
                    && closing
                    && !self.peers[CLIENT]
                        .model()
                        .strict
                        .has(super::super::Strict::F2)
                {
                    // Known (finding F2): a due ack never fires in Closing;
                    // let real time pass up to the close deadline.
                    at = self
                        .now
                        .saturating_add(self.peers[CLIENT].engine().config().close_timeout);
                }
                self.advance(at, false)?;
            }
            self.check_acks()?;
        }
        ensure!(
            self.settled(),
            "did not settle: pushed {:?} got {:?} queued {:?} states {:?} up {:?} in flight (len, head, tail) {:?}",
            self.pushed,
            self.got,
            self.peers
                .each_ref()
                .map(|p| p.engine().delivery().queued()),
            self.peers.each_ref().map(|p| p.engine().state()),
            self.up,
            self.to.each_ref().map(|q| (q.len(), q.front().copied(), q.back().copied()))
        );
        Ok(())
    }
}

pub(super) fn world(
    data: &[u8],
    trace: bool,
    strict: Strict,
) -> (Option<World>, Result<(), Violation>) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = LinkSetup::arbitrary(&mut u) else {
        return (None, Ok(()));
    };
    let cfg = setup.config();
    let bad = |e| Violation::new(std::format!("setup config invalid: {e}"));
    let (client, server) = match (
        Checked::new(cfg, setup.client_rng, Role::Client),
        Checked::new(cfg, setup.server_rng, Role::Server),
    ) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => return (None, Err(bad(e))),
    };
    let mut w = World {
        peers: [client, server],
        now: Instant::ZERO,
        pending: None,
        pair: [None, None],
        up: [false, false],
        to: [VecDeque::new(), VecDeque::new()],
        pushed: [0, 0],
        got: [0, 0],
        scratch: Vec::new(),
        log: None,
    };
    w.peers.iter_mut().for_each(|p| p.set_strict(strict));
    if trace {
        w.log = Some(std::format!("{setup:?}\n"));
        w.peers.iter_mut().for_each(Checked::enable_trace);
    }
    let r = w.run(&mut u);
    (Some(w), r)
}

impl World {
    fn run(&mut self, u: &mut Unstructured<'_>) -> Result<(), Violation> {
        self.input(CLIENT, Input::Start)?;
        for _ in 0..LINK_OPS {
            // Stop where the input ends, as `connection` does: past it
            // `arbitrary` decodes zeros, i.e. `Send(Client)` over and over.
            if u.is_empty() {
                break;
            }
            let Ok(op) = LinkOp::arbitrary(u) else {
                break;
            };
            if let Some(log) = self.log.as_mut() {
                log.push_str(&std::format!("== {op:?}\n"));
            }
            self.apply(op)?;
        }
        if let Some(log) = self.log.as_mut() {
            log.push_str("== heal\n");
        }
        self.heal()
    }
}
