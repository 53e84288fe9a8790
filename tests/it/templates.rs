//! The embedded templates read as CloudFormation would for one concrete deployment, for what moto's
//! CloudFormation skips or cannot show: IAM policies evaluated for concrete ARNs, resource ordering, deletion
//! policies, lifecycle rules and the TLS rules of the bucket policies.

use std::collections::HashMap;

use reaqtions::aws::stack::{ARTIFACTS_TEMPLATE, PIPELINE_TEMPLATE, RawBucket, pipeline_parameters};
use reaqtions::settings::{Partitioning, PipelineSettings, SettingsInput};
use serde_norway::Value;

use crate::iam_eval::{Context, Deployment, Policy};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const BUCKET: &str = "reaqtions-iot-data-lake-raw-123456789012-eu-west-1";
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:reaqtions-data-transformation";
const DELIVERY_GROUP: &str = "/aws/kinesisfirehose/reaqtions-iot-data-stream";

pub(crate) fn template(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

/// The default deployment of stack `reaqtions`, with `CreateRawBucket` as given.
pub(crate) fn deployment(creates_bucket: bool) -> Deployment {
    let mut values: HashMap<String, String> = HashMap::new();
    let mut set = |k: &str, v: &str| values.insert(k.to_owned(), v.to_owned());
    set("AWS::Partition", "aws");
    set("AWS::Region", REGION);
    set("AWS::AccountId", ACCOUNT);
    set("AWS::StackName", "reaqtions");
    set("StreamName", "reaqtions-iot-data-stream");
    set("FunctionName", "reaqtions-data-transformation");
    set("RawBucketName", BUCKET);
    set("PrefixRoot", "processed/year=");
    set("ErrorPrefixRoot", "error/");
    set("NoncurrentVersionDays", "30");
    set("LogRetentionDays", "14");
    set("RawBucket", BUCKET);
    set("RawBucket.Arn", &format!("arn:aws:s3:::{BUCKET}"));
    set("Function", "reaqtions-data-transformation");
    set("Function.Arn", FUNCTION_ARN);
    set("FirehoseRole", "reaqtions-FirehoseRole-1ABC");
    set("FirehoseRole.Arn", "arn:aws:iam::123456789012:role/reaqtions-FirehoseRole-1ABC");
    set("FunctionRole.Arn", "arn:aws:iam::123456789012:role/reaqtions-FunctionRole-1ABC");
    set("FunctionLogGroup", "/aws/lambda/reaqtions-data-transformation");
    set(
        "FunctionLogGroup.Arn",
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/reaqtions-data-transformation:*",
    );
    set("DeliveryLogGroup", DELIVERY_GROUP);
    set("DeliveryLogStream", "S3Delivery");
    set("IotRuleName", "reaqtions_readings");
    set("IngestRuleRole", "reaqtions-IngestRuleRole-1ABC");
    set("IngestRuleRole.Arn", "arn:aws:iam::123456789012:role/reaqtions-IngestRuleRole-1ABC");
    set("DeliveryStream", "reaqtions-iot-data-stream");
    let conditions = HashMap::from([("CreatesRawBucket".to_owned(), creates_bucket)]);
    Deployment { values, conditions }
}

/// What `!Ref AWS::NoValue` resolves to here: the property is left out.
pub(crate) const NO_VALUE: &str = "(no value)";

/// The template's `Conditions` for the deployment's parameter values, evaluated as CloudFormation does
/// (`!Equals`, `!And`, `!Or`, `!Not`, `!Condition`); an intrinsic it does not model panics, naming it.
pub(crate) fn conditions(t: &Value, d: &Deployment) -> HashMap<String, bool> {
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => panic!("{other:?} in !Equals"),
        }
    }
    fn eval(name: &str, t: &Value, d: &Deployment) -> bool {
        let condition = &t["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        holds(condition, t, d)
    }
    fn holds(v: &Value, t: &Value, d: &Deployment) -> bool {
        let Value::Tagged(tagged) = v else { panic!("a condition is an intrinsic: {v:?}") };
        let args = tagged.value.as_sequence();
        match tagged.tag.to_string().trim_start_matches('!') {
            "Equals" => {
                let s = args.expect("!Equals takes two values");
                text(&d.resolve(&s[0])) == text(&d.resolve(&s[1]))
            }
            "And" => args.unwrap().iter().all(|c| holds(c, t, d)),
            "Or" => args.unwrap().iter().any(|c| holds(c, t, d)),
            "Not" => !holds(&args.unwrap()[0], t, d),
            "Condition" => eval(tagged.value.as_str().unwrap(), t, d),
            other => panic!("!{other} is not modelled in conditions"),
        }
    }
    let names = t["Conditions"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned());
    names.map(|name| (name.clone(), eval(&name, t, d))).collect()
}

/// The default deployment with the parameters `deploy` passes for `settings`, and the template's conditions
/// evaluated for them.
pub(crate) fn deployment_of(t: &Value, settings: &PipelineSettings) -> Deployment {
    let mut d = deployment(true);
    let parameters =
        pipeline_parameters(settings, "artifacts", "lambda/a.zip", RawBucket::Create, REGION, Some("0123456789abcdef"));
    d.values.extend(parameters.unwrap());
    d.values.insert("AWS::NoValue".into(), NO_VALUE.into());
    d.conditions = conditions(t, &d);
    d
}

/// The policy documents attached to a role: inline `Policies` and every `AWS::IAM::RolePolicy` naming it.
fn role_policy(template: &Value, role: &str, d: &Deployment) -> Policy {
    let resources = template["Resources"].as_mapping().unwrap();
    let mut documents: Vec<Value> = template["Resources"][role]["Properties"]["Policies"]
        .as_sequence()
        .map(|p| p.iter().map(|p| d.resolve(&p["PolicyDocument"])).collect())
        .unwrap_or_default();
    for (_, resource) in resources {
        if resource["Type"].as_str() == Some("AWS::IAM::RolePolicy")
            && d.resolve(&resource["Properties"]["RoleName"]).as_str() == d.values.get(role).map(String::as_str)
        {
            documents.push(d.resolve(&resource["Properties"]["PolicyDocument"]));
        }
    }
    assert!(!documents.is_empty(), "no policy attached to {role}");
    Policy::from_documents(&documents)
}

fn object(key: &str) -> String {
    format!("arn:aws:s3:::{BUCKET}/{key}")
}

#[test]
fn the_firehose_role_may_do_exactly_what_firehose_needs() {
    let t = template(PIPELINE_TEMPLATE);
    for creates in [true, false] {
        let d = deployment(creates);
        let role = role_policy(&t, "FirehoseRole", &d);
        let bucket = format!("arn:aws:s3:::{BUCKET}");
        let log_stream = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{DELIVERY_GROUP}:log-stream:S3Delivery");
        let allowed = [
            ("s3:GetBucketLocation", bucket.clone()),
            ("s3:ListBucket", bucket.clone()),
            ("s3:ListBucketMultipartUploads", bucket.clone()),
            ("s3:PutObject", object("processed/year=2026/month=11/day=26/hour=04/x")),
            ("s3:GetObject", object("processed/year=2026/month=11/day=26/hour=04/x")),
            ("s3:AbortMultipartUpload", object("processed/year=2026/x")),
            ("s3:PutObject", object("error/processing-failed/year=2026/x")),
            ("lambda:InvokeFunction", FUNCTION_ARN.to_owned()),
            ("lambda:GetFunctionConfiguration", FUNCTION_ARN.to_owned()),
            ("logs:PutLogEvents", log_stream.clone()),
        ];
        for (action, resource) in &allowed {
            assert!(role.allows(action, resource), "Firehose needs {action} on {resource}");
        }
        let denied = [
            ("s3:PutObject", "arn:aws:s3:::another-bucket/processed/year=2026/x".to_owned()),
            ("s3:ListBucket", "arn:aws:s3:::another-bucket".to_owned()),
            ("s3:PutObject", object("processed/other")),
            ("s3:PutObject", object("raw/x")),
            ("s3:PutObject", object("x")),
            ("s3:DeleteObject", object("processed/year=2026/x")),
            ("s3:DeleteBucket", bucket.clone()),
            ("s3:PutBucketPolicy", bucket.clone()),
            ("lambda:InvokeFunction", format!("{FUNCTION_ARN}:1")),
            ("lambda:InvokeFunction", format!("{FUNCTION_ARN}:live")),
            ("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:123456789012:function:other".to_owned()),
            ("lambda:UpdateFunctionCode", FUNCTION_ARN.to_owned()),
            ("logs:PutLogEvents", format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{DELIVERY_GROUP}:log-stream:x")),
            ("logs:PutLogEvents", format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/other:log-stream:x")),
            ("logs:CreateLogGroup", log_stream.clone()),
            ("iam:PassRole", "arn:aws:iam::123456789012:role/reaqtions-FirehoseRole-1ABC".to_owned()),
            ("firehose:PutRecordBatch", "arn:aws:firehose:eu-west-1:123456789012:deliverystream/x".to_owned()),
        ];
        for (action, resource) in &denied {
            assert!(!role.allows(action, resource), "Firehose must not get {action} on {resource}");
        }
    }
}

#[test]
fn the_lambda_role_writes_its_own_log_group_only() {
    let t = template(PIPELINE_TEMPLATE);
    let d = deployment(true);
    let role = role_policy(&t, "FunctionRole", &d);
    let own = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/reaqtions-data-transformation:log-stream:2026/11/26/[$LATEST]abc";
    assert!(role.allows("logs:CreateLogStream", own));
    assert!(role.allows("logs:PutLogEvents", own));
    let other = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/other:log-stream:x";
    assert!(!role.allows("logs:PutLogEvents", other));
    assert!(!role.allows("logs:DeleteLogGroup", own));
    assert!(!role.allows("s3:GetObject", &object("processed/x")));
    assert!(!role.allows("lambda:InvokeFunction", FUNCTION_ARN));
}

#[test]
fn the_stream_waits_for_the_role_policy_and_the_role_holds_only_its_trust() {
    let t = template(PIPELINE_TEMPLATE);
    let resources = &t["Resources"];
    let depends = match &resources["DeliveryStream"]["DependsOn"] {
        Value::String(s) => vec![s.clone()],
        other => other.as_sequence().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
    };
    assert!(depends.contains(&"FirehoseRolePolicy".to_owned()), "{depends:?}");
    assert!(resources["FirehoseRole"]["Properties"]["Policies"].is_null(), "permissions come separately");
    assert_eq!(resources["FirehoseRolePolicy"]["Type"].as_str(), Some("AWS::IAM::RolePolicy"));
    let role_name = deployment(true).resolve(&resources["FirehoseRolePolicy"]["Properties"]["RoleName"]);
    assert_eq!(role_name.as_str(), Some("reaqtions-FirehoseRole-1ABC"));
}

#[test]
fn the_raw_bucket_and_its_policy_are_kept_but_not_after_a_failed_create() {
    let t = template(PIPELINE_TEMPLATE);
    let r = &t["Resources"];
    for name in ["RawBucket", "RawBucketPolicy"] {
        assert_eq!(r[name]["DeletionPolicy"].as_str(), Some("RetainExceptOnCreate"), "{name}");
        assert_eq!(r[name]["UpdateReplacePolicy"].as_str(), Some("Retain"), "{name}");
        assert_eq!(r[name]["Condition"].as_str(), Some("CreatesRawBucket"), "{name} only with the bucket");
    }
    let bucket = deployment(true).resolve(&r["RawBucketPolicy"]["Properties"]["Bucket"]);
    assert_eq!(bucket.as_str(), Some(BUCKET));
    assert!(matches!(&r["RawBucketPolicy"]["Properties"]["Bucket"], Value::Tagged(t) if t.tag == "Ref"));
}

#[test]
fn lifecycle_rules_keep_storage_from_piling_up() {
    let raw = template(PIPELINE_TEMPLATE);
    let d = deployment(true);
    // The fixed hygiene rule; the tier and retention rules that follow are tested in compression.rs.
    let rule = &d.resolve(&raw["Resources"]["RawBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]);
    assert_eq!(rule["Status"].as_str(), Some("Enabled"));
    assert_eq!(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64(), Some(7));
    assert_eq!(rule["NoncurrentVersionExpiration"]["NoncurrentDays"].as_str(), Some("30"), "the setting");
    let artifacts = template(ARTIFACTS_TEMPLATE);
    let rule = &artifacts["Resources"]["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64(), Some(7));
    assert_eq!(rule["NoncurrentVersionExpiration"]["NoncurrentDays"].as_u64(), Some(30));
    assert_eq!(rule["ExpiredObjectDeleteMarker"].as_bool(), Some(true));
}

#[test]
fn both_bucket_policies_deny_plain_http_and_tls_before_1_2() {
    for (text, resource) in [(PIPELINE_TEMPLATE, "RawBucketPolicy"), (ARTIFACTS_TEMPLATE, "ArtifactsBucketPolicy")] {
        let t = template(text);
        let statements = t["Resources"][resource]["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap();
        let deny = |key: &str, operator: &str| {
            statements.iter().any(|s| {
                s["Effect"].as_str() == Some("Deny")
                    && s["Action"].as_str() == Some("s3:*")
                    && !s["Condition"][operator][key].is_null()
            })
        };
        assert!(deny("aws:SecureTransport", "Bool"), "{resource}");
        assert!(deny("s3:TlsVersion", "NumericLessThan"), "{resource}");
        let tls = statements.iter().find(|s| !s["Condition"]["NumericLessThan"].is_null()).unwrap();
        assert_eq!(tls["Condition"]["NumericLessThan"]["s3:TlsVersion"].as_str(), Some("1.2"));
    }
}

/// A template value as the parameter's text: CloudFormation passes every parameter as a string.
fn parameter_text(v: &Value) -> String {
    match v {
        Value::String(text) => text.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => panic!("not a parameter value: {other:?}"),
    }
}

/// Every declared setting's template parameter says what the declaration says: `Default` (the template's own
/// layout's default, or the text for unset), `MinValue`/`MaxValue` (the declared range in the parameter's unit,
/// the unset text below it when it is a number), `AllowedValues` (the declared list, or the type's values).
#[test]
fn every_template_parameter_follows_its_settings_declaration() {
    let t = template(PIPELINE_TEMPLATE);
    let parameters = &t["Parameters"];
    // CloudFormation cannot make one parameter's default depend on another's, so the template's defaults are one
    // consistent set: arrival's, whose buffering Firehose accepts without dynamic partitioning. Deploy always
    // passes the layout, so a new pipeline gets the declared one (event).
    let layout = Partitioning::Arrival;
    assert_eq!(parameters["Partitioning"]["Default"].as_str(), Some(layout.name()));
    let mut wrong = Vec::new();
    for d in reaqtions::settings::DECLARED {
        let p = &parameters[d.parameter];
        let given = |field: &str| (!p[field].is_null()).then(|| parameter_text(&p[field]));
        let default = if d.key == "partitioning" {
            Some(layout.name().to_owned())
        } else {
            (d.default_parameter)(layout).or(d.unset.map(str::to_owned))
        };
        let number = |text: &Option<String>| text.as_deref().and_then(|t| t.parse::<f64>().ok());
        let unset = d.unset.and_then(|u| u.parse::<f64>().ok());
        let (lo, hi) = match (d.range, p["Type"].as_str()) {
            (Some(range), Some("Number")) => {
                let lo = (d.bound_parameter)(range.lo);
                (
                    if unset.is_some_and(|u| Some(u) < number(&lo)) { d.unset.map(str::to_owned) } else { lo },
                    (d.bound_parameter)(range.hi),
                )
            }
            // CloudFormation checks a range only on a Number parameter; on a String one deploy alone does.
            _ => (None, None),
        };
        let same_number =
            |a: &Option<String>, b: &Option<String>| a == b || (number(a).is_some() && number(a) == number(b));
        for (field, want) in [("Default", default), ("MinValue", lo), ("MaxValue", hi)] {
            let have = given(field);
            if !same_number(&have, &want) {
                wrong.push(format!("{} {field}: the template says {have:?}, {} declares {want:?}", d.parameter, d.key));
            }
        }
        let allowed = p["AllowedValues"].as_sequence().map(|v| {
            let mut texts: Vec<String> = v.iter().map(parameter_text).collect();
            texts.sort();
            texts
        });
        let declared = (d.choices)().map(|mut c| {
            c.sort();
            c
        });
        if allowed != declared {
            wrong.push(format!(
                "{} AllowedValues: the template says {allowed:?}, {} declares {declared:?}",
                d.parameter, d.key
            ));
        }
    }
    assert!(wrong.is_empty(), "templates/pipeline.yaml and the settings' declaration disagree:\n{}", wrong.join("\n"));
}

#[test]
fn the_lake_is_a_table_with_projected_partitions_and_a_guarded_workgroup() {
    let t = template(PIPELINE_TEMPLATE);
    let r = &t["Resources"];
    assert_eq!(r["Catalog"]["Type"].as_str(), Some("AWS::Glue::Database"));
    for (table, name, root) in
        [("ReadingsTable", "readings", "PrefixRoot"), ("ErrorsTable", "errors", "ErrorPrefixRoot")]
    {
        let input = &r[table]["Properties"]["TableInput"];
        assert_eq!(input["Name"].as_str(), Some(name));
        let p = &input["Parameters"];
        assert_eq!(p["projection.enabled"].as_str(), Some("true"), "{table}");
        for part in ["month", "day", "hour"] {
            assert_eq!(
                p[format!("projection.{part}.digits").as_str()].as_str(),
                Some("2"),
                "{table} {part}: Firehose pads"
            );
        }
        assert!(
            matches!(&p["storage.location.template"], Value::Tagged(t) if t.tag == "Ref"),
            "a parameter, never !Sub"
        );
        let keys: Vec<&str> =
            input["PartitionKeys"].as_sequence().unwrap().iter().map(|k| k["Name"].as_str().unwrap()).collect();
        assert_eq!(keys, ["year", "month", "day", "hour"]);
        assert_eq!(
            input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].as_str(),
            Some("org.apache.hive.hcatalog.data.JsonSerDe")
        );
        let columns: Vec<&str> = input["StorageDescriptor"]["Columns"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c["Name"].as_str().unwrap())
            .collect();
        assert!(columns.iter().all(|c| *c == c.to_lowercase()), "lowercase columns: {columns:?}");
        let location = deployment(true).resolve(&input["StorageDescriptor"]["Location"]);
        let root_value = deployment(true).values[root].clone();
        assert_eq!(location.as_str().unwrap(), format!("s3://{BUCKET}/{root_value}"));
    }
    let readings: Vec<&str> = r["ReadingsTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    for measure in reaqtions_lambda::MEASURES {
        assert!(readings.contains(&measure.to_lowercase().as_str()), "{measure}");
    }
    for field in ["device_id", "seq", "sim_run", "time", "_firehose_arrival", "_reading_time"] {
        assert!(readings.contains(&field), "{field}");
    }
    let wg = &r["QueryWorkgroup"]["Properties"];
    assert_eq!(wg["RecursiveDeleteOption"].as_bool(), Some(true), "teardown removes query history too");
    let config = &wg["WorkGroupConfiguration"];
    assert_eq!(config["EnforceWorkGroupConfiguration"].as_bool(), Some(true));
    assert_eq!(config["PublishCloudWatchMetricsEnabled"].as_bool(), Some(true));
    assert_eq!(config["EngineVersion"]["SelectedEngineVersion"].as_str(), Some("Athena engine version 3"));
    assert_eq!(config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"].as_str(), Some("SSE_S3"));
    assert!(t["Parameters"]["ScanLimitBytes"]["MinValue"].as_u64() >= Some(10_000_000), "Athena's minimum cutoff");
    let artifacts = template(ARTIFACTS_TEMPLATE);
    let rules = artifacts["Resources"]["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["Prefix"].as_str() == Some("athena-results/") && r["ExpirationInDays"].as_u64().is_some())
    );
}

#[test]
fn the_topic_rule_forwards_readings_with_the_topic_device_and_its_role_may_only_do_that() {
    let t = template(PIPELINE_TEMPLATE);
    let d = deployment(true);
    let rule = d.resolve(&t["Resources"]["IngestRule"]["Properties"]);
    assert_eq!(rule["RuleName"].as_str(), Some("reaqtions_readings"));
    let payload = &rule["TopicRulePayload"];
    assert_eq!(payload["AwsIotSqlVersion"].as_str(), Some("2016-03-23"), "CFN's default is the 2015 dialect");
    // The rule is exactly what the local broker applies: the envelope of every message with its topic's device.
    assert_eq!(payload["Sql"].as_str(), Some(reaqtions::mqtt::rule_sql("reaqtions").as_str()));
    let firehose = &payload["Actions"][0]["Firehose"];
    assert_eq!(firehose["DeliveryStreamName"].as_str(), Some("reaqtions-iot-data-stream"));
    assert_eq!(firehose["Separator"].as_str(), Some("\n"), "a real newline, not backslash-n");
    assert_eq!(firehose["BatchMode"].as_bool(), Some(false));
    let error = &payload["ErrorAction"]["S3"];
    assert_eq!(error["BucketName"].as_str(), Some(BUCKET));
    assert_eq!(error["Key"].as_str(), Some("error/iot-rule/${topic(2)}/${timestamp()}-${newuuid()}.json"));
    let depends = t["Resources"]["IngestRule"]["DependsOn"].as_str();
    assert_eq!(depends, Some("IngestRuleRolePolicy"), "no rule before its role may act");

    let trust = &t["Resources"]["IngestRuleRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"].as_str(), Some("iot.amazonaws.com"));
    let role = role_policy(&t, "IngestRuleRole", &d);
    let stream = format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/reaqtions-iot-data-stream");
    assert!(role.allows("firehose:PutRecord", &stream));
    assert!(role.allows("firehose:PutRecordBatch", &stream));
    assert!(role.allows("s3:PutObject", &object("error/iot-rule/aq-0001/1764140000000-x.json")));
    let denied = [
        ("firehose:PutRecord", format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/other")),
        ("firehose:DeleteDeliveryStream", stream.clone()),
        ("s3:PutObject", object("processed/year=2026/x")),
        ("s3:PutObject", object("error/processing-failed/x")),
        ("s3:GetObject", object("error/iot-rule/x")),
        ("lambda:InvokeFunction", FUNCTION_ARN.to_owned()),
    ];
    for (action, resource) in &denied {
        assert!(!role.allows(action, resource), "the rule's role must not get {action} on {resource}");
    }
}

#[test]
fn a_device_connects_only_as_its_thing_and_publishes_only_its_readings() {
    let document = reaqtions::aws::iot::device_policy("aws", REGION, ACCOUNT, "reaqtions");
    let policy: serde_json::Value = serde_json::from_str(&document).unwrap();
    let connect = &policy["Statement"][0];
    assert_eq!(connect["Condition"]["Bool"]["iot:Connection.Thing.IsAttached"], "true");
    // IoT fills the thing variables in for a connection whose client id is the thing name.
    let for_thing = |thing: &str| {
        assert!(document.contains("${iot:Connection.Thing.ThingName}"));
        let text = document.replace("${iot:Connection.Thing.ThingName}", thing);
        Policy::from_documents(&[serde_norway::from_str(&text).unwrap()])
    };
    let iot = |what: &str| format!("arn:aws:iot:{REGION}:{ACCOUNT}:{what}");
    let device = for_thing("aq-0001");
    let attached = Context::default().with("iot:Connection.Thing.IsAttached", &["true"]);
    assert!(device.allows_in("iot:Connect", &iot("client/aq-0001"), &attached));
    let unattached = Context::default().with("iot:Connection.Thing.IsAttached", &["false"]);
    assert!(!device.allows_in("iot:Connect", &iot("client/aq-0001"), &unattached), "a certificate without its thing");
    assert!(device.allows("iot:Publish", &iot("topic/reaqtions/aq-0001/readings")));
    assert!(device.allows("iot:Publish", &iot("topic/$aws/rules/reaqtions_readings/reaqtions/aq-0001/readings")));
    let denied = [
        ("iot:Connect", iot("client/aq-0002")),
        ("iot:Publish", iot("topic/reaqtions/aq-0002/readings")),
        ("iot:Publish", iot("topic/reaqtions/aq-0001/status")),
        ("iot:Publish", iot("topic/other/aq-0001/readings")),
        ("iot:Subscribe", iot("topicfilter/reaqtions/#")),
        ("iot:Receive", iot("topic/reaqtions/aq-0002/readings")),
        ("iot:UpdateThingShadow", iot("thing/aq-0001")),
    ];
    for (action, resource) in &denied {
        assert!(!device.allows_in(action, resource, &attached), "device aq-0001 must not get {action} on {resource}");
    }
    for placeholder in ["PARTITION", "REGION", "ACCOUNT", "STACK", "IOT_RULE"] {
        assert!(!document.contains(placeholder), "{placeholder} left in {document}");
    }
}

/// Athena writes query results only to a bucket of the stack's own account: the artifacts bucket's name is
/// predictable, so the workgroup's result configuration names the account as the bucket's expected owner.
#[test]
fn the_workgroup_writes_results_only_to_its_account_s_bucket() {
    let t = template(PIPELINE_TEMPLATE);
    let wg = &t["Resources"]["QueryWorkgroup"];
    assert_eq!(wg["Type"].as_str(), Some("AWS::Athena::WorkGroup"));
    let results = &wg["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"];
    let mut d = deployment(true);
    d.values.insert("ArtifactsBucket".into(), format!("reaqtions-artifacts-{ACCOUNT}-{REGION}"));
    assert_eq!(
        d.resolve(&results["OutputLocation"]).as_str(),
        Some("s3://reaqtions-artifacts-123456789012-eu-west-1/athena-results/")
    );
    assert_eq!(d.resolve(&results["ExpectedBucketOwner"]).as_str(), Some(ACCOUNT));
}

/// Dynamic partitioning, the function's mode and the partition alarm switch together with the layout: the block
/// (with its retry window) only in event mode and never as `Enabled: false`, the keyed prefix and 64 MiB from
/// the settings, and the alarm only with alarms on and event mode. The conditions are the template's own,
/// evaluated for the parameters deploy passes.
#[test]
fn dynamic_partitioning_and_its_alarm_follow_the_layout() {
    let t = template(PIPELINE_TEMPLATE);
    let stream = &t["Resources"]["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"];
    let alarm = &t["Resources"]["PartitionCountExceededAlarm"];
    assert_eq!(alarm["Condition"].as_str(), Some("WatchesPartitions"));
    for partitioning in [Partitioning::Event, Partitioning::Arrival] {
        for alarms in [true, false] {
            let input = SettingsInput { partitioning: Some(partitioning), alarms: Some(alarms), ..Default::default() };
            let settings = PipelineSettings::resolve(input).unwrap();
            let d = deployment_of(&t, &settings);
            let case = format!("{} with alarms {alarms}", partitioning.name());
            let s3 = d.resolve(stream);
            let block = &s3["DynamicPartitioningConfiguration"];
            match partitioning {
                Partitioning::Event => {
                    assert_eq!(block["Enabled"].as_bool(), Some(true), "{case}: {block:?}");
                    assert_eq!(block["RetryOptions"]["DurationInSeconds"].as_u64(), Some(300), "{case}");
                    assert!(s3["Prefix"].as_str().unwrap().contains("!{partitionKeyFromLambda:hour}"), "{case}");
                    assert_eq!(s3["BufferingHints"]["SizeInMBs"].as_str(), Some("64"), "{case}");
                }
                Partitioning::Arrival => {
                    assert_eq!(block.as_str(), Some(NO_VALUE), "{case}: left out, never Enabled: false");
                    assert_eq!(s3["Prefix"].as_str(), Some(reaqtions::settings::DEFAULT_PREFIX), "{case}");
                }
            }
            let processors = s3["ProcessingConfiguration"]["Processors"].as_sequence().unwrap();
            assert!(processors.iter().any(|p| p["Type"].as_str() == Some("Lambda")), "{case}: keys come from it");
            let function = d.resolve(&t["Resources"]["Function"]["Properties"]["Environment"]["Variables"]);
            assert_eq!(function[reaqtions_lambda::PARTITIONING_VAR].as_str(), Some(partitioning.name()), "{case}");
            let watched = d.conditions["WatchesPartitions"];
            assert_eq!(watched, alarms && partitioning == Partitioning::Event, "{case}: the partition alarm");
            assert_eq!(d.conditions["Alarms"], alarms, "{case}");
        }
    }
}

/// The saved query the stack ships is the query the tool writes for the stack's layout (src/report/sql.rs), over
/// the stack's readings table, in its database and workgroup; examples/athena/readings_once.sql is the same query
/// (for a stack filed by the reading's hour, the other layout's partitions in its comments).
#[test]
fn the_saved_query_is_the_tools_readings_once_for_the_layout() {
    let t = template(PIPELINE_TEMPLATE);
    let query = &t["Resources"]["ReadingsOnceQuery"];
    assert_eq!(query["Type"].as_str(), Some("AWS::Athena::NamedQuery"));
    let p = &query["Properties"];
    let reference = |v: &Value| match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().unwrap().to_owned(),
        other => panic!("a !Ref: {other:?}"),
    };
    assert_eq!(reference(&p["Database"]), "Catalog", "the Glue database (Ref gives its name)");
    assert_eq!(reference(&p["WorkGroup"]), "QueryWorkgroup", "created after the workgroup it is saved in");
    let table = t["Resources"]["ReadingsTable"]["Properties"]["TableInput"]["Name"].as_str().unwrap();
    let example_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/athena/readings_once.sql");
    let example = std::fs::read_to_string(&example_path).unwrap();
    let sql = |text: &str| -> String {
        let lines = text.lines().filter(|l| !l.trim_start().starts_with("--"));
        lines.collect::<Vec<_>>().join("\n").trim().trim_end_matches(';').to_owned()
    };
    for partitioning in [Partitioning::Event, Partitioning::Arrival] {
        let input = SettingsInput { partitioning: Some(partitioning), ..Default::default() };
        let settings = PipelineSettings::resolve(input).unwrap();
        let d = deployment_of(&t, &settings);
        assert_eq!(d.resolve(&p["Name"]).as_str(), Some("reaqtions-readings-once"));
        let prefix = reaqtions::prefix::Prefix::parse(&settings.prefix, false).unwrap();
        let expected = reaqtions::report::sql::saved_readings_once(&prefix, table);
        let shipped = d.resolve(&p["QueryString"]);
        assert_eq!(sql(shipped.as_str().unwrap()), expected, "{}", partitioning.name());
        match partitioning {
            Partitioning::Event => assert_eq!(sql(&example), expected, "{}", example_path.display()),
            Partitioning::Arrival => {
                let partitions = expected.lines().find(|l| l.starts_with("WHERE ((year")).unwrap();
                let commented = format!("-- {partitions}\n");
                assert!(
                    example.contains(&commented),
                    "{} gives the arrival layout's partitions",
                    example_path.display()
                );
            }
        }
    }
}

/// Deploy sends each embedded template as a `TemplateBody`, which CloudFormation takes up to 51,200 bytes: a
/// template that grows past it would be refused on a real account only (moto takes any size).
#[test]
fn every_template_fits_in_a_template_body() {
    for (name, body) in [("pipeline", PIPELINE_TEMPLATE), ("artifacts", ARTIFACTS_TEMPLATE)] {
        let limit = reaqtions::limits::CLOUDFORMATION_TEMPLATE_BODY_BYTES;
        assert!(body.len() <= limit, "templates/{name}.yaml is {} bytes, over TemplateBody's {limit}", body.len());
    }
}
