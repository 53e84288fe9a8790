//! A stack's roles reach only that stack's resources. Each role policy in examples/iam/ is rendered for stack
//! `reaqtions`, then evaluated on the resources the same policy names for stacks `reaqtions-dev` and
//! `reaqtions-artifacts` (denied, whatever the request carries) and on its own (allowed). Resources both
//! renders name alike are the account's, not a stack's (`*`, `thing/*`, the Glue catalog) and are left out,
//! except KMS keys, which are scoped by the `reaqtions:stack` tag they carry rather than by name. Then every
//! statement against resources of no stack and of another stack: nothing that changes or deletes is allowed.

use serde_json::Value;

use crate::iam_eval::Context;
use crate::iam_proxy::{ACCOUNT, REGION, role_policy_for};

const ROLES: [&str; 5] = ["deployer", "producer", "analyst", "operator", "reprocessor"];

fn raw_bucket(stack: &str) -> String {
    format!("{stack}-iot-data-lake-raw-{ACCOUNT}-{REGION}")
}

/// (actions, concrete resources) of each Allow statement of `role` rendered for `stack`; a `*` inside an ARN
/// becomes a name of that stack's kind (`x`).
fn statements(role: &str, stack: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let (_, text) = role_policy_for(role, stack, &raw_bucket(stack));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
            _ => vec![],
        }
    };
    (doc["Statement"].as_array().unwrap().iter())
        .filter(|s| s["Effect"] == "Allow")
        .map(|s| {
            let resources = list(&s["Resource"]).into_iter().map(|r| if r == "*" { r } else { r.replace('*', "x") });
            (list(&s["Action"]), resources.collect())
        })
        .collect()
}

/// Requests as they may come for a resource of `owner`'s, from a principal acting for stack `reaqtions`: on the
/// resource as it is (carrying its owner's tag), creating or retagging it with `reaqtions`' tag, changing another
/// tag; each with a listing's prefix, the service a role is passed to, and as sent with CreateStack or not.
fn contexts(owner: &str, created: bool) -> Vec<Context> {
    let mut tag_states = vec![
        Context::default().with("aws:ResourceTag/reaqtions:stack", &[owner]),
        Context::default()
            .with("aws:ResourceTag/reaqtions:stack", &[owner])
            .with("aws:RequestTag/reaqtions:stack", &["reaqtions"])
            .with("aws:TagKeys", &["reaqtions:stack"]),
        Context::default()
            .with("aws:ResourceTag/reaqtions:stack", &[owner])
            .with("aws:RequestTag/owner", &["data-team"])
            .with("aws:TagKeys", &["owner"]),
    ];
    if created {
        tag_states.push(
            Context::default()
                .with("aws:RequestTag/reaqtions:stack", &[owner])
                .with("aws:TagKeys", &["reaqtions:stack"]),
        );
    }
    let mut out = Vec::new();
    for state in tag_states {
        for prefix in ["processed/x", "error/x", "athena-results/x"] {
            for service in ["lambda.amazonaws.com", "firehose.amazonaws.com", "iot.amazonaws.com"] {
                let request = state.clone().with("s3:prefix", &[prefix]).with("iam:PassedToService", &[service]);
                // Tags sent with CreateStack or UpdateStack are authorized in that call's context.
                out.push(request.clone().with("cloudformation:CreateAction", &["CreateStack"]));
                out.push(request);
            }
        }
    }
    out
}

#[test]
fn each_role_reaches_its_own_stacks_resources_and_no_neighbours() {
    let mut problems = Vec::new();
    let mut checked = (0, 0);
    for role in ROLES {
        let (policy, _) = role_policy_for(role, "reaqtions", &raw_bucket("reaqtions"));
        let own = statements(role, "reaqtions");
        let own_resources: Vec<&String> = own.iter().flat_map(|(_, r)| r).collect();
        for (actions, resources) in &own {
            for action in actions.iter().filter(|a| *a != "iam:SimulatePrincipalPolicy") {
                for resource in resources {
                    checked.0 += 1;
                    // The artifacts stack carries its own name as its tag, and deploy sends it so.
                    let owner = if resource.contains(":stack/reaqtions-artifacts/") {
                        "reaqtions-artifacts"
                    } else {
                        "reaqtions"
                    };
                    if !contexts(owner, true).iter().any(|c| policy.allows_in(action, resource, c)) {
                        problems.push(format!("{role}: denied {action} on its own {resource}"));
                    }
                }
            }
        }
        for neighbour in ["reaqtions-dev", "reaqtions-artifacts"] {
            for (actions, resources) in statements(role, neighbour) {
                for resource in resources {
                    let account_wide = own_resources.contains(&&resource) && !resource.contains(":key/");
                    // `reaqtions-artifacts` is `reaqtions`' own artifacts stack: a pipeline stack of that name is
                    // refused (settings::DERIVED_ENDINGS), so its stack ARN is legitimately reachable.
                    let own_artifacts_stack = resource.contains(":stack/reaqtions-artifacts/");
                    if account_wide || own_artifacts_stack {
                        continue;
                    }
                    for action in &actions {
                        checked.1 += 1;
                        if let Some(c) =
                            contexts(neighbour, false).iter().find(|c| policy.allows_in(action, &resource, c))
                        {
                            problems
                                .push(format!("{role} of reaqtions may {action} on {neighbour}'s {resource} ({c:?})"));
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(checked.0 > 200 && checked.1 > 300, "only {checked:?} checked");
    eprintln!("{} own and {} neighbours' action × resource pairs checked", checked.0, checked.1);
}

#[test]
fn every_generated_role_name_ending_is_refused_as_a_stack_name() {
    let template: serde_norway::Value = serde_norway::from_str(reaqtions::aws::stack::PIPELINE_TEMPLATE).unwrap();
    let mut trusted = Vec::new();
    let roles: Vec<String> = (template["Resources"].as_mapping().unwrap().iter())
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::IAM::Role"))
        .map(|(id, r)| {
            assert!(r["Properties"]["RoleName"].is_null(), "a named role needs its exact name in deployer.json");
            let principal = &r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"];
            trusted.push(principal.as_str().unwrap().to_owned());
            format!("-{}", id.as_str().unwrap())
        })
        .collect();
    trusted.sort();
    let mut passed = reaqtions::aws::iam::ROLES_PASSED_TO.to_vec();
    passed.sort();
    assert_eq!(trusted, passed, "the pre-flight checks PassRole for exactly the services the roles trust");
    let (_, deployer) = role_policy_for("deployer", "reaqtions", &raw_bucket("reaqtions"));
    for ending in &roles {
        assert!(reaqtions::settings::DERIVED_ENDINGS.contains(&ending.as_str()), "{ending} is not refused");
        let pattern = format!("role/reaqtions{ending}-*");
        assert!(deployer.contains(&pattern), "deployer.json does not scope the role as {pattern}");
    }
    assert!(deployer.contains(":role/") && !deployer.contains(":role/reaqtions-*"), "no role pattern spans stacks");
}

/// Resources of no stack and of another stack, one or more of each kind a role policy names (IoT things and
/// certificates are left out: devices are account-wide, docs/running.md says why).
fn foreign_resources() -> Vec<String> {
    let arn = |service: &str, resource: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}");
    let mut out = vec![
        arn("kms", "key/0000aaaa-12ab-34cd-56ef-1234567890ab"),
        format!("arn:aws:iam::{ACCOUNT}:role/someone-elses-role"),
        format!("arn:aws:iam::{ACCOUNT}:role/other-FunctionRole-1ABC"),
        arn("firehose", "deliverystream/other-iot-data-stream"),
        arn("lambda", "function:other-data-transformation"),
        arn("logs", "log-group:/aws/lambda/other-data-transformation"),
        arn("cloudformation", "stack/other/id"),
        arn("cloudformation", "stack/other-artifacts/id"),
        arn("sns", "other-alarms"),
        arn("cloudwatch", "alarm:other-lambda-errors"),
        // Only an event stack has it; another stack's is as foreign as any of its alarms.
        arn("cloudwatch", "alarm:other-partition-count-exceeded"),
        arn("cloudwatch", "alarm:reaqtions-dev-partition-count-exceeded"),
        format!("arn:aws:cloudwatch::{ACCOUNT}:dashboard/other-{REGION}"),
        arn("glue", "database/other_lake"),
        arn("glue", "table/other_lake/readings"),
        arn("athena", "workgroup/other"),
        arn("iot", "rule/other_readings"),
        arn("iot", "policy/other-device"),
    ];
    for bucket in ["someone-elses-bucket", "other-iot-data-lake-raw-123456789012-us-east-1"] {
        out.push(format!("arn:aws:s3:::{bucket}"));
        for key in ["processed/year=2026/x", "error/x", "athena-results/x", "lambda/x.zip"] {
            out.push(format!("arn:aws:s3:::{bucket}/{key}"));
        }
    }
    out
}

/// Actions granted on `*`, which the check below cannot tell apart from a grant on a foreign resource: each is
/// authorized on no resource of its own or on an IoT certificate (devices are account-wide, docs/running.md).
const ACCOUNT_WIDE: [(&str, &str); 4] = [
    ("iot:AttachPolicy", "authorized on the certificate it binds the device policy to"),
    ("iot:DetachPolicy", "authorized on the certificate it unbinds the device policy from"),
    ("iot:CreateKeysAndCertificate", "creates a certificate and touches nothing that exists"),
    ("logs:CreateLogDelivery", "no resource-level permissions: the log group handler's vended-log lookup"),
];

/// Whether an action only reads (its name starts with a reading verb): the rest can change or delete.
fn only_reads(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    ["Get", "List", "Describe", "Filter", "Head", "Lookup", "Simulate"].iter().any(|verb| name.starts_with(verb))
}

#[test]
fn no_shipped_policy_may_change_or_delete_what_is_not_its_stacks() {
    // The contexts of the neighbour test, for a resource of another stack, and for one that carries no
    // `reaqtions:stack` tag at all: as it is, being tagged with this stack's tag (how a key was taken over),
    // being tagged otherwise.
    let mut contexts = contexts("other", true);
    for state in [
        Context::default(),
        Context::default()
            .with("aws:RequestTag/reaqtions:stack", &["reaqtions"])
            .with("aws:TagKeys", &["reaqtions:stack"]),
        Context::default().with("aws:RequestTag/owner", &["data-team"]).with("aws:TagKeys", &["owner"]),
    ] {
        for service in ["lambda.amazonaws.com", "firehose.amazonaws.com", "iot.amazonaws.com"] {
            let request = state.clone().with("s3:prefix", &["processed/x"]).with("iam:PassedToService", &[service]);
            contexts.push(request.clone().with("cloudformation:CreateAction", &["CreateStack"]));
            contexts.push(request);
        }
    }
    let resources = foreign_resources();
    let mut problems = Vec::new();
    let mut checked = 0;
    for role in ROLES {
        let (policy, _) = role_policy_for(role, "reaqtions", &raw_bucket("reaqtions"));
        let mut actions: Vec<String> = statements(role, "reaqtions").into_iter().flat_map(|(a, _)| a).collect();
        actions.sort();
        actions.dedup();
        for (action, why) in ACCOUNT_WIDE {
            if actions.iter().any(|a| a == action) {
                let granted_on_its_own = foreign_resources().iter().all(|r| policy.allows(action, r));
                assert!(granted_on_its_own, "{role}: {action} is listed as account-wide ({why}) but is scoped now");
            }
        }
        let account_wide = |a: &str| ACCOUNT_WIDE.iter().any(|(listed, _)| *listed == a);
        for action in actions.iter().filter(|a| !only_reads(a) && !account_wide(a)) {
            for resource in &resources {
                checked += 1;
                if let Some(c) = contexts.iter().find(|c| policy.allows_in(action, resource, c)) {
                    problems.push(format!("{role} may {action} on {resource} ({c:?})"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(checked > 2000, "only {checked} action × resource pairs checked");
    eprintln!("{checked} changing action × foreign resource pairs checked, none allowed");
}

/// The statement kept for stacks deployed before the alarm key was dropped reads and schedules deletion of a
/// key that carries this stack's tag, and nothing else: no key of another stack or of none, and no way to tag one.
#[test]
fn the_kept_key_statement_reaches_only_a_key_tagged_with_this_stack() {
    let (deployer, text) = role_policy_for("deployer", "reaqtions", &raw_bucket("reaqtions"));
    let key = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let ours = Context::default().with("aws:ResourceTag/reaqtions:stack", &["reaqtions"]);
    for action in ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListResourceTags", "kms:ScheduleKeyDeletion"] {
        assert!(deployer.allows_in(action, &key, &ours), "{action} on this stack's former key");
        for other in [Context::default(), Context::default().with("aws:ResourceTag/reaqtions:stack", &["other"])] {
            assert!(!deployer.allows_in(action, &key, &other), "{action} on a key not of this stack: {other:?}");
        }
    }
    let doc: Value = serde_json::from_str(&text).unwrap();
    let kms: Vec<&str> = (doc["Statement"].as_array().unwrap().iter())
        .flat_map(|s| s["Action"].as_array().unwrap())
        .filter_map(Value::as_str)
        .filter(|a| a.starts_with("kms:"))
        .collect();
    assert_eq!(
        kms,
        [
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListResourceTags",
            "kms:ScheduleKeyDeletion"
        ],
        "no CreateKey, TagResource, PutKeyPolicy or DisableKey"
    );
}
