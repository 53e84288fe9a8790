//! A stack's roles reach only that stack's resources. Each role policy in examples/iam/ is rendered for stack
//! `reaqtions`, then evaluated on the resources the same policy names for stacks `reaqtions-dev` and
//! `reaqtions-artifacts` (denied, whatever the request carries) and on its own (allowed). Resources both
//! renders name alike are the account's, not a stack's (`*`, `thing/*`, the Glue catalog) and are left out,
//! except KMS keys, which are scoped by the `reaqtions:stack` tag they carry rather than by name.

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
/// tag; each with a listing's prefix and the service a role is passed to.
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
                out.push(state.clone().with("s3:prefix", &[prefix]).with("iam:PassedToService", &[service]));
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
                    if !contexts("reaqtions", true).iter().any(|c| policy.allows_in(action, resource, c)) {
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
