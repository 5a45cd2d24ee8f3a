//! Delivery: sequence numbers, cumulative acks, retransmit, resume, dedup
//! (R5, R6, R8, R17).
//!
//! [`Delivery`] decides *which* message goes on the wire and *whether* an
//! inbound one reaches the app; it never sees a payload. The driver (or the
//! `Outbox`) keeps payloads by sequence number and drops them once
//! [`Delivery::acked`] passes them. Client and server run the same machine.
//!
//! # Model: go-back-N over an ordered transport
//!
//! * Outbound seqs start at 1. [`push`](Delivery::push) numbers a message; it
//!   stays *queued* until acked. At `max_queued` queued messages `push` fails
//!   with [`SendError::Full`] and nothing already accepted is dropped.
//! * [`poll_transmit`](Delivery::poll_transmit) yields seqs in order, only
//!   while a transport is open and the machine is *ready*. Sending while
//!   closed or connecting never errors: the message waits and is flushed in
//!   order on open (R8).
//! * **Acked mode** (`acks = true`): the peer returns cumulative
//!   `Ack{upto}`. With no ack progress for `ack_timeout` the cursor rewinds to
//!   the ack mark and everything unacked is sent again (R17). Each further
//!   resend without progress on the same transport waits twice as long, up
//!   to `max_ack_timeout` (see [Retransmit back-off](#retransmit-back-off)).
//!   On a new
//!   transport each side first sends `Resume{last}` (the value
//!   [`on_open`](Delivery::on_open) returns: what it delivered in order), and
//!   the other side resends from `last + 1` (R5). If no `Resume` arrives
//!   within `ack_timeout`, it resends from its own ack mark; the receiver drops
//!   what it already has.
//! * **Unacked mode** (`acks = false`, default): a transmitted message counts
//!   as done at once. Only buffering while not open applies; anything the
//!   transport loses is lost. This is the right mode for a peer that does not
//!   speak acks, which would otherwise see every message resent forever.
//! * Inbound [`DataId::Seq`] is accepted only in order (`delivered + 1`);
//!   duplicates and gaps are dropped and the sender's retransmit or resume
//!   fills the gap. [`DataId::Opaque`] ids from peers we do not control are
//!   checked against a bounded window ([`DedupWindow`]): exactly-once holds
//!   only within the last `dedup_window` distinct ids.
//!
//! # Retransmit back-off
//!
//! A transport that stays open but stops delivering (a stalled proxy, a
//! peer whose app stopped reading) would otherwise get the whole window
//! again every `ack_timeout`, forever, into a socket that cannot drain. The
//! resend timer backs off the way TCP's does:
//!
//! > When the retransmission timer expires, do the following: ... The host
//! > MUST set RTO <- RTO * 2 ("back off the timer"). The maximum value
//! > discussed in (2.5) above may be used to provide an upper bound to this
//! > doubling operation.
//! > — RFC 6298, section 5.5
//!
//! > A maximum value MAY be placed on RTO provided it is at least 60 seconds.
//! > — RFC 6298, section 2.5
//!
//! The delay is `ack_timeout × 2^k` after `k` resends without ack progress,
//! capped at `max(max_ack_timeout, ack_timeout)`. Ack progress and a new
//! transport reset `k` to 0, so a link that recovers is served at full pace
//! again, and a reconnect (the usual cure for a stalled link) starts fresh.
//!
//! # Overdue (R6)
//!
//! A queued message not acked within `delivery_deadline` of its `push` is
//! reported once by [`poll_overdue`](Delivery::poll_overdue), in seq order,
//! and stays queued. Per-message timestamps do not fit the memory budget, so
//! pushes are grouped into at most 16 checkpoints; a checkpoint records the
//! time of its *latest* push and a new one opens every `deadline / 14`. Hence
//! a message is **never reported before its deadline**, and, as long as the
//! driver drains `poll_overdue` when [`poll_timeout`](Delivery::poll_timeout)
//! says, at most `deadline / 14` late (about 2.1 s for the 30 s default). If
//! the ring fills anyway, the newest checkpoint absorbs further pushes: later,
//! never earlier. In unacked mode only messages never transmitted can become
//! overdue.
//!
//! # Driving it
//!
//! After every input, drain [`poll_transmit`](Delivery::poll_transmit),
//! [`poll_ack`](Delivery::poll_ack) and
//! [`poll_overdue`](Delivery::poll_overdue); when `now` reaches
//! [`poll_timeout`](Delivery::poll_timeout), call
//! [`handle_timeout`](Delivery::handle_timeout) and drain again. An ack or
//! overdue deadline stays in `poll_timeout` until its poll consumes it. A
//! `now` earlier than one already seen is treated as the latest one seen.

use core::time::Duration;

use crate::dedup::DedupWindow;
use crate::time::{earliest, Earliest, Instant};

mod overdue;
#[cfg(test)]
mod tests;
mod types;

use overdue::Checkpoints;
pub use types::{DataId, DeliveryConfig, ProtocolError, SendError, Verdict};

/// The delivery sub-machine: counters, cursors and fixed rings, no payloads.
///
/// `IDS` is the capacity of its opaque-id window ([`DedupWindow`]): 256 by
/// default (2 KiB); 0 for peers that label messages with sequence numbers
/// only, which never use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery<const IDS: usize = 256> {
    /// Latest `now` seen; earlier ones are clamped to it.
    latest: Instant,
    /// Highest seq assigned by `push`.
    pushed: u64,
    /// Cumulative ack mark: every seq `<= acked` is done.
    acked: u64,
    /// Transmit cursor: next transmit is `sent + 1`.
    sent: u64,
    /// Highest seq ever transmitted (bounds acks and resumes).
    high_sent: u64,
    /// Inbound: highest seq delivered in order.
    delivered: u64,
    /// Inbound: the mark of our latest `Ack`/`Resume`.
    last_ack_sent: u64,
    /// Highest seq reported overdue.
    overdue_upto: u64,
    ack_due: Option<Instant>,
    last_ack_at: Option<Instant>,
    retransmit_at: Option<Instant>,
    /// Resends without ack progress on this transport (the back-off
    /// exponent, saturating well past the cap).
    resends: u8,
    resume_until: Option<Instant>,
    open: bool,
    ready: bool,
    /// An immediate ack was already made due for the current gap.
    gap_acked: bool,
    /// Push times for overdue reports.
    overdue: Checkpoints,
    dedup: DedupWindow<IDS>,
}

impl<const IDS: usize> Default for Delivery<IDS> {
    fn default() -> Self {
        Self::with_id_capacity()
    }
}

impl Delivery {
    /// A fresh machine with the default opaque-id window (256 ids): nothing
    /// queued, transport closed.
    #[must_use]
    pub const fn new() -> Self {
        Self::with_id_capacity()
    }
}

impl<const IDS: usize> Delivery<IDS> {
    /// A fresh machine whose opaque-id window holds `IDS` ids (at most
    /// 256, checked at compile time): nothing queued, transport closed.
    /// [`DeliveryConfig::dedup_window`] must not exceed `IDS`; the engine
    /// checks that when it is built ([`Connection::with_role`]), a
    /// standalone `Delivery` clamps the window to `IDS`.
    ///
    /// [`Connection::with_role`]: crate::Connection::with_role
    #[must_use]
    pub const fn with_id_capacity() -> Self {
        Self {
            latest: Instant::ZERO,
            pushed: 0,
            acked: 0,
            sent: 0,
            high_sent: 0,
            delivered: 0,
            last_ack_sent: 0,
            overdue_upto: 0,
            ack_due: None,
            last_ack_at: None,
            retransmit_at: None,
            resends: 0,
            resume_until: None,
            open: false,
            ready: false,
            gap_acked: false,
            overdue: Checkpoints::new(),
            dedup: DedupWindow::EMPTY,
        }
    }

    /// Numbers a new outbound message; it is queued until acked.
    ///
    /// # Errors
    /// [`SendError::Full`] when `max_queued` messages are queued (or, never in
    /// practice, the seq space is exhausted). Nothing changes then.
    #[inline]
    pub fn push(&mut self, now: Instant, cfg: &DeliveryConfig) -> Result<u64, SendError> {
        if self.queued() >= u64::from(cfg.max_queued) || self.pushed == u64::MAX {
            return Err(SendError::Full {
                cap: cfg.max_queued,
            });
        }
        let now = self.observe(now);
        self.prune();
        self.pushed = self.pushed.saturating_add(1);
        self.overdue.record(self.pushed, now, cfg.delivery_deadline);
        Ok(self.pushed)
    }

    /// The next seq to put on the wire, if the transport is open, the machine
    /// is ready (resume settled) and something is waiting.
    #[must_use]
    #[inline]
    pub fn poll_transmit(&mut self, now: Instant, cfg: &DeliveryConfig) -> Option<u64> {
        let now = self.observe(now);
        if !self.open
            || !self.ready
            || self.sent >= self.pushed
            || self.in_flight() >= u64::from(cfg.max_queued)
        {
            return None;
        }
        let seq = self.sent.saturating_add(1);
        self.sent = seq;
        self.high_sent = self.high_sent.max(seq);
        if cfg.acks {
            if self.retransmit_at.is_none() {
                self.retransmit_at = Some(now.saturating_add(self.rto(cfg)));
            }
        } else {
            self.acked = seq;
            self.prune();
        }
        Some(seq)
    }

    /// A transport opened. In acked mode returns the mark to send as
    /// `Resume{last}` and holds transmission until the peer's `Resume` (or
    /// `ack_timeout`); in unacked mode returns `None` and is ready at once.
    #[must_use = "in acked mode the returned mark must be sent as Resume"]
    pub fn on_open(&mut self, now: Instant, cfg: &DeliveryConfig) -> Option<u64> {
        let now = self.observe(now);
        self.open = true;
        self.gap_acked = false;
        self.retransmit_at = None;
        self.resends = 0;
        self.ack_due = None;
        if cfg.acks {
            self.sent = self.acked;
            self.ready = false;
            self.resume_until = Some(now.saturating_add(cfg.ack_timeout));
            // The Resume frame carries our mark, so it counts as an ack.
            self.last_ack_sent = self.delivered;
            self.last_ack_at = Some(now);
            Some(self.delivered)
        } else {
            self.ready = true;
            self.resume_until = None;
            None
        }
    }

    /// The transport is gone. Acked mode rewinds to the ack mark (all unacked
    /// is resent after resume); unacked mode keeps what was never transmitted.
    #[inline]
    pub fn on_close(&mut self, cfg: &DeliveryConfig) {
        self.open = false;
        self.ready = false;
        self.gap_acked = false;
        self.resume_until = None;
        self.retransmit_at = None;
        self.ack_due = None;
        if cfg.acks {
            self.sent = self.acked;
        }
    }

    /// The peer's cumulative `Ack{upto}`. An ack at or below our mark is
    /// ignored.
    ///
    /// # Errors
    /// [`ProtocolError::AckFromFuture`] if `upto` exceeds the highest seq ever
    /// sent; nothing changes then.
    #[inline]
    pub fn on_ack(
        &mut self,
        now: Instant,
        upto: u64,
        cfg: &DeliveryConfig,
    ) -> Result<(), ProtocolError> {
        let now = self.observe(now);
        if upto > self.high_sent {
            return Err(ProtocolError::AckFromFuture {
                upto,
                sent: self.high_sent,
            });
        }
        if upto > self.acked {
            self.advance(now, upto, cfg);
        }
        Ok(())
    }

    /// The peer's `Resume{last}` on a new transport: ack up to `last`, resend
    /// from `last + 1`, become ready. In unacked mode there is nothing to
    /// resend, so only the sanity check applies.
    ///
    /// # Errors
    /// [`ProtocolError::ResumeBehind`] if `last` is below our ack mark,
    /// [`ProtocolError::ResumeFromFuture`] if beyond the highest seq sent;
    /// nothing changes then.
    pub fn on_resume(
        &mut self,
        now: Instant,
        last: u64,
        cfg: &DeliveryConfig,
    ) -> Result<(), ProtocolError> {
        let now = self.observe(now);
        if last > self.high_sent {
            return Err(ProtocolError::ResumeFromFuture {
                last,
                sent: self.high_sent,
            });
        }
        if !cfg.acks {
            return Ok(());
        }
        if last < self.acked {
            return Err(ProtocolError::ResumeBehind {
                last,
                acked: self.acked,
            });
        }
        if last > self.acked {
            self.advance(now, last, cfg);
        }
        self.sent = last;
        self.retransmit_at = None;
        self.resume_until = None;
        self.ready = self.open;
        Ok(())
    }

    /// Judges an inbound data message (see [`Verdict`]).
    #[must_use = "a Duplicate or Gap must not reach the app"]
    #[inline(always)] // the per-message path of `Connection::handle`
    pub fn on_data(&mut self, now: Instant, id: DataId, cfg: &DeliveryConfig) -> Verdict {
        let now = self.observe(now);
        match id {
            DataId::None => Verdict::Deliver,
            DataId::Opaque(x) => {
                if self.dedup.observe(x, cfg.dedup_window) {
                    Verdict::Deliver
                } else {
                    Verdict::Duplicate
                }
            }
            DataId::Seq(s) if s <= self.delivered => {
                if cfg.acks {
                    // The peer is resending what we have: re-ack soon, at
                    // most once per ack_delay so a resend burst is one ack.
                    let at = self
                        .last_ack_at
                        .map_or(now, |t| t.saturating_add(cfg.ack_delay).max(now));
                    self.arm_ack(at);
                }
                Verdict::Duplicate
            }
            DataId::Seq(s) if s == self.delivered.saturating_add(1) => {
                self.delivered = s;
                self.gap_acked = false;
                if cfg.acks {
                    let unacked = self.delivered.saturating_sub(self.last_ack_sent);
                    if unacked >= u64::from(cfg.ack_every) {
                        self.arm_ack(now);
                    } else if self.ack_due.is_none() {
                        // An ack already due stays due: every arming was at
                        // most `then + ack_delay` for a `then <= now`, never
                        // later than this one would be, so only the first
                        // message of a batch pays for the addition.
                        self.arm_ack(now.saturating_add(cfg.ack_delay));
                    }
                }
                Verdict::Deliver
            }
            DataId::Seq(_) => {
                if cfg.acks && !self.gap_acked {
                    self.gap_acked = true;
                    self.arm_ack(now);
                }
                Verdict::Gap
            }
        }
    }

    /// The cumulative mark to send as `Ack{upto}`, once an ack is due; records
    /// it as sent. Always `None` in unacked mode or while closed.
    #[must_use]
    #[inline]
    pub fn poll_ack(&mut self, now: Instant, cfg: &DeliveryConfig) -> Option<u64> {
        let now = self.observe(now);
        if !cfg.acks {
            self.ack_due = None;
            return None;
        }
        if !self.open || self.ack_due.is_none_or(|t| t > now) {
            return None;
        }
        self.ack_due = None;
        self.last_ack_sent = self.delivered;
        self.last_ack_at = Some(now);
        Some(self.delivered)
    }

    /// The next queued seq past its delivery deadline, each reported once and
    /// in order (see the module doc for precision). It stays queued.
    #[must_use]
    #[inline]
    pub fn poll_overdue(&mut self, now: Instant, cfg: &DeliveryConfig) -> Option<u64> {
        let now = self.observe(now);
        let (seq, due) = self.overdue_due(cfg)?;
        if due > now {
            return None;
        }
        self.overdue_upto = seq;
        self.prune();
        Some(seq)
    }

    /// The earliest deadline: ack due, retransmit, resume wait or overdue.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self, cfg: &DeliveryConfig) -> Option<Instant> {
        self.fold_timeout(Earliest::NONE, cfg).get()
    }

    /// [`poll_timeout`](Self::poll_timeout) folded into `acc`.
    #[must_use]
    #[inline]
    pub(crate) fn fold_timeout(&self, acc: Earliest, cfg: &DeliveryConfig) -> Earliest {
        let ack = if self.open && cfg.acks {
            self.ack_due
        } else {
            None
        };
        acc.with(ack)
            .with(self.retransmit_at)
            .with(self.resume_until)
            .with(self.overdue_due(cfg).map(|(_, at)| at))
    }

    /// Applies due timers: a retransmit rewinds to the ack mark, an expired
    /// resume wait makes the machine ready. Acks and overdue reports are then
    /// collected with their polls.
    #[inline]
    pub fn handle_timeout(&mut self, now: Instant, cfg: &DeliveryConfig) {
        let now = self.observe(now);
        if self.resume_until.is_some_and(|t| t <= now) {
            self.resume_until = None;
            self.ready = self.open;
        }
        if self.retransmit_at.is_some_and(|t| t <= now) {
            self.retransmit_at = None;
            if cfg.acks {
                self.sent = self.acked;
                // RFC 6298 (5.5): back off the timer. 31 doublings pass any
                // cap of interest (1 ms × 2^31 is 24 days); saturating there
                // keeps the shift in range.
                self.resends = self.resends.saturating_add(1).min(31);
            }
        }
        if (!self.open || !cfg.acks) && self.ack_due.is_some_and(|t| t <= now) {
            self.ack_due = None;
        }
    }

    /// The seq the next `push` will get.
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.pushed.saturating_add(1)
    }

    /// Cumulative ack mark: seqs up to here are done (drop their payloads).
    #[must_use]
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Transmit cursor: the last seq yielded in the current pass.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The highest seq ever transmitted.
    #[must_use]
    pub fn highest_sent(&self) -> u64 {
        self.high_sent
    }

    /// Inbound: the highest seq delivered in order.
    #[must_use]
    #[inline]
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Messages pushed and not yet acked.
    #[must_use]
    #[inline]
    pub fn queued(&self) -> u64 {
        self.pushed.saturating_sub(self.acked)
    }

    /// Messages transmitted in the current pass and not yet acked.
    #[must_use]
    #[inline]
    pub fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.acked)
    }

    /// Whether a transport is open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Whether `poll_transmit` may yield (open and resume settled).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    #[inline]
    fn observe(&mut self, now: Instant) -> Instant {
        self.latest = self.latest.max(now);
        self.latest
    }

    #[inline]
    fn arm_ack(&mut self, at: Instant) {
        self.ack_due = earliest(self.ack_due, Some(at));
    }

    /// Ack progress to `upto` (`acked < upto <= high_sent`).
    #[inline]
    fn advance(&mut self, now: Instant, upto: u64, cfg: &DeliveryConfig) {
        self.acked = upto;
        self.sent = self.sent.max(upto);
        self.resends = 0;
        self.retransmit_at = if self.in_flight() > 0 && self.open && cfg.acks {
            Some(now.saturating_add(cfg.ack_timeout))
        } else {
            None
        };
        self.prune();
    }

    /// The current resend delay: `ack_timeout` doubled per resend without
    /// progress, capped at `max(max_ack_timeout, ack_timeout)`.
    #[inline]
    fn rto(&self, cfg: &DeliveryConfig) -> Duration {
        let cap = cfg.max_ack_timeout.max(cfg.ack_timeout);
        cfg.ack_timeout
            .checked_mul(1u32 << self.resends.min(31))
            .map_or(cap, |d| d.min(cap))
    }

    /// Resends without ack progress on this transport: the retransmit
    /// back-off exponent (0 after any progress or a new transport; it stops
    /// counting at 31, past any useful cap).
    #[must_use]
    pub fn resends(&self) -> u8 {
        self.resends
    }

    /// Forgets push times of seqs that are acked or already reported.
    #[inline]
    fn prune(&mut self) {
        self.overdue
            .prune(self.acked.max(self.overdue_upto), self.pushed);
    }

    /// The next seq to report overdue and when it becomes due.
    #[inline]
    fn overdue_due(&self, cfg: &DeliveryConfig) -> Option<(u64, Instant)> {
        let deadline = cfg.delivery_deadline?;
        let done = self.acked.max(self.overdue_upto);
        if done >= self.pushed {
            return None;
        }
        let seq = done.saturating_add(1);
        Some((seq, self.overdue.due(seq, deadline)?))
    }
}
