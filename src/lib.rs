//! redial (crate doc written once the engine is wired).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod backoff;
pub mod close;
pub mod config;
mod connection;
pub mod dedup;
pub mod delivery;
pub mod envelope;
pub mod error;
pub mod fallback;
pub mod heartbeat;
pub mod io;
#[cfg(feature = "alloc")]
pub mod outbox;
mod queue;
pub mod random;
pub mod rtt;
pub mod time;

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
pub use time::Instant;
