//! Randomised checks: overdue precision on random traffic, and two machines
//! over a lossy, reconnecting link (nothing lost, nothing duplicated).

extern crate std;

use super::super::*;
use super::{acked, drain, open_resumed, t};
use crate::random::uniform;
use core::time::Duration;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::vec::Vec;

#[test]
fn overdue_precision_holds_on_random_traffic() {
    let deadline = 7_000; // step = 500 ms
    let cfg = DeliveryConfig {
        delivery_deadline: Some(Duration::from_millis(deadline)),
        ..acked()
    };
    for seed in 0..40 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut d = Delivery::new();
        let mut pushed_at = Vec::new();
        let mut last = 0;
        let mut now = t(0);
        open_resumed(&mut d, now, 0, &cfg);
        for _ in 0..2_000 {
            let next = now + Duration::from_millis(uniform(&mut rng, 1, 300));
            while let Some(due) = d.poll_timeout(&cfg).filter(|&due| due <= next) {
                now = now.max(due);
                d.handle_timeout(now, &cfg);
                while let Some(s) = d.poll_overdue(now, &cfg) {
                    let p: Instant = pushed_at[usize::try_from(s - 1).unwrap()];
                    let late = now.as_millis() - (p.as_millis() + deadline);
                    assert!(
                        now.as_millis() >= p.as_millis() + deadline,
                        "seed {seed}: {s} early"
                    );
                    assert!(late < 500, "seed {seed}: {s} {late} ms late");
                    assert!(s == last + 1 || last < d.acked(), "seed {seed}: order");
                    assert!(s > d.acked());
                    last = s;
                }
            }
            now = next;
            if uniform(&mut rng, 0, 2) == 0 && d.push(now, &cfg).is_ok() {
                pushed_at.push(now);
            }
            let _ = drain(&mut d, now, &cfg);
            if uniform(&mut rng, 0, 40) == 0 {
                let upto = uniform(&mut rng, d.acked(), d.highest_sent());
                assert_eq!(d.on_ack(now, upto, &cfg), Ok(()));
            }
        }
        assert!(last > 0, "seed {seed}: nothing was ever overdue");
    }
}

#[derive(Clone, Copy, Debug)]
enum Frame {
    Data(u64),
    Ack(u64),
    Resume(u64),
}

struct Peer {
    d: Delivery,
    pushed_at: Vec<Instant>,
    got: Vec<u64>,
    overdue: Vec<u64>,
}

/// Two machines over an ordered link that drops and duplicates frames and
/// reconnects (losing everything in transit).
struct Sim {
    rng: ChaCha8Rng,
    cfg: DeliveryConfig,
    now: Instant,
    peers: [Peer; 2],
    /// `links[i]`: frames travelling to peer `i`, with arrival times.
    links: [VecDeque<(Instant, Frame)>; 2],
    connected: bool,
    reconnect_at: Instant,
    lossy: bool,
}

impl Sim {
    fn chance(&mut self, percent: u64) -> bool {
        uniform(&mut self.rng, 0, 99) < percent
    }

    fn send(&mut self, to: usize, f: Frame) {
        if self.lossy && self.chance(5) {
            return;
        }
        let copies = if self.lossy && self.chance(5) { 2 } else { 1 };
        for _ in 0..copies {
            let lat = Duration::from_millis(uniform(&mut self.rng, 0, 150));
            let floor = self.links[to].back().map_or(Instant::ZERO, |(at, _)| *at);
            self.links[to].push_back(((self.now + lat).max(floor), f));
        }
    }

    fn step(&mut self, dt: u64, seed: u64) {
        let cfg = self.cfg;
        self.now = self.now + Duration::from_millis(dt);
        let now = self.now;
        for to in 0..2 {
            while self.links[to].front().is_some_and(|(at, _)| *at <= now) {
                let Some((_, f)) = self.links[to].pop_front() else {
                    break;
                };
                let p = &mut self.peers[to];
                match f {
                    Frame::Data(s) => {
                        if p.d.on_data(now, DataId::Seq(s), &cfg) == Verdict::Deliver {
                            p.got.push(s);
                        }
                    }
                    Frame::Ack(u) => assert_eq!(p.d.on_ack(now, u, &cfg), Ok(()), "seed {seed}"),
                    Frame::Resume(l) => {
                        assert_eq!(p.d.on_resume(now, l, &cfg), Ok(()), "seed {seed}")
                    }
                }
            }
        }
        for p in &mut self.peers {
            if p.d.poll_timeout(&cfg).is_some_and(|at| at <= now) {
                p.d.handle_timeout(now, &cfg);
            }
            while let Some(s) = p.d.poll_overdue(now, &cfg) {
                let pushed = p.pushed_at[usize::try_from(s - 1).unwrap()];
                assert!(
                    now >= pushed + cfg.delivery_deadline.unwrap(),
                    "seed {seed}: early"
                );
                assert!(
                    p.overdue.last().is_none_or(|&l| l < s) && s > p.d.acked(),
                    "seed {seed}"
                );
                p.overdue.push(s);
            }
        }
        if self.lossy {
            for i in 0..2 {
                if self.chance(30) {
                    for _ in 0..uniform(&mut self.rng, 1, 3) {
                        let p = &mut self.peers[i];
                        match p.d.push(now, &cfg) {
                            Ok(s) => {
                                assert_eq!(s as usize, p.pushed_at.len() + 1);
                                p.pushed_at.push(now);
                            }
                            Err(SendError::Full { cap }) => {
                                assert_eq!(p.d.queued(), u64::from(cap))
                            }
                        }
                    }
                }
            }
        }
        if self.connected && self.lossy && self.chance(2) {
            self.connected = false;
            self.reconnect_at = now + Duration::from_millis(uniform(&mut self.rng, 0, 2_000));
            self.links = [VecDeque::new(), VecDeque::new()];
            for p in &mut self.peers {
                p.d.on_close(&cfg);
            }
        }
        if !self.connected && now >= self.reconnect_at {
            self.connected = true;
            for i in 0..2 {
                if let Some(mark) = self.peers[i].d.on_open(now, &cfg) {
                    self.send(1 - i, Frame::Resume(mark));
                }
            }
        }
        if self.connected {
            for i in 0..2 {
                while let Some(s) = self.peers[i].d.poll_transmit(now, &cfg) {
                    self.send(1 - i, Frame::Data(s));
                }
                if let Some(u) = self.peers[i].d.poll_ack(now, &cfg) {
                    self.send(1 - i, Frame::Ack(u));
                }
            }
        }
        for p in &self.peers {
            let d = &p.d;
            assert!(
                d.acked() <= d.sent()
                    && d.sent() <= d.highest_sent()
                    && d.highest_sent() < d.next_seq()
            );
            assert!(d.queued() <= u64::from(cfg.max_queued));
            assert!(
                d.poll_timeout(&cfg).is_none_or(|at| at > now),
                "seed {seed}: stale deadline"
            );
        }
    }
}

#[test]
fn two_machines_over_a_lossy_link_deliver_everything_exactly_once_in_order() {
    let cfg = DeliveryConfig {
        acks: true,
        max_queued: 48,
        ack_timeout: Duration::from_millis(1_000),
        max_ack_timeout: Duration::from_secs(8),
        ack_delay: Duration::from_millis(100),
        ack_every: 8,
        delivery_deadline: Some(Duration::from_secs(6)),
        dedup_window: 16,
    };
    assert_eq!(cfg.validate(), Ok(()));
    let mut reported = 0;
    for seed in 0..300 {
        let peer = || Peer {
            d: Delivery::new(),
            pushed_at: Vec::new(),
            got: Vec::new(),
            overdue: Vec::new(),
        };
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(seed),
            cfg,
            now: t(1_000),
            peers: [peer(), peer()],
            links: [VecDeque::new(), VecDeque::new()],
            connected: false,
            reconnect_at: t(0),
            lossy: true,
        };
        for _ in 0..400 {
            let dt = uniform(&mut sim.rng, 1, 200);
            sim.step(dt, seed);
        }
        // Heal the link and let it settle.
        sim.lossy = false;
        for _ in 0..2_000 {
            sim.step(50, seed);
        }
        for p in &sim.peers {
            let n = p.pushed_at.len() as u64;
            assert!(n > 50, "seed {seed}: too little traffic ({n})");
            assert_eq!(p.d.queued(), 0, "seed {seed}");
            assert_eq!(p.d.acked(), n, "seed {seed}");
            reported += p.overdue.len();
        }
        for (i, p) in sim.peers.iter().enumerate() {
            let sent = sim.peers[1 - i].pushed_at.len() as u64;
            assert!(
                p.got.iter().copied().eq(1..=sent),
                "seed {seed}: peer {i} got {:?}",
                p.got
            );
        }
    }
    assert!(
        reported > 0,
        "the deadline never fired: the sim is too gentle"
    );
}
