//! S3: bucket and object checks, checksummed upload, emptying a versioned bucket, and the S3 bucket as an
//! [`ObjectLake`]. Every call to one of the pipeline's buckets passes the owning account as `ExpectedBucketOwner`
//! (the caller's, or `--bucket-owner`), so a bucket of the same name in another account is never read or written;
//! a bucket name another account holds (403) or a bucket kept in another region (301) gets an error that says so
//! and what gives another name.

use anyhow::{Result, anyhow};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, Delete, ObjectIdentifier};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64_simd::STANDARD as B64;
use chrono::{DateTime, Utc};
use tokio::runtime::Handle;

use super::error::judge;
use crate::error::Kind;
use crate::seams::{ObjectLake, ObjectMeta};

/// Which bucket an error is about: what gives it another name, and who may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    /// The raw bucket, or one named with --bucket.
    Raw,
    /// `<stack>-artifacts-<account>-<region>`, the deployer's.
    Artifacts,
}

impl Named {
    /// What gives the bucket another name: `--bucket`, or another stack for a default name derived from it; for
    /// the artifacts bucket only another stack.
    fn rename(self) -> &'static str {
        match self {
            Named::Raw => {
                "name another bucket with --bucket, or deploy under another --stack (default names derive from it)"
            }
            Named::Artifacts => "deploy under another --stack, which gives the artifacts bucket another name",
        }
    }

    /// Who may call `action` on the bucket, for a refusal.
    fn denial(self, action: &str) -> String {
        match self {
            Named::Raw => super::denial_advice(action),
            Named::Artifacts => format!("the caller may not call {action}: examples/iam/deployer.json grants it"),
        }
    }
}

/// A failed call on `bucket` as the typed error commands decide by, with [`explain_bucket`]'s message.
fn bucket_failure<E>(
    bucket: &str,
    owner: Option<&str>,
    doing: impl std::fmt::Display,
    e: &SdkError<E, HttpResponse>,
) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    named_failure(bucket, owner, doing, e, Named::Raw)
}

/// [`bucket_failure`] for the bucket `named`.
fn named_failure<E>(
    bucket: &str,
    owner: Option<&str>,
    doing: impl std::fmt::Display,
    e: &SdkError<E, HttpResponse>,
    named: Named,
) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = format!("{doing}: {}", explain_bucket(bucket, owner, e, named));
    anyhow::Error::new(super::error::typed(e, message))
}

/// One line for an S3 error on the bucket `named`: a foreign bucket (403) or one in another region (301) is named
/// as such, whatever the operation, with what gives another name; anything else is S3's code and message.
fn explain_bucket<E>(bucket: &str, owner: Option<&str>, e: &SdkError<E, HttpResponse>, named: Named) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let rename = named.rename();
    let raw = e.raw_response();
    match raw.map(|r| r.status().as_u16()) {
        Some(301) => {
            let region = raw.and_then(|r| r.headers().get("x-amz-bucket-region")).unwrap_or("another region");
            format!(
                "bucket {bucket} is in {region}, not in this region (S3 answered 301): deploy in {region} \
                 (--region {region}), or {rename}"
            )
        }
        // S3's InvalidAccessKeyId and SignatureDoesNotMatch are 403s too: the credentials', not a denial.
        Some(403) if !super::error::refuses_credentials(e) => {
            let denial = named.denial(&super::iam_action::<E>());
            // S3 answers a policy's denial and a bucket of another account with the same 403 AccessDenied (and a
            // HEAD request with no message at all): with an owner given, both are said.
            match owner {
                Some(account) => format!(
                    "bucket {bucket} belongs to another account, or account {account} may not use it (S3 answered \
                     403 with ExpectedBucketOwner {account}): if another account holds the name (bucket names are \
                     global), {rename}; otherwise {denial}"
                ),
                None => format!("access to bucket {bucket} is denied (S3 answered 403): {denial}"),
            }
        }
        _ => super::explain(e),
    }
}

/// The object's stored SHA-256 checksum (base64) when it exists: `None` when there is no such object,
/// `Some(None)` when it exists without one (uploaded without a checksum).
pub(crate) async fn object_sha256(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    key: &str,
) -> Result<Option<Option<String>>> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_expected_bucket_owner(owner.map(str::to_owned))
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await;
    match head {
        Ok(out) => Ok(Some(out.checksum_sha256().map(str::to_owned))),
        Err(e) if judge(&e) == Kind::NotFound => Ok(None),
        Err(e) => Err(bucket_failure(bucket, owner, format!("cannot check s3://{bucket}/{key}"), &e)),
    }
}

/// Whether the bucket exists for this account; errors for a foreign (403) or other-region (301) bucket.
pub(crate) async fn bucket_exists(client: &Client, bucket: &str, owner: Option<&str>) -> Result<bool> {
    head_bucket(client, bucket, owner, Named::Raw).await
}

/// Whether the artifacts bucket exists for `account`, asked before deploy creates anything: its name
/// (`<stack>-artifacts-<account>-<region>`) is predictable, so another account may hold it, and then only another
/// stack gives another name. Free (404) or this account's (200) is fine.
pub(crate) async fn artifacts_bucket_exists(client: &Client, bucket: &str, account: &str) -> Result<bool> {
    head_bucket(client, bucket, Some(account), Named::Artifacts).await
}

/// HeadBucket as `owner`'s bucket: S3 answers 403 for a bucket of another account (or one the caller may not
/// list), 301 for one in another region.
async fn head_bucket(client: &Client, bucket: &str, owner: Option<&str>, named: Named) -> Result<bool> {
    match client.head_bucket().bucket(bucket).set_expected_bucket_owner(owner.map(str::to_owned)).send().await {
        Ok(_) => Ok(true),
        Err(e) if judge(&e) == Kind::NotFound => Ok(false),
        Err(e) => Err(named_failure(bucket, owner, format!("cannot use bucket {bucket}"), &e, named)),
    }
}

/// The base64 SHA-256 S3 expects, from lowercase hex.
pub(crate) fn sha256_base64(hex: &str) -> Result<String> {
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| anyhow!("{hex:?} is not a hex SHA-256"))?;
    Ok(B64.encode_to_string(bytes))
}

/// Uploads with a SHA-256 checksum (`sha256` in hex): S3 refuses the object if the bytes it received differ.
pub(crate) async fn put_object(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    key: &str,
    bytes: Vec<u8>,
    sha256: &str,
) -> Result<()> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .set_expected_bucket_owner(owner.map(str::to_owned))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(sha256_base64(sha256)?)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| bucket_failure(bucket, owner, format!("cannot upload s3://{bucket}/{key}"), &e))?;
    Ok(())
}

/// Uploads `bytes` unless the object is there with the same SHA-256; returns whether it uploaded. An object
/// with another checksum, or none, is uploaded again.
pub(crate) async fn upload_unless_present(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    key: &str,
    bytes: Vec<u8>,
    sha256: &str,
) -> Result<bool> {
    let want = sha256_base64(sha256)?;
    if object_sha256(client, bucket, owner, key).await? == Some(Some(want)) {
        return Ok(false);
    }
    put_object(client, bucket, owner, key, bytes, sha256).await?;
    Ok(true)
}

/// ListObjectsV2 under `prefix`, as `owner`'s bucket.
fn list_request(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    prefix: &str,
) -> aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder {
    client.list_objects_v2().bucket(bucket).prefix(prefix).set_expected_bucket_owner(owner.map(str::to_owned))
}

/// Deletes the given objects (or versions), up to 1,000 a call; an object S3 refuses to delete is an error.
async fn delete_objects(client: &Client, bucket: &str, owner: Option<&str>, ids: &[ObjectIdentifier]) -> Result<()> {
    for chunk in ids.chunks(1000) {
        let delete = Delete::builder().set_objects(Some(chunk.to_vec())).quiet(true).build()?;
        let out = client
            .delete_objects()
            .bucket(bucket)
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .delete(delete)
            .send()
            .await
            .map_err(|e| bucket_failure(bucket, owner, format!("cannot delete objects in bucket {bucket}"), &e))?;
        if let Some(error) = out.errors().first() {
            return Err(anyhow!(
                "cannot delete s3://{bucket}/{}: {}",
                error.key().unwrap_or("?"),
                error.message().unwrap_or("refused")
            ));
        }
    }
    Ok(())
}

/// Deletes the zips under `prefix` except `keep` and the `newest` most recent others; returns how many it
/// deleted. In a versioned bucket they become noncurrent versions, which the lifecycle rule expires.
pub(crate) async fn prune_objects(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    prefix: &str,
    keep: &str,
    newest: usize,
) -> Result<usize> {
    let mut pages = list_request(client, bucket, owner, prefix).into_paginator().send();
    let mut objects = Vec::new();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| bucket_failure(bucket, owner, format!("cannot list s3://{bucket}/{prefix}"), &e))?;
        for o in page.contents() {
            if let Some(key) = o.key().filter(|k| *k != keep) {
                objects.push((o.last_modified().map(|t| (t.secs(), t.subsec_nanos())), key.to_owned()));
            }
        }
    }
    objects.sort_unstable_by(|a, b| b.cmp(a));
    let old: Vec<ObjectIdentifier> = objects
        .into_iter()
        .skip(newest)
        .map(|(_, key)| ObjectIdentifier::builder().key(key).build())
        .collect::<Result<_, _>>()?;
    delete_objects(client, bucket, owner, &old).await?;
    Ok(old.len())
}

/// What a bucket the pipeline reuses (not created by its stack) looks like: each finding is good or a warning.
/// Nothing here changes the bucket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BucketFinding {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

pub(crate) async fn inspect_reused_bucket(client: &Client, bucket: &str, owner: Option<&str>) -> Vec<BucketFinding> {
    let owner_s = owner.map(str::to_owned);
    let mut findings = Vec::new();
    let mut say = |ok: bool, text: String| findings.push(BucketFinding { ok, text });
    let why = |e: &dyn ProvideErrorMetadata| e.code().unwrap_or("error").to_owned();

    match client.get_public_access_block().bucket(bucket).set_expected_bucket_owner(owner_s.clone()).send().await {
        Ok(out) => {
            let c = out.public_access_block_configuration();
            let all = c.is_some_and(|c| {
                [c.block_public_acls(), c.ignore_public_acls(), c.block_public_policy(), c.restrict_public_buckets()]
                    .iter()
                    .all(|v| *v == Some(true))
            });
            if all {
                say(true, "public access is blocked".into());
            } else {
                say(false, "public access is not fully blocked (its public access block has a setting off)".into());
            }
        }
        // NoSuchPublicAccessBlockConfiguration: the bucket has none of its own.
        Err(e) if judge(&e) == Kind::NotFound => {
            say(false, "it has no public access block of its own (the account's setting applies)".into())
        }
        Err(SdkError::ServiceError(e)) => {
            say(false, format!("its public access block cannot be read ({})", why(e.err())))
        }
        Err(e) => say(false, format!("its public access block cannot be read ({})", super::explain(&e))),
    }
    match client.get_bucket_encryption().bucket(bucket).set_expected_bucket_owner(owner_s.clone()).send().await {
        Ok(out) => {
            let algorithm = out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str().to_owned());
            match algorithm {
                Some(a) => say(true, format!("default encryption is {a}")),
                None => say(false, "it has no default encryption rule".into()),
            }
        }
        Err(SdkError::ServiceError(e)) => {
            say(false, format!("its default encryption cannot be read ({})", why(e.err())))
        }
        Err(e) => say(false, format!("its default encryption cannot be read ({})", super::explain(&e))),
    }
    match client.get_bucket_versioning().bucket(bucket).set_expected_bucket_owner(owner_s.clone()).send().await {
        Ok(out) if out.status() == Some(&BucketVersioningStatus::Enabled) => say(true, "versioning is enabled".into()),
        Ok(_) => say(false, "versioning is off: an overwritten or deleted object cannot be recovered".into()),
        Err(SdkError::ServiceError(e)) => say(false, format!("its versioning cannot be read ({})", why(e.err()))),
        Err(e) => say(false, format!("its versioning cannot be read ({})", super::explain(&e))),
    }
    match client.get_bucket_policy().bucket(bucket).set_expected_bucket_owner(owner_s).send().await {
        Ok(out) if out.policy().is_some_and(|p| p.contains("aws:SecureTransport")) => {
            say(true, "its policy (kept as it is) denies requests without TLS".into())
        }
        Ok(_) => say(false, "its policy (kept as it is) does not deny requests without TLS".into()),
        // NoSuchBucketPolicy: the bucket has no policy.
        Err(e) if judge(&e) == Kind::NotFound => {
            say(false, "it has no bucket policy: requests without TLS are not denied".into())
        }
        Err(SdkError::ServiceError(e)) => say(false, format!("its policy cannot be read ({})", why(e.err()))),
        Err(e) => say(false, format!("its policy cannot be read ({})", super::explain(&e))),
    }
    findings
}

/// `account`'s buckets in `region` tagged `key=value` (a raw bucket that teardown kept carries its stack's tag).
/// Buckets whose tags cannot be read (none, another region, no permission) are passed over.
pub(crate) async fn buckets_tagged(
    client: &Client,
    account: &str,
    region: &str,
    key: &str,
    value: &str,
) -> Result<Vec<String>> {
    let mut pages = client.list_buckets().bucket_region(region).into_paginator().send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(super::fail("cannot list buckets"))?;
        for name in page.buckets().iter().filter_map(|b| b.name()) {
            // ListBuckets lists the caller's own buckets; the owner is checked again when the tags are read.
            if let Ok(tags) = client.get_bucket_tagging().bucket(name).expected_bucket_owner(account).send().await
                && tags.tag_set().iter().any(|t| t.key() == key && t.value() == value)
            {
                found.push(name.to_owned());
            }
        }
    }
    Ok(found)
}

/// Deletes every object version and delete marker; returns how many were deleted. Lists again until the
/// bucket is empty (some endpoints skip objects when a listing is paged while deleting).
pub(crate) async fn empty_bucket(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    on_progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let mut deleted = 0;
    loop {
        let mut ids = Vec::new();
        // The SDK has no paginator for ListObjectVersions: follow its two markers.
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = client
                .list_object_versions()
                .bucket(bucket)
                .set_expected_bucket_owner(owner.map(str::to_owned))
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| bucket_failure(bucket, owner, format!("cannot list versions in bucket {bucket}"), &e))?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            for (key, version) in versions.chain(markers) {
                let Some(key) = key else { continue };
                let id = ObjectIdentifier::builder().key(key).set_version_id(version.map(str::to_owned)).build()?;
                ids.push(id);
            }
            if page.is_truncated() != Some(true) || page.next_key_marker().is_none() {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
        if ids.is_empty() {
            return Ok(deleted);
        }
        for chunk in ids.chunks(1000) {
            delete_objects(client, bucket, owner, chunk).await?;
            deleted += chunk.len() as u64;
            on_progress(deleted);
        }
    }
}

pub(crate) async fn delete_bucket(client: &Client, bucket: &str, owner: Option<&str>) -> Result<()> {
    client
        .delete_bucket()
        .bucket(bucket)
        .set_expected_bucket_owner(owner.map(str::to_owned))
        .send()
        .await
        .map_err(|e| bucket_failure(bucket, owner, format!("cannot delete bucket {bucket}"), &e))?;
    Ok(())
}

/// The first keys under a prefix in S3's (lexicographic) order, at most `max`: one call.
pub(crate) async fn first_keys(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    prefix: &str,
    max: i32,
) -> Result<Vec<String>> {
    let page = list_request(client, bucket, owner, prefix)
        .max_keys(max)
        .send()
        .await
        .map_err(|e| bucket_failure(bucket, owner, format!("cannot list s3://{bucket}/{prefix}"), &e))?;
    Ok(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect())
}

/// Counts objects under a prefix, stopping at `limit` (the second value says whether it stopped).
pub(crate) async fn count_objects(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    prefix: &str,
    limit: usize,
) -> Result<Counted> {
    let mut pages = list_request(client, bucket, owner, prefix).into_paginator().send();
    let mut counted = Counted::default();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| bucket_failure(bucket, owner, format!("cannot list s3://{bucket}/{prefix}"), &e))?;
        counted.objects += page.contents().len();
        counted.bytes += page.contents().iter().filter_map(|o| o.size()).map(|s| s.max(0) as u64).sum::<u64>();
        if counted.objects >= limit {
            counted.capped = true;
            return Ok(counted);
        }
    }
    Ok(counted)
}

/// Objects under a prefix and their bytes, up to a limit (`capped`: the listing stopped there, so both are lower
/// bounds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counted {
    pub(crate) objects: usize,
    pub(crate) bytes: u64,
    pub(crate) capped: bool,
}

/// A bucket read through the S3 API, for report and verify.
#[derive(Clone)]
pub struct S3Lake {
    client: Client,
    bucket: String,
    /// The expected owner account: the stack's, the caller's, or `--bucket-owner`.
    owner: Option<String>,
    runtime: Handle,
}

impl S3Lake {
    pub fn new(client: Client, bucket: &str, owner: Option<String>, runtime: Handle) -> Self {
        S3Lake { client, bucket: bucket.to_owned(), owner, runtime }
    }

    /// "cannot <verb> s3://bucket/key: <why>", the bucket's owner and region considered.
    fn failed<E>(&self, verb: &str, key: &str, e: &SdkError<E, HttpResponse>) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        bucket_failure(&self.bucket, self.owner.as_deref(), format!("cannot {verb} s3://{}/{key}", self.bucket), e)
    }
}

impl ObjectLake for S3Lake {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.list_after(prefix, "")
    }

    fn list_after(&self, prefix: &str, after: &str) -> Result<Vec<ObjectMeta>> {
        self.runtime.block_on(async {
            let request = list_request(&self.client, &self.bucket, self.owner.as_deref(), prefix);
            let request = if after.is_empty() { request } else { request.start_after(after) };
            let mut pages = request.into_paginator().send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    bucket_failure(
                        &self.bucket,
                        self.owner.as_deref(),
                        format!("cannot list s3://{}/{prefix}", self.bucket),
                        &e,
                    )
                })?;
                for o in page.contents() {
                    let Some(key) = o.key() else { continue };
                    let modified = o
                        .last_modified()
                        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
                        .unwrap_or_else(Utc::now);
                    out.push(ObjectMeta {
                        key: key.to_owned(),
                        size: o.size().unwrap_or(0) as u64,
                        last_modified: modified,
                    });
                }
            }
            Ok(out)
        })
    }

    /// One ListObjectsV2 call for at most one key, however many the prefix holds.
    fn holds_any(&self, prefix: &str) -> Result<bool> {
        let first = first_keys(&self.client, &self.bucket, self.owner.as_deref(), prefix, 1);
        Ok(!self.runtime.block_on(first)?.is_empty())
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.runtime.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_expected_bucket_owner(self.owner.clone())
                .send()
                .await
                .map_err(|e| self.failed("read", key, &e))?;
            let bytes = out.body.collect().await.map_err(|e| anyhow!("cannot read s3://{}/{key}: {e}", self.bucket))?;
            Ok(bytes.into_bytes().to_vec())
        })
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.runtime.block_on(async {
            // The SDK sends a CRC32 of the body, which S3 checks.
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .set_expected_bucket_owner(self.owner.clone())
                .body(ByteStream::from(bytes.to_vec()))
                .send()
                .await
                .map_err(|e| self.failed("write", key, &e))?;
            Ok(())
        })
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.runtime.block_on(async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .set_expected_bucket_owner(self.owner.clone())
                .send()
                .await
                .map_err(|e| self.failed("delete", key, &e))?;
            Ok(())
        })
    }
}

#[cfg(test)]
#[path = "s3_tests.rs"]
mod tests;
