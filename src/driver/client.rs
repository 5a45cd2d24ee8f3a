//! [`Client`]: a session that dials, reconnects, falls back and resumes.

use super::prelude::*;
use bytes::Bytes;
#[allow(unused_imports)]
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::http::Base;
use super::link::LinkEvent;
use super::pump::{envelope_config, sleep_until, Dialer, Pump, Status};
use super::{seed_or_random, DriverError, Epoch, Event};
use crate::config::Config;
use crate::error::{ConfigError, Error};
use crate::io::Input;

/// How to run a [`Client`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The WebSocket URL, `ws://host:port/path`. The session id is added as
    /// `sid=<session>` to its query. Unparseable → the engine downgrades to
    /// the HTTP fallback (R1).
    pub url: String,
    /// The HTTP fallback base, `http://host:port[/prefix]`. Default `None`:
    /// derived from `url` (same host and port), which is only possible when
    /// `url` parses.
    pub http_url: Option<String>,
    /// The session id the server keys its engine by. Default: random, so two
    /// clients never share a session by accident; set it to resume a session
    /// across client restarts.
    pub session: u64,
    /// The engine's config. Default [`Config::reliable`]: acks on, since the
    /// peer is a redial server. `delivery.dedup_window` is not used: the
    /// envelope numbers every message, so the driver builds its engine
    /// without an opaque-id window (2 KiB smaller).
    pub engine: Config,
    /// Seed of the engine's rng (backoff jitter, ping nonces). Default `None`:
    /// random; set it for reproducible delays.
    pub seed: Option<u64>,
    /// The clock origin. Default: when the config was made.
    pub epoch: Epoch,
    /// Emit [`Event::Trace`] for every input and action. Default `false`: a
    /// trace is for demos and debugging, not for production event streams.
    pub trace: bool,
}

impl ClientConfig {
    /// A config for `url` with the defaults above.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            http_url: None,
            session: seed_or_random(None, 0),
            engine: Config::reliable(),
            seed: None,
            epoch: Epoch::now(),
            trace: false,
        }
    }

    /// Sets the HTTP fallback base.
    #[must_use]
    pub fn http_url(mut self, url: impl Into<String>) -> Self {
        self.http_url = Some(url.into());
        self
    }

    /// Sets the session id.
    #[must_use]
    pub fn session(mut self, id: u64) -> Self {
        self.session = id;
        self
    }

    /// Sets the engine config.
    #[must_use]
    pub fn engine(mut self, config: Config) -> Self {
        self.engine = config;
        self
    }

    /// Sets the rng seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the clock origin.
    #[must_use]
    pub fn epoch(mut self, epoch: Epoch) -> Self {
        self.epoch = epoch;
        self
    }

    /// Turns traces on or off.
    #[must_use]
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }
}

/// What the handle asks of the session task.
enum Command {
    Send(Bytes, oneshot::Sender<Result<u64, Error>>),
    Input(Input, oneshot::Sender<Result<(), Error>>),
    Status(oneshot::Sender<Status>),
}

/// A handle to a running client session. Cloneable; the session task ends
/// (abandoning its socket) when the last handle is dropped.
#[derive(Clone, Debug)]
pub struct Client {
    cmds: mpsc::UnboundedSender<Command>,
    session: u64,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// The client's event stream. Read it, or drop it to ignore events.
#[derive(Debug)]
pub struct Events(mpsc::UnboundedReceiver<Event>);

impl Events {
    /// The next event; `None` once the session task has ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// An event already waiting, without blocking.
    pub fn try_next(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }
}

impl Client {
    /// Validates `config`, spawns the session task on the current tokio
    /// runtime and starts connecting.
    ///
    /// # Errors
    /// The engine config does not validate.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn start(config: ClientConfig) -> Result<(Client, Events), ConfigError> {
        let (link_tx, link_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let sid = config.session;
        let ws_url = with_sid(&config.url, sid);
        let http = match &config.http_url {
            Some(u) => Base::parse(u),
            None => Base::from_ws(&config.url),
        };
        let dialer = Dialer {
            ws_url,
            http,
            sid,
            events: link_tx,
        };
        let emit = Box::new(move |e| {
            let _ = ev_tx.send(e);
        });
        let pump = Pump::new(
            envelope_config(config.engine),
            seed_or_random(config.seed, sid),
            config.epoch,
            emit,
            config.trace,
            Some(dialer),
        )?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pump, cmd_rx, link_rx));
        Ok((
            Client {
                cmds: cmd_tx,
                session: sid,
            },
            Events(ev_rx),
        ))
    }

    /// The session id.
    #[must_use]
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Sends one message; returns its sequence number. Buffered while the
    /// session is not open and resent until acknowledged.
    ///
    /// # Errors
    /// [`DriverError::Engine`] when the queue is full or the session closed
    /// or failed; [`DriverError::Stopped`] when the task is gone.
    pub async fn send(&self, payload: impl Into<Bytes>) -> Result<u64, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.ask(Command::Send(payload.into(), tx), rx).await
    }

    /// Closes the session on purpose with `code` (1000, or 3000–4999).
    /// Nothing reconnects afterwards until [`restart`](Self::restart).
    ///
    /// # Errors
    /// An invalid close code, or the task is gone.
    pub async fn close(&self, code: u16) -> Result<(), DriverError> {
        self.input(Input::Close { code }).await
    }

    /// Starts the session again after a close or a failure.
    ///
    /// # Errors
    /// The task is gone.
    pub async fn restart(&self) -> Result<(), DriverError> {
        self.input(Input::Start).await
    }

    /// Tells the engine the host went online (`true`) or offline.
    ///
    /// # Errors
    /// The task is gone.
    pub async fn set_online(&self, online: bool) -> Result<(), DriverError> {
        let input = if online {
            Input::Online
        } else {
            Input::Offline
        };
        self.input(input).await
    }

    /// State, counters and queue depth.
    ///
    /// # Errors
    /// The task is gone.
    pub async fn status(&self) -> Result<Status, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Command::Status(tx))
            .map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)
    }

    async fn input(&self, input: Input) -> Result<(), DriverError> {
        let (tx, rx) = oneshot::channel();
        self.ask(Command::Input(input, tx), rx).await
    }

    async fn ask<T>(
        &self,
        cmd: Command,
        rx: oneshot::Receiver<Result<T, Error>>,
    ) -> Result<T, DriverError> {
        self.cmds.send(cmd).map_err(|_| DriverError::Stopped)?;
        rx.await
            .map_err(|_| DriverError::Stopped)?
            .map_err(DriverError::Engine)
    }
}

/// `url` with `sid=<sid>` added to its query (left alone if unparseable,
/// so the engine sees the parse failure).
fn with_sid(url: &str, sid: u64) -> String {
    if url.parse::<hyper::Uri>().is_err() {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sid={sid}")
}

/// The session task: owns the engine and the links.
async fn run(
    mut pump: Pump,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    mut links: mpsc::UnboundedReceiver<LinkEvent>,
) {
    let _ = pump.input(Input::Start);
    loop {
        let deadline = pump.deadline();
        tokio::select! {
            c = cmds.recv() => match c {
                Some(Command::Send(payload, reply)) => {
                    let _ = reply.send(pump.send(payload));
                }
                Some(Command::Input(input, reply)) => {
                    let _ = reply.send(pump.input(input));
                }
                Some(Command::Status(reply)) => {
                    let _ = reply.send(pump.status());
                }
                None => break,
            },
            Some(ev) = links.recv() => pump.on_link(ev),
            () = sleep_until(deadline) => {
                let _ = pump.input(Input::Timeout);
            }
        }
    }
    pump.shutdown();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_is_appended_to_parseable_urls_only() {
        assert_eq!(with_sid("ws://h:1/ws", 7), "ws://h:1/ws?sid=7");
        assert_eq!(with_sid("ws://h:1/ws?a=b", 7), "ws://h:1/ws?a=b&sid=7");
        assert_eq!(with_sid("ws://bad host", 7), "ws://bad host");
    }
}
