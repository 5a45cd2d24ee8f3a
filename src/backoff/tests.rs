use super::presets::ms;
use super::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

const S: u64 = 1_000;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn win(lo: u64, hi: u64) -> Option<(Duration, Duration)> {
    Some((ms(lo), ms(hi)))
}

fn exp(jitter: Jitter, cap_order: CapOrder, factor_permille: u32) -> BackoffPolicy {
    BackoffPolicy::Exponential {
        initial: ms(250),
        factor_permille,
        max: ms(7_000),
        jitter,
        cap_order,
    }
}

const JITTERS: [Jitter; 8] = [
    Jitter::None,
    Jitter::Full,
    Jitter::Equal,
    Jitter::Proportional { permille: 300 },
    Jitter::Proportional { permille: 1000 },
    Jitter::Additive {
        min: ms(10),
        max: ms(900),
    },
    Jitter::Scaled {
        lo_permille: 500,
        hi_permille: 3_000,
    },
    Jitter::FullPlus { offset: ms(100) },
];

const ORDERS: [CapOrder; 3] = [
    CapOrder::BeforeJitter,
    CapOrder::AfterJitter,
    CapOrder::BeforeAndAfter,
];

/// Every preset plus every jitter x cap order x {slow, fast} growth, schedules
/// with jitter, and a few invalid configs (delay must still never panic).
fn for_each_policy(mut f: impl FnMut(BackoffPolicy)) {
    for cfg in presets() {
        f(cfg.policy);
    }
    for jitter in JITTERS {
        for order in ORDERS {
            f(exp(jitter, order, 1_001));
            f(exp(jitter, order, 2_000));
        }
        let sched = Schedule::new(&[ms(5), ms(0), ms(40)], AfterSchedule::RepeatLast);
        f(BackoffPolicy::Schedule(sched.unwrap().with_jitter(jitter)));
    }
    // Invalid on purpose: validate() rejects these, delay() must still behave.
    f(BackoffPolicy::Rfc6455 {
        first_window: ms(9_000),
        cap: ms(1),
    });
    f(BackoffPolicy::Rfc6455 {
        first_window: Duration::MAX,
        cap: Duration::MAX,
    });
    f(BackoffPolicy::Decorrelated {
        base: ms(500),
        cap: ms(100),
    });
    f(BackoffPolicy::Exponential {
        initial: Duration::MAX,
        factor_permille: u32::MAX,
        max: Duration::MAX,
        jitter: Jitter::Scaled {
            lo_permille: u32::MAX,
            hi_permille: 0,
        },
        cap_order: CapOrder::AfterJitter,
    });
    f(BackoffPolicy::Exponential {
        initial: Duration::ZERO,
        factor_permille: 0,
        max: Duration::ZERO,
        jitter: Jitter::Additive {
            min: Duration::MAX,
            max: ms(1),
        },
        cap_order: CapOrder::BeforeAndAfter,
    });
}

fn presets() -> [ReconnectConfig; 10] {
    [
        ReconnectConfig::rfc6455(),
        ReconnectConfig::seed_schedule(),
        ReconnectConfig::socket_io(),
        ReconnectConfig::signalr(),
        ReconnectConfig::phoenix(),
        ReconnectConfig::reconnecting_websocket(),
        ReconnectConfig::centrifugo(),
        ReconnectConfig::graphql_ws(),
        ReconnectConfig::aws_full_jitter(ms(100), ms(10_000)),
        ReconnectConfig::aws_decorrelated(ms(100), ms(10_000)),
    ]
}

fn windows(policy: &BackoffPolicy, attempts: core::ops::RangeInclusive<u32>) -> [(u64, u64); 8] {
    let mut out = [(0, 0); 8];
    for (slot, n) in out.iter_mut().zip(attempts) {
        let (lo, hi) = policy.bounds(n, Duration::ZERO).unwrap();
        *slot = (millis(lo), millis(hi));
    }
    out
}

fn millis(d: Duration) -> u64 {
    crate::time::millis(d)
}

#[test]
fn every_draw_lies_within_bounds() {
    let attempts = (0..=64).chain([1_000, u32::MAX - 1, u32::MAX]);
    let prevs = [Duration::ZERO, ms(1), ms(777), ms(30 * S), Duration::MAX];
    let mut checked = 0u32;
    for_each_policy(|policy| {
        for attempt in attempts.clone() {
            for prev in prevs {
                let bounds = policy.bounds(attempt, prev);
                for seed in 0..8 {
                    let d = policy.delay(attempt, prev, &mut rng(seed));
                    assert_eq!(d.is_some(), bounds.is_some(), "{policy:?} n={attempt}");
                    if let (Some(d), Some((lo, hi))) = (d, bounds) {
                        assert!(lo <= hi, "{policy:?} attempt {attempt}");
                        assert!(lo <= d && d <= hi, "{policy:?} n={attempt}: {d:?}");
                        checked += 1;
                    }
                }
            }
        }
    });
    assert!(checked > 100_000, "only {checked} draws checked");
}

#[test]
fn backoff_chain_stays_within_bounds_of_its_own_state() {
    for_each_policy(|policy| {
        let cfg = ReconnectConfig {
            policy,
            max_attempts: None,
            min_uptime: ms(5 * S),
        };
        for seed in 0..4 {
            let mut r = rng(seed);
            let mut b = Backoff::new();
            for _ in 0..80 {
                let (attempt, prev) = (b.attempt() + 1, b.prev());
                let bounds = policy.bounds(attempt, prev);
                match b.next_delay(&cfg, &mut r) {
                    Some(d) => {
                        let (lo, hi) = bounds.unwrap();
                        assert!(lo <= d && d <= hi);
                        assert_eq!((b.attempt(), b.prev()), (attempt, d));
                    }
                    None => {
                        assert_eq!(bounds, None);
                        assert_eq!(b.attempt(), attempt - 1, "giving up must not count");
                    }
                }
            }
        }
    });
}

#[test]
fn rfc6455_windows_double_up_to_the_cap() {
    let p = ReconnectConfig::rfc6455().policy;
    assert_eq!(ReconnectConfig::default(), ReconnectConfig::rfc6455());
    assert_eq!(
        p.bounds(0, Duration::ZERO),
        win(0, 5_000),
        "attempt 0 counts as 1"
    );
    assert_eq!(p.bounds(1, Duration::ZERO), win(0, 5_000));
    assert_eq!(p.bounds(2, Duration::ZERO), win(0, 10_000));
    assert_eq!(p.bounds(3, Duration::ZERO), win(0, 20_000));
    assert_eq!(p.bounds(4, Duration::ZERO), win(0, 30_000));
    for n in [5, 64, 127, 128, 129, u32::MAX] {
        assert_eq!(p.bounds(n, Duration::MAX), win(0, 30_000), "attempt {n}");
    }
}

#[test]
fn rfc6455_first_attempt_is_uniform_over_zero_to_five_seconds() {
    let p = ReconnectConfig::rfc6455().policy;
    let mut r = rng(42);
    let (mut min, mut max, mut sum) = (u64::MAX, 0, 0u64);
    for _ in 0..20_000 {
        let d = millis(p.delay(1, Duration::ZERO, &mut r).unwrap());
        assert!(d <= 5_000);
        (min, max, sum) = (min.min(d), max.max(d), sum + d);
    }
    assert!(min < 25 && max > 4_975, "ends not reached: {min}..{max}");
    let mean = sum / 20_000;
    assert!((2_400..=2_600).contains(&mean), "mean {mean} is not ~2500");
}

#[test]
fn caps_are_respected() {
    for attempt in 1..=200 {
        for policy in [
            ReconnectConfig::socket_io().policy,
            ReconnectConfig::reconnecting_websocket().policy,
            ReconnectConfig::centrifugo().policy,
            ReconnectConfig::aws_full_jitter(ms(100), ms(10 * S)).policy,
        ] {
            if let BackoffPolicy::Exponential { max, .. } = policy {
                assert!(policy.bounds(attempt, Duration::ZERO).unwrap().1 <= max);
            }
        }
        let p = BackoffPolicy::Decorrelated {
            base: ms(10),
            cap: ms(60 * S),
        };
        assert!(p.bounds(attempt, Duration::MAX).unwrap().1 <= ms(60 * S));
    }
    // BeforeJitter caps the window, then additive jitter may go past it.
    let p = exp(
        Jitter::Additive {
            min: ms(1),
            max: ms(2),
        },
        CapOrder::BeforeJitter,
        2_000,
    );
    assert_eq!(p.bounds(40, Duration::ZERO), win(7_001, 7_002));
}

#[test]
fn schedules_give_exact_sequences() {
    let seed = ReconnectConfig::seed_schedule();
    let mut b = Backoff::new();
    let mut r = rng(0);
    let got: [u64; 9] = core::array::from_fn(|_| millis(b.next_delay(&seed, &mut r).unwrap()));
    assert_eq!(got, [1, 2, 3, 5, 10, 20, 20, 20, 20].map(|s| s * S));
    assert_eq!(
        seed.policy.bounds(u32::MAX, Duration::ZERO),
        win(20_000, 20_000)
    );

    // SignalR: 0, 2, 10, 30 s, then give up (and keep giving up).
    let signalr = ReconnectConfig::signalr();
    let mut b = Backoff::new();
    let got: [Option<u64>; 6] =
        core::array::from_fn(|_| b.next_delay(&signalr, &mut r).map(millis));
    assert_eq!(
        got,
        [Some(0), Some(2_000), Some(10_000), Some(30_000), None, None]
    );
    assert_eq!(b.attempt(), 4);
    assert_eq!(signalr.policy.delay(u32::MAX, Duration::ZERO, &mut r), None);

    // Phoenix: [10,50,100,150,200,250,500,1000,2000][tries-1] || 5000.
    let phoenix = ReconnectConfig::phoenix();
    let mut b = Backoff::new();
    let got: [u64; 12] = core::array::from_fn(|_| millis(b.next_delay(&phoenix, &mut r).unwrap()));
    assert_eq!(
        got,
        [10, 50, 100, 150, 200, 250, 500, 1_000, 2_000, 5_000, 5_000, 5_000]
    );
    assert_eq!(
        phoenix.policy.bounds(u32::MAX, Duration::ZERO),
        win(5_000, 5_000)
    );

    // Jitter applies to schedule steps too.
    let s = Schedule::new(&[ms(1_000)], AfterSchedule::RepeatLast).unwrap();
    let p = BackoffPolicy::Schedule(s.with_jitter(Jitter::Equal));
    assert_eq!(p.bounds(9, Duration::ZERO), win(500, 1_000));
    assert_eq!(s.steps(), &[1_000]);
}

#[test]
fn socket_io_matches_backo2() {
    // ms = 1000 * 2^(n-1); ms +/- floor(rand * 0.5 * ms); min(ms, 5000).
    let p = ReconnectConfig::socket_io().policy;
    let expected = [
        (500, 1_500),
        (1_000, 3_000),
        (2_000, 5_000), // 2000..6000 capped
        (4_000, 5_000), // 4000..12000 capped
        (5_000, 5_000),
        (5_000, 5_000),
        (5_000, 5_000),
        (5_000, 5_000),
    ];
    assert_eq!(windows(&p, 1..=8), expected);
    assert_eq!(p.bounds(u32::MAX, Duration::ZERO), win(5_000, 5_000));
}

#[test]
fn reconnecting_websocket_matches_its_growth_rule() {
    // min(10000, [1000, 5000] * 1.3^(n-1)), lower end = floor(1000 * 1.3^(n-1)).
    let p = ReconnectConfig::reconnecting_websocket().policy;
    let expected = [
        (1_000, 5_000),
        (1_300, 6_500),
        (1_690, 8_450),
        (2_197, 10_000), // 10985 capped
        (2_856, 10_000), // 1000 * 1.3^4 = 2856.1
        (3_712, 10_000),
        (4_826, 10_000),
        (6_274, 10_000),
    ];
    assert_eq!(windows(&p, 1..=8), expected);
    assert_eq!(p.bounds(9, Duration::ZERO), win(8_157, 10_000));
    assert_eq!(p.bounds(10, Duration::ZERO), win(10_000, 10_000)); // 10604 capped
    assert_eq!(
        ReconnectConfig::reconnecting_websocket().min_uptime,
        ms(5_000)
    );
}

#[test]
fn centrifugo_matches_centrifuge_js_backoff() {
    // min(20000, 500 + randomInt(0, min(20000, 500 * 2^(n-1)))).
    let p = ReconnectConfig::centrifugo().policy;
    let expected = [
        (500, 1_000),
        (500, 1_500),
        (500, 2_500),
        (500, 4_500),
        (500, 8_500),
        (500, 16_500),
        (500, 20_000),
        (500, 20_000),
    ];
    assert_eq!(windows(&p, 1..=8), expected);
    // Capped before the jitter too: at attempt 7 only draws above 19500 of a
    // 500..20500 window hit the cap (~2.4%), not the ~39% of a 500..32500 one.
    let mut r = rng(7);
    let at_cap = (0..4_000)
        .filter(|_| p.delay(7, Duration::ZERO, &mut r) == Some(ms(20_000)))
        .count();
    assert!((20..=250).contains(&at_cap), "{at_cap} of 4000 at the cap");
}

#[test]
fn graphql_ws_matches_retry_wait() {
    // 1000 * 2^retries + floor(random * 2700 + 300), retries = n - 1, 5 attempts.
    let cfg = ReconnectConfig::graphql_ws();
    let got = windows(&cfg.policy, 1..=5);
    let expected = [
        (1_300, 3_999),
        (2_300, 4_999),
        (4_300, 6_999),
        (8_300, 10_999),
        (16_300, 18_999),
    ];
    assert_eq!(got[..5], expected);
    let mut b = Backoff::new();
    let mut r = rng(3);
    for _ in 0..5 {
        assert!(b.next_delay(&cfg, &mut r).is_some());
    }
    assert_eq!(b.next_delay(&cfg, &mut r), None);
}

#[test]
fn aws_presets_match_the_blog_formulas() {
    // Full jitter: random_between(0, min(cap, base * 2^(n-1))).
    let full = ReconnectConfig::aws_full_jitter(ms(100), ms(10_000)).policy;
    assert_eq!(windows(&full, 1..=8)[..3], [(0, 100), (0, 200), (0, 400)]);
    assert_eq!(full.bounds(7, Duration::ZERO), win(0, 6_400));
    assert_eq!(full.bounds(8, Duration::ZERO), win(0, 10_000));
    // Decorrelated: min(cap, random_between(base, prev * 3)), prev starting at base.
    let dec = ReconnectConfig::aws_decorrelated(ms(100), ms(10_000)).policy;
    assert_eq!(
        dec.bounds(1, Duration::ZERO),
        win(100, 300),
        "prev = 0 counts as base"
    );
    assert_eq!(dec.bounds(1, ms(50)), win(100, 300));
    assert_eq!(dec.bounds(2, ms(1_000)), win(100, 3_000));
    assert_eq!(dec.bounds(2, ms(5_000)), win(100, 10_000));
    assert_eq!(dec.bounds(u32::MAX, Duration::MAX), win(100, 10_000));
    let mut r = rng(11);
    for _ in 0..1_000 {
        let d = dec.delay(3, Duration::MAX, &mut r).unwrap();
        assert!(ms(100) <= d && d <= ms(10_000));
        let d = dec.delay(1, Duration::ZERO, &mut r).unwrap();
        assert!(ms(100) <= d && d <= ms(300));
    }
}

#[test]
fn presets_validate_and_reset_like_their_libraries() {
    for cfg in presets() {
        assert_eq!(cfg.validate(), Ok(()), "{cfg:?}");
    }
    for cfg in [
        ReconnectConfig::socket_io(),
        ReconnectConfig::signalr(),
        ReconnectConfig::phoenix(),
        ReconnectConfig::centrifugo(),
        ReconnectConfig::graphql_ws(),
    ] {
        assert_eq!(cfg.min_uptime, Duration::ZERO, "resets on open: {cfg:?}");
    }
}

#[test]
fn min_uptime_gates_the_reset() {
    let cfg = ReconnectConfig::rfc6455();
    let mut r = rng(5);
    let mut b = Backoff::new();
    b.next_delay(&cfg, &mut r).unwrap();
    b.next_delay(&cfg, &mut r).unwrap();
    assert_eq!(b.attempt(), 2);

    // Open for 1 s then dropped: the counter keeps growing.
    b.on_open(Instant::from_millis(10_000));
    b.on_close(Instant::from_millis(11_000), &cfg);
    assert_eq!(b.attempt(), 2);
    b.next_delay(&cfg, &mut r).unwrap();
    assert_eq!(b.attempt(), 3);

    // A close without an open (failed attempt) changes nothing.
    b.on_close(Instant::from_millis(50_000), &cfg);
    assert_eq!(b.attempt(), 3);

    // Open for 6 s: reset, and the next delay is a first-attempt one again.
    b.on_open(Instant::from_millis(20_000));
    assert_eq!(b.opened_at(), Some(Instant::from_millis(20_000)));
    b.on_close(Instant::from_millis(26_000), &cfg);
    assert_eq!(
        (b.attempt(), b.prev(), b.opened_at()),
        (0, Duration::ZERO, None)
    );
    assert!(b.next_delay(&cfg, &mut r).unwrap() <= ms(5_000));

    // Exactly min_uptime counts as stable; a clock that went backwards does not.
    b.on_open(Instant::from_millis(100_000));
    b.on_close(Instant::from_millis(105_000), &cfg);
    assert_eq!(b.attempt(), 0);
    b.next_delay(&cfg, &mut r).unwrap();
    b.on_open(Instant::MAX);
    b.on_close(Instant::ZERO, &cfg);
    assert_eq!(b.attempt(), 1);

    // min_uptime 0: any open resets at its close.
    let zero = ReconnectConfig::socket_io();
    b.on_open(Instant::from_millis(7));
    b.on_close(Instant::from_millis(7), &zero);
    assert_eq!(b.attempt(), 0);
}

#[test]
fn max_attempts_gives_up_after_n() {
    let cfg = ReconnectConfig {
        max_attempts: Some(3),
        ..ReconnectConfig::rfc6455()
    };
    let mut r = rng(9);
    let mut b = Backoff::new();
    for n in 1..=3 {
        assert!(b.next_delay(&cfg, &mut r).is_some());
        assert_eq!(b.attempt(), n);
    }
    assert_eq!(b.next_delay(&cfg, &mut r), None);
    assert_eq!(b.next_delay(&cfg, &mut r), None);
    assert_eq!(b.attempt(), 3);
    b.reset();
    assert!(b.next_delay(&cfg, &mut r).is_some());

    let never = ReconnectConfig {
        max_attempts: Some(0),
        ..ReconnectConfig::rfc6455()
    };
    assert_eq!(Backoff::new().next_delay(&never, &mut r), None);

    // The counter saturates instead of wrapping.
    let mut b = Backoff {
        attempt: u32::MAX,
        prev: Duration::MAX,
        opened_at: None,
    };
    assert!(b.next_delay(&ReconnectConfig::rfc6455(), &mut r).unwrap() <= ms(30_000));
    assert_eq!(b.attempt(), u32::MAX);
}

#[test]
fn validate_rejects_bad_policies() {
    let field = |policy: BackoffPolicy| {
        let cfg = ReconnectConfig {
            policy,
            ..ReconnectConfig::rfc6455()
        };
        cfg.validate().unwrap_err().field
    };
    let rfc = |first: u64, cap: u64| BackoffPolicy::Rfc6455 {
        first_window: ms(first),
        cap: ms(cap),
    };
    assert_eq!(field(rfc(5_000, 0)), "reconnect.policy.cap");
    assert_eq!(field(rfc(5_000, 4_999)), "reconnect.policy.cap");
    assert_eq!(field(rfc(0, 30_000)), "reconnect.policy.first_window");

    let e = |initial: u64, factor_permille: u32, max: u64, jitter: Jitter| {
        let cap_order = CapOrder::BeforeJitter;
        BackoffPolicy::Exponential {
            initial: ms(initial),
            factor_permille,
            max: ms(max),
            jitter,
            cap_order,
        }
    };
    assert_eq!(
        field(e(100, 999, 1_000, Jitter::Full)),
        "reconnect.policy.factor_permille"
    );
    assert_eq!(
        field(e(0, 2_000, 1_000, Jitter::Full)),
        "reconnect.policy.initial"
    );
    assert_eq!(
        field(e(100, 2_000, 0, Jitter::Full)),
        "reconnect.policy.max"
    );
    assert_eq!(
        field(e(100, 2_000, 99, Jitter::Full)),
        "reconnect.policy.max"
    );
    let wide = Jitter::Proportional { permille: 1_001 };
    assert_eq!(
        field(e(100, 2_000, 1_000, wide)),
        "reconnect.policy.jitter.permille"
    );
    let inverted = Jitter::Additive {
        min: ms(5),
        max: ms(4),
    };
    assert_eq!(
        field(e(100, 2_000, 1_000, inverted)),
        "reconnect.policy.jitter.min"
    );
    let inverted = Jitter::Scaled {
        lo_permille: 2,
        hi_permille: 1,
    };
    assert_eq!(
        field(e(100, 2_000, 1_000, inverted)),
        "reconnect.policy.jitter.lo_permille"
    );
    assert!(e(100, 1_000, 100, Jitter::Proportional { permille: 1_000 })
        .validate()
        .is_ok());

    let dec = |base: u64, cap: u64| BackoffPolicy::Decorrelated {
        base: ms(base),
        cap: ms(cap),
    };
    assert_eq!(field(dec(0, 10)), "reconnect.policy.base");
    assert_eq!(field(dec(10, 0)), "reconnect.policy.cap");
    assert_eq!(field(dec(10, 9)), "reconnect.policy.cap");

    let err = Schedule::new(&[], AfterSchedule::GiveUp).unwrap_err();
    assert_eq!(err.field, "reconnect.policy.steps");
    assert!(Schedule::new(&[ms(1); 12], AfterSchedule::GiveUp).is_ok());
    assert!(Schedule::new(&[ms(1); 13], AfterSchedule::GiveUp).is_err());
    assert!(Schedule::new(&[ms(u64::from(u32::MAX) + 1)], AfterSchedule::GiveUp).is_err());
    let empty = Schedule::from_millis(&[], AfterSchedule::RepeatLast);
    assert_eq!(
        field(BackoffPolicy::Schedule(empty)),
        "reconnect.policy.steps"
    );
    assert_eq!(
        BackoffPolicy::Schedule(empty).bounds(1, Duration::ZERO),
        None
    );
    let storm = Schedule::new(&[ms(0)], AfterSchedule::RepeatLast).unwrap();
    assert_eq!(
        field(BackoffPolicy::Schedule(storm)),
        "reconnect.policy.after"
    );
    let storm = Schedule::new(&[ms(9)], AfterSchedule::Fixed(Duration::ZERO)).unwrap();
    assert_eq!(
        field(BackoffPolicy::Schedule(storm)),
        "reconnect.policy.after"
    );
    let jittered = storm.with_jitter(Jitter::Additive {
        min: ms(1),
        max: ms(5),
    });
    assert!(BackoffPolicy::Schedule(jittered).validate().is_ok());
    let bad = storm.with_jitter(Jitter::Proportional { permille: 2_000 });
    assert_eq!(
        field(BackoffPolicy::Schedule(bad)),
        "reconnect.policy.jitter.permille"
    );
}

#[test]
fn same_seed_same_delays() {
    for cfg in presets() {
        let run = |seed| {
            let (mut b, mut r) = (Backoff::new(), rng(seed));
            core::array::from_fn::<_, 16, _>(|_| b.next_delay(&cfg, &mut r))
        };
        assert_eq!(run(1), run(1));
    }
}

#[test]
fn growth_loop_is_bounded_for_huge_attempts() {
    // Slowest legal growth, a jitter that never saturates, the largest attempt:
    // the loop stops at the representable limit instead of running 4e9 times.
    let p = BackoffPolicy::Exponential {
        initial: Duration::from_nanos(1),
        factor_permille: 1_001,
        max: ms(1_000),
        jitter: Jitter::Full,
        cap_order: CapOrder::AfterJitter,
    };
    assert_eq!(p.bounds(u32::MAX, Duration::ZERO), win(0, 1_000));
    let flat = BackoffPolicy::Exponential {
        initial: ms(300),
        factor_permille: 1_000,
        max: ms(1_000),
        jitter: Jitter::None,
        cap_order: CapOrder::BeforeJitter,
    };
    assert_eq!(flat.bounds(u32::MAX, Duration::ZERO), win(300, 300));
}
