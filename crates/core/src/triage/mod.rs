//! Triage: one parsed event in, one [`Decision`] out. Pure: the same event and config always
//! give the same decision.

pub mod coverage;
pub mod rules;
mod undo;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::action::plan::{Action, PlanBuilder, TagTarget};
use crate::config::{Config, Mode};
use crate::error::{ConfigError, Error, clip};
use crate::event::cloudtrail::Record;
use crate::event::guardduty::Finding;
use crate::event::principal::Principal;
use crate::event::{Detail, Envelope, Event};
use crate::record::incident::{Decision, Incident, IncidentId, Source, deadlines};
use crate::severity::Severity;
use crate::triage::rules::{IocRule, MatchContext, RuleSet, cognito_pool_id};

/// The root-usage runbook's establish-control steps, which only a human can take.
pub const ROOT_RUNBOOK: [&str; 6] = [
    "Confirm with the account owners whether anyone used root; if nobody did, treat it as a compromise.",
    "Sign in as root, change the root password, and remove recovery contacts you do not recognise.",
    "Enable, or re-register, MFA on the root user.",
    "Delete any root access keys: root should have none.",
    "Review everything root did (the preserved CloudTrail activity) since the last known-good time.",
    "Rotate credentials that root created or changed; check account contacts and billing settings.",
];

/// What a plan calls an Auto Scaling group whose tag holds a name Firebreak does not print.
pub const UNPRINTED_GROUP: &str = "(its Auto Scaling group)";

/// The GuardDuty playbooks, for `firebreak rules`: (match, plan).
pub const GUARDDUTY_PLAYBOOKS: [(&str, &str); 8] = [
    (
        "AccessKey + IAMUser",
        "preserve; deactivate the finding's AKIA key only (on a session key ASIA…: deny-all at S1–S2, every key of the user Inactive at S1); revoke user sessions; deny-all (S1); tag; page",
    ),
    (
        "AccessKey + AssumedRole",
        "preserve; revoke the role's sessions (service-linked roles untouched); tag; page",
    ),
    (
        "AccessKey + Root",
        "preserve; page at S1 with the root runbook (root cannot be contained by API)",
    ),
    (
        "AttackSequence",
        "preserve; each actor of the sequence contained by its own playbook above (its key, user or role); page",
    ),
    (
        "AccessKey + FederatedUser",
        "preserve; page (the issuing IAM user is not named in findings)",
    ),
    (
        "Instance",
        "protect (termination/stop/keep volumes); detach from its Auto Scaling group; snapshot; preserve; revoke instance-profile sessions; isolate; tag; page",
    ),
    (
        "S3Bucket",
        "preserve; block public access (public-access findings or public bucket); contain the caller; tag; page",
    ),
    ("any other resource", "preserve; page"),
];

/// Severity policy, for `firebreak rules` and docs/rules.md.
pub const SEVERITY_POLICY: [(&str, &str); 10] = [
    (
        "S1",
        "successful root activity (console sign-in or API call); any GuardDuty finding naming root",
    ),
    (
        "S1",
        "detection disabled: CloudTrail stopped/deleted, GuardDuty detector deleted/suspended/disassociated",
    ),
    ("S1", "GuardDuty attack sequences; GuardDuty severity ≥ 9"),
    (
        "S1",
        "GuardDuty ≥ 7 on credential or data exfiltration (InstanceCredentialExfiltration, CredentialAccess, Exfiltration)",
    ),
    ("S1", "root use combined with any IOC"),
    ("S2", "other GuardDuty High (7–8.9); IOC rules marked S2"),
    (
        "S3",
        "GuardDuty Medium (4–6.9); failed root sign-in or refused root call; refused IOC calls (capped at S3)",
    ),
    (
        "S4",
        "GuardDuty Low (< 4) unless a rule above says otherwise; persistence records",
    ),
    (
        "route",
        "S1 → page at once; S2 → ticket + mail; S3/S4 → record",
    ),
    (
        "modes",
        "credential/Cognito/public-access containment auto for S1–S2; isolation approve; everything S3–S4 approve",
    ),
];

/// The triage engine: a configuration and a rule table, built once, used for every event.
#[derive(Debug, Clone)]
pub struct Triage {
    config: Config,
    rules: RuleSet,
}

impl Triage {
    /// An engine with the built-in rule table.
    pub fn new(config: Config) -> Result<Triage, ConfigError> {
        Triage::with_rules(config, RuleSet::builtin()?)
    }

    /// An engine with another rule table.
    pub fn with_rules(config: Config, rules: RuleSet) -> Result<Triage, ConfigError> {
        config.validate()?;
        Ok(Triage { config, rules })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The rule table in force.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Parses and triages one event given as JSON text.
    pub fn triage_json(&self, input: &str) -> Result<Decision, Error> {
        self.triage(&Event::parse(input)?)
    }

    /// Triages one parsed event.
    pub fn triage(&self, event: &Event<'_>) -> Result<Decision, Error> {
        check_source(event)?;
        let decision = match &event.detail {
            Detail::GuardDuty(finding) => self.guardduty(&event.envelope, finding),
            Detail::CloudTrail(record) => self.cloudtrail(&event.envelope, record),
        }?;
        Ok(match decision {
            Decision::Incident(mut incident) => {
                printable(&mut incident);
                Decision::Incident(incident)
            }
            Decision::Ignored { reason } => Decision::Ignored {
                reason: crate::action::names::printable_line(&reason).into_owned(),
            },
        })
    }

    fn guardduty(&self, env: &Envelope, f: &Finding) -> Result<Decision, Error> {
        // A drill is GuardDuty's own sample finding (when drills are on) or a `firebreak drill`
        // event, which is always one: its containment runs dry.
        let drilled = env.source.as_deref() == Some(crate::lifecycle::drill::SOURCE);
        let drill = drilled || f.is_sample();
        if drill && !drilled && !self.config.drills.enabled {
            return Ok(ignored("GuardDuty sample finding, and drills are off"));
        }
        if f.service.archived == Some(true) {
            return Ok(ignored("the finding is archived (suppressed in GuardDuty)"));
        }
        if !(0.0..=10.0).contains(&f.severity) {
            return Err(Error::InvalidField {
                field: "detail.severity",
                message: format!("{} is outside GuardDuty's 0–10 range", f.severity),
            });
        }
        let account = nonempty(f.account_id.as_deref())
            .or(nonempty(env.account.as_deref()))
            .ok_or(Error::MissingField("detail.accountId"))?;
        let region = nonempty(f.region.as_deref())
            .or(nonempty(env.region.as_deref()))
            .ok_or(Error::MissingField("detail.region"))?;
        // The finding's own partition and ARNs must agree with its region: protection patterns
        // and containment both work on ARNs built in that partition.
        let partition = partition_of(region);
        if let Some(stated) = nonempty(f.partition.as_deref())
            && stated != partition
        {
            return Err(Error::InvalidField {
                field: "detail.partition",
                message: clip(format!(
                    "{stated} is not the partition of region {region} ({partition}): refused, \
                     Firebreak does not act on a finding that contradicts itself"
                )),
            });
        }
        check_arn("detail.arn", f.arn.as_deref(), partition, region)?;
        let detected_at = parse_time(f.created_at.as_deref())
            .or(env.time)
            .or_else(|| parse_time(f.updated_at.as_deref()))
            .ok_or(Error::MissingField("detail.createdAt"))?;

        let t = f.finding_type.as_str();
        let (mut severity, mut severity_reason) = guardduty_severity(t, f.severity);
        let resource = &f.resource;
        let principal = resource
            .access_key_details
            .as_ref()
            .map(|k| Principal::from_guardduty(k, partition, account));
        // Root acting is S1 whatever GuardDuty's own scale says: root cannot be contained by
        // API, so only a human can stop it, and only if paged now.
        if matches!(principal, Some(Principal::Root { .. })) && severity > Severity::S1 {
            severity_reason = format!("a GuardDuty finding naming root ({severity_reason})");
            severity = Severity::S1;
        }
        let actors = sequence_actors(f, partition, account);
        if actors
            .iter()
            .any(|(p, ..)| matches!(p, Principal::Root { .. }))
            && severity > Severity::S1
        {
            severity_reason = format!("an attack sequence whose actor is root ({severity_reason})");
            severity = Severity::S1;
        }

        let mut notes = Vec::new();
        let mut human_steps = Vec::new();
        let mut plan = PlanBuilder::new(&self.config, severity);
        plan.push(
            Action::PreserveEvidence,
            "keep the finding, the resource's state and the principal's activity",
        );

        match resource.resource_type.as_str() {
            // Management-event findings (Policy:S3/* among them) come as AccessKey with the
            // bucket attached; data-event findings come as S3Bucket. Both get the bucket and the
            // caller handled.
            kind @ ("AccessKey" | "S3Bucket") => {
                let buckets: Vec<&str> = resource
                    .s3_bucket_details
                    .iter()
                    .flatten()
                    .filter_map(|b| nonempty(b.name.as_deref()))
                    .collect();
                if kind == "S3Bucket" && buckets.is_empty() {
                    return Err(Error::MissingField(
                        "detail.resource.s3BucketDetails[].name",
                    ));
                }
                let key = resource.access_key_details.as_ref();
                if kind == "AccessKey" && key.is_none() {
                    return Err(Error::MissingField("detail.resource.accessKeyDetails"));
                }
                let public = is_public_access_finding(t)
                    || resource.s3_bucket_details.iter().flatten().any(|b| {
                        b.public_access
                            .as_ref()
                            .and_then(|p| p.effective_permission.as_deref())
                            == Some("PUBLIC")
                    });
                for bucket in buckets {
                    let arn = format!("arn:{partition}:s3:::{bucket}");
                    if let Some(why) = self.config.protection(&arn) {
                        notes.push(format!(
                            "bucket {bucket} is {}: Firebreak does not touch it",
                            why.describe()
                        ));
                        continue;
                    }
                    if public {
                        plan.push(
                            Action::BlockPublicAccess {
                                bucket: bucket.to_string(),
                            },
                            "the bucket is, or may become, public",
                        );
                    }
                    plan.push(
                        Action::TagQuarantine {
                            resource: TagTarget::Bucket(bucket.to_string()),
                        },
                        "mark the bucket",
                    );
                }
                if let (Some(p), Some(key)) = (&principal, key) {
                    self.contain_principal(
                        &mut plan,
                        account,
                        p,
                        key.access_key_id.as_deref(),
                        key.principal_id.as_deref(),
                        false,
                        severity,
                        &mut notes,
                        &mut human_steps,
                    );
                }
            }
            "Instance" => {
                let profile = resource
                    .instance_details
                    .as_ref()
                    .and_then(|i| i.iam_instance_profile.as_ref())
                    .and_then(|p| nonempty(p.arn.as_deref()));
                check_arn(
                    "detail.resource.instanceDetails.iamInstanceProfile.arn",
                    profile,
                    partition,
                    region,
                )?;
                let instance_id = resource
                    .instance_details
                    .as_ref()
                    .and_then(|i| nonempty(i.instance_id.as_deref()))
                    .ok_or(Error::MissingField(
                        "detail.resource.instanceDetails.instanceId",
                    ))?;
                let arn = format!("arn:{partition}:ec2:{region}:{account}:instance/{instance_id}");
                if let Some(why) = self.config.protection(&arn) {
                    notes.push(format!(
                        "instance {instance_id} is {}: Firebreak does not touch it",
                        why.describe()
                    ));
                } else {
                    let id = instance_id.to_string();
                    plan.push(
                        Action::ProtectInstance {
                            instance_id: id.clone(),
                        },
                        "keep the instance and its volumes as evidence",
                    );
                    plan.push(
                        Action::SnapshotVolumes {
                            instance_id: id.clone(),
                        },
                        "capture every attached volume",
                    );
                    // After the snapshots (point-in-time, taken at once: the image written to
                    // the disk, and whatever a warned attacker does next, is not in them) and
                    // before anything cuts the network or credentials the SSM agent needs.
                    plan.push(
                        Action::CaptureMemory {
                            instance_id: id.clone(),
                        },
                        "volatile memory is lost once the instance is cut off or stopped",
                    );
                    if let Some(profile) = profile {
                        // The swap first, then the revoke as of that moment: credentials the
                        // instance fetched in between would otherwise outlive both.
                        plan.push(
                            Action::QuarantineInstanceProfile {
                                instance_id: id.clone(),
                                instance_profile_arn: profile.to_string(),
                            },
                            "whoever is on the instance would fetch fresh credentials of the \
                             revoked role",
                        );
                        plan.push(
                            Action::RevokeInstanceProfileSessions {
                                instance_id: id.clone(),
                                instance_profile_arn: profile.to_string(),
                            },
                            "credentials on a compromised instance must be assumed stolen",
                        );
                    }
                    // An isolated instance fails its group's health checks, and the group
                    // would terminate it: detach it first (the tag is AWS's own, `aws:` keys
                    // cannot be set by users).
                    let group = resource
                        .instance_details
                        .as_ref()
                        .and_then(|i| i.tags.as_ref())
                        .into_iter()
                        .flatten()
                        .find(|t| t.key.as_deref() == Some("aws:autoscaling:groupName"))
                        .and_then(|t| nonempty(t.value.as_deref()));
                    if let Some(group) = group {
                        // The executor detaches from the group the instance is in when it runs;
                        // the tag's name is for humans, so a name Firebreak will not print
                        // leaves the action, never the finding, without it.
                        let group_name = match crate::action::names::auto_scaling_group(group) {
                            Ok(()) => group.to_string(),
                            Err(_) => UNPRINTED_GROUP.to_string(),
                        };
                        plan.push(
                            Action::DetachFromAutoScalingGroup {
                                instance_id: id.clone(),
                                group_name,
                            },
                            "its Auto Scaling group would terminate the isolated instance",
                        );
                    }
                    plan.push(
                        Action::DeregisterFromLoadBalancers {
                            instance_id: id.clone(),
                        },
                        "no load balancer sends it traffic or counts it unhealthy once isolated",
                    );
                    plan.push(
                        Action::IsolateInstance {
                            instance_id: id.clone(),
                        },
                        "cut the instance off; it keeps running for forensics",
                    );
                    plan.push(
                        Action::TagQuarantine {
                            resource: TagTarget::Instance(id),
                        },
                        "mark the instance and its artefacts",
                    );
                }
            }
            // An attack sequence names its actors only inside the sequence: each is contained by
            // the playbook a single finding about it would get, with the same protections.
            "AttackSequence" => {
                if actors.is_empty() {
                    notes.push(
                        "the attack sequence names no actor Firebreak can contain: read its \
                         signals and contain by hand"
                            .into(),
                    );
                }
                for (actor, key, session) in &actors {
                    self.contain_principal(
                        &mut plan,
                        account,
                        actor,
                        key.as_deref(),
                        session.as_deref(),
                        false,
                        severity,
                        &mut notes,
                        &mut human_steps,
                    );
                }
            }
            other => notes.push(format!(
                "no automatic containment for resource type {other}"
            )),
        }
        if let Some(route) = page_route(severity) {
            plan.push(Action::Page { route }, format!("{severity} routing"));
        }
        let finding_id = f.id.clone();
        // A drill event is its own incident even if it reuses a real finding's id: whoever can
        // put a `firebreak.drill` event cannot take over (and so stand down) a real finding.
        // Drills are rate-limited by their id: every drill event of one minute (EventBridge's
        // receipt time) is the same incident, so a burst of them locks one set of evidence.
        let id = if drilled {
            let minute = env.time.map_or_else(
                || finding_id.clone(),
                |t| t.format("%Y-%m-%dT%H:%M").to_string(),
            );
            IncidentId::derive(&format!("drill:{account}:{region}:{minute}"))
        } else {
            IncidentId::derive(&format!("guardduty:{account}:{region}:{finding_id}"))
        };
        let occurrence = f.service.count.unwrap_or(1).max(1);
        Ok(Decision::Incident(Box::new(Incident {
            id,
            source: Source::GuardDuty {
                finding_id,
                finding_type: t.to_string(),
                guardduty_severity: f.severity,
                detector_id: f.service.detector_id.clone(),
                count: occurrence,
                updated_at: f.updated_at.clone(),
            },
            account: account.to_string(),
            region: region.to_string(),
            partition: partition.to_string(),
            detected_at,
            title: crate::action::names::printable_line(
                f.title.as_deref().filter(|s| !s.is_empty()).unwrap_or(t),
            )
            .into_owned(),
            severity,
            severity_reason,
            route: severity.route(),
            iocs: vec![format!("guardduty:{t}")],
            principal,
            access_key_id: resource
                .access_key_details
                .as_ref()
                .and_then(|k| k.access_key_id.clone())
                .filter(|k| !k.is_empty()),
            owner: f.owner().map(str::to_string),
            plan: checked_plan(plan.finish())?,
            notes,
            human_steps,
            deadlines: deadlines(severity, detected_at, &self.config.obligations),
            occurrence,
            drill,
        })))
    }

    fn cloudtrail(&self, env: &Envelope, r: &Record<'_>) -> Result<Decision, Error> {
        let id = &r.user_identity;
        let is_root = id.identity_type.as_deref() == Some("Root");
        if is_root && let Some(by) = &id.invoked_by {
            return Ok(ignored(&format!(
                "root call made on root's behalf by the AWS service {by}"
            )));
        }
        if is_root && r.is_service_event() {
            return Ok(ignored(
                "an AWS service event recorded under root, not root activity",
            ));
        }
        let account = nonempty(r.recipient_account_id.as_deref())
            .or(nonempty(env.account.as_deref()))
            .or(nonempty(id.account_id.as_deref()))
            .ok_or(Error::MissingField("detail.recipientAccountId"))?;
        let region = nonempty(r.aws_region.as_deref())
            .or(nonempty(env.region.as_deref()))
            .ok_or(Error::MissingField("detail.awsRegion"))?;
        let partition = partition_of(region);
        let actor = Principal::from_cloudtrail(id, partition, account);
        check_actor(&actor, partition, region)?;
        let ctx = MatchContext {
            config: &self.config,
            account,
            actor: &actor,
        };
        let matched: Vec<&IocRule> = self.rules.matching(r, &ctx);
        let refused = r.error_code.is_some();

        let mut severity: Option<(Severity, String)> = None;
        let mut raise = |s: Severity, why: String| match &severity {
            Some((cur, _)) if *cur <= s => {}
            _ => severity = Some((s, why)),
        };
        let mut iocs = Vec::new();
        let mut title = None;
        if is_root {
            if r.event_name == "ConsoleLogin" {
                let response = r.response();
                let ok = response.get("ConsoleLogin").and_then(Value::as_str) == Some("Success")
                    && !refused;
                if ok {
                    let no_mfa =
                        r.additional().get("MFAUsed").and_then(Value::as_str) == Some("No");
                    iocs.push("root-console-sign-in".to_string());
                    raise(Severity::S1, "successful root sign-in".into());
                    title = Some(
                        if no_mfa {
                            "Root console sign-in without MFA"
                        } else {
                            "Root console sign-in"
                        }
                        .to_string(),
                    );
                } else {
                    iocs.push("root-console-sign-in-failed".to_string());
                    raise(Severity::S3, "failed root sign-in".into());
                    title = Some("Failed root console sign-in".to_string());
                }
            } else if refused {
                iocs.push("root-activity-failed".to_string());
                raise(Severity::S3, "root call refused by AWS".into());
                title = Some(format!("Refused root call {}", r.event_name));
            } else {
                iocs.push("root-activity".to_string());
                raise(Severity::S1, "successful root activity".into());
                title = Some(format!("Root used {}", r.event_name));
            }
        }
        for rule in &matched {
            iocs.push(rule.name.clone());
            if refused {
                raise(
                    rule.severity.capped_at(Severity::S3),
                    format!("{} (refused by AWS: an attempt, at most S3)", rule.name),
                );
            } else {
                raise(rule.severity, rule.name.clone());
            }
        }
        if is_root && !matched.is_empty() {
            raise(
                Severity::S1,
                "root use combined with an indicator of compromise".into(),
            );
        }
        let Some((severity, severity_reason)) = severity else {
            // CloudTrail's own readOnly decides; the name only when the record has none.
            let read_only = r
                .read_only
                .unwrap_or_else(|| is_read_only_name(&r.event_name));
            let reason = if read_only {
                format!("read-only call {} matches no rule", r.event_name)
            } else {
                format!("{} {} matches no rule", r.event_source, r.event_name)
            };
            return Ok(ignored(&reason));
        };
        // Routine work: what only warrants a record (S3, S4), done by a caller that is expected to
        // do it (protected automation, a service-linked role, an AWS service itself), opens
        // nothing. S1 and S2 still open an incident, without containing such a caller.
        let routine = if is_root {
            None
        } else {
            routine_caller(&self.config, id.identity_type.as_deref(), &actor)
        };
        // A refused attempt is never routine: a protected credential trying what it may not do
        // is worth its (aggregated, S3) record.
        if !refused
            && severity >= Severity::S3
            && let Some(caller) = routine
        {
            return Ok(ignored(&format!(
                "routine {} call by {caller}",
                r.event_name
            )));
        }
        let title = title.unwrap_or_else(|| {
            let first = matched
                .first()
                .map(|r| humanize(&r.name))
                .unwrap_or_default();
            format!("{first}: {} by {}", r.event_name, actor.describe())
        });

        let mut notes = Vec::new();
        let mut human_steps = Vec::new();
        let mut plan = PlanBuilder::new(&self.config, severity);
        plan.push(
            Action::PreserveEvidence,
            "keep the record and the principal's recent activity",
        );
        if is_root {
            self.contain_principal(
                &mut plan,
                account,
                &actor,
                None,
                None,
                true,
                severity,
                &mut notes,
                &mut human_steps,
            );
        } else if matched
            .iter()
            .any(|r| r.category != "cognito" || r.name.contains("admin"))
        {
            self.contain_principal(
                &mut plan,
                account,
                &actor,
                id.access_key_id.as_deref(),
                id.principal_id.as_deref(),
                // An attack on Firebreak, an escalation or an evasion by a role's session: its
                // assumer picks the next session's name, so every session goes at once.
                matched
                    .iter()
                    .any(|r| WHOLE_ROLE_CATEGORIES.contains(&r.category.as_str())),
                severity,
                &mut notes,
                &mut human_steps,
            );
        }
        if matched.iter().any(|rule| rule.category == "cognito") {
            cognito_plan(&mut plan, r, &mut notes);
        }
        // What the call opened or created is undone too, unless AWS refused it (then nothing
        // was opened) or a routine caller made it (a protected pipeline's shares, keys and
        // ingress are its own: paged at S1/S2, never taken back automatically).
        if let Some(caller) = routine {
            notes.push(format!(
                "made by {caller}: what it opened or created is left for a human to judge"
            ));
        } else if !refused {
            undo::plan_undo(
                &self.config,
                r,
                &matched,
                account,
                partition,
                &mut plan,
                &mut notes,
            );
        }
        if let Some(route) = page_route(severity) {
            plan.push(Action::Page { route }, format!("{severity} routing"));
        }
        let detected_at = parse_time(r.event_time.as_deref())
            .or(env.time)
            .ok_or(Error::MissingField("detail.eventTime"))?;
        // A flood of refused or anonymous calls, or of low-severity records, must not open an
        // incident (and lock its evidence) per call: they aggregate into one incident per
        // rule, principal and hour, each further event an update of it.
        let aggregated =
            refused || matches!(actor, Principal::Other { .. }) || severity == Severity::S4;
        let incident_id = if aggregated {
            let rule = iocs.first().map_or("", String::as_str);
            let who = actor.canonical_arn().unwrap_or_else(|| actor.describe());
            let hour = detected_at.format("%Y-%m-%dT%H");
            notes.push(format!(
                "aggregated: every {rule} event of this principal in the hour from {hour}:00 UTC \
                 is counted in this incident"
            ));
            IncidentId::derive(&format!("cloudtrail-hourly:{account}:{rule}:{who}:{hour}"))
        } else {
            IncidentId::derive(&format!("cloudtrail:{}", r.event_id))
        };
        Ok(Decision::Incident(Box::new(Incident {
            id: incident_id,
            source: Source::CloudTrail {
                event_id: r.event_id.clone(),
                event_source: r.event_source.clone(),
                event_name: r.event_name.clone(),
                error_code: r.error_code.clone(),
            },
            account: account.to_string(),
            region: region.to_string(),
            partition: partition.to_string(),
            detected_at,
            title,
            severity,
            severity_reason,
            route: severity.route(),
            iocs,
            principal: Some(actor),
            access_key_id: id.access_key_id.clone().filter(|k| !k.is_empty()),
            owner: None,
            plan: checked_plan(plan.finish())?,
            notes,
            human_steps,
            deadlines: deadlines(severity, detected_at, &self.config.obligations),
            occurrence: 1,
            drill: false,
        })))
    }

    /// Adds the containment of a principal, unless it is protected or cannot be contained.
    #[allow(clippy::too_many_arguments)]
    fn contain_principal(
        &self,
        plan: &mut PlanBuilder<'_>,
        account: &str,
        principal: &Principal,
        access_key_id: Option<&str>,
        session: Option<&str>,
        whole_role: bool,
        severity: Severity,
        notes: &mut Vec<String>,
        human_steps: &mut Vec<String>,
    ) {
        // One canonical ARN, the one the executor's guard judges too.
        if let Some(arn) = principal.canonical_arn()
            && let Some(why) = self.config.protection(&arn)
        {
            notes.push(format!(
                "{} is {}: no containment",
                principal.describe(),
                why.describe()
            ));
            return;
        }
        // Containment acts by name in the incident's account: a principal of another account
        // (a cross-account call) is never contained under its bare name here, where the same
        // name may be someone else.
        if let Some(home) = principal.account()
            && home != account
            && !matches!(principal, Principal::Root { .. })
        {
            notes.push(format!(
                "{} belongs to account {home}, not {account} where this happened: contain it \
                 in its own account",
                principal.describe()
            ));
            human_steps.push(format!(
                "Contain {} in account {home}: its credentials acted across accounts.",
                principal.describe()
            ));
            return;
        }
        match principal {
            Principal::Root { .. } => {
                notes.push(
                    "root cannot be contained by API: a human must take the runbook's steps".into(),
                );
                human_steps.extend(ROOT_RUNBOOK.iter().map(|s| s.to_string()));
            }
            Principal::IamUser { name, .. } => {
                // A user's temporary credentials (GetSessionToken, `ASIA…`) cannot be
                // deactivated, and revoking sessions issued before now does not stop the user's
                // keys minting new ones: the user is denied everything, and at S1 every key
                // that can mint is made Inactive too.
                let temporary = access_key_id.is_some_and(|k| !k.starts_with("AKIA"))
                    && matches!(severity, Severity::S1 | Severity::S2);
                match access_key_id {
                    Some(key) if key.starts_with("AKIA") => plan.push(
                        Action::DeactivateAccessKey {
                            user_name: name.clone(),
                            access_key_id: key.to_string(),
                        },
                        "the key that was used; the user's other keys stay as they are",
                    ),
                    Some(_) if severity == Severity::S1 => plan.push(
                        Action::DeactivateUserKeys {
                            user_name: name.clone(),
                        },
                        "S1 with temporary credentials: every active key of the user can mint \
                         more; all are made Inactive (release makes them Active again)",
                    ),
                    Some(_) if temporary => notes.push(
                        "the credential used was a session of the user (GetSessionToken or the \
                         console): the user is denied everything, since it could start another; \
                         its keys stay Active (S1 would make them Inactive)"
                            .into(),
                    ),
                    Some(_) => notes.push(
                        "the credential used was temporary: revoking sessions covers it".into(),
                    ),
                    None => notes
                        .push("no access key named: revoking the user's sessions covers it".into()),
                }
                plan.push(
                    Action::RevokeUserSessions {
                        user_name: name.clone(),
                    },
                    "end sessions issued before now",
                );
                if severity == Severity::S1 || temporary {
                    plan.push(
                        Action::DenyUser {
                            user_name: name.clone(),
                        },
                        if temporary && severity != Severity::S1 {
                            "temporary credentials: deny everything to the user (its sessions, \
                             and minting new ones) until released"
                        } else {
                            "S1: deny everything to the user until released"
                        },
                    );
                }
                plan.push(
                    Action::TagQuarantine {
                        resource: TagTarget::IamUser(name.clone()),
                    },
                    "mark the user",
                );
                human_steps.push("Rotate the user's credentials and review what it did since the first sign of compromise.".into());
            }
            Principal::Role { name, .. } if principal.is_service_linked_role() => {
                notes.push(format!(
                    "role {name} is service-linked: AWS owns it, Firebreak does not touch it"
                ));
            }
            Principal::Role { name, .. }
                if crate::action::names::identity_center_permission_set(name).is_some() =>
            {
                self.contain_identity_center_user(plan, name, session, notes, human_steps);
            }
            Principal::Role { name, .. } => {
                // Below S1 a role shared by workloads keeps working: only the session in the
                // event is cut, and every session of the role only when a human approves.
                let session = session.filter(|s| crate::action::names::role_session(s).is_ok());
                match session {
                    Some(session) if severity != Severity::S1 && !whole_role => {
                        plan.push(
                            Action::RevokeRoleSession {
                                role_name: name.clone(),
                                session: session.to_string(),
                            },
                            "end the session in the event; the role's other sessions keep working",
                        );
                        plan.push_at_least(
                            Action::RevokeRoleSessions {
                                role_name: name.clone(),
                            },
                            crate::config::Mode::Approve,
                            "every session of the role issued before now: an outage for the \
                             workloads that share it, so only on approval (or at S1)",
                        );
                        notes.push(format!(
                            "the plan revokes only session {session} of role {name} (see its \
                             outcome): the role can still be assumed again, so whoever holds a way \
                             to assume it is not stopped; approve revoke_role_sessions to end every \
                             session issued before now"
                        ));
                    }
                    _ => plan.push(
                        Action::RevokeRoleSessions {
                            role_name: name.clone(),
                        },
                        "end sessions issued before now",
                    ),
                }
                plan.push(
                    Action::TagQuarantine {
                        resource: TagTarget::IamRole(name.clone()),
                    },
                    "mark the role",
                );
                human_steps.push("Find who or what assumed the role, and fix the trust or the workload that leaked it.".into());
            }
            Principal::FederatedUser {
                issuer: Some(user), ..
            } => {
                plan.push(
                    Action::RevokeUserSessions {
                        user_name: user.clone(),
                    },
                    "federation tokens issued by this user before now are denied",
                );
                plan.push(
                    Action::TagQuarantine {
                        resource: TagTarget::IamUser(user.clone()),
                    },
                    "mark the issuing user",
                );
            }
            Principal::FederatedUser { issuer: None, .. } => {
                notes.push("federated session: the issuing IAM user is not named, so revoke its sessions by hand".into());
            }
            Principal::Other { kind } => notes.push(format!(
                "the caller ({kind}) is not an IAM principal: nothing to contain"
            )),
        }
    }
}

impl Triage {
    /// An IAM Identity Center user, acting through `AWSReservedSSO_<set>_…`: IAM refuses inline
    /// policies and tags on that role, so the user is denied through the permission set from
    /// the Identity Center account (configured), and the user's assignment to this account is
    /// removed on approval.
    fn contain_identity_center_user(
        &self,
        plan: &mut PlanBuilder<'_>,
        role: &str,
        session: Option<&str>,
        notes: &mut Vec<String>,
        human_steps: &mut Vec<String>,
    ) {
        let set = crate::action::names::identity_center_permission_set(role).unwrap_or_default();
        let user = session
            .filter(|s| crate::action::names::role_session(s).is_ok())
            .and_then(|s| s.split_once(':'))
            .map(|(_, user)| user)
            .filter(|u| crate::action::names::identity_center_user(u).is_ok());
        notes.push(format!(
            "role {role} belongs to IAM Identity Center (permission set {set}): IAM refuses \
             policies and tags on it, so it is not changed"
        ));
        let Some(user) = user else {
            notes.push("the event names no Identity Center user: nothing to contain".into());
            human_steps.push(format!(
                "Find the Identity Center user behind {role} and remove their access to permission \
                 set {set}."
            ));
            return;
        };
        if self.config.accounts.identity_center_account.is_empty() {
            notes.push(
                "no Identity Center account is configured (accounts.identity_center_account): \
                 the user is not contained"
                    .into(),
            );
            human_steps.push(format!(
                "In IAM Identity Center, deny or remove user {user}'s access to permission set \
                 {set}, and end their sessions."
            ));
            return;
        }
        plan.push(
            Action::DenyIdentityCenterUser {
                role_name: role.to_string(),
                permission_set: set.to_string(),
                user_name: user.to_string(),
            },
            "deny the user in the permission set's inline policy, in every account it is \
             provisioned to, until released",
        );
        plan.push_at_least(
            Action::RemoveAccountAssignment {
                role_name: role.to_string(),
                permission_set: set.to_string(),
                user_name: user.to_string(),
            },
            crate::config::Mode::Approve,
            "the user's access to this account through the set, removed on approval",
        );
        notes.push(
            "Identity Center provisions the deny asynchronously; a delegated administrator \
             cannot change a set provisioned to the management account, which is then \
             contained by hand"
                .into(),
        );
        human_steps.push(format!(
            "Reset Identity Center user {user}'s password and MFA, and review their other \
             assignments."
        ));
    }
}

/// The rule categories whose CloudTrail matches revoke every session of a role at once, at any
/// severity: what an attacker does, not what a workload might.
const WHOLE_ROLE_CATEGORIES: [&str; 5] = [
    "firebreak-attacked",
    "privilege-escalation",
    "defence-evasion",
    "detection-disabled",
    "monitoring-disabled",
];

/// Cognito sign-ups: stop sign-up on the pool and, when the event names the new user, disable
/// and sign it out.
fn cognito_plan(plan: &mut PlanBuilder<'_>, r: &Record<'_>, notes: &mut Vec<String>) {
    let Some(pool) = cognito_pool_id(r) else {
        notes.push("the user pool is not named in the event".into());
        return;
    };
    plan.push(
        Action::CognitoStopSignUp {
            user_pool_id: pool.clone(),
        },
        "the pool is invite-only: admin-created users only",
    );
    let hidden = |s: &&str| !s.is_empty() && *s != "HIDDEN_DUE_TO_SECURITY_REASONS";
    let username = match r.event_name.as_str() {
        "SignUp" => r
            .response()
            .get("userSub")
            .and_then(Value::as_str)
            .filter(hidden)
            .map(str::to_string),
        "AdminCreateUser" => {
            let request = r.request();
            request
                .get("username")
                .and_then(Value::as_str)
                .filter(hidden)
                .map(str::to_string)
                .or_else(|| {
                    r.response()
                        .pointer("/user/username")
                        .and_then(Value::as_str)
                        .filter(hidden)
                        .map(str::to_string)
                })
        }
        _ => None,
    };
    match username {
        Some(user) => {
            plan.push(
                Action::CognitoDisableUser {
                    user_pool_id: pool.clone(),
                    username: user.clone(),
                },
                "the account was created without authorisation",
            );
            plan.push(
                Action::CognitoGlobalSignOut {
                    user_pool_id: pool,
                    username: user,
                },
                "invalidate every token it already holds",
            );
        }
        None => notes.push(
            "the new user is not named in the event: find it in the pool and disable it".into(),
        ),
    }
}

/// The actors of an attack sequence (`service.detection.sequence.actors[].user`), each with
/// the access key it used, read leniently: an actor of a shape Firebreak does not know is left
/// out (the page still names the finding), never a reason to refuse it. Repeats are dropped.
fn sequence_actors(
    f: &crate::event::guardduty::Finding,
    partition: &str,
    account: &str,
) -> Vec<(Principal, Option<String>, Option<String>)> {
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let actors = f
        .service
        .detection
        .as_ref()
        .and_then(|d| d.get("sequence"))
        .and_then(|s| s.get("actors"))
        .and_then(Value::as_array);
    let mut out: Vec<(Principal, Option<String>, Option<String>)> = Vec::new();
    for user in actors.into_iter().flatten().filter_map(|a| a.get("user")) {
        let actor_account = user
            .get("account")
            .and_then(|a| text(a, "uid"))
            .unwrap_or_else(|| account.to_string());
        let details = crate::event::guardduty::AccessKeyDetails {
            access_key_id: text(user, "credentialUid"),
            principal_id: text(user, "uid"),
            user_name: text(user, "name"),
            user_type: text(user, "type"),
        };
        let principal = Principal::from_guardduty(&details, partition, &actor_account);
        // A name or key id AWS would not allow cannot be the actor: left out here (the page
        // still names the sequence), so it cannot refuse the whole finding.
        let named = match &principal {
            Principal::IamUser { name, .. } => crate::action::names::iam_user(name).is_ok(),
            Principal::Role { name, .. } => crate::action::names::iam_role(name).is_ok(),
            Principal::Other { .. } => false,
            _ => true,
        };
        let key_ok = details
            .access_key_id
            .as_deref()
            .is_none_or(|k| crate::action::names::access_key_id(k).is_ok());
        if !named || !key_ok {
            continue;
        }
        let key = details.access_key_id;
        let session = details.principal_id;
        if !out
            .iter()
            .any(|(p, k, s)| *p == principal && *k == key && *s == session)
        {
            out.push((principal, key, session));
        }
    }
    out
}

fn guardduty_severity(t: &str, score: f64) -> (Severity, String) {
    if t.starts_with("AttackSequence:") {
        (Severity::S1, "every GuardDuty attack sequence is S1".into())
    } else if t == "Policy:IAMUser/RootCredentialUsage" {
        (Severity::S1, "root credentials were used".into())
    } else if t == "Stealth:IAMUser/CloudTrailLoggingDisabled" {
        (
            Severity::S1,
            "detection disabled: CloudTrail logging".into(),
        )
    } else if score >= 7.0
        && (t.starts_with("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration")
            || t.starts_with("CredentialAccess:")
            || t.starts_with("Exfiltration:"))
    {
        (
            Severity::S1,
            format!("exfiltration at GuardDuty severity {score:.1}"),
        )
    } else {
        let s = Severity::from_guardduty(score);
        (s, format!("GuardDuty severity {score:.1}"))
    }
}

fn is_public_access_finding(t: &str) -> bool {
    matches!(
        t,
        "Policy:S3/BucketBlockPublicAccessDisabled"
            | "Policy:S3/BucketAnonymousAccessGranted"
            | "Policy:S3/BucketPublicAccessGranted"
            | "Policy:S3/AccountBlockPublicAccessDisabled"
    )
}

fn page_route(severity: Severity) -> Option<crate::severity::Route> {
    match severity.route() {
        crate::severity::Route::Record => None,
        route => Some(route),
    }
}

fn ignored(reason: &str) -> Decision {
    Decision::Ignored {
        reason: reason.to_string(),
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The partition a region belongs to, by the region prefixes of the AWS SDKs' partition table;
/// any other region is in `aws`.
pub fn partition_of(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 7] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-iso-", "aws-iso"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

/// `arn:aws:iam::1:user/path/name` → `("aws", "iam", "user/path/name")`.
fn split_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let (partition, service) = (parts.next()?, parts.next()?);
    let resource = parts.nth(2)?;
    Some((partition, service, resource))
}

/// Refuses an ARN (when present) that is not an ARN, or not in `partition`, the partition of
/// the event's region: an identity from another partition cannot be what the event says.
fn check_arn(
    field: &'static str,
    arn: Option<&str>,
    partition: &str,
    region: &str,
) -> Result<(), Error> {
    let Some(arn) = nonempty(arn) else {
        return Ok(());
    };
    let message = match split_arn(arn) {
        Some((p, ..)) if p == partition => return Ok(()),
        Some((p, ..)) => format!(
            "{arn} is in partition {p}, but region {region} is in {partition}: refused, \
             Firebreak does not act across partitions"
        ),
        None => format!("{arn:?} is not an ARN"),
    };
    Err(Error::InvalidField {
        field,
        message: clip(message),
    })
}

/// Refuses a CloudTrail identity that contradicts itself. Protection patterns are matched
/// against the principal's ARN and containment acts on its name, so the ARN must be in the
/// region's partition and be the ARN of that very user or role; otherwise an event could name
/// a protected principal and still have it contained.
fn check_actor(actor: &Principal, partition: &str, region: &str) -> Result<(), Error> {
    match actor {
        Principal::IamUser { name, .. } => {
            refuse_name(USER_NAME, crate::action::names::iam_user(name))?
        }
        Principal::Role { name, .. } => {
            refuse_name(ISSUER_NAME, crate::action::names::iam_role(name))?
        }
        Principal::FederatedUser {
            issuer: Some(name), ..
        } => refuse_name(ISSUER_NAME, crate::action::names::iam_user(name))?,
        _ => {}
    }
    const USER_ARN: &str = "detail.userIdentity.arn";
    const ISSUER_ARN: &str = "detail.userIdentity.sessionContext.sessionIssuer.arn";
    let (field, kind, name, arn) = match actor {
        Principal::IamUser { name, arn } => (USER_ARN, "user", name, arn),
        Principal::Role { name, arn } => (ISSUER_ARN, "role", name, arn),
        Principal::FederatedUser { arn, .. } => {
            return check_arn(USER_ARN, Some(arn), partition, region);
        }
        Principal::Root { .. } | Principal::Other { .. } => return Ok(()),
    };
    check_arn(field, Some(arn), partition, region)?;
    let names_it = split_arn(arn).is_some_and(|(_, service, resource)| {
        service == "iam"
            && resource.starts_with(&format!("{kind}/"))
            && resource.rsplit('/').next() == Some(name.as_str())
    });
    if names_it {
        return Ok(());
    }
    Err(Error::InvalidField {
        field,
        message: clip(format!(
            "{arn} is not the ARN of {kind} {name}, whom the event names: refused, protection \
             cannot be checked"
        )),
    })
}

/// Every text of an incident that humans read (pages, terminals, reports) as one printable
/// line each: the event chose much of it (a finding's title and type, a resource's tags).
fn printable(incident: &mut Incident) {
    let line = |s: &mut String| {
        if let std::borrow::Cow::Owned(clean) = crate::action::names::printable_line(s) {
            *s = clean;
        }
    };
    line(&mut incident.title);
    line(&mut incident.severity_reason);
    incident.iocs.iter_mut().for_each(line);
    incident.notes.iter_mut().for_each(line);
    incident.human_steps.iter_mut().for_each(line);
    if let Some(owner) = incident.owner.as_mut() {
        line(owner);
    }
}

const USER_NAME: &str = "detail.userIdentity.userName";
const ISSUER_NAME: &str = "detail.userIdentity.sessionContext.sessionIssuer.userName";

fn refuse_name(
    field: &'static str,
    checked: Result<(), crate::action::names::BadName>,
) -> Result<(), Error> {
    checked.map_err(|e| Error::InvalidField {
        field,
        message: clip(e.to_string()),
    })
}

/// Refuses a plan that would act on a name AWS does not allow: the event cannot be about a
/// real resource, and nothing is planned for it.
fn checked_plan(
    plan: Vec<crate::action::plan::PlannedAction>,
) -> Result<Vec<crate::action::plan::PlannedAction>, Error> {
    for planned in &plan {
        refuse_name(
            "detail",
            crate::action::names::check_action(&planned.action),
        )?;
    }
    Ok(plan)
}

/// Only events AWS emitted are acted on. A GuardDuty finding comes from `aws.guardduty` (or is
/// Firebreak's own drill, which only Firebreak's roles can put on its bus); a CloudTrail record
/// from the `aws.<service>` its `eventSource` implies. Anyone allowed `events:PutEvents` can put
/// any other source with a CloudTrail-shaped detail, and `aws.partner/…` sources carry a detail
/// a SaaS partner wrote: both are refused before anything is planned. Events forwarded from
/// other regions and accounts keep their source.
fn check_source(event: &Event<'_>) -> Result<(), Error> {
    let source = event.envelope.source.as_deref().unwrap_or("");
    let expected = match &event.detail {
        Detail::GuardDuty(_) if source == crate::lifecycle::drill::SOURCE => return Ok(()),
        Detail::GuardDuty(_) => vec![GUARDDUTY_SOURCE.to_string()],
        Detail::CloudTrail(r) => match crate::triage::rules::eventbridge_sources(&r.event_source) {
            sources if !sources.is_empty() => sources,
            _ => {
                return Err(Error::InvalidField {
                    field: "detail.eventSource",
                    message: clip(format!(
                        "{:?} is not an AWS service's event source: refused",
                        crate::action::names::printable_line(&r.event_source)
                    )),
                });
            }
        },
    };
    if expected.iter().any(|e| e == source) {
        return Ok(());
    }
    let expected = expected.join(" or ");
    let shown = crate::action::names::printable_line(source);
    Err(Error::InvalidField {
        field: "source",
        message: clip(format!(
            "{shown:?} is not {expected}, the source AWS gives a {} event: refused, Firebreak \
             acts only on events AWS emitted",
            event.envelope.detail_type
        )),
    })
}

/// The EventBridge source of GuardDuty findings.
pub const GUARDDUTY_SOURCE: &str = "aws.guardduty";

/// Which of the callers expected to do routine work made a call: protected automation, a
/// service-linked role, or an AWS service acting on its own. Named by kind only: the reason is
/// logged, and a log carries no identifier.
fn routine_caller(
    config: &Config,
    identity_type: Option<&str>,
    actor: &Principal,
) -> Option<&'static str> {
    if identity_type == Some("AWSService") {
        return Some("an AWS service");
    }
    if actor.is_service_linked_by_path() {
        return Some("a service-linked role");
    }
    let arn = actor.canonical_arn()?;
    config.protection(&arn).map(|_| "a protected principal")
}

fn is_read_only_name(name: &str) -> bool {
    // STS mints credentials under Get names: those calls change what can act in the account.
    !matches!(name, "GetFederationToken" | "GetSessionToken")
        && ["Describe", "Get", "List", "Lookup", "Head"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// `cloudtrail-stopped` → `Cloudtrail stopped`.
fn humanize(name: &str) -> String {
    let text = name.replace('-', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

impl Mode {
    /// Lower-case name, as in config and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Approve => "approve",
            Mode::Off => "off",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_of_regions() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-west-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("eusc-de-east-1", "aws-eusc"),
            ("mars-north-1", "aws"),
        ] {
            assert_eq!(partition_of(region), partition, "{region}");
        }
    }

    #[test]
    fn arns_are_split_and_checked() {
        assert_eq!(
            split_arn("arn:aws:iam::1:role/a/b/Name"),
            Some(("aws", "iam", "role/a/b/Name"))
        );
        assert_eq!(split_arn("arn:aws:iam::1"), None);
        assert_eq!(split_arn("urn:aws:iam::1:user/x"), None);
        assert!(check_arn("f", None, "aws", "us-east-1").is_ok());
        assert!(check_arn("f", Some(""), "aws", "us-east-1").is_ok());
        assert!(check_arn("f", Some("arn:aws:s3:::b"), "aws", "us-east-1").is_ok());
        assert!(check_arn("f", Some("arn:aws-cn:s3:::b"), "aws", "us-east-1").is_err());
        assert!(check_arn("f", Some("not-an-arn"), "aws", "us-east-1").is_err());
    }

    #[test]
    fn an_identity_must_be_consistent() {
        let user = |arn: &str| Principal::IamUser {
            name: "ops-automation".into(),
            arn: arn.into(),
        };
        let ok = user("arn:aws:iam::1:user/team/ops-automation");
        assert!(check_actor(&ok, "aws", "us-east-1").is_ok());
        for bad in [
            "arn:aws:iam::1:user/someone-else",
            "arn:aws:iam::1:role/ops-automation",
            "arn:aws:sts::1:user/ops-automation",
            "arn:aws-cn:iam::1:user/ops-automation",
            "ops-automation",
        ] {
            assert!(
                check_actor(&user(bad), "aws", "us-east-1").is_err(),
                "{bad}"
            );
        }
        let role = Principal::Role {
            name: "Deploy".into(),
            arn: "arn:aws:iam::1:role/service/Deploy".into(),
        };
        assert!(check_actor(&role, "aws", "us-east-1").is_ok());
        assert!(check_actor(&role, "aws-us-gov", "us-gov-west-1").is_err());
    }
}
