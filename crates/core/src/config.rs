//! Firebreak's configuration: one type, read from TOML by the CLI and built from stack
//! parameters by the Lambda functions. A bad value is an error that names its key.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::event::principal::protects;

/// The least evidence retention any plan accepts (requirements §4: logs kept at least 90 days).
pub const MIN_RETENTION_DAYS: u32 = 90;

/// How a class of containment action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Executed at once.
    Auto,
    /// Planned, executed when a human approves.
    Approve,
    /// Planned for the record, never executed.
    Off,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Principals and resources never contained.
    pub protect: Protect,
    /// AMI allow-list for the RunInstances rule.
    pub amis: Amis,
    /// Instance launches that are an incident whatever the image.
    pub launches: Launches,
    /// Modes per class of containment action.
    pub modes: Modes,
    /// Evidence retention.
    pub evidence: Evidence,
    /// Legal and contractual obligations that start clocks.
    pub obligations: Obligations,
    /// Cognito user pools that must have no self sign-up.
    pub cognito: Cognito,
    /// The trail's log buckets (their lifecycle shortened is an indicator).
    pub trail: Trail,
    /// Who may run commands on instances through Systems Manager.
    pub ssm: Ssm,
    /// Drills (GuardDuty sample findings and synthetic events).
    pub drills: Drills,
    /// Acting in member accounts of an organisation.
    pub accounts: Accounts,
    /// Where Firebreak's own resources are (filled from the stack's outputs when deployed).
    pub stack: Stack,
}

/// `[stack]`: Firebreak's own resources in the security account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stack {
    /// The Object Lock evidence bucket.
    pub evidence_bucket: String,
    /// SNS topic for S1 pages.
    pub pager_topic_arn: String,
    /// SNS topic for S2 tickets.
    pub ticket_topic_arn: String,
    /// Exact ARNs of Firebreak's own resources (functions, rules, bus, topics, queues, the
    /// evidence bucket, the stack, keys, managed policies): a change to any of them by anyone
    /// is an attack on the responder, S1.
    pub resources: Vec<String>,
    /// Firebreak's own event bus (the stack's `EventBusName` output), where drills are put.
    pub bus: String,
    /// The deployed stack this configuration was written from (`firebreak init`): commands
    /// that act refuse to run while its functions are configured otherwise.
    pub name: Option<String>,
}

/// `[protect]`: ARN patterns (`*` matches any run of characters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protect {
    /// Break-glass roles responders use.
    pub break_glass: Vec<String>,
    /// Firebreak's own roles: exact ARNs (the account may be `*` for the member roles, whose
    /// exact name every member account shares), never a name prefix an attacker could choose.
    pub firebreak_roles: Vec<String>,
    /// Any other principal or resource never to contain.
    pub allow: Vec<String>,
}

/// `[launches]`: launches that are an incident whatever their image: GPU and accelerator
/// families, or many instances at once, the shape of a leaked key used for crypto-mining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Launches {
    /// Instance families (the type before its dot, `p4d` of `p4d.24xlarge`) whose launch is an
    /// incident; empty turns this half off.
    pub costly_families: Vec<String>,
    /// One RunInstances of at least this many instances is an incident; 0 turns this half off.
    pub max_instances: u64,
}

impl Default for Launches {
    fn default() -> Self {
        Launches {
            costly_families: [
                "p2",
                "p3",
                "p3dn",
                "p4d",
                "p4de",
                "p5",
                "p5e",
                "p5en",
                "p6-b200",
                "g3",
                "g3s",
                "p6-b300",
                "p6e-gb200",
                "g4ad",
                "g4dn",
                "g5",
                "g5g",
                "g6",
                "g6e",
                "g6f",
                "gr6",
                "gr6f",
                "dl1",
                "dl2q",
                "trn1",
                "trn1n",
                "trn2",
                "inf1",
                "inf2",
                "f1",
                "f2",
                "vt1",
            ]
            .map(String::from)
            .to_vec(),
            max_instances: 10,
        }
    }
}

/// `[trail]`: where the organisation's CloudTrail log files are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Trail {
    /// The trail's S3 buckets: a lifecycle rule put on one of them can expire the evidence
    /// every investigation needs. Empty turns that rule off.
    pub buckets: Vec<String>,
    /// Where the trail writes (`s3://bucket[/prefix]`, the folder above `AWSLogs/`): when set,
    /// the principal's activity is preserved from a hunt through its log files rather than
    /// from LookupEvents alone.
    pub logs: Option<String>,
    /// How many days before the incident that hunt reads (1 to 400).
    pub activity_days: u32,
    /// The hunt state machine (the stack's `HuntStateMachineArn` output): `firebreak hunt
    /// --remote` fans the files out over it.
    pub hunt_state_machine: Option<String>,
}

impl Default for Trail {
    fn default() -> Self {
        Trail {
            buckets: Vec::new(),
            logs: None,
            activity_days: 7,
            hunt_state_machine: None,
        }
    }
}

/// `[ssm]`: Systems Manager's remote commands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ssm {
    /// ARN patterns that may `SendCommand` / `StartSession` (patching, the operations team);
    /// anyone else, unless protected, is an incident. Empty: every unprotected caller is.
    pub allowed_principals: Vec<String>,
}

/// `[amis]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Amis {
    /// Images RunInstances may use without an incident; empty turns the rule off.
    pub allowed: Vec<String>,
}

/// `[modes]`: one per class of containment; S3/S4 incidents are further held to `low_severity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Modes {
    /// Keys, sessions, deny-all on IAM principals.
    pub credentials: Mode,
    /// Cognito sign-out, disable, stop sign-up.
    pub cognito: Mode,
    /// Moving an instance into the isolation group.
    pub instance_isolation: Mode,
    /// Blocking public access on a bucket.
    pub public_access: Mode,
    /// The most any containment of an S3/S4 incident may be.
    pub low_severity: Mode,
}

/// `[evidence]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Evidence {
    /// Object Lock retention of evidence, in days (≥ 90).
    pub retention_days: u32,
    /// Object Lock mode of evidence objects.
    pub lock_mode: LockMode,
    /// The SHA-256 (hex) of the memory capture tool (AVML, x86_64 Linux) stored in the evidence
    /// bucket at `tools/avml-<sha256>`; an instance runs only a tool with exactly this hash.
    /// Empty: no memory is captured (each instance incident says so).
    pub memory_tool_sha256: String,
    /// The bound on one instance's memory capture and upload, in seconds (30–480).
    pub memory_seconds: u32,
    /// The account (12 digits) every completed snapshot of an incident is shared with, for
    /// investigation away from the account under attack. Empty: snapshots stay unshared.
    pub forensic_account: String,
    /// The KMS key (ARN) encrypted snapshots are first copied under, so the forensic account
    /// can use them (a snapshot under the default `aws/ebs` key cannot be shared); its key
    /// policy must let the forensic account use it. Empty: encrypted snapshots are not shared.
    pub forensic_kms_key: String,
}

/// Where the memory capture tool of SHA-256 `sha256` is kept in the evidence bucket (written
/// once, like all evidence: a new version of the tool goes under its own hash).
pub fn memory_tool_key(sha256: &str) -> String {
    format!("tools/avml-{sha256}")
}

/// S3 Object Lock mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// Nobody, the root user included, can delete or shorten the lock before it expires.
    #[default]
    Compliance,
    /// Principals with `s3:BypassGovernanceRetention` can; for accounts that must be able to.
    Governance,
}

/// `[obligations]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Obligations {
    /// The account handles Amazon (SP-API) data: notify Amazon within 24 h.
    pub handles_amazon_data: bool,
    /// GDPR applies: notify the supervisory authority within 72 h of a confirmed breach.
    pub gdpr_applies: bool,
}

/// `[cognito]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cognito {
    /// User pool ids that are invite-only.
    pub invite_only_pools: Vec<String>,
    /// ARN patterns of principals allowed to AdminCreateUser in those pools.
    pub admin_principals: Vec<String>,
}

/// `[drills]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Drills {
    /// Treat GuardDuty sample findings as incidents (containment is still dry-run in drills).
    pub enabled: bool,
}

/// `[accounts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Accounts {
    /// Role Firebreak assumes in a member account to contain.
    pub member_role: String,
    /// Role Firebreak assumes in a member account to preserve evidence (read-only there,
    /// besides termination protection and snapshots).
    pub member_preserve_role: String,
    /// Firebreak's deny-all managed policy, by name: the same name in every account (the stack's
    /// `DenyPolicyName`); a denied user gets it attached.
    pub deny_policy: String,
    /// The instance profile a compromised instance's profile is replaced with: its role denies
    /// everything (the stack's `QuarantineProfileName`, the same in every account).
    pub quarantine_profile: String,
    /// The account that administers IAM Identity Center (the management account or its
    /// delegated administrator), entered through the member role like any member: Identity
    /// Center users are contained there. Empty: they are paged, not contained.
    pub identity_center_account: String,
    /// Identity Center's home region (its API answers only there, whatever the event's region).
    pub identity_center_region: String,
}

impl Default for Modes {
    fn default() -> Self {
        Modes {
            credentials: Mode::Auto,
            cognito: Mode::Auto,
            instance_isolation: Mode::Approve,
            public_access: Mode::Auto,
            low_severity: Mode::Approve,
        }
    }
}

impl Default for Evidence {
    fn default() -> Self {
        Evidence {
            retention_days: MIN_RETENTION_DAYS,
            lock_mode: LockMode::Compliance,
            memory_tool_sha256: String::new(),
            memory_seconds: 300,
            forensic_account: String::new(),
            forensic_kms_key: String::new(),
        }
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            member_role: "FirebreakMember".into(),
            member_preserve_role: "FirebreakMemberPreserve".into(),
            deny_policy: "FirebreakDenyAll".into(),
            quarantine_profile: "FirebreakQuarantine".into(),
            identity_center_account: String::new(),
            identity_center_region: String::new(),
        }
    }
}

/// Why a principal or resource is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protection {
    /// A configured break-glass role.
    BreakGlass,
    /// One of Firebreak's own roles.
    Firebreak,
    /// On the allow-list.
    AllowList,
}

impl Protection {
    /// Human words for the reason.
    pub fn describe(self) -> &'static str {
        match self {
            Protection::BreakGlass => "a break-glass role",
            Protection::Firebreak => "one of Firebreak's own roles",
            Protection::AllowList => "on the allow-list",
        }
    }
}

impl Config {
    /// The configuration as TOML, which [`Config::from_toml`] reads back as it is.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Where `self` and `other` differ: the dotted keys (`protect.allow`) of the values that
    /// differ, in order; empty when they are the same.
    pub fn differences(&self, other: &Config) -> Vec<String> {
        fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
            match (a, b) {
                (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                    let keys: std::collections::BTreeSet<&String> =
                        a.keys().chain(b.keys()).collect();
                    let null = serde_json::Value::Null;
                    for key in keys {
                        let next = if path.is_empty() {
                            key.clone()
                        } else {
                            format!("{path}.{key}")
                        };
                        walk(
                            &next,
                            a.get(key).unwrap_or(&null),
                            b.get(key).unwrap_or(&null),
                            out,
                        );
                    }
                }
                _ if a != b => out.push(path.to_string()),
                _ => {}
            }
        }
        let (Ok(a), Ok(b)) = (serde_json::to_value(self), serde_json::to_value(other)) else {
            return vec!["(the configuration could not be compared)".into()];
        };
        let mut out = Vec::new();
        walk("", &a, &b, &mut out);
        out
    }

    /// Reads and validates a TOML configuration.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that types cannot: retention floor, pattern shapes, AMI ids.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let tool = &self.evidence.memory_tool_sha256;
        if !tool.is_empty()
            && (tool.len() != 64 || !tool.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            return Err(ConfigError::Invalid {
                key: "evidence.memory_tool_sha256".into(),
                message: "a SHA-256 is 64 lower-case hex digits".into(),
            });
        }
        if !(30..=480).contains(&self.evidence.memory_seconds) {
            return Err(ConfigError::Invalid {
                key: "evidence.memory_seconds".into(),
                message: format!(
                    "{} s is outside 30-480 s (contain waits for it, and runs at most 720 s)",
                    self.evidence.memory_seconds
                ),
            });
        }
        let forensic = &self.evidence.forensic_account;
        if !forensic.is_empty()
            && (forensic.len() != 12 || !forensic.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError::Invalid {
                key: "evidence.forensic_account".into(),
                message: format!("{forensic:?} is not a 12-digit account id"),
            });
        }
        let key = &self.evidence.forensic_kms_key;
        if !key.is_empty() && kms_key_region(key).is_none() {
            return Err(ConfigError::Invalid {
                key: "evidence.forensic_kms_key".into(),
                message: format!(
                    "{key:?} is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)"
                ),
            });
        }
        if self.evidence.retention_days < MIN_RETENTION_DAYS {
            return Err(ConfigError::Invalid {
                key: "evidence.retention_days".into(),
                message: format!(
                    "{} days is less than the {MIN_RETENTION_DAYS} days evidence must be kept",
                    self.evidence.retention_days
                ),
            });
        }
        if let Some(logs) = &self.trail.logs {
            let bucket = logs
                .strip_prefix("s3://")
                .map(|r| r.split('/').next().unwrap_or(""));
            if bucket.is_none_or(str::is_empty) {
                return Err(ConfigError::Invalid {
                    key: "trail.logs".into(),
                    message: format!("{logs:?} is not s3://bucket[/prefix]"),
                });
            }
        }
        if !(1..=400).contains(&self.trail.activity_days) {
            return Err(ConfigError::Invalid {
                key: "trail.activity_days".into(),
                message: format!("{} is not between 1 and 400", self.trail.activity_days),
            });
        }
        let lists = [
            ("protect.break_glass", &self.protect.break_glass),
            ("protect.firebreak_roles", &self.protect.firebreak_roles),
            ("protect.allow", &self.protect.allow),
            ("cognito.admin_principals", &self.cognito.admin_principals),
        ];
        for (key, list) in lists {
            for (i, p) in list.iter().enumerate() {
                if !p.starts_with("arn:") {
                    return Err(ConfigError::Invalid {
                        key: format!("{key}[{i}]"),
                        message: format!(
                            "{p:?} is not an ARN pattern (it must start with \"arn:\")"
                        ),
                    });
                }
            }
        }
        for (i, arn) in self.protect.firebreak_roles.iter().enumerate() {
            let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
            if !resource.starts_with("role/") || resource.contains(['*', '?']) {
                return Err(ConfigError::Invalid {
                    key: format!("protect.firebreak_roles[{i}]"),
                    message: format!(
                        "{arn:?} is not the exact ARN of a role: Firebreak protects its own roles \
                         by exact identity, never by a name pattern an attacker could match"
                    ),
                });
            }
        }
        for (i, arn) in self.stack.resources.iter().enumerate() {
            if !arn.starts_with("arn:") || arn.contains(['*', '?']) {
                return Err(ConfigError::Invalid {
                    key: format!("stack.resources[{i}]"),
                    message: format!("{arn:?} is not an exact ARN"),
                });
            }
        }
        let ic = &self.accounts;
        if !ic.identity_center_account.is_empty() || !ic.identity_center_region.is_empty() {
            let account = ic.identity_center_account.len() == 12
                && ic
                    .identity_center_account
                    .bytes()
                    .all(|b| b.is_ascii_digit());
            let region = (4..=25).contains(&ic.identity_center_region.len())
                && ic
                    .identity_center_region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !account || !region {
                return Err(ConfigError::Invalid {
                    key: "accounts.identity_center_account".into(),
                    message: "Identity Center needs both an account id (12 digits) and its home \
                              region"
                        .into(),
                });
            }
        }
        for (i, ami) in self.amis.allowed.iter().enumerate() {
            if !ami.starts_with("ami-") {
                return Err(ConfigError::Invalid {
                    key: format!("amis.allowed[{i}]"),
                    message: format!("{ami:?} is not an AMI id (ami-…)"),
                });
            }
        }
        for (key, arn) in [
            ("stack.pager_topic_arn", &self.stack.pager_topic_arn),
            ("stack.ticket_topic_arn", &self.stack.ticket_topic_arn),
        ] {
            if !arn.is_empty() && !arn.starts_with("arn:") {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    message: format!("{arn:?} is not an SNS topic ARN"),
                });
            }
        }
        for (key, name) in [
            ("accounts.member_role", &self.accounts.member_role),
            (
                "accounts.member_preserve_role",
                &self.accounts.member_preserve_role,
            ),
            ("accounts.deny_policy", &self.accounts.deny_policy),
            (
                "accounts.quarantine_profile",
                &self.accounts.quarantine_profile,
            ),
        ] {
            // IAM's character set for role and policy names.
            let iam_name = !name.is_empty()
                && name.len() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !iam_name {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    message: format!("{name:?} is not an IAM role or policy name"),
                });
            }
        }
        Ok(())
    }

    /// Whether an ARN (principal or resource) is protected, and why.
    pub fn protection(&self, arn: &str) -> Option<Protection> {
        let any = |list: &[String]| list.iter().any(|p| protects(p, arn));
        if any(&self.protect.break_glass) {
            Some(Protection::BreakGlass)
        } else if any(&self.protect.firebreak_roles)
            || protects(
                &format!("arn:*:iam::*:role/{}", self.accounts.quarantine_profile),
                arn,
            )
        {
            // The quarantine role is Firebreak's in every account: an instance Firebreak gave it
            // to is contained already, and the role denies everything.
            Some(Protection::Firebreak)
        } else if any(&self.protect.allow) {
            Some(Protection::AllowList)
        } else {
            None
        }
    }

    /// Whether a user pool is invite-only.
    pub fn is_invite_only_pool(&self, pool_id: &str) -> bool {
        self.cognito.invite_only_pools.iter().any(|p| p == pool_id)
    }
}

/// The region of a KMS key ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`), or `None`
/// when `arn` is not one.
pub fn kms_key_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "kms", region, account, key]
            if !partition.is_empty()
                && region_name_ok(region)
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && key.strip_prefix("key/").is_some_and(|k| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }) =>
        {
            Some(region)
        }
        _ => None,
    }
}

/// Whether `r` has the shape of a region name (lower-case letters, digits, dashes; 1–32).
pub(crate) fn region_name_ok(r: &str) -> bool {
    (1..=32).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_written_as_toml_reads_back_the_same_and_differences_are_named() {
        let text = include_str!("../../../infra/firebreak.toml");
        let mut config = Config::from_toml(text).unwrap();
        config.stack.name = Some("fb".into());
        config.trail.logs = Some("s3://trail/logs".into());
        let back = Config::from_toml(&config.to_toml().unwrap()).unwrap();
        assert_eq!(back, config);
        assert!(back.differences(&config).is_empty());
        let mut other = config.clone();
        other.protect.allow.push("arn:aws:iam::*:role/Extra".into());
        other.trail.activity_days = 30;
        assert_eq!(
            config.differences(&other),
            ["protect.allow", "trail.activity_days"]
        );
    }

    #[test]
    fn empty_config_is_the_default() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[protect]\nbreak_glas = []\n").unwrap_err();
        assert!(err.to_string().contains("break_glas"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::from_toml("[evidence]\nretention_days = \"ninety\"\n").unwrap_err();
        assert!(err.to_string().contains("retention_days"), "{err}");
    }

    #[test]
    fn short_retention_is_refused() {
        let err = Config::from_toml("[evidence]\nretention_days = 30\n").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Invalid {
                key: "evidence.retention_days".into(),
                message: "30 days is less than the 90 days evidence must be kept".into()
            }
        );
    }

    #[test]
    fn non_arn_pattern_is_refused_with_index() {
        let err = Config::from_toml("[protect]\nallow = [\"arn:aws:iam::*:user/a\", \"bob\"]\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("protect.allow[1]"), "{err}");
    }

    #[test]
    fn lock_mode_defaults_to_compliance() {
        assert_eq!(Config::default().evidence.lock_mode, LockMode::Compliance);
        let c = Config::from_toml("[evidence]\nlock_mode = \"governance\"\n").unwrap();
        assert_eq!(c.evidence.lock_mode, LockMode::Governance);
        assert!(
            Config::from_toml("[evidence]\nlock_mode = \"legal-hold\"\n")
                .unwrap_err()
                .to_string()
                .contains("lock_mode")
        );
    }

    #[test]
    fn member_roles_and_deny_policy_default_and_are_checked() {
        let c = Config::default();
        assert_eq!(c.accounts.member_preserve_role, "FirebreakMemberPreserve");
        assert_eq!(c.accounts.deny_policy, "FirebreakDenyAll");
        let c = Config::from_toml(
            "[accounts]\ndeny_policy = \"OrgDeny\"\n[stack]\nbus = \"firebreak-bus\"\n",
        )
        .unwrap();
        assert_eq!(c.accounts.deny_policy, "OrgDeny");
        assert_eq!(c.stack.bus, "firebreak-bus");
        for bad in ["", "a/b", "Deny All"] {
            let text = format!("[accounts]\ndeny_policy = {bad:?}\n");
            let err = Config::from_toml(&text).unwrap_err();
            assert!(err.to_string().starts_with("accounts.deny_policy"), "{err}");
        }
    }

    #[test]
    fn bad_mode_is_named() {
        let err = Config::from_toml("[modes]\ncredentials = \"sometimes\"\n").unwrap_err();
        assert!(err.to_string().contains("credentials"), "{err}");
    }

    #[test]
    fn protection_reasons() {
        let c = Config::from_toml(
            "[protect]\nbreak_glass = [\"arn:*:iam::*:role/BreakGlass\"]\nallow = [\"arn:aws:iam::*:user/ops-automation\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.protection("arn:aws:iam::1:role/BreakGlass"),
            Some(Protection::BreakGlass)
        );
        // Firebreak's roles are protected by exact ARN, never by a name prefix.
        assert_eq!(c.protection("arn:aws:iam::1:role/FirebreakContain"), None);
        let own = Config::from_toml(
            "[protect]\nfirebreak_roles = [\"arn:aws:iam::1:role/fb-ContainRole-X1\"]\n",
        )
        .unwrap();
        assert_eq!(
            own.protection("arn:aws:iam::1:role/fb-ContainRole-X1"),
            Some(Protection::Firebreak)
        );
        assert_eq!(
            own.protection("arn:aws:iam::1:role/FirebreakBackdoor"),
            None
        );
        assert_eq!(
            own.protection("arn:aws:iam::2:role/fb-ContainRole-X1"),
            None
        );
        for pattern in ["arn:*:iam::*:role/Firebreak*", "arn:aws:iam::1:user/x"] {
            let err = Config::from_toml(&format!("[protect]\nfirebreak_roles = [{pattern:?}]\n"))
                .unwrap_err();
            assert!(err.to_string().contains("exact"), "{err}");
        }
        assert_eq!(
            c.protection("arn:aws:iam::1:user/ops-automation"),
            Some(Protection::AllowList)
        );
        assert_eq!(c.protection("arn:aws:iam::1:user/ops-automation2"), None);
        assert_eq!(c.protection("arn:aws:iam::1:role/BreakGlassNot"), None);
    }
}
