//! Every region and member account reaches the home stack: `infra/forwarder.yaml` carries
//! exactly the default-bus rules of `infra/template.yaml` (generated from them), forwarding to the
//! intake bus, whose policy admits the organisation and only the exact AWS sources. On the
//! emulator, an event in a member account's other region is forwarded, triaged and acted on in
//! that account and region; a forged source reaches nothing.

use std::collections::{BTreeMap, BTreeSet};

use firebreak_core::{Decision, Status, Triage};
use firebreak_testbed::eventbridge::Taps;
use firebreak_testbed::moto::{HOME_ACCOUNT, MEMBER_ACCOUNT};
use firebreak_testbed::template;
use firebreak_testbed::world::World;
use serde_json::{Value, json};

/// A YAML node as JSON (an intrinsic `!Ref X` as `{"!Ref": "X"}`).
fn json_of(v: &serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Tagged(t) => json!({ t.tag.to_string(): json_of(&t.value) }),
        serde_yaml::Value::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), json_of(v)))
                .collect(),
        ),
        serde_yaml::Value::Sequence(s) => Value::Array(s.iter().map(json_of).collect()),
        other => serde_json::to_value(other).expect("scalar"),
    }
}

/// The triage rules on the default bus: name → (pattern, state).
fn default_bus_rules() -> BTreeMap<String, (Value, String)> {
    template::rules()
        .into_iter()
        .filter(|r| r.function == "TriageFunction" && !r.firebreak_bus && !r.intake_bus)
        .map(|r| {
            let state = r.state.unwrap_or_else(|| "ENABLED".into());
            (r.name, (r.pattern, state))
        })
        .collect()
}

#[test]
fn the_forwarder_forwards_exactly_what_the_home_rules_match_to_the_intake_bus() {
    let forwarder = template::forwarder();
    let resources = forwarder["Resources"].as_mapping().expect("Resources");
    let mut forwarded = BTreeMap::new();
    for (id, r) in resources {
        if r["Type"].as_str() != Some("AWS::Events::Rule") {
            continue;
        }
        let p = json_of(&r["Properties"]);
        let targets = p["Targets"].as_array().expect("targets");
        assert_eq!(targets.len(), 1, "{id:?}");
        assert_eq!(targets[0]["Arn"], json!({"!Ref": "IntakeBusArn"}), "{id:?}");
        assert_eq!(
            targets[0]["RoleArn"],
            json!({"!GetAtt": "ForwarderRole.Arn"}),
            "cross-account and cross-region targets need a role: {id:?}"
        );
        assert_eq!(r["Condition"].as_str(), Some("Forwards"), "{id:?}");
        // The heartbeat forwards EventBridge's own hourly Scheduled Event, to the intake bus's
        // Heartbeats rule.
        if let Some(schedule) = p["ScheduleExpression"].as_str() {
            assert_eq!(id.as_str(), Some("Heartbeat"));
            assert_eq!(schedule, "rate(1 hour)");
            assert_eq!(p["Name"], "firebreak-forward-heartbeat");
            let heartbeats = template::rule("Heartbeats");
            assert!(heartbeats.intake_bus);
            assert_eq!(heartbeats.pattern["source"], json!(["aws.events"]));
            continue;
        }
        forwarded.insert(
            id.as_str().expect("id").to_string(),
            (
                p["EventPattern"].clone(),
                p["State"].as_str().unwrap_or("ENABLED").to_string(),
            ),
        );
    }
    let home = default_bus_rules();
    assert!(home.len() >= 8, "{home:?}");
    assert_eq!(forwarded, home, "run python3 infra/gen_patterns.py");
    // The read-only calls' rule keeps the state that lets it see them in the member account too.
    assert_eq!(
        forwarded["CredentialReads"].1,
        "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    );
}

#[test]
fn the_intake_bus_admits_the_organisation_and_only_the_exact_aws_sources() {
    let home = default_bus_rules();
    let sources: BTreeSet<String> = home
        .values()
        .flat_map(|(p, _)| template::strings(&p["source"]))
        .collect();
    let intake = template::rule("Intake");
    assert!(intake.intake_bus);
    let intake_sources: BTreeSet<String> = template::strings(&intake.pattern["source"])
        .into_iter()
        .collect();
    assert_eq!(intake_sources, sources);
    let t = template::load();
    let policy = json_of(&t["Resources"]["IntakeBusPolicy"]);
    assert_eq!(policy["Condition"], "HasOrganization");
    let statement = &policy["Properties"]["Statement"];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "events:PutEvents");
    let condition = &statement["Condition"]["StringEquals"];
    assert_eq!(
        condition["aws:PrincipalOrgID"],
        json!({"!Ref": "OrganizationId"})
    );
    let admitted: BTreeSet<String> = condition["events:source"]
        .as_array()
        .expect("a list of sources")
        .iter()
        .map(|s| s.as_str().expect("exact").to_string())
        .collect();
    assert_eq!(
        admitted, sources,
        "the policy admits exactly the rules' sources"
    );
    // The heartbeats: EventBridge's own Scheduled Events, from the organisation, and nothing else.
    let beats = json_of(&t["Resources"]["IntakeBusHeartbeatPolicy"]);
    assert_eq!(beats["Condition"], "HasOrganization");
    let statement = &beats["Properties"]["Statement"];
    assert_eq!(statement["Action"], "events:PutEvents");
    assert_eq!(
        statement["Condition"],
        json!({"StringEquals": {"aws:PrincipalOrgID": {"!Ref": "OrganizationId"},
            "events:source": "aws.events", "events:detail-type": "Scheduled Event"},
            "ArnLike": {"aws:PrincipalArn":
                {"!Sub": "arn:${AWS::Partition}:iam::*:role/firebreak-forwarder-*"}}})
    );
    for s in &admitted {
        let label = s.strip_prefix("aws.").expect("an AWS source");
        assert!(
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{s} is not one exact aws.<service> source"
        );
    }
}

/// In the emulator: the member account's eu-west-1 default bus carries the forwarder's rules,
/// targeting the home account's intake bus in us-east-1. A member's security group opened to the
/// internet there reaches the intake rule, is triaged as the member's and eu-west-1's, and the
/// ingress is revoked in that account and region. A forged source reaches nothing.
#[tokio::test]
async fn an_event_in_a_member_accounts_other_region_is_forwarded_triaged_and_acted_on_there() {
    let w = World::new().await;
    let taps = Taps::install(&w.sdk, "fb-forwarding").await;
    let home = firebreak_aws::Clients::new(&w.sdk);
    let member = firebreak_aws::sdk::accounts::member_clients(
        &home,
        "aws",
        MEMBER_ACCOUNT,
        "FirebreakMember",
        "seed",
    )
    .await
    .expect("member account")
    .in_region("eu-west-1");
    let intake_arn = format!(
        "arn:aws:events:us-east-1:{HOME_ACCOUNT}:event-bus/{}",
        taps.intake
    );
    // The forwarder's rules, as the StackSet would create them there.
    let events = aws_sdk_eventbridge::Client::new(&member.sdk);
    let forwarder = template::forwarder();
    for (id, r) in forwarder["Resources"].as_mapping().expect("Resources") {
        // The heartbeat's schedule is left out: the emulator hands every put event to a
        // schedule rule (tests/deployed.rs takes the heartbeat through the deployed stack).
        if r["Type"].as_str() != Some("AWS::Events::Rule")
            || !r["Properties"]["ScheduleExpression"].is_null()
        {
            continue;
        }
        let name = format!("firebreak-forward-{}", id.as_str().expect("id"));
        let pattern = json_of(&r["Properties"]["EventPattern"]);
        events
            .put_rule()
            .name(&name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("forwarder rule");
        events
            .put_targets()
            .rule(&name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("intake")
                    .arn(&intake_arn)
                    .role_arn(format!(
                        "arn:aws:iam::{MEMBER_ACCOUNT}:role/firebreak-forwarder-eu-west-1"
                    ))
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("forwarder target");
    }
    // A group in the member account's eu-west-1, opened to the internet by a member role.
    let iam = aws_sdk_iam::Client::new(&member.sdk);
    iam.create_role()
        .role_name("platform-admin")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("role");
    let group = member
        .ec2
        .create_security_group()
        .group_name("bastion")
        .description("bastion")
        .send()
        .await
        .expect("group")
        .group_id()
        .expect("id")
        .to_string();
    let world_ssh = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip("0.0.0.0/0")
                .build(),
        )
        .build();
    member
        .ec2
        .authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(world_ssh)
        .send()
        .await
        .expect("opened");

    let text = std::fs::read_to_string(
        firebreak_testbed::repo()
            .join("events/ct-ec2-authorize-security-group-ingress-ssh-world.json"),
    )
    .expect("corpus");
    let mut e: Value = serde_json::from_str(&text).expect("JSON");
    let d = &mut e["detail"];
    d["awsRegion"] = "eu-west-1".into();
    d["recipientAccountId"] = MEMBER_ACCOUNT.into();
    d["userIdentity"]["accountId"] = MEMBER_ACCOUNT.into();
    d["userIdentity"]["arn"] =
        format!("arn:aws:sts::{MEMBER_ACCOUNT}:assumed-role/platform-admin/j.okafor").into();
    d["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
        format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/platform-admin").into();
    d["userIdentity"]["sessionContext"]["sessionIssuer"]["accountId"] = MEMBER_ACCOUNT.into();
    d["requestParameters"] = json!({"groupId": group, "ipPermissions": {"items": [{
        "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    let put = |event: &Value| {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(event["source"].as_str().unwrap_or_default())
            .detail_type(event["detail-type"].as_str().unwrap_or_default())
            .detail(event["detail"].to_string())
            .build();
        events.put_events().entries(entry).send()
    };
    put(&e).await.expect("put in the member account");
    let got = taps.drain().await;
    let reached: Vec<&str> = got.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(reached, ["Intake"], "forwarded once, to the intake rule");
    let forwarded = got[0].2.clone();

    let config = w.config();
    let Decision::Incident(incident) = Triage::new(config.clone())
        .expect("rules")
        .triage_json(&forwarded.to_string())
        .expect("triage")
    else {
        panic!("the forwarded event opens an incident");
    };
    assert_eq!(incident.account, MEMBER_ACCOUNT);
    assert_eq!(incident.region, "eu-west-1");
    let (_, r) = w.incident(config, false, &forwarded).await;
    assert!(
        matches!(
            r.outcomes
                .iter()
                .find(|o| o.kind == "revoke_ingress")
                .map(|o| &o.status),
            Some(Status::Done { .. })
        ),
        "{:?}",
        r.outcomes
    );
    let left = member
        .ec2
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await
        .expect("group");
    assert!(
        left.security_groups()[0].ip_permissions().is_empty(),
        "revoked in the member account's eu-west-1"
    );

    // A source that is not AWS's own is forwarded by no rule, and the intake rule takes none.
    for source in ["aws.ec2.forged", "aws.partner/aws.ec2", "custom.ec2"] {
        let mut forged = e.clone();
        forged["source"] = source.into();
        put(&forged).await.expect("put forged");
        taps.put_intake(&forged).await;
        assert!(taps.drain().await.is_empty(), "{source} reached a rule");
    }
}
