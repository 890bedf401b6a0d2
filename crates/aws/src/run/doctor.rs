//! `firebreak doctor`: reads what would make Firebreak blind or toothless in the account and
//! region of `clients` (trails, GuardDuty, failure queues, the topics' subscriptions, the last
//! passing drill, the forwarders of every other enabled region), for
//! `firebreak_core::lifecycle::doctor::diagnose` to judge. The wiring check's drift lines are
//! the caller's, from `run::wiring`.

use chrono::{DateTime, Utc};
use firebreak_core::lifecycle::doctor::{
    Diagnosis, FORWARDER_PREFIX, Observed, Problem, RegionRules, diagnose,
};
use firebreak_core::lifecycle::heartbeat;
use firebreak_core::lifecycle::wiring::Drift;

use crate::service::{cloudtrail, ec2, eventbridge, guardduty, sns, sqs};

/// What the account shows to `responder`; each part that cannot be read says why.
pub async fn observe(
    responder: &crate::effect::Responder,
    queues: &[String],
    topics: &[String],
    wiring: Result<Vec<String>, String>,
    now: DateTime<Utc>,
) -> Observed {
    // The clock's own reading of the drills, without paging or writing anything.
    let last_drill = crate::run::clock::tick(
        &responder.evidence,
        &responder.pager,
        None,
        &responder.collector.identity,
        now,
        true,
    )
    .await
    .map(|tick| tick.last_drill_passed)
    .map_err(|e| e.to_string());
    Observed {
        last_drill,
        wiring,
        ..observe_account(&responder.home, queues, topics, false).await
    }
}

/// `firebreak doctor --accounts`: member `account`, entered through its read-only `role`
/// (`infra/member-role.yaml`'s audit role): its trails, GuardDuty in the home region, and a
/// forwarder in every region it has enabled. Each problem names the account.
pub async fn examine_member(
    home: &crate::Clients,
    partition: &str,
    account: &str,
    role: &str,
) -> Vec<Problem> {
    let clients = match crate::sdk::accounts::member_clients(
        home, partition, account, role, "doctor",
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Problem {
                check: "member",
                problem: format!(
                    "cannot enter account {account} as {role}: {}: nothing there is checked",
                    e.code
                ),
                fix: format!(
                    "deploy infra/member-role.yaml in {account} with AuditorArns naming your role \
                     (the StackSet's parameters), or pass --audit-role"
                ),
            }];
        }
    };
    let observed = observe_account(&clients, &[], &[], true).await;
    diagnose(&observed, Utc::now())
        .problems
        .into_iter()
        .filter(|p| matches!(p.check, "trail" | "guardduty" | "forwarder"))
        .map(|p| Problem {
            problem: format!("account {account}: {}", p.problem),
            ..p
        })
        .collect()
}

/// The checks the hourly clock runs (`FIREBREAK_HOURLY_DOCTOR`): trails, GuardDuty, forwarders,
/// failure queues, subscriptions, as `clients` see them, and the forwarders' heartbeats in
/// `store`; each problem as a drift of the self-check's page. The clock checks its wiring
/// itself and runs the drills.
pub async fn blind(
    clients: &crate::Clients,
    store: &crate::EvidenceStore,
    queues: &[String],
    topics: &[String],
) -> Vec<Drift> {
    let now = Utc::now();
    let observed = observe_account(clients, queues, topics, false).await;
    let mut drifts: Vec<Drift> = diagnose(&observed, now)
        .problems
        .into_iter()
        .filter(|p| !matches!(p.check, "drill" | "wiring"))
        .map(|p| Drift::Blind {
            check: p.check.to_string(),
            problem: p.problem,
            fix: p.fix,
        })
        .collect();
    match store
        .keys_after(heartbeat::PREFIX, &heartbeat::list_from(now))
        .await
    {
        Ok(keys) => drifts.extend(heartbeat::silent(&keys, now).into_iter().map(|s| {
            Drift::Blind {
                check: "heartbeat".into(),
                problem: format!(
                    "no heartbeat from account {} in {} since {}: its events may no longer reach Firebreak",
                    s.account,
                    s.region,
                    s.last.map_or_else(
                        || format!("over {} hours", heartbeat::LOOK_BACK_HOURS),
                        |h| format!("{h}:00 UTC")
                    )
                ),
                fix: format!(
                    "check the forwarder stack in {} {} (its rules enabled, targeting the intake bus through firebreak-forwarder-{}) or redeploy it from the StackSet; retired on purpose, write {}retired/{}/{}.json",
                    s.account, s.region, s.region, heartbeat::PREFIX, s.account, s.region
                ),
            }
        })),
        Err(e) => drifts.push(Drift::Blind {
            check: "heartbeat".into(),
            problem: format!("cannot read the forwarders' heartbeats: {e}"),
            fix: "check that the clock's role may list clock/ in the evidence bucket".into(),
        }),
    }
    drifts
}

/// Everything but the drills and the wiring (read as not read). The forwarders are looked for in
/// every region but the clients' own, or in `every_region` (a member account).
async fn observe_account(
    clients: &crate::Clients,
    queues: &[String],
    topics: &[String],
    every_region: bool,
) -> Observed {
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
    let region = clients
        .sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "(no region)".into());
    let (forwarders, regional_detectors) = regions(clients, &region, every_region).await;
    Observed {
        forwarders,
        regional_detectors,
        region,
        trails: cloudtrail::trails(&clients.cloudtrail)
            .await
            .map_err(|e| e.to_string()),
        detectors: guardduty::detectors(&clients.guardduty)
            .await
            .map_err(|e| e.to_string()),
        queues: depths,
        topics: subscriptions,
        last_drill: Err("not read".into()),
        wiring: Ok(Vec::new()),
    }
}

/// Each enabled region read a few at once: the forwarder rules of every region but `home`
/// (every region with `every_region`), and the GuardDuty detectors of every region but `home`
/// (which the caller reads itself); the list of regions when it could not be read.
async fn regions(
    clients: &crate::Clients,
    home: &str,
    every_region: bool,
) -> (Result<Vec<RegionRules>, String>, Vec<RegionDetectors>) {
    let regions = match ec2::enabled_regions(&clients.ec2).await {
        Ok(r) => r,
        Err(e) => return (Err(e.to_string()), Vec::new()),
    };
    // A task that failed is a region not read, named as such, never dropped.
    let joined = |done: Result<_, tokio::task::JoinError>| {
        done.unwrap_or_else(|e| {
            let why = format!("reading failed: {e}");
            ("(a region)".to_string(), Err(why.clone()), Err(why))
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for region in regions {
        if tasks.len() >= 8
            && let Some(done) = tasks.join_next().await
        {
            out.push(joined(done));
        }
        let sdk = clients
            .sdk
            .to_builder()
            .region(aws_config::Region::new(region.clone()))
            .build();
        tasks.spawn(async move {
            let events = aws_sdk_eventbridge::Client::new(&sdk);
            let rules = eventbridge::rules_named(&events, FORWARDER_PREFIX)
                .await
                .map_err(|e| e.to_string());
            let detectors = guardduty::detectors(&aws_sdk_guardduty::Client::new(&sdk))
                .await
                .map_err(|e| e.to_string());
            (region, rules, detectors)
        });
    }
    while let Some(done) = tasks.join_next().await {
        out.push(joined(done));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let mut forwarders = Vec::new();
    let mut detectors = Vec::new();
    for (region, rules, found) in out {
        if region != home {
            detectors.push((region.clone(), found));
        }
        if every_region || region != home {
            forwarders.push((region, rules));
        }
    }
    (Ok(forwarders), detectors)
}

/// A region and its GuardDuty detectors, or why they could not be read.
type RegionDetectors = (
    String,
    Result<Vec<firebreak_core::lifecycle::doctor::Detector>, String>,
);

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
