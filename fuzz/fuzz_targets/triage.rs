//! Arbitrary bytes through Firebreak's public path: `Event::parse`, then `Triage::triage` under
//! two configurations, then everything built from an incident (its plan, its page, its record).
//! Any panic is a crash. Besides "never panics", it checks the promises the core makes about
//! what it accepts and what it produces.

#![no_main]

use std::sync::OnceLock;

use firebreak_core::render::page::{self, MAX_SUBJECT, PageKind};
use firebreak_core::{Action, Config, Decision, Event, Incident, MAX_EVENT_BYTES, Stage, Triage};
use libfuzzer_sys::fuzz_target;

/// The configurations every input is triaged under: the built-in default, and the project's
/// (protections, the AMI allow-list, Cognito pools) with drills on, so that GuardDuty sample
/// findings reach the planner too.
fn triages() -> &'static [Triage] {
    static TRIAGES: OnceLock<Vec<Triage>> = OnceLock::new();
    TRIAGES.get_or_init(|| {
        let mut project = Config::from_toml(include_str!("../../infra/firebreak.toml"))
            .expect("infra/firebreak.toml is valid");
        project.drills.enabled = true;
        vec![
            Triage::new(Config::default()).expect("built-in rules"),
            Triage::new(project).expect("built-in rules"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    // EventBridge delivers UTF-8 text; other bytes never reach the core.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = Event::parse(text) else {
        return;
    };
    assert!(
        text.len() <= MAX_EVENT_BYTES,
        "an event over the limit was read"
    );
    // An accepted event is readable whole by a JSON tree reader, so a rule reading a raw body
    // later never gets `null` for something that is there.
    assert!(
        serde_json::from_str::<serde_json::Value>(text).is_ok(),
        "an event was accepted that serde_json::Value refuses"
    );
    for triage in triages() {
        match triage.triage(&event) {
            Ok(Decision::Incident(incident)) => check_incident(&incident),
            Ok(Decision::Ignored { reason }) => assert!(!reason.is_empty(), "ignored, no reason"),
            Err(error) => assert!(!error.to_string().is_empty(), "an error without a message"),
        }
    }
});

/// What the plan, the page and the record of an incident promise.
fn check_incident(incident: &Incident) {
    for planned in &incident.plan {
        let action = &planned.action;
        let _ = (action.kind(), action.class(), action.target());
        // Every action but the page belongs to exactly one of contain and preserve.
        let owners = [Stage::Contain, Stage::Preserve]
            .into_iter()
            .filter(|stage| stage.owns(action))
            .count();
        let expected = usize::from(!matches!(action, Action::Page { .. }));
        assert_eq!(
            owners,
            expected,
            "{} has {owners} owning stages",
            action.kind()
        );
    }
    for kind in [PageKind::Opened, PageKind::Updated, PageKind::Drill] {
        let page = page::compose(incident, &[], kind, "s3://evidence/incidents/x/");
        assert!(page.subject.len() <= MAX_SUBJECT, "subject too long");
        assert!(
            page.subject
                .bytes()
                .all(|b| b == b' ' || b.is_ascii_graphic()),
            "subject is not one printable ASCII line: {:?}",
            page.subject
        );
    }
    // The incident record is written as JSON and read back by the other functions and humans.
    let record = serde_json::to_string(incident).expect("an incident serializes");
    serde_json::from_str::<Incident>(&record).expect("an incident record reads back");
}
