//! `size_of` the engine and its parts, printed (`cargo test --test sizes --
//! --nocapture`) and held to the budgets documented in BENCHMARKS.md, so a
//! change that grows the engine has to update both on purpose.
//!
//! Budgets are the sizes measured on x86_64 (64-bit targets) when they were
//! written, not the aim: the aim is an engine of at most 256 bytes plus its
//! fixed windows (the opaque-id window, 2 KiB by default, the 16-slot action
//! queue and the 16-run overdue ring), and BENCHMARKS.md says why the engine
//! is above it and what would shrink it.

use core::mem::size_of;

use redial::backoff::Backoff;
use redial::dedup::DedupWindow;
use redial::delivery::Delivery;
use redial::fallback::Fallback;
use redial::heartbeat::{Heartbeat, RttStats};
use redial::{
    Action, Admission, ClosePolicy, Config, Connection, DeliveryConfig, FallbackConfig,
    HeartbeatConfig, Input, ReconnectConfig, State, Stats,
};

/// The engine without its rng (the driver chooses it: ChaCha8Rng adds 304 B,
/// a SplitMix64 8 B).
type Engine = Connection<()>;
/// The same engine holding its config by reference (`&'static Config`;
/// `Arc<Config>` is the same size), as a server with many sessions would.
type SharedEngine = Connection<(), &'static Config>;
/// The shared-config engine built without an opaque-id window (`IDS = 0`),
/// for peers that number their messages.
type SeqOnlyEngine = Connection<(), &'static Config, 0>;

/// Slots of the action queue (`queue::CAPACITY`, private) and its two
/// `usize` cursors.
const QUEUE_SLOTS: usize = 16;
const QUEUE: usize = QUEUE_SLOTS * size_of::<Action>() + 2 * size_of::<usize>();
/// What the engine stores of its [`Stats`]: the counters; `rtt` is read
/// from the heartbeat machine when the app asks.
const COUNTERS: usize = size_of::<Stats>() - size_of::<Option<RttStats>>();
/// The overdue checkpoint ring inside `Delivery`: 16 runs of (u64 seq,
/// `Instant`) plus its cursors (`delivery::overdue::CHECKPOINTS`, private).
const OVERDUE_RING: usize = 16 * 16 + 16;
/// The aim for everything but the fixed windows.
const AIM_WITHOUT_WINDOWS: usize = 256;

/// (part, measured, budget). `budget` = the documented size.
fn parts() -> Vec<(&'static str, usize, usize)> {
    vec![
        ("Connection (engine, no rng)", size_of::<Engine>(), 4_000),
        (
            "Connection sharing its Config (&/Arc)",
            size_of::<SharedEngine>(),
            3_240,
        ),
        (
            "Connection sharing its Config, no id window",
            size_of::<SeqOnlyEngine>(),
            1_192,
        ),
        (
            "  Config (copied into every engine)",
            size_of::<Config>(),
            768,
        ),
        (
            "    ClosePolicy (8 override rules)",
            size_of::<ClosePolicy>(),
            368,
        ),
        ("    ReconnectConfig", size_of::<ReconnectConfig>(), 128),
        ("    HeartbeatConfig", size_of::<HeartbeatConfig>(), 88),
        ("    DeliveryConfig", size_of::<DeliveryConfig>(), 80),
        ("    FallbackConfig", size_of::<FallbackConfig>(), 32),
        ("  Delivery", size_of::<Delivery>(), 2_432),
        (
            "    DedupWindow (fixed: 256 opaque ids)",
            size_of::<DedupWindow>(),
            2_056,
        ),
        ("  action queue (fixed: 16 slots)", QUEUE, 528),
        ("  counters (Stats without rtt)", COUNTERS, 48),
        (
            "  Heartbeat (incl. RTT estimator)",
            size_of::<Heartbeat>(),
            64,
        ),
        ("  Backoff", size_of::<Backoff>(), 32),
        ("  Fallback", size_of::<Fallback>(), 16),
        ("Action", size_of::<Action>(), 32),
        ("Input", size_of::<Input>(), 24),
        ("State", size_of::<State>(), 24),
        ("Admission (server side)", size_of::<Admission>(), 72),
        ("Stats (what `stats()` returns)", size_of::<Stats>(), 120),
    ]
}

#[test]
fn sizes_stay_within_their_budgets() {
    let parts = parts();
    println!("{:<44} {:>8} {:>8}", "part", "bytes", "budget");
    for (name, size, budget) in &parts {
        println!("{name:<44} {size:>8} {budget:>8}");
    }
    let engine = size_of::<Engine>();
    let windows = size_of::<DedupWindow>() + QUEUE;
    let rest = engine - windows;
    println!(
        "engine without its fixed windows: {rest} B (aim {AIM_WITHOUT_WINDOWS} B, {} B over)",
        rest.saturating_sub(AIM_WITHOUT_WINDOWS)
    );
    let shared_rest = size_of::<SharedEngine>() - windows;
    println!(
        "sharing its config, without its fixed windows: {shared_rest} B ({} B over the aim)",
        shared_rest.saturating_sub(AIM_WITHOUT_WINDOWS)
    );
    // The leanest engine: shared config, no id window (its two cursors,
    // 8 B, count as the window), and the overdue ring counted as the fixed
    // window it is.
    let lean_rest = size_of::<SeqOnlyEngine>() - QUEUE - OVERDUE_RING - 8;
    println!(
        "sharing its config, no id window, without queue and overdue ring: {lean_rest} B ({} B over the aim)",
        lean_rest.saturating_sub(AIM_WITHOUT_WINDOWS)
    );
    if cfg!(target_pointer_width = "64") {
        assert!(lean_rest <= 384, "lean engine grew: {lean_rest} B");
    }
    if cfg!(target_pointer_width = "64") {
        for (name, size, budget) in &parts {
            assert!(size <= budget, "{name}: {size} B > budget {budget} B");
        }
    }
    // Whatever the target: the named parts account for the engine, with a
    // small remainder (phase, clock, generation, flags, pending hint,
    // standing reconnect window and the timer last announced).
    let named = [
        size_of::<Config>(),
        size_of::<Delivery>(),
        QUEUE,
        COUNTERS,
        size_of::<Heartbeat>(),
        size_of::<Backoff>(),
        size_of::<Fallback>(),
    ]
    .iter()
    .sum::<usize>();
    assert!(
        named <= engine && engine - named <= 120,
        "{engine} vs {named}"
    );
}

#[test]
fn the_fixed_windows_are_what_the_docs_say() {
    // 256 ids of 8 bytes (+ cursors): the "2 KB opaque-id window".
    assert!(size_of::<DedupWindow>() >= 256 * 8);
    assert!(size_of::<DedupWindow>() <= 256 * 8 + 16);
    // Actions are small Copy values, so the 16-slot queue stays ~0.5 KiB.
    assert!(size_of::<Action>() <= 32);
    // A deadline, armed or not, is one word (the `Instant` niche).
    assert_eq!(size_of::<Option<redial::Instant>>(), 8);
    const { assert!(QUEUE <= 16 * 32 + 16) };
}
