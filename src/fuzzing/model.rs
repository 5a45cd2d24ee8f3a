//! [`Model`]: the engine as a driver sees it, rebuilt from inputs and actions
//! alone, and what each input is expected to do.
//!
//! [`Model::pre_input`] predicts an input's effect *before* it is fed (a
//! [`Ctx`]); [`Model::on_action`] checks each action the engine then returns
//! against the prediction and the model; `Model::check_invariants` (in
//! `invariants.rs`) compares the model with the engine's getters.

use core::time::Duration;

use std::collections::VecDeque;

use super::{ensure, Violation};
use crate::close;
use crate::config::Config;
use crate::connection::{Connection, Role, Stats};
use crate::error::Error;
use crate::io::{Action, ConnId, DowngradeReason, FailReason, Input, State, Transport};
use crate::time::{millis, Instant};

mod actions;
mod invariants;
mod predict;

/// Where the live generation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Connecting,
    Open,
    Closing,
}

/// The one transport generation the model believes is live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Live {
    pub(super) conn: ConnId,
    pub(super) transport: Transport,
    pub(super) status: Status,
    /// A WebSocket upgrade probe from the HTTP fallback.
    pub(super) probe: bool,
}

/// A session that must not reconnect until `Start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Terminal {
    UserClosed,
    Failed(FailReason),
}

/// How the next reconnect delay is chosen (mirrors the close policy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Plan {
    #[default]
    Backoff,
    Uniform {
        min: Duration,
        max: Duration,
    },
    AtLeast {
        floor: Duration,
    },
}

/// The state an input must leave the engine in, when it can be predicted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Outcome {
    #[default]
    Any,
    State(State),
    Waiting,
    Connecting,
}

/// The ping whose answer (or any inbound frame) the engine is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ping {
    /// Bounds on when it was sent (they differ only in undrained batches).
    pub(super) earliest: Instant,
    pub(super) latest: Instant,
}

/// The engine's getters at one instant. [`Checked`](super::Checked) takes
/// one after every step, checks it, and keeps it as the next step's
/// "before": the engine is owned by `Checked`, only ever lent out as
/// `&Connection`, and its getters are pure (`&self`, no interior
/// mutability), so nothing can change it in between.
#[derive(Clone, Copy, Debug)]
pub(super) struct Snapshot {
    pub(super) state: State,
    pub(super) poll_timeout: Option<Instant>,
    pub(super) now: Instant,
    pub(super) queued: u64,
    pub(super) next_seq: u64,
    pub(super) acked: u64,
    pub(super) sent: u64,
    pub(super) high_sent: u64,
    pub(super) delivered: u64,
    pub(super) attempt: u32,
    pub(super) live: Option<ConnId>,
    pub(super) stats: Stats,
}

impl Snapshot {
    #[inline]
    pub(super) fn of<R: rand_core::Rng>(e: &Connection<R>) -> Self {
        let d = e.delivery();
        Self {
            state: e.state(),
            poll_timeout: e.poll_timeout(),
            now: e.now(),
            queued: d.queued(),
            next_seq: d.next_seq(),
            acked: d.acked(),
            sent: d.sent(),
            high_sent: d.highest_sent(),
            delivered: d.delivered(),
            attempt: e.attempt(),
            live: e.live_conn(),
            stats: e.stats(),
        }
    }

    /// `*self = Snapshot::of(e)` (one field list; inlined, so it is built
    /// in place).
    #[inline]
    pub(super) fn read<R: rand_core::Rng>(&mut self, e: &Connection<R>) {
        *self = Self::of(e);
    }
}

/// One step's prediction and tallies.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ctx {
    pub(super) input: Input,
    /// The engine's clamped `now` for this step.
    pub(super) now: Instant,
    pub(super) before: Snapshot,
    /// Several undrained timeouts in one batch: some checks relax.
    pub(super) batch: bool,
    pub(super) outcome: Outcome,
    pub(super) plan: Plan,
    pub(super) expect_err: Option<Error>,
    pub(super) expect_fail: Option<FailReason>,
    pub(super) expect_verdict: Option<Action>,
    pub(super) expect_pong: Option<u64>,
    pub(super) expect_downgrade: Option<DowngradeReason>,
    pub(super) expect_resume: bool,
    pub(super) stale: bool,
    pub(super) ignored: bool,
    /// Online/Offline: a probe may replace an unanswered ping.
    pub(super) probe_ok: bool,
    pub(super) online_wait: bool,
    pub(super) hint_wait: Option<Duration>,
    pub(super) user_close: bool,
    /// An upgrade probe (or the HTTP reconnect after one) failed this step.
    pub(super) probe_failed: bool,
    // Tallies of the actions seen.
    pub(super) control: usize,
    pub(super) transmits: usize,
    pub(super) overdue: usize,
    pub(super) acks: usize,
    pub(super) pongs: usize,
    pub(super) verdicts: usize,
    pub(super) max_tx: u64,
    pub(super) min_overdue: Option<u64>,
    pub(super) waited: Option<(Duration, u32)>,
    pub(super) unpaired_close: Option<ConnId>,
    pub(super) dead: bool,
}

impl Ctx {
    #[inline]
    fn new(input: Input, now: Instant, before: Snapshot) -> Self {
        Self {
            input,
            now,
            before,
            batch: false,
            outcome: Outcome::Any,
            plan: Plan::Backoff,
            expect_err: None,
            expect_fail: None,
            expect_verdict: None,
            expect_pong: None,
            expect_downgrade: None,
            expect_resume: false,
            stale: false,
            ignored: false,
            probe_ok: false,
            online_wait: false,
            hint_wait: None,
            user_close: false,
            probe_failed: false,
            control: 0,
            transmits: 0,
            overdue: 0,
            acks: 0,
            pongs: 0,
            verdicts: 0,
            max_tx: 0,
            min_overdue: None,
            waited: None,
            unpaired_close: None,
            dead: false,
        }
    }
}

/// A reference model of one [`Connection`] built only from what a driver
/// sees: the inputs it feeds and the actions it gets back.
#[derive(Clone, Debug)]
pub struct Model {
    pub(super) cfg: Config,
    pub(super) role: Role,
    /// Latest `now` the engine has accepted.
    pub(super) clock: Instant,
    /// Latest generation issued (by `Connect` or `accept`).
    pub(super) issued: u32,
    pub(super) live: Option<Live>,
    /// The generation the driver last reported closed while it was live: a
    /// retry-after hint may still name it (an abandoned one never).
    pub(super) reported_closed: Option<ConnId>,
    /// A generation `accept` replaces: its `Abandon` is still to come.
    pub(super) retiring: Option<ConnId>,
    pub(super) reported: State,
    pub(super) terminal: Option<Terminal>,
    pub(super) lazy: bool,
    pub(super) online: bool,
    pub(super) attempt: u32,
    /// Interval the previous drawn backoff delay lies in.
    pub(super) prev: (Duration, Duration),
    pub(super) hint: Option<Duration>,
    /// A standing reconnect window and the generation it was announced on.
    pub(super) window: Option<(ConnId, Duration)>,
    pub(super) server_errors: u32,
    pub(super) opened_at: Option<Instant>,
    pub(super) fallback_active: bool,
    pub(super) refused: u32,
    pub(super) ping: Option<Ping>,
    pub(super) last_nonce: u64,
    pub(super) delivered: u64,
    pub(super) dedup: VecDeque<u64>,
    pub(super) overdue_last: u64,
    pub(super) announced: Option<Instant>,
    /// Check the documented contract even where the engine is known to
    /// break it (the open findings in `TESTING.md`); off by default so the
    /// fuzzers keep searching past them.
    pub strict: super::Strict,
}

impl Model {
    /// The model of a fresh engine with this (validated) config and role.
    #[must_use]
    pub fn new(cfg: Config, role: Role) -> Self {
        Self {
            cfg,
            role,
            clock: Instant::ZERO,
            issued: 0,
            live: None,
            reported_closed: None,
            retiring: None,
            reported: State::Idle,
            terminal: None,
            lazy: false,
            online: true,
            attempt: 0,
            prev: (Duration::ZERO, Duration::ZERO),
            hint: None,
            window: None,
            server_errors: 0,
            opened_at: None,
            fallback_active: false,
            refused: 0,
            ping: None,
            last_nonce: 0,
            delivered: 0,
            dedup: VecDeque::new(),
            overdue_last: 0,
            announced: None,
            strict: super::Strict::NONE,
        }
    }

    /// The live generation the model tracks (what `Opened`/`Message` name).
    #[must_use]
    pub fn live_conn(&self) -> Option<ConnId> {
        self.live.map(|l| l.conn)
    }

    /// The latest generation issued.
    #[must_use]
    pub fn issued(&self) -> ConnId {
        ConnId(self.issued)
    }

    /// Inbound messages delivered in order so far.
    #[must_use]
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Whether the model believes the session reached `Closed`/`Failed`.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    fn live_is(&self, conn: ConnId, status: Option<Status>) -> bool {
        self.live
            .is_some_and(|l| l.conn == conn && status.is_none_or(|s| s == l.status))
    }

    /// The transport is gone (`transport_gone`): the uptime gate may reset the
    /// attempt counter, which also ends a 1011 streak.
    pub(super) fn end_generation(&mut self, now: Instant, was_open: bool) {
        self.live = None;
        self.ping = None;
        if was_open {
            if let Some(opened) = self.opened_at.take() {
                if now.saturating_duration_since(opened) >= self.cfg.reconnect.min_uptime {
                    self.attempt = 0;
                    self.prev = (Duration::ZERO, Duration::ZERO);
                }
            }
            if self.attempt == 0 {
                self.server_errors = 0;
            }
        }
    }

    fn on_open(&mut self, now: Instant, transport: Transport) {
        self.opened_at = Some(now);
        self.hint = None;
        self.ping = None;
        if transport == Transport::WebSocket {
            self.fallback_active = false;
            self.refused = 0;
        }
    }

    /// Whether attempt `next` is beyond the budget or the policy's end.
    pub(super) fn exhausted(&self, next: u32) -> bool {
        let r = &self.cfg.reconnect;
        r.max_attempts.is_some_and(|m| next > m) || r.policy.bounds(next, self.prev.0).is_none()
    }

    /// Whether the app may close with `code`. Known (finding F6): the
    /// engine applies the client's rules in both roles, so a server cannot
    /// send 1012-1014 and may send 1010; strict checks expect the role's.
    pub(super) fn sendable(&self, code: u16) -> bool {
        match (self.strict.has(super::Strict::F6), self.role) {
            (true, Role::Server) => close::can_send_as(close::Side::Server, code),
            _ => close::can_send(code),
        }
    }
}

/// Whole milliseconds of `d`, as a `Duration`.
pub(super) fn floor_ms(d: Duration) -> Duration {
    Duration::from_millis(millis(d))
}

/// The window a retry-after hint `h` puts the delay in.
pub(super) fn hinted(h: Duration) -> (Duration, Duration) {
    let spread = (h / 10).min(Duration::from_secs(1));
    (h, h.saturating_add(floor_ms(spread)))
}

/// `Err` unless `cond`; a shorthand used by the action checks. Inlined
/// (it runs several times per action); the message is built out of line.
#[inline(always)]
pub(super) fn check(cond: bool, what: &str, a: &Action, ctx: &Ctx) -> Result<(), Violation> {
    if cond {
        Ok(())
    } else {
        Err(action_violation(what, a, ctx))
    }
}

#[cold]
#[inline(never)]
fn action_violation(what: &str, a: &Action, ctx: &Ctx) -> Violation {
    super::violation(format_args!(
        "{what}: action {a:?} after input {:?} at {} (state before {:?})",
        ctx.input, ctx.now, ctx.before.state
    ))
}
