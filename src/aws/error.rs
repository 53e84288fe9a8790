//! What an AWS call's failure means: its kind (denied, not found, throttled, …) as a typed [`ServiceError`], and
//! its message in one line naming the service, the refusal and what to do about it. [`kind_of`] is the one reader
//! of a service's answer, by its code and HTTP status; it reads the message only for CloudFormation's
//! `ValidationError`, the one code that means both "no such stack" and "nothing to update". (Stack events' reasons,
//! which carry no code, are read by `cloudformation::with_hint`.) A refusal of the credentials themselves
//! (expired, not accepted, an account not opted in) is judged by its code before any denial: services answer
//! most of them with 403.

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
            if let Some(refused) = refusal::<E>(err.code().unwrap_or(""), status) {
                return format!("{code}: {text} ({})", refused.advice(service_of::<E>()));
            }
            match kind_of(err.code().unwrap_or(""), status, service_of::<E>(), err.message().unwrap_or("")) {
                Kind::Denied => format!("{code}: {text} ({})", denial_advice(&iam_action::<E>())),
                kind => format!("{code}: {text}{}", next_step(kind)),
            }
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
        SdkError::DispatchFailure(failure) if failure.is_other() && is_credentials_failure(e) => format!(
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
    let code = e.as_service_error().and_then(|err| err.code()).map(str::to_owned);
    ServiceError { kind: judge(e), service: service_of::<E>(), code, message }
}

/// What kind of failure `e` is: a service's answer by [`kind_of`] (a refusal of the credentials first, which for
/// a call that needs no permission is any denial), or what kept the call from being answered or its answer from
/// being read.
pub(super) fn judge<E>(e: &SdkError<E, HttpResponse>) -> Kind
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.err();
            let code = err.code().unwrap_or("");
            if refusal::<E>(code, status).is_some() {
                Kind::Credentials
            } else {
                kind_of(code, status, service_of::<E>(), err.message().unwrap_or(""))
            }
        }
        SdkError::DispatchFailure(f) if f.is_io() || f.is_timeout() => Kind::Unreachable,
        SdkError::TimeoutError(_) => Kind::Unreachable,
        SdkError::DispatchFailure(f) if f.is_other() && is_credentials_failure(e) => Kind::Credentials,
        // An answer that could not be read (cut short, or not the protocol's): the service's side.
        SdkError::ResponseError(_) => Kind::ServiceFault,
        _ => Kind::Failed,
    }
}

/// What a service's answer means, by its code and HTTP status (`service` as [`service_of`] names it): a refusal
/// of the credentials first (whatever the status), then a denial (its code, or a 403 with any other code). The
/// message is read for CloudFormation's `ValidationError` alone, which is both its answer for a missing stack
/// and for an update that changes nothing; any other `ValidationError` is a plain failure.
pub(crate) fn kind_of(code: &str, status: u16, service: &str, message: &str) -> Kind {
    match code {
        _ if Refused::of(code).is_some() => Kind::Credentials,
        _ if is_denial(code, status) => Kind::Denied,
        "ValidationError" if service == "CloudFormation" && message.contains("No updates are to be performed") => {
            Kind::NoChange
        }
        "ValidationError" if service == "CloudFormation" && message.contains("does not exist") => Kind::NotFound,
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "SlowDown" => Kind::Throttled,
        // Firehose's answer when a stream's throughput quota may have been exceeded ("Back off and retry");
        // LimitExceededException is a quota on how many things an account has (Firehose's 50 streams a region,
        // IAM's, CloudFormation's), which waiting does not lift.
        "ServiceUnavailableException" if service == "Firehose" => Kind::Throttled,
        _ if status == 429 => Kind::Throttled,
        "NotFound" | "ResourceNotFoundException" | "ResourceNotFound" => Kind::NotFound,
        // S3's and IAM's: NoSuchKey, NoSuchBucket, NoSuchEntity, and a bucket's missing configuration
        // (NoSuchBucketPolicy, NoSuchPublicAccessBlockConfiguration, NoSuchTagSet).
        _ if code.starts_with("NoSuch") => Kind::NotFound,
        _ if status == 404 => Kind::NotFound,
        "ResourceAlreadyExistsException"
        | "AlreadyExistsException"
        | "DeleteConflictException"
        | "ConflictException" => Kind::Conflict,
        _ if status == 409 => Kind::Conflict,
        // An endpoint that does not implement the operation (an emulator), or a feature it lacks.
        "NotImplemented" | "NotImplementedException" => Kind::Unsupported,
        _ if status == 501 => Kind::Unsupported,
        "ServiceUnavailableException"
        | "ServiceUnavailable"
        | "InternalFailure"
        | "InternalServerError"
        | "InternalError" => Kind::ServiceFault,
        _ if status >= 500 => Kind::ServiceFault,
        _ => Kind::Failed,
    }
}

/// Whether a credentials provider's error is in `e`'s chain: the SDK found no credentials to sign with, or could
/// not load them. The SDK exports that error's type only as the `Err` of what every credentials provider
/// returns, so it is named through [`ProvideCredentials`](aws_sdk_sts::config::ProvideCredentials).
fn is_credentials_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    use aws_sdk_sts::config::{Credentials, ProvideCredentials as _, SharedCredentialsProvider};

    fn in_chain<F, Refusal>(
        _: fn(&'static SharedCredentialsProvider) -> F,
        e: &(dyn std::error::Error + 'static),
    ) -> bool
    where
        F: std::future::Future<Output = Result<Credentials, Refusal>>,
        Refusal: std::error::Error + 'static,
    {
        std::iter::successors(Some(e), |e| e.source()).any(|e| e.is::<Refusal>())
    }
    in_chain(|provider| provider.provide_credentials(), e)
}

/// A policy's refusal: its code (IoT's is `UnauthorizedException`, a 401), or any other code with a 403.
fn is_denial(code: &str, status: u16) -> bool {
    code.contains("AccessDenied")
        || matches!(code, "UnauthorizedOperation" | "UnauthorizedException" | "Forbidden")
        || status == 403
}

/// How a service refused the credentials themselves, decided by its code alone: most are 403s (S3's
/// `ExpiredToken` and `InvalidToken` are 400s), which would otherwise read as a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// The session (token) expired.
    Expired,
    /// The key, secret, token or signature was not accepted.
    NotAccepted,
    /// The request's time is too far from the service's clock.
    Clock,
    /// The account has not opted in to the region or service.
    NotOptedIn,
}

impl Refused {
    fn of(code: &str) -> Option<Refused> {
        Some(match code {
            "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => Refused::Expired,
            "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "SignatureDoesNotMatch"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "IncompleteSignatureException"
            | "MissingAuthenticationToken"
            | "MissingAuthenticationTokenException"
            | "AuthFailure"
            | "InvalidAccessKeyId"
            | "InvalidToken" => Refused::NotAccepted,
            "RequestExpired" | "RequestTimeTooSkewed" => Refused::Clock,
            "OptInRequired" => Refused::NotOptedIn,
            _ => return None,
        })
    }

    /// What `service`'s refusal means and how to fix it, in one clause.
    fn advice(self, service: &str) -> String {
        let choose = "or choose other credentials with --profile/AWS_PROFILE";
        match self {
            Refused::Expired => format!(
                "{service} refused the credentials: they expired; refresh them with `aws sso login` for an SSO \
                 profile or get a new session token, {choose}"
            ),
            Refused::NotAccepted => format!(
                "{service} refused the credentials: the key, secret or session token is not valid; check \
                 AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN or the profile's keys, create new \
                 keys, {choose} (STS says the same in an opt-in region not enabled for the account, or for a session \
                 token from the global STS endpoint: enable the region, or get the token from its regional endpoint)"
            ),
            Refused::Clock => {
                format!("{service} refused the request's time: set this machine's clock right (NTP) and run it again")
            }
            Refused::NotOptedIn => format!(
                "{service} refused the account: it has not opted in to this region or service; enable the region \
                 for the account, pick another with --region, {choose}"
            ),
        }
    }
}

/// Calls no IAM policy can deny: a refusal of one is a refusal of the credentials.
const NEED_NO_PERMISSION: [&str; 1] = ["sts:GetCallerIdentity"];

/// How an answer refused the credentials, if it did: by its code, or any denial of a call that needs no
/// permission.
fn refusal<E>(code: &str, status: u16) -> Option<Refused> {
    Refused::of(code).or_else(|| {
        (is_denial(code, status) && NEED_NO_PERMISSION.contains(&iam_action::<E>().as_str()))
            .then_some(Refused::NotAccepted)
    })
}

/// Whether an SDK error is a refusal of the credentials (for messages that would otherwise read it as a
/// denial).
pub(crate) fn refuses_credentials<E>(e: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    e.as_service_error().is_some_and(|err| {
        let status = e.raw_response().map_or(0, |r| r.status().as_u16());
        refusal::<E>(err.code().unwrap_or(""), status).is_some()
    })
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
        "IoT" => "iot",
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
        // The devices verb's calls; teardown's are the deployer's.
        a if a.starts_with("iot:") && granted_by("operator", a) => "operator",
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

/// Whether the role policy `examples/iam/<role>.json` names `action` itself.
fn granted_by(role: &str, action: &str) -> bool {
    let quoted = format!("\"{action}\"");
    super::policies::ROLE_POLICIES.iter().any(|(name, policy)| *name == role && policy.contains(&quoted))
}

/// What to do about a service's refusal that is neither the credentials' nor a denial, by its kind.
fn next_step(kind: Kind) -> &'static str {
    match kind {
        Kind::Throttled => " (the service is throttling: try again shortly)",
        Kind::ServiceFault => " (the service failed on its side: try again shortly)",
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
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;
    use aws_sdk_iot::operation::list_things::ListThingsError;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// A service's answer: `code` and its message, with `status`.
    fn answer<E>(status: u16, code: &str, generic: fn(ErrorMetadata) -> E) -> SdkError<E, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("The security token included in the request is expired");
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(generic(meta.build()), raw)
    }

    /// Every code and status [`kind_of`] knows, with the service that answers it, and its kind.
    const KINDS: [(&str, u16, &str, Kind); 44] = [
        ("AccessDenied", 403, "S3", Kind::Denied),
        ("AccessDeniedException", 400, "Firehose", Kind::Denied),
        ("KMSAccessDeniedException", 400, "Firehose", Kind::Denied),
        ("UnauthorizedOperation", 400, "AWS", Kind::Denied),
        ("UnauthorizedException", 401, "IoT", Kind::Denied),
        ("Forbidden", 400, "S3", Kind::Denied),
        ("", 403, "S3", Kind::Denied),
        ("ExpiredToken", 400, "S3", Kind::Credentials),
        ("ExpiredTokenException", 403, "Firehose", Kind::Credentials),
        ("TokenRefreshRequired", 400, "S3", Kind::Credentials),
        ("InvalidClientTokenId", 403, "STS", Kind::Credentials),
        ("SignatureDoesNotMatch", 403, "S3", Kind::Credentials),
        ("RequestTimeTooSkewed", 403, "S3", Kind::Credentials),
        ("OptInRequired", 403, "CloudFormation", Kind::Credentials),
        ("ThrottlingException", 400, "CloudWatch", Kind::Throttled),
        ("Throttling", 400, "IAM", Kind::Throttled),
        ("TooManyRequestsException", 400, "Lambda", Kind::Throttled),
        ("SlowDown", 503, "S3", Kind::Throttled),
        ("LimitExceededException", 400, "Firehose", Kind::Failed),
        ("AlreadyExistsException", 400, "CloudFormation", Kind::Conflict),
        ("LimitExceededException", 400, "CloudFormation", Kind::Failed),
        ("", 429, "AWS", Kind::Throttled),
        ("NotFound", 404, "S3", Kind::NotFound),
        ("NoSuchKey", 404, "S3", Kind::NotFound),
        ("NoSuchBucket", 404, "S3", Kind::NotFound),
        ("NoSuchBucketPolicy", 404, "S3", Kind::NotFound),
        ("NoSuchPublicAccessBlockConfiguration", 404, "S3", Kind::NotFound),
        ("NoSuchEntity", 404, "IAM", Kind::NotFound),
        ("ResourceNotFoundException", 400, "Firehose", Kind::NotFound),
        ("ResourceNotFound", 400, "AWS", Kind::NotFound),
        ("", 404, "S3", Kind::NotFound),
        ("ResourceAlreadyExistsException", 409, "IoT", Kind::Conflict),
        ("DeleteConflictException", 409, "IoT", Kind::Conflict),
        ("", 409, "AWS", Kind::Conflict),
        ("NotImplemented", 400, "S3", Kind::Unsupported),
        ("NotImplementedException", 400, "IoT", Kind::Unsupported),
        ("", 501, "AWS", Kind::Unsupported),
        ("ServiceUnavailableException", 400, "Firehose", Kind::Throttled),
        ("ServiceUnavailable", 503, "S3", Kind::ServiceFault),
        ("InternalFailure", 500, "Firehose", Kind::ServiceFault),
        ("InternalError", 500, "S3", Kind::ServiceFault),
        ("", 502, "AWS", Kind::ServiceFault),
        ("InvalidArgumentException", 400, "Firehose", Kind::Failed),
        ("ValidationError", 400, "CloudFormation", Kind::Failed),
    ];

    #[test]
    fn each_code_and_status_has_its_kind() {
        for (code, status, service, kind) in KINDS {
            assert_eq!(kind_of(code, status, service, "whatever the message says"), kind, "{service} {code} {status}");
        }
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

    /// CloudFormation answers a missing stack and an update that changes nothing with the same code; its message
    /// tells them apart, and only for CloudFormation.
    #[test]
    fn the_message_is_read_for_cloudformations_validation_error_alone() {
        let missing = "Stack with id lab does not exist";
        let unchanged = "No updates are to be performed.";
        assert_eq!(kind_of("ValidationError", 400, "CloudFormation", missing), Kind::NotFound);
        assert_eq!(kind_of("ValidationError", 400, "CloudFormation", unchanged), Kind::NoChange);
        assert_eq!(kind_of("ValidationError", 400, "CloudFormation", "Template format error"), Kind::Failed);
        assert_eq!(kind_of("ValidationError", 400, "IAM", missing), Kind::Failed, "not CloudFormation's");
        assert_eq!(kind_of("InvalidParameterValue", 400, "CloudFormation", missing), Kind::Failed, "not its code");
        assert_eq!(kind_of("AccessDenied", 403, "CloudFormation", unchanged), Kind::Denied, "the code first");

        let said = |message: &str| {
            let meta = ErrorMetadata::builder().code("ValidationError").message(message).build();
            let raw = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
            judge(&SdkError::service_error(DescribeStacksError::generic(meta), raw))
        };
        assert_eq!(said(missing), Kind::NotFound);
        assert_eq!(said(unchanged), Kind::NoChange);
        let other = answer(400, "ValidationError", ListObjectsV2Error::generic);
        assert_eq!(judge(&other), Kind::Failed, "S3 has no such rule");
    }

    /// An answer's advice follows its kind: throttling and a service's own failure say to try again.
    #[test]
    fn throttling_and_a_services_own_failure_say_to_try_again() {
        let e = answer(400, "ThrottlingException", DescribeStacksError::generic);
        assert!(explain(&e).ends_with("(the service is throttling: try again shortly)"), "{}", explain(&e));
        let e = answer(500, "InternalFailure", DescribeStacksError::generic);
        assert!(explain(&e).ends_with("(the service failed on its side: try again shortly)"), "{}", explain(&e));
        assert_eq!(judge(&e), Kind::ServiceFault);
        let e = answer(400, "ValidationError", DescribeStacksError::generic);
        assert!(explain(&e).starts_with("ValidationError: ") && !explain(&e).contains("try again"));
    }

    /// Credentials the SDK could not load are told from any other failure before a request is sent by the
    /// provider's error type, never by the words of its message.
    #[test]
    // The profile files' new name lives in aws-runtime, which is not a dependency of its own.
    #[allow(deprecated)]
    fn missing_credentials_are_known_by_the_providers_error_type() {
        use aws_config::profile::ProfileFileCredentialsProvider;
        use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
        use aws_config::provider_config::ProviderConfig;
        use aws_sdk_sts::config::{ProvideCredentials as _, SharedCredentialsProvider};
        use aws_smithy_runtime_api::client::result::ConnectorError;

        let files = ProfileFiles::builder().with_contents(ProfileFileKind::Credentials, "[default]\n").build();
        let provider = ProfileFileCredentialsProvider::builder()
            .configure(&ProviderConfig::empty().with_http_client(aws_smithy_mocks::create_mock_http_client()))
            .profile_files(files)
            .profile_name("absent")
            .build();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let refusal = runtime.block_on(SharedCredentialsProvider::new(provider).provide_credentials()).unwrap_err();
        let e: SdkError<ListObjectsV2Error, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(refusal), None));
        assert_eq!(judge(&e), Kind::Credentials);
        assert!(explain(&e).starts_with("no usable AWS credentials ("), "{}", explain(&e));

        let other = std::io::Error::other("a credential-shaped word in an interceptor's failure");
        let e: SdkError<ListObjectsV2Error, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(other), None));
        assert_eq!(judge(&e), Kind::Failed, "not the credentials: {}", explain(&e));
        assert!(!explain(&e).contains("no usable AWS credentials"), "{}", explain(&e));
    }

    #[test]
    fn a_refusal_of_the_credentials_wins_over_the_403_of_a_denial() {
        for code in [
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "UnrecognizedClientException",
            "IncompleteSignature",
            "MissingAuthenticationToken",
            "OptInRequired",
            "InvalidAccessKeyId",
        ] {
            assert_eq!(kind_of(code, 403, "STS", ""), Kind::Credentials, "{code}");
        }
        // S3's own: InvalidAccessKeyId is a 403, ExpiredToken and InvalidToken are 400s.
        assert_eq!(kind_of("InvalidToken", 400, "S3", ""), Kind::Credentials);
        assert_eq!(kind_of("ExpiredToken", 400, "S3", ""), Kind::Credentials);
        // IoT's denial is a 401.
        assert_eq!(kind_of("UnauthorizedException", 401, "IoT", ""), Kind::Denied);

        let e = answer(403, "ExpiredToken", DescribeStacksError::generic);
        let said = explain(&e);
        assert!(said.starts_with("ExpiredToken: The security token included in the request is expired ("), "{said}");
        assert!(
            said.contains("CloudFormation refused the credentials: they expired") && said.contains("aws sso login")
        );
        assert!(!said.contains("examples/iam"), "not a denial: {said}");
        assert_eq!(typed(&e, said).kind, Kind::Credentials);

        let e = answer(403, "InvalidAccessKeyId", ListObjectsV2Error::generic);
        assert!(refuses_credentials(&e));
        assert!(explain(&e).contains("S3 refused the credentials: the key, secret or session token is not valid"));
        let e = answer(403, "OptInRequired", DescribeStacksError::generic);
        assert!(explain(&e).contains("it has not opted in to this region or service"), "{}", explain(&e));
        assert!(!refuses_credentials(&answer(403, "AccessDenied", ListObjectsV2Error::generic)));
    }

    #[test]
    fn sts_get_caller_identity_needs_no_permission_so_its_refusal_is_the_credentials() {
        let e = answer(403, "ExpiredToken", GetCallerIdentityError::generic);
        let said = explain(&e);
        assert!(said.contains("STS refused the credentials: they expired") && !said.contains("deployer"), "{said}");
        // Whatever the code, a 403 from GetCallerIdentity is the credentials', never a missing permission.
        let e = answer(403, "AccessDenied", GetCallerIdentityError::generic);
        let said = explain(&e);
        assert!(said.contains("STS refused the credentials") && !said.contains("examples/iam"), "{said}");
        assert_eq!(typed(&e, said).kind, Kind::Credentials);
    }

    #[test]
    fn iot_names_its_own_action_and_the_policy_that_grants_it() {
        assert_eq!(iam_action::<ListThingsError>(), "iot:ListThings");
        let e = answer(401, "UnauthorizedException", ListThingsError::generic);
        let said = explain(&e);
        assert!(
            said.contains("the caller may not call iot:ListThings: examples/iam/operator.json grants it"),
            "{said}"
        );
        assert_eq!(typed(&e, said).kind, Kind::Denied);
        assert_eq!(
            denial_advice("iot:CreateTopicRule"),
            "the caller may not call iot:CreateTopicRule: examples/iam/deployer.json grants it"
        );
    }
}
