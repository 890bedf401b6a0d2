//! `infra/template.yaml`, read as data: the event patterns of every function's rules, so tests
//! check the template itself rather than a copy of it.

use serde_json::Value;

/// One EventBridge rule of a function.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Logical id of the function (`TriageFunction`).
    pub function: String,
    /// Name of the event source in the function's `Events`.
    pub name: String,
    /// True for Firebreak's own bus; false for the default bus and the intake bus.
    pub firebreak_bus: bool,
    /// True for the intake bus (what forwarders put).
    pub intake_bus: bool,
    /// The event pattern.
    pub pattern: Value,
    /// The rule's `State` (`None`: CloudFormation's default, `ENABLED`).
    pub state: Option<String>,
}

/// The template as YAML (CloudFormation tags kept as tagged values).
pub fn load() -> serde_yaml::Value {
    let text = std::fs::read_to_string(crate::repo().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    serde_yaml::from_str(&text).expect("infra/template.yaml is YAML")
}

/// Every schedule of every function: (function logical id, schedule expression).
pub fn schedules() -> Vec<(String, String)> {
    let template = load();
    let resources = template["Resources"]
        .as_mapping()
        .expect("Resources is a mapping");
    let mut out = Vec::new();
    for (id, resource) in resources {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() == Some("Schedule") {
                let expr = event["Properties"]["Schedule"].as_str().expect("Schedule");
                out.push((id.as_str().expect("id").to_string(), expr.to_string()));
            }
        }
    }
    out
}

/// Every EventBridge rule of every function, in template order.
pub fn rules() -> Vec<Rule> {
    let template = load();
    let resources = template["Resources"]
        .as_mapping()
        .expect("Resources is a mapping");
    let mut rules = Vec::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = id.as_str().expect("logical id").to_string();
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (name, event) in events {
            // Schedules (the clock's, the drill's) carry no pattern: `schedules()` reads them.
            if event["Type"].as_str() == Some("Schedule") {
                continue;
            }
            assert_eq!(
                event["Type"].as_str(),
                Some("EventBridgeRule"),
                "{function}"
            );
            let props = &event["Properties"];
            let pattern: Value = serde_json::to_value(&props["Pattern"]).expect("pattern as JSON");
            rules.push(Rule {
                function: function.clone(),
                name: name.as_str().expect("event name").to_string(),
                firebreak_bus: bus_of(&props["EventBusName"]).as_deref() == Some("FirebreakBus"),
                intake_bus: bus_of(&props["EventBusName"]).as_deref() == Some("IntakeBus"),
                pattern,
                state: props["State"].as_str().map(str::to_string),
            });
        }
    }
    rules
}

/// The logical id of the bus an `EventBusName: !Ref <Bus>` names (`None` for the default bus).
fn bus_of(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::Tagged(t) => t.value.as_str().map(str::to_string),
        serde_yaml::Value::Null => None,
        other => other.as_str().map(str::to_string),
    }
}

/// `infra/forwarder.yaml` as YAML.
pub fn forwarder() -> serde_yaml::Value {
    let text = std::fs::read_to_string(crate::repo().join("infra/forwarder.yaml"))
        .expect("infra/forwarder.yaml");
    serde_yaml::from_str(&text).expect("infra/forwarder.yaml is YAML")
}

/// The rule named `name` (its name in a function's `Events`).
pub fn rule(name: &str) -> Rule {
    rules()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no rule {name} in infra/template.yaml"))
}

/// A pattern's list of strings (`source`, `detail.eventSource`…), in template order.
pub fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("{list} is not a list"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("{s} is not an exact string"))
                .to_string()
        })
        .collect()
}

/// The detail types AWS's own CloudTrail and GuardDuty deliveries carry: a rule matching any of
/// them must list its exact sources.
pub const AWS_DETAIL_TYPES: &[&str] = &[
    "GuardDuty Finding",
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Service Event via CloudTrail",
];

/// Every `!GetAtt X.Arn` and `!Ref X` inside `v`, as `GetAtt X.Arn` / `Ref X`.
pub fn references(v: &serde_yaml::Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    match v {
        serde_yaml::Value::Tagged(t) => {
            let tag = t.tag.to_string();
            if let (Some("GetAtt" | "Ref"), serde_yaml::Value::String(target)) =
                (tag.strip_prefix('!'), &t.value)
            {
                out.insert(format!("{} {target}", &tag[1..]));
            }
            out.extend(references(&t.value));
        }
        serde_yaml::Value::Sequence(list) => list.iter().for_each(|x| out.extend(references(x))),
        serde_yaml::Value::Mapping(m) => m.values().for_each(|x| out.extend(references(x))),
        _ => {}
    }
    out
}

/// The strings of a YAML scalar or list (an IAM `Action`, a `Principal`'s services).
pub fn texts(v: &serde_yaml::Value) -> Vec<String> {
    match v {
        serde_yaml::Value::String(s) => vec![s.clone()],
        serde_yaml::Value::Sequence(list) => list.iter().flat_map(texts).collect(),
        _ => Vec::new(),
    }
}
