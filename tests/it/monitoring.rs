//! The pipeline template's alarms, topic, key and dashboard read as CloudFormation would for concrete settings:
//! every metric named with the dimensions AWS publishes it under (the list below is the facts sheet's,
//! `../shared/OPERATIONS.md`), thresholds derived from the settings, and what moto's CloudFormation cannot show
//! (conditions, the key policy that lets CloudWatch publish to the encrypted topic).

use std::collections::HashMap;

use reaqtions::aws::cloudwatch::iot_rule_query;
use reaqtions::aws::stack::{PIPELINE_TEMPLATE, RawBucket, alarm_names, failed_records_namespace, pipeline_parameters};
use reaqtions::settings::{Partitioning, PipelineSettings, SettingsInput};
use serde_norway::Value;

use crate::iam_eval::Deployment;
use crate::templates::{deployment_of, template};

/// (namespace, metric) → the dimension names AWS publishes it with.
fn published() -> HashMap<(&'static str, &'static str), Vec<&'static str>> {
    let mut m = HashMap::new();
    for name in [
        "IncomingBytes",
        "IncomingRecords",
        "IncomingPutRequests",
        "ThrottledRecords",
        "BytesPerSecondLimit",
        "RecordsPerSecondLimit",
        "PutRequestsPerSecondLimit",
        "DeliveryToS3.Bytes",
        "DeliveryToS3.Records",
        "DeliveryToS3.DataFreshness",
        "DeliveryToS3.Success",
        "ExecuteProcessing.Duration",
        "ExecuteProcessing.Success",
        "SucceedProcessing.Records",
        "SucceedProcessing.Bytes",
        // With dynamic partitioning on: the active partitions, and 1 while past their limit.
        "PartitionCount",
        "PartitionCountExceeded",
    ] {
        m.insert(("AWS/Firehose", name), vec!["DeliveryStreamName"]);
    }
    for name in ["Errors", "Throttles", "Duration", "Invocations"] {
        m.insert(("AWS/Lambda", name), vec!["FunctionName"]);
    }
    for name in ["TopicMatch", "ParseError", "RuleMessageThrottled", "RuleNotFound"] {
        m.insert(("AWS/IoT", name), vec!["RuleName"]);
    }
    for name in ["Success", "Failure", "ErrorActionSuccess", "ErrorActionFailure"] {
        m.insert(("AWS/IoT", name), vec!["RuleName", "ActionType"]);
    }
    // Published by the template's own metric filter on the function's summary line.
    m.insert(("reaqtions/reaqtions", "FailedRecords"), vec![]);
    m
}

/// The deployment of `settings`: the template's parameters as `deploy` passes them, and its conditions.
fn deployed(settings: &PipelineSettings) -> Deployment {
    let mut d = deployment_of(&template(PIPELINE_TEMPLATE), settings);
    d.values.insert("AlarmTopic".into(), "arn:aws:sns:eu-west-1:123456789012:reaqtions-alarms".into());
    d
}

fn resources_of<'a>(t: &'a Value, type_: &str) -> Vec<(&'a str, &'a Value)> {
    let resources = t["Resources"].as_mapping().unwrap();
    resources.iter().filter(|(_, r)| r["Type"] == type_).map(|(k, r)| (k.as_str().unwrap(), r)).collect()
}

fn settings(input: SettingsInput) -> PipelineSettings {
    PipelineSettings::resolve(input).unwrap()
}

#[test]
fn every_alarm_watches_a_published_metric_with_thresholds_from_the_settings() {
    let t = template(PIPELINE_TEMPLATE);
    let s = settings(SettingsInput {
        buffer_interval_seconds: Some(300),
        processor_buffer_interval_seconds: Some(60),
        lambda_timeout_seconds: Some(120),
        ..SettingsInput::default()
    });
    let d = deployed(&s);
    let published = published();
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    assert_eq!(alarms.len(), 9, "freshness, throttles, failed records, Lambda ×3, IoT rule ×2, partitions");
    let mut thresholds = HashMap::new();
    let mut names = Vec::new();
    for (name, alarm) in &alarms {
        // Every alarm is turned off with the alarms; the partition alarm exists only in event mode too.
        let condition = alarm["Condition"].as_str().unwrap();
        let turned_off = SettingsInput { alarms: Some(false), ..Default::default() };
        assert!(!deployed(&settings(turned_off)).conditions[condition], "{name} is turned off with the alarms");
        assert!(d.conditions[condition], "{name} is on for an event stack with alarms");
        let arrival = SettingsInput { partitioning: Some(Partitioning::Arrival), ..Default::default() };
        let in_arrival = deployed(&settings(arrival)).conditions[condition];
        assert_eq!(in_arrival, !name.starts_with("PartitionCount"), "{name} in arrival mode");
        let p = d.resolve(&alarm["Properties"]);
        let alarm_name = p["AlarmName"].as_str().unwrap();
        names.push(alarm_name.to_owned());
        assert_eq!(p["TreatMissingData"], "notBreaching", "{name}: an idle pipeline publishes nothing");
        for actions in ["AlarmActions", "OKActions"] {
            assert_eq!(p[actions][0], "arn:aws:sns:eu-west-1:123456789012:reaqtions-alarms", "{name} {actions}");
        }
        assert!(!p["AlarmDescription"].as_str().unwrap_or("").is_empty(), "{name} says what to do");
        if let Some(expression) = p["Metrics"][0]["Expression"].as_str() {
            // Metrics Insights over every ActionType of the rule (its value for Firehose is not documented): the
            // query health reads the same failures with.
            let metric = if expression.contains("SUM(ErrorActionFailure)") { "ErrorActionFailure" } else { "Failure" };
            assert_eq!(published[&("AWS/IoT", metric)], ["RuleName", "ActionType"]);
            assert_eq!(expression, iot_rule_query(metric, "reaqtions_readings"), "{name}");
            continue;
        }
        let namespace = p["Namespace"].as_str().unwrap();
        let metric = p["MetricName"].as_str().unwrap();
        let dims = published.get(&(namespace, metric)).unwrap_or_else(|| panic!("{name}: {namespace} {metric}"));
        let given: Vec<&str> =
            p["Dimensions"].as_sequence().into_iter().flatten().map(|d| d["Name"].as_str().unwrap()).collect();
        assert_eq!(&given, dims, "{name}: the dimensions of {namespace} {metric}");
        for dim in p["Dimensions"].as_sequence().into_iter().flatten() {
            let expected = match dim["Name"].as_str().unwrap() {
                "DeliveryStreamName" => "reaqtions-iot-data-stream",
                "FunctionName" => "reaqtions-data-transformation",
                other => panic!("{other}"),
            };
            assert_eq!(dim["Value"], expected, "{name}");
        }
        let threshold = match &p["Threshold"] {
            Value::Number(n) => n.to_string(),
            other => other.as_str().map(str::to_owned).unwrap_or_default(),
        };
        thresholds.insert(metric.to_owned(), threshold);
    }
    // 1.5 × 300 s (Firehose's documented delay with dynamic partitioning) + 60 s of processor buffering + the
    // 300 s margin; 80% of a 120 s timeout. By arrival the S3 interval counts once.
    assert_eq!(thresholds["DeliveryToS3.DataFreshness"], "810");
    assert_eq!(thresholds["PartitionCountExceeded"], "0");
    assert_eq!(thresholds["Duration"], "96000");
    assert_eq!(
        reaqtions::seams::vitals::freshness_threshold_seconds(&s),
        810,
        "health judges by the alarm's threshold"
    );
    let arrival = settings(SettingsInput {
        partitioning: Some(Partitioning::Arrival),
        buffer_interval_seconds: Some(300),
        processor_buffer_interval_seconds: Some(60),
        ..SettingsInput::default()
    });
    assert_eq!(reaqtions::seams::vitals::freshness_threshold_seconds(&arrival), 660);

    let filter = &resources_of(&t, "AWS::Logs::MetricFilter")[0].1;
    let f = d.resolve(&filter["Properties"]);
    assert_eq!(f["LogGroupName"], "/aws/lambda/reaqtions-data-transformation");
    assert_eq!(f["MetricTransformations"][0]["MetricNamespace"], "reaqtions/reaqtions");
    assert_eq!(f["MetricTransformations"][0]["MetricValue"], "$.fields.failed");
    // The pattern itself is evaluated against the bootstrap's real log line (lambda/tests/it/metric_filter.rs).
    assert_eq!(f["MetricTransformations"][0]["MetricNamespace"], failed_records_namespace("reaqtions"));

    // health asks for exactly these alarms by name, and the deployer may manage each of them.
    names.sort();
    let mut expected = alarm_names("reaqtions");
    expected.sort();
    assert_eq!(names, expected, "health and deployer.json name the template's alarms");
    let (deployer, _) = crate::iam_proxy::role_policy("deployer", crate::RAW);
    for name in &expected {
        let arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}");
        let managed =
            deployer.allows("cloudwatch:PutMetricAlarm", &arn) && deployer.allows("cloudwatch:DeleteAlarms", &arn);
        assert!(managed, "examples/iam/deployer.json's Alarms statement does not name {arn}");
    }
}

#[test]
fn the_topic_has_no_customer_managed_key_and_mails_only_when_asked() {
    let t = template(PIPELINE_TEMPLATE);
    let topic = &t["Resources"]["AlarmTopic"];
    let d = deployed(&settings(SettingsInput::default()));
    let p = d.resolve(&topic["Properties"]);
    assert!(p["KmsMasterKeyId"].is_null(), "notifications carry no readings: no key to manage or pay for");
    let kms: Vec<&str> = (t["Resources"].as_mapping().unwrap().iter())
        .filter(|(_, r)| r["Type"].as_str().is_some_and(|t| t.starts_with("AWS::KMS::")))
        .map(|(id, _)| id.as_str().unwrap())
        .collect();
    assert!(kms.is_empty(), "KMS resources in the pipeline template: {kms:?}");
    let skipped = &topic["Metadata"]["checkov"]["skip"][0];
    assert_eq!(skipped["id"], "CKV_AWS_26", "checkov's SNS encryption check is skipped on this topic alone");
    assert!(skipped["comment"].as_str().is_some_and(|c| c.contains("no readings")));

    let subscription = &t["Resources"]["AlarmSubscription"];
    assert_eq!(subscription["Condition"], "MailsAlarms");
    let conditions = &t["Conditions"]["MailsAlarms"];
    assert!(format!("{conditions:?}").contains("AlarmEmail"), "{conditions:?}");
    let mailed =
        deployed(&settings(SettingsInput { alarm_email: Some("ops@example.com".into()), ..Default::default() }));
    let s = mailed.resolve(&subscription["Properties"]);
    assert_eq!((s["Protocol"].as_str(), s["Endpoint"].as_str()), (Some("email"), Some("ops@example.com")));

    let off = settings(SettingsInput { alarms: Some(false), dashboard: Some(false), ..Default::default() });
    let params: HashMap<String, String> =
        pipeline_parameters(&off, "a", "k", RawBucket::Create, "eu-west-1", Some("0123456789abcdef"))
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!((params["AlarmsEnabled"].as_str(), params["DashboardEnabled"].as_str()), ("false", "false"));
    let err = PipelineSettings::resolve(SettingsInput {
        alarms: Some(false),
        alarm_email: Some("ops@example.com".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("alarms are off"), "{err}");
    let err =
        PipelineSettings::resolve(SettingsInput { alarm_email: Some("not an address".into()), ..Default::default() })
            .unwrap_err();
    assert!(err.to_string().contains("\"not an address\""), "{err}");
}

#[test]
fn the_dashboard_shows_the_same_series_under_a_name_with_stack_and_region() {
    let t = template(PIPELINE_TEMPLATE);
    let dashboard = &t["Resources"]["Dashboard"];
    assert_eq!(dashboard["Condition"], "Dashboard");
    let mut d = deployed(&settings(SettingsInput::default()));
    d.values.insert("Function".into(), "reaqtions-data-transformation".into());
    let p = d.resolve(&dashboard["Properties"]);
    assert_eq!(p["DashboardName"], "reaqtions-eu-west-1");
    let body: serde_json::Value = serde_json::from_str(p["DashboardBody"].as_str().unwrap()).unwrap();
    let widgets = body["widgets"].as_array().unwrap();
    assert!(!widgets.is_empty() && widgets.len() <= 500);
    let published = published();
    let mut shown = Vec::new();
    for w in widgets {
        assert_eq!(w["type"], "metric");
        assert_eq!(w["properties"]["region"], "eu-west-1");
        let title = w["properties"]["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty());
        dashboard_limits(title, w["properties"]["metrics"].as_array().unwrap());
        for m in w["properties"]["metrics"].as_array().unwrap() {
            let parts = m.as_array().unwrap();
            if let Some(expression) = parts[0]["expression"].as_str() {
                assert!(expression.contains("WHERE RuleName = 'reaqtions_readings'"), "{expression}");
                continue;
            }
            let (namespace, metric) = (parts[0].as_str().unwrap(), parts[1].as_str().unwrap());
            let dims = &published[&(namespace, metric)];
            let given: Vec<&str> = parts[2..].iter().filter_map(|v| v.as_str()).step_by(2).collect();
            assert_eq!(&given, dims, "{namespace} {metric}");
            let values: Vec<&str> = parts[2..].iter().filter_map(|v| v.as_str()).skip(1).step_by(2).collect();
            for v in values {
                assert!(
                    ["reaqtions-iot-data-stream", "reaqtions-data-transformation", "reaqtions_readings"].contains(&v),
                    "{v}"
                );
            }
            shown.push(metric.to_owned());
        }
    }
    for metric in [
        "IncomingRecords",
        "ThrottledRecords",
        "FailedRecords",
        "DeliveryToS3.DataFreshness",
        "DeliveryToS3.Success",
        "Errors",
        "Throttles",
        "Duration",
        "PartitionCount",
        "PartitionCountExceeded",
    ] {
        assert!(shown.iter().any(|m| m == metric), "{metric} on the dashboard: {shown:?}");
    }
    // An arrival stream publishes no partition metrics: its dashboard has no widget for them.
    let mut arrival =
        deployed(&settings(SettingsInput { partitioning: Some(Partitioning::Arrival), ..Default::default() }));
    arrival.values.insert("Function".into(), "reaqtions-data-transformation".into());
    let body = arrival.resolve(&dashboard["Properties"])["DashboardBody"].as_str().unwrap().to_owned();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["widgets"].as_array().unwrap().len(), widgets.len() - 1);
    assert!(!body.to_string().contains("PartitionCount"), "{body}");
    assert_eq!(
        reaqtions::aws::stack::dashboard_url("eu-west-1", "reaqtions-eu-west-1"),
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=reaqtions-eu-west-1"
    );
}

/// CloudWatch's documented limits on one metric widget: at most one Metrics Insights query ("each GetMetricData
/// operation can have only one query … multiple widgets in a dashboard that each include a query"; a second
/// answers "Maximum number of queries (1) exceeded"), expression ids unique within the widget and starting with a
/// lowercase letter (letters, digits, `_`), and each metric array well formed: `[namespace, name, (dimension,
/// value)*, {options}?]` or `[{expression, id, …}]`.
fn dashboard_limits(title: &str, metrics: &[serde_json::Value]) {
    let mut queries = 0;
    let mut ids = std::collections::HashSet::new();
    for m in metrics {
        let parts = m.as_array().unwrap_or_else(|| panic!("{title}: a metric is not an array: {m}"));
        let (last, strings) = parts.split_last().unwrap_or_else(|| panic!("{title}: an empty metric array"));
        let (options, strings) = if last.is_object() { (Some(last), strings) } else { (None, parts.as_slice()) };
        assert!(strings.iter().all(|s| s.is_string()), "{title}: only the last item may be an object: {m}");
        if let Some(id) = options.and_then(|o| o["id"].as_str()) {
            let well_formed = id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(well_formed, "{title}: id {id:?} must start with a lowercase letter");
            assert!(ids.insert(id.to_owned()), "{title}: id {id:?} twice in one widget");
        }
        match options.and_then(|o| o["expression"].as_str()) {
            Some(expression) => {
                assert!(strings.is_empty(), "{title}: an expression stands alone in its array: {m}");
                assert!(options.unwrap()["id"].is_string(), "{title}: an expression needs an id: {m}");
                if expression.trim_start().to_ascii_uppercase().starts_with("SELECT") {
                    queries += 1;
                }
            }
            None => assert!(
                strings.len() >= 2 && strings.len() % 2 == 0,
                "{title}: [namespace, name, (dimension, value)*]: {m}"
            ),
        }
    }
    assert!(queries <= 1, "{title}: {queries} Metrics Insights queries in one widget; CloudWatch allows one");
}

#[test]
fn the_dashboard_check_refuses_what_cloudwatch_refuses() {
    let query = |id: &str| serde_json::json!([{"expression": "SELECT SUM(Failure) FROM SCHEMA(\"AWS/IoT\", RuleName)", "id": id}]);
    let two = [query("failures"), query("lost")];
    assert!(std::panic::catch_unwind(|| dashboard_limits("two queries", &two)).is_err());
    let upper = [query("Failures")];
    assert!(std::panic::catch_unwind(|| dashboard_limits("upper-case id", &upper)).is_err());
    let odd = [serde_json::json!(["AWS/Firehose", "IncomingRecords", "DeliveryStreamName"])];
    assert!(std::panic::catch_unwind(|| dashboard_limits("dimension without value", &odd)).is_err());
    dashboard_limits(
        "one query beside a metric",
        &[serde_json::json!(["AWS/IoT", "TopicMatch", "RuleName", "r"]), query("failures")],
    );
}
