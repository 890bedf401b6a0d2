//! EC2 calls: describe the instance, keep it as evidence (termination protection), snapshot
//! it, tag it. Isolation, which also keeps records in the evidence store, is
//! `effect::isolation`. Nothing here stops or terminates anything.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, EbsInstanceBlockDeviceSpecification, Filter, Instance,
    InstanceBlockDeviceMappingSpecification, ResourceType, Tag, TagSpecification,
};
use serde_json::json;

use firebreak_core::action::plan::{Ingress, QUARANTINE_TAG, Shared};

use crate::sdk::error::Undone;
use crate::sdk::error::{AwsError, SdkResultExt};

/// Name (before a suffix of its own) of an incident's group with no rules at all: the isolation
/// itself. A name is information for humans only: Firebreak knows its groups by recorded id.
pub const ISOLATION_GROUP: &str = "firebreak-isolation";
/// Name (before a suffix) of an incident's allow-all group ENIs pass through first, so tracked
/// connections become untracked and are cut when the no-rule group takes over.
pub const PASS_THROUGH_GROUP: &str = "firebreak-isolation-pass-through";

/// Reads one instance.
pub async fn describe(ec2: &aws_sdk_ec2::Client, instance_id: &str) -> Result<Instance, AwsError> {
    let out = ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .aws()?;
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(instance_id))
        .cloned()
        .ok_or_else(|| {
            AwsError::new(
                "InvalidInstanceID.NotFound",
                format!("instance {instance_id} not found"),
            )
        })
}

/// Volume ids attached to an instance.
pub fn volume_ids(instance: &Instance) -> Vec<String> {
    instance
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.volume_id()))
        .map(str::to_string)
        .collect()
}

/// Termination protection on, shutdown behaviour `stop`, every volume kept on termination.
pub async fn protect(ec2: &aws_sdk_ec2::Client, instance: &Instance) -> Result<String, AwsError> {
    let instance_id = instance.instance_id().unwrap_or_default();
    ec2.modify_instance_attribute()
        .instance_id(instance_id)
        .disable_api_termination(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .aws()?;
    ec2.modify_instance_attribute()
        .instance_id(instance_id)
        .instance_initiated_shutdown_behavior(AttributeValue::builder().value("stop").build())
        .send()
        .await
        .aws()?;
    let devices: Vec<InstanceBlockDeviceMappingSpecification> = instance
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.device_name())
        .map(|device| {
            InstanceBlockDeviceMappingSpecification::builder()
                .device_name(device)
                .ebs(
                    EbsInstanceBlockDeviceSpecification::builder()
                        .delete_on_termination(false)
                        .build(),
                )
                .build()
        })
        .collect();
    let kept = devices.len();
    if !devices.is_empty() {
        ec2.modify_instance_attribute()
            .instance_id(instance_id)
            .set_block_device_mappings(Some(devices))
            .send()
            .await
            .aws()?;
    }
    Ok(format!(
        "termination protection on, shutdown stops, {kept} volume(s) kept on termination"
    ))
}

/// One snapshot per attached volume, tagged with the incident; volumes already snapshotted for
/// this incident are not snapshotted again.
pub async fn snapshot_volumes(
    ec2: &aws_sdk_ec2::Client,
    instance: &Instance,
    incident: &str,
) -> Result<(String, Vec<String>), AwsError> {
    let instance_id = instance.instance_id().unwrap_or_default();
    let tag_value = format!("quarantine:{incident}");
    let existing = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name(format!("tag:{QUARANTINE_TAG}"))
                .values(&tag_value)
                .build(),
        )
        .send()
        .await
        .aws()?;
    let done: Vec<&str> = existing
        .snapshots()
        .iter()
        .filter_map(|s| s.volume_id())
        .collect();
    let mut created = Vec::new();
    let mut kept = 0;
    for volume in volume_ids(instance) {
        if done.contains(&volume.as_str()) {
            kept += 1;
            continue;
        }
        let snapshot = ec2
            .create_snapshot()
            .volume_id(&volume)
            .description(format!(
                "Firebreak evidence for {incident}: {volume} of {instance_id}"
            ))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Snapshot)
                    .tags(Tag::builder().key(QUARANTINE_TAG).value(&tag_value).build())
                    .tags(
                        Tag::builder()
                            .key("firebreak:instance")
                            .value(instance_id)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .aws()?;
        created.push(snapshot.snapshot_id().unwrap_or_default().to_string());
    }
    let detail = format!(
        "{} snapshot(s) created {:?}, {kept} already taken for this incident",
        created.len(),
        created
    );
    Ok((detail, created))
}
/// Removes the quarantine tag from those of `resources` (an instance and its volumes) where its
/// value is `value`; a tag of another incident, or none, is left alone.
pub async fn untag(
    ec2: &aws_sdk_ec2::Client,
    resources: &[String],
    value: &str,
) -> Result<Undone, AwsError> {
    let tags = ec2
        .describe_tags()
        .filters(
            Filter::builder()
                .name("resource-id")
                .set_values(Some(resources.to_vec()))
                .build(),
        )
        .filters(Filter::builder().name("key").values(QUARANTINE_TAG).build())
        .send()
        .await
        .aws()?;
    let ours: Vec<String> = tags
        .tags()
        .iter()
        .filter(|t| t.value() == Some(value))
        .filter_map(|t| t.resource_id())
        .map(str::to_string)
        .collect();
    if ours.is_empty() {
        return Ok(Undone::Unchanged(format!(
            "none of {resources:?} is tagged {QUARANTINE_TAG}={value} any more"
        )));
    }
    {
        ec2.delete_tags()
            .set_resources(Some(ours.clone()))
            .tags(Tag::builder().key(QUARANTINE_TAG).value(value).build())
            .send()
            .await
            .aws()?;
    }
    Ok(Undone::Changed(format!(
        "{QUARANTINE_TAG}={value} removed from {} of {} resource(s) {ours:?}",
        ours.len(),
        resources.len()
    )))
}

/// Tags the instance and its volumes.
pub async fn tag_instance(
    ec2: &aws_sdk_ec2::Client,
    instance: &Instance,
    value: &str,
) -> Result<String, AwsError> {
    let instance_id = instance.instance_id().unwrap_or_default();
    let mut resources = vec![instance_id.to_string()];
    resources.extend(volume_ids(instance));
    let n = resources.len();
    ec2.create_tags()
        .set_resources(Some(resources))
        .tags(Tag::builder().key(QUARANTINE_TAG).value(value).build())
        .send()
        .await
        .aws()?;
    Ok(format!(
        "{QUARANTINE_TAG}={value} on the instance and {} volume(s)",
        n - 1
    ))
}

/// The instance's state, as evidence.
pub fn instance_state(instance: &Instance) -> serde_json::Value {
    json!({
        "type": "ec2_instance",
        "instance_id": instance.instance_id(),
        "state": instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
        "image_id": instance.image_id(),
        "instance_type": instance.instance_type().map(|t| t.as_str()),
        "launch_time": instance.launch_time().map(|t| t.to_string()),
        "vpc_id": instance.vpc_id(),
        "subnet_id": instance.subnet_id(),
        "private_ip": instance.private_ip_address(),
        "public_ip": instance.public_ip_address(),
        "instance_profile": instance.iam_instance_profile().and_then(|p| p.arn()),
        "security_groups": instance.security_groups().iter().map(|g| g.group_id()).collect::<Vec<_>>(),
        "network_interfaces": instance.network_interfaces().iter().map(|n| json!({
            "id": n.network_interface_id(),
            "groups": n.groups().iter().map(|g| g.group_id()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "volumes": volume_ids(instance),
        "tags": instance.tags().iter().map(|t| json!({"key": t.key(), "value": t.value()})).collect::<Vec<_>>(),
    })
}

/// One ingress permission as the EC2 API takes it.
pub fn ip_permission(rule: &Ingress) -> aws_sdk_ec2::types::IpPermission {
    let mut p = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .set_from_port(rule.from_port)
        .set_to_port(rule.to_port);
    p = if rule.cidr.contains(':') {
        p.ipv6_ranges(
            aws_sdk_ec2::types::Ipv6Range::builder()
                .cidr_ipv6(&rule.cidr)
                .build(),
        )
    } else {
        p.ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip(&rule.cidr)
                .build(),
        )
    };
    p.build()
}

/// Revokes each of `rules` from the group, one at a time so a permission already gone does not
/// keep the others: the ones revoked, and the ones the group no longer had.
pub async fn revoke_ingress(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
    rules: &[Ingress],
) -> Result<(Vec<Ingress>, Vec<Ingress>), AwsError> {
    let (mut revoked, mut absent) = (Vec::new(), Vec::new());
    for rule in rules {
        let result = ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(ip_permission(rule))
            .send()
            .await
            .aws();
        match result {
            Ok(out) if !out.unknown_ip_permissions().is_empty() => absent.push(rule.clone()),
            Ok(out) if out.r#return() == Some(false) => absent.push(rule.clone()),
            Ok(_) => revoked.push(rule.clone()),
            Err(e) if e.code == "InvalidPermission.NotFound" => absent.push(rule.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok((revoked, absent))
}

/// Authorizes `rules` on the group again (a release): each that is there already is left.
pub async fn authorize_ingress(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
    rules: &[Ingress],
) -> Result<Undone, AwsError> {
    let mut added = 0;
    for rule in rules {
        match ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(ip_permission(rule))
            .send()
            .await
            .aws()
        {
            Ok(_) => added += 1,
            Err(e) if e.code == "InvalidPermission.Duplicate" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(if added == 0 {
        Undone::Unchanged(format!("{group_id} already had every permission"))
    } else {
        Undone::Changed(format!(
            "{added} ingress permission(s) authorized on {group_id} again"
        ))
    })
}

/// Who an image or snapshot is shared with now: (account ids, public).
pub async fn shares(
    ec2: &aws_sdk_ec2::Client,
    resource: &Shared,
) -> Result<(Vec<String>, bool), AwsError> {
    let (mut accounts, mut public) = (Vec::new(), false);
    let mut note = |user: Option<&str>, group: Option<&str>| {
        if let Some(u) = user {
            accounts.push(u.to_string());
        }
        if group == Some("all") {
            public = true;
        }
    };
    match resource {
        Shared::Image(id) => {
            let out = ec2
                .describe_image_attribute()
                .image_id(id)
                .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
                .send()
                .await
                .aws()?;
            for p in out.launch_permissions() {
                note(p.user_id(), p.group().map(|g| g.as_str()));
            }
        }
        Shared::Snapshot(id) => {
            let out = ec2
                .describe_snapshot_attribute()
                .snapshot_id(id)
                .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
                .send()
                .await
                .aws()?;
            for p in out.create_volume_permissions() {
                note(p.user_id(), p.group().map(|g| g.as_str()));
            }
        }
        Shared::DbSnapshot(_) | Shared::DbClusterSnapshot(_) => {
            return Err(AwsError::new(
                "NotAnEc2Resource",
                format!("{} is not an image or EBS snapshot", resource.id()),
            ));
        }
    }
    Ok((accounts, public))
}

/// Adds (`add`) or removes shares of an image or snapshot.
pub async fn modify_shares(
    ec2: &aws_sdk_ec2::Client,
    resource: &Shared,
    accounts: &[String],
    public: bool,
    add: bool,
) -> Result<(), AwsError> {
    match resource {
        Shared::Image(id) => {
            let mut list: Vec<aws_sdk_ec2::types::LaunchPermission> = accounts
                .iter()
                .map(|a| {
                    aws_sdk_ec2::types::LaunchPermission::builder()
                        .user_id(a)
                        .build()
                })
                .collect();
            if public {
                list.push(
                    aws_sdk_ec2::types::LaunchPermission::builder()
                        .group(aws_sdk_ec2::types::PermissionGroup::All)
                        .build(),
                );
            }
            let change = aws_sdk_ec2::types::LaunchPermissionModifications::builder();
            let change = if add {
                change.set_add(Some(list))
            } else {
                change.set_remove(Some(list))
            };
            ec2.modify_image_attribute()
                .image_id(id)
                .launch_permission(change.build())
                .send()
                .await
                .aws()?;
        }
        Shared::Snapshot(id) => {
            let mut call = ec2
                .modify_snapshot_attribute()
                .snapshot_id(id)
                .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
                .operation_type(if add {
                    aws_sdk_ec2::types::OperationType::Add
                } else {
                    aws_sdk_ec2::types::OperationType::Remove
                })
                .set_user_ids((!accounts.is_empty()).then(|| accounts.to_vec()));
            if public {
                call = call.group_names("all");
            }
            call.send().await.aws()?;
        }
        Shared::DbSnapshot(_) | Shared::DbClusterSnapshot(_) => {
            return Err(AwsError::new(
                "NotAnEc2Resource",
                format!("{} is not an image or EBS snapshot", resource.id()),
            ));
        }
    }
    Ok(())
}

/// A security group's ingress as evidence of the state before a change.
pub async fn security_group_state(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
) -> Result<serde_json::Value, AwsError> {
    let out = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .aws()?;
    let group = out
        .security_groups()
        .first()
        .ok_or_else(|| AwsError::new("InvalidGroup.NotFound", format!("no group {group_id}")))?;
    let ingress: Vec<serde_json::Value> = group
        .ip_permissions()
        .iter()
        .map(|p| {
            json!({
                "protocol": p.ip_protocol(),
                "from_port": p.from_port(),
                "to_port": p.to_port(),
                "ipv4": p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect::<Vec<_>>(),
                "ipv6": p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()).collect::<Vec<_>>(),
                "groups": p.user_id_group_pairs().iter().filter_map(|g| g.group_id()).collect::<Vec<_>>(),
                "prefix_lists": p.prefix_list_ids().iter().filter_map(|g| g.prefix_list_id()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "security_group": group_id,
        "name": group.group_name(),
        "vpc": group.vpc_id(),
        "ingress": ingress,
    }))
}

/// Who an image or snapshot is shared with, as evidence.
pub async fn share_state(
    ec2: &aws_sdk_ec2::Client,
    resource: &Shared,
) -> Result<serde_json::Value, AwsError> {
    let (accounts, public) = shares(ec2, resource).await?;
    Ok(json!({"resource": resource.id(), "shared_with": accounts, "public": public}))
}

/// The regions the account has enabled (opted in, or on by default).
pub async fn enabled_regions(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, AwsError> {
    let out = ec2.describe_regions().send().await.aws()?;
    let mut regions: Vec<String> = out
        .regions()
        .iter()
        .filter(|r| r.opt_in_status() != Some("not-opted-in"))
        .filter_map(|r| r.region_name().map(str::to_string))
        .collect();
    regions.sort();
    Ok(regions)
}

/// The instance's current instance-profile association: its id and the profile's ARN.
pub async fn profile_association(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
) -> Result<Option<(String, String)>, AwsError> {
    let out = ec2
        .describe_iam_instance_profile_associations()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-id")
                .values(instance_id)
                .build(),
        )
        .send()
        .await
        .aws()?;
    Ok(out
        .iam_instance_profile_associations()
        .iter()
        .filter(|a| a.instance_id() == Some(instance_id))
        .filter(|a| {
            a.state().is_none_or(|s| {
                matches!(
                    s,
                    aws_sdk_ec2::types::IamInstanceProfileAssociationState::Associated
                        | aws_sdk_ec2::types::IamInstanceProfileAssociationState::Associating
                )
            })
        })
        .find_map(|a| {
            Some((
                a.association_id()?.to_string(),
                a.iam_instance_profile()?.arn()?.to_string(),
            ))
        }))
}

/// Replaces the profile of association `association_id` with the profile `arn`.
pub async fn replace_profile(
    ec2: &aws_sdk_ec2::Client,
    association_id: &str,
    arn: &str,
) -> Result<(), AwsError> {
    ec2.replace_iam_instance_profile_association()
        .association_id(association_id)
        .iam_instance_profile(
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .arn(arn)
                .build(),
        )
        .send()
        .await
        .aws()?;
    Ok(())
}

/// Release: gives the instance `original` again where it still has `quarantine`; a profile
/// someone set or removed since is left.
pub async fn restore_profile(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
    original: &str,
    quarantine: &str,
) -> Result<Undone, AwsError> {
    match profile_association(ec2, instance_id).await? {
        Some((_, now)) if now == original => Ok(Undone::Unchanged(format!(
            "{instance_id} already has {original}"
        ))),
        Some((association, now)) if now == quarantine => {
            replace_profile(ec2, &association, original).await?;
            Ok(Undone::Changed(format!(
                "{instance_id} has its instance profile {original} again"
            )))
        }
        Some((_, now)) => Ok(Undone::Unchanged(format!(
            "{instance_id} has instance profile {} now, set since: left",
            firebreak_core::action::names::printable_line(&now)
        ))),
        None => Ok(Undone::Unchanged(format!(
            "{instance_id} has no instance profile now, removed since: {original} is not \
             associated again"
        ))),
    }
}

/// One snapshot of this account, as the forensic hand-over judges it; `None` when there is no
/// such snapshot of this account.
pub async fn snapshot_facts(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
) -> Result<Option<firebreak_core::lifecycle::forensic::SnapshotFacts>, AwsError> {
    let out = ec2
        .describe_snapshots()
        .owner_ids("self")
        .snapshot_ids(snapshot_id)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            let e = AwsError::from_sdk(e);
            return if e.code == "InvalidSnapshot.NotFound" {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    Ok(out
        .snapshots()
        .iter()
        .find(|s| s.snapshot_id() == Some(snapshot_id))
        .map(|s| firebreak_core::lifecycle::forensic::SnapshotFacts {
            id: snapshot_id.to_string(),
            state: s
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            encrypted: s.encrypted().unwrap_or(false),
            kms_key_id: s.kms_key_id().map(str::to_string),
            tags: s
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
        }))
}

/// Lets `account` create volumes from `snapshot_id` (adding it; every other permission stays).
pub async fn share_snapshot(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
    account: &str,
) -> Result<(), AwsError> {
    ec2.modify_snapshot_attribute()
        .snapshot_id(snapshot_id)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .operation_type(aws_sdk_ec2::types::OperationType::Add)
        .user_ids(account)
        .send()
        .await
        .aws()?;
    Ok(())
}

/// Copies `snapshot` (in `region`) encrypted under `kms_key`, with the snapshot's quarantine and
/// instance tags and the one naming what it is a copy of; the copy's id.
pub async fn copy_snapshot(
    ec2: &aws_sdk_ec2::Client,
    snapshot: &firebreak_core::lifecycle::forensic::SnapshotFacts,
    region: &str,
    kms_key: &str,
) -> Result<String, AwsError> {
    use firebreak_core::lifecycle::forensic::{COPY_OF_TAG, INSTANCE_TAG};
    let mut tags = TagSpecification::builder()
        .resource_type(ResourceType::Snapshot)
        .tags(Tag::builder().key(COPY_OF_TAG).value(&snapshot.id).build());
    for key in [QUARANTINE_TAG, INSTANCE_TAG] {
        if let Some(value) = snapshot.tag(key) {
            tags = tags.tags(Tag::builder().key(key).value(value).build());
        }
    }
    let out = ec2
        .copy_snapshot()
        .source_snapshot_id(&snapshot.id)
        .source_region(region)
        .encrypted(true)
        .kms_key_id(kms_key)
        .description(format!("Firebreak forensic copy of {}", snapshot.id))
        .tag_specifications(tags.build())
        .send()
        .await
        .aws()?;
    out.snapshot_id()
        .map(str::to_string)
        .ok_or_else(|| AwsError::new("InvalidResponse", "CopySnapshot returned no snapshot id"))
}

/// The snapshots of this account tagged as copies of `snapshot_id` (by anyone: the caller
/// trusts only those it marked).
pub async fn copies_of(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
) -> Result<Vec<String>, AwsError> {
    let out = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name(format!(
                    "tag:{}",
                    firebreak_core::lifecycle::forensic::COPY_OF_TAG
                ))
                .values(snapshot_id)
                .build(),
        )
        .send()
        .await
        .aws()?;
    Ok(out
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect())
}
