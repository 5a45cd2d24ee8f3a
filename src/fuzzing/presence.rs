//! The `presence` target: the presence table against a `BTreeMap` model.

use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use std::collections::BTreeMap;

use super::{ensure, or_panic, Violation};
use crate::presence::{Presence, PresenceConfig, PresenceFull, Transition};
use crate::time::Instant;

/// Ops per run.
pub const PRESENCE_OPS: usize = 128;

/// Ids the fuzzer picks by index (collisions and extremes are likely).
const POOL: [u64; 10] = [0, 1, 2, 3, 4, 5, 6, 7, u64::MAX, 1 << 63];

/// A client id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum Id {
    /// `POOL[n % 10]`.
    Pool(u8),
    /// Any id.
    Raw(u64),
}

impl Id {
    fn get(self) -> u64 {
        match self {
            Self::Pool(n) => POOL.get(usize::from(n) % POOL.len()).copied().unwrap_or(0),
            Self::Raw(x) => x,
        }
    }
}

/// A time step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum PStep {
    /// Milliseconds.
    Ms(u8),
    /// Whole thresholds.
    Thresholds(u8),
    /// Back in time (the table clamps).
    Back(u16),
    /// To `u64::MAX - n` ms.
    NearEnd(u16),
}

/// One operation on the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum PresenceOp {
    /// `heartbeat(id, now)`.
    Heartbeat(Id),
    /// `try_heartbeat(id, now)`.
    TryHeartbeat(Id),
    /// `heartbeat_many(&ids[..n % 20], now)` with `ids` = the `Id`, then
    /// `POOL[k % 10]` for each `k`. Since the read-ahead group grew to 32
    /// ids these batches fit in one group; batches across groups are
    /// covered by `presence::batch`'s differential unit test (up to 69 ids).
    /// The layout stays as it was so the committed corpus and regressions
    /// decode to the same operations.
    HeartbeatMany(Id, [u8; 19], u8),
    /// `remove(id)`.
    Remove(Id),
    /// `load(id, now - back_ms)`.
    Load(Id, u16),
    /// `poll_expired(now)` until `None`.
    Expire,
    /// One `poll_expired(now)`.
    PollOne,
    /// `restart(now)`.
    Restart,
    /// Move the driver's clock.
    Advance(PStep),
}

/// The table's setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub struct PresenceSetup {
    /// Threshold `1 + n % 200` ms.
    pub threshold: u8,
    /// Resolution `1 + n % threshold` ms.
    pub resolution: u8,
    /// Capacity `1 + n % 8` clients.
    pub max_clients: u8,
    /// Hash seed.
    pub seed: u64,
    /// Pre-sized for this many clients.
    pub capacity: u8,
}

#[derive(Clone, Copy, Debug)]
struct Rec {
    last: u64,
    inserted: u64,
}

/// The reference: last heartbeat per id, the restart epoch, the clock.
struct RefModel {
    thr: u64,
    res: u64,
    max: usize,
    latest: u64,
    epoch: u64,
    recs: BTreeMap<u64, Rec>,
    rejected: u64,
}

/// The table's last representable instant: later ones are clamped to it.
const LATEST: u64 = Presence::LATEST.as_millis();

impl RefModel {
    fn observe(&mut self, now: u64) -> u64 {
        self.latest = self.latest.max(now.min(LATEST));
        self.latest
    }

    /// Whether the tracked record `r` is online at `now`.
    fn online(&self, r: &Rec, now: u64) -> bool {
        now.min(LATEST)
            .max(self.latest)
            .saturating_sub(r.last.max(self.epoch))
            < self.thr
    }

    /// When a full drain must have reported `r` offline.
    fn must_expire_by(&self, r: &Rec) -> u64 {
        let expiry = r.last.max(self.epoch).saturating_add(self.thr);
        let tick = expiry
            .div_ceil(self.res)
            .max((r.inserted / self.res).saturating_add(1));
        tick.saturating_mul(self.res)
    }

    /// `Some(Online)` / `None` for a heartbeat, or `Err` when full.
    fn heartbeat(&mut self, id: u64, now: u64) -> Result<Option<Transition>, PresenceFull> {
        let now = self.observe(now);
        self.upsert(id, now, now)
            .map(|new| new.then_some(Transition::Online { id }))
    }

    fn upsert(&mut self, id: u64, last: u64, at: u64) -> Result<bool, PresenceFull> {
        if let Some(r) = self.recs.get_mut(&id) {
            r.last = r.last.max(last);
            return Ok(false);
        }
        if self.recs.len() >= self.max {
            self.rejected += 1;
            return Err(PresenceFull {
                max_clients: u32::try_from(self.max).unwrap_or(u32::MAX),
            });
        }
        self.recs.insert(id, Rec { last, inserted: at });
        Ok(true)
    }
}

/// Compares the table with the model for every tracked id and `ids`.
fn check(
    p: &Presence,
    m: &RefModel,
    now: u64,
    op: &PresenceOp,
    ids: &[u64],
) -> Result<(), Violation> {
    ensure!(
        p.len() == m.recs.len(),
        "len {} != model {} after {op:?}",
        p.len(),
        m.recs.len()
    );
    ensure!(
        p.is_empty() == m.recs.is_empty(),
        "is_empty wrong after {op:?}"
    );
    ensure!(
        p.rejected() == m.rejected,
        "rejected {} != model {} after {op:?}",
        p.rejected(),
        m.rejected
    );
    let t = Instant::from_millis(now);
    // Every tracked id (one pass over the model, its record at hand), then
    // each of `ids` the model does not track (a tracked one was just
    // checked, on the same unchanged table).
    let tracked = m.recs.iter().map(|(&id, r)| (id, Some(r)));
    let untracked = ids
        .iter()
        .filter(|id| !m.recs.contains_key(id))
        .map(|&id| (id, None));
    for (id, rec) in tracked.chain(untracked) {
        let last = rec.map(|r| Instant::from_millis(r.last));
        ensure!(
            p.last_seen(id) == last,
            "last_seen({id}) {:?} != model {last:?} after {op:?}",
            p.last_seen(id)
        );
        let online = rec.is_some_and(|r| m.online(r, now));
        ensure!(
            p.is_online(id, t) == online,
            "is_online({id}, {now}) wrong after {op:?}"
        );
        let confirmed = rec.is_some_and(|r| r.last >= m.epoch);
        ensure!(
            p.is_confirmed(id) == confirmed,
            "is_confirmed({id}) wrong after {op:?}"
        );
    }
    let pt = p.poll_timeout();
    ensure!(
        pt.is_none_or(|x| x.as_millis() >= m.latest),
        "poll_timeout {pt:?} before latest {} after {op:?}",
        m.latest
    );
    if let Some(due) = m.recs.values().map(|r| m.must_expire_by(r)).min() {
        ensure!(
            pt.is_some_and(|x| x.as_millis() <= due.max(m.latest)),
            "poll_timeout {pt:?} later than a due expiry at {due} after {op:?}"
        );
    }
    Ok(())
}

/// The ids of a `HeartbeatMany`.
fn batch(first: Id, rest: &[u8; 19], n: u8) -> std::vec::Vec<u64> {
    let pool = rest.iter().map(|&k| Id::Pool(k).get());
    core::iter::once(first.get())
        .chain(pool)
        .take(usize::from(n % 20))
        .collect()
}

/// One `poll_expired`: an `Offline` must match an expired model record.
fn poll_one(p: &mut Presence, m: &mut RefModel, now: u64) -> Result<bool, Violation> {
    match p.poll_expired(Instant::from_millis(now)) {
        None => {
            m.observe(now);
            Ok(false)
        }
        Some(Transition::Offline { id, last_seen }) => {
            let now = m.observe(now);
            let rec = m.recs.get(&id).copied();
            let eligible = rec.is_some_and(|r| now.saturating_sub(r.last.max(m.epoch)) >= m.thr);
            ensure!(
                eligible,
                "Offline({id}) at {now} but the model has {rec:?} (epoch {})",
                m.epoch
            );
            let last = rec.map(|r| r.last);
            ensure!(
                last == Some(last_seen.as_millis()),
                "Offline({id}) last_seen {last_seen} != {last:?}"
            );
            m.recs.remove(&id);
            Ok(true)
        }
        Some(other) => Err(Violation::new(std::format!(
            "poll_expired yielded {other:?}"
        ))),
    }
}

/// The `presence` target; `Err` on the first broken invariant.
///
/// # Errors
/// The violation.
pub fn try_run_presence(data: &[u8]) -> Result<(), Violation> {
    check_presence(data, super::Strict::from_env())
}

/// [`try_run_presence`] with the strictness given explicitly.
///
/// # Errors
/// The violation.
pub fn check_presence(data: &[u8], strict: super::Strict) -> Result<(), Violation> {
    let mut u = Unstructured::new(data);
    let Ok(s) = PresenceSetup::arbitrary(&mut u) else {
        return Ok(());
    };
    let thr = 1 + u64::from(s.threshold % 200);
    let res = 1 + u64::from(s.resolution) % thr;
    let cfg = PresenceConfig {
        threshold: Duration::from_millis(thr),
        resolution: Duration::from_millis(res),
        max_clients: 1 + u32::from(s.max_clients % 8),
    };
    let mut p = Presence::with_capacity_and_seed(cfg, usize::from(s.capacity), s.seed)
        .map_err(|e| Violation::new(std::format!("setup rejected: {e}")))?;
    let mut m = RefModel {
        thr,
        res,
        max: cfg.max_clients as usize,
        latest: 0,
        epoch: 0,
        recs: BTreeMap::new(),
        rejected: 0,
    };
    let mut now = 0u64;
    for _ in 0..PRESENCE_OPS {
        // Stop where the input ends: past it `arbitrary` decodes zeros,
        // i.e. `Heartbeat(Pool(0))` over and over.
        if u.is_empty() {
            break;
        }
        let Ok(op) = PresenceOp::arbitrary(&mut u) else {
            break;
        };
        match op {
            PresenceOp::Heartbeat(id) => {
                let id = id.get();
                let got = p.heartbeat(id, Instant::from_millis(now));
                let want = m.heartbeat(id, now).unwrap_or(None);
                ensure!(
                    got == want,
                    "heartbeat({id}, {now}) = {got:?}, model {want:?}"
                );
            }
            PresenceOp::HeartbeatMany(first, rest, n) => {
                let ids = batch(first, &rest, n);
                let mut got = std::vec::Vec::new();
                p.heartbeat_many(&ids, Instant::from_millis(now), |t| got.push(t));
                let want: std::vec::Vec<_> = ids
                    .iter()
                    .filter_map(|&id| m.heartbeat(id, now).unwrap_or(None))
                    .collect();
                ensure!(
                    got == want,
                    "heartbeat_many({ids:?}, {now}) = {got:?}, model {want:?}"
                );
            }
            PresenceOp::TryHeartbeat(id) => {
                let id = id.get();
                let got = p.try_heartbeat(id, Instant::from_millis(now));
                let want = m.heartbeat(id, now);
                ensure!(
                    got == want,
                    "try_heartbeat({id}, {now}) = {got:?}, model {want:?}"
                );
            }
            PresenceOp::Remove(id) => {
                let id = id.get();
                let got = p.remove(id);
                let want = m.recs.remove(&id).is_some();
                ensure!(got == want, "remove({id}) = {got}, model {want}");
            }
            PresenceOp::Load(id, back) => {
                let id = id.get();
                let at = now.saturating_sub(u64::from(back));
                let got = p.load(id, Instant::from_millis(at));
                let latest = m.latest;
                let want = m.upsert(id, at.min(latest), latest).map(drop);
                ensure!(got == want, "load({id}, {at}) = {got:?}, model {want:?}");
            }
            PresenceOp::Expire => {
                let mut n = 0;
                while poll_one(&mut p, &mut m, now)? {
                    n += 1;
                    ensure!(n <= PRESENCE_OPS, "poll_expired never returns None");
                }
                let t = m.latest;
                // Known (finding F3): a record inserted when the clock is
                // at the table's last instant itself may never be swept.
                let f3 = !strict.has(super::Strict::F3) && t >= LATEST;
                let late: std::vec::Vec<_> = m
                    .recs
                    .iter()
                    .filter(|(_, r)| t >= m.must_expire_by(r) && !m.online(r, t))
                    .collect();
                ensure!(
                    late.is_empty() || f3,
                    "not reported offline by {t}: {late:?} (epoch {})",
                    m.epoch
                );
            }
            PresenceOp::PollOne => {
                let _ = poll_one(&mut p, &mut m, now)?;
            }
            PresenceOp::Restart => {
                p.restart(Instant::from_millis(now));
                let now = m.observe(now);
                m.epoch = m.epoch.max(now);
            }
            PresenceOp::Advance(step) => {
                now = match step {
                    PStep::Ms(n) => now.saturating_add(u64::from(n)),
                    PStep::Thresholds(n) => now.saturating_add(thr.saturating_mul(u64::from(n))),
                    PStep::Back(n) => now.saturating_sub(u64::from(n)),
                    PStep::NearEnd(n) => u64::MAX - u64::from(n),
                };
            }
        }
        let ids = match op {
            PresenceOp::Heartbeat(id)
            | PresenceOp::TryHeartbeat(id)
            | PresenceOp::Remove(id)
            | PresenceOp::Load(id, _) => std::vec![id.get()],
            PresenceOp::HeartbeatMany(first, rest, n) => batch(first, &rest, n),
            _ => std::vec::Vec::new(),
        };
        check(&p, &m, now, &op, &ids)?;
    }
    check(&p, &m, now, &PresenceOp::Expire, &POOL)
}

/// The `presence` target: panics on the first broken invariant.
pub fn run_presence(data: &[u8]) {
    or_panic(try_run_presence(data));
}
