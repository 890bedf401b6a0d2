//! CloudTrail's log files in S3: listed by the trail's own layout
//! (`<prefix>/AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/`), only the
//! accounts, regions and delivery days asked for, and read one object at a time.

use chrono::{Days, NaiveDate};

use crate::sdk::error::{AwsError, SdkResultExt};

/// Where a trail writes: `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The bucket.
    pub bucket: String,
    /// The trail's key prefix (the folder above `AWSLogs/`), without slashes at either end.
    pub prefix: String,
}

impl Location {
    /// Reads `s3://bucket[/prefix]`; a prefix that names `AWSLogs` itself is taken as the
    /// folder above it.
    pub fn parse(text: &str) -> Option<Location> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        let prefix = prefix.trim_matches('/');
        let prefix = prefix
            .strip_suffix("AWSLogs")
            .map(|p| p.trim_end_matches('/'))
            .unwrap_or(prefix);
        Some(Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    fn logs(&self) -> String {
        if self.prefix.is_empty() {
            "AWSLogs/".to_string()
        } else {
            format!("{}/AWSLogs/", self.prefix)
        }
    }
}

/// Which log files to list.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Accounts (all the trail holds when empty).
    pub accounts: Vec<String>,
    /// Regions (all the trail holds when empty).
    pub regions: Vec<String>,
    /// The first day of events.
    pub first_day: Option<NaiveDate>,
    /// The last day of events.
    pub last_day: Option<NaiveDate>,
}

/// A log file: its key and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// The object key.
    pub key: String,
    /// Its size in bytes (compressed).
    pub size: u64,
}

/// The delivery days to list for events from `first` to `last`: CloudTrail files an event
/// under the day its file was delivered, up to about fifteen minutes later, so the day after
/// the last is listed too.
pub fn delivery_days(first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
    let end = last.checked_add_days(Days::new(1)).unwrap_or(last);
    first.iter_days().take_while(|d| *d <= end).collect()
}

/// Every log file of the scope, listing only its accounts' and regions' day folders.
pub async fn list(
    s3: &aws_sdk_s3::Client,
    at: &Location,
    scope: &Scope,
) -> Result<Vec<LogFile>, AwsError> {
    let (Some(first), Some(last)) = (scope.first_day, scope.last_day) else {
        return Err(AwsError::new(
            "NoDateRange",
            "a hunt over S3 needs its first and last day (--since, --until)",
        ));
    };
    let mut account_folders = Vec::new();
    for folder in folders(s3, &at.bucket, &at.logs()).await? {
        let name = folder_name(&folder);
        if name.starts_with("o-") {
            // An organisation trail: one more level, the member accounts.
            for inner in folders(s3, &at.bucket, &folder).await? {
                account_folders.push(inner);
            }
        } else {
            account_folders.push(folder);
        }
    }
    account_folders.retain(|f| {
        let name = folder_name(f);
        name.len() == 12
            && name.bytes().all(|b| b.is_ascii_digit())
            && (scope.accounts.is_empty() || scope.accounts.iter().any(|a| a == name))
    });
    let days = delivery_days(first, last);
    let mut files = Vec::new();
    for account in account_folders {
        let trail = format!("{account}CloudTrail/");
        let regions: Vec<String> = if scope.regions.is_empty() {
            folders(s3, &at.bucket, &trail).await?
        } else {
            scope
                .regions
                .iter()
                .map(|r| format!("{trail}{r}/"))
                .collect()
        };
        for region in regions {
            for day in &days {
                let prefix = format!("{region}{}/", day.format("%Y/%m/%d"));
                files.extend(objects(s3, &at.bucket, &prefix).await?);
            }
        }
    }
    Ok(files)
}

/// `a/b/c/` → `c`.
fn folder_name(folder: &str) -> &str {
    folder
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// The folders directly under `prefix`.
async fn folders(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.aws()?;
        out.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .map(str::to_string),
        );
    }
    Ok(out)
}

/// The log files under one day folder (digests and other objects left out).
async fn objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<LogFile>, AwsError> {
    let mut out = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.aws()?;
        out.extend(page.contents().iter().filter_map(|o| {
            let key = o.key()?;
            (key.ends_with(".json.gz") || key.ends_with(".json")).then(|| LogFile {
                key: key.to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
            })
        }));
    }
    Ok(out)
}

/// One log file's bytes, as stored (gzip).
pub async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.aws()?;
    let body =
        out.body.collect().await.map_err(|e| {
            AwsError::new("ReadFailed", format!("reading s3://{bucket}/{key}: {e}"))
        })?;
    Ok(body.into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_the_folder_above_awslogs() {
        for (text, bucket, prefix) in [
            ("s3://trail", "trail", ""),
            ("s3://trail/", "trail", ""),
            ("s3://trail/org/logs/", "trail", "org/logs"),
            ("s3://trail/org/AWSLogs/", "trail", "org"),
            ("s3://trail/AWSLogs", "trail", ""),
        ] {
            let at = Location::parse(text).unwrap();
            assert_eq!(
                (at.bucket.as_str(), at.prefix.as_str()),
                (bucket, prefix),
                "{text}"
            );
        }
        assert_eq!(Location::parse("s3:///x"), None);
        assert_eq!(Location::parse("/tmp/x"), None);
    }

    #[test]
    fn the_day_after_the_last_is_listed_too() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            delivery_days(d("2026-12-30"), d("2026-12-31")),
            [d("2026-12-30"), d("2026-12-31"), d("2027-01-01")]
        );
    }
}
