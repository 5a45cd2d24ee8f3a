//! One server-side session: a server-role engine that outlives its sockets.
//! Each reconnect of the same session id is `accept`ed by the same engine,
//! so acks and resume carry across reconnects and server restarts.

#[allow(unused_imports)]
use super::prelude::*;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::WebSocketStream;

use super::http::HttpPipe;
use super::link::{ws_io, Link, LinkEvent, LinkEventKind};
use super::pump::{sleep_until, Pump, Status};
use super::Epoch;
use crate::error::Error;
use crate::io::{ConnId, Input};
use crate::presence::Presence;

/// Where a session records that its client was heard from.
pub(crate) struct Seen {
    pub(crate) presence: Arc<Mutex<Presence>>,
    pub(crate) epoch: Epoch,
    pub(crate) sid: u64,
}

impl Seen {
    /// Any traffic from the client is a heartbeat for presence.
    fn touch(&self, ev: &LinkEvent) {
        if !matches!(
            ev.kind,
            LinkEventKind::Closed(_) | LinkEventKind::ConnectFailed(_)
        ) {
            self.heartbeat();
        }
    }

    /// The client connected or spoke.
    fn heartbeat(&self) {
        let now = self.epoch.elapsed();
        let mut p = self.presence.lock().unwrap_or_else(PoisonError::into_inner);
        // Full table: the client is simply not tracked; its session works.
        let _ = p.try_heartbeat(self.sid, now);
        while p.poll_expired(now).is_some() {}
    }
}

/// A WebSocket the server accepted.
pub(crate) type ServerWs = WebSocketStream<TokioIo<Upgraded>>;

/// What the server asks of a session task.
pub(crate) enum SessionCmd {
    /// A WebSocket for this session completed its upgrade.
    AttachWs(Box<ServerWs>, watch::Receiver<bool>),
    /// An HTTP transport is opening: reply with its generation and pipe.
    OpenHttp(oneshot::Sender<Result<(ConnId, Arc<HttpPipe>), Error>>),
    /// Something happened on one of this session's links.
    Link(LinkEvent),
    /// The server app sends a message to this client.
    Send(Bytes, oneshot::Sender<Result<u64, Error>>),
    /// Test hook: close the live transport with this code.
    CloseLink(u16, oneshot::Sender<bool>),
    /// State and counters.
    Status(oneshot::Sender<Status>),
}

/// Runs one session until the server (every sender) is gone.
pub(crate) async fn run_session(
    mut pump: Pump,
    mut cmds: mpsc::UnboundedReceiver<SessionCmd>,
    seen: Seen,
) {
    let (link_tx, mut link_rx) = mpsc::unbounded_channel::<LinkEvent>();
    loop {
        let deadline = pump.deadline();
        tokio::select! {
            c = cmds.recv() => match c {
                Some(SessionCmd::AttachWs(ws, shutdown)) => {
                    seen.heartbeat();
                    let (tx, rx) = mpsc::unbounded_channel();
                    if let Ok(conn) = pump.accept(Link::Task(tx)) {
                        tokio::spawn(ws_io(conn, *ws, link_tx.clone(), rx, Vec::new(), Some(shutdown)));
                    }
                }
                Some(SessionCmd::OpenHttp(reply)) => {
                    seen.heartbeat();
                    let pipe = Arc::new(HttpPipe::default());
                    let r = pump.accept(Link::Pipe(pipe.clone())).map(|conn| (conn, pipe));
                    let _ = reply.send(r);
                }
                Some(SessionCmd::Link(ev)) => {
                    seen.touch(&ev);
                    pump.on_link(ev);
                }
                Some(SessionCmd::Send(payload, reply)) => {
                    let _ = reply.send(pump.send(payload));
                }
                Some(SessionCmd::CloseLink(code, reply)) => {
                    let _ = reply.send(pump.close_live(code));
                }
                Some(SessionCmd::Status(reply)) => {
                    let _ = reply.send(pump.status());
                }
                None => break,
            },
            Some(ev) = link_rx.recv() => {
                seen.touch(&ev);
                pump.on_link(ev);
            }
            () = sleep_until(deadline) => {
                let _ = pump.input(Input::Timeout);
            }
        }
    }
    pump.shutdown();
}
