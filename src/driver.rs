//! A tokio driver for the engine (feature `tokio`): a WebSocket client with
//! the HTTP fallback, a matching server, and a fault proxy for tests.
//!
//! The engine stays sans-IO; this module is the IO. One task per session owns
//! the [`Connection`](crate::Connection), its [`Outbox`](crate::Outbox) and the
//! current transport; the app talks to it through a cloneable handle and
//! reads [`Event`]s. It never sees a socket.
//!
//! * [`Client`]: dials `ws://` with tokio-tungstenite, falls back to HTTP
//!   long-poll/POST (hyper) when the engine says so, probes back to
//!   WebSocket, and carries out every [`Action`].
//! * [`Server`]: accepts WebSocket upgrades and the HTTP fallback on one port
//!   (hyper), runs one server-role engine per session id (`?sid=<u64>`), and
//!   keeps those sessions across [`Server::stop`] / [`Server::start_on`], so a
//!   restarted server resumes where it was. Presence ([`Server::is_online`])
//!   counts every frame from a client as its heartbeat and gets a restart
//!   epoch on each start (R20, R24). Test hooks: refuse handshakes, close a
//!   client with a code, count connections.
//! * [`FaultProxy`]: a loopback TCP proxy that fails the way networks do
//!   (blackhole, reset, delay, refuse, strip WebSocket upgrades). A test
//!   utility, shipped here so that tests and the demo share it.
//!
//! # Example
//!
//! ```
//! use redial::driver::{Client, ClientConfig, Event, Server, ServerConfig};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // One engine per session id, kept across server restarts.
//!     let (mut server, mut server_events) = Server::new(ServerConfig::default())?;
//!     let addr = server.start_on("127.0.0.1:0".parse()?).await?;
//!
//!     // Reconnects with backoff, resumes, falls back to HTTP when it must.
//!     let (client, mut events) = Client::start(ClientConfig::new(format!("ws://{addr}/ws")))?;
//!     let seq = client.send("hello").await?; // buffered until open, kept until acked
//!     while let Some(ev) = events.next().await {
//!         match ev {
//!             Event::StateChanged { state, retry_in } => println!("{} {retry_in:?}", state.name()),
//!             Event::Acked { upto } if upto >= seq => break, // the server has it
//!             Event::Failed { reason } => return Err(reason.to_string().into()),
//!             _ => {}
//!         }
//!     }
//!     while let Some(ev) = server_events.next().await {
//!         if let Event::Delivered { payload, .. } = ev.event {
//!             assert_eq!(&payload[..], b"hello"); // exactly once, in order
//!             break;
//!         }
//!     }
//!     client.close(1000).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Wire
//!
//! Every transport message is one [`Envelope`](crate::Envelope). WebSocket:
//! one text frame (binary when the payload is not UTF-8) per envelope;
//! heartbeats are envelopes too, or native ping/pong control frames carrying
//! the nonce as 8 big-endian bytes with
//! [`HeartbeatMode::ControlFrames`](crate::HeartbeatMode::ControlFrames).
//! HTTP fallback (same envelopes, see [`http`]): `POST /redial/open?sid=N`
//! returns a transport token, `GET /redial/poll?sid=N&t=T` long-polls,
//! `POST /redial/send?sid=N&t=T` carries frames, `POST /redial/close?…&code=C`
//! closes; a `410 Gone` whose body is a close code ends the transport.
//!
//! # Transport outcomes → engine inputs
//!
//! | outcome | input |
//! |---|---|
//! | URL that cannot be parsed, wrong scheme, `wss://` (no TLS here) | `ConnectFailed(InvalidUrl)` |
//! | refused, reset, EOF during the handshake, IO error | `ConnectFailed(Network)` |
//! | an HTTP answer other than `101` | `ConnectFailed(Handshake { status })` |
//! | a `101` that is not a valid upgrade | `ConnectFailed(Handshake { status: None })` |
//! | a handshake that never ends | the engine's `connect_timeout` → `Abandon` |
//! | a close frame with a code / without one | `Closed { code }` / `Closed { 1005 }` |
//! | EOF or reset without a close frame | `Closed { 1006 }` |

/// The std prelude and macros, which the crate's `#![no_std]` root hides.
mod prelude {
    pub(crate) use std::borrow::ToOwned;
    pub(crate) use std::boxed::Box;
    pub(crate) use std::string::{String, ToString};
    pub(crate) use std::vec::Vec;
    pub(crate) use std::{format, vec};
}

mod client;
pub mod http;
mod link;
mod pump;
mod server;
mod session;

pub mod proxy;

use core::fmt;

use core::time::Duration;
#[allow(unused_imports)]
use prelude::*;

pub use bytes::Bytes;

pub use client::{Client, ClientConfig, Events};
pub use proxy::{FaultProxy, NewConnections};
pub use pump::Status;
pub use server::{Refusal, Server, ServerConfig, ServerEvent, ServerEvents, ServerStats};

use crate::io::{Action, FailReason, Input, State};
use crate::time::Instant;

/// The driver's clock origin. [`Instant`]s the driver feeds the engine are
/// milliseconds since it. Share one between a client and a server to read
/// their traces on one timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch(tokio::time::Instant);

impl Epoch {
    /// An origin at the current moment.
    #[must_use]
    pub fn now() -> Self {
        Self(tokio::time::Instant::now())
    }

    /// Milliseconds elapsed since the origin, as the engine's [`Instant`].
    #[must_use]
    pub fn elapsed(&self) -> Instant {
        let ms = u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX);
        Instant::from_millis(ms)
    }

    /// The tokio instant an engine [`Instant`] stands for.
    #[must_use]
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        // Saturate a year out rather than overflow (no panic path).
        self.0
            .checked_add(Duration::from_millis(at.as_millis()))
            .or_else(|| self.0.checked_add(Duration::from_secs(86_400 * 365)))
            .unwrap_or(self.0)
    }
}

impl Default for Epoch {
    fn default() -> Self {
        Self::now()
    }
}

/// One step of an engine, for traces: an input fed or an action taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// An input the driver fed (timeouts included).
    Input(Input),
    /// An action the engine asked for.
    Action(Action),
}

/// What a session tells its app.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message from the peer, delivered exactly once and in order (for
    /// sequenced data).
    Delivered {
        /// Its sequence number (`None` for unsequenced data).
        seq: Option<u64>,
        /// The payload bytes.
        payload: Bytes,
    },
    /// The state changed. `retry_in` is set when the new state is
    /// [`State::Waiting`]: how long until the next attempt.
    StateChanged {
        /// The new state.
        state: State,
        /// Time until the next attempt, when waiting.
        retry_in: Option<Duration>,
    },
    /// The peer acknowledged our messages up to `upto`.
    Acked {
        /// Cumulative mark.
        upto: u64,
    },
    /// Message `seq` is still unacknowledged after the delivery deadline.
    Overdue {
        /// The message.
        seq: u64,
    },
    /// The engine gave up; nothing reconnects.
    Failed {
        /// Why.
        reason: FailReason,
    },
    /// A trace step, only when the config asks for traces.
    Trace {
        /// When, on the session's [`Epoch`].
        at: Instant,
        /// What.
        step: Step,
    },
}

/// Why a request to a session task failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriverError {
    /// The engine refused (queue full, session closed or failed, bad code).
    Engine(crate::Error),
    /// The session task is gone (the client or server was dropped).
    Stopped,
    /// The server has no session with that id.
    UnknownSession {
        /// The id asked for.
        session: u64,
    },
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Engine(e) => write!(f, "{e}"),
            Self::Stopped => f.write_str("the session task has stopped"),
            Self::UnknownSession { session } => write!(f, "no session {session}"),
        }
    }
}

impl std::error::Error for DriverError {}

impl From<crate::Error> for DriverError {
    fn from(e: crate::Error) -> Self {
        Self::Engine(e)
    }
}

/// A seed for an engine rng: the given one, or a fresh random one from the
/// standard library's per-process hasher keys (no extra dependency).
pub(crate) fn seed_or_random(seed: Option<u64>, salt: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    match seed {
        Some(s) => s ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        None => {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(salt);
            h.finish()
        }
    }
}
