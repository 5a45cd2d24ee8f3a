//! The `config` target: arbitrary configs are either rejected with an error
//! naming a field, or run cleanly under every connection invariant.

use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use super::connection::drive;
use super::{ensure, or_panic, Checked, FuzzRng, Violation};
use crate::config::Config;
use crate::connection::{Connection, Role};

/// Operations of the short checked run after a config validates.
pub const CONFIG_RUN_OPS: usize = 64;

/// Top-level `Config` fields: every error's field path starts with one.
const FIELDS: [&str; 9] = [
    "reconnect.",
    "close.",
    "heartbeat.",
    "delivery.",
    "fallback.",
    "connect_timeout",
    "close_timeout",
    "server_error_budget",
    "max_retry_after",
];

/// One `config` input: the config, the role, an rng, and backoff probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub struct FuzzConfig {
    /// Any config at all, valid or not.
    pub config: Config,
    /// Run it as a server.
    pub server: bool,
    /// The engine's rng.
    pub rng: FuzzRng,
    /// Attempts to probe `BackoffPolicy::delay` against `bounds` with.
    pub attempts: [u32; 3],
    /// The previous delay passed to the probes.
    pub prev: Duration,
}

/// The `config` target; `Err` on the first broken invariant.
///
/// # Errors
/// The violation.
pub fn try_run_config(data: &[u8]) -> Result<(), Violation> {
    check_config(data, super::Strict::from_env())
}

/// [`try_run_config`] with the strictness given explicitly.
///
/// # Errors
/// The violation.
pub fn check_config(data: &[u8], strict: super::Strict) -> Result<(), Violation> {
    let mut u = Unstructured::new(data);
    let Ok(fc) = FuzzConfig::arbitrary(&mut u) else {
        return Ok(());
    };
    let (cfg, mut rng) = (fc.config, fc.rng);

    // Backoff: every draw lies within `bounds`, for any policy and attempt,
    // valid or not, and neither ever panics.
    let policy = cfg.reconnect.policy;
    for attempt in fc.attempts.into_iter().chain([0, 1, 2, u32::MAX]) {
        let bounds = policy.bounds(attempt, fc.prev);
        let delay = policy.delay(attempt, fc.prev, &mut rng);
        ensure!(
            bounds.is_some() == delay.is_some(),
            "{policy:?} attempt {attempt}: bounds {bounds:?} but delay {delay:?}"
        );
        if let (Some((lo, hi)), Some(d)) = (bounds, delay) {
            ensure!(
                lo <= d && d <= hi,
                "{policy:?} attempt {attempt} prev {:?}: {d:?} outside [{lo:?}, {hi:?}]",
                fc.prev
            );
        }
    }

    let role = if fc.server {
        Role::Server
    } else {
        Role::Client
    };
    match cfg.validate() {
        Err(e) => {
            ensure!(
                !e.problem.is_empty() && FIELDS.iter().any(|f| e.field.starts_with(f)),
                "config error does not name a config field: {e:?}"
            );
            let client = Connection::new(cfg, rng).err();
            let server = Connection::server(cfg, rng).err();
            ensure!(
                client == Some(e) && server == Some(e),
                "validate() said {e:?} but the engine said {client:?} / {server:?}"
            );
            Ok(())
        }
        Ok(()) => {
            let mut h = Checked::new(cfg, rng, role).map_err(|e| {
                Violation::new(std::format!("validated config refused by the engine: {e}"))
            })?;
            h.set_strict(strict);
            drive(&mut h, &mut u, CONFIG_RUN_OPS)
        }
    }
}

/// The `config` target: panics on the first broken invariant.
pub fn run_config(data: &[u8]) {
    or_panic(try_run_config(data));
}
