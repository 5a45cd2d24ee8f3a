//! The HTTP fallback transport (R25): the same envelopes as the WebSocket,
//! carried by long-poll (server → client) and POST (client → server).
//!
//! | request | answer |
//! |---|---|
//! | `POST {base}/redial/open?sid=N` | `200`, body: the transport token `T` (decimal) |
//! | `GET {base}/redial/poll?sid=N&t=T` | `200`, body: frames queued for the client (none after the long-poll hold) |
//! | `POST {base}/redial/send?sid=N&t=T`, body: frames | `200` |
//! | `POST {base}/redial/close?sid=N&t=T&code=C` | `200` |
//!
//! Any request for a transport that has ended gets `410 Gone` with the close
//! code as its body (`1006` when none is known); the client reports that as
//! `Closed { code }`. A body of frames is each envelope as `<len>:<bytes>`
//! (`len` in decimal ASCII), back to back, because one HTTP body may carry
//! several envelopes while the envelope itself has no length field.

#[allow(unused_imports)]
use super::prelude::*;
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use super::link::{report, LinkCmd, LinkEvent, LinkEventKind, ABNORMAL};
use crate::envelope::Envelope;
use crate::io::{ConnId, ConnectError};

/// Path of the open request.
pub const OPEN_PATH: &str = "/redial/open";
/// Path of the long-poll.
pub const POLL_PATH: &str = "/redial/poll";
/// Path that carries client frames.
pub const SEND_PATH: &str = "/redial/send";
/// Path that closes the transport.
pub const CLOSE_PATH: &str = "/redial/close";

/// Joins envelopes into one body (`<len>:<bytes>` each).
#[must_use]
pub fn encode_frames(frames: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for f in frames {
        out.put_slice(f.len().to_string().as_bytes());
        out.put_u8(b':');
        out.put_slice(f);
    }
    out.freeze()
}

/// Splits a body into envelopes; `None` if it is not well formed.
#[must_use]
pub fn decode_frames(body: &Bytes) -> Option<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut rest = body.clone();
    while !rest.is_empty() {
        let colon = rest.iter().position(|&b| b == b':')?;
        let digits = std::str::from_utf8(rest.get(..colon)?).ok()?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let len: usize = digits.parse().ok()?;
        let start = colon.checked_add(1)?;
        let end = start.checked_add(len)?;
        if end > rest.len() {
            return None;
        }
        out.push(rest.slice(start..end));
        rest = rest.slice(end..);
    }
    Some(out)
}

/// Reads a `key=value` from a query string.
pub(crate) fn query_param(query: Option<&str>, key: &str) -> Option<u64> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// The server's half of one HTTP transport: frames waiting for a poll, and
/// the close code once it has ended.
#[derive(Debug, Default)]
pub(crate) struct HttpPipe {
    state: Mutex<PipeState>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct PipeState {
    queue: VecDeque<Bytes>,
    closed: Option<u16>,
}

impl HttpPipe {
    fn state(&self) -> std::sync::MutexGuard<'_, PipeState> {
        // A panic elsewhere cannot leave the queue half-written: recover it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Carries out a link command.
    pub(crate) fn apply(&self, cmd: LinkCmd) {
        match cmd {
            LinkCmd::Frame(b) => self.push(b),
            LinkCmd::CtrlPing(nonce) => self.push(Bytes::from(Envelope::Ping { nonce }.to_vec())),
            LinkCmd::Close(code) => self.close(code),
        }
    }

    fn push(&self, b: Bytes) {
        let mut st = self.state();
        if st.closed.is_none() {
            st.queue.push_back(b);
        }
        drop(st);
        self.notify.notify_one();
    }

    /// Ends the transport with `code` (the first code wins).
    pub(crate) fn close(&self, code: u16) {
        let mut st = self.state();
        if st.closed.is_none() {
            st.closed = Some(code);
        }
        drop(st);
        self.notify.notify_one();
    }

    /// The close code, once closed.
    pub(crate) fn closed(&self) -> Option<u16> {
        self.state().closed
    }

    /// Waits up to `hold` for frames: `Ok(frames)` (maybe none), or
    /// `Err(code)` when the transport has ended.
    pub(crate) async fn poll(&self, hold: Duration) -> Result<Vec<Bytes>, u16> {
        let deadline = tokio::time::Instant::now() + hold;
        loop {
            {
                let mut st = self.state();
                if let Some(code) = st.closed {
                    return Err(code);
                }
                if !st.queue.is_empty() {
                    return Ok(st.queue.drain(..).collect());
                }
            }
            if tokio::time::timeout_at(deadline, self.notify.notified())
                .await
                .is_err()
            {
                return Ok(Vec::new());
            }
        }
    }
}

/// Where the fallback lives: `http://host[:port][/prefix]`.
#[derive(Clone, Debug)]
pub(crate) struct Base {
    authority: String,
    prefix: String,
}

impl Base {
    /// Parses an `http://` base URL.
    pub(crate) fn parse(url: &str) -> Result<Self, ConnectError> {
        let uri: Uri = url.parse().map_err(|_| ConnectError::InvalidUrl)?;
        if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
            return Err(ConnectError::InvalidUrl);
        }
        let host = uri.host().unwrap_or_default();
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Self { authority, prefix })
    }

    /// The base for a `ws://host:port/...` URL: `http://host:port`.
    pub(crate) fn from_ws(url: &str) -> Result<Self, ConnectError> {
        let uri: Uri = url.parse().map_err(|_| ConnectError::InvalidUrl)?;
        match (uri.scheme_str(), uri.authority()) {
            (Some("ws"), Some(a)) => Self::parse(&format!("http://{a}")),
            _ => Err(ConnectError::InvalidUrl),
        }
    }
}

/// Aborts a spawned task when dropped (the hyper connection of a request
/// whose caller went away).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One request on a fresh connection; `Err` is a network failure.
async fn request(
    base: &Base,
    method: Method,
    path: String,
    body: Bytes,
) -> Result<(u16, Bytes), ()> {
    let tcp = TcpStream::connect(&base.authority).await.map_err(drop)?;
    let _ = tcp.set_nodelay(true);
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(drop)?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let req = Request::builder()
        .method(method)
        .uri(format!("{}{path}", base.prefix))
        .header(hyper::header::HOST, &base.authority)
        .body(Full::new(body))
        .map_err(drop)?;
    let resp = send.send_request(req).await.map_err(drop)?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map_err(drop)?.to_bytes();
    Ok((status, body))
}

/// The close code in a `410` body, else 1006.
fn gone_code(body: &[u8]) -> u16 {
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(ABNORMAL)
}

/// The client's HTTP link: open, then long-poll and POST until told to stop
/// or the server ends the transport.
pub(crate) async fn http_client_link(
    conn: ConnId,
    base: Result<Base, ConnectError>,
    sid: u64,
    events: mpsc::UnboundedSender<LinkEvent>,
    mut cmds: mpsc::UnboundedReceiver<LinkCmd>,
) {
    let base = match base {
        Ok(b) => b,
        Err(e) => return report(&events, conn, LinkEventKind::ConnectFailed(e)),
    };
    let open = request(
        &base,
        Method::POST,
        format!("{OPEN_PATH}?sid={sid}"),
        Bytes::new(),
    );
    let mut early = Vec::new();
    tokio::pin!(open);
    let opened = loop {
        tokio::select! {
            r = &mut open => break r,
            c = cmds.recv() => match c {
                Some(c) => early.push(c),
                None => return,
            },
        }
    };
    let token: u64 = match opened {
        Ok((200, body)) => match std::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            Some(t) => t,
            None => {
                let e = ConnectError::Handshake { status: Some(200) };
                return report(&events, conn, LinkEventKind::ConnectFailed(e));
            }
        },
        Ok((status, _)) => {
            let e = ConnectError::Handshake {
                status: Some(status),
            };
            return report(&events, conn, LinkEventKind::ConnectFailed(e));
        }
        Err(()) => {
            return report(
                &events,
                conn,
                LinkEventKind::ConnectFailed(ConnectError::Network),
            )
        }
    };
    report(&events, conn, LinkEventKind::Opened);
    let q = format!("sid={sid}&t={token}");
    let poll = || request(&base, Method::GET, format!("{POLL_PATH}?{q}"), Bytes::new());
    let mut polling = Box::pin(poll());
    let mut backlog: VecDeque<LinkCmd> = early.into();
    loop {
        if let Some(cmd) = backlog.pop_front() {
            let (path, body) = match cmd {
                LinkCmd::Close(code) => (format!("{CLOSE_PATH}?{q}&code={code}"), Bytes::new()),
                first => {
                    // Batch every frame already waiting into one POST.
                    let mut frames = vec![frame_of(first)];
                    while let Some(LinkCmd::Frame(_) | LinkCmd::CtrlPing(_)) = backlog.front() {
                        if let Some(c) = backlog.pop_front() {
                            frames.push(frame_of(c));
                        }
                    }
                    (format!("{SEND_PATH}?{q}"), encode_frames(&frames))
                }
            };
            let closing = match (
                path.starts_with(CLOSE_PATH),
                query_param(path.split_once('?').map(|p| p.1), "code"),
            ) {
                (true, Some(code)) => u16::try_from(code).ok(),
                _ => None,
            };
            let kind = match request(&base, Method::POST, path, body).await {
                // Our own close went through: the transport ended with our code.
                Ok((200, _)) if closing.is_some() => closing.map(LinkEventKind::Closed),
                Ok((200, _)) => None,
                Ok((410, body)) => Some(LinkEventKind::Closed(gone_code(&body))),
                Ok(_) | Err(()) => Some(LinkEventKind::Closed(ABNORMAL)),
            };
            if let Some(k) = kind {
                return report(&events, conn, k);
            }
            continue;
        }
        tokio::select! {
            c = cmds.recv() => match c {
                Some(c) => {
                    backlog.push_back(c);
                    while let Ok(c) = cmds.try_recv() {
                        backlog.push_back(c);
                    }
                }
                None => return,
            },
            r = &mut polling => {
                match r {
                    Ok((200, body)) => match decode_frames(&body) {
                        Some(frames) => {
                            for f in frames {
                                report(&events, conn, LinkEventKind::Frame(f));
                            }
                        }
                        None => return report(&events, conn, LinkEventKind::Closed(ABNORMAL)),
                    },
                    Ok((410, body)) => return report(&events, conn, LinkEventKind::Closed(gone_code(&body))),
                    Ok(_) | Err(()) => return report(&events, conn, LinkEventKind::Closed(ABNORMAL)),
                }
                polling = Box::pin(poll());
            }
        }
    }
}

/// The envelope bytes a frame-carrying command stands for (pings become
/// envelopes: HTTP has no control frames).
fn frame_of(c: LinkCmd) -> Bytes {
    match c {
        LinkCmd::Frame(b) => b,
        LinkCmd::CtrlPing(nonce) => Bytes::from(Envelope::Ping { nonce }.to_vec()),
        LinkCmd::Close(_) => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_bodies_are_rejected() {
        let frames = vec![
            Bytes::from_static(b"d1 a:b"),
            Bytes::new(),
            Bytes::from_static(b"p9"),
        ];
        let body = encode_frames(&frames);
        assert_eq!(&body[..], b"6:d1 a:b0:2:p9");
        assert_eq!(decode_frames(&body), Some(frames));
        assert_eq!(decode_frames(&Bytes::new()), Some(vec![]));
        for bad in [
            &b"3:ab"[..],
            b"x:ab",
            b":ab",
            b"2",
            b"-1:a",
            b"99999999999999999999999:a",
        ] {
            assert_eq!(decode_frames(&Bytes::copy_from_slice(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn base_urls() {
        assert!(Base::parse("http://127.0.0.1:80").is_ok());
        assert_eq!(Base::parse("ws://h/").err(), Some(ConnectError::InvalidUrl));
        assert_eq!(
            Base::parse("http:/nohost").err(),
            Some(ConnectError::InvalidUrl)
        );
        let b = Base::from_ws("ws://127.0.0.1:9000/ws?sid=3").map_err(drop);
        assert_eq!(b.map(|b| b.authority), Ok("127.0.0.1:9000".to_owned()));
        assert_eq!(
            Base::from_ws("ws//bad").err(),
            Some(ConnectError::InvalidUrl)
        );
        assert_eq!(query_param(Some("sid=4&t=7"), "t"), Some(7));
        assert_eq!(query_param(Some("sid=x"), "sid"), None);
        assert_eq!(query_param(None, "sid"), None);
    }

    #[tokio::test]
    async fn pipe_polls_frames_then_the_close_code() {
        let p = HttpPipe::default();
        assert_eq!(p.poll(Duration::from_millis(5)).await, Ok(vec![]));
        p.apply(LinkCmd::Frame(Bytes::from_static(b"a1")));
        p.apply(LinkCmd::CtrlPing(3));
        assert_eq!(
            p.poll(Duration::from_secs(1)).await,
            Ok(vec![Bytes::from_static(b"a1"), Bytes::from_static(b"p3")])
        );
        p.apply(LinkCmd::Close(4500));
        p.close(1006);
        assert_eq!(p.poll(Duration::from_secs(1)).await, Err(4500));
        assert_eq!(p.closed(), Some(4500));
    }
}
