//! Fuzzing harnesses and the invariants they check (feature `arbitrary`).
//!
//! The `cargo fuzz` targets in `fuzz/` are one-line wrappers around the
//! `run_*` functions here, and `tests/fuzz_regressions.rs` replays the
//! committed corpus through the very same functions, so a plain
//! `cargo test --all-features` re-checks every input the fuzzers ever kept.
//!
//! | target | entry point | what it drives |
//! |---|---|---|
//! | `connection` | [`run_connection`] | one engine, arbitrary inputs at arbitrary times ([`ConnOp`]) |
//! | `delivery` | [`run_delivery`] | two engines over a faulty link ([`LinkOp`]) |
//! | `envelope` | [`run_envelope`] | `Envelope::decode` on raw bytes, and encode of arbitrary envelopes |
//! | `presence` | [`run_presence`] | the presence table against a `BTreeMap` model ([`PresenceOp`]) |
//! | `config` | [`run_config`] | arbitrary `Config`s: rejected with a field name, or a checked run |
//!
//! Every `run_*` panics on the first broken invariant (that is how libFuzzer
//! notices); every `try_run_*` returns it as a [`Violation`] instead.
//!
//! The heart is [`Checked`]: a driver wrapper around a
//! [`Connection`](crate::Connection) that feeds each input, drains every
//! action, and after every step runs [`Model`]'s checks (the engine seen from
//! outside: generations, states, backoff windows, pings, buffers). The list of
//! invariants, and where each is checked, is in `TESTING.md`.

use core::convert::Infallible;
use core::fmt;

use std::string::String;

mod checked;
mod config;
mod connection;
mod delivery;
mod envelope;
mod model;
mod presence;

pub use checked::Checked;
pub use config::{check_config, run_config, try_run_config, FuzzConfig, CONFIG_RUN_OPS};
pub use connection::{
    check_connection, explain_connection, run_connection, try_run_connection, Code, ConnOp,
    ConnSetup, FrameSpec, GenRef, HeartbeatSetup, Preset, Step, CODES, MAX_OPS,
};
pub use delivery::{
    check_delivery, explain_delivery, run_delivery, try_run_delivery, LinkOp, LinkSetup, Side,
    HEAL_EVENTS, LINK_CAP, LINK_OPS,
};
pub use envelope::{run_envelope, try_run_envelope};
pub use model::Model;
pub use presence::{
    check_presence, run_presence, try_run_presence, Id, PStep, PresenceOp, PresenceSetup,
    PRESENCE_OPS,
};

/// A broken invariant: what was expected, and what happened instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Human-readable description, including the step that broke it.
    pub message: String,
}

impl Violation {
    /// A violation described by `message`.
    #[must_use]
    pub fn new(message: String) -> Self {
        Self { message }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant violated: {}", self.message)
    }
}

/// `Err(Violation)` with a formatted message unless the condition holds.
///
/// The message is only built on failure, in a cold, out-of-line function,
/// so a check that passes costs its condition and a branch.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::fuzzing::violation(::core::format_args!($($arg)+)));
        }
    };
}
pub(crate) use ensure;

/// The [`Violation`] for a failed [`ensure!`]: kept out of line and cold
/// so the formatting code stays out of the checks' hot paths.
#[cold]
#[inline(never)]
pub(crate) fn violation(args: fmt::Arguments<'_>) -> Violation {
    Violation::new(std::fmt::format(args))
}

/// Which known engine findings (numbered as in `TESTING.md`) the checks
/// hold the engine to instead of tolerating. Tolerated by default, so the
/// fuzzers keep searching past a finding until its patch lands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Strict(pub u8);

impl Strict {
    /// Tolerate every known finding.
    pub const NONE: Self = Self(0);
    /// F1: a refused input must not move the engine's clock.
    pub const F1: Self = Self(1);
    /// F2: a due ack deadline must not survive its `Timeout` in `Closing`.
    pub const F2: Self = Self(1 << 1);
    /// F3: presence records inserted at `u64::MAX` must still be swept.
    pub const F3: Self = Self(1 << 2);
    /// F4: the HTTP reconnect after a failed probe must back off.
    pub const F4: Self = Self(1 << 3);
    /// F6: a server may close with 1012-1014 and not with 1010.
    pub const F6: Self = Self(1 << 4);
    /// Every check, as documented.
    pub const ALL: Self = Self(u8::MAX);
    /// What the targets check when `REDIAL_FUZZ_STRICT` is unset: the
    /// findings whose patches have landed. Add a finding's flag here in the
    /// commit that applies its patch (the tolerant check expects the old
    /// behaviour where the two differ: F4, F6).
    pub const DEFAULT: Self = Self::ALL;

    /// Whether finding `f` is checked strictly.
    #[must_use]
    pub const fn has(self, f: Self) -> bool {
        self.0 & f.0 != 0
    }

    /// From `REDIAL_FUZZ_STRICT`: unset = [`DEFAULT`](Self::DEFAULT), `0` =
    /// none, `1` or `all` = every finding, or a list such as `F1,F4` (added
    /// to the default).
    #[must_use]
    pub fn from_env() -> Self {
        let Some(v) = std::env::var_os("REDIAL_FUZZ_STRICT") else {
            return Self::DEFAULT;
        };
        let v = v.to_string_lossy().to_ascii_uppercase();
        match v.as_str() {
            "" | "0" => Self::NONE,
            "1" | "ALL" => Self::ALL,
            list => Self(
                [
                    ("F1", Self::F1),
                    ("F2", Self::F2),
                    ("F3", Self::F3),
                    ("F4", Self::F4),
                    ("F6", Self::F6),
                ]
                .iter()
                .filter(|(name, _)| list.split(',').any(|x| x.trim() == *name))
                .fold(Self::DEFAULT.0, |acc, (_, f)| acc | f.0),
            ),
        }
    }
}

/// Panics with the violation, for libFuzzer.
fn or_panic(r: Result<(), Violation>) {
    if let Err(v) = r {
        panic!("{v}");
    }
}

/// A deterministic random generator chosen by the fuzzer: SplitMix64 from a
/// seed, or a constant (pins every uniform draw to one end of its window:
/// `Fixed(0)` always draws the low end, `Fixed(u64::MAX)` the high end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum FuzzRng {
    /// SplitMix64 with this state.
    Mix(u64),
    /// Always returns this value.
    Fixed(u64),
}

impl rand_core::TryRng for FuzzRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        // The high half of a 64-bit draw; the shift makes the cast lossless.
        self.try_next_u64().map(|x| (x >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(match self {
            Self::Mix(state) => {
                // SplitMix64; the additions and products wrap by design.
                *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            }
            Self::Fixed(v) => *v,
        })
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(bytes) {
                *d = s;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn fixed_rng_pins_uniform_draws_to_the_window_ends() {
        let mut lo = FuzzRng::Fixed(0);
        let mut hi = FuzzRng::Fixed(u64::MAX);
        assert_eq!(crate::random::uniform(&mut lo, 10, 20), 10);
        assert_eq!(crate::random::uniform(&mut hi, 10, 20), 20);
        let mut m = FuzzRng::Mix(1);
        let (a, b) = (m.next_u64(), m.next_u64());
        assert_ne!(a, b);
        let mut buf = [0u8; 11];
        m.fill_bytes(&mut buf);
        assert!(buf.iter().any(|&x| x != 0));
    }
}
