//! Cold start and memory of the function binaries, side by side with a hello-world
//! `lambda_runtime` function built the same way (the floor of a Rust Lambda function) and with
//! the floor a Python responder pays before it can do anything: `python3 -c "import boto3"`.
//!
//! - ready: process start → the function's first `GET /runtime/invocation/next` to a Lambda
//!   runtime API on loopback (settings read, SDK configured, every client built). The listener
//!   is the measuring instrument: it answers nothing and the process is killed.
//! - peak RSS: `VmHWM` of the function process after a real invocation (through `cargo lambda
//!   watch` against the emulator: triage on a GuardDuty finding, then contain, preserve and page
//!   on what EventBridge routes to them).
//!
//! Usage: firebreak-bench-coldstart BIN_DIR [RUNS]   (bench/coldstart.sh builds release first)

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use firebreak_testbed::eventbridge::Taps;
use firebreak_testbed::lambda::{LambdaHost, function_env};
use firebreak_testbed::moto::{HOME_ACCOUNT, Moto};
use firebreak_testbed::{iam_user_finding, repo, seed};

const FUNCTIONS: [&str; 4] = ["triage", "contain", "preserve", "page"];

/// Time from spawn to the first runtime-API request, in seconds.
fn ready_once(binary: &Path) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let start = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIABENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("FIREBREAK_BUS", "firebreak-bus")
        .env("FIREBREAK_HOME_ACCOUNT", HOME_ACCOUNT)
        .env("FIREBREAK_EVIDENCE_BUCKET", "firebreak-evidence")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn function");
    let (mut stream, _) = listener.accept().expect("the function connects");
    let mut first = [0u8; 16];
    let _ = stream.read(&mut first);
    let elapsed = start.elapsed().as_secs_f64();
    assert!(first.starts_with(b"GET "), "first request: {first:?}");
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

/// Wall time of `python -c "import boto3"`, in seconds.
fn python_once(python: &Path) -> f64 {
    let start = Instant::now();
    let status = Command::new(python)
        .args(["-c", "import boto3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("python");
    assert!(status.success(), "import boto3 failed");
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn peak_rss(bin_dir: &Path) -> Vec<(String, Option<u64>)> {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = seed::stack(&sdk).await;
    let taps = Taps::install(&sdk, "firebreak-bus").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let (leaked, _) = seed::user_with_two_keys(&iam, "dev-ci").await;
    let env = function_env(
        &moto,
        &moto.home_credentials().await,
        &stack,
        "firebreak-bus",
    );
    let hosts: Vec<LambdaHost> = FUNCTIONS
        .iter()
        .map(|f| LambdaHost::start_binary(f, &bin_dir.join(f), &env))
        .collect();
    taps.put(false, &iam_user_finding("dev-ci", &leaked, HOME_ACCOUNT))
        .await;
    let mut pending = taps.drain().await;
    let mut rounds = 0;
    while !pending.is_empty() && rounds < 4 {
        for (target, _, event) in &pending {
            let i = match target.as_str() {
                "TriageFunction" => 0,
                "ContainFunction" => 1,
                "PreserveFunction" => 2,
                _ => 3,
            };
            let _ = hosts[i].invoke(&event.to_string()).ok();
        }
        pending = taps.drain().await;
        rounds += 1;
    }
    FUNCTIONS
        .iter()
        .zip(&hosts)
        .map(|(f, h)| (f.to_string(), h.peak_rss_kib()))
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin_dir = PathBuf::from(args.first().map(String::as_str).unwrap_or("target/release"));
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(30);
    let python = repo().join(".venv/bin/python");
    let hello = bin_dir.join("hello");
    // Warm the page cache for every binary once, as Lambda's own cache would be.
    for f in FUNCTIONS {
        ready_once(&bin_dir.join(f));
    }
    ready_once(&hello);
    python_once(&python);
    // Side by side: each run starts the hello-world function, then every function, so a busy
    // moment of the machine weighs on all of them.
    let mut floor = Vec::with_capacity(runs);
    let mut ready: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); FUNCTIONS.len()];
    for _ in 0..runs {
        floor.push(ready_once(&hello));
        for (i, f) in FUNCTIONS.iter().enumerate() {
            ready[i].push(ready_once(&bin_dir.join(f)));
        }
    }
    let floor = median(floor);
    let py = median((0..runs).map(|_| python_once(&python)).collect());
    let rss = peak_rss(&bin_dir).await;
    println!(
        "cold-start proxy, median of {runs} runs each ({})",
        bin_dir.display()
    );
    println!(
        "{:<28} {:>10} {:>14} {:>16} {:>14}",
        "", "ready ms", "x hello-world", "vs import boto3", "peak RSS MiB"
    );
    println!(
        "{:<28} {:>10.1} {:>14} {:>16} {:>14}",
        "python3 -c 'import boto3'",
        py * 1e3,
        "-",
        "1.0x",
        "-"
    );
    println!(
        "{:<28} {:>10.1} {:>13.2}x {:>15.1}x {:>14}",
        "hello-world lambda_runtime",
        floor * 1e3,
        1.0,
        py / floor,
        "-"
    );
    for ((f, peak), samples) in rss.into_iter().zip(ready) {
        let ready = median(samples);
        let peak = peak
            .map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or("-".into());
        println!(
            "{:<28} {:>10.1} {:>13.2}x {:>15.1}x {:>14}",
            f,
            ready * 1e3,
            ready / floor,
            py / ready,
            peak
        );
    }
}
