//! Each person around the pipeline with only the permissions of their job: the role policies in examples/iam/
//! evaluated for concrete ARNs, and each role's commands run through an IAM-enforcing proxy in front of moto with
//! exactly that role's policy.

use serde_json::Value;

use crate::iam_proxy::{IamProxy, role_policy};
use crate::{AwsEnv, RAW};

const STREAM: &str = "reaqtions-iot-data-stream";
const FUNCTION_LOGS: &str = "/aws/lambda/reaqtions-data-transformation";

fn arn(service: &str, resource: &str) -> String {
    format!("arn:aws:{service}:us-east-1:123456789012:{resource}")
}

#[test]
fn each_role_policy_allows_its_job_and_nothing_more() {
    let object = |key: &str| format!("arn:aws:s3:::{RAW}/{key}");
    let bucket = format!("arn:aws:s3:::{RAW}");
    let stream = arn("firehose", &format!("deliverystream/{STREAM}"));
    let stack = arn("cloudformation", "stack/reaqtions/id");

    let (producer, _) = role_policy("producer", RAW);
    assert!(producer.allows("firehose:PutRecordBatch", &stream));
    assert!(producer.allows("cloudformation:DescribeStacks", &stack));
    assert!(!producer.allows("firehose:PutRecordBatch", &arn("firehose", "deliverystream/other")));
    assert!(!producer.allows("s3:GetObject", &object("processed/x")), "no read of data for producers");
    assert!(!producer.allows("s3:ListBucket", &bucket));
    assert!(!producer.allows("firehose:DeleteDeliveryStream", &stream));

    let (analyst, _) = role_policy("analyst", RAW);
    let listing = |prefix: &str| crate::iam_eval::Context::default().with("s3:prefix", &[prefix]);
    assert!(analyst.allows_in("s3:ListBucket", &bucket, &listing("processed/year=2026/")));
    assert!(!analyst.allows_in("s3:ListBucket", &bucket, &listing("raw/")), "the lake's prefixes only");
    assert!(!analyst.allows("s3:ListBucket", &bucket), "not the whole bucket");
    assert!(analyst.allows("s3:GetBucketLocation", &bucket), "Athena locates the table's bucket");
    assert!(analyst.allows("s3:GetObject", &object("processed/year=2026/month=11/x")));
    assert!(analyst.allows("s3:GetObject", &object("error/processing-failed/year=2026/x")));
    assert!(!analyst.allows("s3:GetObject", &object("raw/x")), "no other prefix");
    assert!(!analyst.allows("s3:GetObject", "arn:aws:s3:::other-bucket/processed/x"), "no other bucket");
    for write in ["s3:PutObject", "s3:DeleteObject"] {
        assert!(!analyst.allows(write, &object("processed/x")), "no write for analysts: {write}");
    }
    assert!(!analyst.allows("firehose:PutRecordBatch", &stream));

    let (operator, _) = role_policy("operator", RAW);
    assert!(operator.allows("logs:FilterLogEvents", &arn("logs", &format!("log-group:{FUNCTION_LOGS}"))));
    assert!(operator.allows("logs:FilterLogEvents", &arn("logs", &format!("log-group:/aws/kinesisfirehose/{STREAM}"))));
    assert!(!operator.allows("logs:FilterLogEvents", &arn("logs", "log-group:/aws/lambda/other")));
    assert!(operator.allows("cloudwatch:GetMetricData", "*") && operator.allows("cloudwatch:DescribeAlarms", "*"));
    assert!(!operator.allows("s3:GetObject", &object("error/processing-failed/x")), "operators read no records");

    let (reprocessor, _) = role_policy("reprocessor", RAW);
    for action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
        assert!(reprocessor.allows(action, &object("error/processing-failed/year=2026/x")), "{action}");
        assert!(reprocessor.allows(action, &object("error/reprocessed/processing-failed/x")), "{action}");
        assert!(!reprocessor.allows(action, &object("processed/year=2026/x")), "not the readings: {action}");
    }
    assert!(reprocessor.allows("firehose:PutRecordBatch", &stream));
    assert!(!reprocessor.allows("firehose:DeleteDeliveryStream", &stream));
    for write in ["cloudwatch:PutMetricData", "cloudwatch:PutMetricAlarm", "cloudwatch:SetAlarmState"] {
        assert!(!operator.allows(write, "*"), "health only reads: {write}");
    }
    assert!(operator.allows("firehose:DescribeDeliveryStream", &stream));
    assert!(operator.allows("lambda:GetFunction", &arn("lambda", "function:reaqtions-data-transformation")));
    assert!(operator.allows("s3:ListBucket", &bucket), "counts objects");
    assert!(!operator.allows("s3:GetObject", &object("processed/x")), "operators read no data");
    assert!(!operator.allows("firehose:PutRecordBatch", &stream));
    assert!(!operator.allows("lambda:UpdateFunctionCode", &arn("lambda", "function:reaqtions-data-transformation")));

    // Operators manage the stack's MQTT devices (`devices add|list|remove`), and only through its device policy.
    let thing = arn("iot", "thing/aq-0001");
    let certificate = arn("iot", "cert/0123abcd");
    for (action, resource) in [
        ("iot:CreateThing", thing.as_str()),
        ("iot:AttachThingPrincipal", &thing),
        // IoT authorizes binding a certificate to a thing against both.
        ("iot:AttachThingPrincipal", &certificate),
        ("iot:DetachThingPrincipal", &thing),
        ("iot:DetachThingPrincipal", &certificate),
        ("iot:DeleteThing", &thing),
        ("iot:UpdateCertificate", &certificate),
        ("iot:DeleteCertificate", &certificate),
        ("iot:CreateKeysAndCertificate", "*"),
        ("iot:DescribeEndpoint", "*"),
        ("iot:CreatePolicy", &arn("iot", "policy/reaqtions-device")),
    ] {
        assert!(operator.allows(action, resource), "operators need {action} on {resource}");
    }
    assert!(!operator.allows("iot:CreatePolicy", &arn("iot", "policy/other")), "no other IoT policy");
    assert!(!operator.allows("iot:DeleteTopicRule", &arn("iot", "rule/reaqtions_readings")));
    assert!(!operator.allows("iot:Publish", &arn("iot", "topic/reaqtions/aq-0001/readings")), "devices publish");
    assert!(!producer.allows("iot:CreateThing", &thing));
    assert!(!analyst.allows("iot:CreateKeysAndCertificate", "*"));

    let (deployer, text) = role_policy("deployer", RAW);
    assert!(deployer.allows("iot:CreateTopicRule", &arn("iot", "rule/reaqtions_readings")));
    assert!(!deployer.allows("iot:CreateTopicRule", &arn("iot", "rule/other")));
    assert!(deployer.allows("iot:DeletePolicy", &arn("iot", "policy/reaqtions-device")), "teardown removes it");
    for resource in [&thing, &certificate] {
        assert!(deployer.allows("iot:DetachThingPrincipal", resource), "teardown unbinds devices: {resource}");
    }
    assert!(deployer.allows("cloudformation:CreateStack", &stack));
    assert!(!deployer.allows("cloudformation:CreateStack", &arn("cloudformation", "stack/other/id")));
    // deploy reads and writes the lake's layout record under the prefix root and lists one key there; the
    // pre-flight simulates the statements that grant it, so a caller without them is told before any change.
    let record = object("processed/_reaqtions_layout");
    assert!(deployer.allows_in("s3:ListBucket", &bucket, &listing("processed/")));
    assert!(deployer.allows("s3:GetObject", &record) && deployer.allows("s3:PutObject", &record));
    let simulated = reaqtions::aws::iam::checks(&text, "reaqtions").unwrap();
    for (action, resource) in [("s3:GetObject", &record), ("s3:PutObject", &record), ("s3:ListBucket", &bucket)] {
        let doc: Value = serde_json::from_str(&text).unwrap();
        let grants = (doc["Statement"].as_array().unwrap().iter()).find(|s| {
            s["Action"].as_array().unwrap().iter().any(|a| a == action)
                && s["Resource"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| crate::iam_eval::glob(r.as_str().unwrap(), resource))
        });
        let grants = grants.unwrap_or_else(|| panic!("no deployer statement grants {action} on {resource}"));
        let sid = grants["Sid"].as_str().unwrap();
        let checked = simulated
            .iter()
            .any(|c| c.actions.iter().any(|a| a == action) && c.resources.iter().any(|r| r.contains(RAW)));
        assert!(checked, "the pre-flight does not simulate {action} on the raw bucket (statement {sid})");
    }
    // The deployer policy is the pre-flight check's: every action it simulates, in the context it simulates it
    // with (the deployment's, not the statements' own conditions), is allowed by the policy.
    for check in reaqtions::aws::iam::checks(&text, "reaqtions").unwrap() {
        let mut context = crate::iam_eval::Context::default();
        for entry in &check.context {
            context = context.with(&entry.key, &entry.values.iter().map(String::as_str).collect::<Vec<_>>());
        }
        for action in &check.actions {
            for resource in &check.resources {
                assert!(deployer.allows_in(action, resource, &context), "{action} on {resource} in {context:?}");
            }
        }
    }
}

/// A deployed pipeline with some readings in it, made with full permissions.
fn deployed() -> AwsEnv {
    let env = AwsEnv::deployed();
    env.ok(&["simulate", "--devices", "2", "--count", "5", "--rate", "50", "--quiet"]);
    env
}

fn through(env: &AwsEnv, proxy: &IamProxy, args: &[&str]) -> std::process::Output {
    env.cmd(args).env("AWS_ENDPOINT_URL", &proxy.url).output().unwrap()
}

fn assert_only_allowed(proxy: &IamProxy, what: &str) {
    let denied: Vec<_> = proxy.calls().into_iter().filter(|c| !c.allowed).collect();
    assert!(denied.is_empty(), "{what} made calls outside its role: {denied:?}");
}

#[test]
fn each_role_runs_its_commands_with_exactly_its_policy() {
    let env = deployed();

    // A producer sends; with --stream it reads nothing else, without it only the stack.
    let producer = IamProxy::start(&env.moto.url, role_policy("producer", RAW).0);
    let out = through(
        &env,
        &producer,
        &["simulate", "--stream", STREAM, "--count", "3", "--devices", "2", "--rate", "50", "--quiet"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let actions: Vec<String> = producer.calls().into_iter().map(|c| c.action).collect();
    assert!(actions.iter().all(|a| a == "firehose:PutRecordBatch"), "{actions:?}");
    let out = through(&env, &producer, &["simulate", "--count", "1", "--devices", "1", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_only_allowed(&producer, "simulate (producer)");

    // An analyst reads processed/ and error/ only.
    let analyst = IamProxy::start(&env.moto.url, role_policy("analyst", RAW).0);
    let out = through(&env, &analyst, &["report", "--bucket", RAW, "--format", "csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 10);
    let calls = analyst.calls();
    assert!(calls.iter().all(|c| c.action == "s3:ListBucket" || c.action == "s3:GetObject"), "{calls:?}");
    assert!(
        calls
            .iter()
            .filter(|c| c.action == "s3:GetObject")
            .all(|c| c.resource.contains("/processed/") || c.resource.contains("/error/")),
        "{calls:?}"
    );
    assert_only_allowed(&analyst, "report (analyst)");

    // An operator reads the logs and describes what exists (CloudWatch, which status reads too, through the CBOR
    // front: moto does not speak aws-sdk-cloudwatch's RPCv2 CBOR).
    let front = crate::health::CborFront::start(&env.moto.url);
    let operator = IamProxy::start(&front.url, role_policy("operator", RAW).0);
    let out = through(&env, &operator, &["logs", "--log-group", FUNCTION_LOGS, "--since", "1h"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = through(&env, &operator, &["status", "--format", "json"]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["status"], "CREATE_COMPLETE");
    assert!(status["not_permitted"].is_null(), "the operator may see everything status shows: {status}");
    assert!(status["processed_objects"].as_u64().unwrap() >= 1);
    assert_only_allowed(&operator, "logs and status (operator)");

    // An operator reads the pipeline's health and no readings.
    let watcher = IamProxy::start(&front.url, role_policy("operator", RAW).0);
    let out = through(&env, &watcher, &["health", "--format", "json"]);
    assert!(matches!(out.status.code(), Some(0 | 5)), "{}", String::from_utf8_lossy(&out.stderr));
    let health: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(health["verdict"].is_string(), "{health}");
    let actions: std::collections::BTreeSet<String> = watcher.calls().into_iter().map(|c| c.action).collect();
    for action in ["cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"] {
        assert!(actions.contains(action), "{action} went through the proxy: {actions:?}");
    }
    assert!(!actions.contains("s3:GetObject"), "health reads no readings: {actions:?}");
    assert_only_allowed(&watcher, "health (operator)");

    // A reprocessor settles the error prefix with exactly its policy: reads, resends, rewrites and moves.
    for (key, bytes) in crate::reprocess::objects() {
        env.runtime.block_on(env.s3().put_object().bucket(RAW).key(&key).body(bytes.into()).send()).unwrap();
    }
    let reprocessor = IamProxy::start(&env.moto.url, role_policy("reprocessor", RAW).0);
    let out = through(&env, &reprocessor, &["reprocess", "--yes", "--force", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let settled: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(settled["objects_done"], 2, "{settled}");
    let actions: std::collections::BTreeSet<String> = reprocessor.calls().into_iter().map(|c| c.action).collect();
    for action in ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "firehose:PutRecordBatch"] {
        assert!(actions.contains(action), "{action} went through the proxy: {actions:?}");
    }
    assert_only_allowed(&reprocessor, "reprocess (reprocessor)");

    // An operator manages the stack's MQTT devices with exactly its policy.
    let out = through(&env, &operator, &["devices", "add", "--devices", "2", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = through(&env, &operator, &["devices", "list", "--format", "json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let out = through(&env, &operator, &["devices", "remove", "--all", "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let actions: std::collections::BTreeSet<String> = operator.calls().into_iter().map(|c| c.action).collect();
    for action in ["iot:CreateThing", "iot:CreateKeysAndCertificate", "iot:AttachPolicy", "iot:DeleteCertificate"] {
        assert!(actions.contains(action), "{action} went through the proxy: {actions:?}");
    }
    assert!(!actions.contains("iot:Unknown"), "every IoT call is mapped to its action: {actions:?}");
    assert_only_allowed(&operator, "devices add, list and remove (operator)");

    // A deployer's teardown removes the devices and their policy first, with exactly its policy.
    let out = through(&env, &operator, &["devices", "add", "--devices", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deployer = IamProxy::start(&env.moto.url, role_policy("deployer", RAW).0);
    let out = through(&env, &deployer, &["teardown", "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let actions: std::collections::BTreeSet<String> = deployer.calls().into_iter().map(|c| c.action).collect();
    assert!(actions.contains("iot:DeleteThing") && actions.contains("iot:DeletePolicy"), "{actions:?}");
    assert_only_allowed(&deployer, "teardown with devices (deployer)");
}

#[test]
fn a_denied_call_names_the_action_the_policy_and_the_way_around() {
    let env = deployed();
    let analyst = IamProxy::start(&env.moto.url, role_policy("analyst", RAW).0);
    // An analyst cannot send: the action and the producer policy are named, and nothing is lost.
    let out = through(&env, &analyst, &["simulate", "--stream", STREAM, "--count", "2", "--devices", "1", "--quiet"]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("firehose:PutRecordBatch") && stderr.contains("examples/iam/producer.json"), "{stderr}");

    // An operator may list but not read: the report says which action, and which policy grants it.
    let operator = IamProxy::start(&env.moto.url, role_policy("operator", RAW).0);
    let out = through(&env, &operator, &["report", "--format", "csv"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("s3:GetObject") && stderr.contains("examples/iam/analyst.json"), "{stderr}");
    assert!(!stderr.contains("no message"), "{stderr}");

    // A producer may not read the lake: without --bucket it reads the stack, then is refused the listing.
    let producer = IamProxy::start(&env.moto.url, role_policy("producer", RAW).0);
    let out = through(&env, &producer, &["report"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("s3:ListBucket") && stderr.contains("examples/iam/analyst.json"), "{stderr}");

    // Without DescribeStacks (a policy of the stream alone), the way around is named.
    let (_, text) = role_policy("producer", RAW);
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["Statement"].as_array_mut().unwrap().retain(|s| s["Sid"] == "SendReadings");
    let stream_only = crate::iam_eval::Policy::from_documents(&[serde_norway::from_str(&doc.to_string()).unwrap()]);
    let bare = IamProxy::start(&env.moto.url, stream_only);
    let out = through(&env, &bare, &["simulate", "--count", "1", "--devices", "1", "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cloudformation:DescribeStacks") && stderr.contains("--stream"), "{stderr}");
    let out = through(&env, &bare, &["simulate", "--stream", STREAM, "--count", "1", "--devices", "1", "--quiet"]);
    assert!(
        out.status.success(),
        "with the name given, the stream alone is enough: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // status with a producer's policy: what it may see is shown, the rest is marked, exit 0.
    let producer = IamProxy::start(&env.moto.url, role_policy("producer", RAW).0);
    let out = through(&env, &producer, &["status", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["status"], "CREATE_COMPLETE");
    assert_eq!(status["stream"], STREAM);
    let denied: Vec<&str> = status["not_permitted"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(denied, ["artifacts_stack", "stream_status", "function_code", "objects"], "{status}");
    assert_eq!(status["artifacts_status"], "not permitted");
}

/// CreateStack and UpdateStack that send tags are also authorized as `cloudformation:TagResource` on the stack:
/// deploy, which tags both stacks with their names, is refused without the deployer's tagging statements and
/// goes through with them.
#[test]
fn deploy_may_tag_its_stacks_only_with_the_statement_that_grants_it() {
    let env = AwsEnv::start();
    let zip = env.zip();
    let deploy = ["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke", "--no-preflight"];
    let (_, text) = role_policy("deployer", RAW);
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["Statement"].as_array_mut().unwrap().retain(|s| !s["Sid"].as_str().unwrap().starts_with("Tag"));
    let untagging = crate::iam_eval::Policy::from_documents(&[serde_norway::from_str(&doc.to_string()).unwrap()]);
    let without = IamProxy::start(&env.moto.url, untagging);
    let out = through(&env, &without, &deploy);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "deploy went through without the permission to tag its stacks");
    assert!(stderr.contains("cannot create stack") && stderr.contains("cloudformation:TagResource"), "{stderr}");
    let refused: Vec<_> = without.calls().into_iter().filter(|c| !c.allowed).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].action, "cloudformation:TagResource");

    let with = IamProxy::start(&env.moto.url, role_policy("deployer", RAW).0);
    let out = through(&env, &with, &deploy);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tagged: Vec<String> = (with.calls().into_iter())
        .filter(|c| c.action == "cloudformation:TagResource" && c.allowed)
        .map(|c| c.resource)
        .collect();
    assert!(tagged.iter().any(|r| r.contains(":stack/reaqtions/")), "{tagged:?}");
    assert!(tagged.iter().any(|r| r.contains(":stack/reaqtions-artifacts/")), "{tagged:?}");
    // The lake's layout is recorded with the deployer's own permissions.
    let record = format!("arn:aws:s3:::{RAW}/processed/_reaqtions_layout");
    assert!(with.calls().iter().any(|c| c.action == "s3:PutObject" && c.resource == record), "{:?}", with.calls());
    assert_only_allowed(&with, "deploy (deployer)");
}
