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
//! Samples are clamped to [`MAX_SAMPLE_MS`] (about 6.2 days), so every
//! stored value fits a `u32` and the intermediate products, computed in
//! `u64`, cannot overflow.

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
    /// How many samples went into the estimate (saturating at `u32::MAX`).
    pub samples: u64,
}

/// The RFC 6298 estimator. Starts empty; [`RttEstimator::stats`] is `None`
/// until the first sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttEstimator {
    /// SRTT in 1/8 ms.
    srtt: u32,
    /// RTTVAR in 1/8 ms.
    rttvar: u32,
    /// Smallest sample, ms.
    min: u32,
    /// Latest sample, ms.
    latest: u32,
    /// Number of samples (saturating).
    samples: u32,
}

/// The largest sample kept, in ms: 2^29 - 1 ms, about 6.2 days, so that the
/// sample in 1/8 ms, and so every average of samples, fits the `u32` fields
/// (20 bytes instead of 40 for five `u64`). Only a host that slept for days
/// between a ping and its pong measures more, and the pong deadline the
/// heartbeat derives from the estimate is clamped to `timeout` anyway.
pub const MAX_SAMPLE_MS: u32 = u32::MAX / SCALE as u32;

/// `num / den`, saturated into u32 (the callers' values always fit: they
/// are averages of samples of at most [`MAX_SAMPLE_MS`] in 1/8 ms).
fn div_sat(num: u64, den: u64) -> u32 {
    u32::try_from(num.checked_div(den).unwrap_or(u64::MAX)).unwrap_or(u32::MAX)
}

/// `(keep * old + x) / (keep + 1)`, rounded toward `x`.
///
/// Plain truncation would let the average stall up to 7/8 ms below a steady
/// sample; rounding toward the new value makes it reach the sample exactly.
fn ewma(old: u32, x: u64, keep: u64) -> u32 {
    let den = keep + 1;
    let num = keep * u64::from(old) + x;
    if x > u64::from(old) {
        div_sat(num + keep, den)
    } else {
        div_sat(num, den)
    }
}

/// Stored units to a `Duration` (exact: callers pass at most 5 · 2^32
/// units of 125 µs).
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

    /// Feed one round-trip sample in whole milliseconds (clamped to
    /// [`MAX_SAMPLE_MS`]).
    pub fn on_sample(&mut self, rtt_ms: u64) {
        let ms = u32::try_from(rtt_ms).map_or(MAX_SAMPLE_MS, |ms| ms.min(MAX_SAMPLE_MS));
        // The sample in 1/8 ms: at most u32::MAX - 7, so it fits the fields.
        let r = u64::from(ms) * SCALE;
        if self.samples == 0 {
            self.srtt = u32::try_from(r).unwrap_or(u32::MAX);
            self.rttvar = div_sat(r, 2);
            self.min = ms;
        } else {
            let dev = u64::from(self.srtt).abs_diff(r);
            // RTTVAR first: it uses the SRTT from before this sample.
            self.rttvar = ewma(self.rttvar, dev, 3);
            self.srtt = ewma(self.srtt, r, 7);
            self.min = self.min.min(ms);
        }
        self.latest = ms;
        self.samples = self.samples.saturating_add(1);
    }

    /// `SRTT + 4 * RTTVAR` (RFC 6298's RTO before clock-granularity and
    /// minimum bounds), or `None` without samples.
    #[must_use]
    pub fn rto(&self) -> Option<Duration> {
        if self.samples == 0 {
            return None;
        }
        // In u64: at most 5 * u32::MAX, no overflow.
        let units = u64::from(self.srtt) + 4 * u64::from(self.rttvar);
        Some(units_to_duration(units))
    }

    /// The current estimate, or `None` before the first sample.
    #[must_use]
    pub fn stats(&self) -> Option<RttStats> {
        if self.samples == 0 {
            return None;
        }
        Some(RttStats {
            srtt: units_to_duration(u64::from(self.srtt)),
            rttvar: units_to_duration(u64::from(self.rttvar)),
            min: Duration::from_millis(u64::from(self.min)),
            latest: Duration::from_millis(u64::from(self.latest)),
            samples: u64::from(self.samples),
        })
    }
}

#[cfg(test)]
mod tests;
