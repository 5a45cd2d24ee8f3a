//! Delivery's public vocabulary: config, inbound ids, verdicts, errors.

use core::time::Duration;
use thiserror::Error;

use crate::dedup::MAX_WINDOW;
use crate::error::ConfigError;
use crate::time::millis;

/// Tuning for [`Delivery`](super::Delivery). Passed to every call; validate it once up front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DeliveryConfig {
    /// Number messages, expect cumulative acks, resend and resume. Default
    /// `false`: a plain peer that does not speak acks would otherwise see
    /// endless retransmits. Turn it on when both ends speak the protocol.
    pub acks: bool,
    /// Most messages queued (pushed, not yet acked) at once; `push` fails
    /// beyond it. Default 1024: a few seconds of chat-rate traffic across a
    /// reconnect, while bounding what the driver must keep in memory.
    pub max_queued: u32,
    /// Resend everything unacked after this long without ack progress, and
    /// how long to wait for the peer's `Resume` after open. Default 5 s, the
    /// retry period seed 002 describes (R17).
    pub ack_timeout: Duration,
    /// Ceiling of the retransmit back-off: each resend without ack progress
    /// on the same transport waits twice as long as the one before, up to
    /// this (a value below `ack_timeout` means no back-off). Default 60 s,
    /// the least ceiling RFC 6298 allows TCP's timer: a stalled but open
    /// link then gets one window a minute instead of one every 5 s, and a
    /// link that recovers is served again within a minute.
    pub max_ack_timeout: Duration,
    /// Coalesce acks: an ack goes out this long after the first unacked
    /// delivery. Default 200 ms: one ack per burst, far below `ack_timeout`
    /// so coalescing never triggers a resend.
    pub ack_delay: Duration,
    /// Ack at once when this many deliveries are unacked. Default 32: a steady
    /// stream frees the sender's queue well before `max_queued`.
    pub ack_every: u32,
    /// Report a message still unacked this long after `push` (`None`: never).
    /// Default 30 s: six resend periods, long enough to ride out a typical
    /// reconnect, short enough to tell the user before they give up (R6).
    pub delivery_deadline: Option<Duration>,
    /// How many recent opaque ids are remembered for duplicate detection,
    /// `0..=256`, and at most the engine's opaque-id capacity (its `IDS`
    /// parameter, 256 by default). 0: opaque ids are not deduplicated, every
    /// one is delivered; engines built with `IDS = 0` must use it. Default
    /// 128: covers a full resend burst of a typical peer within the default
    /// 2 KiB ring.
    pub dedup_window: u16,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            acks: false,
            max_queued: 1024,
            ack_timeout: Duration::from_secs(5),
            max_ack_timeout: Duration::from_secs(60),
            ack_delay: Duration::from_millis(200),
            ack_every: 32,
            delivery_deadline: Some(Duration::from_secs(30)),
            dedup_window: 128,
        }
    }
}

impl DeliveryConfig {
    /// Rejects values the machine cannot work with, naming the field.
    ///
    /// # Errors
    /// [`ConfigError`] for a zero cap, timeout, `ack_every` or deadline, an
    /// `ack_delay` not below `ack_timeout`, or a window above 256.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_queued == 0 {
            return Err(ConfigError::new(
                "delivery.max_queued",
                "must be at least 1",
            ));
        }
        if millis(self.ack_timeout) == 0 {
            return Err(ConfigError::new(
                "delivery.ack_timeout",
                "must be at least 1 ms",
            ));
        }
        if self.ack_delay >= self.ack_timeout {
            return Err(ConfigError::new(
                "delivery.ack_delay",
                "must be below delivery.ack_timeout, or the peer resends before we ack",
            ));
        }
        if self.ack_every == 0 {
            return Err(ConfigError::new("delivery.ack_every", "must be at least 1"));
        }
        if self.delivery_deadline.is_some_and(|d| millis(d) == 0) {
            return Err(ConfigError::new(
                "delivery.delivery_deadline",
                "must be at least 1 ms when set (use None to disable)",
            ));
        }
        if self.dedup_window > MAX_WINDOW {
            return Err(ConfigError::new(
                "delivery.dedup_window",
                "must be in 0..=256",
            ));
        }
        Ok(())
    }
}

/// How an inbound data message is labelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DataId {
    /// Unsequenced: always delivered, never acked.
    None,
    /// Our protocol's sequence number (from 1): in-order, acked.
    Seq(u64),
    /// A peer-chosen id with no order: deduplicated within the window only.
    Opaque(u64),
}

/// What to do with an inbound data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Verdict {
    /// Hand it to the app.
    Deliver,
    /// Already delivered: drop it.
    Duplicate,
    /// Out of order (an earlier message is missing): drop it; the sender
    /// resends from our mark.
    Gap,
}

/// Why a message could not be accepted for sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SendError {
    /// `cap` messages are already queued; nothing was dropped. Retry after
    /// acks free room.
    #[error("send queue full: {cap} messages already waiting for an ack")]
    Full {
        /// The configured `max_queued`.
        cap: u32,
    },
}

/// The peer said something impossible; nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An ack for seqs we never sent.
    #[error("peer acked up to {upto}, but only up to {sent} was ever sent")]
    AckFromFuture {
        /// The peer's ack mark.
        upto: u64,
        /// The highest seq we ever sent.
        sent: u64,
    },
    /// The peer resumes from before what it already acked: it lost state,
    /// and we no longer hold those payloads.
    #[error("peer resumes after {last}, behind its own ack mark {acked}")]
    ResumeBehind {
        /// The peer's resume mark.
        last: u64,
        /// Our ack mark (what the peer confirmed earlier).
        acked: u64,
    },
    /// The peer claims seqs we never sent.
    #[error("peer resumes after {last}, but only up to {sent} was ever sent")]
    ResumeFromFuture {
        /// The peer's resume mark.
        last: u64,
        /// The highest seq we ever sent.
        sent: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_fields_are_named() {
        let ok = DeliveryConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        assert!(!ok.acks);
        assert_eq!(ok.max_queued, 1024);
        assert_eq!(ok.ack_timeout, Duration::from_secs(5));
        let field = |c: DeliveryConfig| c.validate().err().map(|e| e.field);
        assert_eq!(
            field(DeliveryConfig {
                max_queued: 0,
                ..ok
            }),
            Some("delivery.max_queued")
        );
        assert_eq!(
            field(DeliveryConfig {
                ack_timeout: Duration::from_micros(999),
                ..ok
            }),
            Some("delivery.ack_timeout")
        );
        assert_eq!(
            field(DeliveryConfig {
                ack_delay: Duration::from_secs(5),
                ..ok
            }),
            Some("delivery.ack_delay")
        );
        assert_eq!(
            field(DeliveryConfig { ack_every: 0, ..ok }),
            Some("delivery.ack_every")
        );
        assert_eq!(
            field(DeliveryConfig {
                delivery_deadline: Some(Duration::ZERO),
                ..ok
            }),
            Some("delivery.delivery_deadline")
        );
        // 0 turns opaque-id deduplication off; it is valid.
        assert_eq!(
            field(DeliveryConfig {
                dedup_window: 0,
                ..ok
            }),
            None
        );
        assert_eq!(
            field(DeliveryConfig {
                dedup_window: 257,
                ..ok
            }),
            Some("delivery.dedup_window")
        );
        assert_eq!(
            field(DeliveryConfig {
                dedup_window: 256,
                delivery_deadline: None,
                ack_delay: Duration::ZERO,
                ..ok
            }),
            None
        );
    }
}
