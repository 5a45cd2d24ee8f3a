//! [`Server`]: WebSocket and HTTP fallback on one port, one server-role
//! engine per session id, sessions kept across stop/start.

#[allow(unused_imports)]
use super::prelude::*;
use core::time::Duration;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::http::HttpPipe;
use super::link::{LinkEvent, LinkEventKind, ABNORMAL};
use super::pump::{envelope_config, Pump, Status};
use super::session::{run_session, Seen, SessionCmd};
use routes::accept_loop;

mod routes;
use super::{seed_or_random, DriverError, Epoch, Event};
use crate::config::Config;
use crate::error::ConfigError;
use crate::io::ConnId;
use crate::presence::{Presence, PresenceConfig};

/// How to run a [`Server`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The config of every session engine. Default [`Config::reliable`]:
    /// acks on, to match redial clients. `delivery.dedup_window` is not
    /// used: the envelope numbers every message, so sessions are built
    /// without an opaque-id window (2 KiB less per session).
    pub engine: Config,
    /// How long an HTTP long-poll is held open when there is nothing to send.
    /// Default 10 s: well under common proxy idle timeouts, and heartbeats
    /// flow through the poll anyway.
    pub long_poll: Duration,
    /// Seed of the session rngs (mixed with the session id). Default `None`:
    /// random.
    pub seed: Option<u64>,
    /// The clock origin. Default: when the config was made.
    pub epoch: Epoch,
    /// Emit [`Event::Trace`] for every session. Default `false`.
    pub trace: bool,
    /// Presence (R20, R24): every frame from a client counts as its
    /// heartbeat; [`Server::is_online`] answers from it. Default
    /// [`PresenceConfig::default`] (60 s threshold).
    pub presence: PresenceConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            engine: Config::reliable(),
            long_poll: Duration::from_secs(10),
            seed: None,
            epoch: Epoch::now(),
            trace: false,
            presence: PresenceConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The defaults with this engine config.
    #[must_use]
    pub fn new(engine: Config) -> Self {
        Self {
            engine,
            ..Self::default()
        }
    }
}

/// An event of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerEvent {
    /// The session id the client sent.
    pub session: u64,
    /// What happened.
    pub event: Event,
}

/// The server's event stream.
#[derive(Debug)]
pub struct ServerEvents(mpsc::UnboundedReceiver<ServerEvent>);

impl ServerEvents {
    /// The next event; `None` once the server is dropped.
    pub async fn next(&mut self) -> Option<ServerEvent> {
        self.0.recv().await
    }

    /// An event already waiting, without blocking.
    pub fn try_next(&mut self) -> Option<ServerEvent> {
        self.0.try_recv().ok()
    }
}

/// How the server misbehaves on purpose (a test hook).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Refusal {
    /// Serve normally.
    #[default]
    None,
    /// Answer WebSocket upgrades with this HTTP status (not 101); the HTTP
    /// fallback still works.
    Upgrade {
        /// The status to answer with.
        status: u16,
    },
    /// Accept TCP and never answer anything (a hung server).
    Silent,
}

/// Counters, all since [`Server::new`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// TCP connections accepted.
    pub tcp_accepted: u64,
    /// WebSocket upgrade requests seen (handshake attempts).
    pub upgrade_requests: u64,
    /// WebSockets accepted into a session.
    pub ws_accepted: u64,
    /// HTTP fallback transports opened.
    pub http_opens: u64,
    /// Connections or upgrades refused by a [`Refusal`].
    pub refused: u64,
    /// Sessions known.
    pub sessions: usize,
}

#[derive(Default)]
struct Counters {
    tcp: AtomicU64,
    upgrades: AtomicU64,
    ws: AtomicU64,
    http: AtomicU64,
    refused: AtomicU64,
}

struct Shared {
    cfg: ServerConfig,
    /// `cfg.engine`, shared by every session engine instead of copied.
    engine_cfg: Arc<Config>,
    sessions: Mutex<HashMap<u64, mpsc::UnboundedSender<SessionCmd>>>,
    /// The live HTTP transport per session: its token and pipe.
    pipes: Mutex<HashMap<u64, (u32, Arc<HttpPipe>)>>,
    refusal: Mutex<Refusal>,
    presence: Arc<Mutex<Presence>>,
    counters: Counters,
    events: mpsc::UnboundedSender<ServerEvent>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Shared {
    /// The session task for `sid`, created on first contact.
    fn session(&self, sid: u64) -> mpsc::UnboundedSender<SessionCmd> {
        let mut map = lock(&self.sessions);
        if let Some(tx) = map.get(&sid) {
            if !tx.is_closed() {
                return tx.clone();
            }
        }
        let events = self.events.clone();
        let emit = Box::new(move |event| {
            let _ = events.send(ServerEvent {
                session: sid,
                event,
            });
        });
        let seed = seed_or_random(self.cfg.seed, sid);
        let (tx, rx) = mpsc::unbounded_channel();
        // The config was validated in Server::new, so this cannot fail.
        if let Ok(pump) = Pump::new(
            Arc::clone(&self.engine_cfg),
            seed,
            self.cfg.epoch,
            emit,
            self.cfg.trace,
            None,
        ) {
            let seen = Seen {
                presence: self.presence.clone(),
                epoch: self.cfg.epoch,
                sid,
            };
            tokio::spawn(run_session(pump, rx, seen));
        }
        map.insert(sid, tx.clone());
        tx
    }

    fn existing(&self, sid: u64) -> Option<mpsc::UnboundedSender<SessionCmd>> {
        lock(&self.sessions).get(&sid).cloned()
    }
}

struct Running {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

/// A redial server. Sessions (engines, outboxes) live in the `Server` value;
/// [`stop`](Self::stop) drops every socket as a crash would, and
/// [`start_on`](Self::start_on) listens again with the sessions intact.
pub struct Server {
    shared: Arc<Shared>,
    running: Option<Running>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr())
            .finish()
    }
}

impl Server {
    /// A stopped server.
    ///
    /// # Errors
    /// The engine config does not validate.
    pub fn new(cfg: ServerConfig) -> Result<(Server, ServerEvents), ConfigError> {
        cfg.engine.validate()?;
        let presence = Arc::new(Mutex::new(Presence::new(cfg.presence)?));
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            engine_cfg: envelope_config(cfg.engine),
            cfg,
            sessions: Mutex::new(HashMap::new()),
            pipes: Mutex::new(HashMap::new()),
            refusal: Mutex::new(Refusal::None),
            presence,
            counters: Counters::default(),
            events: tx,
        });
        Ok((
            Server {
                shared,
                running: None,
            },
            ServerEvents(rx),
        ))
    }

    /// Listens on `addr` (`127.0.0.1:0` picks a port); returns the bound
    /// address. A running server is stopped first.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start_on(&mut self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        self.stop().await;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Clients silent while we were down are not offline yet (R24).
        lock(&self.shared.presence).restart(self.shared.cfg.epoch.elapsed());
        let (sd_tx, sd_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, self.shared.clone(), sd_rx));
        self.running = Some(Running {
            addr,
            shutdown: sd_tx,
            accept,
        });
        Ok(addr)
    }

    /// Stops listening and drops every connection without a close frame (a
    /// crash, as clients see it: EOF, 1006). Sessions are kept.
    pub async fn stop(&mut self) {
        let Some(r) = self.running.take() else { return };
        let _ = r.shutdown.send(true);
        let _ = r.accept.await;
        let pipes: Vec<_> = lock(&self.shared.pipes).drain().collect();
        for (sid, (token, pipe)) in pipes {
            pipe.close(ABNORMAL);
            if let Some(s) = self.shared.existing(sid) {
                let ev = LinkEvent {
                    conn: ConnId(token),
                    kind: LinkEventKind::Closed(ABNORMAL),
                };
                let _ = s.send(SessionCmd::Link(ev));
            }
        }
    }

    /// The bound address while running.
    #[must_use]
    pub fn addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.addr)
    }

    /// Makes the server misbehave (or behave again).
    pub fn set_refusal(&self, refusal: Refusal) {
        *lock(&self.shared.refusal) = refusal;
    }

    /// Whether the client of `session` is online: heard from within the
    /// presence threshold (or in grace after a restart).
    #[must_use]
    pub fn is_online(&self, session: u64) -> bool {
        let now = self.shared.cfg.epoch.elapsed();
        let mut p = lock(&self.shared.presence);
        while p.poll_expired(now).is_some() {}
        p.is_online(session, now)
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        ServerStats {
            tcp_accepted: c.tcp.load(Ordering::Relaxed),
            upgrade_requests: c.upgrades.load(Ordering::Relaxed),
            ws_accepted: c.ws.load(Ordering::Relaxed),
            http_opens: c.http.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            sessions: lock(&self.shared.sessions).len(),
        }
    }

    /// Sends `payload` to the client of `session`; returns its seq.
    ///
    /// # Errors
    /// Unknown session, a full queue, or the session task is gone.
    pub async fn send(&self, session: u64, payload: impl Into<Bytes>) -> Result<u64, DriverError> {
        let s = self
            .shared
            .existing(session)
            .ok_or(DriverError::UnknownSession { session })?;
        let (tx, rx) = oneshot::channel();
        s.send(SessionCmd::Send(payload.into(), tx))
            .map_err(|_| DriverError::Stopped)?;
        rx.await
            .map_err(|_| DriverError::Stopped)?
            .map_err(DriverError::Engine)
    }

    /// Test hook: closes the client's live transport with `code` (1001 idle,
    /// 1008 policy, 4500…). Returns whether a transport was live. The session
    /// itself stays.
    ///
    /// # Errors
    /// Unknown session, or its task is gone.
    pub async fn close_client(&self, session: u64, code: u16) -> Result<bool, DriverError> {
        let s = self
            .shared
            .existing(session)
            .ok_or(DriverError::UnknownSession { session })?;
        let (tx, rx) = oneshot::channel();
        s.send(SessionCmd::CloseLink(code, tx))
            .map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)
    }

    /// State and counters of one session.
    ///
    /// # Errors
    /// Unknown session, or its task is gone.
    pub async fn session_status(&self, session: u64) -> Result<Status, DriverError> {
        let s = self
            .shared
            .existing(session)
            .ok_or(DriverError::UnknownSession { session })?;
        let (tx, rx) = oneshot::channel();
        s.send(SessionCmd::Status(tx))
            .map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown.send(true);
        }
    }
}
