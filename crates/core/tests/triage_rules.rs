//! Behaviour of triage on small, hand-built events: each rule condition fires and has a
//! near-miss; safety rules (protected principals, samples, root) hold; bad input is named.

use firebreak_core::{Action, Config, Decision, Error, Incident, Mode, Severity, Triage};
use serde_json::{Value, json};

fn config() -> Config {
    Config::from_toml(
        r#"
[protect]
break_glass = ["arn:*:iam::*:role/BreakGlass"]
firebreak_roles = ["arn:aws:iam::*:role/fb-ContainRole-1A2B3C"]
allow = ["arn:aws:iam::*:user/ops-automation", "arn:aws:ec2:*:*:instance/i-0keepmerunning0000"]
[amis]
allowed = ["ami-0a1b2c3d4e5f60718"]
[cognito]
invite_only_pools = ["eu-west-1_Mkt4Invit"]
admin_principals = ["arn:aws:iam::*:role/MarketplaceUserAdmin"]
[obligations]
handles_amazon_data = true
"#,
    )
    .unwrap()
}

fn run(config: Config, event: &Value) -> Result<Decision, Error> {
    Triage::new(config).unwrap().triage_json(&event.to_string())
}

fn incident(event: &Value) -> Incident {
    match run(config(), event).unwrap() {
        Decision::Incident(i) => *i,
        Decision::Ignored { reason } => panic!("expected an incident, got ignored: {reason}"),
    }
}

fn ignored(event: &Value) -> String {
    match run(config(), event).unwrap() {
        Decision::Ignored { reason } => reason,
        Decision::Incident(i) => panic!("expected ignored, got {} {:?}", i.severity, i.iocs),
    }
}

fn kinds(i: &Incident) -> Vec<&'static str> {
    i.plan.iter().map(|a| a.action.kind()).collect()
}

fn envelope(detail_type: &str, source: &str, detail: Value) -> Value {
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detail_type,
        "source": source, "account": "111122223333", "time": "2026-11-23T03:00:00Z",
        "region": "us-east-1", "resources": [], "detail": detail
    })
}

fn user() -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::111122223333:user/deploy-bot",
           "accountId": "111122223333", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "deploy-bot"})
}

fn role(name: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:s", "arn": format!("arn:aws:sts::111122223333:assumed-role/{name}/s"),
           "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE",
           "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": format!("arn:aws:iam::111122223333:role/{name}"),
                              "accountId": "111122223333", "userName": name}}})
}

fn call(source: &str, name: &str, who: Value, request: Value) -> Value {
    envelope(
        "AWS API Call via CloudTrail",
        &firebreak_core::triage::rules::eventbridge_source(source).unwrap_or_default(),
        json!({"eventVersion": "1.09", "userIdentity": who, "eventTime": "2026-11-23T02:59:30Z",
               "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
               "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2", "requestParameters": request,
               "responseElements": null, "requestID": "r-1", "eventID": format!("ev-{name}"),
               "readOnly": false, "eventType": "AwsApiCall", "recipientAccountId": "111122223333"}),
    )
}

fn finding(ty: &str, severity: f64, resource: Value) -> Value {
    envelope(
        "GuardDuty Finding",
        "aws.guardduty",
        json!({"schemaVersion": "2.0", "accountId": "111122223333", "region": "us-east-1", "partition": "aws",
               "id": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "type": ty, "severity": severity,
               "createdAt": "2026-11-23T02:50:00.000Z", "updatedAt": "2026-11-23T02:55:00.000Z",
               "title": "t", "resource": resource,
               "service": {"serviceName": "guardduty", "detectorId": "d1", "count": 1, "archived": false}}),
    )
}

fn key_resource(user_type: &str, name: &str, key: &str) -> Value {
    json!({"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": key, "principalId": "P", "userName": name, "userType": user_type}})
}

#[test]
fn iam_user_finding_deactivates_only_its_key() {
    let i = incident(&finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        key_resource("IAMUser", "deploy-bot", "AKIAIOSFODNN7EXAMPLE"),
    ));
    assert_eq!(i.severity, Severity::S2);
    assert_eq!(
        kinds(&i),
        [
            "preserve_evidence",
            "deactivate_access_key",
            "revoke_user_sessions",
            "tag_quarantine",
            "page"
        ]
    );
    assert!(
        matches!(&i.plan[1].action, Action::DeactivateAccessKey { access_key_id, .. } if access_key_id == "AKIAIOSFODNN7EXAMPLE")
    );
    assert!(i.plan.iter().all(|a| a.mode == Mode::Auto));
}

#[test]
fn temporary_key_is_not_deactivated() {
    let i = incident(&finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        5.0,
        key_resource("IAMUser", "deploy-bot", "ASIAEXAMPLE"),
    ));
    assert!(!kinds(&i).contains(&"deactivate_access_key"));
    assert_eq!(i.severity, Severity::S3);
    assert!(
        i.plan
            .iter()
            .filter(|a| a.action.is_containment())
            .all(|a| a.mode == Mode::Approve),
        "S3 containment waits for approval"
    );
}

#[test]
fn exfiltration_at_high_is_s1_and_denies_the_user() {
    let i = incident(&finding(
        "Exfiltration:IAMUser/AnomalousBehavior",
        7.5,
        key_resource("IAMUser", "deploy-bot", "AKIAIOSFODNN7EXAMPLE"),
    ));
    assert_eq!(i.severity, Severity::S1);
    assert!(kinds(&i).contains(&"deny_user"));
    let low = incident(&finding(
        "Exfiltration:IAMUser/AnomalousBehavior",
        5.0,
        key_resource("IAMUser", "deploy-bot", "AKIAIOSFODNN7EXAMPLE"),
    ));
    assert_eq!(
        low.severity,
        Severity::S3,
        "near-miss: exfiltration at Medium follows the band"
    );
}

#[test]
fn low_guardduty_types_that_matter_are_s1() {
    let root = incident(&finding(
        "Policy:IAMUser/RootCredentialUsage",
        2.0,
        key_resource("Root", "Root", "AKIAROOT"),
    ));
    assert_eq!(root.severity, Severity::S1);
    assert_eq!(kinds(&root), ["preserve_evidence", "page"]);
    assert!(!root.human_steps.is_empty());
    let trail = incident(&finding(
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        2.0,
        key_resource("AssumedRole", "Deployer", "ASIAX"),
    ));
    assert_eq!(trail.severity, Severity::S1);
    assert!(kinds(&trail).contains(&"revoke_role_sessions"));
    let other_low = incident(&finding(
        "Recon:IAMUser/UserPermissions",
        2.0,
        key_resource("AssumedRole", "Deployer", "ASIAX"),
    ));
    assert_eq!(
        other_low.severity,
        Severity::S4,
        "near-miss: other Low findings stay S4"
    );
}

#[test]
fn protected_principals_get_no_containment() {
    for who in [
        key_resource("AssumedRole", "BreakGlass", "ASIAX"),
        key_resource("AssumedRole", "fb-ContainRole-1A2B3C", "ASIAX"),
        key_resource("IAMUser", "ops-automation", "AKIAX"),
    ] {
        let i = incident(&finding(
            "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
            8.0,
            who,
        ));
        assert_eq!(kinds(&i), ["preserve_evidence", "page"]);
        assert!(
            i.notes.iter().any(|n| n.contains("no containment")),
            "{:?}",
            i.notes
        );
    }
    let i = incident(&call(
        "cloudtrail.amazonaws.com",
        "StopLogging",
        role("BreakGlass"),
        json!({"name": "main"}),
    ));
    assert_eq!(i.severity, Severity::S1);
    assert_eq!(kinds(&i), ["preserve_evidence", "page"]);
}

#[test]
fn a_name_an_attacker_chooses_protects_nothing() {
    // Protection is by exact identity: names that look like Firebreak's or the break-glass
    // role's are contained like any other.
    for name in [
        "FirebreakBackdoor",
        "firebreak-ops",
        "fb-ContainRole-1A2B3C-x",
        "BreakGlass2",
    ] {
        let i = incident(&finding(
            "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
            8.0,
            key_resource("AssumedRole", name, "ASIAX"),
        ));
        assert_eq!(
            kinds(&i),
            [
                "preserve_evidence",
                "revoke_role_sessions",
                "tag_quarantine",
                "page"
            ],
            "{name}"
        );
    }
}

#[test]
fn service_linked_roles_are_not_touched() {
    let i = incident(&finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        key_resource("AssumedRole", "AWSServiceRoleForAutoScaling", "ASIAX"),
    ));
    assert_eq!(kinds(&i), ["preserve_evidence", "page"]);
}

#[test]
fn instance_plan_protects_first_and_isolation_waits() {
    let r = json!({"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0123456789abcdef0",
        "iamInstanceProfile": {"arn": "arn:aws:iam::111122223333:instance-profile/web", "id": "AIPA"},
        "tags": [{"key": "notification", "value": "web-team@example.com"}]}});
    let i = incident(&finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", 8.0, r));
    assert_eq!(
        kinds(&i),
        [
            "protect_instance",
            "deregister_from_load_balancers",
            "snapshot_volumes",
            "capture_memory",
            "preserve_evidence",
            "quarantine_instance_profile",
            "revoke_instance_profile_sessions",
            "isolate_instance",
            "tag_quarantine",
            "page"
        ]
    );
    let isolate = i
        .plan
        .iter()
        .find(|a| a.action.kind() == "isolate_instance")
        .unwrap();
    assert_eq!(isolate.mode, Mode::Approve);
    assert_eq!(i.owner.as_deref(), Some("web-team@example.com"));
    let kept = json!({"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0keepmerunning0000"}});
    assert_eq!(
        kinds(&incident(&finding(
            "CryptoCurrency:EC2/BitcoinTool.B!DNS",
            8.0,
            kept
        ))),
        ["preserve_evidence", "page"]
    );
}

#[test]
fn public_bucket_finding_blocks_public_access() {
    let r = json!({"resourceType": "S3Bucket", "s3BucketDetails": [{"name": "shop-exports", "arn": "arn:aws:s3:::shop-exports"}],
                   "accessKeyDetails": {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "deploy-bot", "userType": "IAMUser"}});
    let i = incident(&finding(
        "Policy:S3/BucketBlockPublicAccessDisabled",
        5.0,
        r.clone(),
    ));
    assert!(kinds(&i).contains(&"block_public_access"));
    let exfil = incident(&finding("Exfiltration:S3/AnomalousBehavior", 8.0, r));
    assert_eq!(exfil.severity, Severity::S1);
    assert!(
        !kinds(&exfil).contains(&"block_public_access"),
        "near-miss: a private bucket is not made 'unpublic'"
    );
    assert!(kinds(&exfil).contains(&"deactivate_access_key"));
}

#[test]
fn sample_and_archived_findings_are_ignored_unless_drills() {
    let mut f = finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        key_resource(
            "IAMUser",
            "GeneratedFindingUserName",
            "GeneratedFindingAccessKeyId",
        ),
    );
    f["detail"]["service"]["additionalInfo"] = json!({"sample": true});
    assert!(ignored(&f).contains("sample"));
    let mut drills = config();
    drills.drills.enabled = true;
    match run(drills, &f).unwrap() {
        Decision::Incident(i) => assert!(i.drill),
        other => panic!("{other:?}"),
    }
    let mut a = finding(
        "Recon:EC2/PortProbeUnprotectedPort",
        2.0,
        json!({"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0123456789abcdef0"}}),
    );
    a["detail"]["service"]["archived"] = json!(true);
    assert!(ignored(&a).contains("archived"));
}

#[test]
fn reemit_is_an_update_of_the_same_incident() {
    let first = finding(
        "Recon:EC2/PortProbeUnprotectedPort",
        2.0,
        json!({"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0123456789abcdef0"}}),
    );
    let mut again = first.clone();
    again["id"] = json!("another-delivery");
    again["detail"]["service"]["count"] = json!(4);
    again["detail"]["updatedAt"] = json!("2026-11-23T04:00:00.000Z");
    let (a, b) = (incident(&first), incident(&again));
    assert_eq!(a.id, b.id);
    assert!(!a.is_update());
    assert!(b.is_update());
    assert_eq!(
        a.detected_at, b.detected_at,
        "detection time is the finding's creation"
    );
}

#[test]
fn root_console_sign_in() {
    let signin = |result: &str, mfa: &str| {
        envelope(
            "AWS Console Sign In via CloudTrail",
            "aws.signin",
            json!({
            "eventVersion": "1.08", "userIdentity": {"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
            "eventTime": "2026-11-23T02:59:00Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.9", "userAgent": "Mozilla/5.0", "requestParameters": null,
            "responseElements": {"ConsoleLogin": result}, "additionalEventData": {"MFAUsed": mfa, "LoginTo": "https://console.aws.amazon.com/"},
            "eventID": format!("signin-{result}"), "readOnly": false, "eventType": "AwsConsoleSignIn", "recipientAccountId": "111122223333"}),
        )
    };
    let ok = incident(&signin("Success", "No"));
    assert_eq!(ok.severity, Severity::S1);
    assert_eq!(ok.title, "Root console sign-in without MFA");
    assert_eq!(kinds(&ok), ["preserve_evidence", "page"]);
    assert!(
        ok.deadlines.iter().any(|d| d.due.is_some()),
        "Amazon clock runs"
    );
    let failed = incident(&signin("Failure", "No"));
    assert_eq!(failed.severity, Severity::S3);
    assert_eq!(
        kinds(&failed),
        ["preserve_evidence"],
        "S3 is recorded, not paged"
    );
}

#[test]
fn root_invoked_by_a_service_and_service_events_are_ignored() {
    let mut who = json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333", "invokedBy": "support.amazonaws.com"});
    assert!(
        ignored(&call(
            "iam.amazonaws.com",
            "CreateUser",
            who.clone(),
            json!({"userName": "x"})
        ))
        .contains("on root's behalf")
    );
    who.as_object_mut().unwrap().remove("invokedBy");
    let mut e = call("iam.amazonaws.com", "GetAccountSummary", who, json!(null));
    e["detail"]["eventType"] = json!("AwsServiceEvent");
    assert!(ignored(&e).contains("service event"));
}

#[test]
fn root_with_an_ioc_is_s1_even_when_refused() {
    let who = json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"});
    let mut e = call(
        "cloudtrail.amazonaws.com",
        "DeleteTrail",
        who,
        json!({"name": "main"}),
    );
    e["detail"]["errorCode"] = json!("AccessDenied");
    let i = incident(&e);
    assert_eq!(i.severity, Severity::S1);
    assert_eq!(i.iocs, ["root-activity-failed", "cloudtrail-stopped"]);
}

#[test]
fn refused_ioc_call_is_capped_at_s3() {
    let mut e = call(
        "cloudtrail.amazonaws.com",
        "DeleteTrail",
        user(),
        json!({"name": "main"}),
    );
    e["detail"]["errorCode"] = json!("AccessDenied");
    assert_eq!(incident(&e).severity, Severity::S3);
}

#[test]
fn ioc_by_iam_user_contains_the_user() {
    let i = incident(&call(
        "cloudtrail.amazonaws.com",
        "StopLogging",
        user(),
        json!({"name": "main"}),
    ));
    assert_eq!(i.severity, Severity::S1);
    assert_eq!(
        kinds(&i),
        [
            "preserve_evidence",
            "deactivate_access_key",
            "revoke_user_sessions",
            "deny_user",
            "tag_quarantine",
            "page"
        ]
    );
}

#[test]
fn ioc_by_role_revokes_role_sessions() {
    let i = incident(&call(
        "iam.amazonaws.com",
        "CreateUser",
        role("Deployer"),
        json!({"userName": "backdoor"}),
    ));
    assert_eq!(i.severity, Severity::S2);
    assert_eq!(
        kinds(&i),
        [
            "preserve_evidence",
            "revoke_role_sessions",
            "tag_quarantine",
            "page"
        ]
    );
}

#[test]
fn ami_condition() {
    let run_with = |ami: &str| {
        call(
            "ec2.amazonaws.com",
            "RunInstances",
            user(),
            json!({"instancesSet": {"items": [{"imageId": ami, "minCount": 1, "maxCount": 1}]}}),
        )
    };
    assert_eq!(
        incident(&run_with("ami-0badbadbadbadbad0")).iocs,
        ["unexpected-ami-launched"]
    );
    assert!(ignored(&run_with("ami-0a1b2c3d4e5f60718")).contains("matches no rule"));
}

#[test]
fn trust_condition() {
    let doc = |p: &str| json!({"roleName": "r", "assumeRolePolicyDocument": json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": p}, "Action": "sts:AssumeRole"}]}).to_string()});
    assert_eq!(
        incident(&call(
            "iam.amazonaws.com",
            "CreateRole",
            user(),
            doc("arn:aws:iam::999988887777:root")
        ))
        .iocs,
        ["cross-account-trust"]
    );
    ignored(&call(
        "iam.amazonaws.com",
        "CreateRole",
        user(),
        doc("arn:aws:iam::111122223333:root"),
    ));
}

#[test]
fn detector_and_selectors_conditions() {
    assert_eq!(
        incident(&call(
            "guardduty.amazonaws.com",
            "UpdateDetector",
            user(),
            json!({"detectorId": "d", "enable": false})
        ))
        .severity,
        Severity::S1
    );
    ignored(&call(
        "guardduty.amazonaws.com",
        "UpdateDetector",
        user(),
        json!({"detectorId": "d", "enable": true}),
    ));
    let sel = |rw: &str| json!({"trailName": "main", "eventSelectors": [{"readWriteType": rw, "includeManagementEvents": true}]});
    assert_eq!(
        incident(&call(
            "cloudtrail.amazonaws.com",
            "PutEventSelectors",
            user(),
            sel("ReadOnly")
        ))
        .iocs,
        ["cloudtrail-selectors-reduced"]
    );
    ignored(&call(
        "cloudtrail.amazonaws.com",
        "PutEventSelectors",
        user(),
        sel("All"),
    ));
}

#[test]
fn cognito_sign_up_on_invite_only_pool() {
    let anon = json!({"accountId": "111122223333"});
    let mut e = call(
        "cognito-idp.amazonaws.com",
        "SignUp",
        anon.clone(),
        json!({"clientId": "c", "username": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
    );
    e["detail"]["additionalEventData"] = json!({"userPoolId": "eu-west-1_Mkt4Invit"});
    e["detail"]["responseElements"] =
        json!({"userConfirmed": false, "userSub": "704b1e47-34fe-40e9-8c41-504997494531"});
    let i = incident(&e);
    assert_eq!(i.severity, Severity::S2);
    assert_eq!(
        kinds(&i),
        [
            "preserve_evidence",
            "cognito_stop_sign_up",
            "cognito_disable_user",
            "cognito_global_sign_out",
            "page"
        ]
    );
    e["detail"]["additionalEventData"] = json!({"userPoolId": "eu-west-1_OpenPool1"});
    ignored(&e);
}

#[test]
fn cognito_admin_create_user_by_unexpected_principal() {
    let req = json!({"userPoolId": "eu-west-1_Mkt4Invit", "username": "mallory"});
    let i = incident(&call(
        "cognito-idp.amazonaws.com",
        "AdminCreateUser",
        role("Deployer"),
        req.clone(),
    ));
    assert_eq!(
        kinds(&i),
        [
            "preserve_evidence",
            "revoke_role_sessions",
            "cognito_stop_sign_up",
            "cognito_disable_user",
            "cognito_global_sign_out",
            "tag_quarantine",
            "page"
        ]
    );
    ignored(&call(
        "cognito-idp.amazonaws.com",
        "AdminCreateUser",
        role("MarketplaceUserAdmin"),
        req,
    ));
}

#[test]
fn read_only_calls_are_ignored() {
    let mut e = call(
        "cloudtrail.amazonaws.com",
        "DescribeTrails",
        user(),
        json!({}),
    );
    e["detail"]["readOnly"] = json!(true);
    assert!(ignored(&e).starts_with("read-only call"));
}

#[test]
fn errors_name_the_field() {
    let mut f = finding(
        "Recon:EC2/PortProbeUnprotectedPort",
        2.0,
        json!({"resourceType": "Instance", "instanceDetails": {}}),
    );
    assert_eq!(
        run(config(), &f).unwrap_err(),
        Error::MissingField("detail.resource.instanceDetails.instanceId")
    );
    f["detail"]["resource"] = json!({"instanceDetails": {}});
    let err = run(config(), &f).unwrap_err().to_string();
    assert!(
        err.starts_with("detail.resource: missing field `resourceType`"),
        "{err}"
    );
    f["detail"]["resource"] = json!({"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0123456789abcdef0"}});
    f["detail"]["severity"] = json!("high");
    let err = run(config(), &f).unwrap_err().to_string();
    assert!(err.starts_with("detail.severity: invalid type"), "{err}");
    let unknown = envelope(
        "EC2 Instance State-change Notification",
        "aws.ec2",
        json!({}),
    );
    assert!(matches!(
        run(config(), &unknown).unwrap_err(),
        Error::UnsupportedDetailType(_)
    ));
    let huge = "x".repeat(300 * 1024);
    assert!(matches!(
        Triage::new(config())
            .unwrap()
            .triage_json(&huge)
            .unwrap_err(),
        Error::TooLarge(_)
    ));
}

#[test]
fn error_positions_are_in_the_whole_event() {
    let text = "{\"detail-type\": \"GuardDuty Finding\",\n \"detail\": {\"id\": \"x\", \"type\": \"t\",\n \"severity\": \"high\"}}";
    match Triage::new(config())
        .unwrap()
        .triage_json(text)
        .unwrap_err()
    {
        Error::Json { path, line, .. } => {
            assert_eq!(path, "detail.severity");
            assert_eq!(line, 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_partitions_keep_their_partition() {
    let mut f = finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        key_resource("AssumedRole", "BreakGlass", "ASIAX"),
    );
    f["detail"]["partition"] = json!("aws-cn");
    f["detail"]["region"] = json!("cn-north-1");
    let i = incident(&f);
    assert_eq!(i.partition, "aws-cn");
    assert_eq!(
        kinds(&i),
        ["preserve_evidence", "page"],
        "arn:*: patterns protect in every partition"
    );
}

/// The configuration with Firebreak's own resources named, as a deployed stack passes them.
fn stack_config() -> Config {
    let mut c = config();
    c.stack.evidence_bucket = "fb-evidence-111122223333".into();
    c.stack.pager_topic_arn = "arn:aws:sns:us-east-1:111122223333:fb-pager".into();
    c.stack.resources = vec![
        "arn:aws:lambda:us-east-1:111122223333:function:fb-triage".into(),
        "arn:aws:events:us-east-1:111122223333:rule/fb-indicator-calls".into(),
        "arn:aws:cloudformation:us-east-1:111122223333:stack/fb/0f3c5e10-1111".into(),
        "arn:aws:iam::111122223333:policy/FirebreakDenyAll".into(),
    ];
    c
}

fn severity_and_iocs(config: Config, event: &Value) -> Option<(Severity, Vec<String>)> {
    match run(config, event).unwrap() {
        Decision::Incident(i) => Some((i.severity, i.iocs)),
        Decision::Ignored { .. } => None,
    }
}

#[test]
fn only_the_source_aws_gives_is_acted_on() {
    let mut forged = call(
        "cloudtrail.amazonaws.com",
        "StopLogging",
        user(),
        json!({"name": "main"}),
    );
    for source in [
        "anything",
        "aws.partner/example.com/123/x",
        "aws.iam",
        "aws.cloudtrail2",
        "",
    ] {
        forged["source"] = source.into();
        let err = run(config(), &forged).unwrap_err().to_string();
        assert!(
            err.starts_with("source:") && err.contains("aws.cloudtrail"),
            "{source}: {err}"
        );
    }
    let mut finding = finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        key_resource("IAMUser", "deploy-bot", "AKIAIOSFODNN7EXAMPLE"),
    );
    finding["source"] = "aws.partner/guardduty".into();
    assert!(
        run(config(), &finding)
            .unwrap_err()
            .to_string()
            .contains("aws.guardduty")
    );
    // CloudWatch's calls come from monitoring.amazonaws.com as aws.monitoring (EventBridge's
    // reference) or aws.cloudwatch (as seen delivered): both AWS's, both acted on; no other.
    let mut alarms = call(
        "monitoring.amazonaws.com",
        "DeleteAlarms",
        user(),
        json!({"alarmNames": ["a"]}),
    );
    assert_eq!(alarms["source"], "aws.monitoring");
    assert!(run(config(), &alarms).is_ok());
    alarms["source"] = "aws.cloudwatch".into();
    assert!(run(config(), &alarms).is_ok());
    alarms["source"] = "aws.cloudwatch2".into();
    let err = run(config(), &alarms).unwrap_err().to_string();
    assert!(
        err.contains("is not aws.monitoring or aws.cloudwatch"),
        "{err}"
    );
}

#[test]
fn attacks_on_firebreak_are_s1_near_misses_are_not() {
    let s1 = |event: Value| {
        let (severity, iocs) = severity_and_iocs(stack_config(), &event).expect("an incident");
        assert_eq!(severity, Severity::S1, "{iocs:?}");
        iocs
    };
    let none = |event: Value| {
        if let Some((severity, iocs)) = severity_and_iocs(stack_config(), &event) {
            assert!(
                !iocs.iter().any(|i| i.starts_with("firebreak-")),
                "{iocs:?}"
            );
            assert_ne!(severity, Severity::S1, "{iocs:?}");
        }
    };
    let lambda = |name: &str, function: &str| {
        call(
            "lambda.amazonaws.com",
            name,
            user(),
            json!({"functionName": function}),
        )
    };
    assert!(
        s1(lambda("UpdateFunctionConfiguration20150331v2", "fb-triage"))
            .contains(&"firebreak-function-changed".to_string())
    );
    s1(lambda(
        "PutFunctionConcurrency20171031",
        "arn:aws:lambda:us-east-1:111122223333:function:fb-triage",
    ));
    none(lambda("UpdateFunctionCode20150331v2", "orders-api"));
    none(lambda(
        "UpdateFunctionCode20150331v2",
        "arn:aws:lambda:us-east-1:999988887777:function:fb-triage",
    ));
    let events = |name: &str, rule: &str| {
        call(
            "events.amazonaws.com",
            name,
            user(),
            json!({"name": rule, "rule": rule}),
        )
    };
    s1(events("DisableRule", "fb-indicator-calls"));
    s1(events("RemoveTargets", "fb-indicator-calls"));
    none(events("PutRule", "nightly-report"));
    s1(call(
        "sns.amazonaws.com",
        "SetSubscriptionAttributes",
        user(),
        json!({"subscriptionArn": "arn:aws:sns:us-east-1:111122223333:fb-pager:5f1e", "attributeName": "FilterPolicy", "attributeValue": "{\"never\":[\"x\"]}"}),
    ));
    none(call(
        "sns.amazonaws.com",
        "SetSubscriptionAttributes",
        user(),
        json!({"subscriptionArn": "arn:aws:sns:us-east-1:111122223333:fb-pager-2:5f1e"}),
    ));
    s1(call(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        user(),
        json!({"bucketName": "fb-evidence-111122223333"}),
    ));
    none(call(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        user(),
        json!({"bucketName": "fb-evidence-111122223333-copy"}),
    ));
    s1(call(
        "s3.amazonaws.com",
        "PutObjectLockConfiguration",
        user(),
        json!({"bucketName": "fb-evidence-111122223333", "ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}),
    ));
    s1(call(
        "cloudformation.amazonaws.com",
        "DeleteStack",
        user(),
        json!({"stackName": "fb"}),
    ));
    none(call(
        "cloudformation.amazonaws.com",
        "DeleteStack",
        user(),
        json!({"stackName": "fb-2"}),
    ));
    s1(call(
        "iam.amazonaws.com",
        "PutRolePolicy",
        user(),
        json!({"roleName": "fb-ContainRole-1A2B3C", "policyName": "x", "policyDocument": "{}"}),
    ));
    // The quarantine role, in any account (it is created in every member account too).
    for event in [
        "AttachRolePolicy",
        "PutRolePolicy",
        "UpdateAssumeRolePolicy",
    ] {
        assert!(
            s1(call(
                "iam.amazonaws.com",
                event,
                user(),
                json!({"roleName": "FirebreakQuarantine", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ))
            .contains(&"firebreak-role-changed".to_string())
        );
    }
    none(call(
        "iam.amazonaws.com",
        "AttachRolePolicy",
        user(),
        json!({"roleName": "FirebreakQuarantineOld", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ));
    s1(call(
        "guardduty.amazonaws.com",
        "CreateFilter",
        user(),
        json!({"detectorId": "d1", "action": "ARCHIVE"}),
    ));
    s1(call(
        "guardduty.amazonaws.com",
        "UpdateDetector",
        user(),
        json!({"detectorId": "d1", "features": [{"name": "S3_DATA_EVENTS", "status": "DISABLED"}]}),
    ));
    none(call(
        "guardduty.amazonaws.com",
        "UpdateDetector",
        user(),
        json!({"detectorId": "d1", "findingPublishingFrequency": "FIFTEEN_MINUTES"}),
    ));
}

#[test]
fn privilege_escalation_shapes_are_s1() {
    let iam = |name: &str, who: Value, request: Value| {
        severity_and_iocs(
            stack_config(),
            &call("iam.amazonaws.com", name, who, request),
        )
    };
    let s1 = |got: Option<(Severity, Vec<String>)>, ioc: &str| {
        let (severity, iocs) = got.expect("an incident");
        assert_eq!(severity, Severity::S1);
        assert!(iocs.iter().any(|i| i == ioc), "{iocs:?}");
    };
    s1(
        iam(
            "AttachUserPolicy",
            user(),
            json!({"userName": "x", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        ),
        "admin-granted",
    );
    assert_eq!(
        iam(
            "AttachUserPolicy",
            user(),
            json!({"userName": "x", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
        ),
        None
    );
    let doc = |effect: &str, action: &str| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": "*"}]}).to_string()
    };
    s1(
        iam(
            "PutRolePolicy",
            user(),
            json!({"roleName": "app", "policyName": "p", "policyDocument": doc("Allow", "*:*")}),
        ),
        "admin-granted",
    );
    assert_eq!(
        iam(
            "PutRolePolicy",
            user(),
            json!({"roleName": "app", "policyName": "p", "policyDocument": doc("Allow", "s3:GetObject")})
        ),
        None
    );
    s1(
        iam(
            "CreatePolicyVersion",
            user(),
            json!({"policyArn": "arn:aws:iam::111122223333:policy/app", "setAsDefault": true, "policyDocument": doc("Allow", "s3:*")}),
        ),
        "policy-version-made-default",
    );
    assert_eq!(
        iam(
            "CreatePolicyVersion",
            user(),
            json!({"policyArn": "arn:aws:iam::111122223333:policy/app", "setAsDefault": false, "policyDocument": doc("Allow", "s3:*")})
        ),
        None
    );
    s1(
        iam(
            "CreateOpenIDConnectProvider",
            user(),
            json!({"url": "https://token.actions.example.com"}),
        ),
        "oidc-provider-created",
    );
    s1(
        iam(
            "UpdateAccessKey",
            user(),
            json!({"userName": "x", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Active"}),
        ),
        "access-key-reactivated",
    );
    assert_eq!(
        iam(
            "UpdateAccessKey",
            user(),
            json!({"userName": "x", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Inactive"})
        ),
        None
    );
    assert_eq!(
        iam(
            "UpdateAccessKey",
            role("BreakGlass"),
            json!({"userName": "x", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Active"})
        ),
        None,
        "a responder releasing a key"
    );
    s1(
        iam(
            "DeleteUserPolicy",
            user(),
            json!({"userName": "x", "policyName": "AWSRevokeOlderSessions"}),
        ),
        "containment-undone",
    );
    s1(
        iam(
            "DetachUserPolicy",
            user(),
            json!({"userName": "x", "policyArn": "arn:aws:iam::111122223333:policy/FirebreakDenyAll"}),
        ),
        "containment-undone",
    );
    assert_eq!(
        iam(
            "DeleteUserPolicy",
            user(),
            json!({"userName": "x", "policyName": "app-inline"})
        ),
        None
    );
    // Firebreak's own roles only write denies: an Allow by one of them is S1, its revoke policy is not.
    let me = role("fb-ContainRole-1A2B3C");
    s1(
        iam(
            "PutUserPolicy",
            me.clone(),
            json!({"userName": "x", "policyName": "p", "policyDocument": doc("Allow", "s3:GetObject")}),
        ),
        "firebreak-writes-allow",
    );
    assert_eq!(
        iam(
            "PutUserPolicy",
            me,
            json!({"userName": "x", "policyName": "AWSRevokeOlderSessions", "policyDocument": doc("Deny", "*")})
        ),
        None
    );
}

#[test]
fn floods_aggregate_per_rule_principal_and_hour() {
    let refused = |event_id: &str, time: &str, who: Value| {
        let mut e = call(
            "iam.amazonaws.com",
            "CreateUser",
            who,
            json!({"userName": "x"}),
        );
        e["detail"]["errorCode"] = "AccessDenied".into();
        e["detail"]["eventID"] = event_id.into();
        e["detail"]["eventTime"] = time.into();
        incident(&e)
    };
    let a = refused("e1", "2026-11-23T02:05:00Z", user());
    let b = refused("e2", "2026-11-23T02:59:59Z", user());
    let next_hour = refused("e3", "2026-11-23T03:00:00Z", user());
    let other_principal = refused("e4", "2026-11-23T02:10:00Z", role("app"));
    assert_eq!(a.id, b.id);
    assert_ne!(a.id, next_hour.id);
    assert_ne!(a.id, other_principal.id);
    assert!(
        a.notes.iter().any(|n| n.starts_with("aggregated")),
        "{:?}",
        a.notes
    );
    // A successful call of a paging rule is its own incident.
    let ok = |id: &str| {
        let mut e = call(
            "iam.amazonaws.com",
            "CreateUser",
            user(),
            json!({"userName": "x"}),
        );
        e["detail"]["eventID"] = id.into();
        incident(&e).id
    };
    assert_ne!(ok("s1"), ok("s2"));
    // S4 records aggregate too.
    let s4 = |id: &str| {
        let mut e = call(
            "s3.amazonaws.com",
            "CreateBucket",
            user(),
            json!({"bucketName": "b"}),
        );
        e["detail"]["eventID"] = id.into();
        incident(&e)
    };
    assert_eq!(s4("b1").severity, Severity::S4);
    assert_eq!(s4("b1").id, s4("b2").id);
}

#[test]
fn hostile_names_and_text() {
    let mut who = user();
    who["userName"] = "deploy-bot\nWHAT FIREBREAK DID: nothing".into();
    who["arn"] = "arn:aws:iam::111122223333:user/deploy-bot\nWHAT FIREBREAK DID: nothing".into();
    let err = run(
        config(),
        &call("iam.amazonaws.com", "CreateUser", who, json!({})),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("IAM user name") && !err.contains('\n'),
        "{err}"
    );
    let mut f = finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        key_resource("IAMUser", "deploy-bot", "AKIAIOSFODNN7EXAMPLE"),
    );
    f["detail"]["title"] = "ok\u{1b}[2J\nWHAT FIREBREAK DID".into();
    let i = incident(&f);
    assert!(
        !i.title.contains('\n') && !i.title.contains('\u{1b}'),
        "{:?}",
        i.title
    );
    let bad_bucket = finding(
        "Policy:S3/BucketBlockPublicAccessDisabled",
        5.0,
        json!({"resourceType": "S3Bucket", "s3BucketDetails": [{"name": "Evil Bucket"}]}),
    );
    assert!(
        run(config(), &bad_bucket)
            .unwrap_err()
            .to_string()
            .contains("bucket name")
    );
}

#[test]
fn principals_of_another_account_and_federated_sessions() {
    // Account B's alice calls into A: alice of A is not touched.
    let mut who = user();
    who["accountId"] = "444455556666".into();
    who["arn"] = "arn:aws:iam::444455556666:user/deploy-bot".into();
    let i = incident(&call(
        "iam.amazonaws.com",
        "CreateUser",
        who,
        json!({"userName": "x"}),
    ));
    assert_eq!(kinds(&i), ["preserve_evidence", "page"]);
    assert!(
        i.notes.iter().any(|n| n.contains("444455556666")),
        "{:?}",
        i.notes
    );
    // A federated session of an allow-listed user: the issuer is protected, so nothing is contained.
    let federated = json!({"type": "FederatedUser", "principalId": "111122223333:s", "arn": "arn:aws:sts::111122223333:federated-user/s",
        "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": "AIDAX", "arn": "arn:aws:iam::111122223333:user/team/ops-automation",
                           "accountId": "111122223333", "userName": "ops-automation"}}});
    let i = incident(&call(
        "iam.amazonaws.com",
        "CreateUser",
        federated,
        json!({"userName": "x"}),
    ));
    assert_eq!(kinds(&i), ["preserve_evidence", "page"]);
    // A protected role with a path, named by GuardDuty without it, is still protected.
    let mut c = config();
    c.protect
        .allow
        .push("arn:aws:iam::111122223333:role/ops/Deployer".into());
    let Decision::Incident(i) = run(
        c,
        &finding(
            "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
            8.0,
            key_resource("AssumedRole", "Deployer", "ASIAX"),
        ),
    )
    .unwrap() else {
        panic!("ignored")
    };
    assert_eq!(kinds(&i), ["preserve_evidence", "page"]);
}

/// Root acting is S1 whatever GuardDuty's scale says; an attack sequence contains each actor
/// it names by the playbook a single finding would get, and one it cannot read is still S1 and
/// paged, never refused.
#[test]
fn root_findings_are_s1_and_attack_sequences_contain_their_actors() {
    let root = incident(&finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        2.0,
        key_resource("Root", "Root", "ASIAROOTEXAMPLE00001"),
    ));
    assert_eq!(root.severity, Severity::S1);
    assert_eq!(kinds(&root), vec!["preserve_evidence", "page"]);

    let mut sequence = finding(
        "AttackSequence:IAM/CompromisedCredentials",
        9.0,
        json!({"resourceType": "AttackSequence"}),
    );
    sequence["detail"]["service"]["detection"] = json!({"sequence": {"actors": [
        {"id": "a1", "user": {"name": "ci-bot", "type": "IAMUser", "credentialUid": "AKIAEXAMPLEEXAMPLE01", "account": {"uid": "111122223333"}}},
        {"id": "a2", "user": {"name": "ci-bot", "type": "IAMUser", "credentialUid": "AKIAEXAMPLEEXAMPLE01", "account": {"uid": "111122223333"}}},
        {"id": "a3", "user": {"name": "etl", "type": "AssumedRole", "account": {"uid": "111122223333"}}},
        {"id": "a4", "process": {"name": "not a user"}},
        {"id": "a5", "user": {"name": "bad\u{1b}name", "type": "IAMUser", "credentialUid": "AKIAEXAMPLEEXAMPLE02"}}
    ]}});
    let i = incident(&sequence);
    assert_eq!(i.severity, Severity::S1);
    let k = kinds(&i);
    assert_eq!(
        k.iter().filter(|a| **a == "deactivate_access_key").count(),
        1,
        "one actor named twice is contained once: {k:?}"
    );
    assert!(
        k.contains(&"deny_user") && k.contains(&"revoke_role_sessions"),
        "{k:?}"
    );

    sequence["detail"]["service"]["detection"] = json!({"sequence": {"actors": "unexpected"}});
    let i = incident(&sequence);
    assert_eq!(i.severity, Severity::S1);
    assert_eq!(kinds(&i), vec!["preserve_evidence", "page"]);
}

/// GPU and accelerator families, or ten instances at once, are an incident whatever the image
/// (and with amis.allowed empty); both halves can be turned off.
#[test]
fn costly_launches_are_incidents_by_default() {
    let launch = |itype: &str, count: Value| {
        call(
            "ec2.amazonaws.com",
            "RunInstances",
            role("ci-deployer"),
            json!({"instanceType": itype, "instancesSet": {"items": [{"imageId": "ami-0a1b2c3d4e5f60718", "minCount": 1, "maxCount": count}]}}),
        )
    };
    let mut open = config();
    open.amis.allowed.clear();
    let fired = |config: &Config, e: &Value| matches!(run(config.clone(), e), Ok(Decision::Incident(i)) if i.iocs.contains(&"costly-instances-launched".to_string()));
    assert!(fired(&open, &launch("p4d.24xlarge", json!(1))));
    assert!(
        fired(&open, &launch("G5.xlarge", json!(1))),
        "families match in any case"
    );
    assert!(fired(&open, &launch("t3.micro", json!(10))));
    assert!(
        fired(&open, &launch("t3.micro", json!("12"))),
        "a count sent as text"
    );
    assert!(!fired(&open, &launch("t3.micro", json!(9))));
    assert!(!fired(&open, &launch("c5.24xlarge", json!(2))));
    // Through a launch template the request names no type; the response does.
    let mut templated = launch("t3.micro", json!(1));
    templated["detail"]["requestParameters"]
        .as_object_mut()
        .map(|r| r.remove("instanceType"));
    templated["detail"]["responseElements"] = json!({"instancesSet": {"items": [{"instanceId": "i-0a", "instanceType": "g6e.12xlarge"}]}});
    assert!(fired(&open, &templated));
    // A null maxCount falls back to minCount.
    let mut nulled = launch("t3.micro", json!(null));
    nulled["detail"]["requestParameters"]["instancesSet"]["items"][0]["minCount"] = json!(12);
    assert!(fired(&open, &nulled));
    let mut off = open.clone();
    off.launches.costly_families.clear();
    off.launches.max_instances = 0;
    assert!(!fired(&off, &launch("p5.48xlarge", json!(50))));
}

/// Below S1 only the session the finding names is revoked (a role shared by workloads keeps
/// working); every session of the role waits for a human, and the page says the role can still
/// be assumed. At S1, or when the finding names no session Firebreak can read, every session.
#[test]
fn a_role_session_below_s1_is_revoked_alone_and_the_whole_role_waits_for_approval() {
    let session = "AROAEXAMPLEROLEID1234:i-0123456789abcdef0";
    let mut resource = key_resource("AssumedRole", "web-app", "ASIAX");
    resource["accessKeyDetails"]["principalId"] = session.into();
    let s2 = incident(&finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        resource.clone(),
    ));
    assert_eq!(s2.severity, Severity::S2);
    let planned = |i: &Incident, kind: &str| {
        i.plan
            .iter()
            .find(|p| p.action.kind() == kind)
            .map(|p| (p.action.clone(), p.mode))
    };
    assert_eq!(
        planned(&s2, "revoke_role_session"),
        Some((
            Action::RevokeRoleSession {
                role_name: "web-app".into(),
                session: session.into()
            },
            Mode::Auto
        ))
    );
    assert_eq!(
        planned(&s2, "revoke_role_sessions").map(|(_, m)| m),
        Some(Mode::Approve)
    );
    assert!(
        s2.notes
            .iter()
            .any(|n| n.contains("can still be assumed again")),
        "{:?}",
        s2.notes
    );

    let s1 = incident(&finding(
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        8.5,
        resource.clone(),
    ));
    assert_eq!(s1.severity, Severity::S1);
    assert_eq!(planned(&s1, "revoke_role_session"), None);
    assert_eq!(
        planned(&s1, "revoke_role_sessions").map(|(_, m)| m),
        Some(Mode::Auto)
    );

    // A principal id that is not a role session's is never put in a policy: every session
    // of the role, as before, and under [modes] as before.
    for forged in [
        "P",
        "AROAEXAMPLEROLEID1234:*",
        "AROAEXAMPLEROLEID1234:a\"b",
        "AIDAEXAMPLEUSER12345:s",
    ] {
        resource["accessKeyDetails"]["principalId"] = forged.into();
        let i = incident(&finding(
            "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
            8.0,
            resource.clone(),
        ));
        assert_eq!(planned(&i, "revoke_role_session"), None, "{forged}");
        assert_eq!(
            planned(&i, "revoke_role_sessions").map(|(_, m)| m),
            Some(Mode::Auto),
            "{forged}"
        );
    }
}

/// An IAM Identity Center user acts through `AWSReservedSSO_<set>_<hex>`, a role IAM refuses
/// inline policies and tags on: nothing is planned on the role. With the Identity Center account
/// configured, the user is denied in the permission set and their assignment removed on
/// approval; without it, or with no readable user, a human is told what to do.
#[test]
fn an_identity_center_user_is_contained_through_the_permission_set_not_the_role() {
    let role = "AWSReservedSSO_DataEngineer_0123456789abcdef";
    let mut resource = key_resource("AssumedRole", role, "ASIAX");
    resource["accessKeyDetails"]["principalId"] = "AROAEXAMPLEROLEID1234:alice@example.com".into();
    let event = finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        resource.clone(),
    );
    let kinds = |i: &Incident| -> Vec<(&'static str, Mode)> {
        i.plan.iter().map(|p| (p.action.kind(), p.mode)).collect()
    };
    let on_the_role = [
        "revoke_role_session",
        "revoke_role_sessions",
        "tag_quarantine",
    ];

    let unconfigured = incident(&event);
    assert!(
        kinds(&unconfigured)
            .iter()
            .all(|(k, _)| !on_the_role.contains(k) && !k.contains("identity_center")),
        "{:?}",
        kinds(&unconfigured)
    );
    assert!(
        unconfigured
            .human_steps
            .iter()
            .any(|s| s.contains("alice@example.com") && s.contains("DataEngineer")),
        "{:?}",
        unconfigured.human_steps
    );

    let mut with_ic = config();
    with_ic.accounts.identity_center_account = "111122223333".into();
    with_ic.accounts.identity_center_region = "eu-west-1".into();
    let Decision::Incident(configured) = run(with_ic.clone(), &event).unwrap() else {
        panic!("an incident")
    };
    let planned = kinds(&configured);
    assert!(
        planned.contains(&("deny_identity_center_user", Mode::Auto)),
        "{planned:?}"
    );
    assert!(
        planned.contains(&("remove_account_assignment", Mode::Approve)),
        "{planned:?}"
    );
    assert!(
        planned.iter().all(|(k, _)| !on_the_role.contains(k)),
        "{planned:?}"
    );
    assert!(configured.plan.iter().any(|p| p.action
        == Action::DenyIdentityCenterUser {
            role_name: role.into(),
            permission_set: "DataEngineer".into(),
            user_name: "alice@example.com".into(),
        }));
    assert!(
        configured
            .notes
            .iter()
            .any(|n| n.contains("management account")),
        "{:?}",
        configured.notes
    );

    // No readable user (a forged principal id): nothing to deny, a human step instead.
    resource["accessKeyDetails"]["principalId"] = "AROAEXAMPLEROLEID1234:a\"b".into();
    let forged = finding(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        8.0,
        resource,
    );
    let Decision::Incident(forged) = run(with_ic.clone(), &forged).unwrap() else {
        panic!("an incident")
    };
    assert!(
        kinds(&forged)
            .iter()
            .all(|(k, _)| !k.contains("identity_center")
                && *k != "remove_account_assignment"
                && !on_the_role.contains(k)),
        "{:?}",
        kinds(&forged)
    );

    // A name only shaped like Identity Center's (no 16-hex suffix) is an ordinary role.
    assert_eq!(
        firebreak_core::action::names::identity_center_permission_set("AWSReservedSSO_Admin"),
        None
    );
    assert_eq!(
        firebreak_core::action::names::identity_center_permission_set(
            "AWSReservedSSO_Power_User_0123456789abcdef"
        ),
        Some("Power_User")
    );
    // An Identity Center account without its region is refused.
    let mut half = config();
    half.accounts.identity_center_account = "111122223333".into();
    assert!(half.validate().is_err());
}
