//! An engine that shares its `Config` (`&'static Config`, `Arc<Config>`)
//! behaves exactly like one that owns a copy, and is smaller by the copy.

use std::borrow::Borrow;
use std::sync::{Arc, OnceLock};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::{Action, Config, Connection, DataId, Frame, Input, Instant};

/// Drives one engine through a session with a loss, a reconnect, traffic
/// both ways and a close, and returns every action in order.
fn trace<C: Borrow<Config>>(cfg: C) -> Vec<Action> {
    let mut e = Connection::new(cfg, ChaCha8Rng::seed_from_u64(7)).expect("valid");
    let mut out = Vec::new();
    let mut now = Instant::ZERO;
    let mut conn = None;
    let mut step = |e: &mut Connection<ChaCha8Rng, C>, now: Instant, input: Option<Input>| {
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
    for seq in 1..=5 {
        now = now.saturating_add(core::time::Duration::from_millis(40));
        e.send(now).expect("open");
        let frame = Frame::Data(DataId::Seq(seq));
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
    let owned = trace(Config::reliable());
    assert!(owned.len() > 20, "a real session: {owned:?}");
    let by_ref = trace(SHARED.get_or_init(Config::reliable));
    let by_arc = trace(Arc::new(Config::reliable()));
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
