//! Isolation of an instance: every interface moved into a security group with no rule at all,
//! through an allow-all group first so tracked connections are cut. The two groups are created
//! per incident and VPC, recorded in the evidence store (which nobody in the contained account
//! can write) and checked before and after every move; release puts each interface back.

use std::collections::HashMap;

use aws_sdk_ec2::types::{
    IpPermission, IpRange, ResourceType, SecurityGroup, Tag, TagSpecification,
};
use chrono::{DateTime, Utc};
use firebreak_core::IncidentId;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::sdk::error::Undone;
use crate::sdk::error::{AwsError, SdkResultExt};
use crate::service::ec2::{ISOLATION_GROUP, PASS_THROUGH_GROUP, describe};
use crate::store::evidence::{Collector, EvidenceStore, Item, hex};
pub use crate::store::format::IsolationGroups;

/// The groups each ENI had before isolation: recorded so a release can restore them.
pub use firebreak_core::record::release::OriginalGroups;

/// Where isolation finds and records the groups it created: the evidence store, which nobody
/// in the contained account can write, under the incident's prefix.
pub struct GroupLedger<'a> {
    store: &'a EvidenceStore,
    incident: &'a IncidentId,
    collector: &'a Collector,
    now: DateTime<Utc>,
    known: HashMap<String, IsolationGroups>,
    /// Records this ledger wrote (for the manifest of the run that wrote them).
    pub written: Vec<Item>,
}

impl<'a> GroupLedger<'a> {
    /// A ledger of incident `incident`'s groups in `store`.
    pub fn new(
        store: &'a EvidenceStore,
        incident: &'a IncidentId,
        collector: &'a Collector,
        now: DateTime<Utc>,
    ) -> Self {
        GroupLedger {
            store,
            incident,
            collector,
            now,
            known: HashMap::new(),
            written: Vec::new(),
        }
    }

    /// `isolation/<vpc-id>.json`, for a VPC id of AWS's shape only.
    pub fn record_name(vpc: &str) -> Result<String, AwsError> {
        let ok = vpc.strip_prefix("vpc-").is_some_and(|h| {
            !h.is_empty() && h.len() <= 32 && h.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !ok {
            return Err(refused(format!("{vpc:?} is not a VPC id")));
        }
        Ok(format!("isolation/{vpc}.json"))
    }

    /// The incident's groups in `vpc`: the recorded ones, else two Firebreak creates now and
    /// records (when another attempt recorded first, its groups win and these go unused).
    async fn groups(
        &mut self,
        ec2: &aws_sdk_ec2::Client,
        vpc: &str,
    ) -> Result<IsolationGroups, AwsError> {
        if let Some(known) = self.known.get(vpc) {
            return Ok(known.clone());
        }
        let name = Self::record_name(vpc)?;
        let record = match self.read(&name, vpc).await? {
            Some(record) => record,
            None => {
                let suffix = unique_suffix(self.incident, vpc, self.now);
                let isolation = create_group(ec2, vpc, false, self.incident, &suffix).await?;
                let pass = create_group(ec2, vpc, true, self.incident, &suffix).await?;
                let record = IsolationGroups {
                    incident_id: self.incident.clone(),
                    vpc_id: vpc.to_string(),
                    isolation_group: isolation,
                    pass_through_group: pass,
                    created_at: self.now,
                };
                let body = serde_json::to_vec_pretty(&record)
                    .map_err(|e| AwsError::new("Serialization", e.to_string()))?;
                let size = body.len() as u64;
                let digest = Sha256::digest(&body);
                if self
                    .store
                    .put_if_absent(self.incident, &name, body, self.now)
                    .await?
                {
                    self.written.push(Item {
                        key: format!("{}{name}", EvidenceStore::prefix(self.incident)),
                        kind: "isolation-groups".into(),
                        sha256: hex(&digest),
                        size,
                        collected_by: self.collector.clone(),
                        collected_at: self.now,
                        retain_until: self.store.retain_until(self.now),
                        already_stored: false,
                    });
                    record
                } else {
                    self.read(&name, vpc).await?.ok_or_else(|| {
                        refused(format!(
                            "{name} was being written by another attempt; try again"
                        ))
                    })?
                }
            }
        };
        self.known.insert(vpc.to_string(), record.clone());
        Ok(record)
    }

    /// The record `name`, if there is one; a record that does not read as this incident's
    /// groups in `vpc` is refused, never replaced.
    async fn read(&self, name: &str, vpc: &str) -> Result<Option<IsolationGroups>, AwsError> {
        let key = format!("{}{name}", EvidenceStore::prefix(self.incident));
        let body = match self.store.read(&key).await {
            Ok(body) => body,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        match serde_json::from_slice::<IsolationGroups>(&body) {
            Ok(r) if r.incident_id == *self.incident && r.vpc_id == vpc => Ok(Some(r)),
            Ok(_) => Err(refused(format!("{key} names another incident or VPC"))),
            Err(e) => Err(refused(format!(
                "{key} is not a record of isolation groups: {e}"
            ))),
        }
    }
}

/// Code of an isolation Firebreak refused, or could not finish, because a group was not as it
/// made it.
pub const REFUSED: &str = "IsolationRefused";

fn refused(message: String) -> AwsError {
    AwsError::new(REFUSED, message)
}

/// 8 hex digits no one can guess ahead: a name an attacker took first cannot block creation.
fn unique_suffix(incident: &IncidentId, vpc: &str, now: DateTime<Utc>) -> String {
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let digest = Sha256::digest(format!("{incident}|{vpc}|{nanos}|{wall}").as_bytes());
    hex(&digest[..4])
}

/// Why the group cannot be the isolation group of `vpc`, if it cannot: it must be in the VPC
/// and have no inbound and no outbound rule at all.
pub fn isolation_problem(group: &SecurityGroup, vpc: &str) -> Option<String> {
    let id = group.group_id().unwrap_or_default();
    if group.vpc_id() != Some(vpc) {
        return Some(format!(
            "isolation group {id} is in {:?}, not {vpc}",
            group.vpc_id()
        ));
    }
    let (ingress, egress) = (
        group.ip_permissions().len(),
        group.ip_permissions_egress().len(),
    );
    (ingress + egress > 0).then(|| {
        format!(
            "isolation group {id} has {ingress} inbound and {egress} outbound rule(s); Firebreak \
             created it with none, so someone changed it and it is not used"
        )
    })
}

/// Why the group cannot be the pass-through group of `vpc`, if it cannot: in the VPC, and
/// nothing but the allow-all rules Firebreak put (every protocol from and to `0.0.0.0/0`, and
/// `::/0` where AWS adds it), in both directions.
pub fn pass_through_problem(group: &SecurityGroup, vpc: &str) -> Option<String> {
    let id = group.group_id().unwrap_or_default();
    if group.vpc_id() != Some(vpc) {
        return Some(format!(
            "pass-through group {id} is in {:?}, not {vpc}",
            group.vpc_id()
        ));
    }
    let allow_all = |p: &IpPermission| {
        p.ip_protocol() == Some("-1")
            && p.user_id_group_pairs().is_empty()
            && p.prefix_list_ids().is_empty()
            && p.ip_ranges()
                .iter()
                .all(|r| r.cidr_ip() == Some("0.0.0.0/0"))
            && p.ipv6_ranges()
                .iter()
                .all(|r| r.cidr_ipv6() == Some("::/0"))
    };
    let covers_all = |ps: &[IpPermission]| {
        ps.iter().any(|p| {
            p.ip_ranges()
                .iter()
                .any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
        })
    };
    for (direction, rules) in [
        ("inbound", group.ip_permissions()),
        ("outbound", group.ip_permissions_egress()),
    ] {
        if !rules.iter().all(allow_all) || !covers_all(rules) {
            return Some(format!(
                "pass-through group {id} has {direction} rules other than the allow-all one \
                 Firebreak put; someone changed it and it is not used"
            ));
        }
    }
    None
}

/// Reads one group by id.
async fn describe_group(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
) -> Result<SecurityGroup, AwsError> {
    let out = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .aws()
        .map_err(|e| {
            refused(format!(
                "group {group_id} that Firebreak recorded for this incident cannot be read ({e}); \
                 it is not used"
            ))
        })?;
    out.security_groups()
        .iter()
        .find(|g| g.group_id() == Some(group_id))
        .cloned()
        .ok_or_else(|| refused(format!("group {group_id} that Firebreak recorded is gone")))
}

/// The recorded isolation group, read now and refused unless it has no rule at all.
async fn checked_isolation(
    ec2: &aws_sdk_ec2::Client,
    groups: &IsolationGroups,
) -> Result<(), AwsError> {
    let group = describe_group(ec2, &groups.isolation_group).await?;
    match isolation_problem(&group, &groups.vpc_id) {
        Some(why) => Err(refused(why)),
        None => Ok(()),
    }
}

async fn set_groups(
    ec2: &aws_sdk_ec2::Client,
    eni: &str,
    groups: &[String],
) -> Result<(), AwsError> {
    ec2.modify_network_interface_attribute()
        .network_interface_id(eni)
        .set_groups(Some(groups.to_vec()))
        .send()
        .await
        .aws()
        .map(|_| ())
}

/// Moves every ENI of the instance into the isolation group Firebreak created and recorded for
/// the incident in its VPC, through the pass-through group first (so tracked connections are
/// cut). The instance keeps running. Both groups are read by id before and after every move; a
/// group that is not exactly as Firebreak made it is refused. An ENI is never left in the
/// pass-through group: after a failure there it goes on into the isolation group, or back into
/// its original groups, and the outcome says which. Each ENI's groups are pushed to `originals`
/// while it is (or may be) in Firebreak's groups, so a release knows what to put back.
pub async fn isolate(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
    ledger: &mut GroupLedger<'_>,
    originals: &mut Vec<OriginalGroups>,
) -> Result<String, AwsError> {
    let instance = describe(ec2, instance_id).await?;
    let first = originals.len();
    let mut moved = 0;
    let mut notes = Vec::new();
    for eni in instance.network_interfaces() {
        let (Some(eni_id), Some(vpc)) = (eni.network_interface_id(), eni.vpc_id()) else {
            continue;
        };
        let current: Vec<String> = eni
            .groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(str::to_string)
            .collect();
        let groups = ledger.groups(ec2, vpc).await?;
        let isolation = groups.isolation_group.clone();
        let pass = groups.pass_through_group.clone();
        let before = |done: &[OriginalGroups]| {
            let n = done.len() - first;
            if n == 0 {
                String::new()
            } else {
                format!(" ({n} interface(s) isolated before this one)")
            }
        };
        checked_isolation(ec2, &groups).await.map_err(|e| {
            refused(format!(
                "{}; {eni_id} left in its groups {current:?}{}",
                e.message,
                before(originals)
            ))
        })?;
        if current == [isolation.clone()] {
            continue;
        }
        // In the pass-through group already: an earlier attempt stopped half-way, and the
        // groups it had before are not known here (that attempt's outcome has them).
        let interrupted = current.iter().all(|g| *g == pass || *g == isolation);
        if !interrupted {
            let group = describe_group(ec2, &pass).await?;
            if let Some(why) = pass_through_problem(&group, vpc) {
                return Err(refused(format!(
                    "{why}; {eni_id} left in its groups {current:?}{}",
                    before(originals)
                )));
            }
        }
        let original = if interrupted {
            Vec::new()
        } else {
            current.clone()
        };
        originals.push(OriginalGroups {
            network_interface_id: eni_id.to_string(),
            groups: original.clone(),
            isolation_group: isolation.clone(),
            pass_through_group: pass.clone(),
        });
        let step = if interrupted {
            notes.push(format!(
                "{eni_id} was found in Firebreak's groups {current:?}, left by an attempt that \
                 did not finish; its groups before are in that attempt's outcome"
            ));
            Ok(())
        } else {
            set_groups(ec2, eni_id, std::slice::from_ref(&pass)).await
        };
        let step = match step {
            Ok(()) => through(ec2, eni_id, &groups).await,
            Err(e) => Err(e),
        };
        let Err(e) = step else {
            moved += 1;
            continue;
        };
        match settle(ec2, eni_id, &original, &groups, &e).await {
            Settled::Isolated(note) => {
                notes.push(note);
                moved += 1;
            }
            Settled::Restored(message) => {
                originals.pop();
                return Err(AwsError::new(
                    &e.code,
                    format!("{message}{}", before(originals)),
                ));
            }
            Settled::Stuck(message) => {
                return Err(AwsError::new(
                    &e.code,
                    format!("{message}{}", before(&originals[..originals.len() - 1])),
                ));
            }
        }
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };
    Ok(if moved == 0 {
        format!("already isolated{notes}")
    } else {
        let isolation: Vec<&str> = originals[first..]
            .iter()
            .map(|o| o.isolation_group.as_str())
            .collect();
        format!(
            "{moved} interface(s) moved to isolation group(s) {isolation:?} Firebreak created \
             for this incident (read back with no rule at all); original groups {}{notes}",
            serde_json::to_string(
                &originals[first..]
                    .iter()
                    .map(|o| json!({"network_interface_id": o.network_interface_id, "groups": o.groups}))
                    .collect::<Vec<_>>()
            )
            .unwrap_or_default()
        )
    })
}

/// From the pass-through group into the isolation group, with the isolation group read before
/// the move (it must still have no rule) and after it (it must still have none).
async fn through(
    ec2: &aws_sdk_ec2::Client,
    eni: &str,
    groups: &IsolationGroups,
) -> Result<(), AwsError> {
    checked_isolation(ec2, groups).await?;
    set_groups(ec2, eni, std::slice::from_ref(&groups.isolation_group)).await?;
    checked_isolation(ec2, groups).await
}

/// Where an ENI ended after a failure once it may have left its original groups.
enum Settled {
    /// In the isolation group after all; what happened.
    Isolated(String),
    /// Back in its original groups; the whole story.
    Restored(String),
    /// Neither could be confirmed; the whole story.
    Stuck(String),
}

/// Takes an ENI that may be in the pass-through group out of it: on into the isolation group
/// when that group still has no rule and the move sticks, else back into `original`.
async fn settle(
    ec2: &aws_sdk_ec2::Client,
    eni: &str,
    original: &[String],
    groups: &IsolationGroups,
    cause: &AwsError,
) -> Settled {
    let isolation = &groups.isolation_group;
    let retry = if cause.code == REFUSED {
        Err(cause.clone())
    } else {
        through(ec2, eni, groups).await
    };
    let retry_error = match retry {
        Ok(()) => {
            return Settled::Isolated(format!(
                "{eni} moved into isolation group {isolation} on a second attempt, after: {cause}"
            ));
        }
        Err(e) => e,
    };
    let why = if retry_error == *cause {
        cause.to_string()
    } else {
        format!("{cause}; then {retry_error}")
    };
    if original.is_empty() {
        return Settled::Stuck(format!(
            "not isolated: {why}; {eni} may still be in pass-through group {} and its groups \
             before are not known here: move it by hand",
            groups.pass_through_group
        ));
    }
    match set_groups(ec2, eni, original).await {
        Ok(()) => Settled::Restored(format!(
            "not isolated: {why}; {eni} restored to its original groups {original:?}, never left \
             in pass-through group {}",
            groups.pass_through_group
        )),
        Err(e) => Settled::Stuck(format!(
            "not isolated: {why}; restoring {eni} to its original groups {original:?} failed too \
             ({e}): it may still be in pass-through group {}; `firebreak release` or a move by \
             hand puts it back",
            groups.pass_through_group
        )),
    }
}

/// Puts each recorded ENI of the instance back into its original groups, but only an ENI that
/// is still in Firebreak's isolation (or pass-through) group: a group a human chose since is
/// left as it is. Nothing else about the instance changes.
pub async fn restore_groups(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
    interfaces: &[OriginalGroups],
) -> Result<Undone, AwsError> {
    let instance = describe(ec2, instance_id).await?;
    let mut restored = Vec::new();
    let mut left = Vec::new();
    for original in interfaces {
        let eni = &original.network_interface_id;
        let current = instance
            .network_interfaces()
            .iter()
            .find(|n| n.network_interface_id() == Some(eni.as_str()));
        let Some(current) = current else {
            left.push(format!("{eni} (no longer attached)"));
            continue;
        };
        let ours = !current.groups().is_empty()
            && current.groups().iter().all(|g| {
                if original.isolation_group.is_empty() {
                    // Recorded before Firebreak kept its groups' ids: known by name only.
                    matches!(g.group_name(), Some(ISOLATION_GROUP | PASS_THROUGH_GROUP))
                } else {
                    let id = g.group_id().unwrap_or_default();
                    id == original.isolation_group || id == original.pass_through_group
                }
            });
        if !ours {
            left.push(format!("{eni} (not in {ISOLATION_GROUP} any more)"));
            continue;
        }
        if original.groups.is_empty() {
            left.push(format!("{eni} (no original group recorded)"));
            continue;
        }
        ec2.modify_network_interface_attribute()
            .network_interface_id(eni)
            .set_groups(Some(original.groups.clone()))
            .send()
            .await
            .aws()?;
        restored.push(format!("{eni} → {}", original.groups.join(",")));
    }
    let left = if left.is_empty() {
        String::new()
    } else {
        format!("; left as they are: {}", left.join(", "))
    };
    Ok(if restored.is_empty() {
        Undone::Unchanged(format!("no interface moved{left}"))
    } else {
        Undone::Changed(format!(
            "back in their groups: {}{left}",
            restored.join("; ")
        ))
    })
}

/// Creates one of an incident's two groups in `vpc` and returns its id: the isolation group
/// with every rule AWS adds by default revoked, or the pass-through group with allow-all
/// inbound added to AWS's default allow-all outbound. The name says what it is, for humans.
async fn create_group(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    allow_all: bool,
    incident: &IncidentId,
    suffix: &str,
) -> Result<String, AwsError> {
    let (name, description) = if allow_all {
        (
            format!("{PASS_THROUGH_GROUP}-{suffix}"),
            format!(
                "Firebreak {incident}: allow-all pass-through, so tracked connections are cut by the isolation group"
            ),
        )
    } else {
        (
            format!("{ISOLATION_GROUP}-{suffix}"),
            format!("Firebreak {incident}: isolation, no inbound or outbound rule"),
        )
    };
    let created = ec2
        .create_security_group()
        .group_name(name)
        .description(description)
        .vpc_id(vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(
                    Tag::builder()
                        .key("firebreak:created-for")
                        .value(incident.as_str())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .aws()?;
    let id = created
        .group_id()
        .ok_or_else(|| {
            AwsError::new(
                "InvalidResponse",
                "CreateSecurityGroup returned no group id",
            )
        })?
        .to_string();
    if allow_all {
        let everything = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        ec2.authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(everything)
            .send()
            .await
            .aws()?;
    } else {
        // A new group allows all egress by default (IPv6 too in a dual-stack VPC): revoke
        // exactly what it has, so the isolation group allows nothing.
        let group = describe_group(ec2, &id).await?;
        let egress = group.ip_permissions_egress().to_vec();
        if !egress.is_empty() {
            ec2.revoke_security_group_egress()
                .group_id(&id)
                .set_ip_permissions(Some(egress))
                .send()
                .await
                .aws()?;
        }
    }
    Ok(id)
}
