use super::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn empty_has_no_stats() {
    let e = RttEstimator::new();
    assert_eq!(e.stats(), None);
    assert_eq!(e.rto(), None);
}

#[test]
fn rfc6298_sequence_exact() {
    // Hand-computed with exact fractions:
    // 100 -> SRTT 100, RTTVAR 50
    // 200 -> RTTVAR 3/4*50 + 1/4*100 = 62.5; SRTT 7/8*100 + 25 = 112.5
    // 80  -> RTTVAR 3/4*62.5 + 1/4*32.5 = 55; SRTT 7/8*112.5 + 10 = 108.4375
    let mut e = RttEstimator::new();
    e.on_sample(100);
    let s = e.stats().unwrap();
    assert_eq!((s.srtt, s.rttvar), (ms(100), ms(50)));
    assert_eq!(e.rto(), Some(ms(300)));
    e.on_sample(200);
    let s = e.stats().unwrap();
    assert_eq!(
        (s.srtt, s.rttvar),
        (
            Duration::from_micros(112_500),
            Duration::from_micros(62_500)
        )
    );
    e.on_sample(80);
    let s = e.stats().unwrap();
    assert_eq!(s.rttvar, ms(55));
    // 108.4375 ms is 867.5 eighths: truncated to 867 eighths = 108.375 ms.
    assert_eq!(s.srtt, Duration::from_micros(108_375));
    assert_eq!((s.min, s.latest, s.samples), (ms(80), ms(80), 3));
}

#[test]
fn converges_to_a_steady_sample_from_both_sides() {
    for start in [10, 1_000] {
        let mut e = RttEstimator::new();
        e.on_sample(start);
        for _ in 0..200 {
            e.on_sample(107);
        }
        let s = e.stats().unwrap();
        assert_eq!(s.srtt, ms(107), "start {start}");
        assert_eq!(s.rttvar, Duration::ZERO, "start {start}");
        assert_eq!(e.rto(), Some(ms(107)));
    }
}

#[test]
fn extreme_samples_saturate() {
    let mut e = RttEstimator::new();
    e.on_sample(u64::MAX);
    e.on_sample(0);
    e.on_sample(u64::MAX);
    let s = e.stats().unwrap();
    assert_eq!(s.min, ms(0));
    assert_eq!(s.latest, ms(u64::from(MAX_SAMPLE_MS)));
    // The clamp keeps every average within the u32 fields: a steady
    // maximal sample is reached exactly, and RTO = SRTT + 4 RTTVAR.
    for _ in 0..200 {
        e.on_sample(u64::MAX);
    }
    let s = e.stats().unwrap();
    assert_eq!(s.srtt, ms(u64::from(MAX_SAMPLE_MS)));
    assert_eq!(e.rto(), Some(s.srtt + 4 * s.rttvar));
    assert!(e.rto().is_some());
}
