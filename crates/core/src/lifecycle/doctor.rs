//! `firebreak doctor`: everything that would leave Firebreak blind or toothless, each problem
//! with its fix. Pure: the effector observes the account ([`Observed`]), this judges it.
//!
//! Blind: no trail logging management events (EventBridge then carries no CloudTrail event at
//! all), GuardDuty off or publishing every six hours, Firebreak's own wiring drifted. Toothless
//! or deaf: events waiting in a failure queue, a topic nobody confirmed, no passing drill for six
//! months (nobody knows whether the pipeline still works). Blind elsewhere: a region without
//! the forwarder, or with one of its rules disabled.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::lifecycle::drill::PLAN_REVIEW_EVERY;

/// GuardDuty's most frequent publishing of updated findings; the default is six hours.
pub const RECOMMENDED_FREQUENCY: &str = "FIFTEEN_MINUTES";

/// A CloudTrail trail as the account describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    /// Its name.
    pub name: String,
    /// `GetTrailStatus.IsLogging`.
    pub logging: bool,
    /// It logs every region.
    pub multi_region: bool,
    /// Its selectors include management events (no selectors at all means all of them).
    pub management_events: bool,
}

/// A GuardDuty detector of the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detector {
    /// Detector id.
    pub id: String,
    /// Status `ENABLED`.
    pub enabled: bool,
    /// `FindingPublishingFrequency`.
    pub frequency: String,
}

/// One subscription of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `PendingConfirmation` until its owner confirms it.
    pub arn: String,
    /// `email`, `https`, `sqs`…
    pub protocol: String,
}

/// What the effector read; each part is the reason it could not be read when it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The region looked at.
    pub region: String,
    /// The account's trails (visible from this region).
    pub trails: Result<Vec<Trail>, String>,
    /// The region's GuardDuty detectors.
    pub detectors: Result<Vec<Detector>, String>,
    /// Each failure queue (URL) and how many messages wait in it.
    pub queues: Vec<(String, Result<u64, String>)>,
    /// Each topic (ARN) Firebreak pages through, and its subscriptions.
    pub topics: Vec<(String, Result<Vec<Subscription>, String>)>,
    /// When a drill last passed, if ever.
    pub last_drill: Result<Option<DateTime<Utc>>, String>,
    /// Firebreak's own wiring: one line per drift (each with its fix).
    pub wiring: Result<Vec<String>, String>,
    /// Every other region the account has enabled, and the forwarder rules on its default bus
    /// (name, state); the list of regions itself when it could not be read.
    pub forwarders: Result<Vec<RegionRules>, String>,
    /// Every other enabled region's GuardDuty detectors (findings are regional: a region
    /// without a detector raises none).
    pub regional_detectors: Vec<(String, Result<Vec<Detector>, String>)>,
}

/// A region and its forwarder rules (name, state), or why they could not be read.
pub type RegionRules = (String, Result<Vec<(String, String)>, String>);

/// The prefix of `infra/forwarder.yaml`'s rules.
pub const FORWARDER_PREFIX: &str = "firebreak-forward-";

/// One thing that makes Firebreak blind or toothless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Which check found it (`trail`, `guardduty`, `failure-queue`, `subscription`, `drill`,
    /// `wiring`, `forwarder`).
    pub check: &'static str,
    /// What is wrong and what it costs.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// The checks that ran and the problems they found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Every check, in order.
    pub checked: Vec<&'static str>,
    /// Every problem; none means healthy.
    pub problems: Vec<Problem>,
}

/// Judges what the effector observed, at `now`.
pub fn diagnose(o: &Observed, now: DateTime<Utc>) -> Diagnosis {
    let mut problems = Vec::new();
    let mut add = |check: &'static str, problem: String, fix: String| {
        problems.push(Problem {
            check,
            problem,
            fix,
        })
    };
    let unreadable = |what: &str, why: &str| {
        (
            format!("cannot read {what}: {why}"),
            "run doctor as a role that may read it (the stack's ResponderRoleArns, or \
             SecurityAudit)"
                .to_string(),
        )
    };
    match &o.trails {
        Err(why) => {
            let (p, f) = unreadable("CloudTrail's trails", why);
            add("trail", p, f)
        }
        Ok(trails) => {
            let logging: Vec<&Trail> = trails
                .iter()
                .filter(|t| t.logging && t.management_events)
                .collect();
            if logging.is_empty() {
                add(
                    "trail",
                    format!(
                        "no trail is logging management events (region {}): EventBridge gets no \
                         \"AWS API Call via CloudTrail\" event, so every CloudTrail rule is blind",
                        o.region
                    ),
                    "aws cloudtrail create-trail --name firebreak-trail --s3-bucket-name BUCKET \
                     --is-multi-region-trail, then aws cloudtrail start-logging --name \
                     firebreak-trail"
                        .into(),
                );
            } else if !logging.iter().any(|t| t.multi_region) {
                add(
                    "trail",
                    format!(
                        "no logging trail covers every region (only {}): calls in other regions \
                         are not seen",
                        logging
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!(
                        "aws cloudtrail update-trail --name {} --is-multi-region-trail",
                        logging[0].name
                    ),
                );
            }
        }
    }
    let home = std::iter::once((&o.region, &o.detectors));
    let others = o.regional_detectors.iter().map(|(r, d)| (r, d));
    for (region, detectors) in home.chain(others) {
        match detectors {
            Err(why) => {
                let (p, f) = unreadable(&format!("GuardDuty's detectors in {region}"), why);
                add("guardduty", p, f)
            }
            Ok(detectors) if detectors.is_empty() => add(
                "guardduty",
                format!(
                    "GuardDuty is not enabled in {}: no finding is ever raised there",
                    region
                ),
                format!(
                    "aws guardduty create-detector --enable --finding-publishing-frequency \
                     {RECOMMENDED_FREQUENCY} --region {}",
                    region
                ),
            ),
            Ok(detectors) => {
                for d in detectors {
                    if !d.enabled {
                        add(
                            "guardduty",
                            format!(
                                "GuardDuty detector {} in {region} is suspended: no finding is raised",
                                d.id
                            ),
                            format!(
                                "aws guardduty update-detector --detector-id {} --enable --region {region}",
                                d.id
                            ),
                        );
                    } else if d.frequency != RECOMMENDED_FREQUENCY {
                        add(
                            "guardduty",
                            format!(
                                "GuardDuty detector {} in {region} publishes updated findings every {}: \
                                 a repeated attack reaches Firebreak that late",
                                d.id, d.frequency
                            ),
                            format!(
                                "aws guardduty update-detector --detector-id {} \
                                 --finding-publishing-frequency {RECOMMENDED_FREQUENCY} --region {region}",
                                d.id
                            ),
                        );
                    }
                }
            }
        }
    }
    for (queue, depth) in &o.queues {
        match depth {
            Err(why) => {
                let (p, f) = unreadable(&format!("failure queue {queue}"), why);
                add("failure-queue", p, f)
            }
            Ok(0) => {}
            Ok(n) => add(
                "failure-queue",
                format!("{n} event(s) wait in failure queue {queue}: Firebreak failed on them"),
                format!(
                    "read them (aws sqs receive-message --queue-url {queue} \
                     --message-attribute-names All), mend the cause, send each event again"
                ),
            ),
        }
    }
    for (topic, subscriptions) in &o.topics {
        match subscriptions {
            Err(why) => {
                let (p, f) = unreadable(&format!("the subscriptions of {topic}"), why);
                add("subscription", p, f)
            }
            Ok(subs) => {
                let pending: Vec<&Subscription> = subs
                    .iter()
                    .filter(|s| s.arn == "PendingConfirmation")
                    .collect();
                for s in &pending {
                    add(
                        "subscription",
                        format!(
                            "a {} subscription to {topic} was never confirmed: it receives no page",
                            s.protocol
                        ),
                        "confirm it from the message AWS sent, or subscribe again (aws sns \
                         subscribe) and confirm"
                            .into(),
                    );
                }
                if subs.len() == pending.len() {
                    add(
                        "subscription",
                        format!(
                            "topic {topic} has no confirmed subscription: its pages reach nobody"
                        ),
                        format!(
                            "aws sns subscribe --topic-arn {topic} --protocol email \
                             --notification-endpoint ONCALL, then confirm it"
                        ),
                    );
                }
            }
        }
    }
    match &o.last_drill {
        Err(why) => {
            let (p, f) = unreadable("the drills' results", why);
            add("drill", p, f)
        }
        Ok(None) => add(
            "drill",
            "no drill has ever passed: nobody knows whether the pipeline works end to end".into(),
            "firebreak drill".into(),
        ),
        Ok(Some(at)) if now - *at >= PLAN_REVIEW_EVERY => add(
            "drill",
            format!(
                "the last passing drill was {} days ago (on {}): the plan is due for review",
                (now - *at).num_days(),
                at.format("%Y-%m-%d")
            ),
            "firebreak drill".into(),
        ),
        Ok(Some(_)) => {}
    }
    match &o.wiring {
        Err(why) => {
            let (p, f) = unreadable("Firebreak's own wiring", why);
            add("wiring", p, f)
        }
        Ok(drifts) => {
            for line in drifts {
                let (problem, fix) = line
                    .split_once(" Fix: ")
                    .unwrap_or((line.as_str(), "redeploy the stack (sam deploy)"));
                add(
                    "wiring",
                    problem.trim_end_matches('.').to_string(),
                    fix.to_string(),
                );
            }
        }
    }
    match &o.forwarders {
        Err(why) => {
            let (p, f) = unreadable("the account's enabled regions", why);
            add("forwarder", p, f)
        }
        Ok(regions) => {
            for (region, rules) in regions {
                let deploy = format!(
                    "deploy infra/forwarder.yaml in {region} (docs/deploy.md: the StackSet over \
                     every region and account)"
                );
                match rules {
                    Err(why) => {
                        let (p, f) = unreadable(&format!("the rules of {region}"), why);
                        add("forwarder", p, f)
                    }
                    Ok(rules) if rules.is_empty() => add(
                        "forwarder",
                        format!(
                            "no forwarder in {region}: {} there never reach Firebreak",
                            if region == "us-east-1" {
                                "GuardDuty findings, IAM and console sign-in events"
                            } else {
                                "GuardDuty findings and CloudTrail events"
                            }
                        ),
                        deploy,
                    ),
                    Ok(rules) => {
                        for (name, state) in rules.iter().filter(|(_, s)| !s.starts_with("ENABLED"))
                        {
                            add(
                                "forwarder",
                                format!(
                                    "forwarder rule {name} in {region} is {state}: what it \
                                     matches there never reaches Firebreak"
                                ),
                                format!("aws events enable-rule --name {name} --region {region}"),
                            );
                        }
                    }
                }
            }
        }
    }
    Diagnosis {
        checked: vec![
            "trail",
            "guardduty",
            "failure-queue",
            "subscription",
            "drill",
            "wiring",
            "forwarder",
        ],
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0)
            .single()
            .unwrap()
    }

    fn healthy() -> Observed {
        Observed {
            region: "us-east-1".into(),
            trails: Ok(vec![Trail {
                name: "org".into(),
                logging: true,
                multi_region: true,
                management_events: true,
            }]),
            detectors: Ok(vec![Detector {
                id: "d1".into(),
                enabled: true,
                frequency: RECOMMENDED_FREQUENCY.into(),
            }]),
            queues: vec![("https://sqs/failures".into(), Ok(0))],
            topics: vec![(
                "arn:aws:sns:us-east-1:1:pager".into(),
                Ok(vec![Subscription {
                    arn: "arn:aws:sns:us-east-1:1:pager:abc".into(),
                    protocol: "email".into(),
                }]),
            )],
            last_drill: Ok(Some(now() - Duration::days(30))),
            wiring: Ok(Vec::new()),
            forwarders: Ok(vec![(
                "eu-west-1".into(),
                Ok(vec![(
                    "firebreak-forward-GuardDutyFinding".into(),
                    "ENABLED".into(),
                )]),
            )]),
            regional_detectors: vec![(
                "eu-west-1".into(),
                Ok(vec![Detector {
                    id: "d2".into(),
                    enabled: true,
                    frequency: RECOMMENDED_FREQUENCY.into(),
                }]),
            )],
        }
    }

    fn checks(o: &Observed) -> Vec<&'static str> {
        diagnose(o, now())
            .problems
            .iter()
            .map(|p| p.check)
            .collect()
    }

    #[test]
    fn a_healthy_account_has_no_problem() {
        let d = diagnose(&healthy(), now());
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(d.checked.len(), 7);
    }

    #[test]
    fn each_way_to_be_blind_is_one_problem_with_a_fix() {
        let mut cases: Vec<(&str, Observed)> = Vec::new();
        let mut o = healthy();
        o.trails = Ok(vec![Trail {
            logging: false,
            ..healthy().trails.unwrap()[0].clone()
        }]);
        cases.push(("trail", o));
        let mut o = healthy();
        o.trails = Ok(vec![Trail {
            multi_region: false,
            ..healthy().trails.unwrap()[0].clone()
        }]);
        cases.push(("trail", o));
        let mut o = healthy();
        o.detectors = Ok(Vec::new());
        cases.push(("guardduty", o));
        let mut o = healthy();
        o.detectors = Ok(vec![Detector {
            frequency: "SIX_HOURS".into(),
            ..healthy().detectors.unwrap()[0].clone()
        }]);
        cases.push(("guardduty", o));
        let mut o = healthy();
        o.queues = vec![("https://sqs/failures".into(), Ok(3))];
        cases.push(("failure-queue", o));
        let mut o = healthy();
        o.topics = vec![(
            "arn:aws:sns:us-east-1:1:pager".into(),
            Ok(vec![Subscription {
                arn: "PendingConfirmation".into(),
                protocol: "email".into(),
            }]),
        )];
        cases.push(("subscription", o));
        let mut o = healthy();
        o.last_drill = Ok(Some(now() - Duration::days(200)));
        cases.push(("drill", o));
        let mut o = healthy();
        o.last_drill = Ok(None);
        cases.push(("drill", o));
        let mut o = healthy();
        o.wiring = Ok(vec![
            "rule r on bus default is DISABLED. Fix: aws events enable-rule --name r".into(),
        ]);
        cases.push(("wiring", o));
        let mut o = healthy();
        o.detectors = Err("AccessDenied: not allowed".into());
        cases.push(("guardduty", o));
        let mut o = healthy();
        o.forwarders = Ok(vec![("us-east-1".into(), Ok(Vec::new()))]);
        cases.push(("forwarder", o));
        let mut o = healthy();
        o.forwarders = Ok(vec![(
            "eu-west-1".into(),
            Ok(vec![(
                "firebreak-forward-GuardDutyFinding".into(),
                "DISABLED".into(),
            )]),
        )]);
        cases.push(("forwarder", o));
        let mut o = healthy();
        o.forwarders = Err("UnauthorizedOperation".into());
        cases.push(("forwarder", o));
        let mut o = healthy();
        o.regional_detectors[0].1 = Ok(Vec::new());
        cases.push(("guardduty", o));
        for (check, o) in cases {
            let found = diagnose(&o, now()).problems;
            assert!(!found.is_empty(), "{check}: nothing found in {o:?}");
            assert!(found.iter().all(|p| p.check == check), "{check}: {found:?}");
            assert!(found.iter().all(|p| !p.fix.is_empty()), "{found:?}");
        }
        // An unconfirmed subscription beside a confirmed one is a problem; the topic still pages.
        let mut o = healthy();
        if let Ok(subs) = &mut o.topics[0].1 {
            subs.push(Subscription {
                arn: "PendingConfirmation".into(),
                protocol: "email".into(),
            });
        }
        assert_eq!(checks(&o), vec!["subscription"]);
        // The wiring's own fix is kept.
        let mut o = healthy();
        o.wiring = Ok(vec![
            "rule r is DISABLED. Fix: aws events enable-rule --name r".into(),
        ]);
        let p = &diagnose(&o, now()).problems[0];
        assert_eq!(p.fix, "aws events enable-rule --name r");
        assert_eq!(p.problem, "rule r is DISABLED");
    }
}
