//! [`FaultProxy`]: a TCP proxy on 127.0.0.1 that fails the way networks do.
//!
//! A test utility (the integration tests and the demo use it), not something
//! to deploy. It forwards bytes between a client and an upstream server and
//! can, on command:
//!
//! * blackhole the live connections: keep both TCP connections open and
//!   forward nothing, FIN included: the Wi-Fi drop where `onclose` never
//!   fires (R14);
//! * reset the live connections: RST to both sides;
//! * delay every forwarded chunk;
//! * handle new connections differently ([`NewConnections`]): refuse them
//!   with a reset, blackhole them, or answer WebSocket upgrade requests with
//!   `400` as a proxy that strips WebSocket does;
//! * switch the upstream, to follow a server restarted on another port.

#[allow(unused_imports)]
use super::prelude::*;
use core::time::Duration;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What happens to connections accepted from now on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NewConnections {
    /// Forward.
    #[default]
    Pass,
    /// Accept, then reset at once (a refusing firewall).
    Refuse,
    /// Accept and forward nothing.
    Blackhole,
    /// Answer WebSocket upgrade requests with `400 Bad Request`; forward
    /// everything else (plain HTTP, so the fallback still works).
    StripUpgrade,
}

/// What a live connection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Pass,
    Blackhole,
    Reset,
}

struct Inner {
    upstream: Mutex<SocketAddr>,
    policy: Mutex<NewConnections>,
    delay: Mutex<Duration>,
    live: Mutex<Vec<watch::Sender<Mode>>>,
    accepted: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running proxy. Dropping it stops listening and resets every
/// connection.
pub struct FaultProxy {
    inner: Arc<Inner>,
    addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FaultProxy {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to `upstream`.
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            upstream: Mutex::new(upstream),
            policy: Mutex::new(NewConnections::Pass),
            delay: Mutex::new(Duration::ZERO),
            live: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, inner.clone()));
        Ok(Self {
            inner,
            addr,
            accept,
        })
    }

    /// Where clients connect.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Forwards new connections to `upstream` from now on.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *lock(&self.inner.upstream) = upstream;
    }

    /// Sets what happens to connections accepted from now on.
    pub fn set_new_connections(&self, policy: NewConnections) {
        *lock(&self.inner.policy) = policy;
    }

    /// Delays every forwarded chunk by `delay` (zero: no delay).
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.inner.delay) = delay;
    }

    /// Blackholes every live connection; returns how many.
    pub fn blackhole_existing(&self) -> usize {
        self.set_live(Mode::Blackhole)
    }

    /// Resets both sides of every live connection; returns how many.
    pub fn reset_existing(&self) -> usize {
        self.set_live(Mode::Reset)
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// Connections still open.
    #[must_use]
    pub fn live(&self) -> usize {
        let mut live = lock(&self.inner.live);
        live.retain(|tx| !tx.is_closed());
        live.len()
    }

    fn set_live(&self, mode: Mode) -> usize {
        let mut live = lock(&self.inner.live);
        live.retain(|tx| !tx.is_closed());
        for tx in live.iter() {
            let _ = tx.send(mode);
        }
        live.len()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set_live(Mode::Reset);
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        inner.accepted.fetch_add(1, Ordering::Relaxed);
        let policy = *lock(&inner.policy);
        let initial = match policy {
            NewConnections::Refuse => {
                reset(&client);
                continue;
            }
            NewConnections::Blackhole => Mode::Blackhole,
            NewConnections::Pass | NewConnections::StripUpgrade => Mode::Pass,
        };
        let (tx, rx) = watch::channel(initial);
        lock(&inner.live).push(tx);
        let strip = policy == NewConnections::StripUpgrade;
        tokio::spawn(relay(client, inner.clone(), rx, strip));
    }
}

/// RST instead of FIN when the socket is dropped.
fn reset(s: &TcpStream) {
    let _ = s.set_zero_linger();
}

/// Reads a request head (up to 8 KiB, 5 s); whether it asks for a
/// WebSocket upgrade, and the bytes read.
async fn read_head(client: &mut TcpStream) -> (bool, Vec<u8>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let upgrade = text
        .lines()
        .any(|l| l.starts_with("upgrade:") && l.contains("websocket"));
    (upgrade, head)
}

async fn relay(
    mut client: TcpStream,
    inner: Arc<Inner>,
    mut mode: watch::Receiver<Mode>,
    strip: bool,
) {
    let mut first = Vec::new();
    if strip {
        let (upgrade, head) = read_head(&mut client).await;
        if upgrade {
            let _ = client
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            let _ = client.shutdown().await;
            return;
        }
        first = head;
    }
    let upstream_addr = *lock(&inner.upstream);
    let Ok(mut server) = TcpStream::connect(upstream_addr).await else {
        return reset(&client);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    if !first.is_empty() && server.write_all(&first).await.is_err() {
        return;
    }
    let (mut up_buf, mut down_buf) = ([0u8; 16 * 1024], [0u8; 16 * 1024]);
    let (mut client_eof, mut server_eof) = (false, false);
    loop {
        if client_eof && server_eof {
            return;
        }
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() == Mode::Reset {
                    reset(&client);
                    reset(&server);
                    return;
                }
            }
            r = client.read(&mut up_buf), if !client_eof => {
                if !forward(r, &up_buf, &mut server, &mode, &inner, &mut client_eof).await {
                    reset(&server);
                    return;
                }
            }
            r = server.read(&mut down_buf), if !server_eof => {
                if !forward(r, &down_buf, &mut client, &mode, &inner, &mut server_eof).await {
                    reset(&client);
                    return;
                }
            }
        }
    }
}

/// Forwards one read's worth (or a FIN) unless blackholed. `false`: the
/// read or the write failed, so the other side must be reset too.
async fn forward(
    read: std::io::Result<usize>,
    buf: &[u8],
    to: &mut TcpStream,
    mode: &watch::Receiver<Mode>,
    inner: &Inner,
    eof: &mut bool,
) -> bool {
    let pass = *mode.borrow() == Mode::Pass;
    match read {
        Ok(0) => {
            *eof = true;
            if pass {
                let _ = to.shutdown().await;
            }
            true
        }
        Ok(n) => {
            if !pass {
                return true; // swallowed
            }
            let delay = *lock(&inner.delay);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            to.write_all(buf.get(..n).unwrap_or_default()).await.is_ok()
        }
        Err(_) => false,
    }
}
