//! A hostile web server for the worker's tests: decompression bombs, endless
//! and dripping bodies, redirect loops and redirects to forbidden addresses,
//! huge headers, invalid UTF-8, connection resets, and plain pages.
//!
//! It is a hand-rolled HTTP/1.1 server over a tokio `TcpListener` (several
//! cases need byte-level control), optionally behind TLS. Every connection
//! gets one response and `Connection: close`. The server runs on its own
//! thread with its own tokio runtime, so sync and async tests can both use it;
//! dropping the handle stops it, and it stops by itself after its lifetime.
//! Everything is bounded: the request head (16 KiB, 10 s), each connection
//! (120 s by default), the number of concurrent connections, the lifetime.
//!
//! It listens only where it is told (loopback in every test) and never
//! connects anywhere itself: `/redirect` only emits a `Location` header.

use std::future::Future;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};

/// How long a server runs unless told otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// The total time one connection may take unless told otherwise.
pub const DEFAULT_CONN_LIMIT: Duration = Duration::from_secs(120);
/// The benign page (`/page`, `/chain/0`).
pub const BENIGN_PAGE: &str =
    "<html><head><title>trawl test page</title></head><body><p>hello</p></body></html>";
/// What every decompressed bomb starts with; the rest is spaces.
pub const BOMB_PREFIX: &[u8] = b"<html><head><title>trawl bomb</title></head><body>";
/// The decompressed size of a bomb without `?mib=N`, in MiB (1 GiB).
pub const BOMB_DEFAULT_MIB: usize = 1024;
/// The largest `?mib=N` a bomb accepts (4 GiB).
pub const BOMB_MAX_MIB: usize = 4096;
/// `/reset` announces this Content-Length...
pub const RESET_CONTENT_LENGTH: usize = 1_000_000;
/// ...and sends this many body bytes before the abortive close.
pub const RESET_SENT: usize = 1000;
/// `/binary` sends this many bytes.
pub const BINARY_LEN: usize = 64 * 1024;
/// `/big-header`'s `X-Big` value is this long.
pub const BIG_HEADER_LEN: usize = 1 << 20;
/// `/drip`'s Content-Length.
pub const DRIP_LEN: usize = 600;

const MIB: usize = 1 << 20;
const HEAD_LIMIT: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 512;
const MAX_RECORDED_HITS: usize = 1_000_000;
const ENDLESS_MAX_BYTES: u64 = 4 << 30;
const ENDLESS_MAX_TIME: Duration = Duration::from_secs(120);
const ENDLESS_BLOCK: usize = 64 * 1024;
const FIXTURE_MAX_BYTES: u64 = 64 << 20;

/// How to run a [`HostileServer`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// Port (0 = any free port).
    pub port: u16,
    /// Serve over TLS with this config (see `crate::tls::TestCa::server_config`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The body of `/checkip`, without the trailing newline.
    pub checkip_answer: String,
    /// Where `/fixture/NAME` reads from.
    pub fixtures_dir: PathBuf,
    /// The server stops by itself after this long.
    pub lifetime: Duration,
    /// Total time limit of one connection (head, answer, slow bodies).
    pub conn_limit: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tls: None,
            checkip_answer: "198.51.100.7".to_string(),
            fixtures_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("scraper")
                .join("tests")
                .join("fixtures"),
            lifetime: DEFAULT_LIFETIME,
            conn_limit: DEFAULT_CONN_LIMIT,
        }
    }
}

/// The hostile web server. Dropping it stops it (and closes its port).
pub struct HostileServer {
    addr: SocketAddr,
    tls: bool,
    hits: Arc<Mutex<Vec<String>>>,
    runner: Runner,
}

impl std::fmt::Debug for HostileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl HostileServer {
    /// Binds and starts serving; the port accepts connections on return.
    pub fn start(opts: Options) -> anyhow::Result<HostileServer> {
        let listener = std::net::TcpListener::bind((opts.bind, opts.port))
            .with_context(|| format!("binding {}:{}", opts.bind, opts.port))?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            tls: opts.tls.clone().map(tokio_rustls::TlsAcceptor::from),
            checkip_answer: opts.checkip_answer.clone(),
            fixtures_dir: opts.fixtures_dir.clone(),
            hits: hits.clone(),
        });
        let handler: Handler = Arc::new(move |tcp: TcpStream| -> ConnFuture {
            Box::pin(serve_conn(tcp, state.clone()))
        });
        let runner = Runner::spawn(
            "trawl-hostile",
            listener,
            opts.lifetime,
            opts.conn_limit,
            handler,
        )?;
        Ok(HostileServer {
            addr,
            tls: opts.tls.is_some(),
            hits,
            runner,
        })
    }

    /// Plain HTTP on 127.0.0.1, any port, default options.
    pub fn start_plain() -> anyhow::Result<HostileServer> {
        Self::start(Options::default())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (or `https://` with TLS), no trailing slash. The host
    /// is the IP: certificates from `TestCa` must carry it as an IP SAN.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The URL of `path` (a leading `/` is added when missing).
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{}{slash}{path}", self.base_url())
    }

    /// How many requests were seen whose target (path and query) starts
    /// with `path_prefix`.
    pub fn hits(&self, path_prefix: &str) -> usize {
        lock(&self.hits)
            .iter()
            .filter(|t| t.starts_with(path_prefix))
            .count()
    }

    /// Every request target seen so far, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.hits).clone()
    }

    /// Blocks until the server stops by itself (its lifetime ends).
    pub fn wait(mut self) {
        self.runner.join();
    }
}

/// A listener that answers a TLS ClientHello with plaintext garbage and
/// closes: a failed TLS handshake. Dropping it stops it.
pub struct BadTlsServer {
    addr: SocketAddr,
    _runner: Runner,
}

impl std::fmt::Debug for BadTlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BadTlsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl BadTlsServer {
    /// Listens on `bind`, any port, for [`DEFAULT_LIFETIME`].
    pub fn start(bind: IpAddr) -> anyhow::Result<BadTlsServer> {
        let listener =
            std::net::TcpListener::bind((bind, 0)).with_context(|| format!("binding {bind}:0"))?;
        let addr = listener.local_addr()?;
        let handler: Handler =
            Arc::new(|tcp: TcpStream| -> ConnFuture { Box::pin(bad_tls_conn(tcp)) });
        let runner = Runner::spawn(
            "trawl-bad-tls",
            listener,
            DEFAULT_LIFETIME,
            Duration::from_secs(15),
            handler,
        )?;
        Ok(BadTlsServer {
            addr,
            _runner: runner,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://IP:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("https://{}{slash}{path}", self.addr)
    }
}

async fn bad_tls_conn(mut tcp: TcpStream) {
    let mut hello = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut hello)).await;
    let _ = tcp
        .write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 16\r\nConnection: close\r\n\r\nthis is not TLS\n",
        )
        .await;
    let _ = tcp.shutdown().await;
    drain(&mut tcp).await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// The thread, runtime and accept loop shared by both servers.

type ConnFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Handler = Arc<dyn Fn(TcpStream) -> ConnFuture + Send + Sync>;

struct Runner {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    fn spawn(
        name: &str,
        listener: std::net::TcpListener,
        lifetime: Duration,
        conn_limit: Duration,
        handler: Handler,
    ) -> anyhow::Result<Runner> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
            .context("building the server runtime")?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                runtime.block_on(accept_loop(
                    listener, stop_rx, lifetime, conn_limit, handler,
                ));
                // Cancels every connection task (closing its socket); blocking
                // work still running (a bomb being built) is left to finish.
                runtime.shutdown_timeout(Duration::from_millis(500));
            })
            .context("spawning the server thread")?;
        Ok(Runner {
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join();
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    mut stop: oneshot::Receiver<()>,
    lifetime: Duration,
    conn_limit: Duration,
    handler: Handler,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let end = tokio::time::sleep(lifetime);
    tokio::pin!(end);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            () = &mut end => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    // Over the connection limit: close it at once.
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        continue;
                    };
                    let conn = handler(tcp);
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(conn_limit, conn).await;
                        drop(permit);
                    });
                }
                // E.g. out of file descriptors: back off a little.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

// ---------------------------------------------------------------------------
// One connection.

struct State {
    tls: Option<tokio_rustls::TlsAcceptor>,
    checkip_answer: String,
    fixtures_dir: PathBuf,
    hits: Arc<Mutex<Vec<String>>>,
}

impl State {
    fn record(&self, target: &str) {
        let mut hits = lock(&self.hits);
        if hits.len() < MAX_RECORDED_HITS {
            hits.push(target.to_string());
        }
    }
}

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

async fn serve_conn(tcp: TcpStream, state: Arc<State>) {
    let _ = tcp.set_nodelay(true);
    let mut stream = match &state.tls {
        None => Stream::Plain(tcp),
        Some(acceptor) => match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
            _ => return,
        },
    };
    match handle(&mut stream, &state).await {
        Ok(End::Close) => {
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.shutdown()).await;
            drain(&mut stream).await;
        }
        Ok(End::Abort) => {
            // SO_LINGER 0: close() sends an RST and drops unsent data.
            let _ = stream.tcp().set_zero_linger();
            drop(stream);
        }
        Err(_) => {}
    }
}

/// Reads what the client still sends (bounded) so closing does not turn
/// into an RST that could destroy the response in flight.
async fn drain<S: AsyncRead + Unpin>(s: &mut S) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        while total < MIB {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

/// How a connection ends after its response.
enum End {
    /// Shutdown (FIN / TLS close_notify).
    Close,
    /// Abortive close (RST).
    Abort,
}

enum Head {
    Complete(Vec<u8>),
    Eof,
    TooLarge,
}

async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Eof);
        }
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf[from..]) {
            if from + end > HEAD_LIMIT {
                return Ok(Head::TooLarge);
            }
            buf.truncate(from + end);
            return Ok(Head::Complete(buf));
        }
        if buf.len() > HEAD_LIMIT {
            return Ok(Head::TooLarge);
        }
    }
}

/// The length up to and including the blank line ending a head, if any.
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        let rest = &buf[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

struct Request<'a> {
    method: &'a str,
    target: &'a str,
}

fn parse_request_line(head: &[u8]) -> Option<Request<'_>> {
    let line_end = head.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?.trim_end();
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    Some(Request { method, target })
}

async fn handle(s: &mut Stream, st: &State) -> io::Result<End> {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(s)).await {
        Err(_) => {
            send(s, 408, &[], b"request head timeout\n").await?;
            return Ok(End::Close);
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Head::Eof)) => return Ok(End::Close),
        Ok(Ok(Head::TooLarge)) => {
            send(s, 431, &[], b"request head too large\n").await?;
            return Ok(End::Close);
        }
        Ok(Ok(Head::Complete(head))) => head,
    };
    let Some(req) = parse_request_line(&head) else {
        send(s, 400, &[], b"bad request\n").await?;
        return Ok(End::Close);
    };
    st.record(req.target);
    if req.method != "GET" {
        send(s, 404, &[], b"not found\n").await?;
        return Ok(End::Close);
    }
    route(s, st, req.target).await
}

const HTML: (&str, &str) = ("Content-Type", "text/html; charset=utf-8");
const TEXT: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");

async fn route(s: &mut Stream, st: &State, target: &str) -> io::Result<End> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/checkip" => {
            let body = format!("{}\n", st.checkip_answer);
            send(s, 200, &[TEXT], body.as_bytes()).await?;
        }
        "/page" => send(s, 200, &[HTML], BENIGN_PAGE.as_bytes()).await?,
        "/loop" => redirect(s, 302, "/loop").await?,
        "/redirect" => {
            let status = match query_param(query, "status") {
                None => Some(302),
                Some(v) => v
                    .parse::<u16>()
                    .ok()
                    .filter(|c| [301, 302, 303, 307, 308].contains(c)),
            };
            match (status, redirect_target(query)) {
                (Some(status), Some(to)) => redirect(s, status, &to).await?,
                _ => send(s, 400, &[TEXT], b"need ?to=URL (no control characters)\n").await?,
            }
        }
        "/endless" => {
            let chunked = query_param(query, "chunked").is_some_and(|v| v != "0");
            endless(s, chunked).await?;
        }
        "/drip" => {
            let interval = query_param(query, "interval_ms")
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(1000, |ms| ms.min(10_000));
            drip(s, Duration::from_millis(interval)).await?;
        }
        "/big-header" => {
            let big = "a".repeat(BIG_HEADER_LEN);
            send(
                s,
                200,
                &[HTML, ("X-Big", big.as_str())],
                BENIGN_PAGE.as_bytes(),
            )
            .await?;
        }
        "/binary" => {
            let ct = ("Content-Type", "application/octet-stream");
            send(s, 200, &[ct], &binary_body()).await?;
        }
        "/invalid-utf8" => send(s, 200, &[HTML], &invalid_utf8_body()).await?,
        "/reset" => {
            reset(s).await?;
            return Ok(End::Abort);
        }
        _ => {
            if let Some(n) = path.strip_prefix("/chain/") {
                match n.parse::<u64>() {
                    Ok(0) => send(s, 200, &[HTML], BENIGN_PAGE.as_bytes()).await?,
                    Ok(n) => redirect(s, 302, &format!("/chain/{}", n - 1)).await?,
                    Err(_) => send(s, 404, &[TEXT], b"not found\n").await?,
                }
            } else if let Some(code) = path.strip_prefix("/status/") {
                match code.parse::<u16>() {
                    Ok(code) if (100..=599).contains(&code) => {
                        let body = format!("status {code}\n");
                        send(s, code, &[TEXT], body.as_bytes()).await?;
                    }
                    _ => send(s, 400, &[TEXT], b"status must be 100..=599\n").await?,
                }
            } else if let Some(name) = path.strip_prefix("/fixture/") {
                fixture(s, st, name).await?;
            } else if let Some(kind) = path.strip_prefix("/bomb/").and_then(Bomb::from_name) {
                let mib = match query_param(query, "mib") {
                    None => Some(BOMB_DEFAULT_MIB),
                    Some(v) => v
                        .parse::<usize>()
                        .ok()
                        .filter(|m| (1..=BOMB_MAX_MIB).contains(m)),
                };
                match mib {
                    Some(mib) => {
                        let body = tokio::task::spawn_blocking(move || bomb_body(kind, mib))
                            .await
                            .map_err(io::Error::other)?;
                        let ce = ("Content-Encoding", kind.content_encoding());
                        send(s, 200, &[HTML, ce], &body).await?;
                    }
                    None => {
                        let msg = format!("mib must be 1..={BOMB_MAX_MIB}\n");
                        send(s, 400, &[TEXT], msg.as_bytes()).await?;
                    }
                }
            } else {
                send(s, 404, &[TEXT], b"not found\n").await?;
            }
        }
    }
    Ok(End::Close)
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        410 => "Gone",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Writes a complete response with Content-Length (none for 1xx/204/304,
/// which carry no body).
async fn send<S: AsyncWrite + Unpin>(
    s: &mut S,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let bodyless = status < 200 || status == 204 || status == 304;
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nServer: trawl-hostile\r\n",
        reason(status)
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    if !bodyless {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    s.write_all(head.as_bytes()).await?;
    if !bodyless {
        s.write_all(body).await?;
    }
    s.flush().await
}

async fn redirect<S: AsyncWrite + Unpin>(s: &mut S, status: u16, to: &str) -> io::Result<()> {
    send(
        s,
        status,
        &[HTML, ("Location", to)],
        b"<html><body>redirecting</body></html>",
    )
    .await
}

/// The value of `key` in a query string (not percent-decoded).
fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

/// `to` is the last parameter: its value is the rest of the query, so an
/// unencoded `&` inside it survives; percent-decoded. None when absent or
/// when the decoded URL holds control characters (no header injection).
fn redirect_target(query: &str) -> Option<String> {
    let start = if query.starts_with("to=") {
        3
    } else {
        query.find("&to=")? + 4
    };
    let decoded = percent_decode(&query[start..]);
    let url = String::from_utf8(decoded).ok()?;
    if url.is_empty() || url.chars().any(|c| c.is_control()) {
        return None;
    }
    Some(url)
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// 200 without Content-Length: 'A's until the client goes away, 4 GiB or
/// 120 s (or the connection limit). Close-delimited, or chunked (never
/// terminated before a bound) with `?chunked=1`.
async fn endless<S: AsyncWrite + Unpin>(s: &mut S, chunked: bool) -> io::Result<()> {
    let mut head = String::from("HTTP/1.1 200 OK\r\nServer: trawl-hostile\r\n");
    head.push_str("Content-Type: text/html; charset=utf-8\r\n");
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    s.write_all(head.as_bytes()).await?;
    let mut block = Vec::with_capacity(ENDLESS_BLOCK + 16);
    if chunked {
        block.extend_from_slice(format!("{ENDLESS_BLOCK:x}\r\n").as_bytes());
    }
    block.resize(block.len() + ENDLESS_BLOCK, b'A');
    if chunked {
        block.extend_from_slice(b"\r\n");
    }
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < ENDLESS_MAX_BYTES && start.elapsed() < ENDLESS_MAX_TIME {
        s.write_all(&block).await?;
        sent += ENDLESS_BLOCK as u64;
    }
    if chunked {
        s.write_all(b"0\r\n\r\n").await?;
    }
    s.flush().await
}

/// Content-Length 600, one byte per interval (default 1 s).
async fn drip<S: AsyncWrite + Unpin>(s: &mut S, interval: Duration) -> io::Result<()> {
    let mut body = b"<html><body>".to_vec();
    body.resize(DRIP_LEN - b"</body></html>".len(), b'.');
    body.extend_from_slice(b"</body></html>");
    let head = format!(
        "HTTP/1.1 200 OK\r\nServer: trawl-hostile\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {DRIP_LEN}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await?;
    s.flush().await?;
    for byte in body.chunks(1) {
        tokio::time::sleep(interval).await;
        s.write_all(byte).await?;
        s.flush().await?;
    }
    Ok(())
}

/// Announces 1 000 000 bytes, sends 1000, then the caller resets.
async fn reset<S: AsyncWrite + Unpin>(s: &mut S) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nServer: trawl-hostile\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {RESET_CONTENT_LENGTH}\r\nConnection: close\r\n\r\n"
    );
    let mut body = b"<html><body>".to_vec();
    body.resize(RESET_SENT, b'r');
    s.write_all(head.as_bytes()).await?;
    s.write_all(&body).await?;
    s.flush().await?;
    // Let loopback deliver what was sent before the RST discards the rest.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

async fn fixture(s: &mut Stream, st: &State, name: &str) -> io::Result<()> {
    let safe = !name.is_empty()
        && !name.contains("..")
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with('.');
    if !safe {
        return send(s, 400, &[TEXT], b"bad fixture name\n").await;
    }
    let path = st.fixtures_dir.join(name);
    let small = tokio::fs::metadata(&path)
        .await
        .is_ok_and(|m| m.is_file() && m.len() <= FIXTURE_MAX_BYTES);
    let body = if small {
        tokio::fs::read(&path).await.ok()
    } else {
        None
    };
    let Some(body) = body else {
        return send(s, 404, &[TEXT], b"no such fixture\n").await;
    };
    let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js") => "application/javascript",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    send(s, 200, &[("Content-Type", content_type)], &body).await
}

/// 64 KiB from xorshift64 with a fixed seed: the same bytes every time.
pub fn binary_body() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(BINARY_LEN);
    while out.len() < BINARY_LEN {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(BINARY_LEN);
    out
}

/// HTML declared as UTF-8 with invalid sequences mixed in.
pub fn invalid_utf8_body() -> Vec<u8> {
    let parts: [&[u8]; 9] = [
        b"<html><head><meta charset=\"utf-8\"><title>bad \xff bytes</title></head><body>\n",
        b"<p>lone continuation byte: \x80</p>\n",
        b"<p>overlong slash: \xc0\xaf</p>\n",
        b"<p>truncated euro: \xe2\x82</p>\n",
        b"<p>surrogate half: \xed\xa0\x80</p>\n",
        b"<p>beyond U+10FFFF: \xf4\x90\x80\x80</p>\n",
        b"<p>never valid: \xfe\xff</p>\n",
        b"<p>valid: caf\xc3\xa9 \xe2\x82\xac</p>\n",
        b"</body></html>\n\xc3",
    ];
    parts.concat()
}

// ---------------------------------------------------------------------------
// Decompression bombs.

/// A decompression bomb's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bomb {
    /// `Content-Encoding: gzip`.
    Gzip,
    /// `Content-Encoding: br`.
    Brotli,
    /// `Content-Encoding: deflate` (zlib-wrapped, as HTTP means it).
    Deflate,
    /// `Content-Encoding: zstd`.
    Zstd,
}

impl Bomb {
    /// Every kind.
    pub const ALL: [Bomb; 4] = [Bomb::Gzip, Bomb::Brotli, Bomb::Deflate, Bomb::Zstd];

    /// The route name: `/bomb/{name}`.
    pub fn name(self) -> &'static str {
        match self {
            Bomb::Gzip => "gzip",
            Bomb::Brotli => "brotli",
            Bomb::Deflate => "deflate",
            Bomb::Zstd => "zstd",
        }
    }

    /// Parses a route name.
    pub fn from_name(name: &str) -> Option<Bomb> {
        Bomb::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The `Content-Encoding` value.
    pub fn content_encoding(self) -> &'static str {
        match self {
            Bomb::Gzip => "gzip",
            Bomb::Brotli => "br",
            Bomb::Deflate => "deflate",
            Bomb::Zstd => "zstd",
        }
    }
}

/// One MiB of the decompressed bomb: the first starts with [`BOMB_PREFIX`],
/// the rest are spaces.
fn bomb_block(first: bool) -> Vec<u8> {
    let mut block = vec![b' '; MIB];
    if first {
        block[..BOMB_PREFIX.len()].copy_from_slice(BOMB_PREFIX);
    }
    block
}

/// The compressed body of a bomb that decompresses to `mib` MiB: the first
/// MiB starts with [`BOMB_PREFIX`], all the rest is spaces. Built once per
/// process for the default size; other sizes are built on demand. Nothing
/// compresses the whole size: gzip and deflate repeat a sync-flushed deflate
/// piece (checksums combined arithmetically), brotli joins catable pieces,
/// zstd is a hand-built frame of RLE blocks; about 50 ms in a dev build.
pub fn bomb_body(kind: Bomb, mib: usize) -> Bytes {
    static DEFAULT: [OnceLock<Bytes>; 4] = [const { OnceLock::new() }; 4];
    let mib = mib.max(1);
    if mib != BOMB_DEFAULT_MIB {
        return build_bomb(kind, mib);
    }
    let slot = Bomb::ALL.iter().position(|&b| b == kind).unwrap_or(0);
    DEFAULT[slot]
        .get_or_init(|| build_bomb(kind, BOMB_DEFAULT_MIB))
        .clone()
}

fn build_bomb(kind: Bomb, mib: usize) -> Bytes {
    match kind {
        Bomb::Gzip => gzip_bomb(mib),
        Bomb::Deflate => zlib_bomb(mib),
        Bomb::Brotli => brotli_bomb(mib),
        Bomb::Zstd => zstd_bomb(mib),
    }
    .into()
}

/// Raw deflate pieces: each block compressed alone (no back-reference
/// leaves it) and sync-flushed (byte-aligned, not final), so the pieces
/// can be repeated back to back inside one deflate stream.
struct DeflatePieces {
    first: Vec<u8>,
    rest: Vec<u8>,
    crc_first: u32,
    crc_rest: u32,
    adler_first: u32,
    adler_rest: u32,
}

/// An empty final block with fixed Huffman codes: ends a deflate stream.
const DEFLATE_END: [u8; 2] = [0x03, 0x00];

fn deflate_pieces() -> &'static DeflatePieces {
    static PIECES: OnceLock<DeflatePieces> = OnceLock::new();
    PIECES.get_or_init(|| {
        let first = bomb_block(true);
        let rest = bomb_block(false);
        DeflatePieces {
            first: deflate_sync_flushed(&first),
            rest: deflate_sync_flushed(&rest),
            crc_first: crc32(&first),
            crc_rest: crc32(&rest),
            adler_first: adler32(&first),
            adler_rest: adler32(&rest),
        }
    })
}

fn deflate_sync_flushed(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail; flush() is a sync flush.
    enc.write_all(data).expect("deflate into a Vec");
    enc.flush().expect("deflate into a Vec");
    std::mem::take(enc.get_mut())
}

/// Appends the raw deflate stream of `mib` MiB.
fn deflate_stream(out: &mut Vec<u8>, mib: usize) {
    let p = deflate_pieces();
    out.reserve(p.first.len() + p.rest.len() * (mib - 1) + DEFLATE_END.len() + 8);
    out.extend_from_slice(&p.first);
    for _ in 1..mib {
        out.extend_from_slice(&p.rest);
    }
    out.extend_from_slice(&DEFLATE_END);
}

fn gzip_bomb(mib: usize) -> Vec<u8> {
    let p = deflate_pieces();
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=2 (best) OS=255 (unknown).
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff];
    deflate_stream(&mut out, mib);
    let mut crc = p.crc_first;
    for _ in 1..mib {
        crc = crc32_combine(crc, p.crc_rest, MIB as u64);
    }
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(((mib * MIB) as u64 & 0xffff_ffff) as u32).to_le_bytes());
    out
}

fn zlib_bomb(mib: usize) -> Vec<u8> {
    let p = deflate_pieces();
    // CMF=0x78 (deflate, 32 KiB window), FLG=0xDA (best; header check ok).
    let mut out = vec![0x78, 0xda];
    deflate_stream(&mut out, mib);
    let mut adler = p.adler_first;
    for _ in 1..mib {
        adler = adler32_combine(adler, p.adler_rest, MIB as u64);
    }
    out.extend_from_slice(&adler.to_be_bytes());
    out
}

/// Brotli pieces: each block compressed alone as a catable stream (it
/// never refers to data before itself), so `BroCatli` can join copies of
/// them into one stream by rewriting a few bits where they meet.
struct BrotliPieces {
    first: Vec<u8>,
    rest: Vec<u8>,
}

const BROTLI_LGWIN: u8 = 22;

fn brotli_pieces() -> &'static BrotliPieces {
    static PIECES: OnceLock<BrotliPieces> = OnceLock::new();
    PIECES.get_or_init(|| BrotliPieces {
        first: brotli_catable(&bomb_block(true)),
        rest: brotli_catable(&bomb_block(false)),
    })
}

fn brotli_catable(data: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 5,
        lgwin: BROTLI_LGWIN.into(),
        catable: true,
        appendable: true,
        use_dictionary: false,
        magic_number: false,
        ..Default::default()
    };
    let mut enc = brotli::CompressorWriter::with_params(Vec::new(), 64 * 1024, &params);
    enc.write_all(data).expect("brotli into a Vec");
    // into_inner() finishes the stream.
    enc.into_inner()
}

fn brotli_bomb(mib: usize) -> Vec<u8> {
    brotli_joined(mib).unwrap_or_else(|| brotli_encoded(mib))
}

/// The first piece and `mib - 1` rest pieces joined into one stream.
fn brotli_joined(mib: usize) -> Option<Vec<u8>> {
    use brotli::concat::{BroCatli, BroCatliResult};
    let pieces = brotli_pieces();
    let mut cat = BroCatli::try_new_with_window_size(BROTLI_LGWIN).ok()?;
    let mut out = vec![0u8; pieces.first.len() + pieces.rest.len() * mib + 64];
    let mut written = 0;
    for i in 0..mib {
        let piece = if i == 0 { &pieces.first } else { &pieces.rest };
        cat.new_brotli_file();
        let mut read = 0;
        loop {
            match cat.stream(piece, &mut read, &mut out, &mut written) {
                BroCatliResult::NeedsMoreInput | BroCatliResult::Success => break,
                BroCatliResult::NeedsMoreOutput => out.resize(out.len() * 2, 0),
                _ => return None,
            }
        }
    }
    loop {
        match cat.finish(&mut out, &mut written) {
            BroCatliResult::Success => break,
            BroCatliResult::NeedsMoreOutput => out.resize(out.len() * 2, 0),
            _ => return None,
        }
    }
    out.truncate(written);
    Some(out)
}

/// The slow way (about 1.3 s per GiB in a dev build): feed every block to
/// the encoder at quality 1.
fn brotli_encoded(mib: usize) -> Vec<u8> {
    let (first, rest) = (bomb_block(true), bomb_block(false));
    let mut enc = brotli::CompressorWriter::new(Vec::new(), 64 * 1024, 1, BROTLI_LGWIN.into());
    enc.write_all(&first).expect("brotli into a Vec");
    for _ in 1..mib {
        enc.write_all(&rest).expect("brotli into a Vec");
    }
    // into_inner() finishes the stream.
    enc.into_inner()
}

/// A zstd frame built by hand (RFC 8878): no content size, a 128 KiB
/// window, a raw block with [`BOMB_PREFIX`], then RLE blocks of spaces
/// (4 bytes for each 128 KiB).
fn zstd_bomb(mib: usize) -> Vec<u8> {
    const MAX_BLOCK: usize = 128 * 1024;
    const RAW: u32 = 0;
    const RLE: u32 = 1;
    fn block_header(out: &mut Vec<u8>, last: bool, kind: u32, size: usize) {
        let header = u32::from(last) | (kind << 1) | ((size as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
    }
    // Magic; Frame_Header_Descriptor 0 (no content size, no checksum, no
    // dictionary, not single-segment); Window_Descriptor 0x38 (2^17).
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
    let mut left = mib * MIB - BOMB_PREFIX.len();
    block_header(&mut out, false, RAW, BOMB_PREFIX.len());
    out.extend_from_slice(BOMB_PREFIX);
    while left > 0 {
        let size = left.min(MAX_BLOCK);
        left -= size;
        block_header(&mut out, left == 0, RLE, size);
        out.push(b' ');
    }
    out
}

const CRC_POLY: u32 = 0xedb8_8320;

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ CRC_POLY
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (the gzip one).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// a * b modulo the CRC polynomial (bit-reflected), as in zlib.
fn crc_multmodp(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0u32;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 {
            (b >> 1) ^ CRC_POLY
        } else {
            b >> 1
        };
    }
    p
}

/// x^(8 * len) modulo the CRC polynomial.
fn crc_x8nmodp(len: u64) -> u32 {
    let mut x2n = [0u32; 32];
    x2n[0] = 1 << 30; // x^1
    for k in 1..32 {
        x2n[k] = crc_multmodp(x2n[k - 1], x2n[k - 1]);
    }
    let mut p = 1u32 << 31; // x^0
    let (mut n, mut k) = (len, 3usize);
    while n != 0 {
        if n & 1 != 0 {
            p = crc_multmodp(x2n[k & 31], p);
        }
        n >>= 1;
        k += 1;
    }
    p
}

/// The CRC-32 of A followed by B from crc(A), crc(B) and len(B).
pub fn crc32_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    crc_multmodp(crc_x8nmodp(len_b), crc_a) ^ crc_b
}

const ADLER_BASE: u64 = 65521;

/// Adler-32 (the zlib one).
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u64, 0u64);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += x as u64;
            b += a;
        }
        a %= ADLER_BASE;
        b %= ADLER_BASE;
    }
    ((b << 16) | a) as u32
}

/// The Adler-32 of A followed by B from adler(A), adler(B) and len(B).
pub fn adler32_combine(adler_a: u32, adler_b: u32, len_b: u64) -> u32 {
    let rem = len_b % ADLER_BASE;
    let (a1, b1) = (adler_a as u64 & 0xffff, (adler_a as u64 >> 16) & 0xffff);
    let (a2, b2) = (adler_b as u64 & 0xffff, (adler_b as u64 >> 16) & 0xffff);
    let sum1 = (a1 + a2 + ADLER_BASE - 1) % ADLER_BASE;
    let sum2 = (rem * a1 % ADLER_BASE + b1 + b2 + ADLER_BASE - rem) % ADLER_BASE;
    ((sum2 << 16) | sum1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::net::TcpStream as StdTcp;

    const IO_TIMEOUT: Duration = Duration::from_secs(5);

    struct Resp {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Resp {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    fn parse_response(raw: &[u8]) -> Resp {
        let end = head_end(raw).expect("a complete response head");
        let head = std::str::from_utf8(&raw[..end]).expect("an ASCII head");
        let mut lines = head.lines();
        let status_line = lines.next().expect("a status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status code");
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Resp {
            status,
            headers,
            body: raw[end..].to_vec(),
        }
    }

    fn connect(addr: SocketAddr) -> StdTcp {
        let s = StdTcp::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        s.set_write_timeout(Some(IO_TIMEOUT))
            .expect("write timeout");
        s
    }

    fn request(addr: SocketAddr, raw: &str) -> Resp {
        let mut s = connect(addr);
        s.write_all(raw.as_bytes()).expect("send request");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read response");
        parse_response(&out)
    }

    fn get(server: &HostileServer, target: &str) -> Resp {
        request(
            server.addr(),
            &format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n"),
        )
    }

    #[test]
    fn checkip_page_status_and_404() {
        let server = HostileServer::start(Options {
            checkip_answer: "203.0.113.9".into(),
            ..Options::default()
        })
        .unwrap();
        let r = get(&server, "/checkip");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"203.0.113.9\n");
        assert_eq!(r.header("Connection"), Some("close"));
        assert_eq!(r.header("Content-Length"), Some("12"));

        let r = get(&server, "/page");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, BENIGN_PAGE.as_bytes());
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));

        let r = get(&server, "/status/503");
        assert_eq!((r.status, r.body.as_slice()), (503, &b"status 503\n"[..]));
        let r = get(&server, "/status/204");
        assert_eq!((r.status, r.body.len()), (204, 0));
        assert_eq!(get(&server, "/status/999").status, 400);
        assert_eq!(get(&server, "/nothing-here").status, 404);
        let post = "POST /page HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(request(server.addr(), post).status, 404);
        assert_eq!(request(server.addr(), "garbage\r\n\r\n").status, 400);
        let huge = format!("GET /page HTTP/1.1\r\nX: {}\r\n\r\n", "x".repeat(20_000));
        assert_eq!(request(server.addr(), &huge).status, 431);
        assert_eq!(server.url("page"), format!("http://{}/page", server.addr()));
    }

    #[test]
    fn chains_and_loops_redirect() {
        let server = HostileServer::start_plain().unwrap();
        let r = get(&server, "/chain/3");
        assert_eq!(r.status, 302);
        assert_eq!(r.header("Location"), Some("/chain/2"));
        let r = get(&server, "/chain/1");
        assert_eq!(r.header("Location"), Some("/chain/0"));
        let r = get(&server, "/chain/0");
        assert_eq!((r.status, r.body.as_slice()), (200, BENIGN_PAGE.as_bytes()));
        let r = get(&server, "/loop");
        assert_eq!((r.status, r.header("Location")), (302, Some("/loop")));
    }

    #[test]
    fn redirect_decodes_its_target() {
        let server = HostileServer::start_plain().unwrap();
        let r = get(
            &server,
            "/redirect?to=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F",
        );
        assert_eq!(r.status, 302);
        assert_eq!(
            r.header("Location"),
            Some("http://169.254.169.254/latest/meta-data/")
        );
        let r = get(&server, "/redirect?to=http://[::1]/");
        assert_eq!(r.header("Location"), Some("http://[::1]/"));
        // `to` is last, so an unencoded `&` in it survives.
        let r = get(&server, "/redirect?status=307&to=http://10.0.0.1/?a=1&b=2");
        assert_eq!(r.status, 307);
        assert_eq!(r.header("Location"), Some("http://10.0.0.1/?a=1&b=2"));
        let own = format!("http://127.0.0.1:{}/page", server.addr().port());
        let r = get(&server, &format!("/redirect?to={own}"));
        assert_eq!(r.header("Location"), Some(own.as_str()));
        // No header injection, no missing target, no odd status.
        assert_eq!(
            get(&server, "/redirect?to=http://x/%0d%0aX-Evil:%201").status,
            400
        );
        assert_eq!(get(&server, "/redirect").status, 400);
        assert_eq!(get(&server, "/redirect?status=200&to=/page").status, 400);
        assert_eq!(percent_decode("%41%zz%4"), b"A%zz%4");
    }

    #[test]
    fn gzip_bomb_is_small_and_inflates() {
        let server = HostileServer::start_plain().unwrap();
        let r = get(&server, "/bomb/gzip");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Encoding"), Some("gzip"));
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        assert!(r.body.len() < 4 * MIB, "compressed {} bytes", r.body.len());
        assert_eq!(
            r.header("Content-Length"),
            Some(r.body.len().to_string().as_str())
        );
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(r.body.as_slice())
            .take(64 * MIB as u64)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 64 * MIB);
        assert!(out.starts_with(BOMB_PREFIX));
        assert!(out[BOMB_PREFIX.len()..].iter().all(|&b| b == b' '));

        let r = get(&server, "/bomb/zstd?mib=2");
        assert_eq!(r.header("Content-Encoding"), Some("zstd"));
        assert_eq!(get(&server, "/bomb/brotli?mib=0").status, 400);
        assert_eq!(get(&server, "/bomb/lzma").status, 404);
        assert_eq!(server.hits("/bomb/"), 4);
    }

    fn decode_all(kind: Bomb, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match kind {
            Bomb::Gzip => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
            Bomb::Deflate => flate2::read::ZlibDecoder::new(body).read_to_end(&mut out),
            Bomb::Brotli => brotli::Decompressor::new(body, 64 * 1024).read_to_end(&mut out),
            Bomb::Zstd => zstd::stream::read::Decoder::new(body)
                .unwrap()
                .read_to_end(&mut out),
        }
        .unwrap_or_else(|e| panic!("{kind:?} bomb does not decode: {e}"));
        out
    }

    #[test]
    fn small_bombs_decode_exactly_with_valid_checksums() {
        for kind in Bomb::ALL {
            let body = bomb_body(kind, 5);
            // The decoders check gzip's CRC-32 and zlib's Adler-32 at the end.
            let out = decode_all(kind, &body);
            assert_eq!(out.len(), 5 * MIB, "{kind:?}");
            assert!(out.starts_with(BOMB_PREFIX), "{kind:?}");
            assert!(
                out[BOMB_PREFIX.len()..].iter().all(|&b| b == b' '),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn brotli_pieces_join() {
        let joined = brotli_joined(3).expect("catable pieces join");
        assert_eq!(
            decode_all(Bomb::Brotli, &joined),
            decode_all(Bomb::Brotli, &brotli_encoded(3))
        );
        eprintln!(
            "brotli pieces: first {} bytes, rest {} bytes",
            brotli_pieces().first.len(),
            brotli_pieces().rest.len()
        );
    }

    /// Decodes the full default bombs (1 GiB each): slow in a dev build.
    #[test]
    #[ignore]
    fn default_bombs_decode_to_their_full_size() {
        for kind in Bomb::ALL {
            let body = bomb_body(kind, BOMB_DEFAULT_MIB);
            let start = Instant::now();
            let mut reader: Box<dyn io::Read + '_> = match kind {
                Bomb::Gzip => Box::new(flate2::read::GzDecoder::new(&body[..])),
                Bomb::Deflate => Box::new(flate2::read::ZlibDecoder::new(&body[..])),
                Bomb::Brotli => Box::new(brotli::Decompressor::new(&body[..], 64 * 1024)),
                Bomb::Zstd => Box::new(zstd::stream::read::Decoder::new(&body[..]).unwrap()),
            };
            let n = io::copy(&mut reader, &mut io::sink()).unwrap();
            eprintln!("{kind:?}: {n} bytes decoded in {:?}", start.elapsed());
            assert_eq!(n, (BOMB_DEFAULT_MIB * MIB) as u64, "{kind:?}");
        }
    }

    #[test]
    fn default_bombs_are_small_and_quick_to_build() {
        for kind in Bomb::ALL {
            let start = Instant::now();
            let body = build_bomb(kind, BOMB_DEFAULT_MIB);
            let took = start.elapsed();
            eprintln!(
                "bomb {:?}: {} bytes compressed for {} MiB, built in {:?}",
                kind,
                body.len(),
                BOMB_DEFAULT_MIB,
                took
            );
            assert!(body.len() < 4 * MIB, "{kind:?}: {} bytes", body.len());
        }
    }

    #[test]
    fn checksums_combine() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut reference = flate2::Crc::new();
        reference.update(&data);
        assert_eq!(crc32(&data), reference.sum());
        for split in [0, 1, 4999, 10_000] {
            let (a, b) = data.split_at(split);
            assert_eq!(
                crc32_combine(crc32(a), crc32(b), b.len() as u64),
                crc32(&data)
            );
            assert_eq!(
                adler32_combine(adler32(a), adler32(b), b.len() as u64),
                adler32(&data)
            );
        }
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn reset_ends_before_content_length() {
        let server = HostileServer::start_plain().unwrap();
        let mut s = connect(server.addr());
        s.write_all(b"GET /reset HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        let ended_by = loop {
            match s.read(&mut buf) {
                Ok(0) => break "eof",
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break "reset",
                Err(e) => panic!("unexpected error {e}"),
            }
            assert!(got.len() < RESET_CONTENT_LENGTH, "more than announced");
        };
        eprintln!("reset: ended by {ended_by} after {} bytes", got.len());
        if let Some(end) = head_end(&got) {
            let r = parse_response(&got);
            assert_eq!(r.header("Content-Length"), Some("1000000"));
            assert!(got.len() - end <= RESET_SENT);
        }
        assert!(got.len() < RESET_CONTENT_LENGTH);
    }

    #[test]
    fn hits_count_by_prefix() {
        let server = HostileServer::start_plain().unwrap();
        assert_eq!(server.hits("/"), 0);
        get(&server, "/chain/2");
        get(&server, "/chain/1");
        get(&server, "/page");
        get(&server, "/redirect?to=/page");
        assert_eq!(server.hits("/chain/"), 2);
        assert_eq!(server.hits("/chain/1"), 1);
        assert_eq!(server.hits("/page"), 1);
        assert_eq!(server.hits("/redirect?to="), 1);
        assert_eq!(server.hits("/"), 4);
        assert_eq!(server.requests()[0], "/chain/2");
    }

    #[test]
    fn stops_when_dropped_and_after_its_lifetime() {
        let server = HostileServer::start_plain().unwrap();
        let addr = server.addr();
        assert_eq!(get(&server, "/page").status, 200);
        // An open connection must not keep it alive either.
        let mut idle = connect(addr);
        drop(server);
        assert!(
            StdTcp::connect_timeout(&addr, IO_TIMEOUT).is_err(),
            "port still open"
        );
        let mut buf = [0u8; 16];
        assert!(matches!(idle.read(&mut buf), Ok(0) | Err(_)));

        let server = HostileServer::start(Options {
            lifetime: Duration::from_millis(200),
            ..Options::default()
        })
        .unwrap();
        let addr = server.addr();
        let start = Instant::now();
        server.wait();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(
            StdTcp::connect_timeout(&addr, IO_TIMEOUT).is_err(),
            "port still open"
        );
    }

    #[test]
    fn odd_bodies() {
        let server = HostileServer::start_plain().unwrap();
        let r = get(&server, "/big-header");
        assert_eq!(r.header("X-Big").map(str::len), Some(BIG_HEADER_LEN));

        let r = get(&server, "/binary");
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
        assert_eq!(r.body.len(), BINARY_LEN);
        assert_eq!(r.body, binary_body());
        assert!(std::str::from_utf8(&r.body).is_err());

        let r = get(&server, "/invalid-utf8");
        assert!(r.body.starts_with(b"<html>"));
        assert!(std::str::from_utf8(&r.body).is_err());

        // Endless: no length, keeps coming.
        let mut s = connect(server.addr());
        s.write_all(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut got = vec![0u8; 4 * MIB];
        s.read_exact(&mut got).unwrap();
        let r = parse_response(&got);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Length"), None);
        assert!(r.body.iter().all(|&b| b == b'A'));
        drop(s);

        let mut s = connect(server.addr());
        s.write_all(b"GET /endless?chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut got = vec![0u8; MIB];
        s.read_exact(&mut got).unwrap();
        let r = parse_response(&got);
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
        assert!(r.body.starts_with(b"10000\r\nAAAA"));
        drop(s);

        // Drip: the bytes come one at a time.
        let mut s = connect(server.addr());
        s.write_all(b"GET /drip?interval_ms=5 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let start = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while head_end(&got).is_none_or(|end| got.len() < end + 20) {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(start.elapsed() >= Duration::from_millis(90));
        let r = parse_response(&got);
        assert_eq!(r.header("Content-Length"), Some("600"));
        assert!(r.body.len() < DRIP_LEN);
    }

    #[test]
    fn fixtures_are_served_safely() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.html"), "<p>fixture</p>").unwrap();
        std::fs::write(dir.path().join("b.js"), "eval(1)").unwrap();
        let server = HostileServer::start(Options {
            fixtures_dir: dir.path().to_path_buf(),
            ..Options::default()
        })
        .unwrap();
        let r = get(&server, "/fixture/a.html");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"<p>fixture</p>"[..]));
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        let r = get(&server, "/fixture/b.js");
        assert_eq!(r.header("Content-Type"), Some("application/javascript"));
        assert_eq!(get(&server, "/fixture/missing.html").status, 404);
        assert_eq!(get(&server, "/fixture/../Cargo.toml").status, 400);
        assert_eq!(get(&server, "/fixture/x/y.html").status, 400);
        assert_eq!(get(&server, "/fixture/").status, 400);
        assert!(
            Options::default()
                .fixtures_dir
                .ends_with("scraper/tests/fixtures")
        );
    }

    async fn tls_get(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        target: &str,
    ) -> anyhow::Result<Resp> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await?;
        let mut out = Vec::new();
        tls.read_to_end(&mut out).await?;
        Ok(parse_response(&out))
    }

    #[tokio::test]
    async fn serves_tls_with_a_trusted_ca() {
        let ca = crate::tls::TestCa::new().unwrap();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let server = HostileServer::start(Options {
            tls: Some(ca.server_config(&["localhost"], &[ip]).unwrap()),
            ..Options::default()
        })
        .unwrap();
        assert!(server.url("/page").starts_with("https://127.0.0.1:"));
        let r = tls_get(server.addr(), ca.client_config().unwrap(), "/page")
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, BENIGN_PAGE.as_bytes()));
        let r = tls_get(server.addr(), ca.client_config().unwrap(), "/chain/5")
            .await
            .unwrap();
        assert_eq!(r.header("Location"), Some("/chain/4"));
        // A client that does not trust the CA fails.
        let other = crate::tls::TestCa::new().unwrap();
        assert!(
            tls_get(server.addr(), other.client_config().unwrap(), "/page")
                .await
                .is_err()
        );
        assert_eq!(server.hits("/"), 2);
        tokio::task::spawn_blocking(move || drop(server))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn bad_tls_fails_the_handshake() {
        let ca = crate::tls::TestCa::new().unwrap();
        let bad = BadTlsServer::start(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        assert!(bad.url("/x").starts_with("https://127.0.0.1:"));
        let err = tls_get(bad.addr(), ca.client_config().unwrap(), "/page")
            .await
            .err()
            .expect("the handshake must fail");
        eprintln!("bad TLS: {err:#}");
        tokio::task::spawn_blocking(move || drop(bad))
            .await
            .unwrap();
    }
}
