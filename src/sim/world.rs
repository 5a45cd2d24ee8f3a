//! The world: virtual time, the event queue, faults and link arrivals.
//!
//! The driver half (feeding an engine, carrying out its actions, checking
//! after every step) is in `driver.rs`.

use core::cmp::Ordering;
use core::time::Duration;
use std::collections::BinaryHeap;
use std::vec::Vec;

use super::check::{account, Property, Violation};
use super::driver::Op;
use super::fault::{Dir, Fault, Side};
use super::net::{Link, Wire};
use super::peer::Peer;
use super::rng::SimRng;
use super::schedule::Schedule;
use super::{Outcome, Params, RunStats};
use crate::close::CloseAction;
use crate::config::Config;
use crate::connection::Connection;
use crate::error::ConfigError;
use crate::io::{ConnId, ConnectError, Input};
use crate::time::millis;

/// Most violations kept per run (the first ones matter).
const MAX_VIOLATIONS: usize = 16;
/// How long a healthy, drained session is watched before the run ends.
const SETTLE: u64 = 1_000;

/// Something scheduled at a world time.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ev {
    Arrive {
        sock: usize,
        dir: Dir,
        wire: Wire,
        force: bool,
    },
    Fault(usize),
    Online,
    AppSend(Side),
    AppStart {
        pause_end: bool,
    },
    Late {
        side: Side,
        input: Input,
    },
    FlapKill(usize),
    InvalidUrl(ConnId),
    Wake {
        side: Side,
        timers_first: bool,
    },
    FaultsOver,
}

struct Item {
    at: u64,
    order: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    // Reversed: BinaryHeap is a max-heap, we want the earliest first, and
    // among equal times the one scheduled first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// One simulated run.
pub(super) struct Sim {
    pub(super) cfg: Config,
    pub(super) params: Params,
    pub(super) sched: Schedule,
    pub(super) now: u64,
    order: u64,
    heap: BinaryHeap<Item>,
    pub(super) link: Link,
    pub(super) client: Peer,
    pub(super) server: Peer,
    pub(super) rng: SimRng,
    pub(super) violations: Vec<Violation>,
    pub(super) down_until: u64,
    pub(super) hang_until: u64,
    pub(super) reject_until: u64,
    pub(super) reject_status: u16,
    pub(super) flap_until: u64,
    /// New sockets opened before this are blackholed, per direction.
    pub(super) blackhole_until: [u64; 2],
    pub(super) faults_over: u64,
    pub(super) over: bool,
    /// Liveness bound after `faults_over`.
    pub(super) bound: u64,
    pub(super) healthy_at: Option<u64>,
    /// The liveness bound counts from here (the end of the faults, or an
    /// upgrade probe the client made on purpose).
    pub(super) liveness_from: u64,
    /// The client just closed its HTTP session to probe WebSocket.
    pub(super) probe_break: bool,
    pub(super) liveness_flagged: bool,
    pub(super) spun: bool,
    pub(super) last_timer: Side,
    pub(super) pauses: u32,
    /// Timing checks are suspended this long after a clock jump.
    pub(super) exempt_window: u64,
    pub(super) trace: Option<Vec<std::string::String>>,
    pub(super) next_msg: u64,
    pub(super) stats: RunStats,
}

impl Sim {
    pub(super) fn new(sched: &Schedule, params: &Params) -> Result<Self, ConfigError> {
        let cfg = params.config;
        let mut rng = SimRng::new(sched.seed);
        let client = Peer::new(Connection::new(cfg, rng.fork())?);
        let server = Peer::new(Connection::server(cfg, rng.fork())?);
        let link = Link::new(sched.link, rng.fork());
        let hb = millis(cfg.heartbeat.interval).saturating_add(millis(cfg.heartbeat.timeout));
        let detect = millis(cfg.connect_timeout)
            .max(hb)
            .max(millis(cfg.close_timeout));
        // The longest delay the policy can draw (it may peak before the end
        // of a table that gives up).
        let policy = (1..=64)
            .chain([u32::MAX])
            .filter_map(|a| cfg.reconnect.policy.bounds(a, Duration::MAX))
            .map(|(_, hi)| millis(hi))
            .max()
            .unwrap_or(0);
        let restart = match cfg.close.action(crate::close::code::SERVICE_RESTART) {
            CloseAction::RetryUniform { max, .. } => millis(max),
            _ => 0,
        };
        let floor = match cfg.close.action(crate::close::code::TRY_AGAIN_LATER) {
            CloseAction::RetryAtLeast { floor } => millis(floor),
            _ => 0,
        };
        let mut hint = 0u64;
        let mut backward = 0u64;
        for (_, f) in &sched.faults {
            match *f {
                Fault::ServerClose { hint: Some(h), .. } => {
                    let h = h.min(millis(cfg.max_retry_after));
                    hint = hint.max(h.saturating_add((h / 10).min(1_000)));
                }
                Fault::ClockJump { delta, .. } if delta < 0 => {
                    backward = backward.saturating_add(delta.unsigned_abs());
                }
                Fault::Freeze { dur, .. } => backward = backward.saturating_add(dur),
                _ => {}
            }
        }
        let wait = policy
            .max(restart)
            .max(floor)
            .max(millis(cfg.online_jitter))
            .max(hint);
        let max_latency = sched.link.max_latency();
        let bound = params
            .restart_delay
            .saturating_add(detect)
            .saturating_add(wait)
            .saturating_add(max_latency.saturating_mul(4))
            .saturating_add(200)
            .saturating_add(backward);
        let mut sim = Self {
            cfg,
            params: *params,
            sched: sched.clone(),
            now: 0,
            order: 0,
            heap: BinaryHeap::new(),
            link,
            client,
            server,
            rng,
            violations: Vec::new(),
            down_until: 0,
            hang_until: 0,
            reject_until: 0,
            reject_status: 503,
            flap_until: 0,
            blackhole_until: [0; 2],
            // A lost frame is only noticed by a heartbeat or ack deadline:
            // the faults are over once those verdicts are in too.
            faults_over: sched
                .faults_over()
                .saturating_add(hb)
                .saturating_add(resend_cap(&cfg)),
            over: false,
            bound,
            healthy_at: None,
            liveness_from: 0,
            probe_break: false,
            liveness_flagged: false,
            spun: false,
            last_timer: Side::Server,
            pauses: 0,
            exempt_window: detect
                .saturating_add(wait)
                .saturating_add(hb)
                .saturating_add(max_latency.saturating_mul(4)),
            trace: params.trace.then(Vec::new),
            next_msg: 1,
            stats: RunStats::default(),
        };
        sim.push(0, Ev::AppStart { pause_end: false });
        for (i, (t, _)) in sched.faults.iter().enumerate() {
            sim.push(*t, Ev::Fault(i));
        }
        for t in &sched.client_sends {
            sim.push(*t, Ev::AppSend(Side::Client));
        }
        for t in &sched.server_sends {
            sim.push(*t, Ev::AppSend(Side::Server));
        }
        sim.push(sim.faults_over, Ev::FaultsOver);
        Ok(sim)
    }

    pub(super) fn push(&mut self, at: u64, ev: Ev) {
        self.order = self.order.saturating_add(1);
        self.heap.push(Item {
            at: at.max(self.now),
            order: self.order,
            ev,
        });
    }

    pub(super) fn violate(&mut self, property: Property, detail: std::string::String) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.note(&std::format!("!! VIOLATION {property:?}: {detail}"));
            self.violations.push(Violation {
                at: self.now,
                property,
                detail,
            });
        }
    }

    pub(super) fn note(&mut self, line: &str) {
        let now = self.now;
        if let Some(t) = self.trace.as_mut() {
            t.push(std::format!("{now:>8} {line}"));
        }
    }

    pub(super) fn peer(&self, side: Side) -> &Peer {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    pub(super) fn peer_mut(&mut self, side: Side) -> &mut Peer {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// The engine's next deadline, in world time.
    fn timer_at(&self, side: Side) -> Option<u64> {
        let p = self.peer(side);
        let at = p.engine.poll_timeout()?;
        Some(p.world_time(at).max(self.now).max(p.frozen_until))
    }

    pub(super) fn run(mut self) -> Outcome {
        let drain = millis(self.cfg.delivery.ack_timeout)
            .saturating_mul(3)
            .saturating_add(resend_cap(&self.cfg))
            .saturating_add(millis(self.cfg.heartbeat.interval))
            .saturating_add(self.sched.link.max_latency().saturating_mul(4))
            .saturating_add(1_000);
        let hard_end = self
            .faults_over
            .saturating_add(self.bound)
            .saturating_add(drain);
        let mut timers_at_now = 0u32;
        loop {
            if self.stats.steps >= self.params.max_steps {
                self.violate(Property::Bounds, "run exceeded max_steps".into());
                break;
            }
            let heap_at = self.heap.peek().map(|i| i.at);
            let c_at = self.timer_at(Side::Client);
            let s_at = self.timer_at(Side::Server);
            let Some(next) = [heap_at, c_at, s_at].into_iter().flatten().min() else {
                break;
            };
            if next > hard_end {
                break;
            }
            let next = next.max(self.now);
            if next != self.now {
                timers_at_now = 0;
            }
            self.now = next;
            self.stats.steps = self.stats.steps.saturating_add(1);
            if heap_at.is_some_and(|t| t <= next) {
                if let Some(item) = self.heap.pop() {
                    self.event(item.ev);
                }
            } else {
                timers_at_now = timers_at_now.saturating_add(1);
                if timers_at_now > 20 {
                    // A polling driver would spin here; its clock still moves,
                    // so report once and carry on a millisecond later.
                    if !self.spun {
                        self.spun = true;
                        self.violate(
                            Property::Bounds,
                            "poll_timeout stays due after Timeout (busy loop)".into(),
                        );
                    }
                    self.now = self.now.saturating_add(1);
                    timers_at_now = 0;
                    continue;
                }
                // Both due: take turns, so one engine's stuck timer cannot
                // starve the other.
                let c_due = c_at.is_some_and(|t| t <= next);
                let s_due = s_at.is_some_and(|t| t <= next);
                let side = if c_due && (!s_due || self.last_timer != Side::Client) {
                    Side::Client
                } else {
                    Side::Server
                };
                self.last_timer = side;
                self.step(side, Op::Input(Input::Timeout));
            }
            self.periodic();
            if self.violations.len() >= MAX_VIOLATIONS || self.done() {
                break;
            }
        }
        self.finish()
    }

    fn done(&self) -> bool {
        self.over
            && self
                .healthy_at
                .is_some_and(|h| self.now >= h.saturating_add(SETTLE))
            && self.client.engine.delivery().queued() == 0
            && self.server.engine.delivery().queued() == 0
    }

    fn finish(mut self) -> Outcome {
        if self.healthy_at.is_none() && !self.liveness_flagged {
            self.liveness_flagged = true;
            let state = self.client.engine.state();
            self.violate(
                Property::Liveness,
                std::format!(
                    "never healthy after faults ended at {} (client {state:?})",
                    self.faults_over
                ),
            );
        }
        let (cq, sq) = (
            self.client.engine.delivery().queued(),
            self.server.engine.delivery().queued(),
        );
        if cq > 0 || sq > 0 {
            self.violate(
                Property::Undrained,
                std::format!("still queued at the end: client {cq}, server {sq}"),
            );
        }
        let mut to_server = account(
            &self.client.sent,
            &self.server.received,
            self.client.engine.delivery().acked(),
        );
        to_server.refused = self.client.refused;
        to_server.overdue = self.client.overdue;
        let mut to_client = account(
            &self.server.sent,
            &self.client.received,
            self.server.engine.delivery().acked(),
        );
        to_client.refused = self.server.refused;
        to_client.overdue = self.server.overdue;
        for (name, flow) in [("client->server", to_server), ("server->client", to_client)] {
            if !flow.is_clean() {
                self.violate(Property::Delivery, std::format!("{name}: {flow:?}"));
            }
        }
        let cs = self.client.engine.stats();
        self.stats.end = self.now;
        self.stats.connects = cs.connects;
        self.stats.opens = cs.opens;
        let ss = self.server.engine.stats();
        self.stats.connect_timeouts = cs.connect_timeouts;
        self.stats.server_dead_peers = ss.dead_peers;
        self.stats.dead_peers = cs.dead_peers.saturating_add(ss.dead_peers);
        self.stats.stale_events = u64::from(cs.stale_events)
            .saturating_add(u64::from(self.server.engine.stats().stale_events));
        Outcome {
            violations: self.violations,
            to_server,
            to_client,
            stats: self.stats,
            trace: self.trace.unwrap_or_default(),
        }
    }

    fn event(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive {
                sock,
                dir,
                wire,
                force,
            } => self.arrive(sock, dir, wire, force),
            Ev::Fault(i) => {
                if let Some((_, f)) = self.sched.faults.get(i).copied() {
                    self.note(&std::format!("## fault: {f}"));
                    self.fault(f);
                }
            }
            Ev::Online => self.step(Side::Client, Op::Input(Input::Online)),
            Ev::AppSend(side) => {
                let msg = self.next_msg;
                self.next_msg = self.next_msg.saturating_add(1);
                self.step(side, Op::Send(msg));
            }
            Ev::AppStart { pause_end } => {
                if pause_end {
                    self.pauses = self.pauses.saturating_sub(1);
                } else if self.pauses > 0 {
                    return; // the pause's own Start comes later
                }
                self.step(Side::Client, Op::Input(Input::Start));
            }
            Ev::Late { side, input } => self.step(side, Op::Input(input)),
            Ev::FlapKill(sock) => self.kill(sock, None),
            Ev::InvalidUrl(conn) => self.step(
                Side::Client,
                Op::Input(Input::ConnectFailed {
                    conn,
                    error: ConnectError::InvalidUrl,
                }),
            ),
            Ev::Wake { side, timers_first } => {
                self.note(&std::format!("## {side:?} wakes up"));
                let timer = self.peer(side).engine.poll_timeout();
                let p = self.peer(side);
                if timers_first && timer.is_some_and(|t| t <= p.clock(self.now)) {
                    self.step(side, Op::Input(Input::Timeout));
                }
                for op in core::mem::take(&mut self.peer_mut(side).backlog) {
                    self.step(side, op);
                }
            }
            Ev::FaultsOver => {
                self.over = true;
                self.liveness_from = self.now;
                self.note("## faults over; the client app sends one last message");
                self.event(Ev::AppSend(Side::Client));
            }
        }
    }
}

/// The longest a lost frame on a live link can wait for its resend: the
/// back-off ceiling (F5), at least one `ack_timeout`.
fn resend_cap(cfg: &crate::config::Config) -> u64 {
    millis(cfg.delivery.max_ack_timeout.max(cfg.delivery.ack_timeout))
}
