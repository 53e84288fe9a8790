//! What deploy decides about buckets and zips, against mocked S3 and CloudFormation (aws-smithy-mocks): a
//! failed first create, foreign and other-region buckets, a bucket name another account holds, a reused bucket's
//! settings, a zip with a wrong checksum.

use aws_sdk_cloudformation::operation::describe_stacks::{DescribeStacksError, DescribeStacksOutput};
use aws_sdk_cloudformation::types::{Parameter, Stack, StackStatus};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::operation::get_bucket_encryption::GetBucketEncryptionOutput;
use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyOutput;
use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
use aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockError;
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;

use super::*;
use crate::aws::stack::{RawBucket, raw_bucket};

const ACCOUNT: &str = "123456789012";
const BUCKET: &str = "reaqtions-iot-data-lake-raw-123456789012-eu-west-1";

fn status(code: u16, headers: &[(&'static str, &'static str)]) -> HttpResponse {
    let mut response = HttpResponse::new(StatusCode::try_from(code).unwrap(), SdkBody::empty());
    for (k, v) in headers {
        response.headers_mut().insert(*k, *v);
    }
    response
}

fn head_bucket(code: u16) -> Rule {
    if code == 200 {
        mock!(aws_sdk_s3::Client::head_bucket).then_output(|| HeadBucketOutput::builder().build())
    } else {
        mock!(aws_sdk_s3::Client::head_bucket).then_http_response(move || status(code, &[]))
    }
}

fn stack(state: StackStatus, created_bucket: bool) -> Rule {
    mock!(aws_sdk_cloudformation::Client::describe_stacks).then_output(move || {
        let p = |k: &str, v: &str| Parameter::builder().parameter_key(k).parameter_value(v).build();
        let stack = Stack::builder()
            .stack_name("reaqtions")
            .stack_status(state.clone())
            .parameters(p(crate::aws::stack::derived::CREATE_RAW_BUCKET, if created_bucket { "true" } else { "false" }))
            .parameters(p(crate::settings::Declared::bucket.parameter, BUCKET))
            .build();
        DescribeStacksOutput::builder().stacks(stack).build()
    })
}

fn no_stack() -> Rule {
    mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
        DescribeStacksError::generic(
            ErrorMetadata::builder().code("ValidationError").message("Stack with id reaqtions does not exist").build(),
        )
    })
}

async fn decide(stack: &Rule, head: &Rule) -> Result<RawBucket> {
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[stack]);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[head]);
    raw_bucket(&cfn, &s3, "reaqtions", BUCKET, Some(ACCOUNT)).await
}

#[tokio::test]
async fn after_a_failed_first_create_the_bucket_is_decided_by_what_exists() {
    // RetainExceptOnCreate removed the bucket with the rollback: the re-created stack creates it again.
    let gone = head_bucket(404);
    assert_eq!(decide(&stack(StackStatus::RollbackComplete, true), &gone).await.unwrap(), RawBucket::Create);
    assert_eq!(gone.num_calls(), 1, "HeadBucket decides, not the rolled-back stack's parameters");
    // A bucket kept by an older (Retain) template is still there: the stack uses it instead of colliding.
    let kept = head_bucket(200);
    assert_eq!(decide(&stack(StackStatus::RollbackComplete, true), &kept).await.unwrap(), RawBucket::Reuse);
    assert_eq!(decide(&stack(StackStatus::ReviewInProgress, true), &head_bucket(200)).await.unwrap(), RawBucket::Reuse);
    assert_eq!(decide(&no_stack(), &head_bucket(404)).await.unwrap(), RawBucket::Create);
}

#[tokio::test]
async fn a_settled_stack_keeps_the_bucket_it_created() {
    let head = head_bucket(200);
    assert_eq!(decide(&stack(StackStatus::UpdateComplete, true), &head).await.unwrap(), RawBucket::OwnedByStack);
    assert_eq!(head.num_calls(), 0);
    let adopted = decide(&stack(StackStatus::CreateComplete, false), &head_bucket(200)).await.unwrap();
    assert_eq!(adopted, RawBucket::Reuse, "a stack that reused a bucket goes on reusing it");
}

#[tokio::test]
async fn a_bucket_of_another_account_is_named_as_such() {
    let e = decide(&no_stack(), &head_bucket(403)).await.unwrap_err().to_string();
    assert!(e.contains(BUCKET) && e.contains("belongs to another account") && e.contains("--bucket"), "{e}");
    assert!(e.contains("ExpectedBucketOwner 123456789012"), "{e}");
    assert!(
        e.contains("another --stack (default names derive from it)"),
        "the default name changes with the stack: {e}"
    );
}

const ARTIFACTS: &str = "reaqtions-artifacts-123456789012-eu-west-1";

/// HeadBucket answered with `code`, only when it names the account as the expected owner.
fn head_as_account(code: u16) -> Rule {
    let rule = mock!(aws_sdk_s3::Client::head_bucket)
        .match_requests(|r| r.bucket() == Some(ARTIFACTS) && r.expected_bucket_owner() == Some(ACCOUNT));
    if code == 200 {
        rule.then_output(|| HeadBucketOutput::builder().build())
    } else {
        rule.then_http_response(move || status(code, &[]))
    }
}

#[tokio::test]
async fn an_artifacts_bucket_name_another_account_holds_says_to_change_the_stack() {
    let taken = head_as_account(403);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&taken]);
    let e = artifacts_bucket_exists(&s3, ARTIFACTS, ACCOUNT).await.unwrap_err().to_string();
    assert_eq!(
        e,
        "cannot use bucket reaqtions-artifacts-123456789012-eu-west-1: bucket \
         reaqtions-artifacts-123456789012-eu-west-1 belongs to another account, or account 123456789012 may not use \
         it (S3 answered 403 with ExpectedBucketOwner 123456789012): if another account holds the name (bucket \
         names are global), deploy under another --stack, which gives the artifacts bucket another name; otherwise \
         the caller may not call s3:ListBucket: examples/iam/deployer.json grants it"
    );
    assert!(!e.contains("--bucket"), "--bucket does not rename the artifacts bucket: {e}");
    assert_eq!(taken.num_calls(), 1);
    // Free, or already this account's: deploy goes on.
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&head_as_account(404)]);
    assert!(!artifacts_bucket_exists(&s3, ARTIFACTS, ACCOUNT).await.unwrap());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&head_as_account(200)]);
    assert!(artifacts_bucket_exists(&s3, ARTIFACTS, ACCOUNT).await.unwrap());
}

#[tokio::test]
async fn kept_buckets_are_found_by_tag_as_the_account_s() {
    let list = mock!(aws_sdk_s3::Client::list_buckets).then_output(|| {
        aws_sdk_s3::operation::list_buckets::ListBucketsOutput::builder()
            .buckets(aws_sdk_s3::types::Bucket::builder().name(BUCKET).build())
            .build()
    });
    let tagging = mock!(aws_sdk_s3::Client::get_bucket_tagging)
        .match_requests(|r| r.bucket() == Some(BUCKET) && r.expected_bucket_owner() == Some(ACCOUNT))
        .then_output(|| {
            let tag = aws_sdk_s3::types::Tag::builder().key("reaqtions:stack").value("reaqtions").build().unwrap();
            aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput::builder().tag_set(tag).build().unwrap()
        });
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&list, &tagging]);
    let found = buckets_tagged(&s3, ACCOUNT, "eu-west-1", "reaqtions:stack", "reaqtions").await.unwrap();
    assert_eq!(found, [BUCKET]);
    assert_eq!(tagging.num_calls(), 1);
}

#[tokio::test]
async fn a_bucket_in_another_region_is_named_with_its_region() {
    let moved = mock!(aws_sdk_s3::Client::head_bucket)
        .then_http_response(|| status(301, &[("x-amz-bucket-region", "eu-central-1")]));
    let e = decide(&no_stack(), &moved).await.unwrap_err().to_string();
    assert!(e.contains("is in eu-central-1") && e.contains("--region eu-central-1"), "{e}");
}

#[tokio::test]
async fn every_call_names_the_expected_owner() {
    let head = mock!(aws_sdk_s3::Client::head_bucket)
        .match_requests(|r| r.expected_bucket_owner() == Some(ACCOUNT))
        .then_output(|| HeadBucketOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&head]);
    assert!(bucket_exists(&s3, BUCKET, Some(ACCOUNT)).await.unwrap());
    assert_eq!(head.num_calls(), 1);
}

#[tokio::test]
async fn a_reused_bucket_is_reported_never_changed() {
    let pab = mock!(aws_sdk_s3::Client::get_public_access_block).then_error(|| {
        GetPublicAccessBlockError::generic(
            ErrorMetadata::builder().code("NoSuchPublicAccessBlockConfiguration").build(),
        )
    });
    let encryption = mock!(aws_sdk_s3::Client::get_bucket_encryption).then_output(|| {
        let default = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256).build();
        let rule =
            ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(default.unwrap()).build();
        GetBucketEncryptionOutput::builder()
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap(),
            )
            .build()
    });
    let versioning =
        mock!(aws_sdk_s3::Client::get_bucket_versioning).then_output(|| GetBucketVersioningOutput::builder().build());
    let policy = mock!(aws_sdk_s3::Client::get_bucket_policy).then_output(|| {
        GetBucketPolicyOutput::builder()
            .policy(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject"}]}"#)
            .build()
    });
    let put_policy = mock!(aws_sdk_s3::Client::put_bucket_policy)
        .then_output(|| aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&pab, &encryption, &versioning, &policy, &put_policy]);
    let findings = inspect_reused_bucket(&s3, BUCKET, Some(ACCOUNT)).await;
    let texts: Vec<(bool, &str)> = findings.iter().map(|f| (f.ok, f.text.as_str())).collect();
    assert_eq!(
        texts,
        [
            (false, "it has no public access block of its own (the account's setting applies)"),
            (true, "default encryption is AES256"),
            (false, "versioning is off: an overwritten or deleted object cannot be recovered"),
            (false, "its policy (kept as it is) does not deny requests without TLS"),
        ]
    );
    assert_eq!(put_policy.num_calls(), 0, "its policy is never overwritten");
}

const ZIP_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn head_object(checksum: Option<&'static str>) -> Rule {
    mock!(aws_sdk_s3::Client::head_object)
        .match_requests(|r| r.checksum_mode() == Some(&ChecksumMode::Enabled))
        .then_output(move || HeadObjectOutput::builder().set_checksum_sha256(checksum.map(str::to_owned)).build())
}

fn put_object_rule() -> Rule {
    let want = sha256_base64(ZIP_SHA256).unwrap();
    mock!(aws_sdk_s3::Client::put_object)
        .match_requests(move |r| {
            r.checksum_sha256() == Some(want.as_str()) && r.expected_bucket_owner() == Some(ACCOUNT)
        })
        .then_output(|| PutObjectOutput::builder().build())
}

async fn upload(head: &Rule, put: &Rule) -> bool {
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[head, put]);
    upload_unless_present(&s3, "artifacts", Some(ACCOUNT), "lambda/x.zip", b"test".to_vec(), ZIP_SHA256).await.unwrap()
}

#[tokio::test]
async fn a_zip_is_uploaded_again_unless_its_checksum_matches() {
    let put = put_object_rule();
    assert!(upload(&head_object(Some("d3JvbmcgY2hlY2tzdW0gb2YgdGhlIHppcCBmaWxlIGJ5dGVzIQ==")), &put).await);
    assert_eq!(put.num_calls(), 1, "a wrong checksum means another upload");
    let put = put_object_rule();
    assert!(upload(&head_object(None), &put).await, "no stored checksum: uploaded again");
    let put = put_object_rule();
    assert!(!upload(&head_object(Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")), &put).await);
    assert_eq!(put.num_calls(), 0, "the same checksum: already uploaded");
    let absent = mock!(aws_sdk_s3::Client::head_object).then_http_response(|| status(404, &[]));
    let put = put_object_rule();
    assert!(upload(&absent, &put).await);
}

#[test]
fn checksums_are_base64_of_the_digest() {
    assert_eq!(sha256_base64(ZIP_SHA256).unwrap(), "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=");
    assert!(sha256_base64("abc").is_err());
}

#[tokio::test]
async fn refusals_say_what_they_mean_and_what_to_do() {
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&head_bucket(403)]);
    let e = bucket_exists(&s3, BUCKET, None).await.unwrap_err().to_string();
    assert!(e.contains("is denied") && e.contains("s3:ListBucket") && e.contains("examples/iam/analyst.json"), "{e}");
    assert!(!e.contains("no message"), "{e}");
    let expired = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
        DescribeStacksError::generic(
            ErrorMetadata::builder().code("ExpiredToken").message("The security token included is expired").build(),
        )
    });
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&expired]);
    let e = crate::aws::cloudformation::describe(&cfn, "reaqtions").await.unwrap_err().to_string();
    assert!(e.contains("cannot describe stack reaqtions: ExpiredToken") && e.contains("refresh them"), "{e}");
}

/// A listing of `prefix` answered with `keys` (and more to come when `truncated`), only when it asks for at most
/// `max_keys` (`None`: any number).
fn listing(prefix: &'static str, max_keys: Option<i32>, keys: &'static [&'static str], truncated: bool) -> Rule {
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(move |r| r.prefix() == Some(prefix) && (max_keys.is_none() || r.max_keys() == max_keys))
        .then_output(move || {
            let objects = keys.iter().map(|k| aws_sdk_s3::types::Object::builder().key(*k).size(3).build());
            let count = keys.len() as i32;
            ListObjectsV2Output::builder()
                .set_contents(Some(objects.collect()))
                .key_count(count)
                .is_truncated(truncated)
                .build()
        })
}

/// Whether a lake prefix holds anything is one call for one key, however many it holds; with it, deploy's claim
/// on a prefix of the other layout's objects is refused and writes no marker.
#[test]
fn holds_any_asks_for_one_key_and_a_claim_of_the_other_layout_writes_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let one = listing("processed/", Some(1), &["processed/year=2026/month=11/day=26/hour=04/a.gz"], true);
    let marker = listing("processed/_reaqtions_layout", None, &[], false);
    let put = mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&one, &marker, &put]);
    let lake = S3Lake::new(s3, BUCKET, Some(ACCOUNT.to_owned()), runtime.handle().clone());
    assert!(lake.holds_any("processed/").unwrap());
    assert_eq!(one.num_calls(), 1, "one ListObjectsV2 with max-keys 1");

    let event = crate::settings::PipelineSettings::resolve(crate::settings::SettingsInput {
        bucket: Some(BUCKET.into()),
        ..Default::default()
    })
    .unwrap();
    let e = crate::layout::claim(&lake, &event).unwrap_err().to_string();
    assert!(e.contains(&format!("s3://{BUCKET}/processed/")) && e.contains("partitioning: arrival"), "{e}");
    assert_eq!(put.num_calls(), 0, "no marker is written under a prefix of the other layout");

    let empty = listing("processed/", Some(1), &[], false);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&empty]);
    let lake = S3Lake::new(s3, BUCKET, Some(ACCOUNT.to_owned()), runtime.handle().clone());
    assert!(!lake.holds_any("processed/").unwrap());
}

/// S3 answers a policy's denial and a bucket of another account with the same 403 AccessDenied: what is said
/// follows the status and the owner, never the words of S3's message.
#[test]
fn a_403_is_told_by_its_status_and_owner_not_its_words() {
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    let said = |message: &str, owner: Option<&str>| {
        let meta = ErrorMetadata::builder().code("AccessDenied").message(message).build();
        let e = SdkError::service_error(ListObjectsV2Error::generic(meta), status(403, &[]));
        explain_bucket(BUCKET, owner, &e, Named::Raw)
    };
    let iam = "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: s3:ListBucket";
    assert_eq!(said(iam, Some(ACCOUNT)), said("Access Denied", Some(ACCOUNT)));
    assert!(said(iam, Some(ACCOUNT)).contains("belongs to another account, or account 123456789012 may not use it"));
    assert!(said(iam, Some(ACCOUNT)).contains("otherwise the caller may not call s3:ListBucket"));
    assert_eq!(said(iam, None), said("Access Denied", None));
    assert!(said(iam, None).starts_with(&format!("access to bucket {BUCKET} is denied (S3 answered 403)")));
}

/// A bucket without a policy of its own is a finding, not a failure (S3 answers NoSuchBucketPolicy).
#[tokio::test]
async fn a_reused_bucket_without_a_policy_says_so() {
    use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyError;
    let policy = mock!(aws_sdk_s3::Client::get_bucket_policy)
        .then_error(|| GetBucketPolicyError::generic(ErrorMetadata::builder().code("NoSuchBucketPolicy").build()));
    let pab = mock!(aws_sdk_s3::Client::get_public_access_block)
        .then_output(|| aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput::builder().build());
    let encryption =
        mock!(aws_sdk_s3::Client::get_bucket_encryption).then_output(|| GetBucketEncryptionOutput::builder().build());
    let versioning =
        mock!(aws_sdk_s3::Client::get_bucket_versioning).then_output(|| GetBucketVersioningOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&pab, &encryption, &versioning, &policy]);
    let findings = inspect_reused_bucket(&s3, BUCKET, Some(ACCOUNT)).await;
    let last = findings.last().map(|f| (f.ok, f.text.as_str()));
    assert_eq!(last, Some((false, "it has no bucket policy: requests without TLS are not denied")), "{findings:?}");
}
