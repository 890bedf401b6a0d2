//! The event patterns of `infra/template.yaml`, read from the template, installed as rules on the
//! emulator's EventBridge with an SQS queue behind each, and every file in `events/` routed
//! through them: each event reaches exactly the functions it should.

use std::collections::{BTreeMap, BTreeSet};

use firebreak_core::triage::rules::eventbridge_sources;
use firebreak_core::{
    Config, Decision, DetailType, IncidentNotice, Mode, Stage, StageFinished, Triage,
};
use firebreak_testbed::eventbridge::Taps;
use firebreak_testbed::moto::Moto;
use firebreak_testbed::{repo, template};
use serde_json::{Value, json};

/// Ignored events that the default-bus patterns cannot tell from incidents, because telling them
/// apart needs the configuration (protected principals, AMI allow-list, Cognito pools) or a
/// judgement of the request (trust policies, event selectors, service-linked callers). They reach
/// triage, which ignores them; every other ignored event must reach no function at all.
const DECIDED_BY_TRIAGE: &[(&str, &str)] = &[
    (
        "ct-ssm-start-automation-patch-manager-nearmiss.json",
        "ssm.allowed_principals",
    ),
    (
        "ct-ec2-instance-connect-patch-manager-nearmiss.json",
        "ssm.allowed_principals",
    ),
    (
        "ct-ssm-get-parameters-by-path-one-level-nearmiss.json",
        "recursive judged by the core",
    ),
    (
        "ct-kms-create-grant-own-account-nearmiss.json",
        "grantee account judged by the core",
    ),
    (
        "ct-iam-put-role-policy-scoped-nearmiss.json",
        "policy document and role judged by the core",
    ),
    (
        "ct-ssm-update-other-document-nearmiss.json",
        "which document judged by the core (Firebreak's own resources)",
    ),
    (
        "ct-ec2-authorize-security-group-ingress-elb-service-linked-nearmiss.json",
        "routine caller (service-linked role)",
    ),
    (
        "ct-ec2-authorize-security-group-ingress-from-security-group-nearmiss.json",
        "ingress source judged by the core",
    ),
    (
        "ct-ec2-authorize-security-group-ingress-ssh-office-nearmiss.json",
        "ingress source judged by the core",
    ),
    (
        "ct-ec2-create-network-acl-entry-egress-nearmiss.json",
        "ACL entry judged by the core",
    ),
    (
        "ct-ec2-modify-image-attribute-nearmiss.json",
        "launch permission judged by the core",
    ),
    (
        "ct-ec2-modify-instance-attribute-termination-protection-nearmiss.json",
        "attribute judged by the core",
    ),
    (
        "ct-ec2-modify-snapshot-attribute-nearmiss.json",
        "volume permission judged by the core",
    ),
    (
        "ct-ecr-set-repository-policy-nearmiss.json",
        "resource policy judged by the core",
    ),
    (
        "ct-guardduty-create-filter-noop-nearmiss.json",
        "filter action judged by the core",
    ),
    (
        "ct-iam-create-role-github-oidc-pinned-repo-nearmiss.json",
        "trust policy judged by the core",
    ),
    (
        "ct-kms-put-key-policy-nearmiss.json",
        "key policy judged by the core",
    ),
    (
        "ct-lambda-add-permission-s3-service-nearmiss.json",
        "permission principal judged by the core",
    ),
    (
        "ct-lambda-create-function-url-config-iam-auth-nearmiss.json",
        "auth type judged by the core",
    ),
    (
        "ct-lambda-update-function-code-ops-automation-nearmiss.json",
        "routine caller (protected principal)",
    ),
    (
        "ct-lambda-update-function-configuration-timeout-nearmiss.json",
        "configuration judged by the core",
    ),
    (
        "ct-rds-modify-db-snapshot-attribute-nearmiss.json",
        "snapshot attribute judged by the core",
    ),
    (
        "ct-s3-put-bucket-encryption-own-key-nearmiss.json",
        "key account judged by the core",
    ),
    (
        "ct-s3-put-bucket-lifecycle-nearmiss.json",
        "trail.buckets and lifecycle rules",
    ),
    (
        "ct-s3-put-bucket-lifecycle-tmp-prefix-nearmiss.json",
        "lifecycle filter judged by the core",
    ),
    (
        "ct-s3-put-bucket-logging-nearmiss.json",
        "logging status judged by the core",
    ),
    (
        "ct-s3-put-bucket-policy-deny-insecure-transport-nearmiss.json",
        "bucket policy judged by the core",
    ),
    (
        "ct-s3-put-bucket-policy-nearmiss.json",
        "bucket policy judged by the core",
    ),
    (
        "ct-s3-put-bucket-versioning-enabled-nearmiss.json",
        "versioning status judged by the core",
    ),
    (
        "ct-ssm-get-parameters-nine-names-nearmiss.json",
        "name count judged by the core",
    ),
    (
        "ct-ssm-send-command-patch-manager-nearmiss.json",
        "ssm.allowed_principals",
    ),
    (
        "ct-cloudtrail-put-event-selectors-nearmiss.json",
        "selectors judged by the core",
    ),
    (
        "ct-cognito-admin-create-user-marketplace-admin-nearmiss.json",
        "cognito.admin_principals",
    ),
    (
        "ct-cognito-sign-up-other-pool-nearmiss.json",
        "cognito.invite_only_pools",
    ),
    (
        "ct-ec2-run-instances-allowed-ami-nearmiss.json",
        "amis.allowed",
    ),
    (
        "ct-ec2-run-instances-small-nearmiss.json",
        "launches.costly_families and launches.max_instances",
    ),
    (
        "ct-ec2-run-instances-autoscaling-service-linked-role.json",
        "service-linked caller",
    ),
    (
        "ct-guardduty-update-detector-enabled-nearmiss.json",
        "enable = true judged by the core",
    ),
    (
        "ct-iam-create-role-service-trust-nearmiss.json",
        "trust policy judged by the core",
    ),
    (
        "ct-iam-update-assume-role-policy-same-account-nearmiss.json",
        "trust policy judged by the core",
    ),
];

fn corpus() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["events", "events/samples/guardduty"] {
        for entry in std::fs::read_dir(repo().join(dir)).expect(dir) {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path
                    .strip_prefix(repo().join("events"))
                    .expect("under events/");
                let text = std::fs::read_to_string(&path).expect("event");
                files.push((name.display().to_string(), text));
            }
        }
    }
    files.sort();
    files
}

fn triage() -> Triage {
    let text = std::fs::read_to_string(repo().join("infra/firebreak.toml")).expect("config");
    Triage::new(Config::from_toml(&text).expect("config")).expect("rules")
}

fn reached(got: &[(String, String, Value)]) -> BTreeSet<String> {
    got.iter().map(|(f, _, _)| f.clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_reaches_exactly_the_functions_it_should() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let taps = Taps::install(&sdk, "firebreak-bus").await;
    let triage = triage();
    let decided_by_triage: BTreeMap<&str, &str> = DECIDED_BY_TRIAGE.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut incidents = Vec::new();
    let (mut to_triage, mut to_none) = (0, 0);
    for (name, text) in corpus() {
        let event: Value = serde_json::from_str(&text).expect("JSON");
        taps.put(false, &event).await;
        let got = taps.drain().await;
        let functions = reached(&got);
        let rules: Vec<&str> = got.iter().map(|(_, r, _)| r.as_str()).collect();
        let decision = triage.triage_json(&text).expect("corpus events parse");
        let expected: BTreeSet<String> = match &decision {
            Decision::Incident(_) => ["TriageFunction".to_string()].into(),
            // Sample findings are drills when the stack's EnableDrills is on: triage decides.
            Decision::Ignored { .. }
                if decided_by_triage.contains_key(name.as_str())
                    || name.starts_with("samples/") =>
            {
                ["TriageFunction".to_string()].into()
            }
            Decision::Ignored { .. } => BTreeSet::new(),
        };
        if functions != expected || rules.len() > 1 {
            wrong.push(format!("{name}: reached {rules:?}, expected {expected:?}"));
        }
        if functions.is_empty() {
            to_none += 1;
        } else {
            to_triage += 1;
        }
        if let Decision::Incident(incident) = decision {
            incidents.push(*incident);
        }
    }
    assert!(wrong.is_empty(), "misrouted:\n{}", wrong.join("\n"));
    println!("{to_triage} events reach triage, {to_none} reach no function");

    // Only events AWS emitted: every corpus event, with its CloudTrail or GuardDuty detail kept
    // and its source forged (a customer's source, a SaaS partner's, a near miss of AWS's own),
    // reaches no function.
    let mut forged_count = 0;
    for (name, text) in corpus() {
        let event: Value = serde_json::from_str(&text).expect("JSON");
        for source in [
            "anything",
            "aws.partner/evil.example/1234/findings",
            "aws.partner/aws.guardduty",
            "aws",
            "aws.",
            "aws.iam.forged",
            "AWS.IAM",
        ] {
            let mut forged = event.clone();
            forged["source"] = source.into();
            taps.put(false, &forged).await;
            let got = taps.drain().await;
            assert!(
                got.is_empty(),
                "{name} with source {source:?} reached {:?}",
                got.iter().map(|(_, r, _)| r).collect::<Vec<_>>()
            );
            forged_count += 1;
        }
    }
    println!("{forged_count} forged-source events reach no function");

    // Firebreak's own bus: what triage, contain and preserve put reaches the next functions.
    for incident in &incidents {
        let notice = IncidentNotice {
            incident_id: incident.id.clone(),
            severity: incident.severity,
            route: incident.route,
            title: incident.title.clone(),
            event_key: format!("incidents/{}/events/x.json", incident.id),
            event_sha256: None,
            drill: incident.drill,
            auto_containment: incident
                .plan
                .iter()
                .any(|a| a.mode == Mode::Auto && Stage::Contain.owns(&a.action)),
        };
        let finished = StageFinished {
            incident_id: incident.id.clone(),
            severity: incident.severity,
            event_key: notice.event_key.clone(),
            outcomes: Vec::new(),
            evidence_location: String::new(),
            manifest_key: None,
        };
        let event = |d: DetailType, detail: Value| json!({"source": "firebreak", "detail-type": d.as_str(), "detail": detail});
        let notice_json = serde_json::to_value(&notice).expect("notice");
        let finished_json = serde_json::to_value(&finished).expect("finished");
        let mut opened: BTreeSet<String> = ["PreserveFunction", "PageFunction"]
            .map(String::from)
            .into();
        if notice.auto_containment {
            opened.insert("ContainFunction".into());
        }
        let page_only: BTreeSet<String> = ["PageFunction".to_string()].into();
        for (d, detail, expected) in [
            (DetailType::IncidentOpened, &notice_json, &opened),
            (DetailType::IncidentUpdated, &notice_json, &page_only),
            (DetailType::ContainmentFinished, &finished_json, &page_only),
            (DetailType::EvidencePreserved, &finished_json, &page_only),
        ] {
            taps.put(true, &event(d, detail.clone())).await;
            let got = reached(&taps.drain().await);
            assert_eq!(&got, expected, "{} {}", d.as_str(), incident.id);
        }
    }
    // Near misses on Firebreak's bus: another source, an unknown detail-type.
    for forged in [
        json!({"source": "not-firebreak", "detail-type": "Incident Opened", "detail": {"auto_containment": true}}),
        json!({"source": "firebreak", "detail-type": "Incident Closed", "detail": {}}),
    ] {
        taps.put(true, &forged).await;
        assert!(taps.drain().await.is_empty(), "{forged} reached a function");
    }
    // A drill's finding reaches triage through the Drills rule alone, on Firebreak's bus (where
    // only Firebreak's roles may put), and triage takes it as a drill; the same finding on the
    // default bus, or from another source, reaches nothing.
    let now = chrono::Utc::now();
    let drill: Value = serde_json::from_str(&firebreak_core::lifecycle::drill::event(
        "patterns",
        "111122223333",
        "us-east-1",
        now,
    ))
    .expect("drill event");
    taps.put(true, &drill).await;
    let got = taps.drain().await;
    let rules: Vec<&str> = got.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(reached(&got), ["TriageFunction".to_string()].into());
    assert_eq!(rules, ["Drills"]);
    taps.put(false, &drill).await;
    assert!(
        taps.drain().await.is_empty(),
        "a drill put on the default bus reached a function"
    );
    let mut forged = drill.clone();
    forged["source"] = "firebreak.drills".into();
    taps.put(true, &forged).await;
    assert!(
        taps.drain().await.is_empty(),
        "a near-miss drill source reached a function"
    );
    // And an incident event put on the default bus reaches none of Firebreak's bus rules.
    taps.put(false, &json!({"source": "firebreak", "detail-type": "Incident Opened", "detail": {"auto_containment": true}})).await;
    assert!(taps.drain().await.is_empty());
}

/// Every rule that carries CloudTrail or GuardDuty detail types lists its exact sources: no
/// prefix, no wildcard, no partner source, each one an `aws.<service>` that some eventSource maps
/// to; and every pattern fits EventBridge's 2,048-character quota.
#[test]
fn every_aws_rule_lists_exact_aws_sources_and_fits_the_pattern_quota() {
    let mut checked = 0;
    for rule in template::rules() {
        let size = rule.pattern.to_string().len();
        assert!(
            size <= 2048,
            "{}: the pattern is {size} characters; EventBridge allows 2,048",
            rule.name
        );
        let types = template::strings(&rule.pattern["detail-type"]);
        if !types
            .iter()
            .any(|t| template::AWS_DETAIL_TYPES.contains(&t.as_str()))
        {
            continue;
        }
        checked += 1;
        let sources = template::strings(&rule.pattern["source"]);
        assert!(!sources.is_empty(), "{} has no source filter", rule.name);
        let unique: BTreeSet<&String> = sources.iter().collect();
        assert_eq!(unique.len(), sources.len(), "{}: a source twice", rule.name);
        for source in &sources {
            if rule.name == "Drills" {
                assert_eq!(
                    source,
                    firebreak_core::lifecycle::drill::SOURCE,
                    "{}",
                    rule.name
                );
                continue;
            }
            // The eventSource an aws.<service> source stands for, mapped back by the one mapping.
            let service = source
                .strip_prefix("aws.")
                .unwrap_or_else(|| panic!("{}: {source} is not an AWS source", rule.name));
            let event_source = match service {
                "cloudwatch" => "monitoring.amazonaws.com".to_string(),
                s => format!("{s}.amazonaws.com"),
            };
            assert!(
                eventbridge_sources(&event_source).contains(source),
                "{}: {source} is not a source of {event_source}",
                rule.name
            );
        }
    }
    assert_eq!(
        checked,
        4 + INDICATOR_RULES.len(),
        "GuardDutyFinding, Drills, RootActivity, Intake and {INDICATOR_RULES:?}"
    );
    // Root's sign-in and root's calls to every service an indicator watches reach RootActivity.
    let root: BTreeSet<String> =
        template::strings(&template::rule("RootActivity").pattern["source"])
            .into_iter()
            .collect();
    let indicators: Vec<String> = INDICATOR_RULES
        .iter()
        .flat_map(|name| template::strings(&template::rule(name).pattern["source"]))
        .collect();
    for source in indicators
        .iter()
        .map(String::as_str)
        .chain(["aws.signin", "aws.sts"])
    {
        assert!(root.contains(source), "RootActivity lacks {source}");
    }
}

/// The rules that carry the rule table's CloudTrail calls (infra/gen_patterns.py writes them:
/// one pattern cannot hold them all under EventBridge's 2,048 characters).
const INDICATOR_RULES: [&str; 7] = [
    "IndicatorCalls",
    "FirebreakAttackedCalls",
    "EscalationCalls",
    "EvasionCalls",
    "PersistenceCalls",
    "ExposureCalls",
    "CredentialReads",
];

/// The indicator rules' event names and sources are together exactly the runbook table's (an
/// event name by prefix as `{prefix: …}`, the table's `…*`).
#[test]
fn the_indicator_pattern_lists_every_runbook_call() {
    let rules = firebreak_core::RuleSet::builtin().expect("rules");
    let names: BTreeSet<String> = rules
        .rules()
        .iter()
        .flat_map(|r| r.events.clone())
        .collect();
    let sources: BTreeSet<String> = rules.rules().iter().map(|r| r.source.clone()).collect();
    let name_of = |v: &Value| -> String {
        match v.get("prefix").and_then(Value::as_str) {
            Some(prefix) => format!("{prefix}*"),
            None => v.as_str().expect("a name or a prefix").to_string(),
        }
    };
    let (mut listed_names, mut listed_sources) = (BTreeSet::new(), BTreeSet::new());
    for name in INDICATOR_RULES {
        let rule = template::rule(name);
        listed_names.extend(
            rule.pattern["detail"]["eventName"]
                .as_array()
                .expect("a list")
                .iter()
                .map(name_of),
        );
        let event_sources = template::strings(&rule.pattern["detail"]["eventSource"]);
        // Its `source` list is its eventSource list mapped by the one mapping triage uses,
        // entry by entry.
        let mapped: Vec<String> = event_sources
            .iter()
            .flat_map(|e| {
                let sources = eventbridge_sources(e);
                assert!(!sources.is_empty(), "{e} maps to no source");
                sources
            })
            .collect();
        assert_eq!(template::strings(&rule.pattern["source"]), mapped, "{name}");
        listed_sources.extend(event_sources);
    }
    assert_eq!(listed_names, names);
    assert_eq!(listed_sources, sources);
}

/// EventBridge delivers read-only management events only to a rule in state
/// `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`: the rule carrying the table's read-only calls
/// (category `credential-access`) has it, and only that narrow rule (every read in the account is
/// matched against such a rule).
#[test]
fn read_only_calls_have_the_one_rule_that_can_see_them() {
    const ALL_MANAGEMENT: &str = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS";
    let table = firebreak_core::RuleSet::builtin().expect("rules");
    let reads: BTreeSet<String> = table
        .rules()
        .iter()
        .filter(|r| r.category == "credential-access")
        .flat_map(|r| r.events.clone())
        .collect();
    assert!(!reads.is_empty());
    let mut carriers = Vec::new();
    for rule in template::rules() {
        let names: Vec<&str> = rule.pattern["detail"]["eventName"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let carries = names.iter().any(|n| reads.contains(*n));
        if rule.state.as_deref() == Some(ALL_MANAGEMENT) {
            assert!(carries, "{} sees every read but needs none", rule.name);
            assert!(
                names.iter().all(|n| reads.contains(*n)),
                "{} mixes read-only calls with others",
                rule.name
            );
            carriers.push(rule.name.clone());
        } else {
            assert!(
                !carries,
                "{} lists a read-only call but cannot see it",
                rule.name
            );
        }
    }
    assert_eq!(carriers, ["CredentialReads"]);
}

/// The template gives every function exactly the settings the functions read, and builds each
/// function from the binary of the same name.
#[test]
fn the_clock_runs_hourly_and_the_drill_monthly() {
    let schedules = template::schedules();
    assert_eq!(
        schedules,
        [
            ("ClockFunction".to_string(), "rate(1 hour)".to_string()),
            (
                "DrillFunction".to_string(),
                "cron(0 10 1 * ? *)".to_string()
            ),
        ]
    );
}

#[test]
fn the_template_and_the_functions_agree() {
    let t = template::load();
    let mut given: BTreeSet<String> = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .expect("Globals environment")
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    // The clock's self-check reads its own FIREBREAK_WIRING_* beside the shared variables, and
    // preserve and contain their memory step's FIREBREAK_MEMORY_*.
    for function in ["ClockFunction", "PreserveFunction", "ContainFunction"] {
        given.extend(
            t["Resources"][function]["Properties"]["Environment"]["Variables"]
                .as_mapping()
                .into_iter()
                .flat_map(|m| m.keys())
                .filter_map(|k| k.as_str().map(String::from)),
        );
    }
    let read: BTreeSet<String> = firebreak_lambda::settings::VARIABLES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(given, read);
    let resources = t["Resources"].as_mapping().expect("Resources");
    let mut binaries = BTreeSet::new();
    for (id, r) in resources {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        assert_eq!(
            r["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id:?}"
        );
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary");
        assert!(
            repo()
                .join("crates/functions")
                .join(binary)
                .join("src/main.rs")
                .exists(),
            "{binary}"
        );
        binaries.insert(binary.to_string());
    }
    let functions: BTreeSet<String> = firebreak_lambda::Function::ALL
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(binaries, functions);
}
