//! The default wire envelope: a one-letter ASCII header, then raw payload.
//!
//! The engine itself never looks at bytes; it only needs to know, for each
//! inbound message, whether it was data (and with which sequence number), an
//! ack, a resume request, a ping or a pong. Any codec can tell it that. This
//! module is the small codec redial ships so that two redial peers, or a
//! redial peer and a hand-written browser app or server, agree without
//! negotiating anything. Using it is optional.
//!
//! Decoding borrows the payload from the input and needs no allocator;
//! encoding writes into a caller's buffer ([`Envelope::encode`]), or into a
//! fresh `Vec` with the `alloc` feature (`Envelope::to_vec`).
//!
//! # Wire format
//!
//! One envelope is exactly one transport message (one WebSocket frame, one
//! HTTP body…). There is no length field: the payload runs to the end of the
//! message. A carrier without message boundaries must add its own framing.
//!
//! ```text
//! frame    = data / control
//! data     = "d" [number] " " payload      ; the single space is mandatory
//! control  = tag number                    ; nothing may follow the number
//! tag      = "a" / "r" / "p" / "q"
//! number   = "0" / ("1".."9" *19("0".."9")) ; decimal, value <= 18446744073709551615
//! payload  = *byte                         ; any bytes, possibly none, to the end
//! ```
//!
//! | tag | frame | meaning |
//! |---|---|---|
//! | `d` | `d<seq> <payload>` | data numbered `seq`; the receiver acks it and drops duplicates |
//! | `d` | `d <payload>` | unsequenced data (fire and forget, never acked) |
//! | `a` | `a<upto>` | cumulative ack: every seq `<= upto` has arrived |
//! | `r` | `r<last>` | resume after a reconnect: I hold everything `<= last`, resend the rest (`r0`: nothing yet) |
//! | `p` | `p<nonce>` | ping; answer with a pong carrying the same nonce |
//! | `q` | `q<nonce>` | pong (the letter after `p`) |
//!
//! Examples, byte for byte (quotes not included):
//!
//! | frame | decodes to |
//! |---|---|
//! | `d42 hello` | `Data { seq: Some(42), payload: b"hello" }` |
//! | `d hello` | `Data { seq: None, payload: b"hello" }` |
//! | `d7 ` | `Data { seq: Some(7), payload: b"" }` |
//! | `d  x` | `Data { seq: None, payload: b" x" }` (only the first space is the separator) |
//! | `a42` | `Ack { upto: 42 }` |
//! | `r0` | `Resume { last: 0 }` |
//! | `p18446744073709551615` | `Ping { nonce: u64::MAX }` |
//! | `q9` | `Pong { nonce: 9 }` |
//!
//! Everything else is rejected, with the byte offset of the problem:
//!
//! | frame | error |
//! |---|---|
//! | (empty) | [`DecodeError::Empty`] |
//! | `x1`, `{"a":1}`, `D1 x` | [`DecodeError::UnknownTag`] (tags are lower case) |
//! | `a`, `p` | [`DecodeError::MissingNumber`] at 1 |
//! | `a-1`, `r+1`, `a 1`, `dx y` | [`DecodeError::BadDigit`] at 1 |
//! | `a007`, `d01 x` | [`DecodeError::LeadingZero`] at 1 |
//! | `a18446744073709551616` | [`DecodeError::Overflow`] at 20 (the digit that overflows) |
//! | `a42 `, `a42x`, `p1\n` | [`DecodeError::TrailingBytes`] at 3, 3, 2 |
//! | `d`, `d42`, `d42x y` | [`DecodeError::MissingSeparator`] at 1, 3, 3 |
//!
//! The rules make the encoding canonical: a frame that decodes re-encodes to
//! the very same bytes, so frames can be compared, hashed and logged as bytes.
//!
//! # Text or binary frames
//!
//! The header is pure ASCII, so the same bytes work in either WebSocket frame
//! type. Send a text frame when the payload is UTF-8 (the whole frame is then
//! valid UTF-8, and in a JS string header offsets equal byte offsets), a
//! binary frame otherwise. A receiver decodes both the same way.
//!
//! Tags were chosen so that no JSON text can start with one (JSON starts with
//! `{`, `[`, `"`, a digit, `-`, `t`, `f`, `n` or whitespace): a server can
//! accept redial envelopes and its existing JSON messages on one socket and
//! tell them apart by the first byte.
//!
//! # The same in JavaScript (text frames)
//!
//! ```js
//! const MAX = 18446744073709551615n; // numbers are u64: use BigInt above 2^53
//! const data = (seq, payload) => `d${seq ?? ""} ${payload}`; // seq: null = unsequenced
//! const ack = (upto) => `a${upto}`, resume = (last) => `r${last}`;
//! const ping = (nonce) => `p${nonce}`, pong = (nonce) => `q${nonce}`;
//! function decode(s) {
//!   let m = /^d(0|[1-9]\d{0,19})? /.exec(s);
//!   if (m && (m[1] === undefined || BigInt(m[1]) <= MAX))
//!     return { kind: "data", seq: m[1] === undefined ? null : BigInt(m[1]), payload: s.slice(m[0].length) };
//!   m = /^([arpq])(0|[1-9]\d{0,19})$/.exec(s);
//!   if (m && BigInt(m[2]) <= MAX) return { kind: { a: "ack", r: "resume", p: "ping", q: "pong" }[m[1]], n: BigInt(m[2]) };
//!   throw new Error("not a redial envelope");
//! }
//! ```
//!
//! For a binary frame, run the same two patterns on the first
//! [`MAX_HEADER_LEN`] bytes read as ASCII (`String.fromCharCode(...bytes)`)
//! and take the payload as `bytes.subarray(m[0].length)`.
//!
//! # Example
//!
//! ```
//! use redial::envelope::{DecodeError, Envelope, MAX_HEADER_LEN};
//!
//! # fn main() -> Result<(), redial::envelope::EncodeError> {
//! let frame = Envelope::Data { seq: Some(42), payload: b"hello" };
//! let mut buf = [0u8; MAX_HEADER_LEN + 5];
//! let n = frame.encode(&mut buf)?;
//! assert_eq!(&buf[..n], b"d42 hello");
//! assert_eq!(Envelope::decode(&buf[..n]), Ok(frame));
//!
//! assert_eq!(Envelope::decode(b"a42"), Ok(Envelope::Ack { upto: 42 }));
//! assert_eq!(Envelope::decode(b"a042"), Err(DecodeError::LeadingZero { at: 1 }));
//! # Ok(())
//! # }
//! ```

use thiserror::Error;

/// The longest header any frame can have: tag, 20 digits, separator.
///
/// A buffer of `MAX_HEADER_LEN + payload.len()` bytes always fits a frame.
pub const MAX_HEADER_LEN: usize = 22;

/// The most decimal digits a `u64` needs (`18446744073709551615`).
const MAX_DIGITS: usize = 20;

/// One decoded frame. Data frames borrow their payload from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Envelope<'a> {
    /// Application data: `d<seq> <payload>`, or `d <payload>` when unsequenced.
    Data {
        /// The delivery sequence number, or `None` for fire-and-forget data.
        seq: Option<u64>,
        /// The application's bytes, exactly as sent (may be empty).
        payload: &'a [u8],
    },
    /// Cumulative acknowledgement: `a<upto>`.
    Ack {
        /// Every seq up to and including this one has arrived.
        upto: u64,
    },
    /// Resume request after a reconnect: `r<last>`.
    Resume {
        /// The highest seq the sender of this frame already holds (0: none).
        last: u64,
    },
    /// Liveness probe: `p<nonce>`.
    Ping {
        /// Echoed back in the matching pong.
        nonce: u64,
    },
    /// Answer to a ping: `q<nonce>`.
    Pong {
        /// The nonce of the ping being answered.
        nonce: u64,
    },
}

/// Why a byte string is not a valid frame. Every offset is a byte index into
/// the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DecodeError {
    /// The frame has no bytes at all.
    #[error("empty frame")]
    Empty,
    /// The first byte is not one of `d`, `a`, `r`, `p`, `q`.
    #[error("unknown frame tag {tag:#04x} at byte 0")]
    UnknownTag {
        /// The byte found where the tag belongs.
        tag: u8,
    },
    /// A control frame ends where its number should start.
    #[error("missing number at byte {at}")]
    MissingNumber {
        /// Where the number should have started (the end of the input).
        at: usize,
    },
    /// A number was expected but this byte is not an ASCII digit
    /// (a sign, a space, a letter…).
    #[error("expected a decimal digit at byte {at}")]
    BadDigit {
        /// The offending byte.
        at: usize,
    },
    /// The number does not fit in a `u64`.
    #[error("number overflows u64 at byte {at}")]
    Overflow {
        /// The first digit that took the value past `u64::MAX`.
        at: usize,
    },
    /// A number with more than one digit starts with `0`.
    #[error("leading zero in number at byte {at}")]
    LeadingZero {
        /// The leading `0`.
        at: usize,
    },
    /// Bytes follow the number of a control frame (`a`, `r`, `p`, `q`).
    #[error("unexpected bytes after the number at byte {at}")]
    TrailingBytes {
        /// The first byte after the number.
        at: usize,
    },
    /// A data frame lacks the single space between header and payload.
    #[error("expected ' ' before the payload at byte {at}")]
    MissingSeparator {
        /// Where the space should have been.
        at: usize,
    },
}

impl DecodeError {
    /// The byte offset the error points at (0 for [`Empty`](Self::Empty) and
    /// [`UnknownTag`](Self::UnknownTag)). Never beyond the input's length.
    #[must_use]
    pub const fn offset(&self) -> usize {
        match *self {
            Self::Empty | Self::UnknownTag { .. } => 0,
            Self::MissingNumber { at }
            | Self::BadDigit { at }
            | Self::Overflow { at }
            | Self::LeadingZero { at }
            | Self::TrailingBytes { at }
            | Self::MissingSeparator { at } => at,
        }
    }
}

/// Why a frame could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum EncodeError {
    /// The output buffer is shorter than the frame; nothing useful was written.
    #[error("buffer too small: frame needs {needed} bytes, buffer has {have}")]
    BufferTooSmall {
        /// The frame's full length ([`Envelope::encoded_len`]).
        needed: usize,
        /// The buffer's length.
        have: usize,
    },
}

impl Envelope<'_> {
    /// What the engine needs to know about this envelope: feed it as
    /// `Input::Message { conn, frame }`. The payload of a data frame stays
    /// with the driver.
    #[must_use]
    pub fn frame(&self) -> crate::io::Frame {
        use crate::delivery::DataId;
        use crate::io::Frame;
        match *self {
            Self::Data { seq: Some(s), .. } => Frame::Data(DataId::Seq(s)),
            Self::Data { seq: None, .. } => Frame::Data(DataId::None),
            Self::Ack { upto } => Frame::Ack { upto },
            Self::Resume { last } => Frame::Resume { last },
            Self::Ping { nonce } => Frame::Ping { nonce },
            Self::Pong { nonce } => Frame::Pong { nonce },
        }
    }
}

impl<'a> Envelope<'a> {
    /// Parse one frame. The payload of a data frame borrows from `bytes`.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the first rule the input breaks and where.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (&tag, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
        match tag {
            b'd' => decode_data(rest),
            b'a' => decode_control(rest).map(|upto| Self::Ack { upto }),
            b'r' => decode_control(rest).map(|last| Self::Resume { last }),
            b'p' => decode_control(rest).map(|nonce| Self::Ping { nonce }),
            b'q' => decode_control(rest).map(|nonce| Self::Pong { nonce }),
            _ => Err(DecodeError::UnknownTag { tag }),
        }
    }

    /// The exact number of bytes [`encode`](Self::encode) writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match *self {
            Self::Data { seq, payload } => {
                let digits = seq.map_or(0, digit_count);
                // tag + digits + separator + payload; saturating although a
                // slice length cannot come near usize::MAX.
                (2 + digits).saturating_add(payload.len())
            }
            Self::Ack { upto: n }
            | Self::Resume { last: n }
            | Self::Ping { nonce: n }
            | Self::Pong { nonce: n } => 1 + digit_count(n),
        }
    }

    /// Write the frame's canonical bytes to the start of `out` and return how
    /// many were written. Bytes of `out` past that are left untouched.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when `out` is shorter than
    /// [`encoded_len`](Self::encoded_len); `out` is then unchanged.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = self.encoded_len();
        let too_small = EncodeError::BufferTooSmall {
            needed,
            have: out.len(),
        };
        let frame = out.get_mut(..needed).ok_or(too_small)?;
        let mut w = Writer { out: frame, pos: 0 };
        match *self {
            Self::Data { seq, payload } => {
                w.put(b"d");
                if let Some(seq) = seq {
                    w.put(Digits::new(seq).as_bytes());
                }
                w.put(b" ");
                w.put(payload);
            }
            Self::Ack { upto } => w.control(b'a', upto),
            Self::Resume { last } => w.control(b'r', last),
            Self::Ping { nonce } => w.control(b'p', nonce),
            Self::Pong { nonce } => w.control(b'q', nonce),
        }
        // `frame` is exactly `needed` long, so a short write is impossible;
        // checking keeps a future mistake from going unnoticed.
        if w.pos == needed {
            Ok(needed)
        } else {
            Err(too_small)
        }
    }

    /// The frame's canonical bytes in a new vector of exactly
    /// [`encoded_len`](Self::encoded_len) bytes.
    #[cfg(feature = "alloc")]
    #[must_use]
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut v = alloc::vec![0u8; self.encoded_len()];
        // The buffer has exactly the needed length, so this cannot fail; on
        // the impossible error the vector would simply come back zeroed.
        let n = self.encode(&mut v).unwrap_or(0);
        v.truncate(n);
        v
    }
}

/// `rest` is everything after the `d` tag, which sits at offset 0.
fn decode_data(rest: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    if let Some((&b' ', payload)) = rest.split_first() {
        return Ok(Envelope::Data { seq: None, payload });
    }
    if rest.is_empty() {
        // "d": the shortest fix is "d " (unsequenced, empty payload).
        return Err(DecodeError::MissingSeparator { at: 1 });
    }
    let (seq, len) = parse_number(rest, 1)?;
    match rest.get(len..).and_then(<[u8]>::split_first) {
        Some((&b' ', payload)) => Ok(Envelope::Data {
            seq: Some(seq),
            payload,
        }),
        _ => Err(DecodeError::MissingSeparator { at: 1 + len }),
    }
}

/// `rest` is everything after a control tag; the whole of it must be a number.
fn decode_control(rest: &[u8]) -> Result<u64, DecodeError> {
    let (n, len) = parse_number(rest, 1)?;
    if len < rest.len() {
        return Err(DecodeError::TrailingBytes { at: 1 + len });
    }
    Ok(n)
}

/// Parse the canonical decimal number at the start of `s`, which begins at
/// byte `base` of the frame. Returns the value and how many digits it took;
/// stops at the first non-digit.
fn parse_number(s: &[u8], base: usize) -> Result<(u64, usize), DecodeError> {
    match s {
        [] => return Err(DecodeError::MissingNumber { at: base }),
        [b'0', b'0'..=b'9', ..] => return Err(DecodeError::LeadingZero { at: base }),
        [first, ..] if !first.is_ascii_digit() => return Err(DecodeError::BadDigit { at: base }),
        _ => {}
    }
    let mut value: u64 = 0;
    let mut len = 0;
    for &b in s.iter().take_while(|b| b.is_ascii_digit()) {
        let at = base.saturating_add(len);
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(DecodeError::Overflow { at })?;
        len += 1;
    }
    Ok((value, len))
}

/// How many decimal digits `n` takes (1 for 0).
fn digit_count(mut n: u64) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

/// The decimal digits of a `u64`, formatted without allocating.
struct Digits {
    buf: [u8; MAX_DIGITS],
    start: usize,
}

impl Digits {
    fn new(mut n: u64) -> Self {
        let mut buf = [b'0'; MAX_DIGITS];
        let mut start = MAX_DIGITS;
        for slot in buf.iter_mut().rev() {
            // n % 10 < 10, so the cast is lossless and the sum stays ASCII.
            *slot = b'0' + (n % 10) as u8;
            start = start.saturating_sub(1);
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Self { buf, start }
    }

    fn as_bytes(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

/// Appends to a buffer already checked to be large enough; a write that would
/// not fit is skipped (and then caught by the length check in `encode`).
struct Writer<'b> {
    out: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
            self.pos = end;
        }
    }

    fn control(&mut self, tag: u8, n: u64) {
        self.put(&[tag]);
        self.put(Digits::new(n).as_bytes());
    }
}

#[cfg(test)]
mod tests;
