//! The `envelope` target: decode arbitrary bytes and compare with an
//! independent reference decoder; re-encode what decodes; round-trip
//! arbitrary envelopes.

use arbitrary::{Arbitrary, Unstructured};

use std::vec;

use super::{ensure, or_panic, Violation};
use crate::delivery::DataId;
use crate::envelope::{EncodeError, Envelope};
use crate::io::Frame;

/// A second, independent decoder written from the grammar in the module
/// docs (using the standard library's integer parser).
fn reference(data: &[u8]) -> Option<Envelope<'_>> {
    fn number(s: &[u8]) -> Option<u64> {
        let leading_zero = s.len() > 1 && s.first() == Some(&b'0');
        if s.is_empty() || leading_zero || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        core::str::from_utf8(s).ok()?.parse().ok()
    }
    let (&tag, rest) = data.split_first()?;
    Some(match tag {
        b'd' => {
            let space = rest.iter().position(|&b| b == b' ')?;
            let (head, tail) = rest.split_at(space);
            let payload = tail.get(1..)?;
            let seq = if head.is_empty() {
                None
            } else {
                Some(number(head)?)
            };
            Envelope::Data { seq, payload }
        }
        b'a' => Envelope::Ack {
            upto: number(rest)?,
        },
        b'r' => Envelope::Resume {
            last: number(rest)?,
        },
        b'p' => Envelope::Ping {
            nonce: number(rest)?,
        },
        b'q' => Envelope::Pong {
            nonce: number(rest)?,
        },
        _ => return None,
    })
}

/// Encodes `env` every way there is and checks the results agree.
fn encodes(env: &Envelope<'_>) -> Result<std::vec::Vec<u8>, Violation> {
    let len = env.encoded_len();
    let mut buf = vec![0u8; len];
    ensure!(
        env.encode(&mut buf) == Ok(len),
        "{env:?} did not encode into {len} bytes"
    );
    ensure!(env.to_vec() == buf, "{env:?}: to_vec differs from encode");
    let mut bigger = vec![0x55u8; len + 3];
    ensure!(
        env.encode(&mut bigger) == Ok(len)
            && bigger.get(..len) == Some(&buf[..])
            && bigger
                .get(len..)
                .is_some_and(|t| t.iter().all(|&b| b == 0x55)),
        "{env:?}: encode into a larger buffer wrote past the frame"
    );
    if len > 0 {
        let mut short = vec![0xAAu8; len - 1];
        let err = env.encode(&mut short);
        ensure!(
            err == Err(EncodeError::BufferTooSmall {
                needed: len,
                have: len - 1
            }) && short.iter().all(|&b| b == 0xAA),
            "{env:?}: a short buffer gave {err:?} or was written"
        );
    }
    Ok(buf)
}

/// The `envelope` target; `Err` on the first broken invariant.
///
/// # Errors
/// The violation.
pub fn try_run_envelope(data: &[u8]) -> Result<(), Violation> {
    let decoded = Envelope::decode(data);
    let expected = reference(data);
    ensure!(
        decoded.ok() == expected,
        "decode({data:?}) = {decoded:?}, reference decoder says {expected:?}"
    );
    match decoded {
        Ok(env) => {
            ensure!(
                env.encoded_len() == data.len(),
                "{env:?}: encoded_len != input length"
            );
            let bytes = encodes(&env)?;
            ensure!(bytes == data, "encode(decode(x)) != x for {data:?}");
            let frame = match env {
                Envelope::Data { seq: Some(s), .. } => Frame::Data(DataId::Seq(s)),
                Envelope::Data { seq: None, .. } => Frame::Data(DataId::None),
                Envelope::Ack { upto } => Frame::Ack { upto },
                Envelope::Resume { last } => Frame::Resume { last },
                Envelope::Ping { nonce } => Frame::Ping { nonce },
                Envelope::Pong { nonce } => Frame::Pong { nonce },
            };
            ensure!(env.frame() == frame, "{env:?}.frame() = {:?}", env.frame());
        }
        Err(e) => {
            ensure!(
                e.offset() <= data.len(),
                "{e:?} points past the input {data:?}"
            );
            ensure!(
                data.is_empty() == (e == crate::envelope::DecodeError::Empty),
                "{e:?} for {data:?}"
            );
        }
    }
    // Any envelope round-trips through its canonical bytes.
    if let Ok(env) = Envelope::arbitrary(&mut Unstructured::new(data)) {
        let bytes = encodes(&env)?;
        let back = Envelope::decode(&bytes);
        ensure!(back == Ok(env), "decode(encode({env:?})) = {back:?}");
    }
    Ok(())
}

/// The `envelope` target: panics on the first broken invariant.
pub fn run_envelope(data: &[u8]) {
    or_panic(try_run_envelope(data));
}
