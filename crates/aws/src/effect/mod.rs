//! Effects: each planned action's guard, execution and state, dispatched from one place, by
//! the responder that every use case holds. An action runs only after the guard found its
//! target unprotected; a dry run or a drill reports what it would do; a failed call is
//! reported failed, never done. Undoing a recorded change is [`undo`]; isolation, the one
//! effect with state of its own in the evidence store, is [`isolation`].

pub mod isolation;
mod memory;
pub mod undo;

use chrono::{DateTime, Duration, Utc};
use firebreak_core::action::plan::{Shared, Touches};
use firebreak_core::record::release::{Change, OriginalBlock, OriginalGroups};
use firebreak_core::{
    Action, ActionOutcome, Config, Incident, PlannedAction, Principal, Stage, Status, TagTarget,
};
use serde_json::Value;

use crate::sdk::accounts::{member_clients, principal_arn_of_caller};
use crate::sdk::clients::Clients;
use crate::sdk::error::AwsError;
use crate::service::cloudtrail::{Lookup, principal_activity};
use crate::service::sns::Pager;
use crate::service::{
    autoscaling, cognito, ec2, elb, iam, identity_center, lambda, rds, s3, trail,
};
use crate::store::evidence::{Collector, EvidenceStore, Item, Missing};
use firebreak_core::hunt::{Follow, Query, Who, conflicts};
use serde_json::json;

/// How far back the principal's CloudTrail activity is collected.
pub const ACTIVITY_WINDOW_DAYS: i64 = 7;
/// The minutes of activity the trail may not have delivered yet, read from LookupEvents.
pub const UNDELIVERED_MINUTES: i64 = 20;
/// Records of the principal kept in the evidence from a hunt.
pub const MAX_ACTIVITY_RECORDS: usize = 10_000;
/// How far one trail file may inflate in the preserve function's memory.
const TRAIL_INFLATE_CAP: usize = 64 << 20;
/// Trail files read at once by the preserve function.
const TRAIL_READS_IN_FLIGHT: usize = 8;

/// Whom a trail hunt follows for an incident: the access key it names, else its principal.
fn hunted(incident: &Incident) -> Option<Who> {
    if let Some(key) = &incident.access_key_id
        && let Ok(who) = Who::parse(key)
    {
        return Some(who);
    }
    match incident.principal.as_ref()? {
        Principal::IamUser { arn, .. } | Principal::Role { arn, .. } => Who::parse(arn).ok(),
        Principal::Root { account } => Some(Who::Root(Some(account.clone()))),
        _ => None,
    }
}

/// Everything the responder needs, built once by an entry point.
#[derive(Debug, Clone)]
pub struct Responder {
    /// Clients of the security account Firebreak runs in.
    pub home: Clients,
    /// The security account's id.
    pub home_account: String,
    /// Configuration (protection, member role).
    pub config: Config,
    /// The locked evidence store (security account).
    pub evidence: EvidenceStore,
    /// The pager (security account).
    pub pager: Pager,
    /// Who collects evidence.
    pub collector: Collector,
    /// No mutating call at all: every action reports what it would do.
    pub dry_run: bool,
    /// Whoever runs Firebreak (caller identity): never contained, whatever the plan says.
    pub self_arn: Option<String>,
}

pub(crate) struct Run {
    /// Instances read once per response: their volumes and devices do not change under us.
    /// (Isolation reads the interfaces afresh: their groups are what it changes.)
    pub(crate) instances: std::collections::HashMap<String, aws_sdk_ec2::types::Instance>,
    pub(crate) items: Vec<Item>,
    pub(crate) missing: Vec<Missing>,
    pub(crate) original_groups: Vec<OriginalGroups>,
    pub(crate) evidence_failed: Option<AwsError>,
    /// What the action being executed changed so far (moved onto its outcome).
    pub(crate) changes: Vec<Change>,
    /// Each instance's profile before this response gave it the quarantine profile.
    pub(crate) replaced_profiles: std::collections::HashMap<String, String>,
    /// Each role's ARN as IAM holds it (with its path), as the guard read it.
    pub(crate) role_arns: std::collections::HashMap<String, String>,
}

impl Run {
    pub(crate) fn new() -> Run {
        Run {
            instances: Default::default(),
            items: Vec::new(),
            missing: Vec::new(),
            original_groups: Vec::new(),
            evidence_failed: None,
            changes: Vec::new(),
            replaced_profiles: Default::default(),
            role_arns: Default::default(),
        }
    }
}

impl Responder {
    /// Where approval and release runs lock their records, as this responder.
    pub fn writer(&self) -> crate::store::records::Writer<'_> {
        crate::store::records::Writer {
            store: &self.evidence,
            collector: &self.collector,
            dry_run: self.dry_run,
        }
    }

    /// A responder acting from the security account `home_account` with `config`'s stack.
    pub fn new(
        home: Clients,
        home_account: impl Into<String>,
        config: Config,
        collector: Collector,
        dry_run: bool,
    ) -> Result<Responder, AwsError> {
        if config.stack.evidence_bucket.is_empty() {
            return Err(AwsError::new(
                "Config",
                "stack.evidence_bucket is not set: evidence has nowhere to go",
            ));
        }
        let evidence = EvidenceStore::new(
            home.s3.clone(),
            &config.stack.evidence_bucket,
            config.evidence.retention_days,
            config.evidence.lock_mode == firebreak_core::LockMode::Governance,
        );
        let pager = Pager::new(
            home.sns.clone(),
            &config.stack.pager_topic_arn,
            &config.stack.ticket_topic_arn,
        );
        Ok(Responder {
            home,
            home_account: home_account.into(),
            config,
            evidence,
            pager,
            collector,
            dry_run,
            self_arn: None,
        })
    }

    /// One action: refused for a protected target, dry in a dry run or a drill, else executed.
    pub(crate) async fn run_action(
        &self,
        target: Result<&Clients, &AwsError>,
        incident: &Incident,
        action: &Action,
        now: DateTime<Utc>,
        run: &mut Run,
    ) -> Status {
        match self.guard(target, incident, action, run).await {
            Some(why) => Status::Skipped { why },
            None if self.dry_run || (incident.drill && action.is_containment()) => Status::DryRun {
                would: action.would(),
            },
            None => match target {
                // On the heap: one arm per action makes this future large, and a handler's
                // stack (a Lambda runtime thread's, a test thread's) is not.
                Ok(c) => Box::pin(self.execute(c, incident, action, now, run)).await,
                Err(e) => failed(e),
            },
        }
    }

    /// Identity Center, where it is administered: the configured account (through the member
    /// containment role when it is not ours) and its home region, whatever the event's.
    pub(crate) async fn identity_center(
        &self,
        incident: &Incident,
    ) -> Result<IdentityCenter, AwsError> {
        let accounts = &self.config.accounts;
        self.identity_center_at(
            incident,
            &accounts.identity_center_account,
            &accounts.identity_center_region,
        )
        .await
    }

    /// Identity Center as administered in `account` and `region` (where a change was made).
    pub(crate) async fn identity_center_at(
        &self,
        incident: &Incident,
        account: &str,
        region: &str,
    ) -> Result<IdentityCenter, AwsError> {
        let accounts = &self.config.accounts;
        let (account, region) = (account.to_string(), region.to_string());
        if account.is_empty() || region.is_empty() {
            return Err(AwsError::new(
                "NoIdentityCenter",
                "accounts.identity_center_account and accounts.identity_center_region are not set",
            ));
        }
        let clients = if account == self.home_account {
            self.home.clone()
        } else {
            member_clients(
                &self.home,
                &incident.partition,
                &account,
                &accounts.member_role,
                incident.id.as_str(),
            )
            .await?
        };
        let sdk = clients.in_region(&region).sdk;
        let sso = aws_sdk_ssoadmin::Client::new(&sdk);
        let instance = identity_center::instance(&sso).await?;
        Ok(IdentityCenter {
            account,
            region,
            instance,
            sso,
            ids: aws_sdk_identitystore::Client::new(&sdk),
        })
    }

    /// Clients preserving in `account` and `region` (through the member preserve role when the
    /// account is not ours), before any incident is known: the forensic hand-over of a snapshot
    /// reads the snapshot to learn its incident. `session` names the session in CloudTrail.
    pub async fn preserve_clients_in(
        &self,
        account: &str,
        region: &str,
        session: &str,
    ) -> Result<Clients, AwsError> {
        let clients = if account == self.home_account {
            self.home.clone()
        } else {
            let partition = firebreak_core::triage::partition_of(region);
            member_clients(
                &self.home,
                partition,
                account,
                &self.config.accounts.member_preserve_role,
                session,
            )
            .await?
        };
        Ok(clients.in_region(region))
    }

    /// Clients containing where the incident happened: its account (through the member
    /// containment role when it is not ours) and its region.
    pub(crate) async fn target_clients(&self, incident: &Incident) -> Result<Clients, AwsError> {
        self.clients_as(incident, &self.config.accounts.member_role)
            .await
    }

    async fn clients_as(&self, incident: &Incident, role: &str) -> Result<Clients, AwsError> {
        let clients = if incident.account == self.home_account {
            self.home.clone()
        } else {
            member_clients(
                &self.home,
                &incident.partition,
                &incident.account,
                role,
                incident.id.as_str(),
            )
            .await?
        };
        Ok(clients.in_region(&incident.region))
    }

    /// The clients each of `stage`'s actions runs with: in a member account, containment
    /// through the containment role and evidence through the preserve role, each entered only
    /// when the stage has actions of its kind.
    pub(crate) async fn targets(&self, incident: &Incident, stage: Stage) -> Targets {
        let wants = |part: Stage| {
            incident.plan.iter().any(|p| {
                stage.owns(&p.action)
                    && part.owns(&p.action)
                    && !matches!(p.action, Action::Page { .. })
            })
        };
        let unused = || {
            Err(AwsError::new(
                "Internal",
                "no action of this stage needs it",
            ))
        };
        let contain = if wants(Stage::Contain) {
            self.target_clients(incident).await
        } else {
            unused()
        };
        let preserve = if wants(Stage::Preserve) {
            self.clients_as(incident, &self.config.accounts.member_preserve_role)
                .await
        } else {
            unused()
        };
        Targets { contain, preserve }
    }

    /// Why an action must not run against its target, whatever the plan says. The target is
    /// judged on one canonical ARN by the same `Config::protection` triage uses; for an IAM user
    /// or role the ARN is read from IAM first, so a protected pattern with a path is honoured
    /// even when the finding named the principal without one.
    async fn guard(
        &self,
        target: Result<&Clients, &AwsError>,
        incident: &Incident,
        action: &Action,
        run: &mut Run,
    ) -> Option<String> {
        let touches = action.facts().touches;
        let arn = touches.arn(&incident.partition, &incident.account, &incident.region)?;
        // For an IAM user or role, the ARN IAM holds (with its path) is judged too.
        let real = match (touches, target) {
            (Touches::IamUser(name), Ok(c)) => iam_arn(c, IamKind::User, name).await,
            (Touches::IamRole(name), Ok(c)) => {
                let real = iam_arn(c, IamKind::Role, name).await;
                // Kept for the action itself: its path is what it needs to know of the role.
                if let Some(arn) = &real {
                    run.role_arns.insert(name.to_string(), arn.clone());
                }
                real
            }
            (
                Touches::IamUser(_)
                | Touches::IamRole(_)
                | Touches::Nothing
                | Touches::Instance(_)
                | Touches::Bucket(_)
                | Touches::UserPool(..)
                | Touches::Ec2(..)
                | Touches::Function(_)
                | Touches::Rds(..),
                _,
            ) => None,
        };
        for candidate in std::iter::once(&arn).chain(real.as_ref()) {
            if let Some(why) = self.config.protection(candidate) {
                return Some(format!(
                    "{candidate} is {}: never contained",
                    why.describe()
                ));
            }
        }
        let me = self.self_arn.as_deref().map(principal_arn_of_caller)?;
        std::iter::once(&arn)
            .chain(real.as_ref())
            .find(|candidate| firebreak_core::event::principal::protects(&me, candidate))
            .map(|candidate| format!("{candidate} is running Firebreak: never contained"))
    }

    async fn execute(
        &self,
        c: &Clients,
        incident: &Incident,
        action: &Action,
        now: DateTime<Utc>,
        run: &mut Run,
    ) -> Status {
        let tag = incident.id.quarantine_tag();
        let result: Result<Status, AwsError> = async {
            Ok(match action {
                Action::DeactivateAccessKey { user_name, access_key_id } => {
                    match iam::deactivate_access_key(&c.iam, user_name, access_key_id).await? {
                        iam::KeyChange::Deactivated => {
                            run.changes.push(Change::AccessKeyDeactivated { user_name: user_name.clone(), access_key_id: access_key_id.clone() });
                            done(format!("{access_key_id} set Inactive; the user's other keys untouched"))
                        }
                        iam::KeyChange::AlreadyInactive => skipped(format!("{access_key_id} was already Inactive")),
                    }
                }
                Action::DeactivateUserKeys { user_name } => {
                    let mut changed = Vec::new();
                    let result = iam::deactivate_user_keys(&c.iam, user_name, &mut changed).await;
                    // Every key set Inactive is recorded for release, even when a later one failed.
                    for key in &changed {
                        run.changes.push(Change::AccessKeyDeactivated { user_name: user_name.clone(), access_key_id: key.clone() });
                    }
                    let already = result?;
                    if changed.is_empty() {
                        skipped(format!("{user_name} has no Active key ({already} already Inactive)"))
                    } else {
                        done(format!("{} set Inactive: {}", changed.len(), changed.join(", ")))
                    }
                }
                Action::RevokeUserSessions { user_name } => {
                    let detail = iam::revoke_user_sessions(&c.iam, user_name, now).await?;
                    run.changes.push(user_policy(user_name, iam::REVOKE_POLICY));
                    done(detail)
                }
                Action::RevokeRoleSessions { role_name } => {
                    let detail = iam::revoke_role_sessions(&c.iam, role_name, now).await?;
                    run.changes.push(role_policy(role_name));
                    done(detail)
                }
                Action::RevokeRoleSession { role_name, session } => {
                    // The deny names the session by its role's id: one of another role (a
                    // recreated role, or a finding that mixes two) would deny nothing here.
                    let id = iam::role_id(&c.iam, role_name).await?;
                    match session.split_once(':') {
                        Some((role_id, _)) if role_id == id => {
                            let policy_name = firebreak_core::action::plan::session_policy_name(incident.id.as_str(), session);
                            iam::revoke_role_session(&c.iam, role_name, session, &policy_name, now).await?;
                            let detail = format!(
                                "{policy_name} on role {role_name}: session {session} issued before {} denied; \
                                 the role's other sessions work and it can still be assumed",
                                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                            );
                            run.changes.push(Change::RolePolicyPut { role_name: role_name.clone(), policy_name });
                            done(detail)
                        }
                        _ => skipped(format!(
                            "session {session} is not of role {role_name} as it is now (id {id}): \
                             approve revoke_role_sessions to end every session of the role"
                        )),
                    }
                }
                Action::DenyIdentityCenterUser { role_name, permission_set, user_name } => {
                    if let Some(why) = not_identity_centers(c, run, role_name).await? {
                        return Ok(skipped(why));
                    }
                    let ic = self.identity_center(incident).await?;
                    let (sso, set_arn, user_id) = ic.find(permission_set, user_name).await?;
                    let sid = identity_center::deny_sid(incident.id.as_str());
                    let original = identity_center::deny_user(&sso, &ic.instance, &set_arn, &sid, &user_id).await?;
                    // Recorded once written: a provisioning that fails leaves it for release.
                    run.changes.push(Change::PermissionSetDenied {
                        account: ic.account.clone(),
                        region: ic.region.clone(),
                        instance_arn: ic.instance.arn.clone(),
                        permission_set_arn: set_arn.clone(),
                        sid: sid.clone(),
                        original,
                    });
                    let status = identity_center::provision(&sso, &ic.instance, &set_arn).await?;
                    done(format!(
                        "{sid} denies user {user_name} ({user_id}) in permission set {permission_set} \
                         ({set_arn}), merged into its inline policy; provisioning to every account it \
                         is provisioned to: {status} (sessions are denied once it completes)"
                    ))
                }
                Action::RemoveAccountAssignment { role_name, permission_set, user_name } => {
                    if let Some(why) = not_identity_centers(c, run, role_name).await? {
                        return Ok(skipped(why));
                    }
                    let ic = self.identity_center(incident).await?;
                    let (sso, set_arn, user_id) = ic.find(permission_set, user_name).await?;
                    if identity_center::remove_assignment(&sso, &ic.instance, &set_arn, &incident.account, &user_id).await? {
                        run.changes.push(Change::AccountAssignmentRemoved {
                            account: ic.account.clone(),
                            region: ic.region.clone(),
                            instance_arn: ic.instance.arn.clone(),
                            permission_set_arn: set_arn.clone(),
                            target_account: incident.account.clone(),
                            user_id: user_id.clone(),
                        });
                        done(format!(
                            "user {user_name} ({user_id}) no longer holds permission set {permission_set} \
                             in account {}",
                            incident.account
                        ))
                    } else {
                        skipped(format!(
                            "user {user_name} holds no direct assignment of {permission_set} in account {} \
                             (a group's assignment is the group's: remove the user from it by hand)",
                            incident.account
                        ))
                    }
                }
                Action::DenyUser { user_name } => {
                    let policy_arn = iam::deny_policy_arn(&incident.partition, &incident.account, &self.config.accounts.deny_policy);
                    let detail = iam::deny_user(&c.iam, user_name, &policy_arn).await?;
                    run.changes.push(Change::ManagedPolicyAttached { user_name: user_name.clone(), policy_arn });
                    done(detail)
                }
                Action::RevokeInstanceProfileSessions { instance_id, instance_profile_arn } => {
                    // The profile the instance has (or, once Firebreak replaced it, had) is the
                    // one whose credentials it handed out; the finding's only when it has none.
                    let profile = match run.replaced_profiles.get(instance_id).cloned() {
                        Some(arn) => arn,
                        // Quarantined by an earlier run: its own profile is the finding's.
                        None => ec2::profile_association(&c.ec2, instance_id)
                            .await?
                            .map(|(_, arn)| arn)
                            .filter(|arn| !arn.ends_with(&format!(":instance-profile/{}", self.config.accounts.quarantine_profile)))
                            .unwrap_or_else(|| instance_profile_arn.clone()),
                    };
                    // After the swap, at the time of the call: credentials handed out before
                    // the quarantine profile took over are all denied.
                    let now = chrono::Utc::now() + Duration::seconds(1);
                    let mut revoked = Vec::new();
                    let mut kept = Vec::new();
                    for (role, arn) in iam::instance_profile_roles(&c.iam, &profile).await? {
                        if self.config.protection(&arn).is_some() {
                            kept.push(role);
                            continue;
                        }
                        iam::revoke_role_sessions(&c.iam, &role, now).await?;
                        run.changes.push(role_policy(&role));
                        revoked.push(role);
                    }
                    if revoked.is_empty() && kept.is_empty() {
                        skipped("the instance profile has no role".into())
                    } else {
                        done(format!("sessions revoked for role(s) {revoked:?}; protected role(s) kept: {kept:?}"))
                    }
                }
                Action::QuarantineInstanceProfile { instance_id, .. } => {
                    // The profile the instance has now is what is replaced, whatever the
                    // finding named; one with a protected role is never touched.
                    let quarantine = format!(
                        "arn:{}:iam::{}:instance-profile/{}",
                        incident.partition, incident.account, self.config.accounts.quarantine_profile
                    );
                    match ec2::profile_association(&c.ec2, instance_id).await? {
                        None => skipped(format!("{instance_id} has no instance profile")),
                        Some((_, current)) if current == quarantine => {
                            skipped(format!("{instance_id} already has the quarantine profile"))
                        }
                        Some((association, current)) => {
                            let protected = std::iter::once(current.clone())
                                .chain(iam::instance_profile_roles(&c.iam, &current).await?.into_iter().map(|(_, arn)| arn))
                                .find_map(|arn| self.config.protection(&arn).map(|why| format!("{arn} is {}", why.describe())));
                            // The quarantine profile is handed to a compromised instance only as
                            // deployed: holding exactly the quarantine role.
                            let name = &self.config.accounts.quarantine_profile;
                            let holds: Vec<String> = iam::instance_profile_roles(&c.iam, &quarantine).await?.into_iter().map(|(role, _)| role).collect();
                            match protected {
                                Some(why) => skipped(format!("{why}: the instance keeps its profile")),
                                None if holds != [name.clone()] => failed(&AwsError::new(
                                    "QuarantineProfileChanged",
                                    format!("the quarantine profile {quarantine} holds {holds:?}, not only role {name}: redeploy it; the instance keeps its profile"),
                                )),
                                None => {
                                    ec2::replace_profile(&c.ec2, &association, &quarantine).await?;
                                    run.replaced_profiles.insert(instance_id.clone(), current.clone());
                                    run.changes.push(Change::InstanceProfileReplaced {
                                        instance_id: instance_id.clone(),
                                        original_arn: current.clone(),
                                        quarantine_arn: quarantine.clone(),
                                    });
                                    done(format!(
                                        "{instance_id}'s instance profile {} replaced with {quarantine}: credentials it fetches now are denied everything",
                                        firebreak_core::action::names::printable_line(&current)
                                    ))
                                }
                            }
                        }
                    }
                }
                Action::DetachFromAutoScalingGroup { instance_id, group_name } => {
                    // The group the instance is in now is the one that could terminate it,
                    // whatever the finding's tag said; a protected group is never touched.
                    match autoscaling::group_of(&c.autoscaling, instance_id).await? {
                        None => skipped(format!("{instance_id} is in no Auto Scaling group")),
                        Some(name) => {
                            let shown = firebreak_core::action::names::printable_line(&name).into_owned();
                            let group = autoscaling::group(&c.autoscaling, &name).await?;
                            let protected = group
                                .as_ref()
                                .and_then(|g| g.arn.clone())
                                .and_then(|arn| self.config.protection(&arn).map(|why| (arn, why)));
                            match (protected, group) {
                                (Some((arn, why)), _) => skipped(format!(
                                    "Auto Scaling group {arn} is {}: never detached from",
                                    why.describe()
                                )),
                                (None, None) => skipped(format!("Auto Scaling group {shown} is gone")),
                                (None, Some(group)) => {
                                    // Down with it only where the group stays at or above its
                                    // minimum; otherwise it launches a replacement.
                                    let decrement = group.desired > group.min;
                                    autoscaling::detach(&c.autoscaling, instance_id, &name, decrement).await?;
                                    run.changes.push(Change::DetachedFromAutoScalingGroup {
                                        instance_id: instance_id.clone(),
                                        group_name: name.clone(),
                                        decremented: decrement,
                                    });
                                    let named = if &name == group_name {
                                        String::new()
                                    } else {
                                        format!(" (the finding named {group_name})")
                                    };
                                    let capacity = if decrement {
                                        format!("desired capacity {} -> {}", group.desired, group.desired - 1)
                                    } else {
                                        format!(
                                            "desired capacity kept at {} (its minimum): the group launches a replacement",
                                            group.desired
                                        )
                                    };
                                    done(format!("detached from Auto Scaling group {shown}{named}, {capacity}"))
                                }
                            }
                        }
                    }
                }
                Action::DeregisterFromLoadBalancers { instance_id } => {
                    // What it serves now, judged one by one: a protected balancer keeps it.
                    let serving = elb::serving(&c.elbv2, &c.elb, instance_id).await?;
                    let (p, r, a) = (&incident.partition, &incident.region, &incident.account);
                    let mut kept = Vec::new();
                    let mut groups = Vec::new();
                    for g in serving.target_groups {
                        // The group's own ARN, and each load balancer it serves.
                        let balancers = serving
                            .balancers_of
                            .iter()
                            .find(|(arn, _)| *arn == g.target_group_arn)
                            .map(|(_, lbs)| lbs.clone())
                            .unwrap_or_default();
                        let protected = std::iter::once(&g.target_group_arn)
                            .chain(balancers.iter())
                            .find_map(|arn| self.config.protection(arn).map(|why| format!("{arn} ({})", why.describe())));
                        match protected {
                            Some(why) => kept.push(why),
                            None => groups.push(g),
                        }
                    }
                    let mut classic = Vec::new();
                    for name in serving.classic {
                        let arn = elb::classic_arn(p, r, a, &name);
                        match self.config.protection(&arn) {
                            Some(why) => kept.push(format!("{arn} ({})", why.describe())),
                            None => classic.push(name),
                        }
                    }
                    // Each deregistration is recorded as it happens, so a failure part-way
                    // still leaves a release what to register again.
                    let mut done_groups = Vec::new();
                    let mut done_classic = Vec::new();
                    let mut result = Ok(());
                    for g in &groups {
                        if let Err(e) = elb::deregister_target(&c.elbv2, instance_id, g).await {
                            result = Err(e);
                            break;
                        }
                        done_groups.push(g.clone());
                    }
                    if result.is_ok() {
                        for name in &classic {
                            if let Err(e) = elb::deregister_classic(&c.elb, instance_id, name).await {
                                result = Err(e);
                                break;
                            }
                            done_classic.push(name.clone());
                        }
                    }
                    let (n, m) = (done_groups.len(), done_classic.len());
                    if n + m > 0 {
                        run.changes.push(Change::DeregisteredFromLoadBalancers {
                            instance_id: instance_id.clone(),
                            target_groups: done_groups,
                            classic: done_classic,
                        });
                    }
                    result?;
                    let protected = if kept.is_empty() { String::new() } else { format!("; protected, kept: {kept:?}") };
                    if n + m == 0 {
                        skipped(format!("{instance_id} serves no load balancer Firebreak may change{protected}"))
                    } else {
                        done(format!("{instance_id} deregistered from {n} target group(s) and {m} classic load balancer(s){protected}"))
                    }
                }
                Action::CognitoStopSignUp { user_pool_id } => {
                    if cognito::set_admin_create_user_only(&c.cognito, user_pool_id, true).await? {
                        run.changes.push(Change::CognitoSignUpStopped { user_pool_id: user_pool_id.clone() });
                        done("AllowAdminCreateUserOnly on; every other pool setting carried over".into())
                    } else {
                        done("self sign-up was already off".into())
                    }
                }
                Action::CognitoDisableUser { user_pool_id, username } => {
                    if cognito::disable_user(&c.cognito, user_pool_id, username).await? {
                        run.changes.push(Change::CognitoUserDisabled { user_pool_id: user_pool_id.clone(), username: username.clone() });
                        done("user disabled".into())
                    } else {
                        done("user was already disabled".into())
                    }
                }
                Action::CognitoGlobalSignOut { user_pool_id, username } => {
                    done(cognito::global_sign_out(&c.cognito, user_pool_id, username).await?)
                }
                Action::ProtectInstance { instance_id } => {
                    let instance = cached_instance(&c.ec2, &mut run.instances, instance_id).await?;
                    done(ec2::protect(&c.ec2, &instance).await?)
                }
                Action::CaptureMemory { instance_id } => {
                    Box::pin(self.capture_memory(c, incident, instance_id, now, run)).await?
                }
                Action::SnapshotVolumes { instance_id } => {
                    let instance = cached_instance(&c.ec2, &mut run.instances, instance_id).await?;
                    let (detail, created) = ec2::snapshot_volumes(&c.ec2, &instance, incident.id.as_str()).await?;
                    // Marked under the incident's evidence when a forensic account will get
                    // them: the hand-over trusts the mark, never the snapshot's tags (anyone may
                    // tag a snapshot). Boxed: this match's future is deep enough already.
                    if !self.config.evidence.forensic_account.is_empty() {
                        for snapshot in &created {
                            let about = json!({ "instance_id": instance_id });
                            Box::pin(self.evidence.mark_snapshot(&incident.id, snapshot, about, now)).await?;
                        }
                    }
                    done(detail)
                }
                Action::IsolateInstance { instance_id } => {
                    let mut originals = Vec::new();
                    // The groups are known by the ids recorded in the evidence store, nowhere else.
                    let mut ledger = isolation::GroupLedger::new(&self.evidence, &incident.id, &self.collector, now);
                    let result = isolation::isolate(&c.ec2, instance_id, &mut ledger, &mut originals).await;
                    run.items.append(&mut ledger.written);
                    if !originals.is_empty() {
                        run.changes.push(Change::InstanceIsolated { instance_id: instance_id.clone(), interfaces: originals.clone() });
                        run.original_groups.extend(originals);
                    }
                    done(result?)
                }
                Action::BlockPublicAccess { bucket } => {
                    let original = s3::original_block(&c.s3, bucket).await;
                    if matches!(&original, OriginalBlock::Set { config } if config.blocks_all()) {
                        done("all four Block Public Access flags were already on".into())
                    } else {
                        let detail = s3::block_public_access(&c.s3, bucket).await?;
                        run.changes.push(Change::PublicAccessBlocked { bucket: bucket.clone(), original });
                        done(detail)
                    }
                }
                Action::RevokeIngress { group_id, rules } => {
                    let (revoked, absent) = ec2::revoke_ingress(&c.ec2, group_id, rules).await?;
                    if revoked.is_empty() {
                        skipped(format!("{group_id} no longer had the {} permission(s) the event opened", absent.len()))
                    } else {
                        let n = revoked.len();
                        run.changes.push(Change::IngressRevoked { group_id: group_id.clone(), rules: revoked });
                        done(format!("{n} permission(s) open to the internet revoked from {group_id}; {} already gone; its other rules untouched", absent.len()))
                    }
                }
                Action::RemoveShare { resource, accounts, public } => {
                    // Only what is shared now is removed (and recorded for a release).
                    let (now_accounts, now_public) = shares(c, resource).await?;
                    let accounts: Vec<String> = accounts.iter().filter(|a| now_accounts.contains(a)).cloned().collect();
                    let public = *public && now_public;
                    if accounts.is_empty() && !public {
                        skipped(format!("{} is no longer shared as the event shared it", resource.id()))
                    } else {
                        modify_shares(c, resource, &accounts, public, false).await?;
                        let detail = format!(
                            "share of {} removed: account(s) {:?}{}; shares the event did not add untouched",
                            resource.id(),
                            accounts,
                            if public { " and everyone" } else { "" }
                        );
                        run.changes.push(Change::ShareRemoved { resource: resource.clone(), accounts, public });
                        done(detail)
                    }
                }
                Action::RemoveLambdaPermission { function_name, statement_id, grant } => {
                    // Only the statement the event wrote: one of that id granting someone else
                    // now (rewritten since) is left.
                    let current = lambda::statement(&c.lambda, function_name, statement_id, grant.qualifier.as_deref()).await?;
                    if let Some(principal) = current.as_ref().map(|s| s["Principal"].clone())
                        && !lambda::grants_to(&principal, &grant.principal)
                    {
                        skipped(format!(
                            "statement {statement_id} of {function_name} no longer grants {}: left",
                            grant.principal
                        ))
                    } else if current.is_some() && lambda::remove_permission(&c.lambda, function_name, statement_id, grant.qualifier.as_deref()).await? {
                        run.changes.push(Change::LambdaPermissionRemoved {
                            function_name: function_name.clone(),
                            statement_id: statement_id.clone(),
                            grant: grant.clone(),
                        });
                        done(format!("statement {statement_id} removed from {function_name}'s policy; its other statements untouched"))
                    } else {
                        skipped(format!("{function_name} has no statement {statement_id} any more"))
                    }
                }
                Action::DeleteLoginProfile { user_name } => {
                    if iam::delete_login_profile(&c.iam, user_name).await? {
                        run.changes.push(Change::LoginProfileDeleted { user_name: user_name.clone() });
                        done(format!("console password of {user_name} deleted (a release cannot restore it; the user's keys untouched)"))
                    } else {
                        skipped(format!("{user_name} has no console password"))
                    }
                }
                Action::TagQuarantine { resource } => {
                    let (detail, volumes) = match resource {
                        TagTarget::IamUser(u) => {
                            iam::tag_user(&c.iam, u, &tag).await?;
                            (format!("{}={tag} on user {u}", iam::QUARANTINE_TAG), Vec::new())
                        }
                        TagTarget::IamRole(r) => {
                            iam::tag_role(&c.iam, r, &tag).await?;
                            (format!("{}={tag} on role {r}", iam::QUARANTINE_TAG), Vec::new())
                        }
                        TagTarget::Instance(i) => {
                            let instance = cached_instance(&c.ec2, &mut run.instances, i).await?;
                            (ec2::tag_instance(&c.ec2, &instance, &tag).await?, ec2::volume_ids(&instance))
                        }
                        TagTarget::Bucket(b) => (s3::tag_bucket(&c.s3, b, &tag).await?, Vec::new()),
                    };
                    run.changes.push(Change::Tagged { resource: resource.clone(), volumes });
                    done(detail)
                }
                Action::PreserveEvidence | Action::Page { .. } => skipped("handled by the responder itself".into()),
            })
        }
        .await;
        match result {
            Ok(status) => status,
            Err(e) => failed(&e),
        }
    }

    /// Writes the source event, the incident, the resources' state and the principal's
    /// activity. Failures of single items are recorded as missing; the manifest comes later.
    pub(crate) async fn preserve(
        &self,
        target: Result<&Clients, &AwsError>,
        incident: &Incident,
        source_event: &str,
        now: DateTime<Utc>,
        run: &mut Run,
    ) {
        let id = &incident.id;
        let put = |kind: &'static str, body: Vec<u8>| {
            self.evidence
                .put(id, kind, "json", body, &self.collector, now)
        };
        match put("source-event", source_event.as_bytes().to_vec()).await {
            Ok(item) => run.items.push(item),
            Err(e) => {
                // Without the source event there is no evidence worth the name.
                run.evidence_failed = Some(e);
                return;
            }
        }
        match put(
            "incident",
            serde_json::to_vec_pretty(incident).unwrap_or_default(),
        )
        .await
        {
            Ok(item) => run.items.push(item),
            Err(e) => run.missing.push(missing("incident", &e)),
        }
        let c = match target {
            Ok(c) => c,
            Err(e) => {
                // No access to the member account: its state and activity cannot be read.
                run.missing.push(missing("resource-state", e));
                run.missing.push(missing("principal-activity", e));
                return;
            }
        };
        let state = self.resource_state(c, incident, run).await;
        // What was read, locked as evidence; what could not be read or locked, named as missing.
        let lock = |kind: &'static str, read: Result<Value, AwsError>| {
            let put = &put;
            async move {
                let body = serde_json::to_vec_pretty(&read?).unwrap_or_default();
                put(kind, body).await
            }
        };
        let keep = |run: &mut Run, kind: &'static str, locked: Result<Item, AwsError>| match locked
        {
            Ok(item) => run.items.push(item),
            Err(e) => run.missing.push(missing(kind, &e)),
        };
        if !state.is_empty() {
            let locked = lock("resource-state", Ok(Value::Array(state))).await;
            keep(run, "resource-state", locked);
        }
        let lookup = match (&incident.access_key_id, &incident.principal) {
            (Some(key), _) if key.starts_with("AKIA") || key.starts_with("ASIA") => {
                Some(Lookup::AccessKey(key.clone()))
            }
            (_, Some(Principal::IamUser { name, .. })) => Some(Lookup::UserName(name.clone())),
            (_, Some(Principal::Root { .. })) => Some(Lookup::UserName("root".into())),
            _ => None,
        };
        if let (Some(logs), Some(who)) = (&self.config.trail.logs, hunted(incident)) {
            let activity = self
                .trail_activity(c, logs, who, lookup, incident, now)
                .await;
            let locked = lock("principal-activity", Ok(activity)).await;
            keep(run, "principal-activity", locked);
        } else if let Some(lookup) = lookup {
            let start = incident.detected_at - Duration::days(ACTIVITY_WINDOW_DAYS);
            let read = principal_activity(&c.cloudtrail, &lookup, start, now).await;
            let locked = lock("principal-activity", read).await;
            keep(run, "principal-activity", locked);
        }
    }

    /// The principal's activity from the trail's log files: a hunt (its minted sessions
    /// followed) over the incident's account, every region, the configured days before the
    /// incident until now; LookupEvents adds the last minutes the trail has not delivered yet.
    /// What could not be read is said in the evidence itself, never left out silently.
    async fn trail_activity(
        &self,
        c: &Clients,
        logs: &str,
        who: Who,
        lookup: Option<Lookup>,
        incident: &Incident,
        now: DateTime<Utc>,
    ) -> Value {
        let start =
            incident.detected_at - Duration::days(i64::from(self.config.trail.activity_days));
        let mut out = json!({
            "source": "trail",
            "location": logs,
            "principal": who.to_string(),
            "start": start.to_rfc3339(),
            "end": now.to_rfc3339(),
        });
        let Some(at) = trail::Location::parse(logs) else {
            out["error"] = json!("trail.logs is not s3://bucket[/prefix]");
            return out;
        };
        let scope = Query {
            since: Some(start),
            until: Some(now),
            accounts: vec![incident.account.clone()],
            ..Query::default()
        };
        let listing = trail::Scope {
            accounts: scope.accounts.clone(),
            regions: Vec::new(),
            first_day: Some(start.date_naive()),
            last_day: Some(now.date_naive()),
        };
        match trail::list(&self.home.s3, &at, &listing).await {
            Err(e) => {
                out["error"] = json!(format!(
                    "listing the trail's files: {} ({})",
                    e.message, e.code
                ))
            }
            Ok(files) => {
                let mut follow = Follow::new(std::slice::from_ref(&who), true);
                while let Some(query) = follow.next_query(&scope) {
                    let pass = trail::search(
                        &self.home.s3,
                        &at.bucket,
                        &files,
                        std::sync::Arc::new(query),
                        TRAIL_INFLATE_CAP,
                        TRAIL_READS_IN_FLIGHT,
                        &|_| {},
                    )
                    .await;
                    follow.absorb(pass);
                }
                let unfollowed: Vec<String> = follow
                    .unfollowed()
                    .iter()
                    .map(|h| h.who.to_string())
                    .collect();
                let (hunted, hits, pass) = follow.finish();
                let kept = hits.len().min(MAX_ACTIVITY_RECORDS);
                out["files"] = json!(files.len());
                out["records_read"] = json!(pass.records);
                out["unreadable"] = json!(pass.unreadable);
                out["principals"] = json!(hunted);
                out["not_followed"] = json!(unfollowed);
                out["conflicting_event_ids"] = json!(conflicts(&hits));
                out["matching_records"] = json!(hits.len());
                out["events"] = Value::Array(
                    hits.iter()
                        .take(kept)
                        .map(|h| serde_json::from_str(&h.raw).unwrap_or(Value::Null))
                        .collect(),
                );
                if kept < hits.len() {
                    out["truncated"] = json!(format!(
                        "the first {kept} of {} records are kept; hunt the trail for the rest",
                        hits.len()
                    ));
                }
            }
        }
        // The trail delivers a file about every five minutes: the newest calls are read from
        // LookupEvents (management events only).
        if let Some(lookup) = lookup {
            let recent = now - Duration::minutes(UNDELIVERED_MINUTES);
            out["recent"] = match principal_activity(&c.cloudtrail, &lookup, recent, now).await {
                Ok(v) => v,
                Err(e) => json!({"error": format!("{} ({})", e.message, e.code)}),
            };
        }
        out
    }

    async fn resource_state(&self, c: &Clients, incident: &Incident, run: &mut Run) -> Vec<Value> {
        let mut state = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for planned in &incident.plan {
            let touches = planned.action.facts().touches;
            if !seen.insert(format!("{touches:?}")) {
                continue;
            }
            let result = match touches {
                Touches::Instance(id) => cached_instance(&c.ec2, &mut run.instances, id)
                    .await
                    .map(|i| ec2::instance_state(&i)),
                Touches::IamUser(name) => iam::describe_user(&c.iam, name).await,
                Touches::IamRole(name) => iam::describe_role(&c.iam, name).await,
                Touches::Bucket(name) => s3::bucket_state(&c.s3, name).await,
                Touches::UserPool(pool, Some(user)) => {
                    cognito::user_state(&c.cognito, pool, user).await
                }
                Touches::Ec2("security-group", id) => ec2::security_group_state(&c.ec2, id).await,
                Touches::Ec2(_, _) => match &planned.action {
                    Action::RemoveShare { resource, .. } => {
                        ec2::share_state(&c.ec2, resource).await
                    }
                    _ => continue,
                },
                Touches::Rds(..) => match &planned.action {
                    Action::RemoveShare { resource, .. } => {
                        rds::share_state(&c.rds, resource).await
                    }
                    _ => continue,
                },
                Touches::Function(name) => lambda::policy_state(&c.lambda, name, None).await,
                Touches::UserPool(_, None) | Touches::Nothing => continue,
            };
            match result {
                Ok(v) => state.push(v),
                Err(e) => run.missing.push(missing(
                    &format!("resource-state of {}", planned.target),
                    &e,
                )),
            }
        }
        state
    }
}

/// Who an image or a (database) snapshot is shared with now: (accounts, public).
pub(crate) async fn shares(
    c: &Clients,
    resource: &Shared,
) -> Result<(Vec<String>, bool), AwsError> {
    match resource {
        Shared::Image(_) | Shared::Snapshot(_) => ec2::shares(&c.ec2, resource).await,
        Shared::DbSnapshot(_) | Shared::DbClusterSnapshot(_) => rds::shares(&c.rds, resource).await,
    }
}

/// Adds or removes shares of an image or a (database) snapshot.
pub(crate) async fn modify_shares(
    c: &Clients,
    resource: &Shared,
    accounts: &[String],
    public: bool,
    add: bool,
) -> Result<(), AwsError> {
    match resource {
        Shared::Image(_) | Shared::Snapshot(_) => {
            ec2::modify_shares(&c.ec2, resource, accounts, public, add).await
        }
        Shared::DbSnapshot(_) | Shared::DbClusterSnapshot(_) => {
            rds::modify_shares(&c.rds, resource, accounts, public, add).await
        }
    }
}

/// The clients of a response's two kinds of action.
/// Why `role` is not Identity Center's, when it is not: IAM Identity Center creates its roles
/// under `/aws-reserved/sso.amazonaws.com/`, a path no one else can use; a role only named like
/// one (anyone with CreateRole can name a role `AWSReservedSSO_…`, and pick its session names)
/// must not decide which Identity Center user Firebreak denies.
/// The role's ARN as the guard read it is used; IAM is asked again only when the guard could not
/// read it.
async fn not_identity_centers(
    c: &Clients,
    run: &Run,
    role: &str,
) -> Result<Option<String>, AwsError> {
    let path = match run.role_arns.get(role) {
        Some(arn) => arn
            .split_once(":role")
            .and_then(|(_, rest)| rest.rsplit_once('/'))
            .map(|(path, _)| format!("{path}/"))
            .unwrap_or_default(),
        None => iam::role_path(&c.iam, role).await?,
    };
    Ok((!path.starts_with(IDENTITY_CENTER_PATH)).then(|| {
        format!(
            "role {role} is at path {path}, not {IDENTITY_CENTER_PATH}: not Identity Center's, so \
             its session name names no Identity Center user; contain it by hand"
        )
    }))
}

/// Where IAM Identity Center creates its roles.
const IDENTITY_CENTER_PATH: &str = "/aws-reserved/sso.amazonaws.com/";

/// Identity Center where it is administered: its account, home region, instance and clients.
pub(crate) struct IdentityCenter {
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) instance: identity_center::Instance,
    pub(crate) sso: aws_sdk_ssoadmin::Client,
    pub(crate) ids: aws_sdk_identitystore::Client,
}

impl IdentityCenter {
    /// The set named `set`'s ARN and user `user`'s id, with the client to act with.
    async fn find(
        &self,
        set: &str,
        user: &str,
    ) -> Result<(aws_sdk_ssoadmin::Client, String, String), AwsError> {
        let set_arn = identity_center::permission_set_arn(&self.sso, &self.instance, set).await?;
        let user_id = identity_center::user_id(&self.ids, &self.instance, user).await?;
        Ok((self.sso.clone(), set_arn, user_id))
    }
}

pub(crate) struct Targets {
    contain: Result<Clients, AwsError>,
    preserve: Result<Clients, AwsError>,
}

impl Targets {
    pub(crate) fn of(&self, action: &Action) -> Result<&Clients, &AwsError> {
        if Stage::Preserve.owns(action) {
            self.preserve()
        } else {
            self.contain.as_ref()
        }
    }

    pub(crate) fn preserve(&self) -> Result<&Clients, &AwsError> {
        self.preserve.as_ref()
    }
}

enum IamKind {
    User,
    Role,
}

/// The ARN IAM gives a user or role (with its path); `None` when it cannot be read, and the
/// guard then judges the ARN without a path.
async fn iam_arn(c: &Clients, kind: IamKind, name: &str) -> Option<String> {
    match kind {
        IamKind::User => c
            .iam
            .get_user()
            .user_name(name)
            .send()
            .await
            .ok()?
            .user()
            .map(|u| u.arn().to_string()),
        IamKind::Role => c
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .ok()?
            .role()
            .map(|r| r.arn().to_string()),
    }
}

/// The instance as first read in this response.
pub(crate) async fn cached_instance(
    ec2: &aws_sdk_ec2::Client,
    cache: &mut std::collections::HashMap<String, aws_sdk_ec2::types::Instance>,
    id: &str,
) -> Result<aws_sdk_ec2::types::Instance, AwsError> {
    if let Some(instance) = cache.get(id) {
        return Ok(instance.clone());
    }
    let instance = ec2::describe(ec2, id).await?;
    cache.insert(id.to_string(), instance.clone());
    Ok(instance)
}

pub(crate) fn outcome(
    index: usize,
    planned: &PlannedAction,
    status: Status,
    changes: Vec<Change>,
) -> ActionOutcome {
    ActionOutcome {
        index,
        kind: planned.action.kind().to_string(),
        target: planned.target.clone(),
        status,
        at: Utc::now(),
        changes,
    }
}

fn user_policy(user_name: &str, policy_name: &str) -> Change {
    Change::UserPolicyPut {
        user_name: user_name.to_string(),
        policy_name: policy_name.to_string(),
    }
}

fn role_policy(role_name: &str) -> Change {
    Change::RolePolicyPut {
        role_name: role_name.to_string(),
        policy_name: iam::REVOKE_POLICY.to_string(),
    }
}

pub(crate) fn done(detail: String) -> Status {
    Status::Done { detail }
}

pub(crate) fn skipped(why: String) -> Status {
    Status::Skipped { why }
}

pub(crate) fn failed(e: &AwsError) -> Status {
    Status::Failed {
        code: e.code.clone(),
        message: e.message.clone(),
    }
}

pub(crate) fn missing(kind: &str, e: &AwsError) -> Missing {
    Missing {
        kind: kind.to_string(),
        error: e.to_string(),
    }
}
