//! # redial
//!
//! A pure, `no_std`, sans-IO engine that keeps a WebSocket-style session
//! alive. It owns every *decision* — when to ping, when the peer is dead, how
//! long to back off, which close codes are fatal, what to buffer, what to
//! resend, when to fall back to HTTP — and none of the *doing*: sockets,
//! clocks, timers, randomness and payload bytes stay with the driver. Same
//! inputs, same outputs, always.
//!
//! ## The driver loop
//!
//! A driver feeds the engine [`Input`]s with the current time, drains the
//! [`Action`]s it returns, and sleeps until the next socket event or
//! [`Connection::poll_timeout`], whichever comes first. That is the whole
//! contract. Here the "socket" is a stand-in peer that opens at once, answers
//! resumes, acks and pings, so the example runs anywhere:
//!
//! ```
//! use std::collections::VecDeque;
//! use rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
//! use redial::{Action, Config, Connection, Frame, Input, Instant, State};
//!
//! # fn main() -> Result<(), redial::Error> {
//! let config = Config::reliable(); // acks on: both ends speak the envelope
//! let mut engine = Connection::new(config, ChaCha8Rng::seed_from_u64(7)).expect("valid config");
//! let mut now = Instant::ZERO;
//! let mut socket: VecDeque<Input> = VecDeque::new(); // events from the transport
//! let mut payloads = Vec::new(); // the engine numbers messages; you keep the bytes
//!
//! engine.handle(now, Input::Start)?;
//! let seq = engine.send(now)?; // fine while connecting: buffered, sent on open
//! payloads.push((seq, "hello"));
//!
//! for _ in 0..50 {
//!     while let Some(action) = engine.poll_action() {
//!         match action {
//!             // Open a socket tagged with `conn`; report what happens to it.
//!             Action::Connect { conn, .. } => socket.push_back(Input::Opened { conn }),
//!             // After (re)connecting, both ends say what they delivered.
//!             Action::Resume { conn, .. } => socket.push_back(Input::Message {
//!                 conn,
//!                 frame: Frame::Resume { last: 0 },
//!             }),
//!             // Put payload `seq` on the wire; this peer acks it.
//!             Action::Transmit { conn, seq } => socket.push_back(Input::Message {
//!                 conn,
//!                 frame: Frame::Ack { upto: seq },
//!             }),
//!             Action::SendPing { conn, nonce } => socket.push_back(Input::Message {
//!                 conn,
//!                 frame: Frame::Pong { nonce },
//!             }),
//!             Action::Close { .. } | Action::Abandon { .. } => socket.clear(),
//!             Action::StateChanged { state } => println!("{now}: {}", state.name()),
//!             _ => {} // Deliver, ReconnectAfter, DeliveryOverdue, Downgrade…
//!         }
//!     }
//!     // Sleep until the next socket event or deadline, whichever is first.
//!     if let Some(input) = socket.pop_front() {
//!         engine.handle(now, input)?;
//!     } else if let Some(deadline) = engine.poll_timeout() {
//!         now = deadline;
//!         engine.handle(now, Input::Timeout)?;
//!     }
//! }
//! assert_eq!(engine.state(), State::Open);
//! assert_eq!(engine.delivery().queued(), 0, "hello was acked");
//! # Ok(())
//! # }
//! ```
//!
//! A real driver replaces the `VecDeque` with its socket library and the
//! virtual `now` with its monotonic clock; see the `tokio` driver (feature
//! `tokio`) for one that does.
//!
//! ## Layout
//!
//! [`Connection`] only orchestrates. Each concern is a small sans-IO machine
//! with its own tests: [`backoff`] (RFC 6455 §7.2.3 reconnect policy and the
//! presets of popular libraries), [`close`] (close-code policy table),
//! [`heartbeat`] (ping/pong deadlines, RTT), [`delivery`] (sequence numbers,
//! acks, resume, dedup), [`fallback`] (HTTP downgrade and upgrade probes),
//! [`envelope`] (a tiny default wire format). With the `alloc` feature,
//! `outbox` holds payloads by sequence number and `presence` tracks which
//! clients are online on a server.
//!
//! ## Guarantees
//!
//! - No clock reads, no globals, no threads, no `unsafe`, no allocation in the
//!   core; builds for `thumbv7em-none-eabihf` and `wasm32-unknown-unknown`.
//! - Every input sequence is legal: no panic, no unbounded growth. Misuse
//!   returns a typed [`Error`] and changes nothing.
//! - Time never runs backwards inside the engine: an earlier `now` is clamped.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod admission;
pub mod backoff;
pub mod close;
pub mod config;
mod connection;
pub mod dedup;
pub mod delivery;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod envelope;
pub mod error;
pub mod fallback;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
pub mod heartbeat;
pub mod io;
#[cfg(feature = "alloc")]
pub mod outbox;
#[cfg(feature = "alloc")]
pub mod presence;
mod queue;
pub mod random;
pub mod rtt;
#[cfg(feature = "sim")]
pub mod sim;
pub mod time;

pub use admission::{Admission, AdmissionConfig};
pub use backoff::{BackoffPolicy, ReconnectConfig};
pub use close::{CloseAction, ClosePolicy};
pub use config::{Config, ConfigBuilder};
pub use connection::{Connection, Role, Stats};
pub use delivery::{DataId, DeliveryConfig, SendError};
pub use envelope::Envelope;
pub use error::{ConfigError, Error};
pub use fallback::FallbackConfig;
pub use heartbeat::{HeartbeatConfig, HeartbeatMode};
pub use io::{
    Action, ConnId, ConnectError, DiscardReason, DowngradeReason, FailReason, Frame, Input, State,
    Transport,
};
#[cfg(feature = "alloc")]
pub use outbox::Outbox;
#[cfg(feature = "alloc")]
pub use presence::{Presence, PresenceConfig, Transition};
pub use time::Instant;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
