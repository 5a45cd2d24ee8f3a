//! Reconnect storm: N clients lose their node at the same instant (close
//! 1006) and all come back to a server that admits C connections per second
//! and refuses the excess. One run, one process, every policy side by side,
//! each client a real `redial::Connection` driven in virtual time.
//!
//! ```sh
//! cargo run --release --example storm                      # N = 100,000, C = 5,000/s
//! cargo run --release --example storm -- --clients 5000    # CI-sized
//! cargo run --release --example storm -- --svg docs/storm.svg
//! ```
//!
//! Options: `--clients N` (or env `STORM_CLIENTS`), `--rate C`, `--burst B`
//! (default C/10), `--seed S`, `--svg PATH` (arrivals chart), `--check`
//! (exit 1 unless redial default connects everyone within 1.2 × N/C with
//! at most 1.5 attempts per client, peak/mean at most 1.25 (judged from
//! 1,000/s up), and fewer attempts and sooner than every peer preset).
//!
//! The server is `redial::admission::Admission` for every row (same capacity,
//! same burst). How a refusal reaches the client differs:
//! * peer presets: the upgrade is refused (HTTP 503), which every library
//!   treats as a failed attempt and backs off by its own formula;
//! * redial without a hint: the server accepts and closes with 1013 (try
//!   again later), which redial's close policy answers with `max(backoff, 10 s)`;
//!   a 503 row shows redial's bare backoff too;
//! * redial with the hint: close 1013 with reason `retry-after=<ms>`, the
//!   slot `Admission` booked for this client, parsed by the driver and fed to
//!   the engine as `Input::RetryAfter`;
//! * redial default (window + hint): in addition, while the link is up the
//!   server announces `reconnect-window=<ms>`, the time its admission rate
//!   needs for its whole population (`Admission::reconnect_window`), fed as
//!   `Input::ReconnectWindow`; after the 1006 each client draws its first
//!   attempt uniformly over that window.
//!
//! Every message between client and server takes 25 ms one way.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::convert::Infallible;
use std::time::Duration;

use plotters::prelude::*;
use rand_core::TryRng;
use redial::admission::{
    format_reconnect_window, format_retry_after, parse_reconnect_window, parse_retry_after,
    Admission, MAX_HINT_LEN,
};
use redial::{
    Action, Config, ConnId, ConnectError, Connection, Input, Instant, ReconnectConfig, Role,
};

/// When the clients first connect, and when the node dies (virtual ms).
const OPEN_AT: u64 = 0;
const STORM_AT: u64 = 10_000;
/// One-way latency between a client and the server.
const ONE_WAY: u64 = 25;
/// Arrival histogram bucket.
const BUCKET_MS: u64 = 100;
/// The simulation stops here (after the storm) whatever is left.
const HORIZON_MS: u64 = 900_000;

/// SplitMix64: an 8-byte seeded generator, so 100k engines stay small.
struct SplitMix(u64);

impl TryRng for SplitMix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.try_next_u64().map(|x| (x >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

/// Every client of a row shares the row's one `Config` (the engine borrows
/// it instead of holding a 768-byte copy each), and no client needs an
/// opaque-id window (`IDS = 0`: 2 KiB less each): they send no data.
type Engine<'a> = Connection<SplitMix, &'a Config, 0>;

/// How the server's refusal reaches the client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The upgrade is answered 503.
    Handshake503,
    /// Accepted, then closed with 1013 and no reason.
    Close1013,
    /// Accepted, then closed with 1013 and `retry-after=<ms>`.
    Close1013Hint,
}

struct Policy {
    name: &'static str,
    reconnect: ReconnectConfig,
    refusal: Refusal,
    /// The server announces its reconnect window while the link is up.
    window: bool,
}

fn policies() -> Vec<Policy> {
    use Refusal::{Close1013, Close1013Hint, Handshake503};
    let redial = ReconnectConfig::default;
    let (base, cap) = (Duration::from_secs(1), Duration::from_secs(30));
    #[rustfmt::skip]
    let rows = [
        ("redial default: window + hint", redial(), Close1013Hint, true),
        ("redial, hint only", redial(), Close1013Hint, false),
        ("redial, 1013 no hint", redial(), Close1013, false),
        ("redial, 503 no hint", redial(), Handshake503, false),
        ("reconnecting-websocket", ReconnectConfig::reconnecting_websocket(), Handshake503, false),
        ("Socket.IO", ReconnectConfig::socket_io(), Handshake503, false),
        ("SignalR", ReconnectConfig::signalr(), Handshake503, false),
        ("Phoenix", ReconnectConfig::phoenix(), Handshake503, false),
        ("Centrifugo", ReconnectConfig::centrifugo(), Handshake503, false),
        ("graphql-ws", ReconnectConfig::graphql_ws(), Handshake503, false),
        ("AWS full jitter 1s/30s", ReconnectConfig::aws_full_jitter(base, cap), Handshake503, false),
        ("AWS decorrelated 1s/30s", ReconnectConfig::aws_decorrelated(base, cap), Handshake503, false),
    ];
    rows.into_iter()
        .map(|(name, reconnect, refusal, window)| Policy {
            name,
            reconnect,
            refusal,
            window,
        })
        .collect()
}

struct Args {
    clients: usize,
    rate: u32,
    burst: u32,
    seed: u64,
    svg: Option<String>,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let env_clients = std::env::var("STORM_CLIENTS").ok();
    let mut args = Args {
        clients: match env_clients {
            Some(v) => v.parse().map_err(|e| format!("STORM_CLIENTS: {e}"))?,
            None => 100_000,
        },
        rate: 5_000,
        burst: 0,
        seed: 1,
        svg: None,
        check: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--clients" => args.clients = value()?.parse().map_err(|e| format!("{e}"))?,
            "--rate" => args.rate = value()?.parse().map_err(|e| format!("{e}"))?,
            "--burst" => args.burst = value()?.parse().map_err(|e| format!("{e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("{e}"))?,
            "--svg" => args.svg = Some(value()?),
            "--check" => args.check = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.clients == 0 || args.rate == 0 {
        return Err("--clients and --rate must be above zero".into());
    }
    if args.burst == 0 {
        args.burst = (args.rate / 10).max(1);
    }
    Ok(args)
}

/// What happens at an instant, in time order (ties: insertion order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A connection attempt reaches the server.
    Arrive { client: u32, conn: u32 },
    /// The server's answer reaches the client; `hint` = 0 means admitted,
    /// otherwise the refusal's retry-after in ms plus one.
    Answer { client: u32, conn: u32, hint: u64 },
    /// A deadline the engine asked for.
    Timeout { client: u32 },
}

struct Sim<'a> {
    policy: &'a Policy,
    engines: Vec<Engine<'a>>,
    connected: Vec<bool>,
    queue: BinaryHeap<Reverse<(u64, u64, Event)>>,
    seq: u64,
    server: Admission,
    arrivals: Vec<u32>,
    attempts: u64,
    connected_count: usize,
    failed: usize,
    last_connect: u64,
}

impl Sim<'_> {
    fn push(&mut self, at: u64, e: Event) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, e)));
    }

    /// Feed one input and turn the engine's actions into events.
    fn feed(&mut self, client: u32, now: u64, input: Input) {
        let i = client as usize;
        let engine = &mut self.engines[i];
        engine
            .handle(Instant::from_millis(now), input)
            .expect("the driver drains every action");
        let mut connects = Vec::new();
        while let Some(a) = engine.poll_action() {
            match a {
                Action::Connect { conn, .. } => connects.push(conn.0),
                Action::Failed { .. } => self.failed += 1,
                _ => {}
            }
        }
        let timeout = engine.poll_timeout();
        for conn in connects {
            self.push(now + ONE_WAY, Event::Arrive { client, conn });
        }
        if !self.connected[i] {
            if let Some(at) = timeout {
                self.push(at.as_millis(), Event::Timeout { client });
            }
        }
    }

    fn run(&mut self) {
        while let Some(Reverse((now, _, event))) = self.queue.pop() {
            if now > STORM_AT + HORIZON_MS {
                break;
            }
            match event {
                Event::Arrive { client, conn } => {
                    let since = (now - STORM_AT) / BUCKET_MS;
                    if let Some(slot) = self.arrivals.get_mut(since as usize) {
                        *slot += 1;
                    }
                    self.attempts += 1;
                    let hint = match self.server.admit(Instant::from_millis(now)) {
                        Ok(()) => 0,
                        Err(wait) => wait.as_millis() as u64 + 1,
                    };
                    self.push(now + ONE_WAY, Event::Answer { client, conn, hint });
                }
                Event::Answer { client, conn, hint } => self.answer(now, client, conn, hint),
                Event::Timeout { client } => {
                    let due = self.engines[client as usize]
                        .poll_timeout()
                        .is_some_and(|t| t.as_millis() <= now);
                    if due && !self.connected[client as usize] {
                        self.feed(client, now, Input::Timeout);
                    }
                }
            }
        }
    }

    fn answer(&mut self, now: u64, client: u32, conn: u32, hint: u64) {
        let conn = ConnId(conn);
        if hint == 0 {
            self.connected[client as usize] = true;
            self.connected_count += 1;
            self.last_connect = now;
            self.feed(client, now, Input::Opened { conn });
            return;
        }
        match self.policy.refusal {
            Refusal::Handshake503 => {
                let error = ConnectError::Handshake { status: Some(503) };
                self.feed(client, now, Input::ConnectFailed { conn, error });
            }
            Refusal::Close1013 => {
                self.feed(client, now, Input::Opened { conn });
                self.feed(client, now, Input::Closed { conn, code: 1013 });
            }
            Refusal::Close1013Hint => {
                // The wire round trip: the server writes the reason, the
                // driver parses it back.
                let mut buf = [0u8; MAX_HINT_LEN];
                let reason = format_retry_after(Duration::from_millis(hint - 1), &mut buf);
                self.feed(client, now, Input::Opened { conn });
                if let Some(after) = parse_retry_after(reason) {
                    self.feed(client, now, Input::RetryAfter { conn, after });
                }
                self.feed(client, now, Input::Closed { conn, code: 1013 });
            }
        }
    }
}

struct Outcome {
    name: &'static str,
    arrivals: Vec<u32>,
    attempts: u64,
    connected: usize,
    failed: usize,
    last_connect: u64,
    wall: Duration,
}

// The simulation runs in virtual time; the wall clock only reports how long
// the simulation itself took.
#[allow(clippy::disallowed_methods)]
fn simulate(policy: &Policy, args: &Args) -> Outcome {
    let started = std::time::Instant::now();
    let n = args.clients;
    let mut config = Config::with_reconnect(policy.reconnect);
    config.delivery.dedup_window = 0;
    let engines = (0..n)
        .map(|i| {
            let rng = SplitMix(args.seed.wrapping_mul(0x1_0000_0001) ^ i as u64);
            Engine::with_role(&config, rng, Role::Client).expect("valid preset")
        })
        .collect();
    let mut sim = Sim {
        policy,
        engines,
        connected: vec![true; n],
        queue: BinaryHeap::new(),
        seq: 0,
        server: Admission::new(args.rate, args.burst).expect("valid rate"),
        arrivals: vec![0; (HORIZON_MS / BUCKET_MS) as usize + 1],
        attempts: 0,
        connected_count: 0,
        failed: 0,
        last_connect: STORM_AT,
    };
    // Everyone is connected before the storm (conn #1 for each engine).
    for c in 0..n as u32 {
        sim.feed(c, OPEN_AT, Input::Start);
        sim.feed(c, OPEN_AT, Input::Opened { conn: ConnId(1) });
        if policy.window {
            // While the link is up the server announces how long its
            // admission rate needs to take everyone back, as the text
            // token the driver parses.
            let mut buf = [0u8; MAX_HINT_LEN];
            let text = format_reconnect_window(sim.server.reconnect_window(n as u64), &mut buf);
            let window = parse_reconnect_window(text).expect("well-formed token");
            sim.feed(
                c,
                OPEN_AT,
                Input::ReconnectWindow {
                    conn: ConnId(1),
                    window,
                },
            );
        }
    }
    sim.queue.clear();
    sim.connected.fill(false);
    for c in 0..n as u32 {
        let conn = ConnId(1);
        sim.feed(c, STORM_AT, Input::Closed { conn, code: 1006 });
    }
    sim.run();
    Outcome {
        name: policy.name,
        arrivals: sim.arrivals,
        attempts: sim.attempts,
        connected: sim.connected_count,
        failed: sim.failed,
        last_connect: sim.last_connect - STORM_AT,
        wall: started.elapsed(),
    }
}

/// The largest 100 ms bucket of the first 5 s over their mean.
fn peak_over_mean(o: &Outcome) -> Option<f64> {
    let head = o.arrivals.get(..(5_000 / BUCKET_MS) as usize)?;
    let mean = head.iter().map(|&x| f64::from(x)).sum::<f64>() / head.len() as f64;
    let peak = head.iter().copied().max()?;
    (mean > 0.0).then(|| f64::from(peak) / mean)
}

fn print_table(outcomes: &[Outcome], args: &Args) {
    let limit = args.clients as f64 / f64::from(args.rate);
    println!(
        "| policy | peak arrivals / 100 ms | peak/mean, first 5 s | attempts | attempts/client | all connected after | ÷ N/C |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        let peak = o.arrivals.iter().copied().max().unwrap_or(0);
        let ratio = peak_over_mean(o).map_or("-".into(), |r| format!("{r:.2}"));
        let (done, over) = if o.connected == args.clients {
            let s = o.last_connect as f64 / 1000.0;
            (format!("{s:.1} s"), format!("{:.2}", s / limit))
        } else {
            let missing = args.clients - o.connected;
            let text = if o.failed > 0 {
                format!("never ({missing} gave up)")
            } else {
                format!("> {} s ({missing} still out)", HORIZON_MS / 1000)
            };
            (text, "-".into())
        };
        println!(
            "| {} | {peak} | {ratio} | {} | {:.2} | {done} | {over} |",
            o.name,
            o.attempts,
            o.attempts as f64 / args.clients as f64,
        );
    }
}

/// The storm goals, for `--check`: redial's default row (the first)
/// connects everyone within 1.2 × N/C, with at most 1.5 attempts per
/// client, peak/mean at most 1.25, fewer attempts than every peer row and
/// no later than any peer row that connected everyone.
fn check(outcomes: &[Outcome], policies: &[Policy], args: &Args) -> Result<(), String> {
    let hinted = outcomes.first().ok_or("no rows")?;
    let limit_ms = args.clients as f64 * 1000.0 / f64::from(args.rate);
    if hinted.connected != args.clients {
        return Err(format!("{}: not everyone connected", hinted.name));
    }
    if hinted.last_connect as f64 > 1.2 * limit_ms {
        return Err(format!(
            "{}: {} ms > 1.2 × N/C",
            hinted.name, hinted.last_connect
        ));
    }
    let per_client = hinted.attempts as f64 / args.clients as f64;
    if per_client > 1.5 {
        return Err(format!(
            "{}: {per_client:.2} attempts per client > 1.5",
            hinted.name
        ));
    }
    // Peak/mean only measures the policy when buckets are full enough:
    // at 25 arrivals per 100 ms Poisson noise alone gives about 1.4.
    let per_bucket = f64::from(args.rate) * BUCKET_MS as f64 / 1000.0;
    if per_bucket >= 100.0 {
        if let Some(r) = peak_over_mean(hinted).filter(|&r| r > 1.25) {
            return Err(format!("{}: peak/mean {r:.2} > 1.25", hinted.name));
        }
    } else {
        println!("check: peak/mean not judged below 100 arrivals per 100 ms (rate >= 1000/s)");
    }
    let peers = outcomes
        .iter()
        .zip(policies)
        .filter(|(_, p)| !p.name.starts_with("redial"));
    for (o, _) in peers {
        if o.attempts <= hinted.attempts {
            return Err(format!("{} needs no more attempts than redial", o.name));
        }
        if o.connected == args.clients && o.last_connect < hinted.last_connect {
            return Err(format!("{} connects everyone sooner than redial", o.name));
        }
    }
    Ok(())
}

fn chart(outcomes: &[Outcome], args: &Args, path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let seconds = 60u64;
    let cols = 3;
    let rows = outcomes.len().div_ceil(cols);
    let root = SVGBackend::new(path, (1200, 260 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "Arrivals per 100 ms after {} clients lose their node at t = 0 (server admits {}/s; red: capacity)",
        args.clients, args.rate
    );
    let root = root.titled(&title, ("sans-serif", 18))?;
    let capacity = f64::from(args.rate) * BUCKET_MS as f64 / 1000.0;
    let top = outcomes
        .iter()
        .flat_map(|o| o.arrivals.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 2.0;
    for (area, o) in root.split_evenly((rows, cols)).iter().zip(outcomes) {
        let mut c = ChartBuilder::on(area)
            .caption(o.name, ("sans-serif", 15))
            .margin(6)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..seconds as f64, (0.5f64..top).log_scale())?;
        c.configure_mesh()
            .x_desc("s after the loss")
            .y_labels(6)
            .x_labels(7)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE)
            .draw()?;
        let pts = o
            .arrivals
            .iter()
            .take((seconds * 1000 / BUCKET_MS) as usize)
            .enumerate()
            .map(|(i, &v)| (i as f64 * BUCKET_MS as f64 / 1000.0, f64::from(v).max(0.5)));
        c.draw_series(LineSeries::new(pts, BLUE.stroke_width(1)))?;
        c.draw_series(LineSeries::new(
            [(0.0, capacity), (seconds as f64, capacity)],
            RED.stroke_width(1),
        ))?;
    }
    root.present()?;
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("storm: {e}");
            std::process::exit(2);
        }
    };
    let engine_bytes = std::mem::size_of::<Engine<'static>>();
    println!(
        "N = {} clients, C = {}/s (burst {}), N/C = {:.1} s; one engine = {} B, {} MB per policy row",
        args.clients,
        args.rate,
        args.burst,
        args.clients as f64 / f64::from(args.rate),
        engine_bytes,
        engine_bytes * args.clients / 1_000_000,
    );
    let policies = policies();
    let outcomes: Vec<Outcome> = policies.iter().map(|p| simulate(p, &args)).collect();
    println!();
    print_table(&outcomes, &args);
    let wall: Duration = outcomes.iter().map(|o| o.wall).sum();
    println!("\nsimulated in {:.1} s of wall time", wall.as_secs_f64());
    if args.check {
        match check(&outcomes, &policies, &args) {
            Ok(()) => println!("check: redial default meets the storm goals"),
            Err(e) => {
                eprintln!("storm: check failed: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Some(path) = &args.svg {
        match chart(&outcomes, &args, path) {
            Ok(()) => println!("chart written to {path}"),
            Err(e) => {
                eprintln!("storm: chart: {e}");
                std::process::exit(1);
            }
        }
    }
}
