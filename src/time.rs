//! Time, as the driver tells it.
//!
//! redial never reads a clock. Every input carries `now`, an [`Instant`] on the
//! driver's monotonic clock in whole milliseconds; spans are
//! [`core::time::Duration`]. Millisecond resolution is what browsers, MCU tick
//! counters and tokio all offer, and it keeps an instant in one `u64`.
//!
//! Time only moves forward inside the engine: a `now` earlier than one already
//! seen is clamped to the latest value ([`Clock::observe`]), so a driver whose
//! clock jumps backwards can delay a deadline but never make the engine panic
//! or fire a deadline twice.

use core::fmt;
use core::ops::Add;
use core::time::Duration;

/// A point on the driver's monotonic clock, in milliseconds since an arbitrary
/// origin the driver chooses (process start, boot, `performance.now()`…).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Instant(u64);

impl Instant {
    /// The clock's origin.
    pub const ZERO: Self = Self(0);
    /// The latest representable instant; arithmetic saturates here.
    pub const MAX: Self = Self(u64::MAX);

    /// An instant `ms` milliseconds after the origin.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the origin.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    #[must_use]
    #[inline]
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(millis(d)))
    }

    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    #[must_use]
    #[inline]
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturating: never overflows, never panics.
    #[inline]
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Whole milliseconds in `d`, saturating at `u64::MAX`.
#[must_use]
#[inline]
pub(crate) fn millis(d: Duration) -> u64 {
    // Same value as `u64::try_from(d.as_millis())` saturated, without the
    // u128 product and division (this runs on every deadline computed).
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()))
}

/// The earlier of two optional deadlines (`None` means "not armed").
#[must_use]
#[inline]
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The earliest of several optional deadlines, folded one at a time.
///
/// Equal to chaining [`earliest`], but the running minimum stays a plain
/// `u64` and a flag between steps instead of being rebuilt as an `Option`
/// at each one: `poll_timeout` folds six deadlines on every drain, and this
/// keeps each fold to a test and a conditional move.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Earliest {
    at: u64,
    armed: bool,
}

impl Earliest {
    /// Nothing armed yet.
    pub(crate) const NONE: Self = Self {
        at: u64::MAX,
        armed: false,
    };

    /// Folds in one deadline (`None` = not armed).
    #[must_use]
    #[inline]
    pub(crate) fn with(self, d: Option<Instant>) -> Self {
        match d {
            Some(t) => Self {
                at: self.at.min(t.0),
                armed: true,
            },
            None => self,
        }
    }

    /// The earliest armed deadline, or `None` if none was.
    #[must_use]
    #[inline]
    pub(crate) fn get(self) -> Option<Instant> {
        self.armed.then_some(Instant(self.at))
    }
}

/// The engine's view of time: the latest `now` it has seen.
///
/// `observe` clamps a backwards step to the latest value, which is what
/// "time only moves forward" means in practice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    latest: Instant,
}

impl Clock {
    /// Feed a driver-supplied `now`; returns the instant the engine will use.
    #[inline]
    pub fn observe(&mut self, now: Instant) -> Instant {
        if now > self.latest {
            self.latest = now;
        }
        self.latest
    }

    /// The latest instant observed.
    #[must_use]
    #[inline]
    pub fn now(&self) -> Instant {
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_matches_the_u128_definition_and_saturates() {
        let reference = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let secs = [
            0,
            1,
            59,
            1_000,
            u64::MAX / 1000,
            u64::MAX / 1000 + 1,
            u64::MAX,
        ];
        let nanos = [0, 1, 999_999, 1_000_000, 1_500_000, 999_999_999];
        for s in secs {
            for n in nanos {
                let d = Duration::new(s, n);
                assert_eq!(millis(d), reference(d), "{d:?}");
            }
        }
        assert_eq!(millis(Duration::MAX), u64::MAX);
        // The last representable millisecond, and one past it.
        let edge = Duration::from_millis(u64::MAX);
        assert_eq!(millis(edge), u64::MAX);
        assert_eq!(millis(edge + Duration::from_millis(1)), u64::MAX);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::from_millis(5) + Duration::MAX, Instant::MAX);
        assert_eq!(
            Instant::ZERO.saturating_duration_since(Instant::from_millis(9)),
            Duration::ZERO
        );
    }

    #[test]
    fn clock_never_goes_backwards() {
        let mut c = Clock::default();
        assert_eq!(
            c.observe(Instant::from_millis(100)),
            Instant::from_millis(100)
        );
        assert_eq!(
            c.observe(Instant::from_millis(40)),
            Instant::from_millis(100)
        );
        assert_eq!(
            c.observe(Instant::from_millis(101)),
            Instant::from_millis(101)
        );
    }

    #[test]
    fn earliest_ignores_unarmed() {
        let a = Some(Instant::from_millis(3));
        assert_eq!(earliest(a, None), a);
        assert_eq!(earliest(None, a), a);
        assert_eq!(
            earliest(a, Some(Instant::from_millis(1))),
            Some(Instant::from_millis(1))
        );
        assert_eq!(earliest(None, None), None);
    }

    #[test]
    fn folding_equals_chaining_earliest() {
        // The end of time is armed, not "never": it must not read as None.
        let values = [0, 1, 2, 1_000, u64::MAX - 1, u64::MAX];
        let opts: std::vec::Vec<Option<Instant>> = values
            .iter()
            .map(|&v| Some(Instant::from_millis(v)))
            .chain([None])
            .collect();
        for &a in &opts {
            for &b in &opts {
                for &c in &opts {
                    let folded = Earliest::NONE.with(a).with(b).with(c).get();
                    assert_eq!(folded, earliest(earliest(a, b), c), "{a:?} {b:?} {c:?}");
                }
            }
        }
        assert_eq!(Earliest::NONE.get(), None);
    }
}
