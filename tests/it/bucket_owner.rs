//! The expected owner of every S3 call to the pipeline's buckets, seen from a loopback front in front of moto that
//! records each S3 request's method, path and `x-amz-expected-bucket-owner`, and answers as S3 does where moto does
//! not (moto checks no owner): 403 to a call naming another owner, and to any call on a bucket name another account
//! holds. The verbs on both buckets (`report --bucket` and `--bucket-owner` included), and deploy refusing a taken
//! name before it creates anything.

use std::sync::{Arc, Mutex};

use crate::health::CborFront;
use crate::upstream::{Loopback, pass_on, reply};
use crate::{AwsEnv, RAW, create_stream};

/// moto's account: the owner of every bucket it holds, and the caller's account.
const ACCOUNT: &str = "123456789012";
const ARTIFACTS: &str = "reaqtions-artifacts-123456789012-us-east-1";
const STREAM: &str = "reaqtions-iot-data-stream";

/// One S3 request as the front saw it.
#[derive(Debug, Clone)]
struct S3Call {
    method: String,
    /// Path-style: `/<bucket>/<key>?<query>`.
    url: String,
    bucket: String,
    owner: Option<String>,
}

struct OwnerFront {
    _front: Loopback,
    url: String,
    calls: Arc<Mutex<Vec<S3Call>>>,
}

impl OwnerFront {
    /// A front to `upstream_url` (moto) where the buckets named in `foreign` belong to another account.
    fn start(upstream_url: &str, foreign: &[&str]) -> OwnerFront {
        let upstream = upstream_url.trim_start_matches("http://").to_owned();
        let foreign: Vec<String> = foreign.iter().map(|b| (*b).to_owned()).collect();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let front = Loopback::start(move |request| {
            let header = |name: &'static str| {
                request.headers.iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str().to_owned())
            };
            let is_s3 = header("Authorization").is_some_and(|a| a.contains("/s3/aws4_request"));
            let bucket = request.url.trim_start_matches('/').split(['/', '?']).next().unwrap_or("").to_owned();
            if !is_s3 || bucket.is_empty() {
                return pass_on(&upstream, &request);
            }
            let owner = header("x-amz-expected-bucket-owner");
            let call =
                S3Call { method: request.method.clone(), url: request.url.clone(), bucket: bucket.clone(), owner };
            let refused = foreign.contains(&bucket) || call.owner.as_deref().is_some_and(|o| o != ACCOUNT);
            seen.lock().unwrap().push(call);
            if !refused {
                return pass_on(&upstream, &request);
            }
            // S3's answer for another account's bucket: no body to a HEAD.
            let body = if request.method == "HEAD" {
                Vec::new()
            } else {
                b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                    .to_vec()
            };
            reply(403, "application/xml", body)
        });
        OwnerFront { url: front.url.clone(), _front: front, calls }
    }

    /// The S3 calls to a bucket since the last `take`.
    fn take(&self) -> Vec<S3Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

/// Runs `args` through the front; returns whether it succeeded, its stderr, and its S3 calls to a bucket.
fn through(env: &AwsEnv, front: &OwnerFront, args: &[&str]) -> (bool, String, Vec<S3Call>) {
    let out = env.cmd(args).env("AWS_ENDPOINT_URL", &front.url).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned(), front.take())
}

/// Runs `args` through the front, asserting success and that its calls reached a bucket, every one of them as
/// `owner`'s; returns them.
fn all_as(env: &AwsEnv, front: &OwnerFront, args: &[&str], owner: &str) -> Vec<S3Call> {
    let (ok, stderr, calls) = through(env, front, args);
    assert!(ok, "reaqtions {args:?}:\n{stderr}");
    assert!(!calls.is_empty(), "reaqtions {args:?} made no S3 call to a bucket");
    let astray: Vec<&S3Call> = calls.iter().filter(|c| c.owner.as_deref() != Some(owner)).collect();
    assert!(astray.is_empty(), "reaqtions {args:?} called S3 without ExpectedBucketOwner {owner}: {astray:?}");
    calls
}

fn made(calls: &[S3Call], method: &str, bucket: &str, url_has: &str) -> bool {
    calls.iter().any(|c| c.method == method && c.bucket == bucket && c.url.contains(url_has))
}

#[test]
fn every_call_to_either_bucket_names_the_owning_account() {
    let env = AwsEnv::start();
    // status reads CloudWatch too, which moto answers only through the CBOR front.
    let cbor = CborFront::start(&env.moto.url);
    let front = OwnerFront::start(&cbor.url, &[]);
    let zip = env.zip();
    let deploy = all_as(&env, &front, &["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"], ACCOUNT);
    assert!(made(&deploy, "HEAD", ARTIFACTS, "") && made(&deploy, "HEAD", RAW, ""), "both names checked: {deploy:?}");
    assert!(made(&deploy, "PUT", ARTIFACTS, "/lambda/"), "the zip uploaded: {deploy:?}");
    create_stream(&env, STREAM, RAW);

    let simulate = ["simulate", "--devices", "2", "--count", "5", "--rate", "50", "--verify", "--quiet"];
    let verify = all_as(&env, &front, &simulate, ACCOUNT);
    assert!(made(&verify, "GET", RAW, "list-type=2"), "{verify:?}");
    let report = all_as(&env, &front, &["report", "--format", "csv"], ACCOUNT);
    assert!(made(&report, "GET", RAW, "/processed/"), "objects read: {report:?}");
    // A bucket named with --bucket is the caller's account's too (the stack is not read).
    let named = all_as(&env, &front, &["report", "--bucket", RAW, "--format", "csv"], ACCOUNT);
    assert!(made(&named, "GET", RAW, "/processed/"), "objects read: {named:?}");
    all_as(&env, &front, &["status", "--format", "json"], ACCOUNT);

    // --bucket-owner names another account: every call carries it, and S3 refuses a bucket it does not own.
    let other = "111122223333";
    let (ok, stderr, calls) = through(&env, &front, &["report", "--bucket", RAW, "--bucket-owner", other]);
    assert!(!ok && !calls.is_empty(), "{stderr}");
    assert!(calls.iter().all(|c| c.owner.as_deref() == Some(other)), "{calls:?}");
    assert!(
        stderr.contains(&format!("bucket {RAW} belongs to another account, or account {other} may not use it")),
        "{stderr}"
    );
    let out = env.cmd(&["report", "--bucket-owner", other]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--bucket-owner without --bucket is a usage error");
    let out = env.cmd(&["report", "--bucket", RAW, "--bucket-owner", "me"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"me\" is not an AWS account id (12 digits)"));

    // Teardown empties the artifacts bucket and keeps the raw one; status then finds it by its tag.
    let teardown = all_as(&env, &front, &["teardown", "--yes"], ACCOUNT);
    assert!(made(&teardown, "POST", ARTIFACTS, "delete"), "artifacts emptied: {teardown:?}");
    let kept = all_as(&env, &front, &["status", "--format", "json"], ACCOUNT);
    assert!(made(&kept, "GET", RAW, "tagging"), "kept bucket found by its tag: {kept:?}");
    let deleted = all_as(&env, &front, &["teardown", "--yes", "--delete-data"], ACCOUNT);
    assert!(made(&deleted, "DELETE", RAW, ""), "{deleted:?}");
    assert!(env.buckets().is_empty(), "{:?}", env.buckets());
}

#[test]
fn deploy_refuses_a_bucket_name_another_account_holds_before_creating_anything() {
    let env = AwsEnv::start();
    let zip = env.zip();
    let deploy = ["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"];
    let cfn = aws_sdk_cloudformation::Client::new(&env.moto.sdk_config(&env.runtime));
    for (taken, remedy) in [
        (ARTIFACTS, "deploy under another --stack, which gives the artifacts bucket another name"),
        (RAW, "name another bucket with --bucket, or deploy under another --stack (default names derive from it)"),
    ] {
        let front = OwnerFront::start(&env.moto.url, &[taken]);
        let (ok, stderr, calls) = through(&env, &front, &deploy);
        assert!(!ok, "deploy went on with {taken} held by another account");
        let said = format!(
            "error: cannot use bucket {taken}: bucket {taken} belongs to another account, or account {ACCOUNT} may \
             not use it (S3 answered 403 with ExpectedBucketOwner {ACCOUNT}): if another account holds the name \
             (bucket names are global), {remedy}; otherwise the caller may not call s3:ListBucket: "
        );
        assert!(stderr.lines().any(|l| l.starts_with(&said)), "one line says so and what to do:\n{stderr}");
        assert!(calls.iter().any(|c| c.method == "HEAD" && c.bucket == taken && c.owner.as_deref() == Some(ACCOUNT)));
        assert!(env.buckets().is_empty(), "{:?}", env.buckets());
        let stacks = env.runtime.block_on(cfn.describe_stacks().send()).unwrap();
        assert!(stacks.stacks().is_empty(), "no stack created: {:?}", stacks.stacks());
    }
}
