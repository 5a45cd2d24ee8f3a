//! Transports ("links"): what a session task sends to one, what one reports,
//! and the WebSocket side of it (dial, error mapping, the IO task).

#[allow(unused_imports)]
use super::prelude::*;
use core::time::Duration;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};
use tokio_tungstenite::WebSocketStream;

use super::http::HttpPipe;
use crate::io::{ConnId, ConnectError};

/// Close code reported when a transport ended without a close frame.
pub(crate) const ABNORMAL: u16 = 1006;
/// Close code reported for a close frame without a code.
pub(crate) const NO_STATUS: u16 = 1005;
/// How long a link that was told to go away may spend flushing.
const LINGER: Duration = Duration::from_secs(1);

/// What a session task asks of a link.
#[derive(Clone, Debug)]
pub(crate) enum LinkCmd {
    /// One encoded envelope.
    Frame(Bytes),
    /// A native WebSocket ping carrying the nonce (control-frame mode).
    CtrlPing(u64),
    /// Send a close frame with this code.
    Close(u16),
}

/// What a link reports, tagged with its generation.
#[derive(Clone, Debug)]
pub(crate) struct LinkEvent {
    /// The generation the link was created for.
    pub(crate) conn: ConnId,
    /// What happened.
    pub(crate) kind: LinkEventKind,
}

/// The events a link can report.
#[derive(Clone, Debug)]
pub(crate) enum LinkEventKind {
    /// The handshake finished.
    Opened,
    /// The attempt failed before it opened.
    ConnectFailed(ConnectError),
    /// One transport message (an envelope, or something else).
    Frame(Bytes),
    /// A native pong; `Some(nonce)` when it carried 8 bytes.
    CtrlPong(Option<u64>),
    /// A native ping from the peer (answered by tungstenite): liveness only.
    CtrlPing,
    /// The transport ended with this code.
    Closed(u16),
}

/// The session task's side of a live link.
#[derive(Debug)]
pub(crate) enum Link {
    /// A task owning a socket (WebSocket, or the client's HTTP transport).
    Task(mpsc::UnboundedSender<LinkCmd>),
    /// The server's half of an HTTP transport: a queue the polls drain.
    Pipe(Arc<HttpPipe>),
}

impl Link {
    /// Hands a command to the link; a link already gone ignores it.
    pub(crate) fn cmd(&self, cmd: LinkCmd) {
        match self {
            Self::Task(tx) => {
                // A closed channel means the task already ended; the engine
                // learns that from the link's own Closed event.
                let _ = tx.send(cmd);
            }
            Self::Pipe(p) => p.apply(cmd),
        }
    }

    /// Drops the link: a task flushes what it was given and ends; a pipe is
    /// marked closed so its polls get `410`.
    pub(crate) fn abandon(self) {
        if let Self::Pipe(p) = self {
            p.close(ABNORMAL);
        }
    }
}

/// Reports `kind` for `conn`; the receiver may be gone (session ended).
pub(crate) fn report(tx: &mpsc::UnboundedSender<LinkEvent>, conn: ConnId, kind: LinkEventKind) {
    let _ = tx.send(LinkEvent { conn, kind });
}

/// Checks a WebSocket URL the way a browser's `new WebSocket(url)` would:
/// parseable, `ws` scheme (this driver has no TLS), a host.
pub(crate) fn ws_request(
    url: &str,
) -> Result<tungstenite::handshake::client::Request, ConnectError> {
    let req = url
        .into_client_request()
        .map_err(|_| ConnectError::InvalidUrl)?;
    let uri = req.uri();
    if uri.scheme_str() != Some("ws") || uri.host().is_none_or(str::is_empty) {
        return Err(ConnectError::InvalidUrl);
    }
    Ok(req)
}

/// Maps a failed WebSocket dial to the engine's vocabulary.
pub(crate) fn map_connect_error(e: &tungstenite::Error) -> ConnectError {
    use tungstenite::Error as E;
    match e {
        E::Url(_) | E::HttpFormat(_) => ConnectError::InvalidUrl,
        E::Http(resp) => ConnectError::Handshake {
            status: Some(resp.status().as_u16()),
        },
        // The peer hung up mid-handshake: that is the network, not a refusal.
        E::Protocol(ProtocolError::HandshakeIncomplete) => ConnectError::Network,
        // A 101 that is not a valid upgrade: something in between mangled it.
        E::Protocol(_) => ConnectError::Handshake { status: None },
        _ => ConnectError::Network,
    }
}

/// The client's WebSocket link: dial, report the outcome, then run the IO.
/// Ends when told to (its command channel closes) or the socket ends.
pub(crate) async fn ws_client_link(
    conn: ConnId,
    url: String,
    events: mpsc::UnboundedSender<LinkEvent>,
    mut cmds: mpsc::UnboundedReceiver<LinkCmd>,
) {
    let req = match ws_request(&url) {
        Ok(r) => r,
        Err(e) => return report(&events, conn, LinkEventKind::ConnectFailed(e)),
    };
    let dial = tokio_tungstenite::connect_async(req);
    tokio::pin!(dial);
    let mut early = Vec::new();
    let ws = loop {
        tokio::select! {
            r = &mut dial => break r,
            c = cmds.recv() => match c {
                Some(c) => early.push(c),
                // Abandoned (connect timeout): drop the attempt.
                None => return,
            },
        }
    };
    match ws {
        Ok((ws, _resp)) => {
            // Best effort: small frames should not wait for Nagle.
            if let tokio_tungstenite::MaybeTlsStream::Plain(s) = ws.get_ref() {
                let _ = s.set_nodelay(true);
            }
            report(&events, conn, LinkEventKind::Opened);
            let (tx, rx) = (events, cmds);
            ws_io(conn, ws, tx, rx, early, None).await;
        }
        Err(e) => report(
            &events,
            conn,
            LinkEventKind::ConnectFailed(map_connect_error(&e)),
        ),
    }
}

/// Runs an open WebSocket: writes commands, reports frames, reports exactly
/// one `Closed` (unless the session abandoned the link first). `shutdown`
/// (server restarts) drops the socket without a close frame.
pub(crate) async fn ws_io<S>(
    conn: ConnId,
    ws: WebSocketStream<S>,
    events: mpsc::UnboundedSender<LinkEvent>,
    mut cmds: mpsc::UnboundedReceiver<LinkCmd>,
    early: Vec<LinkCmd>,
    mut shutdown: Option<watch::Receiver<bool>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    for c in early {
        if sink.send(to_message(c)).await.is_err() {
            return report(&events, conn, LinkEventKind::Closed(ABNORMAL));
        }
    }
    let stopping = async move {
        match shutdown.as_mut() {
            Some(rx) => {
                let _ = rx.wait_for(|stop| *stop).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            () = &mut stopping => {
                return report(&events, conn, LinkEventKind::Closed(ABNORMAL));
            }
            c = cmds.recv() => match c {
                Some(c) => {
                    if sink.send(to_message(c)).await.is_err() {
                        return report(&events, conn, LinkEventKind::Closed(ABNORMAL));
                    }
                }
                None => {
                    // Abandoned: flush (a close frame may be queued), briefly.
                    let _ = tokio::time::timeout(LINGER, sink.close()).await;
                    return;
                }
            },
            m = stream.next() => {
                let kind = match m {
                    Some(Ok(Message::Text(t))) => LinkEventKind::Frame(Bytes::from(t)),
                    Some(Ok(Message::Binary(b))) => LinkEventKind::Frame(b),
                    Some(Ok(Message::Pong(p))) => LinkEventKind::CtrlPong(nonce_of(&p)),
                    Some(Ok(Message::Ping(_))) => LinkEventKind::CtrlPing,
                    Some(Ok(Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map_or(NO_STATUS, |f| u16::from(f.code));
                        report(&events, conn, LinkEventKind::Closed(code));
                        // Let tungstenite flush its close reply, then go.
                        let drain = async { while stream.next().await.is_some() {} };
                        let _ = tokio::time::timeout(LINGER, drain).await;
                        return;
                    }
                    Some(Err(_)) | None => {
                        return report(&events, conn, LinkEventKind::Closed(ABNORMAL));
                    }
                };
                report(&events, conn, kind);
            }
        }
    }
}

/// The WebSocket message for a command.
fn to_message(c: LinkCmd) -> Message {
    match c {
        // Text when the whole envelope is UTF-8 (the usual case), else binary.
        LinkCmd::Frame(b) => match tungstenite::Utf8Bytes::try_from(b.clone()) {
            Ok(t) => Message::Text(t),
            Err(_) => Message::Binary(b),
        },
        LinkCmd::CtrlPing(nonce) => Message::Ping(Bytes::copy_from_slice(&nonce.to_be_bytes())),
        LinkCmd::Close(code) => Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: tungstenite::Utf8Bytes::from_static(""),
        })),
    }
}

/// The nonce of a native pong: exactly 8 big-endian bytes, or none.
fn nonce_of(p: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(p).ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_a_browser_rejects_are_invalid() {
        for bad in [
            "",
            "not a url",
            "http://x/",
            "wss://x/",
            "ws://",
            "ws:// spaces/",
        ] {
            assert_eq!(
                ws_request(bad).err(),
                Some(ConnectError::InvalidUrl),
                "{bad:?}"
            );
        }
        assert!(ws_request("ws://127.0.0.1:9/ws?sid=1").is_ok());
    }

    #[test]
    fn control_nonces_are_eight_bytes() {
        assert_eq!(nonce_of(&7u64.to_be_bytes()), Some(7));
        assert_eq!(nonce_of(b"short"), None);
        match to_message(LinkCmd::CtrlPing(u64::MAX)) {
            Message::Ping(p) => assert_eq!(nonce_of(&p), Some(u64::MAX)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn frames_are_text_when_utf8_and_binary_otherwise() {
        assert!(matches!(
            to_message(LinkCmd::Frame(Bytes::from_static(b"d1 hi"))),
            Message::Text(_)
        ));
        assert!(matches!(
            to_message(LinkCmd::Frame(Bytes::from_static(b"d1 \xff"))),
            Message::Binary(_)
        ));
        match to_message(LinkCmd::Close(4500)) {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 4500),
            other => panic!("unexpected {other:?}"),
        }
    }
}
