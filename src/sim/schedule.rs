//! Schedules: everything a run depends on besides the engine config, drawn
//! from a seed or written by hand.

use core::fmt;
use std::vec::Vec;

use super::fault::{Dir, Dirs, Fault, LinkParams, Side};
use super::rng::SimRng;
use super::variant::Variant;

/// The mix of faults [`Schedule::random`] draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Mix {
    /// Heavy traffic, weighted towards faults that stress delivery (drops,
    /// duplicates, replays, resets, restarts, blackholes).
    Delivery,
    /// Light traffic, every lifecycle fault.
    Lifecycle,
}

/// Everything a run depends on besides the engine config.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Schedule {
    /// Seed of the run's own randomness (link jitter, engine rngs).
    pub seed: u64,
    /// Link timing.
    pub link: LinkParams,
    /// Faults, by start time (ms).
    pub faults: Vec<(u64, Fault)>,
    /// When the client app sends a message (ms).
    pub client_sends: Vec<u64>,
    /// When the server app sends a message (ms).
    pub server_sends: Vec<u64>,
    /// Every WebSocket connect fails with `InvalidUrl` (R1): the client must
    /// downgrade to HTTP and never dial WebSocket again.
    pub invalid_url: bool,
    /// Deliver late events for abandoned sockets (a late `onclose`, a late
    /// `onopen`, a late frame) to exercise the stale-generation path.
    pub late_events: bool,
    /// Faults and sends lie in `[0, horizon)` ms.
    pub horizon: u64,
    /// Engine knobs that differ from [`sim_config`](super::sim_config).
    pub variant: Variant,
}

impl Schedule {
    /// No faults, no traffic: a baseline to build on by hand.
    #[must_use]
    pub fn quiet(seed: u64) -> Self {
        Self {
            seed,
            link: LinkParams {
                base: 20,
                jitter: 10,
                handshake: 30,
            },
            faults: Vec::new(),
            client_sends: Vec::new(),
            server_sends: Vec::new(),
            invalid_url: false,
            late_events: false,
            horizon: 10_000,
            variant: Variant::default(),
        }
    }

    /// A schedule drawn from `seed`.
    #[must_use]
    pub fn random(seed: u64, mix: Mix) -> Self {
        let mut rng = SimRng::new(seed ^ 0x005E_ED0F_5C4E_D01E);
        let horizon = match mix {
            Mix::Delivery => rng.range(10_000, 40_000),
            Mix::Lifecycle => rng.range(10_000, 90_000),
        };
        let link = LinkParams {
            base: rng.range(1, 60),
            jitter: rng.range(0, 60),
            handshake: rng.range(0, 100),
        };
        let sends = |rng: &mut SimRng, max: u64| {
            let n = rng.range(0, max);
            let mut v: Vec<u64> = (0..n)
                .map(|_| rng.range(0, horizon.saturating_sub(1)))
                .collect();
            v.sort_unstable();
            v
        };
        let max_msgs = match mix {
            Mix::Delivery => 90,
            Mix::Lifecycle => 15,
        };
        let client_sends = sends(&mut rng, max_msgs);
        let server_sends = sends(&mut rng, max_msgs);
        let max_faults = match mix {
            Mix::Delivery => 8,
            Mix::Lifecycle => 10,
        };
        let mut faults: Vec<(u64, Fault)> = (0..rng.range(0, max_faults))
            .map(|_| {
                (
                    rng.range(0, horizon.saturating_sub(1)),
                    random_fault(&mut rng, mix),
                )
            })
            .collect();
        faults.sort_by_key(|(t, _)| *t);
        let invalid_url = rng.chance(match mix {
            Mix::Delivery => 20,
            Mix::Lifecycle => 40,
        });
        let late_events = rng.chance(500);
        Self {
            seed,
            link,
            faults,
            client_sends,
            server_sends,
            invalid_url,
            late_events,
            horizon,
            variant: Variant::random(&mut rng),
        }
    }

    /// Clamps every value into the range the random generator uses (at most
    /// 64 faults, 500 sends per side, 10 min horizon, 60 s per fault, 1 s of
    /// latency), so a schedule built from fuzzer bytes runs in bounded time.
    #[must_use]
    pub fn sanitize(mut self) -> Self {
        const MAX_SPAN: u64 = 60_000;
        self.horizon = self.horizon.clamp(1, 600_000);
        let horizon = self.horizon;
        self.link.base = self.link.base.min(1_000);
        self.link.jitter = self.link.jitter.min(1_000);
        self.link.handshake = self.link.handshake.min(1_000);
        self.faults.truncate(64);
        for (t, f) in &mut self.faults {
            *t = (*t).min(horizon);
            match f {
                Fault::Delay { extra, dur } => {
                    *extra = (*extra).min(MAX_SPAN);
                    *dur = (*dur).min(MAX_SPAN);
                }
                Fault::Blackhole { dur, .. }
                | Fault::ServerRestart { down: dur, .. }
                | Fault::NoHandshake { dur }
                | Fault::RejectUpgrade { dur, .. }
                | Fault::Flapping { dur }
                | Fault::Offline { dur, .. }
                | Fault::Freeze { dur, .. }
                | Fault::UserPause { dur, .. } => *dur = (*dur).min(MAX_SPAN),
                Fault::ServerClose { hint, .. } => *hint = hint.map(|h| h.min(MAX_SPAN)),
                Fault::ClockJump { delta, .. } => *delta = (*delta).clamp(-60_000, 60_000),
                Fault::Drop { .. }
                | Fault::Duplicate { .. }
                | Fault::Replay { .. }
                | Fault::Reset => {}
            }
            if let Fault::UserPause { code, .. } = f {
                if !crate::close::can_send(*code) {
                    *code = 1000;
                }
            }
            if let Fault::ServerClose { code, .. } = f {
                if !crate::close::can_send(*code) {
                    *code = 1000;
                }
            }
        }
        self.faults.sort_by_key(|(t, _)| *t);
        for sends in [&mut self.client_sends, &mut self.server_sends] {
            sends.truncate(500);
            for t in sends.iter_mut() {
                *t = (*t).min(horizon);
            }
            sends.sort_unstable();
        }
        self.variant = self.variant.sanitize();
        self
    }

    /// When the last fault has stopped having effects (at least the horizon).
    #[must_use]
    pub fn faults_over(&self) -> u64 {
        let max_latency = self.link.max_latency();
        self.faults
            .iter()
            .map(|(t, f)| t.saturating_add(f.span(max_latency)))
            .fold(self.horizon, u64::max)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} horizon {}ms link {:?} invalid_url {} late_events {} sends {}/{}",
            self.seed,
            self.horizon,
            self.link,
            self.invalid_url,
            self.late_events,
            self.client_sends.len(),
            self.server_sends.len()
        )?;
        writeln!(f, "  variant {}", self.variant)?;
        for (t, fault) in &self.faults {
            writeln!(f, "  @{t:>6}ms {fault}")?;
        }
        Ok(())
    }
}

fn random_dir(rng: &mut SimRng) -> Dir {
    if rng.chance(500) {
        Dir::ToServer
    } else {
        Dir::ToClient
    }
}

fn random_fault(rng: &mut SimRng, mix: Mix) -> Fault {
    // Weights per kind, in the order of the match below.
    let weights: [u64; 15] = match mix {
        Mix::Delivery => [20, 12, 12, 8, 10, 10, 8, 3, 3, 3, 4, 5, 3, 4, 4],
        Mix::Lifecycle => [6, 4, 4, 8, 12, 8, 10, 8, 6, 8, 10, 10, 8, 6, 8],
    };
    let total: u64 = weights.iter().sum();
    let mut pick = rng.range(0, total.saturating_sub(1));
    let mut kind = 0;
    for (i, w) in weights.iter().enumerate() {
        if pick < *w {
            kind = i;
            break;
        }
        pick = pick.saturating_sub(*w);
    }
    match kind {
        0 => Fault::Drop {
            dir: random_dir(rng),
        },
        1 => Fault::Duplicate {
            dir: random_dir(rng),
        },
        2 => Fault::Replay {
            dir: random_dir(rng),
        },
        3 => Fault::Delay {
            extra: rng.range(100, 3_000),
            dur: rng.range(100, 5_000),
        },
        4 => Fault::Blackhole {
            dur: rng.range(0, 8_000),
            dirs: match rng.range(0, 3) {
                0 => Dirs::One(Dir::ToServer),
                1 => Dirs::One(Dir::ToClient),
                _ => Dirs::Both,
            },
        },
        5 => Fault::Reset,
        6 => Fault::ServerRestart {
            down: if rng.chance(400) {
                0
            } else {
                rng.range(100, 10_000)
            },
            graceful: rng.chance(300),
        },
        7 => Fault::NoHandshake {
            dur: rng.range(500, 8_000),
        },
        8 => Fault::RejectUpgrade {
            dur: rng.range(500, 6_000),
            status: [403, 426, 502, 503]
                .get(rng.index(4))
                .copied()
                .unwrap_or(503),
        },
        9 => Fault::Flapping {
            dur: rng.range(1_000, 10_000),
        },
        10 => {
            const CODES: [u16; 10] = [1000, 1001, 1008, 1011, 1012, 1013, 1014, 4001, 4500, 3000];
            Fault::ServerClose {
                code: CODES.get(rng.index(CODES.len())).copied().unwrap_or(1006),
                hint: rng.chance(250).then(|| rng.range(100, 6_000)),
            }
        }
        11 => Fault::Offline {
            dur: rng.range(0, 8_000),
            net_down: rng.chance(600),
        },
        12 => Fault::ClockJump {
            side: if rng.chance(700) {
                Side::Client
            } else {
                Side::Server
            },
            delta: if rng.chance(500) {
                i64::try_from(rng.range(1, 5_000)).unwrap_or(0)
            } else {
                -i64::try_from(rng.range(1, 5_000)).unwrap_or(0)
            },
        },
        14 => Fault::Freeze {
            side: if rng.chance(600) {
                Side::Client
            } else {
                Side::Server
            },
            dur: rng.range(100, 8_000),
            timers_first: rng.chance(500),
        },
        _ => Fault::UserPause {
            dur: rng.range(0, 5_000),
            code: if rng.chance(700) { 1000 } else { 4001 },
        },
    }
}
