//! `firebreak doctor`: reads what would make Firebreak blind or toothless in the account and
//! region of `clients` (trails, GuardDuty, failure queues, the topics' subscriptions, the last
//! passing drill), for `firebreak_core::lifecycle::doctor::diagnose` to judge. The wiring
//! check's drift lines are the caller's, from `run::wiring`.

use chrono::{DateTime, Utc};
use firebreak_core::lifecycle::doctor::{Diagnosis, Observed, Problem, diagnose};

use crate::service::{cloudtrail, guardduty, sns, sqs};

/// What the account shows to `responder`; each part that cannot be read says why.
pub async fn observe(
    responder: &crate::effect::Responder,
    queues: &[String],
    topics: &[String],
    wiring: Result<Vec<String>, String>,
    now: DateTime<Utc>,
) -> Observed {
    let clients = &responder.home;
    let sqs_client = aws_sdk_sqs::Client::new(&clients.sdk);
    let mut depths = Vec::new();
    for url in queues {
        depths.push((
            url.clone(),
            sqs::depth(&sqs_client, url)
                .await
                .map_err(|e| e.to_string()),
        ));
    }
    let mut subscriptions = Vec::new();
    for topic in topics {
        subscriptions.push((
            topic.clone(),
            sns::subscriptions(&clients.sns, topic)
                .await
                .map_err(|e| e.to_string()),
        ));
    }
    // The clock's own reading of the drills, without paging or writing anything.
    let last_drill = crate::run::clock::tick(
        &responder.evidence,
        &responder.pager,
        &responder.collector.identity,
        now,
        true,
    )
    .await
    .map(|tick| tick.last_drill_passed)
    .map_err(|e| e.to_string());
    Observed {
        region: clients
            .sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "(no region)".into()),
        trails: cloudtrail::trails(&clients.cloudtrail)
            .await
            .map_err(|e| e.to_string()),
        detectors: guardduty::detectors(&clients.guardduty)
            .await
            .map_err(|e| e.to_string()),
        queues: depths,
        topics: subscriptions,
        last_drill,
        wiring,
    }
}

/// Everything `firebreak doctor` reports, as `responder` sees the account: the deployed clock
/// `clock_function`'s environment names the wiring (checked dry: nothing is paged) and the
/// failure queues; the topics are the responder's.
pub async fn examine(
    responder: &crate::effect::Responder,
    clock_function: &str,
    now: DateTime<Utc>,
) -> (Observed, Diagnosis) {
    let (wiring, environment) =
        match crate::run::wiring::check_deployed(responder, clock_function, now, true).await {
            Ok((_, check, environment)) => (Ok(check.lines()), environment),
            Err(e) => (Err(e.to_string()), Default::default()),
        };
    let listed = |name: &str| -> Vec<String> {
        environment
            .get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let queues = listed("FIREBREAK_WIRING_FAILURE_QUEUES");
    // The topics the deployed functions page through, else the configuration's.
    let mut topics = listed("FIREBREAK_PAGER_TOPIC_ARN");
    topics.extend(listed("FIREBREAK_TICKET_TOPIC_ARN"));
    if topics.is_empty() {
        let stack = &responder.config.stack;
        topics = [&stack.pager_topic_arn, &stack.ticket_topic_arn]
            .into_iter()
            .filter(|t| !t.is_empty())
            .cloned()
            .collect();
    }
    let observed = observe(responder, &queues, &topics, wiring, now).await;
    let mut diagnosis = diagnose(&observed, now);
    if topics.is_empty() {
        diagnosis.problems.push(Problem {
            check: "subscription",
            problem: "no topic is known (neither the clock's environment nor --config names one): \
                      who gets paged cannot be checked"
                .into(),
            fix: "pass --config with the stack's topics, or redeploy the stack".into(),
        });
    }
    if queues.is_empty() {
        diagnosis.problems.push(Problem {
            check: "failure-queue",
            problem: format!(
                "{clock_function} names no failure queue (FIREBREAK_WIRING_FAILURE_QUEUES): they cannot \
                 be checked"
            ),
            fix: "redeploy the stack (sam deploy), which sets it".into(),
        });
    }
    (observed, diagnosis)
}
