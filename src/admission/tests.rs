use super::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::random::uniform;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn gate(rate: u32, burst: u32, min_retry_ms: u64) -> Admission {
    Admission::with_config(AdmissionConfig {
        rate_per_sec: rate,
        burst,
        min_retry: Duration::from_millis(min_retry_ms),
        ..AdmissionConfig::default()
    })
    .expect("valid")
}

#[test]
fn burst_then_one_per_interval() {
    let mut g = gate(1_000, 3, 0);
    for _ in 0..3 {
        assert_eq!(g.admit(at(10)), Ok(()));
    }
    assert!(g.admit(at(10)).is_err(), "burst spent");
    // One slot frees per millisecond (walk-ins do not see bookings).
    assert_eq!(g.admit(at(11)), Ok(()));
    assert!(g.admit(at(11)).is_err());
    assert_eq!(g.admitted(), 4);
    assert_eq!(g.refused(), 2);
    assert_eq!(g.interval(), Duration::from_millis(1));
}

#[test]
fn never_more_than_burst_plus_rate_times_span() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (rate, burst) = (5_000u64, 250u64);
    let mut g = gate(rate as u32, burst as u32, 0);
    let mut admitted_at = std::vec::Vec::new();
    let mut now = 0;
    for _ in 0..200_000 {
        // About 10 arrivals per ms: twice the rate.
        if uniform(&mut rng, 0, 9) == 0 {
            now += 1;
        }
        if g.admit(at(now)).is_ok() {
            admitted_at.push(now);
        }
    }
    // Any window [a, a + d] holds at most burst + rate·d admissions.
    for (i, &start) in admitted_at.iter().enumerate().step_by(97) {
        for d in [0u64, 1, 10, 100, 1_000, 5_000] {
            let n = admitted_at[i..]
                .iter()
                .take_while(|&&t| t <= start + d)
                .count() as u64;
            assert!(n <= burst + rate * d / 1_000 + 1, "{n} in {d} ms");
        }
    }
    // And the rate is used: ~5000/s over the run.
    let per_sec = admitted_at.len() as u64 * 1_000 / now.max(1);
    assert!((4_900..=5_100).contains(&per_sec), "{per_sec}/s");
}

#[test]
fn refused_clients_get_consecutive_slots_past_min_retry() {
    let mut g = gate(1_000, 1, 5_000);
    assert_eq!(g.admit(at(0)), Ok(()));
    for i in 0..100 {
        assert_eq!(g.admit(at(0)), Err(Duration::from_millis(5_000 + i)));
    }
    // Later refusals continue the horizon, relative to their own now.
    assert_eq!(g.admit(at(40)), Ok(()), "walk-in capacity is free again");
    assert_eq!(g.admit(at(40)), Err(Duration::from_millis(5_060)));
    assert_eq!(g.backlog(at(40)), Duration::from_millis(5_061));
}

#[test]
fn min_retry_applies_to_a_new_overload_not_to_a_running_backlog() {
    let mut g = gate(1_000, 1, 5_000);
    assert_eq!(g.admit(at(0)), Ok(()));
    assert_eq!(g.admit(at(0)), Err(Duration::from_millis(5_000)));
    // At 5 s the backlog's slot is due; a walk-in takes the capacity, and
    // the next refusal joins the queue (slot 5001 ms), no new 5 s floor.
    assert_eq!(g.admit(at(5_000)), Ok(()));
    assert_eq!(g.admit(at(5_000)), Err(Duration::from_millis(1)));
    // Up to 1 s after the last slot, still the queue.
    assert_eq!(g.admit(at(6_001)), Ok(()));
    assert_eq!(g.admit(at(6_001)), Err(Duration::from_millis(1)));
    // Past that, a new overload: the floor again.
    assert_eq!(g.admit(at(7_003)), Ok(()));
    assert_eq!(g.admit(at(7_003)), Err(Duration::from_millis(5_000)));
}

#[test]
fn hinted_returns_are_all_admitted_at_the_rate() {
    // 2000 clients at once against 500/s: each refused one comes back at
    // exactly its hint and must then be admitted, never refused twice.
    let mut g = gate(500, 10, 5_000);
    let mut returns = std::vec::Vec::new();
    for _ in 0..2_000 {
        if let Err(wait) = g.admit(at(1_000)) {
            returns.push(1_000 + millis(wait));
        }
    }
    assert_eq!(returns.len(), 1_990);
    assert!(returns.windows(2).all(|w| w[1] >= w[0]));
    for &t in &returns {
        assert_eq!(g.admit(at(t)), Ok(()), "return at {t} ms");
    }
    // Spread exactly at the rate: 1990 slots of 2 ms from 6000 ms.
    assert_eq!(returns.first(), Some(&6_000));
    assert_eq!(returns.last(), Some(&(6_000 + 2 * 1_989)));
}

#[test]
fn returns_with_engine_jitter_are_admitted_with_a_modest_burst() {
    // The engine spreads a hint by up to min(hint / 10, 1 s); a burst of
    // 100 ms of capacity absorbs that with no second refusal in this run.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut g = gate(1_000, 100, 5_000);
    let mut returns = std::vec::Vec::new();
    for i in 0..20_000u64 {
        let now = i / 4; // 4000/s for 5 s against 1000/s
        if let Err(wait) = g.admit(at(now)) {
            let w = millis(wait);
            returns.push(now + w + uniform(&mut rng, 0, (w / 10).min(1_000)));
        }
    }
    returns.sort_unstable();
    let refused_again = returns.iter().filter(|&&t| g.admit(at(t)).is_err()).count();
    assert!(refused_again * 100 < returns.len(), "{refused_again}");
}

#[test]
fn odd_rates_round_the_interval_up_and_hints_up_to_ms() {
    let mut g = gate(3, 1, 0);
    assert_eq!(g.interval(), Duration::from_nanos(333_333_334));
    assert_eq!(g.admit(at(0)), Ok(()));
    // Next free slot at 333.333334 ms: hint rounds up to 334 ms.
    assert_eq!(g.admit(at(0)), Err(Duration::from_millis(334)));
    assert_eq!(g.admit(at(0)), Err(Duration::from_millis(667)));
    assert_eq!(g.admit(at(334)), Ok(()));
}

#[test]
fn max_retry_caps_the_hint_without_booking() {
    let mut g = Admission::with_config(AdmissionConfig {
        rate_per_sec: 1,
        burst: 1,
        min_retry: Duration::ZERO,
        max_retry: Duration::from_secs(3),
    })
    .expect("valid");
    assert_eq!(g.admit(at(0)), Ok(()));
    assert_eq!(g.admit(at(0)), Err(Duration::from_secs(1)));
    assert_eq!(g.admit(at(0)), Err(Duration::from_secs(2)));
    assert_eq!(g.admit(at(0)), Err(Duration::from_secs(3)));
    // Slot 4 s is beyond max_retry: told 3 s, nothing booked.
    assert_eq!(g.admit(at(0)), Err(Duration::from_secs(3)));
    assert_eq!(g.admit(at(0)), Err(Duration::from_secs(3)));
    assert_eq!(g.backlog(at(0)), Duration::from_secs(4));
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut g = gate(1_000, 1, 0);
    assert_eq!(g.admit(at(100)), Ok(()));
    // 50 ms is treated as 100 ms: the next slot is 101 ms, 1 ms away.
    assert_eq!(g.admit(at(50)), Err(Duration::from_millis(1)));
    assert_eq!(g.backlog(at(0)), Duration::from_millis(2));
}

#[test]
fn end_of_time_saturates_without_panic() {
    let mut g = gate(1, u32::MAX, 0);
    for _ in 0..10 {
        assert_eq!(g.admit(Instant::MAX), Ok(()));
    }
    let mut g = gate(1_000_000_000, 1, 0);
    assert_eq!(g.admit(Instant::MAX), Ok(()));
    // At the end of time every slot is "now": admitted.
    assert_eq!(g.admit(Instant::MAX), Ok(()));
    let cfg = AdmissionConfig {
        rate_per_sec: 1,
        burst: 1,
        min_retry: Duration::MAX,
        max_retry: Duration::MAX,
    };
    let mut g = Admission::with_config(cfg).expect("valid");
    assert_eq!(g.admit(at(u64::MAX / 2_000_000)), Ok(()));
    assert!(g.admit(at(u64::MAX / 2_000_000)).is_err());
}

#[test]
fn config_validation_names_the_field() {
    let ok = AdmissionConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    let field = |c: AdmissionConfig| c.validate().map_err(|e| e.field);
    let bad_rate = AdmissionConfig {
        rate_per_sec: 0,
        ..ok
    };
    assert_eq!(field(bad_rate), Err("admission.rate_per_sec"));
    assert_eq!(
        field(AdmissionConfig {
            rate_per_sec: u32::MAX,
            ..ok
        }),
        Err("admission.rate_per_sec")
    );
    assert_eq!(
        field(AdmissionConfig { burst: 0, ..ok }),
        Err("admission.burst")
    );
    assert_eq!(
        field(AdmissionConfig {
            max_retry: Duration::from_micros(999),
            min_retry: Duration::ZERO,
            ..ok
        }),
        Err("admission.max_retry")
    );
    assert_eq!(
        field(AdmissionConfig {
            min_retry: Duration::from_secs(601),
            ..ok
        }),
        Err("admission.min_retry")
    );
    assert!(Admission::new(0, 1).is_err());
}

#[test]
fn format_writes_canonical_hints() {
    let mut buf = [0u8; MAX_HINT_LEN];
    assert_eq!(
        format_retry_after(Duration::ZERO, &mut buf),
        "retry-after=0"
    );
    assert_eq!(
        format_retry_after(Duration::from_millis(12_500), &mut buf),
        "retry-after=12500"
    );
    // Sub-millisecond rests round up: never shorter than asked.
    assert_eq!(
        format_retry_after(Duration::from_nanos(1), &mut buf),
        "retry-after=1"
    );
    let longest = format_retry_after(Duration::MAX, &mut buf);
    assert_eq!(longest, "retry-after=18446744073709551615");
    assert!(longest.len() <= MAX_HINT_LEN);
    let longest = format_reconnect_window(Duration::MAX, &mut buf);
    assert_eq!(longest, "reconnect-window=18446744073709551615");
    assert_eq!(longest.len(), MAX_HINT_LEN);
    assert_eq!(
        std::format!("{}", RetryAfterHint(Duration::from_millis(7))),
        "retry-after=7"
    );
}

#[test]
fn parse_round_trips_and_tolerates_context() {
    let mut buf = [0u8; MAX_HINT_LEN];
    for ms in [0, 1, 9, 10, 999, 12_500, u64::MAX / 3, u64::MAX] {
        let d = Duration::from_millis(ms);
        assert_eq!(parse_retry_after(format_retry_after(d, &mut buf)), Some(d));
    }
    let ms = |v| Some(Duration::from_millis(v));
    assert_eq!(parse_retry_after("overloaded; retry-after=1500"), ms(1_500));
    assert_eq!(parse_retry_after("Retry-After=20,busy"), ms(20));
    assert_eq!(parse_retry_after("a b\tRETRY-AFTER=007 c"), ms(7));
    assert_eq!(parse_retry_after("retry-after=1 retry-after=2"), ms(1));
}

#[test]
fn parse_rejects_malformed_hints() {
    for bad in [
        "",
        "overloaded",
        "retry-after",
        "retry-after=",
        "retry-after:5",
        "retry-after = 5",
        "retry-after=-5",
        "retry-after=+5",
        "retry-after=5ms",
        "retry-after=1.5",
        "retry-after=18446744073709551616",
        "retry-after=000000000000000000001",
        "retry-afterx=5",
        "retry-after=x; retry-after=5",
        "retry-\u{e9}=5",
    ] {
        assert_eq!(parse_retry_after(bad), None, "{bad:?}");
    }
}

#[test]
fn http_header_delta_seconds() {
    assert_eq!(
        parse_http_retry_after("120"),
        Some(Duration::from_secs(120))
    );
    assert_eq!(parse_http_retry_after(" 0 "), Some(Duration::ZERO));
    assert_eq!(
        parse_http_retry_after("18446744073709551615"),
        Some(Duration::from_secs(u64::MAX))
    );
    for bad in ["", "-1", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "12 s"] {
        assert_eq!(parse_http_retry_after(bad), None, "{bad:?}");
    }
}

#[test]
fn the_reconnect_window_is_the_time_to_readmit_the_population() {
    let gate = Admission::new(5_000, 500).expect("valid");
    // 100,000 sessions at 5,000/s: 20 s.
    assert_eq!(gate.reconnect_window(100_000), Duration::from_secs(20));
    assert_eq!(gate.reconnect_window(0), Duration::ZERO);
    // One session: one interval (200 µs), rounded up to whole ms.
    assert_eq!(gate.reconnect_window(1), Duration::from_millis(1));
    // Rates that do not divide a second round up, never down: 3/s has a
    // 333,333,334 ns interval, so three slots take just over a second.
    let odd = Admission::new(3, 1).expect("valid");
    assert_eq!(odd.reconnect_window(3), Duration::from_millis(1_001));
    // Capped at max_retry (10 min by default), even for absurd populations.
    assert_eq!(gate.reconnect_window(u64::MAX), Duration::from_secs(600));
}

#[test]
fn the_window_token_round_trips_and_is_not_a_hint() {
    let mut buf = [0u8; MAX_HINT_LEN];
    for ms in [0, 1, 20_000, u64::MAX] {
        let d = Duration::from_millis(ms);
        let text = format_reconnect_window(d, &mut buf);
        assert_eq!(parse_reconnect_window(text), Some(d));
        assert_eq!(parse_retry_after(text), None, "{text}");
    }
    let ms = |v| Some(Duration::from_millis(v));
    assert_eq!(
        parse_reconnect_window("node=a; Reconnect-Window=20000"),
        ms(20_000)
    );
    assert_eq!(parse_reconnect_window("retry-after=5"), None);
    assert_eq!(parse_reconnect_window("reconnect-window=20s"), None);
}
