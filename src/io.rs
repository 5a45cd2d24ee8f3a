//! The engine's vocabulary: what a driver feeds in ([`Input`]), what it gets
//! back ([`Action`]), and the state an app can show ([`State`]).
//!
//! All three are small `Copy` values: the engine never sees payload bytes, only
//! sequence numbers, codes and counts.

use core::fmt;
use core::time::Duration;

use crate::delivery::{DataId, ProtocolError};
use crate::time::Instant;

/// A transport generation. Every `Connect` action names a fresh one, and every
/// event the driver reports carries the generation of the socket it came from,
/// so late events from an abandoned socket are recognised and ignored (R27).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which transport a `Connect` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Transport {
    /// A WebSocket (RFC 6455).
    WebSocket,
    /// The HTTP fallback (long-poll for inbound, POST for outbound), speaking
    /// the same frames as the WebSocket (R25).
    Http,
}

/// Why a connection attempt failed before it opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ConnectError {
    /// The transport could not even parse the URL (JS `new WebSocket(url)`
    /// throws `SyntaxError`). Retrying cannot help: the engine downgrades to
    /// HTTP (R1).
    InvalidUrl,
    /// DNS, refused, reset, unreachable, or the driver's own timeout: the
    /// network. Never a reason to downgrade (R13); back off and retry (R2).
    Network,
    /// The server answered the upgrade request with something other than
    /// `101 Switching Protocols` (`status`, when the driver knows it): a proxy
    /// that strips WebSocket, or a server that is not a WebSocket server.
    Handshake {
        /// The HTTP status, if the driver could read it.
        status: Option<u16>,
    },
}

/// A frame that arrived on the live transport, reduced to what the engine
/// decides with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Frame {
    /// Application data, with its sequence number or id when it has one.
    Data(DataId),
    /// The peer's heartbeat ping: the engine answers with `SendPong`.
    Ping {
        /// Echo this back in the pong.
        nonce: u64,
    },
    /// An answer to our ping.
    Pong {
        /// The nonce of the ping it answers.
        nonce: u64,
    },
    /// The peer delivered our messages up to and including `upto`.
    Ack {
        /// Cumulative sequence number.
        upto: u64,
    },
    /// After a reconnect: the peer delivered our messages up to `last`.
    Resume {
        /// Highest sequence number the peer delivered in order.
        last: u64,
    },
    /// Any other frame (a protocol the engine does not interpret). It still
    /// proves the link is alive.
    Other,
}

/// Everything that can happen to a session. Pass each to
/// [`Connection::handle`](crate::Connection::handle) with the current time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Input {
    /// The app wants the session up (first start, or again after `Closed` /
    /// `Failed`).
    Start,
    /// The transport of generation `conn` finished its handshake.
    Opened {
        /// Generation from the `Connect` action.
        conn: ConnId,
    },
    /// The transport of generation `conn` closed (`onclose`). Use 1006 when it
    /// ended without a close frame (EOF, reset) and 1005 for a close frame
    /// without a code, as browsers do.
    Closed {
        /// Generation from the `Connect` action.
        conn: ConnId,
        /// The close code as received.
        code: u16,
    },
    /// The attempt of generation `conn` failed before it opened.
    ConnectFailed {
        /// Generation from the `Connect` action.
        conn: ConnId,
        /// What kind of failure.
        error: ConnectError,
    },
    /// A frame arrived on generation `conn`.
    Message {
        /// Generation of the socket it arrived on.
        conn: ConnId,
        /// The decoded frame.
        frame: Frame,
    },
    /// The app sends one message. Prefer
    /// [`Connection::send`](crate::Connection::send), which returns its
    /// sequence number.
    Send,
    /// A deadline from `poll_timeout` (or a `ScheduleTimer` action) is due.
    Timeout,
    /// The host reports network connectivity (`online` event).
    Online,
    /// The host reports no network (`offline` event).
    Offline,
    /// The app closes the session on purpose with `code` (1000 or 3000–4999
    /// usually). Nothing reconnects afterwards until `Start`.
    Close {
        /// Close code to send; 1005, 1006 and 1015 are refused.
        code: u16,
    },
    /// Server role: a client's transport for this session was accepted and is
    /// open. Prefer [`Connection::accept`](crate::Connection::accept), which
    /// returns the new generation.
    Accepted,
    /// A server's hint, carried in a close reason or a dedicated frame on
    /// generation `conn`: do not come back before `after` has passed. The
    /// engine honours it for the next reconnect (within jitter).
    RetryAfter {
        /// Generation the hint arrived on.
        conn: ConnId,
        /// Minimum wait before the next attempt.
        after: Duration,
    },
    /// A server's standing announcement on the open generation `conn`: if
    /// this connection is lost abnormally (close 1006 or another code the
    /// close policy retries with its backoff, or a dead heartbeat) after it
    /// lived `min_uptime`, draw the first reconnect delay uniformly from
    /// `[lo, max(hi, window)]`, where `[lo, hi]` is the policy's first window
    /// (RFC 6455: 0-5 s). The server sets `window` to how long its
    /// admission rate needs to take back everyone it holds
    /// ([`Admission::reconnect_window`](crate::admission::Admission::reconnect_window)),
    /// so a fleet that loses the node returns at the rate the next one can
    /// take. A window only ever lengthens the first delay; a flapping server
    /// (shorter uptime) gets the ordinary backoff. It applies once, to the
    /// loss of `conn` only; a zero window withdraws it; it is capped at
    /// `Config::max_retry_after`; a server-role engine ignores it. Losses
    /// the host reports (`Offline`, then `Online`) and server-directed
    /// closes (1012, 1013, retry-after hints) keep their own rules. The cost:
    /// a client that sees a bare 1006 for a reason of its own (its Wi-Fi,
    /// without an `Offline` event) also waits up to the window.
    ReconnectWindow {
        /// Generation the announcement arrived on.
        conn: ConnId,
        /// Spread of the first reconnect after an abnormal loss.
        window: Duration,
    },
}

/// Why the engine gave up. `Failed` is terminal until the app sends `Start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// The peer closed with a code the close policy treats as fatal.
    FatalClose {
        /// The code received.
        code: u16,
    },
    /// The reconnect budget (`reconnect.max_attempts`, or a schedule that
    /// ends) is spent.
    AttemptsExhausted {
        /// Attempts made.
        attempts: u32,
    },
    /// Too many 1011 (internal error) closes in a row.
    ServerErrors {
        /// 1011 closes counted.
        count: u32,
    },
    /// The URL cannot be parsed, and the HTTP fallback is off or failed too.
    InvalidUrl,
    /// The peer broke the delivery protocol (an ack or resume that cannot be
    /// true). The engine closed with 1002.
    Protocol(ProtocolError),
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FatalClose { code } => write!(f, "fatal close code {code}"),
            Self::AttemptsExhausted { attempts } => {
                write!(f, "gave up after {attempts} attempts")
            }
            Self::ServerErrors { count } => write!(f, "{count} server errors (1011)"),
            Self::InvalidUrl => f.write_str("invalid URL and no fallback"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// Why the engine switched to the HTTP fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DowngradeReason {
    /// The WebSocket URL cannot be parsed (R1).
    InvalidUrl,
    /// This many WebSocket handshakes in a row were refused (R25).
    HandshakeFailures {
        /// Consecutive refused handshakes.
        count: u32,
    },
}

/// Why an inbound data frame was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscardReason {
    /// Already delivered (at or below the delivered mark, or in the id window).
    Duplicate,
    /// Beyond the next expected sequence number; the sender resends in order.
    Gap,
}

/// What the app can show: Pusher's connection states, plus `Closed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Not started, stopped by a 1000 close, or lazily closed after 1001
    /// (reconnects on the next send).
    Idle,
    /// A connection attempt is in flight.
    Connecting {
        /// Reconnect attempt number (0 for the first connect).
        attempt: u32,
    },
    /// Open over WebSocket.
    Open,
    /// The app asked to close; waiting (bounded) for the transport to confirm.
    Closing,
    /// Backing off before the next attempt.
    Waiting {
        /// When the next attempt starts.
        until: Instant,
        /// The attempt it will be.
        attempt: u32,
    },
    /// The host is offline; attempts are paused until `Online`.
    Offline,
    /// Open over the HTTP fallback.
    Fallback,
    /// Closed on purpose by the app. Terminal until `Start`.
    Closed,
    /// Gave up. Terminal until `Start`.
    Failed {
        /// Why.
        reason: FailReason,
    },
}

impl State {
    /// A short lowercase name (`"open"`, `"waiting"`…), as Pusher names states.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting { .. } => "connecting",
            Self::Open => "open",
            Self::Closing => "closing",
            Self::Waiting { .. } => "waiting",
            Self::Offline => "offline",
            Self::Fallback => "fallback",
            Self::Closed => "closed",
            Self::Failed { .. } => "failed",
        }
    }
}

/// What the driver must do. Drain with
/// [`Connection::poll_action`](crate::Connection::poll_action) after every
/// `handle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Open a new transport of generation `conn`. Report its outcome with
    /// `Opened`, `ConnectFailed` or `Closed` carrying the same `conn`.
    Connect {
        /// The new generation.
        conn: ConnId,
        /// Which transport.
        transport: Transport,
        /// Reconnect attempt number (0 for the first connect).
        attempt: u32,
    },
    /// For the UI: "retrying in `delay`". The engine emits `Connect` itself
    /// when the delay is over (at a `Timeout`).
    ReconnectAfter {
        /// How long until the attempt.
        delay: Duration,
        /// The attempt it will be.
        attempt: u32,
    },
    /// Send a heartbeat ping carrying `nonce` on `conn`.
    SendPing {
        /// Live generation.
        conn: ConnId,
        /// Nonce the pong must echo.
        nonce: u64,
    },
    /// Answer the peer's ping with a pong carrying `nonce`.
    SendPong {
        /// Live generation.
        conn: ConnId,
        /// The peer's nonce.
        nonce: u64,
    },
    /// The earliest deadline changed: call `handle(at, Timeout)` at `at`.
    /// (`poll_timeout` gives the same fact to polling drivers.)
    ScheduleTimer {
        /// When.
        at: Instant,
    },
    /// Put message `seq` on the wire (again, if it was sent before).
    Transmit {
        /// Live generation.
        conn: ConnId,
        /// The message, as numbered by `send`.
        seq: u64,
    },
    /// Tell the peer we delivered its messages up to `upto`.
    Ack {
        /// Live generation.
        conn: ConnId,
        /// Cumulative mark.
        upto: u64,
    },
    /// After a reconnect: tell the peer we delivered its messages up to `last`.
    Resume {
        /// Live generation.
        conn: ConnId,
        /// Highest sequence number delivered in order.
        last: u64,
    },
    /// Hand the data frame just received to the app.
    Deliver {
        /// Its id, as reported in the `Message` input.
        id: DataId,
    },
    /// Drop the data frame just received; do not hand it to the app.
    Discard {
        /// Its id.
        id: DataId,
        /// Why.
        reason: DiscardReason,
    },
    /// Close generation `conn` with `code` (a close frame, if the socket can
    /// still send one). Never 1005, 1006 or 1015.
    Close {
        /// Generation to close.
        conn: ConnId,
        /// Code for the close frame.
        code: u16,
    },
    /// Forget generation `conn` now: drop the socket without waiting for
    /// `onclose` (a socket stuck in CLOSING, R18; a dead link; a connect that
    /// timed out). Its later events are ignored.
    Abandon {
        /// Generation to drop.
        conn: ConnId,
    },
    /// Switch to the HTTP fallback transport; later `Connect`s say `Http`.
    Downgrade {
        /// Why.
        reason: DowngradeReason,
    },
    /// The state the app sees changed.
    StateChanged {
        /// The new state.
        state: State,
    },
    /// Message `seq` has not been acknowledged within the delivery deadline.
    /// It stays queued; tell the user, or retry at the app level (R6).
    DeliveryOverdue {
        /// The message.
        seq: u64,
    },
    /// The engine gave up (also visible as `StateChanged { Failed }`).
    Failed {
        /// Why.
        reason: FailReason,
    },
}
