//! An expired session is not a missing permission: against a loopback stand-in that answers like AWS (each
//! refusal of the credentials in the protocol of the service refusing them, mostly 403s), `status`, `report`,
//! `simulate`, `health` and `deploy` say which service refused the credentials and how to fix that, never that a
//! policy lacks an action, and exit with the credentials' code (6; `simulate` 4, its readings spooled). Deploy
//! stops before it creates anything when its permission check fails so, and goes on when the caller may only
//! not run the check.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::upstream::{Answer, Protocol, Seen, StandIn};

const ACCOUNT: &str = "123456789012";
const STREAM: &str = "reaqtions-readings";
const FUNCTION: &str = "reaqtions-data-transformation";
const CALLER: &str = "arn:aws:iam::123456789012:user/dev";

/// What a refusal means, as the CLI words it.
#[derive(Debug, Clone, Copy)]
enum Meaning {
    Expired,
    NotAccepted,
    NotOptedIn,
}

impl Meaning {
    fn said(self) -> &'static str {
        match self {
            Meaning::Expired => "refused the credentials: they expired; refresh them with `aws sso login`",
            Meaning::NotAccepted => "refused the credentials: the key, secret or session token is not valid",
            Meaning::NotOptedIn => "refused the account: it has not opted in to this region or service",
        }
    }
}

/// One refusal: the code, the HTTP status AWS answers it with, and what it means.
type Refusal = (&'static str, u16, Meaning);

/// How the query and JSON services (and IoT, Lambda and CloudWatch) refuse credentials: every one a 403.
const REFUSALS: [Refusal; 10] = [
    ("ExpiredToken", 403, Meaning::Expired),
    ("ExpiredTokenException", 403, Meaning::Expired),
    ("InvalidClientTokenId", 403, Meaning::NotAccepted),
    ("SignatureDoesNotMatch", 403, Meaning::NotAccepted),
    ("UnrecognizedClientException", 403, Meaning::NotAccepted),
    ("InvalidSignatureException", 403, Meaning::NotAccepted),
    ("IncompleteSignature", 403, Meaning::NotAccepted),
    ("MissingAuthenticationToken", 403, Meaning::NotAccepted),
    ("MissingAuthenticationTokenException", 403, Meaning::NotAccepted),
    ("OptInRequired", 403, Meaning::NotOptedIn),
];

/// S3's own, at its own statuses.
const S3_REFUSALS: [Refusal; 4] = [
    ("InvalidAccessKeyId", 403, Meaning::NotAccepted),
    ("SignatureDoesNotMatch", 403, Meaning::NotAccepted),
    ("ExpiredToken", 400, Meaning::Expired),
    ("InvalidToken", 400, Meaning::NotAccepted),
];

/// The message AWS gives with `code` (the CLI decides by the code alone).
fn message(code: &str) -> &'static str {
    match code {
        "ExpiredToken" | "ExpiredTokenException" => "The security token included in the request is expired",
        "SignatureDoesNotMatch" | "InvalidSignatureException" => {
            "The request signature we calculated does not match the signature you provided."
        }
        "IncompleteSignature" => "Authorization header requires 'Signature' parameter.",
        "MissingAuthenticationToken" | "MissingAuthenticationTokenException" => {
            "Request is missing Authentication Token"
        }
        "OptInRequired" => "The AWS Access Key Id needs a subscription for the service",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "InvalidToken" => "The provided token is malformed or otherwise invalid.",
        _ => "The security token included in the request is invalid.",
    }
}

fn xml(body: String) -> Answer {
    Answer::Reply { status: 200, content_type: "text/xml", body }
}

/// STS's answer for the caller, a user IAM can simulate.
fn caller() -> Answer {
    xml(format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
         <UserId>AIDAEXAMPLE</UserId><Account>{ACCOUNT}</Account><Arn>{CALLER}</Arn></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    ))
}

/// CloudFormation's answer for a deployed stack `reaqtions`, with the outputs the commands read.
fn stack() -> Answer {
    let region = "us-east-1";
    let outputs = [
        ("StreamName", STREAM.to_owned()),
        ("StreamArn", format!("arn:aws:firehose:{region}:{ACCOUNT}:deliverystream/{STREAM}")),
        ("RawBucket", crate::RAW.to_owned()),
        ("FunctionName", FUNCTION.to_owned()),
        ("FunctionArn", format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{FUNCTION}")),
        ("FunctionLogGroup", format!("/aws/lambda/{FUNCTION}")),
        ("DeliveryLogGroup", format!("/aws/kinesisfirehose/{STREAM}")),
        ("Prefix", reaqtions::settings::DEFAULT_PREFIX.to_owned()),
        ("ErrorPrefix", reaqtions::settings::DEFAULT_ERROR_PREFIX.to_owned()),
        ("CodeKey", "lambda/bootstrap.zip".to_owned()),
        ("GlueDatabase", "reaqtions_lake".to_owned()),
        ("Workgroup", "reaqtions".to_owned()),
        ("ReadingsTable", "readings".to_owned()),
    ];
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let members: String = outputs
        .iter()
        .map(|(k, v)| format!("<member><OutputKey>{k}</OutputKey><OutputValue>{}</OutputValue></member>", escape(v)))
        .collect();
    xml(format!(
        "<DescribeStacksResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><DescribeStacksResult>\
         <Stacks><member><StackName>reaqtions</StackName>\
         <StackId>arn:aws:cloudformation:{region}:{ACCOUNT}:stack/reaqtions/1</StackId>\
         <StackStatus>CREATE_COMPLETE</StackStatus><CreationTime>2026-01-01T00:00:00Z</CreationTime>\
         <Outputs>{members}</Outputs></member></Stacks></DescribeStacksResult>\
         <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeStacksResponse>"
    ))
}

/// A policy's refusal, in the shape the service gives it.
fn denied(seen: &Seen) -> Answer {
    let (status, code) = match (seen.protocol, seen.service.as_str()) {
        (Protocol::Query | Protocol::RestXml, _) => (403, "AccessDenied"),
        (Protocol::RestJson, "iot") => (401, "UnauthorizedException"),
        (Protocol::RestJson, _) => (403, "AccessDeniedException"),
        (Protocol::Json | Protocol::Cbor, _) => (400, "AccessDeniedException"),
    };
    let message =
        format!("User: {CALLER} is not authorized to perform: {}:{} on resource: *", seen.service, seen.operation);
    Answer::Refuse { status, code: code.into(), message }
}

/// A stand-in where `refusing` (a signing name; `*` for every service) refuses the credentials with `refusal`.
/// Otherwise STS knows the caller, CloudFormation the deployed stack, and every other call is denied.
fn stand_in(refusing: &'static str, (code, status, _): Refusal) -> StandIn {
    StandIn::start(move |seen| {
        if refusing == "*" || seen.service == refusing {
            return Answer::Refuse { status, code: code.into(), message: message(code).into() };
        }
        match (seen.service.as_str(), seen.operation.as_str()) {
            ("sts", "GetCallerIdentity") => caller(),
            ("cloudformation", "DescribeStacks") => stack(),
            _ => denied(seen),
        }
    })
}

/// `reaqtions args` against `url`, in a cleared environment: an expired session's keys, a region, no IMDS,
/// HOME the test's own directory.
fn reaqtions(home: &Path, url: &str, args: &[&str]) -> Output {
    assert_cmd::Command::from_std(crate::fixture::reaqtions(home))
        .env("AWS_ACCESS_KEY_ID", "ASIAEXPIREDSESSION01")
        .env("AWS_SECRET_ACCESS_KEY", "expired-session-secret")
        .env("AWS_SESSION_TOKEN", "expired-session-token")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", url)
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

/// Runs `args` with `refusing` refusing the credentials with `refusal`; asserts the exit code, that stderr names
/// the refusal's code and each of `names`, and that nothing reads it as a missing permission. Returns stderr and
/// the requests the stand-in answered.
fn run(refusing: &'static str, refusal: Refusal, args: &[&str], exit: i32, names: &[&str]) -> (String, Vec<Seen>) {
    let home = tempfile::tempdir().unwrap();
    let front = stand_in(refusing, refusal);
    let out = reaqtions(home.path(), &front.url, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let (code, status, _) = refusal;
    let context = format!("reaqtions {args:?}, {refusing} answering {status} {code}:\n{stderr}");
    assert_eq!(out.status.code(), Some(exit), "{context}");
    for said in names.iter().copied().chain([code]) {
        assert!(stderr.contains(said), "{said:?} missing from {context}");
    }
    for denial in ["examples/iam", "not permitted", "may not call"] {
        assert!(!stderr.contains(denial), "read as a denial ({denial:?}): {context}");
    }
    (stderr, front.seen())
}

/// [`run`] for a command that fails with the refusal as explained: `Code: message (Service refused …)`.
fn refused(refusing: &'static str, refusal: Refusal, args: &[&str], exit: i32, names: &[&str]) -> (String, Vec<Seen>) {
    let (code, _, meaning) = refusal;
    let explained = format!("{code}: {} (", message(code));
    run(refusing, refusal, args, exit, &[names, &[&explained, meaning.said()]].concat())
}

#[test]
fn status_says_which_service_refused_the_credentials_not_that_every_section_is_denied() {
    for refusal in REFUSALS {
        refused("*", refusal, &["status"], 6, &["cannot describe stack reaqtions: ", "CloudFormation refused"]);
    }
    // Each later section in its own protocol: the ones before it denied (shown as not permitted), this one
    // refused, which stops status.
    let sections: [(&str, &[&str]); 3] = [
        ("firehose", &["cannot describe delivery stream reaqtions-readings: ", "Firehose refused"]),
        ("monitoring", &["cannot read the pipeline's metrics: ", "CloudWatch refused"]),
        ("lambda", &["cannot read function reaqtions-data-transformation: ", "Lambda refused"]),
    ];
    for (service, names) in sections {
        for refusal in REFUSALS {
            let (_, seen) = refused(service, refusal, &["status"], 6, names);
            assert!(seen.iter().any(|s| s.service == service), "{seen:?}");
        }
    }
    for refusal in S3_REFUSALS {
        let bucket = format!("cannot list s3://{}/", crate::RAW);
        let (_, seen) = refused("s3", refusal, &["status"], 6, &[&bucket, "S3 refused"]);
        assert!(seen.iter().any(|s| s.protocol == Protocol::RestXml), "{seen:?}");
    }
}

#[test]
fn report_says_which_service_refused_the_credentials() {
    for refusal in REFUSALS {
        refused("*", refusal, &["report"], 6, &["cannot describe stack reaqtions: ", "CloudFormation refused"]);
        let athena = ["report", "--sql", "SELECT 1"];
        refused("athena", refusal, &athena, 6, &["cannot start the query in workgroup reaqtions: ", "Athena refused"]);
    }
    for refusal in S3_REFUSALS {
        let bucket = format!("cannot list s3://{}/", crate::RAW);
        refused("s3", refusal, &["report"], 6, &[&bucket, "S3 refused"]);
    }
}

#[test]
fn simulate_stops_sending_and_spools_when_firehose_refuses_the_credentials() {
    let args = ["simulate", "--stream", STREAM, "--count", "2", "--devices", "1", "--quiet"];
    for refusal in REFUSALS {
        // The sink's own words for the refusal; the readings are in the spool file (exit 4), to send again.
        let (code, _, meaning) = refusal;
        let what = if matches!(meaning, Meaning::NotOptedIn) { "opted in" } else { "credentials" };
        let (_, seen) = run("firehose", refusal, &args, 4, &["sending stopped: ", what, "--resend"]);
        assert!(!seen.is_empty(), "{code}");
        assert!(seen.iter().all(|s| s.service == "firehose" && s.protocol == Protocol::Json), "{seen:?}");
    }
}

#[test]
fn health_says_cloudwatch_refused_the_credentials() {
    for refusal in REFUSALS {
        let names = ["cannot read the pipeline's metrics: ", "CloudWatch refused"];
        let (_, seen) = refused("monitoring", refusal, &["health", "--since", "1h"], 6, &names);
        assert!(seen.iter().any(|s| s.protocol == Protocol::Cbor), "{seen:?}");
    }
}

/// A deployable zip: its bootstrap an x86_64 ELF header and nothing else.
fn zip(dir: &Path) -> String {
    let mut binary = b"\x7fELF\x02\x01\x01".to_vec();
    binary.resize(18, 0);
    binary.extend_from_slice(&0x3Eu16.to_le_bytes());
    binary.resize(64, 0);
    let path = dir.join("bootstrap.zip");
    std::fs::write(&path, reaqtions_lambda::package::package_bootstrap(&binary).unwrap().bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn deploy_stops_before_creating_anything_when_the_credentials_are_refused() {
    let zips = tempfile::tempdir().unwrap();
    let zip = zip(zips.path());
    let deploy = ["deploy", "--lambda-zip", &zip];
    let sts = ["cannot check the AWS credentials with STS GetCallerIdentity: ", "STS refused"];
    for refusal in REFUSALS {
        let (_, seen) = refused("*", refusal, &deploy, 6, &sts);
        assert!(seen.iter().all(|s| s.service == "sts"), "{seen:?}");
        // The permission check refused the same way: deploy stops there, having created nothing.
        let check = format!(
            "deploy stopped before creating anything: the permission check (IAM SimulatePrincipalPolicy for \
             {CALLER}) could not run: "
        );
        let (_, seen) = refused("iam", refusal, &deploy, 6, &[&check, "IAM refused"]);
        assert!(seen.iter().all(|s| s.service == "sts" || s.service == "iam"), "{seen:?}");
        assert!(seen.iter().any(|s| s.operation == "SimulatePrincipalPolicy"), "{seen:?}");
    }
    // GetCallerIdentity needs no permission: even its AccessDenied is the credentials', never deployer.json's.
    refused("sts", ("AccessDenied", 403, Meaning::NotAccepted), &deploy, 6, &sts);
}

#[test]
fn deploy_goes_on_unchecked_when_the_caller_may_not_simulate() {
    let zips = tempfile::tempdir().unwrap();
    let zip = zip(zips.path());
    let home = tempfile::tempdir().unwrap();
    let front = StandIn::start(|seen| match (seen.service.as_str(), seen.operation.as_str()) {
        ("sts", "GetCallerIdentity") => caller(),
        _ => denied(seen),
    });
    let out = reaqtions(home.path(), &front.url, &["deploy", "--lambda-zip", &zip]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("permissions: not checked: the caller may not simulate its policy (AccessDenied: "),
        "{stderr}"
    );
    assert!(stderr.contains("the caller may not call iam:SimulatePrincipalPolicy"), "{stderr}");
    // It went on to the next step, which the stand-in denies as well: a denial, exit 1.
    let seen = front.seen();
    assert!(seen.iter().any(|s| !matches!(s.service.as_str(), "sts" | "iam")), "{seen:?}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}
