//! Compressed lakes: GZIP by default on both targets, `compression: none` still readable, and a lake holding
//! both kinds read as one — by each object's bytes, not its name.

use serde_json::Value;

use crate::Env;
use crate::{AwsEnv, RAW};

fn rows(env: &Env) -> usize {
    env.json(&["report", "--format", "json"]).as_array().unwrap().len()
}

#[test]
fn a_lake_of_gzip_and_plain_objects_reads_as_one() {
    let env = Env::default();
    let deployed = env.json(&["deploy", "--format", "json"]);
    assert_eq!(deployed["change"], "created");
    env.ok(&["simulate", "--devices", "3", "--count", "10", "--rate", "100", "--quiet"]);
    let lake = env.data_dir().join("lake/reaqtions-iot-data-lake-raw");
    let files = |gz: bool| -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![lake.join("processed")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.ends_with("processed/_reaqtions_layout") {
                    // deploy's record of the layout, not an object of readings
                } else if path.extension().is_some_and(|e| e == "gz") == gz {
                    out.push(path);
                }
            }
        }
        out
    };
    let gzipped = files(true);
    assert!(!gzipped.is_empty() && files(false).is_empty(), "the default writes .gz objects");
    for path in &gzipped {
        assert!(std::fs::read(path).unwrap().starts_with(&[0x1f, 0x8b]), "{} is gzip", path.display());
    }
    assert_eq!(rows(&env), 30);

    // Switched off: new objects are plain, the old ones stay gzip, and every reader reads both.
    let switched = env.json(&["deploy", "--compression", "none", "--format", "json"]);
    assert_eq!(switched["change"], "updated");
    let summary = env.json(&[
        "simulate",
        "--devices",
        "2",
        "--count",
        "10",
        "--rate",
        "100",
        "--verify",
        "--quiet",
        "--format",
        "json",
    ]);
    assert_eq!(summary["verify"]["missing"], 0, "--verify reads the plain objects: {summary}");
    assert!(!files(false).is_empty() && files(true).len() == gzipped.len());
    assert_eq!(rows(&env), 50, "both kinds in one report");
    let csv = env.ok(&["report", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 51, "header and every reading");

    // A plain object named .gz is read by its bytes too.
    let plain = files(false)[0].clone();
    std::fs::rename(&plain, plain.with_extension("gz")).unwrap();
    assert_eq!(rows(&env), 50);
}

#[test]
fn deploy_asks_firehose_for_gzip_and_report_reads_gzip_objects_from_s3() {
    let env = AwsEnv::start();
    let zip = env.zip();
    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"]);
    let cfn = aws_sdk_cloudformation::Client::new(&env.moto.sdk_config(&env.runtime));
    let stack = env.runtime.block_on(cfn.describe_stacks().stack_name("reaqtions").send()).unwrap();
    let parameter = stack.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("CompressionFormat"))
        .and_then(|p| p.parameter_value().map(str::to_owned));
    assert_eq!(parameter.as_deref(), Some("GZIP"), "the stream is asked for GZIP objects");

    // moto's Firehose writes what it is sent: the objects Firehose would write are put here, one of each kind.
    let line = |device: &str| {
        format!(
            "{{\"device_id\":\"{device}\",\"TIME\":\"2026-11-26T07:00:00.000000\",\"NO2\":1.5,\
             \"_firehose_arrival\":\"2026-11-26T07:00:01.000Z\",\"_reading_time\":\"2026-11-26T07:00:00.000Z\"}}\n"
        )
    };
    let gz = reaqtions::compression::Compression::Gzip.encode(line("aq-0001").as_bytes()).unwrap();
    let base = "processed/year=2026/month=11/day=26/hour=07/reaqtions-iot-data-stream-1-2026-11-26-07-00-00-";
    for (key, body) in [
        (format!("{base}0f0e0d0c-0b0a-0908-0706-050403020100.gz"), gz),
        (format!("{base}1f0e0d0c-0b0a-0908-0706-050403020100"), line("aq-0002").into_bytes()),
    ] {
        env.runtime.block_on(env.s3().put_object().bucket(RAW).key(key).body(body.into()).send()).unwrap();
    }
    let report: Value = env.json(&["report", "--format", "json", "--since", "2026-11-26T00:00:00Z"]);
    let mut devices: Vec<&str> = report.as_array().unwrap().iter().map(|r| r["device_id"].as_str().unwrap()).collect();
    devices.sort_unstable();
    assert_eq!(devices, ["aq-0001", "aq-0002"]);

    // The report page from S3 too: both objects, each device's series, the bucket named, error/ counted.
    let page = env.ok(&["report", "--format", "html", "--since", "2026-11-26T00:00:00Z"]);
    for device in ["aq-0001", "aq-0002", "fleet"] {
        // One reading each, both at 07:00:00: one bucket per series.
        assert!(page.contains(&format!(r#"data-device="{device}" data-measure="NO2" data-points="1""#)), "{device}");
    }
    assert!(page.contains(&format!("Source: s3://{RAW}")) && page.contains("No failed records in the window"));
}

#[test]
fn the_stream_writes_what_the_setting_says() {
    use reaqtions::aws::stack::{PIPELINE_TEMPLATE, RawBucket, pipeline_parameters};
    use reaqtions::settings::{PipelineSettings, SettingsInput};
    let t = crate::templates::template(PIPELINE_TEMPLATE);
    for (compression, expected) in [(None, "GZIP"), (Some(reaqtions::compression::Compression::None), "UNCOMPRESSED")] {
        let settings = PipelineSettings::resolve(SettingsInput { compression, ..SettingsInput::default() }).unwrap();
        let params = pipeline_parameters(&settings, "a", "k", RawBucket::Create, "eu-west-1", None).unwrap();
        let format = params.iter().find(|(k, _)| k == "CompressionFormat").map(|(_, v)| v.clone()).unwrap();
        assert_eq!(format, expected);
        // The template's conditions evaluated for these settings (the layout switches the destination's parts).
        let d = crate::templates::deployment_of(&t, &settings);
        let destination =
            d.resolve(&t["Resources"]["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]);
        assert_eq!(destination["CompressionFormat"], expected);
    }
    let allowed = &t["Parameters"]["CompressionFormat"]["AllowedValues"];
    assert_eq!(
        format!("{allowed:?}").matches("GZIP").count() + format!("{allowed:?}").matches("UNCOMPRESSED").count(),
        2
    );
}

#[test]
fn lifecycle_rules_follow_each_setting_and_are_off_by_default() {
    use reaqtions::aws::stack::{PIPELINE_TEMPLATE, RawBucket, pipeline_parameters};
    use reaqtions::lifecycle::StorageClass;
    use reaqtions::settings::{PipelineSettings, SettingsInput};
    let t = crate::templates::template(PIPELINE_TEMPLATE);
    let rules = |input: SettingsInput| -> Vec<serde_norway::Value> {
        let settings = PipelineSettings::resolve(input).unwrap();
        let params = pipeline_parameters(&settings, "a", "k", RawBucket::Create, "eu-west-1", None).unwrap();
        let mut d = crate::templates::deployment(true);
        let set = |name: &str| params.iter().find(|(k, _)| k == name).is_some_and(|(_, v)| v != "0");
        d.conditions.insert("GoesCold".into(), set("ColdAfterDays"));
        d.conditions.insert("ExpiresProcessed".into(), set("ExpireProcessedAfterDays"));
        d.conditions.insert("ExpiresErrors".into(), set("ExpireErrorsAfterDays"));
        d.values.extend(params);
        d.values.insert("AWS::NoValue".into(), "(no value)".into());
        let resolved = d.resolve(&t["Resources"]["RawBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]);
        resolved.as_sequence().unwrap().iter().filter(|r| r.as_str() != Some("(no value)")).cloned().collect()
    };
    assert_eq!(rules(SettingsInput::default()).len(), 1, "only the hygiene rule by default");

    let year = rules(SettingsInput {
        cold_after_days: Some(30),
        cold_storage_class: Some(StorageClass::GlacierIr),
        expire_processed_after_days: Some(365),
        expire_errors_after_days: Some(90),
        ..SettingsInput::default()
    });
    let ids: Vec<&str> = year.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["storage-hygiene", "processed-cold", "processed-expiry", "errors-expiry"]);
    assert_eq!(year[1]["Prefix"], "processed/year=");
    assert_eq!(year[1]["Transitions"][0]["StorageClass"], "GLACIER_IR");
    assert_eq!(year[1]["Transitions"][0]["TransitionInDays"], "30");
    assert_eq!((year[2]["ExpirationInDays"].as_str(), year[3]["ExpirationInDays"].as_str()), (Some("365"), Some("90")));
    assert_eq!(year[3]["Prefix"], "error/");

    let err = PipelineSettings::resolve(SettingsInput {
        cold_after_days: Some(10),
        cold_storage_class: Some(StorageClass::StandardIa),
        ..SettingsInput::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("no earlier than day 30"), "{err}");
}
