//! Faults between Firebreak and AWS. The functions' handlers talk to the emulator through
//! `support/faults.rs`, a loopback proxy that throttles, fails with 500, answers slowly, hangs
//! and resets connections at a set rate. Four incidents (a leaked key, a role, an instance, a
//! public bucket) go through triage → contain, preserve → page, each event delivered up to three
//! times as Lambda's asynchronous retries would (then it is left to the dead-letter queue).
//!
//! Then, with faults off, the emulator is read directly: every action reported done must be
//! visible there; every failure must carry its error; every evidence item a manifest lists must
//! be in the bucket, locked, with the manifest's SHA-256. Printed: fault rate → actions done /
//! failed / wrongly reported (must be 0).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use firebreak_lambda::{Context, FunctionError};
use firebreak_testbed::eventbridge::Taps;
use firebreak_testbed::faults::{FaultProxy, Faults};
use firebreak_testbed::lambda::{contexts, function_env};
use firebreak_testbed::moto::{HOME_ACCOUNT, sdk_for};
use firebreak_testbed::seed::{self, Server, Stack};
use firebreak_testbed::world::World;
use firebreak_testbed::{event, iam_user_finding};
use serde_json::Value;

const BUS: &str = "firebreak-bus";
/// Deliveries of one event: the first and Lambda's two asynchronous retries.
const DELIVERIES: usize = 3;
/// The fault rates measured (each fault kind gets a fifth).
const RATES: [f64; 4] = [0.0, 0.1, 0.2, 0.4];

/// What the scenario seeded: the resources the four incidents are about.
struct Scenario {
    user: String,
    key: String,
    role: String,
    server: Server,
    bucket: String,
    bucket_role: String,
}

/// One rate's results.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    injected: u64,
    deliveries: usize,
    retryable_errors: usize,
    to_dead_letter: usize,
    done: usize,
    failed: usize,
    other: usize,
    wrongly_done: Vec<String>,
    failed_without_error: Vec<String>,
    evidence_items: usize,
    evidence_lost: Vec<String>,
    pages_sent: usize,
    pages_received: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_is_done_or_reported_failed_and_no_evidence_is_lost_under_faults() {
    let mut rows = Vec::new();
    for (i, rate) in RATES.into_iter().enumerate() {
        let tally = run(rate, 17 + i as u64).await;
        assert!(
            tally.wrongly_done.is_empty(),
            "rate {rate}: reported done but not so on the emulator: {:?}",
            tally.wrongly_done
        );
        assert!(
            tally.failed_without_error.is_empty(),
            "rate {rate}: failures without their error: {:?}",
            tally.failed_without_error
        );
        assert!(
            tally.evidence_lost.is_empty(),
            "rate {rate}: evidence the manifest lists but the bucket lacks: {:?}",
            tally.evidence_lost
        );
        assert!(
            tally.pages_received >= tally.pages_sent,
            "rate {rate}: a page reported sent never arrived: {tally:?}"
        );
        if rate == 0.0 {
            assert_eq!(
                (tally.failed, tally.retryable_errors, tally.to_dead_letter),
                (0, 0, 0),
                "no faults, no failures: {tally:?}"
            );
        }
        rows.push((rate, tally));
    }
    println!(
        "| fault rate | requests | faults injected | deliveries | retryable errors | to DLQ | actions done | failed (with error) | wrongly reported done | evidence items verified | lost | pages sent / received |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (rate, t) in &rows {
        println!(
            "| {:.0}% | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
            rate * 100.0,
            t.requests,
            t.injected,
            t.deliveries,
            t.retryable_errors,
            t.to_dead_letter,
            t.done,
            t.failed,
            t.wrongly_done.len(),
            t.evidence_items,
            t.evidence_lost.len(),
            t.pages_sent,
            t.pages_received
        );
    }
}

/// SDK configuration through `proxy` as `creds`: the SDK's standard retries (`attempts`
/// attempts, backoff honouring throttling) with a short base delay, and a one-second attempt
/// timeout so a hung connection is given up.
async fn through(
    proxy: &FaultProxy,
    creds: &aws_credential_types::Credentials,
    attempts: u32,
) -> SdkConfig {
    sdk_for(&proxy.endpoint())
        .await
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds.clone()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .build()
}

/// The four incidents at one fault rate, on a fresh emulator.
async fn run(rate: f64, seed: u64) -> Tally {
    let world = World::new().await;
    let (moto, direct, stack) = (&world.moto, &world.sdk, &world.stack);
    let taps = Taps::install(direct, BUS).await;
    let scenario = seed_scenario(direct).await;

    let mut faults = Faults::uniform(rate, seed);
    faults.slow_by = Duration::from_millis(150);
    faults.hang_for = Duration::from_secs(3);
    let proxy = FaultProxy::start(&moto.endpoint, faults)
        .await
        .expect("start the proxy");
    let creds = moto.home_credentials().await;
    let faulty = through(&proxy, &creds, 3).await;
    let env = function_env(moto, &creds, stack, BUS);
    let mut functions = contexts(&env, &faulty);
    for ctx in functions.values_mut() {
        // A retry may take over a step its failed delivery claimed without waiting 90 s.
        ctx.stale_after = chrono::Duration::milliseconds(500);
    }

    let mut tally = Tally::default();
    let mut answers: Vec<(&str, Value)> = Vec::new();
    for e in incidents(&scenario) {
        deliver(
            &functions["triage"],
            &e.to_string(),
            &mut tally,
            &mut answers,
        )
        .await;
        // Follow what the functions put on Firebreak's bus until nothing more is routed.
        loop {
            let routed = taps.drain().await;
            if routed.is_empty() {
                break;
            }
            for (function, _, event) in routed {
                let name = match function.as_str() {
                    "ContainFunction" => "contain",
                    "PreserveFunction" => "preserve",
                    "PageFunction" => "page",
                    other => panic!("{other} receives nothing from Firebreak's bus"),
                };
                deliver(
                    &functions[name],
                    &event.to_string(),
                    &mut tally,
                    &mut answers,
                )
                .await;
            }
        }
    }
    let counts = proxy.counts();
    tally.requests = counts.requests;
    tally.injected =
        counts.throttled + counts.server_errors + counts.slowed + counts.timed_out + counts.reset;

    // Faults off: the emulator, read directly, is the judge.
    proxy.set_faults(Faults::none());
    for (function, answer) in &answers {
        match *function {
            "contain" | "preserve" => {
                for o in answer["outcomes"].as_array().into_iter().flatten() {
                    let (kind, target) = (
                        o["kind"].as_str().unwrap_or(""),
                        o["target"].as_str().unwrap_or(""),
                    );
                    let label = format!("{kind} {target}");
                    match o["status"].as_str() {
                        Some("done") => {
                            tally.done += 1;
                            if !confirmed(direct, stack, &scenario, answer, kind, target).await {
                                tally.wrongly_done.push(label);
                            }
                        }
                        Some("failed") => {
                            tally.failed += 1;
                            if o["code"].as_str().unwrap_or("").is_empty() {
                                tally.failed_without_error.push(format!("{label}: {o}"));
                            }
                        }
                        _ => tally.other += 1,
                    }
                }
                if let Some(key) = answer["manifest_key"].as_str() {
                    verify_manifest(direct, stack, key, &mut tally).await;
                }
            }
            "page" if answer["paged"] == true => tally.pages_sent += 1,
            _ => {}
        }
    }
    let sqs = aws_sdk_sqs::Client::new(direct);
    tally.pages_received = firebreak_testbed::eventbridge::drain_queue(&sqs, &stack.queue_url)
        .await
        .len();
    tally
}

/// Delivers `raw` to a function up to [`DELIVERIES`] times, as Lambda's asynchronous retries:
/// a failure is retried after a pause; after the last, the event would go to the DLQ.
async fn deliver(
    ctx: &Context,
    raw: &str,
    tally: &mut Tally,
    answers: &mut Vec<(&'static str, Value)>,
) {
    for attempt in 1..=DELIVERIES {
        tally.deliveries += 1;
        let collector = firebreak_testbed::collector(format!(
            "arn:aws:lambda:us-east-1:{HOME_ACCOUNT}:function:firebreak-{}",
            ctx.function.name()
        ));
        match ctx.handle(raw, collector).await {
            Ok(answer) => {
                answers.push((ctx.function.name(), answer));
                return;
            }
            Err(FunctionError::Retry(_)) => {
                tally.retryable_errors += 1;
                if attempt == DELIVERIES {
                    tally.to_dead_letter += 1;
                } else {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                }
            }
            Err(e) => panic!(
                "{} refused its event as bad input: {e}",
                ctx.function.name()
            ),
        }
    }
}

async fn seed_scenario(sdk: &SdkConfig) -> Scenario {
    let iam = aws_sdk_iam::Client::new(sdk);
    let (key, _) = seed::user_with_two_keys(&iam, "dev-ci").await;
    seed::role(&iam, "web-app-role").await;
    let server = seed::server(sdk, "web").await;
    let bucket_event = event("gd-s3-malicious-ip-caller-public-bucket.json");
    let bucket = bucket_event["detail"]["resource"]["s3BucketDetails"][0]["name"]
        .as_str()
        .expect("bucket name")
        .to_string();
    let bucket_role = bucket_event["detail"]["resource"]["accessKeyDetails"]["userName"]
        .as_str()
        .expect("role name")
        .to_string();
    seed::role(&iam, &bucket_role).await;
    seed::s3_client(sdk)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    Scenario {
        user: "dev-ci".into(),
        key,
        role: "web-app-role".into(),
        server,
        bucket,
        bucket_role,
    }
}

/// The four incidents' events, in the home account and region.
fn incidents(s: &Scenario) -> Vec<Value> {
    let home = |mut e: Value| {
        e["account"] = HOME_ACCOUNT.into();
        e["region"] = "us-east-1".into();
        e["detail"]["accountId"] = HOME_ACCOUNT.into();
        e["detail"]["region"] = "us-east-1".into();
        e
    };
    let key = iam_user_finding(&s.user, &s.key, HOME_ACCOUNT);
    let mut role = home(event("gd-iam-breakglass-role-anomalous-behavior.json"));
    role["detail"]["resource"]["accessKeyDetails"]["userName"] = s.role.clone().into();
    let mut instance = home(event("gd-ec2-bitcoin-tool-dns.json"));
    let details = &mut instance["detail"]["resource"]["instanceDetails"];
    details["instanceId"] = s.server.instance_id.clone().into();
    details["iamInstanceProfile"]["arn"] = s.server.profile_arn.clone().into();
    let bucket = home(event("gd-s3-malicious-ip-caller-public-bucket.json"));
    vec![key, role, instance, bucket]
}

/// Whether the emulator shows what an outcome reported done.
async fn confirmed(
    sdk: &SdkConfig,
    stack: &Stack,
    s: &Scenario,
    answer: &Value,
    kind: &str,
    target: &str,
) -> bool {
    let iam = aws_sdk_iam::Client::new(sdk);
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let s3 = seed::s3_client(sdk);
    let incident = answer["incident_id"].as_str().unwrap_or("");
    let quarantine = format!("quarantine:{incident}");
    let revoke = "AWSRevokeOlderSessions";
    match kind {
        "deactivate_access_key" => {
            let keys = iam
                .list_access_keys()
                .user_name(&s.user)
                .send()
                .await
                .expect("keys");
            keys.access_key_metadata().iter().any(|k| {
                k.access_key_id() == Some(target)
                    && k.status().map(|s| s.as_str()) == Some("Inactive")
            })
        }
        "revoke_user_sessions" => iam
            .get_user_policy()
            .user_name(target)
            .policy_name(revoke)
            .send()
            .await
            .is_ok(),
        "revoke_role_sessions" => iam
            .get_role_policy()
            .role_name(target)
            .policy_name(revoke)
            .send()
            .await
            .is_ok(),
        "revoke_instance_profile_sessions" => iam
            .get_role_policy()
            .role_name(&s.server.role)
            .policy_name(revoke)
            .send()
            .await
            .is_ok(),
        "revoke_role_session" => {
            let policies = iam
                .list_role_policies()
                .role_name(target)
                .send()
                .await
                .expect("role policies");
            policies
                .policy_names()
                .iter()
                .any(|n| firebreak_core::action::plan::is_session_policy_name(n))
        }
        "quarantine_instance_profile" => {
            firebreak_aws::service::ec2::profile_association(&ec2, target)
                .await
                .expect("association")
                .is_some_and(|(_, arn)| arn.ends_with(":instance-profile/FirebreakQuarantine"))
        }
        "deregister_from_load_balancers" => {
            let v2 = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
            let classic = aws_sdk_elasticloadbalancing::Client::new(sdk);
            firebreak_aws::service::elb::serving(&v2, &classic, target)
                .await
                .expect("load balancers")
                .is_empty()
        }
        "protect_instance" => {
            let attr = ec2
                .describe_instance_attribute()
                .instance_id(target)
                .attribute(aws_sdk_ec2::types::InstanceAttributeName::DisableApiTermination)
                .send()
                .await
                .expect("attribute");
            attr.disable_api_termination().and_then(|v| v.value()) == Some(true)
        }
        "snapshot_volumes" => {
            let instance = firebreak_aws::service::ec2::describe(&ec2, target)
                .await
                .expect("instance");
            let volumes = firebreak_aws::service::ec2::volume_ids(&instance);
            let snapshots = ec2
                .describe_snapshots()
                .owner_ids("self")
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("tag:incident-response")
                        .values(&quarantine)
                        .build(),
                )
                .send()
                .await
                .expect("snapshots");
            volumes.iter().all(|v| {
                snapshots
                    .snapshots()
                    .iter()
                    .any(|s| s.volume_id() == Some(v.as_str()))
            })
        }
        "isolate_instance" => {
            let instance = firebreak_aws::service::ec2::describe(&ec2, target)
                .await
                .expect("instance");
            instance.network_interfaces().iter().all(|eni| {
                eni.groups()
                    .iter()
                    .all(|g| g.group_name() == Some("firebreak-isolation"))
                    && !eni.groups().is_empty()
            })
        }
        "block_public_access" => {
            let block = s3.get_public_access_block().bucket(target).send().await;
            block.ok().and_then(|b| {
                b.public_access_block_configuration().map(|c| {
                    c.block_public_acls() == Some(true)
                        && c.ignore_public_acls() == Some(true)
                        && c.block_public_policy() == Some(true)
                        && c.restrict_public_buckets() == Some(true)
                })
            }) == Some(true)
        }
        "tag_quarantine" => {
            let tagged = |key: Option<&str>, value: Option<&str>| {
                key == Some("incident-response") && value == Some(quarantine.as_str())
            };
            if target == s.server.instance_id {
                let instance = firebreak_aws::service::ec2::describe(&ec2, target)
                    .await
                    .expect("instance");
                instance.tags().iter().any(|t| tagged(t.key(), t.value()))
            } else if target == s.user {
                let tags = iam
                    .list_user_tags()
                    .user_name(target)
                    .send()
                    .await
                    .expect("tags");
                tags.tags()
                    .iter()
                    .any(|t| tagged(Some(t.key()), Some(t.value())))
            } else if target == s.role || target == s.bucket_role || target == s.server.role {
                let tags = iam
                    .list_role_tags()
                    .role_name(target)
                    .send()
                    .await
                    .expect("tags");
                tags.tags()
                    .iter()
                    .any(|t| tagged(Some(t.key()), Some(t.value())))
            } else if target == s.bucket {
                let tags = s3.get_bucket_tagging().bucket(target).send().await;
                tags.ok().is_some_and(|t| {
                    t.tag_set()
                        .iter()
                        .any(|t| tagged(Some(t.key()), Some(t.value())))
                })
            } else {
                panic!("a quarantine tag on {target}, which the scenario did not seed")
            }
        }
        // Done means a locked manifest of this incident is in the bucket (every item it lists
        // is checked by `verify_manifest`).
        "preserve_evidence" => match answer["manifest_key"].as_str() {
            Some(key) if key.starts_with(&format!("incidents/{incident}/")) => s3
                .head_object()
                .bucket(&stack.bucket)
                .key(key)
                .send()
                .await
                .is_ok_and(|h| h.object_lock_retain_until_date().is_some()),
            _ => false,
        },
        other => panic!("no check for {other} yet: add one before trusting its reports"),
    }
}

/// Every item of the manifest at `key` is in the bucket with the manifest's SHA-256 (the one S3
/// computed too) and a retention date; the manifest itself is locked.
async fn verify_manifest(sdk: &SdkConfig, stack: &Stack, key: &str, tally: &mut Tally) {
    let s3 = seed::s3_client(sdk);
    let body = s3
        .get_object()
        .bucket(&stack.bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the manifest {key} was reported but is missing: {e:?}"))
        .body
        .collect()
        .await
        .expect("manifest body")
        .into_bytes();
    let manifest: Value = serde_json::from_slice(&body).expect("manifest JSON");
    for item in manifest["items"].as_array().into_iter().flatten() {
        tally.evidence_items += 1;
        let item_key = item["key"].as_str().unwrap_or("");
        let head = s3
            .head_object()
            .bucket(&stack.bucket)
            .key(item_key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await;
        let Ok(head) = head else {
            tally.evidence_lost.push(format!("{item_key}: missing"));
            continue;
        };
        let stored = head
            .checksum_sha256()
            .and_then(|b| aws_smithy_types::base64::decode(b).ok())
            .map(|d| firebreak_aws::store::evidence::hex(&d));
        if stored.as_deref() != item["sha256"].as_str() {
            tally.evidence_lost.push(format!(
                "{item_key}: S3 has {stored:?}, the manifest {}",
                item["sha256"]
            ));
        }
        if head.object_lock_retain_until_date().is_none() {
            tally.evidence_lost.push(format!("{item_key}: not locked"));
        }
    }
}

/// One event through the in-process function `ctx`, once (no retry): its answer or its error.
async fn once(ctx: &Context, raw: &str) -> Result<Value, FunctionError> {
    let collector = firebreak_testbed::collector(format!(
        "arn:aws:lambda:us-east-1:{HOME_ACCOUNT}:function:firebreak-{}",
        ctx.function.name()
    ));
    ctx.handle(raw, collector).await
}

/// The events the template's rules routed to `function`.
fn routed_to(routed: &[(String, String, Value)], function: &str) -> Vec<Value> {
    routed
        .iter()
        .filter(|(f, _, _)| f == function)
        .map(|(_, _, e)| e.clone())
        .collect()
}

/// A fresh emulator with Firebreak's bus tapped, user `dev-ci` with two keys, and every function
/// in-process through a proxy that throttles each request holding `only`.
struct Aimed {
    world: World,
    taps: Taps,
    proxy: FaultProxy,
    functions: std::collections::BTreeMap<&'static str, Context>,
    iam: aws_sdk_iam::Client,
    leaked: String,
}

async fn aimed(only: &'static str) -> Aimed {
    let world = World::new().await;
    let taps = Taps::install(&world.sdk, BUS).await;
    let iam = aws_sdk_iam::Client::new(&world.sdk);
    let (leaked, _other) = seed::user_with_two_keys(&iam, "dev-ci").await;
    let proxy = FaultProxy::start(
        &world.moto.endpoint,
        Faults {
            throttle: 1.0,
            only: Some(only),
            ..Faults::none()
        },
    )
    .await
    .expect("start the proxy");
    let creds = world.moto.home_credentials().await;
    let env = function_env(&world.moto, &creds, &world.stack, BUS);
    let mut functions = contexts(&env, &through(&proxy, &creds, 2).await);
    for ctx in functions.values_mut() {
        ctx.stale_after = chrono::Duration::milliseconds(500);
    }
    Aimed {
        world,
        taps,
        proxy,
        functions,
        iam,
        leaked,
    }
}

const SCHEDULED: &str =
    r#"{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}"#;

/// A containment that failed on a transient error, past the SDK's retries and Lambda's, is not
/// left undone: the contain step stays open, the hourly clock finds it and puts a `Containment
/// Retry` on Firebreak's bus (routed to contain only, once an hour), and contain then does it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_containment_that_failed_transiently_is_done_when_the_clock_drives_it_again() {
    // IAM throttles every UpdateAccessKey; everything else passes.
    let Aimed {
        world: _world,
        taps,
        proxy,
        functions,
        iam,
        leaked,
    } = aimed("Action=UpdateAccessKey").await;
    let scheduled = SCHEDULED;

    taps.put(false, &iam_user_finding("dev-ci", &leaked, HOME_ACCOUNT))
        .await;
    let to_triage = routed_to(&taps.drain().await, "TriageFunction");
    assert_eq!(to_triage.len(), 1);
    let opened = once(&functions["triage"], &to_triage[0].to_string())
        .await
        .expect("triage");
    let incident = opened["incident_id"].as_str().expect("id").to_string();
    let to_contain = routed_to(&taps.drain().await, "ContainFunction");
    assert_eq!(to_contain.len(), 1);

    // The first delivery and Lambda's two retries: each fails for a retry, the key stays active.
    for _ in 0..DELIVERIES {
        tokio::time::sleep(Duration::from_millis(600)).await;
        match once(&functions["contain"], &to_contain[0].to_string()).await {
            Err(FunctionError::Retry(why)) => assert!(why.contains("transient"), "{why}"),
            other => panic!("contain did not fail for a retry: {other:?}"),
        }
    }
    let keys = iam
        .list_access_keys()
        .user_name("dev-ci")
        .send()
        .await
        .expect("keys");
    assert!(
        keys.access_key_metadata()
            .iter()
            .all(|k| k.status().map(|s| s.as_str()) == Some("Active")),
        "nothing was deactivated yet"
    );
    // What the failed runs put on the bus goes to page, never to contain.
    let after_failures = taps.drain().await;
    assert!(routed_to(&after_failures, "ContainFunction").is_empty());
    let failed_page = routed_to(&after_failures, "PageFunction")
        .into_iter()
        .find(|e| e["detail-type"] == "Containment Finished")
        .expect("the failed containment is paged");

    // The clock, while the fault lasts: it re-drives, contain fails again, nothing is lost.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let tick = once(&functions["clock"], scheduled).await.expect("clock");
    let redriven = tick["redriven"].as_array().expect("redriven");
    assert_eq!(redriven.len(), 1, "{tick}");
    assert_eq!(redriven[0][0], incident.as_str());
    let retry = taps.drain().await;
    assert_eq!(
        retry.len(),
        1,
        "a containment retry reaches contain only: {retry:?}"
    );
    assert_eq!(retry[0].0, "ContainFunction");
    assert_eq!(retry[0].2["detail-type"], "Containment Retry");
    // Within the same hour the clock does not put it twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = once(&functions["clock"], scheduled).await.expect("clock");
    assert_eq!(again["redriven"], serde_json::json!([]), "{again}");
    assert!(taps.drain().await.is_empty());

    // The fault clears; the retry the clock put is delivered and the key is deactivated.
    proxy.set_faults(Faults::none());
    let done = once(&functions["contain"], &retry[0].2.to_string())
        .await
        .expect("contain on the retry");
    let outcomes = done["outcomes"].as_array().expect("outcomes");
    assert!(
        outcomes
            .iter()
            .any(|o| o["kind"] == "deactivate_access_key" && o["status"] == "done"),
        "{done}"
    );
    firebreak_testbed::assert_only_key_inactive(&iam, "dev-ci", &leaked).await;
    // Both results are paged: the failure, then the retry that succeeded (not taken for a
    // repeat of the first).
    let done_page = routed_to(&taps.drain().await, "PageFunction")
        .into_iter()
        .find(|e| e["detail-type"] == "Containment Finished")
        .expect("the retry's result goes to page");
    for event in [&failed_page, &done_page] {
        let paged = once(&functions["page"], &event.to_string())
            .await
            .expect("page");
        assert_eq!(paged["paged"], true, "{paged}");
    }

    // The containment is finished: the clock leaves it (next hour's run puts nothing).
    let later = firebreak_aws::run::clock::tick(
        functions["clock"].evidence(),
        functions["clock"].pager(),
        Some(firebreak_aws::run::clock::Redrive {
            bus: &functions["clock"].bus,
            stale_after: chrono::Duration::milliseconds(500),
        }),
        "clock",
        chrono::Utc::now() + chrono::Duration::hours(1),
        false,
    )
    .await
    .expect("the next hour's clock");
    assert!(later.redriven.is_empty(), "{:?}", later.redriven);
}

/// Triage announces an incident before it logs the opening (containment first): when the log
/// append then fails, the stages are already running, so the invocation fails for a retry
/// without the degraded page (which would tell responders nothing runs); the retry logs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_incident_whose_log_append_fails_is_retried_without_the_degraded_page() {
    // S3 throttles every write under an incident's log; everything else passes.
    let Aimed {
        world,
        taps,
        proxy,
        functions,
        leaked,
        ..
    } = aimed("/log/").await;
    let (direct, stack) = (&world.sdk, &world.stack);
    taps.put(false, &iam_user_finding("dev-ci", &leaked, HOME_ACCOUNT))
        .await;
    let to_triage = routed_to(&taps.drain().await, "TriageFunction");
    match once(&functions["triage"], &to_triage[0].to_string()).await {
        Err(FunctionError::Retry(why)) => assert!(why.contains("is on the bus"), "{why}"),
        other => panic!("triage did not fail for a retry: {other:?}"),
    }
    let routed = taps.drain().await;
    assert_eq!(routed_to(&routed, "ContainFunction").len(), 1, "announced");
    let sqs = aws_sdk_sqs::Client::new(direct);
    assert!(
        firebreak_testbed::eventbridge::drain_queue(&sqs, &stack.queue_url)
            .await
            .is_empty(),
        "no degraded page"
    );
    // The fault clears; the retry logs the opening and finishes the record.
    proxy.set_faults(Faults::none());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let answer = once(&functions["triage"], &to_triage[0].to_string())
        .await
        .expect("the retry");
    assert_eq!(answer["decision"], "Incident Opened", "{answer}");
    let id = firebreak_core::IncidentId::parse(answer["incident_id"].as_str().unwrap_or(""))
        .expect("an incident id");
    let record = firebreak_aws::store::log::record(functions["triage"].evidence(), &id)
        .await
        .expect("the log");
    assert!(record.opening.is_some(), "the opening is logged");
}

/// A release is a human taking the incident over: the clock no longer re-drives a containment
/// left unfinished once any release step is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_leaves_a_released_incident_to_its_humans() {
    let Aimed {
        world,
        taps,
        proxy: _proxy,
        functions,
        leaked,
        ..
    } = aimed("Action=UpdateAccessKey").await;
    taps.put(false, &iam_user_finding("dev-ci", &leaked, HOME_ACCOUNT))
        .await;
    let to_triage = routed_to(&taps.drain().await, "TriageFunction");
    let opened = once(&functions["triage"], &to_triage[0].to_string())
        .await
        .expect("triage");
    let id = firebreak_core::IncidentId::parse(opened["incident_id"].as_str().unwrap_or(""))
        .expect("an incident id");
    let to_contain = routed_to(&taps.drain().await, "ContainFunction");
    // The key fails; the sessions' revocation is done, so a release has something to undo.
    assert!(matches!(
        once(&functions["contain"], &to_contain[0].to_string()).await,
        Err(FunctionError::Retry(_))
    ));
    let config = world.config();
    let released = firebreak_aws::run::release::release(
        &world.responder_with(config.clone(), false),
        &firebreak_core::Triage::new(config).expect("rules"),
        &id,
        firebreak_core::record::release::Options::default(),
    )
    .await
    .expect("release");
    assert!(
        released
            .outcomes
            .iter()
            .any(|o| matches!(o.status, firebreak_core::Status::Done { .. })),
        "{:?}",
        released.outcomes
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let tick = once(&functions["clock"], SCHEDULED).await.expect("clock");
    assert_eq!(tick["redriven"], serde_json::json!([]), "{tick}");
    assert!(routed_to(&taps.drain().await, "ContainFunction").is_empty());
}
