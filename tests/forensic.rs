//! Handing an incident's snapshots to the forensic account, through the template's rules: EBS's
//! `EBS Snapshot Notification` on the default bus → triage → `Snapshot Completed` on Firebreak's
//! bus → preserve, which shares an unencrypted snapshot, copies an encrypted one under the
//! forensic key and shares the copy when that completes, and leaves every other snapshot alone.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use firebreak_core::IncidentId;
use firebreak_core::action::plan::QUARANTINE_TAG;
use firebreak_core::lifecycle::forensic::{COPY_OF_TAG, INSTANCE_TAG};
use firebreak_testbed::eventbridge::Taps;
use firebreak_testbed::lambda::{contexts, deliver, function_env, pump};
use firebreak_testbed::moto::{HOME_ACCOUNT, REGION};
use firebreak_testbed::world::{BUS, World};
use firebreak_testbed::{event, seed, without_auto_scaling_group};
use serde_json::{Value, json};

const FORENSIC: &str = "999988887777";
const FORENSIC_KEY: &str =
    "arn:aws:kms:us-east-1:999988887777:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

/// What EBS puts on the default bus when a snapshot (or a copy) completes.
fn notification(event: &str, snapshot: &str) -> Value {
    json!({
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EBS Snapshot Notification", "source": "aws.ec2",
        "account": HOME_ACCOUNT, "time": "2026-12-07T20:00:00Z", "region": REGION,
        "resources": [format!("arn:aws:ec2::{REGION}:snapshot/{snapshot}")],
        "detail": {
            "event": event, "result": "succeeded", "cause": "", "request-id": "",
            "snapshot_id": format!("arn:aws:ec2::{REGION}:snapshot/{snapshot}"),
            "source": format!("arn:aws:ec2::{REGION}:volume/vol-01234567"),
            "startTime": "2026-12-07T19:59:00Z", "endTime": "2026-12-07T20:00:00Z"
        }
    })
}

/// Every snapshot of this account: (id, its KMS key when encrypted, tags).
async fn snapshots(
    ec2: &aws_sdk_ec2::Client,
    filter: Option<Filter>,
) -> Vec<(String, Option<String>, Vec<(String, String)>)> {
    let out = ec2
        .describe_snapshots()
        .owner_ids("self")
        .set_filters(filter.map(|f| vec![f]))
        .send()
        .await
        .expect("snapshots");
    out.snapshots()
        .iter()
        .map(|s| {
            (
                s.snapshot_id().unwrap_or_default().to_string(),
                // (The emulator names no key for a snapshot of a volume under the default one.)
                s.encrypted()
                    .unwrap_or(false)
                    .then(|| s.kms_key_id().unwrap_or("aws/ebs").to_string()),
                s.tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// The accounts that may create volumes from `snapshot`.
async fn shared_with(ec2: &aws_sdk_ec2::Client, snapshot: &str) -> Vec<String> {
    ec2.describe_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .expect("attribute")
        .create_volume_permissions()
        .iter()
        .filter_map(|p| p.user_id().map(str::to_string))
        .collect()
}

/// Puts EBS's `notifications` on the default bus, checks that the template's rule routes each to
/// triage and nothing else, and hands triage each as EventBridge would (the emulator's
/// `PutEvents` cannot set the envelope's account); then runs what Firebreak's bus routed on.
async fn notify(
    taps: &Taps,
    functions: &std::collections::BTreeMap<&'static str, firebreak_lambda::Context>,
    notifications: &[Value],
) -> Vec<(String, Value)> {
    for n in notifications {
        taps.put(false, n).await;
    }
    let routed = taps.drain().await;
    assert_eq!(routed.len(), notifications.len(), "{routed:?}");
    for (function, rule, _) in &routed {
        assert_eq!(
            (function.as_str(), rule.as_str()),
            ("TriageFunction", "SnapshotNotifications")
        );
    }
    for n in notifications {
        deliver(&functions["triage"], &n.to_string()).await;
    }
    pump(taps, functions, 0).await
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Runs `test` on a thread of its own with room for it: an instance's preservation reads EC2's
/// deep responses, and an unoptimised build needs more than a test thread's 2 MiB of stack for
/// it (a Lambda function runs its handler on the main thread, optimised).
fn with_stack<F: Future<Output = ()> + 'static>(test: fn() -> F) {
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(test())
        })
        .expect("thread")
        .join()
        .expect("the test");
}

#[test]
fn an_incidents_snapshots_reach_the_forensic_account_and_nothing_else_does() {
    with_stack(hand_over);
}

/// With no forensic account, preservation marks nothing for a hand-over that will never come.
#[test]
fn without_a_forensic_account_no_snapshot_is_marked() {
    with_stack(|| async {
        let w = World::new().await;
        let server = seed::server(&w.sdk, "unshared").await;
        let mut finding = event("gd-ec2-bitcoin-tool-dns.json");
        finding["detail"]["accountId"] = HOME_ACCOUNT.into();
        finding["detail"]["region"] = REGION.into();
        let details = &mut finding["detail"]["resource"]["instanceDetails"];
        details["instanceId"] = server.instance_id.clone().into();
        details["iamInstanceProfile"]["arn"] = server.profile_arn.clone().into();
        without_auto_scaling_group(&mut finding);
        let (incident, response) = w.incident(w.config(), false, &finding).await;
        assert!(
            response
                .outcomes
                .iter()
                .any(|o| o.kind == "snapshot_volumes"
                    && matches!(o.status, firebreak_core::Status::Done { .. })),
            "{:?}",
            response.outcomes
        );
        let marks: Vec<String> = w
            .evidence_keys()
            .await
            .into_iter()
            .filter(|k| k.starts_with(&format!("incidents/{}/snapshots/", incident.id)))
            .collect();
        assert!(marks.is_empty(), "{marks:?}");
    });
}

async fn hand_over() {
    let w = World::new().await;
    let taps = Taps::install(&w.sdk, BUS).await;
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let server = seed::server(&w.sdk, "forensic").await;
    // A third volume, encrypted under the account's default EBS key.
    let zone = ec2
        .describe_instances()
        .instance_ids(&server.instance_id)
        .send()
        .await
        .expect("instance")
        .reservations()[0]
        .instances()[0]
        .placement()
        .and_then(|p| p.availability_zone())
        .expect("zone")
        .to_string();
    let encrypted = ec2
        .create_volume()
        .availability_zone(&zone)
        .size(8)
        .encrypted(true)
        .send()
        .await
        .expect("volume");
    let encrypted_volume = encrypted.volume_id().expect("id").to_string();
    ec2.attach_volume()
        .volume_id(&encrypted_volume)
        .instance_id(&server.instance_id)
        .device("/dev/sdg")
        .send()
        .await
        .expect("attach");

    let creds = w.moto.home_credentials().await;
    let mut env = function_env(&w.moto, &creds, &w.stack, BUS);
    let plain_env = env.clone();
    env.push(("FIREBREAK_FORENSIC_ACCOUNT".into(), FORENSIC.into()));
    env.push(("FIREBREAK_FORENSIC_KMS_KEY".into(), FORENSIC_KEY.into()));
    let functions = contexts(&env, &w.sdk);

    let mut finding = event("gd-ec2-bitcoin-tool-dns.json");
    finding["detail"]["accountId"] = HOME_ACCOUNT.into();
    finding["detail"]["region"] = REGION.into();
    let details = &mut finding["detail"]["resource"]["instanceDetails"];
    details["instanceId"] = server.instance_id.clone().into();
    details["iamInstanceProfile"]["arn"] = server.profile_arn.clone().into();
    without_auto_scaling_group(&mut finding);
    let opened = deliver(&functions["triage"], &finding.to_string()).await;
    let id = IncidentId::parse(opened["incident_id"].as_str().expect("an incident")).expect("id");
    pump(&taps, &functions, 0).await;

    let by_incident = Filter::builder()
        .name(format!("tag:{QUARANTINE_TAG}"))
        .values(id.quarantine_tag())
        .build();
    let taken = snapshots(&ec2, Some(by_incident.clone())).await;
    assert_eq!(taken.len(), 3, "a snapshot per volume: {taken:?}");
    for (snapshot, _, _) in &taken {
        assert!(
            shared_with(&ec2, snapshot).await.is_empty(),
            "nothing is shared before EBS says it is complete"
        );
    }

    // What an attacker can make: a snapshot of another volume tagged with the incident and its
    // instance, one with no tag at all, and one tagged as the copy of the encrypted snapshot.
    // Firebreak took none of them.
    let decoy_volume = ec2
        .create_volume()
        .availability_zone(&zone)
        .size(8)
        .send()
        .await
        .expect("volume")
        .volume_id()
        .expect("id")
        .to_string();
    let decoy = |tags: Vec<Tag>| {
        let ec2 = ec2.clone();
        let volume = decoy_volume.clone();
        async move {
            let mut spec = TagSpecification::builder().resource_type(ResourceType::Snapshot);
            for t in tags {
                spec = spec.tags(t);
            }
            ec2.create_snapshot()
                .volume_id(volume)
                .tag_specifications(spec.build())
                .send()
                .await
                .expect("snapshot")
                .snapshot_id()
                .expect("id")
                .to_string()
        }
    };
    let tagged_decoy = decoy(vec![
        Tag::builder()
            .key(QUARANTINE_TAG)
            .value(id.quarantine_tag())
            .build(),
        Tag::builder()
            .key(INSTANCE_TAG)
            .value(&server.instance_id)
            .build(),
    ])
    .await;
    let untagged_decoy = decoy(vec![Tag::builder().key("Name").value("backup").build()]).await;
    let encrypted_snapshot = taken
        .iter()
        .find(|(_, key, _)| key.is_some())
        .map(|(s, _, _)| s.clone())
        .expect("the encrypted volume's snapshot");
    let copy_decoy = decoy(vec![
        Tag::builder()
            .key(QUARANTINE_TAG)
            .value(id.quarantine_tag())
            .build(),
        Tag::builder()
            .key(INSTANCE_TAG)
            .value(&server.instance_id)
            .build(),
        Tag::builder()
            .key(COPY_OF_TAG)
            .value(&encrypted_snapshot)
            .build(),
    ])
    .await;

    let completed: Vec<Value> = taken
        .iter()
        .map(|(s, _, _)| s)
        .chain([&tagged_decoy, &untagged_decoy])
        .map(|s| notification("createSnapshot", s))
        .collect();
    let answers = notify(&taps, &functions, &completed).await;
    let handed: Vec<&Value> = answers
        .iter()
        .filter(|(f, a)| f == "preserve" && a.get("snapshot_id").is_some())
        .map(|(_, a)| a)
        .collect();
    assert_eq!(
        handed.len(),
        5,
        "every completed snapshot reached preserve: {answers:?}"
    );

    for (snapshot, key, _) in &taken {
        let shared = shared_with(&ec2, snapshot).await;
        if key.is_some() {
            assert!(
                shared.is_empty(),
                "an encrypted snapshot is never shared under its own key"
            );
        } else {
            assert_eq!(
                shared,
                [FORENSIC],
                "{snapshot} is shared with the forensic account only"
            );
        }
    }
    for decoy in [&tagged_decoy, &untagged_decoy, &copy_decoy] {
        assert!(
            shared_with(&ec2, decoy).await.is_empty(),
            "{decoy} is no snapshot of the incident"
        );
    }
    let copies = snapshots(
        &ec2,
        Some(
            Filter::builder()
                .name(format!("tag:{COPY_OF_TAG}"))
                .values(&encrypted_snapshot)
                .build(),
        ),
    )
    .await;
    let copies: Vec<_> = copies.iter().filter(|(s, _, _)| *s != copy_decoy).collect();
    let [(copy, copy_key, copy_tags)] = copies.as_slice() else {
        panic!("one copy of the encrypted snapshot besides the decoy: {copies:?}")
    };
    assert_eq!(
        copy_key.as_deref(),
        Some(FORENSIC_KEY),
        "copied under the forensic key"
    );
    assert_eq!(
        tag(copy_tags, QUARANTINE_TAG),
        Some(id.quarantine_tag().as_str())
    );
    assert_eq!(
        tag(copy_tags, INSTANCE_TAG),
        Some(server.instance_id.as_str())
    );
    assert!(
        shared_with(&ec2, copy).await.is_empty(),
        "the copy is shared only once it completes"
    );

    // The copy completes; a second delivery of its notification, and of an original's, changes
    // nothing more.
    let answers = notify(&taps, &functions, &[notification("copySnapshot", copy)]).await;
    assert!(
        answers
            .iter()
            .any(|(f, a)| f == "preserve" && a["result"]["outcome"] == "shared"),
        "{answers:?}"
    );
    assert_eq!(shared_with(&ec2, copy).await, [FORENSIC]);
    let again = [
        notification("copySnapshot", copy),
        notification("createSnapshot", &encrypted_snapshot),
    ];
    let answers = notify(&taps, &functions, &again).await;
    let again: Vec<&Value> = answers
        .iter()
        .filter(|(f, _)| f == "preserve")
        .map(|(_, a)| &a["result"]["outcome"])
        .collect();
    assert_eq!(
        again,
        ["already_recorded", "already_recorded"],
        "{answers:?}"
    );
    assert_eq!(
        snapshots(
            &ec2,
            Some(
                Filter::builder()
                    .name(format!("tag:{COPY_OF_TAG}"))
                    .values(&encrypted_snapshot)
                    .build()
            )
        )
        .await
        .len(),
        2,
        "Firebreak's copy and the decoy, no second copy"
    );

    // Each hand-over is recorded with the incident's evidence.
    let keys = w.evidence_keys().await;
    let records: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with(&format!("incidents/{id}/forensic/")))
        .collect();
    assert_eq!(
        records.len(),
        4,
        "three originals and the copy: {records:?}"
    );
    let marks = keys
        .iter()
        .filter(|k| k.starts_with(&format!("incidents/{id}/snapshots/")))
        .count();
    assert_eq!(marks, 4, "Firebreak marked the three it took and its copy");
    let record = w
        .read_json(&format!(
            "incidents/{id}/forensic/{encrypted_snapshot}.json"
        ))
        .await;
    assert_eq!(record["outcome"], "copied");
    assert_eq!(record["copy"], copy.as_str());
    // The marks and records are evidence like the rest: the incident verifies whole.
    let verified =
        firebreak_aws::run::verify::verify(functions["page"].evidence(), &id, chrono::Utc::now())
            .await
            .expect("verify");
    assert!(verified.all_ok(), "{:?}", verified.checked);

    // Without a forensic account, triage lets snapshot notifications go.
    let plain = contexts(&plain_env, &w.sdk);
    let answer = deliver(
        &plain["triage"],
        &notification("createSnapshot", &untagged_decoy).to_string(),
    )
    .await;
    assert_eq!(answer["decision"], "ignored", "{answer}");
}
