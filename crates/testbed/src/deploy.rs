//! `infra/template.yaml` deployed on the emulator's CloudFormation: transformed by SAM's own
//! translator (`infra/translate.py`, offline), then created as a stack. The emulator's
//! CloudFormation mishandles a few resource types; each of those is created with the API from the
//! template's own properties, and [`GAPS`] says which and why. Nothing here is a copy of the stack.
//!
//! - Created before the stack, and referenced by name in it: event buses (a `Ref` to one fails
//!   CreateStack) and the Object Lock bucket (its lock, versioning and access block are dropped).
//!   Their properties are resolved here; they use only parameters and pseudo parameters.
//! - Created after it: the types the emulator does not create. Every intrinsic in their
//!   properties is added to the stack as an output (with the resource's condition), so the
//!   emulator's CloudFormation resolves it; the resource is created only when its condition holds.
//! - `Number` parameters are declared `String` to the emulator, which would otherwise hand them on
//!   as JSON numbers (CloudFormation hands every parameter on as a string).
//! - The bucket policy is not applied: the emulator evaluates only `StringEquals` in conditions, and
//!   the policy would refuse every object read and write (`tests/adversary` checks it statically).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::{Value, json};

/// The resource types created with the API, and why.
pub const GAPS: [(&str, &str); 10] = [
    (
        "AWS::Events::EventBus",
        "created before the stack: a Ref to an event bus fails CreateStack ('EventBus' object has no attribute 'split')",
    ),
    (
        "AWS::S3::Bucket",
        "created before the stack: the emulator drops Object Lock, versioning and the public-access block",
    ),
    (
        "AWS::S3::BucketPolicy",
        "not applied: the emulator evaluates only StringEquals, so the policy would refuse all object I/O (checked statically)",
    ),
    (
        "AWS::SNS::TopicPolicy",
        "not supported by the emulator's CloudFormation",
    ),
    (
        "AWS::SQS::QueuePolicy",
        "not supported by the emulator's CloudFormation",
    ),
    (
        "AWS::Events::EventBusPolicy",
        "not supported by the emulator's CloudFormation (and never evaluated)",
    ),
    (
        "AWS::CloudWatch::Alarm",
        "not supported by the emulator's CloudFormation",
    ),
    (
        "AWS::Lambda::EventInvokeConfig",
        "not supported by the emulator's CloudFormation",
    ),
    (
        "AWS::SNS::Subscription",
        "not supported by the emulator's CloudFormation",
    ),
    (
        "AWS::SSM::Document",
        "the emulator's CloudFormation stores a document's content as a Python repr, not JSON",
    ),
];

/// How the test created a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// By the emulator's CloudFormation.
    Stack,
    /// With the API, from the template's properties (see [`GAPS`]).
    Api,
    /// Not at all (its condition is false, or see [`GAPS`]).
    Skipped,
}

/// One resource of the deployed stack.
#[derive(Debug, Clone)]
pub struct Resource {
    /// `AWS::…` type.
    pub kind: String,
    /// Its physical id (a name, URL or ARN, as CloudFormation's `Ref`); empty when skipped.
    pub physical: String,
    /// How it was made.
    pub made: Made,
}

/// The stack as created.
pub struct Deployed {
    /// Stack name.
    pub name: String,
    /// The template as SAM's translator gave it.
    pub template: Value,
    /// The stack's outputs (the template's own, not the resolution helpers).
    pub outputs: BTreeMap<String, String>,
    /// Every resource of the template by logical id.
    pub resources: BTreeMap<String, Resource>,
    /// Parameter values the stack was created with (defaults included).
    pub parameters: BTreeMap<String, String>,
}

/// The SAM template transformed offline; each function's code at `s3://<code_bucket>/<Id>.zip`.
pub fn translate(code_bucket: &str) -> Value {
    run_translate(&["infra/template.yaml", "--code-bucket", code_bucket])
}

/// A template without SAM's transform (`infra/forwarder.yaml`, `infra/member-role.yaml`) as JSON.
pub fn plain(path: &str) -> Value {
    run_translate(&[path, "--plain"])
}

fn run_translate(args: &[&str]) -> Value {
    let repo = crate::repo();
    let out = Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("infra/translate.py"))
        .args(args)
        .current_dir(&repo)
        .env("AWS_DEFAULT_REGION", crate::moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "offline")
        .env("AWS_SECRET_ACCESS_KEY", "offline")
        .output()
        .expect("run infra/translate.py (make venv installs SAM's translator)");
    assert!(
        out.status.success(),
        "infra/translate.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the translator's JSON")
}

/// The smallest valid zip (an empty archive): the emulator stores a function's code, never runs it.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn pre_created(kind: &str) -> bool {
    matches!(kind, "AWS::Events::EventBus" | "AWS::S3::Bucket")
}

fn api_created(kind: &str) -> bool {
    GAPS.iter().any(|(k, _)| *k == kind) && !pre_created(kind)
}

/// `{"Ref": …}` or `{"Fn::…": …}`.
fn intrinsic(v: &Value) -> Option<(&str, &Value)> {
    let o = v.as_object()?;
    let (k, x) = o.iter().next()?;
    (o.len() == 1 && (k == "Ref" || k.starts_with("Fn::"))).then_some((k.as_str(), x))
}

/// Deploys `infra/template.yaml` as stack `name` in the account and region of `sdk`, with
/// `parameters` over the template's defaults.
pub async fn deploy(sdk: &SdkConfig, name: &str, parameters: &[(&str, &str)]) -> Deployed {
    deploy_template(sdk, name, translate(&format!("{name}-code")), parameters).await
}

/// Deploys `template` (as [`translate`] or [`plain`] give it) as stack `name`.
pub async fn deploy_template(
    sdk: &SdkConfig,
    name: &str,
    template: Value,
    parameters: &[(&str, &str)],
) -> Deployed {
    let s3 = crate::seed::s3_client(sdk);
    let events = aws_sdk_eventbridge::Client::new(sdk);
    // Not retried: a second CreateStack after a failed first says only "already exists".
    let cfn = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(sdk)
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build(),
    );
    let account = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .expect("who am I")
        .account()
        .unwrap_or_default()
        .to_string();
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();

    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, p) in template["Parameters"].as_object().into_iter().flatten() {
        if let Some(d) = p.get("Default") {
            params.insert(k.clone(), scalar(d));
        }
    }
    for (k, v) in parameters {
        assert!(
            template["Parameters"].get(*k).is_some(),
            "the template has no parameter {k}"
        );
        params.insert((*k).to_string(), (*v).to_string());
    }
    let pseudo = Pseudo {
        stack: name.to_string(),
        account: account.clone(),
        region: region.clone(),
        params: params.clone(),
    };

    // Every function's code, where the translated template says it is.
    let resources_json = template["Resources"]
        .as_object()
        .cloned()
        .expect("Resources");
    let mut code_buckets = std::collections::BTreeSet::new();
    for r in resources_json.values() {
        if r["Type"] == "AWS::Lambda::Function" {
            let code = &r["Properties"]["Code"];
            let bucket = code["S3Bucket"].as_str().unwrap_or_default().to_string();
            if code_buckets.insert(bucket.clone()) {
                s3.create_bucket()
                    .bucket(&bucket)
                    .send()
                    .await
                    .expect("code bucket");
            }
            s3.put_object()
                .bucket(code["S3Bucket"].as_str().unwrap_or_default())
                .key(code["S3Key"].as_str().unwrap_or_default())
                .body(EMPTY_ZIP.to_vec().into())
                .send()
                .await
                .expect("upload code");
        }
    }

    let mut resources = BTreeMap::new();
    // Made before the stack; their names replace references to them.
    let mut names: BTreeMap<String, BTreeMap<&'static str, String>> = BTreeMap::new();
    for (id, r) in &resources_json {
        let kind = r["Type"].as_str().unwrap_or_default();
        if !pre_created(kind) {
            continue;
        }
        let props = pseudo.resolve(&r["Properties"]);
        let (physical, arn) = match kind {
            "AWS::Events::EventBus" => {
                let bus = props["Name"].as_str().expect("a bus's Name").to_string();
                let arn = events
                    .create_event_bus()
                    .name(&bus)
                    .send()
                    .await
                    .expect("create bus")
                    .event_bus_arn()
                    .unwrap_or_default()
                    .to_string();
                (bus, arn)
            }
            _ => {
                let bucket = format!("{}-{}-emulator", name, id.to_lowercase());
                create_bucket(&s3, &bucket, &props).await;
                (bucket.clone(), format!("arn:aws:s3:::{bucket}"))
            }
        };
        names.insert(
            id.clone(),
            BTreeMap::from([("Ref", physical.clone()), ("Arn", arn)]),
        );
        resources.insert(
            id.clone(),
            Resource {
                kind: kind.into(),
                physical,
                made: Made::Api,
            },
        );
    }

    // The stack: without the types made by the API, with a resolving output per intrinsic of
    // the types made after it.
    let mut stack = template.clone();
    let mut leaves: Vec<(String, Vec<Step>, Option<String>)> = Vec::new();
    let mut later: Vec<(String, Value)> = Vec::new();
    {
        let res = stack["Resources"].as_object_mut().expect("Resources");
        res.retain(|_, r| {
            let kind = r["Type"].as_str().unwrap_or_default();
            !pre_created(kind) && !api_created(kind)
        });
        for r in res.values_mut() {
            if let Some(deps) = r.get_mut("DependsOn") {
                let keep: Vec<Value> = match deps {
                    Value::String(s) => vec![Value::String(s.clone())],
                    Value::Array(a) => a.clone(),
                    _ => vec![],
                };
                *deps = Value::Array(
                    keep.into_iter()
                        .filter(|d| {
                            d.as_str()
                                .and_then(|d| resources_json.get(d))
                                .map(|r| {
                                    let kind = r["Type"].as_str().unwrap_or_default();
                                    !pre_created(kind) && !api_created(kind)
                                })
                                .unwrap_or(true)
                        })
                        .collect(),
                );
            }
        }
    }
    let mut outputs_json = stack["Outputs"].as_object().cloned().unwrap_or_default();
    // Whether each conditional resource of the stack is on: the emulator lists one that is off
    // with no logical id.
    let mut conditional: Vec<String> = Vec::new();
    for (id, r) in stack["Resources"].as_object().expect("Resources") {
        if let Some(c) = r["Condition"].as_str() {
            outputs_json.insert(
                format!("FbIf{}", conditional.len()),
                json!({ "Value": "on", "Condition": c }),
            );
            conditional.push(id.clone());
        }
    }
    for (id, r) in &resources_json {
        let kind = r["Type"].as_str().unwrap_or_default();
        if !api_created(kind) {
            continue;
        }
        let condition = r["Condition"].as_str().map(String::from);
        let mut marker = json!({ "Value": "on" });
        if let Some(c) = &condition {
            marker["Condition"] = json!(c);
        }
        outputs_json.insert(format!("FbOn{}", later.len()), marker);
        let mut found = Vec::new();
        leaves_of(&r["Properties"], &mut vec![], &mut found);
        for path in found {
            let leaf = at(&r["Properties"], &path).clone();
            // A list (Fn::Split) is resolved as the string it splits.
            let value = match intrinsic(&leaf) {
                Some(("Fn::Split", args)) => args[1].clone(),
                _ => leaf,
            };
            let mut out = json!({ "Value": value });
            if let Some(c) = &condition {
                out["Condition"] = json!(c);
            }
            outputs_json.insert(format!("FbLeaf{}", leaves.len()), out);
            leaves.push((id.clone(), path, condition.clone()));
        }
        later.push((id.clone(), r.clone()));
    }
    stack["Outputs"] = Value::Object(outputs_json);
    // CloudFormation hands every parameter on as a string; the emulator's makes a `Number`
    // parameter a JSON number, which a function's environment cannot hold.
    for p in stack["Parameters"].as_object_mut().into_iter().flatten() {
        if p.1["Type"] == "Number" {
            p.1["Type"] = json!("String");
        }
        if let Some(d) = p.1.get("Default").map(scalar) {
            p.1["Default"] = json!(d);
        }
    }
    let stack = substitute(&stack, &names);

    let mut create = cfn
        .create_stack()
        .stack_name(name)
        .template_body(stack.to_string())
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam);
    for (k, v) in parameters {
        create = create.parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key(*k)
                .parameter_value(*v)
                .build(),
        );
    }
    create.send().await.unwrap_or_else(|e| {
        panic!(
            "CreateStack: {e:?}\n(the emulator answers a circular dependency with a 500: \
                 `make check-infra` lints the transformed template)"
        )
    });
    let mut described = None;
    for _ in 0..120 {
        let out = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .expect("describe stack");
        let s = out.stacks().first().cloned().expect("the stack");
        let status = s.stack_status().map(|s| s.as_str().to_string());
        if !status.as_deref().unwrap_or("").ends_with("IN_PROGRESS") {
            assert_eq!(
                status.as_deref(),
                Some("CREATE_COMPLETE"),
                "{:?}",
                s.stack_status_reason()
            );
            described = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let described = described.expect("the stack was created in time");
    let all: BTreeMap<String, String> = described
        .outputs()
        .iter()
        .map(|o| {
            (
                o.output_key().unwrap_or_default().to_string(),
                o.output_value().unwrap_or_default().to_string(),
            )
        })
        .collect();

    let mut token = None;
    loop {
        let page = cfn
            .list_stack_resources()
            .stack_name(name)
            .set_next_token(token)
            .send()
            .await
            .expect("stack resources");
        for s in page.stack_resource_summaries() {
            if s.logical_resource_id().unwrap_or_default().is_empty() {
                continue;
            }
            resources.insert(
                s.logical_resource_id().unwrap_or_default().to_string(),
                Resource {
                    kind: s.resource_type().unwrap_or_default().to_string(),
                    physical: s.physical_resource_id().unwrap_or_default().to_string(),
                    made: Made::Stack,
                },
            );
        }
        token = page.next_token().map(String::from);
        if token.is_none() {
            break;
        }
    }

    for (n, id) in conditional.iter().enumerate() {
        if !all.contains_key(&format!("FbIf{n}")) && !resources.contains_key(id) {
            let kind = resources_json[id]["Type"].as_str().unwrap_or_default();
            resources.insert(
                id.clone(),
                Resource {
                    kind: kind.to_string(),
                    physical: String::new(),
                    made: Made::Skipped,
                },
            );
        }
    }

    // The types made after the stack, from their properties as the emulator resolved them.
    let mut resolved: BTreeMap<String, Value> = later
        .iter()
        .map(|(id, r)| (id.clone(), r["Properties"].clone()))
        .collect();
    for (n, (id, path, _)) in leaves.iter().enumerate() {
        let Some(value) = all.get(&format!("FbLeaf{n}")) else {
            continue;
        };
        let leaf = at(&resources_json[id]["Properties"], path);
        let value = match intrinsic(leaf) {
            Some(("Fn::Split", args)) => {
                let sep = args[0].as_str().unwrap_or(",");
                Value::Array(value.split(sep).map(|s| json!(s)).collect())
            }
            _ => json!(value),
        };
        set(resolved.get_mut(id).expect("props"), path, value);
    }
    let mut bus_policies: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (n, (id, r)) in later.iter().enumerate() {
        let kind = r["Type"].as_str().unwrap_or_default().to_string();
        let on = all.contains_key(&format!("FbOn{n}")) && kind != "AWS::S3::BucketPolicy";
        let props = &resolved[id];
        let physical = if on {
            create_after(sdk, &kind, props, &mut bus_policies).await
        } else {
            String::new()
        };
        resources.insert(
            id.clone(),
            Resource {
                kind,
                physical,
                made: if on { Made::Api } else { Made::Skipped },
            },
        );
    }
    for (bus, statements) in bus_policies {
        events
            .put_permission()
            .event_bus_name(&bus)
            .policy(json!({ "Version": "2012-10-17", "Statement": statements }).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("bus policy of {bus}: {e:?}"));
    }

    let outputs = all
        .into_iter()
        .filter(|(k, _)| {
            !k.starts_with("FbLeaf") && !k.starts_with("FbOn") && !k.starts_with("FbIf")
        })
        .collect();
    Deployed {
        name: name.to_string(),
        template,
        outputs,
        resources,
        parameters: params,
    }
}

impl Deployed {
    /// The physical id of resource `id`.
    pub fn physical(&self, id: &str) -> &str {
        &self
            .resources
            .get(id)
            .unwrap_or_else(|| panic!("no resource {id}"))
            .physical
    }

    /// Output `key`.
    pub fn output(&self, key: &str) -> &str {
        self.outputs
            .get(key)
            .unwrap_or_else(|| panic!("no output {key}"))
    }

    /// The logical ids of the template's resources of type `kind`.
    pub fn of_kind(&self, kind: &str) -> Vec<String> {
        self.resources
            .iter()
            .filter(|(_, r)| r.kind == kind)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The environment of the created function `function` (its name), as its configuration
    /// holds it.
    pub async fn function_env(&self, sdk: &SdkConfig, function: &str) -> Vec<(String, String)> {
        let conf = aws_sdk_lambda::Client::new(sdk)
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .unwrap_or_else(|e| panic!("configuration of {function}: {e:?}"));
        conf.environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

/// Parameters and pseudo parameters: all the buses' and the bucket's properties use.
struct Pseudo {
    stack: String,
    account: String,
    region: String,
    params: BTreeMap<String, String>,
}

impl Pseudo {
    fn value(&self, name: &str) -> String {
        match name {
            "AWS::StackName" => self.stack.clone(),
            "AWS::AccountId" => self.account.clone(),
            "AWS::Region" => self.region.clone(),
            "AWS::Partition" => "aws".into(),
            p => self
                .params
                .get(p)
                .cloned()
                .unwrap_or_else(|| panic!("a pre-created resource refers to {p}")),
        }
    }

    fn resolve(&self, v: &Value) -> Value {
        match intrinsic(v) {
            Some(("Ref", Value::String(name))) => json!(self.value(name)),
            Some(("Fn::Sub", Value::String(s))) => {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(i) = rest.find("${") {
                    out.push_str(&rest[..i]);
                    let end = rest[i..].find('}').expect("closed ${") + i;
                    out.push_str(&self.value(&rest[i + 2..end]));
                    rest = &rest[end + 1..];
                }
                out.push_str(rest);
                json!(out)
            }
            Some((k, _)) => panic!("a pre-created resource uses {k}"),
            None => match v {
                Value::Object(o) => Value::Object(
                    o.iter()
                        .map(|(k, v)| (k.clone(), self.resolve(v)))
                        .collect(),
                ),
                Value::Array(a) => Value::Array(a.iter().map(|v| self.resolve(v)).collect()),
                other => other.clone(),
            },
        }
    }
}

/// A number or boolean default as CloudFormation hands it on: a string.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// The paths of the outermost intrinsics in `v`.
fn leaves_of(v: &Value, path: &mut Vec<Step>, found: &mut Vec<Vec<Step>>) {
    if intrinsic(v).is_some() {
        found.push(path.clone());
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                path.push(Step::Key(k.clone()));
                leaves_of(x, path, found);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Step::Index(i));
                leaves_of(x, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a Value, path: &[Step]) -> &'a Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &v[k.as_str()],
        Step::Index(i) => &v[*i],
    })
}

fn set(v: &mut Value, path: &[Step], value: Value) {
    let mut cur = v;
    for s in path {
        cur = match s {
            Step::Key(k) => &mut cur[k.as_str()],
            Step::Index(i) => &mut cur[*i],
        };
    }
    *cur = value;
}

/// `v` with every reference to a pre-created resource replaced by its name or ARN.
fn substitute(v: &Value, names: &BTreeMap<String, BTreeMap<&'static str, String>>) -> Value {
    match intrinsic(v) {
        Some(("Ref", Value::String(id))) if names.contains_key(id) => json!(names[id]["Ref"]),
        Some(("Fn::GetAtt", args)) => {
            let (id, attr) = match args {
                Value::Array(a) => (
                    a[0].as_str().unwrap_or_default().to_string(),
                    a[1].as_str().unwrap_or_default().to_string(),
                ),
                Value::String(s) => {
                    let (a, b) = s.split_once('.').unwrap_or((s, ""));
                    (a.to_string(), b.to_string())
                }
                _ => (String::new(), String::new()),
            };
            match names.get(&id) {
                Some(n) => json!(
                    n.get(attr.as_str())
                        .unwrap_or_else(|| panic!("{id}.{attr} of a pre-created resource"))
                ),
                None => v.clone(),
            }
        }
        Some(("Fn::Sub", Value::String(s))) => json!({ "Fn::Sub": sub(s, names) }),
        Some(("Fn::Sub", Value::Array(a))) => json!({ "Fn::Sub": [
            sub(a[0].as_str().unwrap_or_default(), names),
            substitute(&a[1], names)
        ]}),
        _ => match v {
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), substitute(v, names)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| substitute(v, names)).collect()),
            other => other.clone(),
        },
    }
}

fn sub(s: &str, names: &BTreeMap<String, BTreeMap<&'static str, String>>) -> String {
    let mut s = s.to_string();
    for (id, n) in names {
        s = s.replace(&format!("${{{id}}}"), &n["Ref"]);
        s = s.replace(&format!("${{{id}.Arn}}"), &n["Arn"]);
    }
    s
}

fn str_of<'a>(props: &'a Value, key: &str) -> &'a str {
    props[key].as_str().unwrap_or_default()
}

fn int_of(props: &Value, key: &str) -> Option<i32> {
    match &props[key] {
        Value::Number(n) => n.as_i64().map(|n| n as i32),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn float_of(props: &Value, key: &str) -> Option<f64> {
    match &props[key] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn strings_of(props: &Value, key: &str) -> Vec<String> {
    props[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses properties the API creation below would drop.
fn only(kind: &str, props: &Value, known: &[&str]) {
    for k in props.as_object().into_iter().flatten().map(|(k, _)| k) {
        assert!(
            known.contains(&k.as_str()),
            "{kind}: property {k} is not created by the deployment test; add it"
        );
    }
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str, props: &Value) {
    use aws_sdk_s3::types::*;
    only(
        "AWS::S3::Bucket",
        props,
        &[
            "ObjectLockEnabled",
            "ObjectLockConfiguration",
            "VersioningConfiguration",
            "PublicAccessBlockConfiguration",
            "OwnershipControls",
            "BucketEncryption",
        ],
    );
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(props["ObjectLockEnabled"] == json!(true))
        .send()
        .await
        .expect("create bucket");
    if props["VersioningConfiguration"]["Status"] == "Enabled" {
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
    }
    let lock = &props["ObjectLockConfiguration"];
    if lock["ObjectLockEnabled"] == "Enabled" {
        let retention = &lock["Rule"]["DefaultRetention"];
        s3.put_object_lock_configuration()
            .bucket(bucket)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(ObjectLockRetentionMode::from(str_of(retention, "Mode")))
                                    .set_days(int_of(retention, "Days"))
                                    .set_years(int_of(retention, "Years"))
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("object lock");
    }
    let block = &props["PublicAccessBlockConfiguration"];
    if block.is_object() {
        s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(block["BlockPublicAcls"] == json!(true))
                    .block_public_policy(block["BlockPublicPolicy"] == json!(true))
                    .ignore_public_acls(block["IgnorePublicAcls"] == json!(true))
                    .restrict_public_buckets(block["RestrictPublicBuckets"] == json!(true))
                    .build(),
            )
            .send()
            .await
            .expect("public access block");
    }
    for rule in props["OwnershipControls"]["Rules"]
        .as_array()
        .into_iter()
        .flatten()
    {
        s3.put_bucket_ownership_controls()
            .bucket(bucket)
            .ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::from(str_of(
                                rule,
                                "ObjectOwnership",
                            )))
                            .build()
                            .expect("ownership rule"),
                    )
                    .build()
                    .expect("ownership"),
            )
            .send()
            .await
            .expect("ownership controls");
    }
    for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let by_default = &rule["ServerSideEncryptionByDefault"];
        s3.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(ServerSideEncryption::from(str_of(
                                        by_default,
                                        "SSEAlgorithm",
                                    )))
                                    .set_kms_master_key_id(
                                        by_default["KMSMasterKeyID"].as_str().map(String::from),
                                    )
                                    .build()
                                    .expect("encryption default"),
                            )
                            .bucket_key_enabled(rule["BucketKeyEnabled"] == json!(true))
                            .build(),
                    )
                    .build()
                    .expect("encryption"),
            )
            .send()
            .await
            .expect("bucket encryption");
    }
}

/// Creates one resource of the types the emulator's CloudFormation skips; its physical id.
/// Bus policy statements are gathered in `bus_policies`, one policy per bus.
async fn create_after(
    sdk: &SdkConfig,
    kind: &str,
    props: &Value,
    bus_policies: &mut BTreeMap<String, Vec<Value>>,
) -> String {
    match kind {
        "AWS::SNS::Subscription" => {
            only(kind, props, &["TopicArn", "Protocol", "Endpoint"]);
            aws_sdk_sns::Client::new(sdk)
                .subscribe()
                .topic_arn(str_of(props, "TopicArn"))
                .protocol(str_of(props, "Protocol"))
                .endpoint(str_of(props, "Endpoint"))
                .send()
                .await
                .expect("subscribe")
                .subscription_arn()
                .unwrap_or_default()
                .to_string()
        }
        "AWS::SNS::TopicPolicy" => {
            only(kind, props, &["Topics", "PolicyDocument"]);
            let sns = aws_sdk_sns::Client::new(sdk);
            for topic in strings_of(props, "Topics") {
                sns.set_topic_attributes()
                    .topic_arn(&topic)
                    .attribute_name("Policy")
                    .attribute_value(props["PolicyDocument"].to_string())
                    .send()
                    .await
                    .expect("topic policy");
            }
            strings_of(props, "Topics").join(",")
        }
        "AWS::SQS::QueuePolicy" => {
            only(kind, props, &["Queues", "PolicyDocument"]);
            let sqs = aws_sdk_sqs::Client::new(sdk);
            for queue in strings_of(props, "Queues") {
                sqs.set_queue_attributes()
                    .queue_url(&queue)
                    .attributes(
                        aws_sdk_sqs::types::QueueAttributeName::Policy,
                        props["PolicyDocument"].to_string(),
                    )
                    .send()
                    .await
                    .expect("queue policy");
            }
            strings_of(props, "Queues").join(",")
        }
        "AWS::Events::EventBusPolicy" => {
            only(kind, props, &["EventBusName", "StatementId", "Statement"]);
            let mut statement = props["Statement"].clone();
            statement["Sid"] = props["StatementId"].clone();
            let bus = str_of(props, "EventBusName").to_string();
            bus_policies.entry(bus.clone()).or_default().push(statement);
            format!("{bus}|{}", str_of(props, "StatementId"))
        }
        "AWS::Lambda::EventInvokeConfig" => {
            use aws_sdk_lambda::types::{DestinationConfig, OnFailure, OnSuccess};
            only(
                kind,
                props,
                &[
                    "FunctionName",
                    "Qualifier",
                    "MaximumRetryAttempts",
                    "MaximumEventAgeInSeconds",
                    "DestinationConfig",
                ],
            );
            let d = &props["DestinationConfig"];
            let config = DestinationConfig::builder()
                .set_on_failure(
                    d["OnFailure"]["Destination"]
                        .as_str()
                        .map(|a| OnFailure::builder().destination(a).build()),
                )
                .set_on_success(
                    d["OnSuccess"]["Destination"]
                        .as_str()
                        .map(|a| OnSuccess::builder().destination(a).build()),
                )
                .build();
            aws_sdk_lambda::Client::new(sdk)
                .put_function_event_invoke_config()
                .function_name(str_of(props, "FunctionName"))
                .qualifier(str_of(props, "Qualifier"))
                .set_maximum_retry_attempts(int_of(props, "MaximumRetryAttempts"))
                .set_maximum_event_age_in_seconds(int_of(props, "MaximumEventAgeInSeconds"))
                .destination_config(config)
                .send()
                .await
                .expect("event invoke config");
            format!(
                "{}:{}",
                str_of(props, "FunctionName"),
                str_of(props, "Qualifier")
            )
        }
        "AWS::CloudWatch::Alarm" => {
            put_alarm(sdk, props).await;
            str_of(props, "AlarmName").to_string()
        }
        "AWS::SSM::Document" => {
            only(
                kind,
                props,
                &[
                    "Name",
                    "DocumentType",
                    "DocumentFormat",
                    "UpdateMethod",
                    "Content",
                ],
            );
            let name = str_of(props, "Name");
            aws_sdk_ssm::Client::new(sdk)
                .create_document()
                .name(name)
                .document_type(aws_sdk_ssm::types::DocumentType::from(str_of(
                    props,
                    "DocumentType",
                )))
                .document_format(aws_sdk_ssm::types::DocumentFormat::from(str_of(
                    props,
                    "DocumentFormat",
                )))
                .content(props["Content"].to_string())
                .send()
                .await
                .expect("create document");
            name.to_string()
        }
        other => panic!("the deployment test cannot create {other}"),
    }
}

fn dimensions(v: &Value) -> Vec<aws_sdk_cloudwatch::types::Dimension> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name(str_of(d, "Name"))
                .value(str_of(d, "Value"))
                .build()
        })
        .collect()
}

async fn put_alarm(sdk: &SdkConfig, props: &Value) {
    use aws_sdk_cloudwatch::types::*;
    only(
        "AWS::CloudWatch::Alarm",
        props,
        &[
            "AlarmName",
            "AlarmDescription",
            "AlarmActions",
            "OKActions",
            "ComparisonOperator",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "TreatMissingData",
            "MetricName",
            "Namespace",
            "Dimensions",
            "Statistic",
            "Period",
            "Metrics",
        ],
    );
    let metrics: Vec<MetricDataQuery> = props["Metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let stat = &m["MetricStat"];
            MetricDataQuery::builder()
                .id(str_of(m, "Id"))
                .set_expression(m["Expression"].as_str().map(String::from))
                .set_label(m["Label"].as_str().map(String::from))
                .set_return_data(m["ReturnData"].as_bool())
                .set_metric_stat(stat.is_object().then(|| {
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace(str_of(&stat["Metric"], "Namespace"))
                                .metric_name(str_of(&stat["Metric"], "MetricName"))
                                .set_dimensions(Some(dimensions(&stat["Metric"]["Dimensions"])))
                                .build(),
                        )
                        .set_period(int_of(stat, "Period"))
                        .stat(str_of(stat, "Stat"))
                        .build()
                }))
                .build()
        })
        .collect();
    aws_sdk_cloudwatch::Client::new(sdk)
        .put_metric_alarm()
        .alarm_name(str_of(props, "AlarmName"))
        .set_alarm_description(props["AlarmDescription"].as_str().map(String::from))
        .set_alarm_actions(Some(strings_of(props, "AlarmActions")))
        .set_ok_actions(Some(strings_of(props, "OKActions")))
        .comparison_operator(ComparisonOperator::from(str_of(
            props,
            "ComparisonOperator",
        )))
        .set_evaluation_periods(int_of(props, "EvaluationPeriods"))
        .set_datapoints_to_alarm(int_of(props, "DatapointsToAlarm"))
        .set_threshold(float_of(props, "Threshold"))
        .set_treat_missing_data(props["TreatMissingData"].as_str().map(String::from))
        .set_metric_name(props["MetricName"].as_str().map(String::from))
        .set_namespace(props["Namespace"].as_str().map(String::from))
        .set_dimensions(Some(dimensions(&props["Dimensions"])))
        .set_statistic(props["Statistic"].as_str().map(Statistic::from))
        .set_period(int_of(props, "Period"))
        .set_metrics((!metrics.is_empty()).then_some(metrics))
        .send()
        .await
        .unwrap_or_else(|e| panic!("alarm {}: {e:?}", str_of(props, "AlarmName")));
}

/// A rule as the emulator holds it.
pub struct CreatedRule {
    /// Its bus.
    pub bus: String,
    /// Its name.
    pub name: String,
    /// Its event pattern.
    pub pattern: Option<Value>,
    /// Its schedule expression.
    pub schedule: Option<String>,
    /// `ENABLED`, `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    /// Its targets.
    pub targets: Vec<aws_sdk_eventbridge::types::Target>,
}

/// Every rule on `buses` of `sdk`'s account and region.
pub async fn rules_on(sdk: &SdkConfig, buses: &[&str]) -> Vec<CreatedRule> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let mut out = Vec::new();
    for bus in buses {
        let rules = events
            .list_rules()
            .event_bus_name(*bus)
            .send()
            .await
            .expect("list rules");
        for r in rules.rules() {
            let name = r.name().unwrap_or_default().to_string();
            let targets = events
                .list_targets_by_rule()
                .rule(&name)
                .event_bus_name(*bus)
                .send()
                .await
                .expect("targets")
                .targets()
                .to_vec();
            out.push(CreatedRule {
                bus: bus.to_string(),
                name,
                pattern: r
                    .event_pattern()
                    .map(|p| serde_json::from_str(p).expect("pattern JSON")),
                schedule: r.schedule_expression().map(String::from),
                state: r
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                targets,
            });
        }
    }
    out
}

/// The created rules with their function targets swapped for queues: the emulator cannot put an
/// event that matches a rule with a Lambda target. What a rule routes waits in its queue.
pub struct Tapped {
    sqs: aws_sdk_sqs::Client,
    /// `(function name, queue URL)`, one per rule.
    pub taps: Vec<(String, String)>,
}

impl Tapped {
    /// Every event the rules routed to function `name` since the last drain.
    pub async fn drain(&self, name: &str) -> Vec<Value> {
        let mut got = Vec::new();
        for (_, url) in self.taps.iter().filter(|(f, _)| f == name) {
            for body in crate::eventbridge::drain_queue(&self.sqs, url).await {
                got.push(serde_json::from_str(&body).expect("event JSON"));
            }
        }
        got
    }

    /// Every event the rules routed since the last drain: `(function name, event)`.
    pub async fn drain_all(&self) -> Vec<(String, Value)> {
        let mut got = Vec::new();
        for (function, url) in &self.taps {
            for body in crate::eventbridge::drain_queue(&self.sqs, url).await {
                got.push((
                    function.clone(),
                    serde_json::from_str(&body).expect("event JSON"),
                ));
            }
        }
        // Preserve first, as `Taps::drain` delivers (contain waits for its instance evidence).
        got.sort_by_key(|(function, _)| !function.ends_with("-preserve"));
        got
    }
}

impl Deployed {
    /// Taps every rule of the stack's buses (the default one, Firebreak's, the intake bus).
    pub async fn tap(&self, sdk: &SdkConfig) -> Tapped {
        let events = aws_sdk_eventbridge::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let buses = [
            "default",
            self.physical("FirebreakBus"),
            self.physical("IntakeBus"),
        ];
        let mut taps = Vec::new();
        for c in rules_on(sdk, &buses).await {
            let Some(target) = c.targets.first().cloned() else {
                continue;
            };
            let function = target
                .arn()
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_string();
            let url = sqs
                .create_queue()
                .queue_name(format!("tap-{}", c.name))
                .send()
                .await
                .expect("tap")
                .queue_url()
                .unwrap_or_default()
                .to_string();
            let arn = queue_arn(sdk, &url).await;
            events
                .remove_targets()
                .rule(&c.name)
                .event_bus_name(&c.bus)
                .ids(target.id())
                .send()
                .await
                .expect("remove the function target");
            events
                .put_targets()
                .rule(&c.name)
                .event_bus_name(&c.bus)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id("tap")
                        .arn(arn)
                        .build()
                        .expect("target"),
                )
                .send()
                .await
                .expect("tap target");
            // The emulator hands every put event to a schedule rule as well: its queue is not
            // read (the schedules' wiring is checked in tests/deployed.rs).
            if c.schedule.is_none() {
                taps.push((function, url));
            }
        }
        Tapped { sqs, taps }
    }

    /// A queue `name` subscribed to both of the stack's topics (S1 pages, S2 tickets), with the
    /// message alone (`raw`) or in SNS's envelope; its URL.
    pub async fn subscribe_pages(&self, sdk: &SdkConfig, name: &str, raw: bool) -> String {
        let url = aws_sdk_sqs::Client::new(sdk)
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("pages queue")
            .queue_url()
            .unwrap_or_default()
            .to_string();
        let arn = queue_arn(sdk, &url).await;
        let sns = aws_sdk_sns::Client::new(sdk);
        for topic in ["PagerTopicArn", "TicketTopicArn"] {
            sns.subscribe()
                .topic_arn(self.output(topic))
                .protocol("sqs")
                .endpoint(&arn)
                .attributes("RawMessageDelivery", raw.to_string())
                .send()
                .await
                .expect("subscribe the pages queue");
        }
        url
    }

    /// Function `f` (`triage`, …) of the stack under the Lambda runtime API, with the environment
    /// of its created configuration plus where the emulator is and the home account's credentials.
    pub async fn host(
        &self,
        moto: &crate::moto::Moto,
        sdk: &SdkConfig,
        f: &str,
    ) -> crate::lambda::LambdaHost {
        let mut env = self.function_env(sdk, &format!("{}-{f}", self.name)).await;
        let creds = moto.home_credentials().await;
        env.extend(
            [
                ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
                (
                    "AWS_REGION",
                    sdk.region().map(|r| r.to_string()).unwrap_or_default(),
                ),
                ("AWS_ACCESS_KEY_ID", creds.access_key_id().to_string()),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    creds.secret_access_key().to_string(),
                ),
                (
                    "AWS_SESSION_TOKEN",
                    creds.session_token().unwrap_or_default().to_string(),
                ),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_string()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        crate::lambda::LambdaHost::start(f, &env)
    }
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(sdk: &SdkConfig, url: &str) -> String {
    aws_sdk_sqs::Client::new(sdk)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .expect("queue ARN")
}

/// Puts `event` (an EventBridge event as JSON) on the default bus of `sdk`'s account and region.
/// The emulator stamps the envelope (`id`, `time`, `account`, `region`) as its own.
pub async fn put(sdk: &SdkConfig, event: &Value) {
    put_on(sdk, "default", event).await;
}

/// Puts `event` on `bus` (a name or ARN) of `sdk`'s account and region.
pub async fn put_on(sdk: &SdkConfig, bus: &str, event: &Value) {
    let resources: Vec<String> = event["resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let out = aws_sdk_eventbridge::Client::new(sdk)
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(event["source"].as_str().unwrap_or_default())
                .detail_type(event["detail-type"].as_str().unwrap_or_default())
                .detail(event["detail"].to_string())
                .set_resources(Some(resources))
                .event_bus_name(bus)
                .build(),
        )
        .send()
        .await
        .expect("put the event");
    assert_eq!(out.failed_entry_count(), 0, "{out:?}");
}
