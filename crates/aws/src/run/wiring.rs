//! The self-check: reads Firebreak's own wiring with read-only calls (EventBridge DescribeRule
//! and ListTargetsByRule, Lambda GetFunctionConfiguration and GetFunctionConcurrency, SNS
//! ListSubscriptionsByTopic, GetSubscriptionAttributes and GetTopicAttributes, S3
//! GetObjectLockConfiguration and GetBucketPolicy), hands what it read to
//! [`firebreak_core::lifecycle::wiring::drift`], and pages S1 once per hour while anything drifted.
//!
//! A read that fails is recorded as such (`Seen::Unreadable`), never as "fine": a check that
//! cannot look must say so.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use firebreak_core::lifecycle::wiring::{
    self, BucketSeen, Drift, FunctionSeen, LockSeen, Observed, RuleSeen, Seen, SubscriptionSeen,
    TopicSeen, Wiring,
};
use firebreak_core::{Entry, Route};
use serde::Serialize;

use crate::sdk::error::{AwsError, SdkResultExt};
use crate::service::sns::Pager;
use crate::store::evidence::EvidenceStore;

/// The read-only clients the check needs.
#[derive(Debug, Clone)]
pub struct Observer {
    events: aws_sdk_eventbridge::Client,
    lambda: aws_sdk_lambda::Client,
    sns: aws_sdk_sns::Client,
    s3: aws_sdk_s3::Client,
}

impl Observer {
    /// Clients built from one configuration (S3 in path style, as everywhere in Firebreak).
    pub fn new(sdk: &SdkConfig) -> Observer {
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build();
        Observer::from_clients(
            aws_sdk_eventbridge::Client::new(sdk),
            aws_sdk_lambda::Client::new(sdk),
            aws_sdk_sns::Client::new(sdk),
            aws_sdk_s3::Client::from_conf(s3),
        )
    }

    /// From clients built elsewhere (a test may answer one of them with mocks).
    pub fn from_clients(
        events: aws_sdk_eventbridge::Client,
        lambda: aws_sdk_lambda::Client,
        sns: aws_sdk_sns::Client,
        s3: aws_sdk_s3::Client,
    ) -> Observer {
        Observer {
            events,
            lambda,
            sns,
            s3,
        }
    }

    /// Reads everything `expected` names.
    pub async fn observe(&self, expected: &Wiring) -> Observed {
        let mut observed = Observed::default();
        for rule in &expected.rules {
            let seen = seen(
                self.rule(&rule.bus, &rule.name).await,
                &["ResourceNotFoundException"],
            );
            observed
                .rules
                .push(((rule.bus.clone(), rule.name.clone()), seen));
        }
        for function in &expected.functions {
            let seen = seen(
                self.function(&function.arn).await,
                &["ResourceNotFoundException"],
            );
            observed.functions.push((function.arn.clone(), seen));
        }
        for topic in &expected.topics {
            let seen = seen(self.topic(&topic.arn).await, &["NotFound"]);
            observed.topics.push((topic.arn.clone(), seen));
        }
        if let Some(bucket) = &expected.bucket {
            observed.bucket = Some((bucket.name.clone(), self.bucket(&bucket.name).await));
        }
        observed
    }

    /// A deployed function's ARN, role and environment (the clock's, to learn the wiring its
    /// environment describes).
    pub async fn deployed(&self, function: &str) -> Result<Deployed, AwsError> {
        let config = self
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .aws()?;
        Ok(Deployed {
            arn: config.function_arn().unwrap_or(function).to_string(),
            role_arn: config.role().unwrap_or_default().to_string(),
            environment: config
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    async fn rule(&self, bus: &str, name: &str) -> Result<RuleSeen, AwsError> {
        let rule = self
            .events
            .describe_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await
            .aws()?;
        let mut targets = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .events
                .list_targets_by_rule()
                .rule(name)
                .event_bus_name(bus)
                .set_next_token(token)
                .send()
                .await
                .aws()?;
            targets.extend(page.targets().iter().map(|t| t.arn().to_string()));
            token = page.next_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
        Ok(RuleSeen {
            state: rule
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            targets,
        })
    }

    async fn function(&self, arn: &str) -> Result<FunctionSeen, AwsError> {
        let config = self
            .lambda
            .get_function_configuration()
            .function_name(arn)
            .send()
            .await
            .aws()?;
        let concurrency = self
            .lambda
            .get_function_concurrency()
            .function_name(arn)
            .send()
            .await
            .aws()?;
        let environment: BTreeMap<String, String> = config
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(FunctionSeen {
            role_arn: config.role().unwrap_or_default().to_string(),
            environment,
            reserved_concurrency: concurrency.reserved_concurrent_executions(),
        })
    }

    async fn topic(&self, arn: &str) -> Result<TopicSeen, AwsError> {
        let attributes = self
            .sns
            .get_topic_attributes()
            .topic_arn(arn)
            .send()
            .await
            .aws()?;
        let policy = attributes
            .attributes()
            .and_then(|a| a.get("Policy"))
            .cloned();
        let mut subscriptions = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(arn)
                .set_next_token(token)
                .send()
                .await
                .aws()?;
            for s in page.subscriptions() {
                let sub_arn = s.subscription_arn().unwrap_or_default().to_string();
                let filter_policy = if sub_arn.starts_with("arn:") {
                    self.sns
                        .get_subscription_attributes()
                        .subscription_arn(&sub_arn)
                        .send()
                        .await
                        .aws()?
                        .attributes()
                        .and_then(|a| a.get("FilterPolicy"))
                        .cloned()
                } else {
                    None
                };
                subscriptions.push(SubscriptionSeen {
                    arn: sub_arn,
                    protocol: s.protocol().unwrap_or_default().to_string(),
                    filter_policy,
                });
            }
            token = page.next_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
        Ok(TopicSeen {
            subscriptions,
            policy,
        })
    }

    async fn bucket(&self, bucket: &str) -> Seen<BucketSeen> {
        let lock = self
            .s3
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await
            .aws()
            .map(|out| {
                let c = out.object_lock_configuration();
                let retention = c.and_then(|c| c.rule()).and_then(|r| r.default_retention());
                LockSeen {
                    enabled: c
                        .and_then(|c| c.object_lock_enabled())
                        .is_some_and(|e| e.as_str() == "Enabled"),
                    mode: retention
                        .and_then(|r| r.mode())
                        .map(|m| m.as_str().to_string()),
                    days: retention.and_then(|r| r.days()),
                    years: retention.and_then(|r| r.years()),
                }
            });
        if let Err(e) = &lock {
            if e.code == "NoSuchBucket" {
                return Seen::Missing;
            }
        }
        let policy = self
            .s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .aws()
            .map(|out| out.policy().unwrap_or_default().to_string());
        if let Err(e) = &policy {
            if e.code == "NoSuchBucket" {
                return Seen::Missing;
            }
        }
        Seen::Found(BucketSeen {
            lock: seen(lock, &["ObjectLockConfigurationNotFoundError"]),
            policy: seen(policy, &["NoSuchBucketPolicy"]),
        })
    }
}

fn seen<T>(read: Result<T, AwsError>, not_found: &[&str]) -> Seen<T> {
    match read {
        Ok(t) => Seen::Found(t),
        Err(e) if not_found.contains(&e.code.as_str()) => Seen::Missing,
        Err(e) => Seen::Unreadable {
            code: e.code,
            message: e.message,
        },
    }
}

/// A deployed function as [`Observer::deployed`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Its ARN.
    pub arn: String,
    /// Its role.
    pub role_arn: String,
    /// Its environment variables.
    pub environment: BTreeMap<String, String>,
}

/// What one self-check found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Check {
    /// Every drift, in the order the wiring lists things.
    pub drifts: Vec<Drift>,
    /// The S1 page's SNS message id, when this run sent one.
    pub paged: Option<String>,
    /// The page for this hour had already been sent.
    pub already_paged: bool,
}

impl Check {
    /// One line per drift.
    pub fn lines(&self) -> Vec<String> {
        self.drifts.iter().map(Drift::line).collect()
    }
}

/// What a dry run reports instead of an SNS message id.
pub const NOT_SENT: &str = "(dry run: not sent)";

/// Reads the wiring, compares it with `expected`, and, when anything drifted (or `blind` holds
/// what the doctor's checks found), pages S1 (once per hour: the page is logged under
/// [`wiring::log_id`] with its hour, as `by`). A page about a topic that can no longer deliver
/// (filtered, unsubscribed, denied) also goes to the other topic. A `dry_run` reports the drift
/// and pages nobody.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    observer: &Observer,
    expected: &Wiring,
    blind: Vec<Drift>,
    store: &EvidenceStore,
    pager: &Pager,
    by: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Check, AwsError> {
    let observed = observer.observe(expected).await;
    let mut drifts = wiring::drift(expected, &observed);
    drifts.extend(blind);
    let mut check = Check {
        drifts,
        ..Check::default()
    };
    if check.drifts.is_empty() {
        return Ok(check);
    }
    if dry_run {
        check.paged = Some(NOT_SENT.to_string());
        return Ok(check);
    }
    let id = wiring::log_id();
    let hour = wiring::hour(now);
    let logged = crate::store::log::read(store, &id).await?;
    if logged
        .iter()
        .any(|e| matches!(&e.entry, Entry::Wiring { hour: h, .. } if *h == hour))
    {
        check.already_paged = true;
        return Ok(check);
    }
    let page = wiring::page(&check.drifts, now);
    // The page must not depend on what drifted: a topic that cannot deliver is routed around.
    let pager_broken = pager
        .topic(Route::Pager)
        .is_some_and(|t| check.drifts.iter().any(|d| silences(d, t)));
    let send = async {
        let mut message_id = match pager.send(Route::Pager, &page).await {
            Ok(id) => Some(id),
            Err(e) if pager.topic(Route::Ticket).is_some() => {
                tracing::warn!(error = %e, "the S1 topic refused the wiring page");
                None
            }
            Err(e) => return Err(e),
        };
        if pager_broken || message_id.is_none() {
            let ticket = pager.send(Route::Ticket, &page).await?;
            message_id.get_or_insert(ticket);
        }
        Ok(message_id.unwrap_or_default())
    };
    let drifts = check.lines();
    let sent = crate::store::log::page_and_log(
        store,
        &id,
        by,
        Box::pin(send),
        |message_id| {
            Some(Entry::Wiring {
                drifts,
                hour,
                message_id,
            })
        },
        now,
    )
    .await?;
    let message_id = sent.message_id;
    check.paged = Some(message_id);
    Ok(check)
}

/// True when `drift` keeps topic `topic`'s messages from someone.
fn silences(drift: &Drift, topic: &str) -> bool {
    match drift {
        Drift::TopicMissing { topic: t }
        | Drift::NoSubscription { topic: t }
        | Drift::Filtered { topic: t, .. }
        | Drift::PublishDenied { topic: t, .. } => t == topic,
        Drift::Unreadable { what, .. } => what == &format!("topic {topic}"),
        _ => false,
    }
}

/// The wiring the deployed clock `function`'s environment describes (the clock function
/// included), checked as `responder` (paged unless `dry_run`): how many parts were checked, the
/// check, and the clock's environment.
pub async fn check_deployed(
    responder: &crate::effect::Responder,
    function: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<(usize, Check, std::collections::BTreeMap<String, String>), AwsError> {
    let observer = Observer::new(&responder.home.sdk);
    let clock = observer.deployed(function).await.map_err(|e| {
        AwsError::new(
            &e.code,
            format!("reading the clock function {function}: {}", e.message),
        )
    })?;
    let mut expected = wiring::expected(&clock.environment, &responder.config)
        .map_err(|(name, message)| {
            AwsError::new("BadWiring", format!("{function}: {name}: {message}"))
        })?
        .ok_or_else(|| {
            AwsError::new(
                "BadWiring",
                format!("{function} carries no FIREBREAK_WIRING_* variables: is it the clock?"),
            )
        })?;
    let environment = wiring::Environment::of(
        clock
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    if !expected.functions.iter().any(|f| f.arn == clock.arn) {
        expected.functions.push(wiring::FunctionWiring {
            arn: clock.arn.clone(),
            role_arn: clock.role_arn.clone(),
            environment,
        });
    }
    let check = check(
        &observer,
        &expected,
        Vec::new(),
        &responder.evidence,
        &responder.pager,
        &responder.collector.identity,
        now,
        dry_run,
    )
    .await
    .map_err(|e| {
        AwsError::new(
            &e.code,
            format!("checking Firebreak's wiring: {}", e.message),
        )
    })?;
    let checked = expected.rules.len() + expected.functions.len() + expected.topics.len() + 1;
    Ok((checked, check, clock.environment))
}
