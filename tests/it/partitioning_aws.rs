//! The layout on AWS, against moto: a new stack files readings by their own hour (dynamic partitioning), a
//! deployed stack keeps its layout and a request for the other is refused before anything changes, the stream's
//! own answer wins over the stack's parameter, and a bucket prefix holding the other layout's objects is refused.
//! moto's CloudFormation skips the delivery stream, so a test that needs one creates it as the template would.

use std::collections::BTreeMap;

use aws_sdk_firehose::types::{
    BufferingHints, DeliveryStreamType, DynamicPartitioningConfiguration, ExtendedS3DestinationConfiguration,
    RetryOptions,
};
use reaqtions::settings::DEFAULT_PREFIX;

use crate::{AwsEnv, Cli, RAW};

/// The prefix the tool writes for an event pipeline under `root`: the reading's hour as keys from the transform.
fn keyed_prefix(root: &str) -> String {
    let key = |name: &str| format!("{name}=!{{partitionKeyFromLambda:{name}}}/");
    format!("{root}{}{}{}{}", key("year"), key("month"), key("day"), key("hour"))
}

/// The stack's parameters, and when it last changed.
fn stack(env: &AwsEnv, name: &str) -> Option<(BTreeMap<String, String>, Option<i64>)> {
    let cfn = aws_sdk_cloudformation::Client::new(&env.moto.sdk_config(&env.runtime));
    let found = env.runtime.block_on(cfn.describe_stacks().stack_name(name).send()).ok()?;
    let stack = found.stacks().first()?;
    let parameters = (stack.parameters().iter())
        .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned())))
        .collect();
    Some((parameters, stack.last_updated_time().map(|t| t.secs())))
}

/// What the layout record under the processed prefix says, if there is one.
fn marker(env: &AwsEnv, bucket: &str) -> Option<String> {
    let get = env.s3().get_object().bucket(bucket).key("processed/_reaqtions_layout").send();
    let out = env.runtime.block_on(get).ok()?;
    let bytes = env.runtime.block_on(out.body.collect()).unwrap().into_bytes();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `deploy` with `args`, its exit code and what it said.
fn deploy_refused(env: &AwsEnv, args: &[&str]) -> (Option<i32>, String) {
    let zip = env.zip();
    let out = env.cmd(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"]).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The delivery stream as the template creates it in event mode (moto's CloudFormation skips it).
fn create_event_stream(env: &AwsEnv) {
    let firehose = aws_sdk_firehose::Client::new(&env.moto.sdk_config(&env.runtime));
    let partitioning = DynamicPartitioningConfiguration::builder()
        .enabled(true)
        .retry_options(RetryOptions::builder().duration_in_seconds(300).build())
        .build();
    let destination = ExtendedS3DestinationConfiguration::builder()
        .bucket_arn(format!("arn:aws:s3:::{RAW}"))
        .role_arn("arn:aws:iam::123456789012:role/reaqtions-firehose")
        .prefix(keyed_prefix("processed/"))
        .error_output_prefix(reaqtions::settings::DEFAULT_ERROR_PREFIX)
        .buffering_hints(BufferingHints::builder().size_in_mbs(64).interval_in_seconds(60).build())
        .dynamic_partitioning_configuration(partitioning)
        .build()
        .unwrap();
    let create = firehose
        .create_delivery_stream()
        .delivery_stream_name("reaqtions-iot-data-stream")
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(destination)
        .send();
    env.runtime.block_on(create).unwrap();
}

/// A new stack files readings by their own hour: the layout, the keyed prefix, Firehose's minimum buffering and
/// the freshness threshold (1.5 × the interval) reach the stack, the function learns the mode, and the lake's
/// prefix records it.
#[test]
fn a_new_stack_files_readings_by_their_own_hour() {
    let env = AwsEnv::start();
    let zip = env.zip();
    let plan = env.json(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--dry-run", "--format", "json"]);
    let planned: Vec<(String, String)> = serde_json::from_value(plan["parameters"].clone()).unwrap();
    assert!(planned.contains(&("Partitioning".into(), "event".into())), "{plan}");
    assert!(plan["lake_layout"].as_str().unwrap().contains("event would be recorded"), "{plan}");

    let deployed = env.deploy(&[]);
    assert_eq!(deployed["change"], "created", "{deployed}");
    let (parameters, _) = stack(&env, "reaqtions").unwrap();
    assert_eq!(parameters["Partitioning"], "event");
    assert_eq!(parameters["Prefix"], keyed_prefix("processed/"));
    assert_eq!((parameters["BufferSizeMiB"].as_str(), parameters["BufferIntervalSeconds"].as_str()), ("64", "60"));
    assert_eq!(parameters["FreshnessThresholdSeconds"], "395", "1.5 × 60 s + 5 s + the 300 s margin");
    assert_eq!(marker(&env, RAW).as_deref(), Some("event"));
    let lambda = aws_sdk_lambda::Client::new(&env.moto.sdk_config(&env.runtime));
    let function = lambda.get_function_configuration().function_name("reaqtions-data-transformation").send();
    let function = env.runtime.block_on(function).unwrap();
    let variables = function.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    assert_eq!(variables.get(reaqtions_lambda::PARTITIONING_VAR).map(String::as_str), Some("event"));

    // What moto shows of the stream: its CloudFormation skips it, so there is none until it is created as the
    // template does; then DescribeDeliveryStream's extended description carries the block, and status reads it.
    let firehose = aws_sdk_firehose::Client::new(&env.moto.sdk_config(&env.runtime));
    let describe = || firehose.describe_delivery_stream().delivery_stream_name("reaqtions-iot-data-stream").send();
    assert!(env.runtime.block_on(describe()).is_err(), "moto's CloudFormation creates no stream");
    create_event_stream(&env);
    let described = env.runtime.block_on(describe()).unwrap();
    let destination = &described.delivery_stream_description().unwrap().destinations()[0];
    let block = destination.extended_s3_destination_description().unwrap().dynamic_partitioning_configuration();
    assert_eq!(block.and_then(|b| b.enabled()), Some(true));
    let status = env.json(&["status", "--format", "json"]);
    assert_eq!(status["settings"]["partitioning"], "event", "{status}");
    assert_eq!(status["stream_partitioning"], "event", "{status}");
    assert!(status["layout"].as_str().unwrap().starts_with("event: each reading under the hour it was measured"));
    // The stream and the stack agree: a redeploy changes nothing.
    assert_eq!(env.deploy(&[])["change"], "up to date");
}

/// An arrival stack keeps its layout: asking it for event is refused with exit 2, naming the stack and what to do
/// instead (never teardown, which revokes every device's certificate), and nothing changes; a deploy without the
/// flag keeps arrival, buffering only arrival allows included.
#[test]
fn a_deployed_layout_is_kept_and_the_other_refused() {
    let env = AwsEnv::start();
    env.deploy(&["--partitioning", "arrival"]);
    let (before, updated) = stack(&env, "reaqtions").unwrap();
    assert_eq!(before["Partitioning"], "arrival");
    assert_eq!((before["Prefix"].as_str(), before["BufferSizeMiB"].as_str()), (DEFAULT_PREFIX, "5"));
    assert_eq!(marker(&env, RAW).as_deref(), Some("arrival"));

    let (code, said) = deploy_refused(&env, &["--partitioning", "event"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("pipeline reaqtions files readings by the hour each reading arrived"), "{said}");
    assert!(said.contains("Deploy without --partitioning") && said.contains("--stack <new-name>"), "{said}");
    assert!(!said.to_lowercase().contains("teardown"), "teardown revokes every device's certificate: {said}");
    assert_eq!(stack(&env, "reaqtions").unwrap(), (before.clone(), updated), "nothing changed");
    assert_eq!(marker(&env, RAW).as_deref(), Some("arrival"));

    let kept = env.deploy(&[]);
    assert_eq!(kept["change"], "up to date", "{kept}");
    assert_eq!(stack(&env, "reaqtions").unwrap().0["Partitioning"], "arrival");
    // Interval 0 is arrival's alone: without the flag it is checked against the deployed layout and kept.
    let zero = env.deploy(&["--buffer-interval-seconds", "0"]);
    assert_eq!(zero["change"], "updated", "{zero}");
    let (after, _) = stack(&env, "reaqtions").unwrap();
    assert_eq!((after["Partitioning"].as_str(), after["BufferIntervalSeconds"].as_str()), ("arrival", "0"));
}

/// The stream's own layout wins over the stack's parameter: Firehose never changes a stream's, whatever the
/// stack says (here an event stream under a stack that says arrival).
#[test]
fn the_streams_own_layout_wins_over_the_stacks_parameter() {
    let env = AwsEnv::start();
    env.deploy(&["--partitioning", "arrival"]);
    create_event_stream(&env);
    let (code, said) = deploy_refused(&env, &["--partitioning", "arrival"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("its delivery stream reaqtions-iot-data-stream files by event"), "{said}");
    assert!(said.contains("pipeline reaqtions files readings by the hour each reading was measured"), "{said}");
    assert_eq!(stack(&env, "reaqtions").unwrap().0["Partitioning"], "arrival", "nothing changed");
}

/// One prefix never holds both layouts: a bucket whose processed prefix holds arrival objects (from before the
/// layout was recorded) refuses an event pipeline before anything is created, and takes an arrival one, which
/// records its layout; a recorded event prefix refuses an arrival pipeline.
#[test]
fn a_prefix_holding_the_other_layouts_objects_is_refused() {
    let env = AwsEnv::start();
    env.runtime.block_on(env.s3().create_bucket().bucket("shared-lake").send()).unwrap();
    env.put("shared-lake", "processed/year=2026/month=11/day=26/hour=04/old.json");
    let (code, said) = deploy_refused(&env, &["--bucket", "shared-lake"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("s3://shared-lake/processed/ already holds readings") && said.contains("arrival"), "{said}");
    assert!(stack(&env, "reaqtions").is_none(), "no stack was created");
    assert_eq!(env.buckets(), ["shared-lake"], "no artifacts bucket either");
    assert_eq!(marker(&env, "shared-lake"), None);

    let deployed = env.deploy(&["--bucket", "shared-lake", "--partitioning", "arrival"]);
    assert_eq!(deployed["raw_bucket"], "reused (not managed by the stack)", "{deployed}");
    assert_eq!(marker(&env, "shared-lake").as_deref(), Some("arrival"));

    env.runtime.block_on(env.s3().create_bucket().bucket("event-lake").send()).unwrap();
    let record =
        env.s3().put_object().bucket("event-lake").key("processed/_reaqtions_layout").body(b"event".to_vec().into());
    env.runtime.block_on(record.send()).unwrap();
    let (code, said) = deploy_refused(&env, &["--stack", "lab", "--bucket", "event-lake", "--partitioning", "arrival"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("s3://event-lake/processed/") && said.contains("partitioning: event"), "{said}");
    assert!(stack(&env, "lab").is_none());
}

/// What only Firehose would refuse is refused before any AWS call: buffering under its minimums for a new
/// (event) pipeline, and partition keys in an arrival prefix.
#[test]
fn firehose_rules_are_checked_before_any_aws_call() {
    let env = AwsEnv::start();
    let keyed = keyed_prefix("raw/");
    for (args, needle) in [
        (vec!["--buffer-interval-seconds", "0"], "buffer interval 0 s"),
        (vec!["--buffer-size-mib", "5"], "buffer size 5 MiB"),
        (vec!["--partitioning", "arrival", "--prefix", keyed.as_str()], "may not hold partition keys"),
    ] {
        let (code, said) = deploy_refused(&env, &args);
        assert_eq!(code, Some(2), "{args:?}: {said}");
        assert!(said.contains(needle), "{args:?}: {said}");
    }
    assert!(env.buckets().is_empty(), "nothing was created");
    assert!(stack(&env, "reaqtions").is_none());
}
