extern crate std;

use super::*;
use core::time::Duration;
use std::vec::Vec;

mod sim;

pub(super) fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub(super) fn acked() -> DeliveryConfig {
    DeliveryConfig {
        acks: true,
        delivery_deadline: None,
        ..DeliveryConfig::default()
    }
}

pub(super) fn drain(d: &mut Delivery, now: Instant, cfg: &DeliveryConfig) -> Vec<u64> {
    core::iter::from_fn(|| d.poll_transmit(now, cfg)).collect()
}

/// Opens in acked mode and settles the resume at the peer's mark `last`.
pub(super) fn open_resumed(d: &mut Delivery, now: Instant, last: u64, cfg: &DeliveryConfig) {
    assert_eq!(d.on_open(now, cfg), Some(d.delivered()));
    assert_eq!(d.on_resume(now, last, cfg), Ok(()));
    assert!(d.is_ready());
}

#[test]
fn memory_stays_engine_sized() {
    let total = core::mem::size_of::<Delivery>();
    let window = core::mem::size_of::<DedupWindow>();
    assert!(window <= 2048 + 8, "window {window}");
    // Counters, timers and 16 checkpoints of 16 bytes.
    assert!(
        total - window <= 448,
        "delivery without window {}",
        total - window
    );
}

#[test]
fn buffers_while_closed_then_flushes_in_order() {
    let cfg = DeliveryConfig::default();
    let mut d = Delivery::new();
    assert_eq!(
        (d.push(t(0), &cfg), d.push(t(1), &cfg), d.push(t(2), &cfg)),
        (Ok(1), Ok(2), Ok(3))
    );
    assert_eq!(d.poll_transmit(t(3), &cfg), None);
    assert_eq!(d.queued(), 3);
    assert_eq!(d.on_open(t(5), &cfg), None);
    assert!(d.is_ready());
    assert_eq!(drain(&mut d, t(5), &cfg), [1, 2, 3]);
    assert_eq!((d.acked(), d.queued(), d.next_seq()), (3, 0, 4));

    // Acked mode: flushed only once the resume settles.
    let cfg = acked();
    let mut d = Delivery::new();
    assert_eq!((d.push(t(0), &cfg), d.push(t(0), &cfg)), (Ok(1), Ok(2)));
    assert_eq!(d.on_open(t(10), &cfg), Some(0));
    assert_eq!(d.poll_transmit(t(10), &cfg), None);
    assert_eq!(d.on_resume(t(20), 0, &cfg), Ok(()));
    assert_eq!(drain(&mut d, t(20), &cfg), [1, 2]);
    assert_eq!((d.queued(), d.in_flight()), (2, 2));
}

#[test]
fn full_at_cap_changes_nothing_and_loses_nothing() {
    let cfg = DeliveryConfig {
        max_queued: 3,
        ..acked()
    };
    let mut d = Delivery::new();
    for want in 1..=3 {
        assert_eq!(d.push(t(0), &cfg), Ok(want));
    }
    let before = d.clone();
    assert_eq!(d.push(t(0), &cfg), Err(SendError::Full { cap: 3 }));
    assert_eq!(d, before);
    assert_eq!(
        std::format!("{}", SendError::Full { cap: 3 }),
        "send queue full: 3 messages already waiting for an ack"
    );
    open_resumed(&mut d, t(1), 0, &cfg);
    assert_eq!(drain(&mut d, t(1), &cfg), [1, 2, 3]);
    // In flight still counts as queued.
    assert_eq!(d.push(t(2), &cfg), Err(SendError::Full { cap: 3 }));
    assert_eq!(d.on_ack(t(3), 2, &cfg), Ok(()));
    assert_eq!(d.push(t(3), &cfg), Ok(4));
    assert_eq!(d.queued(), 2);
    assert_eq!(drain(&mut d, t(3), &cfg), [4]);
}

#[test]
fn ack_progress_rearms_and_stale_acks_are_ignored() {
    let cfg = acked();
    let mut d = Delivery::new();
    for _ in 0..5 {
        assert!(d.push(t(0), &cfg).is_ok());
    }
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(drain(&mut d, t(0), &cfg), [1, 2, 3, 4, 5]);
    assert_eq!(d.poll_timeout(&cfg), Some(t(5000)));
    assert_eq!(d.on_ack(t(1000), 3, &cfg), Ok(()));
    assert_eq!((d.acked(), d.queued(), d.in_flight()), (3, 2, 2));
    assert_eq!(d.poll_timeout(&cfg), Some(t(6000)));
    assert_eq!(d.on_ack(t(1500), 2, &cfg), Ok(()));
    assert_eq!(d.on_ack(t(1500), 3, &cfg), Ok(()));
    assert_eq!((d.acked(), d.poll_timeout(&cfg)), (3, Some(t(6000))));
    assert_eq!(d.on_ack(t(2000), 5, &cfg), Ok(()));
    assert_eq!(
        (d.queued(), d.in_flight(), d.poll_timeout(&cfg)),
        (0, 0, None)
    );
}

#[test]
fn ack_from_the_future_is_an_error_and_changes_nothing() {
    let cfg = acked();
    let mut d = Delivery::new();
    for _ in 0..3 {
        assert!(d.push(t(0), &cfg).is_ok());
    }
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(
        (d.poll_transmit(t(0), &cfg), d.poll_transmit(t(0), &cfg)),
        (Some(1), Some(2))
    );
    let before = d.clone();
    // Seq 3 is pushed but was never sent.
    assert_eq!(
        d.on_ack(t(0), 3, &cfg),
        Err(ProtocolError::AckFromFuture { upto: 3, sent: 2 })
    );
    assert_eq!(
        d.on_ack(t(0), u64::MAX, &cfg),
        Err(ProtocolError::AckFromFuture {
            upto: u64::MAX,
            sent: 2
        })
    );
    assert_eq!(d, before);
}

#[test]
fn retransmit_after_ack_timeout_goes_back_to_the_mark() {
    let cfg = acked();
    let mut d = Delivery::new();
    for _ in 0..3 {
        assert!(d.push(t(0), &cfg).is_ok());
    }
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(drain(&mut d, t(0), &cfg), [1, 2, 3]);
    assert_eq!(d.on_ack(t(1000), 1, &cfg), Ok(()));
    d.handle_timeout(t(5999), &cfg);
    assert_eq!((d.sent(), d.poll_transmit(t(5999), &cfg)), (3, None));
    d.handle_timeout(t(6000), &cfg);
    assert_eq!((d.sent(), d.highest_sent()), (1, 3));
    assert_eq!(drain(&mut d, t(6000), &cfg), [2, 3]);
    // The resend got no progress yet: the next one waits twice as long.
    assert_eq!(d.poll_timeout(&cfg), Some(t(16_000)));
}

/// Fires the retransmit deadline and resends the window; returns when it fired.
fn resend_round(d: &mut Delivery, cfg: &DeliveryConfig) -> u64 {
    let at = d.poll_timeout(cfg).map_or(u64::MAX, Instant::as_millis);
    d.handle_timeout(t(at), cfg);
    assert_eq!(d.sent(), d.acked(), "a resend rewinds to the mark");
    assert!(!drain(d, t(at), cfg).is_empty());
    at
}

#[test]
fn a_stalled_link_backs_off_the_resend_timer_up_to_the_cap() {
    // F5: an open link that never acks got the whole window every
    // ack_timeout, forever. RFC 6298 (5.5) doubling, capped at 60 s.
    let cfg = acked();
    let mut d = Delivery::new();
    for _ in 0..4 {
        assert!(d.push(t(0), &cfg).is_ok());
    }
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(drain(&mut d, t(0), &cfg), [1, 2, 3, 4]);
    let mut fired = Vec::new();
    for _ in 0..8 {
        fired.push(resend_round(&mut d, &cfg));
    }
    let gaps: Vec<u64> = fired.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(fired[0], 5_000);
    assert_eq!(
        gaps,
        [10_000, 20_000, 40_000, 60_000, 60_000, 60_000, 60_000]
    );
    assert_eq!(d.resends(), 8);

    // Progress resets the pace: the next deadline is one ack_timeout away.
    let now = *fired.last().unwrap_or(&0) + 10;
    assert_eq!(d.on_ack(t(now), 2, &cfg), Ok(()));
    assert_eq!(d.resends(), 0);
    assert_eq!(d.poll_timeout(&cfg), Some(t(now + 5_000)));

    // So does a new transport, after more stalled rounds.
    resend_round(&mut d, &cfg);
    resend_round(&mut d, &cfg);
    assert_eq!(d.resends(), 2);
    d.on_close(&cfg);
    open_resumed(&mut d, t(now + 100_000), 2, &cfg);
    assert_eq!(d.resends(), 0);
    assert_eq!(drain(&mut d, t(now + 100_000), &cfg), [3, 4]);
    assert_eq!(d.poll_timeout(&cfg), Some(t(now + 105_000)));
}

#[test]
fn a_ceiling_below_ack_timeout_turns_the_back_off_off() {
    let cfg = DeliveryConfig {
        max_ack_timeout: Duration::ZERO,
        ..acked()
    };
    let mut d = Delivery::new();
    assert!(d.push(t(0), &cfg).is_ok());
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(drain(&mut d, t(0), &cfg), [1]);
    let fired: Vec<u64> = (0..5).map(|_| resend_round(&mut d, &cfg)).collect();
    assert_eq!(fired, [5_000, 10_000, 15_000, 20_000, 25_000]);
}

#[test]
fn the_back_off_saturates_at_the_end_of_time() {
    let cfg = DeliveryConfig {
        ack_timeout: Duration::from_secs(u64::MAX / 4),
        max_ack_timeout: Duration::MAX,
        ack_delay: Duration::ZERO,
        ..acked()
    };
    let mut d = Delivery::new();
    assert!(d.push(t(0), &cfg).is_ok());
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(drain(&mut d, t(0), &cfg), [1]);
    for _ in 0..40 {
        let at = d.poll_timeout(&cfg).unwrap_or(Instant::ZERO);
        d.handle_timeout(at, &cfg);
        let _ = drain(&mut d, at, &cfg);
    }
    assert_eq!(d.resends(), 31);
    assert_eq!(d.poll_timeout(&cfg), Some(Instant::from_millis(u64::MAX)));
}

#[test]
fn close_open_resume_rewinds_to_the_peers_mark() {
    let cfg = acked();
    let mut d = Delivery::new();
    for _ in 0..5 {
        assert!(d.push(t(0), &cfg).is_ok());
    }
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(d.on_data(t(0), DataId::Seq(1), &cfg), Verdict::Deliver);
    assert_eq!(d.on_data(t(0), DataId::Seq(2), &cfg), Verdict::Deliver);
    assert_eq!(drain(&mut d, t(0), &cfg), [1, 2, 3, 4, 5]);
    assert_eq!(d.on_ack(t(10), 1, &cfg), Ok(()));
    d.on_close(&cfg);
    assert_eq!(
        (d.is_open(), d.sent(), d.in_flight(), d.poll_timeout(&cfg)),
        (false, 1, 0, None)
    );
    assert_eq!(d.push(t(50), &cfg), Ok(6));
    assert_eq!(d.poll_transmit(t(50), &cfg), None);
    assert_eq!(d.on_open(t(100), &cfg), Some(2));
    assert_eq!(d.poll_transmit(t(100), &cfg), None);
    assert_eq!(d.on_resume(t(120), 3, &cfg), Ok(()));
    assert_eq!(d.acked(), 3);
    assert_eq!(drain(&mut d, t(120), &cfg), [4, 5, 6]);
}

#[test]
fn resume_errors_change_nothing() {
    let cfg = acked();
    let mut d = Delivery::new();
    for _ in 0..4 {
        assert!(d.push(t(0), &cfg).is_ok());
    }
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(drain(&mut d, t(0), &cfg).len(), 4);
    assert_eq!(d.on_ack(t(0), 2, &cfg), Ok(()));
    d.on_close(&cfg);
    assert_eq!(d.on_open(t(50), &cfg), Some(0));
    let before = d.clone();
    assert_eq!(
        d.on_resume(t(50), 1, &cfg),
        Err(ProtocolError::ResumeBehind { last: 1, acked: 2 })
    );
    assert_eq!(d, before);
    assert_eq!(
        d.on_resume(t(50), 5, &cfg),
        Err(ProtocolError::ResumeFromFuture { last: 5, sent: 4 })
    );
    assert_eq!(d, before);
    assert!(!d.is_ready());
    assert_eq!(d.on_resume(t(50), 2, &cfg), Ok(()));
    assert_eq!(drain(&mut d, t(50), &cfg), [3, 4]);
}

#[test]
fn resume_wait_timeout_makes_it_ready_and_a_late_resume_still_rewinds() {
    let cfg = acked();
    let mut d = Delivery::new();
    assert_eq!((d.push(t(0), &cfg), d.push(t(0), &cfg)), (Ok(1), Ok(2)));
    assert_eq!(d.on_open(t(100), &cfg), Some(0));
    assert_eq!(d.poll_timeout(&cfg), Some(t(5100)));
    d.handle_timeout(t(5099), &cfg);
    assert!(!d.is_ready());
    d.handle_timeout(t(5100), &cfg);
    assert!(d.is_ready());
    assert_eq!(drain(&mut d, t(5100), &cfg), [1, 2]);
    assert_eq!(d.on_resume(t(5200), 1, &cfg), Ok(()));
    assert_eq!((d.acked(), d.sent()), (1, 1));
    assert_eq!(drain(&mut d, t(5200), &cfg), [2]);
}

#[test]
fn inbound_deliver_duplicate_gap() {
    let cfg = DeliveryConfig::default();
    let mut d = Delivery::new();
    let verdicts: Vec<Verdict> = [1, 1, 3, 2, 3, 0, u64::MAX]
        .into_iter()
        .map(|s| d.on_data(t(0), DataId::Seq(s), &cfg))
        .collect();
    use Verdict::{Deliver as D, Duplicate as Dup, Gap as G};
    assert_eq!(verdicts, [D, Dup, G, D, D, Dup, G]);
    assert_eq!(d.delivered(), 3);
    assert_eq!(d.on_data(t(0), DataId::None, &cfg), D);
    assert_eq!(d.on_data(t(0), DataId::None, &cfg), D);
    assert_eq!(d.delivered(), 3);
    // Unacked mode never acks.
    assert_eq!(
        (d.poll_ack(t(10_000), &cfg), d.poll_timeout(&cfg)),
        (None, None)
    );
}

#[test]
fn one_immediate_ack_per_gap() {
    let cfg = acked();
    let mut d = Delivery::new();
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(d.on_data(t(0), DataId::Seq(1), &cfg), Verdict::Deliver);
    assert_eq!(d.poll_timeout(&cfg), Some(t(200)));
    assert_eq!(d.on_data(t(10), DataId::Seq(3), &cfg), Verdict::Gap);
    assert_eq!(d.poll_ack(t(10), &cfg), Some(1));
    assert_eq!(d.on_data(t(11), DataId::Seq(4), &cfg), Verdict::Gap);
    assert_eq!(d.on_data(t(12), DataId::Seq(5), &cfg), Verdict::Gap);
    assert_eq!(
        (d.poll_ack(t(12), &cfg), d.poll_timeout(&cfg)),
        (None, None)
    );
    // Progress re-enables it.
    assert_eq!(d.on_data(t(20), DataId::Seq(2), &cfg), Verdict::Deliver);
    assert_eq!(d.on_data(t(30), DataId::Seq(4), &cfg), Verdict::Gap);
    assert_eq!(d.poll_ack(t(30), &cfg), Some(2));
    assert_eq!(d.on_data(t(31), DataId::Seq(5), &cfg), Verdict::Gap);
    assert_eq!(d.poll_ack(t(1000), &cfg), None);
}

#[test]
fn acks_coalesce_by_delay_and_by_count() {
    let cfg = acked();
    let mut d = Delivery::new();
    open_resumed(&mut d, t(0), 0, &cfg);
    for (s, at) in [(1, 0), (2, 50), (3, 100)] {
        assert_eq!(d.on_data(t(at), DataId::Seq(s), &cfg), Verdict::Deliver);
    }
    assert_eq!(d.poll_timeout(&cfg), Some(t(200)));
    assert_eq!(d.poll_ack(t(199), &cfg), None);
    assert_eq!(d.poll_ack(t(200), &cfg), Some(3));
    assert_eq!(
        (d.poll_ack(t(500), &cfg), d.poll_timeout(&cfg)),
        (None, None)
    );

    let cfg = DeliveryConfig {
        ack_every: 4,
        ..acked()
    };
    let mut d = Delivery::new();
    open_resumed(&mut d, t(0), 0, &cfg);
    let mut acks = Vec::new();
    for s in 1..=9 {
        assert_eq!(d.on_data(t(0), DataId::Seq(s), &cfg), Verdict::Deliver);
        acks.extend(d.poll_ack(t(0), &cfg));
    }
    assert_eq!(acks, [4, 8]);
    assert_eq!(d.poll_timeout(&cfg), Some(t(200)));

    // A zero delay acks every delivery at once.
    let cfg = DeliveryConfig {
        ack_delay: Duration::ZERO,
        ..acked()
    };
    let mut d = Delivery::new();
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(d.on_data(t(5), DataId::Seq(1), &cfg), Verdict::Deliver);
    assert_eq!(d.poll_ack(t(5), &cfg), Some(1));
}

#[test]
fn duplicates_reack_soon_but_at_most_once_per_delay() {
    let cfg = acked();
    let mut d = Delivery::new();
    open_resumed(&mut d, t(0), 0, &cfg);
    assert_eq!(d.on_data(t(0), DataId::Seq(1), &cfg), Verdict::Deliver);
    assert_eq!(d.on_data(t(0), DataId::Seq(2), &cfg), Verdict::Deliver);
    assert_eq!(d.poll_ack(t(200), &cfg), Some(2));
    assert_eq!(d.on_data(t(250), DataId::Seq(1), &cfg), Verdict::Duplicate);
    assert_eq!(d.poll_ack(t(399), &cfg), None);
    assert_eq!(d.poll_ack(t(400), &cfg), Some(2));
    for at in 401..=410 {
        assert_eq!(d.on_data(t(at), DataId::Seq(2), &cfg), Verdict::Duplicate);
    }
    let acks: Vec<u64> = (401..=700)
        .filter_map(|at| d.poll_ack(t(at), &cfg))
        .collect();
    assert_eq!(acks, [2]);
    assert_eq!(d.on_data(t(5000), DataId::Seq(1), &cfg), Verdict::Duplicate);
    assert_eq!(d.poll_ack(t(5000), &cfg), Some(2));
}

#[test]
fn opaque_ids_dedup_within_the_window_and_evict_the_oldest() {
    let cfg = DeliveryConfig {
        dedup_window: 3,
        ..acked()
    };
    let mut d = Delivery::new();
    open_resumed(&mut d, t(0), 0, &cfg);
    let verdicts: Vec<Verdict> = [10, 20, 30, 20, 40, 10, 20, 40]
        .into_iter()
        .map(|id| d.on_data(t(0), DataId::Opaque(id), &cfg))
        .collect();
    use Verdict::{Deliver as D, Duplicate as Dup};
    assert_eq!(verdicts, [D, D, D, Dup, D, D, D, Dup]);
    // Opaque ids are never acked and never move the seq mark.
    assert_eq!(
        (
            d.delivered(),
            d.poll_ack(t(9999), &cfg),
            d.poll_timeout(&cfg)
        ),
        (0, None, None)
    );
}

#[test]
fn overdue_is_reported_once_in_order_and_never_early() {
    // 14 s deadline: a checkpoint opens every 1 s.
    let cfg = DeliveryConfig {
        delivery_deadline: Some(Duration::from_secs(14)),
        ..acked()
    };
    let mut d = Delivery::new();
    for (want, at) in [(1, 0), (2, 500), (3, 1500)] {
        assert_eq!(d.push(t(at), &cfg), Ok(want));
    }
    // 1 and 2 share a checkpoint stamped 500: seq 1 is 500 ms late, never early.
    assert_eq!(d.poll_timeout(&cfg), Some(t(14_500)));
    assert_eq!(d.poll_overdue(t(14_499), &cfg), None);
    assert_eq!(d.poll_overdue(t(14_500), &cfg), Some(1));
    assert_eq!(d.poll_overdue(t(14_500), &cfg), Some(2));
    assert_eq!(d.poll_overdue(t(14_500), &cfg), None);
    assert_eq!(d.poll_timeout(&cfg), Some(t(15_500)));
    assert_eq!(d.poll_overdue(t(15_500), &cfg), Some(3));
    assert_eq!(
        (d.poll_overdue(t(99_999), &cfg), d.poll_timeout(&cfg)),
        (None, None)
    );
    assert_eq!(d.queued(), 3);

    // Acked before the deadline: never reported.
    open_resumed(&mut d, t(100_000), 0, &cfg);
    assert_eq!(d.push(t(100_000), &cfg), Ok(4));
    assert_eq!(d.push(t(101_100), &cfg), Ok(5));
    assert_eq!(drain(&mut d, t(101_100), &cfg), [1, 2, 3, 4, 5]);
    assert_eq!(d.on_ack(t(110_000), 4, &cfg), Ok(()));
    assert_eq!(d.poll_overdue(t(115_099), &cfg), None);
    assert_eq!(d.poll_overdue(t(115_100), &cfg), Some(5));
    assert_eq!(d.poll_overdue(t(200_000), &cfg), None);
}

#[test]
fn unacked_mode_counts_transmitted_as_done() {
    let cfg = DeliveryConfig::default();
    let mut d = Delivery::new();
    for _ in 0..3 {
        assert!(d.push(t(0), &cfg).is_ok());
    }
    assert_eq!(d.on_open(t(0), &cfg), None);
    assert_eq!(d.poll_transmit(t(0), &cfg), Some(1));
    assert_eq!((d.acked(), d.queued(), d.in_flight()), (1, 2, 0));
    d.on_close(&cfg);
    assert_eq!(
        (d.sent(), d.queued(), d.poll_transmit(t(1), &cfg)),
        (1, 2, None)
    );
    assert_eq!(d.on_ack(t(1), 1, &cfg), Ok(()));
    assert_eq!(
        d.on_ack(t(1), 2, &cfg),
        Err(ProtocolError::AckFromFuture { upto: 2, sent: 1 })
    );
    assert_eq!(d.on_resume(t(1), 0, &cfg), Ok(()));
    assert_eq!(
        d.on_resume(t(1), 5, &cfg),
        Err(ProtocolError::ResumeFromFuture { last: 5, sent: 1 })
    );
    // No retransmit timer: the only deadline is the overdue report for 2 and 3.
    assert_eq!(d.poll_timeout(&cfg), Some(t(30_000)));
    assert_eq!(d.poll_overdue(t(30_000), &cfg), Some(2));
    assert_eq!(d.poll_overdue(t(30_000), &cfg), Some(3));
    assert_eq!(d.poll_overdue(t(30_000), &cfg), None);
    assert_eq!(d.on_open(t(31_000), &cfg), None);
    assert_eq!(drain(&mut d, t(31_000), &cfg), [2, 3]);
    assert_eq!((d.queued(), d.poll_timeout(&cfg)), (0, None));
}

#[test]
fn time_going_backwards_or_saturating_breaks_nothing() {
    let cfg = DeliveryConfig {
        delivery_deadline: Some(Duration::from_secs(1)),
        ..acked()
    };
    let mut d = Delivery::new();
    assert_eq!(d.push(t(10_000), &cfg), Ok(1));
    assert_eq!(d.push(t(0), &cfg), Ok(2));
    assert_eq!(d.on_open(t(0), &cfg), Some(0));
    // Clamped to 10 s: resume wait ends at 15 s, overdue at 11 s.
    assert_eq!(d.poll_timeout(&cfg), Some(t(11_000)));
    assert_eq!(d.poll_overdue(t(5), &cfg), None);
    d.handle_timeout(t(14_999), &cfg);
    assert!(!d.is_ready());
    d.handle_timeout(t(3), &cfg);
    assert!(!d.is_ready());

    let mut d = Delivery::new();
    assert_eq!(d.push(Instant::MAX, &cfg), Ok(1));
    assert_eq!(d.on_open(Instant::MAX, &cfg), Some(0));
    assert_eq!(d.poll_timeout(&cfg), Some(Instant::MAX));
    d.handle_timeout(Instant::MAX, &cfg);
    assert_eq!(drain(&mut d, t(0), &cfg), [1]);
    assert_eq!(d.poll_overdue(t(0), &cfg), Some(1));
    d.handle_timeout(t(1), &cfg);
    assert_eq!(drain(&mut d, t(0), &cfg), [1]);
    assert_eq!(d.on_data(t(0), DataId::Seq(1), &cfg), Verdict::Deliver);
    assert_eq!(d.poll_ack(t(0), &cfg), Some(1));
}
