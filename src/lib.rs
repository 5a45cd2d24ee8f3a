//! redial (skeleton; crate doc written with the engine).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod error;
pub mod random;
pub mod time;

pub use error::ConfigError;
pub use time::Instant;
