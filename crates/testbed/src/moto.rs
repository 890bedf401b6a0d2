//! The local AWS emulator: `moto_server` on 127.0.0.1, on a free port, started for a test and
//! stopped when the handle drops.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

/// The account the emulator treats as "this" account: Firebreak's security account.
pub const HOME_ACCOUNT: &str = "111122223333";
/// A member account of the organisation.
pub const MEMBER_ACCOUNT: &str = "444455556666";
/// Region of the tests.
pub const REGION: &str = "us-east-1";

/// How many request lines [`Moto::requests`] keeps (the reliability tests send hundreds of
/// thousands; none of them reads the log).
const MAX_LOGGED_REQUESTS: usize = 200_000;

/// A running emulator.
pub struct Moto {
    child: Child,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` on a free port: `$MOTO_SERVER` as it is, or the project's `.venv`
    /// moto through `crates/testbed/moto_server.py` (moto's server with its ListObjectVersions made to
    /// filter by prefix before it copies; the script says why).
    pub fn start() -> Moto {
        match std::env::var_os("MOTO_SERVER") {
            Some(server) => Moto::spawn(Command::new(PathBuf::from(server))),
            None => Moto::spawn(Moto::launcher(false)),
        }
    }

    /// Starts the emulator serving one request at a time. Its threaded server checks S3's
    /// `If-None-Match: *` and then writes, so two concurrent conditional puts of one key can both
    /// succeed; S3 makes that check atomic. Tests that race conditional writes on purpose use
    /// this server, so each request is atomic as in S3 while their callers stay concurrent.
    pub fn start_serial() -> Moto {
        Moto::spawn(Moto::launcher(true))
    }

    /// `.venv/bin/python crates/testbed/moto_server.py [--serial]`.
    fn launcher(serial: bool) -> Command {
        let python = crate::repo().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `make venv` (make test does) to install the emulator",
            python.display()
        );
        let mut command = Command::new(&python);
        command.arg(crate::repo().join("crates/testbed/moto_server.py"));
        if serial {
            command.arg("--serial");
        }
        command
    }

    fn spawn(mut command: Command) -> Moto {
        // Port 0: the OS picks a free port atomically, and the server says which. (Picking a
        // port ourselves and handing it over races with other tests' servers.)
        let mut child = command
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start moto_server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = requests.clone();
        // The server logs every request to stderr: keep draining it so it never blocks, and
        // keep the request lines (`"GET /bucket?list-type=2&prefix=… HTTP/1.1" 200 -`) for the
        // tests that count calls.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, request)) = line.split_once("] \"") {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    if log.len() < MAX_LOGGED_REQUESTS {
                        log.push(request.to_string());
                    }
                }
                if let Some(port) = line.split("Running on http://127.0.0.1:").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(port.trim().to_string());
                    }
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("moto_server did not start within 60 s");
        let moto = Moto {
            child,
            requests,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("a port number")))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "moto_server did not accept connections on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// The request lines the emulator has logged so far (method, path and query, HTTP
    /// version, status), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// SDK configuration acting in the home (security) account. The emulator keeps accounts
    /// apart by credentials, so the home account is entered like any other: through STS.
    pub async fn sdk(&self) -> SdkConfig {
        let creds = self.home_credentials().await;
        sdk_for(&self.endpoint)
            .await
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build()
    }

    /// Temporary credentials of the home account (what a function's role would have).
    pub async fn home_credentials(&self) -> Credentials {
        let base = sdk_for(&self.endpoint).await;
        let sts = aws_sdk_sts::Client::new(&base);
        let out = sts
            .assume_role()
            .role_arn(format!(
                "arn:aws:iam::{HOME_ACCOUNT}:role/FirebreakAdministrator"
            ))
            .role_session_name("firebreak-tests")
            .duration_seconds(3600)
            .send()
            .await
            .expect("assume the home account's role");
        let c = out.credentials().expect("credentials");
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "firebreak-tests-home",
        )
    }
}

/// SDK configuration pointing at an endpoint with test credentials.
pub async fn sdk_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIAFIREBREAKTESTS000",
            "firebreak-test-secret",
            None,
            None,
            "firebreak-tests",
        )))
        .load()
        .await
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Turns on the emulator's Step Functions interpreter, with Lambda functions that answer
    /// each invocation with the payload they were sent (moto runs function code only under
    /// Docker): a state machine then really runs, and what it would hand a function can be read
    /// from its output.
    pub fn run_state_machines(&self) {
        let url = format!("{}/moto-api/config", self.endpoint);
        let body = r#"{"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}"#;
        let status = post(&url, body);
        assert!(
            status.starts_with("HTTP/1.1 20"),
            "moto-api/config: {status}"
        );
    }
}

impl Moto {
    /// A call without a body to the emulator's control API (`/moto-api/...`, its request
    /// recorder among them); the answer's body.
    pub fn control(&self, method: &str, path: &str) -> String {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect to the emulator");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .expect("write to the emulator");
        let mut out = String::new();
        s.read_to_string(&mut out)
            .expect("read the emulator's answer");
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }
}

/// A bare HTTP/1.1 POST of a JSON body to the emulator; the status line.
fn post(url: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// endpoint");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = TcpStream::connect(host).expect("connect to the emulator");
    write!(
        stream,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}
