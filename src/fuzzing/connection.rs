//! The `connection` target: one engine, arbitrary inputs at arbitrary times.

use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use super::{or_panic, Checked, Violation};
use crate::delivery::DataId;
use crate::io::{ConnId, ConnectError, Frame, Input};
use crate::time::Instant;

/// Most operations one fuzz input runs (keeps every execution short).
pub const MAX_OPS: usize = 400;

mod setup;
pub use setup::{ConnSetup, HeartbeatSetup, Preset};

/// Names a transport generation relative to what the run has seen, so the
/// fuzzer easily hits the live one, the latest, and stale ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum GenRef {
    /// The live generation (the latest issued if none is live).
    Live,
    /// The latest generation issued, live or not.
    Latest,
    /// `1 + n` generations before the latest.
    Stale(u8),
    /// Any number.
    Raw(u32),
}

/// A close code: one of the interesting ones, or any `u16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum Code {
    /// `CODES[n % CODES.len()]`.
    Table(u8),
    /// This code.
    Raw(u16),
}

/// Every defined code, both edges of every range, and invalid ones.
pub const CODES: [u16; 31] = [
    1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015,
    1016, 2999, 3000, 3499, 3500, 3999, 4000, 4001, 4499, 4500, 4999, 0, 999, 5000, 65535,
];

impl Code {
    /// The code.
    #[must_use]
    pub fn get(self) -> u16 {
        match self {
            Self::Table(n) => CODES
                .get(usize::from(n) % CODES.len())
                .copied()
                .unwrap_or(1006),
            Self::Raw(c) => c,
        }
    }
}

/// A frame, mostly relative to the engine's counters so valid acks,
/// resumes, in-order data and matching pongs are easy to hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum FrameSpec {
    /// The peer pings.
    Ping(u64),
    /// A pong for the latest ping sent.
    PongLatest,
    /// A pong with any nonce.
    Pong(u64),
    /// The next in-order data frame.
    DataNext,
    /// An already delivered data frame, `n` back.
    DataBack(u8),
    /// Data with any seq.
    DataSeq(u64),
    /// Opaque id from a small pool (duplicates likely).
    DataOpaque(u8),
    /// Any opaque id.
    DataOpaqueRaw(u64),
    /// Unsequenced data.
    DataNone,
    /// Ack of everything sent.
    AckHigh,
    /// Ack `n` below everything sent.
    AckBack(u8),
    /// Ack one past everything sent (a protocol error).
    AckFuture,
    /// Any ack.
    Ack(u64),
    /// Resume at everything sent.
    ResumeHigh,
    /// Resume at the ack mark.
    ResumeAcked,
    /// Any resume.
    Resume(u64),
    /// A frame the engine does not interpret.
    Other,
}

/// A time step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum Step {
    /// Milliseconds.
    Ms(u8),
    /// Seconds.
    Secs(u16),
    /// Minutes.
    Minutes(u8),
    /// Back in time by this many ms (the engine clamps).
    Back(u16),
    /// To `u64::MAX - n` ms: the end of time.
    NearEnd(u16),
}

/// One step of a `connection` run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum ConnOp {
    /// `Input::Start`.
    Start,
    /// The transport opened.
    Opened(GenRef),
    /// The transport closed with a code.
    Closed(GenRef, Code),
    /// The attempt failed before opening.
    ConnectFailed(GenRef, ConnectError),
    /// A frame arrived.
    Message(GenRef, FrameSpec),
    /// The app sends (through `Input::Send` or `send()`).
    Send {
        /// Use `Input::Send` rather than `send()`.
        via_input: bool,
    },
    /// Send until the buffer refuses.
    SendToCap,
    /// `Input::Timeout` now (maybe early, maybe late).
    Timeout,
    /// Move the clock without telling the engine.
    Advance(Step),
    /// Jump to the next deadline and fire it, on time.
    Fire,
    /// Fire up to `1 + n` deadlines on time.
    Run(u8),
    /// The host is online.
    Online,
    /// The host is offline.
    Offline,
    /// The app closes with a code.
    Close(Code),
    /// A retry-after hint of `ms` milliseconds.
    RetryAfter(GenRef, u32),
    /// Server role: a client connected (`accept()` or `Input::Accepted`).
    Accept {
        /// Use `Input::Accepted` rather than `accept()`.
        via_input: bool,
    },
    /// Up to `2 + n % 8` timeouts at successive deadlines without draining.
    Undrained(u8),
    /// A standing reconnect window of `ms` milliseconds.
    ReconnectWindow(GenRef, u32),
}

/// Applies `op` at the driver's clock `now` (which ops may move).
pub(super) fn apply<R: rand_core::Rng>(
    h: &mut Checked<R>,
    now: &mut Instant,
    op: ConnOp,
) -> Result<(), Violation> {
    let t = *now;
    let conn = |h: &Checked<R>, g: GenRef| {
        let issued = h.model().issued().0;
        ConnId(match g {
            GenRef::Live => h.model().live_conn().map_or(issued, |c| c.0),
            GenRef::Latest => issued,
            GenRef::Stale(n) => issued.wrapping_sub(1 + u32::from(n)),
            GenRef::Raw(x) => x,
        })
    };
    match op {
        ConnOp::Start => {
            let _ = h.input(t, Input::Start)?;
        }
        ConnOp::Opened(g) => {
            let _ = h.input(t, Input::Opened { conn: conn(h, g) })?;
        }
        ConnOp::Closed(g, code) => {
            let input = Input::Closed {
                conn: conn(h, g),
                code: code.get(),
            };
            {
                let _ = h.input(t, input)?;
            };
        }
        ConnOp::ConnectFailed(g, error) => {
            let conn = conn(h, g);
            {
                let _ = h.input(t, Input::ConnectFailed { conn, error })?;
            };
        }
        ConnOp::Message(g, spec) => {
            let frame = frame(h, spec);
            {
                let _ = h.input(
                    t,
                    Input::Message {
                        conn: conn(h, g),
                        frame,
                    },
                )?;
            };
        }
        ConnOp::Send { via_input: true } => {
            let _ = h.input(t, Input::Send)?;
        }
        ConnOp::Send { via_input: false } => {
            let _ = h.send(t)?;
        }
        ConnOp::SendToCap => {
            let cap = h.engine().config().delivery.max_queued;
            for _ in 0..=cap.min(1100) {
                if h.send(t)?.is_err() {
                    break;
                }
            }
        }
        ConnOp::Timeout => {
            let _ = h.input(t, Input::Timeout)?;
        }
        ConnOp::Advance(step) => {
            let ms = t.as_millis();
            *now = Instant::from_millis(match step {
                Step::Ms(n) => ms.saturating_add(u64::from(n)),
                Step::Secs(n) => ms.saturating_add(u64::from(n).saturating_mul(1000)),
                Step::Minutes(n) => ms.saturating_add(u64::from(n).saturating_mul(60_000)),
                Step::Back(n) => ms.saturating_sub(u64::from(n)),
                Step::NearEnd(n) => u64::MAX - u64::from(n),
            });
        }
        ConnOp::Fire => fire(h, now, 1)?,
        ConnOp::Run(n) => fire(h, now, 1 + usize::from(n % 64))?,
        ConnOp::Online => {
            let _ = h.input(t, Input::Online)?;
        }
        ConnOp::Offline => {
            let _ = h.input(t, Input::Offline)?;
        }
        ConnOp::Close(code) => {
            let _ = h.input(t, Input::Close { code: code.get() })?;
        }
        ConnOp::RetryAfter(g, ms) => {
            let after = Duration::from_millis(u64::from(ms));
            {
                let _ = h.input(
                    t,
                    Input::RetryAfter {
                        conn: conn(h, g),
                        after,
                    },
                )?;
            };
        }
        ConnOp::Accept { via_input: true } => {
            let _ = h.input(t, Input::Accepted)?;
        }
        ConnOp::Accept { via_input: false } => {
            let _ = h.accept(t)?;
        }
        ConnOp::Undrained(n) => *now = h.timeouts_undrained(t, 2 + usize::from(n % 8))?.1,
        ConnOp::ReconnectWindow(g, ms) => {
            let window = Duration::from_millis(u64::from(ms));
            let _ = h.input(
                t,
                Input::ReconnectWindow {
                    conn: conn(h, g),
                    window,
                },
            )?;
        }
    }
    Ok(())
}

/// Fires up to `n` deadlines, each at its own instant (a punctual driver).
fn fire<R: rand_core::Rng>(
    h: &mut Checked<R>,
    now: &mut Instant,
    n: usize,
) -> Result<(), Violation> {
    for _ in 0..n {
        let Some(at) = h.poll_timeout() else {
            break;
        };
        *now = (*now).max(at);
        {
            let _ = h.input(*now, Input::Timeout)?;
        };
    }
    Ok(())
}

fn frame<R: rand_core::Rng>(h: &Checked<R>, spec: FrameSpec) -> Frame {
    let d = h.engine().delivery();
    let delivered = h.model().delivered();
    match spec {
        FrameSpec::Ping(nonce) => Frame::Ping { nonce },
        FrameSpec::PongLatest => Frame::Pong {
            nonce: h.model().last_nonce,
        },
        FrameSpec::Pong(nonce) => Frame::Pong { nonce },
        FrameSpec::DataNext => Frame::Data(DataId::Seq(delivered.saturating_add(1))),
        FrameSpec::DataBack(n) => Frame::Data(DataId::Seq(delivered.saturating_sub(u64::from(n)))),
        FrameSpec::DataSeq(s) => Frame::Data(DataId::Seq(s)),
        FrameSpec::DataOpaque(n) => Frame::Data(DataId::Opaque(u64::from(n % 8))),
        FrameSpec::DataOpaqueRaw(x) => Frame::Data(DataId::Opaque(x)),
        FrameSpec::DataNone => Frame::Data(DataId::None),
        FrameSpec::AckHigh => Frame::Ack {
            upto: d.highest_sent(),
        },
        FrameSpec::AckBack(n) => Frame::Ack {
            upto: d.highest_sent().saturating_sub(u64::from(n)),
        },
        FrameSpec::AckFuture => Frame::Ack {
            upto: d.highest_sent().saturating_add(1),
        },
        FrameSpec::Ack(upto) => Frame::Ack { upto },
        FrameSpec::ResumeHigh => Frame::Resume {
            last: d.highest_sent(),
        },
        FrameSpec::ResumeAcked => Frame::Resume { last: d.acked() },
        FrameSpec::Resume(last) => Frame::Resume { last },
        FrameSpec::Other => Frame::Other,
    }
}

/// Runs up to `max_ops` operations decoded from `u` on a checked engine.
pub(super) fn drive<R: rand_core::Rng>(
    h: &mut Checked<R>,
    u: &mut Unstructured<'_>,
    max_ops: usize,
) -> Result<(), Violation> {
    let mut now = Instant::ZERO;
    for _ in 0..max_ops {
        if u.is_empty() {
            break;
        }
        let Ok(op) = ConnOp::arbitrary(u) else {
            break;
        };
        h.note(&op);
        apply(h, &mut now, op)?;
    }
    Ok(())
}

/// The `connection` target; `Err` on the first broken invariant. Strict
/// checks (see [`Model::strict`](super::Model::strict)) when
/// `REDIAL_FUZZ_STRICT` is set.
///
/// # Errors
/// The violation, with the step that caused it.
pub fn try_run_connection(data: &[u8]) -> Result<(), Violation> {
    check_connection(data, super::Strict::from_env())
}

/// [`try_run_connection`] with the strictness given explicitly.
///
/// # Errors
/// The violation, with the step that caused it.
pub fn check_connection(data: &[u8], strict: super::Strict) -> Result<(), Violation> {
    let mut u = Unstructured::new(data);
    let Ok(setup) = ConnSetup::arbitrary(&mut u) else {
        return Ok(());
    };
    let cfg = setup.config();
    let mut h = Checked::new(cfg, setup.rng, setup.role())
        .map_err(|e| Violation::new(std::format!("setup built an invalid config: {e}")))?;
    h.set_strict(strict);
    drive(&mut h, &mut u, MAX_OPS)
}

/// Replays a `connection` input and returns a readable trace of every step
/// (setup, inputs, actions, states) ending with the violation, if any.
#[must_use]
pub fn explain_connection(data: &[u8]) -> std::string::String {
    let strict = super::Strict::from_env();
    let mut u = Unstructured::new(data);
    let Ok(setup) = ConnSetup::arbitrary(&mut u) else {
        return "input too short for a setup".into();
    };
    let cfg = setup.config();
    let mut out = std::format!("{setup:?}\n{cfg:?}\n");
    let Ok(mut h) = Checked::new(cfg, setup.rng, setup.role()) else {
        return out;
    };
    h.enable_trace();
    h.set_strict(strict);
    let r = drive(&mut h, &mut u, MAX_OPS);
    out.push_str(h.trace().unwrap_or_default());
    if let Err(v) = r {
        out.push_str(&std::format!("{v}\n"));
    }
    out
}

/// The `connection` target: panics on the first broken invariant.
pub fn run_connection(data: &[u8]) {
    or_panic(try_run_connection(data));
}
