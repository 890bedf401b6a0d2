//! What the attacker opened or shared, undone: the plan's reversible counterparts of the
//! exposure rules (`revoke_ingress`, `remove_share`, `remove_lambda_permission`) and of the
//! credential rules (the key the attacker created deactivated, the console password they
//! gave deleted, on approval). Each acts on exactly what the event did, never more.

use serde_json::Value;

use crate::action::names::world_wide;
use crate::action::plan::{Action, Ingress, LambdaGrant, PlanBuilder, Shared};
use crate::config::Config;
use crate::event::cloudtrail::Record;
use crate::triage::rules::{IocRule, items};

/// Adds the undo of what `record` opened, for each rule it fired. `account` is where it
/// happened; `partition` names ARNs for the protection check.
pub(crate) fn plan_undo(
    config: &Config,
    record: &Record<'_>,
    matched: &[&IocRule],
    account: &str,
    partition: &str,
    plan: &mut PlanBuilder<'_>,
    notes: &mut Vec<String>,
) {
    let request = record.request();
    let response = record.response();
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    for rule in matched {
        match rule.name.as_str() {
            "ingress-admin-port-open-to-world" | "ingress-open-to-world" => {
                let Some(group_id) = text(&request, "groupId") else {
                    notes.push(
                        "the ingress names its group only by name (default VPC): revoke it by hand"
                            .into(),
                    );
                    continue;
                };
                let rules = world_ingress(&request);
                if !rules.is_empty() {
                    plan.push(
                        Action::RevokeIngress { group_id, rules },
                        "revoke exactly what the event opened to the internet",
                    );
                }
            }
            "ami-shared" | "snapshot-shared" => {
                let (resource, key) = if rule.name == "ami-shared" {
                    (
                        text(&request, "imageId").map(Shared::Image),
                        "launchPermission",
                    )
                } else {
                    (
                        text(&request, "snapshotId").map(Shared::Snapshot),
                        "createVolumePermission",
                    )
                };
                let Some(resource) = resource else { continue };
                let (accounts, public) = added_shares(&request, key, account);
                if public || !accounts.is_empty() {
                    plan.push(
                        Action::RemoveShare {
                            resource,
                            accounts,
                            public,
                        },
                        "take back exactly the shares the event added",
                    );
                }
            }
            "rds-snapshot-shared" => {
                let resource = match record.event_name.as_str() {
                    "ModifyDBSnapshotAttribute" => {
                        text(&request, "dBSnapshotIdentifier").map(Shared::DbSnapshot)
                    }
                    _ => {
                        text(&request, "dBClusterSnapshotIdentifier").map(Shared::DbClusterSnapshot)
                    }
                };
                let Some(resource) = resource else { continue };
                let mut accounts = Vec::new();
                let mut public = false;
                for value in request
                    .get("valuesToAdd")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if value.eq_ignore_ascii_case("all") {
                        public = true;
                    } else if value != account && !accounts.iter().any(|a| a == value) {
                        accounts.push(value.to_string());
                    }
                }
                if public || !accounts.is_empty() {
                    plan.push(
                        Action::RemoveShare {
                            resource,
                            accounts,
                            public,
                        },
                        "take back exactly the restore permissions the event added",
                    );
                }
            }
            "lambda-permission-opened" => {
                let (Some(function_name), Some(statement_id), Some(action), Some(principal)) = (
                    text(&request, "functionName"),
                    text(&request, "statementId"),
                    text(&request, "action"),
                    text(&request, "principal"),
                ) else {
                    continue;
                };
                plan.push(
                    Action::RemoveLambdaPermission {
                        function_name,
                        statement_id,
                        grant: LambdaGrant {
                            action,
                            principal,
                            source_arn: text(&request, "sourceArn"),
                            source_account: text(&request, "sourceAccount"),
                            function_url_auth_type: text(&request, "functionUrlAuthType"),
                            qualifier: text(&request, "qualifier"),
                        },
                    },
                    "remove the statement that opened the function",
                );
            }
            "iam-access-key-created" => {
                let key = response.get("accessKey");
                let (Some(user_name), Some(access_key_id)) = (
                    key.and_then(|k| text(k, "userName")),
                    key.and_then(|k| text(k, "accessKeyId")),
                ) else {
                    continue;
                };
                if let Some(why) = protected_user(config, partition, account, &user_name) {
                    notes.push(why);
                    continue;
                }
                plan.push(
                    Action::DeactivateAccessKey {
                        user_name,
                        access_key_id,
                    },
                    "the key the event created, made Inactive (release makes it Active again)",
                );
            }
            "iam-login-profile-changed" if record.event_name == "CreateLoginProfile" => {
                let Some(user_name) = text(&request, "userName") else {
                    continue;
                };
                if let Some(why) = protected_user(config, partition, account, &user_name) {
                    notes.push(why);
                    continue;
                }
                plan.push(
                    Action::DeleteLoginProfile { user_name },
                    "the console password the event gave; a release cannot restore it, so a human decides",
                );
            }
            _ => {}
        }
    }
}

fn protected_user(config: &Config, partition: &str, account: &str, user: &str) -> Option<String> {
    let arn = format!("arn:{partition}:iam::{account}:user/{user}");
    config.protection(&arn).map(|why| {
        format!(
            "{arn} is {}: what was created for it is left",
            why.describe()
        )
    })
}

/// The ingress permissions of a request open to the internet (`names::world_wide`), one per range.
fn world_ingress(request: &Value) -> Vec<Ingress> {
    let mut out = Vec::new();
    let mut permissions: Vec<&Value> = items(request.get("ipPermissions"));
    if request.get("cidrIp").is_some() {
        permissions.push(request);
    }
    let port = |p: &Value, k: &str| {
        p.get(k).and_then(|n| {
            n.as_i64()
                .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                .and_then(|n| i32::try_from(n).ok())
        })
    };
    for p in permissions {
        let protocol = match p.get("ipProtocol") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        let v4 = items(p.get("ipRanges"))
            .into_iter()
            .filter_map(|r| r.get("cidrIp"))
            .chain(p.get("cidrIp"))
            .filter_map(Value::as_str)
            .filter(|c| world_wide(c));
        let v6 = items(p.get("ipv6Ranges"))
            .into_iter()
            .filter_map(|r| r.get("cidrIpv6"))
            .filter_map(Value::as_str)
            .filter(|c| world_wide(c));
        for cidr in v4.chain(v6) {
            let rule = Ingress {
                protocol: protocol.clone(),
                from_port: port(p, "fromPort"),
                to_port: port(p, "toPort"),
                cidr: cidr.to_string(),
            };
            if !out.contains(&rule) {
                out.push(rule);
            }
        }
    }
    out
}

/// The accounts (other than `own`) and the public group a share request added.
fn added_shares(request: &Value, key: &str, own: &str) -> (Vec<String>, bool) {
    let mut accounts = Vec::new();
    let mut public = false;
    let added = request
        .get(key)
        .map(|p| items(p.get("add")))
        .unwrap_or_default();
    for item in added {
        if item.get("group").and_then(Value::as_str) == Some("all") {
            public = true;
        }
        if let Some(user) = item.get("userId").and_then(Value::as_str)
            && user != own
            && !accounts.iter().any(|a| a == user)
        {
            accounts.push(user.to_string());
        }
    }
    (accounts, public)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::names::check_action;
    use serde_json::json;

    /// The undo revokes what the rule judged open, however the range was written, and nothing
    /// narrower; the plan's names check accepts exactly those ranges.
    #[test]
    fn the_undo_takes_every_range_the_rule_judged_open() {
        let request = json!({"groupId": "sg-0a1b2c3d", "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/1"}, {"cidrIp": "128.0.0.0/1"},
                                   {"cidrIp": "198.51.100.0/24"}]}}]}});
        let rules = world_ingress(&request);
        let cidrs: Vec<&str> = rules.iter().map(|r| r.cidr.as_str()).collect();
        assert_eq!(cidrs, ["0.0.0.0/1", "128.0.0.0/1"]);
        let action = Action::RevokeIngress {
            group_id: "sg-0a1b2c3d".into(),
            rules,
        };
        assert!(check_action(&action).is_ok());
        let narrow = Action::RevokeIngress {
            group_id: "sg-0a1b2c3d".into(),
            rules: vec![Ingress {
                protocol: "tcp".into(),
                from_port: Some(22),
                to_port: Some(22),
                cidr: "198.51.100.0/24".into(),
            }],
        };
        assert!(check_action(&narrow).is_err());
    }
}
