//! Injected randomness: uniform draws from the caller's `rand_core::Rng`.
//!
//! The engine never seeds or owns a global generator. Tests seed one, so the
//! same seed and the same inputs give a byte-identical action trace.

use core::time::Duration;
use rand_core::Rng;

use crate::time::millis;

/// A uniform draw from the closed range `[lo, hi]`; `lo` when `hi <= lo`.
///
/// Uses the widening-multiply map of a 64-bit draw onto the range (bias below
/// 2^-64 * span, far under anything a backoff delay can show). Never panics.
#[must_use]
pub fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = u128::from(hi - lo) + 1;
    let draw = (u128::from(rng.next_u64()) * span) >> 64;
    // draw < span <= u64::MAX + 1, so it fits; saturate anyway rather than trust it.
    lo.saturating_add(u64::try_from(draw).unwrap_or(u64::MAX))
}

/// A uniform duration in `[lo, hi]` at millisecond resolution.
#[must_use]
pub fn uniform_duration<R: Rng + ?Sized>(rng: &mut R, lo: Duration, hi: Duration) -> Duration {
    Duration::from_millis(uniform(rng, millis(lo), millis(hi)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn stays_in_range_including_extremes() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..10_000 {
            let x = uniform(&mut rng, 10, 20);
            assert!((10..=20).contains(&x));
        }
        assert_eq!(uniform(&mut rng, 5, 5), 5);
        assert_eq!(uniform(&mut rng, 9, 3), 9);
        let _ = uniform(&mut rng, 0, u64::MAX);
    }

    #[test]
    fn hits_both_ends() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut lo, mut hi) = (false, false);
        for _ in 0..1_000 {
            match uniform(&mut rng, 0, 3) {
                0 => lo = true,
                3 => hi = true,
                _ => {}
            }
        }
        assert!(lo && hi);
    }
}
