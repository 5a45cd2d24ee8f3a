//! The simulation's own seeded generator (SplitMix64).
//!
//! The harness must not depend on a dev-dependency (fuzz targets reuse it), and
//! it needs many cheap independent streams: one for the schedule, one for the
//! link, one per engine. SplitMix64 passes BigCrush, is a handful of
//! instructions, and [`SimRng::fork`] derives a fresh stream from the current
//! one, so adding a draw in one stream never shifts another.

use core::convert::Infallible;

use rand_core::TryRng;

use crate::random::uniform;

/// A seeded SplitMix64 stream. Same seed, same numbers, on every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRng {
    state: u64,
}

/// SplitMix64's increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SimRng {
    /// A stream seeded with `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits. Arithmetic wraps deliberately (it is a hash).
    pub fn next_word(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in the closed range `[lo, hi]` (`lo` when `hi <= lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        uniform(self, lo, hi)
    }

    /// `true` with probability `permille / 1000`.
    pub fn chance(&mut self, permille: u64) -> bool {
        self.range(0, 999) < permille
    }

    /// Uniform index in `0..len` (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        let hi = u64::try_from(len.saturating_sub(1)).unwrap_or(u64::MAX);
        usize::try_from(self.range(0, hi)).unwrap_or(0)
    }

    /// An independent stream seeded from this one.
    #[must_use]
    pub fn fork(&mut self) -> Self {
        Self::new(self.next_word())
    }
}

impl TryRng for SimRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        // The high half of a SplitMix64 word is as good as the low half.
        Ok(u32::try_from(self.next_word() >> 32).unwrap_or(u32::MAX))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next_word())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.next_word().to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(word.iter()) {
                *d = *s;
            }
        }
        Ok(())
    }
}
