//! Drills: a synthetic GuardDuty finding marked as a drill, sent through the real pipeline with
//! containment dry, then checked stage by stage against the incident's log. A passing drill is
//! the plan review the runbook asks for every six months.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::record::Record;
use crate::record::log::Entry;
pub use crate::record::log::{Check, passed};
use crate::record::outcome::Status;

/// The kinds of action that change who can do what: a drill must leave every one dry.
const CONTAINMENT: [&str; 10] = [
    "deactivate_access_key",
    "revoke_user_sessions",
    "revoke_role_sessions",
    "deny_user",
    "revoke_instance_profile_sessions",
    "cognito_stop_sign_up",
    "cognito_disable_user",
    "cognito_global_sign_out",
    "block_public_access",
    "isolate_instance",
];

/// The `source` of a drill event. Triage takes any event with this source as a drill, so its
/// containment runs dry whatever the configuration says.
pub const SOURCE: &str = "firebreak.drill";

/// The response plan is reviewed at least this often; a passing drill counts as a review.
pub const PLAN_REVIEW_EVERY: Duration = Duration::days(183);

/// The finding a drill replays: an access key used from a listed malicious IP, which opens an
/// incident that every stage acts on (contain plans a key deactivation, preserve locks evidence,
/// page pages).
const FINDING: &str = include_str!("drill-finding.json");

/// The drill event for run `run` (a short id, such as the start time) in `account` and `region`,
/// stamped `now`: a GuardDuty sample finding with its own id, first emit, on [`SOURCE`].
pub fn event(run: &str, account: &str, region: &str, now: DateTime<Utc>) -> String {
    let mut event: Value = serde_json::from_str(FINDING).unwrap_or(Value::Null);
    let time = now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let finding_id = format!("firebreak-drill-{run}");
    let digest = Sha256::digest(finding_id.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let event_id = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    if let Value::Object(map) = &mut event {
        map.insert("id".into(), event_id.into());
        map.insert("source".into(), SOURCE.into());
        map.insert("account".into(), account.into());
        map.insert("region".into(), region.into());
        map.insert("time".into(), time.clone().into());
    }
    let detail = &mut event["detail"];
    if let Value::Object(d) = detail {
        let arn =
            format!("arn:aws:guardduty:{region}:{account}:detector/drill/finding/{finding_id}");
        d.insert("id".into(), finding_id.into());
        d.insert("arn".into(), arn.into());
        d.insert("accountId".into(), account.into());
        d.insert("region".into(), region.into());
        d.insert("createdAt".into(), time.clone().into());
        d.insert("updatedAt".into(), time.into());
        d.insert(
            "title".into(),
            "[DRILL] Firebreak drill: an access key used from a listed malicious IP".into(),
        );
    }
    if let Value::Object(s) = &mut event["detail"]["service"] {
        s.insert("count".into(), 1.into());
        s.insert("archived".into(), false.into());
        s.insert(
            "additionalInfo".into(),
            json!({ "sample": true, "type": "default", "value": "{\"sample\":true}" }),
        );
    }
    event.to_string()
}

/// What each stage must have left in the drill incident's log: triage opened it as a drill,
/// contain logged its actions and none of them changed anything, preserve logged a locked
/// manifest, page logged a page.
pub fn checks(record: &Record) -> Vec<Check> {
    let entries = || record.entries.iter().map(|e| &e.entry);
    let actions: Vec<_> = entries()
        .filter_map(|e| match e {
            Entry::Action { outcome } => Some(outcome),
            _ => None,
        })
        .collect();
    let check = |stage: &str, expects: &str, passed: bool| Check {
        stage: stage.into(),
        expects: expects.into(),
        passed,
    };
    vec![
        check(
            "triage",
            "the incident was opened, marked as a drill",
            record.opening.is_some() && record.is_drill(),
        ),
        check(
            "contain",
            "containment logged its actions, every one dry",
            {
                let contained: Vec<_> = actions
                    .iter()
                    .filter(|o| CONTAINMENT.contains(&o.kind.as_str()))
                    .collect();
                !contained.is_empty()
                    && contained
                        .iter()
                        .all(|o| matches!(o.status, Status::DryRun { .. }))
            },
        ),
        check(
            "preserve",
            "a manifest of the evidence was locked",
            entries()
                .any(|e| matches!(e, Entry::Evidence { item_kind, .. } if item_kind == "manifest")),
        ),
        check(
            "page",
            "a page was sent",
            entries().any(|e| matches!(e, Entry::Page { .. })),
        ),
    ]
}

/// True when the plan review is due: no passing drill since [`PLAN_REVIEW_EVERY`] ago.
pub fn plan_review_due(last_pass: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_pass.is_none_or(|at| now - at >= PLAN_REVIEW_EVERY)
}

/// When this record's drill passed, if it is a drill that did.
pub fn passed_at(record: &Record) -> Option<DateTime<Utc>> {
    record
        .entries
        .iter()
        .filter_map(|e| match &e.entry {
            Entry::Drill { passed: true, .. } => Some(e.at),
            _ => None,
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::time;
    use crate::{Config, Decision, Triage};

    fn now() -> DateTime<Utc> {
        time("2026-11-24T07:00:00Z")
    }

    #[test]
    fn the_drill_event_opens_a_drill_incident_even_with_sample_drills_off() {
        let raw = event("20261124T0700", "111122223333", "eu-west-1", now());
        let triage = Triage::new(Config::default()).unwrap();
        assert!(!triage.config().drills.enabled);
        let Decision::Incident(incident) = triage.triage_json(&raw).unwrap() else {
            panic!("ignored");
        };
        assert!(incident.drill && !incident.is_update());
        assert_eq!(
            (incident.account.as_str(), incident.region.as_str()),
            ("111122223333", "eu-west-1")
        );
        assert_eq!(incident.detected_at, now());
        assert!(incident.plan.iter().any(|a| a.action.is_containment()));
        // A run in another minute is another incident; a burst within one minute is one
        // incident, so drills cannot be used to lock evidence without bound.
        let id = |at: DateTime<Utc>, run: &str| match triage
            .triage_json(&event(run, "111122223333", "eu-west-1", at))
            .unwrap()
        {
            Decision::Incident(i) => i.id,
            Decision::Ignored { reason } => panic!("{reason}"),
        };
        assert_eq!(id(now(), "20261224T0700b"), incident.id);
        assert_ne!(
            id(now() + chrono::Duration::minutes(1), "20261224T0701"),
            incident.id
        );
    }

    #[test]
    fn a_drill_event_cannot_take_a_real_findings_incident() {
        let triage = Triage::new(Config::default()).unwrap();
        let real = FINDING.to_string();
        let mut forged: Value = serde_json::from_str(FINDING).unwrap();
        forged["source"] = SOURCE.into();
        let id = |raw: &str| match triage.triage_json(raw).unwrap() {
            Decision::Incident(i) => (i.id, i.drill),
            Decision::Ignored { reason } => panic!("{reason}"),
        };
        let (real_id, real_drill) = id(&real);
        let (forged_id, forged_drill) = id(&forged.to_string());
        assert!(!real_drill && forged_drill);
        assert_ne!(real_id, forged_id);
    }

    #[test]
    fn the_plan_review_falls_due_six_months_after_the_last_passing_drill() {
        assert!(plan_review_due(None, now()));
        assert!(!plan_review_due(Some(now() - Duration::days(182)), now()));
        assert!(plan_review_due(Some(now() - Duration::days(183)), now()));
        assert!(!passed(&[]));
    }
}
