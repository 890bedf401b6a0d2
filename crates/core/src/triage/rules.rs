//! Runbook indicators of compromise as data: `rules/iocs.toml`, embedded at build time, read
//! once into a [`RuleSet`] indexed by event source and name.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::error::ConfigError;
use crate::event::cloudtrail::Record;
use crate::event::principal::{Principal, pattern_matches};
use crate::severity::Severity;

/// The built-in rule table, as reviewed text.
pub const BUILTIN_IOCS: &str = include_str!("../../rules/iocs.toml");

/// A condition on a matching call, beyond its source and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Every such call.
    Always,
    /// RunInstances with an image not on `amis.allowed` (off when the list is empty).
    AmiNotAllowed,
    /// RunInstances of a family in `launches.costly_families`, or of at least
    /// `launches.max_instances` instances.
    CostlyLaunch,
    /// A trust policy naming an AWS principal of another account, or `*`.
    TrustsOtherAccount,
    /// Event selectors that reduce what CloudTrail records.
    SelectorsReduce,
    /// UpdateDetector with `enable: false`.
    DetectorDisabled,
    /// A sign-up on an invite-only user pool.
    InviteOnlyPool,
    /// AdminCreateUser on an invite-only pool by a principal not in `cognito.admin_principals`.
    UnexpectedAdmin,
    /// The request names one of Firebreak's own resources (`stack.resources`, its roles).
    TargetsFirebreak,
    /// UpdateDetector that disables the detector or any of its protection features.
    DetectorWeakened,
    /// AdministratorAccess attached, or an `Allow` of every action on every resource put.
    GrantsEverything,
    /// CreatePolicyVersion with `setAsDefault`, or SetDefaultPolicyVersion.
    SetsDefaultVersion,
    /// An access key made Active again by a principal that is not protected.
    ReactivatesKey,
    /// A containment policy removed (Firebreak's revoke or deny policy) by a principal that is
    /// not protected.
    UndoesContainment,
    /// A policy with an `Allow` written by one of Firebreak's own roles, which only ever write
    /// denies.
    FirebreakWritesAllow,
}

impl Condition {
    /// Short human text for `firebreak rules`.
    pub fn describe(self) -> &'static str {
        match self {
            Condition::Always => "always",
            Condition::AmiNotAllowed => "image not in amis.allowed",
            Condition::CostlyLaunch => {
                "a GPU/accelerator family (launches.costly_families) or launches.max_instances at once"
            }
            Condition::TrustsOtherAccount => "trust policy names another account or *",
            Condition::SelectorsReduce => "drops management events, reads or writes",
            Condition::DetectorDisabled => "enable = false",
            Condition::InviteOnlyPool => "pool in cognito.invite_only_pools",
            Condition::UnexpectedAdmin => {
                "invite-only pool, caller not in cognito.admin_principals"
            }
            Condition::TargetsFirebreak => "names one of Firebreak's own resources",
            Condition::DetectorWeakened => "detector or a protection feature disabled",
            Condition::GrantsEverything => "AdministratorAccess, or Allow * on *",
            Condition::SetsDefaultVersion => "a new default policy version",
            Condition::ReactivatesKey => "status Active, caller not protected",
            Condition::UndoesContainment => "Firebreak's revoke/deny policy removed",
            Condition::FirebreakWritesAllow => "by a Firebreak role, document has an Allow",
        }
    }
}

/// One indicator of compromise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IocRule {
    /// Stable name, reported in plans and pages.
    pub name: String,
    /// Family (`detection-disabled`, `iam`, `persistence`, …).
    pub category: String,
    /// CloudTrail `eventSource`.
    pub source: String,
    /// CloudTrail `eventName`s.
    pub events: Vec<String>,
    /// Extra condition.
    pub condition: Condition,
    /// Severity of an incident that fires only this rule.
    pub severity: Severity,
    /// Why it matters, in the runbook's words.
    pub why: String,
}

/// The rules, indexed for lookup by `(eventSource, eventName)`.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<IocRule>,
    index: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Events named by prefix (`UpdateFunctionCode*`: Lambda's CloudTrail names carry API
    /// version suffixes such as `UpdateFunctionCode20150331v2`), per source.
    prefixes: HashMap<String, Vec<(String, usize)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    ioc: Vec<IocRule>,
}

/// What a condition may look at besides the record.
pub(crate) struct MatchContext<'c> {
    pub config: &'c Config,
    pub account: &'c str,
    pub actor: &'c Principal,
}

impl RuleSet {
    /// The built-in table.
    pub fn builtin() -> Result<RuleSet, ConfigError> {
        RuleSet::from_toml(BUILTIN_IOCS)
    }

    /// A table from TOML text (`[[ioc]]` entries).
    pub fn from_toml(text: &str) -> Result<RuleSet, ConfigError> {
        let file: RuleFile = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let mut index: HashMap<String, HashMap<String, Vec<usize>>> = HashMap::new();
        let mut prefixes: HashMap<String, Vec<(String, usize)>> = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for (i, rule) in file.ioc.iter().enumerate() {
            if !names.insert(rule.name.as_str()) {
                return Err(ConfigError::Invalid {
                    key: format!("ioc[{i}].name"),
                    message: format!("{:?} is used by another rule", rule.name),
                });
            }
            if rule.events.is_empty() {
                return Err(ConfigError::Invalid {
                    key: format!("ioc[{i}].events"),
                    message: "names no event".into(),
                });
            }
            for event in &rule.events {
                if let Some(prefix) = event.strip_suffix('*') {
                    prefixes
                        .entry(rule.source.clone())
                        .or_default()
                        .push((prefix.to_string(), i));
                    continue;
                }
                index
                    .entry(rule.source.clone())
                    .or_default()
                    .entry(event.clone())
                    .or_default()
                    .push(i);
            }
        }
        Ok(RuleSet {
            rules: file.ioc,
            index,
            prefixes,
        })
    }

    /// Every rule, in table order.
    pub fn rules(&self) -> &[IocRule] {
        &self.rules
    }

    /// The rules a record fires.
    pub(crate) fn matching(&self, record: &Record<'_>, ctx: &MatchContext<'_>) -> Vec<&IocRule> {
        let exact = self
            .index
            .get(&record.event_source)
            .and_then(|by_name| by_name.get(&record.event_name))
            .into_iter()
            .flatten()
            .copied();
        let by_prefix = self
            .prefixes
            .get(&record.event_source)
            .into_iter()
            .flatten()
            .filter(|(prefix, _)| record.event_name.starts_with(prefix.as_str()))
            .map(|&(_, i)| i);
        let mut candidates: Vec<usize> = exact.chain(by_prefix).collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .map(|i| &self.rules[i])
            .filter(|rule| holds(rule.condition, record, ctx))
            .collect()
    }
}

fn holds(condition: Condition, record: &Record<'_>, ctx: &MatchContext<'_>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::AmiNotAllowed => ami_not_allowed(&record.request(), &ctx.config.amis.allowed),
        Condition::CostlyLaunch => {
            costly_launch(&record.request(), &record.response(), &ctx.config.launches)
        }
        Condition::TrustsOtherAccount => trusts_other_account(&record.request(), ctx.account),
        Condition::SelectorsReduce => selectors_reduce(&record.request()),
        Condition::DetectorDisabled => {
            record.request().get("enable").and_then(Value::as_bool) == Some(false)
        }
        Condition::InviteOnlyPool => {
            cognito_pool_id(record).is_some_and(|pool| ctx.config.is_invite_only_pool(&pool))
        }
        Condition::UnexpectedAdmin => {
            let invite_only =
                cognito_pool_id(record).is_some_and(|pool| ctx.config.is_invite_only_pool(&pool));
            let allowed = ctx.actor.arn().is_some_and(|arn| {
                ctx.config
                    .cognito
                    .admin_principals
                    .iter()
                    .any(|p| pattern_matches(p, arn))
            });
            invite_only && !allowed
        }
        Condition::TargetsFirebreak => targets_firebreak(&record.request(), ctx),
        Condition::DetectorWeakened => detector_weakened(&record.request()),
        Condition::GrantsEverything => grants_everything(&record.request()),
        Condition::SetsDefaultVersion => {
            record.event_name == "SetDefaultPolicyVersion"
                || record
                    .request()
                    .get("setAsDefault")
                    .and_then(Value::as_bool)
                    == Some(true)
        }
        Condition::ReactivatesKey => {
            record.request().get("status").and_then(Value::as_str) == Some("Active")
                && !actor_protected(ctx)
        }
        Condition::UndoesContainment => {
            let request = record.request();
            let inline = request
                .get("policyName")
                .and_then(Value::as_str)
                .is_some_and(|name| CONTAINMENT_POLICIES.contains(&name));
            let managed = request
                .get("policyArn")
                .and_then(Value::as_str)
                .is_some_and(|arn| ctx.config.stack.resources.iter().any(|r| r == arn));
            (inline || managed) && !actor_protected(ctx)
        }
        Condition::FirebreakWritesAllow => {
            let by_firebreak = ctx.actor.canonical_arn().is_some_and(|arn| {
                ctx.config.protection(&arn) == Some(crate::config::Protection::Firebreak)
            });
            by_firebreak
                && policy_document(&record.request())
                    .is_some_and(|doc| statements(&doc).any(|s| effect_is(s, "Allow")))
        }
    }
}

/// Inline policy names Firebreak's containment puts (session revocation, the deny-all of
/// older stacks): deleting one undoes containment.
pub const CONTAINMENT_POLICIES: [&str; 2] = ["AWSRevokeOlderSessions", "FirebreakDenyAll"];

fn actor_protected(ctx: &MatchContext<'_>) -> bool {
    ctx.actor
        .canonical_arn()
        .is_some_and(|arn| ctx.config.protection(&arn).is_some())
}

/// The request fields that name the resource a call changes, across the services whose calls
/// can silence or subvert Firebreak.
const RESOURCE_FIELDS: [&str; 14] = [
    "functionName",
    "name",
    "rule",
    "eventBusName",
    "stackName",
    "bucketName",
    "topicArn",
    "subscriptionArn",
    "keyId",
    "roleName",
    "policyArn",
    "queueUrl",
    "logGroupName",
    "detectorId",
];

/// Whether a request names one of Firebreak's own resources: by exact ARN, or by the name the
/// service takes when the call is made in that resource's account.
fn targets_firebreak(request: &Value, ctx: &MatchContext<'_>) -> bool {
    let own: Vec<&str> = ctx
        .config
        .stack
        .resources
        .iter()
        .chain(&ctx.config.protect.firebreak_roles)
        .map(String::as_str)
        .chain([
            ctx.config.stack.pager_topic_arn.as_str(),
            ctx.config.stack.ticket_topic_arn.as_str(),
        ])
        .filter(|a| !a.is_empty())
        .collect();
    let bucket = ctx.config.stack.evidence_bucket.as_str();
    RESOURCE_FIELDS
        .iter()
        .filter_map(|field| request.get(*field).and_then(Value::as_str))
        .filter(|v| !v.is_empty())
        .any(|value| {
            (!bucket.is_empty() && value == bucket)
                || own
                    .iter()
                    .any(|arn| names_resource(value, arn, ctx.account))
        })
}

/// Whether `value` (an ARN, a name, a subscription ARN, a queue URL) names the resource `arn`.
fn names_resource(value: &str, arn: &str, account: &str) -> bool {
    if value == arn {
        return true;
    }
    // Subscriptions are `<topic ARN>:<id>`.
    if arn.starts_with("arn:") && arn.contains(":sns:") && value.starts_with(&format!("{arn}:")) {
        return true;
    }
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some(service), Some(_), Some(owner), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    // A bare name is another account's resource when the call was made elsewhere.
    if !owner.is_empty() && owner != "*" && owner != account {
        return false;
    }
    let name = match service {
        // function:NAME, rule/[bus/]NAME, stack/NAME/id, key/ID, role/[path/]NAME, a bucket.
        "lambda" => resource.strip_prefix("function:"),
        "cloudformation" => resource
            .strip_prefix("stack/")
            .and_then(|r| r.split('/').next()),
        "s3" => Some(resource),
        _ => resource.rsplit(['/', ':']).next(),
    };
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return false;
    };
    // A queue URL ends with the queue's name; anything else is the name itself.
    let given = if value.starts_with("https://") {
        value.rsplit('/').next().unwrap_or(value)
    } else {
        value
    };
    given == name
}

fn detector_weakened(request: &Value) -> bool {
    if request.get("enable").and_then(Value::as_bool) == Some(false) {
        return true;
    }
    let features = request
        .get("features")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let disabled = |v: &Value| v.get("status").and_then(Value::as_str) == Some("DISABLED");
    let feature_off = features.clone().any(|f| {
        disabled(f)
            || f.get("additionalConfiguration")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(disabled))
    });
    let source_off = request
        .get("dataSources")
        .and_then(Value::as_object)
        .is_some_and(|sources| {
            sources.values().any(|v| {
                v.get("enable").and_then(Value::as_bool) == Some(false)
                    || v.pointer("/auditLogs/enable").and_then(Value::as_bool) == Some(false)
                    || v.pointer("/scanEc2InstanceWithFindings/ebsVolumes/enable")
                        .and_then(Value::as_bool)
                        == Some(false)
            })
        });
    feature_off || source_off
}

/// AdministratorAccess attached, or a policy document with an `Allow` of every action on
/// every resource.
fn grants_everything(request: &Value) -> bool {
    let admin = request
        .get("policyArn")
        .and_then(Value::as_str)
        .is_some_and(|arn| arn.ends_with(":policy/AdministratorAccess"));
    admin
        || policy_document(request).is_some_and(|doc| {
            statements(&doc).any(|s| {
                effect_is(s, "Allow")
                    && strings(s.get("Action")).any(|a| a == "*" || a == "*:*")
                    && strings(s.get("Resource")).any(|r| r == "*")
            })
        })
}

/// The policy document of an IAM request (a JSON string, sometimes URL-encoded).
fn policy_document(request: &Value) -> Option<Value> {
    match request.get("policyDocument")? {
        Value::String(text) => serde_json::from_str(text)
            .ok()
            .or_else(|| serde_json::from_str(&percent_decode(text)).ok()),
        other => Some(other.clone()),
    }
}

fn statements(policy: &Value) -> impl Iterator<Item = &Value> {
    let list: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    list.into_iter()
}

fn effect_is(statement: &Value, effect: &str) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some(effect)
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let list: Vec<&str> = match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
}

/// Image ids of a RunInstances request (`instancesSet.items[].imageId`, or a top-level `imageId`).
fn ami_not_allowed(request: &Value, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return false;
    }
    let items = request
        .pointer("/instancesSet/items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("imageId"));
    items
        .chain(request.get("imageId"))
        .filter_map(Value::as_str)
        .any(|image| !allowed.iter().any(|a| a == image))
}

/// Whether RunInstances asks for a costly family or for many instances at once. The count is
/// each item's `maxCount` (else `minCount`), summed.
fn costly_launch(request: &Value, response: &Value, launches: &crate::config::Launches) -> bool {
    // A launch through a launch template names no type in the request; the instances that
    // started do, in the response.
    let launched = response
        .pointer("/instancesSet/items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("instanceType"));
    let costly = |t: &Value| {
        t.as_str().is_some_and(|t| {
            let family = t.split('.').next().unwrap_or(t);
            launches
                .costly_families
                .iter()
                .any(|c| c.eq_ignore_ascii_case(family))
        })
    };
    if request
        .get("instanceType")
        .into_iter()
        .chain(launched)
        .any(costly)
    {
        return true;
    }
    let count: u64 = request
        .pointer("/instancesSet/items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let count = |key: &str| {
                item.get(key).and_then(|n| {
                    n.as_u64()
                        .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                })
            };
            count("maxCount").or_else(|| count("minCount"))
        })
        .fold(0u64, u64::saturating_add);
    launches.max_instances > 0 && count >= launches.max_instances
}

/// Whether a trust policy (a JSON string in the request, sometimes URL-encoded) lets an AWS
/// principal of another account, or anyone, assume the role.
fn trusts_other_account(request: &Value, own_account: &str) -> bool {
    let Some(doc) = request
        .get("assumeRolePolicyDocument")
        .or_else(|| request.get("policyDocument"))
    else {
        return false;
    };
    let policy: Value = match doc {
        Value::String(text) => match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => match serde_json::from_str(&percent_decode(text)) {
                Ok(v) => v,
                // An unreadable trust policy on a new role is itself worth a look.
                Err(_) => return true,
            },
        },
        other => other.clone(),
    };
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    statements
        .into_iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .filter_map(|s| s.get("Principal"))
        .any(|principal| match principal {
            Value::String(s) => s == "*",
            Value::Object(map) => map.get("AWS").is_some_and(|aws| {
                let values: Vec<&str> = match aws {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                values
                    .into_iter()
                    .any(|v| principal_account(v) != Some(own_account))
            }),
            _ => false,
        })
}

/// `arn:aws:iam::123456789012:root` / `123456789012` → the account id; `*` → none.
fn principal_account(value: &str) -> Option<&str> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value);
    }
    let mut parts = value.splitn(6, ':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(_), Some(_), Some(_), Some(account)) if !account.is_empty() => {
            Some(account)
        }
        _ => None,
    }
}

fn selectors_reduce(request: &Value) -> bool {
    if request
        .get("advancedEventSelectors")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return true;
    }
    request
        .get("eventSelectors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|sel| {
            sel.get("includeManagementEvents").and_then(Value::as_bool) == Some(false)
                || sel
                    .get("readWriteType")
                    .and_then(Value::as_str)
                    .is_some_and(|rw| rw != "All")
        })
}

/// The user pool a Cognito record is about, wherever the service put it.
pub(crate) fn cognito_pool_id(record: &Record<'_>) -> Option<String> {
    let from = |v: Value| {
        v.get("userPoolId")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    from(record.request())
        .or_else(|| from(record.additional()))
        .or_else(|| {
            record.resources.iter().flatten().find_map(|r| {
                r.arn
                    .as_deref()
                    .and_then(|arn| arn.split_once(":userpool/"))
                    .map(|(_, id)| id.to_string())
            })
        })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The suffix of every AWS service's CloudTrail `eventSource`.
const EVENT_SOURCE_SUFFIX: &str = ".amazonaws.com";

/// Services AWS has delivered CloudTrail records of under a second `source` besides `aws.`
/// followed by their `eventSource` host label: `(eventSource label, the other source)`.
/// CloudWatch's API calls (`monitoring.amazonaws.com`) are `aws.monitoring` in EventBridge's
/// reference and `aws.cloudwatch` in events seen delivered; both are AWS's own (no customer can
/// put an `aws.` source), so both are listed and both accepted.
const SOURCE_ALIASES: &[(&str, &str)] = &[("monitoring", "aws.cloudwatch")];

/// The EventBridge `source` under which AWS delivers a CloudTrail record whose `eventSource` is
/// `event_source` (`iam.amazonaws.com` → `aws.iam`, `monitoring.amazonaws.com` →
/// `aws.monitoring`; [`eventbridge_sources`] adds the other sources some services are delivered
/// under). `None` for anything that is not one service's host name
/// (`<label>.amazonaws.com`, the label in lower-case letters, digits and hyphens), so no input
/// maps to a partner source (`aws.partner/…`) or to a source with a dot or slash in it.
///
/// One function for the template's rules (`tests/patterns.rs` checks each rule's `source` list is
/// its `eventSource` list mapped by this) and for triage, which refuses a CloudTrail detail type
/// whose envelope `source` is not this.
pub fn eventbridge_source(event_source: &str) -> Option<String> {
    let label = event_source.strip_suffix(EVENT_SOURCE_SUFFIX)?;
    let well_formed = label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && label
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    Some(format!("aws.{label}"))
}

/// Every EventBridge `source` AWS delivers a CloudTrail record of `event_source` under: the one
/// [`eventbridge_source`] gives, then any other AWS has used for the service. Empty where that
/// gives none.
pub fn eventbridge_sources(event_source: &str) -> Vec<String> {
    let Some(primary) = eventbridge_source(event_source) else {
        return Vec::new();
    };
    let label = event_source.trim_end_matches(EVENT_SOURCE_SUFFIX);
    let mut sources = vec![primary];
    sources.extend(
        SOURCE_ALIASES
            .iter()
            .filter(|(from, _)| *from == label)
            .map(|(_, other)| other.to_string()),
    );
    sources
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn eventbridge_sources_of_cloudtrail_event_sources() {
        for (event_source, source) in [
            ("iam.amazonaws.com", "aws.iam"),
            ("cloudtrail.amazonaws.com", "aws.cloudtrail"),
            ("cognito-idp.amazonaws.com", "aws.cognito-idp"),
            ("monitoring.amazonaws.com", "aws.monitoring"),
            ("signin.amazonaws.com", "aws.signin"),
            ("guardduty.amazonaws.com", "aws.guardduty"),
            ("s3.amazonaws.com", "aws.s3"),
        ] {
            assert_eq!(
                eventbridge_source(event_source).as_deref(),
                Some(source),
                "{event_source}"
            );
        }
        // Nothing that is not one service's host name maps to a source: no partner source, no
        // dot or slash smuggled in, no empty or upper-case label, no other suffix.
        for bad in [
            "",
            ".amazonaws.com",
            "partner/evil.amazonaws.com",
            "aws.partner/evil.amazonaws.com",
            "evil.iam.amazonaws.com",
            "IAM.amazonaws.com",
            "-iam.amazonaws.com",
            "iam.amazonaws.com.evil.example",
            "iam.amazonaws.co",
            "iam",
            "iam .amazonaws.com",
        ] {
            assert_eq!(eventbridge_source(bad), None, "{bad:?}");
            assert!(eventbridge_sources(bad).is_empty(), "{bad:?}");
        }
        assert_eq!(
            eventbridge_sources("monitoring.amazonaws.com"),
            ["aws.monitoring", "aws.cloudwatch"]
        );
        assert_eq!(eventbridge_sources("iam.amazonaws.com"), ["aws.iam"]);
    }

    #[test]
    fn every_rule_source_maps_to_an_aws_source() {
        for rule in RuleSet::builtin().unwrap().rules() {
            let source = eventbridge_source(&rule.source)
                .unwrap_or_else(|| panic!("{}: {:?} maps to no source", rule.name, rule.source));
            assert!(
                source.starts_with("aws.") && !source.contains('/'),
                "{source}"
            );
        }
    }

    #[test]
    fn builtin_table_parses_and_is_indexed() {
        let rules = RuleSet::builtin().unwrap();
        assert!(rules.rules().len() >= 20);
        assert!(rules.index["cloudtrail.amazonaws.com"].contains_key("StopLogging"));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let text = "[[ioc]]\nname='a'\ncategory='c'\nsource='s'\nevents=['E']\ncondition='always'\nseverity='S1'\nwhy='w'\n";
        let twice = format!("{text}{text}");
        let err = RuleSet::from_toml(&twice).unwrap_err();
        assert!(err.to_string().starts_with("ioc[1].name"), "{err}");
    }

    #[test]
    fn ami_rule() {
        let allowed = vec!["ami-1".to_string()];
        let req = |id: &str| json!({"instancesSet": {"items": [{"imageId": id, "minCount": 1}]}});
        assert!(ami_not_allowed(&req("ami-2"), &allowed));
        assert!(!ami_not_allowed(&req("ami-1"), &allowed));
        assert!(
            !ami_not_allowed(&req("ami-2"), &[]),
            "an empty allow-list turns the rule off"
        );
        assert!(!ami_not_allowed(
            &json!({"launchTemplate": {"launchTemplateId": "lt-1"}}),
            &allowed
        ));
    }

    #[test]
    fn trust_rule() {
        let doc = |p: Value| json!({"assumeRolePolicyDocument": json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": p, "Action": "sts:AssumeRole"}]}).to_string()});
        assert!(trusts_other_account(
            &doc(json!({"AWS": "arn:aws:iam::999988887777:root"})),
            "111122223333"
        ));
        assert!(trusts_other_account(
            &doc(json!({"AWS": ["111122223333", "999988887777"]})),
            "111122223333"
        ));
        assert!(trusts_other_account(&doc(json!("*")), "111122223333"));
        assert!(trusts_other_account(
            &doc(json!({"AWS": "*"})),
            "111122223333"
        ));
        assert!(!trusts_other_account(
            &doc(json!({"AWS": "arn:aws:iam::111122223333:root"})),
            "111122223333"
        ));
        assert!(!trusts_other_account(
            &doc(json!({"Service": "ec2.amazonaws.com"})),
            "111122223333"
        ));
        let encoded = json!({"policyDocument": "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22999988887777%22%7D%7D%5D%7D"});
        assert!(trusts_other_account(&encoded, "111122223333"));
    }

    #[test]
    fn selectors_rule() {
        assert!(selectors_reduce(
            &json!({"eventSelectors": [{"readWriteType": "WriteOnly", "includeManagementEvents": true}]})
        ));
        assert!(selectors_reduce(
            &json!({"eventSelectors": [{"readWriteType": "All", "includeManagementEvents": false}]})
        ));
        assert!(selectors_reduce(
            &json!({"advancedEventSelectors": [{"name": "x"}]})
        ));
        assert!(!selectors_reduce(
            &json!({"eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true}]})
        ));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
