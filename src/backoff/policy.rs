//! Reconnect delay policies: jitter shapes, schedules, and the policy enum.

use core::time::Duration;
use rand_core::Rng;

use super::nanos;
use crate::error::ConfigError;
use crate::random::uniform;

/// Most steps a [`Schedule`] holds (fixed array: no allocation).
pub const MAX_SCHEDULE_STEPS: usize = 12;

const NS_PER_MS: u128 = 1_000_000;
/// `u64::MAX` milliseconds in nanoseconds: nothing above this is representable.
const NS_LIMIT: u128 = u64::MAX as u128 * NS_PER_MS;

/// `Ok` if `ok`, else the error naming `field`.
pub(super) fn require(
    ok: bool,
    field: &'static str,
    problem: &'static str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(field, problem))
    }
}

/// How a jittered delay is drawn from the nominal delay `d`. Every variant is a
/// uniform draw over a closed window; the variant decides the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Jitter {
    /// Exactly `d`.
    None,
    /// Uniform in `[0, d]` ("full jitter").
    Full,
    /// Uniform in `[d/2, d]` ("equal jitter").
    Equal,
    /// Uniform in `[d - d·p/1000, d + d·p/1000]` (Socket.IO's `randomizationFactor`).
    Proportional {
        /// `p`, the relative spread in permille; at most 1000.
        permille: u16,
    },
    /// Uniform in `[d + min, d + max]` (graphql-ws adds 300..3000 ms).
    Additive {
        /// Smallest amount added; at most `max`.
        min: Duration,
        /// Largest amount added.
        max: Duration,
    },
    /// Uniform in `[d·lo/1000, d·hi/1000]`: a random multiplier (reconnecting-websocket
    /// draws its base delay from `[1000, 5000]` ms, i.e. `d · [1, 5]`).
    Scaled {
        /// Smallest multiplier in permille; at most `hi_permille`.
        lo_permille: u32,
        /// Largest multiplier in permille.
        hi_permille: u32,
    },
    /// Uniform in `[offset, offset + d]` (centrifuge-js: `min + random(0, window)`).
    FullPlus {
        /// The fixed floor added to a full-jitter draw.
        offset: Duration,
    },
}

impl Jitter {
    /// The closed window `[lo, hi]` for nominal `d`, in nanoseconds.
    fn window_ns(self, d: u128) -> (u128, u128) {
        let (lo, hi) = match self {
            Jitter::None => (d, d),
            Jitter::Full => (0, d),
            Jitter::Equal => (d / 2, d),
            Jitter::Proportional { permille } => {
                let dev = d.saturating_mul(u128::from(permille)) / 1000;
                (d.saturating_sub(dev), d.saturating_add(dev))
            }
            Jitter::Additive { min, max } => (
                d.saturating_add(min.as_nanos()),
                d.saturating_add(max.as_nanos()),
            ),
            Jitter::Scaled {
                lo_permille,
                hi_permille,
            } => (
                d.saturating_mul(u128::from(lo_permille)) / 1000,
                d.saturating_mul(u128::from(hi_permille)) / 1000,
            ),
            Jitter::FullPlus { offset } => (offset.as_nanos(), offset.as_nanos().saturating_add(d)),
        };
        // An inverted window (invalid config) collapses to its lower end.
        (lo, hi.max(lo))
    }

    /// A nominal delay from which on every draw is at least `cap` (so a
    /// jitter-then-cap policy returns exactly `cap`); `u128::MAX` if none.
    /// Overestimating is harmless: it only lets the growth loop run longer.
    fn saturation_ns(self, cap: u128) -> u128 {
        match self {
            Jitter::None | Jitter::Additive { .. } => cap,
            Jitter::Equal => cap.saturating_mul(2),
            Jitter::Proportional { permille } if permille < 1000 => {
                (cap.saturating_mul(1000) / (1000 - u128::from(permille))).saturating_add(1)
            }
            Jitter::Scaled { lo_permille, .. } if lo_permille > 0 => {
                (cap.saturating_mul(1000) / u128::from(lo_permille)).saturating_add(1)
            }
            _ => u128::MAX,
        }
    }

    /// Rejects spreads that cannot be drawn from (`reconnect.policy.jitter.*`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Jitter::Proportional { permille } => require(
                permille <= 1000,
                "reconnect.policy.jitter.permille",
                "must be at most 1000 (a spread over 100% would allow negative delays)",
            ),
            Jitter::Additive { min, max } => require(
                min <= max,
                "reconnect.policy.jitter.min",
                "must not exceed reconnect.policy.jitter.max",
            ),
            Jitter::Scaled {
                lo_permille: lo,
                hi_permille: hi,
            } => require(
                lo <= hi,
                "reconnect.policy.jitter.lo_permille",
                "must not exceed reconnect.policy.jitter.hi_permille",
            ),
            _ => Ok(()),
        }
    }
}

/// Where [`BackoffPolicy::Exponential`] applies its `max` relative to the jitter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CapOrder {
    /// `jitter(min(max, grown))`: the window is capped, the draw may exceed
    /// `max` if the jitter adds (AWS full jitter, graphql-ws).
    #[default]
    BeforeJitter,
    /// `min(max, jitter(grown))`: the draw is capped (Socket.IO's backo2,
    /// reconnecting-websocket).
    AfterJitter,
    /// `min(max, jitter(min(max, grown)))`: both (centrifuge-js).
    BeforeAndAfter,
}

/// What a [`Schedule`] does once its table is exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AfterSchedule {
    /// Keep using the last step.
    RepeatLast,
    /// Use this delay for every later attempt (Phoenix's `|| 5000`).
    Fixed(Duration),
    /// Stop reconnecting (SignalR's trailing `null`).
    GiveUp,
}

/// A fixed table of up to [`MAX_SCHEDULE_STEPS`] delays, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Schedule {
    steps_ms: [u32; MAX_SCHEDULE_STEPS],
    len: u8,
    after: AfterSchedule,
    jitter: Jitter,
}

impl Schedule {
    /// A schedule of `steps` (attempt 1 waits `steps[0]`…), then `after`, no jitter.
    ///
    /// Errors (field `reconnect.policy.steps`): no steps, more than
    /// [`MAX_SCHEDULE_STEPS`], or a step longer than `u32::MAX` ms (~49 days).
    pub fn new(steps: &[Duration], after: AfterSchedule) -> Result<Self, ConfigError> {
        const FIELD: &str = "reconnect.policy.steps";
        require(!steps.is_empty(), FIELD, "must list at least one delay")?;
        require(
            steps.len() <= MAX_SCHEDULE_STEPS,
            FIELD,
            "may list at most 12 delays",
        )?;
        let mut table = [0u32; MAX_SCHEDULE_STEPS];
        for (slot, step) in table.iter_mut().zip(steps) {
            *slot = u32::try_from(step.as_millis())
                .map_err(|_| ConfigError::new(FIELD, "each delay must fit in u32 milliseconds"))?;
        }
        Ok(Self::from_millis(
            table.get(..steps.len()).unwrap_or(&[]),
            after,
        ))
    }

    /// A schedule from whole milliseconds; entries past the 12th are dropped.
    pub(super) fn from_millis(steps: &[u32], after: AfterSchedule) -> Self {
        let mut steps_ms = [0u32; MAX_SCHEDULE_STEPS];
        let mut len = 0u8;
        for (slot, &ms) in steps_ms.iter_mut().zip(steps) {
            (*slot, len) = (ms, len.saturating_add(1));
        }
        let jitter = Jitter::None;
        Self {
            steps_ms,
            len,
            after,
            jitter,
        }
    }

    /// The same schedule with each step drawn through `jitter`.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The table in milliseconds, in order (empty only for a fuzzed value).
    #[must_use]
    pub fn steps(&self) -> &[u32] {
        self.steps_ms.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// What happens past the end of the table.
    #[must_use]
    pub const fn after(&self) -> AfterSchedule {
        self.after
    }

    /// The jitter applied to every step.
    #[must_use]
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// Nominal delay for `attempt` (1-based), or `None` to give up.
    fn nominal(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.max(1) - 1).unwrap_or(usize::MAX);
        let steps = self.steps();
        match steps.get(index) {
            Some(&ms) => Some(Duration::from_millis(u64::from(ms))),
            None => match self.after {
                // An empty table has nothing to repeat: give up rather than spin.
                AfterSchedule::RepeatLast => {
                    steps.last().map(|&ms| Duration::from_millis(u64::from(ms)))
                }
                AfterSchedule::Fixed(d) => Some(d),
                AfterSchedule::GiveUp => None,
            },
        }
    }
}

/// How the delay before each reconnect attempt is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum BackoffPolicy {
    /// RFC 6455 §7.2.3 (the default): attempt 1 uniform in `[0, first_window]`;
    /// attempt `n >= 2` uniform in `[0, min(cap, first_window · 2^(n-1))]`
    /// (truncated binary exponential backoff with full jitter).
    Rfc6455 {
        /// Window of the first attempt; the RFC suggests 5 s.
        first_window: Duration,
        /// Largest window; at least `first_window`.
        cap: Duration,
    },
    /// Nominal `initial · (factor_permille/1000)^(n-1)` (nanosecond precision),
    /// capped at `max` and jittered in the order `cap_order` says.
    Exponential {
        /// Nominal delay of attempt 1; at least 1 ms.
        initial: Duration,
        /// Growth per attempt in permille (2000 doubles); at least 1000.
        factor_permille: u32,
        /// The cap; at least `initial`.
        max: Duration,
        /// How the nominal delay is randomised.
        jitter: Jitter,
        /// Whether `max` caps the nominal delay, the draw, or both.
        cap_order: CapOrder,
    },
    /// AWS "decorrelated jitter": `min(cap, uniform(base, prev · 3))`, where a
    /// `prev` below `base` (a fresh start passes zero) counts as `base`, as the
    /// AWS pseudo-code seeds `sleep = base`.
    Decorrelated {
        /// Smallest delay; above zero.
        base: Duration,
        /// Largest delay; at least `base`.
        cap: Duration,
    },
    /// A fixed table of delays, then repeat the last, a fixed delay, or give up.
    Schedule(Schedule),
}

/// A uniform draw over `[lo, hi]` ms, then `min(cap)`.
#[derive(Clone, Copy)]
pub(super) struct Plan {
    pub(super) lo: u64,
    pub(super) hi: u64,
    pub(super) cap: u64,
}

fn ns_to_ms(ns: u128) -> u64 {
    u64::try_from(ns / NS_PER_MS).unwrap_or(u64::MAX)
}

impl Plan {
    fn uncapped((lo, hi): (u128, u128)) -> Self {
        Self {
            lo: ns_to_ms(lo),
            hi: ns_to_ms(hi),
            cap: u64::MAX,
        }
    }
}

/// `initial · (factor/1000)^(attempt-1)` in ns, not grown past `stop`.
///
/// Works in picoseconds so that rounding down after each step cannot stall a
/// slow factor (1001 permille) on a small value. The loop ends after at most
/// `attempt - 1` steps and as soon as the value reaches `stop` (past which the
/// result cannot change), so it runs at most `log(stop/initial)/log(factor/1000)`
/// times: about 60 000 for the slowest factor, 1001, and far fewer for real ones.
fn grow_ns(initial: u128, factor_permille: u32, attempt: u32, stop: u128) -> u128 {
    if factor_permille <= 1000 {
        return initial; // factors below 1000 fail validate(); treat them as flat
    }
    let stop_ps = stop.saturating_mul(1000);
    let mut value = initial.saturating_mul(1000);
    for _ in 1..attempt {
        if value == 0 || value >= stop_ps {
            break;
        }
        let next = value.saturating_mul(u128::from(factor_permille)) / 1000;
        if next == value {
            break; // cannot happen for value >= 1000 ps; guards the loop anyway
        }
        value = next;
    }
    value / 1000
}

impl BackoffPolicy {
    /// The draw for `attempt`. The default policy with windows that fit u64
    /// nanoseconds (every real one) is computed inline with one shift and
    /// one division; everything else goes out of line, where exponential
    /// policies with the common jitters run in `u64` and the rest, and
    /// anything that would leave `u64`, in exact `u128` (`plan_exact`).
    #[inline]
    fn plan(&self, attempt: u32, prev: Duration) -> Option<Plan> {
        if let BackoffPolicy::Rfc6455 { first_window, cap } = *self {
            if let Some(hi) = nanos::rfc6455_hi_ms(first_window, cap, attempt) {
                return Some(Plan {
                    lo: 0,
                    hi,
                    cap: u64::MAX,
                });
            }
        }
        self.plan_out_of_line(attempt, prev)
    }

    /// Every policy but the inline one: exponential policies with the
    /// common jitters in `u64` where every value fits, the rest exact.
    #[inline(never)]
    fn plan_out_of_line(&self, attempt: u32, prev: Duration) -> Option<Plan> {
        if let BackoffPolicy::Exponential {
            initial,
            factor_permille,
            max,
            jitter,
            cap_order,
        } = *self
        {
            let fast =
                nanos::exponential_ms(initial, factor_permille, max, jitter, cap_order, attempt);
            if let Some((lo, hi, cap)) = fast {
                return Some(Plan { lo, hi, cap });
            }
        }
        self.plan_exact(attempt, prev)
    }

    pub(super) fn plan_exact(&self, attempt: u32, prev: Duration) -> Option<Plan> {
        let attempt = attempt.max(1);
        match *self {
            BackoffPolicy::Rfc6455 { first_window, cap } => {
                let first = first_window.as_nanos();
                let hi = if attempt == 1 {
                    first
                } else {
                    // 2^(n-1) saturates: checked_shl fails only for shifts >= 128.
                    let scale = 1u128.checked_shl(attempt - 1).unwrap_or(u128::MAX);
                    first.saturating_mul(scale).min(cap.as_nanos())
                };
                Some(Plan::uncapped((0, hi)))
            }
            BackoffPolicy::Exponential {
                initial,
                factor_permille,
                max,
                jitter,
                cap_order,
            } => {
                let max_ns = max.as_nanos();
                let stop = match cap_order {
                    CapOrder::AfterJitter => jitter.saturation_ns(max_ns),
                    CapOrder::BeforeJitter | CapOrder::BeforeAndAfter => max_ns,
                }
                .min(NS_LIMIT);
                let grown = grow_ns(initial.as_nanos(), factor_permille, attempt, stop);
                let nominal = match cap_order {
                    CapOrder::AfterJitter => grown,
                    CapOrder::BeforeJitter | CapOrder::BeforeAndAfter => grown.min(max_ns),
                };
                let mut plan = Plan::uncapped(jitter.window_ns(nominal));
                if cap_order != CapOrder::BeforeJitter {
                    plan.cap = ns_to_ms(max_ns);
                }
                Some(plan)
            }
            BackoffPolicy::Decorrelated { base, cap } => {
                let prev = prev.max(base).as_nanos();
                let mut plan = Plan::uncapped((base.as_nanos(), prev.saturating_mul(3)));
                plan.cap = ns_to_ms(cap.as_nanos());
                Some(plan)
            }
            BackoffPolicy::Schedule(schedule) => {
                let nominal = schedule.nominal(attempt)?;
                Some(Plan::uncapped(
                    schedule.jitter.window_ns(nominal.as_nanos()),
                ))
            }
        }
    }

    /// The delay before reconnect attempt `attempt` (1-based; 0 counts as 1),
    /// given the previous delay (used by [`BackoffPolicy::Decorrelated`]).
    /// `None` = the policy gives up (a [`Schedule`] with [`AfterSchedule::GiveUp`]
    /// past its end). Never panics, for any attempt including `u32::MAX`.
    #[inline]
    pub fn delay<R: Rng + ?Sized>(
        &self,
        attempt: u32,
        prev: Duration,
        rng: &mut R,
    ) -> Option<Duration> {
        let plan = self.plan(attempt, prev)?;
        Some(Duration::from_millis(
            uniform(rng, plan.lo, plan.hi).min(plan.cap),
        ))
    }

    /// Closed bounds `[lo, hi]` every draw of [`delay`](Self::delay) for these
    /// arguments lies in; `None` exactly when `delay` returns `None`.
    #[must_use]
    pub fn bounds(&self, attempt: u32, prev: Duration) -> Option<(Duration, Duration)> {
        let plan = self.plan(attempt, prev)?;
        Some((
            Duration::from_millis(plan.lo.min(plan.cap)),
            Duration::from_millis(plan.hi.min(plan.cap)),
        ))
    }

    /// Rejects policies that cannot work (zero or inverted caps, shrinking
    /// growth, empty tables, bad jitter). Field paths start with `reconnect.policy.`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            BackoffPolicy::Rfc6455 { first_window, cap } => {
                let field = "reconnect.policy.first_window";
                require(!first_window.is_zero(), field, "must be above zero")?;
                require(!cap.is_zero(), "reconnect.policy.cap", "must be above zero")?;
                require(
                    cap >= first_window,
                    "reconnect.policy.cap",
                    "must be at least first_window",
                )
            }
            BackoffPolicy::Exponential {
                initial,
                factor_permille,
                max,
                jitter,
                ..
            } => {
                require(
                    initial >= Duration::from_millis(1),
                    "reconnect.policy.initial",
                    "must be at least 1 ms (delays have millisecond resolution)",
                )?;
                require(
                    factor_permille >= 1000,
                    "reconnect.policy.factor_permille",
                    "must be at least 1000 (delays must not shrink)",
                )?;
                require(
                    max >= initial,
                    "reconnect.policy.max",
                    "must be at least initial",
                )?;
                jitter.validate()
            }
            BackoffPolicy::Decorrelated { base, cap } => {
                require(
                    !base.is_zero(),
                    "reconnect.policy.base",
                    "must be above zero",
                )?;
                require(!cap.is_zero(), "reconnect.policy.cap", "must be above zero")?;
                require(cap >= base, "reconnect.policy.cap", "must be at least base")
            }
            BackoffPolicy::Schedule(schedule) => {
                let (len, field) = (usize::from(schedule.len), "reconnect.policy.steps");
                require(
                    (1..=MAX_SCHEDULE_STEPS).contains(&len),
                    field,
                    "must list 1 to 12 delays",
                )?;
                schedule.jitter.validate()?;
                // A zero delay repeated forever is the reconnect storm R2 forbids.
                let forever = match schedule.after {
                    AfterSchedule::RepeatLast => schedule.nominal(u32::MAX),
                    AfterSchedule::Fixed(d) => Some(d),
                    AfterSchedule::GiveUp => None,
                };
                let hi = forever.map_or(NS_PER_MS, |d| schedule.jitter.window_ns(d.as_nanos()).1);
                require(
                    hi >= NS_PER_MS,
                    "reconnect.policy.after",
                    "the delay repeated forever must be able to reach 1 ms",
                )
            }
        }
    }
}
