use super::*;
use alloc::vec::Vec;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn seqs<T>(out: &Outbox<T>) -> Vec<u64> {
    out.iter().map(|(s, _)| s).collect()
}

#[test]
fn empty_outbox_answers_none_and_zero() {
    let mut out: Outbox<u8> = Outbox::default();
    assert!(out.is_empty());
    assert_eq!(out.len(), 0);
    assert_eq!(out.first_seq(), None);
    assert_eq!(out.last_seq(), None);
    assert_eq!(out.next_seq(), None);
    assert_eq!(out.get(0), None);
    assert_eq!(out.get(1), None);
    assert_eq!(out.get(u64::MAX), None);
    assert_eq!(out.ack(u64::MAX), 0);
    assert_eq!(out.ack(0), 0);
    assert_eq!(out.iter().count(), 0);
    // Acking before any insert does not anchor the outbox.
    assert_eq!(out.insert(17, 1), Ok(()));
}

#[test]
fn insert_get_ack() {
    let mut out = Outbox::with_capacity(4);
    for seq in 1..=5u64 {
        assert_eq!(out.insert(seq, seq * 10), Ok(()));
    }
    assert_eq!(out.len(), 5);
    assert_eq!((out.first_seq(), out.last_seq()), (Some(1), Some(5)));
    assert_eq!(out.next_seq(), Some(6));
    for seq in 1..=5u64 {
        assert_eq!(out.get(seq), Some(&(seq * 10)));
    }
    assert_eq!(out.get(0), None);
    assert_eq!(out.get(6), None);

    assert_eq!(out.ack(0), 0, "below the first seq drops nothing");
    assert_eq!(out.ack(2), 2);
    assert_eq!(out.ack(2), 0, "a repeated ack is harmless");
    assert_eq!(out.ack(1), 0, "an older ack is harmless");
    assert_eq!(seqs(&out), [3, 4, 5]);
    assert_eq!(
        out.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        [30, 40, 50]
    );
}

#[test]
fn out_of_order_inserts_store_nothing() {
    let mut out = Outbox::new();
    out.insert(7, 'a').unwrap();
    assert_eq!(
        out.insert(7, 'x'),
        Err(OutboxError::OutOfOrder {
            expected: 8,
            got: 7
        })
    );
    assert_eq!(
        out.insert(9, 'x'),
        Err(OutboxError::OutOfOrder {
            expected: 8,
            got: 9
        })
    );
    assert_eq!(
        out.insert(0, 'x'),
        Err(OutboxError::OutOfOrder {
            expected: 8,
            got: 0
        })
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out.get(7), Some(&'a'));
    assert_eq!(out.insert(8, 'b'), Ok(()));
    assert_eq!(seqs(&out), [7, 8]);
}

#[test]
fn acks_do_not_move_the_next_expected_seq() {
    let mut out = Outbox::new();
    out.insert(1, ()).unwrap();
    out.insert(2, ()).unwrap();
    assert_eq!(out.ack(100), 2, "beyond the end drops everything");
    assert!(out.is_empty());
    assert_eq!((out.first_seq(), out.last_seq()), (None, None));
    assert_eq!(out.next_seq(), Some(3));
    assert_eq!(
        out.insert(101, ()),
        Err(OutboxError::OutOfOrder {
            expected: 3,
            got: 101
        })
    );
    assert_eq!(out.insert(3, ()), Ok(()));
    assert_eq!((out.first_seq(), out.last_seq()), (Some(3), Some(3)));
}

#[test]
fn retransmit_after_partial_ack() {
    let mut out = Outbox::new();
    for seq in 1..=10u64 {
        out.insert(seq, seq).unwrap();
    }
    assert_eq!(out.ack(6), 6);
    // The engine asks to retransmit the rest, some of them twice.
    for seq in [7, 8, 9, 10, 7, 8] {
        assert_eq!(out.get(seq), Some(&seq));
    }
    for seq in 1..=6 {
        assert_eq!(out.get(seq), None);
    }
    out.insert(11, 11).unwrap();
    assert_eq!(seqs(&out), [7, 8, 9, 10, 11]);
    assert_eq!(out.ack(11), 5);
    assert!(out.is_empty());
}

#[test]
fn no_panic_at_u64_max() {
    let mut out = Outbox::new();
    out.insert(u64::MAX - 2, 0).unwrap();
    out.insert(u64::MAX - 1, 1).unwrap();
    out.insert(u64::MAX, 2).unwrap();
    assert_eq!(out.next_seq(), None);
    assert_eq!(
        out.insert(0, 3),
        Err(OutboxError::Exhausted {
            last: u64::MAX,
            got: 0
        })
    );
    assert_eq!(
        out.insert(u64::MAX, 3),
        Err(OutboxError::Exhausted {
            last: u64::MAX,
            got: u64::MAX
        })
    );
    assert_eq!(
        (out.first_seq(), out.last_seq()),
        (Some(u64::MAX - 2), Some(u64::MAX))
    );
    assert_eq!(out.get(u64::MAX), Some(&2));
    assert_eq!(out.get(0), None);
    assert_eq!(seqs(&out), [u64::MAX - 2, u64::MAX - 1, u64::MAX]);
    assert_eq!(out.ack(u64::MAX - 2), 1);
    assert_eq!(out.ack(u64::MAX), 2);
    assert!(out.is_empty());
    assert_eq!(out.ack(u64::MAX), 0);

    // Starting at 0 and acking u64::MAX (a span wider than usize on 32-bit).
    let mut out = Outbox::new();
    out.insert(0, ()).unwrap();
    assert_eq!(out.get(0), Some(&()));
    assert_eq!(out.ack(u64::MAX), 1);
}

#[test]
fn steady_state_does_not_grow_the_ring() {
    let mut out = Outbox::with_capacity(8);
    let mut next = 1u64;
    // Warm up to a window of 8, then keep the window full.
    for _ in 0..8 {
        out.insert(next, [0u8; 16]).unwrap();
        next += 1;
    }
    let cap = out.items.capacity();
    for _ in 0..10_000 {
        assert_eq!(out.ack(next - 8), 1);
        out.insert(next, [0u8; 16]).unwrap();
        next += 1;
        assert_eq!(out.items.capacity(), cap, "no reallocation after warm-up");
    }
}

/// Against a simple reference model: a list of (seq, value) pairs.
#[test]
fn matches_a_reference_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for start in [1u64, 1_000, u64::MAX - 300] {
        let mut out = Outbox::new();
        let mut model: Vec<(u64, u32)> = Vec::new();
        let mut next = start;
        let mut exhausted = false;
        for _ in 0..3_000 {
            let roll = rng.next_u32();
            match roll % 10 {
                0..=4 => {
                    let v = rng.next_u32();
                    let got = out.insert(next, v);
                    if exhausted {
                        assert!(matches!(got, Err(OutboxError::Exhausted { .. })));
                    } else {
                        assert_eq!(got, Ok(()));
                        model.push((next, v));
                        match next.checked_add(1) {
                            Some(n) => next = n,
                            None => exhausted = true,
                        }
                    }
                }
                // Once anchored, any other seq is refused (before that,
                // the first insert may use any seq).
                5 if next != start => {
                    let wrong = next.wrapping_add(1 + u64::from(rng.next_u32() % 3));
                    assert!(out.insert(wrong, 0).is_err());
                }
                6 | 7 => {
                    let upto = next.saturating_sub(u64::from(rng.next_u32() % 12));
                    let before = model.len();
                    model.retain(|&(s, _)| s > upto);
                    assert_eq!(out.ack(upto), before - model.len());
                }
                _ => {
                    let probe = next.saturating_sub(u64::from(rng.next_u32() % 16));
                    let want = model.iter().find(|&&(s, _)| s == probe).map(|(_, v)| v);
                    assert_eq!(out.get(probe), want);
                }
            }
            assert_eq!(out.len(), model.len());
            assert_eq!(out.first_seq(), model.first().map(|p| p.0));
            assert_eq!(out.last_seq(), model.last().map(|p| p.0));
            assert!(out.iter().map(|(s, v)| (s, *v)).eq(model.iter().copied()));
        }
    }
}

#[test]
fn error_messages() {
    use alloc::string::ToString;
    assert_eq!(
        OutboxError::OutOfOrder {
            expected: 3,
            got: 5
        }
        .to_string(),
        "outbox insert out of order: expected seq 3, got 5"
    );
    assert_eq!(
        OutboxError::Exhausted {
            last: u64::MAX,
            got: 1
        }
        .to_string(),
        "outbox seq space exhausted after 18446744073709551615, got 1"
    );
}
