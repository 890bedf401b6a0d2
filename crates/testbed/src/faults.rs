//! A fault-injecting HTTP/1.1 proxy on loopback, put between the AWS SDK and the emulator to see
//! how code behaves when AWS throttles, fails, stalls or drops the connection.
//!
//! Point SDK clients at [`FaultProxy::endpoint`] the way they are pointed at the emulator (e.g.
//! [`crate::moto::sdk_for`]). For each request the proxy draws one fault by a small seeded PRNG
//! (so a run with sequential requests is reproducible) and counts it in [`FaultCounts`]:
//!
//! | fault          | what the client sees                                       | reached the emulator |
//! | -------------- | ---------------------------------------------------------- | -------------------- |
//! | `throttle`     | a throttling error shaped for the request's protocol       | no                   |
//! | `server_error` | a 500 `InternalError`, same shape rules                    | no                   |
//! | `slow`         | the emulator's answer, `slow_by` late                      | **yes**              |
//! | `timeout`      | nothing, until `hang_for` passes or the client gives up    | no                   |
//! | `reset`        | the connection reset (RST) right after its request         | no                   |
//! | none           | the emulator's answer                                      | yes                  |
//!
//! Tests rely on the last column: a call that failed by an injected fault changed no state on the
//! emulator, so after turning faults off ([`FaultProxy::set_faults`] with [`Faults::none`]) the
//! emulator's state must agree exactly with the calls that returned `Ok`.
//!
//! Each forwarded request gets its own upstream connection (the emulator closes them anyway),
//! while the client's connection is kept alive across requests.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Per-request fault rates (probabilities in `[0, 1]`, drawn in the order of the fields; what
/// exceeds a total of 1 is never drawn) and how the slow and timeout faults behave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Answer with a throttling error.
    pub throttle: f64,
    /// Answer with a 500 internal error.
    pub server_error: f64,
    /// Forward after sleeping `slow_by`.
    pub slow: f64,
    /// Never answer; close after `hang_for`.
    pub timeout: f64,
    /// Reset the connection after reading the request.
    pub reset: f64,
    /// Seed of the PRNG that draws the faults.
    pub seed: u64,
    /// Delay of a slow request.
    pub slow_by: Duration,
    /// How long a timed-out request is held unanswered.
    pub hang_for: Duration,
    /// Faults only requests whose path or body holds this text (`Action=UpdateAccessKey`);
    /// every request when none.
    pub only: Option<&'static str>,
}

impl Faults {
    /// No fault: every request is forwarded.
    pub fn none() -> Faults {
        Faults {
            throttle: 0.0,
            server_error: 0.0,
            slow: 0.0,
            timeout: 0.0,
            reset: 0.0,
            seed: 0,
            slow_by: Duration::from_millis(300),
            hang_for: Duration::from_secs(30),
            only: None,
        }
    }

    /// A fault on `rate` of the requests, split equally across the five kinds.
    pub fn uniform(rate: f64, seed: u64) -> Faults {
        let each = rate / 5.0;
        Faults {
            throttle: each,
            server_error: each,
            slow: each,
            timeout: each,
            reset: each,
            seed,
            ..Faults::none()
        }
    }

    /// The fault of a request, for `draw` uniform in `[0, 1)`.
    fn pick(&self, draw: f64) -> Fault {
        let kinds = [
            (self.throttle, Fault::Throttle),
            (self.server_error, Fault::ServerError),
            (self.slow, Fault::Slow),
            (self.timeout, Fault::Timeout),
            (self.reset, Fault::Reset),
        ];
        let mut bound = 0.0;
        for (rate, fault) in kinds {
            bound += rate;
            if draw < bound {
                return fault;
            }
        }
        Fault::None
    }
}

impl Default for Faults {
    fn default() -> Faults {
        Faults::none()
    }
}

/// What the proxy has seen and done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Client connections accepted.
    pub connections: u64,
    /// Requests read from clients.
    pub requests: u64,
    /// Requests written to the emulator (including slow ones).
    pub forwarded: u64,
    /// Requests answered with a throttling error.
    pub throttled: u64,
    /// Requests answered with a 500.
    pub server_errors: u64,
    /// Requests forwarded late.
    pub slowed: u64,
    /// Requests left unanswered.
    pub timed_out: u64,
    /// Connections reset after a request.
    pub reset: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Throttle,
    ServerError,
    Slow,
    Timeout,
    Reset,
}

/// The splitmix64 generator: small, deterministic, good enough to draw faults.
struct SplitMix64(u64);

impl SplitMix64 {
    /// A float uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct State {
    faults: Faults,
    rng: SplitMix64,
    counts: FaultCounts,
}

struct Shared {
    /// `host:port` of the emulator.
    upstream: String,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the counters inconsistent: ignore poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Draws and counts the fault of a new request (`path`, `body`).
    fn draw(&self, path: &str, body: &[u8]) -> (Fault, Faults) {
        let mut s = self.state();
        let draw = s.rng.next_f64();
        let aimed = s.faults.only.is_none_or(|text| {
            path.contains(text) || body.windows(text.len()).any(|w| w == text.as_bytes())
        });
        let fault = if aimed {
            s.faults.pick(draw)
        } else {
            Fault::None
        };
        let c = &mut s.counts;
        c.requests += 1;
        match fault {
            Fault::None => {}
            Fault::Throttle => c.throttled += 1,
            Fault::ServerError => c.server_errors += 1,
            Fault::Slow => c.slowed += 1,
            Fault::Timeout => c.timed_out += 1,
            Fault::Reset => c.reset += 1,
        }
        (fault, s.faults)
    }
}

/// The running proxy; it stops (and drops every connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, faults: Faults) -> io::Result<FaultProxy> {
        let authority = upstream
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/').to_string())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("not an http:// endpoint: {upstream}"),
                )
            })?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: authority,
            state: Mutex::new(State {
                faults,
                rng: SplitMix64(faults.seed),
                counts: FaultCounts::default(),
            }),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FaultProxy {
            addr,
            shared,
            accept,
        })
    }

    /// `http://127.0.0.1:<port>`, to give SDK clients as their endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts so far.
    pub fn counts(&self) -> FaultCounts {
        self.shared.state().counts
    }

    /// Replaces the fault rates from the next request on, and reseeds the PRNG with
    /// `faults.seed`.
    pub fn set_faults(&self, faults: Faults) {
        let mut s = self.shared.state();
        s.faults = faults;
        s.rng = SplitMix64(faults.seed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept task owns the connections' tasks: aborting it drops them all.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                shared.state().counts.connections += 1;
                connections.spawn(serve(stream, shared.clone()));
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Serves one client connection: its requests one after the other, each with its fault.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut client = BufReader::new(stream);
    loop {
        let Ok(Some(mut req)) = read_head(&mut client).await else {
            return;
        };
        if req
            .remove("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            && client
                .get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        let Ok(body) = read_body(&mut client, &req, false).await else {
            return;
        };
        let head_only = req.method() == "HEAD";
        let (fault, faults) = shared.draw(req.target(), &body);
        let answer = match fault {
            Fault::Throttle => error_answer(protocol(&req, &body), true, head_only),
            Fault::ServerError => error_answer(protocol(&req, &body), false, head_only),
            Fault::Timeout => {
                // Hold the connection unanswered until the client gives up or time runs out.
                let _ = tokio::time::timeout(
                    faults.hang_for,
                    tokio::io::copy_buf(&mut client, &mut tokio::io::sink()),
                )
                .await;
                return;
            }
            Fault::Reset => {
                // SO_LINGER 0: closing sends RST at once (and does not block, with a zero
                // linger), so the client sees a reset rather than an orderly end of stream.
                #[allow(deprecated)]
                let _ = client.get_ref().set_linger(Some(Duration::ZERO));
                return;
            }
            Fault::Slow | Fault::None => {
                if fault == Fault::Slow {
                    tokio::time::sleep(faults.slow_by).await;
                }
                match forward(&shared, req.clone(), &body, head_only).await {
                    Ok(answer) => answer,
                    Err(e) => {
                        let _ = client.get_mut().write_all(&bad_gateway(&e)).await;
                        return;
                    }
                }
            }
        };
        if client.get_mut().write_all(&answer).await.is_err()
            || req
                .get("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}

/// Sends one request to the emulator on a connection of its own; returns the answer to relay,
/// framed for a kept-alive client connection.
async fn forward(
    shared: &Shared,
    mut req: Head,
    body: &[u8],
    head_only: bool,
) -> io::Result<Vec<u8>> {
    let mut upstream = BufReader::new(TcpStream::connect(&shared.upstream).await?);
    req.set("Connection", "close");
    let mut out = req.to_bytes();
    out.extend_from_slice(body);
    upstream.get_mut().write_all(&out).await?;
    shared.state().counts.forwarded += 1;
    let mut resp = loop {
        let head = read_head(&mut upstream)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no answer"))?;
        // Interim (1xx) answers are the proxy's business, not the client's.
        if !head.status().is_some_and(|s| (100..200).contains(&s)) {
            break head;
        }
    };
    let bodyless = head_only || matches!(resp.status(), Some(204 | 304));
    let body = if bodyless {
        Vec::new()
    } else {
        read_body(&mut upstream, &resp, true).await?
    };
    // The emulator closes every connection; the client's stays open, so frame the body by
    // length unless it is chunked.
    resp.remove("connection");
    if !bodyless && !resp.is_chunked() && resp.content_length().is_none() {
        resp.set("Content-Length", &body.len().to_string());
    }
    if let Some(rest) = resp.start.strip_prefix("HTTP/1.0") {
        resp.start = format!("HTTP/1.1{rest}");
    }
    let mut answer = resp.to_bytes();
    answer.extend_from_slice(&body);
    Ok(answer)
}

/// The AWS protocol of a request, which decides the shape an error answer must have for the SDK
/// to read its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// awsJson 1.0/1.1: code in `x-amzn-ErrorType` and the body's `__type`.
    Json,
    /// The EC2 query protocol: `<Response><Errors><Error><Code>`.
    Ec2,
    /// awsQuery: `<ErrorResponse><Error><Code>`.
    Query,
    /// REST-XML as S3 speaks it: `<Error><Code>`.
    RestXml,
}

/// Tells a request's protocol from what the SDK sends: an `X-Amz-Target` header is awsJson
/// (Cognito, EventBridge, SQS); a request signed for `ec2` is the EC2 query protocol; a form body
/// with `Action=` is awsQuery (IAM, STS, SNS); anything else is taken for S3's REST-XML.
fn protocol(req: &Head, body: &[u8]) -> Protocol {
    let form = req
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
        || body.starts_with(b"Action=");
    if req.get("x-amz-target").is_some() {
        Protocol::Json
    } else if req
        .get("authorization")
        .is_some_and(|a| a.contains("/ec2/aws4_request"))
    {
        Protocol::Ec2
    } else if form || req.target().contains("Action=") {
        Protocol::Query
    } else {
        Protocol::RestXml
    }
}

/// An error answer the SDK reads as throttling (`throttle`) or as an internal error, in the
/// shape of `protocol`; `head_only` for a HEAD request, whose answer has no body.
fn error_answer(protocol: Protocol, throttle: bool, head_only: bool) -> Vec<u8> {
    const REQUEST_ID: &str = "f1rebreak-fau1t-0000-0000-000000000000";
    let (status, code, message) = match (protocol, throttle) {
        (Protocol::Json, true) => (400, "ThrottlingException", "Rate exceeded"),
        (Protocol::Query, true) => (400, "Throttling", "Rate exceeded"),
        (Protocol::Ec2, true) => (503, "RequestLimitExceeded", "Request limit exceeded."),
        (Protocol::RestXml, true) => (503, "SlowDown", "Please reduce your request rate."),
        (_, false) => (500, "InternalError", "We encountered an internal error."),
    };
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let (content_type, body) = match protocol {
        Protocol::Json => (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        ),
        Protocol::Ec2 => (
            "text/xml",
            format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>\
                 </Error></Errors><RequestID>{REQUEST_ID}</RequestID></Response>"
            ),
        ),
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>{REQUEST_ID}</RequestId>\
                 </ErrorResponse>",
                if throttle { "Sender" } else { "Receiver" }
            ),
        ),
        Protocol::RestXml => (
            "application/xml",
            format!(
                "<Error><Code>{code}</Code><Message>{message}</Message>\
                 <RequestId>{REQUEST_ID}</RequestId></Error>"
            ),
        ),
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nx-amzn-RequestId: {REQUEST_ID}\r\n",
        body.len()
    );
    if protocol == Protocol::Json {
        head.push_str(&format!("x-amzn-ErrorType: {code}\r\n"));
    }
    head.push_str("\r\n");
    let mut answer = head.into_bytes();
    if !head_only {
        answer.extend_from_slice(body.as_bytes());
    }
    answer
}

/// A 502 for a request the emulator could not be asked or did not answer; the connection closes.
fn bad_gateway(e: &io::Error) -> Vec<u8> {
    let body = format!("fault proxy: upstream: {e}");
    format!(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The head of an HTTP/1.1 message: its start line and header fields, in order.
#[derive(Clone, Debug)]
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(self.headers.remove(i).1)
    }

    fn set(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or_default()
    }

    fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or_default()
    }

    fn status(&self) -> Option<u16> {
        self.start.split(' ').nth(1)?.parse().ok()
    }

    fn is_chunked(&self) -> bool {
        self.get("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    }

    fn content_length(&self) -> Option<usize> {
        self.get("content-length")?.trim().parse().ok()
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// Largest message head accepted.
const MAX_HEAD: usize = 64 * 1024;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one line, `\r\n` included; empty at end of stream.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).await?;
    Ok(line)
}

/// Reads a message head; `None` if the stream ends cleanly before one starts.
async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Head>> {
    let mut lines = Vec::new();
    let mut size = 0;
    loop {
        let line = read_line(r).await?;
        if line.is_empty() {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        size += line.len();
        if size > MAX_HEAD {
            return Err(invalid("message head too large"));
        }
        let line = String::from_utf8(line).map_err(|_| invalid("message head not UTF-8"))?;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if lines.is_empty() {
                continue; // a stray CRLF between messages
            }
            break;
        }
        lines.push(line.to_string());
    }
    let start = lines.remove(0);
    let headers = lines
        .into_iter()
        .map(|l| {
            let (name, value) = l.split_once(':').ok_or_else(|| invalid("bad header"))?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect::<io::Result<_>>()?;
    Ok(Some(Head { start, headers }))
}

/// Reads the body that follows `head`, verbatim (a chunked body keeps its chunk framing and
/// trailers). Without a length or chunking the body is empty, or for an answer (`to_eof`) runs
/// to the end of the stream.
async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    head: &Head,
    to_eof: bool,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head.is_chunked() {
        loop {
            let line = read_line(r).await?;
            let text = std::str::from_utf8(&line).map_err(|_| invalid("bad chunk size"))?;
            let hex = text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(hex, 16).map_err(|_| invalid("bad chunk size"))?;
            body.extend_from_slice(&line);
            if size == 0 {
                // Trailer fields, up to an empty line.
                loop {
                    let line = read_line(r).await?;
                    if line.is_empty() {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    body.extend_from_slice(&line);
                    if line == b"\r\n" || line == b"\n" {
                        return Ok(body);
                    }
                }
            }
            let at = body.len();
            body.resize(at + size + 2, 0); // the data and its CRLF
            r.read_exact(&mut body[at..]).await?;
        }
    } else if let Some(len) = head.content_length() {
        body.resize(len, 0);
        r.read_exact(&mut body).await?;
    } else if to_eof {
        r.read_to_end(&mut body).await?;
    }
    Ok(body)
}
