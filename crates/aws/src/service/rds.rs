//! RDS calls: the `restore` attribute of a database (cluster) snapshot an attacker shared,
//! read, narrowed and put back by a release.

use firebreak_core::action::plan::Shared;

use crate::sdk::error::{AwsError, SdkResultExt};

/// Who may restore the snapshot now: (account ids, public).
pub async fn shares(
    rds: &aws_sdk_rds::Client,
    resource: &Shared,
) -> Result<(Vec<String>, bool), AwsError> {
    let values: Vec<String> = match resource {
        Shared::DbSnapshot(id) => rds
            .describe_db_snapshot_attributes()
            .db_snapshot_identifier(id)
            .send()
            .await
            .aws()?
            .db_snapshot_attributes_result()
            .map(|r| {
                r.db_snapshot_attributes()
                    .iter()
                    .filter(|a| a.attribute_name() == Some("restore"))
                    .flat_map(|a| a.attribute_values().to_vec())
                    .collect()
            })
            .unwrap_or_default(),
        Shared::DbClusterSnapshot(id) => rds
            .describe_db_cluster_snapshot_attributes()
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
            .aws()?
            .db_cluster_snapshot_attributes_result()
            .map(|r| {
                r.db_cluster_snapshot_attributes()
                    .iter()
                    .filter(|a| a.attribute_name() == Some("restore"))
                    .flat_map(|a| a.attribute_values().to_vec())
                    .collect()
            })
            .unwrap_or_default(),
        Shared::Image(_) | Shared::Snapshot(_) => {
            return Err(AwsError::new(
                "NotADatabaseSnapshot",
                format!("{} is not a database snapshot", resource.id()),
            ));
        }
    };
    let public = values.iter().any(|v| v.eq_ignore_ascii_case("all"));
    let accounts = values
        .into_iter()
        .filter(|v| !v.eq_ignore_ascii_case("all"))
        .collect();
    Ok((accounts, public))
}

/// Adds (`add`) or removes restore permissions of a database (cluster) snapshot.
pub async fn modify_shares(
    rds: &aws_sdk_rds::Client,
    resource: &Shared,
    accounts: &[String],
    public: bool,
    add: bool,
) -> Result<(), AwsError> {
    let mut values = accounts.to_vec();
    if public {
        values.push("all".into());
    }
    let values = Some(values);
    match resource {
        Shared::DbSnapshot(id) => {
            let call = rds
                .modify_db_snapshot_attribute()
                .db_snapshot_identifier(id)
                .attribute_name("restore");
            let call = if add {
                call.set_values_to_add(values)
            } else {
                call.set_values_to_remove(values)
            };
            call.send().await.aws()?;
        }
        Shared::DbClusterSnapshot(id) => {
            let call = rds
                .modify_db_cluster_snapshot_attribute()
                .db_cluster_snapshot_identifier(id)
                .attribute_name("restore");
            let call = if add {
                call.set_values_to_add(values)
            } else {
                call.set_values_to_remove(values)
            };
            call.send().await.aws()?;
        }
        Shared::Image(_) | Shared::Snapshot(_) => {
            return Err(AwsError::new(
                "NotADatabaseSnapshot",
                format!("{} is not a database snapshot", resource.id()),
            ));
        }
    }
    Ok(())
}

/// Who may restore the snapshot, as evidence.
pub async fn share_state(
    rds: &aws_sdk_rds::Client,
    resource: &Shared,
) -> Result<serde_json::Value, AwsError> {
    let (accounts, public) = shares(rds, resource).await?;
    Ok(serde_json::json!({"resource": resource.id(), "restorable_by": accounts, "public": public}))
}
