//! Every effector against the local AWS emulator, through the real AWS SDK for Rust. Each test
//! starts its own emulator, seeds it, responds to a corpus event, and asserts on the emulator's
//! state — never on Firebreak's own report alone.

use chrono::{DateTime, Duration, Utc};
use firebreak_aws::{Clients, Response};
use firebreak_core::{Mode, Status, Triage};
use firebreak_testbed::moto::{HOME_ACCOUNT, MEMBER_ACCOUNT};
use firebreak_testbed::seed;
use firebreak_testbed::world::World;
use firebreak_testbed::{
    assert_only_key_inactive, event, iam_user_finding, percent_decode, without_auto_scaling_group,
};
use serde_json::Value;

fn status_of<'a>(r: &'a Response, kind: &str) -> &'a Status {
    &r.outcomes
        .iter()
        .find(|o| o.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} outcome in {:?}", r.outcomes))
        .status
}

/// Releases incident `id` as a responder with `config` would, with the default options.
async fn release(
    w: &World,
    config: firebreak_core::Config,
    id: &firebreak_core::IncidentId,
) -> firebreak_aws::run::release::Release {
    firebreak_aws::run::release::release(
        &w.responder_with(config.clone(), false),
        &Triage::new(config).unwrap(),
        id,
        firebreak_core::record::release::Options::default(),
    )
    .await
    .expect("release")
}

fn assert_all_done(r: &Response) {
    for o in &r.outcomes {
        // Below S1 every session of a role waits for a human: that is planned, not undone.
        let waits = o.kind == "revoke_role_sessions" && o.status == Status::AwaitingApproval;
        // An instance behind no load balancer has nothing to be taken out of.
        let unbalanced = matches!(&o.status,
            Status::Skipped { why } if why.contains("serves no load balancer"));
        // Memory is captured only with a tool configured (tests/memory.rs).
        let no_tool = matches!(&o.status,
            Status::Skipped { why } if why.contains("no memory tool is configured"));
        assert!(
            waits || unbalanced || no_tool || matches!(o.status, Status::Done { .. }),
            "{} {} ended {:?}",
            o.kind,
            o.target,
            o.status
        );
    }
}

/// The cut-off time in an AWSRevokeOlderSessions policy document.
fn revoke_time(document: &str) -> DateTime<Utc> {
    let doc: Value = serde_json::from_str(&percent_decode(document)).unwrap();
    let t = doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap();
    DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn iam_user_finding_deactivates_only_its_key_revokes_sessions_locks_evidence_and_pages() {
    let w = World::new().await;
    let iam = w.iam();
    let (key, _) = seed::user_with_two_keys(&iam, "deploy-bot").await;
    let before = Utc::now() - Duration::seconds(1);
    let (incident, r) = w
        .incident(
            w.config(),
            false,
            &iam_user_finding("deploy-bot", &key, HOME_ACCOUNT),
        )
        .await;
    let after = Utc::now() + Duration::seconds(1);
    assert_all_done(&r);

    // Only the finding's key is Inactive.
    assert_only_key_inactive(&iam, "deploy-bot", &key).await;

    // Sessions issued before *now* (not the finding's time) are denied.
    let policy = iam
        .get_user_policy()
        .user_name("deploy-bot")
        .policy_name("AWSRevokeOlderSessions")
        .send()
        .await
        .unwrap();
    let cutoff = revoke_time(policy.policy_document());
    assert!(
        cutoff >= before.with_nanosecond0() && cutoff <= after,
        "cut-off {cutoff} not between {before} and {after}"
    );
    assert!(cutoff > incident.detected_at);

    // Quarantine tag on the user.
    let tags = iam
        .list_user_tags()
        .user_name("deploy-bot")
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "incident-response" && t.value() == incident.id.quarantine_tag())
    );

    // Evidence: every manifest item is there, locked, and hashes to what the manifest says.
    let s3 = seed::s3_client(&w.sdk);
    let manifest_key = format!("incidents/{}/manifest.json", incident.id);
    let manifest = s3
        .get_object()
        .bucket(&w.stack.bucket)
        .key(&manifest_key)
        .send()
        .await
        .unwrap();
    let manifest: Value =
        serde_json::from_slice(&manifest.body.collect().await.unwrap().into_bytes()).unwrap();
    let items = manifest["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    for kind in ["source-event", "incident", "resource-state", "outcomes"] {
        assert!(kinds.contains(&kind), "manifest lacks {kind}: {kinds:?}");
    }
    // The emulator has no LookupEvents: the gap is recorded, not hidden.
    assert!(
        manifest["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "principal-activity")
    );
    for item in items {
        let key = item["key"].as_str().unwrap();
        let head = s3
            .head_object()
            .bucket(&w.stack.bucket)
            .key(key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.object_lock_mode().map(|m| m.as_str()),
            Some("COMPLIANCE"),
            "{key}"
        );
        let until = head.object_lock_retain_until_date().unwrap().secs();
        assert!(
            until >= (Utc::now() + Duration::days(89)).timestamp(),
            "{key} retained only until {until}"
        );
        let body = s3
            .get_object()
            .bucket(&w.stack.bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let sha = firebreak_aws::store::evidence::hex(&sha256(&body));
        assert_eq!(sha, item["sha256"].as_str().unwrap(), "{key}");
        assert_eq!(
            head.checksum_sha256(),
            Some(aws_smithy_b64(&sha256(&body)).as_str()),
            "{key}: S3's own checksum"
        );
        assert_eq!(
            item["collected_by"]["identity"],
            format!("arn:aws:iam::{HOME_ACCOUNT}:user/firebreak-tests")
        );
    }

    // A versioned delete of a locked object is refused.
    let first = items[0]["key"].as_str().unwrap();
    let versions = s3
        .list_object_versions()
        .bucket(&w.stack.bucket)
        .prefix(first)
        .send()
        .await
        .unwrap();
    let version = versions.versions()[0].version_id().unwrap().to_string();
    let delete = s3
        .delete_object()
        .bucket(&w.stack.bucket)
        .key(first)
        .version_id(&version)
        .send()
        .await;
    assert!(
        delete.is_err(),
        "deleting a locked evidence version must be refused"
    );

    // The page arrived with its attributes.
    let pages = w.pages().await;
    assert_eq!(pages.len(), 1, "{pages:?}");
    let page = &pages[0];
    assert!(
        page["Subject"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[S2] {}", incident.id)),
        "{page}"
    );
    assert!(page["Subject"].as_str().unwrap().len() < 100);
    assert_eq!(page["MessageAttributes"]["severity"]["Value"], "S2");
    assert_eq!(
        page["MessageAttributes"]["incident_id"]["Value"],
        incident.id.as_str()
    );
    assert_eq!(page["MessageAttributes"]["kind"]["Value"], "opened");
    let body = page["Message"].as_str().unwrap();
    assert!(
        body.contains("WHAT FIREBREAK DID")
            && body.contains("deactivate_access_key")
            && body.contains("WHAT A HUMAN MUST DO NEXT"),
        "{body}"
    );
}

#[tokio::test]
async fn responding_twice_writes_no_second_copy_of_the_evidence() {
    let w = World::new().await;
    let (key, _) = seed::user_with_two_keys(&w.iam(), "deploy-bot").await;
    let e = iam_user_finding("deploy-bot", &key, HOME_ACCOUNT);
    let (incident, _) = w.incident(w.config(), false, &e).await;
    let (_, again) = w.incident(w.config(), false, &e).await;
    assert!(
        matches!(
            status_of(&again, "deactivate_access_key"),
            Status::Skipped { .. }
        ),
        "the key was already inactive"
    );
    let source: Vec<_> = again
        .items
        .iter()
        .filter(|i| i.kind == "source-event")
        .collect();
    assert!(
        source[0].already_stored,
        "the same event is the same locked object"
    );
    let s3 = seed::s3_client(&w.sdk);
    let listed = s3
        .list_object_versions()
        .bucket(&w.stack.bucket)
        .prefix(format!("incidents/{}/source-event/", incident.id))
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.versions().len(),
        1,
        "no second version of a locked item"
    );
    assert!(
        again.manifest.unwrap().key.ends_with("manifest-2.json"),
        "the second run gets its own manifest"
    );
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let w = World::new().await;
    let iam = w.iam();
    let (key, _) = seed::user_with_two_keys(&iam, "deploy-bot").await;
    let (_, r) = w
        .incident(
            w.config(),
            true,
            &iam_user_finding("deploy-bot", &key, HOME_ACCOUNT),
        )
        .await;
    assert!(
        r.outcomes
            .iter()
            .all(|o| matches!(o.status, Status::DryRun { .. })),
        "{:?}",
        r.outcomes
    );
    let keys = iam
        .list_access_keys()
        .user_name("deploy-bot")
        .send()
        .await
        .unwrap();
    assert!(
        keys.access_key_metadata()
            .iter()
            .all(|k| k.status().unwrap().as_str() == "Active")
    );
    assert!(
        iam.list_user_policies()
            .user_name("deploy-bot")
            .send()
            .await
            .unwrap()
            .policy_names()
            .is_empty()
    );
    assert!(
        iam.list_user_tags()
            .user_name("deploy-bot")
            .send()
            .await
            .unwrap()
            .tags()
            .is_empty()
    );
    let objects = seed::s3_client(&w.sdk)
        .list_objects_v2()
        .bucket(&w.stack.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count(), Some(0));
    assert!(w.pages().await.is_empty());
}

#[tokio::test]
async fn role_finding_revokes_the_roles_sessions_as_of_now() {
    let w = World::new().await;
    let iam = w.iam();
    seed::role(&iam, "web-app-role").await;
    let mut e = event("gd-iam-instance-credential-exfiltration-outside-aws.json");
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    e["detail"]["resource"]["accessKeyDetails"]["userName"] = "web-app-role".into();
    let before = Utc::now() - Duration::seconds(1);
    let (incident, r) = w.incident(w.config(), false, &e).await;
    assert_all_done(&r);
    let policy = iam
        .get_role_policy()
        .role_name("web-app-role")
        .policy_name("AWSRevokeOlderSessions")
        .send()
        .await
        .unwrap();
    let cutoff = revoke_time(policy.policy_document());
    assert!(cutoff >= before.with_nanosecond0() && cutoff <= Utc::now() + Duration::seconds(1));
    let tags = iam
        .list_role_tags()
        .role_name("web-app-role")
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.value() == incident.id.quarantine_tag())
    );
    assert_eq!(
        w.pages().await[0]["MessageAttributes"]["severity"]["Value"],
        "S1"
    );
}

/// Below S1 a role shared by workloads keeps working: the deny names the finding's session by
/// its `aws:userid` and its issue time, every session of the role waits for approval, and a
/// release deletes exactly the policy it put.
#[tokio::test]
async fn an_s2_role_finding_revokes_its_one_session_and_release_deletes_exactly_that() {
    let w = World::new().await;
    let iam = w.iam();
    seed::role(&iam, "shared-workers").await;
    iam.put_role_policy()
        .role_name("shared-workers")
        .policy_name("app-access")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let role_id = seed::role_id(&iam, "shared-workers").await;
    let session = format!("{role_id}:i-0123456789abcdef0");
    let policies = || async {
        let mut names = iam
            .list_role_policies()
            .role_name("shared-workers")
            .send()
            .await
            .unwrap()
            .policy_names()
            .to_vec();
        names.sort();
        names
    };
    let before = policies().await;

    let mut e = event("gd-iam-instance-credential-exfiltration-outside-aws.json");
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    e["detail"]["type"] = "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom".into();
    let details = &mut e["detail"]["resource"]["accessKeyDetails"];
    details["userName"] = "shared-workers".into();
    details["principalId"] = session.clone().into();
    let config = w.config();
    let started = Utc::now() - Duration::seconds(1);
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert_eq!(incident.severity, firebreak_core::Severity::S2);
    assert!(
        matches!(status_of(&r, "revoke_role_session"), Status::Done { detail } if detail.contains("can still be assumed")),
        "{:?}",
        r.outcomes
    );
    assert!(
        matches!(
            status_of(&r, "revoke_role_sessions"),
            Status::AwaitingApproval
        ),
        "{:?}",
        r.outcomes
    );
    let name = firebreak_core::action::plan::session_policy_name(incident.id.as_str(), &session);
    let mut expected = before.clone();
    expected.push(name.clone());
    expected.sort();
    assert_eq!(
        policies().await,
        expected,
        "one policy added, AWSRevokeOlderSessions not"
    );
    let document = iam
        .get_role_policy()
        .role_name("shared-workers")
        .policy_name(&name)
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&percent_decode(document.policy_document())).unwrap();
    let condition = &doc["Statement"][0]["Condition"];
    assert_eq!(condition["StringEquals"]["aws:userid"], session.as_str());
    let cutoff = revoke_time(document.policy_document());
    assert!(cutoff >= started.with_nanosecond0() && cutoff <= Utc::now() + Duration::seconds(1));
    let body = w.pages().await[0]["Message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(body.contains("can still be assumed again"), "{body}");

    let released = release(&w, config.clone(), &incident.id).await;
    assert!(
        released
            .outcomes
            .iter()
            .all(|o| !matches!(o.status, Status::Failed { .. })),
        "{:?}",
        released.outcomes
    );
    assert_eq!(
        policies().await,
        before,
        "the app's own policy stays, Firebreak's is gone"
    );
}

#[tokio::test]
async fn protected_principals_are_untouched_even_when_a_plan_names_them() {
    let w = World::new().await;
    let iam = w.iam();
    seed::role(&iam, "BreakGlass").await;
    let mut e = event("gd-iam-breakglass-role-anomalous-behavior.json");
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    let (mut incident, r) = w.incident(w.config(), false, &e).await;
    assert!(!r.outcomes.iter().any(|o| o.kind == "revoke_role_sessions"));
    // A crafted plan that names the break-glass role is refused by the responder itself.
    incident.plan.insert(
        0,
        firebreak_core::PlannedAction {
            action: firebreak_core::Action::RevokeRoleSessions {
                role_name: "BreakGlass".into(),
            },
            target: "BreakGlass".into(),
            mode: Mode::Auto,
            reason: "crafted".into(),
        },
    );
    let r = w
        .responder_with(w.config(), false)
        .respond(&incident, &e.to_string())
        .await;
    assert!(
        matches!(status_of(&r, "revoke_role_sessions"), Status::Skipped { why } if why.contains("break-glass"))
    );
    assert!(
        iam.list_role_policies()
            .role_name("BreakGlass")
            .send()
            .await
            .unwrap()
            .policy_names()
            .is_empty()
    );
    assert!(
        iam.list_role_tags()
            .role_name("BreakGlass")
            .send()
            .await
            .unwrap()
            .tags()
            .is_empty()
    );
}

#[tokio::test]
async fn instance_finding_protects_snapshots_isolates_and_tags() {
    let w = World::new().await;
    let server = seed::server(&w.sdk, "web").await;
    let mut e = event("gd-ec2-bitcoin-tool-dns.json");
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    let details = &mut e["detail"]["resource"]["instanceDetails"];
    details["instanceId"] = server.instance_id.clone().into();
    details["iamInstanceProfile"]["arn"] = server.profile_arn.clone().into();
    // In no Auto Scaling group (that case is the tests below).
    without_auto_scaling_group(&mut e);
    let mut config = w.config();
    config.modes.instance_isolation = Mode::Auto;
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert_all_done(&r);

    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let attr = ec2
        .describe_instance_attribute()
        .instance_id(&server.instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::DisableApiTermination)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attr.disable_api_termination().and_then(|v| v.value()),
        Some(true)
    );
    let attr = ec2
        .describe_instance_attribute()
        .instance_id(&server.instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::InstanceInitiatedShutdownBehavior)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attr.instance_initiated_shutdown_behavior()
            .and_then(|v| v.value()),
        Some("stop")
    );
    let instance = firebreak_aws::service::ec2::describe(&ec2, &server.instance_id)
        .await
        .unwrap();
    assert_eq!(
        instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("running"),
        "never stopped"
    );
    for m in instance.block_device_mappings() {
        assert_eq!(
            m.ebs().and_then(|e| e.delete_on_termination()),
            Some(false),
            "{:?}",
            m.device_name()
        );
    }
    // The isolation group is the one Firebreak recorded for the incident (a name is anyone's).
    let isolated = r
        .outcomes
        .iter()
        .find(|o| o.kind == "isolate_instance")
        .and_then(|o| o.changes.first());
    let Some(firebreak_core::record::release::Change::InstanceIsolated { interfaces, .. }) =
        isolated
    else {
        panic!("no isolation recorded: {:?}", r.outcomes);
    };
    let isolation = ec2
        .describe_security_groups()
        .group_ids(&interfaces[0].isolation_group)
        .send()
        .await
        .unwrap();
    let group = &isolation.security_groups()[0];
    assert!(
        group
            .group_name()
            .is_some_and(|n| n.starts_with("firebreak-isolation-")),
        "{group:?}"
    );
    assert!(
        group.ip_permissions().is_empty() && group.ip_permissions_egress().is_empty(),
        "the isolation group allows nothing"
    );
    for eni in instance.network_interfaces() {
        let groups: Vec<_> = eni.groups().iter().filter_map(|g| g.group_id()).collect();
        assert_eq!(groups, [group.group_id().unwrap()]);
    }
    assert_eq!(
        r.original_groups[0].groups,
        std::slice::from_ref(&server.original_group),
        "original groups remembered for release"
    );
    let snapshots = |ec2: aws_sdk_ec2::Client, tag: String| async move {
        ec2.describe_snapshots()
            .owner_ids("self")
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:incident-response")
                    .values(tag)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .snapshots()
            .to_vec()
    };
    let taken = snapshots(ec2.clone(), incident.id.quarantine_tag()).await;
    let volumes = firebreak_aws::service::ec2::volume_ids(&instance);
    assert_eq!(taken.len(), 2);
    assert_eq!(volumes.len(), 2);
    for v in &volumes {
        assert_eq!(
            taken
                .iter()
                .filter(|s| s.volume_id() == Some(v.as_str()))
                .count(),
            1,
            "one snapshot of {v}"
        );
    }
    assert!(
        instance
            .tags()
            .iter()
            .any(|t| t.key() == Some("incident-response")
                && t.value() == Some(incident.id.quarantine_tag().as_str()))
    );
    let iam = w.iam();
    assert!(
        iam.get_role_policy()
            .role_name(&server.role)
            .policy_name("AWSRevokeOlderSessions")
            .send()
            .await
            .is_ok()
    );
    // Fresh credentials from the instance are the quarantine role's, which denies everything.
    let quarantine = format!("arn:aws:iam::{HOME_ACCOUNT}:instance-profile/FirebreakQuarantine");
    let profile = |ec2: aws_sdk_ec2::Client, id: String| async move {
        firebreak_aws::service::ec2::profile_association(&ec2, &id)
            .await
            .unwrap()
            .map(|(_, arn)| arn)
    };
    assert_eq!(
        profile(ec2.clone(), server.instance_id.clone()).await,
        Some(quarantine.clone())
    );
    let kinds: Vec<&str> = incident.plan.iter().map(|p| p.action.kind()).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(
        at("quarantine_instance_profile") < at("revoke_instance_profile_sessions")
            && at("revoke_instance_profile_sessions") < at("isolate_instance"),
        "{kinds:?}"
    );

    // The page names the owner from the instance's `notification` tag.
    let pages = w.pages().await;
    let body = pages[0]["Message"].as_str().unwrap();
    assert!(
        body.contains("owner (notification tag): data-platform@example.com"),
        "{body}"
    );

    // A second delivery snapshots nothing new.
    let (_, again) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(status_of(&again, "isolate_instance"), Status::Done { detail } if detail == "already isolated")
    );
    assert!(
        matches!(status_of(&again, "quarantine_instance_profile"),
            Status::Skipped { why } if why.contains("already has the quarantine profile")),
        "{:?}",
        again.outcomes
    );
    assert_eq!(
        snapshots(ec2.clone(), incident.id.quarantine_tag())
            .await
            .len(),
        2
    );

    // Release gives the instance its own profile again; the snapshots stay.
    let released = release(&w, config.clone(), &incident.id).await;
    assert!(
        released
            .outcomes
            .iter()
            .any(|o| o.kind == "restore_instance_profile"
                && matches!(&o.status, Status::Done { .. })),
        "{:?}",
        released.outcomes
    );
    assert_eq!(
        profile(ec2.clone(), server.instance_id.clone()).await,
        Some(server.profile_arn.clone())
    );
    assert_eq!(snapshots(ec2, incident.id.quarantine_tag()).await.len(), 2);
}

#[tokio::test]
async fn public_bucket_finding_blocks_public_access_and_merges_tags() {
    let w = World::new().await;
    let s3 = seed::s3_client(&w.sdk);
    let mut e = event("gd-s3-malicious-ip-caller-public-bucket.json");
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    let bucket = e["detail"]["resource"]["s3BucketDetails"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let role = e["detail"]["resource"]["accessKeyDetails"]["userName"]
        .as_str()
        .unwrap()
        .to_string();
    seed::role(&w.iam(), &role).await;
    // The finding's session is of the role as the emulator made it.
    let details = &mut e["detail"]["resource"]["accessKeyDetails"];
    let session = details["principalId"].as_str().unwrap().to_string();
    let (_, name) = session.split_once(':').unwrap();
    details["principalId"] = format!("{}:{name}", seed::role_id(&w.iam(), &role).await).into();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let team = aws_sdk_s3::types::Tag::builder()
        .key("team")
        .value("shop")
        .build()
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(team)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (incident, r) = w.incident(w.config(), false, &e).await;
    assert_all_done(&r);
    let block = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let c = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert!(
        tags.contains(&("team", "shop")),
        "existing tags kept: {tags:?}"
    );
    assert!(
        tags.contains(&("incident-response", incident.id.quarantine_tag().as_str())),
        "{tags:?}"
    );
}

#[tokio::test]
async fn cognito_sign_up_disables_and_signs_out_the_user_and_stops_sign_up_keeping_other_settings()
{
    let w = World::new().await;
    // The pool lives in eu-west-1, as the event says; the responder's SDK defaults to us-east-1.
    let c = Clients::new(&w.sdk).in_region("eu-west-1").cognito;
    use aws_sdk_cognitoidentityprovider::types::{
        AuthFlowType, ExplicitAuthFlowsType, PasswordPolicyType, UserPoolPolicyType,
        VerifiedAttributeType,
    };
    let pool = c
        .create_user_pool()
        .pool_name("marketplace")
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(12)
                        .require_numbers(true)
                        .build(),
                )
                .build(),
        )
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .email_verification_subject("Your Marketplace code")
        .send()
        .await
        .unwrap();
    let pool_id = pool.user_pool().unwrap().id().unwrap().to_string();
    let client = c
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name("web")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .unwrap();
    let client_id = client
        .user_pool_client()
        .unwrap()
        .client_id()
        .unwrap()
        .to_string();
    let mut e = event("ct-cognito-sign-up-invite-only-pool.json");
    let user = e["detail"]["responseElements"]["userSub"]
        .as_str()
        .unwrap()
        .to_string();
    let text = e.to_string().replace("eu-west-1_Mkt4Invit", &pool_id);
    e = serde_json::from_str(&text).unwrap();
    e["detail"]["recipientAccountId"] = HOME_ACCOUNT.into();
    e["account"] = HOME_ACCOUNT.into();
    assert_eq!(
        e["detail"]["awsRegion"], "eu-west-1",
        "the event is from another region than the SDK's"
    );
    c.admin_create_user()
        .user_pool_id(&pool_id)
        .username(&user)
        .send()
        .await
        .unwrap();
    c.admin_set_user_password()
        .user_pool_id(&pool_id)
        .username(&user)
        .password("Correct-Horse-42")
        .permanent(true)
        .send()
        .await
        .unwrap();
    let login = || {
        c.admin_initiate_auth()
            .user_pool_id(&pool_id)
            .client_id(&client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", &user)
            .auth_parameters("PASSWORD", "Correct-Horse-42")
            .send()
    };
    assert!(login().await.is_ok(), "the user can sign in before");
    let before = c
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap()
        .user_pool()
        .unwrap()
        .clone();

    let mut config = w.config();
    config.cognito.invite_only_pools = vec![pool_id.clone()];
    let (_, r) = w.incident(config, false, &e).await;
    assert_all_done(&r);

    let u = c
        .admin_get_user()
        .user_pool_id(&pool_id)
        .username(&user)
        .send()
        .await
        .unwrap();
    assert!(!u.enabled());
    assert!(
        login().await.is_err(),
        "a disabled, signed-out user cannot sign in"
    );
    let after = c
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap()
        .user_pool()
        .unwrap()
        .clone();
    assert!(
        after
            .admin_create_user_config()
            .unwrap()
            .allow_admin_create_user_only()
    );
    assert_eq!(after.policies(), before.policies(), "password policy kept");
    assert_eq!(
        after.auto_verified_attributes(),
        before.auto_verified_attributes()
    );
    assert_eq!(
        after.email_verification_subject(),
        before.email_verification_subject()
    );
    assert_eq!(after.mfa_configuration(), before.mfa_configuration());
    assert_eq!(after.name(), before.name());
}

#[tokio::test]
async fn member_account_incidents_act_in_the_member_account_through_its_role() {
    let w = World::new().await;
    // Seed the member account through the same role Firebreak will assume there.
    let home = Clients::new(&w.sdk);
    let member = firebreak_aws::sdk::accounts::member_clients(
        &home,
        "aws",
        MEMBER_ACCOUNT,
        "FirebreakMember",
        "seed",
    )
    .await
    .unwrap();
    let who = member.sts.get_caller_identity().send().await.unwrap();
    assert_eq!(who.account(), Some(MEMBER_ACCOUNT));
    let (key, _) = seed::user_with_two_keys(&member.iam, "member-app").await;
    let (incident, r) = w
        .incident(
            w.config(),
            false,
            &iam_user_finding("member-app", &key, MEMBER_ACCOUNT),
        )
        .await;
    assert_all_done(&r);
    assert_eq!(incident.account, MEMBER_ACCOUNT);
    assert_only_key_inactive(&member.iam, "member-app", &key).await;
    // Nothing of the sort exists in the security account; the evidence does.
    assert!(
        w.iam()
            .get_user()
            .user_name("member-app")
            .send()
            .await
            .is_err()
    );
    let objects = seed::s3_client(&w.sdk)
        .list_objects_v2()
        .bucket(&w.stack.bucket)
        .prefix(format!("incidents/{}/", incident.id))
        .send()
        .await
        .unwrap();
    assert!(objects.key_count().unwrap_or(0) >= 4);
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

fn aws_smithy_b64(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(bytes)
}

trait Truncate {
    fn with_nanosecond0(self) -> Self;
}

impl Truncate for DateTime<Utc> {
    fn with_nanosecond0(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

#[tokio::test]
async fn the_configured_lock_mode_is_what_s3_records() {
    let w = World::new().await;
    let (key, _) = seed::user_with_two_keys(&w.iam(), "deploy-bot").await;
    let mut config = w.config();
    config.evidence.lock_mode = firebreak_core::LockMode::Governance;
    let (incident, r) = w
        .incident(
            config,
            false,
            &iam_user_finding("deploy-bot", &key, HOME_ACCOUNT),
        )
        .await;
    assert_all_done(&r);
    let s3 = seed::s3_client(&w.sdk);
    let head = s3
        .head_object()
        .bucket(&w.stack.bucket)
        .key(format!("incidents/{}/manifest.json", incident.id))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode().map(|m| m.as_str()),
        Some("GOVERNANCE")
    );
}

/// Launches a server and puts it in a new Auto Scaling group `group` (its only instance).
async fn server_in_group(w: &World, name: &str, group: &str) -> seed::Server {
    let server = seed::server(&w.sdk, name).await;
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let autoscaling = aws_sdk_autoscaling::Client::new(&w.sdk);
    let subnet = firebreak_aws::service::ec2::describe(&ec2, &server.instance_id)
        .await
        .unwrap()
        .subnet_id()
        .expect("a subnet")
        .to_string();
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(group)
        .instance_id(&server.instance_id)
        .min_size(0)
        .max_size(3)
        .desired_capacity(0)
        .vpc_zone_identifier(&subnet)
        .send()
        .await
        .expect("group");
    autoscaling
        .attach_instances()
        .auto_scaling_group_name(group)
        .instance_ids(&server.instance_id)
        .send()
        .await
        .expect("attach");
    server
}

/// The instance finding about `server`, its `aws:autoscaling:groupName` tag naming `group`.
fn finding_in_group(server: &seed::Server, group: &str) -> Value {
    let mut e = event("gd-ec2-bitcoin-tool-dns.json");
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    let details = &mut e["detail"]["resource"]["instanceDetails"];
    details["instanceId"] = server.instance_id.clone().into();
    details["iamInstanceProfile"]["arn"] = server.profile_arn.clone().into();
    details["tags"] = serde_json::json!([{"key": "aws:autoscaling:groupName", "value": group}]);
    e
}

/// An isolated instance fails its group's health checks and the group would terminate it, so
/// an instance of an Auto Scaling group is detached first: the group keeps its desired capacity
/// (it launches a replacement) and the instance keeps running, isolated, outside it.
#[tokio::test]
async fn an_instance_of_an_auto_scaling_group_is_detached_before_it_is_isolated() {
    let w = World::new().await;
    let server = server_in_group(&w, "asg", "batch-workers").await;
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let autoscaling = aws_sdk_autoscaling::Client::new(&w.sdk);
    let group_of = |id: String| {
        let autoscaling = autoscaling.clone();
        async move {
            firebreak_aws::service::autoscaling::group_of(&autoscaling, &id)
                .await
                .expect("describe")
        }
    };
    assert_eq!(
        group_of(server.instance_id.clone()).await.as_deref(),
        Some("batch-workers")
    );

    let e = finding_in_group(&server, "batch-workers");
    let mut config = w.config();
    config.modes.instance_isolation = Mode::Auto;
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert_all_done(&r);
    // Right after termination protection, long before isolation makes it unhealthy.
    let kinds: Vec<&str> = incident.plan.iter().map(|p| p.action.kind()).collect();
    assert_eq!(
        kinds[..2],
        ["protect_instance", "detach_from_auto_scaling_group"],
        "{kinds:?}"
    );
    assert!(
        kinds.iter().position(|k| *k == "isolate_instance") > Some(1),
        "{kinds:?}"
    );
    assert!(
        matches!(status_of(&r, "detach_from_auto_scaling_group"),
            Status::Done { detail } if detail.contains("batch-workers") && detail.contains("1 -> 0")),
        "{:?}",
        r.outcomes
    );

    assert_eq!(group_of(server.instance_id.clone()).await, None);
    let group = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("batch-workers")
        .send()
        .await
        .expect("groups");
    // Down with it: 0 is still at the group's minimum, so no replacement is launched.
    assert_eq!(
        group.auto_scaling_groups()[0].desired_capacity(),
        Some(0),
        "the desired capacity goes down to the minimum"
    );
    let instance = firebreak_aws::service::ec2::describe(&ec2, &server.instance_id)
        .await
        .unwrap();
    assert_eq!(
        instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("running"),
        "never stopped"
    );

    // A second run finds it in no group: nothing to do, nothing failed.
    let (_, again) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(status_of(&again, "detach_from_auto_scaling_group"),
            Status::Skipped { why } if why.contains("in no Auto Scaling group")),
        "{:?}",
        again.outcomes
    );

    // Release attaches it to its group again, as the recorded change says.
    let released = release(&w, config.clone(), &incident.id).await;
    assert!(
        released
            .outcomes
            .iter()
            .any(|o| o.kind == "reattach_to_auto_scaling_group"
                && matches!(&o.status, Status::Done { .. })),
        "{:?}",
        released.outcomes
    );
    assert_eq!(
        group_of(server.instance_id.clone()).await.as_deref(),
        Some("batch-workers")
    );
}

/// A protected Auto Scaling group is never detached from, whatever the instance; and a tag
/// holding a name Firebreak will not print leaves the name out of the plan, not the finding.
#[tokio::test]
async fn a_protected_group_keeps_its_instance_and_an_unprintable_group_name_is_left_out() {
    let w = World::new().await;
    let server = server_in_group(&w, "pay", "payments-web").await;
    let mut config = w.config();
    config.modes.instance_isolation = Mode::Auto;
    config
        .protect
        .allow
        .push("arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/payments-*".into());
    // The tag is the finding's; the group the instance is really in is what is judged.
    let e = finding_in_group(&server, "payments-web\u{202e}bew");
    let (incident, r) = w.incident(config, false, &e).await;
    assert!(
        incident.plan.iter().any(|p| matches!(&p.action,
            firebreak_core::Action::DetachFromAutoScalingGroup { group_name, .. }
                if group_name == firebreak_core::triage::UNPRINTED_GROUP)),
        "{:?}",
        incident.plan
    );
    assert!(
        matches!(status_of(&r, "detach_from_auto_scaling_group"),
            Status::Skipped { why } if why.contains("never detached from")),
        "{:?}",
        r.outcomes
    );
    let autoscaling = aws_sdk_autoscaling::Client::new(&w.sdk);
    assert_eq!(
        firebreak_aws::service::autoscaling::group_of(&autoscaling, &server.instance_id)
            .await
            .expect("describe")
            .as_deref(),
        Some("payments-web")
    );
}

/// Where `instance_id` is registered: every target group's port for it, and every classic load
/// balancer that lists it, read from the emulator.
async fn registrations(w: &World, instance_id: &str) -> (Vec<(String, Option<i32>)>, Vec<String>) {
    let v2 = aws_sdk_elasticloadbalancingv2::Client::new(&w.sdk);
    let classic = aws_sdk_elasticloadbalancing::Client::new(&w.sdk);
    let serving = firebreak_aws::service::elb::serving(&v2, &classic, instance_id)
        .await
        .expect("describe");
    let mut groups: Vec<(String, Option<i32>)> = serving
        .target_groups
        .into_iter()
        .map(|r| (r.target_group_arn, r.port))
        .collect();
    groups.sort();
    (groups, serving.classic)
}

/// An instance that serves load balancers is taken out of every one before it is isolated (a
/// protected target group keeps it), and a release registers it again where it was.
#[tokio::test]
async fn an_instance_behind_load_balancers_is_deregistered_and_release_registers_it_again() {
    let w = World::new().await;
    let server = seed::server(&w.sdk, "web").await;
    let other = seed::server(&w.sdk, "web-2").await;
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let instance = firebreak_aws::service::ec2::describe(&ec2, &server.instance_id)
        .await
        .unwrap();
    let vpc = instance.vpc_id().expect("a vpc").to_string();
    let zone = instance
        .placement()
        .and_then(|p| p.availability_zone())
        .expect("a zone")
        .to_string();
    let v2 = aws_sdk_elasticloadbalancingv2::Client::new(&w.sdk);
    let classic = aws_sdk_elasticloadbalancing::Client::new(&w.sdk);
    let mut arns = Vec::new();
    for (name, port) in [("web", 8080), ("admin", 9000), ("payments-web", 443)] {
        let arn = v2
            .create_target_group()
            .name(name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(port)
            .vpc_id(&vpc)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Instance)
            .send()
            .await
            .expect("target group")
            .target_groups()[0]
            .target_group_arn()
            .unwrap()
            .to_string();
        for id in [&server.instance_id, &other.instance_id] {
            v2.register_targets()
                .target_group_arn(&arn)
                .targets(
                    aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                        .id(id)
                        .port(port)
                        .build(),
                )
                .send()
                .await
                .expect("register");
        }
        arns.push(arn);
    }
    // The admin group serves a protected load balancer: protecting a balancer protects its
    // groups' registrations.
    let subnet = instance.subnet_id().expect("a subnet").to_string();
    let alb = v2
        .create_load_balancer()
        .name("admin-alb")
        .subnets(&subnet)
        .send()
        .await
        .expect("load balancer")
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    v2.create_listener()
        .load_balancer_arn(&alb)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(&arns[1])
                .build(),
        )
        .send()
        .await
        .expect("listener");
    classic
        .create_load_balancer()
        .load_balancer_name("legacy-web")
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(80)
                .instance_port(8080)
                .build()
                .unwrap(),
        )
        .availability_zones(&zone)
        .send()
        .await
        .expect("classic load balancer");
    classic
        .register_instances_with_load_balancer()
        .load_balancer_name("legacy-web")
        .instances(
            aws_sdk_elasticloadbalancing::types::Instance::builder()
                .instance_id(&server.instance_id)
                .build(),
        )
        .send()
        .await
        .expect("register with classic");
    let before = registrations(&w, &server.instance_id).await;
    assert_eq!(before.0.len(), 3, "{before:?}");
    assert_eq!(before.1, ["legacy-web"]);
    let others_before = registrations(&w, &other.instance_id).await;

    let mut e = finding_in_group(&server, "unused");
    without_auto_scaling_group(&mut e);
    let mut config = w.config();
    config.modes.instance_isolation = Mode::Auto;
    config
        .protect
        .allow
        .push("arn:aws:elasticloadbalancing:*:*:targetgroup/payments-*".into());
    config
        .protect
        .allow
        .push("arn:aws:elasticloadbalancing:*:*:loadbalancer/app/admin-*".into());
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert_all_done(&r);
    let kinds: Vec<&str> = incident.plan.iter().map(|p| p.action.kind()).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(
        at("deregister_from_load_balancers") < at("isolate_instance"),
        "{kinds:?}"
    );
    assert!(
        matches!(status_of(&r, "deregister_from_load_balancers"),
            Status::Done { detail } if detail.contains("1 target group(s) and 1 classic")
                && detail.contains("payments-web") && detail.contains("admin-alb")),
        "{:?}",
        r.outcomes
    );
    let mut kept = vec![(arns[1].clone(), Some(9000)), (arns[2].clone(), Some(443))];
    kept.sort();
    assert_eq!(
        registrations(&w, &server.instance_id).await,
        (kept, vec![]),
        "only the protected target group and the protected balancer's group keep it"
    );
    assert_eq!(
        registrations(&w, &other.instance_id).await,
        others_before,
        "the other instance serves on"
    );

    let released = release(&w, config.clone(), &incident.id).await;
    assert!(
        released
            .outcomes
            .iter()
            .any(|o| o.kind == "register_with_load_balancers"
                && matches!(&o.status, Status::Done { .. })),
        "{:?}",
        released.outcomes
    );
    assert_eq!(registrations(&w, &server.instance_id).await, before);
}

/// An IAM Identity Center user (through `AWSReservedSSO_<set>_…`, a role IAM refuses policies
/// and tags on) is denied in the permission set's inline policy, merged with what it held, and
/// the set provisioned; the user's assignment to the account goes on approval; release puts the
/// original policy back byte for byte and assigns the user again.
#[tokio::test]
async fn an_identity_center_user_is_denied_through_the_permission_set_and_released_exactly() {
    let w = World::new().await;
    let iam = w.iam();
    let sso = aws_sdk_ssoadmin::Client::new(&w.sdk);
    let ids = aws_sdk_identitystore::Client::new(&w.sdk);
    let instance = sso.list_instances().send().await.unwrap().instances()[0].clone();
    let instance_arn = instance.instance_arn().unwrap().to_string();
    let store_id = instance.identity_store_id().unwrap().to_string();
    let set_arn = sso
        .create_permission_set()
        .instance_arn(&instance_arn)
        .name("DataEngineer")
        // The emulator answers its own default as a number, where AWS gives ISO 8601.
        .session_duration("PT1H")
        .send()
        .await
        .unwrap()
        .permission_set()
        .and_then(|p| p.permission_set_arn())
        .unwrap()
        .to_string();
    // The original policy, spaced as a human wrote it: release must give back these bytes.
    let original = "{ \"Version\": \"2012-10-17\",\n  \"Statement\": [ { \"Sid\": \"Lake\", \"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\" } ] }";
    sso.put_inline_policy_to_permission_set()
        .instance_arn(&instance_arn)
        .permission_set_arn(&set_arn)
        .inline_policy(original)
        .send()
        .await
        .unwrap();
    let user_id = ids
        .create_user()
        .identity_store_id(&store_id)
        .user_name("alice@example.com")
        .display_name("Alice")
        .name(
            aws_sdk_identitystore::types::Name::builder()
                .given_name("Alice")
                .family_name("Liddell")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .user_id()
        .to_string();
    let assignment = |create: bool| {
        let (sso, instance_arn, set_arn, user_id) = (
            sso.clone(),
            instance_arn.clone(),
            set_arn.clone(),
            user_id.clone(),
        );
        async move {
            use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};
            if create {
                sso.create_account_assignment()
                    .instance_arn(&instance_arn)
                    .target_id(HOME_ACCOUNT)
                    .target_type(TargetType::AwsAccount)
                    .permission_set_arn(&set_arn)
                    .principal_type(PrincipalType::User)
                    .principal_id(&user_id)
                    .send()
                    .await
                    .unwrap();
            }
            sso.list_account_assignments()
                .instance_arn(&instance_arn)
                .account_id(HOME_ACCOUNT)
                .permission_set_arn(&set_arn)
                .send()
                .await
                .unwrap()
                .account_assignments()
                .iter()
                .filter(|a| a.principal_id() == Some(user_id.as_str()))
                .count()
        }
    };
    assert_eq!(assignment(true).await, 1);
    let policy = || async {
        sso.get_inline_policy_for_permission_set()
            .instance_arn(&instance_arn)
            .permission_set_arn(&set_arn)
            .send()
            .await
            .unwrap()
            .inline_policy()
            .unwrap_or_default()
            .to_string()
    };
    let role = "AWSReservedSSO_DataEngineer_0123456789abcdef";
    iam.create_role()
        .role_name(role)
        .path("/aws-reserved/sso.amazonaws.com/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let role_id = seed::role_id(&iam, role).await;

    let mut e = event("gd-iam-instance-credential-exfiltration-outside-aws.json");
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    e["detail"]["type"] = "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom".into();
    let details = &mut e["detail"]["resource"]["accessKeyDetails"];
    details["userName"] = role.into();
    details["principalId"] = format!("{role_id}:alice@example.com").into();
    let mut config = w.config();
    config.accounts.identity_center_account = HOME_ACCOUNT.into();
    config.accounts.identity_center_region = "us-east-1".into();
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(status_of(&r, "deny_identity_center_user"), Status::Done { detail } if detail.contains("provisioning")),
        "{:?}",
        r.outcomes
    );
    assert_eq!(
        status_of(&r, "remove_account_assignment"),
        &Status::AwaitingApproval
    );
    for kind in [
        "revoke_role_session",
        "revoke_role_sessions",
        "tag_quarantine",
    ] {
        assert!(
            r.outcomes.iter().all(|o| o.kind != kind),
            "{kind} planned on a role IAM refuses changes to: {:?}",
            r.outcomes
        );
    }
    let denied: Value = serde_json::from_str(&policy().await).unwrap();
    let statements = denied["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{denied}");
    assert_eq!(statements[0]["Sid"], "Lake", "what the set held is kept");
    assert_eq!(statements[1]["Effect"], "Deny");
    assert_eq!(
        statements[1]["Condition"]["StringEquals"]["identitystore:userId"],
        user_id.as_str()
    );
    assert_eq!(
        assignment(false).await,
        1,
        "the assignment waits for approval"
    );

    let triage = Triage::new(config.clone()).expect("rules");
    firebreak_aws::run::approve::approve(
        &w.responder_with(config.clone(), false),
        &triage,
        &incident.id,
        None,
    )
    .await
    .expect("approve");
    assert_eq!(assignment(false).await, 0, "removed once approved");

    let released = release(&w, config, &incident.id).await;
    assert!(
        released
            .outcomes
            .iter()
            .all(|o| matches!(o.status, Status::Done { .. })),
        "{:?}",
        released.outcomes
    );
    assert_eq!(
        policy().await,
        original,
        "the original policy, byte for byte"
    );
    assert_eq!(assignment(false).await, 1, "assigned again");
    let inline = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    assert!(
        inline.policy_names().is_empty(),
        "the SSO role was never changed"
    );

    // A role only named like Identity Center's (anyone with CreateRole can make one, and pick
    // its session names) never decides whom Firebreak denies.
    let forged = "AWSReservedSSO_DataEngineer_fedcba9876543210";
    seed::role(&iam, forged).await;
    let forged_id = seed::role_id(&iam, forged).await;
    let mut e = event("gd-iam-instance-credential-exfiltration-outside-aws.json");
    e["detail"]["id"] = "forgedsso0000000000000000000000".into();
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    e["detail"]["type"] = "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom".into();
    let details = &mut e["detail"]["resource"]["accessKeyDetails"];
    details["userName"] = forged.into();
    details["principalId"] = format!("{forged_id}:alice@example.com").into();
    let mut config = w.config();
    config.accounts.identity_center_account = HOME_ACCOUNT.into();
    config.accounts.identity_center_region = "us-east-1".into();
    let (_, r) = w.incident(config, false, &e).await;
    assert!(
        matches!(status_of(&r, "deny_identity_center_user"), Status::Skipped { why } if why.contains("not Identity Center's")),
        "{:?}",
        r.outcomes
    );
    assert_eq!(policy().await, original, "the set is untouched");
}
