//! `firebreak hunt` over generated CloudTrail log files: the planted attacker's every record and
//! nothing of anyone else's, across accounts, regions and midnight; the sessions it minted
//! followed; broken files named and skipped; and a trail bucket on the emulator listed only for
//! the days asked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use firebreak_testbed::firebreak;
use firebreak_testbed::moto::Moto;
use firebreak_testbed::trail::{
    ACCOUNTS, ATTACKER_KEY, ATTACKER_USER, MINTED_KEY, Spec, Written, write,
};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("firebreak-hunt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn generated(name: &str, spec: &Spec) -> (PathBuf, Written) {
    let dir = scratch(name);
    let written = write(&dir, spec);
    (dir, written)
}

/// The event ids of `--json` output, and every line is one JSON object.
fn ids(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object a line");
            v["eventID"].as_str().unwrap().to_string()
        })
        .collect()
}

fn hunt(dir: &Path, extra: &[&str]) -> (u8, String, String) {
    let dir = dir.display().to_string();
    let mut args = vec![
        "hunt",
        &dir,
        "--json",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-10",
        "--jobs",
        "2",
    ];
    args.extend_from_slice(extra);
    firebreak(&args, "")
}

#[test]
fn every_record_of_the_attacker_and_its_minted_sessions_and_nothing_else() {
    let spec = Spec {
        records: 6_000,
        window_secs: 900,
        ..Spec::default()
    };
    let (dir, written) = generated("all", &spec);
    let both: BTreeSet<String> = written.attacker.union(&written.minted).cloned().collect();

    let (code, out, err) = hunt(&dir, &["--principal", ATTACKER_KEY]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ids(&out), both, "{err}");
    // Both accounts, both regions, both sides of midnight.
    for place in [ACCOUNTS[0], ACCOUNTS[1], "us-east-1", "eu-west-1"] {
        assert!(
            err.contains(place),
            "{place} missing from the summary:\n{err}"
        );
    }
    assert!(out.contains("2026-11-02T23:") && out.contains("2026-11-03T00:"));
    assert!(
        err.contains(&format!("{MINTED_KEY} (AssumeRole at")),
        "the minted session is named with its origin:\n{err}"
    );
    for indicator in ["admin-granted", "cloudtrail-stopped", "iam-user-created"] {
        assert!(err.contains(indicator), "{indicator}:\n{err}");
    }

    let (code, out, _) = hunt(&dir, &["--principal", ATTACKER_KEY, "--no-follow"]);
    assert_eq!(code, 0);
    assert_eq!(ids(&out), written.attacker);

    // By the user's ARN: the user `ops-mallory2` is somebody else.
    let (code, out, _) = hunt(&dir, &["--principal", ATTACKER_USER]);
    assert_eq!(code, 0);
    assert_eq!(ids(&out), both);

    // Accounts and regions bound what is searched; calls and addresses what is shown, so the
    // instance run by the minted session is still found when only RunInstances is asked for.
    let (_, out, _) = hunt(
        &dir,
        &[
            "--principal",
            ATTACKER_KEY,
            "--account",
            ACCOUNTS[0],
            "--region",
            "us-east-1",
        ],
    );
    assert_eq!(
        ids(&out).len(),
        written.attacker.len() - 1,
        "all but StopLogging: {out}"
    );
    let (_, out, _) = hunt(
        &dir,
        &["--principal", ATTACKER_KEY, "--event", "CreateUser"],
    );
    assert_eq!(ids(&out).len(), 1);
    let (_, out, _) = hunt(
        &dir,
        &["--principal", ATTACKER_KEY, "--event", "RunInstances"],
    );
    assert!(out.contains(MINTED_KEY) && ids(&out).len() == 1, "{out}");
    let (_, out, _) = hunt(
        &dir,
        &["--principal", ATTACKER_KEY, "--source-ip", "192.0.2.1"],
    );
    assert!(out.is_empty());
    let d = dir.display().to_string();
    let (code, out, err) = firebreak(
        &[
            "hunt",
            &d,
            "--json",
            "--principal",
            ATTACKER_KEY,
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-03T00:00:00Z",
        ],
        "",
    );
    assert_eq!(
        (code, ids(&out).len()),
        (0, 3),
        "before midnight only: {err}"
    );

    // The readable timeline has one line a record, then the summary.
    let (code, out, _) = firebreak(
        &[
            "hunt",
            &d,
            "--principal",
            ATTACKER_KEY,
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-10",
        ],
        "",
    );
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("2026-11-0")).count(),
        both.len()
    );
    assert!(
        out.contains("Created:") && out.contains("AKIAFBHUNTBACKDOOR01"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn broken_files_are_named_and_skipped_and_the_rest_searched() {
    let spec = Spec {
        records: 2_000,
        ..Spec::default()
    };
    let (dir, written) = generated("broken", &spec);
    let victims: Vec<&PathBuf> = written.files.iter().step_by(7).take(2).collect();
    let truncated = victims[0];
    let bytes = std::fs::read(truncated).unwrap();
    std::fs::write(truncated, &bytes[..bytes.len() / 2]).unwrap();
    let junk = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/junk.json.gz");
    std::fs::write(&junk, b"\x1f\x8b\x08\x00not really gzip").unwrap();
    let foreign = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/other.json");
    std::fs::write(&foreign, b"{\"not\": \"a trail\"}").unwrap();

    let (code, out, err) = hunt(&dir, &["--principal", ATTACKER_KEY]);
    assert_eq!(code, 1, "a skipped file is a blind spot: exit 1\n{err}");
    for file in [truncated, &junk, &foreign] {
        assert!(
            err.contains(&format!("skipped {}", file.display())),
            "{} not named:\n{err}",
            file.display()
        );
    }
    assert!(err.contains("3 files could not be read"), "{err}");
    // The planted records are in other files: all still found.
    let found = ids(&out);
    let truncated_ids: BTreeSet<String> = {
        let text = String::from_utf8_lossy(&bytes).to_string();
        written
            .attacker
            .iter()
            .filter(|id| text.contains(id.as_str()))
            .cloned()
            .collect()
    };
    let expected: BTreeSet<String> = written
        .attacker
        .union(&written.minted)
        .filter(|id| !truncated_ids.contains(*id))
        .cloned()
        .collect();
    assert!(expected.is_subset(&found), "{found:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_trail_bucket_is_listed_only_for_the_days_asked_and_the_day_after() {
    let spec = Spec {
        records: 1_000,
        window_secs: 3_600,
        ..Spec::default()
    };
    let (dir, written) = generated("s3", &spec);
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sdk = moto.sdk().await;
        let s3 = firebreak_testbed::seed::s3_client(&sdk);
        upload(&s3, &dir, &written.files, "org-trail", "trail").await;
    });
    let creds = runtime.block_on(moto.home_credentials());
    let before = moto.requests().len();
    // The real binary, as a responder runs it: credentials from the environment.
    let output = std::process::Command::new(firebreak_testbed::cli::binary())
        .args([
            "hunt",
            "s3://org-trail/trail",
            "--json",
            "--endpoint",
            &moto.endpoint,
            "--bucket-region",
            "us-east-1",
            "--principal",
            ATTACKER_KEY,
            "--since",
            "2026-11-02T12:00:00Z",
            "--until",
            "2026-11-04",
        ])
        .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
        .env(
            "AWS_SESSION_TOKEN",
            creds.session_token().unwrap_or_default(),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let (code, out, err) = (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert_eq!(code, Some(0), "{err}");
    let both: BTreeSet<String> = written.attacker.union(&written.minted).cloned().collect();
    assert_eq!(ids(&out), both, "{err}");

    let requests: Vec<String> = moto.requests()[before..].to_vec();
    let days_listed: BTreeSet<String> = requests
        .iter()
        .filter(|r| r.starts_with("GET /org-trail?") || r.starts_with("GET /org-trail/?"))
        .filter_map(|r| {
            let prefix = r.split("prefix=").nth(1)?.split(['&', ' ']).next()?;
            let prefix = prefix.replace("%2F", "/");
            let day = prefix.split("/2026/").nth(1)?;
            Some(day.trim_end_matches('/').to_string())
        })
        .collect();
    // From 36 hours before --since (a session used in the window may have been minted then)
    // to the day after --until's last day; never 11/05.
    assert_eq!(
        days_listed,
        ["11/01", "11/02", "11/03", "11/04"]
            .map(String::from)
            .into(),
        "{requests:#?}"
    );
    let read: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET /org-trail/trail/"))
        .collect();
    assert!(!read.is_empty());
    assert!(
        read.iter().all(|r| [
            "/2026/11/01/",
            "/2026/11/02/",
            "/2026/11/03/",
            "/2026/11/04/"
        ]
        .iter()
        .any(|d| r.contains(d))),
        "a file outside the days was read: {read:#?}"
    );
    let in_range = written
        .files
        .iter()
        .filter(|f| {
            let p = f.display().to_string();
            !p.contains("/2026/11/05/")
        })
        .count();
    assert!(
        read.len() <= in_range * 4,
        "each pass reads each listed file once"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Uploads a generated trail to `bucket` under `prefix/`.
async fn upload(
    s3: &aws_sdk_s3::Client,
    dir: &Path,
    files: &[PathBuf],
    bucket: &str,
    prefix: &str,
) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let mut uploads = tokio::task::JoinSet::new();
    for file in files {
        let key = format!("{prefix}/{}", file.strip_prefix(dir).unwrap().display());
        let (s3, body, bucket) = (s3.clone(), std::fs::read(file).unwrap(), bucket.to_string());
        uploads.spawn(async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(body.into())
                .send()
                .await
                .unwrap();
        });
        if uploads.len() >= 16 {
            uploads.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = uploads.join_next().await {
        done.unwrap();
    }
}

#[tokio::test]
async fn preserve_keeps_the_principals_activity_from_the_trail_and_says_what_it_could_not_read() {
    use firebreak_testbed::moto::HOME_ACCOUNT;
    use firebreak_testbed::world::{World, cloudtrail, iam_user};

    // The attacker's night falls inside the week before the incident (2026-12-06).
    let spec = Spec {
        start: chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
        days: 2,
        records: 400,
        window_secs: 3_600,
        ..Spec::default()
    };
    let (dir, written) = generated("preserve", &spec);
    let w = World::new().await;
    let s3 = firebreak_testbed::seed::s3_client(&w.sdk);
    upload(&s3, &dir, &written.files, "org-trail", "trail").await;
    // A truncated file among them: named in the evidence.
    let broken = "trail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/04/broken.json.gz";
    s3.put_object()
        .bucket("org-trail")
        .key(broken)
        .body(b"\x1f\x8b\x08\x00\x00".to_vec().into())
        .send()
        .await
        .unwrap();

    let mut config = w.config();
    config.trail.logs = Some("s3://org-trail/trail".into());
    let event = cloudtrail(
        "iam.amazonaws.com",
        "CreateUser",
        iam_user(HOME_ACCOUNT, "ops-mallory", ATTACKER_KEY),
        serde_json::json!({"userName": "svc-backup"}),
        "hunt-preserve-1",
    );
    // Not dry: preserving is what is tested (the user does not exist, so containment fails).
    let (incident, _) = w.incident(config, false, &event).await;
    let key = w
        .evidence_keys()
        .await
        .into_iter()
        .find(|k| k.contains(incident.id.as_str()) && k.contains("/principal-activity/"))
        .expect("principal activity preserved");
    let activity = w.read_json(&key).await;
    assert_eq!(activity["source"], "trail");
    let ids: BTreeSet<String> = activity["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect();
    // The incident's account only: the attacker's own records, nobody else's.
    assert_eq!(ids, written.attacker, "{activity:#}");
    let principals = activity["principals"].to_string();
    assert!(
        principals.contains(MINTED_KEY),
        "the minted session is named: {principals}"
    );
    assert!(
        activity["unreadable"]
            .to_string()
            .contains("broken.json.gz"),
        "{}",
        activity["unreadable"]
    );
    // The emulator has no LookupEvents: the undelivered minutes are an error in the evidence.
    assert!(
        activity["recent"]["error"].is_string(),
        "{}",
        activity["recent"]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn only_roots_calls_and_calls_a_rule_names_trip_indicators_in_every_sample() {
    use firebreak_core::{Config, Decision, Triage};
    let triage = Triage::new(Config::default()).unwrap();
    let mut judged = 0;
    for entry in std::fs::read_dir(firebreak_testbed::repo().join("events")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("ct-") || !name.ends_with(".json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(Decision::Incident(incident)) = triage.triage_json(&text) else {
            continue;
        };
        if incident.iocs.is_empty() {
            continue;
        }
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        let d = &event["detail"];
        let root = d["userIdentity"]["type"] == "Root";
        let named = triage.rules().names_call(
            d["eventSource"].as_str().unwrap_or_default(),
            d["eventName"].as_str().unwrap_or_default(),
        );
        assert!(
            root || named,
            "{name} trips {:?} but the hunt would not judge it",
            incident.iocs
        );
        judged += 1;
    }
    assert!(judged > 50, "only {judged} samples tripped an indicator");
}

/// The template's hunt state machine on the emulator, calling `function` for each batch.
async fn hunt_state_machine(sdk: &aws_config::SdkConfig, bucket: &str, function: &str) -> String {
    let template = firebreak_testbed::template::load();
    let machine = &template["Resources"]["HuntStateMachine"]["Properties"];
    let definition = serde_json::to_string(&machine["Definition"])
        .unwrap()
        .replace("${EvidenceBucket}", bucket)
        .replace("${HuntFunctionArn}", function);
    assert!(!definition.contains("${"), "{definition}");
    let role = aws_sdk_iam::Client::new(sdk)
        .create_role()
        .role_name("firebreak-hunt-map")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    aws_sdk_sfn::Client::new(sdk)
        .create_state_machine()
        .name("firebreak-hunt")
        .definition(definition)
        .role_arn(role.role().unwrap().arn())
        .send()
        .await
        .unwrap()
        .state_machine_arn
}

/// The hunt function as the emulator knows it: it answers each invocation with the task it is
/// sent (moto runs function code only under Docker). Made with the emulator's default
/// credentials, which its Step Functions interpreter calls Lambda with.
async fn echo_function(endpoint: &str) -> String {
    let sdk = firebreak_testbed::moto::sdk_for(endpoint).await;
    let role = aws_sdk_iam::Client::new(&sdk)
        .create_role()
        .role_name("firebreak-hunt")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    firebreak_testbed::seed::function(&sdk, "firebreak-hunt", role.role().unwrap().arn()).await
}

#[tokio::test]
async fn a_remote_hunt_runs_the_templates_map_and_its_workers_find_the_attacker() {
    use firebreak_aws::run::hunt::Remote;
    use firebreak_aws::service::trail::{self, Location, Scope};
    use firebreak_core::hunt::{Follow, Pass, Query, Who};
    use firebreak_testbed::world::World;

    let spec = Spec {
        records: 1_500,
        window_secs: 3_600,
        ..Spec::default()
    };
    let (dir, written) = generated("remote", &spec);
    let w = World::new().await;
    w.moto.run_state_machines();
    let s3 = firebreak_testbed::seed::s3_client(&w.sdk);
    upload(&s3, &dir, &written.files, "org-trail", "trail").await;
    let function = echo_function(&w.moto.endpoint).await;
    let machine = hunt_state_machine(&w.sdk, &w.stack.bucket, &function).await;

    // The worker in-process, configured as the template configures the hunt function.
    let creds = w.moto.home_credentials().await;
    let mut env = firebreak_testbed::lambda::function_env(&w.moto, &creds, &w.stack, "firebreak");
    env.push(("FIREBREAK_TRAIL_LOGS".into(), "s3://org-trail/trail".into()));
    let contexts = firebreak_testbed::lambda::contexts(&env, &w.sdk);
    let worker = &contexts["hunt"];

    // Round by round, as `firebreak hunt --remote` runs them: the batches written as the map's
    // manifest, the emulator's map run over them (each item handed to the function, whose
    // answer, here the task itself, is the map's output), each task run by the worker, the
    // parts read back.
    let remote = Remote {
        sfn: aws_sdk_sfn::Client::new(&w.sdk),
        evidence: firebreak_aws::EvidenceStore::new(s3.clone(), w.stack.bucket.clone(), 90, false),
        state_machine: machine.clone(),
        poll: std::time::Duration::from_millis(200),
    };
    let at = Location::parse("s3://org-trail/trail").unwrap();
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let files = trail::list(
        &s3,
        &at,
        &Scope {
            first_day: Some(day(1)),
            last_day: Some(day(9)),
            ..Scope::default()
        },
    )
    .await
    .unwrap();
    let scope = Query {
        since: Some(firebreak_core::hunt::query::parse_time("2026-11-01").unwrap()),
        until: Some(firebreak_core::hunt::query::parse_time("2026-11-10").unwrap()),
        ..Query::default()
    };
    let mut follow = Follow::new(&[Who::parse(ATTACKER_KEY).unwrap()], true);
    let mut round = 0;
    let mut tasks_run = 0;
    while let Some(query) = follow.next_query(&scope) {
        let now = chrono::Utc::now();
        let executions = remote
            .start(
                "t-remote",
                round,
                "s3://org-trail/trail",
                &files,
                query.query(),
                now,
            )
            .await
            .unwrap();
        let mut pass = Pass::default();
        for execution in &executions {
            let output = remote.wait(execution).await.unwrap();
            let tasks: Vec<serde_json::Value> = serde_json::from_str(&output).unwrap();
            assert_eq!(tasks.len(), execution.batches.len(), "one item a batch");
            for task in &tasks {
                assert_eq!(
                    task["folder"],
                    format!("hunts/t-remote/round-{round:02}/"),
                    "{task}"
                );
                let answer = firebreak_testbed::lambda::deliver(worker, &task.to_string()).await;
                assert!(answer["files"].as_u64().unwrap() > 0, "{answer}");
                tasks_run += 1;
            }
            pass.merge(remote.collect(execution, "org-trail").await);
        }
        assert_eq!(
            pass.files as usize,
            files.len(),
            "every file read once a round"
        );
        follow.absorb(pass);
        round += 1;
    }
    let (hunted, hits, all) = follow.finish();
    assert!(round >= 2, "the minted session is a round of its own");
    assert!(tasks_run >= round);
    assert!(hunted.iter().any(|h| h.who.to_string() == MINTED_KEY));
    assert!(all.unreadable.is_empty(), "{:?}", all.unreadable);
    let found: BTreeSet<String> = hits.iter().map(|h| h.event_id.clone()).collect();
    let both: BTreeSet<String> = written.attacker.union(&written.minted).cloned().collect();
    assert_eq!(found, both);

    // A retried batch finds its part there (the same bytes) and succeeds. A task is names only:
    // one that names no round, a round nobody wrote, a job for another trail or a batch of
    // other objects is refused, not run.
    let first = serde_json::json!({"folder": "hunts/t-remote/round-00/", "part": "00000"});
    firebreak_testbed::lambda::deliver(worker, &first.to_string()).await;
    let evidence = &remote.evidence;
    let now = chrono::Utc::now();
    let evil_job = |id: &str, trail: &str| serde_json::json!({"id": id, "round": 0, "trail": trail, "principals": [ATTACKER_KEY]});
    let evil_batch =
        |key: &str| serde_json::json!({"part": "00000", "files": [{"key": key, "size": 1}]});
    let put = |key: &str, v: serde_json::Value| {
        let (evidence, key) = (evidence.clone(), key.to_string());
        async move {
            evidence
                .put_once(&key, v.to_string().into_bytes(), now)
                .await
                .unwrap()
        }
    };
    put(
        "hunts/t-evil/round-00/job.json",
        evil_job("t-evil", "s3://org-trail/trail"),
    )
    .await;
    put(
        "hunts/t-evil/round-00/batches/00000.json",
        evil_batch("trail/AWSLogs/../../incidents/x/manifest.json"),
    )
    .await;
    put(
        "hunts/t-other/round-00/job.json",
        evil_job("t-other", "s3://elsewhere/trail"),
    )
    .await;
    put(
        "hunts/t-other/round-00/batches/00000.json",
        evil_batch(&files[0].key),
    )
    .await;
    let collector = firebreak_testbed::collector("hunt");
    for (folder, why) in [
        ("incidents/x/", "not a hunt round's folder"),
        ("hunts/t-nobody/round-00/", "does not exist"),
        ("hunts/t-evil/round-00/", "not a log file"),
        ("hunts/t-other/round-00/", "this function reads only"),
    ] {
        let task = serde_json::json!({"folder": folder, "part": "00000"});
        let refused = worker.handle(&task.to_string(), collector.clone()).await;
        assert!(
            matches!(&refused, Err(firebreak_lambda::FunctionError::BadInput(m)) if m.contains(why)),
            "{folder}: {refused:?}"
        );
    }

    // `firebreak hunt --remote`, the real binary: the emulator's map runs, but its function only
    // echoes, so no batch wrote results: every file is named unread and the hunt exits 1.
    let config = dir.join("firebreak.toml");
    let text = std::fs::read_to_string(firebreak_testbed::repo().join("infra/firebreak.toml"))
        .unwrap()
        .replace("firebreak-evidence-111122223333", &w.stack.bucket);
    std::fs::write(&config, text).unwrap();
    let output = std::process::Command::new(firebreak_testbed::cli::binary())
        .args([
            "hunt",
            "s3://org-trail/trail",
            "--remote",
            "--state-machine",
            &machine,
            "--endpoint",
            &w.moto.endpoint,
            "--bucket-region",
            "us-east-1",
            "--principal",
            ATTACKER_KEY,
            "--since",
            "2026-11-02",
            "--until",
            "2026-11-04",
            "--config",
        ])
        .arg(&config)
        .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
        .env(
            "AWS_SESSION_TOKEN",
            creds.session_token().unwrap_or_default(),
        )
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("no results"), "{err}");
    assert!(err.contains("files could not be read"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
