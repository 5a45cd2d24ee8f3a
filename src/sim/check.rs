//! Properties, violations and the delivery accounting (Jepsen's total-queue
//! check).

use core::fmt;
use std::collections::{HashMap, HashSet};
use std::string::String;

/// Which property a [`Violation`] breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// A message was lost, duplicated or reordered (total-queue check).
    Delivery,
    /// Messages still queued when the run ended, long after the faults.
    Undrained,
    /// The client did not get back to a healthy `Open` within the bound.
    Liveness,
    /// A `Connect` while a generation was live, or after `Close`/`Failed`
    /// before `Start`, or from the server.
    DoubleConnect,
    /// The engine forgot a generation without `Abandon` or a terminal event,
    /// or abandoned one it did not own.
    Generation,
    /// A late event for an abandoned generation changed something.
    StaleEvent,
    /// An action named a generation that is not live, or sent on a socket
    /// after closing it / before it opened.
    DeadConn,
    /// A link silent for longer than `interval + timeout` was still `Open`.
    DeadPeer,
    /// `Connecting`, `Closing` or `Waiting` outlived its deadline.
    StuckPhase,
    /// A reconnect delay outside the policy's bounds (or a server backing off).
    Backoff,
    /// A buffer above its cap, a drain that does not end, or a timer that
    /// stays due.
    Bounds,
    /// `poll_timeout()` or a `ScheduleTimer` earlier than the latest `now`.
    Timer,
    /// A `Downgrade` without an unparseable URL (R13), or none with one (R1),
    /// or WebSocket dialled again after it.
    Downgrade,
    /// The engine failed with a protocol error between two correct peers, or
    /// the server engine failed at all.
    Protocol,
    /// The engine refused an input the driver was entitled to give, a
    /// `Deliver` that matches no frame, or a seq that breaks numbering.
    Driver,
}

/// One property violation, at a world time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// World time, ms.
    pub at: u64,
    /// What broke.
    pub property: Property,
    /// Details for a human.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}ms {:?}: {}", self.at, self.property, self.detail)
    }
}

/// The total-queue accounting of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// Messages the sending app got a seq for.
    pub sent: u64,
    /// Messages the receiving app got (first copies).
    pub delivered: u64,
    /// Sent, not delivered, and either acked or skipped over by a later
    /// delivery: gone for good.
    pub lost: u64,
    /// Extra copies handed to the receiving app.
    pub duplicated: u64,
    /// Deliveries that came after a later-sent message.
    pub reordered: u64,
    /// Sent, not delivered, still queued in the sender's engine.
    pub pending: u64,
    /// Deliveries of messages that were never sent.
    pub phantom: u64,
    /// `send` refused (queue full, session closed): never accepted, so
    /// never owed.
    pub refused: u64,
    /// `DeliveryOverdue` reports.
    pub overdue: u64,
}

impl Flow {
    /// Whether nothing was lost, duplicated, reordered or invented.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.reordered == 0 && self.phantom == 0
    }

    /// Adds `other` into `self` (saturating).
    pub fn absorb(&mut self, other: &Flow) {
        self.sent = self.sent.saturating_add(other.sent);
        self.delivered = self.delivered.saturating_add(other.delivered);
        self.lost = self.lost.saturating_add(other.lost);
        self.duplicated = self.duplicated.saturating_add(other.duplicated);
        self.reordered = self.reordered.saturating_add(other.reordered);
        self.pending = self.pending.saturating_add(other.pending);
        self.phantom = self.phantom.saturating_add(other.phantom);
        self.refused = self.refused.saturating_add(other.refused);
        self.overdue = self.overdue.saturating_add(other.overdue);
    }
}

/// Accounts one direction. `sent[i]` is the message id that got seq `i + 1`;
/// `received` is what the receiving app got, in order; `acked` is the
/// sender engine's cumulative ack mark.
#[must_use]
pub fn account(sent: &[u64], received: &[u64], acked: u64) -> Flow {
    let index: HashMap<u64, usize> = sent.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut flow = Flow {
        sent: u64::try_from(sent.len()).unwrap_or(u64::MAX),
        ..Flow::default()
    };
    let mut seen: HashSet<u64> = HashSet::with_capacity(received.len());
    let mut last: Option<usize> = None;
    let mut highest: Option<usize> = None;
    for m in received {
        let Some(&i) = index.get(m) else {
            flow.phantom = flow.phantom.saturating_add(1);
            continue;
        };
        if !seen.insert(*m) {
            flow.duplicated = flow.duplicated.saturating_add(1);
            continue;
        }
        if last.is_some_and(|l| i < l) {
            flow.reordered = flow.reordered.saturating_add(1);
        }
        last = Some(i);
        highest = highest.max(Some(i));
    }
    flow.delivered = u64::try_from(seen.len()).unwrap_or(u64::MAX);
    for (i, m) in sent.iter().enumerate() {
        if seen.contains(m) {
            continue;
        }
        let seq = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
        if seq <= acked || highest.is_some_and(|h| i < h) {
            flow.lost = flow.lost.saturating_add(1);
        } else {
            flow.pending = flow.pending.saturating_add(1);
        }
    }
    flow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_prefix_is_pending_not_lost() {
        let f = account(&[10, 11, 12, 13], &[10, 11], 2);
        assert_eq!((f.delivered, f.pending, f.lost), (2, 2, 0));
        assert!(f.is_clean());
    }

    #[test]
    fn hole_and_acked_undelivered_are_lost() {
        // 11 skipped by 12's delivery; 13 acked but never delivered.
        let f = account(&[10, 11, 12, 13], &[10, 12], 4);
        assert_eq!((f.lost, f.pending), (2, 0));
        assert_eq!(f.reordered, 0);
    }

    #[test]
    fn duplicates_reorders_and_phantoms_are_counted() {
        let f = account(&[1, 2, 3], &[1, 3, 2, 3, 99], 3);
        assert_eq!(f.duplicated, 1);
        assert_eq!(f.reordered, 1);
        assert_eq!(f.phantom, 1);
        assert_eq!(f.delivered, 3);
        assert!(!f.is_clean());
    }
}
