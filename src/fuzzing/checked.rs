//! [`Checked`]: a driver wrapper that checks every step.

use std::string::String;
use std::vec::Vec;

use rand_core::Rng;

use super::model::{Ctx, Snapshot};
use super::{ensure, Model, Violation};
use crate::config::Config;
use crate::connection::{Connection, Role};
use crate::error::{ConfigError, Error};
use crate::io::{Action, ConnId, Input};
use crate::queue::CAPACITY;
use crate::time::Instant;

/// A [`Connection`] driven through a checking driver: every input is
/// predicted by the [`Model`], fed, its actions drained and judged one by
/// one, and then the engine-wide invariants are checked (see `TESTING.md`).
///
/// Each method returns the engine's own result inside `Ok`, or the first
/// broken invariant as `Err(Violation)`.
#[derive(Debug)]
pub struct Checked<R> {
    engine: Connection<R>,
    model: Model,
    /// The engine's getters after the last step (or at construction).
    snap: Snapshot,
    actions: Vec<Action>,
    trace: Option<String>,
}

impl<R: Rng> Checked<R> {
    /// A checked client or server engine.
    ///
    /// # Errors
    /// The config's validation error, exactly as `Connection::new` gives it.
    pub fn new(cfg: Config, rng: R, role: Role) -> Result<Self, ConfigError> {
        let engine = match role {
            Role::Client => Connection::new(cfg, rng)?,
            Role::Server => Connection::server(cfg, rng)?,
        };
        Ok(Self {
            snap: Snapshot::of(&engine),
            engine,
            model: Model::new(cfg, role),
            actions: Vec::new(),
            trace: None,
        })
    }

    /// The engine, read-only.
    #[must_use]
    pub fn engine(&self) -> &Connection<R> {
        &self.engine
    }

    /// The reference model.
    #[must_use]
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The engine's `poll_timeout()`, as read and checked at the end of
    /// the last step (the engine has not changed since).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.snap.poll_timeout
    }

    /// The engine's `state()`, as read and checked at the end of the last
    /// step.
    #[must_use]
    pub fn state(&self) -> crate::io::State {
        self.snap.state
    }

    /// Check the documented contract even where the engine is known to
    /// break it (the open findings listed in `TESTING.md`).
    pub fn set_strict(&mut self, strict: super::Strict) {
        self.model.strict = strict;
    }

    /// Records every step (input, result, actions, state) from now on.
    pub fn enable_trace(&mut self) {
        self.trace = Some(String::new());
    }

    /// The steps recorded since [`enable_trace`](Self::enable_trace).
    #[must_use]
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }

    /// Adds a line to the trace, if one is being recorded.
    pub fn note(&mut self, what: &dyn core::fmt::Debug) {
        if let Some(t) = self.trace.as_mut() {
            use core::fmt::Write as _;
            let _ = writeln!(t, "== {what:?}");
        }
    }

    /// Takes the steps recorded so far, leaving the record empty.
    pub fn take_trace(&mut self) -> String {
        self.trace.as_mut().map(core::mem::take).unwrap_or_default()
    }

    /// The actions the last step returned, in order.
    #[must_use]
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Feeds `input` at `now`, drains and checks.
    ///
    /// # Errors
    /// The first invariant the step broke.
    pub fn input(&mut self, now: Instant, input: Input) -> Result<Result<(), Error>, Violation> {
        let mut ctx = self.model.ctx(now, input, &self.snap);
        self.model.pre_input(&mut ctx);
        let r = self.engine.handle(now, input);
        self.finish(&mut ctx, r.err())?;
        Ok(r)
    }

    /// [`Connection::send`] at `now`, checked (the returned seq must be the
    /// `next_seq` announced before).
    ///
    /// # Errors
    /// The first invariant the step broke.
    pub fn send(&mut self, now: Instant) -> Result<Result<u64, Error>, Violation> {
        let mut ctx = self.model.ctx(now, Input::Send, &self.snap);
        self.model.pre_input(&mut ctx);
        let r = self.engine.send(now);
        if let Ok(seq) = r {
            let next = self.engine.delivery().next_seq();
            ensure!(
                seq == ctx.before.next_seq && next == seq.saturating_add(1),
                "send returned {seq}, next_seq was {} and is now {next}",
                ctx.before.next_seq
            );
        }
        self.finish(&mut ctx, r.err())?;
        Ok(r)
    }

    /// [`Connection::accept`] at `now`, checked.
    ///
    /// # Errors
    /// The first invariant the step broke.
    pub fn accept(&mut self, now: Instant) -> Result<Result<ConnId, Error>, Violation> {
        let mut ctx = self.model.ctx(now, Input::Accepted, &self.snap);
        self.model.pre_input(&mut ctx);
        let r = self.engine.accept(now);
        if let Ok(conn) = r {
            ensure!(
                conn == self.model.issued(),
                "accept gave {conn}, expected {}",
                self.model.issued()
            );
        }
        self.finish(&mut ctx, r.err())?;
        Ok(r)
    }

    /// Feeds up to `n` `Input::Timeout`s at one instant (the engine's next
    /// deadline, never before `now`) without draining in between (a driver
    /// that falls behind), then drains once. Stops at the first refusal,
    /// which must be `ActionsPending` and change nothing. Returns how many
    /// were accepted and the instant used.
    ///
    /// # Errors
    /// The first invariant the batch broke.
    pub fn timeouts_undrained(
        &mut self,
        now: Instant,
        n: usize,
    ) -> Result<(usize, Instant), Violation> {
        let first = self.snap;
        let mut last: Option<Ctx> = None;
        let mut fed = 0;
        let t = first.poll_timeout.map_or(now, |d| d.max(now));
        for i in 0..n {
            // No check runs between the timeouts of a batch, so only the
            // first one starts from the checked snapshot.
            let b = if i == 0 {
                first
            } else {
                Snapshot::of(&self.engine)
            };
            let mut c = self.model.ctx(t, Input::Timeout, &b);
            self.model.pre_input(&mut c);
            c.batch = true;
            match self.engine.handle(t, Input::Timeout) {
                Ok(()) => {
                    self.model.clock = c.now;
                    fed += 1;
                    last = Some(c);
                }
                Err(e) => {
                    self.model.check_refusal(&self.engine, &c, e)?;
                    break;
                }
            }
        }
        let Some(mut ctx) = last else {
            // Refused at once: check_refusal found the engine unchanged, but
            // (tolerant F1) its clock may have moved; read it again.
            self.snap.read(&self.engine);
            return Ok((0, t));
        };
        ctx.before = first;
        self.drain(&mut ctx)?;
        self.check(&ctx)?;
        Ok((fed, t))
    }

    /// Takes the snapshot after a drained step, checks every invariant on
    /// it, and keeps it as the next step's "before".
    fn check(&mut self, ctx: &Ctx) -> Result<(), Violation> {
        self.snap.read(&self.engine);
        self.model.check_invariants(&self.snap, ctx)
    }

    fn finish(&mut self, ctx: &mut Ctx, err: Option<Error>) -> Result<(), Violation> {
        match err {
            Some(e) => self.model.check_refusal(&self.engine, ctx, e)?,
            None => {
                ensure!(
                    ctx.expect_err.is_none(),
                    "{:?} accepted in {:?}; the model expected {:?}",
                    ctx.input,
                    ctx.before.state,
                    ctx.expect_err
                );
                self.model.clock = ctx.now;
            }
        }
        self.drain(ctx)?;
        if err.is_some() {
            ensure!(
                ctx.control == 0,
                "refused {:?} still queued actions {:?}",
                ctx.input,
                self.actions
            );
        }
        self.check(ctx)
    }

    fn drain(&mut self, ctx: &mut Ctx) -> Result<(), Violation> {
        self.actions.clear();
        if let Some(t) = self.trace.as_mut() {
            use core::fmt::Write as _;
            let _ = writeln!(
                t,
                "{:>8} {:?}{}",
                ctx.now.as_millis(),
                ctx.input,
                if ctx.batch { " (undrained batch)" } else { "" }
            );
        }
        let r = self.drain_inner(ctx);
        if let Some(t) = self.trace.as_mut() {
            use core::fmt::Write as _;
            for a in &self.actions {
                let _ = writeln!(t, "           -> {a:?}");
            }
            let _ = writeln!(t, "           state {:?}", self.engine.state());
        }
        r
    }

    fn drain_inner(&mut self, ctx: &mut Ctx) -> Result<(), Violation> {
        // Control actions, then at most one ack, a window of transmits, a
        // window of overdue reports and one timer.
        let window = self.model.cfg.delivery.max_queued as usize;
        let bound = CAPACITY
            .saturating_add(window.saturating_mul(2))
            .saturating_add(2);
        while let Some(a) = self.engine.poll_action() {
            self.actions.push(a);
            ensure!(
                self.actions.len() <= bound,
                "poll_action does not drain within {bound} steps: {:?}",
                self.actions.get(..8)
            );
            self.model.on_action(a, ctx)?;
        }
        Ok(())
    }
}
