use super::*;
use core::time::Duration;

const S: fn(u64) -> Duration = Duration::from_secs;

fn p() -> ClosePolicy {
    ClosePolicy::new()
}

/// The policy, or a test failure naming the refused field.
fn ok(r: Result<ClosePolicy, ConfigError>) -> ClosePolicy {
    match r {
        Ok(p) => p,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn design_table_row_by_row() {
    let p = p();
    assert_eq!(p.action(1000), CloseAction::Stop);
    assert_eq!(p.action(1001), CloseAction::Lazy);
    assert_eq!(p.action(1005), CloseAction::Retry);
    assert_eq!(p.action(1006), CloseAction::Retry);
    for c in [1002, 1003, 1007, 1008, 1009, 1010] {
        assert_eq!(p.action(c), CloseAction::Fatal, "code {c}");
    }
    assert_eq!(p.action(1011), CloseAction::RetryBudgeted);
    assert_eq!(
        p.action(1012),
        CloseAction::RetryUniform {
            min: S(5),
            max: S(30)
        }
    );
    assert_eq!(p.action(1013), CloseAction::RetryAtLeast { floor: S(10) });
    assert_eq!(p.action(1014), CloseAction::Retry);
    assert_eq!(p.action(1015), CloseAction::Fatal);
    for c in [3000, 3001, 3499, 4000, 4001, 4250, 4499] {
        assert_eq!(p.action(c), CloseAction::Retry, "code {c}");
    }
    for c in [3500, 3999, 4500, 4501, 4999] {
        assert_eq!(p.action(c), CloseAction::Fatal, "code {c}");
    }
    for c in [0, 1, 999, 1004, 1016, 2000, 2999, 5000, u16::MAX] {
        assert_eq!(p.action(c), p.action(1002), "code {c}");
        assert_eq!(p.action(c), CloseAction::Fatal, "code {c}");
    }
}

#[test]
fn heartbeat_timeout_code_is_a_retry() {
    assert_eq!(code::HEARTBEAT_TIMEOUT, 4000);
    assert_eq!(p().action(code::HEARTBEAT_TIMEOUT), CloseAction::Retry);
    assert!(can_send(code::HEARTBEAT_TIMEOUT));
}

#[test]
fn classify_named_codes_and_range_edges() {
    use CloseClass::*;
    let expect = [
        (999, Invalid),
        (1000, Normal),
        (1001, GoingAway),
        (1002, Protocol),
        (1003, UnsupportedData),
        (1004, Invalid),
        (1005, NoStatus),
        (1006, Abnormal),
        (1007, InvalidPayload),
        (1008, Policy),
        (1009, TooBig),
        (1010, MandatoryExtension),
        (1011, ServerError),
        (1012, ServiceRestart),
        (1013, TryAgainLater),
        (1014, BadGateway),
        (1015, Tls),
        (1016, Invalid),
        (2999, Invalid),
        (3000, Registered),
        (3999, Registered),
        (4000, Private),
        (4999, Private),
        (5000, Invalid),
        (u16::MAX, Invalid),
    ];
    for (c, class) in expect {
        assert_eq!(classify(c), class, "code {c}");
    }
}

#[test]
fn exhaustive_over_u16_never_panics_and_is_consistent() {
    let p = p();
    let protocol = p.action(code::PROTOCOL_ERROR);
    let mut valid = 0u32;
    for c in 0..=u16::MAX {
        let class = classify(c);
        let action = p.action(c);
        let wire = is_valid_on_wire(c);
        let send = can_send(c);
        let server_send = can_send_as(Side::Server, c);
        // Invalid codes act like 1002 by default.
        if class == CloseClass::Invalid {
            assert_eq!(action, protocol, "code {c}");
            assert!(!wire && !send && !server_send, "code {c}");
        }
        // Sending implies valid on the wire; valid implies a known class.
        assert!(!send || wire, "code {c}");
        assert!(!server_send || wire, "code {c}");
        if wire {
            valid += 1;
            assert!(!matches!(
                class,
                CloseClass::Invalid | CloseClass::NoStatus | CloseClass::Abnormal | CloseClass::Tls
            ));
        }
        // No override: action is the table's.
        assert_eq!(action, p.default_action(c), "code {c}");
    }
    // 1000-1003 (4) + 1007-1014 (8) + 3000-4999 (2000).
    assert_eq!(valid, 2012);
}

#[test]
fn never_sends_reserved_codes() {
    for side in [Side::Client, Side::Server] {
        for c in [1004, 1005, 1006, 1015, 0, 999, 1016, 2999, 5000, u16::MAX] {
            assert!(!can_send_as(side, c), "{side:?} {c}");
        }
    }
    for c in [code::NO_STATUS, code::ABNORMAL, code::TLS_HANDSHAKE] {
        assert!(!can_send(c));
        assert!(!is_valid_on_wire(c));
    }
}

#[test]
fn sides_differ_only_on_1010_and_1012_to_1014() {
    for c in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4999] {
        assert!(can_send(c) && can_send_as(Side::Server, c), "code {c}");
    }
    assert!(can_send(1010) && !can_send_as(Side::Server, 1010));
    for c in 1012..=1014 {
        assert!(is_valid_on_wire(c));
        assert!(!can_send(c) && can_send_as(Side::Server, c), "code {c}");
    }
    assert_eq!(can_send(1000), can_send_as(Side::Client, 1000));
}

#[test]
fn override_by_code_and_by_range() {
    let p = p()
        .with_code(1006, CloseAction::Fatal)
        .and_then(|p| p.with_range(4000, 4099, CloseAction::Fatal))
        .and_then(|p| p.with_range(4500, 4599, CloseAction::RetryBudgeted));
    let p = ok(p);
    assert_eq!(p.action(1006), CloseAction::Fatal);
    assert_eq!(p.action(1005), CloseAction::Retry, "neighbour untouched");
    assert_eq!(p.action(4000), CloseAction::Fatal);
    assert_eq!(p.action(4099), CloseAction::Fatal);
    assert_eq!(p.action(4100), CloseAction::Retry, "just past the range");
    assert_eq!(p.action(3999), CloseAction::Fatal, "table: 3500-3999 fatal");
    assert_eq!(p.action(4500), CloseAction::RetryBudgeted);
    assert_eq!(p.action(4600), CloseAction::Fatal);
    assert_eq!(
        p.default_action(1006),
        CloseAction::Retry,
        "default ignores rules"
    );
    assert_eq!(p.rules().count(), 3);
    assert_eq!(p.override_for(4050), Some(CloseAction::Fatal));
    assert_eq!(p.override_for(1000), None);
    assert_eq!(p.validate(), Ok(()));
}

#[test]
fn first_matching_rule_wins() {
    let p = ok(p()
        .with_range(4000, 4999, CloseAction::Lazy)
        .and_then(|p| p.with_code(4001, CloseAction::Fatal)));
    assert_eq!(
        p.action(4001),
        CloseAction::Lazy,
        "earlier, wider rule wins"
    );
    let p = ok(ClosePolicy::new()
        .with_code(4001, CloseAction::Fatal)
        .and_then(|p| p.with_range(4000, 4999, CloseAction::Lazy)));
    assert_eq!(p.action(4001), CloseAction::Fatal);
    assert_eq!(p.action(4002), CloseAction::Lazy);
}

#[test]
fn invalid_codes_follow_1002_overrides_unless_named() {
    let p = ok(p()
        .with_range(5000, u16::MAX, CloseAction::Stop)
        .and_then(|p| p.with_code(1002, CloseAction::Retry)));
    assert_eq!(
        p.action(5000),
        CloseAction::Stop,
        "named invalid code: its rule"
    );
    assert_eq!(p.action(u16::MAX), CloseAction::Stop);
    assert_eq!(
        p.action(1004),
        CloseAction::Retry,
        "unnamed invalid code: 1002's rule"
    );
    assert_eq!(p.action(0), CloseAction::Retry);
    assert_eq!(
        p.action(1003),
        CloseAction::Fatal,
        "valid codes ignore 1002's rule"
    );
}

#[test]
fn full_table_is_an_error() {
    let mut p = p();
    for i in 0..MAX_RULES {
        let c = 4000 + u16::try_from(i).unwrap_or(0);
        p = ok(p.with_code(c, CloseAction::Fatal));
    }
    assert_eq!(p.rules().count(), MAX_RULES);
    let err = p.with_code(1000, CloseAction::Retry);
    assert_eq!(err.map_err(|e| e.field), Err("close.rules"));
    // The full policy still works and still validates.
    assert_eq!(p.action(4007), CloseAction::Fatal);
    assert_eq!(p.action(4008), CloseAction::Retry);
    assert_eq!(p.validate(), Ok(()));
}

#[test]
fn builder_rejects_bad_rules() {
    let field = |r: Result<ClosePolicy, ConfigError>| r.map_err(|e| e.field);
    assert_eq!(
        field(p().with_range(4001, 4000, CloseAction::Fatal)),
        Err("close.rules")
    );
    assert!(p().with_range(4000, 4000, CloseAction::Fatal).is_ok());
    let zero = CloseAction::RetryUniform {
        min: S(0),
        max: S(0),
    };
    assert_eq!(field(p().with_code(4000, zero)), Err("close.rules"));
    let inverted = CloseAction::RetryUniform {
        min: S(9),
        max: S(8),
    };
    assert_eq!(field(p().with_code(4000, inverted)), Err("close.rules"));
    let point = CloseAction::RetryUniform {
        min: S(8),
        max: S(8),
    };
    assert!(p().with_code(4000, point).is_ok());
    let no_floor = CloseAction::RetryAtLeast {
        floor: Duration::ZERO,
    };
    assert_eq!(field(p().with_code(4000, no_floor)), Err("close.rules"));
    let huge = CloseAction::RetryAtLeast {
        floor: Duration::MAX,
    };
    assert!(p().with_code(4000, huge).is_ok());
}

#[test]
fn restart_window_defaults_and_setters() {
    let d = ClosePolicy::default();
    assert_eq!(d, ClosePolicy::new());
    assert_eq!((d.restart_min, d.restart_max), (S(5), S(30)));
    assert_eq!(d.try_again_floor, S(10));
    assert_eq!(d.rules().count(), 0);
    assert_eq!(d.validate(), Ok(()));

    let p = ok(d.with_restart_window(S(1), S(2)));
    assert_eq!(
        p.action(1012),
        CloseAction::RetryUniform {
            min: S(1),
            max: S(2)
        }
    );
    let p = ok(d.with_try_again_floor(S(60)));
    assert_eq!(p.action(1013), CloseAction::RetryAtLeast { floor: S(60) });

    let field = |r: Result<ClosePolicy, ConfigError>| r.map_err(|e| e.field);
    assert_eq!(
        field(d.with_restart_window(S(0), S(0))),
        Err("close.restart_max")
    );
    assert_eq!(
        field(d.with_restart_window(S(31), S(30))),
        Err("close.restart_min")
    );
    assert_eq!(
        field(d.with_try_again_floor(Duration::ZERO)),
        Err("close.try_again_floor")
    );
}

#[test]
fn validate_catches_hand_built_policies() {
    let mut p = p();
    p.restart_min = S(40);
    assert_eq!(p.validate().map_err(|e| e.field), Err("close.restart_min"));
    let mut p = ClosePolicy::new();
    p.try_again_floor = Duration::ZERO;
    assert_eq!(
        p.validate().map_err(|e| e.field),
        Err("close.try_again_floor")
    );
    // A rule slot filled behind the builder's back (as `arbitrary` can).
    let mut p = ClosePolicy::new();
    p.rules[3] = Some(CloseRule {
        lo: 10,
        hi: 9,
        action: CloseAction::Stop,
    });
    assert_eq!(p.validate().map_err(|e| e.field), Err("close.rules"));
    // An inverted rule matches nothing, so action() stays total and sane.
    assert_eq!(p.action(10), CloseAction::Fatal);
}

#[test]
fn action_helpers() {
    assert!(CloseAction::Fatal.is_fatal());
    assert!(!CloseAction::Stop.is_fatal());
    for a in [
        CloseAction::Retry,
        CloseAction::RetryBudgeted,
        CloseAction::RetryUniform {
            min: S(5),
            max: S(30),
        },
        CloseAction::RetryAtLeast { floor: S(10) },
    ] {
        assert!(a.retries() && !a.is_fatal(), "{a:?}");
    }
    for a in [CloseAction::Stop, CloseAction::Lazy, CloseAction::Fatal] {
        assert!(!a.retries(), "{a:?}");
    }
    let rule = CloseRule {
        lo: 3000,
        hi: 3002,
        action: CloseAction::Lazy,
    };
    assert!(!rule.matches(2999) && rule.matches(3000) && rule.matches(3002) && !rule.matches(3003));
}

#[test]
fn exhaustive_with_overrides_matches_a_reference_model() {
    let rules = [
        (0, 999, CloseAction::Stop),
        (1005, 1006, CloseAction::Fatal),
        (1000, 1010, CloseAction::Lazy),
        (4000, 4999, CloseAction::RetryAtLeast { floor: S(3) }),
        (4400, 4600, CloseAction::Fatal),
        (u16::MAX, u16::MAX, CloseAction::Retry),
    ];
    let mut p = p();
    for (lo, hi, action) in rules {
        p = ok(p.with_range(lo, hi, action));
    }
    let table = ClosePolicy::new();
    let first = |c: u16| rules.iter().find(|r| r.0 <= c && c <= r.1).map(|r| r.2);
    for c in 0..=u16::MAX {
        let expected = match first(c) {
            Some(a) => a,
            None if classify(c) == CloseClass::Invalid => {
                first(code::PROTOCOL_ERROR).unwrap_or(CloseAction::Fatal)
            }
            None => table.action(c),
        };
        assert_eq!(p.action(c), expected, "code {c}");
    }
    // Spot checks of the model itself.
    assert_eq!(p.action(1006), CloseAction::Fatal);
    assert_eq!(p.action(1004), CloseAction::Lazy, "named by 1000..=1010");
    assert_eq!(
        p.action(2000),
        CloseAction::Lazy,
        "invalid: follows 1002's rule"
    );
    assert_eq!(p.action(4500), CloseAction::RetryAtLeast { floor: S(3) });
    assert_eq!(p.action(u16::MAX), CloseAction::Retry);
}
