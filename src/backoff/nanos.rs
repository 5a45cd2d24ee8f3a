//! Nanosecond arithmetic in `u64` for the hot path of the default policy.
//!
//! [`BackoffPolicy::Rfc6455`](super::BackoffPolicy::Rfc6455) is exact for
//! any `Duration` because it works in `u128` nanoseconds, but `u128`
//! multiplies, shifts and divisions cost several instructions each. Every
//! window a real config uses fits in `u64` nanoseconds (up to 584 years), and
//! there the same formula needs one shift, one compare and one division by a
//! constant. These helpers are that path; the policy falls back to `u128`
//! only for windows beyond `u64` nanoseconds. The tests below check the two
//! paths agree.

use core::time::Duration;

use super::{CapOrder, Jitter};

/// Nanoseconds per millisecond.
pub(super) const NS_PER_MS_U64: u64 = 1_000_000;

/// `d` in nanoseconds, if that fits in a `u64`.
#[inline]
pub(super) fn nanos_u64(d: Duration) -> Option<u64> {
    d.as_secs()
        .checked_mul(1_000_000_000)?
        .checked_add(u64::from(d.subsec_nanos()))
}

/// `x · 2^shift`, saturating at `u64::MAX` (any shift, including >= 64).
#[inline]
pub(super) fn saturating_shl(x: u64, shift: u32) -> u64 {
    if x == 0 {
        0
    } else if shift > x.leading_zeros() {
        // x has `64 - leading_zeros` significant bits: shifting by more than
        // `leading_zeros` pushes one out.
        u64::MAX
    } else {
        x << shift
    }
}

/// The RFC 6455 window of `attempt` (>= 1) in whole milliseconds:
/// `min(cap, first · 2^(attempt-1))` rounded down, or `None` if either
/// window does not fit in `u64` nanoseconds.
#[inline]
pub(super) fn rfc6455_hi_ms(first: Duration, cap: Duration, attempt: u32) -> Option<u64> {
    let first = nanos_u64(first)?;
    let cap = nanos_u64(cap)?;
    let hi = if attempt <= 1 {
        first
    } else {
        // If first · 2^(n-1) overflows u64, the exact value exceeds any
        // u64 cap, so the saturated value gives the same minimum.
        saturating_shl(first, attempt - 1).min(cap)
    };
    Some(hi / NS_PER_MS_U64)
}

/// The [`Exponential`](super::BackoffPolicy::Exponential) policy's draw as
/// `(lo, hi, cap)` in whole milliseconds: the same integers as the exact
/// `u128` path (`plan_exact`), computed in `u64`, or `None` wherever an
/// intermediate value would leave `u64` or the jitter is not one of `None`,
/// `Full`, `Equal`, `Proportional` (the exact path then runs). Each step is
/// the exact path's step with `checked_*` where it has `saturating_*`: the
/// `u128` operations never saturate on values that fit `u64`, so wherever
/// no check fails the results are equal (tested over a grid below).
pub(super) fn exponential_ms(
    initial: Duration,
    factor_permille: u32,
    max: Duration,
    jitter: Jitter,
    cap_order: CapOrder,
    attempt: u32,
) -> Option<(u64, u64, u64)> {
    let attempt = attempt.max(1);
    let max_ns = nanos_u64(max)?;
    let stop = match cap_order {
        CapOrder::AfterJitter => saturation_ns(jitter, max_ns)?,
        CapOrder::BeforeJitter | CapOrder::BeforeAndAfter => Some(max_ns),
    };
    let grown = grow_ns(nanos_u64(initial)?, factor_permille, attempt, stop)?;
    let nominal = match cap_order {
        CapOrder::AfterJitter => grown,
        CapOrder::BeforeJitter | CapOrder::BeforeAndAfter => grown.min(max_ns),
    };
    let (lo, hi) = match jitter {
        Jitter::None => (nominal, nominal),
        Jitter::Full => (0, nominal),
        Jitter::Equal => (nominal / 2, nominal),
        Jitter::Proportional { permille } => {
            let dev = nominal.checked_mul(u64::from(permille))? / 1000;
            (nominal.saturating_sub(dev), nominal.checked_add(dev)?)
        }
        _ => return None,
    };
    let cap = match cap_order {
        CapOrder::BeforeJitter => u64::MAX,
        CapOrder::AfterJitter | CapOrder::BeforeAndAfter => max_ns / NS_PER_MS_U64,
    };
    Some((lo / NS_PER_MS_U64, hi.max(lo) / NS_PER_MS_U64, cap))
}

/// `Jitter::saturation_ns` in `u64`: `Some(None)` when the exact value is
/// beyond `u64` (the growth never reaches it without overflowing, which
/// sends the caller to the exact path), `None` when it cannot be computed
/// here.
fn saturation_ns(jitter: Jitter, cap: u64) -> Option<Option<u64>> {
    Some(match jitter {
        Jitter::None | Jitter::Additive { .. } => Some(cap),
        Jitter::Equal => cap.checked_mul(2),
        Jitter::Proportional { permille } if permille < 1000 => {
            (cap.checked_mul(1000)? / (1000 - u64::from(permille))).checked_add(1)
        }
        Jitter::Scaled { lo_permille, .. } if lo_permille > 0 => {
            (cap.checked_mul(1000)? / u64::from(lo_permille)).checked_add(1)
        }
        _ => None,
    })
}

/// `grow_ns` of the policy module in `u64` picoseconds; `stop` `None` =
/// beyond `u64`. `None` if a step overflows.
fn grow_ns(initial: u64, factor_permille: u32, attempt: u32, stop: Option<u64>) -> Option<u64> {
    if factor_permille <= 1000 {
        return Some(initial);
    }
    let stop_ps = stop.and_then(|s| s.checked_mul(1000));
    let mut value = initial.checked_mul(1000)?;
    for _ in 1..attempt {
        if value == 0 || stop_ps.is_some_and(|s| value >= s) {
            break;
        }
        let next = value.checked_mul(u64::from(factor_permille))? / 1000;
        if next == value {
            break;
        }
        value = next;
    }
    Some(value / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact formula, in u128 nanoseconds, as the slow path computes it.
    fn reference_ms(first: Duration, cap: Duration, attempt: u32) -> u64 {
        let first = first.as_nanos();
        let hi = if attempt <= 1 {
            first
        } else {
            let scale = 1u128.checked_shl(attempt - 1).unwrap_or(u128::MAX);
            first.saturating_mul(scale).min(cap.as_nanos())
        };
        u64::try_from(hi / 1_000_000).unwrap_or(u64::MAX)
    }

    #[test]
    fn nanos_fit_exactly_where_u64_holds_them() {
        assert_eq!(nanos_u64(Duration::ZERO), Some(0));
        assert_eq!(nanos_u64(Duration::from_millis(5_000)), Some(5_000_000_000));
        assert_eq!(nanos_u64(Duration::from_nanos(u64::MAX)), Some(u64::MAX));
        assert_eq!(
            nanos_u64(Duration::from_nanos(u64::MAX) + Duration::from_nanos(1)),
            None
        );
        assert_eq!(nanos_u64(Duration::MAX), None);
    }

    #[test]
    fn shifts_saturate_instead_of_wrapping() {
        assert_eq!(saturating_shl(0, 200), 0);
        assert_eq!(saturating_shl(1, 63), 1 << 63);
        assert_eq!(saturating_shl(1, 64), u64::MAX);
        assert_eq!(saturating_shl(3, 63), u64::MAX);
        assert_eq!(saturating_shl(3, 62), 3 << 62);
        assert_eq!(saturating_shl(u64::MAX, 0), u64::MAX);
        assert_eq!(saturating_shl(u64::MAX, 1), u64::MAX);
        assert_eq!(saturating_shl(5, u32::MAX), u64::MAX);
    }

    #[test]
    fn the_fast_path_equals_the_u128_formula() {
        let edges = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999_999),
            Duration::from_millis(1),
            Duration::from_nanos(1_000_001),
            Duration::from_millis(250),
            Duration::from_secs(5),
            Duration::from_secs(30),
            Duration::from_secs(3_600),
            Duration::from_nanos(u64::MAX / 3),
            Duration::from_nanos(u64::MAX - 1),
            Duration::from_nanos(u64::MAX),
        ];
        let attempts = (0..200).chain([u32::MAX - 1, u32::MAX]);
        let mut compared = 0u32;
        for &first in &edges {
            for &cap in &edges {
                for attempt in attempts.clone() {
                    let fast = rfc6455_hi_ms(first, cap, attempt);
                    assert_eq!(
                        fast,
                        Some(reference_ms(first, cap, attempt)),
                        "first {first:?} cap {cap:?} attempt {attempt}"
                    );
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 12 * 12 * 202);
    }

    /// The exponential fast path against `plan_exact` over a grid of edges:
    /// equal wherever it answers, and it answers for every preset-like
    /// config (windows of milliseconds to hours).
    #[test]
    fn the_exponential_fast_path_equals_the_exact_plan() {
        use super::super::BackoffPolicy;
        let durations = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(1_000_001),
            Duration::from_millis(1_000),
            Duration::from_millis(5_000),
            Duration::from_secs(3_600),
            Duration::from_nanos(u64::MAX / 1_000),
            Duration::from_nanos(u64::MAX),
            Duration::MAX,
        ];
        let factors = [0, 1_000, 1_001, 1_500, 2_000, 10_000, u32::MAX];
        let jitters = [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Proportional { permille: 0 },
            Jitter::Proportional { permille: 500 },
            Jitter::Proportional { permille: 1_000 },
            Jitter::Proportional { permille: u16::MAX },
            Jitter::Scaled {
                lo_permille: 1_000,
                hi_permille: 5_000,
            },
        ];
        let orders = [
            CapOrder::BeforeJitter,
            CapOrder::AfterJitter,
            CapOrder::BeforeAndAfter,
        ];
        let attempts = [0, 1, 2, 3, 8, 31, 64, 200, u32::MAX];
        let (mut compared, mut fast) = (0u32, 0u32);
        for &initial in &durations {
            for &max in &durations {
                for &factor_permille in &factors {
                    for &jitter in &jitters {
                        for &cap_order in &orders {
                            let policy = BackoffPolicy::Exponential {
                                initial,
                                factor_permille,
                                max,
                                jitter,
                                cap_order,
                            };
                            for &attempt in &attempts {
                                // Slow factors on unbounded growth loop long
                                // in both paths; the edges above cover them
                                // with smaller attempts.
                                if factor_permille == 1_001 && attempt == u32::MAX {
                                    continue;
                                }
                                let exact = policy.plan_exact(attempt, Duration::ZERO);
                                let got = exponential_ms(
                                    initial,
                                    factor_permille,
                                    max,
                                    jitter,
                                    cap_order,
                                    attempt,
                                );
                                if let Some((lo, hi, cap)) = got {
                                    let exact = exact.map(|p| (p.lo, p.hi, p.cap));
                                    assert_eq!(
                                        Some((lo, hi, cap)),
                                        exact,
                                        "{policy:?} attempt {attempt}"
                                    );
                                    fast += 1;
                                }
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(fast * 2 > compared, "fast path taken {fast} of {compared}");
        // Every preset that uses the exponential policy takes it.
        for preset in [
            super::super::ReconnectConfig::socket_io().policy,
            BackoffPolicy::Exponential {
                initial: Duration::from_secs(1),
                factor_permille: 2_000,
                max: Duration::from_secs(30),
                jitter: Jitter::Full,
                cap_order: CapOrder::BeforeJitter,
            },
        ] {
            let BackoffPolicy::Exponential {
                initial,
                factor_permille,
                max,
                jitter,
                cap_order,
            } = preset
            else {
                panic!("{preset:?}")
            };
            for attempt in [1, 2, 10, 1_000, u32::MAX] {
                let got = exponential_ms(initial, factor_permille, max, jitter, cap_order, attempt);
                assert!(got.is_some(), "{preset:?} attempt {attempt}");
            }
        }
    }

    #[test]
    fn windows_beyond_u64_nanoseconds_take_the_exact_path() {
        let big = Duration::from_secs(u64::MAX / 1_000_000_000 + 1);
        assert_eq!(rfc6455_hi_ms(big, big, 1), None);
        assert_eq!(rfc6455_hi_ms(Duration::from_secs(5), big, 3), None);
    }
}
