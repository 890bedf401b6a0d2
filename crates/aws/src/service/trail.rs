//! CloudTrail's log files in S3: listed by the trail's own layout
//! (`<prefix>/AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/`), only the
//! accounts, regions and delivery days asked for, and read one object at a time.

use chrono::{Days, NaiveDate};
use firebreak_core::hunt::scan::scan;
use firebreak_core::hunt::{Compiled, FileScan, Pass, ScanError};

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

    /// The location as one canonical string (`s3://bucket` or `s3://bucket/prefix`): two
    /// spellings of one trail (a trailing `/`, the `AWSLogs` folder named) give the same.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
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
            let mut found = folders(s3, &at.bucket, &trail).await?;
            found.retain(|f| is_region(folder_name(f)));
            found
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

/// A region name as AWS writes them (`us-east-1`, `ap-southeast-3`, `us-gov-west-1`): a
/// planted folder with another name under `CloudTrail/` is not listed day by day.
pub fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].len() <= 2
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
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
            // An object larger than any log file is still listed: scanning refuses it by name.
            (key.ends_with(".json.gz") || key.ends_with(".json")).then(|| LogFile {
                key: key.to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
            })
        }));
    }
    Ok(out)
}

/// One log file's bytes, as stored (gzip); refused unread when S3 says it is larger than
/// `cap` (it may have grown since it was listed).
pub async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    cap: usize,
) -> Result<Vec<u8>, AwsError> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.aws()?;
    if out.content_length.unwrap_or(0) > cap as i64 {
        return Err(AwsError::new(
            "TooLarge",
            format!(
                "s3://{bucket}/{key} is larger than {} MiB: not a log file, not read",
                cap >> 20
            ),
        ));
    }
    let body =
        out.body.collect().await.map_err(|e| {
            AwsError::new("ReadFailed", format!("reading s3://{bucket}/{key}: {e}"))
        })?;
    Ok(body.into_bytes().to_vec())
}

/// Reads and scans `files` for `query`: `in_flight` objects at once, each scanned on the
/// blocking pool as it arrives (a worker holds one file, or one record past `cap` inflated).
/// `on_file` sees each file's result as it is gathered (a progress line). A file that cannot
/// be read is named in the pass, never dropped.
pub async fn search(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    files: &[LogFile],
    query: std::sync::Arc<Compiled>,
    cap: usize,
    in_flight: usize,
    on_file: &(dyn Fn(&Result<FileScan, ScanError>) + Sync),
) -> Pass {
    let mut pass = Pass::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = files.iter();
    loop {
        while tasks.len() < in_flight.max(1) {
            let Some(file) = pending.next() else { break };
            let (s3, bucket, key) = (s3.clone(), bucket.to_string(), file.key.clone());
            let query = query.clone();
            let too_large = file.size > cap as u64;
            tasks.spawn(async move {
                let name = format!("s3://{bucket}/{key}");
                if too_large {
                    return (name, Err(ScanError::TooLarge(cap)));
                }
                let result = match read(&s3, &bucket, &key, cap).await {
                    Ok(data) => tokio::task::spawn_blocking(move || {
                        scan(&data, &query, cap, &mut Vec::new())
                    })
                    .await
                    .unwrap_or_else(|e| Err(ScanError::Gzip(format!("scan failed: {e}")))),
                    Err(e) => Err(ScanError::Read(format!("{} ({})", e.message, e.code))),
                };
                (name, result)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (name, result) = joined.unwrap_or_else(|e| {
            (
                "a log file".to_string(),
                Err(ScanError::Gzip(format!("reading failed: {e}"))),
            )
        });
        on_file(&result);
        pass.add(&name, result);
    }
    pass
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
        assert_eq!(
            Location::parse("s3://trail/org/AWSLogs/").map(|l| l.url()),
            Location::parse("s3://trail/org").map(|l| l.url())
        );
        assert_eq!(Location::parse("s3://trail/").unwrap().url(), "s3://trail");
        assert_eq!(Location::parse("s3:///x"), None);
        assert_eq!(Location::parse("/tmp/x"), None);
    }

    #[test]
    fn region_folders_are_recognised_and_planted_names_are_not() {
        for ok in [
            "us-east-1",
            "eu-west-2",
            "ap-southeast-3",
            "us-gov-west-1",
            "il-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "us-east1",
            "x",
            "US-EAST-1",
            "us-east-",
            "a-b-c-d-1",
            "us-east-123",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
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
