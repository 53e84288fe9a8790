//! The pipeline on AWS: the embedded CloudFormation templates, stack names and parameters derived from the
//! shared [`PipelineSettings`], and what a deployed stack's outputs say.

use anyhow::{Result, ensure};
use aws_sdk_cloudformation::types::Stack;
use serde::Serialize;

use super::cloudformation::output;
use crate::prefix::Prefix;
use crate::settings::PipelineSettings;

pub const ARTIFACTS_TEMPLATE: &str = include_str!("../../templates/artifacts.yaml");
pub const PIPELINE_TEMPLATE: &str = include_str!("../../templates/pipeline.yaml");

/// The templates by file name, for `reaqtions template`.
pub const TEMPLATES: [(&str, &str); 2] = [("artifacts.yaml", ARTIFACTS_TEMPLATE), ("pipeline.yaml", PIPELINE_TEMPLATE)];

pub fn artifacts_stack(stack: &str) -> String {
    format!("{stack}-artifacts")
}

/// `reaqtions-iot-data-lake-raw` itself is surely taken: the default is unique per account and region.
pub fn default_bucket(stack: &str, account: &str, region: &str) -> Result<String> {
    let name = format!("{stack}-iot-data-lake-raw-{account}-{region}");
    ensure!(
        name.len() <= 63,
        "the default bucket name {name} is longer than S3's 63 characters: pass --bucket or use a shorter --stack"
    );
    Ok(name)
}

/// The pipeline stack's parameters; `create_bucket` false reuses an existing raw bucket (one a previous
/// teardown kept).
pub fn pipeline_parameters(
    settings: &PipelineSettings,
    artifacts_bucket: &str,
    code_key: &str,
    architecture: &str,
    create_bucket: bool,
) -> Result<Vec<(String, String)>> {
    let s = settings;
    let root = |text: &str, error: bool| -> Result<String> { Ok(Prefix::parse(text, error)?.static_root().to_owned()) };
    let p = |k: &str, v: String| (k.to_owned(), v);
    Ok(vec![
        p("StreamName", s.stream.clone()),
        p("FunctionName", s.function.clone()),
        p("RawBucketName", s.bucket.clone()),
        p("CreateRawBucket", create_bucket.to_string()),
        p("ArtifactsBucket", artifacts_bucket.to_owned()),
        p("CodeKey", code_key.to_owned()),
        p("Architecture", architecture.to_owned()),
        p("LambdaMemory", s.lambda.memory_mb.to_string()),
        p("LambdaTimeout", s.lambda.timeout_seconds.to_string()),
        p("LogRetentionDays", s.log_retention_days.to_string()),
        p("BufferSizeMiB", s.buffering.size_mib.to_string()),
        p("BufferIntervalSeconds", s.buffering.interval_seconds.to_string()),
        p("ProcessorBufferSizeMB", s.processor.size_mb.to_string()),
        p("ProcessorBufferIntervalSeconds", s.processor.interval_seconds.to_string()),
        p("Prefix", s.prefix.clone()),
        p("ErrorPrefix", s.error_prefix.clone()),
        p("PrefixRoot", root(&s.prefix, false)?),
        p("ErrorPrefixRoot", root(&s.error_prefix, true)?),
    ])
}

/// What a deployed pipeline stack says about itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Deployed {
    pub stack: String,
    pub stream: String,
    pub stream_arn: String,
    pub bucket: String,
    pub function: String,
    pub function_arn: String,
    pub log_group: String,
    pub delivery_log_group: String,
    pub prefix: String,
    pub error_prefix: String,
    pub code_key: String,
}

impl Deployed {
    pub fn from_stack(stack: &Stack) -> Result<Deployed> {
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
        })
    }

    /// Settings for report and verify (names and prefixes; buffering is the stream's business).
    pub fn settings(&self) -> Result<PipelineSettings> {
        let mut settings = PipelineSettings::resolve(crate::settings::SettingsFile::default())?;
        settings.stack.clone_from(&self.stack);
        settings.stream.clone_from(&self.stream);
        settings.bucket.clone_from(&self.bucket);
        settings.function.clone_from(&self.function);
        settings.log_group.clone_from(&self.log_group);
        settings.prefix.clone_from(&self.prefix);
        settings.error_prefix.clone_from(&self.error_prefix);
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SettingsFile;

    #[test]
    fn parameters_cover_every_template_parameter() {
        let settings = PipelineSettings::resolve(SettingsFile::default()).unwrap();
        let params = pipeline_parameters(&settings, "artifacts", "lambda/abc.zip", "x86_64", true).unwrap();
        let template: serde_norway::Value = serde_norway::from_str(PIPELINE_TEMPLATE).unwrap();
        let mut declared: Vec<String> =
            template["Parameters"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
        let mut given: Vec<String> = params.iter().map(|(k, _)| k.clone()).collect();
        declared.sort();
        given.sort();
        assert_eq!(given, declared);
        assert!(params.contains(&("PrefixRoot".into(), "processed/year=".into())));
        assert!(params.contains(&("ErrorPrefixRoot".into(), "error/".into())));
    }

    #[test]
    fn default_bucket_is_unique_and_bounded() {
        assert_eq!(
            default_bucket("reaqtions", "123456789012", "eu-west-1").unwrap(),
            "reaqtions-iot-data-lake-raw-123456789012-eu-west-1"
        );
        let long = default_bucket("a-very-long-stack-name-indeed", "123456789012", "ap-southeast-2").unwrap_err();
        assert!(long.to_string().contains("--bucket"));
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
                    m.values().for_each(|v| walk(v, found));
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
