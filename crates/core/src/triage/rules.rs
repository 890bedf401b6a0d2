//! Runbook indicators of compromise as data: `rules/iocs.toml`, embedded at build time, read
//! once into a [`RuleSet`] indexed by event source and name.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::names::world_wide;
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
    /// PutBucketLogging whose status has no `LoggingEnabled`: access logging removed.
    LoggingRemoved,
    /// A GuardDuty filter whose action archives what it matches.
    ArchivesFindings,
    /// A call on one of the trail's log buckets (`trail.buckets`).
    OnTrailBucket,
    /// An image, snapshot or database snapshot shared with another account or with everyone.
    SharesOutside,
    /// A resource policy allowing another account or anyone; an ACL granting everyone.
    GrantsOutside,
    /// Ingress opened to `0.0.0.0/0` or `::/0` on an administration port (or every port).
    OpenToWorldAdmin,
    /// Ingress opened to `0.0.0.0/0` or `::/0` on ports none of which is an administration port.
    OpenToWorldOther,
    /// A network ACL entry allowing every address in.
    AclOpensWorld,
    /// A Lambda permission for `*` (outside an organisation) or another account.
    LambdaPrincipalOutside,
    /// A function configuration that sets its layers.
    ChangesLayers,
    /// A function URL with auth type `NONE`.
    AuthNone,
    /// ModifyInstanceAttribute setting the user data.
    SetsUserData,
    /// A Systems Manager command or session by a caller neither protected nor in
    /// `ssm.allowed_principals`.
    SsmNotAllowed,
    /// A trust policy letting any subject of a web-identity issuer assume the role.
    TrustsOpenWebIdentity,
    /// GetParameters decrypting at least [`MANY_PARAMETERS`] names in one call.
    DecryptsMany,
    /// PutBucketVersioning with status `Suspended`.
    SuspendsVersioning,
    /// A lifecycle rule expiring every object of the bucket.
    ExpiresEverything,
    /// Default encryption with a KMS key of another account.
    OutsideKmsKey,
    /// A bucket policy denying everyone everything, with no condition.
    DeniesEveryone,
    /// The rule or role named is one of the forwarders' (`firebreak-forward*`).
    TargetsForwarder,
}

/// The name every forwarder rule and role starts with (infra/forwarder.yaml).
pub const FORWARDER_PREFIX: &str = "firebreak-forward";

/// How many decrypted parameters in one GetParameters call make a bulk read.
pub const MANY_PARAMETERS: usize = 10;

/// Ports whose exposure to the internet is an administration or data-store door.
pub const ADMIN_PORTS: [u16; 25] = [
    22, 23, 3389, 5985, 5986, 3306, 5432, 1433, 1521, 6379, 9200, 27017, 2375, 2376, 6443, 11211,
    5900, 445, 135, 139, 2049, 2379, 2380, 9092, 10250,
];

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
            Condition::LoggingRemoved => "logging status without LoggingEnabled",
            Condition::ArchivesFindings => "filter action ARCHIVE",
            Condition::OnTrailBucket => "bucket in trail.buckets",
            Condition::SharesOutside => "shared with another account or all",
            Condition::GrantsOutside => "allows another account or anyone",
            Condition::OpenToWorldAdmin => "0.0.0.0/0 or ::/0 on an admin port",
            Condition::OpenToWorldOther => "0.0.0.0/0 or ::/0 on other ports",
            Condition::AclOpensWorld => "inbound allow from 0.0.0.0/0 or ::/0",
            Condition::LambdaPrincipalOutside => "principal * or another account",
            Condition::ChangesLayers => "layers set",
            Condition::AuthNone => "authType NONE",
            Condition::SetsUserData => "userData set",
            Condition::SsmNotAllowed => "caller not in ssm.allowed_principals, not protected",
            Condition::TrustsOpenWebIdentity => "web identity without a subject condition",
            Condition::DecryptsMany => "withDecryption, 10 or more names",
            Condition::SuspendsVersioning => "status Suspended",
            Condition::ExpiresEverything => "expiration on the whole bucket",
            Condition::OutsideKmsKey => "KMS key of another account",
            Condition::DeniesEveryone => "Deny * to everyone, no condition",
            Condition::TargetsForwarder => "names a firebreak-forward* rule or role",
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
    /// The MITRE ATT&CK techniques it detects (ids named in `rules/attack.toml`; empty where none
    /// fits).
    pub attack: Vec<String>,
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

    /// Whether any rule is about this call at all (before its condition): a call no rule names
    /// can trip an indicator only when root makes it.
    pub fn names_call(&self, event_source: &str, event_name: &str) -> bool {
        self.index
            .get(event_source)
            .is_some_and(|by_name| by_name.contains_key(event_name))
            || self.prefixes.get(event_source).is_some_and(|p| {
                p.iter()
                    .any(|(prefix, _)| event_name.starts_with(prefix.as_str()))
            })
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
                .is_some_and(|name| {
                    CONTAINMENT_POLICIES.contains(&name)
                        || crate::action::plan::is_session_policy_name(name)
                });
            let managed = request
                .get("policyArn")
                .and_then(Value::as_str)
                .is_some_and(|arn| ctx.config.stack.resources.iter().any(|r| r == arn));
            (inline || managed) && !actor_protected(ctx)
        }
        Condition::LoggingRemoved => !record
            .request()
            .get("BucketLoggingStatus")
            .and_then(|s| s.get("LoggingEnabled"))
            .is_some_and(Value::is_object),
        Condition::ArchivesFindings => match record.request().get("action") {
            Some(a) => a
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case("ARCHIVE")),
            // An UpdateFilter that leaves the action as it was may widen an archiving filter.
            None => record.event_name == "UpdateFilter",
        },
        Condition::OnTrailBucket => record
            .request()
            .get("bucketName")
            .and_then(Value::as_str)
            .is_some_and(|b| ctx.config.trail.buckets.iter().any(|t| t == b)),
        Condition::SharesOutside => shares_outside(&record.request(), ctx.account),
        Condition::GrantsOutside => grants_outside(&record.request(), ctx.account),
        Condition::OpenToWorldAdmin => world_open(&record.request()).0,
        Condition::OpenToWorldOther => world_open(&record.request()).1,
        Condition::AclOpensWorld => acl_opens_world(&record.request()),
        Condition::LambdaPrincipalOutside => {
            lambda_principal_outside(&record.request(), ctx.account)
        }
        Condition::ChangesLayers => record.request().get("layers").is_some(),
        Condition::AuthNone => {
            record.request().get("authType").and_then(Value::as_str) == Some("NONE")
        }
        Condition::SetsUserData => record.request().get("userData").is_some(),
        Condition::SsmNotAllowed => {
            let allowed = ctx.actor.canonical_arn().is_some_and(|arn| {
                ctx.config
                    .ssm
                    .allowed_principals
                    .iter()
                    .any(|p| pattern_matches(p, &arn))
            });
            !allowed && !actor_protected(ctx)
        }
        Condition::TrustsOpenWebIdentity => trusts_open_web_identity(&record.request()),
        Condition::DecryptsMany => {
            let request = record.request();
            let flag = |k: &str| request.get(k).and_then(Value::as_bool) == Some(true);
            flag("withDecryption")
                && (flag("recursive")
                    || request
                        .get("names")
                        .and_then(Value::as_array)
                        .is_some_and(|n| n.len() >= MANY_PARAMETERS))
        }
        Condition::SuspendsVersioning => {
            record
                .request()
                .get("VersioningConfiguration")
                .and_then(|v| v.get("Status"))
                .and_then(Value::as_str)
                == Some("Suspended")
        }
        Condition::ExpiresEverything => expires_everything(&record.request()),
        Condition::OutsideKmsKey => outside_kms_key(&record.request(), ctx.account),
        Condition::DeniesEveryone => denies_everyone(&record.request(), ctx.account),
        Condition::TargetsForwarder => {
            let request = record.request();
            ["name", "rule", "roleName"]
                .iter()
                .filter_map(|k| request.get(*k).and_then(Value::as_str))
                .any(|n| n.starts_with(FORWARDER_PREFIX))
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
    // The quarantine role is Firebreak's in every account (the stack's and every member
    // role stack's): one given an Allow makes every quarantined instance's profile useful again.
    let quarantine = format!(
        "arn:*:iam::*:role/{}",
        ctx.config.accounts.quarantine_profile
    );
    // So is the memory document, in every account and region.
    let document = format!(
        "arn:*:ssm:*:*:document/{}",
        crate::action::memory::DOCUMENT_NAME
    );
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
            quarantine.as_str(),
            document.as_str(),
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

/// A list CloudTrail records either as `{"items": [...]}` or as a bare array (or one object).
pub(crate) fn items(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Object(map)) if map.contains_key("items") => items(map.get("items")),
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// An image's launch permission or a snapshot's volume permission added for another account
/// or for `all`; a database snapshot's `restore` attribute given to another account or `all`.
fn shares_outside(request: &Value, own_account: &str) -> bool {
    // `all` is never an account id, so "not this account" covers it.
    let outside = |v: &str| v != own_account;
    let ec2 = ["launchPermission", "createVolumePermission"]
        .iter()
        .filter_map(|k| request.get(*k))
        .flat_map(|perm| items(perm.get("add")))
        .any(|item| {
            item.get("group").and_then(Value::as_str) == Some("all")
                || item
                    .get("userId")
                    .and_then(Value::as_str)
                    .is_some_and(outside)
        });
    let rds = request
        .get("attributeName")
        .and_then(Value::as_str)
        .is_some_and(|a| a.eq_ignore_ascii_case("restore"))
        && strings(request.get("valuesToAdd")).any(outside);
    ec2 || rds
}

/// The resource policy a request puts: S3's `bucketPolicy` (an object), KMS's `policy`, ECR's
/// `policyText` (JSON strings).
fn resource_policy(request: &Value) -> Option<Value> {
    let doc = request
        .get("bucketPolicy")
        .or_else(|| request.get("policy"))
        .or_else(|| request.get("policyText"))?;
    match doc {
        Value::String(text) => serde_json::from_str(text)
            .ok()
            .or_else(|| serde_json::from_str(&percent_decode(text)).ok()),
        other => Some(other.clone()),
    }
}

/// The AWS principals of a statement (`"*"` for `Principal: "*"`).
fn aws_principals(statement: &Value) -> Vec<&str> {
    match statement.get("Principal") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Object(map)) => strings(map.get("AWS")).collect(),
        _ => Vec::new(),
    }
}

/// A policy allowing anyone (with no condition narrowing it) or another account; an ACL granting
/// all users or all authenticated AWS users.
fn grants_outside(request: &Value, own_account: &str) -> bool {
    let policy = resource_policy(request).is_some_and(|doc| {
        statements(&doc).filter(|s| effect_is(s, "Allow")).any(|s| {
            // Allow with NotPrincipal allows everyone but the few it names.
            s.get("NotPrincipal").is_some()
                || aws_principals(s).into_iter().any(|p| {
                    if p == "*" {
                        !narrowed_to_own(s.get("Condition"), own_account)
                    } else {
                        principal_account(p).is_some_and(|a| a != own_account)
                    }
                })
        })
    });
    // A KMS grant to a principal of another account.
    let grant = request
        .get("granteePrincipal")
        .and_then(Value::as_str)
        .is_some_and(|p| principal_account(p).is_some_and(|a| a != own_account));
    const PUBLIC_ACLS: [&str; 3] = ["public-read", "public-read-write", "authenticated-read"];
    let canned = strings(request.get("x-amz-acl")).any(|a| PUBLIC_ACLS.contains(&a));
    let text = request.to_string();
    let grants_group = text.contains("acs.amazonaws.com/groups/global/AllUsers")
        || text.contains("acs.amazonaws.com/groups/global/AuthenticatedUsers");
    policy || canned || grants_group || grant
}

/// Whether a statement's condition narrows `Principal: *` to this account or organisation (as
/// S3 judges "public"): an organisation, VPC or source key with any value, or an account key
/// whose every value is this account. Any other condition (TLS, time, a user agent) narrows
/// nothing.
fn narrowed_to_own(condition: Option<&Value>, own_account: &str) -> bool {
    const ANY_VALUE: [&str; 6] = [
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:sourceorgid",
        "aws:sourcevpce",
        "aws:sourcevpc",
        "aws:sourcearn",
    ];
    const ACCOUNT: [&str; 4] = [
        "aws:principalaccount",
        "aws:sourceaccount",
        "kms:calleraccount",
        "aws:resourceaccount",
    ];
    let Some(Value::Object(ops)) = condition else {
        return false;
    };
    ops.iter()
        .filter(|(op, _)| {
            let op = op.to_ascii_lowercase();
            !op.contains("not") && !op.contains("ifexists")
        })
        .filter_map(|(_, keys)| keys.as_object())
        .flat_map(|keys| keys.iter())
        .any(|(key, values)| {
            let key = key.to_ascii_lowercase();
            ANY_VALUE.contains(&key.as_str())
                || (ACCOUNT.contains(&key.as_str())
                    && strings(Some(values)).all(|v| v == own_account)
                    && strings(Some(values)).next().is_some())
        })
}

/// Whether an ingress request opens to the whole internet (a) an administration port or every
/// port, (b) only other ports.
fn world_open(request: &Value) -> (bool, bool) {
    let mut permissions: Vec<&Value> = items(request.get("ipPermissions"));
    if request.get("cidrIp").is_some() || request.get("ipProtocol").is_some() {
        permissions.push(request);
    }
    let (mut admin, mut other) = (false, false);
    for p in permissions {
        let v4 = items(p.get("ipRanges"))
            .into_iter()
            .filter_map(|r| r.get("cidrIp"))
            .chain(p.get("cidrIp"))
            .any(|c| c.as_str().is_some_and(world_wide));
        let v6 = items(p.get("ipv6Ranges"))
            .into_iter()
            .filter_map(|r| r.get("cidrIpv6"))
            .any(|c| c.as_str().is_some_and(world_wide));
        if !(v4 || v6) {
            continue;
        }
        let protocol = p
            .get("ipProtocol")
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default();
        let port = |k: &str| {
            p.get(k).and_then(|n| {
                n.as_i64()
                    .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
            })
        };
        let every_port = matches!(protocol.as_str(), "-1" | "all");
        let covers_admin = match (port("fromPort"), port("toPort")) {
            _ if every_port => true,
            (Some(from), Some(to)) if matches!(protocol.as_str(), "tcp" | "udp" | "6" | "17") => {
                // -1 … -1 on TCP is every port.
                (from < 0 && to < 0)
                    || ADMIN_PORTS
                        .iter()
                        .any(|&a| i64::from(a) >= from && i64::from(a) <= to)
            }
            (None, None) if matches!(protocol.as_str(), "tcp" | "udp" | "6" | "17") => true,
            _ => false,
        };
        if covers_admin {
            admin = true;
        } else {
            other = true;
        }
    }
    (admin, other)
}

fn acl_opens_world(request: &Value) -> bool {
    let egress = request
        .get("egress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let allow = request
        .get("ruleAction")
        .and_then(Value::as_str)
        .is_some_and(|a| a.eq_ignore_ascii_case("allow"));
    let world = ["cidrBlock", "ipv6CidrBlock"]
        .iter()
        .filter_map(|k| request.get(*k).and_then(Value::as_str))
        .any(world_wide);
    !egress && allow && world
}

fn lambda_principal_outside(request: &Value, own_account: &str) -> bool {
    let Some(principal) = request.get("principal").and_then(Value::as_str) else {
        return false;
    };
    if principal == "*" {
        return request.get("principalOrgID").is_none();
    }
    principal_account(principal).is_some_and(|a| a != own_account)
}

/// A statement allowing `AssumeRoleWithWebIdentity` to a federated issuer with no condition on
/// the token's subject, or with a subject that is a bare wildcard (`*`, `repo:*`): any user of
/// the issuer (any GitHub repository, any Kubernetes service account) may assume the role.
fn trusts_open_web_identity(request: &Value) -> bool {
    let Some(doc) = request
        .get("assumeRolePolicyDocument")
        .or_else(|| request.get("policyDocument"))
    else {
        return false;
    };
    let Some(policy) = (match doc {
        Value::String(text) => serde_json::from_str::<Value>(text)
            .ok()
            .or_else(|| serde_json::from_str(&percent_decode(text)).ok()),
        other => Some(other.clone()),
    }) else {
        return false;
    };
    statements(&policy).any(|s| {
        let web = strings(s.get("Action"))
            .any(|a| pattern_matches(&a.to_ascii_lowercase(), "sts:assumerolewithwebidentity"));
        let federated: Vec<&str> = match s.get("Principal") {
            Some(Value::Object(map)) => strings(map.get("Federated")).collect(),
            _ => Vec::new(),
        };
        // Cognito identity pools are narrowed by their `aud` (the pool), not a subject.
        let cognito = federated
            .iter()
            .all(|f| *f == "cognito-identity.amazonaws.com");
        if !effect_is(s, "Allow") || !web || federated.is_empty() || cognito {
            return false;
        }
        let subjects: Vec<&str> = match s.get("Condition") {
            Some(Value::Object(ops)) => ops
                .values()
                .filter_map(Value::as_object)
                .flat_map(|keys| {
                    keys.iter()
                        .filter(|(k, _)| k.ends_with(":sub"))
                        .flat_map(|(_, v)| strings(Some(v)))
                })
                .collect(),
            _ => Vec::new(),
        };
        // Open when the subject's literal part before its first wildcard is too short to name
        // an owner (`*`, `repo:*`, `repo:r*`).
        let open = |v: &str| {
            let rest = v.split_once(':').map_or(v, |(_, r)| r);
            let short = |s: &str| s.find(['*', '?']).is_some_and(|i| i < 3);
            short(v) || short(rest)
        };
        subjects.is_empty() || subjects.iter().any(|v| open(v))
    })
}

/// The rules of a lifecycle configuration (`Rule` is one object or a list).
fn lifecycle_rules(request: &Value) -> Vec<&Value> {
    items(
        request
            .get("LifecycleConfiguration")
            .and_then(|c| c.get("Rule")),
    )
}

/// An enabled rule expiring objects (current or noncurrent) with no filter narrowing it.
fn expires_everything(request: &Value) -> bool {
    lifecycle_rules(request).into_iter().any(|rule| {
        let enabled = rule.get("Status").and_then(Value::as_str) == Some("Enabled");
        let expires =
            rule.get("Expiration").is_some() || rule.get("NoncurrentVersionExpiration").is_some();
        let empty_prefix = |v: Option<&Value>| match v {
            None => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        // A size filter narrows nothing that matters (`ObjectSizeGreaterThan: 0` is everything).
        let narrows_nothing = |f: &serde_json::Map<String, Value>| {
            f.iter().all(|(k, v)| match k.as_str() {
                "Prefix" => empty_prefix(Some(v)),
                "ObjectSizeGreaterThan" | "ObjectSizeLessThan" => true,
                _ => false,
            })
        };
        let whole = empty_prefix(rule.get("Prefix"))
            && match rule.get("Filter") {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Object(f)) => match f.get("And") {
                    Some(Value::Object(and)) => f.len() == 1 && narrows_nothing(and),
                    _ => narrows_nothing(f),
                },
                _ => false,
            };
        enabled && expires && whole
    })
}

/// Default encryption naming a KMS key (by ARN) of another account.
fn outside_kms_key(request: &Value, own_account: &str) -> bool {
    let config = request.get("ServerSideEncryptionConfiguration");
    items(config.and_then(|c| c.get("Rule")))
        .into_iter()
        .filter_map(|r| r.get("ApplyServerSideEncryptionByDefault"))
        .filter_map(|d| d.get("KMSMasterKeyID").and_then(Value::as_str))
        .any(|key| principal_account(key).is_some_and(|a| a != own_account))
}

/// A bucket policy denying every action to everyone (or to this account) with no condition:
/// the owner locked out of their own data.
fn denies_everyone(request: &Value, own_account: &str) -> bool {
    let Some(doc) = request.get("bucketPolicy").and_then(|d| match d {
        Value::String(text) => serde_json::from_str::<Value>(text).ok(),
        other => Some(other.clone()),
    }) else {
        return false;
    };
    statements(&doc).any(|s| {
        let everything = strings(s.get("Action"))
            .any(|a| a == "*" || a.eq_ignore_ascii_case("s3:*"))
            || s.get("NotAction").is_some();
        let everyone = aws_principals(s)
            .into_iter()
            .any(|p| p == "*" || principal_account(p) == Some(own_account));
        effect_is(s, "Deny")
            && s.get("NotPrincipal").is_none()
            && everything
            && everyone
            && exempts_none_of_own(s.get("Condition"), own_account)
    })
}

/// A deny's condition leaves this account's principals denied: no condition at all, or only
/// "everyone but these" on principal keys, none of which is of this account (the ransom shape:
/// deny all but the attacker's account).
fn exempts_none_of_own(condition: Option<&Value>, own_account: &str) -> bool {
    const PRINCIPAL_KEYS: [&str; 4] = [
        "aws:principalarn",
        "aws:principalaccount",
        "aws:userid",
        "aws:principalorgid",
    ];
    let Some(Value::Object(ops)) = condition else {
        return condition.is_none();
    };
    let mut exempted = Vec::new();
    for (op, keys) in ops {
        let Some(keys) = keys.as_object() else {
            return false;
        };
        if !op.to_ascii_lowercase().contains("not") {
            return false;
        }
        for (key, values) in keys {
            if !PRINCIPAL_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
                return false;
            }
            exempted.extend(strings(Some(values)));
        }
    }
    !exempted.is_empty() && !exempted.iter().any(|v| v.contains(own_account))
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
        let text = "[[ioc]]\nname='a'\ncategory='c'\nsource='s'\nevents=['E']\ncondition='always'\nseverity='S1'\nattack=[]\nwhy='w'\n";
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
    fn world_open_ingress_by_port() {
        let perm = |proto: &str, from: i64, to: i64, cidr: &str| {
            json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": proto,
                "fromPort": from, "toPort": to, "ipRanges": {"items": [{"cidrIp": cidr}]}}]}})
        };
        assert_eq!(world_open(&perm("tcp", 22, 22, "0.0.0.0/0")), (true, false));
        assert_eq!(
            world_open(&perm("tcp", 1, 1024, "0.0.0.0/0")),
            (true, false)
        );
        assert_eq!(world_open(&perm("-1", -1, -1, "0.0.0.0/0")), (true, false));
        assert_eq!(
            world_open(&perm("tcp", 443, 443, "0.0.0.0/0")),
            (false, true)
        );
        assert_eq!(
            world_open(&perm("icmp", -1, -1, "0.0.0.0/0")),
            (false, true)
        );
        assert_eq!(
            world_open(&perm("tcp", 22, 22, "203.0.113.0/24")),
            (false, false)
        );
        let v6 = json!({"ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 3389,
            "toPort": 3389, "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}}]}});
        assert_eq!(world_open(&v6), (true, false));
        // The older flat form of the API.
        let flat = json!({"groupName": "web", "ipProtocol": "tcp", "fromPort": 5432,
            "toPort": 5432, "cidrIp": "0.0.0.0/0"});
        assert_eq!(world_open(&flat), (true, false));
    }

    #[test]
    fn open_web_identity_trusts() {
        let trust = |principal: &str, condition: Value| {
            json!({"roleName": "r", "assumeRolePolicyDocument": json!({"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": principal}, "Condition": condition}]}).to_string()})
        };
        let gh = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";
        let aud = json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}});
        assert!(trusts_open_web_identity(&trust(gh, aud)));
        let any_repo = json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}});
        assert!(trusts_open_web_identity(&trust(gh, any_repo)));
        let org = json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:example-org/*"}});
        assert!(!trusts_open_web_identity(&trust(gh, org)));
        let cognito =
            json!({"StringEquals": {"cognito-identity.amazonaws.com:aud": "eu-west-1:pool"}});
        assert!(!trusts_open_web_identity(&trust(
            "cognito-identity.amazonaws.com",
            cognito
        )));
    }

    #[test]
    fn shares_and_grants_outside() {
        let own = "111122223333";
        let image = |item: Value| json!({"imageId": "ami-1", "launchPermission": {"add": {"items": [item]}}});
        assert!(shares_outside(&image(json!({"group": "all"})), own));
        assert!(shares_outside(
            &image(json!({"userId": "777788889999"})),
            own
        ));
        assert!(!shares_outside(&image(json!({"userId": own})), own));
        let removed = json!({"imageId": "ami-1", "launchPermission": {"remove": {"items": [{"group": "all"}]}}});
        assert!(!shares_outside(&removed, own));
        let rds = json!({"attributeName": "restore", "valuesToAdd": ["all"]});
        assert!(shares_outside(&rds, own));
        let policy = |statement: Value| json!({"bucketName": "b", "bucketPolicy": {"Statement": [statement]}});
        assert!(grants_outside(
            &policy(json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"})),
            own
        ));
        assert!(!grants_outside(
            &policy(
                json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}})
            ),
            own
        ));
        assert!(grants_outside(
            &policy(
                json!({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::777788889999:root"]}})
            ),
            own
        ));
        assert!(!grants_outside(
            &policy(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*"})),
            own
        ));
        assert!(grants_outside(
            &json!({"bucketName": "b", "x-amz-acl": ["public-read"]}),
            own
        ));
        assert!(denies_everyone(
            &policy(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*"})),
            own
        ));
        assert!(!denies_everyone(
            &policy(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}})),
            own
        ));
    }

    /// Shapes a first reading let through: a condition that narrows nothing, half-internet
    /// ranges, the ransom deny, a size-only lifecycle filter, wildcard trust actions.
    #[test]
    fn evasions_of_the_exposure_conditions_are_caught() {
        let own = "111122223333";
        let policy = |statement: Value| json!({"bucketName": "b", "bucketPolicy": {"Statement": [statement]}});
        let tls_only = json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}}});
        assert!(grants_outside(&policy(tls_only), own));
        let org = json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}}});
        assert!(!grants_outside(&policy(org), own));
        let kms = json!({"policy": json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": "kms:Decrypt", "Condition": {"StringEquals": {"kms:CallerAccount": "777788889999"}}}]}).to_string()});
        assert!(grants_outside(&kms, own));
        let not_principal = json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:*"});
        assert!(grants_outside(&policy(not_principal), own));

        let halves = json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp",
            "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/1"}, {"cidrIp": "128.0.0.0/1"}]}}]}});
        assert_eq!(world_open(&halves), (true, false));
        let office = json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp",
            "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "198.51.100.0/24"}]}}]}});
        assert_eq!(world_open(&office), (false, false));
        assert!(acl_opens_world(
            &json!({"ruleAction": "allow", "egress": false, "cidrBlock": "0.0.0.0/2"})
        ));

        let ransom = json!({"Effect": "Deny", "Principal": "*", "Action": "S3:*",
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "777788889999"}}});
        assert!(denies_everyone(&policy(ransom), own));
        let guarded = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/data-admin"}}});
        assert!(!denies_everyone(&policy(guarded), own));

        let sized = json!({"LifecycleConfiguration": {"Rule": {"Status": "Enabled",
            "Filter": {"ObjectSizeGreaterThan": 0}, "Expiration": {"Days": 1}}}});
        assert!(expires_everything(&sized));
        let tmp = json!({"LifecycleConfiguration": {"Rule": {"Status": "Enabled",
            "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}}});
        assert!(!expires_everything(&tmp));

        let trust = |action: &str, sub: &str| {
            json!({"assumeRolePolicyDocument": json!({"Statement": [{"Effect": "Allow", "Action": action,
                "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
                "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": sub}}}]}).to_string()})
        };
        assert!(trusts_open_web_identity(&trust(
            "sts:AssumeRoleWith*",
            "repo:r*"
        )));
        assert!(!trusts_open_web_identity(&trust(
            "sts:AssumeRoleWith*",
            "repo:example-org/*"
        )));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
