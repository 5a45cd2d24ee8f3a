//! [`Connection`]: the engine. It only orchestrates; every decision lives in a
//! sub-machine (`backoff`, `close`, `heartbeat`, `delivery`, `fallback`).
//!
//! Method groups, in order: construction, getters, inputs (`handle`, `send`,
//! `accept`), outputs (`poll_action`, `poll_timeout`).

mod lifecycle;
mod stats;

pub use stats::Stats;

use core::borrow::Borrow;
use core::time::Duration;

use rand_core::Rng;

use crate::backoff::Backoff;
use crate::close;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::error::{ConfigError, Error};
use crate::fallback::Fallback;
use crate::heartbeat::Heartbeat;
use crate::io::{Action, ConnId, FailReason, Input, State, Transport};
use crate::queue::{ActionQueue, MAX_PER_INPUT};
use crate::time::{Clock, Earliest, Instant};

use stats::Counters;

/// Which end of the session this engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Dials, reconnects, backs off.
    Client,
    /// Accepts; never dials. A closed or dead transport leaves the session
    /// `Idle` until the client comes back ([`Connection::accept`]).
    Server,
}

/// Where the engine is. Timers live inside the variants that own them.
///
/// `repr(u8)` gives the phase a tag byte of its own: without it the compiler
/// folds the tag into `FailReason`'s, and every `match` on the phase (three
/// per inbound message) decodes it with extra arithmetic (measured: 7-55
/// fewer instructions per event across the engine benches). Fields are in
/// declaration order under it, so each variant lists its fields smallest
/// first; `Failed` (a 24-byte `FailReason`) sets the size at 32 bytes, 8
/// more than with the folded tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Idle {
        lazy: bool,
    },
    Connecting {
        transport: Transport,
        probe: bool,
        conn: ConnId,
        deadline: Instant,
    },
    Open {
        transport: Transport,
        conn: ConnId,
    },
    Closing {
        conn: ConnId,
        deadline: Instant,
    },
    Waiting {
        until: Instant,
    },
    Offline,
    Closed,
    Failed(FailReason),
}

/// The session engine. See the [crate docs](crate) for the driver loop.
///
/// `C` is how the engine holds its [`Config`]: by value (the default), or
/// shared through anything that borrows as one, such as `&'static Config`
/// or `Arc<Config>`. A server holding many sessions with one configuration
/// shares it instead of keeping a copy (768 bytes on 64-bit targets) in
/// every engine; the engine reads it, never changes it.
///
/// `IDS` is the capacity of the opaque-id window that deduplicates
/// [`DataId::Opaque`](crate::DataId::Opaque) messages (8 bytes per id): 256
/// by default, which [`new`](Self::new) and [`server`](Self::server) build.
/// Peers that label messages with sequence numbers only, as two redial
/// peers do, never use it: [`with_role`](Self::with_role) builds an engine
/// with `IDS = 0` (2 KiB smaller) or any size up to 256, and
/// `delivery.dedup_window` must then fit in it.
#[derive(Debug)]
pub struct Connection<R, C = Config, const IDS: usize = 256> {
    cfg: C,
    rng: R,
    role: Role,
    clock: Clock,
    phase: Phase,
    generation: u32,
    online: bool,
    server_errors: u32,
    retry_after: Option<Duration>,
    /// A standing reconnect window announced on an open generation.
    window: Option<(ConnId, Duration)>,
    /// The generation the driver last reported closed: its close reason may
    /// still carry a retry-after hint. An abandoned one never qualifies.
    reported_closed: Option<ConnId>,
    backoff: Backoff,
    heartbeat: Heartbeat,
    delivery: Delivery<IDS>,
    fallback: Fallback,
    queue: ActionQueue,
    scheduled: Option<Instant>,
    stats: Counters,
}

impl<R: Rng, C: Borrow<Config>> Connection<R, C> {
    /// A client engine, `Idle` until `Start`. Fails if `config` does not
    /// validate.
    pub fn new(config: C, rng: R) -> Result<Self, ConfigError> {
        Self::with_role(config, rng, Role::Client)
    }

    /// A server-side session engine, `Idle` until the first
    /// [`accept`](Self::accept). It pings, answers, acks and resumes exactly
    /// like a client, and never dials.
    pub fn server(config: C, rng: R) -> Result<Self, ConfigError> {
        Self::with_role(config, rng, Role::Server)
    }
}

impl<R: Rng, C: Borrow<Config>, const IDS: usize> Connection<R, C, IDS> {
    /// An engine of either role whose opaque-id window holds `IDS` ids
    /// (`IDS` comes from the type the caller names; more than 256 does not
    /// compile). `Connection::new(config, rng)` is `with_role(config, rng,
    /// Role::Client)` with `IDS = 256`.
    ///
    /// ```
    /// use rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
    /// use redial::{Config, Connection, Role};
    ///
    /// // Peers that number their messages need no opaque-id window.
    /// let mut config = Config::reliable();
    /// config.delivery.dedup_window = 0;
    /// let rng = ChaCha8Rng::seed_from_u64(7);
    /// let engine: Connection<_, _, 0> = Connection::with_role(config, rng, Role::Server)?;
    /// let full = core::mem::size_of::<Connection<ChaCha8Rng>>();
    /// assert!(core::mem::size_of_val(&engine) + 256 * 8 <= full);
    ///
    /// // The default window does not fit in a smaller engine: a typed error.
    /// let small: Result<Connection<_, _, 16>, _> =
    ///     Connection::with_role(Config::reliable(), ChaCha8Rng::seed_from_u64(7), Role::Client);
    /// assert_eq!(small.unwrap_err().field, "delivery.dedup_window");
    /// # Ok::<(), redial::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] if `config` does not validate, or if
    /// `delivery.dedup_window` exceeds `IDS`.
    pub fn with_role(cfg: C, rng: R, role: Role) -> Result<Self, ConfigError> {
        cfg.borrow().validate()?;
        if usize::from(cfg.borrow().delivery.dedup_window) > IDS {
            return Err(ConfigError::new(
                "delivery.dedup_window",
                "exceeds this engine's opaque-id capacity (its IDS parameter; 0 turns dedup of opaque ids off)",
            ));
        }
        Ok(Self {
            cfg,
            rng,
            role,
            clock: Clock::default(),
            phase: Phase::Idle { lazy: false },
            generation: 0,
            online: true,
            server_errors: 0,
            retry_after: None,
            window: None,
            reported_closed: None,
            backoff: Backoff::new(),
            heartbeat: Heartbeat::new(),
            delivery: Delivery::with_id_capacity(),
            fallback: Fallback::new(),
            queue: ActionQueue::new(),
            scheduled: None,
            stats: Counters::default(),
        })
    }

    // ----- getters -----

    /// The state an app shows.
    #[must_use]
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Idle { .. } => State::Idle,
            Phase::Connecting { .. } => State::Connecting {
                attempt: self.backoff.attempt(),
            },
            Phase::Open {
                transport: Transport::Http,
                ..
            } => State::Fallback,
            Phase::Open { .. } => State::Open,
            Phase::Closing { .. } => State::Closing,
            Phase::Waiting { until } => State::Waiting {
                until,
                attempt: self.backoff.attempt(),
            },
            Phase::Offline => State::Offline,
            Phase::Closed => State::Closed,
            Phase::Failed(reason) => State::Failed { reason },
        }
    }

    /// The generation whose events the engine currently accepts, if any.
    #[must_use]
    pub fn live_conn(&self) -> Option<ConnId> {
        match self.phase {
            Phase::Connecting { conn, .. }
            | Phase::Open { conn, .. }
            | Phase::Closing { conn, .. } => Some(conn),
            _ => None,
        }
    }

    /// Client or server.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// The validated configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        self.cfg.borrow()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats.with_rtt(self.heartbeat.rtt())
    }

    /// The delivery machine (sequence numbers, acks, queue depth), read-only.
    #[must_use]
    pub fn delivery(&self) -> &Delivery<IDS> {
        &self.delivery
    }

    /// Reconnect attempts since the backoff last reset.
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.backoff.attempt()
    }

    /// The latest `now` the engine has seen.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Whether the host was last reported online.
    #[must_use]
    pub fn is_online(&self) -> bool {
        self.online
    }

    // ----- inputs -----

    /// Feeds one input at time `now`. Drain [`poll_action`](Self::poll_action)
    /// afterwards.
    ///
    /// Errors leave the engine exactly as it was: an invalid close code, a
    /// full send queue, a send after `Close`, or actions not yet drained.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), Error> {
        if self.queue.free() < MAX_PER_INPUT {
            return Err(Error::ActionsPending {
                pending: self.queue.len(),
            });
        }
        // Inputs that can be refused are checked before the clock moves, so
        // a refusal leaves the engine exactly as it was.
        match input {
            Input::Send => return self.send(now).map(drop),
            Input::Accepted => return self.accept(now).map(drop),
            Input::Close { code } if !close::can_send_as(self.side(), code) => {
                return Err(Error::InvalidCloseCode { code });
            }
            _ => {}
        }
        let now = self.clock.observe(now);
        match input {
            Input::Start => self.on_start(now),
            Input::Opened { conn } => self.on_opened(now, conn),
            Input::Closed { conn, code } => self.on_closed(now, conn, code),
            Input::ConnectFailed { conn, error } => self.on_connect_failed(now, conn, error),
            Input::Message { conn, frame } => self.on_frame(now, conn, frame),
            Input::Send | Input::Accepted => {}
            Input::Timeout => self.on_timeout(now),
            Input::Online => self.on_online(now),
            Input::Offline => self.on_offline(now),
            Input::Close { code } => return self.on_user_close(now, code),
            Input::RetryAfter { conn, after } => self.on_retry_after(now, conn, after),
            Input::ReconnectWindow { conn, window } => self.on_reconnect_window(conn, window),
        }
        Ok(())
    }

    /// The app sends one message: returns its sequence number (store the
    /// payload under it, e.g. in an `Outbox`). Buffered while not open and
    /// flushed in order as `Transmit` actions once open (R8); after a lazy
    /// 1001 close this starts a connect (R10).
    pub fn send(&mut self, now: Instant) -> Result<u64, Error> {
        if self.queue.free() < MAX_PER_INPUT {
            return Err(Error::ActionsPending {
                pending: self.queue.len(),
            });
        }
        if let Phase::Closed | Phase::Failed(_) = self.phase {
            return Err(Error::NotRunning {
                state: self.state().name(),
            });
        }
        // `push` refuses before it records anything; the clock moves only
        // once the message is accepted.
        let seq = self
            .delivery
            .push(now.max(self.clock.now()), &self.cfg.borrow().delivery)?;
        let now = self.clock.observe(now);
        if self.phase == (Phase::Idle { lazy: true }) && self.role == Role::Client {
            self.start_connect(now, None);
        }
        Ok(seq)
    }

    /// Server role: a client's transport for this session was accepted. Any
    /// older transport is abandoned (the client reconnected), and the new one
    /// is open at once. Returns its generation.
    pub fn accept(&mut self, now: Instant) -> Result<ConnId, Error> {
        if self.role != Role::Server {
            return Err(Error::WrongRole { role: "client" });
        }
        if self.queue.free() < MAX_PER_INPUT {
            return Err(Error::ActionsPending {
                pending: self.queue.len(),
            });
        }
        let now = self.clock.observe(now);
        if let Some(old) = self.live_conn() {
            self.emit(Action::Abandon { conn: old });
            self.transport_gone(now);
        }
        let conn = self.next_conn();
        self.set_phase(Phase::Open {
            conn,
            transport: Transport::WebSocket,
        });
        self.on_transport_open(now, conn, Transport::WebSocket);
        Ok(conn)
    }

    // ----- outputs -----

    /// The next action to carry out, or `None` when there is nothing to do.
    /// Call until `None` after every `handle`. Control actions come first, in
    /// the order decided; then acks, transmissions (retransmissions first, in
    /// sequence order) and overdue reports; last a `ScheduleTimer` when the
    /// earliest deadline moved.
    #[must_use]
    #[inline]
    pub fn poll_action(&mut self) -> Option<Action> {
        // Queued control actions are a ring pop, inlined into the driver's
        // loop; everything computed from the cursors is out of line.
        if let Some(a) = self.queue.pop() {
            return Some(a);
        }
        self.poll_computed()
    }

    /// `poll_action` once the queue is empty: acks, transmits, overdue
    /// reports, then the timer announcement.
    fn poll_computed(&mut self) -> Option<Action> {
        let now = self.clock.now();
        if let Phase::Open { conn, .. } = self.phase {
            if let Some(upto) = self.delivery.poll_ack(now, &self.cfg.borrow().delivery) {
                return Some(Action::Ack { conn, upto });
            }
            if let Some(seq) = self
                .delivery
                .poll_transmit(now, &self.cfg.borrow().delivery)
            {
                self.stats.transmits = self.stats.transmits.saturating_add(1);
                return Some(Action::Transmit { conn, seq });
            }
        }
        if let Some(seq) = self.delivery.poll_overdue(now, &self.cfg.borrow().delivery) {
            return Some(Action::DeliveryOverdue { seq });
        }
        let next = self.poll_timeout();
        if next != self.scheduled {
            self.scheduled = next;
            if let Some(at) = next {
                return Some(Action::ScheduleTimer { at });
            }
        }
        None
    }

    /// The earliest deadline, never earlier than the latest `now` seen (a
    /// deadline already passed is due now). Call `handle(t, Input::Timeout)`
    /// when the clock reaches it.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let acc = match self.phase {
            Phase::Connecting { deadline, .. } | Phase::Closing { deadline, .. } => {
                Earliest::NONE.with(Some(deadline))
            }
            Phase::Waiting { until } => Earliest::NONE.with(Some(until)),
            Phase::Open { transport, .. } => {
                let acc = self.heartbeat.fold_timeout(Earliest::NONE);
                match transport {
                    Transport::Http => acc.with(self.fallback.poll_timeout()),
                    Transport::WebSocket => acc,
                }
            }
            _ => Earliest::NONE,
        };
        self.delivery
            .fold_timeout(acc, &self.cfg.borrow().delivery)
            .get()
            .map(|t| t.max(self.clock.now()))
    }

    // ----- plumbing shared with `lifecycle` -----

    fn emit(&mut self, a: Action) {
        let stored = self.queue.push(a);
        // `handle` refuses input unless MAX_PER_INPUT slots are free, and no
        // input queues more than that (checked by tests and fuzzers).
        debug_assert!(stored, "action queue overflow: {a:?}");
    }

    fn set_phase(&mut self, phase: Phase) {
        let before = self.state();
        self.phase = phase;
        let after = self.state();
        if before != after {
            self.emit(Action::StateChanged { state: after });
        }
    }

    /// Which end's close-code rules apply to this engine.
    fn side(&self) -> close::Side {
        match self.role {
            Role::Client => close::Side::Client,
            Role::Server => close::Side::Server,
        }
    }

    fn next_conn(&mut self) -> ConnId {
        // Wraps after 2^32 connects, deliberately: a generation only has to
        // differ from the live one, and the previous 4 billion are long gone.
        self.generation = self.generation.wrapping_add(1);
        ConnId(self.generation)
    }
}
