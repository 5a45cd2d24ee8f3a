//! Unit tests of the harness itself: its generator, link, determinism and a
//! fault-free baseline.

use std::vec::Vec;

use super::*;
use crate::io::Transport;

#[test]
fn rng_is_deterministic_and_forks_independently() {
    let (mut a, mut b) = (SimRng::new(42), SimRng::new(42));
    let xs: Vec<u64> = (0..8).map(|_| a.next_word()).collect();
    let ys: Vec<u64> = (0..8).map(|_| b.next_word()).collect();
    assert_eq!(xs, ys);
    let mut c = SimRng::new(42);
    let mut fork = c.fork();
    assert_ne!(fork.next_word(), c.next_word());
    let mut r = SimRng::new(1);
    for _ in 0..1_000 {
        assert!((3..=9).contains(&r.range(3, 9)));
        assert!(r.index(5) < 5);
    }
    assert_eq!(r.index(0), 0);
    assert!(!r.chance(0));
    assert!(r.chance(1_000));
}

#[test]
fn link_keeps_tcp_order_and_applies_frame_faults() {
    let params = LinkParams {
        base: 5,
        jitter: 200,
        handshake: 0,
    };
    let mut link = net::Link::new(params, SimRng::new(3));
    let sock = link.open(crate::io::ConnId(1), Transport::WebSocket, [false; 2]);
    let mut last = 0;
    for t in 0..200 {
        for at in link.send(t, sock, Dir::ToServer, Wire::Ping { nonce: t }, 0) {
            assert!(at >= last, "arrival {at} before {last}");
            assert!(at >= t + 5);
            last = at;
        }
    }
    // A drop takes the next engine frame only; transport frames pass.
    link.arm(Dir::ToClient, false, 10);
    assert_eq!(link.send(0, sock, Dir::ToClient, Wire::Eof, 0).len(), 1);
    assert!(link
        .send(0, sock, Dir::ToClient, Wire::Ack { upto: 1 }, 0)
        .is_empty());
    assert_eq!(
        link.send(0, sock, Dir::ToClient, Wire::Ack { upto: 1 }, 0)
            .len(),
        1
    );
    // A duplicate doubles the next data frame only, in order.
    link.arm(Dir::ToClient, true, 10);
    assert_eq!(
        link.send(0, sock, Dir::ToClient, Wire::Pong { nonce: 1 }, 0)
            .len(),
        1
    );
    let copies = link.send(0, sock, Dir::ToClient, Wire::Data { seq: 1, msg: 9 }, 0);
    assert_eq!(copies.len(), 2);
    assert!(copies[0] <= copies[1]);
    assert_eq!(link.history[1], std::vec![(1, 9)]);
    // An armed fault expires with its window.
    link.arm(Dir::ToClient, false, 10);
    assert_eq!(
        link.send(10, sock, Dir::ToClient, Wire::Ack { upto: 1 }, 0)
            .len(),
        1
    );
}

#[test]
fn fault_free_run_delivers_everything_and_violates_nothing() {
    let mut s = Schedule::quiet(5);
    s.client_sends = (0..40).map(|i| i * 200).collect();
    s.server_sends = (0..40).map(|i| i * 210 + 7).collect();
    let out = run(&s, &Params::default());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    // 40 plus the final message the client sends when the faults are over.
    assert_eq!((out.to_server.sent, out.to_server.delivered), (41, 41));
    assert_eq!((out.to_client.sent, out.to_client.delivered), (40, 40));
    assert_eq!(out.stats.connects, 1);
    assert_eq!(out.stats.dead_peers, 0);
    assert!(out.stats.recovery.is_some());
}

#[test]
fn same_schedule_same_trace() {
    let s = Schedule::random(11, Mix::Lifecycle);
    let p = Params {
        trace: true,
        ..Params::default()
    };
    let (a, b) = (run(&s, &p), run(&s, &p));
    assert!(!a.trace.is_empty());
    assert_eq!(a, b);
    assert_eq!(Schedule::random(11, Mix::Lifecycle), s);
    assert_ne!(Schedule::random(12, Mix::Lifecycle), s);
}

#[test]
fn sanitize_clamps_hostile_values() {
    let mut s = Schedule::quiet(0);
    s.horizon = u64::MAX;
    s.link.base = u64::MAX;
    s.faults = (0..100)
        .map(|i| {
            (
                u64::MAX - i,
                Fault::ClockJump {
                    side: Side::Client,
                    delta: i64::MIN,
                },
            )
        })
        .collect();
    s.faults.push((
        0,
        Fault::UserPause {
            dur: u64::MAX,
            code: 1006,
        },
    ));
    s.variant.max_queued = Some(0);
    let s = s.sanitize();
    assert_eq!(s.horizon, 600_000);
    assert_eq!(s.link.base, 1_000);
    assert_eq!(s.faults.len(), 64);
    assert!(s.faults.iter().all(|(t, _)| *t <= 600_000));
    assert_eq!(s.variant.max_queued, Some(1));
    assert!(s.faults.iter().all(|(_, f)| match f {
        Fault::ClockJump { delta, .. } => *delta == -60_000,
        Fault::UserPause { dur, code } => *dur == 60_000 && *code == 1000,
        _ => true,
    }));
}

#[test]
fn a_bad_config_is_reported_not_panicked_on() {
    let mut p = Params::default();
    p.config.connect_timeout = core::time::Duration::ZERO;
    let out = run(&Schedule::quiet(0), &p);
    assert_eq!(out.violations.len(), 1);
    assert_eq!(out.violations[0].property, Property::Driver);
}
