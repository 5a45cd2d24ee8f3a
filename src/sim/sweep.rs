//! Running many seeded schedules, on several threads, and reporting.

use core::ops::Range;
use std::collections::BTreeMap;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::check::{Flow, Property, Violation};
use super::schedule::{Mix, Schedule};
use super::{run, Params};

/// Most failures a [`Sweep`] keeps in full.
pub const MAX_FAILURES: usize = 20;

/// One schedule that broke a property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Its seed (reproduce with `Schedule::random(seed, mix)`).
    pub seed: u64,
    /// The schedule itself.
    pub schedule: Schedule,
    /// What broke (only the properties the sweep was asked about).
    pub violations: Vec<Violation>,
}

/// What a sweep over many schedules found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Schedules run.
    pub schedules: u64,
    /// Client-to-server accounting, summed.
    pub to_server: Flow,
    /// Server-to-client accounting, summed.
    pub to_client: Flow,
    /// Schedules with at least one relevant violation.
    pub failed: u64,
    /// Relevant violations by property.
    pub by_property: BTreeMap<Property, u64>,
    /// The first failures (by seed), at most [`MAX_FAILURES`].
    pub failures: Vec<Failure>,
    /// World steps, summed.
    pub steps: u64,
    /// Client connects, summed.
    pub connects: u64,
    /// Heartbeat deaths, summed.
    pub dead_peers: u64,
    /// Longest heartbeat detection seen (ms from the last inbound frame).
    pub max_dead_detect: u64,
    /// Longest recovery after the faults ended (ms).
    pub max_recovery: u64,
}

impl Sweep {
    /// Messages accepted by both apps.
    #[must_use]
    pub fn messages(&self) -> u64 {
        self.to_server.sent.saturating_add(self.to_client.sent)
    }

    /// Relevant violations, summed.
    #[must_use]
    pub fn violations(&self) -> u64 {
        self.by_property.values().sum()
    }

    /// Both directions' accounting added up.
    #[must_use]
    pub fn total(&self) -> Flow {
        let mut f = self.to_server;
        f.absorb(&self.to_client);
        f
    }

    fn absorb(&mut self, other: Sweep) {
        self.schedules = self.schedules.saturating_add(other.schedules);
        self.to_server.absorb(&other.to_server);
        self.to_client.absorb(&other.to_client);
        self.failed = self.failed.saturating_add(other.failed);
        for (k, v) in other.by_property {
            let e = self.by_property.entry(k).or_default();
            *e = e.saturating_add(v);
        }
        self.failures.extend(other.failures);
        self.failures.sort_by_key(|f| f.seed);
        self.failures.truncate(MAX_FAILURES);
        self.steps = self.steps.saturating_add(other.steps);
        self.connects = self.connects.saturating_add(other.connects);
        self.dead_peers = self.dead_peers.saturating_add(other.dead_peers);
        self.max_dead_detect = self.max_dead_detect.max(other.max_dead_detect);
        self.max_recovery = self.max_recovery.max(other.max_recovery);
    }
}

/// Runs `Schedule::random(seed, mix)` for every seed in `seeds`, split over
/// `threads` threads, keeping the violations `relevant` selects.
#[must_use]
pub fn sweep(
    seeds: Range<u64>,
    mix: Mix,
    params: &Params,
    threads: usize,
    relevant: fn(Property) -> bool,
) -> Sweep {
    let threads = u64::try_from(threads.max(1)).unwrap_or(1);
    let mut total = Sweep::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let seeds = seeds.clone();
                scope.spawn(move || {
                    let mut part = Sweep::default();
                    let mut seed = seeds.start.saturating_add(k);
                    while seed < seeds.end {
                        part.absorb(one(seed, mix, params, relevant));
                        seed = seed.saturating_add(threads);
                    }
                    part
                })
            })
            .collect();
        for h in handles {
            if let Ok(part) = h.join() {
                total.absorb(part);
            }
        }
    });
    total
}

fn one(seed: u64, mix: Mix, params: &Params, relevant: fn(Property) -> bool) -> Sweep {
    let schedule = Schedule::random(seed, mix);
    let out = run(&schedule, params);
    let violations: Vec<Violation> = out
        .violations
        .into_iter()
        .filter(|v| relevant(v.property))
        .collect();
    let mut s = Sweep {
        schedules: 1,
        to_server: out.to_server,
        to_client: out.to_client,
        steps: out.stats.steps,
        connects: u64::from(out.stats.connects),
        dead_peers: u64::from(out.stats.dead_peers),
        max_dead_detect: out.stats.max_dead_detect,
        max_recovery: out.stats.recovery.unwrap_or(0),
        ..Sweep::default()
    };
    if !violations.is_empty() {
        s.failed = 1;
        for v in &violations {
            let e = s.by_property.entry(v.property).or_default();
            *e = e.saturating_add(1);
        }
        s.failures.push(Failure {
            seed,
            schedule,
            violations,
        });
    }
    s
}

/// A readable report of `failure`: the schedule, the violations and the last
/// `tail` lines of the trace of a re-run.
#[must_use]
pub fn explain(failure: &Failure, params: &Params, tail: usize) -> String {
    let traced = Params {
        trace: true,
        ..*params
    };
    let out = run(&failure.schedule, &traced);
    let mut text = format!("--- seed {} ---\n{}", failure.seed, failure.schedule);
    for v in &failure.violations {
        text.push_str(&format!("  VIOLATION {v}\n"));
    }
    // End the excerpt shortly after the first violation.
    let end = out
        .trace
        .iter()
        .position(|l| l.contains("VIOLATION"))
        .map_or(out.trace.len(), |i| {
            i.saturating_add(5).min(out.trace.len())
        });
    let start = end.saturating_sub(tail);
    for line in out.trace.get(start..end).unwrap_or_default() {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `REDIAL_SIM_SCHEDULES` if set and valid, else `default`.
#[must_use]
pub fn schedules_from_env(default: u64) -> u64 {
    std::env::var("REDIAL_SIM_SCHEDULES")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// `REDIAL_SIM_FIRST_SEED` if set and valid, else 0.
#[must_use]
pub fn first_seed_from_env() -> u64 {
    std::env::var("REDIAL_SIM_FIRST_SEED")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(0)
}

/// `REDIAL_SIM_THREADS` if set, else the machine's parallelism.
#[must_use]
pub fn threads_from_env() -> usize {
    std::env::var("REDIAL_SIM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}
