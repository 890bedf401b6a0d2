//! `firebreak approve` and `firebreak release` as a responder runs them: the real binary against
//! the local emulator, after `firebreak respond` contained real (emulated) resources. Every
//! assertion is on the emulator's state or the locked records, not on Firebreak's report alone.

use aws_sdk_ec2::types::{Filter, InstanceAttributeName};
use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};
use firebreak_aws::Clients;
use firebreak_testbed::cli::{CALLER, Cli};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::seed::{self, Server};
use firebreak_testbed::{
    assert_only_key_inactive, event, iam_user_finding, without_auto_scaling_group,
};
use serde_json::{Value, json};

fn outcome<'a>(line: &'a Value, kind: &str) -> &'a Value {
    line["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {line}"))
}

async fn user_policies(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    let out = iam
        .list_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap();
    out.policy_names().to_vec()
}

async fn attached_user_policies(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    let out = iam
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap();
    out.attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(String::from))
        .collect()
}

#[tokio::test]
async fn approve_runs_one_waiting_action_once_and_records_who_approved() {
    let cli = Cli::start("approve").await;
    cli.configure(|c| c.replace(r#"credentials = "auto""#, r#"credentials = "approve""#));
    let iam = cli.iam();
    let (key, other) = seed::user_with_two_keys(&iam, "deploy-bot").await;
    let line = cli.respond(
        "finding",
        &iam_user_finding("deploy-bot", &key, HOME_ACCOUNT),
    );
    let id = line["incident_id"].as_str().unwrap().to_string();
    let waiting = outcome(&line, "deactivate_access_key");
    assert_eq!(waiting["status"], "awaiting_approval", "{line}");
    let n = waiting["index"].as_u64().unwrap().to_string();
    let revoke = outcome(&line, "revoke_user_sessions")["index"]
        .as_u64()
        .unwrap()
        .to_string();
    for k in [&key, &other] {
        let keys = iam
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
        assert_eq!(
            status.as_deref(),
            Some("Active"),
            "approve mode acts on nothing"
        );
    }

    // The page says how to approve, with the number to type.
    let sqs = aws_sdk_sqs::Client::new(&cli.sdk);
    let pages = sqs
        .receive_message()
        .queue_url(&cli.stack.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let page: Value = serde_json::from_str(pages.messages()[0].body().unwrap()).unwrap();
    let body = page["Message"].as_str().unwrap();
    assert!(
        body.contains(&format!("{key} — approve with --action {n}")),
        "{body}"
    );
    assert!(
        body.contains(&format!("`firebreak approve {id}`"))
            && body.contains(&format!("`firebreak approve {id} --action N`")),
        "{body}"
    );

    // A dry run says what it would do and does nothing.
    let (code, out, err) = cli.run(&["approve", &id, "--action", &n, "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("[DRY RUN]") && out.contains("would set"),
        "{out}"
    );
    assert!(cli.evidence(&id, "approvals").await.is_empty());

    let (code, out, err) = cli.run(&["approve", &id, "--action", &n]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&format!("approved by {CALLER}")), "{out}");
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("done")),
        "{out}"
    );
    assert_only_key_inactive(&iam, "deploy-bot", &key).await;
    assert!(
        user_policies(&iam, "deploy-bot").await.is_empty(),
        "only the approved action ran: {out}"
    );

    // The locked record names the caller, the action and its outcome.
    let records = cli.evidence(&id, "approval-record").await;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = cli.read_json(&records[0]).await;
    assert_eq!(record["approved_by"], CALLER);
    assert_eq!(record["index"].to_string(), n);
    assert_eq!(record["kind"], "deactivate_access_key");
    assert_eq!(record["outcome"]["status"], "done");
    assert_eq!(
        record["outcome"]["changes"][0]["change"], "access_key_deactivated",
        "{record}"
    );
    let head = cli
        .s3()
        .head_object()
        .bucket(&cli.stack.bucket)
        .key(&records[0])
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );

    // A second approval of the same action does nothing and says who approved it.
    let (code, out, err) = cli.run(&["approve", &id, "--action", &n]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("already approved by {CALLER} at ")),
        "{out}"
    );
    assert_eq!(cli.evidence(&id, "approval-record").await.len(), 1);
    assert_only_key_inactive(&iam, "deploy-bot", &key).await;

    // What cannot be approved is refused with exit 2 and nothing changes.
    for (args, says) in [
        (vec!["approve", "FB-0000000000000000"], "has no evidence"),
        (vec!["approve", "not-an-incident"], "is not an incident id"),
        (vec!["approve", &id, "--action", "0"], "is not containment"),
        (vec!["approve", &id, "--action", "99"], "has no action 99"),
    ] {
        let (code, out, err) = cli.run(&args);
        assert_eq!(code, 2, "{args:?}: {out}\n{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(user_policies(&iam, "deploy-bot").await.is_empty());

    // Approving everything that waits runs the rest, and only once.
    let (code, out, err) = cli.run(&["approve", &id]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("already approved"), "{out}");
    assert_eq!(
        user_policies(&iam, "deploy-bot").await,
        ["AWSRevokeOlderSessions"]
    );
    assert_eq!(cli.evidence(&id, "approval-record").await.len(), 2);
    let claims = cli.evidence(&id, "approvals").await;
    assert!(
        claims.contains(&format!("incidents/{id}/approvals/{revoke}.json.done")),
        "{claims:?}"
    );
}

/// Everything a release may touch, and some things Firebreak never added.
struct Scene {
    user: &'static str,
    key: String,
    role: &'static str,
    etl_role: String,
    server: Server,
    bucket: String,
    pool: String,
    pool_user: String,
}

async fn scene(cli: &Cli) -> (Scene, Vec<(&'static str, Value)>) {
    let iam = cli.iam();
    let user = "deploy-bot";
    let (key, _) = seed::user_with_two_keys(&iam, user).await;
    iam.put_user_policy()
        .user_name(user)
        .policy_name("app-access")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    iam.tag_user()
        .user_name(user)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let role = "web-app-role";
    seed::role(&iam, role).await;
    iam.put_role_policy()
        .role_name(role)
        .policy_name("app-s3")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    iam.tag_role()
        .role_name(role)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("owner")
                .value("web")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let server = seed::server(&cli.sdk, "web").await;
    let ec2 = aws_sdk_ec2::Client::new(&cli.sdk);
    ec2.create_tags()
        .resources(&server.instance_id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Name")
                .value("web-1")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let mut bucket_event = event("gd-s3-malicious-ip-caller-public-bucket.json");
    bucket_event["detail"]["accountId"] = HOME_ACCOUNT.into();
    bucket_event["detail"]["region"] = "us-east-1".into();
    let bucket = bucket_event["detail"]["resource"]["s3BucketDetails"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let etl_role = bucket_event["detail"]["resource"]["accessKeyDetails"]["userName"]
        .as_str()
        .unwrap()
        .to_string();
    seed::role(&iam, &etl_role).await;
    // The finding's session is of the role as the emulator made it.
    let details = &mut bucket_event["detail"]["resource"]["accessKeyDetails"];
    let session = details["principalId"].as_str().unwrap().to_string();
    let (_, session_name) = session.split_once(':').unwrap();
    details["principalId"] =
        format!("{}:{session_name}", seed::role_id(&iam, &etl_role).await).into();
    let s3 = cli.s3();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("team").value("shop").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Someone had blocked public ACLs, and only that.
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let cognito = Clients::new(&cli.sdk).in_region("eu-west-1").cognito;
    let created = cognito
        .create_user_pool()
        .pool_name("marketplace")
        .send()
        .await
        .unwrap();
    let pool = created.user_pool().unwrap().id().unwrap().to_string();
    let mut sign_up = event("ct-cognito-sign-up-invite-only-pool.json");
    let pool_user = sign_up["detail"]["responseElements"]["userSub"]
        .as_str()
        .unwrap()
        .to_string();
    sign_up =
        serde_json::from_str(&sign_up.to_string().replace("eu-west-1_Mkt4Invit", &pool)).unwrap();
    sign_up["detail"]["recipientAccountId"] = HOME_ACCOUNT.into();
    sign_up["account"] = HOME_ACCOUNT.into();
    cognito
        .admin_create_user()
        .user_pool_id(&pool)
        .username(&pool_user)
        .send()
        .await
        .unwrap();
    cli.configure(|c| {
        c.replace(
            r#"instance_isolation = "approve""#,
            r#"instance_isolation = "auto""#,
        )
        .replace("eu-west-1_Mkt4Invit", &pool)
    });

    let mut role_event = event("gd-iam-instance-credential-exfiltration-outside-aws.json");
    role_event["detail"]["accountId"] = HOME_ACCOUNT.into();
    role_event["detail"]["region"] = "us-east-1".into();
    role_event["detail"]["resource"]["accessKeyDetails"]["userName"] = role.into();
    let mut instance_event = event("gd-ec2-bitcoin-tool-dns.json");
    instance_event["detail"]["accountId"] = HOME_ACCOUNT.into();
    instance_event["detail"]["region"] = "us-east-1".into();
    let details = &mut instance_event["detail"]["resource"]["instanceDetails"];
    details["instanceId"] = server.instance_id.clone().into();
    details["iamInstanceProfile"]["arn"] = server.profile_arn.clone().into();
    // In no Auto Scaling group (tests/respond.rs releases a detach).
    without_auto_scaling_group(&mut instance_event);

    let events = vec![
        ("user", iam_user_finding(user, &key, HOME_ACCOUNT)),
        ("role", role_event),
        ("instance", instance_event),
        ("bucket", bucket_event),
        ("cognito", sign_up),
    ];
    let scene = Scene {
        user,
        key,
        role,
        etl_role,
        server,
        bucket,
        pool,
        pool_user,
    };
    (scene, events)
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

async fn role_state(iam: &aws_sdk_iam::Client, role: &str) -> Value {
    let policies = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    let tags = iam.list_role_tags().role_name(role).send().await.unwrap();
    json!({
        "policies": sorted(policies.policy_names().to_vec()),
        "tags": sorted(tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()),
    })
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(String, String)> {
    sorted(
        tags.iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    )
}

/// Everything of the scene a response changes, as one comparable value.
async fn state(cli: &Cli, s: &Scene) -> Value {
    let iam = cli.iam();
    let keys = iam
        .list_access_keys()
        .user_name(s.user)
        .send()
        .await
        .unwrap();
    let user_tags = iam.list_user_tags().user_name(s.user).send().await.unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&cli.sdk);
    let instance = firebreak_aws::service::ec2::describe(&ec2, &s.server.instance_id)
        .await
        .unwrap();
    let volumes = ec2
        .describe_volumes()
        .filters(
            Filter::builder()
                .name("attachment.instance-id")
                .values(&s.server.instance_id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let protection = ec2
        .describe_instance_attribute()
        .instance_id(&s.server.instance_id)
        .attribute(InstanceAttributeName::DisableApiTermination)
        .send()
        .await
        .unwrap();
    let s3 = cli.s3();
    let block = s3
        .get_public_access_block()
        .bucket(&s.bucket)
        .send()
        .await
        .ok()
        .and_then(|o| o.public_access_block_configuration().cloned())
        .map(|c| {
            json!([
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets()
            ])
        });
    let bucket_tags = s3
        .get_bucket_tagging()
        .bucket(&s.bucket)
        .send()
        .await
        .map(|t| {
            sorted(
                t.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            )
        })
        .unwrap_or_default();
    let cognito = Clients::new(&cli.sdk).in_region("eu-west-1").cognito;
    let pool = cognito
        .describe_user_pool()
        .user_pool_id(&s.pool)
        .send()
        .await
        .unwrap();
    let pool_user = cognito
        .admin_get_user()
        .user_pool_id(&s.pool)
        .username(&s.pool_user)
        .send()
        .await
        .unwrap();
    json!({
        "user": {
            "keys": sorted(keys.access_key_metadata().iter().map(|k| (
                k.access_key_id().unwrap_or_default().to_string(),
                k.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            )).collect()),
            "policies": sorted(user_policies(&iam, s.user).await),
            "attached": sorted(attached_user_policies(&iam, s.user).await),
            "tags": sorted(user_tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()),
        },
        "role": role_state(&iam, s.role).await,
        "etl_role": role_state(&iam, &s.etl_role).await,
        "server_role": role_state(&iam, &s.server.role).await,
        "instance": {
            "state": instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
            "enis": sorted(instance.network_interfaces().iter().map(|n| (
                n.network_interface_id().unwrap_or_default().to_string(),
                sorted(n.groups().iter().filter_map(|g| g.group_id()).map(str::to_string).collect()),
            )).collect()),
            "tags": ec2_tags(instance.tags()),
            "volume_tags": sorted(volumes.volumes().iter().map(|v| (
                v.volume_id().unwrap_or_default().to_string(),
                ec2_tags(v.tags()),
            )).collect()),
            "termination_protection": protection.disable_api_termination().and_then(|v| v.value()),
        },
        "pool": {
            "admin_only": pool.user_pool().and_then(|p| p.admin_create_user_config())
                .is_some_and(|a| a.allow_admin_create_user_only()),
            "user_enabled": pool_user.enabled(),
        },
        "bucket": { "block": block, "tags": bucket_tags },
    })
}

async fn snapshots(cli: &Cli, id: &str) -> usize {
    let ec2 = aws_sdk_ec2::Client::new(&cli.sdk);
    ec2.describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name("tag:incident-response")
                .values(format!("quarantine:{id}"))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .snapshots()
        .len()
}

/// Sets `pointer` of `v` to `value`.
fn with(mut v: Value, changes: &[(&str, Value)]) -> Value {
    for (pointer, value) in changes {
        *v.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("no {pointer}")) = value.clone();
    }
    v
}

#[tokio::test]
async fn release_undoes_exactly_what_firebreak_changed_and_keeps_the_evidence() {
    let cli = Cli::start("release").await;
    let (s, events) = scene(&cli).await;
    let before = state(&cli, &s).await;
    assert_eq!(
        before["instance"]["termination_protection"], false,
        "{before}"
    );

    let mut ids = Vec::new();
    for (name, e) in &events {
        let line = cli.respond(name, e);
        for o in line["outcomes"].as_array().unwrap() {
            // An instance behind no load balancer has nothing to be taken out of.
            let unbalanced = o["kind"] == "deregister_from_load_balancers"
                && o["why"]
                    .as_str()
                    .is_some_and(|w| w.contains("serves no load balancer"));
            // Below S1 every session of a role waits for a human.
            let waits = o["kind"] == "revoke_role_sessions" && o["status"] == "awaiting_approval";
            // Memory is captured only with a tool configured (tests/memory.rs).
            let no_tool = o["kind"] == "capture_memory"
                && o["why"]
                    .as_str()
                    .is_some_and(|w| w.contains("no memory tool is configured"));
            assert!(
                unbalanced || waits || no_tool || o["status"] == "done",
                "{name}: {o}"
            );
        }
        ids.push((*name, line["incident_id"].as_str().unwrap().to_string()));
    }
    let contained = state(&cli, &s).await;
    assert_ne!(contained["instance"]["enis"], before["instance"]["enis"]);
    assert_ne!(contained["bucket"], before["bucket"]);
    assert_ne!(contained["pool"], before["pool"]);
    let instance_id = &ids[2].1;
    assert_eq!(snapshots(&cli, instance_id).await, 2);

    // Release without flags: everything back, except what stays locked or is evidence.
    for (name, id) in &ids {
        let (code, out, err) = cli.run(&["release", id]);
        assert_eq!(code, 0, "{name}: {out}\n{err}");
        assert!(
            out.contains(&format!("released by {CALLER}")) && !out.contains("failed"),
            "{name}: {out}"
        );
        let expect_kept: &[&str] = match *name {
            "user" => &["keep_access_key_inactive"],
            "instance" => &["keep_termination_protection", "keep_snapshots"],
            "cognito" => &["keep_cognito_user_disabled", "keep_signed_out"],
            _ => &[],
        };
        for kept in expect_kept {
            assert!(
                out.lines().any(|l| l.contains(kept) && l.contains("kept:")),
                "{name}: {kept}\n{out}"
            );
        }
    }
    let released = state(&cli, &s).await;
    let key_inactive = sorted(vec![
        (s.key.clone(), "Inactive".to_string()),
        before["user"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k[0].as_str().unwrap().to_string(),
                    k[1].as_str().unwrap().to_string(),
                )
            })
            .find(|(k, _)| *k != s.key)
            .unwrap(),
    ]);
    assert_eq!(
        released,
        with(
            before.clone(),
            &[
                ("/user/keys", json!(key_inactive)),
                ("/pool/user_enabled", json!(false)),
                ("/instance/termination_protection", json!(true)),
            ]
        ),
        "\nbefore:    {before}\ncontained: {contained}"
    );
    assert_eq!(
        snapshots(&cli, instance_id).await,
        2,
        "snapshots are evidence: kept, with their tags"
    );
    assert!(
        !cli.evidence(&ids[0].1, "release-record").await.is_empty(),
        "every step is locked"
    );

    // A second release finds every undo step done, and does nothing.
    let (_, user_id) = &ids[0];
    let records = cli.evidence(user_id, "release-record").await.len();
    let (code, out, err) = cli.run(&["release", user_id]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !out.lines().any(|l| l.trim_start().starts_with("done")),
        "{out}"
    );
    assert!(
        out.contains(&format!("already released by {CALLER}")),
        "{out}"
    );
    assert_eq!(
        cli.evidence(user_id, "release-record").await.len(),
        records + 1,
        "only the kept key is recorded again"
    );
    assert_eq!(state(&cli, &s).await, released);

    // With the flags, the key and the Cognito user come back too.
    for (_, id) in &ids {
        let (code, out, err) = cli.run(&["release", id, "--reactivate-keys", "--enable-users"]);
        assert_eq!(code, 0, "{out}\n{err}");
    }
    assert_eq!(
        state(&cli, &s).await,
        with(
            before.clone(),
            &[("/instance/termination_protection", json!(true))]
        )
    );
    assert_eq!(snapshots(&cli, instance_id).await, 2);
}

#[tokio::test]
async fn release_leaves_what_changed_since_and_a_dry_run_changes_nothing() {
    let cli = Cli::start("release-since").await;
    let iam = cli.iam();
    let (key, _) = seed::user_with_two_keys(&iam, "deploy-bot").await;
    let line = cli.respond(
        "finding",
        &iam_user_finding("deploy-bot", &key, HOME_ACCOUNT),
    );
    let id = line["incident_id"].as_str().unwrap().to_string();
    // Another incident's responder re-tagged the user since.
    iam.tag_user()
        .user_name("deploy-bot")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("incident-response")
                .value("quarantine:FB-0000000000000001")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let (code, out, err) = cli.run(&["release", &id, "--reactivate-keys", "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("[DRY RUN]") && out.contains("would"), "{out}");
    assert_only_key_inactive(&iam, "deploy-bot", &key).await;
    assert_eq!(
        user_policies(&iam, "deploy-bot").await,
        ["AWSRevokeOlderSessions"]
    );
    assert!(cli.evidence(&id, "releases").await.is_empty());

    let (code, out, err) = cli.run(&["release", &id]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("tagged incident-response=quarantine:FB-0000000000000001, not this incident"),
        "{out}"
    );
    let tags = iam
        .list_user_tags()
        .user_name("deploy-bot")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].value(), "quarantine:FB-0000000000000001");
    assert!(user_policies(&iam, "deploy-bot").await.is_empty());

    let (code, _, err) = cli.run(&["release", "FB-00000000000000ff"]);
    assert_eq!(code, 2);
    assert!(err.contains("has no evidence"), "{err}");
}

/// The functions' layout: `triage` locked the event under `events/` and named it in
/// `opened.json`; with nothing automatic to contain, `contain` never ran and locked no outcome.
#[tokio::test]
async fn approve_finds_an_incident_the_functions_opened() {
    let cli = Cli::start("approve-opened").await;
    cli.configure(|c| c.replace(r#"credentials = "auto""#, r#"credentials = "approve""#));
    let iam = cli.iam();
    let (key, _) = seed::user_with_two_keys(&iam, "deploy-bot").await;
    let text = iam_user_finding("deploy-bot", &key, HOME_ACCOUNT).to_string();
    let config = std::fs::read_to_string(cli.dir.join("firebreak.toml")).unwrap();
    let triage =
        firebreak_core::Triage::new(firebreak_core::Config::from_toml(&config).unwrap()).unwrap();
    let id = match triage.triage_json(&text).unwrap() {
        firebreak_core::Decision::Incident(i) => i.id,
        firebreak_core::Decision::Ignored { reason } => panic!("{reason}"),
    };
    let store = firebreak_aws::EvidenceStore::new(cli.s3(), &cli.stack.bucket, 90, false);
    let now = chrono::Utc::now();
    let event_key = format!("incidents/{id}/events/7bf73129-1428-4cd3-a780-95db273d1602.json");
    let name = event_key.trim_start_matches(&format!("incidents/{id}/"));
    store
        .begin(
            &id,
            name,
            text.into_bytes(),
            now,
            chrono::Duration::seconds(90),
        )
        .await
        .unwrap();
    store.finish(&id, name, now).await.unwrap();
    let opened = json!({ "incident_id": id, "event_key": event_key, "opened_at": now });
    store
        .put_if_absent(&id, "opened.json", opened.to_string().into_bytes(), now)
        .await
        .unwrap();

    let (code, out, err) = cli.run(&["approve", id.as_str()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("done"))
            .count(),
        2,
        "the key and the sessions: {out}"
    );
    assert_only_key_inactive(&iam, "deploy-bot", &key).await;
    assert_eq!(
        user_policies(&iam, "deploy-bot").await,
        ["AWSRevokeOlderSessions"]
    );
    let record = cli
        .read_json(&cli.evidence(id.as_str(), "approval-record").await[0])
        .await;
    assert_eq!(record["event_key"], event_key.as_str());

    // The release reads the approvals' outcomes: what was approved is what is undone.
    let (code, out, err) = cli.run(&["release", id.as_str(), "--reactivate-keys"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(user_policies(&iam, "deploy-bot").await.is_empty(), "{out}");
    let keys = iam
        .list_access_keys()
        .user_name("deploy-bot")
        .send()
        .await
        .unwrap();
    assert!(
        keys.access_key_metadata()
            .iter()
            .all(|k| k.status().map(|s| s.as_str()) == Some("Active")),
        "{out}"
    );
}

/// A user acting on session credentials (`ASIA…`, from GetSessionToken or the console) cannot
/// have that key deactivated, and any of its keys mints another session: at S1 every active key
/// is made Inactive and the user denied everything; release restores exactly that.
#[tokio::test]
async fn a_user_on_session_credentials_is_denied_with_every_key_inactive_and_release_restores_both()
{
    let cli = Cli::start("release-session").await;
    let iam = cli.iam();
    let (first, second) = seed::user_with_two_keys(&iam, "deploy-bot").await;
    let mut finding = iam_user_finding("deploy-bot", "ASIAFBSESSIONTOKEN01", HOME_ACCOUNT);
    finding["detail"]["severity"] = 9.0.into();
    let line = cli.respond("finding", &finding);
    assert_eq!(line["severity"], "S1", "{line}");
    let keys = outcome(&line, "deactivate_user_keys");
    assert_eq!(keys["status"], "done", "{keys}");
    assert!(
        keys["detail"].as_str().unwrap().contains(&first)
            && keys["detail"].as_str().unwrap().contains(&second),
        "{keys}"
    );
    assert_eq!(outcome(&line, "deny_user")["status"], "done", "{line}");
    assert_eq!(
        seed::key_statuses(&iam, "deploy-bot").await,
        ["Inactive", "Inactive"]
    );
    assert_eq!(attached_user_policies(&iam, "deploy-bot").await.len(), 1);

    let id = line["incident_id"].as_str().unwrap().to_string();
    let (code, out, err) = cli.run(&["release", &id, "--reactivate-keys"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        seed::key_statuses(&iam, "deploy-bot").await,
        ["Active", "Active"]
    );
    assert!(attached_user_policies(&iam, "deploy-bot").await.is_empty());
    assert!(user_policies(&iam, "deploy-bot").await.is_empty());
}
