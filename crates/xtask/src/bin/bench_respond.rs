//! `bench/respond.sh`: event → every action done → page received, against the local emulator.
//! Per playbook: the median wall time of repeated runs, and the AWS calls the emulator recorded.
//! Beside it, the baseline of the same run: one emulator round trip (sts:GetCallerIdentity).

use std::time::{Duration, Instant};

use firebreak_aws::{Clients, Responder};
use firebreak_core::{Decision, Mode, Status, Triage};
use firebreak_testbed::moto::{HOME_ACCOUNT, Moto};
use firebreak_testbed::{event, seed};
use serde_json::Value;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = seed::stack(&sdk).await;
    let mut config = seed::config(&stack);
    config.modes.instance_isolation = Mode::Auto;
    let home = Clients::new(&sdk);
    let collector = firebreak_testbed::collector(format!("arn:aws:iam::{HOME_ACCOUNT}:user/bench"));
    let responder =
        Responder::new(home.clone(), HOME_ACCOUNT, config.clone(), collector, false).unwrap();
    let triage = Triage::new(config.clone()).unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);

    // Baseline: one round trip to the same emulator, same client stack.
    let mut rtt = Vec::new();
    for _ in 0..(runs * 5) {
        let t = Instant::now();
        home.sts.get_caller_identity().send().await.unwrap();
        rtt.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let rtt = median(rtt);

    println!(
        "{:<34} {:>10} {:>10} {:>12} {:>14}",
        "playbook", "median ms", "AWS calls", "x round trip", "actions done"
    );
    for playbook in [
        "iam-user-key",
        "assumed-role",
        "instance",
        "public-bucket",
        "root-sign-in",
    ] {
        let mut times = Vec::new();
        let mut calls = 0;
        let mut done = 0;
        for run in 0..runs {
            // Fresh resources and a fresh finding id: every run is a new incident.
            let mut e = match playbook {
                "iam-user-key" => {
                    let user = format!("bench-user-{run}");
                    let (key, _) = seed::user_with_two_keys(&iam, &user).await;
                    let mut e = event("gd-iam-user-malicious-ip-caller-custom.json");
                    e["detail"]["resource"]["accessKeyDetails"]["userName"] = user.into();
                    e["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = key.into();
                    e
                }
                "assumed-role" => {
                    let role = format!("bench-role-{run}");
                    seed::role(&iam, &role).await;
                    let mut e = event("gd-iam-instance-credential-exfiltration-outside-aws.json");
                    e["detail"]["resource"]["accessKeyDetails"]["userName"] = role.into();
                    e
                }
                "instance" => {
                    let server = seed::server(&sdk, &format!("bench-{run}")).await;
                    let mut e = event("gd-ec2-bitcoin-tool-dns.json");
                    e["detail"]["resource"]["instanceDetails"]["instanceId"] =
                        server.instance_id.into();
                    e["detail"]["resource"]["instanceDetails"]["iamInstanceProfile"]["arn"] =
                        server.profile_arn.into();
                    e
                }
                "public-bucket" => {
                    let mut e = event("gd-s3-malicious-ip-caller-public-bucket.json");
                    let bucket = format!("bench-bucket-{run}");
                    e["detail"]["resource"]["s3BucketDetails"][0]["name"] = bucket.clone().into();
                    seed::s3_client(&sdk)
                        .create_bucket()
                        .bucket(&bucket)
                        .send()
                        .await
                        .unwrap();
                    let role = e["detail"]["resource"]["accessKeyDetails"]["userName"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    let _ = iam
                        .create_role()
                        .role_name(&role)
                        .assume_role_policy_document("{}")
                        .send()
                        .await;
                    e
                }
                _ => event("ct-root-console-sign-in-no-mfa.json"),
            };
            if playbook.starts_with("root") {
                e["detail"]["eventID"] = format!("bench-root-{run}").into();
                e["detail"]["recipientAccountId"] = HOME_ACCOUNT.into();
            } else {
                e["detail"]["id"] = format!("bench{run:028}{}", playbook.len()).into();
                e["detail"]["accountId"] = HOME_ACCOUNT.into();
                e["detail"]["region"] = "us-east-1".into();
                e["detail"]["service"]["count"] = 1.into();
            }
            let text = e.to_string();
            moto.control("POST", "/moto-api/recorder/reset-recording");
            moto.control("POST", "/moto-api/recorder/start-recording");
            let t = Instant::now();
            let Decision::Incident(incident) = triage.triage_json(&text).unwrap() else {
                panic!("{playbook}: ignored")
            };
            let r = responder.respond(&incident, &text).await;
            // Until the page is on the queue, the responders have not heard.
            loop {
                let got = sqs
                    .receive_message()
                    .queue_url(&stack.queue_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                if !got.messages().is_empty() {
                    for m in got.messages() {
                        sqs.delete_message()
                            .queue_url(&stack.queue_url)
                            .receipt_handle(m.receipt_handle().unwrap())
                            .send()
                            .await
                            .unwrap();
                    }
                    break;
                }
                assert!(t.elapsed() < Duration::from_secs(30), "{playbook}: no page");
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            moto.control("POST", "/moto-api/recorder/stop-recording");
            let recording = moto.control("GET", "/moto-api/recorder/download-recording");
            // Requests made by Firebreak, not the bench's own queue polling.
            calls = recording
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|r| {
                    !r["headers"]["Host"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("sqs")
                        && !r["body"]
                            .as_str()
                            .unwrap_or_default()
                            .contains("ReceiveMessage")
                        && !r["body"]
                            .as_str()
                            .unwrap_or_default()
                            .contains("DeleteMessage")
                        && !r["url"].as_str().unwrap_or_default().contains("moto-api")
                })
                .count();
            assert!(!r.any_failed(), "{playbook}: {:?}", r.outcomes);
            done = r
                .outcomes
                .iter()
                .filter(|o| matches!(o.status, Status::Done { .. }))
                .count();
        }
        let m = median(times);
        println!(
            "{playbook:<34} {m:>10.1} {calls:>10} {:>12.1} {done:>14}",
            m / rtt
        );
    }
    println!(
        "\nbaseline in the same run: one emulator round trip (sts:GetCallerIdentity), median {rtt:.2} ms; {runs} runs per playbook"
    );
    drop(moto);
}
