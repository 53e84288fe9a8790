//! The AWS target: SDK configuration (default credential chain, `--profile`, `--region`, `--endpoint-url` /
//! `AWS_ENDPOINT_URL`) and one thin wrapper module per service. The CLI is synchronous; AWS calls run on a
//! small tokio runtime owned here, so the sync seams (record sink, object lake, log source) wrap async clients.

pub mod athena;
pub mod cloudformation;
pub mod cloudwatch;
pub mod firehose;
pub mod iam;
pub mod iot;
pub mod lambda;
pub mod logs;
pub mod pipeline;
pub mod s3;
pub mod target;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::http::HttpResponse;
use tokio::runtime::Runtime;

/// Where the AWS target is: the global `--profile`, `--region` and `--endpoint-url` flags (ignored with
/// `--local`), or the same from the environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectOptions {
    /// AWS profile from the shared config/credentials files.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region.
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Endpoint for every AWS service (an emulator such as moto); S3 then uses path-style addressing.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// Where the SDK sends requests, for messages: the `--endpoint-url`, or AWS in the region. Set by [`Aws::connect`].
static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

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
pub fn explain<E>(e: &aws_sdk_cloudformation::error::SdkError<E, HttpResponse>) -> String
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

/// Whether an error (as this module explains it) is a permission refusal.
pub fn is_denied(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("the caller may not call")
}

fn is_denial(code: &str, status: u16) -> bool {
    code.contains("AccessDenied") || code == "UnauthorizedOperation" || code == "Forbidden" || status == 403
}

/// The IAM action an SDK operation needs, from its error type (`aws_sdk_s3::operation::head_object::HeadObjectError`
/// → `s3:GetObject`).
pub fn iam_action<E>() -> String {
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
pub fn denial_advice(action: &str) -> String {
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
fn last_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string().trim_end_matches('.').to_owned()
}

/// A connection to one account and region.
pub struct Aws {
    pub config: SdkConfig,
    runtime: Runtime,
    /// True when every service goes to an endpoint override (an emulator): S3 then uses path-style.
    pub custom_endpoint: bool,
}

/// Who and where the credentials are.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    pub region: String,
    /// The caller's ARN (a user, or an assumed-role session).
    pub arn: String,
}

impl Identity {
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`) from the caller's ARN.
    pub fn partition(&self) -> &str {
        self.arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws")
    }
}

/// The one HTTP client of every AWS call: hyper with rustls on ring (the crypto provider the MQTT client's TLS
/// uses too), trusting the platform's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` add or replace them, as
/// rustls-native-certs reads them). Built here rather than by an SDK feature, which would bring aws-lc-rs.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

impl Aws {
    /// Loads the configuration. Nothing is sent yet.
    pub fn connect(args: &ConnectOptions) -> Result<Aws> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime for AWS calls")?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            // Fail within seconds when nothing answers, and do not storm: three attempts in all.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &args.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &args.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = runtime.block_on(loader.load());
        let Some(region) = config.region() else {
            bail!("no AWS region: pass --region, set AWS_REGION, or set a region in the profile");
        };
        let _ = ENDPOINT.set(args.endpoint_url.clone().unwrap_or_else(|| format!("AWS in {region}")));
        Ok(Aws { config, runtime, custom_endpoint: args.endpoint_url.is_some() })
    }

    pub fn region(&self) -> String {
        self.config.region().map(ToString::to_string).unwrap_or_default()
    }

    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Checks the credentials with STS (one quick call) and returns the account.
    pub fn identity(&self) -> Result<Identity> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        let out = self.block_on(sts.get_caller_identity().send()).map_err(|e| match &e {
            aws_sdk_sts::error::SdkError::DispatchFailure(f) if f.is_io() || f.is_timeout() => {
                anyhow::anyhow!("{}", explain(&e))
            }
            aws_sdk_sts::error::SdkError::TimeoutError(_) => anyhow::anyhow!("{}", explain(&e)),
            aws_sdk_sts::error::SdkError::ServiceError(_) => anyhow::anyhow!(
                "the AWS credentials were refused ({}). Refresh them (`aws sso login`, new keys) or pick others \
                 with --profile/AWS_PROFILE",
                explain(&e)
            ),
            _ => anyhow::anyhow!(
                "cannot use the AWS credentials ({}). Configure them with `aws configure`, --profile/AWS_PROFILE, \
                 or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                last_cause(&e)
            ),
        })?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_owned(),
            region: self.region(),
            arn: out.arn().unwrap_or_default().to_owned(),
        })
    }

    pub fn athena(&self) -> aws_sdk_athena::Client {
        aws_sdk_athena::Client::new(&self.config)
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.config).force_path_style(self.custom_endpoint).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn firehose(&self) -> aws_sdk_firehose::Client {
        aws_sdk_firehose::Client::new(&self.config)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }

    pub fn iot(&self) -> aws_sdk_iot::Client {
        aws_sdk_iot::Client::new(&self.config)
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.config)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }
}
