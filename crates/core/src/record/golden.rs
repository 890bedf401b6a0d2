//! The stored formats are frozen: log entries and outcomes (with every kind of change) are read
//! back years later from locked objects, so each kind has one committed example under
//! `tests/stored/` that must still deserialise and re-serialise, as the store writes it
//! (`serde_json::to_vec_pretty`), byte for byte. A missing or different example fails the test,
//! which leaves today's bytes in `target/stored-candidates/`: copying them over the committed
//! ones is a change of a stored format, and needs a reader for the old one.

use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::action::plan::{Ingress, LambdaGrant, Shared, TagTarget};
use crate::fixtures::{KEY, done, every_kind, log_entry, outcome, t};
use crate::record::log::{Entry, LogEntry};
use crate::record::outcome::{
    ActionOutcome, Change, OriginalBlock, OriginalGroups, PublicAccessBlock, Registration, Status,
};
use crate::severity::Severity;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/stored")
}

/// One example of every log entry kind, named by its kind.
fn entries() -> Vec<(String, LogEntry)> {
    let mut all = every_kind(Severity::S1, "Key of deploy-bot used from a malicious IP");
    all.push(log_entry(
        20,
        t(120),
        "arn:aws:lambda:us-east-1:111122223333:function:firebreak-clock",
        Entry::Wiring {
            drifts: vec![
                "rule firebreak-GuardDutyFinding on bus default is DISABLED. Fix: aws events \
                 enable-rule --name firebreak-GuardDutyFinding"
                    .into(),
            ],
            hour: "2026-11-24T02".into(),
            message_id: "c41d-msg".into(),
        },
    ));
    let mut named = Vec::new();
    for e in all {
        let kind = e.entry.kind();
        if !named.iter().any(|(k, _)| *k == format!("log-{kind}")) {
            named.push((format!("log-{kind}"), e));
        }
    }
    named
}

/// One outcome per kind of change.
fn outcomes() -> Vec<(String, ActionOutcome)> {
    // (the action that made the change, the change)
    let changes = [
        (
            "deactivate_access_key",
            Change::AccessKeyDeactivated {
                user_name: "deploy-bot".into(),
                access_key_id: KEY.into(),
            },
        ),
        (
            "revoke_user_sessions",
            Change::UserPolicyPut {
                user_name: "deploy-bot".into(),
                policy_name: "AWSRevokeOlderSessions".into(),
            },
        ),
        (
            "deny_user",
            Change::ManagedPolicyAttached {
                user_name: "deploy-bot".into(),
                policy_arn: "arn:aws:iam::111122223333:policy/FirebreakDenyAll".into(),
            },
        ),
        (
            "revoke_role_sessions",
            Change::RolePolicyPut {
                role_name: "app-server".into(),
                policy_name: "AWSRevokeOlderSessions".into(),
            },
        ),
        (
            "cognito_disable_user",
            Change::CognitoUserDisabled {
                user_pool_id: "us-east-1_AbCdEf123".into(),
                username: "mallory".into(),
            },
        ),
        (
            "cognito_stop_sign_up",
            Change::CognitoSignUpStopped {
                user_pool_id: "us-east-1_AbCdEf123".into(),
            },
        ),
        (
            "block_public_access",
            Change::PublicAccessBlocked {
                bucket: "customer-exports".into(),
                original: OriginalBlock::Set {
                    config: PublicAccessBlock {
                        block_public_acls: true,
                        ignore_public_acls: false,
                        block_public_policy: false,
                        restrict_public_buckets: false,
                    },
                },
            },
        ),
        (
            "isolate_instance",
            Change::InstanceIsolated {
                instance_id: "i-0abc123def4567890".into(),
                interfaces: vec![OriginalGroups {
                    network_interface_id: "eni-0a1b2c3d".into(),
                    groups: vec!["sg-0web".into(), "sg-0ssh".into()],
                    isolation_group: "sg-0isolate".into(),
                    pass_through_group: "sg-0pass".into(),
                }],
            },
        ),
        (
            "detach_from_auto_scaling_group",
            Change::DetachedFromAutoScalingGroup {
                instance_id: "i-0abc123def4567890".into(),
                group_name: "batch-workers".into(),
                decremented: true,
            },
        ),
        (
            "tag_quarantine",
            Change::Tagged {
                resource: TagTarget::Instance("i-0abc123def4567890".into()),
                volumes: vec!["vol-0a1".into()],
            },
        ),
        (
            "revoke_ingress",
            Change::IngressRevoked {
                group_id: "sg-0a1b2c3d4e5f60718".into(),
                rules: vec![Ingress {
                    protocol: "tcp".into(),
                    from_port: Some(22),
                    to_port: Some(22),
                    cidr: "0.0.0.0/0".into(),
                }],
            },
        ),
        (
            "remove_share",
            Change::ShareRemoved {
                resource: Shared::Snapshot("snap-0a1b2c3d4e5f60718".into()),
                accounts: vec!["777788889999".into()],
                public: true,
            },
        ),
        (
            "remove_lambda_permission",
            Change::LambdaPermissionRemoved {
                function_name: "orders-export".into(),
                statement_id: "public-invoke".into(),
                grant: LambdaGrant {
                    action: "lambda:InvokeFunction".into(),
                    principal: "*".into(),
                    source_arn: None,
                    source_account: None,
                    function_url_auth_type: None,
                    qualifier: None,
                },
            },
        ),
        (
            "delete_login_profile",
            Change::LoginProfileDeleted {
                user_name: "svc-backup".into(),
            },
        ),
        (
            "deregister_from_load_balancers",
            Change::DeregisteredFromLoadBalancers {
                instance_id: "i-0abc123def4567890".into(),
                target_groups: vec![Registration {
                    target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef".into(),
                    port: Some(8080),
                }],
                classic: vec!["legacy-web".into()],
            },
        ),
        (
            "quarantine_instance_profile",
            Change::InstanceProfileReplaced {
                instance_id: "i-0abc123def4567890".into(),
                original_arn: "arn:aws:iam::111122223333:instance-profile/app-server".into(),
                quarantine_arn: "arn:aws:iam::111122223333:instance-profile/FirebreakQuarantine"
                    .into(),
            },
        ),
        (
            "deny_identity_center_user",
            Change::PermissionSetDenied {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                instance_arn: "arn:aws:sso:::instance/ssoins-0123456789abcdef".into(),
                permission_set_arn:
                    "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef".into(),
                sid: "FirebreakDenyFB0123456789abcdef".into(),
                original: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
            },
        ),
        (
            "remove_account_assignment",
            Change::AccountAssignmentRemoved {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                instance_arn: "arn:aws:sso:::instance/ssoins-0123456789abcdef".into(),
                permission_set_arn:
                    "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef".into(),
                target_account: "444455556666".into(),
                user_id: "9067f6b4a2-0f6e7d8c-1111-2222-3333-444455556666".into(),
            },
        ),
    ];
    changes
        .into_iter()
        .enumerate()
        .map(|(i, (kind, change))| {
            let mut o = outcome(i + 1, kind, &change.target(), done("changed"), 3);
            o.changes = vec![change];
            (format!("outcome-{kind}"), o)
        })
        .chain([
            (
                "outcome-skipped".to_string(),
                outcome(
                    1,
                    "revoke_role_sessions",
                    "app-server",
                    Status::Skipped {
                        why: "protected".into(),
                    },
                    3,
                ),
            ),
            (
                "outcome-awaiting-approval".to_string(),
                outcome(2, "isolate_instance", "i-0abc", Status::AwaitingApproval, 3),
            ),
        ])
        .collect()
}

/// Checks one example: the file reads back into `T` and writes again as the same bytes, and
/// equals what the example serialises to today. Today's bytes go to `target/stored-candidates/`
/// when they are not the file's.
fn frozen<T: Serialize + DeserializeOwned>(name: &str, example: &T) -> String {
    let path = dir().join(format!("{name}.json"));
    let today = serde_json::to_vec_pretty(example).expect("serialise");
    if std::fs::read(&path).ok().as_deref() != Some(today.as_slice()) {
        let candidates = dir().join("../../../../target/stored-candidates");
        let _ = std::fs::create_dir_all(&candidates)
            .and_then(|()| std::fs::write(candidates.join(format!("{name}.json")), &today));
    }
    let stored = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => return format!("{name}: {e} (target/stored-candidates/ has today's bytes)"),
    };
    let read: T = match serde_json::from_slice(&stored) {
        Ok(v) => v,
        Err(e) => return format!("{name}: the stored example no longer reads: {e}"),
    };
    let again = serde_json::to_vec_pretty(&read).expect("serialise");
    if again != stored {
        return format!("{name}: reads back but writes different bytes");
    }
    if today != stored {
        return format!("{name}: the example now writes different bytes than the stored one");
    }
    String::new()
}

#[test]
fn every_stored_format_reads_and_writes_back_byte_for_byte() {
    let entries = entries();
    let mut kinds: Vec<&str> = entries.iter().map(|(_, e)| e.entry.kind()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds.len(), 15, "one example per entry kind: {kinds:?}");
    let mut problems: Vec<String> = entries.iter().map(|(name, e)| frozen(name, e)).collect();
    let outcomes = outcomes();
    assert_eq!(outcomes.len(), 20);
    problems.extend(outcomes.iter().map(|(name, o)| frozen(name, o)));
    problems.retain(|p| !p.is_empty());
    assert!(problems.is_empty(), "{problems:#?}");
    // Every file there is one of these examples: none is left unchecked.
    let names: Vec<String> = entries
        .iter()
        .map(|(n, _)| n.clone())
        .chain(outcomes.iter().map(|(n, _)| n.clone()))
        .collect();
    for file in std::fs::read_dir(dir()).expect("tests/stored") {
        let file = file
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let stem = file.trim_end_matches(".json");
        assert!(names.iter().any(|n| n == stem), "{file} is no example");
    }
}
