//! Function binaries run as Lambdas: `cargo lambda watch --only-lambda-apis` serves the Lambda
//! runtime API on a free port, the binary built by cargo polls it like it polls AWS Lambda, and
//! `cargo lambda invoke` sends events through it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use serde_json::Value;

use crate::moto::{HOME_ACCOUNT, Moto, REGION};
use crate::seed::Stack;

/// `cargo-lambda` from the project's venv (`make venv` installs it from PyPI).
pub fn cargo_lambda() -> PathBuf {
    let path = std::env::var_os("CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo().join(".venv/bin/cargo-lambda"));
    assert!(
        path.exists(),
        "{} is missing: run `make venv` (make test does)",
        path.display()
    );
    path
}

/// A function binary of this workspace (debug build).
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo().join("target"));
    let path = dir.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo build --workspace` builds it (make test does)",
        path.display()
    );
    path
}

/// The environment `infra/template.yaml` gives every function, pointed at the emulator: the
/// same settings as `infra/firebreak.toml`.
pub fn function_env(
    moto: &Moto,
    creds: &Credentials,
    stack: &Stack,
    bus: &str,
) -> Vec<(String, String)> {
    let pairs = [
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", creds.access_key_id().into()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key().into()),
        (
            "AWS_SESSION_TOKEN",
            creds.session_token().unwrap_or_default().into(),
        ),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("FIREBREAK_BUS", bus.into()),
        ("FIREBREAK_HOME_ACCOUNT", HOME_ACCOUNT.into()),
        ("FIREBREAK_EVIDENCE_BUCKET", stack.bucket.clone()),
        ("FIREBREAK_PAGER_TOPIC_ARN", stack.pager_topic.clone()),
        ("FIREBREAK_TICKET_TOPIC_ARN", stack.ticket_topic.clone()),
        ("FIREBREAK_CONTAINMENT_MODE", "auto".into()),
        (
            "FIREBREAK_PROTECTED_ARNS",
            "arn:*:iam::*:role/BreakGlass,arn:aws:iam::*:user/ops-automation".into(),
        ),
        (
            "FIREBREAK_ALLOWED_AMIS",
            "ami-0a1b2c3d4e5f60718,ami-0fedcba9876543210".into(),
        ),
        ("FIREBREAK_HANDLES_AMAZON_DATA", "true".into()),
        ("FIREBREAK_GDPR_APPLIES", "true".into()),
        ("FIREBREAK_INVITE_ONLY_POOLS", "eu-west-1_Mkt4Invit".into()),
        (
            "FIREBREAK_COGNITO_ADMINS",
            "arn:aws:iam::*:role/MarketplaceUserAdmin".into(),
        ),
        (
            "FIREBREAK_TRAIL_BUCKETS",
            "aws-cloudtrail-logs-111122223333-org".into(),
        ),
        (
            "FIREBREAK_SSM_PRINCIPALS",
            "arn:aws:iam::*:role/PatchManager".into(),
        ),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Every function in-process, each one's `Context` built from `env` (as `function_env`
/// gives it) with its clients on `sdk`, keyed by function name.
pub fn contexts(
    env: &[(String, String)],
    sdk: &aws_config::SdkConfig,
) -> std::collections::BTreeMap<&'static str, firebreak_lambda::Context> {
    let settings = firebreak_lambda::Settings::from_lookup(|name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .expect("the template's settings");
    firebreak_lambda::Function::ALL
        .into_iter()
        .map(|f| {
            let ctx = firebreak_lambda::Context::new(f, sdk, settings.clone()).expect("context");
            (f.name(), ctx)
        })
        .collect()
}

/// Delivers `raw` to `ctx` as its function, retrying a failure a few times as Lambda would.
pub async fn deliver(ctx: &firebreak_lambda::Context, raw: &str) -> Value {
    let collector = crate::collector(format!(
        "arn:aws:lambda:us-east-1:{HOME_ACCOUNT}:function:firebreak-{}",
        ctx.function.name()
    ));
    let mut last = None;
    for _ in 0..5 {
        match ctx.handle(raw, collector.clone()).await {
            Ok(answer) => return answer,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    panic!("{}: {last:?}", ctx.function.name())
}

/// Delivers whatever the template's rules routed to `functions` (keyed by name, as `contexts`
/// gives them) until nothing is left, waiting out up to `idle` empty rounds of 500 ms (for an
/// event put while this runs); each function's answer, in delivery order.
pub async fn pump(
    taps: &crate::eventbridge::Taps,
    functions: &std::collections::BTreeMap<&'static str, firebreak_lambda::Context>,
    idle: usize,
) -> Vec<(String, Value)> {
    let mut answers = Vec::new();
    let mut quiet = 0;
    while quiet <= idle {
        let routed = taps.drain().await;
        if routed.is_empty() {
            quiet += 1;
            if quiet <= idle {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            continue;
        }
        quiet = 0;
        for (function, _, event) in routed {
            let name = function.trim_end_matches("Function").to_lowercase();
            let answer = deliver(&functions[name.as_str()], &event.to_string()).await;
            answers.push((name, answer));
        }
    }
    answers
}

/// One function binary served through the Lambda runtime API.
pub struct LambdaHost {
    name: String,
    watch: Child,
    function: Child,
    port: u16,
    /// The function's stdout and stderr (its logs).
    pub log: PathBuf,
}

/// What `cargo lambda invoke` answered.
#[derive(Debug)]
pub enum Invoked {
    /// The function's JSON answer.
    Ok(Value),
    /// The function failed: the runtime's error report as printed.
    Failed(String),
}

impl Invoked {
    /// The answer, or a panic naming the error.
    pub fn ok(self) -> Value {
        match self {
            Invoked::Ok(v) => v,
            Invoked::Failed(e) => panic!("the function failed: {e}"),
        }
    }
}

impl LambdaHost {
    /// Starts the runtime API and the function binary `name` (debug build) with `env`.
    pub fn start(name: &str, env: &[(String, String)]) -> LambdaHost {
        LambdaHost::start_binary(name, &binary(name), env)
    }

    /// Starts the runtime API and the binary at `path` as function `name`.
    pub fn start_binary(
        name: &str,
        path: &std::path::Path,
        env: &[(String, String)],
    ) -> LambdaHost {
        let port = free_port();
        let watch = Command::new(cargo_lambda())
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(crate::repo())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::env::temp_dir().join(format!("firebreak-{name}-{port}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let function = Command::new(path)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        LambdaHost {
            name: name.to_string(),
            watch,
            function,
            port,
            log,
        }
    }

    /// Invokes the function with `payload` through the runtime API.
    pub fn invoke(&self, payload: &str) -> Invoked {
        let file = std::env::temp_dir().join(format!(
            "firebreak-payload-{}-{}.json",
            self.name, self.port
        ));
        std::fs::write(&file, payload).expect("payload file");
        let out = Command::new(cargo_lambda())
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args([
                "--invoke-port",
                &self.port.to_string(),
                "--output-format",
                "json",
            ])
            .arg("--data-file")
            .arg(&file)
            .current_dir(crate::repo())
            .output()
            .expect("cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.success() {
            match serde_json::from_str(&stdout) {
                Ok(v) => Invoked::Ok(v),
                Err(e) => Invoked::Failed(format!("answer is not JSON ({e}): {stdout}{stderr}")),
            }
        } else {
            Invoked::Failed(format!("{stdout}{stderr}"))
        }
    }

    /// The function process's peak resident set so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.function.id())
    }

    /// The function's log lines so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LambdaHost {
    fn drop(&mut self) {
        for child in [&mut self.function, &mut self.watch] {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `VmHWM` of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
