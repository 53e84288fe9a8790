//! What an AWS call's failure means: its kind (denied, not found, throttled, …, decided from the service's code
//! and HTTP status, never from message text) as a typed [`ServiceError`], and its message in one line naming the
//! service, the refusal and what to do about it.

use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{Kind, ServiceError};

/// Where the SDK sends requests, for messages: the `--endpoint-url`, or AWS in the region. Set by [`Aws::connect`].
pub(super) static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The service an SDK error type belongs to (`aws_sdk_s3::…` → S3), for messages.
fn service_of<E>() -> &'static str {
    let name = std::any::type_name::<E>();
    let krate = name.split("::").next().unwrap_or("");
    match krate.strip_prefix("aws_sdk_").unwrap_or(krate) {
        "athena" => "Athena",
        "cloudformation" => "CloudFormation",
        "cloudwatch" => "CloudWatch",
        "cloudwatchlogs" => "CloudWatch Logs",
        "firehose" => "Firehose",
        "iam" => "IAM",
        "iot" => "IoT",
        "lambda" => "Lambda",
        "s3" => "S3",
        "sts" => "STS",
        _ => "AWS",
    }
}

/// An SDK error in one line: `Code: message` for a service's answer; "cannot connect to <service> at
/// <endpoint>" when nothing answered; the error chain otherwise (never a debug dump).
pub(crate) fn explain<E>(e: &aws_sdk_cloudformation::error::SdkError<E, HttpResponse>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_cloudformation::error::SdkError;
    match e {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.err();
            let code = err.code().map_or_else(|| format!("HTTP {status}"), str::to_owned);
            // A HEAD request's error has no body: say what its status means.
            let text = err.message().map_or_else(
                || match status {
                    301 => "the resource is in another region".to_owned(),
                    403 => "access denied".to_owned(),
                    404 => "not found".to_owned(),
                    _ => "the service gave no details".to_owned(),
                },
                str::to_owned,
            );
            if is_denial(&code, status) {
                let action = iam_action::<E>();
                return format!("{code}: {text} ({})", denial_advice(&action));
            }
            format!("{code}: {text}{}", next_step(&code, status))
        }
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            let endpoint = ENDPOINT.get().map_or("its endpoint", String::as_str);
            let why = if failure.is_timeout() { "no answer in time".to_owned() } else { last_cause(e) };
            format!("cannot connect to {} at {endpoint} ({why})", service_of::<E>())
        }
        SdkError::TimeoutError(_) => {
            let endpoint = ENDPOINT.get().map_or("its endpoint", String::as_str);
            format!("cannot connect to {} at {endpoint} (no answer in time)", service_of::<E>())
        }
        SdkError::DispatchFailure(failure) if failure.is_other() && chain(e).contains("credential") => format!(
            "no usable AWS credentials ({}). Configure them with `aws configure`, --profile/AWS_PROFILE, or \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            last_cause(e)
        ),
        _ => chain(e),
    }
}

/// Whether an error (or anything in its chain) is a permission refusal.
pub(crate) fn is_denied(e: &anyhow::Error) -> bool {
    crate::error::kind(e) == Some(Kind::Denied)
}

/// A failed SDK call as the typed error the CLI decides by: `doing` says what failed ("cannot describe stack
/// lab"), [`explain`] what the service said.
pub(crate) fn fail<E>(doing: impl std::fmt::Display) -> impl FnOnce(SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| anyhow::Error::new(typed(&e, format!("{doing}: {}", explain(&e))))
}

/// `e`'s kind and the service that answered, with `message` as what the user reads.
pub(super) fn typed<E>(e: &SdkError<E, HttpResponse>, message: String) -> ServiceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, code) = match e {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().map(str::to_owned);
            (kind_of(code.as_deref().unwrap_or(""), status), code)
        }
        SdkError::DispatchFailure(f) if f.is_io() || f.is_timeout() => (Kind::Unreachable, None),
        SdkError::TimeoutError(_) => (Kind::Unreachable, None),
        SdkError::DispatchFailure(f) if f.is_other() => (Kind::Credentials, None),
        _ => (Kind::Failed, None),
    };
    ServiceError { kind, service: service_of::<E>(), code, message }
}

/// A service's answer by its code and HTTP status.
fn kind_of(code: &str, status: u16) -> Kind {
    match code {
        _ if is_denial(code, status) => Kind::Denied,
        "ExpiredToken"
        | "ExpiredTokenException"
        | "RequestExpired"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException" => Kind::Credentials,
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "SlowDown" => Kind::Throttled,
        _ if status == 429 => Kind::Throttled,
        "NotFound"
        | "NoSuchKey"
        | "NoSuchBucket"
        | "NoSuchEntity"
        | "ResourceNotFoundException"
        | "ResourceNotFound" => Kind::NotFound,
        _ if status == 404 => Kind::NotFound,
        // An endpoint that does not implement the operation (an emulator), or a feature it lacks.
        "NotImplemented" | "NotImplementedException" => Kind::Unsupported,
        _ if status == 501 => Kind::Unsupported,
        _ => Kind::Failed,
    }
}

fn is_denial(code: &str, status: u16) -> bool {
    code.contains("AccessDenied") || code == "UnauthorizedOperation" || code == "Forbidden" || status == 403
}

/// The IAM action an SDK operation needs, from its error type (`aws_sdk_s3::operation::head_object::HeadObjectError`
/// → `s3:GetObject`).
pub(crate) fn iam_action<E>() -> String {
    let name = std::any::type_name::<E>();
    let operation = name.rsplit("::").next().unwrap_or("").trim_end_matches("Error");
    let service = match service_of::<E>() {
        "Athena" => "athena",
        "CloudFormation" => "cloudformation",
        "CloudWatch" => "cloudwatch",
        "CloudWatch Logs" => "logs",
        "Firehose" => "firehose",
        "IAM" => "iam",
        "Lambda" => "lambda",
        "S3" => "s3",
        "STS" => "sts",
        _ => "aws",
    };
    let action = match (service, operation) {
        ("s3", "ListObjectsV2" | "HeadBucket") => "ListBucket",
        ("s3", "HeadObject") => "GetObject",
        ("s3", "ListObjectVersions") => "ListBucketVersions",
        ("s3", "DeleteObjects") => "DeleteObject",
        ("s3", "GetBucketEncryption") => "GetEncryptionConfiguration",
        ("s3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
        ("s3", "ListBuckets") => "ListAllMyBuckets",
        (_, op) => op,
    };
    format!("{service}:{action}")
}

/// Which role policy in examples/iam/ grants an action, and how to do without it where a flag can.
pub(crate) fn denial_advice(action: &str) -> String {
    let role = match action {
        "firehose:PutRecordBatch" | "firehose:PutRecord" => "producer",
        "s3:ListBucket" | "s3:GetObject" => "analyst",
        "s3:PutObject" | "s3:DeleteObject" => "reprocessor",
        "logs:FilterLogEvents"
        | "firehose:DescribeDeliveryStream"
        | "lambda:GetFunction"
        | "cloudformation:DescribeStackEvents"
        | "cloudwatch:GetMetricData"
        | "cloudwatch:DescribeAlarms" => "operator",
        "cloudformation:DescribeStacks" => {
            return "the caller may not call cloudformation:DescribeStacks on the stack: every role policy in \
                    examples/iam/ grants it, or name the pipeline with --stream, --bucket or --log-group so the \
                    stack is not read"
                .to_owned();
        }
        _ => "deployer",
    };
    format!("the caller may not call {action}: examples/iam/{role}.json grants it")
}

/// What to do about a service's refusal, by its code.
fn next_step(code: &str, status: u16) -> &'static str {
    match code {
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            " (the credentials expired: refresh them, e.g. `aws sso login`)"
        }
        "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException" => {
            " (the credentials were not accepted: check them, or pick others with --profile)"
        }
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "SlowDown" => {
            " (the service is throttling: try again shortly)"
        }
        _ if code.contains("AccessDenied") || code == "UnauthorizedOperation" || status == 403 => {
            " (the caller's IAM policy does not allow this: the role policies are in examples/iam/)"
        }
        _ => "",
    }
}

/// An error and its causes, `: `-separated, each as its message (never the Debug dump the SDK's own context
/// adds).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

/// The innermost cause of an error, in one line (the SDK's chains repeat themselves).
pub(super) fn last_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string().trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_judged_by_its_code_and_status() {
        assert_eq!(kind_of("AccessDeniedException", 400), Kind::Denied);
        assert_eq!(kind_of("", 403), Kind::Denied);
        assert_eq!(kind_of("ExpiredToken", 400), Kind::Credentials);
        assert_eq!(kind_of("ThrottlingException", 400), Kind::Throttled);
        assert_eq!(kind_of("", 429), Kind::Throttled);
        assert_eq!(kind_of("ResourceNotFoundException", 400), Kind::NotFound);
        assert_eq!(kind_of("", 404), Kind::NotFound);
        assert_eq!(kind_of("", 501), Kind::Unsupported);
        assert_eq!(kind_of("ValidationError", 400), Kind::Failed);
        let error = anyhow::Error::new(ServiceError {
            kind: Kind::Denied,
            service: "S3",
            code: Some("AccessDenied".into()),
            message: "cannot list s3://b/: AccessDenied: no".into(),
        })
        .context("status");
        assert!(is_denied(&error), "found anywhere in the chain");
        assert!(format!("{error:#}").ends_with("cannot list s3://b/: AccessDenied: no"));
    }
}
