//! Evidence and the incident log written over. Object Lock protects versions, not keys: anyone
//! allowed a plain `PutObject` can stack a second version on a locked key, or put a new record
//! where Firebreak's records go. The bucket policy refuses both in production (checked
//! statically: the emulator does not evaluate its conditions), so these tests play the attacker
//! the policy would stop and assert what Firebreak's readers do with the result: every reader
//! uses the original version, `verify` names the rewritten key, and `approve`/`release` act only
//! on records a manifest Firebreak wrote lists. Each test asserts the account and the original
//! versions are unchanged.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode, PublicAccessBlockConfiguration};
use chrono::Utc;
use firebreak_aws::store::evidence::hex;
use firebreak_core::record::release::{Change, OriginalBlock};
use firebreak_core::{ActionOutcome, Status};
use firebreak_testbed::cli::Cli;
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::{assert_only_key_inactive, iam_user_finding, seed};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Every version of every key under the incident: key → [(version id, sha256 of its bytes)],
/// oldest first.
type Versions = BTreeMap<String, Vec<(String, String)>>;

async fn versions(cli: &Cli, id: &str) -> Versions {
    let s3 = cli.s3();
    let out = s3
        .list_object_versions()
        .bucket(&cli.stack.bucket)
        .prefix(format!("incidents/{id}/"))
        .max_keys(1000)
        .send()
        .await
        .unwrap();
    assert_ne!(out.is_truncated(), Some(true), "one page is enough here");
    let mut all: Versions = BTreeMap::new();
    for v in out.versions() {
        let (key, vid) = (v.key().unwrap(), v.version_id().unwrap());
        let body = s3
            .get_object()
            .bucket(&cli.stack.bucket)
            .key(key)
            .version_id(vid)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let sha = hex(&Sha256::digest(&body));
        // Listed newest first: the oldest ends up first.
        all.entry(key.to_string())
            .or_default()
            .insert(0, (vid.to_string(), sha));
    }
    all
}

/// Every key that existed `before` still has exactly the versions it had.
fn assert_originals_kept(before: &Versions, after: &Versions) {
    for (key, was) in before {
        assert_eq!(after.get(key), Some(was), "{key}: its versions changed");
    }
}

/// The attacker's write: a PutObject without `If-None-Match`, otherwise as Firebreak writes
/// (locked, with the bytes' SHA-256 checksum), so only the extra version gives it away.
async fn put_plain(cli: &Cli, key: &str, body: Vec<u8>) {
    let checksum = aws_smithy_types::base64::encode(Sha256::digest(&body));
    let until = Utc::now() + chrono::Duration::days(1);
    cli.s3()
        .put_object()
        .bucket(&cli.stack.bucket)
        .key(key)
        .body(ByteStream::from(body))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(checksum)
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(aws_smithy_types::DateTime::from_secs(until.timestamp()))
        .send()
        .await
        .unwrap();
}

/// A bucket that has nothing to do with any incident, with all four Block Public Access flags on.
async fn unrelated_bucket(cli: &Cli, name: &str) {
    let s3 = cli.s3();
    s3.create_bucket().bucket(name).send().await.unwrap();
    s3.put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The bucket's four flags, `None` when it has no configuration.
async fn block_of(cli: &Cli, bucket: &str) -> Option<[Option<bool>; 4]> {
    let out = cli
        .s3()
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .ok()?;
    let c = out.public_access_block_configuration()?;
    Some([
        c.block_public_acls(),
        c.ignore_public_acls(),
        c.block_public_policy(),
        c.restrict_public_buckets(),
    ])
}

const ALL_ON: Option<[Option<bool>; 4]> = Some([Some(true); 4]);

/// An outcome saying Firebreak blocked public access on `bucket`, which had none before: a
/// release would delete the bucket's configuration.
fn forged_outcome(bucket: &str) -> ActionOutcome {
    ActionOutcome {
        index: 0,
        kind: "block_public_access".into(),
        target: bucket.into(),
        status: Status::Done {
            detail: "routine".into(),
        },
        at: Utc::now(),
        changes: vec![Change::PublicAccessBlocked {
            bucket: bucket.into(),
            original: OriginalBlock::Absent,
        }],
    }
}

/// Responds to an IAM-user finding: the user's key is set Inactive and the user tagged.
async fn incident(cli: &Cli) -> (String, String) {
    let (key, _) = seed::user_with_two_keys(&cli.iam(), "deploy-bot").await;
    let line = cli.respond(
        "finding",
        &iam_user_finding("deploy-bot", &key, HOME_ACCOUNT),
    );
    let id = line["incident_id"].as_str().unwrap().to_string();
    assert_only_key_inactive(&cli.iam(), "deploy-bot", &key).await;
    (id, key)
}

async fn user_tagged(cli: &Cli, id: &str) -> bool {
    let tags = cli
        .iam()
        .list_user_tags()
        .user_name("deploy-bot")
        .send()
        .await
        .unwrap();
    tags.tags().iter().any(|t| t.value().contains(id))
}

#[tokio::test]
async fn a_log_entry_written_over_is_caught_by_verify_and_the_report_keeps_the_original() {
    let cli = Cli::start("adv-evidence-log").await;
    let (id, key) = incident(&cli).await;
    let (code, out, err) = cli.run(&["verify", &id]);
    assert_eq!(code, 0, "{out}\n{err}");

    let opened = cli
        .evidence(&id, "log")
        .await
        .into_iter()
        .find(|k| k.contains("/log/000001-opened-"))
        .expect("the opening entry");
    let original = cli.read_json(&opened).await;
    let severity = original["entry"]["severity"].as_str().unwrap().to_string();
    assert_ne!(severity, "S4", "{original}");
    let before = versions(&cli, &id).await;

    let mut forged = original.clone();
    forged["entry"]["severity"] = "S4".into();
    forged["entry"]["title"] = "routine maintenance".into();
    put_plain(&cli, &opened, serde_json::to_vec_pretty(&forged).unwrap()).await;
    assert_eq!(
        cli.read_json(&opened).await["entry"]["title"],
        "routine maintenance",
        "a plain read sees the forgery"
    );

    // verify names the key, exits non-zero, and finds everything else whole.
    let (code, out, _) = cli.run(&["verify", &id]);
    assert_eq!(code, 1, "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{opened}:")))
        .unwrap_or_else(|| panic!("{opened} not in {out}"));
    assert!(line.contains("rewritten: 2 versions"), "{line}");
    assert!(out.contains("1 not ok"), "only the rewritten key: {out}");

    // The report and the record read off the log show the entry as it was appended.
    let (code, report, err) = cli.run(&["report", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        report.contains(&format!("opened as {severity}:")),
        "{report}"
    );
    assert!(!report.contains("routine maintenance"), "{report}");
    let store = firebreak_aws::EvidenceStore::new(cli.s3(), &cli.stack.bucket, 90, false);
    let parsed = firebreak_core::IncidentId::parse(&id).unwrap();
    let log = firebreak_aws::store::log::read(&store, &parsed)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&log[0]).unwrap()["entry"]["severity"],
        Value::from(severity.as_str())
    );

    // The account is as respond left it; every original version is still there, the opening
    // entry with exactly one forgery stacked on it.
    assert_only_key_inactive(&cli.iam(), "deploy-bot", &key).await;
    let after = versions(&cli, &id).await;
    for (k, was) in &before {
        if *k == opened {
            assert_eq!(after[k][0], was[0], "the original opening is kept");
            assert_eq!(after[k].len(), 2);
        } else {
            assert_eq!(after.get(k), Some(was), "{k}");
        }
    }
}

#[tokio::test]
async fn a_forged_outcomes_record_no_manifest_lists_is_ignored_by_release() {
    let cli = Cli::start("adv-evidence-forged").await;
    let bucket = "payroll-exports-unrelated";
    unrelated_bucket(&cli, bucket).await;
    let (id, key) = incident(&cli).await;
    assert!(user_tagged(&cli, &id).await);

    let body = serde_json::to_vec_pretty(
        &json!({"incident_id": id, "outcomes": [forged_outcome(bucket)]}),
    )
    .unwrap();
    let forged = format!("incidents/{id}/outcomes/00000000f0f0f0f0.json");
    put_plain(&cli, &forged, body).await;
    let before = versions(&cli, &id).await;

    let (code, out, err) = cli.run(&["release", &id]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "ignored: {forged}: no manifest Firebreak wrote lists it"
        )),
        "{out}"
    );
    assert!(!out.contains(bucket), "nothing is done to {bucket}: {out}");

    // The unrelated bucket keeps its Block Public Access; the real release still ran (the
    // quarantine tag is gone, the key stays Inactive without --reactivate-keys).
    assert_eq!(block_of(&cli, bucket).await, ALL_ON);
    assert!(!user_tagged(&cli, &id).await, "{out}");
    assert_only_key_inactive(&cli.iam(), "deploy-bot", &key).await;
    assert_originals_kept(&before, &versions(&cli, &id).await);
}

#[tokio::test]
async fn an_outcomes_record_written_over_is_released_as_locked() {
    let cli = Cli::start("adv-evidence-rewrite").await;
    let bucket = "payroll-exports-unrelated";
    unrelated_bucket(&cli, bucket).await;
    let (id, key) = incident(&cli).await;

    // A second version of the real outcomes record, with one more "change" in it.
    let records = cli.evidence(&id, "outcomes").await;
    assert_eq!(records.len(), 1, "{records:?}");
    let mut record = cli.read_json(&records[0]).await;
    record["outcomes"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::to_value(forged_outcome(bucket)).unwrap());
    let before = versions(&cli, &id).await;
    put_plain(
        &cli,
        &records[0],
        serde_json::to_vec_pretty(&record).unwrap(),
    )
    .await;

    let (code, out, err) = cli.run(&["release", &id]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "ignored: {}: written over (2 versions)",
            records[0]
        )),
        "{out}"
    );
    assert!(!out.contains(bucket), "{out}");
    assert_eq!(block_of(&cli, bucket).await, ALL_ON);
    assert!(
        !user_tagged(&cli, &id).await,
        "the locked record was released: {out}"
    );
    assert_only_key_inactive(&cli.iam(), "deploy-bot", &key).await;
    let after = versions(&cli, &id).await;
    for (k, was) in &before {
        assert_eq!(after[k][0], was[0], "{k}: the original is kept");
    }
}

#[tokio::test]
async fn a_manifest_written_over_stops_approve_and_release() {
    let cli = Cli::start("adv-evidence-manifest").await;
    cli.configure(|c| c.replace(r#"credentials = "auto""#, r#"credentials = "approve""#));
    let bucket = "payroll-exports-unrelated";
    unrelated_bucket(&cli, bucket).await;
    let (key, other) = seed::user_with_two_keys(&cli.iam(), "deploy-bot").await;
    let line = cli.respond(
        "finding",
        &iam_user_finding("deploy-bot", &key, HOME_ACCOUNT),
    );
    let id = line["incident_id"].as_str().unwrap().to_string();
    assert!(user_tagged(&cli, &id).await);

    // A forged outcomes record, and a second version of the manifest that lists it too.
    let body = serde_json::to_vec_pretty(
        &json!({"incident_id": id, "outcomes": [forged_outcome(bucket)]}),
    )
    .unwrap();
    let forged = format!("incidents/{id}/outcomes/00000000f0f0f0f0.json");
    let sha = hex(&Sha256::digest(&body));
    put_plain(&cli, &forged, body.clone()).await;
    let manifest_key = format!("incidents/{id}/manifest.json");
    let mut manifest = cli.read_json(&manifest_key).await;
    let mut item = manifest["items"][0].clone();
    item["key"] = forged.clone().into();
    item["kind"] = "outcomes".into();
    item["sha256"] = sha.into();
    item["size"] = body.len().into();
    manifest["items"].as_array_mut().unwrap().push(item);
    let before = versions(&cli, &id).await;
    put_plain(
        &cli,
        &manifest_key,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .await;

    for args in [vec!["release", &id], vec!["approve", &id]] {
        let (code, out, err) = cli.run(&args);
        assert_ne!(code, 0, "{args:?}: {out}\n{err}");
        assert!(
            err.contains(&format!("{manifest_key} has 2 versions"))
                && err.contains("nothing was done"),
            "{args:?}: {err}"
        );
    }

    // Nothing acted: the bucket keeps its flags, both keys stay Active (approve mode), the tag
    // stays, and no approval or release was claimed.
    assert_eq!(block_of(&cli, bucket).await, ALL_ON);
    for k in [&key, &other] {
        let keys = cli
            .iam()
            .list_access_keys()
            .user_name("deploy-bot")
            .send()
            .await
            .unwrap();
        let status = keys
            .access_key_metadata()
            .iter()
            .find(|m| m.access_key_id() == Some(k.as_str()))
            .and_then(|m| m.status())
            .map(|s| s.as_str().to_string());
        assert_eq!(status.as_deref(), Some("Active"), "{k}");
    }
    assert!(user_tagged(&cli, &id).await);
    assert!(cli.evidence(&id, "approvals").await.is_empty());
    assert!(cli.evidence(&id, "releases").await.is_empty());
    let after = versions(&cli, &id).await;
    for (k, was) in &before {
        assert_eq!(after[k][0], was[0], "{k}: the original is kept");
    }
    assert_eq!(after[&manifest_key].len(), 2);
}
