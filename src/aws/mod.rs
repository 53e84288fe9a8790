//! The AWS target: SDK configuration (default credential chain, `--profile`, `--region`, `--endpoint-url` /
//! `AWS_ENDPOINT_URL`) and one thin wrapper module per service. The CLI is synchronous; AWS calls run on a
//! small tokio runtime owned here, so the sync seams (record sink, object lake, log source) wrap async clients.

pub(crate) mod athena;
pub(crate) mod cloudformation;
pub mod cloudwatch;
mod error;
pub mod firehose;
pub mod iam;
pub mod iot;
pub(crate) mod lambda;
pub(crate) mod logs;
mod policies;
pub mod s3;
pub mod stack;
pub(crate) mod target;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::runtime::Runtime;

use error::{ENDPOINT, last_cause};
pub(crate) use error::{denial_advice, explain, fail, iam_action, is_denied};

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

/// A connection to one account and region.
pub struct Aws {
    pub(crate) config: SdkConfig,
    runtime: Runtime,
    /// True when every service goes to an endpoint override (an emulator): S3 then uses path-style.
    pub(crate) custom_endpoint: bool,
}

/// Who the credentials are (the caller's account and ARN) and where (the region).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) account: String,
    pub(crate) region: String,
    /// The caller's ARN (a user, or an assumed-role session).
    pub(crate) arn: String,
}

impl Caller {
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`) from the caller's ARN.
    pub(crate) fn partition(&self) -> &str {
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

    pub(crate) fn region(&self) -> String {
        self.config.region().map(ToString::to_string).unwrap_or_default()
    }

    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Checks the credentials with STS (one quick call) and returns the account.
    pub(crate) fn identity(&self) -> Result<Caller> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        let out = self.block_on(sts.get_caller_identity().send()).map_err(|e| match &e {
            aws_sdk_sts::error::SdkError::DispatchFailure(f) if f.is_io() || f.is_timeout() => {
                error::typed(&e, explain(&e))
            }
            aws_sdk_sts::error::SdkError::TimeoutError(_) => error::typed(&e, explain(&e)),
            // GetCallerIdentity needs no permission: explain says what its refusal means and how to fix it.
            aws_sdk_sts::error::SdkError::ServiceError(_) => error::typed(
                &e,
                format!("cannot check the AWS credentials with STS GetCallerIdentity: {}", explain(&e)),
            ),
            _ if error::judge(&e) == crate::error::Kind::Credentials => error::typed(
                &e,
                format!(
                    "cannot use the AWS credentials ({}). Configure them with `aws configure`, \
                     --profile/AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    last_cause(&e)
                ),
            ),
            _ => error::typed(
                &e,
                format!("cannot check the AWS credentials with STS GetCallerIdentity: {}", explain(&e)),
            ),
        })?;
        Ok(Caller {
            account: out.account().unwrap_or_default().to_owned(),
            region: self.region(),
            arn: out.arn().unwrap_or_default().to_owned(),
        })
    }

    pub(crate) fn athena(&self) -> aws_sdk_athena::Client {
        aws_sdk_athena::Client::new(&self.config)
    }

    pub(crate) fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.config).force_path_style(self.custom_endpoint).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn firehose(&self) -> aws_sdk_firehose::Client {
        aws_sdk_firehose::Client::new(&self.config)
    }

    pub(crate) fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }

    pub(crate) fn iot(&self) -> aws_sdk_iot::Client {
        aws_sdk_iot::Client::new(&self.config)
    }

    pub(crate) fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    pub(crate) fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.config)
    }

    pub(crate) fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }
}
