//! Round-trip time estimation after RFC 6298 §2, in integer arithmetic.
//!
//! Each sample `R` (whole milliseconds, measured from a ping to its matching
//! pong) updates the smoothed RTT and its mean deviation:
//!
//! * first sample: `SRTT = R`, `RTTVAR = R / 2`;
//! * later samples: `RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|` (with the *old*
//!   SRTT), then `SRTT = 7/8 SRTT + 1/8 R` (α = 1/8, β = 1/4).
//!
//! There are no floats (no libm in `no_std`): both values are kept in eighths
//! of a millisecond (125 µs), so the RFC's fractions stay exact whenever the
//! samples allow it; otherwise each step rounds toward the new value by less
//! than 125 µs, so a steady RTT is reached exactly rather than approached.
//! Intermediate products are computed in `u128`, so no input can overflow.

use core::time::Duration;

/// Fixed-point scale: stored values are in 1/8 ms.
const SCALE: u64 = 8;
/// Microseconds per stored unit.
const MICROS_PER_UNIT: u64 = 125;

/// A snapshot of the round-trip estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttStats {
    /// Smoothed round-trip time (RFC 6298 `SRTT`), at 125 µs resolution.
    pub srtt: Duration,
    /// Round-trip variation (RFC 6298 `RTTVAR`), at 125 µs resolution.
    pub rttvar: Duration,
    /// The smallest sample seen.
    pub min: Duration,
    /// The most recent sample.
    pub latest: Duration,
    /// How many samples went into the estimate (saturating).
    pub samples: u64,
}

/// The RFC 6298 estimator. Starts empty; [`RttEstimator::stats`] is `None`
/// until the first sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttEstimator {
    /// SRTT in 1/8 ms.
    srtt: u64,
    /// RTTVAR in 1/8 ms.
    rttvar: u64,
    /// Smallest sample, ms.
    min: u64,
    /// Latest sample, ms.
    latest: u64,
    /// Number of samples (saturating).
    samples: u64,
}

/// `num / den` in u128, saturated back into u64.
fn div_sat(num: u128, den: u128) -> u64 {
    u64::try_from(num.checked_div(den).unwrap_or(u128::MAX)).unwrap_or(u64::MAX)
}

/// `(keep * old + x) / (keep + 1)`, rounded toward `x`.
///
/// Plain truncation would let the average stall up to 7/8 ms below a steady
/// sample; rounding toward the new value makes it reach the sample exactly.
fn ewma(old: u64, x: u128, keep: u128) -> u64 {
    let den = keep + 1;
    let num = keep * u128::from(old) + x;
    if x > u128::from(old) {
        div_sat(num + keep, den)
    } else {
        div_sat(num, den)
    }
}

/// Stored units to a `Duration` (saturating at `u64::MAX` µs, ~584 000 years).
fn units_to_duration(units: u64) -> Duration {
    Duration::from_micros(units.saturating_mul(MICROS_PER_UNIT))
}

impl RttEstimator {
    /// An estimator with no samples.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            srtt: 0,
            rttvar: 0,
            min: 0,
            latest: 0,
            samples: 0,
        }
    }

    /// Feed one round-trip sample in whole milliseconds.
    pub fn on_sample(&mut self, rtt_ms: u64) {
        let r = u128::from(rtt_ms) * u128::from(SCALE);
        if self.samples == 0 {
            self.srtt = u64::try_from(r).unwrap_or(u64::MAX);
            self.rttvar = div_sat(r, 2);
            self.min = rtt_ms;
        } else {
            let srtt = u128::from(self.srtt);
            let dev = srtt.abs_diff(r);
            // RTTVAR first: it uses the SRTT from before this sample.
            self.rttvar = ewma(self.rttvar, dev, 3);
            self.srtt = ewma(self.srtt, r, 7);
            self.min = self.min.min(rtt_ms);
        }
        self.latest = rtt_ms;
        self.samples = self.samples.saturating_add(1);
    }

    /// `SRTT + 4 * RTTVAR` (RFC 6298's RTO before clock-granularity and
    /// minimum bounds), or `None` without samples.
    #[must_use]
    pub fn rto(&self) -> Option<Duration> {
        if self.samples == 0 {
            return None;
        }
        let units = self.srtt.saturating_add(self.rttvar.saturating_mul(4));
        Some(units_to_duration(units))
    }

    /// The current estimate, or `None` before the first sample.
    #[must_use]
    pub fn stats(&self) -> Option<RttStats> {
        if self.samples == 0 {
            return None;
        }
        Some(RttStats {
            srtt: units_to_duration(self.srtt),
            rttvar: units_to_duration(self.rttvar),
            min: Duration::from_millis(self.min),
            latest: Duration::from_millis(self.latest),
            samples: self.samples,
        })
    }
}

#[cfg(test)]
mod tests;
