//! The pipeline's CloudFormation stacks on AWS: the embedded templates, stack names and parameters derived from the
//! shared [`PipelineSettings`], and what a deployed stack's outputs say.

use anyhow::Result;
use aws_sdk_cloudformation::types::{Stack, StackStatus};
use serde::Serialize;

use super::cloudformation::{describe, output, outputs};
use crate::prefix::Prefix;
use crate::settings::default_bucket;
use crate::settings::{Declared, Partitioning, PipelineSettings};

pub const ARTIFACTS_TEMPLATE: &str = include_str!("../../templates/artifacts.yaml");
pub const PIPELINE_TEMPLATE: &str = include_str!("../../templates/pipeline.yaml");

/// The templates by file name, for `reaqtions template`.
pub(crate) const TEMPLATES: [(&str, &str); 2] =
    [("artifacts.yaml", ARTIFACTS_TEMPLATE), ("pipeline.yaml", PIPELINE_TEMPLATE)];

pub(crate) fn artifacts_stack(stack: &str) -> String {
    format!("{stack}-artifacts")
}

/// The artifacts bucket's name, `<stack>-artifacts-<account>-<region>`: fixed rather than generated, so that the
/// role policies name exactly this stack's bucket (CloudFormation truncates a generated name for a long stack).
/// Unchecked: [`artifacts_bucket`] says when it is too long for S3.
pub(crate) fn artifacts_bucket_name(stack: &str, account: &str, region: &str) -> String {
    format!("{}-{account}-{region}", artifacts_stack(stack))
}

/// [`artifacts_bucket_name`], or an error naming it when it is longer than S3 allows.
pub(crate) fn artifacts_bucket(stack: &str, account: &str, region: &str) -> Result<String> {
    let name = artifacts_bucket_name(stack, account, region);
    let max = crate::limits::S3_BUCKET_NAME_MAX;
    if name.len() > max {
        return Err(crate::invalid!(
            "the artifacts bucket name {name} is longer than S3's {max} characters: use a stack name of at most {} \
             characters in {region}",
            stack.len() - (name.len() - max)
        ));
    }
    Ok(name)
}

/// Whether the pipeline stack creates the raw bucket, or uses one that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawBucket {
    /// The stack created it and keeps managing it.
    OwnedByStack,
    /// No such bucket: the stack creates it.
    Create,
    /// It exists (kept by an earlier teardown, or given with --bucket): the stack uses it as it is.
    Reuse,
}

impl RawBucket {
    /// The `CreateRawBucket` parameter.
    pub(crate) fn created_by_stack(self) -> bool {
        self != RawBucket::Reuse
    }
}

/// Decides from what exists now: a settled stack that created the bucket keeps it; otherwise the bucket is
/// created unless it exists (HeadBucket, as this account). A rolled-back, reviewed or deleting stack's
/// parameters are never trusted: its bucket may be gone, or kept. A bucket of another account or region is
/// an error that says so.
pub(crate) async fn raw_bucket(
    cfn: &aws_sdk_cloudformation::Client,
    s3: &aws_sdk_s3::Client,
    stack: &str,
    bucket: &str,
    owner: Option<&str>,
) -> Result<RawBucket> {
    if let Some(existing) = describe(cfn, stack).await? {
        let status = existing.stack_status().cloned().unwrap_or_else(|| StackStatus::from("UNKNOWN"));
        let settled = status == StackStatus::CreateComplete
            || status.as_str().starts_with("UPDATE_")
            || status.as_str().starts_with("IMPORT_");
        let created = existing
            .parameters()
            .iter()
            .any(|p| p.parameter_key() == Some(derived::CREATE_RAW_BUCKET) && p.parameter_value() == Some("true"));
        let same_bucket = existing
            .parameters()
            .iter()
            .any(|p| p.parameter_key() == Some(Declared::bucket.parameter) && p.parameter_value() == Some(bucket));
        if settled && created && same_bucket {
            return Ok(RawBucket::OwnedByStack);
        }
    }
    Ok(if super::s3::bucket_exists(s3, bucket, owner).await? { RawBucket::Reuse } else { RawBucket::Create })
}

/// Raw buckets an earlier teardown of `stack` kept: the default name (when it exists for this account) and any
/// bucket in the region tagged `reaqtions:stack=<stack>` (every bucket the stack created carries that tag).
pub(crate) async fn kept_buckets(
    s3: &aws_sdk_s3::Client,
    stack: &str,
    account: &str,
    region: &str,
) -> Result<Vec<String>> {
    let mut found = Vec::new();
    if let Ok(name) = default_bucket(stack, account, region)
        && super::s3::bucket_exists(s3, &name, Some(account)).await.unwrap_or(false)
    {
        found.push(name);
    }
    for name in super::s3::buckets_tagged(s3, account, region, super::cloudformation::STACK_TAG, stack).await? {
        if !found.contains(&name) {
            found.push(name);
        }
    }
    Ok(found)
}

/// The raw bucket a pipeline stack names: its output, or (a failed create has no outputs) its parameter.
pub(crate) fn stack_bucket(stack: &Stack) -> Option<String> {
    output(stack, "RawBucket").ok().or_else(|| {
        stack
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(Declared::bucket.parameter))
            .and_then(|p| p.parameter_value().map(str::to_owned))
    })
}

/// The lake's names in the Glue catalog and Athena: the database (lowercase and underscores) and the workgroup.
pub fn catalog_names(stack: &str) -> (String, String) {
    (format!("{}_lake", stack.replace('-', "_")), stack.to_owned())
}

/// The tables' partition-projection location templates for the settings' prefixes, or why a prefix cannot be a
/// table's partitions (deploy refuses it before any change).
pub(crate) fn location_templates(settings: &PipelineSettings) -> Result<(String, String)> {
    let template = |text: &str, error: bool| -> Result<String> {
        let prefix = Prefix::parse(text, error)?;
        let path = prefix
            .projection_template("processing-failed")
            .map_err(|why| crate::invalid!("the prefix {text:?} cannot be the lake table's partitions: {why}"))?;
        Ok(format!("s3://{}/{path}", settings.bucket))
    };
    Ok((template(&settings.prefix, false)?, template(&settings.error_prefix, true)?))
}

/// Declares each derived parameter's name once: a constant in [`derived`] and an entry of [`DERIVED_PARAMETERS`].
macro_rules! derived_parameters {
    ($($name:ident = $text:literal,)*) => {
        /// The pipeline stack's parameters that are not settings, by name.
        pub mod derived {
            $(pub const $name: &str = $text;)*
        }
        /// Stack parameters that are not settings: what deploy derives from the settings, the account and the
        /// build. Every other parameter of the pipeline template is a setting ([`crate::settings::DECLARED`]).
        pub const DERIVED_PARAMETERS: &[&str] = &[$(derived::$name),*];
    };
}

derived_parameters! {
    STREAM_NAME = "StreamName",
    FUNCTION_NAME = "FunctionName",
    CREATE_RAW_BUCKET = "CreateRawBucket",
    ARTIFACTS_BUCKET = "ArtifactsBucket",
    CODE_KEY = "CodeKey",
    GLUE_DATABASE = "GlueDatabase",
    WORKGROUP = "Workgroup",
    PROCESSED_LOCATION_TEMPLATE = "ProcessedLocationTemplate",
    ERROR_LOCATION_TEMPLATE = "ErrorLocationTemplate",
    PREFIX_ROOT = "PrefixRoot",
    ERROR_PREFIX_ROOT = "ErrorPrefixRoot",
    IOT_RULE_NAME = "IotRuleName",
    TRANSFORM_ID = "TransformId",
    FRESHNESS_THRESHOLD_SECONDS = "FreshnessThresholdSeconds",
    DURATION_THRESHOLD_MS = "DurationThresholdMs",
    DASHBOARD_NAME = "DashboardName",
}

/// The pipeline stack's parameters: every setting (as its declaration writes it), then what derives from them;
/// `raw_bucket` says whether the stack creates the raw bucket or uses one that exists (one a teardown kept).
pub fn pipeline_parameters(
    settings: &PipelineSettings,
    artifacts_bucket: &str,
    code_key: &str,
    raw_bucket: RawBucket,
    region: &str,
    transform_id: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let s = settings;
    let root = |text: &str, error: bool| -> Result<String> { Ok(Prefix::parse(text, error)?.static_root().to_owned()) };
    let p = |k: &str, v: String| (k.to_owned(), v);
    let (readings_location, errors_location) = location_templates(s)?;
    let (database, workgroup) = catalog_names(&s.stack);
    let mut parameters = s.input().to_parameters();
    parameters.extend([
        p(derived::STREAM_NAME, s.stream.clone()),
        p(derived::FUNCTION_NAME, s.function.clone()),
        p(derived::CREATE_RAW_BUCKET, raw_bucket.created_by_stack().to_string()),
        p(derived::ARTIFACTS_BUCKET, artifacts_bucket.to_owned()),
        p(derived::CODE_KEY, code_key.to_owned()),
        p(derived::GLUE_DATABASE, database),
        p(derived::WORKGROUP, workgroup),
        p(derived::PROCESSED_LOCATION_TEMPLATE, readings_location),
        p(derived::ERROR_LOCATION_TEMPLATE, errors_location),
        p(derived::PREFIX_ROOT, root(&s.prefix, false)?),
        p(derived::ERROR_PREFIX_ROOT, root(&s.error_prefix, true)?),
        p(derived::IOT_RULE_NAME, crate::mqtt::rule_name(&s.stack)),
        p(derived::TRANSFORM_ID, transform_id.unwrap_or("unknown").to_owned()),
        p(derived::FRESHNESS_THRESHOLD_SECONDS, crate::seams::vitals::freshness_threshold_seconds(s).to_string()),
        p(derived::DURATION_THRESHOLD_MS, crate::seams::vitals::Thresholds::of(s).duration_p90_ms.round().to_string()),
        p(derived::DASHBOARD_NAME, dashboard_name(&s.stack, region)),
    ]);
    Ok(parameters)
}

/// Firehose's rules for the stream's S3 destination, checked on the stack's rendered `parameters` and the
/// `template`'s stream before any AWS call: moto checks none of them, and on AWS a broken one surfaces only as a
/// failed create or update. With partitioning event (dynamic partitioning on): the prefix holds
/// `partitionKeyFromLambda` keys, the error prefix none, buffering is at least Firehose's minimums (the rule
/// `validate` checks, once more on what is rendered), and a Lambda processor runs. With arrival: the prefix holds no partition keys. Every broken rule is named at once.
pub(crate) fn firehose_rules(template: &str, parameters: &[(String, String)]) -> Result<()> {
    let get = |name: &str| -> Result<&str> {
        let value = parameters.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        value.ok_or_else(|| anyhow::anyhow!("the pipeline stack's parameter {name} is missing"))
    };
    let layout: Partitioning =
        get(Declared::partitioning.parameter)?.parse().map_err(|e: String| crate::invalid!("{e}"))?;
    let (prefix, error_prefix) = (get(Declared::prefix.parameter)?, get(Declared::error_prefix.parameter)?);
    let number = |name: &str| -> Result<u32> {
        let text = get(name)?;
        text.parse().map_err(|_| crate::invalid!("the parameter {name} is {text:?}, not a whole number"))
    };
    let from_lambda = |text: &str| text.contains("!{partitionKeyFromLambda:");
    let mut broken = Vec::new();
    if prefix.contains("!{partitionKeyFromQuery:") || error_prefix.contains("!{partitionKeyFromQuery:") {
        broken.push(
            "the prefixes use partitionKeyFromQuery keys, which need a MetadataExtraction (JQ) processor this \
             pipeline does not have"
                .to_owned(),
        );
    }
    if from_lambda(error_prefix) {
        broken.push(format!(
            "the error prefix {error_prefix:?} holds partition keys, which Firehose allows only in the prefix"
        ));
    }
    match layout {
        Partitioning::Event => {
            if !from_lambda(prefix) {
                broken.push(format!(
                    "with partitioning event the prefix must hold partitionKeyFromLambda keys, and {prefix:?} holds \
                     none"
                ));
            }
            broken.extend(crate::settings::event_buffering_shortfalls(
                number(Declared::buffer_size_mib.parameter)?,
                number(Declared::buffer_interval_seconds.parameter)?,
            ));
            if !runs_lambda_processor(template) {
                broken.push(
                    "the template's stream has no enabled Lambda processor, which partitionKeyFromLambda keys come \
                     from"
                        .to_owned(),
                );
            }
        }
        Partitioning::Arrival if from_lambda(prefix) => broken.push(format!(
            "with partitioning arrival the prefix {prefix:?} may not hold partition keys (Firehose allows them only \
             with dynamic partitioning): use !{{timestamp:...}} folders, or --partitioning event"
        )),
        Partitioning::Arrival => {}
    }
    if broken.is_empty() {
        return Ok(());
    }
    Err(crate::invalid!("Firehose would refuse this stream ({} layout): {}", layout.name(), broken.join("; ")))
}

/// Whether the template's delivery stream runs an enabled Lambda processor.
fn runs_lambda_processor(template: &str) -> bool {
    let Ok(doc) = serde_norway::from_str::<serde_norway::Value>(template) else { return false };
    let destination = &doc["Resources"]["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"];
    let processing = &destination["ProcessingConfiguration"];
    processing["Enabled"].as_bool() == Some(true)
        && processing["Processors"]
            .as_sequence()
            .is_some_and(|p| p.iter().any(|p| p["Type"].as_str() == Some("Lambda")))
}

/// What a deployed pipeline stack says about itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Deployed {
    pub(crate) stack: String,
    pub(crate) stream: String,
    pub(crate) stream_arn: String,
    pub(crate) bucket: String,
    pub(crate) function: String,
    pub(crate) function_arn: String,
    pub(crate) log_group: String,
    pub(crate) delivery_log_group: String,
    pub(crate) prefix: String,
    pub(crate) error_prefix: String,
    pub(crate) code_key: String,
    /// The console link of the stack's dashboard, and the alarms' SNS topic (when they are on).
    pub(crate) dashboard: Option<String>,
    pub(crate) alarm_topic: Option<String>,
    /// The stack's parameters: the settings it was deployed with.
    #[serde(skip)]
    pub(crate) parameters: std::collections::BTreeMap<String, String>,
}

/// The alarms the pipeline template makes when alarms are on, by the names after `<stack>-`; those of
/// [`EVENT_ONLY_ALARMS`] only for a stream partitioned by the readings' hour.
pub(crate) const ALARMS: [&str; 9] = [
    "delivery-freshness",
    "throttled-records",
    "failed-records",
    "lambda-errors",
    "lambda-throttles",
    "lambda-duration",
    "iot-rule-failures",
    "iot-error-action-failures",
    "partition-count-exceeded",
];

/// The alarms only a stack with partitioning event has: Firehose publishes their metric only with dynamic
/// partitioning on.
pub(crate) const EVENT_ONLY_ALARMS: [&str; 1] = ["partition-count-exceeded"];

/// The alarms a stack of this layout has when alarms are on (what `cost` prices).
pub fn alarms_of(partitioning: Partitioning) -> Vec<&'static str> {
    ALARMS.into_iter().filter(|a| partitioning == Partitioning::Event || !EVENT_ONLY_ALARMS.contains(a)).collect()
}

/// Every alarm a stack of either layout may have, by name (exact names: a prefix would also match a stack named
/// `<stack>-dev`). Asked for by name, an alarm the stack does not have is simply not in the answer.
pub fn alarm_names(stack: &str) -> Vec<String> {
    ALARMS.iter().map(|a| format!("{stack}-{a}")).collect()
}

/// The namespace of the `FailedRecords` metric the alarms' metric filter publishes.
pub fn failed_records_namespace(stack: &str) -> String {
    format!("reaqtions/{stack}")
}

/// Dashboards are global to the account: the name carries the stack and the region.
pub(crate) fn dashboard_name(stack: &str, region: &str) -> String {
    format!("{stack}-{region}")
}

/// The console link of a dashboard.
pub fn dashboard_url(region: &str, name: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}")
}

impl Deployed {
    /// The account that owns the pipeline (from the stream's ARN): the expected owner of its bucket.
    pub(crate) fn account(&self) -> Option<String> {
        self.stream_arn.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_owned)
    }

    pub(crate) fn from_stack(stack: &Stack) -> Result<Deployed> {
        Ok(Deployed {
            stack: stack.stack_name().unwrap_or_default().to_owned(),
            stream: output(stack, "StreamName")?,
            stream_arn: output(stack, "StreamArn")?,
            bucket: output(stack, "RawBucket")?,
            function: output(stack, "FunctionName")?,
            function_arn: output(stack, "FunctionArn")?,
            log_group: output(stack, "FunctionLogGroup")?,
            delivery_log_group: output(stack, "DeliveryLogGroup")?,
            prefix: output(stack, "Prefix")?,
            error_prefix: output(stack, "ErrorPrefix")?,
            code_key: output(stack, "CodeKey")?,
            dashboard: outputs(stack).into_iter().find(|(k, _)| k == "Dashboard").map(|(_, name)| {
                let region = output(stack, "StreamArn").ok().and_then(|a| a.split(':').nth(3).map(str::to_owned));
                dashboard_url(region.as_deref().unwrap_or("us-east-1"), &name)
            }),
            alarm_topic: outputs(stack).into_iter().find(|(k, _)| k == "AlarmTopic").map(|(_, arn)| arn),
            parameters: stack
                .parameters()
                .iter()
                .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned())))
                .collect(),
        })
    }

    /// The transform the deployed function runs (recorded by deploy from its bootstrap), when known.
    pub(crate) fn transform_id(&self) -> Option<&str> {
        self.parameters.get(derived::TRANSFORM_ID).map(String::as_str).filter(|id| *id != "unknown")
    }

    /// The settings the stack was deployed with, read back from its parameters through their declaration;
    /// the names come from its outputs. A setting the stack predates takes its default, except compression and
    /// partitioning: a stack deployed before them wrote plain objects by arrival.
    pub(crate) fn settings(&self) -> PipelineSettings {
        let mut input = crate::settings::SettingsInput::from_parameters(&self.parameters);
        input.stack = Some(self.stack.clone());
        input.bucket = Some(self.bucket.clone());
        input.prefix = Some(self.prefix.clone());
        input.error_prefix = Some(self.error_prefix.clone());
        if !self.parameters.contains_key(Declared::compression.parameter) {
            input.compression = Some(crate::compression::Compression::None);
        }
        // A stack deployed before the layout could be chosen files readings by arrival.
        input.partitioning.get_or_insert(crate::settings::Partitioning::Arrival);
        // What a stack runs with is shown as it is, even where today's rules would refuse it.
        let mut settings = PipelineSettings::resolve(input.clone()).unwrap_or_else(|e| {
            crate::warning!("stack {}'s parameters break a rule today ({e:#}): shown as deployed", self.stack);
            PipelineSettings::resolve_unchecked(input)
        });
        settings.stream.clone_from(&self.stream);
        settings.function.clone_from(&self.function);
        settings.log_group.clone_from(&self.log_group);
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Partitioning, SettingsInput};

    #[test]
    fn parameters_cover_every_template_parameter() {
        let settings = PipelineSettings::resolve(SettingsInput::default()).unwrap();
        let params =
            pipeline_parameters(&settings, "artifacts", "lambda/abc.zip", RawBucket::Create, "us-east-1", None)
                .unwrap();
        let template: serde_norway::Value = serde_norway::from_str(PIPELINE_TEMPLATE).unwrap();
        let mut declared: Vec<String> =
            template["Parameters"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
        let mut given: Vec<String> = params.iter().map(|(k, _)| k.clone()).collect();
        declared.sort();
        given.sort();
        assert_eq!(given, declared);
        assert!(params.contains(&(derived::PREFIX_ROOT.into(), "processed/year=".into())));
        assert!(params.contains(&(derived::ERROR_PREFIX_ROOT.into(), "error/".into())));
        assert!(params.contains(&(
            derived::PROCESSED_LOCATION_TEMPLATE.into(),
            "s3://reaqtions-iot-data-lake-raw/processed/year=${year}/month=${month}/day=${day}/hour=${hour}/".into()
        )));
        assert!(params.contains(&(
            derived::ERROR_LOCATION_TEMPLATE.into(),
            "s3://reaqtions-iot-data-lake-raw/error/processing-failed/year=${year}/month=${month}/day=${day}/hour=${hour}/"
                .into()
        )));
        assert!(params.contains(&(derived::GLUE_DATABASE.into(), "reaqtions_lake".into())));
        assert!(params.contains(&(Declared::athena_scan_limit_gb.parameter.into(), "10737418240".into())));
        // The layout is always passed: the template's defaults are arrival's, a new pipeline's is event.
        assert!(params.contains(&(Declared::partitioning.parameter.into(), "event".into())));
        assert!(params.contains(&(Declared::buffer_size_mib.parameter.into(), "64".into())));
        let arrival = SettingsInput { partitioning: Some(Partitioning::Arrival), ..Default::default() };
        let params = rendered(arrival);
        assert!(params.contains(&(Declared::partitioning.parameter.into(), "arrival".into())));
        assert_eq!(template["Parameters"][Declared::partitioning.parameter]["Default"].as_str(), Some("arrival"));
    }

    fn rendered(input: SettingsInput) -> Vec<(String, String)> {
        let settings = PipelineSettings::resolve(input).unwrap();
        pipeline_parameters(&settings, "artifacts", "lambda/abc.zip", RawBucket::Create, "us-east-1", None).unwrap()
    }

    fn with(mut params: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
        params.iter_mut().find(|(k, _)| k == key).unwrap().1 = value.to_owned();
        params
    }

    #[test]
    fn firehose_rules_are_checked_on_the_rendered_parameters() {
        let event = rendered(SettingsInput::default());
        let arrival = rendered(SettingsInput { partitioning: Some(Partitioning::Arrival), ..Default::default() });
        firehose_rules(PIPELINE_TEMPLATE, &event).unwrap();
        firehose_rules(PIPELINE_TEMPLATE, &arrival).unwrap();
        // Arrival allows what event does not: no buffering minimums.
        firehose_rules(
            PIPELINE_TEMPLATE,
            &with(
                with(arrival.clone(), Declared::buffer_size_mib.parameter, "1"),
                Declared::buffer_interval_seconds.parameter,
                "0",
            ),
        )
        .unwrap();
        let refused = |template: &str, params: &[(String, String)]| {
            let e = firehose_rules(template, params).unwrap_err();
            assert!(crate::error::is_invalid(&e), "exit 2: {e}");
            e.to_string()
        };
        let e = refused(PIPELINE_TEMPLATE, &with(event.clone(), Declared::buffer_size_mib.parameter, "32"));
        assert!(e.contains("buffer size 32 MiB is below the 64 MiB") && e.contains("event layout"), "{e}");
        let e = refused(PIPELINE_TEMPLATE, &with(event.clone(), Declared::buffer_interval_seconds.parameter, "0"));
        assert!(e.contains("buffer interval 0 s is below the 60 s"), "{e}");
        let e = refused(
            PIPELINE_TEMPLATE,
            &with(event.clone(), Declared::prefix.parameter, crate::settings::DEFAULT_PREFIX),
        );
        assert!(e.contains("must hold partitionKeyFromLambda keys"), "{e}");
        let keyed_errors = "error/!{firehose:error-output-type}/hour=!{partitionKeyFromLambda:hour}/";
        let e = refused(PIPELINE_TEMPLATE, &with(event.clone(), Declared::error_prefix.parameter, keyed_errors));
        assert!(e.contains("the error prefix") && e.contains("holds partition keys"), "{e}");
        let keyed = crate::prefix::keyed_prefix("processed/");
        let e = refused(PIPELINE_TEMPLATE, &with(arrival.clone(), Declared::prefix.parameter, &keyed));
        assert!(e.contains("with partitioning arrival") && e.contains("arrival layout"), "{e}");
        let jq = "processed/site=!{partitionKeyFromQuery:site}/hour=!{partitionKeyFromLambda:hour}/";
        let e = refused(PIPELINE_TEMPLATE, &with(event.clone(), Declared::prefix.parameter, jq));
        assert!(e.contains("MetadataExtraction"), "{e}");
        // A template whose stream has no Lambda processor cannot take keys from one.
        let no_lambda = PIPELINE_TEMPLATE.replacen("- Type: Lambda", "- Type: AppendDelimiterToRecord", 1);
        assert_ne!(no_lambda, PIPELINE_TEMPLATE);
        let e = refused(&no_lambda, &event);
        assert!(e.contains("no enabled Lambda processor"), "{e}");
        firehose_rules(&no_lambda, &arrival).unwrap();
        // Every broken rule at once.
        let e = refused(
            PIPELINE_TEMPLATE,
            &with(
                with(event, Declared::buffer_size_mib.parameter, "5"),
                Declared::buffer_interval_seconds.parameter,
                "0",
            ),
        );
        assert!(e.contains("buffer size 5 MiB") && e.contains("buffer interval 0 s"), "{e}");
    }

    #[test]
    fn the_event_only_alarms_are_left_out_of_an_arrival_stack() {
        assert_eq!(alarms_of(Partitioning::Event).len(), ALARMS.len());
        let arrival = alarms_of(Partitioning::Arrival);
        assert_eq!(arrival.len(), ALARMS.len() - EVENT_ONLY_ALARMS.len());
        assert!(!arrival.contains(&"partition-count-exceeded"), "{arrival:?}");
        assert!(alarm_names("lab").contains(&"lab-partition-count-exceeded".to_owned()), "asked for by name in either");
    }

    #[test]
    fn a_prefix_the_table_cannot_project_is_refused_with_the_reason() {
        let refused = |prefix: &str| {
            let input = SettingsInput {
                partitioning: Some(Partitioning::Arrival),
                prefix: Some(prefix.into()),
                error_prefix: Some("error/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/".into()),
                ..Default::default()
            };
            let settings = PipelineSettings::resolve(input).unwrap();
            location_templates(&settings).unwrap_err().to_string()
        };
        assert!(refused("raw/!{firehose:random-string}/!{timestamp:yyyy/MM/dd/HH}/").contains("random-string"));
        assert!(refused("raw/!{timestamp:yyyy/MM/dd}/").contains("!{timestamp:HH} exactly once"));
        assert!(refused("raw/!{timestamp:yyyy/MM/dd/HH/mm}/").contains("cannot be projected"));
        let fine = SettingsInput {
            partitioning: Some(Partitioning::Arrival),
            prefix: Some("data/!{timestamp:yyyy/MM/dd/HH}/".into()),
            ..Default::default()
        };
        let (readings, _) = location_templates(&PipelineSettings::resolve(fine).unwrap()).unwrap();
        assert_eq!(readings, "s3://reaqtions-iot-data-lake-raw/data/${year}/${month}/${day}/${hour}/");
        // In event mode the tool writes the prefix: the given one's folders, then the reading's hour as keys.
        let event = SettingsInput { prefix: Some("raw/!{timestamp:yyyy/MM/dd}/".into()), ..Default::default() };
        let settings = PipelineSettings::resolve(event).unwrap();
        assert_eq!(settings.prefix, crate::prefix::keyed_prefix("raw/"));
        let (readings, _) = location_templates(&settings).unwrap();
        assert_eq!(
            readings,
            "s3://reaqtions-iot-data-lake-raw/raw/year=${year}/month=${month}/day=${day}/hour=${hour}/"
        );
        assert_eq!(catalog_names("lab-2"), ("lab_2_lake".to_owned(), "lab-2".to_owned()));
    }
}

#[cfg(test)]
mod iam_tests {
    use super::*;

    /// Every Allow statement of every template names its actions and resources: no `*`.
    #[test]
    fn no_wildcard_actions_or_resources() {
        fn walk(v: &serde_norway::Value, found: &mut Vec<String>) {
            match v {
                serde_norway::Value::Mapping(m) => {
                    if m.get("Effect").and_then(|e| e.as_str()) == Some("Allow") {
                        for key in ["Action", "Resource"] {
                            let values = match m.get(key) {
                                Some(serde_norway::Value::Sequence(seq)) => seq.clone(),
                                Some(other) => vec![other.clone()],
                                None => vec![],
                            };
                            for value in values {
                                if let Some(text) = value.as_str()
                                    && (text == "*" || text.ends_with(":*") && key == "Action")
                                {
                                    found.push(format!("{key} {text}"));
                                }
                            }
                        }
                    }
                    m.iter().for_each(|(_, v)| walk(v, found));
                }
                serde_norway::Value::Sequence(seq) => seq.iter().for_each(|v| walk(v, found)),
                serde_norway::Value::Tagged(t) => walk(&t.value, found),
                _ => {}
            }
        }
        for (name, body) in TEMPLATES {
            let mut found = Vec::new();
            walk(&serde_norway::from_str(body).unwrap(), &mut found);
            assert!(found.is_empty(), "{name}: {found:?}");
        }
    }
}
