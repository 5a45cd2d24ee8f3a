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

    #[test]
    fn windows_beyond_u64_nanoseconds_take_the_exact_path() {
        let big = Duration::from_secs(u64::MAX / 1_000_000_000 + 1);
        assert_eq!(rfc6455_hi_ms(big, big, 1), None);
        assert_eq!(rfc6455_hi_ms(Duration::from_secs(5), big, 3), None);
    }
}
