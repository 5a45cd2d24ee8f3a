//! Setup shared by the benches: engines opened and ready, a drain loop, and
//! a tiny seeded generator.
#![allow(dead_code)]

use std::hint::black_box;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redial::{Action, Config, ConnId, Connection, Frame, Input, Instant};

pub type Engine = Connection<ChaCha8Rng>;

/// Drains every action; returns the last `Connect` generation and
/// `SendPing` nonce seen.
#[inline]
pub fn drain(e: &mut Engine) -> (Option<ConnId>, Option<u64>) {
    let (mut conn, mut nonce) = (None, None);
    while let Some(a) = e.poll_action() {
        match a {
            Action::Connect { conn: c, .. } => conn = Some(c),
            Action::SendPing { nonce: n, .. } => nonce = Some(n),
            other => {
                black_box(other);
            }
        }
    }
    (conn, nonce)
}

/// A client engine open on its first generation at `t = 0`; with acks on,
/// resumes are exchanged so it is ready to transmit.
pub fn open(config: Config) -> (Engine, ConnId) {
    let mut e = Connection::new(config, ChaCha8Rng::seed_from_u64(1)).expect("valid");
    let now = Instant::ZERO;
    e.handle(now, Input::Start).expect("start");
    let conn = drain(&mut e).0.expect("connects");
    e.handle(now, Input::Opened { conn }).expect("open");
    drain(&mut e);
    if config.delivery.acks {
        let frame = Frame::Resume { last: 0 };
        e.handle(now, Input::Message { conn, frame })
            .expect("resume");
        drain(&mut e);
    }
    (e, conn)
}

/// SplitMix64: 8 bytes of state, the same class of generator as backon's
/// fastrand, to separate a policy's cost from its rng's.
pub struct SplitMix(pub u64);

impl rand_core::TryRng for SplitMix {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.try_next_u64().map(|x| (x >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}
