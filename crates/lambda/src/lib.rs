//! Firebreak's Lambda functions. Each binary under `crates/functions/` is one line that calls
//! [`run`] with its [`Function`]; everything else is here so it is tested as a library and run
//! as a Lambda the same way.
//!
//! - `triage`: an AWS event from the default bus → the incident recorded once → `Incident
//!   Opened` / `Incident Updated` on Firebreak's bus.
//! - `contain`: `Incident Opened` with automatic containment → actions → `Containment Finished`.
//! - `preserve`: `Incident Opened` → protection, snapshots, locked evidence → `Evidence Preserved`.
//! - `page`: all of Firebreak's events → SNS, once per incident and stage.
//! - `clock`: hourly → obligations due within 6 hours or overdue, paged again until acknowledged.
//! - `drill`: monthly → a synthetic finding through the pipeline, checked, `[DRILL]` summary.
//! - `hunt`: one batch of a fanned-out hunt (the hunt state machine's map) → its matches stored.

pub mod error;
pub mod handlers;
pub mod settings;

use std::sync::Arc;

use firebreak_aws::{Bus, Clients, Collector, EvidenceStore, Pager, Responder};
use firebreak_core::Triage;
use firebreak_core::render::redact::redact;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

pub use error::FunctionError;
pub use settings::{Settings, SettingsError};

/// Which function a binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Classifies AWS events and records incidents.
    Triage,
    /// Executes automatic containment.
    Contain,
    /// Locks evidence.
    Preserve,
    /// Pages responders.
    Page,
    /// Keeps the deadlines (scheduled hourly).
    Clock,
    /// Runs a drill (scheduled monthly).
    Drill,
    /// Scans one batch of trail log files (an item of the hunt state machine's map).
    Hunt,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 7] = [
        Function::Triage,
        Function::Contain,
        Function::Preserve,
        Function::Page,
        Function::Clock,
        Function::Drill,
        Function::Hunt,
    ];

    /// Its name (the binary's, and the template's `Binary` build property).
    pub fn name(self) -> &'static str {
        match self {
            Function::Triage => "triage",
            Function::Contain => "contain",
            Function::Preserve => "preserve",
            Function::Page => "page",
            Function::Clock => "clock",
            Function::Drill => "drill",
            Function::Hunt => "hunt",
        }
    }
}

/// Everything a function builds once, at init, and reuses for every event.
#[derive(Debug, Clone)]
pub struct Context {
    /// Which function this is.
    pub function: Function,
    /// Its settings.
    pub settings: Settings,
    /// The rules, built from the settings' configuration.
    pub triage: Triage,
    /// Firebreak's bus.
    pub bus: Bus,
    /// The executor (clients, each built on first use; evidence store, pager); each invocation gets a copy
    /// with its own collector.
    pub responder: Responder,
    /// How long a claimed step may run before a later delivery takes it over
    /// ([`handlers::STALE_AFTER_SECONDS`]; tests that cannot wait that long shorten it).
    pub stale_after: chrono::Duration,
    /// The region the function runs in (where a drill's finding is placed).
    pub region: String,
    /// How long the drill function waits for the pipeline ([`handlers::DRILL_WAIT_SECONDS`]).
    pub drill_wait: std::time::Duration,
}

impl Context {
    /// A context from an SDK configuration and settings.
    pub fn new(
        function: Function,
        sdk: &aws_config::SdkConfig,
        settings: Settings,
    ) -> Result<Context, FunctionError> {
        let triage = Triage::new(settings.config.clone())
            .map_err(|e| FunctionError::BadInput(format!("configuration: {e}")))?;
        let responder = Responder::new(
            Clients::new(sdk),
            &settings.home_account,
            settings.config.clone(),
            Collector {
                identity: function.name().to_string(),
                request_id: None,
            },
            settings.dry_run,
        )
        .map_err(|e| FunctionError::BadInput(e.to_string()))?;
        // Built on first use, like every client.
        let bus = Bus::new(
            firebreak_aws::Lazy::new(
                &std::sync::Arc::new(sdk.clone()),
                aws_sdk_eventbridge::Client::new,
            ),
            &settings.bus,
        );
        Ok(Context {
            function,
            settings,
            triage,
            bus,
            responder,
            stale_after: chrono::Duration::seconds(match function {
                // Its memory step may take `memory_seconds` (the function's timeout is 900 s).
                Function::Preserve => handlers::PRESERVE_STALE_AFTER_SECONDS,
                // The clock re-drives a contain step only once contain could have taken it over.
                Function::Contain | Function::Clock => handlers::CONTAIN_STALE_AFTER_SECONDS,
                _ => handlers::STALE_AFTER_SECONDS,
            }),
            region: sdk
                .region()
                .map(|r| r.as_ref().to_string())
                .unwrap_or_default(),
            drill_wait: std::time::Duration::from_secs(handlers::DRILL_WAIT_SECONDS),
        })
    }

    /// The evidence bucket.
    pub fn evidence(&self) -> &EvidenceStore {
        &self.responder.evidence
    }

    /// The SNS topics.
    pub fn pager(&self) -> &Pager {
        &self.responder.pager
    }

    /// A responder collecting as `collector`; `dry_run` for the contain stage when configured.
    pub fn responder(&self, collector: Collector, dry_run: bool) -> Responder {
        Responder {
            collector,
            dry_run,
            ..self.responder.clone()
        }
    }

    /// Handles one event (its raw JSON), collected by `collector`.
    pub async fn handle(
        &self,
        raw: &str,
        collector: Collector,
    ) -> Result<serde_json::Value, FunctionError> {
        // Each handler's future on the heap: together they are larger than a runtime thread's
        // stack wants to hold.
        let result = match self.function {
            Function::Triage => Box::pin(handlers::triage(self, raw, collector)).await,
            Function::Contain => Box::pin(handlers::contain(self, raw, collector)).await,
            Function::Preserve => Box::pin(handlers::preserve(self, raw, collector)).await,
            Function::Page => Box::pin(handlers::page(self, raw, collector)).await,
            Function::Clock => Box::pin(handlers::clock(self, raw, collector)).await,
            Function::Drill => Box::pin(handlers::drill(self, raw, collector)).await,
            Function::Hunt => Box::pin(handlers::hunt(self, raw, collector)).await,
        };
        // Logs carry no personal data: the answer's summary, and the error redacted. The full
        // values are in the locked evidence.
        match &result {
            Ok(answer) => {
                let summary = log_summary(answer);
                tracing::info!(function = self.function.name(), answer = %summary, "handled")
            }
            Err(e) => {
                let error = redact(&e.to_string());
                tracing::error!(function = self.function.name(), error_type = e.error_type(), %error, "failed")
            }
        }
        result
    }
}

/// What a log line says of a handler's answer: the fields that name no person (decision,
/// incident, severity, route, step, counts), every outcome as `kind: status` without its target,
/// and strings redacted. The page's subject and the outcomes' targets and details are left out.
pub fn log_summary(answer: &serde_json::Value) -> serde_json::Value {
    const KEPT: [&str; 18] = [
        "decision",
        "reason",
        "incident_id",
        "severity",
        "route",
        "event_key",
        "bus_event_id",
        "step",
        "duplicate",
        "paged",
        "message_id",
        "any_failed",
        "manifest_key",
        "error_type",
        "incidents",
        "reminders",
        "passed",
        "wiring_drifts",
    ];
    let mut summary = serde_json::Map::new();
    for key in KEPT {
        match answer.get(key) {
            Some(serde_json::Value::String(s)) => {
                summary.insert(key.into(), redact(s).into());
            }
            Some(v @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => {
                summary.insert(key.into(), v.clone());
            }
            _ => {}
        }
    }
    if let Some(outcomes) = answer.get("outcomes").and_then(|o| o.as_array()) {
        let brief: Vec<String> = outcomes
            .iter()
            .map(|o| {
                let field = |k: &str| o.get(k).and_then(|v| v.as_str()).unwrap_or("?");
                format!("{}: {}", field("kind"), field("status"))
            })
            .collect();
        summary.insert("outcomes".into(), brief.into());
    }
    serde_json::Value::Object(summary)
}

/// The Lambda entry point of `function`: logs (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`),
/// settings from the environment, the SDK configuration once (clients on first use), then the
/// runtime loop.
pub async fn run(function: Function) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_lookup(|name| std::env::var(name).ok()).map_err(|e| {
        tracing::error!(function = function.name(), error = %e, "settings");
        e
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let context = Arc::new(Context::new(function, &sdk, settings)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let context = Arc::clone(&context);
        async move {
            let collector = Collector {
                identity: event.context.invoked_function_arn.clone(),
                request_id: Some(event.context.request_id.clone()),
            };
            context.handle(event.payload.get(), collector).await
        }
    }))
    .await
}
