//! Firebreak's own wiring, and how far the account has drifted from it.
//!
//! A tamper can silence the rule that would report it (a rule disabled, a target removed, a
//! subscription filtered), so the hourly clock also looks at Firebreak itself. This module is the
//! pure half: what the stack must look like ([`Wiring`]), what an observer read from AWS
//! ([`Observed`]), and [`drift`], the difference, each [`Drift`] with one line a human can act on
//! (what, where, the fix). Reading AWS is the effector's job (`firebreak_aws::run::wiring`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::LockMode;
use crate::record::incident::IncidentId;
use crate::render::page::Page;

/// The state an EventBridge rule must be in.
pub const ENABLED: &str = "ENABLED";

/// The state of a rule that also receives read-only management events.
pub const ALL_MANAGEMENT_EVENTS: &str = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS";

/// Environment variables whose names start with this are the clock's own (the expected wiring
/// itself): they are left out of every function's environment fingerprint.
pub const OWN_PREFIX: &str = "FIREBREAK_WIRING";

/// The longest observed text (a filter policy, an error) a drift line repeats.
const MAX_QUOTED: usize = 160;

/// What Firebreak's stack must look like.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wiring {
    /// The rules that deliver events to the functions.
    pub rules: Vec<RuleWiring>,
    /// The functions.
    pub functions: Vec<FunctionWiring>,
    /// The S1/S2 topics.
    pub topics: Vec<TopicWiring>,
    /// The evidence bucket.
    pub bucket: Option<BucketWiring>,
}

/// A rule: enabled, on its bus, with each of its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleWiring {
    /// The rule's name.
    pub name: String,
    /// Its event bus (`default` for the account's default bus).
    pub bus: String,
    /// The ARNs it must target (the functions).
    pub targets: Vec<String>,
    /// The state it must be in: [`ENABLED`], or [`ALL_MANAGEMENT_EVENTS`] for the rule that
    /// must see read-only calls (in plain `ENABLED` it silently sees none of them).
    pub state: String,
}

impl RuleWiring {
    /// The rule an ARN names (`arn:aws:events:<region>:<account>:rule/[<bus>/]<name>`), with its
    /// targets; `None` when the text is not a rule ARN.
    pub fn from_arn(arn: &str, targets: Vec<String>) -> Option<RuleWiring> {
        let rest = arn.strip_prefix("arn:")?;
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() != 5 || parts[1] != "events" {
            return None;
        }
        let path = parts[4].strip_prefix("rule/")?;
        let (bus, name) = match path.split_once('/') {
            Some((bus, name)) => (bus, name),
            None => ("default", path),
        };
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 256
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        (ok(bus) && ok(name)).then(|| RuleWiring {
            name: name.to_string(),
            bus: bus.to_string(),
            targets,
            state: ENABLED.to_string(),
        })
    }
}

/// A function: its role, its environment, not throttled to nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionWiring {
    /// The function's ARN.
    pub arn: String,
    /// The role it must run as.
    pub role_arn: String,
    /// The environment it must carry.
    pub environment: Environment,
}

/// An environment, as a fingerprint (and the names, so a drift can say which ones changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Hex SHA-256 of the variables, sorted, one `NAME=value` line each.
    pub fingerprint: String,
    /// The variables' names, sorted.
    pub names: Vec<String>,
}

impl Environment {
    /// The fingerprint of `variables`, leaving out the clock's own ([`OWN_PREFIX`]).
    pub fn of<'a>(variables: impl IntoIterator<Item = (&'a str, &'a str)>) -> Environment {
        let kept: BTreeMap<&str, &str> = variables
            .into_iter()
            .filter(|(k, _)| !k.starts_with(OWN_PREFIX))
            .collect();
        let mut hasher = Sha256::new();
        for (k, v) in &kept {
            hasher.update(k.as_bytes());
            hasher.update(b"=");
            hasher.update(v.as_bytes());
            hasher.update(b"\n");
        }
        Environment {
            fingerprint: hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            names: kept.keys().map(|k| k.to_string()).collect(),
        }
    }
}

/// A topic: someone subscribed, nothing filtered, Firebreak allowed to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicWiring {
    /// The topic's ARN.
    pub arn: String,
    /// Firebreak's roles that publish to it: the topic policy must not deny them.
    pub publishers: Vec<String>,
}

/// The evidence bucket: Object Lock as configured, the bucket policy's deny statements there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketWiring {
    /// The bucket's name.
    pub name: String,
    /// The default retention mode.
    pub lock_mode: LockMode,
    /// The default retention, in days.
    pub retention_days: u32,
    /// The `Sid`s of the deny statements the bucket policy must hold.
    pub deny_sids: Vec<String>,
}

/// What an observer read of one thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "seen", rename_all = "snake_case")]
pub enum Seen<T> {
    /// It is there, as read.
    Found(T),
    /// AWS says it does not exist.
    Missing,
    /// It could not be read (which is itself a drift: a check that cannot look checks nothing).
    Unreadable {
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
}

/// A rule as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSeen {
    /// `ENABLED`, `DISABLED`, …
    pub state: String,
    /// The ARNs it targets.
    pub targets: Vec<String>,
}

/// A function's configuration as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSeen {
    /// Its role.
    pub role_arn: String,
    /// Its environment variables.
    pub environment: BTreeMap<String, String>,
    /// Its reserved concurrency, when one is set.
    pub reserved_concurrency: Option<i32>,
}

/// A topic as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSeen {
    /// Its subscriptions.
    pub subscriptions: Vec<SubscriptionSeen>,
    /// Its access policy (JSON), when it has one.
    pub policy: Option<String>,
}

/// A subscription as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSeen {
    /// Its ARN (`PendingConfirmation` while unconfirmed).
    pub arn: String,
    /// `email`, `https`, `sqs`, …
    pub protocol: String,
    /// Its filter policy, when it has one.
    pub filter_policy: Option<String>,
}

impl SubscriptionSeen {
    /// A confirmed subscription: one that receives messages.
    pub fn confirmed(&self) -> bool {
        self.arn.starts_with("arn:")
    }
}

/// The evidence bucket as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSeen {
    /// Its Object Lock configuration.
    pub lock: Seen<LockSeen>,
    /// Its bucket policy (JSON).
    pub policy: Seen<String>,
}

/// An Object Lock configuration as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockSeen {
    /// `ObjectLockEnabled` is `Enabled`.
    pub enabled: bool,
    /// The default retention mode (`COMPLIANCE`, `GOVERNANCE`), when there is a default.
    pub mode: Option<String>,
    /// The default retention in days, when given in days.
    pub days: Option<i32>,
    /// The default retention in years, when given in years.
    pub years: Option<i32>,
}

/// Everything an observer read, keyed as the [`Wiring`] names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Rules by (bus, name).
    pub rules: Vec<((String, String), Seen<RuleSeen>)>,
    /// Functions by ARN.
    pub functions: Vec<(String, Seen<FunctionSeen>)>,
    /// Topics by ARN.
    pub topics: Vec<(String, Seen<TopicSeen>)>,
    /// The bucket by name.
    pub bucket: Option<(String, Seen<BucketSeen>)>,
}

/// One way the account differs from Firebreak's wiring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Drift {
    /// A rule is gone.
    RuleMissing {
        /// Bus.
        bus: String,
        /// Rule.
        rule: String,
    },
    /// A rule is not enabled.
    RuleDisabled {
        /// Bus.
        bus: String,
        /// Rule.
        rule: String,
        /// Its state.
        state: String,
        /// The state it must be in.
        expected: String,
    },
    /// A rule no longer targets one of Firebreak's functions.
    TargetMissing {
        /// Bus.
        bus: String,
        /// Rule.
        rule: String,
        /// The missing target.
        target: String,
    },
    /// A rule sends Firebreak's events somewhere else too.
    TargetAdded {
        /// Bus.
        bus: String,
        /// Rule.
        rule: String,
        /// The extra target.
        target: String,
    },
    /// A function is gone.
    FunctionMissing {
        /// Function ARN.
        function: String,
    },
    /// A function runs as another role.
    RoleChanged {
        /// Function ARN.
        function: String,
        /// The role it must run as.
        expected: String,
        /// The role it runs as.
        found: String,
    },
    /// A function's environment is not the one the stack gave it.
    EnvironmentChanged {
        /// Function ARN.
        function: String,
        /// Variables it has and must not.
        added: Vec<String>,
        /// Variables it must have and has not.
        removed: Vec<String>,
    },
    /// A function's reserved concurrency is 0: it never runs.
    Throttled {
        /// Function ARN.
        function: String,
    },
    /// A topic is gone.
    TopicMissing {
        /// Topic ARN.
        topic: String,
    },
    /// Nobody receives a topic's messages.
    NoSubscription {
        /// Topic ARN.
        topic: String,
    },
    /// A subscription filters the topic's messages.
    Filtered {
        /// Topic ARN.
        topic: String,
        /// Subscription ARN.
        subscription: String,
        /// Its filter policy.
        policy: String,
    },
    /// The topic policy denies a Firebreak role `sns:Publish`.
    PublishDenied {
        /// Topic ARN.
        topic: String,
        /// The statement's `Sid` (or its position).
        statement: String,
    },
    /// The evidence bucket is gone.
    BucketMissing {
        /// Bucket.
        bucket: String,
    },
    /// Object Lock is off, or has no default retention.
    LockDisabled {
        /// Bucket.
        bucket: String,
    },
    /// The default retention is not the configured one.
    LockChanged {
        /// Bucket.
        bucket: String,
        /// `COMPLIANCE 90 days`.
        expected: String,
        /// What it is.
        found: String,
    },
    /// The bucket has no policy.
    PolicyMissing {
        /// Bucket.
        bucket: String,
    },
    /// A deny statement of the bucket policy is gone or no longer denies.
    DenyMissing {
        /// Bucket.
        bucket: String,
        /// The statement's `Sid`.
        sid: String,
    },
    /// Something could not be read.
    Unreadable {
        /// What.
        what: String,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// What `firebreak doctor` finds leaves Firebreak blind or deaf (the clock runs its checks).
    Blind {
        /// The doctor's check (`trail`, `guardduty`, `forwarder`, …).
        check: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
}

impl Drift {
    /// One line: what drifted, where, and the fix.
    pub fn line(&self) -> String {
        let line = match self {
            Drift::Blind {
                check,
                problem,
                fix,
            } => format!(
                "[{check}] {}. Fix: {}.",
                problem.trim_end_matches('.'),
                fix.trim_end_matches('.')
            ),
            Drift::RuleMissing { bus, rule } => format!(
                "rule {rule} on bus {bus} is gone: its events reach no Firebreak function. Fix: redeploy the stack (sam deploy) to recreate it, and find who deleted it (CloudTrail DeleteRule)."
            ),
            Drift::RuleDisabled {
                bus,
                rule,
                state,
                expected,
            } if expected.as_str() == ALL_MANAGEMENT_EVENTS => format!(
                "rule {rule} on bus {bus} is {state}, not {expected}: the read-only calls it exists for reach no Firebreak function. Fix: redeploy the stack (sam deploy) to restore its state, and find who changed it (CloudTrail PutRule/DisableRule)."
            ),
            Drift::RuleDisabled {
                bus, rule, state, ..
            } => format!(
                "rule {rule} on bus {bus} is {state}: its events reach no Firebreak function. Fix: aws events enable-rule --name {rule} --event-bus-name {bus}, and find who disabled it (CloudTrail DisableRule/PutRule)."
            ),
            Drift::TargetMissing { bus, rule, target } => format!(
                "rule {rule} on bus {bus} no longer targets {target}. Fix: redeploy the stack (sam deploy) to restore the target, and find who removed it (CloudTrail RemoveTargets)."
            ),
            Drift::TargetAdded { bus, rule, target } => format!(
                "rule {rule} on bus {bus} also sends its events to {target}, which is not Firebreak's. Fix: aws events list-targets-by-rule --rule {rule} --event-bus-name {bus}, then remove-targets the extra one; find who added it (CloudTrail PutTargets)."
            ),
            Drift::FunctionMissing { function } => format!(
                "function {function} is gone. Fix: redeploy the stack (sam deploy), and find who deleted it (CloudTrail DeleteFunction)."
            ),
            Drift::RoleChanged {
                function,
                expected,
                found,
            } => format!(
                "function {function} runs as {found}, not {expected}. Fix: redeploy the stack (sam deploy), and find who changed it (CloudTrail UpdateFunctionConfiguration)."
            ),
            Drift::EnvironmentChanged {
                function,
                added,
                removed,
            } => {
                let mut what = String::new();
                if !added.is_empty() {
                    let _ = write!(what, "; added {}", added.join(", "));
                }
                if !removed.is_empty() {
                    let _ = write!(what, "; removed {}", removed.join(", "));
                }
                if what.is_empty() {
                    what.push_str("; values changed");
                }
                format!(
                    "function {function} carries another environment than the stack gave it{what}. Fix: redeploy the stack (sam deploy), and find who changed it (CloudTrail UpdateFunctionConfiguration)."
                )
            }
            Drift::Throttled { function } => format!(
                "function {function} has reserved concurrency 0: it never runs. Fix: aws lambda delete-function-concurrency --function-name {function}, and find who set it (CloudTrail PutFunctionConcurrency)."
            ),
            Drift::TopicMissing { topic } => format!(
                "topic {topic} is gone: pages go nowhere. Fix: redeploy the stack (sam deploy) and subscribe the responders again."
            ),
            Drift::NoSubscription { topic } => format!(
                "topic {topic} has no confirmed subscription: its pages reach nobody. Fix: aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint <responders' address> (and confirm it), or redeploy with AlertEmail / PagerEndpoint."
            ),
            Drift::Filtered {
                topic,
                subscription,
                policy,
            } => format!(
                "subscription {subscription} of topic {topic} has a filter policy {policy}: pages it does not match are dropped. Fix: aws sns set-subscription-attributes --subscription-arn {subscription} --attribute-name FilterPolicy --attribute-value '{{}}', and find who set it (CloudTrail SetSubscriptionAttributes)."
            ),
            Drift::PublishDenied { topic, statement } => format!(
                "the policy of topic {topic} denies Firebreak sns:Publish (statement {statement}): pages fail. Fix: remove that statement (aws sns set-topic-attributes --topic-arn {topic} --attribute-name Policy) or redeploy the stack, and find who changed it (CloudTrail SetTopicAttributes)."
            ),
            Drift::BucketMissing { bucket } => format!(
                "evidence bucket {bucket} is gone or unreachable. Fix: redeploy the stack (sam deploy); check CloudTrail DeleteBucket."
            ),
            Drift::LockDisabled { bucket } => format!(
                "evidence bucket {bucket} has no Object Lock default retention: new evidence is not locked. Fix: redeploy the stack (sam deploy) to restore the bucket's ObjectLockConfiguration, and find who changed it (CloudTrail PutObjectLockConfiguration)."
            ),
            Drift::LockChanged {
                bucket,
                expected,
                found,
            } => format!(
                "evidence bucket {bucket} locks new evidence {found}, not {expected}. Fix: redeploy the stack (sam deploy) to restore the default retention, and find who changed it (CloudTrail PutObjectLockConfiguration)."
            ),
            Drift::PolicyMissing { bucket } => format!(
                "evidence bucket {bucket} has no bucket policy: nothing denies deleting or overwriting evidence. Fix: redeploy the stack (sam deploy) to restore EvidenceBucketPolicy, and find who deleted it (CloudTrail DeleteBucketPolicy)."
            ),
            Drift::DenyMissing { bucket, sid } => format!(
                "the policy of evidence bucket {bucket} no longer holds the deny statement {sid}. Fix: redeploy the stack (sam deploy) to restore EvidenceBucketPolicy, and find who changed it (CloudTrail PutBucketPolicy)."
            ),
            Drift::Unreadable {
                what,
                code,
                message,
            } => format!(
                "could not read {what}: {code}: {message}. Fix: check that it exists and that the clock's role may read it (ClockRole, statement WiringCheck)."
            ),
        };
        printable(&line)
    }
}

/// Every way `observed` differs from `expected`, in the order the wiring lists things.
pub fn drift(expected: &Wiring, observed: &Observed) -> Vec<Drift> {
    let mut out = Vec::new();
    let unread = |what: String| Drift::Unreadable {
        what,
        code: "NotObserved".into(),
        message: "the observer returned nothing for it".into(),
    };
    let unreadable = |what: String, code: &str, message: &str| Drift::Unreadable {
        what,
        code: code.to_string(),
        message: quoted(message),
    };

    for rule in &expected.rules {
        let what = format!("rule {} on bus {}", rule.name, rule.bus);
        let seen = observed
            .rules
            .iter()
            .find(|((bus, name), _)| *bus == rule.bus && *name == rule.name)
            .map(|(_, s)| s);
        match seen {
            None => out.push(unread(what)),
            Some(Seen::Missing) => out.push(Drift::RuleMissing {
                bus: rule.bus.clone(),
                rule: rule.name.clone(),
            }),
            Some(Seen::Unreadable { code, message }) => {
                out.push(unreadable(what, code, message));
            }
            Some(Seen::Found(found)) => {
                if found.state != rule.state {
                    out.push(Drift::RuleDisabled {
                        bus: rule.bus.clone(),
                        rule: rule.name.clone(),
                        state: quoted(&found.state),
                        expected: rule.state.clone(),
                    });
                }
                for target in &rule.targets {
                    if !found.targets.contains(target) {
                        out.push(Drift::TargetMissing {
                            bus: rule.bus.clone(),
                            rule: rule.name.clone(),
                            target: target.clone(),
                        });
                    }
                }
                for target in &found.targets {
                    if !rule.targets.contains(target) {
                        out.push(Drift::TargetAdded {
                            bus: rule.bus.clone(),
                            rule: rule.name.clone(),
                            target: quoted(target),
                        });
                    }
                }
            }
        }
    }

    for function in &expected.functions {
        let what = format!("function {}", function.arn);
        match observed
            .functions
            .iter()
            .find(|(arn, _)| *arn == function.arn)
            .map(|(_, s)| s)
        {
            None => out.push(unread(what)),
            Some(Seen::Missing) => out.push(Drift::FunctionMissing {
                function: function.arn.clone(),
            }),
            Some(Seen::Unreadable { code, message }) => {
                out.push(unreadable(what, code, message));
            }
            Some(Seen::Found(found)) => {
                if found.role_arn != function.role_arn {
                    out.push(Drift::RoleChanged {
                        function: function.arn.clone(),
                        expected: function.role_arn.clone(),
                        found: quoted(&found.role_arn),
                    });
                }
                let env = Environment::of(
                    found
                        .environment
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                );
                if env.fingerprint != function.environment.fingerprint {
                    let want: BTreeSet<&String> = function.environment.names.iter().collect();
                    let have: BTreeSet<&String> = env.names.iter().collect();
                    out.push(Drift::EnvironmentChanged {
                        function: function.arn.clone(),
                        added: have.difference(&want).map(|n| quoted(n)).collect(),
                        removed: want.difference(&have).map(|n| n.to_string()).collect(),
                    });
                }
                if found.reserved_concurrency == Some(0) {
                    out.push(Drift::Throttled {
                        function: function.arn.clone(),
                    });
                }
            }
        }
    }

    for topic in &expected.topics {
        let what = format!("topic {}", topic.arn);
        match observed
            .topics
            .iter()
            .find(|(arn, _)| *arn == topic.arn)
            .map(|(_, s)| s)
        {
            None => out.push(unread(what)),
            Some(Seen::Missing) => out.push(Drift::TopicMissing {
                topic: topic.arn.clone(),
            }),
            Some(Seen::Unreadable { code, message }) => {
                out.push(unreadable(what, code, message));
            }
            Some(Seen::Found(found)) => {
                if !found.subscriptions.iter().any(SubscriptionSeen::confirmed) {
                    out.push(Drift::NoSubscription {
                        topic: topic.arn.clone(),
                    });
                }
                for s in &found.subscriptions {
                    if let Some(policy) = s.filter_policy.as_deref().filter(|p| filters(p)) {
                        out.push(Drift::Filtered {
                            topic: topic.arn.clone(),
                            subscription: quoted(&s.arn),
                            policy: quoted(policy),
                        });
                    }
                }
                if let Some(policy) = &found.policy {
                    for statement in publish_denials(policy, &topic.publishers) {
                        out.push(Drift::PublishDenied {
                            topic: topic.arn.clone(),
                            statement: quoted(&statement),
                        });
                    }
                }
            }
        }
    }

    if let Some(bucket) = &expected.bucket {
        let name = &bucket.name;
        match observed
            .bucket
            .as_ref()
            .filter(|(b, _)| b == name)
            .map(|(_, s)| s)
        {
            None => out.push(unread(format!("evidence bucket {name}"))),
            Some(Seen::Missing) => out.push(Drift::BucketMissing {
                bucket: name.clone(),
            }),
            Some(Seen::Unreadable { code, message }) => {
                out.push(unreadable(format!("evidence bucket {name}"), code, message));
            }
            Some(Seen::Found(found)) => {
                lock_drift(bucket, &found.lock, &mut out);
                match &found.policy {
                    Seen::Missing => out.push(Drift::PolicyMissing {
                        bucket: name.clone(),
                    }),
                    Seen::Unreadable { code, message } => out.push(unreadable(
                        format!("the policy of evidence bucket {name}"),
                        code,
                        message,
                    )),
                    Seen::Found(policy) => {
                        let denies = deny_sids(policy);
                        for sid in &bucket.deny_sids {
                            if !denies.contains(sid) {
                                out.push(Drift::DenyMissing {
                                    bucket: name.clone(),
                                    sid: sid.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn lock_drift(bucket: &BucketWiring, lock: &Seen<LockSeen>, out: &mut Vec<Drift>) {
    let name = &bucket.name;
    let expected = format!(
        "{} {} days",
        lock_mode_name(bucket.lock_mode),
        bucket.retention_days
    );
    match lock {
        Seen::Missing => out.push(Drift::LockDisabled {
            bucket: name.clone(),
        }),
        Seen::Unreadable { code, message } => out.push(Drift::Unreadable {
            what: format!("the Object Lock configuration of evidence bucket {name}"),
            code: code.clone(),
            message: quoted(message),
        }),
        Seen::Found(l) if !l.enabled || l.mode.is_none() => out.push(Drift::LockDisabled {
            bucket: name.clone(),
        }),
        Seen::Found(l) => {
            let mode = l.mode.as_deref().unwrap_or_default();
            let days = match (l.days.filter(|d| *d > 0), l.years.filter(|y| *y > 0)) {
                (Some(d), _) => Some(i64::from(d)),
                (None, Some(y)) => Some(i64::from(y) * 365),
                (None, None) => None,
            };
            let right_mode = mode == lock_mode_name(bucket.lock_mode);
            if !right_mode || days != Some(i64::from(bucket.retention_days)) {
                let found = match (l.days.filter(|d| *d > 0), l.years.filter(|y| *y > 0)) {
                    (Some(d), _) => format!("{} {d} days", quoted(mode)),
                    (None, Some(y)) => format!("{} {y} years", quoted(mode)),
                    (None, None) => format!("{} with no period", quoted(mode)),
                };
                out.push(Drift::LockChanged {
                    bucket: name.clone(),
                    expected,
                    found,
                });
            }
        }
    }
}

/// `COMPLIANCE` or `GOVERNANCE`, as S3 names the mode.
pub fn lock_mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Compliance => "COMPLIANCE",
        LockMode::Governance => "GOVERNANCE",
    }
}

/// True for a filter policy that filters anything (an empty one, `{}`, passes everything).
fn filters(policy: &str) -> bool {
    match serde_json::from_str::<Value>(policy) {
        Ok(Value::Object(m)) => !m.is_empty(),
        Ok(Value::Null) => false,
        _ => !policy.trim().is_empty(),
    }
}

/// The `Sid`s of the statements of a policy document that deny (an unreadable document has none).
fn deny_sids(policy: &str) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Deny"))
        .filter_map(|s| s.get("Sid").and_then(Value::as_str).map(String::from))
        .collect()
}

fn statements(policy: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(policy) {
        Ok(doc) => match doc.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => Vec::new(),
        },
        Err(_) => Vec::new(),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// The statements (by `Sid`, or `#<n>`) of a topic policy that deny one of `publishers`
/// `sns:Publish`. A statement counts when its action covers Publish and its principal covers the
/// role (`*`, the role, its account) with no condition, or with only a condition that excludes
/// principals by ARN and does not exclude that role. A deny whose condition tests anything else
/// (such as `aws:SecureTransport`) is taken as not aimed at Firebreak.
pub fn publish_denials(policy: &str, publishers: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (n, s) in statements(policy).iter().enumerate() {
        if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
            continue;
        }
        let actions = strings(s.get("Action"));
        let covers_publish = actions.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*" || a == "sns:*" || a == "sns:publish" || a == "sns:pub*"
        }) || (s.get("NotAction").is_some()
            && !strings(s.get("NotAction"))
                .iter()
                .any(|a| a.eq_ignore_ascii_case("sns:publish") || a == "sns:*"));
        if !covers_publish {
            continue;
        }
        let principals: Vec<String> = match s.get("Principal") {
            Some(Value::String(p)) => vec![p.clone()],
            Some(Value::Object(m)) => m.get("AWS").map(|v| strings(Some(v))).unwrap_or_default(),
            _ => Vec::new(),
        };
        let excluded = strings(s.get("NotPrincipal").and_then(|p| p.get("AWS")));
        let names = |role: &str| {
            principals.iter().any(|p| {
                p == "*" || p == role || account_of(role).is_some_and(|a| is_account(p, a))
            })
        };
        let condition = s.get("Condition").and_then(Value::as_object);
        let denied = publishers.iter().any(|role| {
            let by_principal = if s.get("NotPrincipal").is_some() {
                !excluded.contains(role)
            } else {
                names(role)
            };
            if !by_principal {
                return false;
            }
            match condition {
                None => true,
                Some(c) if c.is_empty() => true,
                Some(c) => c.iter().all(|(op, tests)| {
                    let negated = op.contains("NotEquals") || op.contains("NotLike");
                    negated
                        && tests.as_object().is_some_and(|t| {
                            t.iter().all(|(key, values)| {
                                if key.eq_ignore_ascii_case("aws:PrincipalArn") {
                                    !strings(Some(values)).iter().any(|v| v == role)
                                } else {
                                    // A role has no service name: a test that exempts a
                                    // service (CloudWatch's alarms) holds for every role.
                                    key.eq_ignore_ascii_case("aws:PrincipalServiceName")
                                }
                            })
                        })
                }),
            }
        });
        if denied {
            let sid = s
                .get("Sid")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_else(|| format!("#{}", n + 1));
            out.push(sid);
        }
    }
    out
}

fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

fn is_account(principal: &str, account: &str) -> bool {
    principal == account || principal.ends_with(&format!(":iam::{account}:root"))
}

/// `text` safe for a page and a terminal: control characters become `?`, and long text is cut.
fn quoted(text: &str) -> String {
    let mut out: String = printable(text);
    if out.chars().count() > MAX_QUOTED {
        out = out.chars().take(MAX_QUOTED).collect();
        out.push_str("...");
    }
    out
}

fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The log that holds the wiring checks' pages: one per stack (its evidence bucket), not an
/// incident's, though it is kept like one (`incidents/<id>/log/`).
pub fn log_id() -> IncidentId {
    IncidentId::derive("firebreak:wiring")
}

/// The hour a drift page is sent for (`2026-11-24T07`): one page per hour while drift lasts.
pub fn hour(now: chrono::DateTime<chrono::Utc>) -> String {
    crate::record::reminder_hour(now)
}

/// The S1 page about `drifts`.
pub fn page(drifts: &[Drift], now: chrono::DateTime<chrono::Utc>) -> Page {
    let blind = drifts.iter().all(|d| matches!(d, Drift::Blind { .. }));
    let mut body = format!(
        "Firebreak self-check - {} at {}\n\n{} Each line says what, where, and the fix.\n\n",
        plural(drifts.len(), if blind { "problem" } else { "change" }),
        now.format("%Y-%m-%d %H:%M UTC"),
        if blind {
            "Firebreak cannot see or report part of the account (the checks of firebreak doctor)."
        } else {
            "Firebreak's own wiring has drifted from the stack (or it cannot see part of the account): a tamper can silence the rule that would report it."
        }
    );
    for d in drifts {
        let _ = writeln!(body, "  - {}", d.line());
    }
    body.push_str(
        "\nThis page repeats every hour until the wiring is restored (firebreak clock shows it).\n",
    );
    let subject: String = if blind {
        format!(
            "[S1] Firebreak is blind or deaf: {}",
            plural(drifts.len(), "problem")
        )
    } else {
        format!(
            "[S1] Firebreak's own wiring has drifted: {}",
            plural(drifts.len(), "change")
        )
    };
    Page {
        subject,
        body,
        attributes: vec![
            ("severity".into(), "S1".into()),
            ("kind".into(), "wiring".into()),
        ],
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A list variable of the clock's environment: `key=value|value,…` pairs.
fn pairs(text: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (key, values) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not <arn>=<arn>"))?;
            let values: Vec<String> = values
                .split('|')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
                .collect();
            if key.trim().is_empty() || values.is_empty() {
                return Err(format!("{item:?} is not <arn>=<arn>"));
            }
            Ok((key.trim().to_string(), values))
        })
        .collect()
}

/// The rules of `FIREBREAK_WIRING_RULES`: `<rule-arn>[@<state>]=<target-arn>[|<target-arn>…]`,
/// comma separated; the state is [`ENABLED`] unless given (`@` appears in no rule ARN).
pub fn parse_rules(text: &str) -> Result<Vec<RuleWiring>, String> {
    pairs(text)?
        .into_iter()
        .map(|(arn, targets)| {
            let (arn, state) = match arn.split_once('@') {
                Some((arn, state)) if [ENABLED, ALL_MANAGEMENT_EVENTS].contains(&state) => {
                    (arn.to_string(), state.to_string())
                }
                Some((_, state)) => return Err(format!("{state:?} is not a rule state")),
                None => (arn, ENABLED.to_string()),
            };
            RuleWiring::from_arn(&arn, targets)
                .map(|r| RuleWiring { state, ..r })
                .ok_or_else(|| format!("{arn:?} is not a rule ARN"))
        })
        .collect()
}

/// The functions of `FIREBREAK_WIRING_FUNCTIONS`: `<function-arn>=<role-arn>`, comma separated;
/// each must carry `environment`.
pub fn parse_functions(
    text: &str,
    environment: &Environment,
) -> Result<Vec<FunctionWiring>, String> {
    pairs(text)?
        .into_iter()
        .map(|(arn, roles)| match roles.as_slice() {
            [role] if arn.starts_with("arn:") && arn.contains(":lambda:") => Ok(FunctionWiring {
                arn,
                role_arn: role.clone(),
                environment: environment.clone(),
            }),
            _ => Err(format!("{arn:?} is not <function-arn>=<role-arn>")),
        })
        .collect()
}

/// The rules of the clock's `FIREBREAK_WIRING_RULES`.
pub const RULES_VARIABLE: &str = "FIREBREAK_WIRING_RULES";
/// The functions of the clock's `FIREBREAK_WIRING_FUNCTIONS`.
pub const FUNCTIONS_VARIABLE: &str = "FIREBREAK_WIRING_FUNCTIONS";
/// The bucket policy's deny statements, `FIREBREAK_WIRING_BUCKET_DENY`.
pub const BUCKET_DENY_VARIABLE: &str = "FIREBREAK_WIRING_BUCKET_DENY";

/// The wiring the clock's environment describes: `variables` are the clock function's
/// (`FIREBREAK_WIRING_*` and the ones every function shares), `config` the settings they make.
/// The rules and their targets and the functions and their roles come from the
/// `FIREBREAK_WIRING_*` lists; every function must carry the shared variables with the values the
/// clock carries; the S1/S2 topics must let Firebreak's exact role ARNs publish; the evidence
/// bucket must lock as configured and keep the listed deny statements. `None` when no
/// `FIREBREAK_WIRING_*` variable is set; an error names the variable.
pub fn expected(
    variables: &BTreeMap<String, String>,
    config: &crate::Config,
) -> Result<Option<Wiring>, (&'static str, String)> {
    let own = |name: &str| variables.get(name).map(|v| v.trim().to_string());
    if [RULES_VARIABLE, FUNCTIONS_VARIABLE, BUCKET_DENY_VARIABLE]
        .iter()
        .all(|n| own(n).is_none())
    {
        return Ok(None);
    }
    let environment = Environment::of(variables.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let rules =
        parse_rules(&own(RULES_VARIABLE).unwrap_or_default()).map_err(|m| (RULES_VARIABLE, m))?;
    let functions = parse_functions(&own(FUNCTIONS_VARIABLE).unwrap_or_default(), &environment)
        .map_err(|m| (FUNCTIONS_VARIABLE, m))?;
    let publishers: Vec<String> = config
        .protect
        .firebreak_roles
        .iter()
        .filter(|r| !r.contains('*'))
        .cloned()
        .collect();
    let topics = [
        &config.stack.pager_topic_arn,
        &config.stack.ticket_topic_arn,
    ]
    .into_iter()
    .filter(|t| !t.is_empty())
    .map(|t| TopicWiring {
        arn: t.clone(),
        publishers: publishers.clone(),
    })
    .collect();
    let deny_sids = own(BUCKET_DENY_VARIABLE)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    Ok(Some(Wiring {
        rules,
        functions,
        topics,
        bucket: Some(BucketWiring {
            name: config.stack.evidence_bucket.clone(),
            lock_mode: config.evidence.lock_mode,
            retention_days: config.evidence.retention_days,
            deny_sids,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "arn:aws:lambda:us-east-1:111122223333:function:fb-triage";
    const ROLE: &str = "arn:aws:iam::111122223333:role/fb-TriageRole";
    const CLOCK_ROLE: &str = "arn:aws:iam::111122223333:role/fb-ClockRole";
    const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:fb-pager";
    const SUB: &str = "arn:aws:sns:us-east-1:111122223333:fb-pager:1f2e";

    fn env() -> BTreeMap<String, String> {
        [("FIREBREAK_BUS", "fb-bus"), ("FIREBREAK_DRILLS", "false")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn wiring() -> Wiring {
        let e = env();
        Wiring {
            rules: vec![
                RuleWiring::from_arn(
                    "arn:aws:events:us-east-1:111122223333:rule/fb-bus/fb-PageEvents",
                    vec![FN.into()],
                )
                .unwrap(),
            ],
            functions: vec![FunctionWiring {
                arn: FN.into(),
                role_arn: ROLE.into(),
                environment: Environment::of(e.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            }],
            topics: vec![TopicWiring {
                arn: TOPIC.into(),
                publishers: vec![CLOCK_ROLE.into()],
            }],
            bucket: Some(BucketWiring {
                name: "evidence".into(),
                lock_mode: LockMode::Compliance,
                retention_days: 90,
                deny_sids: vec!["TlsOnly".into(), "EvidenceIsNeverDeleted".into()],
            }),
        }
    }

    fn policy() -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"},
            {"Sid": "EvidenceIsNeverDeleted", "Effect": "Deny", "Principal": "*", "Action": ["s3:DeleteObject"], "Resource": "*"}
        ]})
        .to_string()
    }

    fn observed() -> Observed {
        Observed {
            rules: vec![(
                ("fb-bus".into(), "fb-PageEvents".into()),
                Seen::Found(RuleSeen {
                    state: ENABLED.into(),
                    targets: vec![FN.into()],
                }),
            )],
            functions: vec![(
                FN.into(),
                Seen::Found(FunctionSeen {
                    role_arn: ROLE.into(),
                    environment: env(),
                    reserved_concurrency: None,
                }),
            )],
            topics: vec![(
                TOPIC.into(),
                Seen::Found(TopicSeen {
                    subscriptions: vec![SubscriptionSeen {
                        arn: SUB.into(),
                        protocol: "email".into(),
                        filter_policy: None,
                    }],
                    policy: None,
                }),
            )],
            bucket: Some((
                "evidence".into(),
                Seen::Found(BucketSeen {
                    lock: Seen::Found(LockSeen {
                        enabled: true,
                        mode: Some("COMPLIANCE".into()),
                        days: Some(90),
                        years: Some(0),
                    }),
                    policy: Seen::Found(policy()),
                }),
            )),
        }
    }

    fn one(observed: &Observed) -> Drift {
        let d = drift(&wiring(), observed);
        assert_eq!(d.len(), 1, "{d:#?}");
        let line = d[0].line();
        assert!(line.contains("Fix: "), "{line}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
        d.into_iter().next().unwrap()
    }

    fn rule(o: &mut Observed) -> &mut Seen<RuleSeen> {
        &mut o.rules[0].1
    }
    fn function(o: &mut Observed) -> &mut FunctionSeen {
        match &mut o.functions[0].1 {
            Seen::Found(f) => f,
            _ => unreachable!(),
        }
    }
    fn topic(o: &mut Observed) -> &mut TopicSeen {
        match &mut o.topics[0].1 {
            Seen::Found(t) => t,
            _ => unreachable!(),
        }
    }
    fn bucket(o: &mut Observed) -> &mut BucketSeen {
        match o.bucket.as_mut().map(|b| &mut b.1) {
            Some(Seen::Found(b)) => b,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_wiring_as_deployed_has_no_drift() {
        assert_eq!(drift(&wiring(), &observed()), []);
        // An empty filter policy passes everything; GOVERNANCE in years counts in days.
        let mut o = observed();
        topic(&mut o).subscriptions[0].filter_policy = Some("{}".into());
        assert_eq!(drift(&wiring(), &o), []);
        let mut w = wiring();
        if let Some(b) = w.bucket.as_mut() {
            b.lock_mode = LockMode::Governance;
            b.retention_days = 365;
        }
        bucket(&mut o).lock = Seen::Found(LockSeen {
            enabled: true,
            mode: Some("GOVERNANCE".into()),
            days: None,
            years: Some(1),
        });
        assert_eq!(drift(&w, &o), []);
    }

    #[test]
    fn rules_missing_disabled_or_retargeted() {
        let mut o = observed();
        *rule(&mut o) = Seen::Missing;
        let d = one(&o);
        assert!(
            matches!(&d, Drift::RuleMissing { bus, rule } if bus == "fb-bus" && rule == "fb-PageEvents")
        );

        let mut o = observed();
        if let Seen::Found(r) = rule(&mut o) {
            r.state = "DISABLED".into();
        }
        let d = one(&o);
        assert!(matches!(d, Drift::RuleDisabled { .. }));
        assert!(
            d.line()
                .contains("aws events enable-rule --name fb-PageEvents --event-bus-name fb-bus"),
            "{}",
            d.line()
        );

        let mut o = observed();
        if let Seen::Found(r) = rule(&mut o) {
            r.targets.clear();
        }
        let d = one(&o);
        assert!(matches!(&d, Drift::TargetMissing { target, .. } if target == FN));

        let mut o = observed();
        if let Seen::Found(r) = rule(&mut o) {
            r.targets
                .push("arn:aws:sqs:us-east-1:999988887777:exfil".into());
        }
        let d = one(&o);
        assert!(matches!(&d, Drift::TargetAdded { target, .. } if target.contains("999988887777")));
    }

    #[test]
    fn functions_missing_re_roled_re_configured_or_throttled() {
        let mut o = observed();
        o.functions[0].1 = Seen::Missing;
        assert!(matches!(one(&o), Drift::FunctionMissing { .. }));

        let mut o = observed();
        function(&mut o).role_arn = "arn:aws:iam::111122223333:role/attacker".into();
        assert!(matches!(one(&o), Drift::RoleChanged { found, .. } if found.ends_with("attacker")));

        let mut o = observed();
        function(&mut o)
            .environment
            .insert("AWS_LAMBDA_EXEC_WRAPPER".into(), "/tmp/hook".into());
        let d = one(&o);
        assert!(
            matches!(&d, Drift::EnvironmentChanged { added, removed, .. } if added == &["AWS_LAMBDA_EXEC_WRAPPER"] && removed.is_empty())
        );
        assert!(
            d.line().contains("added AWS_LAMBDA_EXEC_WRAPPER"),
            "{}",
            d.line()
        );

        let mut o = observed();
        function(&mut o)
            .environment
            .insert("FIREBREAK_DRILLS".into(), "true".into());
        let d = one(&o);
        assert!(d.line().contains("values changed"), "{}", d.line());

        let mut o = observed();
        function(&mut o).environment.remove("FIREBREAK_BUS");
        assert!(
            matches!(one(&o), Drift::EnvironmentChanged { removed, .. } if removed == ["FIREBREAK_BUS"])
        );

        // The clock's own variables are not part of the fingerprint.
        let mut o = observed();
        function(&mut o)
            .environment
            .insert("FIREBREAK_WIRING_RULES".into(), "x".into());
        assert_eq!(drift(&wiring(), &o), []);

        let mut o = observed();
        function(&mut o).reserved_concurrency = Some(0);
        let d = one(&o);
        assert!(matches!(d, Drift::Throttled { .. }));
        assert!(d.line().contains("delete-function-concurrency"));
        function(&mut o).reserved_concurrency = Some(5);
        assert_eq!(drift(&wiring(), &o), []);
    }

    #[test]
    fn topics_missing_unsubscribed_filtered_or_denied() {
        let mut o = observed();
        o.topics[0].1 = Seen::Missing;
        assert!(matches!(one(&o), Drift::TopicMissing { .. }));

        let mut o = observed();
        topic(&mut o).subscriptions.clear();
        assert!(matches!(one(&o), Drift::NoSubscription { .. }));
        topic(&mut o).subscriptions.push(SubscriptionSeen {
            arn: "PendingConfirmation".into(),
            protocol: "email".into(),
            filter_policy: None,
        });
        assert!(matches!(one(&o), Drift::NoSubscription { .. }));

        let mut o = observed();
        topic(&mut o).subscriptions[0].filter_policy =
            Some("{\"severity\": [\"never\"]}\u{1b}[2J".into());
        let d = one(&o);
        assert!(matches!(&d, Drift::Filtered { subscription, .. } if subscription == SUB));
        assert!(
            d.line().contains("--attribute-name FilterPolicy"),
            "{}",
            d.line()
        );

        for denying in [
            serde_json::json!({"Sid": "NoPages", "Effect": "Deny", "Principal": "*", "Action": "SNS:Publish", "Resource": TOPIC}),
            serde_json::json!({"Sid": "NoPages", "Effect": "Deny", "Principal": {"AWS": CLOCK_ROLE}, "Action": ["sns:*"], "Resource": TOPIC}),
            serde_json::json!({"Sid": "NoPages", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "*", "Resource": TOPIC}),
            serde_json::json!({"Sid": "NoPages", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/other"]}}}),
            // Exempting CloudWatch's alarms (as the template does) exempts no role.
            serde_json::json!({"Sid": "NoPages", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC,
                "Condition": {"StringNotEquals": {"aws:PrincipalServiceName": "cloudwatch.amazonaws.com"},
                              "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/other"]}}}),
        ] {
            let mut o = observed();
            topic(&mut o).policy = Some(serde_json::json!({"Statement": [denying]}).to_string());
            assert!(
                matches!(one(&o), Drift::PublishDenied { statement, .. } if statement == "NoPages")
            );
        }
        for harmless in [
            serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "SNS:Publish", "Resource": TOPIC}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "sns:Subscribe", "Resource": TOPIC}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [CLOCK_ROLE]}}}),
        ] {
            let mut o = observed();
            topic(&mut o).policy = Some(serde_json::json!({"Statement": [harmless]}).to_string());
            assert_eq!(drift(&wiring(), &o), [], "{harmless}");
        }
    }

    #[test]
    fn the_bucket_lock_and_policy() {
        let mut o = observed();
        o.bucket = Some(("evidence".into(), Seen::Missing));
        assert!(matches!(one(&o), Drift::BucketMissing { .. }));

        let mut o = observed();
        bucket(&mut o).lock = Seen::Missing;
        assert!(matches!(one(&o), Drift::LockDisabled { .. }));
        bucket(&mut o).lock = Seen::Found(LockSeen {
            enabled: true,
            mode: None,
            days: None,
            years: None,
        });
        assert!(matches!(one(&o), Drift::LockDisabled { .. }));

        for (mode, days) in [("GOVERNANCE", 90), ("COMPLIANCE", 1)] {
            let mut o = observed();
            bucket(&mut o).lock = Seen::Found(LockSeen {
                enabled: true,
                mode: Some(mode.into()),
                days: Some(days),
                years: None,
            });
            let d = one(&o);
            assert!(
                matches!(&d, Drift::LockChanged { expected, found, .. } if expected == "COMPLIANCE 90 days" && found == &format!("{mode} {days} days")),
                "{d:?}"
            );
        }

        let mut o = observed();
        bucket(&mut o).policy = Seen::Missing;
        assert!(matches!(one(&o), Drift::PolicyMissing { .. }));

        // A statement removed, or turned into an Allow under the same Sid.
        let mut o = observed();
        let weakened = serde_json::json!({"Statement": [
            {"Sid": "TlsOnly", "Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
            {"Sid": "EvidenceIsNeverDeleted", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "*"}
        ]})
        .to_string();
        bucket(&mut o).policy = Seen::Found(weakened);
        assert!(matches!(one(&o), Drift::DenyMissing { sid, .. } if sid == "TlsOnly"));
        bucket(&mut o).policy = Seen::Found("not json".into());
        assert_eq!(drift(&wiring(), &o).len(), 2);
    }

    #[test]
    fn what_cannot_be_read_is_a_drift() {
        fn denied<T>() -> Seen<T> {
            Seen::Unreadable {
                code: "AccessDenied".into(),
                message: "not\nallowed".into(),
            }
        }
        let mut o = observed();
        *rule(&mut o) = denied();
        o.functions[0].1 = denied();
        o.topics[0].1 = denied();
        bucket(&mut o).lock = denied();
        bucket(&mut o).policy = denied();
        let d = drift(&wiring(), &o);
        assert_eq!(d.len(), 5, "{d:#?}");
        for x in &d {
            assert!(matches!(x, Drift::Unreadable { code, .. } if code == "AccessDenied"));
            assert!(!x.line().contains('\n'), "{}", x.line());
        }
        let d = drift(&wiring(), &Observed::default());
        assert_eq!(d.len(), 4, "{d:#?}");
        assert!(
            d.iter()
                .all(|x| matches!(x, Drift::Unreadable { code, .. } if code == "NotObserved"))
        );
    }

    #[test]
    fn rule_arns_and_lists_parse() {
        let r = RuleWiring::from_arn("arn:aws:events:eu-west-1:1:rule/stack-Triage-AB12", vec![])
            .unwrap();
        assert_eq!(
            (r.bus.as_str(), r.name.as_str()),
            ("default", "stack-Triage-AB12")
        );
        for bad in [
            "",
            "arn:aws:sns:eu-west-1:1:rule/x",
            "arn:aws:events:eu-west-1:1:event-bus/x",
            "arn:aws:events:eu-west-1:1:rule/",
            "arn:aws:events:eu-west-1:1:rule/a b",
        ] {
            assert_eq!(RuleWiring::from_arn(bad, vec![]), None, "{bad:?}");
        }
        let rules = parse_rules(&format!(
            " arn:aws:events:us-east-1:1:rule/bus/a={FN}|{FN}2 , arn:aws:events:us-east-1:1:rule/b={FN},"
        ))
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].targets, [FN.to_string(), format!("{FN}2")]);
        assert_eq!(rules[1].bus, "default");
        assert!(parse_rules("arn:aws:events:us-east-1:1:rule/a").is_err());
        assert!(parse_rules("nope=x").is_err());
        let e = Environment::of([("A", "1")]);
        let f = parse_functions(&format!("{FN}={ROLE}"), &e).unwrap();
        assert_eq!(f[0].role_arn, ROLE);
        assert!(parse_functions(&format!("{FN}={ROLE}|{ROLE}"), &e).is_err());
        assert!(parse_functions(&format!("fb-triage={ROLE}"), &e).is_err());
        assert_eq!(parse_rules("").unwrap(), []);
        let rule = "arn:aws:events:us-east-1:111122223333:rule/fb-credential-reads";
        let reads = parse_rules(&format!("{rule}@{ALL_MANAGEMENT_EVENTS}={FN}")).unwrap();
        assert_eq!(reads[0].state, ALL_MANAGEMENT_EVENTS);
        assert_eq!(reads[0].name, "fb-credential-reads");
        assert_eq!(
            parse_rules(&format!("{rule}={FN}")).unwrap()[0].state,
            ENABLED
        );
        assert!(parse_rules(&format!("{rule}@DISABLED={FN}")).is_err());
    }

    #[test]
    fn the_page_is_s1_and_names_every_drift() {
        let d = vec![
            Drift::RuleDisabled {
                bus: "b".into(),
                rule: "r".into(),
                state: "DISABLED".into(),
                expected: ENABLED.into(),
            },
            Drift::PolicyMissing {
                bucket: "evidence".into(),
            },
        ];
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T07:05:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let p = page(&d, now);
        assert!(p.subject.starts_with("[S1] ") && p.subject.contains("2 changes"));
        assert!(p.subject.len() <= 99);
        for x in &d {
            assert!(p.body.contains(&x.line()));
        }
        assert!(p.attributes.contains(&("severity".into(), "S1".into())));
        assert_eq!(hour(now), "2026-11-24T07");
        assert_eq!(log_id(), log_id());
    }

    #[test]
    fn what_the_doctor_finds_pages_as_blindness_and_beside_a_drift_as_the_self_check() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T07:05:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let blind = Drift::Blind {
            check: "forwarder".into(),
            problem: "no forwarder in eu-west-1.".into(),
            fix: "deploy infra/forwarder.yaml there".into(),
        };
        assert_eq!(
            blind.line(),
            "[forwarder] no forwarder in eu-west-1. Fix: deploy infra/forwarder.yaml there."
        );
        let p = page(std::slice::from_ref(&blind), now);
        assert_eq!(p.subject, "[S1] Firebreak is blind or deaf: 1 problem");
        assert!(p.body.contains(&blind.line()), "{}", p.body);
        let drift = Drift::RuleMissing {
            bus: "fb-bus".into(),
            rule: "fb-PageEvents".into(),
        };
        let p = page(&[drift, blind], now);
        assert_eq!(
            p.subject,
            "[S1] Firebreak's own wiring has drifted: 2 changes"
        );
    }
}
