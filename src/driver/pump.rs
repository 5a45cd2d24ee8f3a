//! The part every session task shares, client or server: feed the engine,
//! drain every action, carry each one out on the right link, keep payloads
//! in an [`Outbox`], hand deliveries to the app.

use super::prelude::*;
use std::collections::HashMap;
#[allow(unused_imports)]
use std::sync::Arc;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

use super::http::{http_client_link, Base};
use super::link::{ws_client_link, Link, LinkCmd, LinkEvent, LinkEventKind};
use super::{Epoch, Event, Step};
use crate::config::Config;
use crate::delivery::DataId;
use crate::envelope::Envelope;
use crate::error::{ConfigError, Error};
use crate::heartbeat::HeartbeatMode;
use crate::io::{Action, ConnId, Frame, Input, State, Transport};
use crate::outbox::Outbox;
use crate::time::Instant;
use crate::{Connection, Role, Stats};

/// How a client opens links: its URLs and where links report.
pub(crate) struct Dialer {
    /// The WebSocket URL.
    pub(crate) ws_url: String,
    /// The HTTP fallback base (or why there is none).
    pub(crate) http: Result<Base, crate::io::ConnectError>,
    /// The session id sent to the server.
    pub(crate) sid: u64,
    /// Where new links report.
    pub(crate) events: mpsc::UnboundedSender<LinkEvent>,
}

/// Delivers app events (to a client's receiver, or tagged with a session id).
pub(crate) type Emit = Box<dyn Fn(Event) + Send + Sync>;

/// One engine and everything it needs to act.
pub(crate) struct Pump {
    /// Server sessions share one config; a client holds its own. No
    /// opaque-id window: the envelope numbers every message, so no
    /// `DataId::Opaque` ever arrives ([`envelope_config`]).
    engine: Connection<ChaCha8Rng, Arc<Config>, 0>,
    epoch: Epoch,
    outbox: Outbox<Bytes>,
    links: HashMap<ConnId, Link>,
    /// The data frame being judged: its seq and payload.
    pending: Option<(Option<u64>, Bytes)>,
    emit: Emit,
    trace: bool,
    acked: u64,
    dialer: Option<Dialer>,
}

/// A snapshot of a session for tests and dashboards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The engine's state.
    pub state: State,
    /// The engine's counters.
    pub stats: Stats,
    /// Messages sent and not yet acknowledged.
    pub queued: u64,
    /// Highest seq the peer acknowledged.
    pub acked: u64,
}

/// `config` as the driver's engines run it. The envelope labels data with
/// sequence numbers only, so opaque-id deduplication has nothing to do: it
/// is turned off and the engines are built without its 2 KiB window.
pub(crate) fn envelope_config(mut config: Config) -> Arc<Config> {
    config.delivery.dedup_window = 0;
    Arc::new(config)
}

fn bytes_of(e: Envelope<'_>) -> Bytes {
    Bytes::from(e.to_vec())
}

impl Pump {
    /// A client (with a dialer) or server engine.
    pub(crate) fn new(
        config: Arc<Config>,
        seed: u64,
        epoch: Epoch,
        emit: Emit,
        trace: bool,
        dialer: Option<Dialer>,
    ) -> Result<Self, ConfigError> {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let role = match dialer {
            Some(_) => Role::Client,
            None => Role::Server,
        };
        let engine = Connection::with_role(config, rng, role)?;
        Ok(Self {
            engine,
            epoch,
            outbox: Outbox::new(),
            links: HashMap::new(),
            pending: None,
            emit,
            trace,
            acked: 0,
            dialer,
        })
    }

    fn now(&self) -> Instant {
        self.epoch.elapsed()
    }

    /// When the engine wants a `Timeout`.
    pub(crate) fn deadline(&self) -> Option<tokio::time::Instant> {
        self.engine.poll_timeout().map(|at| self.epoch.to_tokio(at))
    }

    pub(crate) fn status(&self) -> Status {
        let d = self.engine.delivery();
        Status {
            state: self.engine.state(),
            stats: self.engine.stats(),
            queued: d.queued(),
            acked: d.acked(),
        }
    }

    fn traced(&self, now: Instant, step: Step) {
        if self.trace {
            (self.emit)(Event::Trace { at: now, step });
        }
    }

    /// Feeds one input and carries out what follows.
    pub(crate) fn input(&mut self, input: Input) -> Result<(), Error> {
        let now = self.now();
        self.traced(now, Step::Input(input));
        let r = self.engine.handle(now, input);
        self.drain(now);
        r
    }

    /// The app sends `payload`: numbered, stored, transmitted when possible.
    pub(crate) fn send(&mut self, payload: Bytes) -> Result<u64, Error> {
        let now = self.now();
        self.traced(now, Step::Input(Input::Send));
        let r = self.engine.send(now);
        if let Ok(seq) = r {
            // Seqs come from the engine one by one, so the insert cannot be
            // out of order; were it ever, Transmit would find no payload and
            // the message would be reported overdue rather than corrupted.
            let _ = self.outbox.insert(seq, payload);
        }
        self.drain(now);
        r
    }

    /// Server role: a transport for this session is open.
    pub(crate) fn accept(&mut self, link: Link) -> Result<ConnId, Error> {
        let now = self.now();
        self.traced(now, Step::Input(Input::Accepted));
        let conn = self.engine.accept(now)?;
        for (_, old) in self.links.drain() {
            old.abandon();
        }
        self.links.insert(conn, link);
        self.drain(now);
        Ok(conn)
    }

    /// Closes the live link with `code` without telling the engine (a server
    /// hook); the engine hears about it as the peer's close. Returns whether
    /// there was a live link.
    pub(crate) fn close_live(&mut self, code: u16) -> bool {
        let Some(conn) = self.engine.live_conn() else {
            return false;
        };
        let pipe = match self.links.get(&conn) {
            Some(Link::Task(tx)) => {
                let _ = tx.send(LinkCmd::Close(code));
                return true;
            }
            Some(Link::Pipe(p)) => p.clone(),
            None => return false,
        };
        // An HTTP transport closes at once: no close handshake to wait for.
        pipe.close(code);
        self.on_link(LinkEvent {
            conn,
            kind: LinkEventKind::Closed(code),
        });
        true
    }

    /// A link reported something.
    pub(crate) fn on_link(&mut self, ev: LinkEvent) {
        if !self.links.contains_key(&ev.conn) {
            return; // a link already abandoned: its news is stale (R27)
        }
        let conn = ev.conn;
        let input = match ev.kind {
            LinkEventKind::Opened => Input::Opened { conn },
            LinkEventKind::ConnectFailed(error) => {
                self.links.remove(&conn);
                Input::ConnectFailed { conn, error }
            }
            LinkEventKind::Closed(code) => {
                self.links.remove(&conn);
                Input::Closed { conn, code }
            }
            LinkEventKind::CtrlPong(nonce) => Input::Message {
                conn,
                frame: nonce.map_or(Frame::Other, |nonce| Frame::Pong { nonce }),
            },
            LinkEventKind::CtrlPing => Input::Message {
                conn,
                frame: Frame::Other,
            },
            LinkEventKind::Frame(b) => {
                let frame = match Envelope::decode(&b) {
                    Ok(env) => {
                        if let Envelope::Data { seq, payload } = env {
                            self.pending = Some((seq, b.slice_ref(payload)));
                        }
                        env.frame()
                    }
                    // Not an envelope: still proof of life.
                    Err(_) => Frame::Other,
                };
                Input::Message { conn, frame }
            }
        };
        let _ = self.input(input);
    }

    /// Abandons every link (the session task is ending).
    pub(crate) fn shutdown(&mut self) {
        for (_, l) in self.links.drain() {
            l.abandon();
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(a) = self.engine.poll_action() {
            self.traced(now, Step::Action(a));
            self.act(now, a);
        }
        self.pending = None;
        let acked = self.engine.delivery().acked();
        if acked > self.acked {
            self.acked = acked;
            self.outbox.ack(acked);
            if self.engine.config().delivery.acks {
                (self.emit)(Event::Acked { upto: acked });
            }
        }
    }

    fn to_link(&self, conn: ConnId, cmd: LinkCmd) {
        if let Some(l) = self.links.get(&conn) {
            l.cmd(cmd);
        }
    }

    fn act(&mut self, now: Instant, a: Action) {
        match a {
            Action::Connect {
                conn, transport, ..
            } => self.dial(conn, transport),
            Action::SendPing { conn, nonce } => {
                let cmd = match self.engine.config().heartbeat.mode {
                    HeartbeatMode::ControlFrames => LinkCmd::CtrlPing(nonce),
                    _ => LinkCmd::Frame(bytes_of(Envelope::Ping { nonce })),
                };
                self.to_link(conn, cmd);
            }
            Action::SendPong { conn, nonce } => {
                self.to_link(conn, LinkCmd::Frame(bytes_of(Envelope::Pong { nonce })));
            }
            Action::Transmit { conn, seq } => {
                if let Some(p) = self.outbox.get(seq) {
                    let env = Envelope::Data {
                        seq: Some(seq),
                        payload: p,
                    };
                    self.to_link(conn, LinkCmd::Frame(bytes_of(env)));
                }
            }
            Action::Ack { conn, upto } => {
                self.to_link(conn, LinkCmd::Frame(bytes_of(Envelope::Ack { upto })));
            }
            Action::Resume { conn, last } => {
                self.to_link(conn, LinkCmd::Frame(bytes_of(Envelope::Resume { last })));
            }
            Action::Deliver { id } => {
                // The verdict follows the frame it judges in the same drain.
                if let Some((seq, payload)) = self.pending.take() {
                    let seq = match id {
                        DataId::Seq(s) => Some(s),
                        _ => seq,
                    };
                    (self.emit)(Event::Delivered { seq, payload });
                }
            }
            Action::Discard { .. } => self.pending = None,
            Action::Close { conn, code } => self.to_link(conn, LinkCmd::Close(code)),
            Action::Abandon { conn } => {
                if let Some(l) = self.links.remove(&conn) {
                    l.abandon();
                }
            }
            Action::StateChanged { state } => {
                let retry_in = match state {
                    State::Waiting { until, .. } => Some(until.saturating_duration_since(now)),
                    _ => None,
                };
                (self.emit)(Event::StateChanged { state, retry_in });
            }
            Action::DeliveryOverdue { seq } => (self.emit)(Event::Overdue { seq }),
            Action::Failed { reason } => (self.emit)(Event::Failed { reason }),
            // Shown in traces; the pump acts on the state they lead to.
            Action::ReconnectAfter { .. }
            | Action::ScheduleTimer { .. }
            | Action::Downgrade { .. } => {}
        }
    }

    /// Opens a link of generation `conn` (clients only).
    fn dial(&mut self, conn: ConnId, transport: Transport) {
        let Some(d) = &self.dialer else { return };
        // The engine keeps one generation live: anything older is over.
        for (_, old) in self.links.drain() {
            old.abandon();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let events = d.events.clone();
        match transport {
            Transport::WebSocket => {
                tokio::spawn(ws_client_link(conn, d.ws_url.clone(), events, rx));
            }
            Transport::Http => {
                tokio::spawn(http_client_link(conn, d.http.clone(), d.sid, events, rx));
            }
        }
        self.links.insert(conn, Link::Task(tx));
    }
}

/// Sleeps until `at`, or forever when there is no deadline.
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
