//! Acked delivery through the whole engine (R5, R6, R8, R17).

mod common;

use std::time::Duration;

use common::Script;
use redial::close::code;
use redial::delivery::ProtocolError;
use redial::envelope::DecodeError;
use redial::{
    Action, Config, DataId, DiscardReason, Envelope, FailReason, Frame, HeartbeatMode, Input, State,
};

fn reliable() -> Config {
    let mut c = Config::reliable();
    c.heartbeat.mode = HeartbeatMode::Off;
    c
}

fn seqs_of(actions: &[Action], pick: fn(&Action) -> Option<u64>) -> Vec<u64> {
    actions.iter().filter_map(pick).collect()
}

fn transmits(a: &Action) -> Option<u64> {
    match a {
        Action::Transmit { seq, .. } => Some(*seq),
        _ => None,
    }
}

fn acks(a: &Action) -> Option<u64> {
    match a {
        Action::Ack { upto, .. } => Some(*upto),
        _ => None,
    }
}

/// Starts, opens, and completes the resume handshake with a peer that has
/// delivered nothing yet.
fn open_session(s: &mut Script) {
    s.input(Input::Start);
    s.opened();
    s.frame(Frame::Resume { last: 0 });
}

#[test]
fn acks_are_coalesced_by_delay_and_count() {
    let mut s = Script::new(reliable(), 41);
    open_session(&mut s);
    s.note("three messages inside 200 ms: one ack");
    for seq in 1..=3 {
        s.frame(Frame::Data(DataId::Seq(seq)));
        s.advance(50);
    }
    s.advance(200);
    assert_eq!(seqs_of(&s.actions, acks), vec![3]);
    s.note("a burst of 32 acks at once, without waiting for the delay");
    let mut immediate = Vec::new();
    for seq in 4..=35 {
        immediate.extend(s.frame(Frame::Data(DataId::Seq(seq))));
    }
    assert_eq!(seqs_of(&immediate, acks), vec![35]);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn unacked_messages_are_resent_after_the_ack_timeout() {
    let mut s = Script::new(reliable(), 42);
    open_session(&mut s);
    for _ in 0..3 {
        s.send().expect("room");
    }
    s.frame(Frame::Ack { upto: 1 });
    s.note("the peer acks 1, then nothing for 5 s: 2 and 3 go again");
    let out = s.advance(5_000);
    assert_eq!(seqs_of(&out, transmits), vec![2, 3]);
    s.frame(Frame::Ack { upto: 3 });
    assert_eq!(s.engine.delivery().queued(), 0);
    let out = s.advance(20_000);
    assert!(
        seqs_of(&out, transmits).is_empty(),
        "nothing left to resend"
    );
    insta::assert_snapshot!(s.trace);
}

#[test]
fn a_stalled_open_link_gets_fewer_resends_each_round() {
    // F5: an open transport that stops acking (a stalled proxy, a peer that
    // stopped reading) gets the window again after 5, 10, 20, 40 s... (RFC
    // 6298 back-off, capped at 60 s), not every 5 s forever; the first ack
    // brings the pace back.
    let mut cfg = reliable();
    cfg.heartbeat.mode = redial::HeartbeatMode::Off;
    let mut s = Script::new(cfg, 44);
    open_session(&mut s);
    for _ in 0..2 {
        s.send().expect("room");
    }
    s.note("no ack ever comes for 200 s: resends back off");
    let out = s.advance(200_000);
    let rounds = seqs_of(&out, transmits).iter().filter(|&&q| q == 1).count();
    assert_eq!(rounds, 6, "resends at 5, 15, 35, 75, 135 and 195 s");
    s.note("the peer acks everything: nothing left to resend");
    s.frame(Frame::Ack { upto: 2 });
    assert_eq!(s.engine.delivery().queued(), 0);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn resume_after_reconnect_resends_from_the_peer_mark_in_both_directions() {
    let mut s = Script::new(reliable(), 43);
    open_session(&mut s);
    for _ in 0..4 {
        s.send().expect("room");
    }
    s.frame(Frame::Data(DataId::Seq(1)));
    s.frame(Frame::Data(DataId::Seq(2)));
    s.note("the connection drops before any ack crosses");
    s.closed(code::ABNORMAL);
    s.wait_for_connect(10_000);
    let out = s.opened();
    assert!(
        out.contains(&Action::Resume {
            conn: s.live(),
            last: 2
        }),
        "we tell the peer we have its 1..=2"
    );
    assert!(
        seqs_of(&out, transmits).is_empty(),
        "wait for the peer's resume"
    );
    s.note("the peer got our 1 and 2: only 3 and 4 are resent, in order");
    let out = s.frame(Frame::Resume { last: 2 });
    assert_eq!(seqs_of(&out, transmits), vec![3, 4]);
    s.note("the peer resends its 2 (already delivered) and then 3");
    s.frame(Frame::Data(DataId::Seq(2)));
    let out = s.frame(Frame::Data(DataId::Seq(3)));
    assert!(out.contains(&Action::Deliver { id: DataId::Seq(3) }));
    insta::assert_snapshot!(s.trace);
}

#[test]
fn duplicates_and_gaps_are_never_delivered() {
    let mut s = Script::new(reliable(), 44);
    open_session(&mut s);
    s.frame(Frame::Data(DataId::Seq(1)));
    let dup = s.frame(Frame::Data(DataId::Seq(1)));
    assert!(dup.contains(&Action::Discard {
        id: DataId::Seq(1),
        reason: DiscardReason::Duplicate
    }));
    let gap = s.frame(Frame::Data(DataId::Seq(3)));
    assert!(gap.contains(&Action::Discard {
        id: DataId::Seq(3),
        reason: DiscardReason::Gap
    }));
    s.frame(Frame::Data(DataId::Seq(2)));
    s.frame(Frame::Data(DataId::Seq(3)));
    let delivered: Vec<_> = s
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver { id: DataId::Seq(n) } => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![1, 2, 3]);
    insta::assert_snapshot!(s.trace);
}

#[test]
fn opaque_ids_are_deduplicated_within_the_window() {
    let mut c = reliable();
    c.delivery.dedup_window = 3;
    let mut s = Script::new(c, 45);
    open_session(&mut s);
    for id in [0xa1, 0xb2, 0xa1, 0xc3, 0xd4, 0xa1] {
        s.frame(Frame::Data(DataId::Opaque(id)));
    }
    let verdicts: Vec<_> = s
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver {
                id: DataId::Opaque(x),
            } => Some((*x, true)),
            Action::Discard {
                id: DataId::Opaque(x),
                ..
            } => Some((*x, false)),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (0xa1, true),
            (0xb2, true),
            (0xa1, false),
            (0xc3, true),
            (0xd4, true),
            (0xa1, true)
        ],
        "the third 0xa1 fell out of a 3-id window"
    );
    insta::assert_snapshot!(s.trace);
}

#[test]
fn an_unanswered_message_is_reported_overdue_once_and_stays_queued() {
    let mut c = reliable();
    c.delivery.delivery_deadline = Some(Duration::from_secs(30));
    let mut s = Script::new(c, 46);
    open_session(&mut s);
    s.send().expect("room");
    s.advance(60_000);
    let overdue: Vec<_> = s
        .actions
        .iter()
        .filter(|a| matches!(a, Action::DeliveryOverdue { .. }))
        .collect();
    assert_eq!(overdue, vec![&Action::DeliveryOverdue { seq: 1 }]);
    assert_eq!(
        s.engine.delivery().queued(),
        1,
        "still queued: the app decides"
    );
    s.frame(Frame::Ack { upto: 1 });
    assert_eq!(s.engine.delivery().queued(), 0);
}

#[test]
fn a_full_queue_pushes_back_without_dropping_anything() {
    let mut c = reliable();
    c.delivery.max_queued = 3;
    let mut s = Script::new(c, 47);
    open_session(&mut s);
    for _ in 0..3 {
        s.send().expect("room");
    }
    let err = s.send().expect_err("backpressure");
    assert!(matches!(
        err,
        redial::Error::Send(redial::SendError::Full { cap: 3 })
    ));
    s.frame(Frame::Ack { upto: 2 });
    assert_eq!(
        s.send().ok(),
        Some(4),
        "acks make room; numbering continues"
    );
    insta::assert_snapshot!(s.trace);
}

#[test]
fn impossible_acks_and_resumes_are_protocol_errors() {
    let mut s = Script::new(reliable(), 48);
    open_session(&mut s);
    s.send().expect("room");
    let out = s.frame(Frame::Ack { upto: 9 });
    assert!(out.contains(&Action::Close {
        conn: s.live(),
        code: code::PROTOCOL_ERROR
    }));
    assert!(matches!(
        s.state(),
        State::Failed {
            reason: FailReason::Protocol(ProtocolError::AckFromFuture { .. })
        }
    ));
    insta::assert_snapshot!(s.trace);
}

#[test]
fn malformed_envelopes_are_rejected_with_where_and_what() {
    let cases: [(&[u8], DecodeError); 4] = [
        (b"", DecodeError::Empty),
        (b"x12", DecodeError::UnknownTag { tag: b'x' }),
        (b"a007", DecodeError::LeadingZero { at: 1 }),
        (b"a99999999999999999999", DecodeError::Overflow { at: 20 }),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            Envelope::decode(bytes),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let ok = Envelope::decode(b"d7 hi").expect("valid");
    assert_eq!(ok.frame(), Frame::Data(DataId::Seq(7)));
}
