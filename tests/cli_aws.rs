//! `firebreak respond` and `firebreak lockdown` as a user runs them: the real binary, its
//! credentials from the environment, `--endpoint` pointing at the local emulator.

use firebreak_testbed::cli::Cli;
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::{iam_user_finding, seed};

#[tokio::test]
async fn respond_dry_run_then_for_real() {
    let cli = Cli::start("respond").await;
    let sdk = cli.sdk.clone();
    let iam = aws_sdk_iam::Client::new(&sdk);
    let (key, _) = seed::user_with_two_keys(&iam, "deploy-bot").await;
    let e = iam_user_finding("deploy-bot", &key, HOME_ACCOUNT);
    let file = cli.write_event("finding.json", &e);

    let (code, out, err) = cli.run(&["respond", "--dry-run", &file]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("[DRY RUN]") && out.contains("would set"),
        "{out}"
    );
    let status = |iam: aws_sdk_iam::Client, key: String| async move {
        let keys = iam
            .list_access_keys()
            .user_name("deploy-bot")
            .send()
            .await
            .unwrap();
        keys.access_key_metadata()
            .iter()
            .find(|k| k.access_key_id() == Some(key.as_str()))
            .unwrap()
            .status()
            .unwrap()
            .as_str()
            .to_string()
    };
    assert_eq!(
        status(iam.clone(), key.clone()).await,
        "Active",
        "dry run changed nothing"
    );

    let (code, out, err) = cli.run(&["respond", "--json", &file]);
    assert_eq!(code, 0, "{out}\n{err}");
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(
        line["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "done"),
        "{line}"
    );
    assert_eq!(status(iam, key).await, "Inactive");
}

#[tokio::test]
async fn respond_exits_1_when_an_action_failed() {
    let cli = Cli::start("respond-fail").await;
    // The user does not exist: AWS refuses, and Firebreak says so.
    let e = iam_user_finding("nobody-here", "AKIA0000000000000000", HOME_ACCOUNT);
    let file = cli.write_event("finding.json", &e);
    let (code, out, _) = cli.run(&["respond", &file]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("failed") && out.contains("NoSuchEntity"),
        "{out}"
    );
}

#[tokio::test]
async fn lockdown_cognito_stops_sign_up_and_signs_everyone_out_and_role_lockdown_spares_break_glass()
 {
    let cli = Cli::start("lockdown").await;
    let sdk = cli.sdk.clone();
    let c = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let pool = c
        .create_user_pool()
        .pool_name("marketplace")
        .send()
        .await
        .unwrap();
    let pool_id = pool.user_pool().unwrap().id().unwrap().to_string();
    for user in ["seller-1", "seller-2"] {
        c.admin_create_user()
            .user_pool_id(&pool_id)
            .username(user)
            .send()
            .await
            .unwrap();
    }
    let (code, out, err) = cli.run(&["lockdown", "cognito", "--pool", &pool_id]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("done") && l.contains("cognito_global_sign_out"))
            .count(),
        2,
        "{out}"
    );
    let after = c
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    assert!(
        after
            .user_pool()
            .unwrap()
            .admin_create_user_config()
            .unwrap()
            .allow_admin_create_user_only()
    );

    let iam = aws_sdk_iam::Client::new(&sdk);
    seed::role(&iam, "BreakGlass").await;
    let (code, out, _) = cli.run(&["lockdown", "role", "--role", "BreakGlass"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("skipped"), "{out}");
    assert!(
        iam.list_role_policies()
            .role_name("BreakGlass")
            .send()
            .await
            .unwrap()
            .policy_names()
            .is_empty()
    );
    seed::role(&iam, "web-app-role").await;
    let (code, out, _) = cli.run(&["lockdown", "role", "--role", "web-app-role"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        iam.get_role_policy()
            .role_name("web-app-role")
            .policy_name("AWSRevokeOlderSessions")
            .send()
            .await
            .is_ok()
    );
}

/// Never lock out the responders: the break-glass role, Firebreak's own roles, the allow-list
/// and whoever runs the CLI are not contained, even by events crafted to name them as the actor
/// or the affected resource.
#[tokio::test]
async fn responders_are_never_contained_whatever_the_event_says() {
    let mut cli = Cli::start("lockout").await;
    let sdk = cli.sdk.clone();
    let iam = aws_sdk_iam::Client::new(&sdk);
    // Firebreak's own role as the project configuration names it: by its exact ARN.
    let roles = ["BreakGlass", "firebreak-ContainRole", "IncidentResponder"];
    for role in roles {
        seed::role(&iam, role).await;
    }
    let (key, _) = seed::user_with_two_keys(&iam, "ops-automation").await;
    // The CLI runs as IncidentResponder, a role no configuration names.
    let sts = aws_sdk_sts::Client::new(&firebreak_testbed::moto::sdk_for(&cli.moto.endpoint).await);
    let assumed = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{HOME_ACCOUNT}:role/IncidentResponder"
        ))
        .role_session_name("on-call")
        .send()
        .await
        .expect("assume IncidentResponder");
    let c = assumed.credentials().expect("credentials");
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", c.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key()),
        ("AWS_SESSION_TOKEN", c.session_token()),
    ] {
        cli.env.retain(|(k, _)| k != name);
        cli.env.push((name.into(), value.into()));
    }

    let mut events = Vec::new();
    // GuardDuty findings about each role's credentials.
    for role in roles {
        let mut e = firebreak_testbed::event("gd-iam-breakglass-role-anomalous-behavior.json");
        e["detail"]["accountId"] = HOME_ACCOUNT.into();
        e["detail"]["region"] = "us-east-1".into();
        e["detail"]["resource"]["accessKeyDetails"]["userName"] = role.into();
        events.push((format!("finding-{role}"), e));
    }
    // CloudTrail indicators whose actor is each role, and one by the allow-listed user.
    for role in roles {
        let mut e = firebreak_testbed::event("ct-cloudtrail-stop-logging.json");
        e["detail"]["userIdentity"] = serde_json::json!({
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:on-call",
            "arn": format!("arn:aws:sts::{HOME_ACCOUNT}:assumed-role/{role}/on-call"),
            "accountId": HOME_ACCOUNT,
            "accessKeyId": "ASIAEXAMPLEEXAMPLE00",
            "sessionContext": { "sessionIssuer": {
                "type": "Role",
                "arn": format!("arn:aws:iam::{HOME_ACCOUNT}:role/{role}"),
                "userName": role,
            }},
        });
        events.push((format!("stop-logging-{role}"), e));
    }
    events.push((
        "finding-ops-automation".into(),
        iam_user_finding("ops-automation", &key, HOME_ACCOUNT),
    ));

    for (name, e) in &events {
        let file = cli.write_event(&format!("{name}.json"), e);
        let (code, out, err) = cli.run(&["respond", "--json", &file]);
        assert_eq!(code, 0, "{name}: {out}\n{err}");
        let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        let contained: Vec<&serde_json::Value> = line["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| {
                let kind = o["kind"].as_str().unwrap_or("");
                o["status"] == "done" && !matches!(kind, "preserve_evidence" | "page")
            })
            .collect();
        assert!(contained.is_empty(), "{name}: {contained:?}\n{line}");
    }

    for role in roles {
        let policies = iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .unwrap();
        assert!(policies.policy_names().is_empty(), "{role}: {policies:?}");
        let tags = iam.list_role_tags().role_name(role).send().await.unwrap();
        assert!(tags.tags().is_empty(), "{role}: {tags:?}");
    }
    let keys = iam
        .list_access_keys()
        .user_name("ops-automation")
        .send()
        .await
        .unwrap();
    assert!(
        keys.access_key_metadata()
            .iter()
            .all(|k| k.status().map(|s| s.as_str()) == Some("Active")),
        "{keys:?}"
    );
    let policies = iam
        .list_user_policies()
        .user_name("ops-automation")
        .send()
        .await
        .unwrap();
    assert!(policies.policy_names().is_empty(), "{policies:?}");
}

/// `firebreak init` writes the configuration the deployed functions triage under (read from
/// the triage function's environment), and a command that acts refuses to run while the file
/// says otherwise, naming what differs.
#[tokio::test]
async fn init_takes_the_deployed_configuration_and_acting_refuses_while_they_disagree() {
    use firebreak_core::Config;

    let cli = Cli::start("init").await;
    let creds = cli.moto.home_credentials().await;
    // The stack's triage function as deployed: the environment the template gives it.
    let env: Vec<(String, String)> =
        firebreak_testbed::lambda::function_env(&cli.moto, &creds, &cli.stack, "fb-bus")
            .into_iter()
            .filter(|(k, _)| k.starts_with("FIREBREAK_"))
            .chain([(
                "FIREBREAK_TRAIL_LOGS".to_string(),
                "s3://org-trail/trail".to_string(),
            )])
            .collect();
    let role = aws_sdk_iam::Client::new(&cli.sdk)
        .create_role()
        .role_name("fb-triage")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    seed::function_with(&cli.sdk, "fb-triage", role.role().unwrap().arn(), &env).await;

    let path = cli.dir.join("firebreak.toml");
    let out = path.to_str().unwrap();
    let (code, _, err) = cli.run(&["init", "--stack", "fb", "--out", out]);
    assert_ne!(code, 0, "an existing file is not replaced silently");
    assert!(err.contains("--force"), "{err}");
    let (code, stdout, err) = cli.run(&["init", "--stack", "fb", "--out", out, "--force"]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let written = Config::from_toml(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut expected = firebreak_lambda::Settings::from_lookup(|name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .unwrap()
    .config;
    expected.stack.name = Some("fb".into());
    expected.trail.hunt_state_machine = Some(format!(
        "arn:aws:states:us-east-1:{HOME_ACCOUNT}:stateMachine:fb-hunt"
    ));
    assert_eq!(
        written, expected,
        "the file is the functions' configuration"
    );
    assert_eq!(written.trail.logs.as_deref(), Some("s3://org-trail/trail"));

    // With it, a command that acts runs.
    let iam = aws_sdk_iam::Client::new(&cli.sdk);
    let (key, _) = seed::user_with_two_keys(&iam, "deploy-bot").await;
    let e = iam_user_finding("deploy-bot", &key, HOME_ACCOUNT);
    let file = cli.write_event("finding.json", &e);
    let (code, stdout, err) = cli.run(&["respond", "--dry-run", &file]);
    assert_eq!(code, 0, "{stdout}\n{err}");

    // Edited away from the stack: refused, naming what differs, and nothing is done.
    let mut edited = written.clone();
    edited
        .protect
        .allow
        .push(format!("arn:aws:iam::{HOME_ACCOUNT}:user/deploy-bot"));
    edited.trail.activity_days = 90;
    std::fs::write(&path, edited.to_toml().unwrap()).unwrap();
    let (code, stdout, err) = cli.run(&["respond", "--dry-run", &file]);
    assert_ne!(code, 0, "{stdout}");
    assert!(
        err.contains("disagrees with the deployed stack fb in protect.allow, trail.activity_days"),
        "{err}"
    );
    assert!(!stdout.contains("would set"), "{stdout}");
}

/// One event's line: ignored, incident id, severity, outcomes (kind, status), log entry kinds.
type Responded = (bool, String, String, Vec<(String, String)>, Vec<String>);

/// What one `respond --json --jobs N` run did, per input event in order.
async fn respond_with_jobs(jobs: &str) -> Vec<Responded> {
    let cli = Cli::start(&format!("respond-jobs-{jobs}")).await;
    let iam = cli.iam();
    let mut events = Vec::new();
    for (n, user) in ["ci-a", "ci-b", "ci-c"].into_iter().enumerate() {
        let (key, _) = seed::user_with_two_keys(&iam, user).await;
        let mut e = iam_user_finding(user, &key, HOME_ACCOUNT);
        // Three findings, three incidents (the id is the finding's, the same in both runs).
        e["detail"]["id"] = format!("{n:02}185d0d725b08b251a8f2e2aa33257b").into();
        e["id"] = format!("{n:02}5563c7-61f2-4b4a-966a-528fe50b8ad5").into();
        events.push(e);
    }
    // The first incident again (its events run in order), and a sample finding (ignored).
    events.insert(2, events[0].clone());
    events.push(firebreak_testbed::event(
        "samples/guardduty/gd-sample-ec2-bitcoin-tool-dns.json",
    ));
    let ndjson: String = events.iter().map(|e| format!("{e}\n")).collect();
    let path = cli.dir.join("events.ndjson");
    std::fs::write(&path, ndjson).expect("events");
    let (code, out, err) = cli.run(&[
        "respond",
        "--json",
        "--jobs",
        jobs,
        path.to_str().expect("path"),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let store = firebreak_aws::EvidenceStore::new(cli.s3(), &cli.stack.bucket, 90, false);
    let mut runs = Vec::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let outcomes = v["outcomes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap_or_default().to_string(),
                    o["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let mut logged = Vec::new();
        if let Some(id) = v["incident_id"].as_str() {
            let id = firebreak_core::IncidentId::parse(id).expect("an id");
            for e in firebreak_aws::store::log::read(&store, &id)
                .await
                .expect("the incident log")
            {
                let entry = serde_json::to_value(&e.entry).expect("entry");
                logged.push(entry["kind"].as_str().unwrap_or_default().to_string());
            }
        }
        runs.push((
            v["ignored"] == true,
            v["incident_id"].as_str().unwrap_or_default().to_string(),
            v["severity"].as_str().unwrap_or_default().to_string(),
            outcomes,
            logged,
        ));
    }
    runs
}

/// Incidents run side by side (`--jobs 8`) with the same outcomes, pages and incident logs as
/// one after another (`--jobs 1`), printed in the input's order; a repeated incident's events
/// still run in turn.
#[tokio::test]
async fn respond_runs_incidents_at_once_with_the_outcomes_and_logs_of_one_after_another() {
    let (one, many) = tokio::join!(respond_with_jobs("1"), respond_with_jobs("8"));
    assert_eq!(one.len(), 5, "{one:#?}");
    assert_eq!(
        one.iter().map(|r| r.0).collect::<Vec<_>>(),
        [false, false, false, false, true]
    );
    let ids: std::collections::BTreeSet<&str> = one[..4].iter().map(|r| r.1.as_str()).collect();
    assert_eq!(ids.len(), 3, "three incidents, one of them twice: {one:#?}");
    assert_eq!(one[0].1, one[2].1);
    assert!(
        one[0]
            .3
            .contains(&("deactivate_access_key".into(), "done".into())),
        "{one:#?}"
    );
    assert!(!one[0].4.is_empty(), "the incident log is read: {one:#?}");
    assert_eq!(one, many);
}
