//! The shapes of one engine behave alike: an engine that shares its
//! `Config` (`&'static Config`, `Arc<Config>`) behaves exactly like one that
//! owns a copy, and is smaller by the copy; an engine built without an
//! opaque-id window (`IDS = 0`) behaves exactly like the default one on
//! numbered messages, and is smaller by the window.

use std::borrow::Borrow;
use std::sync::{Arc, OnceLock};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::dedup::MAX_WINDOW;
use redial::{Action, Config, Connection, DataId, DiscardReason, Frame, Input, Instant, Role};

/// A client engine owning or sharing `cfg`, with the default id window.
fn client<C: Borrow<Config>>(cfg: C) -> Connection<ChaCha8Rng, C> {
    Connection::new(cfg, ChaCha8Rng::seed_from_u64(7)).expect("valid")
}

/// A client engine whose opaque-id window holds `IDS` ids.
fn client_with<const IDS: usize>(cfg: Config) -> Connection<ChaCha8Rng, Config, IDS> {
    Connection::with_role(cfg, ChaCha8Rng::seed_from_u64(7), Role::Client).expect("valid")
}

/// Drives one engine through a session with a loss, a reconnect, traffic
/// both ways (the inbound data labelled by `id_of(i)`) and a close, and
/// returns every action in order.
fn trace<C: Borrow<Config>, const IDS: usize>(
    mut e: Connection<ChaCha8Rng, C, IDS>,
    id_of: impl Fn(u64) -> DataId,
) -> Vec<Action> {
    let mut out = Vec::new();
    let mut now = Instant::ZERO;
    let mut conn = None;
    let mut step = |e: &mut Connection<ChaCha8Rng, C, IDS>, now: Instant, input: Option<Input>| {
        if let Some(input) = input {
            e.handle(now, input).expect("accepted");
        }
        while let Some(a) = e.poll_action() {
            if let Action::Connect { conn: c, .. } = a {
                conn = Some(c);
            }
            out.push(a);
        }
        conn
    };
    let c = step(&mut e, now, Some(Input::Start)).expect("dials");
    step(&mut e, now, Some(Input::Opened { conn: c }));
    for i in 1..=5 {
        now = now.saturating_add(core::time::Duration::from_millis(40));
        e.send(now).expect("open");
        let frame = Frame::Data(id_of(i));
        step(&mut e, now, Some(Input::Message { conn: c, frame }));
    }
    step(
        &mut e,
        now,
        Some(Input::Closed {
            conn: c,
            code: 1006,
        }),
    );
    // Wake at every deadline until the engine dials again.
    let mut c2 = c;
    for _ in 0..16 {
        let Some(at) = e.poll_timeout() else { break };
        now = at;
        c2 = step(&mut e, now, Some(Input::Timeout)).expect("dialled once");
        if c2 != c {
            break;
        }
    }
    assert_ne!(c2, c, "the engine reconnects after a 1006");
    step(&mut e, now, Some(Input::Opened { conn: c2 }));
    step(&mut e, now, Some(Input::Close { code: 1000 }));
    out
}

#[test]
fn shared_configs_give_the_same_trace_as_an_owned_one() {
    static SHARED: OnceLock<Config> = OnceLock::new();
    let owned = trace(client(Config::reliable()), DataId::Seq);
    assert!(owned.len() > 20, "a real session: {owned:?}");
    let by_ref = trace(client(SHARED.get_or_init(Config::reliable)), DataId::Seq);
    let by_arc = trace(client(Arc::new(Config::reliable())), DataId::Seq);
    assert_eq!(owned, by_ref);
    assert_eq!(owned, by_arc);
}

#[test]
fn a_shared_config_is_validated_like_an_owned_one() {
    let mut bad = Config::default();
    bad.connect_timeout = core::time::Duration::ZERO;
    let owned = Connection::new(bad, ChaCha8Rng::seed_from_u64(1)).err();
    let shared = Connection::new(Arc::new(bad), ChaCha8Rng::seed_from_u64(1)).err();
    assert!(owned.is_some());
    assert_eq!(owned, shared);
}

#[test]
fn sharing_saves_the_copy() {
    let owned = core::mem::size_of::<Connection<(), Config>>();
    let shared = core::mem::size_of::<Connection<(), &'static Config>>();
    let arc = core::mem::size_of::<Connection<(), Arc<Config>>>();
    assert_eq!(owned - shared, core::mem::size_of::<Config>() - 8);
    assert_eq!(shared, arc);
}

/// `Config::reliable()` with opaque-id deduplication off.
fn no_id_window() -> Config {
    let mut cfg = Config::reliable();
    cfg.delivery.dedup_window = 0;
    cfg
}

#[test]
fn without_an_id_window_numbered_messages_give_the_same_trace() {
    // Numbered messages never touch the id window: the default engine with
    // its default window, the default engine with dedup off, and an engine
    // built without a window all act alike.
    let default = trace(client(Config::reliable()), DataId::Seq);
    let dedup_off = trace(client(no_id_window()), DataId::Seq);
    let no_window = trace(client_with::<0>(no_id_window()), DataId::Seq);
    assert_eq!(default, dedup_off);
    assert_eq!(default, no_window);
}

#[test]
fn opaque_ids_are_deduplicated_within_the_window_and_not_at_all_without_one() {
    // Ids 1, 2, 1, 2, 1: the second and later sightings are duplicates.
    let id_of = |i: u64| DataId::Opaque(2 - i % 2);
    let verdicts = |actions: Vec<Action>| {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Deliver { id } => Some((id, None)),
                Action::Discard { id, reason } => Some((id, Some(reason))),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let dup = Some(DiscardReason::Duplicate);
    let (one, two) = (DataId::Opaque(1), DataId::Opaque(2));
    let windowed = verdicts(trace(client(Config::reliable()), id_of));
    assert_eq!(
        windowed,
        [(one, None), (two, None), (one, dup), (two, dup), (one, dup)]
    );
    // A window of 16 ids is enough for two ids.
    let mut small = Config::reliable();
    small.delivery.dedup_window = 16;
    assert_eq!(verdicts(trace(client_with::<16>(small), id_of)), windowed);
    // Without a window every opaque message is delivered (at least once),
    // whether the ring exists and is unused or does not exist.
    let every = [
        (one, None),
        (two, None),
        (one, None),
        (two, None),
        (one, None),
    ];
    assert_eq!(verdicts(trace(client(no_id_window()), id_of)), every);
    assert_eq!(
        verdicts(trace(client_with::<0>(no_id_window()), id_of)),
        every
    );
}

#[test]
fn a_window_larger_than_the_engine_holds_is_a_typed_error() {
    let rng = || ChaCha8Rng::seed_from_u64(1);
    // The default config remembers 128 ids: too many for 0 or 16 slots.
    let none: Result<Connection<_, _, 0>, _> =
        Connection::with_role(Config::reliable(), rng(), Role::Client);
    let small: Result<Connection<_, _, 16>, _> =
        Connection::with_role(Config::reliable(), rng(), Role::Server);
    for err in [none.err(), small.err()] {
        let err = err.expect("rejected");
        assert_eq!(err.field, "delivery.dedup_window");
        assert!(err.problem.contains("IDS"), "{err}");
    }
    // Every window up to the capacity is accepted.
    let mut cfg = Config::reliable();
    cfg.delivery.dedup_window = 16;
    assert!(Connection::<_, _, 16>::with_role(cfg, rng(), Role::Client).is_ok());
    cfg.delivery.dedup_window = MAX_WINDOW;
    assert!(Connection::new(cfg, rng()).is_ok());
}

#[test]
fn no_id_window_saves_the_ring() {
    let full = core::mem::size_of::<Connection<(), &'static Config>>();
    let none = core::mem::size_of::<Connection<(), &'static Config, 0>>();
    assert!(full - none >= 256 * 8, "{full} - {none}");
}
