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
//!
//! An instant is stored as its millisecond count plus one in a
//! [`NonZeroU64`], so `Option<Instant>` (an armed or unarmed deadline, which
//! the engine holds a dozen of) is 8 bytes, not 16. The price is the last
//! millisecond of the range: [`Instant::MAX`] is `u64::MAX - 1` ms, and
//! `from_millis(u64::MAX)` saturates to it, some 584 million years after the
//! origin.

use core::fmt;
use core::num::NonZeroU64;
use core::ops::Add;
use core::time::Duration;

/// A point on the driver's monotonic clock, in milliseconds since an arbitrary
/// origin the driver chooses (process start, boot, `performance.now()`…).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(
    /// Milliseconds since the origin, plus one (the zero is `None`'s niche).
    NonZeroU64,
);

impl Instant {
    /// The clock's origin.
    pub const ZERO: Self = Self(NonZeroU64::MIN);
    /// The latest representable instant, `u64::MAX - 1` ms; arithmetic and
    /// [`Instant::from_millis`] saturate here.
    pub const MAX: Self = Self(NonZeroU64::MAX);

    /// An instant `ms` milliseconds after the origin (`u64::MAX` saturates to
    /// [`Instant::MAX`]).
    #[must_use]
    #[inline]
    pub const fn from_millis(ms: u64) -> Self {
        match NonZeroU64::new(ms.saturating_add(1)) {
            Some(raw) => Self(raw),
            // Unreachable: the saturating add never yields zero.
            None => Self::MAX,
        }
    }

    /// Milliseconds since the origin.
    #[must_use]
    #[inline]
    pub const fn as_millis(self) -> u64 {
        // Never wraps: the stored value is at least 1.
        self.0.get().wrapping_sub(1)
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
        Duration::from_millis(self.0.get().saturating_sub(earlier.0.get()))
    }
}

impl fmt::Debug for Instant {
    /// `Instant(<ms>)`, the milliseconds, not the stored form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Instant").field(&self.as_millis()).finish()
    }
}

impl Default for Instant {
    /// The origin.
    fn default() -> Self {
        Self::ZERO
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Instant {
    /// Any `u64` of milliseconds (the same bytes decode to the same instant
    /// as when it was a plain `u64`; `u64::MAX` saturates).
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        u64::arbitrary(u).map(Self::from_millis)
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        u64::size_hint(depth)
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
        write!(f, "{}ms", self.as_millis())
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
/// `u64` between steps instead of being rebuilt as an `Option` at each one:
/// `poll_timeout` folds six deadlines on every drain, and this keeps each
/// fold to a conditional move. It holds milliseconds, so `u64::MAX`, one past
/// [`Instant::MAX`], can mean "nothing armed".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Earliest {
    at: u64,
}

impl Earliest {
    /// Nothing armed yet.
    pub(crate) const NONE: Self = Self { at: u64::MAX };

    /// Folds in one deadline (`None` = not armed).
    #[must_use]
    #[inline]
    pub(crate) fn with(self, d: Option<Instant>) -> Self {
        match d {
            Some(t) => Self {
                at: self.at.min(t.as_millis()),
            },
            None => self,
        }
    }

    /// The earliest armed deadline, or `None` if none was.
    #[must_use]
    #[inline]
    pub(crate) fn get(self) -> Option<Instant> {
        // ms + 1 is the stored form; "nothing" wraps to 0, the niche.
        NonZeroU64::new(self.at.wrapping_add(1)).map(Instant)
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
    fn an_optional_instant_is_one_word_and_keeps_every_millisecond_but_the_last() {
        assert_eq!(size_of::<Option<Instant>>(), 8);
        for ms in [0, 1, 999, 1 << 40, u64::MAX - 2, u64::MAX - 1] {
            let t = Instant::from_millis(ms);
            assert_eq!(t.as_millis(), ms);
            assert_eq!(
                std::format!("{t:?} {t}"),
                std::format!("Instant({ms}) {ms}ms")
            );
        }
        assert_eq!(Instant::from_millis(u64::MAX), Instant::MAX);
        assert_eq!(Instant::MAX.as_millis(), u64::MAX - 1);
        assert_eq!(Instant::default(), Instant::ZERO);
        assert_eq!(Instant::ZERO.as_millis(), 0);
        assert!(Instant::ZERO < Instant::from_millis(1));
        assert_eq!(
            Instant::MAX.saturating_duration_since(Instant::ZERO),
            Duration::from_millis(u64::MAX - 1)
        );
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
        let values = [0, 1, 2, 1_000, u64::MAX - 2, u64::MAX - 1, u64::MAX];
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
