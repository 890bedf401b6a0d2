//! Settings of a deployed function: the stack's parameters, passed as `FIREBREAK_*` environment
//! variables by `infra/template.yaml`, turned into one validated [`Config`]. Reading the
//! environment is the binary's job; this module only interprets what it is given.

use firebreak_core::lifecycle::wiring::{self, Wiring};
use firebreak_core::{Config, LockMode, Mode};

/// What a function needs besides its clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The configuration every function shares (same parameters, same decisions).
    pub config: Config,
    /// Firebreak's own event bus.
    pub bus: String,
    /// The security account Firebreak runs in.
    pub home_account: String,
    /// Containment reports what it would do and changes nothing.
    pub dry_run: bool,
    /// Firebreak's own wiring, which the clock checks every hour (set when any
    /// `FIREBREAK_WIRING_*` variable is: the template gives them to the clock function).
    pub wiring: Option<Wiring>,
    /// The failure queues (`FIREBREAK_WIRING_FAILURE_QUEUES`).
    pub failure_queues: Vec<String>,
    /// The clock also runs `firebreak doctor`'s checks every hour (`FIREBREAK_HOURLY_DOCTOR`).
    pub hourly_doctor: bool,
}

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct SettingsError {
    /// The environment variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// The environment variables a function reads, with what each holds.
pub const VARIABLES: &[(&str, &str)] = &[
    ("FIREBREAK_BUS", "name of Firebreak's event bus (required)"),
    (
        "FIREBREAK_HOME_ACCOUNT",
        "the security account's id (required)",
    ),
    (
        "FIREBREAK_EVIDENCE_BUCKET",
        "the Object Lock evidence bucket (required)",
    ),
    ("FIREBREAK_PAGER_TOPIC_ARN", "SNS topic for S1 pages"),
    (
        "FIREBREAK_MEMORY_TOOL_SHA256",
        "SHA-256 of the memory tool at tools/avml-<sha256> in the evidence bucket (empty: none)",
    ),
    (
        "FIREBREAK_MEMORY_SECONDS",
        "bound on one instance's memory capture and upload (30-480, default 300)",
    ),
    (
        "FIREBREAK_FORENSIC_ACCOUNT",
        "account every completed incident snapshot is shared with (empty: none)",
    ),
    (
        "FIREBREAK_FORENSIC_KMS_KEY",
        "KMS key ARN encrypted snapshots are copied under before sharing (empty: not shared)",
    ),
    ("FIREBREAK_TICKET_TOPIC_ARN", "SNS topic for S2 tickets"),
    (
        "FIREBREAK_CONTAINMENT_MODE",
        "auto | approve | dry-run (default auto)",
    ),
    (
        "FIREBREAK_PROTECTED_ARNS",
        "comma-separated ARN patterns never contained",
    ),
    (
        "FIREBREAK_OWN_ROLE_ARNS",
        "comma-separated exact ARNs of Firebreak's own roles",
    ),
    (
        "FIREBREAK_OWN_RESOURCES",
        "comma-separated exact ARNs of Firebreak's own resources (a change to one is S1)",
    ),
    (
        "FIREBREAK_ALLOWED_AMIS",
        "comma-separated AMI ids RunInstances may use",
    ),
    (
        "FIREBREAK_RETENTION_DAYS",
        "evidence retention in days, at least 90",
    ),
    ("FIREBREAK_LOCK_MODE", "COMPLIANCE | GOVERNANCE"),
    ("FIREBREAK_HANDLES_AMAZON_DATA", "true | false"),
    ("FIREBREAK_GDPR_APPLIES", "true | false"),
    (
        "FIREBREAK_DRILLS",
        "true | false: treat GuardDuty sample findings as drills",
    ),
    (
        "FIREBREAK_MEMBER_ROLE",
        "role name the contain function assumes in member accounts",
    ),
    (
        "FIREBREAK_MEMBER_PRESERVE_ROLE",
        "role name the preserve function assumes in member accounts",
    ),
    (
        "FIREBREAK_DENY_POLICY",
        "name of Firebreak's deny-all managed policy (the same in every account)",
    ),
    (
        "FIREBREAK_QUARANTINE_PROFILE",
        "instance profile a compromised instance's is replaced with (the same in every account)",
    ),
    (
        "FIREBREAK_IDENTITY_CENTER_ACCOUNT",
        "account that administers IAM Identity Center (entered through the member role)",
    ),
    (
        "FIREBREAK_IDENTITY_CENTER_REGION",
        "Identity Center's home region",
    ),
    (
        "FIREBREAK_INVITE_ONLY_POOLS",
        "comma-separated Cognito pool ids with no self sign-up",
    ),
    (
        "FIREBREAK_COGNITO_ADMINS",
        "comma-separated ARN patterns allowed to create users there",
    ),
    (
        "FIREBREAK_TRAIL_BUCKETS",
        "comma-separated buckets of the trail's log files (a lifecycle put on one is an incident)",
    ),
    (
        "FIREBREAK_TRAIL_LOGS",
        "s3://bucket[/prefix] of the trail's log files: preserve hunts the principal's activity there",
    ),
    (
        "FIREBREAK_ACTIVITY_DAYS",
        "days of the trail's log files that hunt reads (default 7)",
    ),
    (
        "FIREBREAK_SSM_PRINCIPALS",
        "comma-separated ARN patterns that may SendCommand / StartSession",
    ),
    (
        "FIREBREAK_WIRING_RULES",
        "the clock's self-check: comma-separated <rule-arn>=<target-arn>[|<target-arn>]",
    ),
    (
        "FIREBREAK_WIRING_FUNCTIONS",
        "the clock's self-check: comma-separated <function-arn>=<role-arn>",
    ),
    (
        "FIREBREAK_WIRING_BUCKET_DENY",
        "the clock's self-check: comma-separated Sids of the evidence bucket policy's deny statements",
    ),
    (
        "FIREBREAK_WIRING_FAILURE_QUEUES",
        "for `firebreak doctor` and the clock: comma-separated URLs of the failure queues",
    ),
    (
        "FIREBREAK_HOURLY_DOCTOR",
        "true: the clock runs firebreak doctor's checks (trail, GuardDuty, forwarders, failure queues, subscriptions) every hour and pages what it finds",
    ),
];

impl Settings {
    /// Settings from `lookup` (the environment, in a deployed function).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| {
            get(name).ok_or_else(|| SettingsError {
                name,
                message: "is not set".into(),
            })
        };
        let list = |name: &'static str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let flag = |name: &'static str| -> Result<bool, SettingsError> {
            match get(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("false") | Some("no") => Ok(false),
                Some("true") | Some("yes") => Ok(true),
                Some(other) => Err(SettingsError {
                    name,
                    message: format!("{other:?} is not true or false"),
                }),
            }
        };

        let mut config = Config::default();
        config.stack.evidence_bucket = required("FIREBREAK_EVIDENCE_BUCKET")?;
        config.stack.pager_topic_arn = get("FIREBREAK_PAGER_TOPIC_ARN").unwrap_or_default();
        config.stack.ticket_topic_arn = get("FIREBREAK_TICKET_TOPIC_ARN").unwrap_or_default();
        config.protect.allow = list("FIREBREAK_PROTECTED_ARNS");
        config
            .protect
            .firebreak_roles
            .extend(list("FIREBREAK_OWN_ROLE_ARNS"));
        config.stack.resources = list("FIREBREAK_OWN_RESOURCES");
        config.amis.allowed = list("FIREBREAK_ALLOWED_AMIS");
        if let Some(days) = get("FIREBREAK_RETENTION_DAYS") {
            config.evidence.retention_days = days.parse().map_err(|_| SettingsError {
                name: "FIREBREAK_RETENTION_DAYS",
                message: format!("{days:?} is not a number of days"),
            })?;
        }
        config.evidence.lock_mode = match get("FIREBREAK_LOCK_MODE")
            .map(|m| m.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("COMPLIANCE") => LockMode::Compliance,
            Some("GOVERNANCE") => LockMode::Governance,
            Some(other) => {
                return Err(SettingsError {
                    name: "FIREBREAK_LOCK_MODE",
                    message: format!("{other:?} is not COMPLIANCE or GOVERNANCE"),
                });
            }
        };
        if let Some(sha) = get("FIREBREAK_MEMORY_TOOL_SHA256") {
            config.evidence.memory_tool_sha256 = sha;
        }
        if let Some(seconds) = get("FIREBREAK_MEMORY_SECONDS") {
            config.evidence.memory_seconds = seconds.parse().map_err(|_| SettingsError {
                name: "FIREBREAK_MEMORY_SECONDS",
                message: format!("{seconds:?} is not a number of seconds"),
            })?;
        }
        if let Some(account) = get("FIREBREAK_FORENSIC_ACCOUNT") {
            config.evidence.forensic_account = account;
        }
        if let Some(key) = get("FIREBREAK_FORENSIC_KMS_KEY") {
            config.evidence.forensic_kms_key = key;
        }
        config.obligations.handles_amazon_data = flag("FIREBREAK_HANDLES_AMAZON_DATA")?;
        config.obligations.gdpr_applies = flag("FIREBREAK_GDPR_APPLIES")?;
        config.drills.enabled = flag("FIREBREAK_DRILLS")?;
        if let Some(role) = get("FIREBREAK_MEMBER_ROLE") {
            config.accounts.member_role = role;
        }
        if let Some(role) = get("FIREBREAK_MEMBER_PRESERVE_ROLE") {
            config.accounts.member_preserve_role = role;
        }
        if let Some(policy) = get("FIREBREAK_DENY_POLICY") {
            config.accounts.deny_policy = policy;
        }
        if let Some(profile) = get("FIREBREAK_QUARANTINE_PROFILE") {
            config.accounts.quarantine_profile = profile;
        }
        if let Some(account) = get("FIREBREAK_IDENTITY_CENTER_ACCOUNT") {
            config.accounts.identity_center_account = account;
        }
        if let Some(region) = get("FIREBREAK_IDENTITY_CENTER_REGION") {
            config.accounts.identity_center_region = region;
        }
        config.cognito.invite_only_pools = list("FIREBREAK_INVITE_ONLY_POOLS");
        config.cognito.admin_principals = list("FIREBREAK_COGNITO_ADMINS");
        config.trail.buckets = list("FIREBREAK_TRAIL_BUCKETS");
        config.trail.logs = get("FIREBREAK_TRAIL_LOGS");
        if let Some(days) = get("FIREBREAK_ACTIVITY_DAYS") {
            config.trail.activity_days = days.parse().map_err(|_| SettingsError {
                name: "FIREBREAK_ACTIVITY_DAYS",
                message: format!("{days:?} is not a number of days"),
            })?;
        }
        config.ssm.allowed_principals = list("FIREBREAK_SSM_PRINCIPALS");

        let mut dry_run = false;
        match get("FIREBREAK_CONTAINMENT_MODE")
            .map(|m| m.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("auto") => {}
            Some("approve") => {
                let m = &mut config.modes;
                (
                    m.credentials,
                    m.cognito,
                    m.instance_isolation,
                    m.public_access,
                ) = (Mode::Approve, Mode::Approve, Mode::Approve, Mode::Approve);
            }
            Some("dry-run") => dry_run = true,
            Some(other) => {
                return Err(SettingsError {
                    name: "FIREBREAK_CONTAINMENT_MODE",
                    message: format!("{other:?} is not auto, approve or dry-run"),
                });
            }
        }
        config.validate().map_err(|e| SettingsError {
            name: "FIREBREAK_*",
            message: e.to_string(),
        })?;
        let wiring = expected_wiring(&lookup, &config)?;
        let bus = required("FIREBREAK_BUS")?;
        config.stack.bus = bus.clone();
        Ok(Settings {
            config,
            bus,
            home_account: required("FIREBREAK_HOME_ACCOUNT")?,
            dry_run,
            wiring,
            failure_queues: list("FIREBREAK_WIRING_FAILURE_QUEUES"),
            hourly_doctor: flag("FIREBREAK_HOURLY_DOCTOR")?,
        })
    }
}

/// The wiring the clock checks: the `FIREBREAK_WIRING_*` variables with the variables every
/// function shares (see [`wiring::expected`]); `None` when no `FIREBREAK_WIRING_*` is set.
fn expected_wiring(
    lookup: &impl Fn(&str) -> Option<String>,
    config: &Config,
) -> Result<Option<Wiring>, SettingsError> {
    let variables = VARIABLES
        .iter()
        .filter_map(|(name, _)| lookup(name).map(|v| (name.to_string(), v)))
        .collect();
    wiring::expected(&variables, config).map_err(|(name, message)| SettingsError { name, message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut env: HashMap<String, String> = [
            ("FIREBREAK_BUS", "firebreak"),
            ("FIREBREAK_HOME_ACCOUNT", "111122223333"),
            ("FIREBREAK_EVIDENCE_BUCKET", "evidence"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            env.insert(k.to_string(), v.to_string());
        }
        Settings::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_runbooks() {
        let s = settings(&[]).expect("minimal settings");
        assert_eq!(s.config.modes, Config::default().modes);
        assert_eq!(s.config.evidence.retention_days, 90);
        assert!(!s.dry_run && !s.config.drills.enabled);
    }

    #[test]
    fn lists_flags_and_modes_are_read() {
        let s = settings(&[
            (
                "FIREBREAK_PROTECTED_ARNS",
                "arn:aws:iam::*:role/BreakGlass, arn:aws:iam::*:user/ops",
            ),
            (
                "FIREBREAK_OWN_ROLE_ARNS",
                "arn:aws:iam::111122223333:role/stack-ContainRole-X",
            ),
            ("FIREBREAK_ALLOWED_AMIS", ""),
            ("FIREBREAK_GDPR_APPLIES", "true"),
            ("FIREBREAK_CONTAINMENT_MODE", "approve"),
            ("FIREBREAK_RETENTION_DAYS", "365"),
            ("FIREBREAK_TRAIL_LOGS", "s3://org-trail/logs"),
            ("FIREBREAK_ACTIVITY_DAYS", "30"),
        ])
        .expect("settings");
        assert_eq!(s.config.trail.logs.as_deref(), Some("s3://org-trail/logs"));
        assert_eq!(s.config.trail.activity_days, 30);
        // The template's empty value when no trail bucket is named: LookupEvents alone.
        assert_eq!(
            settings(&[("FIREBREAK_TRAIL_LOGS", "")])
                .expect("empty")
                .config
                .trail
                .logs,
            None
        );
        assert!(settings(&[("FIREBREAK_TRAIL_LOGS", "/tmp/x")]).is_err());
        assert_eq!(s.config.protect.allow.len(), 2);
        assert!(
            s.config
                .protection("arn:aws:iam::111122223333:role/stack-ContainRole-X")
                .is_some()
        );
        assert!(s.config.amis.allowed.is_empty());
        assert!(s.config.obligations.gdpr_applies);
        assert_eq!(s.config.modes.credentials, Mode::Approve);
        assert_eq!(s.config.evidence.retention_days, 365);
        assert!(
            settings(&[("FIREBREAK_CONTAINMENT_MODE", "dry-run")])
                .expect("dry")
                .dry_run
        );
    }

    #[test]
    fn the_wiring_is_read_only_when_given() {
        assert_eq!(settings(&[]).expect("settings").wiring, None);
        let rule = "arn:aws:events:us-east-1:111122223333:rule/firebreak/fb-Page-X";
        let f = "arn:aws:lambda:us-east-1:111122223333:function:fb-Page";
        let role = "arn:aws:iam::111122223333:role/fb-PageRole";
        let s = settings(&[
            (
                "FIREBREAK_PAGER_TOPIC_ARN",
                "arn:aws:sns:us-east-1:111122223333:p",
            ),
            ("FIREBREAK_OWN_ROLE_ARNS", role),
            ("FIREBREAK_WIRING_RULES", &format!("{rule}={f}")),
            ("FIREBREAK_WIRING_FUNCTIONS", &format!("{f}={role}")),
            (
                "FIREBREAK_WIRING_BUCKET_DENY",
                "TlsOnly, EvidenceIsNeverDeleted",
            ),
        ])
        .expect("settings");
        let w = s.wiring.expect("wiring");
        assert_eq!(w.rules[0].bus, "firebreak");
        assert_eq!(w.rules[0].targets, [f]);
        assert_eq!(w.functions[0].role_arn, role);
        // The environment every function must carry is the shared one this function sees.
        assert_eq!(
            w.functions[0].environment.names,
            [
                "FIREBREAK_BUS",
                "FIREBREAK_EVIDENCE_BUCKET",
                "FIREBREAK_HOME_ACCOUNT",
                "FIREBREAK_OWN_ROLE_ARNS",
                "FIREBREAK_PAGER_TOPIC_ARN"
            ]
        );
        assert_eq!(w.topics.len(), 1);
        assert_eq!(w.topics[0].publishers, [role]);
        let b = w.bucket.expect("bucket");
        assert_eq!((b.name.as_str(), b.retention_days), ("evidence", 90));
        assert_eq!(b.deny_sids, ["TlsOnly", "EvidenceIsNeverDeleted"]);
        for (name, value) in [
            ("FIREBREAK_WIRING_RULES", "not-an-arn=x"),
            ("FIREBREAK_WIRING_FUNCTIONS", "fb-Page=role"),
        ] {
            assert_eq!(settings(&[(name, value)]).expect_err(value).name, name);
        }
    }

    #[test]
    fn member_roles_and_the_deny_policy_are_read() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(
            s.config.accounts.member_preserve_role,
            "FirebreakMemberPreserve"
        );
        assert_eq!(s.config.accounts.deny_policy, "FirebreakDenyAll");
        assert_eq!(s.config.stack.bus, "firebreak");
        let s = settings(&[
            ("FIREBREAK_MEMBER_PRESERVE_ROLE", "OrgPreserve"),
            ("FIREBREAK_DENY_POLICY", "OrgDenyAll"),
        ])
        .expect("settings");
        assert_eq!(s.config.accounts.member_preserve_role, "OrgPreserve");
        assert_eq!(s.config.accounts.deny_policy, "OrgDenyAll");
        let err = settings(&[("FIREBREAK_DENY_POLICY", "a/b")]).unwrap_err();
        assert!(err.message.contains("accounts.deny_policy"), "{err}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("FIREBREAK_RETENTION_DAYS", "30"),
            ("FIREBREAK_RETENTION_DAYS", "ninety"),
            ("FIREBREAK_CONTAINMENT_MODE", "yolo"),
            ("FIREBREAK_GDPR_APPLIES", "maybe"),
            ("FIREBREAK_LOCK_MODE", "none"),
            ("FIREBREAK_BUS", " "),
        ] {
            let e = settings(&[(name, value)]).expect_err(value);
            assert!(
                e.name == name || (e.name == "FIREBREAK_*" && e.message.contains("retention")),
                "{e}"
            );
        }
    }
}
