//! The AWS target: SDK configuration (default credential chain, `--profile`, `--region`, `--endpoint-url` /
//! `AWS_ENDPOINT_URL`) and one thin wrapper module per service. The CLI is synchronous; AWS calls run on a
//! small tokio runtime owned here, so the sync seams (record sink, object lake, log source) wrap async clients.

pub mod cloudformation;
pub mod firehose;
pub mod iam;
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
use aws_smithy_types::error::display::DisplayErrorContext;
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

/// An SDK error in one line: `Code: message` for a service's answer, the error chain otherwise.
pub fn explain<E, R>(e: &aws_sdk_cloudformation::error::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(service) => {
            format!("{}: {}", service.code().unwrap_or("error"), service.message().unwrap_or("no message"))
        }
        None => DisplayErrorContext(e).to_string(),
    }
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

impl Aws {
    /// Loads the configuration. Nothing is sent yet.
    pub fn connect(args: &ConnectOptions) -> Result<Aws> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime for AWS calls")?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
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
        if config.region().is_none() {
            bail!("no AWS region: pass --region, set AWS_REGION, or set a region in the profile");
        }
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
        let out = self.block_on(sts.get_caller_identity().send()).map_err(|e| {
            anyhow::anyhow!(
                "cannot use the AWS credentials: {}. Configure them with `aws configure`, --profile/AWS_PROFILE, \
                 or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                DisplayErrorContext(&e)
            )
        })?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_owned(),
            region: self.region(),
            arn: out.arn().unwrap_or_default().to_owned(),
        })
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

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }
}
