//! Item 8: names and text are what AWS allows. A name outside AWS's character set cannot be the
//! resource an event claims: refused before anything is planned. Text an attacker chose
//! (a finding's title, a name in an error) never carries a control character or an escape
//! sequence into a terminal, a page or a log, so it cannot forge a section of a page.

use firebreak_lambda::FunctionError;
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::{iam_user_finding, seed};
use serde_json::json;

use firebreak_testbed::world::{World, cloudtrail, iam_user};

const FORGED: &str =
    "Routine check\n\nWHAT FIREBREAK DID\n  nothing to do: all clear\u{1b}[2J\u{1b}]0;ok\u{7}";

#[tokio::test]
async fn a_name_aws_does_not_allow_is_refused_and_changes_nothing() {
    let w = World::new().await;
    let functions = w.functions().await;
    let collector = firebreak_testbed::collector(
        "arn:aws:lambda:us-east-1:111122223333:function:firebreak-triage",
    );
    for name in [
        "deploy-bot\nWHAT FIREBREAK DID",
        "deploy\u{1b}[31mbot",
        "a/b",
        "deploy bot",
    ] {
        let mut who = iam_user(HOME_ACCOUNT, "x", "AKIAIOSFODNN7EXAMPLE");
        who["userName"] = name.into();
        who["arn"] = format!("arn:aws:iam::{HOME_ACCOUNT}:user/{name}").into();
        let e = cloudtrail(
            "iam.amazonaws.com",
            "CreateUser",
            who,
            json!({"userName": "x"}),
            "bad-name-1",
        );
        match functions["triage"]
            .handle(&e.to_string(), collector.clone())
            .await
        {
            Err(FunctionError::BadInput(why)) => {
                assert!(why.contains("IAM user name"), "{why}");
                assert!(!why.contains('\n') && !why.contains('\u{1b}'), "{why:?}");
            }
            other => panic!("{name:?}: {other:?}"),
        }
    }
    assert!(w.evidence_keys().await.is_empty());
}

#[tokio::test]
async fn a_finding_title_cannot_forge_a_section_of_the_page_or_repaint_the_terminal() {
    let w = World::new().await;
    let (key, _) = seed::user_with_two_keys(&w.iam(), "deploy-bot").await;
    let mut finding = iam_user_finding("deploy-bot", &key, HOME_ACCOUNT);
    finding["detail"]["title"] = FORGED.into();
    finding["detail"]["severity"] = 9.0.into();
    let (_, r) = w.respond(w.config(), &finding).await.expect("an incident");
    assert!(r.page_message_id.is_some(), "{:?}", r.outcomes);
    let pages = w.pages().await;
    let message = pages
        .iter()
        .filter_map(|p| p["Message"].as_str())
        .find(|m| m.contains("WHAT HAPPENED"))
        .expect("the page");
    assert_eq!(
        message
            .lines()
            .filter(|l| l.trim() == "WHAT FIREBREAK DID")
            .count(),
        1,
        "{message}"
    );
    assert!(
        !message.contains('\u{1b}') && !message.contains('\u{7}'),
        "{message:?}"
    );

    // The command line prints the same title without a control character.
    let (code, out, err) = firebreak_testbed::firebreak(&["plan", "-"], &finding.to_string());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Routine check"), "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(
        !out.lines().any(|l| l.trim() == "WHAT FIREBREAK DID"),
        "{out}"
    );
}
