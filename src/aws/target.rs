//! The AWS target behind the [`Pipeline`] seam: a pipeline deployed by `reaqtions deploy` (names and prefixes
//! from the stack's outputs) or by other means (`--stream`/`--bucket`), as a Firehose sink, an S3 lake (the
//! caller's account as the bucket's expected owner, `--bucket` included, unless `--bucket-owner` names another)
//! and CloudWatch Logs.

use anyhow::{Result, bail};

use super::Aws;
use super::cloudformation::describe;
use super::cloudwatch::CloudWatchVitals;
use super::firehose::FirehoseSink;
use super::logs::CloudWatchLogs;
use super::s3::S3Lake;
use super::stack::Deployed;
use crate::mqtt::identity::Registry;
use crate::seams::endpoint::{DEFAULT_CONNECTS_PER_SECOND, DeviceAuth, Endpoint};
use crate::seams::{GivenNames, LogSource, MqttAccess, ObjectLake, Pipeline, RecordSink, Uses, VitalSource};
use crate::settings::PipelineSettings;

pub(crate) struct AwsPipeline {
    settings: PipelineSettings,
    firehose: aws_sdk_firehose::Client,
    runtime: tokio::runtime::Handle,
    lake: S3Lake,
    logs: CloudWatchLogs,
    vitals: CloudWatchVitals,
    /// The transform the stack's function runs, as deploy recorded it.
    transform_id: Option<String>,
}

impl AwsPipeline {
    /// The stack's pipeline, with `names` overriding its stream, bucket or log group; without a stack, the names
    /// given (then the default prefixes apply). The stack is read only when a name the command `uses` is missing.
    pub(crate) fn open(aws: &Aws, stack: &str, names: &GivenNames, uses: Uses) -> Result<AwsPipeline> {
        let named = (!uses.sink || names.stream.is_some())
            && (!uses.lake || names.bucket.is_some())
            && (!uses.logs || names.log_group.is_some())
            && !uses.vitals;
        let deployed = if named { None } else { aws.block_on(describe(&aws.cloudformation(), stack))? };
        // A stack deployed by reaqtions has an IoT rule feeding its stream.
        let rule = deployed.is_some().then(|| crate::mqtt::rule_name(stack));
        let mut transform_id = None;
        let read_stack = deployed.is_some();
        let (mut settings, stack_account) = match deployed {
            Some(stack) => {
                let deployed = Deployed::from_stack(&stack)?;
                transform_id = deployed.transform_id().map(str::to_owned);
                (deployed.settings(), deployed.account())
            }
            None if named || names.stream.is_some() || names.bucket.is_some() => (PipelineSettings::defaults(), None),
            None => bail!(
                "no stack {stack} in {}: deploy it with `reaqtions deploy`, or name an existing pipeline with \
                 --stream/--bucket",
                aws.region()
            ),
        };
        if let Some(stream) = &names.stream {
            settings.stream.clone_from(stream);
        }
        if let Some(bucket) = &names.bucket {
            settings.bucket.clone_from(bucket);
        }
        // A bucket of the same name in another account is never read: the lake is the caller's account's (the
        // stack's is the caller's), whichever bucket is named, unless --bucket-owner names another account.
        let owner = match (&names.bucket_owner, stack_account) {
            (Some(account), _) => Some(account.clone()),
            (None, Some(account)) => Some(account),
            (None, None) if uses.lake => Some(aws.identity()?.account),
            (None, None) => None,
        };
        if let Some(group) = &names.log_group {
            settings.log_group.clone_from(group);
        }
        let lake = S3Lake::new(aws.s3(), &settings.bucket, owner, aws.handle());
        // A lake named without its stack is read in the layout it records (deploy writes it there).
        if !read_stack && uses.lake {
            settings = crate::layout::as_recorded(&lake, &settings)?;
        }
        Ok(AwsPipeline {
            lake,
            logs: CloudWatchLogs::new(aws.logs(), aws.handle()),
            vitals: CloudWatchVitals::new(aws.cloudwatch(), aws.handle(), settings.clone(), rule),
            transform_id,
            firehose: aws.firehose(),
            runtime: aws.handle(),
            settings,
        })
    }
}

impl Pipeline for AwsPipeline {
    fn settings(&self) -> &PipelineSettings {
        &self.settings
    }

    fn sink(&self) -> Result<Box<dyn RecordSink>> {
        Ok(Box::new(FirehoseSink::new(self.firehose.clone(), &self.settings.stream, self.runtime.clone())))
    }

    fn mqtt(&self, access: &MqttAccess) -> Result<Endpoint> {
        let dir = &access.devices_dir;
        let stack = &self.settings.stack;
        let Some(registry) = Registry::load(dir)? else {
            bail!(
                "no devices are registered in {}: run `reaqtions devices add --devices {}` (or pass --devices-dir)",
                dir.display(),
                access.devices
            );
        };
        if registry.stack != *stack {
            bail!("the devices in {} belong to stack {}, not {stack}", dir.display(), registry.stack);
        }
        let missing: Vec<String> = (0..access.devices)
            .map(crate::device::id)
            .filter(|id| !registry.devices.iter().any(|d| d.id == *id))
            .collect();
        if let Some(first) = missing.first() {
            bail!(
                "{} of the {} simulated devices are not registered in {} (first: {first}): run `reaqtions devices \
                 add --devices {}`",
                missing.len(),
                access.devices,
                dir.display(),
                missing.len()
            );
        }
        Ok(Endpoint {
            host: registry.endpoint,
            port: registry.port,
            stack: stack.clone(),
            identity: DeviceAuth::Certificates {
                dir: dir.clone(),
                roots: std::sync::Arc::new(match &access.ca_file {
                    Some(file) => crate::mqtt::identity::roots_from(file)?,
                    None => crate::mqtt::identity::system_roots()?,
                }),
            },
            hint: format!(
                "check that the device is registered (`reaqtions devices list`), its certificate is ACTIVE and the \
                 stack's device policy is attached (files in {})",
                dir.display()
            ),
            broker: None,
            connects_per_second: Some(access.connects_per_second.unwrap_or(DEFAULT_CONNECTS_PER_SECOND)),
        })
    }

    fn lake(&self) -> &dyn ObjectLake {
        &self.lake
    }

    fn logs(&self) -> &dyn LogSource {
        &self.logs
    }

    fn vitals(&self) -> &dyn VitalSource {
        &self.vitals
    }

    fn transform_id(&self) -> Option<String> {
        self.transform_id.clone()
    }
}
