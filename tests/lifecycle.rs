//! An incident's paperwork on the emulator: from the finding to closed through the functions and
//! the real `firebreak` binary, the deadline clock paging until a human acknowledges, and a drill
//! through the pipeline that satisfies the plan review.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use firebreak_core::record::Record;
use firebreak_core::render::report;
use firebreak_core::{Entry, IncidentId, LogEntry, Obligation};
use firebreak_lambda::Context;
use firebreak_testbed::cli::{CALLER, Cli};
use firebreak_testbed::eventbridge::{Taps, drain_queue};
use firebreak_testbed::lambda::{contexts, deliver, function_env, pump};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::{browser, iam_user_finding, seed};
use serde_json::Value;

const BUS: &str = "firebreak-bus";

/// The emulator with the stack, the template's rules tapped, and the six functions in-process.
async fn pipeline(name: &str) -> (Cli, Taps, BTreeMap<&'static str, Context>) {
    let cli = Cli::start(name).await;
    let taps = Taps::install(&cli.sdk, BUS).await;
    let creds = cli.moto.home_credentials().await;
    let env = function_env(&cli.moto, &creds, &cli.stack, BUS);
    let mut functions = contexts(&env, &cli.sdk);
    for ctx in functions.values_mut() {
        ctx.stale_after = chrono::Duration::milliseconds(500);
        ctx.drill_wait = Duration::from_secs(60);
    }
    (cli, taps, functions)
}

/// The pages the stack's queue holds now: (kind attribute, subject, body).
/// Every page on the queue, emptied: `(kind, subject, message)`. The plan-review page is left
/// out: with no drill on record the clock sends it on any run in the 09:00 UTC hour, and the
/// ticks here fall at times relative to when the test runs (the drill test reads it from the
/// tick's answer instead).
async fn pages(cli: &Cli) -> Vec<(String, String, String)> {
    let sqs = aws_sdk_sqs::Client::new(&cli.sdk);
    drain_queue(&sqs, &cli.stack.queue_url)
        .await
        .into_iter()
        .map(|body| {
            let v: Value = serde_json::from_str(&body).expect("SNS envelope");
            let text = |f: &str| v[f].as_str().unwrap_or_default().to_string();
            let kind = v["MessageAttributes"]["kind"]["Value"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (kind, text("Subject"), text("Message"))
        })
        .filter(|(_, subject, _)| {
            !subject.starts_with("Firebreak: the response plan is due for review")
        })
        .collect()
}

async fn record(ctx: &Context, id: &IncidentId) -> Record {
    firebreak_aws::store::log::record(ctx.evidence(), id)
        .await
        .expect("the incident's log")
}

/// A finding about a real key, through triage, contain, preserve and page.
async fn open_incident(
    cli: &Cli,
    taps: &Taps,
    functions: &BTreeMap<&'static str, Context>,
    user: &str,
) -> IncidentId {
    let (key, _) = seed::user_with_two_keys(&cli.iam(), user).await;
    let finding = iam_user_finding(user, &key, HOME_ACCOUNT).to_string();
    let opened = deliver(&functions["triage"], &finding).await;
    pump(taps, functions, 0).await;
    IncidentId::parse(opened["incident_id"].as_str().expect("incident id")).expect("id")
}

#[tokio::test]
async fn an_incident_from_event_to_closed_whose_report_lists_every_entry() {
    let (cli, taps, functions) = pipeline("lifecycle").await;
    let id = open_incident(&cli, &taps, &functions, "deploy-bot").await;
    let id_text = id.as_str();
    assert!(!pages(&cli).await.is_empty(), "the pipeline paged");

    // Humans: a wrong obligation is refused, a breach is confirmed, drafts are prepared, the
    // Amazon notice is acknowledged (once), the incident is closed.
    let (code, _, err) = cli.run(&["ack", id_text, "lunch"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not an obligation"), "{err}");
    let (code, out, err) = cli.run(&[
        "confirm-breach",
        id_text,
        "--note",
        "build logs with customer e-mail addresses were read",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("breach_confirmed"), "{out}");
    assert!(
        out.contains("gdpr-authority  due in 2d 23h")
            || out.contains("gdpr-authority  due in 3d 0h"),
        "{out}"
    );
    for notice in ["amazon", "gdpr-authority", "gdpr-subjects"] {
        let (code, out, err) = cli.run(&["notice", id_text, notice]);
        assert_eq!(code, 0, "{notice}: {err}");
        assert!(
            out.contains(firebreak_core::render::notice::TO_FILL),
            "{notice}: {out}"
        );
        if notice == "gdpr-subjects" {
            assert!(
                !out.contains("arn:") && !out.contains(HOME_ACCOUNT),
                "{out}"
            );
        } else {
            assert!(out.contains(id_text), "{notice}: {out}");
        }
    }
    let (code, out, err) = cli.run(&["ack", id_text, "notify-amazon", "--note", "sent"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("acknowledged by {CALLER}")), "{out}");
    let (code, out, _) = cli.run(&["ack", id_text, "notify_amazon"]);
    assert_eq!(code, 0);
    assert!(out.contains("already in the log"), "{out}");
    // The emulator has no GuardDuty: archiving the finding fails, is said, and the incident is
    // closed all the same (exit 1 so a script notices).
    let (code, out, err) = cli.run(&[
        "close",
        id_text,
        "--controls",
        "keys rotated; CI moved to OIDC roles",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("NOT archived"), "{out}");
    assert!(
        out.contains("retrospective") && out.contains("due in 13d"),
        "{out}"
    );
    let (code, out, _) = cli.run(&["close", id_text, "--controls", "again"]);
    assert_eq!(code, 0);
    assert!(out.contains("already closed"), "{out}");

    let before = record(&functions["page"], &id).await;
    let kinds: Vec<&str> = before.entries.iter().map(|e| e.entry.kind()).collect();
    for kind in [
        "opened",
        "action",
        "evidence",
        "page",
        "breach_confirmed",
        "notice_drafted",
        "acknowledged",
        "closed",
    ] {
        assert!(kinds.contains(&kind), "no {kind} entry: {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "acknowledged").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "closed").count(), 1);
    let (_, controls) = before.closed.as_ref().expect("closed");
    assert_eq!(controls, "keys rotated; CI moved to OIDC roles");

    // The report lists every entry, each by its own line.
    let (code, md, err) = cli.run(&["report", id_text]);
    assert_eq!(code, 0, "{err}");
    for e in &before.entries {
        assert!(
            md.contains(&format!("| {} |", e.seq)),
            "entry {} is not in the report:\n{md}",
            e.seq
        );
        let line = report::entry_line(e).replace('|', "\\|");
        assert!(md.contains(&line), "{line:?} is not in the report");
    }
    for heading in [
        "Summary",
        "Timeline",
        "Actions",
        "Evidence",
        "Deadlines",
        "Corrective controls",
    ] {
        assert!(md.contains(heading), "no {heading}");
    }
    assert!(md.contains("keys rotated; CI moved to OIDC roles"));
    // Reading it is a custody entry of its own.
    let after = record(&functions["page"], &id).await;
    assert!(matches!(
        &after.entries.last().map(|e| &e.entry),
        Some(Entry::Custody { purpose, .. }) if purpose == "report"
    ));

    // The HTML report of this incident, rendered by Chromium: every section visible.
    let artefacts = browser::artefacts_dir();
    std::fs::create_dir_all(&artefacts).expect("artefacts dir");
    let html_path = artefacts.join("report-lifecycle.html");
    let (code, _, err) = cli.run(&[
        "report",
        id_text,
        "--format",
        "html",
        "--output",
        html_path.to_str().expect("path"),
    ]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&html_path).expect("report written");
    // Every section but the RCA, which only an S1 has (this incident is S2).
    let ids = &report::SECTIONS[..7];
    let visible = browser::visible_sections(&html, ids).expect("chromium");
    for (section, shown) in &visible {
        assert!(shown, "{section} is not visible: {visible:?}");
    }
    browser::screenshot(
        &html_path,
        &artefacts.join("report-lifecycle.png"),
        1280,
        2400,
    )
    .expect("screenshot");

    // And the evidence is whole.
    let (code, out, err) = cli.run(&["verify", id_text]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Where the clock stands: one tick at `now`, as the clock function would run it.
async fn tick(ctx: &Context, now: DateTime<Utc>) -> firebreak_aws::run::clock::Tick {
    let tick =
        firebreak_aws::run::clock::tick(ctx.evidence(), ctx.pager(), None, "clock", now, false)
            .await
            .expect("tick");
    assert!(tick.errors.is_empty(), "{:?}", tick.errors);
    tick
}

fn reminded(tick: &firebreak_aws::run::clock::Tick, id: &IncidentId) -> Vec<Obligation> {
    tick.reminded
        .iter()
        .filter(|(i, _, _)| i == id)
        .flat_map(|(_, o, _)| o.clone())
        .collect()
}

#[tokio::test]
async fn the_clock_pages_again_until_a_human_acknowledges() {
    let (cli, taps, functions) = pipeline("clock").await;
    let id = open_incident(&cli, &taps, &functions, "ci-runner").await;
    pages(&cli).await;
    let clock = &functions["clock"];
    // The sample finding is dated 2025, so its Amazon notice is overdue today: a dry run of the
    // clock says what it would page and pages nothing.
    let (code, out, err) = cli.run(&["clock", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "{id}: would page notify-amazon (message (dry run: not sent))"
        )),
        "{out}"
    );
    assert!(pages(&cli).await.is_empty());
    let amazon_due = record(clock, &id)
        .await
        .due(Obligation::NotifyAmazon)
        .expect("the Amazon clock runs from detection");

    // Seven hours before: nothing. Six hours before and every hour after: a reminder, once an
    // hour however often the clock runs.
    assert!(
        reminded(
            &tick(clock, amazon_due - chrono::Duration::hours(7)).await,
            &id
        )
        .is_empty()
    );
    let at = amazon_due - chrono::Duration::hours(5);
    assert_eq!(
        reminded(&tick(clock, at).await, &id),
        [Obligation::NotifyAmazon]
    );
    let again = tick(clock, at + chrono::Duration::minutes(10)).await;
    assert!(reminded(&again, &id).is_empty() && again.already_reminded.contains(&id));
    let overdue = amazon_due + chrono::Duration::hours(2);
    assert_eq!(
        reminded(&tick(clock, overdue).await, &id),
        [Obligation::NotifyAmazon]
    );
    let sent = pages(&cli).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|(kind, _, _)| kind == "reminder"));
    assert!(
        sent[1].1.contains("OVERDUE") && sent[1].1.contains(id.as_str()),
        "{sent:?}"
    );
    assert!(
        sent[1]
            .2
            .contains(&format!("firebreak ack {id} notify-amazon")),
        "{}",
        sent[1].2
    );

    // A breach confirmed now: the GDPR clock runs 72 hours, unacknowledged it pages on.
    let (code, out, err) = cli.run(&["confirm-breach", id.as_str()]);
    assert_eq!(code, 0, "{out}{err}");
    let gdpr_due = record(clock, &id)
        .await
        .due(Obligation::GdprAuthority)
        .expect("the GDPR clock runs from confirmation");
    // Amazon acknowledged: it stops; GDPR, unacknowledged, is paged when due soon and overdue.
    let (code, out, err) = cli.run(&["ack", id.as_str(), "notify-amazon"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        reminded(
            &tick(clock, overdue + chrono::Duration::hours(1)).await,
            &id
        )
        .is_empty()
    );
    let soon = tick(clock, gdpr_due - chrono::Duration::hours(3)).await;
    assert_eq!(reminded(&soon, &id), [Obligation::GdprAuthority]);
    let late = tick(clock, gdpr_due + chrono::Duration::hours(30)).await;
    assert_eq!(reminded(&late, &id), [Obligation::GdprAuthority]);
    let (code, out, err) = cli.run(&[
        "ack",
        id.as_str(),
        "gdpr-authority",
        "--note",
        "DPC ref 123",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        reminded(
            &tick(clock, gdpr_due + chrono::Duration::hours(31)).await,
            &id
        )
        .is_empty()
    );
    let sent = pages(&cli).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().all(|(_, s, _)| s.contains("gdpr-authority")),
        "{sent:?}"
    );

    // Each reminder is in the log, once per hour it was sent.
    let hours: Vec<String> = record(clock, &id)
        .await
        .entries
        .iter()
        .filter_map(|e| match &e.entry {
            Entry::Reminder { hour, .. } => Some(hour.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(hours.len(), 4, "{hours:?}");

    // The clock function itself, on a scheduled event, runs the same tick.
    let scheduled = r#"{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-24T07:00:00Z","region":"us-east-1","resources":[],"detail":{}}"#;
    let answer = deliver(clock, scheduled).await;
    assert!(answer["incidents"].as_u64() >= Some(1), "{answer}");
    assert!(
        clock
            .handle("not json", firebreak_testbed::collector("t"))
            .await
            .is_err()
    );
}

fn at_nine(day: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(
        day.format("%Y").to_string().parse().unwrap_or(2026),
        day.format("%m").to_string().parse().unwrap_or(1),
        day.format("%d").to_string().parse().unwrap_or(1),
        firebreak_aws::run::clock::PLAN_REVIEW_HOUR,
        0,
        0,
    )
    .single()
    .expect("a time")
}

#[tokio::test]
async fn a_drill_runs_the_pipeline_dry_and_counts_as_the_plan_review() {
    let (cli, taps, functions) = pipeline("drill").await;
    let clock = &functions["clock"];
    let today = at_nine(Utc::now());
    // No drill on record: the plan review is paged, on the clock's 09:00 run only.
    assert!(tick(clock, today).await.plan_review.is_some());
    assert!(
        tick(clock, today + chrono::Duration::hours(1))
            .await
            .plan_review
            .is_none()
    );
    pages(&cli).await;

    // The drill function: its finding goes through the template's rules and every function
    // while it waits, then it checks, pages and logs the verdict.
    let scheduled = r#"{"version":"0","id":"2","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-24T07:00:00Z","region":"us-east-1","resources":[],"detail":{}}"#;
    let (answer, _) = tokio::join!(
        deliver(&functions["drill"], scheduled),
        pump(&taps, &functions, 12)
    );
    assert_eq!(answer["passed"], true, "{answer}");
    let id = IncidentId::parse(answer["incident_id"].as_str().expect("id")).expect("id");
    let drill = record(clock, &id).await;
    assert!(drill.is_drill());
    let checks = firebreak_core::lifecycle::drill::checks(&drill);
    assert!(checks.iter().all(|c| c.passed), "{checks:?}");
    // Containment ran dry: every containment outcome is a dry run, nothing changed.
    let outcomes: Vec<&firebreak_core::ActionOutcome> = drill
        .entries
        .iter()
        .filter_map(|e| match &e.entry {
            Entry::Action { outcome } => Some(outcome),
            _ => None,
        })
        .collect();
    assert!(
        outcomes
            .iter()
            .any(|o| o.kind == "deactivate_access_key" && o.status.word() == "dry-run"),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o.status.word() != "done" || o.kind == "preserve_evidence"),
        "{outcomes:?}"
    );
    let verdicts: Vec<&LogEntry> = drill
        .entries
        .iter()
        .filter(|e| matches!(e.entry, Entry::Drill { passed: true, .. }))
        .collect();
    assert_eq!(verdicts.len(), 1);
    let sent = pages(&cli).await;
    assert!(
        sent.iter().any(|(kind, subject, body)| kind == "drill"
            && subject.starts_with("[DRILL] Firebreak drill passed")
            && body.contains("six-monthly review")),
        "{sent:?}"
    );
    // Every page of the drill is marked as one.
    assert!(
        sent.iter().all(|(_, s, _)| s.starts_with("[DRILL]")),
        "{sent:?}"
    );
    // A drill incident carries no reminders.
    assert!(
        reminded(
            &tick(clock, Utc::now() + chrono::Duration::days(20)).await,
            &id
        )
        .is_empty()
    );

    // `firebreak drill`, the real binary, the same way: it puts its finding on Firebreak's bus
    // (the only bus whose Drills rule exists) and waits while the rules carry it through the
    // functions.
    let config = cli.dir.join("firebreak.toml");
    let mut drill_cli = tokio::process::Command::new(firebreak_testbed::cli::binary());
    drill_cli
        .args([
            "drill",
            "--wait",
            "60",
            "--bus",
            BUS,
            "--endpoint",
            &cli.moto.endpoint,
            "--config",
        ])
        .arg(&config)
        .env_clear()
        .envs(cli.env.iter().cloned());
    let (out, _) = tokio::join!(drill_cli.output(), pump(&taps, &functions, 20));
    let out = out.expect("firebreak drill ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed; summary paged"), "{stdout}");
    assert_eq!(stdout.matches("ok  ").count(), 4, "{stdout}");
    assert!(pages(&cli).await.iter().any(|(kind, _, _)| kind == "drill"));

    // The passing drill is the plan review for six months.
    assert!(
        tick(clock, today + chrono::Duration::days(1))
            .await
            .plan_review
            .is_none()
    );
    assert!(
        tick(clock, today + chrono::Duration::days(182))
            .await
            .plan_review
            .is_none()
    );
    let due = tick(clock, today + chrono::Duration::days(184)).await;
    assert!(due.plan_review.is_some() && due.last_drill_passed.is_some());
}

#[tokio::test]
async fn closing_archives_the_finding_the_incident_came_from() {
    use aws_sdk_guardduty::operation::archive_findings::ArchiveFindingsOutput;
    use aws_smithy_mocks::{MockResponseInterceptor, create_mock_http_client, mock};

    let (cli, taps, functions) = pipeline("archive").await;
    let id = open_incident(&cli, &taps, &functions, "release-bot").await;
    let opened = record(&functions["page"], &id).await;
    let Some(firebreak_core::Source::GuardDuty {
        finding_id,
        detector_id: Some(detector),
        ..
    }) = opened.opening.map(|o| o.source)
    else {
        panic!("the incident did not open from a GuardDuty finding with a detector");
    };
    // The emulator has no GuardDuty: ArchiveFindings is answered by a mock that only accepts
    // this finding of this detector; everything else is the emulator.
    let (want_detector, want_finding) = (detector.clone(), finding_id.clone());
    let archive = mock!(aws_sdk_guardduty::Client::archive_findings)
        .match_requests(move |r| {
            r.detector_id() == Some(want_detector.as_str())
                && r.finding_ids() == [want_finding.clone()]
        })
        .then_output(|| ArchiveFindingsOutput::builder().build());
    let guardduty = aws_sdk_guardduty::Client::from_conf(
        aws_sdk_guardduty::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_guardduty::config::Region::new("us-east-1"))
            .http_client(create_mock_http_client())
            .interceptor(MockResponseInterceptor::new().with_rule(&archive))
            .build(),
    );
    let collector = firebreak_testbed::collector(CALLER);
    let mut responder = functions["contain"].responder(collector, false);
    responder.home.guardduty = guardduty.into();

    let closed =
        firebreak_aws::run::human::close(&responder, &id, "build-agent keys moved to OIDC")
            .await
            .expect("closed");
    assert!(!closed.failed, "{:?}", closed.notes);
    assert_eq!(archive.num_calls(), 1);
    assert_eq!(
        closed.notes,
        [format!("archived GuardDuty finding {finding_id}")]
    );
    let entry = closed
        .record
        .entries
        .iter()
        .find_map(|e| match &e.entry {
            Entry::Closed {
                controls,
                archived_finding,
            } => Some((controls.clone(), archived_finding.clone(), e.by.clone())),
            _ => None,
        })
        .expect("a closed entry");
    assert_eq!(
        entry,
        (
            "build-agent keys moved to OIDC".to_string(),
            Some(finding_id),
            CALLER.to_string()
        )
    );
    // Closing again archives nothing more and appends nothing.
    let again = firebreak_aws::run::human::close(&responder, &id, "again")
        .await
        .expect("answered");
    assert!(again.appended.is_none() && again.notes[0].starts_with("already closed by"));
    assert_eq!(archive.num_calls(), 1);
}
