use super::*;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn table() -> Presence {
    Presence::new(PresenceConfig::default()).unwrap()
}

fn cfg_ms(threshold: u64, resolution: u64) -> PresenceConfig {
    PresenceConfig {
        threshold: Duration::from_millis(threshold),
        resolution: Duration::from_millis(resolution),
        ..PresenceConfig::default()
    }
}

/// Every transition `poll_expired(now)` yields, in order.
fn drain(p: &mut Presence, now: u64) -> Vec<Transition> {
    let mut out = Vec::new();
    while let Some(t) = p.poll_expired(at(now)) {
        out.push(t);
    }
    out
}

fn offline(id: u64, last: u64) -> Transition {
    Transition::Offline {
        id,
        last_seen: at(last),
    }
}

#[test]
fn defaults_are_valid_and_documented_values() {
    let c = PresenceConfig::default();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.threshold, Duration::from_secs(60));
    assert_eq!(c.resolution, Duration::from_secs(1));
    assert_eq!(c.max_clients, 1 << 24);
    let p = table();
    assert_eq!(p.heads.len(), 64);
    assert!(p.is_empty());
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn validate_names_the_bad_field() {
    let field = |c: PresenceConfig| c.validate().unwrap_err().field;
    assert_eq!(field(cfg_ms(0, 1)), "presence.threshold");
    let sub_ms = PresenceConfig {
        threshold: Duration::from_micros(900),
        ..cfg_ms(1, 1)
    };
    assert_eq!(field(sub_ms), "presence.threshold");
    assert_eq!(field(cfg_ms(1000, 0)), "presence.resolution");
    assert_eq!(field(cfg_ms(1000, 1001)), "presence.resolution");
    assert_eq!(field(cfg_ms(65_536, 1)), "presence.resolution");
    assert_eq!(cfg_ms(65_535, 1).validate(), Ok(()));
    assert_eq!(
        Presence::new(cfg_ms(65_535, 1)).unwrap().heads.len(),
        65_536
    );
    for max_clients in [0, Presence::MAX_CLIENTS + 1] {
        assert_eq!(
            field(PresenceConfig {
                max_clients,
                ..cfg_ms(10, 1)
            }),
            "presence.max_clients"
        );
    }
    // The message states the real limit.
    let zero = PresenceConfig {
        max_clients: 0,
        ..cfg_ms(10, 1)
    };
    let problem = zero.validate().unwrap_err().problem;
    assert!(
        problem.ends_with(&alloc::format!("{}", Presence::MAX_CLIENTS)),
        "{problem}"
    );
    let huge = PresenceConfig {
        threshold: Duration::MAX,
        resolution: Duration::MAX,
        max_clients: 1,
    };
    assert_eq!(huge.validate(), Ok(()));
    assert!(Presence::new(cfg_ms(0, 0)).is_err());
}

#[test]
fn threshold_boundary_is_exact_and_strict() {
    let mut p = table();
    assert_eq!(
        p.heartbeat(7, at(1_000)),
        Some(Transition::Online { id: 7 })
    );
    assert!(p.is_online(7, at(60_999)));
    assert!(!p.is_online(7, at(61_000)));
    assert_eq!(p.poll_timeout(), Some(at(61_000)));
    assert_eq!(drain(&mut p, 60_999), []);
    assert_eq!(drain(&mut p, 61_000), [offline(7, 1_000)]);
    assert_eq!(p.len(), 0);
    assert_eq!(p.last_seen(7), None);
}

#[test]
fn off_tick_heartbeat_is_exact_online_and_reported_at_bucket_end() {
    let mut p = table();
    p.heartbeat(1, at(1_500));
    assert!(p.is_online(1, at(61_499)));
    assert!(!p.is_online(1, at(61_500)));
    // The sweep reports within one resolution: at the end of bucket 62.
    assert_eq!(p.poll_timeout(), Some(at(62_000)));
    assert_eq!(drain(&mut p, 61_999), []);
    assert_eq!(drain(&mut p, 62_000), [offline(1, 1_500)]);
}

#[test]
fn online_once_per_period_offline_exactly_once_then_online_again() {
    let mut p = table();
    assert_eq!(p.heartbeat(5, at(0)), Some(Transition::Online { id: 5 }));
    for t in (25_000..=250_000).step_by(25_000) {
        assert_eq!(p.heartbeat(5, at(t)), None);
        assert_eq!(drain(&mut p, t), []);
    }
    assert_eq!(drain(&mut p, 309_999), []);
    assert_eq!(drain(&mut p, 310_000), [offline(5, 250_000)]);
    for t in [310_000, 400_000, 10_000_000] {
        assert_eq!(drain(&mut p, t), []);
    }
    assert_eq!(
        p.heartbeat(5, at(10_000_001)),
        Some(Transition::Online { id: 5 })
    );
    assert_eq!(p.last_seen(5), Some(at(10_000_001)));
    assert_eq!(p.len(), 1);
}

#[test]
fn heartbeat_in_unswept_gap_keeps_transitions_alternating() {
    let mut p = table();
    p.heartbeat(9, at(0));
    assert!(!p.is_online(9, at(60_000)));
    // No Offline was yielded yet, so no second Online either.
    assert_eq!(p.heartbeat(9, at(60_500)), None);
    assert!(p.is_online(9, at(60_500)));
    assert_eq!(drain(&mut p, 61_000), []);
    assert_eq!(drain(&mut p, 121_000), [offline(9, 60_500)]);
}

#[test]
fn remove_suppresses_offline_and_frees_the_slot() {
    let mut p = table();
    p.heartbeat(1, at(0));
    p.heartbeat(2, at(0));
    assert!(p.remove(1));
    assert!(!p.remove(1));
    assert!(!p.remove(3));
    assert_eq!(
        (p.len(), p.is_online(1, at(1)), p.last_seen(1)),
        (1, false, None)
    );
    // Re-added before the sweep reached the removed record: a new period.
    assert_eq!(
        p.heartbeat(1, at(30_000)),
        Some(Transition::Online { id: 1 })
    );
    assert_eq!(drain(&mut p, 60_000), [offline(2, 0)]);
    assert_eq!(drain(&mut p, 90_000), [offline(1, 30_000)]);
    assert!(p.is_empty());
    // All three positions (removed 1, 2, re-added 1) left the wheel and are
    // vacated; new ids fill the table without growing it.
    assert_eq!((p.in_wheel, p.vacated), (0, 3));
    let size = p.entries.len();
    for id in 3..6 {
        p.heartbeat(id, at(90_000));
    }
    assert_eq!((p.len(), p.entries.len()), (3, size));
    assert!(p.remove(5));
    assert!(p.remove(3) && p.remove(4));
    assert_eq!(drain(&mut p, 1_000_000), []);
    assert_eq!(p.in_wheel, 0);
}

#[test]
fn restart_gives_pre_restart_clients_one_grace_threshold() {
    let mut p = table();
    let restart = 1_000_000;
    p.restart(at(restart));
    for id in 0..1_000u64 {
        p.load(id, at(id * 100)).unwrap(); // last seen long before the restart
    }
    assert_eq!(p.len(), 1_000);
    assert!((0..1_000).all(|id| p.is_online(id, at(restart)) && !p.is_confirmed(id)));
    assert_eq!(drain(&mut p, restart), []);
    // Half come back: no Online (the store already has them online).
    for id in (0..1_000u64).step_by(2) {
        assert_eq!(p.heartbeat(id, at(restart + 10_000)), None);
        assert!(p.is_confirmed(id));
    }
    assert_eq!(drain(&mut p, restart + 59_999), []);
    let gone = drain(&mut p, restart + 60_000);
    let expect: Vec<_> = (1..1_000u64)
        .step_by(2)
        .map(|id| offline(id, id * 100))
        .collect();
    assert_eq!(sorted(gone), expect);
    assert_eq!(drain(&mut p, restart + 69_999), []);
    assert_eq!(drain(&mut p, restart + 70_000).len(), 500);
    assert!(p.is_empty());
}

fn sorted(mut v: Vec<Transition>) -> Vec<Transition> {
    v.sort_by_key(|t| match *t {
        Transition::Online { id } | Transition::Offline { id, .. } => id,
    });
    v
}

#[test]
fn restart_covers_records_made_before_it_even_long_expired_ones() {
    let mut p = table();
    p.heartbeat(1, at(0));
    p.heartbeat(2, at(450_000));
    p.restart(at(500_000)); // nobody polled while the server was "down"
    assert!(p.is_online(1, at(500_000)) && p.is_online(2, at(559_999)));
    assert_eq!(drain(&mut p, 559_999), []);
    assert_eq!(
        sorted(drain(&mut p, 560_000)),
        [offline(1, 0), offline(2, 450_000)]
    );
    // A restart with an earlier instant is clamped to the latest one seen.
    p.restart(at(10));
    assert_eq!(p.epoch, 560_000);
    // Loading before any clock reading clamps to the table's clock.
    let mut q = table();
    q.load(3, at(5_000)).unwrap();
    assert_eq!(q.last_seen(3), Some(at(0)));
    q.restart(at(5_000));
    q.load(3, at(4_000)).unwrap();
    assert_eq!(q.last_seen(3), Some(at(4_000)));
    assert_eq!(drain(&mut q, 64_999), []);
    assert_eq!(drain(&mut q, 65_000), [offline(3, 4_000)]);
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut p = table();
    p.heartbeat(1, at(10_000));
    assert_eq!(p.heartbeat(1, at(5_000)), None);
    assert_eq!(p.last_seen(1), Some(at(10_000)));
    p.heartbeat(2, at(3_000)); // recorded at the latest instant
    assert_eq!(p.last_seen(2), Some(at(10_000)));
    assert!(p.is_online(1, at(0)));
    assert_eq!(drain(&mut p, 0), []);
    assert_eq!(p.poll_timeout(), Some(at(70_000)));
    assert_eq!(
        sorted(drain(&mut p, 70_000)),
        [offline(1, 10_000), offline(2, 10_000)]
    );
    // Going back after a sweep: nothing resurfaces, timeout never before latest.
    p.heartbeat(3, at(1));
    assert_eq!(drain(&mut p, 2), []);
    assert!(p.poll_timeout().unwrap() >= at(70_000));
}

#[test]
fn huge_gaps_jump_instead_of_walking_buckets() {
    // 1 ms buckets: a 10^15 ms gap would be 10^15 steps without the jump.
    let mut p = Presence::new(cfg_ms(60_000, 1)).unwrap();
    for id in 0..10 {
        p.heartbeat(id, at(id));
    }
    p.heartbeat(100, at(1_000_000_000_000_000));
    assert_eq!(drain(&mut p, 1_000_000_000_000_000).len(), 10);
    assert_eq!(p.len(), 1);
    assert_eq!(p.poll_timeout(), Some(at(1_000_000_000_060_000)));
    assert_eq!(
        drain(&mut p, 2_000_000_000_000_000),
        [offline(100, 1_000_000_000_000_000)]
    );
    // Empty table: a later heartbeat starts from the present, not from tick 0.
    p.heartbeat(7, at(3_000_000_000_000_000));
    assert_eq!(p.poll_timeout(), Some(at(3_000_000_000_060_000)));
}

#[test]
fn extreme_ids_and_instants() {
    let mut p = table();
    for id in [0, u64::MAX, 1, u64::MAX - 1] {
        assert_eq!(p.heartbeat(id, at(0)), Some(Transition::Online { id }));
    }
    assert!(p.remove(u64::MAX));
    assert!(p.is_online(0, at(1)) && !p.is_online(u64::MAX, at(1)));
    assert_eq!(p.heartbeat(u64::MAX - 1, at(u64::MAX - 10)), None);
    // At the end of time: the silent ones expire, the fresh one cannot.
    assert_eq!(
        sorted(drain(&mut p, u64::MAX)),
        [offline(0, 0), offline(1, 0)]
    );
    assert!(p.is_online(u64::MAX - 1, Instant::MAX));
    assert_eq!(drain(&mut p, u64::MAX), []);
    // Every tick is due at the table's last instant, so this is "now".
    assert_eq!(p.poll_timeout(), Some(Presence::LATEST));
    // The table's last instant is the clock's: no instant is out of reach.
    assert_eq!(Presence::LATEST, Instant::MAX);
    let mut q = Presence::new(cfg_ms(1, 1)).unwrap();
    q.heartbeat(0, Instant::MAX);
    assert!(q.is_online(0, Instant::MAX));
    assert_eq!(drain(&mut q, u64::MAX), []);
}

#[test]
fn full_table_refuses_new_ids_and_counts_them() {
    let mut p = Presence::new(PresenceConfig {
        max_clients: 3,
        ..PresenceConfig::default()
    })
    .unwrap();
    for id in 0..3 {
        assert_eq!(
            p.try_heartbeat(id, at(0)),
            Ok(Some(Transition::Online { id }))
        );
    }
    assert_eq!(
        p.try_heartbeat(3, at(1)),
        Err(PresenceFull { max_clients: 3 })
    );
    assert_eq!(p.heartbeat(4, at(1)), None);
    assert_eq!(p.load(5, at(1)), Err(PresenceFull { max_clients: 3 }));
    assert_eq!((p.rejected(), p.len(), p.last_seen(3)), (3, 3, None));
    assert_eq!(p.try_heartbeat(0, at(2)), Ok(None));
    assert!(p.remove(1));
    assert_eq!(p.heartbeat(3, at(3)), Some(Transition::Online { id: 3 }));
}

#[test]
fn memory_per_client_is_bounded() {
    assert_eq!(Presence::BYTES_PER_POSITION, 16);
    let n = 100_000;
    let mut p = Presence::with_capacity(PresenceConfig::default(), n).unwrap();
    for id in 0..n as u64 {
        p.heartbeat(id.wrapping_mul(0x9E37_79B9_7F4A_7C15), at(0));
    }
    // The smallest power of two >= 4/3 n, sized once: no rehash.
    assert_eq!((p.entries.len(), p.rehashes), (1 << 18, 0));
    // The wheel's blocks: full but for one per bucket.
    let block = core::mem::size_of::<wheel::Block>();
    assert_eq!(block, 4 * (wheel::BLOCK + 2));
    assert!(
        p.blocks.len() <= n / wheel::BLOCK + 64 + 1,
        "{}",
        p.blocks.len()
    );
    let expect = (1 << 18) * 16 + p.blocks.capacity() * block + 64 * 4 + 8;
    assert_eq!(p.memory_bytes(), expect);
    assert!(p.memory_per_client() <= 48, "{}", p.memory_per_client());
    // Grown by pushes: load 3/8 or more after each doubling.
    let mut q = table();
    for id in 0..n as u64 {
        q.heartbeat(id, at(0));
    }
    assert!(q.memory_per_client() <= 55, "{}", q.memory_per_client());
    assert!(q.entries.len() * 3 >= (q.len() + q.vacated) * 4);
}

/// 1,000,000 clients: all online, half refreshed, exactly the other half expire.
#[test]
fn one_million_clients() {
    const N: u64 = 1_000_000;
    let id = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15); // 0 included
    let mut p = Presence::with_capacity(PresenceConfig::default(), N as usize).unwrap();
    let online = (0..N)
        .filter(|&i| p.heartbeat(id(i), at(0)).is_some())
        .count();
    assert_eq!((online, p.len()), (N as usize, N as usize));
    // 2^21 positions of 16 B and 7,937 blocks of 512 B: 37.6 MB, 37 B each.
    assert!(p.memory_per_client() <= 39, "{}", p.memory_per_client());
    for i in (0..N).step_by(2) {
        assert_eq!(p.heartbeat(id(i), at(30_000)), None);
    }
    assert_eq!(drain(&mut p, 59_999), []);
    let mut expired = 0u64;
    while let Some(t) = p.poll_expired(at(60_000)) {
        let Transition::Offline {
            id: gone,
            last_seen,
        } = t
        else {
            panic!("{t:?}")
        };
        assert_eq!(last_seen, at(0));
        assert_eq!(gone % 2, 1, "only odd indices (odd ids) expire");
        expired += 1;
    }
    assert_eq!((expired, p.len()), (N / 2, (N / 2) as usize));
    assert!(p.is_online(id(0), at(60_000)) && !p.is_online(id(1), at(60_000)));
    assert_eq!(p.last_seen(id(1)), None);
    assert_eq!(drain(&mut p, 90_000).len(), (N / 2) as usize);
    assert!(p.is_empty());
}

/// Random operations against a plain map, exact at 1 ms resolution and within
/// one bucket otherwise; also checks `poll_timeout` is never late.
#[test]
fn matches_a_reference_model() {
    for (seed, resolution) in [(1, 1), (2, 7), (3, 50), (4, 1)] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let threshold = 100;
        let mut p = Presence::new(cfg_ms(threshold, resolution)).unwrap();
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut now, mut epoch, mut offlines) = (0u64, 0u64, 0u32);
        let ids = [
            0,
            1,
            2,
            3,
            5,
            8,
            13,
            21,
            34,
            55,
            89,
            144,
            u64::MAX,
            u64::MAX - 1,
        ];
        for _ in 0..20_000 {
            let id = ids[(rng.next_u32() as usize) % ids.len()];
            match rng.next_u32() % 100 {
                0..=44 => {
                    let was = model.contains_key(&id);
                    let got = p.heartbeat(id, at(now));
                    assert_eq!(got, (!was).then_some(Transition::Online { id }));
                    model.insert(id, now);
                }
                45..=54 => assert_eq!(p.remove(id), model.remove(&id).is_some()),
                55..=84 => {
                    let due = p.poll_timeout();
                    if due.is_some_and(|t| at(now) < t) {
                        assert_eq!(p.poll_expired(at(now)), None, "poll_timeout was late");
                    }
                    for t in drain(&mut p, now) {
                        let Transition::Offline { id, last_seen } = t else {
                            panic!()
                        };
                        assert_eq!(model.remove(&id), Some(last_seen.as_millis()));
                        assert!(now - last_seen.as_millis().max(epoch) >= threshold);
                        offlines += 1;
                    }
                    for (&id, &last) in &model {
                        let expiry = last.max(epoch) + threshold;
                        assert!(
                            expiry.div_ceil(resolution) * resolution > now,
                            "{id} not swept"
                        );
                    }
                }
                85 => {
                    epoch = now;
                    p.restart(at(now));
                }
                86..=89 => assert_eq!(p.is_online(id, at(0)), p.is_online(id, p.clock.now())),
                _ => now += u64::from(rng.next_u32() % 40),
            }
            assert_eq!(p.len(), model.len());
            for &id in &ids {
                let last = model.get(&id).copied();
                assert_eq!(p.last_seen(id), last.map(at));
                let online = last.is_some_and(|l| now - l.max(epoch) < threshold);
                assert_eq!(p.is_online(id, at(now)), online);
            }
            assert!(p.poll_timeout().is_none_or(|t| t >= p.clock.now()));
        }
        assert!(
            offlines > 500,
            "seed {seed}: only {offlines} expiries exercised"
        );
    }
}

#[test]
fn debug_summarises_without_dumping_tables() {
    let mut p = table();
    p.heartbeat(1, at(0));
    let s = alloc::format!("{p:?}");
    assert!(s.contains("len: 1") && s.len() < 300, "{s}");
}

/// Found by the fuzzer while the table was redesigned (TESTING.md, F8): at
/// the table's last instant every tick is due, so `poll_timeout` must say
/// "now", not a bucket time that saturated past it.
#[test]
fn poll_timeout_never_passes_the_last_instant() {
    let mut p = Presence::new(cfg_ms(40, 11)).unwrap();
    let latest = Presence::LATEST.as_millis();
    p.heartbeat(1, at(u64::MAX - 8_487));
    // Expires in the last bucket, whose end (a multiple of 11) is past LATEST.
    p.heartbeat(2, at(latest - 40));
    assert_eq!(
        drain(&mut p, u64::MAX - 8_400),
        [offline(1, u64::MAX - 8_487)]
    );
    assert_eq!(p.poll_timeout(), Some(Presence::LATEST));
    assert_eq!(drain(&mut p, u64::MAX), [offline(2, latest - 40)]);
    assert_eq!(p.poll_timeout(), None);
}
