//! The incident log and `firebreak verify` on the emulator: `firebreak respond` (the real binary)
//! logs the opening, every action, every evidence object and the page, once; `verify` finds the
//! evidence whole and records who read it; objects the test plants are caught. And the four
//! functions, run in-process, log the same steps as the pipeline runs.
//!
//! Not tested: an object whose retention has run out. The evidence bucket locks in COMPLIANCE
//! mode, so the test cannot shorten a retention it wrote, and waiting for one to end is not a
//! test; `core::custody` covers the verdict.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ObjectLockMode};
use firebreak_aws::EvidenceStore;
use firebreak_core::{Entry, IncidentId, LogEntry};
use firebreak_testbed::cli::{CALLER, Cli};
use firebreak_testbed::eventbridge::Taps;
use firebreak_testbed::lambda::{contexts, deliver, function_env, pump};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::world::World;
use firebreak_testbed::{iam_user_finding, seed};
use sha2::{Digest, Sha256};

const BUS: &str = "firebreak-bus";

/// The incident's log, read straight from the bucket, checked to be numbered 1..n in key order
/// and every entry locked.
async fn log_of(cli: &Cli, id: &str) -> Vec<(String, LogEntry)> {
    let keys = cli.evidence(id, "log").await;
    let mut out = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        let entry: LogEntry = serde_json::from_value(cli.read_json(key).await).unwrap();
        assert_eq!(
            entry.seq as usize,
            n + 1,
            "{key}: numbered in order, no gaps"
        );
        assert!(key.contains(&format!("/log/{:06}-{}-", entry.seq, entry.entry.kind())));
        let head = cli
            .s3()
            .head_object()
            .bucket(&cli.stack.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.object_lock_mode().map(|m| m.as_str()),
            Some("COMPLIANCE"),
            "{key}"
        );
        assert!(head.object_lock_retain_until_date().is_some(), "{key}");
        assert!(head.checksum_sha256().is_some(), "{key}");
        out.push((key.clone(), entry));
    }
    out
}

fn evidence_keys(log: &[(String, LogEntry)]) -> Vec<String> {
    log.iter()
        .filter_map(|(_, e)| match &e.entry {
            Entry::Evidence { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

/// Puts `body` under `key` as Firebreak would (locked, checksummed), but as the test.
async fn plant(cli: &Cli, key: &str, body: Vec<u8>) {
    let checksum = aws_smithy_types::base64::encode(Sha256::digest(&body));
    let until = chrono::Utc::now() + chrono::Duration::days(1);
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

/// `(key, verdict)` of every line of `firebreak verify`'s output.
fn verdicts(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("incidents/"))
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (format!("incidents/{k}"), v.to_string()))
        .collect()
}

#[tokio::test]
async fn respond_logs_every_step_once_and_verify_finds_the_evidence_whole() {
    let cli = Cli::start("verify-log").await;
    let (key, _) = seed::user_with_two_keys(&cli.iam(), "deploy-bot").await;
    let finding = iam_user_finding("deploy-bot", &key, HOME_ACCOUNT);
    let line = cli.respond("finding", &finding);
    let id = line["incident_id"].as_str().unwrap().to_string();

    let log = log_of(&cli, &id).await;
    let kinds: Vec<&str> = log.iter().map(|(_, e)| e.entry.kind()).collect();
    assert_eq!(kinds[0], "opened", "{kinds:?}");
    assert!(log.iter().all(|(_, e)| e.by == CALLER));
    // Every evidence object the manifest lists, and the manifest itself.
    let manifest = cli
        .read_json(&format!("incidents/{id}/manifest.json"))
        .await;
    let mut want: Vec<String> = manifest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    want.push(format!("incidents/{id}/manifest.json"));
    want.sort();
    let mut logged = evidence_keys(&log);
    logged.sort();
    assert_eq!(logged, want);
    // Every action's outcome, in plan order, and the page with its message id.
    let actions: Vec<(u64, String)> = log
        .iter()
        .filter_map(|(_, e)| match &e.entry {
            Entry::Action { outcome } => Some((outcome.index as u64, outcome.kind.clone())),
            _ => None,
        })
        .collect();
    let reported: Vec<(u64, String)> = line["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["index"].as_u64().unwrap(),
                o["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(actions, reported);
    let pages: Vec<&String> = log
        .iter()
        .filter_map(|(_, e)| match &e.entry {
            Entry::Page { message_id, .. } => Some(message_id),
            _ => None,
        })
        .collect();
    assert_eq!(pages.len(), 1, "{kinds:?}");
    assert_eq!(Some(pages[0].as_str()), line["page_message_id"].as_str());
    assert_eq!(kinds.last(), Some(&"page"));

    // A duplicate delivery: the opening, the actions, the page and the objects already stored
    // are not logged again. The CLI keeps no state, so it re-runs the plan and locks what is
    // new (the resource state after containment, a new outcomes record, a new manifest): those
    // new objects are logged, nothing else.
    let before: Vec<String> = cli.evidence(&id, "").await;
    let _ = cli.respond("again", &finding);
    let again = log_of(&cli, &id).await;
    let added: Vec<&LogEntry> = again[log.len()..].iter().map(|(_, e)| e).collect();
    assert!(added.len() <= 3, "{added:#?}");
    for e in added {
        let Entry::Evidence { key, .. } = &e.entry else {
            panic!("only new objects are logged again: {e:?}");
        };
        assert!(!before.contains(key), "{key} existed before");
    }

    // verify: every object ok, exit 0, and a custody entry naming the caller.
    let (code, out, err) = cli.run(&["verify", &id]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = verdicts(&out);
    assert!(v.len() > want.len(), "{out}");
    assert!(v.values().all(|v| v == "ok"), "{out}");
    assert!(out.contains(&format!("read by {CALLER}")), "{out}");
    let after = log_of(&cli, &id).await;
    let (_, custody) = after.last().unwrap();
    let Entry::Custody { keys, purpose, .. } = &custody.entry else {
        panic!("the last entry is the reading: {custody:?}");
    };
    assert_eq!(custody.by, CALLER);
    assert_eq!(purpose, "verify");
    assert_eq!(keys.len(), v.len(), "every object read is named");
}

#[tokio::test]
async fn verify_catches_an_unlisted_object_and_an_edited_manifest_copy() {
    let cli = Cli::start("verify-tamper").await;
    let (key, _) = seed::user_with_two_keys(&cli.iam(), "deploy-bot").await;
    let line = cli.respond(
        "finding",
        &iam_user_finding("deploy-bot", &key, HOME_ACCOUNT),
    );
    let id = line["incident_id"].as_str().unwrap().to_string();
    let (code, out, _) = cli.run(&["verify", &id]);
    assert_eq!(code, 0, "{out}");

    // (i) An object no manifest lists, written where collected items go.
    let planted = format!("incidents/{id}/resource-state/00000000deadbeef.json");
    plant(&cli, &planted, b"{\"planted\":true}".to_vec()).await;
    let (code, out, _) = cli.run(&["verify", &id]);
    assert_eq!(code, 1, "{out}");
    let v = verdicts(&out);
    assert_eq!(v[&planted], "not in any manifest", "{out}");
    assert_eq!(v.values().filter(|v| *v != "ok").count(), 1, "{out}");

    // (ii) A copy of the manifest with one item's hash edited, stored as another manifest.
    let mut copy = cli
        .read_json(&format!("incidents/{id}/manifest.json"))
        .await;
    let item = copy["items"][0]["key"].as_str().unwrap().to_string();
    let real = copy["items"][0]["sha256"].as_str().unwrap().to_string();
    let forged = "0".repeat(64);
    copy["items"][0]["sha256"] = forged.clone().into();
    let copy_key = format!("incidents/{id}/manifest-9.json");
    plant(&cli, &copy_key, serde_json::to_vec_pretty(&copy).unwrap()).await;
    let (code, out, _) = cli.run(&["verify", &id]);
    assert_eq!(code, 1, "{out}");
    let v = verdicts(&out);
    assert_eq!(
        v[&item],
        format!("hash mismatch (manifest {forged} in {copy_key}, object {real})"),
        "{out}"
    );
    assert_eq!(v[&copy_key], "ok", "the copy itself is locked and intact");

    // An incident that does not exist.
    let (code, _, err) = cli.run(&["verify", "FB-0000000000000000"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no evidence"), "{err}");
}

#[tokio::test]
async fn the_functions_log_each_step_as_the_pipeline_runs() {
    let world = World::new().await;
    let (moto, sdk, stack) = (&world.moto, &world.sdk, &world.stack);
    let taps = Taps::install(sdk, BUS).await;
    let (key, _) = seed::user_with_two_keys(&aws_sdk_iam::Client::new(sdk), "deploy-bot").await;
    let creds = moto.home_credentials().await;
    let env = function_env(moto, &creds, stack, BUS);
    let mut functions = contexts(&env, sdk);
    for ctx in functions.values_mut() {
        // A retry may take over a step its failed delivery claimed without waiting 90 s.
        ctx.stale_after = chrono::Duration::milliseconds(500);
    }

    let finding = iam_user_finding("deploy-bot", &key, HOME_ACCOUNT).to_string();
    let opened = deliver(&functions["triage"], &finding).await;
    let id = IncidentId::parse(opened["incident_id"].as_str().unwrap()).unwrap();
    let answers = pump(&taps, &functions, 0).await;

    let store: &EvidenceStore = functions["page"].evidence();
    let log = firebreak_aws::store::log::read(store, &id).await.unwrap();
    let by = |e: &LogEntry| e.by.rsplit('-').next().unwrap_or_default().to_string();
    assert_eq!(log[0].entry.kind(), "opened");
    assert_eq!(by(&log[0]), "triage");
    let Entry::Opened { event_key, .. } = &log[0].entry else {
        unreachable!()
    };
    assert_eq!(Some(event_key.as_str()), opened["event_key"].as_str());
    // Every outcome the stages reported, logged by the stage that ran it.
    for (name, answer) in &answers {
        for o in answer["outcomes"].as_array().into_iter().flatten() {
            assert!(
                log.iter().any(|e| by(e) == *name
                    && matches!(&e.entry, Entry::Action { outcome }
                        if outcome.kind == o["kind"] && outcome.index as u64 == o["index"])),
                "{name}: {o} is not logged"
            );
        }
        if let Some(manifest) = answer["manifest_key"].as_str() {
            assert!(
                log.iter()
                    .any(|e| matches!(&e.entry, Entry::Evidence { key, .. } if key == manifest)),
                "{manifest} is not logged"
            );
        }
        if answer["paged"] == true {
            assert!(
                log.iter()
                    .any(|e| matches!(&e.entry, Entry::Page { message_id, .. }
                    if *message_id == answer["message_id"])),
                "{answer} is not logged"
            );
        }
    }
    assert!(
        answers.iter().any(|(_, a)| a["paged"] == true),
        "{answers:?}"
    );
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=log.len() as u32).collect::<Vec<_>>()
    );

    // A repeated delivery of the finding adds nothing.
    let again = deliver(&functions["triage"], &finding).await;
    assert_eq!(again["decision"], "duplicate");
    assert_eq!(
        firebreak_aws::store::log::read(store, &id)
            .await
            .unwrap()
            .len(),
        log.len()
    );
    // And the evidence the functions locked verifies.
    let v = firebreak_aws::run::verify::verify(store, &id, chrono::Utc::now())
        .await
        .unwrap();
    assert!(v.all_ok(), "{:#?}", v.checked);
}

/// Triage names the SHA-256 of the source event it locked. A stage reads the key's current
/// version once when it hashes to that, without listing the key's versions; when it does not
/// (a second version stacked on the key, which the bucket policy refuses on AWS) the stage
/// reads the first version: contain acts on what triage locked, never on what was written over.
#[tokio::test]
async fn a_stage_reads_the_source_event_triage_locked_whatever_is_written_over_it() {
    let world = World::new().await;
    let (moto, sdk, stack) = (&world.moto, &world.sdk, &world.stack);
    let taps = Taps::install(sdk, BUS).await;
    let iam = aws_sdk_iam::Client::new(sdk);
    let s3 = seed::s3_client(sdk);
    let env = function_env(moto, &moto.home_credentials().await, stack, BUS);
    let functions = contexts(&env, sdk);
    let to_contain = async |finding: &serde_json::Value| {
        let opened = deliver(&functions["triage"], &finding.to_string()).await;
        let routed: Vec<serde_json::Value> = taps
            .drain()
            .await
            .into_iter()
            .filter(|(f, _, _)| f == "ContainFunction")
            .map(|(_, _, e)| e)
            .collect();
        assert_eq!(routed.len(), 1, "{opened}");
        let key = opened["event_key"].as_str().unwrap().to_string();
        (key, routed[0].clone())
    };
    // ListObjectVersions of exactly `key`, as the emulator logs it.
    let listings_of = |key: &str, since: usize| {
        let listing = format!("?versions&prefix={key} ");
        moto.requests()[since..]
            .iter()
            .filter(|r| r.contains(&listing))
            .count()
    };

    // As triage left it: the notice names the locked bytes' hash, and contain reads them once.
    let (key, _) = seed::user_with_two_keys(&iam, "leaky-bot").await;
    let (event_key, notice) = to_contain(&iam_user_finding("leaky-bot", &key, HOME_ACCOUNT)).await;
    let locked = s3
        .get_object()
        .bucket(&stack.bucket)
        .key(&event_key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(
        notice["detail"]["event_sha256"].as_str(),
        Some(firebreak_aws::store::evidence::hex(&Sha256::digest(&locked)).as_str())
    );
    let before = moto.requests().len();
    deliver(&functions["contain"], &notice.to_string()).await;
    assert_eq!(listings_of(&event_key, before), 0, "read without a listing");
    firebreak_testbed::assert_only_key_inactive(&iam, "leaky-bot", &key).await;

    // Written over before contain reads it, with the same finding naming another user's key.
    let (key, _) = seed::user_with_two_keys(&iam, "second-bot").await;
    let (victim_key, _) = seed::user_with_two_keys(&iam, "victim-bot").await;
    let mut finding = iam_user_finding("second-bot", &key, HOME_ACCOUNT);
    finding["detail"]["id"] = "rewritten0000000000000000000001".into();
    let (event_key, notice) = to_contain(&finding).await;
    let mut forged = finding.clone();
    forged["detail"]["resource"]["accessKeyDetails"]["userName"] = "victim-bot".into();
    forged["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = victim_key.clone().into();
    s3.put_object()
        .bucket(&stack.bucket)
        .key(&event_key)
        .body(ByteStream::from(forged.to_string().into_bytes()))
        .send()
        .await
        .expect("a second version stacked");
    let before = moto.requests().len();
    let contained = deliver(&functions["contain"], &notice.to_string()).await;
    assert!(
        listings_of(&event_key, before) > 0,
        "the first version read"
    );
    firebreak_testbed::assert_only_key_inactive(&iam, "second-bot", &key).await;
    let victim = iam
        .list_access_keys()
        .user_name("victim-bot")
        .send()
        .await
        .unwrap();
    assert!(
        victim
            .access_key_metadata()
            .iter()
            .all(|k| k.status().map(|s| s.as_str()) == Some("Active")),
        "{contained}"
    );
}
