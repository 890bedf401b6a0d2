//! The chain-of-custody check: what `firebreak verify` concludes about each evidence object from
//! what it read back (its bytes' hash, S3's stored checksum, its retention) and what the
//! manifests say of it. Pure: the effector crate reads, this judges.
//!
//! Object Lock keeps every version but not the key: a plain `PutObject` stacks a new version on
//! a locked key. The effector reads each key's original (oldest) version and says how many
//! versions it has; any second version is a tamper, whatever it holds.

use std::fmt;

use chrono::{DateTime, Utc};

/// What was read back of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Hex SHA-256 of the bytes read.
    pub sha256: String,
    /// Hex SHA-256 S3 stored with the object (`x-amz-checksum-sha256`), if any.
    pub stored_sha256: Option<String>,
    /// Object Lock retain-until date, if the object is locked.
    pub retain_until: Option<DateTime<Utc>>,
    /// How many versions (delete markers included) the key has; 1 when never written over.
    pub versions: usize,
}

/// What one manifest says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The manifest's key.
    pub manifest: String,
    /// The hex SHA-256 it records.
    pub sha256: String,
}

/// The verdict on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hash, checksum, manifest and retention all agree.
    Ok,
    /// Something was written over the key after its original version was locked (a second
    /// version or a delete marker). The original is what every reader uses.
    Rewritten {
        /// How many versions the key has.
        versions: usize,
    },
    /// A manifest names the object but it is not there.
    Missing,
    /// S3's stored checksum is not the bytes' hash.
    ChecksumMismatch {
        /// Hex SHA-256 S3 stored (`none` when it stored none).
        stored: String,
        /// Hex SHA-256 of the bytes.
        object: String,
    },
    /// A manifest records another hash.
    HashMismatch {
        /// Which manifest.
        manifest: String,
        /// The hash it records.
        recorded: String,
        /// The bytes' hash.
        object: String,
    },
    /// The object must be in a manifest and is in none.
    NotInAnyManifest,
    /// The object has no Object Lock retention.
    NotLocked,
    /// Its retention ended.
    RetentionExpired {
        /// When it ended.
        until: DateTime<Utc>,
    },
}

impl Verdict {
    /// True for [`Verdict::Ok`].
    pub fn is_ok(&self) -> bool {
        *self == Verdict::Ok
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => f.write_str("ok"),
            Verdict::Rewritten { versions } => write!(
                f,
                "rewritten: {versions} versions (only the first is evidence; something wrote over it)"
            ),
            Verdict::Missing => f.write_str("missing"),
            Verdict::ChecksumMismatch { stored, object } => {
                write!(f, "checksum mismatch (S3 {stored}, object {object})")
            }
            Verdict::HashMismatch {
                manifest,
                recorded,
                object,
            } => write!(
                f,
                "hash mismatch (manifest {recorded} in {manifest}, object {object})"
            ),
            Verdict::NotInAnyManifest => f.write_str("not in any manifest"),
            Verdict::NotLocked => f.write_str("not locked"),
            Verdict::RetentionExpired { until } => write!(
                f,
                "retention expired ({})",
                until.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        }
    }
}

/// True when the object named `name` (its key after `incidents/<id>/`) must be listed in a
/// manifest: every collected item (`<kind>/<hash>.<ext>`: source events, incidents, resource
/// state, activity, outcomes, approval and release records). Exempt, and checked only for
/// checksum and retention: the manifests themselves (their hashes are in the log's evidence
/// entries), the log (`log/`), the functions' claims and markers (`opened.json`, `steps/`,
/// `pages/`, `approvals/`, `releases/`, every `.done`), `isolation/` (the ids of the groups
/// Firebreak created for the incident in a VPC, written once; the response that wrote one lists
/// it in its manifest, an approved isolation has no manifest of its own to list it in),
/// `events/`, the source events the triage function locks on arrival (the preserve stage locks
/// the same bytes again as a manifest-listed `source-event`), and the forensic hand-over's
/// `snapshots/` marks and `forensic/` records (written as snapshots complete, after any
/// manifest).
pub fn must_be_manifested(name: &str) -> bool {
    const EXEMPT_DIRS: [&str; 9] = [
        "log/",
        "steps/",
        "pages/",
        "approvals/",
        "releases/",
        "isolation/",
        "events/",
        "snapshots/",
        "forensic/",
    ];
    let manifest = name.starts_with("manifest") && name.ends_with(".json") && !name.contains('/');
    !(manifest
        || name == "opened.json"
        || name.ends_with(".done")
        || EXEMPT_DIRS.iter().any(|d| name.starts_with(d)))
}

/// The verdict on the object named `name`, read back as `observed` (`None`: not there), listed
/// in `listed`, at `now`. The first problem found wins, in the order the variants are declared
/// (a missing object first: it has no versions to count).
pub fn judge(
    name: &str,
    observed: Option<&Observed>,
    listed: &[Listed],
    now: DateTime<Utc>,
) -> Verdict {
    let Some(o) = observed else {
        return Verdict::Missing;
    };
    if o.versions > 1 {
        return Verdict::Rewritten {
            versions: o.versions,
        };
    }
    if o.stored_sha256.as_deref() != Some(o.sha256.as_str()) {
        return Verdict::ChecksumMismatch {
            stored: o.stored_sha256.clone().unwrap_or_else(|| "none".into()),
            object: o.sha256.clone(),
        };
    }
    if let Some(l) = listed.iter().find(|l| l.sha256 != o.sha256) {
        return Verdict::HashMismatch {
            manifest: l.manifest.clone(),
            recorded: l.sha256.clone(),
            object: o.sha256.clone(),
        };
    }
    if listed.is_empty() && must_be_manifested(name) {
        return Verdict::NotInAnyManifest;
    }
    match o.retain_until {
        None => Verdict::NotLocked,
        Some(until) if until <= now => Verdict::RetentionExpired { until },
        Some(_) => Verdict::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
    }

    fn seen(sha: &str, stored: Option<&str>, until: Option<i64>) -> Observed {
        Observed {
            sha256: sha.into(),
            stored_sha256: stored.map(str::to_string),
            retain_until: until.map(t),
            versions: 1,
        }
    }

    fn listed(sha: &str) -> Vec<Listed> {
        vec![Listed {
            manifest: "manifest.json".into(),
            sha256: sha.into(),
        }]
    }

    #[test]
    fn each_problem_has_its_verdict() {
        let now = t(100);
        let item = "source-event/0123.json";
        let good = seen("aa", Some("aa"), Some(200));
        assert_eq!(judge(item, Some(&good), &listed("aa"), now), Verdict::Ok);
        assert_eq!(judge(item, None, &listed("aa"), now), Verdict::Missing);
        // A second version is a tamper even when the original is whole, and on exempt keys.
        for name in [item, "log/000001-opened-0123abcd.json", "manifest.json"] {
            let twice = Observed {
                versions: 2,
                ..good.clone()
            };
            let v = judge(name, Some(&twice), &listed("aa"), now);
            assert_eq!(v, Verdict::Rewritten { versions: 2 }, "{name}");
            assert!(v.to_string().starts_with("rewritten: 2 versions"), "{v}");
        }
        assert!(matches!(
            judge(
                item,
                Some(&seen("aa", Some("bb"), Some(200))),
                &listed("aa"),
                now
            ),
            Verdict::ChecksumMismatch { .. }
        ));
        assert!(matches!(
            judge(item, Some(&seen("aa", None, Some(200))), &listed("aa"), now),
            Verdict::ChecksumMismatch { .. }
        ));
        let v = judge(item, Some(&good), &listed("cc"), now);
        assert_eq!(
            v.to_string(),
            "hash mismatch (manifest cc in manifest.json, object aa)"
        );
        assert_eq!(
            judge(item, Some(&good), &[], now),
            Verdict::NotInAnyManifest
        );
        assert_eq!(
            judge(
                item,
                Some(&seen("aa", Some("aa"), None)),
                &listed("aa"),
                now
            ),
            Verdict::NotLocked
        );
        assert_eq!(
            judge(
                item,
                Some(&seen("aa", Some("aa"), Some(100))),
                &listed("aa"),
                now
            ),
            Verdict::RetentionExpired { until: t(100) }
        );
    }

    #[test]
    fn claims_markers_log_and_manifests_need_no_manifest() {
        for exempt in [
            "manifest.json",
            "manifest-9.json",
            "opened.json",
            "events/abc.json",
            "events/abc.json.done",
            "steps/contain.json",
            "pages/opened.json",
            "approvals/1.json",
            "releases/x.json",
            "isolation/vpc-0123abcd.json",
            "log/000001-opened-0123abcd.json",
        ] {
            assert!(!must_be_manifested(exempt), "{exempt}");
        }
        for item in [
            "source-event/0123.json",
            "outcomes/0123.json",
            "approval-record/0123.json",
            "stray.json",
            "x/manifest.json",
        ] {
            assert!(must_be_manifested(item), "{item}");
        }
    }
}
