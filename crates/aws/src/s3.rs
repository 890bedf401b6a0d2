//! S3 effectors on an exposed bucket: block public access, tag (merged, never replaced).

use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};
use serde_json::json;

use crate::error::{AwsError, SdkResultExt};
use crate::iam::QUARANTINE_TAG;

/// All four Block Public Access flags on the bucket.
pub async fn block_public_access(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<String, AwsError> {
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .aws()?;
    Ok("BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets on".into())
}

/// Adds the quarantine tag to the bucket's tags, keeping every other tag.
pub async fn tag_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    value: &str,
) -> Result<String, AwsError> {
    let mut tags: Vec<Tag> = match s3.get_bucket_tagging().bucket(bucket).send().await.aws() {
        Ok(out) => out.tag_set().to_vec(),
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e),
    };
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
