//! S3 effectors on an exposed bucket: block public access, tag (merged, never replaced).

use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};
use firebreak_core::record::release::{OriginalBlock, PublicAccessBlock};
use serde_json::json;

use firebreak_core::action::plan::QUARANTINE_TAG;

use crate::sdk::error::Undone;
use crate::sdk::error::{AwsError, SdkResultExt};

/// All four Block Public Access flags on the bucket.
pub async fn block_public_access(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<String, AwsError> {
    put_public_access_block(s3, bucket, PublicAccessBlock::ALL).await?;
    Ok("BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets on".into())
}

async fn put_public_access_block(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    flags: PublicAccessBlock,
) -> Result<(), AwsError> {
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(flags.block_public_acls)
                .ignore_public_acls(flags.ignore_public_acls)
                .block_public_policy(flags.block_public_policy)
                .restrict_public_buckets(flags.restrict_public_buckets)
                .build(),
        )
        .send()
        .await
        .aws()?;
    Ok(())
}

/// The bucket's Block Public Access flags; `None` when it has no configuration.
pub async fn public_access_block(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Option<PublicAccessBlock>, AwsError> {
    match s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .aws()
    {
        Ok(out) => Ok(out
            .public_access_block_configuration()
            .map(|c| PublicAccessBlock {
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the bucket had before Firebreak blocks it, as a release will put it back.
pub async fn original_block(s3: &aws_sdk_s3::Client, bucket: &str) -> OriginalBlock {
    match public_access_block(s3, bucket).await {
        Ok(None) => OriginalBlock::Absent,
        Ok(Some(config)) => OriginalBlock::Set { config },
        Err(e) => OriginalBlock::Unknown { why: e.to_string() },
    }
}

/// Puts back the configuration the bucket had before Firebreak blocked it, but only while it
/// still has every flag on (what Firebreak set): a configuration a human chose since is kept.
pub async fn restore_public_access_block(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    original: &OriginalBlock,
) -> Result<Undone, AwsError> {
    let current = public_access_block(s3, bucket).await?;
    if !current.is_some_and(|c| c.blocks_all()) {
        return Ok(Undone::Unchanged(format!(
            "{bucket}'s Block Public Access is no longer what Firebreak set ({current:?}): left"
        )));
    }
    match original {
        OriginalBlock::Absent => {
            s3.delete_public_access_block()
                .bucket(bucket)
                .send()
                .await
                .aws()?;
            Ok(Undone::Changed(
                "Block Public Access configuration deleted: the bucket had none before".into(),
            ))
        }
        OriginalBlock::Set { config } => {
            put_public_access_block(s3, bucket, *config).await?;
            Ok(Undone::Changed(format!(
                "Block Public Access flags put back to {config:?}"
            )))
        }
        OriginalBlock::Unknown { why } => Ok(Undone::Unchanged(format!(
            "left blocked: the configuration before could not be read ({why})"
        ))),
    }
}

/// The bucket's tags (none when it has no tag set).
async fn bucket_tags(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<Tag>, AwsError> {
    match s3.get_bucket_tagging().bucket(bucket).send().await.aws() {
        Ok(out) => Ok(out.tag_set().to_vec()),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Removes the quarantine tag from the bucket where its value is `value`, keeping every other
/// tag.
pub async fn untag_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    value: &str,
) -> Result<Undone, AwsError> {
    let mut tags = bucket_tags(s3, bucket).await?;
    let current = tags
        .iter()
        .find(|t| t.key() == QUARANTINE_TAG)
        .map(|t| t.value().to_string());
    if current.as_deref() != Some(value) {
        return Ok(Undone::not_ours(
            current.as_deref(),
            &format!("bucket {bucket}"),
        ));
    }
    tags.retain(|t| t.key() != QUARANTINE_TAG);
    let kept = tags.len();
    if tags.is_empty() {
        s3.delete_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
            .aws()?;
    } else {
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .map_err(|e| AwsError::new("InvalidInput", e.to_string()))?;
        s3.put_bucket_tagging()
            .bucket(bucket)
            .tagging(tagging)
            .send()
            .await
            .aws()?;
    }
    Ok(Undone::Changed(format!(
        "{QUARANTINE_TAG}={value} removed from bucket {bucket}, {kept} other tag(s) kept"
    )))
}

/// Adds the quarantine tag to the bucket's tags, keeping every other tag.
pub async fn tag_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    value: &str,
) -> Result<String, AwsError> {
    let mut tags = bucket_tags(s3, bucket).await?;
    let kept = tags.iter().filter(|t| t.key() != QUARANTINE_TAG).count();
    tags.retain(|t| t.key() != QUARANTINE_TAG);
    tags.push(
        Tag::builder()
            .key(QUARANTINE_TAG)
            .value(value)
            .build()
            .map_err(|e| AwsError::new("InvalidInput", e.to_string()))?,
    );
    let tagging = Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(|e| AwsError::new("InvalidInput", e.to_string()))?;
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging)
        .send()
        .await
        .aws()?;
    Ok(format!(
        "{QUARANTINE_TAG}={value}, {kept} other tag(s) kept"
    ))
}

/// The bucket's exposure, as evidence.
pub async fn bucket_state(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<serde_json::Value, AwsError> {
    let block = match s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .aws()
    {
        Ok(out) => out.public_access_block_configuration().map(|c| {
            json!({
                "block_public_acls": c.block_public_acls(),
                "ignore_public_acls": c.ignore_public_acls(),
                "block_public_policy": c.block_public_policy(),
                "restrict_public_buckets": c.restrict_public_buckets(),
            })
        }),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let policy = match s3.get_bucket_policy().bucket(bucket).send().await.aws() {
        Ok(out) => out.policy().map(str::to_string),
        Err(e) if e.is_not_found() || e.code == "NoSuchBucketPolicy" => None,
        Err(e) => return Err(e),
    };
    Ok(
        json!({"type": "s3_bucket", "bucket": bucket, "public_access_block": block, "policy": policy}),
    )
}
