//! What an attacker opened or shared, undone on the emulator: the world-open ingress revoked
//! exactly, the added shares of a snapshot and an image removed, the public Lambda statement
//! removed, the key the attacker created deactivated and the password they gave deleted (on
//! approval only). Each is asserted on the emulator's state after `respond` and after
//! `release`: equal to before the response, except what a release cannot restore (a password).

use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, LaunchPermission, LaunchPermissionModifications,
};
use firebreak_aws::Response;
use firebreak_core::{Config, IncidentId, Status, Triage};
use firebreak_testbed::world::World;
use serde_json::{Value, json};

const OUTSIDE: &str = "777788889999";
const MEMBER: &str = "444455556666";

fn status_of<'a>(r: &'a Response, kind: &str) -> &'a Status {
    &r.outcomes
        .iter()
        .find(|o| o.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} outcome in {:?}", r.outcomes))
        .status
}

fn corpus(name: &str) -> Value {
    let text = std::fs::read_to_string(firebreak_testbed::repo().join("events").join(name))
        .expect("corpus event");
    let mut e: Value = serde_json::from_str(&text).expect("JSON");
    // Where the emulator's resources are.
    e["region"] = "us-east-1".into();
    e["detail"]["awsRegion"] = "us-east-1".into();
    e
}

/// The role the corpus events' assumed-role sessions come from, so their containment is done.
async fn seed_role(w: &World, name: &str) -> String {
    let iam = aws_sdk_iam::Client::new(&w.sdk);
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("role")
        .role()
        .map(|r| r.arn().to_string())
        .expect("role ARN")
}

async fn release(
    w: &World,
    config: Config,
    id: &IncidentId,
) -> firebreak_aws::run::release::Release {
    release_with(
        w,
        config,
        id,
        firebreak_core::record::release::Options::default(),
    )
    .await
}

async fn release_with(
    w: &World,
    config: Config,
    id: &IncidentId,
    options: firebreak_core::record::release::Options,
) -> firebreak_aws::run::release::Release {
    firebreak_aws::run::release::release(
        &w.responder_with(config.clone(), false),
        &Triage::new(config).expect("rules"),
        id,
        options,
    )
    .await
    .expect("release")
}

async fn ingress(ec2: &aws_sdk_ec2::Client, group: &str) -> Vec<String> {
    let out = ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .expect("groups");
    let mut rules = Vec::new();
    for p in out.security_groups()[0].ip_permissions() {
        let port = format!(
            "{}:{:?}-{:?}",
            p.ip_protocol().unwrap_or_default(),
            p.from_port(),
            p.to_port()
        );
        rules.extend(
            p.ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip())
                .map(|c| format!("{port} {c}")),
        );
        rules.extend(
            p.ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6())
                .map(|c| format!("{port} {c}")),
        );
    }
    rules.sort();
    rules
}

/// SSH opened to the internet (IPv4 and IPv6) is revoked exactly: the office's SSH rule and the
/// group's HTTPS stay, and a release puts the two world-open rules back.
#[tokio::test]
async fn world_open_ingress_is_revoked_exactly_and_released() {
    let w = World::new().await;
    seed_role(&w, "platform-admin").await;
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let group = ec2
        .create_security_group()
        .group_name("bastion")
        .description("bastion")
        .send()
        .await
        .expect("group")
        .group_id()
        .expect("id")
        .to_string();
    let rule = |from: i32, v4: &[&str], v6: &[&str]| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(from)
            .to_port(from)
            .set_ip_ranges(Some(
                v4.iter()
                    .map(|c| IpRange::builder().cidr_ip(*c).build())
                    .collect(),
            ))
            .set_ipv6_ranges(Some(
                v6.iter()
                    .map(|c| Ipv6Range::builder().cidr_ipv6(*c).build())
                    .collect(),
            ))
            .build()
    };
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(rule(22, &["203.0.113.0/24", "0.0.0.0/0"], &["::/0"]))
        .ip_permissions(rule(443, &["0.0.0.0/0"], &[]))
        .send()
        .await
        .expect("rules");
    let before = ingress(&ec2, &group).await;

    let mut e = corpus("ct-ec2-authorize-security-group-ingress-ssh-world.json");
    e["detail"]["requestParameters"] = json!({"groupId": group, "ipPermissions": {"items": [{
        "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
        "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}, "prefixListIds": {}}]}});
    let config = w.config();
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(status_of(&r, "revoke_ingress"), Status::Done { detail } if detail.contains("2 permission(s)")),
        "{:?}",
        r.outcomes
    );
    assert_eq!(
        ingress(&ec2, &group).await,
        [
            "tcp:Some(22)-Some(22) 203.0.113.0/24",
            "tcp:Some(443)-Some(443) 0.0.0.0/0"
        ],
        "only what the event opened is revoked"
    );

    // A second run finds nothing of it left: skipped, nothing failed.
    let (_, again) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(status_of(&again, "revoke_ingress"), Status::Skipped { .. }),
        "{:?}",
        again.outcomes
    );

    release(&w, config, &incident.id).await;
    assert_eq!(ingress(&ec2, &group).await, before);
}

/// A dry run and a protected group change nothing.
#[tokio::test]
async fn a_dry_run_or_a_protected_group_keeps_the_ingress() {
    let w = World::new().await;
    seed_role(&w, "platform-admin").await;
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let group = ec2
        .create_security_group()
        .group_name("vpn")
        .description("vpn")
        .send()
        .await
        .expect("group")
        .group_id()
        .expect("id")
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("udp")
                .from_port(1194)
                .to_port(1194)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("rule");
    let before = ingress(&ec2, &group).await;
    let mut e = corpus("ct-ec2-authorize-security-group-ingress-https-world.json");
    e["detail"]["requestParameters"] = json!({"groupId": group, "ipPermissions": {"items": [{
        "ipProtocol": "udp", "fromPort": 1194, "toPort": 1194,
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    let mut config = w.config();
    config.modes.low_severity = firebreak_core::Mode::Auto;
    let (_, dry) = w.incident(config.clone(), true, &e).await;
    assert!(
        matches!(status_of(&dry, "revoke_ingress"), Status::DryRun { .. }),
        "{:?}",
        dry.outcomes
    );
    assert_eq!(ingress(&ec2, &group).await, before);
    config
        .protect
        .allow
        .push(format!("arn:aws:ec2:*:*:security-group/{group}"));
    let (_, kept) = w.incident(config, false, &e).await;
    assert!(
        matches!(status_of(&kept, "revoke_ingress"), Status::Skipped { why } if why.contains("never contained")),
        "{:?}",
        kept.outcomes
    );
    assert_eq!(ingress(&ec2, &group).await, before);
}

async fn snapshot_shares(ec2: &aws_sdk_ec2::Client, id: &str) -> Vec<String> {
    let out = ec2
        .describe_snapshot_attribute()
        .snapshot_id(id)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .expect("attribute");
    let mut v: Vec<String> = out
        .create_volume_permissions()
        .iter()
        .map(|p| {
            p.user_id()
                .map(str::to_string)
                .or_else(|| p.group().map(|g| g.as_str().to_string()))
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

async fn image_shares(ec2: &aws_sdk_ec2::Client, id: &str) -> Vec<String> {
    let out = ec2
        .describe_image_attribute()
        .image_id(id)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .expect("attribute");
    let mut v: Vec<String> = out
        .launch_permissions()
        .iter()
        .map(|p| {
            p.user_id()
                .map(str::to_string)
                .or_else(|| p.group().map(|g| g.as_str().to_string()))
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

/// A snapshot made public and shared with an outside account, and an image shared outside: the
/// shares the events added are removed, the member account's earlier share stays, and a release
/// shares them again.
#[tokio::test]
async fn shares_the_attacker_added_are_removed_and_released() {
    let w = World::new().await;
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let iam = aws_sdk_iam::Client::new(&w.sdk);
    firebreak_testbed::seed::user_with_two_keys(&iam, "release-bot").await;
    let server = firebreak_testbed::seed::server(&w.sdk, "share").await;
    let volume = ec2
        .create_volume()
        .size(1)
        .availability_zone("us-east-1a")
        .send()
        .await
        .expect("volume")
        .volume_id()
        .expect("id")
        .to_string();
    let snapshot = ec2
        .create_snapshot()
        .volume_id(&volume)
        .send()
        .await
        .expect("snapshot")
        .snapshot_id()
        .expect("id")
        .to_string();
    let image = ec2
        .create_image()
        .instance_id(&server.instance_id)
        .name("payments-api-golden")
        .send()
        .await
        .expect("image")
        .image_id()
        .expect("id")
        .to_string();
    // The member account's share predates the incident; then the attacker's.
    let share = |users: &[&str], all: bool| {
        let mut call = ec2
            .modify_snapshot_attribute()
            .snapshot_id(&snapshot)
            .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
            .operation_type(aws_sdk_ec2::types::OperationType::Add)
            .set_user_ids(Some(users.iter().map(|u| u.to_string()).collect()));
        if all {
            call = call.group_names("all");
        }
        call.send()
    };
    share(&[MEMBER], false).await.expect("member share");
    let before = snapshot_shares(&ec2, &snapshot).await;
    share(&[OUTSIDE], true).await.expect("attacker's share");
    ec2.modify_image_attribute()
        .image_id(&image)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id(OUTSIDE).build())
                .build(),
        )
        .send()
        .await
        .expect("image share");
    let mut shared_snapshot = snapshot_shares(&ec2, &snapshot).await;
    shared_snapshot.sort();
    assert_eq!(shared_snapshot.len(), 3);

    let config = w.config();
    let mut e = corpus("ct-ec2-modify-snapshot-attribute-public.json");
    e["detail"]["requestParameters"] = json!({"snapshotId": snapshot,
        "createVolumePermission": {"add": {"items": [{"group": "all"}, {"userId": OUTSIDE}]}},
        "attributeType": "CREATE_VOLUME_PERMISSION"});
    let (snap_incident, r) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(status_of(&r, "remove_share"), Status::Done { .. }),
        "{:?}",
        r.outcomes
    );
    assert_eq!(snapshot_shares(&ec2, &snapshot).await, before);

    let mut e = corpus("ct-ec2-modify-image-attribute-shared.json");
    e["detail"]["requestParameters"] = json!({"imageId": image,
        "launchPermission": {"add": {"items": [{"userId": OUTSIDE}]}},
        "attributeType": "launchPermission"});
    let (image_incident, r) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(status_of(&r, "remove_share"), Status::Done { .. }),
        "{:?}",
        r.outcomes
    );
    assert_eq!(image_shares(&ec2, &image).await, Vec::<String>::new());

    release(&w, config.clone(), &snap_incident.id).await;
    release(&w, config, &image_incident.id).await;
    assert_eq!(snapshot_shares(&ec2, &snapshot).await, shared_snapshot);
    assert_eq!(image_shares(&ec2, &image).await, [OUTSIDE]);
}

async fn statements(lambda: &aws_sdk_lambda::Client, function: &str) -> Vec<(String, Value)> {
    let policy = match lambda.get_policy().function_name(function).send().await {
        Ok(out) => out.policy().unwrap_or_default().to_string(),
        Err(_) => return Vec::new(),
    };
    let policy: Value = serde_json::from_str(&policy).expect("policy JSON");
    let mut v: Vec<(String, Value)> = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["Sid"].as_str().unwrap_or_default().to_string(),
                s["Principal"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A function made invocable by anyone: that statement is removed, the S3 trigger's statement
/// stays, and a release adds the public one back as it was.
#[tokio::test]
async fn a_public_lambda_statement_is_removed_and_released() {
    let w = World::new().await;
    let iam = aws_sdk_iam::Client::new(&w.sdk);
    firebreak_testbed::seed::user_with_two_keys(&iam, "release-bot").await;
    let role = seed_role(&w, "orders-export-role").await;
    firebreak_testbed::seed::function(&w.sdk, "orders-export", &role).await;
    let lambda = aws_sdk_lambda::Client::new(&w.sdk);
    lambda
        .add_permission()
        .function_name("orders-export")
        .statement_id("s3-trigger")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_account("111122223333")
        .send()
        .await
        .expect("trigger");
    lambda
        .add_permission()
        .function_name("orders-export")
        .statement_id("public-invoke")
        .action("lambda:InvokeFunction")
        .principal("*")
        .send()
        .await
        .expect("public");
    let opened = statements(&lambda, "orders-export").await;
    assert_eq!(opened.len(), 2);

    let mut e = corpus("ct-lambda-add-permission-public.json");
    let d = &mut e["detail"]["requestParameters"];
    d["functionName"] = "orders-export".into();
    d["statementId"] = "public-invoke".into();
    d["principal"] = "*".into();
    d["action"] = "lambda:InvokeFunction".into();
    for k in [
        "sourceArn",
        "sourceAccount",
        "qualifier",
        "functionUrlAuthType",
    ] {
        d.as_object_mut().expect("request").remove(k);
    }
    let config = w.config();
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(
            status_of(&r, "remove_lambda_permission"),
            Status::Done { .. }
        ),
        "{:?}",
        r.outcomes
    );
    let left: Vec<String> = statements(&lambda, "orders-export")
        .await
        .into_iter()
        .map(|(sid, _)| sid)
        .collect();
    assert_eq!(left, ["s3-trigger"]);

    release(&w, config, &incident.id).await;
    assert_eq!(statements(&lambda, "orders-export").await, opened);
}

async fn key_status(iam: &aws_sdk_iam::Client, user: &str, key: &str) -> String {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("keys")
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(key))
        .and_then(|k| k.status())
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

/// The key an attacker created is deactivated (Active again after a release told to reactivate
/// keys); the password
/// they gave waits for approval, is deleted only then, and a release says it cannot be restored.
#[tokio::test]
async fn a_created_key_is_deactivated_and_a_given_password_deleted_only_on_approval() {
    let w = World::new().await;
    let iam = aws_sdk_iam::Client::new(&w.sdk);
    firebreak_testbed::seed::user_with_two_keys(&iam, "terraform-ci").await;
    iam.create_user()
        .user_name("backup-admin2")
        .send()
        .await
        .expect("user");
    let created = iam
        .create_access_key()
        .user_name("backup-admin2")
        .send()
        .await
        .expect("key")
        .access_key()
        .map(|k| k.access_key_id().to_string())
        .expect("key id");
    iam.create_login_profile()
        .user_name("backup-admin2")
        .password("Corr3ct-Horse-Battery!")
        .send()
        .await
        .expect("password");

    let config = w.config();
    let mut e = corpus("ct-iam-create-user.json");
    e["detail"]["eventName"] = "CreateAccessKey".into();
    e["detail"]["requestParameters"] = json!({"userName": "backup-admin2"});
    e["detail"]["responseElements"] = json!({"accessKey": {"userName": "backup-admin2",
        "accessKeyId": created, "status": "Active", "createDate": "Mar 4, 2025, 9:13:02 AM"}});
    e["detail"]["eventID"] = "0d4bb1f3-5a3e-4a43-9a55-6d1a4a8e3c11".into();
    let (key_incident, r) = w.incident(config.clone(), false, &e).await;
    let created_done = r
        .outcomes
        .iter()
        .any(|o| o.target == created && matches!(o.status, Status::Done { .. }));
    assert!(created_done, "{:?}", r.outcomes);
    assert_eq!(
        key_status(&iam, "backup-admin2", &created).await,
        "Inactive"
    );
    // A release keeps keys off unless told (as for every key Firebreak deactivates).
    release(&w, config.clone(), &key_incident.id).await;
    assert_eq!(
        key_status(&iam, "backup-admin2", &created).await,
        "Inactive"
    );
    let options = firebreak_core::record::release::Options {
        reactivate_keys: true,
        ..Default::default()
    };
    let released = release_with(&w, config.clone(), &key_incident.id, options).await;
    assert_eq!(
        key_status(&iam, "backup-admin2", &created).await,
        "Active",
        "{:?}",
        released.outcomes
    );

    let e = corpus("ct-iam-create-login-profile.json");
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(
            status_of(&r, "delete_login_profile"),
            Status::AwaitingApproval
        ),
        "{:?}",
        r.outcomes
    );
    let has_password = |iam: aws_sdk_iam::Client| async move {
        iam.get_login_profile()
            .user_name("backup-admin2")
            .send()
            .await
            .is_ok()
    };
    assert!(
        has_password(iam.clone()).await,
        "never deleted without a human"
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
    assert!(!has_password(iam.clone()).await, "deleted once approved");
    let released = release(&w, config, &incident.id).await;
    assert!(
        released.outcomes.iter().any(|o| o.kind == "new_login_profile"
            && matches!(&o.status, Status::Skipped { why } if why.contains("cannot be restored"))),
        "{:?}",
        released.outcomes
    );
    assert!(!has_password(iam).await);
}

async fn restorable_by(rds: &aws_sdk_rds::Client, id: &str) -> Vec<String> {
    let out = rds
        .describe_db_snapshot_attributes()
        .db_snapshot_identifier(id)
        .send()
        .await
        .expect("attributes");
    let mut v: Vec<String> = out
        .db_snapshot_attributes_result()
        .map(|r| {
            r.db_snapshot_attributes()
                .iter()
                .flat_map(|a| a.attribute_values().to_vec())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A database snapshot made restorable by an outside account and by everyone: both removed,
/// the member account's earlier permission kept, and a release restores the two.
#[tokio::test]
async fn a_shared_database_snapshot_is_made_private_again_and_released() {
    let w = World::new().await;
    let iam = aws_sdk_iam::Client::new(&w.sdk);
    firebreak_testbed::seed::user_with_two_keys(&iam, "data-export").await;
    let rds = aws_sdk_rds::Client::new(&w.sdk);
    rds.create_db_instance()
        .db_instance_identifier("orders")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("orders")
        .master_user_password("n0t-a-real-passw0rd")
        .allocated_storage(20)
        .send()
        .await
        .expect("database");
    rds.create_db_snapshot()
        .db_snapshot_identifier("orders-2025-03-01")
        .db_instance_identifier("orders")
        .send()
        .await
        .expect("snapshot");
    let add = |values: &[&str]| {
        rds.modify_db_snapshot_attribute()
            .db_snapshot_identifier("orders-2025-03-01")
            .attribute_name("restore")
            .set_values_to_add(Some(values.iter().map(|v| v.to_string()).collect()))
            .send()
    };
    add(&[MEMBER]).await.expect("member");
    let before = restorable_by(&rds, "orders-2025-03-01").await;
    add(&[OUTSIDE, "all"]).await.expect("attacker");
    let shared = restorable_by(&rds, "orders-2025-03-01").await;

    let mut e = corpus("ct-rds-modify-db-cluster-snapshot-attribute-shared.json");
    e["detail"]["eventName"] = "ModifyDBSnapshotAttribute".into();
    e["detail"]["requestParameters"] = json!({"dBSnapshotIdentifier": "orders-2025-03-01",
        "attributeName": "restore", "valuesToAdd": [OUTSIDE, "all"]});
    let config = w.config();
    let (incident, r) = w.incident(config.clone(), false, &e).await;
    assert!(
        matches!(status_of(&r, "remove_share"), Status::Done { .. }),
        "{:?}",
        r.outcomes
    );
    assert_eq!(restorable_by(&rds, "orders-2025-03-01").await, before);
    release(&w, config, &incident.id).await;
    assert_eq!(restorable_by(&rds, "orders-2025-03-01").await, shared);
}
