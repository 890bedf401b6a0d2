//! `bench/time-to-contain.sh`: how many AWS round trips, and how long, from a finding's arrival
//! at `triage` to the leaked key being set Inactive, through the deployed pipeline's handlers:
//! triage → Firebreak's bus (the template's rules, tapped to queues on the emulator) → contain.
//! Counted from the emulator's own request log: every request Firebreak made up to and including
//! `UpdateAccessKey` (the queues that stand in for EventBridge's delivery to Lambda are the
//! bench's, not Firebreak's, and are left out). Beside it, one emulator round trip measured in
//! the same run.

use std::time::Instant;

use firebreak_testbed::eventbridge::Taps;
use firebreak_testbed::lambda::{contexts, function_env};
use firebreak_testbed::moto::{HOME_ACCOUNT, Moto};
use firebreak_testbed::{iam_user_finding, seed};
use serde_json::Value;

const BUS: &str = "firebreak-bus";

/// Firebreak's requests recorded so far, in order.
fn firebreak_requests(moto: &Moto) -> Vec<Value> {
    moto.control("GET", "/moto-api/recorder/download-recording")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| !is_the_benchs(r))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A recorded request's body as text (the recorder base64-encodes some).
fn body(r: &Value) -> String {
    let raw = r["body"].as_str().unwrap_or_default();
    if r["body_encoded"].as_bool() == Some(true) {
        aws_smithy_types::base64::decode(raw)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    } else {
        raw.to_string()
    }
}

/// One recorded request as `<service> <operation>`.
fn describe(r: &Value) -> String {
    let body = body(r);
    let headers = &r["headers"];
    if let Some(target) = headers["X-Amz-Target"].as_str() {
        return target.to_string();
    }
    if let Some(action) = body.split('&').find_map(|p| p.strip_prefix("Action=")) {
        let host = headers["Host"].as_str().unwrap_or_default();
        let service = host.split('.').next().filter(|h| h.parse::<u8>().is_err());
        return format!("{} {action}", service.unwrap_or("query"));
    }
    format!(
        "{} {}",
        r["method"].as_str().unwrap_or_default(),
        r["url"]
            .as_str()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("/")
    )
}

/// The bench's own traffic: the queues standing in for EventBridge → Lambda, the control API.
fn is_the_benchs(r: &Value) -> bool {
    let body = body(r);
    let target = r["headers"]["X-Amz-Target"].as_str().unwrap_or_default();
    r["url"].as_str().unwrap_or_default().contains("moto-api")
        || target.starts_with("AmazonSQS.")
        || body.contains("Action=ReceiveMessage")
        || body.contains("Action=DeleteMessage")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = seed::stack(&sdk).await;
    let taps = Taps::install(&sdk, BUS).await;
    let creds = moto.home_credentials().await;
    let env = function_env(&moto, &creds, &stack, BUS);
    let functions = contexts(&env, &sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let sts = aws_sdk_sts::Client::new(&sdk);
    let collector = |name: &str| {
        firebreak_testbed::collector(format!(
            "arn:aws:lambda:us-east-1:{HOME_ACCOUNT}:function:firebreak-{name}"
        ))
    };

    let mut rtt = Vec::new();
    for _ in 0..(runs * 5) {
        let t = Instant::now();
        sts.get_caller_identity().send().await.expect("sts");
        rtt.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let rtt = median(rtt);

    let (mut walls, mut trips) = (Vec::new(), Vec::new());
    let mut path = Vec::new();
    for run in 0..runs {
        let user = format!("ttc-user-{run}");
        let (key, _) = seed::user_with_two_keys(&iam, &user).await;
        let mut finding = iam_user_finding(&user, &key, HOME_ACCOUNT);
        finding["detail"]["id"] = format!("ttc{run:029}").into();
        // As EventBridge hands it over: the default bus's rule routes it to triage.
        taps.put(false, &finding).await;
        let delivered: Vec<Value> = taps
            .drain()
            .await
            .into_iter()
            .filter(|(f, _, _)| f == "TriageFunction")
            .map(|(_, _, e)| e)
            .collect();
        assert_eq!(delivered.len(), 1, "one rule routes the finding to triage");

        moto.control("POST", "/moto-api/recorder/reset-recording");
        moto.control("POST", "/moto-api/recorder/start-recording");
        let t = Instant::now();
        let opened = functions["triage"]
            .handle(&delivered[0].to_string(), collector("triage"))
            .await
            .expect("triage");
        assert_eq!(opened["decision"], "Incident Opened", "{opened}");
        // Where triage's requests end: contain starts from its PutEvents (on AWS, triage's
        // last writes and contain's first reads overlap).
        let by_triage = firebreak_requests(&moto).len();
        let to_contain: Vec<Value> = taps
            .drain()
            .await
            .into_iter()
            .filter(|(f, _, _)| f == "ContainFunction")
            .map(|(_, _, e)| e)
            .collect();
        assert_eq!(
            to_contain.len(),
            1,
            "the bus routes the incident to contain"
        );
        let contained = functions["contain"]
            .handle(&to_contain[0].to_string(), collector("contain"))
            .await
            .expect("contain");
        let wall = t.elapsed().as_secs_f64() * 1000.0;
        moto.control("POST", "/moto-api/recorder/stop-recording");
        let firebreak = firebreak_requests(&moto);
        let put = firebreak[..by_triage]
            .iter()
            .position(|r| describe(r) == "AWSEvents.PutEvents")
            .expect("triage put the incident on the bus");
        let until = firebreak
            .iter()
            .position(|r| body(r).contains("Action=UpdateAccessKey"))
            .unwrap_or_else(|| {
                let seen: Vec<String> = firebreak.iter().map(describe).collect();
                panic!("no UpdateAccessKey among {seen:?}: {contained}")
            });
        // Triage's requests up to its PutEvents, then contain's up to UpdateAccessKey.
        trips.push((put + 1 + until + 1 - by_triage) as f64);
        walls.push(wall);
        path = firebreak[..=put]
            .iter()
            .chain(&firebreak[by_triage..=until])
            .map(describe)
            .collect();
        firebreak_testbed::assert_only_key_inactive(&iam, &user, &key).await;
    }
    let (wall, trips) = (median(walls), median(trips));
    println!("time to containment, finding at triage -> key Inactive ({runs} runs, medians)");
    println!(
        "  AWS round trips on the critical path (triage to its PutEvents, contain to UpdateAccessKey): {trips:.0}"
    );
    println!(
        "  wall time, triage's start -> contain's answer: {wall:.1} ms = {:.1}x one round trip",
        wall / rtt
    );
    println!("  one emulator round trip (sts:GetCallerIdentity), same run: {rtt:.2} ms");
    println!("  the last run's critical path:");
    for (i, step) in path.iter().enumerate() {
        println!("    {:>2}. {step}", i + 1);
    }
    drop(moto);
}
