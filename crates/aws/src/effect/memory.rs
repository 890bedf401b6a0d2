//! An instance's volatile memory, as evidence: captured by the configured tool through Systems
//! Manager, uploaded to a PUT the evidence store signs for exactly the reported SHA-256, adopted
//! into the manifest from the bucket's listing once S3 holds them, never read back (no Firebreak
//! role may read a memory image). Bounded by `[evidence] memory_seconds` in all, so the steps
//! after it (the profile swap, the revoke, isolation) wait at most that long.

use chrono::{DateTime, Utc};
use firebreak_core::action::memory::{self, MAX_PUT_BYTES};
use firebreak_core::config::memory_tool_key;
use firebreak_core::{Incident, Status};
use tokio::time::Instant;

use super::{Responder, Run, cached_instance, done, skipped};
use crate::sdk::clients::Clients;
use crate::sdk::error::AwsError;
use crate::service::ssm::{self, Deployed, Ran};
use crate::store::evidence::SignedPut;

impl Responder {
    /// The memory step of an instance: skipped with the reason where it cannot run, done only
    /// once the image is locked and listed.
    pub(crate) async fn capture_memory(
        &self,
        c: &Clients,
        incident: &Incident,
        instance_id: &str,
        now: DateTime<Utc>,
        run: &mut Run,
    ) -> Result<Status, AwsError> {
        let tool = &self.config.evidence.memory_tool_sha256;
        if tool.is_empty() {
            return Ok(skipped(
                "no memory tool is configured ([evidence] memory_tool_sha256)".into(),
            ));
        }
        let instance = Box::pin(cached_instance(&c.ec2, &mut run.instances, instance_id)).await?;
        let arch = instance
            .architecture()
            .map(|a| a.as_str())
            .unwrap_or("unknown");
        if arch != "x86_64" {
            return Ok(skipped(format!(
                "{instance_id} is {arch}: the memory tool runs on x86_64 Linux"
            )));
        }
        if instance.platform().is_some() {
            return Ok(skipped(format!(
                "{instance_id} runs Windows: the memory tool runs on Linux"
            )));
        }
        // On the heap, like every SDK call below: a handler's stack is small.
        Box::pin(self.capture_and_upload(c, incident, instance_id, now, run)).await
    }

    async fn capture_and_upload(
        &self,
        c: &Clients,
        incident: &Incident,
        instance_id: &str,
        now: DateTime<Utc>,
        run: &mut Run,
    ) -> Result<Status, AwsError> {
        let tool = &self.config.evidence.memory_tool_sha256;
        let seconds = self.config.evidence.memory_seconds;
        let deadline = Instant::now() + std::time::Duration::from_secs(seconds.into());
        // Signed URLs live as long as the step may, and a little more for the transfer to end.
        let valid = std::time::Duration::from_secs(u64::from(seconds) + 60);
        let tool_url = Box::pin(self.evidence.presign_get(&memory_tool_key(tool), valid)).await?;
        let bucket_url =
            memory::bucket_url_of(&tool_url, tool).map_err(|why| AwsError::new("BadInput", why))?;
        // Only Firebreak's document, and only the version that was checked, is run.
        let expected =
            memory::document(tool, &bucket_url).map_err(|why| AwsError::new("BadInput", why))?;
        let deployed = Box::pin(ssm::checked_document(
            &c.ssm,
            memory::DOCUMENT_NAME,
            &expected,
        ))
        .await?;
        let version = match deployed {
            Deployed::Version(version) => version,
            Deployed::Missing(why) => {
                return Err(AwsError::new(
                    "MemoryNotCaptured",
                    format!(
                        "no {} document here: deploy the stack (home region) or the forwarder \
                         stack (every other region and account) with MemoryToolSha256 set ({why})",
                        memory::DOCUMENT_NAME
                    ),
                ));
            }
            Deployed::Changed => {
                return Err(AwsError::new(
                    "MemoryNotCaptured",
                    format!(
                        "the {} document here runs something other than Firebreak's (another \
                         tool, another bucket, or changed steps): not run",
                        memory::DOCUMENT_NAME
                    ),
                ));
            }
        };
        let target = ssm::Target {
            name: memory::DOCUMENT_NAME,
            version: &version,
            instance_id,
        };
        let parameters = memory::capture_parameters(&tool_url, &bucket_url, tool, seconds)
            .map_err(|why| AwsError::new("BadInput", why))?;
        let comment = format!("Firebreak {}: memory capture", incident.id);
        let ran = Box::pin(ssm::run_document(
            &c.ssm,
            target,
            &parameters,
            &comment,
            deadline,
        ))
        .await?;
        let report = match ran {
            Ran::NoAgent(why) => {
                return Ok(skipped(format!(
                    "no SSM agent is online on {instance_id}: memory not captured ({why})"
                )));
            }
            Ran::Succeeded(stdout) => stdout,
            Ran::Failed(why) => return Err(AwsError::new("MemoryNotCaptured", why)),
            Ran::Unfinished => {
                return Err(AwsError::new(
                    "MemoryNotCaptured",
                    format!("the capture was still running after {seconds} s"),
                ));
            }
        };
        let image =
            memory::parse_report(&report).map_err(|why| AwsError::new("MemoryNotCaptured", why))?;
        // Failed, not skipped: a size is the instance's to claim, and this must be paged.
        if image.size > MAX_PUT_BYTES {
            return Err(AwsError::new(
                "MemoryNotCaptured",
                format!(
                    "the image of {instance_id} is {} bytes, over one PUT's 5 GiB: it stays at \
                     {} on the instance (sha256 {})",
                    image.size, image.path, image.sha256
                ),
            ));
        }
        let put = Box::pin(self.evidence.presign_memory(
            &incident.id,
            &image.sha256,
            image.size,
            Utc::now(),
            valid,
        ))
        .await?;
        let key = put.key.clone();
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs()
            .max(30) as u32;
        let parameters =
            memory::upload_parameters(&image, &put.url, &bucket_url, &put.headers, left)
                .map_err(|why| AwsError::new("BadInput", why))?;
        let comment = format!("Firebreak {}: memory upload", incident.id);
        // The upload has its own deadline: the capture may have used most of the bound.
        let upload_deadline = Instant::now() + std::time::Duration::from_secs(left.into());
        let uploaded = Box::pin(ssm::run_document(
            &c.ssm,
            target,
            &parameters,
            &comment,
            upload_deadline,
        ))
        .await?;
        // Only an upload the instance reports done is adopted: a PUT that S3 refused (a key
        // someone else created first) leaves nothing of the instance's there.
        let why = match uploaded {
            Ran::Succeeded(_) => None,
            Ran::Failed(why) => Some(why),
            Ran::Unfinished => Some(format!(
                "the upload was still running after {left} s (if it ends, the image is at {key})"
            )),
            Ran::NoAgent(why) => Some(format!("the SSM agent went away: {why}")),
        };
        if let Some(why) = why {
            return Err(Box::pin(self.not_uploaded(&put, &image, why)).await);
        }
        let item = Box::pin(self.evidence.adopt_unread(
            &put,
            "memory",
            &image.sha256,
            image.size,
            &self.collector,
            now,
        ))
        .await
        .map_err(|e| {
            let why = format!(
                "the instance reported the upload done, but {}: not listed as evidence",
                e.message
            );
            // A conflict is someone else's object at Firebreak's key: paged as what it is.
            let code = if e.code == "EvidenceConflict" {
                "EvidenceConflict"
            } else {
                "MemoryNotCaptured"
            };
            AwsError::new(code, why)
        })?;
        let detail = format!(
            "memory of {instance_id} ({} bytes, sha256 {}, as the instance reported it) locked \
             at {key}",
            item.size, item.sha256
        );
        run.items.push(item);
        Ok(done(detail))
    }

    /// The capture's failure when the upload did not end done (`why`), told by what the key
    /// holds: an object created before the PUT was signed was put there by someone who may
    /// write evidence, a conflict; one created since may be the image, stored before the upload
    /// failed, and is named so that a responder can verify it; nothing means the image is still
    /// on the instance.
    async fn not_uploaded(
        &self,
        put: &SignedPut,
        image: &memory::Captured,
        why: String,
    ) -> AwsError {
        let key = &put.key;
        let on_instance = format!("the image stays at {} on the instance", image.path);
        match self.evidence.listed(key).await {
            Ok(listed) if listed.created_before(put.signed_at) => AwsError::new(
                "EvidenceConflict",
                format!(
                    "{why}; {key} was created before Firebreak signed its upload, by someone who \
                     may write evidence (a Firebreak role or a responder): not adopted; \
                     {on_instance}"
                ),
            ),
            Ok(listed) if !listed.is_empty() => AwsError::new(
                "MemoryNotCaptured",
                format!(
                    "{why}, yet {key} exists: not listed as evidence; verify it against sha256 \
                     {} (the instance may have removed its copy at {})",
                    image.sha256, image.path
                ),
            ),
            Ok(_) => AwsError::new("MemoryNotCaptured", format!("{why}; {on_instance}")),
            Err(e) => AwsError::new(
                "MemoryNotCaptured",
                format!("{why}; {on_instance} (listing {key}: {})", e.message),
            ),
        }
    }
}
