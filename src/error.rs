//! Typed errors. Every error names what was wrong; none of them leaves the
//! engine unusable, and none discards anything already accepted.

use thiserror::Error;

/// A [`Config`](crate::Config) field that cannot work, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid config: `{field}` {problem}")]
pub struct ConfigError {
    /// The offending field, as a path (`heartbeat.timeout`, `backoff.cap`…).
    pub field: &'static str,
    /// What is wrong with it, in words (`must be below heartbeat.interval`…).
    pub problem: &'static str,
}

impl ConfigError {
    /// A new error naming `field` and the `problem` with it.
    #[must_use]
    pub const fn new(field: &'static str, problem: &'static str) -> Self {
        Self { field, problem }
    }
}
