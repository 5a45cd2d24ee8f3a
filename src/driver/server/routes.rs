//! The server's HTTP side: the accept loop, and one hyper service that
//! answers WebSocket upgrades and the fallback's endpoints.

#[allow(unused_imports)]
use crate::driver::prelude::*;

use core::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::{bump, lock, Refusal, Shared};
use crate::driver::http::{self, decode_frames, encode_frames, query_param};
use crate::driver::link::{LinkEvent, LinkEventKind, ABNORMAL};
use crate::driver::session::SessionCmd;
use crate::io::ConnId;

pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
        };
        bump(&shared.counters.tcp);
        let _ = stream.set_nodelay(true);
        let mut sd = shutdown.clone();
        if *lock(&shared.refusal) == Refusal::Silent {
            bump(&shared.counters.refused);
            // Hold the socket, say nothing, until the server stops.
            tokio::spawn(async move {
                let _held = stream;
                let _ = sd.wait_for(|s| *s).await;
            });
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let sd2 = sd.clone();
            let svc = service_fn(move |req| serve(req, shared.clone(), sd2.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                _ = sd.wait_for(|s| *s) => {}
            }
        });
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn gone(code: u16) -> Response<Full<Bytes>> {
    reply(StatusCode::GONE, code.to_string())
}

fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn serve(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let query = req.uri().query().map(str::to_owned);
    let Some(sid) = query_param(query.as_deref(), "sid") else {
        return Ok(reply(StatusCode::BAD_REQUEST, "missing sid"));
    };
    if is_upgrade(&req) {
        return Ok(upgrade(req, sid, &shared, shutdown));
    }
    let token = query_param(query.as_deref(), "t").and_then(|t| u32::try_from(t).ok());
    let path = req.uri().path().to_owned();
    Ok(match (req.method().clone(), path.as_str(), token) {
        (Method::POST, http::OPEN_PATH, _) => {
            let (tx, rx) = oneshot::channel();
            let _ = shared.session(sid).send(SessionCmd::OpenHttp(tx));
            match rx.await {
                Ok(Ok((conn, pipe))) => {
                    bump(&shared.counters.http);
                    if let Some((_, old)) = lock(&shared.pipes).insert(sid, (conn.0, pipe)) {
                        old.close(ABNORMAL);
                    }
                    reply(StatusCode::OK, conn.0.to_string())
                }
                _ => reply(StatusCode::SERVICE_UNAVAILABLE, ""),
            }
        }
        (method, p, Some(t)) => {
            let pipe = match lock(&shared.pipes).get(&sid) {
                Some((tok, pipe)) if *tok == t => pipe.clone(),
                _ => return Ok(gone(ABNORMAL)),
            };
            if let Some(code) = pipe.closed() {
                return Ok(gone(code));
            }
            let Some(session) = shared.existing(sid) else {
                return Ok(gone(ABNORMAL));
            };
            let conn = ConnId(t);
            let link = |kind| SessionCmd::Link(LinkEvent { conn, kind });
            match (method, p) {
                (Method::GET, http::POLL_PATH) => {
                    let mut sd = shutdown;
                    tokio::select! {
                        r = pipe.poll(shared.cfg.long_poll) => match r {
                            Ok(frames) => reply(StatusCode::OK, encode_frames(&frames)),
                            Err(code) => gone(code),
                        },
                        _ = sd.wait_for(|s| *s) => gone(ABNORMAL),
                    }
                }
                (Method::POST, http::SEND_PATH) => {
                    let body = match req.into_body().collect().await {
                        Ok(b) => b.to_bytes(),
                        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST, "")),
                    };
                    let Some(frames) = decode_frames(&body) else {
                        return Ok(reply(StatusCode::BAD_REQUEST, "bad framing"));
                    };
                    for f in frames {
                        let _ = session.send(link(LinkEventKind::Frame(f)));
                    }
                    reply(StatusCode::OK, "")
                }
                (Method::POST, http::CLOSE_PATH) => {
                    let code = query_param(query.as_deref(), "code")
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(1005);
                    pipe.close(code);
                    let _ = session.send(link(LinkEventKind::Closed(code)));
                    reply(StatusCode::OK, "")
                }
                _ => reply(StatusCode::NOT_FOUND, ""),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, ""),
    })
}

/// Answers a WebSocket upgrade (or refuses it), and hands the socket to the
/// session once hyper has switched protocols.
fn upgrade(
    mut req: Request<Incoming>,
    sid: u64,
    shared: &Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Response<Full<Bytes>> {
    bump(&shared.counters.upgrades);
    if let Refusal::Upgrade { status } = *lock(&shared.refusal) {
        bump(&shared.counters.refused);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        return reply(status, "websocket refused");
    }
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY) else {
        return reply(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let session = shared.session(sid);
    let shared2 = shared.clone();
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            bump(&shared2.counters.ws);
            let _ = session.send(SessionCmd::AttachWs(Box::new(ws), shutdown));
        }
    });
    let mut r = reply(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
    let h = r.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}
