//! Typed errors. Every error names what was wrong; none of them leaves the
//! engine unusable, and none discards anything already accepted.

use thiserror::Error;

/// A [`Config`](crate::config::Config) field that cannot work, and why.
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

/// Why [`Connection`](crate::Connection) refused an input. The engine is
/// unchanged by a refused input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The send queue is full; nothing already queued was dropped.
    #[error(transparent)]
    Send(#[from] crate::delivery::SendError),
    /// The session was closed by the app or failed; `Start` it again first.
    #[error("the session is {state}: send Input::Start before sending")]
    NotRunning {
        /// The state's name.
        state: &'static str,
    },
    /// The app asked to close with a code that may not be sent.
    #[error("close code {code} may not be sent (use 1000 or 3000-4999; 1005, 1006 and 1015 are never sent)")]
    InvalidCloseCode {
        /// The refused code.
        code: u16,
    },
    /// The driver has not drained `poll_action` since earlier inputs.
    #[error("{pending} actions are waiting: drain poll_action() before the next input")]
    ActionsPending {
        /// Actions in the queue.
        pending: usize,
    },
    /// The call is for the other role (`accept` on a client).
    #[error("this call is not available to a {role} engine")]
    WrongRole {
        /// The engine's role.
        role: &'static str,
    },
}
