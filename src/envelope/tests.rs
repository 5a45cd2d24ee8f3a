extern crate std;

use super::*;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use DecodeError as E;
use Envelope::{Ack, Data, Ping, Pong, Resume};

/// Encode into a right-sized vector without the `alloc` feature.
fn enc(e: &Envelope<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; e.encoded_len()];
    let n = e
        .encode(&mut buf)
        .expect("a right-sized buffer always fits");
    assert_eq!(n, buf.len());
    buf
}

/// Decoding then re-encoding must give back the input, byte for byte.
fn assert_canonical(input: &[u8]) -> bool {
    match Envelope::decode(input) {
        Ok(e) => {
            assert_eq!(e.encoded_len(), input.len(), "{input:?}");
            assert_eq!(enc(&e), input, "{input:?} decoded to {e:?}");
            true
        }
        Err(err) => {
            assert!(err.offset() <= input.len(), "{input:?}: {err:?}");
            false
        }
    }
}

#[test]
fn documented_examples_decode_and_encode() {
    let cases: &[(&[u8], Envelope<'_>)] = &[
        (
            b"d42 hello",
            Data {
                seq: Some(42),
                payload: b"hello",
            },
        ),
        (
            b"d hello",
            Data {
                seq: None,
                payload: b"hello",
            },
        ),
        (
            b"d7 ",
            Data {
                seq: Some(7),
                payload: b"",
            },
        ),
        (
            b"d ",
            Data {
                seq: None,
                payload: b"",
            },
        ),
        (
            b"d  x",
            Data {
                seq: None,
                payload: b" x",
            },
        ),
        (
            b"d0 \x00\xff\n",
            Data {
                seq: Some(0),
                payload: b"\x00\xff\n",
            },
        ),
        (
            b"d1 d2 a3",
            Data {
                seq: Some(1),
                payload: b"d2 a3",
            },
        ),
        (b"a42", Ack { upto: 42 }),
        (b"r0", Resume { last: 0 }),
        (b"p18446744073709551615", Ping { nonce: u64::MAX }),
        (b"q9", Pong { nonce: 9 }),
    ];
    for &(bytes, want) in cases {
        assert_eq!(Envelope::decode(bytes), Ok(want), "{bytes:?}");
        assert_eq!(enc(&want), bytes);
        assert_eq!(want.encoded_len(), bytes.len());
    }
}

#[test]
fn every_error_variant_with_its_offset() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b"", E::Empty),
        (b"x1", E::UnknownTag { tag: b'x' }),
        (b"{\"a\":1}", E::UnknownTag { tag: b'{' }),
        (b"D1 x", E::UnknownTag { tag: b'D' }),
        (b"A1", E::UnknownTag { tag: b'A' }),
        (b" a1", E::UnknownTag { tag: b' ' }),
        (b"\xffa", E::UnknownTag { tag: 0xff }),
        (b"a", E::MissingNumber { at: 1 }),
        (b"r", E::MissingNumber { at: 1 }),
        (b"p", E::MissingNumber { at: 1 }),
        (b"q", E::MissingNumber { at: 1 }),
        (b"a-1", E::BadDigit { at: 1 }),
        (b"r+1", E::BadDigit { at: 1 }),
        (b"a 1", E::BadDigit { at: 1 }),
        (b"qx", E::BadDigit { at: 1 }),
        (b"dx y", E::BadDigit { at: 1 }),
        (b"d+1 y", E::BadDigit { at: 1 }),
        (b"a\xd9\xa1", E::BadDigit { at: 1 }), // Arabic-Indic one: ASCII digits only
        (b"a007", E::LeadingZero { at: 1 }),
        (b"a00", E::LeadingZero { at: 1 }),
        (b"d01 x", E::LeadingZero { at: 1 }),
        (b"a18446744073709551616", E::Overflow { at: 20 }),
        (b"d99999999999999999999 x", E::Overflow { at: 20 }),
        // 12345678901234567890 still fits; the 21st digit overflows.
        (b"p123456789012345678901234", E::Overflow { at: 21 }),
        (b"a42 ", E::TrailingBytes { at: 3 }),
        (b"a42x", E::TrailingBytes { at: 3 }),
        (b"p1\n", E::TrailingBytes { at: 2 }),
        (b"r0 ", E::TrailingBytes { at: 2 }),
        (b"q18446744073709551615 ", E::TrailingBytes { at: 21 }),
        (b"d", E::MissingSeparator { at: 1 }),
        (b"d42", E::MissingSeparator { at: 3 }),
        (b"d42x y", E::MissingSeparator { at: 3 }),
        (b"d0x", E::MissingSeparator { at: 2 }),
        (b"d18446744073709551615", E::MissingSeparator { at: 21 }),
    ];
    for &(bytes, want) in cases {
        assert_eq!(Envelope::decode(bytes), Err(want), "{bytes:?}");
        assert!(want.offset() <= bytes.len());
    }
}

#[test]
fn errors_display_what_and_where() {
    assert_eq!(E::Empty.to_string(), "empty frame");
    assert_eq!(
        E::UnknownTag { tag: b'x' }.to_string(),
        "unknown frame tag 0x78 at byte 0"
    );
    assert_eq!(
        E::Overflow { at: 20 }.to_string(),
        "number overflows u64 at byte 20"
    );
    assert_eq!(
        E::MissingSeparator { at: 3 }.to_string(),
        "expected ' ' before the payload at byte 3"
    );
    assert_eq!(E::UnknownTag { tag: 0 }.offset(), 0);
    assert_eq!(E::TrailingBytes { at: 7 }.offset(), 7);
    let small = EncodeError::BufferTooSmall { needed: 9, have: 4 };
    assert_eq!(
        small.to_string(),
        "buffer too small: frame needs 9 bytes, buffer has 4"
    );
}

#[test]
fn number_limits() {
    for (n, text) in [
        (0u64, "0"),
        (9, "9"),
        (10, "10"),
        (u64::MAX - 1, "18446744073709551614"),
        (u64::MAX, "18446744073709551615"),
    ] {
        let frame = std::format!("a{text}");
        assert_eq!(Envelope::decode(frame.as_bytes()), Ok(Ack { upto: n }));
        assert_eq!(digit_count(n), text.len());
        assert_eq!(Digits::new(n).as_bytes(), text.as_bytes());
    }
    let e = Data {
        seq: Some(u64::MAX),
        payload: b"",
    };
    assert_eq!(e.encoded_len(), MAX_HEADER_LEN);
}

#[test]
fn encode_checks_the_buffer_and_touches_nothing_else() {
    let e = Data {
        seq: Some(42),
        payload: b"hello",
    };
    assert_eq!(e.encoded_len(), 9);

    let mut short = [0xAAu8; 8];
    assert_eq!(
        e.encode(&mut short),
        Err(EncodeError::BufferTooSmall { needed: 9, have: 8 })
    );
    assert_eq!(short, [0xAA; 8], "a failed encode leaves the buffer alone");

    let mut long = [0xAAu8; 12];
    assert_eq!(e.encode(&mut long), Ok(9));
    assert_eq!(&long, b"d42 hello\xAA\xAA\xAA");

    let mut empty: [u8; 0] = [];
    assert_eq!(
        Ack { upto: 0 }.encode(&mut empty),
        Err(EncodeError::BufferTooSmall { needed: 2, have: 0 })
    );
}

/// Append a random decimal number of random magnitude.
fn push_number(rng: &mut ChaCha8Rng, out: &mut Vec<u8>) {
    let n = match rng.next_u32() % 4 {
        0 => u64::from(rng.next_u32() % 20),
        1 => u64::MAX - u64::from(rng.next_u32() % 3),
        _ => rng.next_u64() >> (rng.next_u32() % 64),
    };
    out.extend_from_slice(n.to_string().as_bytes());
}

/// A string that is often a valid frame and often almost one.
fn valid_ish(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let tags = b"dddddarpqxD{";
    let tag = tags[rng.next_u32() as usize % tags.len()];
    out.push(tag);
    match rng.next_u32() % 10 {
        0..=5 => push_number(rng, &mut out),
        6 => {}
        7 => out.extend_from_slice(b"0"),
        8 => {
            let bad: [&[u8]; 6] = [b"007", b"-1", b"+1", b"18446744073709551616", b"1x", b" "];
            out.extend_from_slice(bad[rng.next_u32() as usize % bad.len()]);
        }
        _ => out.extend_from_slice(b"99999999999999999999999"),
    }
    // Data frames need a separator and a payload; control frames usually
    // end at the number, but sometimes get the same tail to be rejected.
    if tag == b'd' || rng.next_u32() % 4 == 0 {
        match rng.next_u32() % 6 {
            0..=2 => out.push(b' '),
            3 => out.extend_from_slice(b"  "),
            4 => out.push(b'x'),
            _ => {}
        }
        for _ in 0..rng.next_u32() % 8 {
            out.push(rng.next_u32() as u8);
        }
    }
    // Occasionally corrupt one byte or cut the frame short.
    if rng.next_u32() % 8 == 0 {
        let i = rng.next_u32() as usize % out.len();
        out[i] = rng.next_u32() as u8;
    }
    if rng.next_u32() % 8 == 0 {
        out.truncate(rng.next_u32() as usize % (out.len() + 1));
    }
    out
}

#[test]
fn decode_then_encode_is_identity_on_generated_inputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(0xE9E1);
    let mut valid = 0u32;
    for _ in 0..50_000 {
        let input = valid_ish(&mut rng);
        valid += u32::from(assert_canonical(&input));
    }
    // The generator must exercise the success path, not just the errors.
    assert!(valid > 10_000, "only {valid} of 50000 inputs were valid");
    // Uniformly random bytes: mostly rejected, never a panic, and whatever
    // happens to decode is still canonical.
    for _ in 0..50_000 {
        let mut input = vec![0u8; rng.next_u32() as usize % 24];
        rng.fill_bytes(&mut input);
        assert_canonical(&input);
    }
}

#[test]
fn decode_then_encode_is_identity_on_all_short_strings() {
    // Every string of length <= 5 over an alphabet that covers all branches.
    let alphabet = b"darpq019 x-";
    let mut valid = 0;
    let mut input = Vec::new();
    for len in 0..=5u32 {
        for mut code in 0..(alphabet.len() as u32).pow(len) {
            input.clear();
            for _ in 0..len {
                input.push(alphabet[(code % alphabet.len() as u32) as usize]);
                code /= alphabet.len() as u32;
            }
            valid += u32::from(assert_canonical(&input));
        }
    }
    assert!(valid > 1_000, "{valid}");
}

fn random_envelope<'p>(rng: &mut ChaCha8Rng, payload: &'p [u8]) -> Envelope<'p> {
    let n = rng.next_u64() >> (rng.next_u32() % 65).min(63);
    match rng.next_u32() % 6 {
        0 => Data { seq: None, payload },
        1 => Data {
            seq: Some(n),
            payload,
        },
        2 => Ack { upto: n },
        3 => Resume { last: n },
        4 => Ping { nonce: n },
        _ => Pong { nonce: n },
    }
}

#[test]
fn encode_then_decode_is_identity() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut payload = [0u8; 40];
    for _ in 0..20_000 {
        let len = rng.next_u32() as usize % payload.len();
        rng.fill_bytes(&mut payload[..len]);
        let e = random_envelope(&mut rng, &payload[..len]);
        let bytes = enc(&e);
        let header = match e {
            Data { payload, .. } => bytes.len() - payload.len(),
            _ => bytes.len(),
        };
        assert!(header <= MAX_HEADER_LEN);
        assert!(bytes[..header].is_ascii(), "{bytes:?}");
        assert_eq!(Envelope::decode(&bytes), Ok(e));
    }
}

#[test]
fn utf8_payload_stays_utf8() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let chars = [
        'a',
        ' ',
        'é',
        'ж',
        '中',
        '😀',
        '\n',
        '0',
        'd',
        '\u{0}',
        '\u{10FFFF}',
    ];
    for _ in 0..5_000 {
        let text: String = (0..rng.next_u32() % 12)
            .map(|_| chars[rng.next_u32() as usize % chars.len()])
            .collect();
        let e = random_envelope(&mut rng, text.as_bytes());
        let frame = String::from_utf8(enc(&e)).expect("ASCII header + UTF-8 payload");
        // As a text frame: the decoded payload is the same valid UTF-8 string.
        match Envelope::decode(frame.as_bytes()) {
            Ok(Data { payload, .. }) => assert_eq!(core::str::from_utf8(payload), Ok(&*text)),
            Ok(other) => assert_eq!(other, e),
            Err(err) => panic!("{frame:?}: {err}"),
        }
    }
    // Any valid UTF-8 input that decodes has a valid UTF-8 payload: the
    // header ends on an ASCII byte, never inside a multi-byte character.
    for input in ["d 中文", "d7 😀", "d  é", "d1 \u{10FFFF}"] {
        let Ok(Data { payload, .. }) = Envelope::decode(input.as_bytes()) else {
            panic!("{input:?} should decode");
        };
        assert!(core::str::from_utf8(payload).is_ok());
    }
}

#[cfg(feature = "alloc")]
#[test]
fn to_vec_matches_encode() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let payload = b"payload bytes";
    for _ in 0..1_000 {
        let e = random_envelope(&mut rng, payload);
        let v = e.to_vec();
        assert_eq!(v, enc(&e));
        assert_eq!(v.len(), e.encoded_len());
    }
    assert_eq!(
        Data {
            seq: Some(42),
            payload: b"hello"
        }
        .to_vec(),
        b"d42 hello"
    );
}
