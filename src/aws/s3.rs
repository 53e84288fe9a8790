//! S3: object existence, upload, emptying a versioned bucket, and the S3 bucket as an [`ObjectLake`].

use anyhow::{Result, anyhow};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use tokio::runtime::Handle;

use crate::target::{ObjectLake, ObjectMeta};

/// S3's answers for a missing object or bucket.
pub fn is_not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(e.code(), Some("NotFound" | "NoSuchKey" | "NoSuchBucket" | "404"))
}

pub async fn object_exists(client: &Client, bucket: &str, key: &str) -> Result<bool> {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e)) if e.err().is_not_found() || is_not_found(e.err()) => Ok(false),
        Err(e) => Err(anyhow!("cannot check s3://{bucket}/{key}: {}", super::explain(&e))),
    }
}

pub async fn bucket_exists(client: &Client, bucket: &str) -> Result<bool> {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e)) if e.err().is_not_found() || is_not_found(e.err()) => Ok(false),
        Err(e) => Err(anyhow!("cannot check bucket {bucket}: {}", super::explain(&e))),
    }
}

pub async fn put_object(client: &Client, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<()> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| anyhow!("cannot upload s3://{bucket}/{key}: {}", super::explain(&e)))?;
    Ok(())
}

/// Deletes every object version and delete marker; returns how many were deleted. Lists again until the
/// bucket is empty (some endpoints skip objects when a listing is paged while deleting).
pub async fn empty_bucket(client: &Client, bucket: &str, on_progress: &mut dyn FnMut(u64)) -> Result<u64> {
    let mut deleted = 0;
    loop {
        let mut ids = Vec::new();
        // The SDK has no paginator for ListObjectVersions: follow its two markers.
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = client
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| anyhow!("cannot list versions in bucket {bucket}: {}", super::explain(&e)))?;
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
            let delete = Delete::builder().set_objects(Some(chunk.to_vec())).quiet(true).build()?;
            let out = client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| anyhow!("cannot delete objects in bucket {bucket}: {}", super::explain(&e)))?;
            if let Some(error) = out.errors().first() {
                return Err(anyhow!(
                    "cannot delete s3://{bucket}/{}: {}",
                    error.key().unwrap_or("?"),
                    error.message().unwrap_or("refused")
                ));
            }
            deleted += chunk.len() as u64;
            on_progress(deleted);
        }
    }
}

pub async fn delete_bucket(client: &Client, bucket: &str) -> Result<()> {
    client
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| anyhow!("cannot delete bucket {bucket}: {}", super::explain(&e)))?;
    Ok(())
}

/// Counts objects under a prefix, stopping at `limit` (the second value says whether it stopped).
pub async fn count_objects(client: &Client, bucket: &str, prefix: &str, limit: usize) -> Result<(usize, bool)> {
    let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| anyhow!("cannot list s3://{bucket}/{prefix}: {}", super::explain(&e)))?;
        n += page.contents().len();
        if n >= limit {
            return Ok((n, true));
        }
    }
    Ok((n, false))
}

/// A bucket read through the S3 API, for report and verify.
#[derive(Clone)]
pub struct S3Lake {
    client: Client,
    bucket: String,
    runtime: Handle,
}

impl S3Lake {
    pub fn new(client: Client, bucket: &str, runtime: Handle) -> Self {
        S3Lake { client, bucket: bucket.to_owned(), runtime }
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
            let request = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix);
            let request = if after.is_empty() { request } else { request.start_after(after) };
            let mut pages = request.into_paginator().send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| anyhow!("cannot list s3://{}/{prefix}: {}", self.bucket, super::explain(&e)))?;
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

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.runtime.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| anyhow!("cannot read s3://{}/{key}: {}", self.bucket, super::explain(&e)))?;
            let bytes = out.body.collect().await.map_err(|e| anyhow!("cannot read s3://{}/{key}: {e}", self.bucket))?;
            Ok(bytes.into_bytes().to_vec())
        })
    }
}
