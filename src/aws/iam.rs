//! IAM: deploy's pre-flight permission check. The deploying principal (from STS GetCallerIdentity; an
//! assumed-role session maps to its role) is simulated with SimulatePrincipalPolicy against the deployer policy
//! in `examples/iam/deployer.json`, filled in for this stack, account and region, and every action it may not
//! take is listed at once, before anything is created, in the request context AWS supplies for deploy's calls
//! (see [`checks`]). The same file is the policy a user attaches.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aws_sdk_iam::Client;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyError;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, EvaluationResult, PolicyEvaluationDecisionType};
use serde_json::Value;

use crate::aws::cloudformation::STACK_TAG;
pub use crate::aws::policies::{DEPLOYER_POLICY, ROLE_POLICIES};
use crate::error::Kind;

/// What fills the policy's placeholders.
#[derive(Debug, Clone)]
pub struct PolicyNames<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub stack: &'a str,
    pub raw_bucket: &'a str,
    pub glue_database: &'a str,
}

/// The policy with its placeholders (`PARTITION`, `REGION`, `ACCOUNT`, `STACK`, `RAW_BUCKET`, `GLUE_DATABASE`,
/// `IOT_RULE`, the stack's topic rule, and `ARTIFACTS_BUCKET`) filled in.
pub fn fill(policy: &str, names: &PolicyNames) -> String {
    let artifacts = crate::aws::stack::artifacts_bucket_name(names.stack, names.account, names.region);
    policy
        .replace("ARTIFACTS_BUCKET", &artifacts)
        .replace("IOT_RULE", &crate::mqtt::rule_name(names.stack))
        .replace("RAW_BUCKET", names.raw_bucket)
        .replace("GLUE_DATABASE", names.glue_database)
        .replace("PARTITION", names.partition)
        .replace("REGION", names.region)
        .replace("ACCOUNT", names.account)
        .replace("STACK", names.stack)
}

/// The services the pipeline's template passes roles to (`iam:PassedToService` of each `iam:PassRole`).
pub const ROLES_PASSED_TO: [&str; 3] = ["lambda.amazonaws.com", "firehose.amazonaws.com", "iot.amazonaws.com"];

/// One request-context entry: a condition key, its values, and whether it is a list (`aws:TagKeys`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContextValue {
    pub key: String,
    pub values: Vec<String>,
    pub(crate) list: bool,
}

/// Actions to simulate against resources, in the request context AWS would supply for deploy's calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub context: Vec<ContextValue>,
}

/// The checks of a (filled) policy for `stack`: one per Allow statement (one per service a role is passed to
/// for `iam:PassRole`), each in the context AWS supplies for the calls deploy makes, never in the one the
/// statement's own condition asks for. Deploy tags its stacks `reaqtions:stack=STACK` and CloudFormation passes
/// that tag on to the resources it creates: a statement conditioned on request tags grants calls that create
/// or tag a resource (the stack's tags as `aws:RequestTag/*` and `aws:TagKeys`, no `aws:ResourceTag/*`); any
/// other acts on a resource of the stack, which carries the stack's tags (`aws:ResourceTag/*`; CloudFormation's
/// own `aws:cloudformation:*` tags are left out, as they are on keys, roles and streams). A statement conditioned
/// on `cloudformation:CreateAction` grants the tags deploy sends with CreateStack and UpdateStack: checked for
/// each of the two calls, on each stack it names, with that stack's tag (its own name). IAM's simulator
/// evaluates every operator; a condition key outside this context is absent, so a statement that needs one
/// shows as missing rather than passing. A `*` inside a resource becomes a concrete name (`example`), so the
/// caller's own policy is matched as it would be for a real resource; the policy's own permission to simulate
/// is left out.
pub fn checks(policy: &str, stack: &str) -> Result<Vec<Check>> {
    let doc: Value = serde_json::from_str(policy).context("the deployer policy is not JSON")?;
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
            _ => vec![],
        }
    };
    let tags = [(STACK_TAG, stack)];
    let mut out = Vec::new();
    for statement in doc["Statement"].as_array().into_iter().flatten() {
        let actions = list(&statement["Action"]);
        if statement["Effect"] != "Allow" || actions.iter().any(|a| a == "iam:SimulatePrincipalPolicy") {
            continue;
        }
        let resources: Vec<String> = list(&statement["Resource"])
            .into_iter()
            .map(|r| if r == "*" { r } else { r.replace('*', "example") })
            .collect();
        let keys: Vec<String> = (statement["Condition"].as_object().into_iter())
            .flat_map(|by_operator| by_operator.values())
            .filter_map(Value::as_object)
            .flat_map(|m| m.keys().map(|k| k.to_ascii_lowercase()))
            .collect();
        let entry = |key: String, values: Vec<String>, list: bool| ContextValue { key, values, list };
        if keys.iter().any(|k| k == "cloudformation:createaction") {
            // Tags sent with CreateStack or UpdateStack are authorized as cloudformation:TagResource on that
            // stack, in the context of the call that sent them: its name and the stack's tag (its own name).
            for resource in &resources {
                let name = stack_of(resource).unwrap_or(stack);
                for create_action in ["CreateStack", "UpdateStack"] {
                    let context = vec![
                        entry("cloudformation:CreateAction".into(), vec![create_action.into()], false),
                        entry(format!("aws:RequestTag/{STACK_TAG}"), vec![name.to_owned()], false),
                        entry("aws:TagKeys".into(), vec![STACK_TAG.to_owned()], true),
                    ];
                    out.push(Check { actions: actions.clone(), resources: vec![resource.clone()], context });
                }
            }
            continue;
        }
        let mut context = Vec::new();
        if keys.iter().any(|k| k.starts_with("aws:requesttag/")) {
            for (k, v) in tags {
                context.push(entry(format!("aws:RequestTag/{k}"), vec![v.to_owned()], false));
            }
            context.push(entry("aws:TagKeys".into(), tags.iter().map(|(k, _)| (*k).to_owned()).collect(), true));
        } else if keys.iter().any(|k| k.starts_with("aws:resourcetag/")) {
            for (k, v) in tags {
                context.push(entry(format!("aws:ResourceTag/{k}"), vec![v.to_owned()], false));
            }
        }
        if keys.iter().any(|k| k == "iam:passedtoservice") {
            for service in ROLES_PASSED_TO {
                let mut passed = context.clone();
                passed.push(entry("iam:PassedToService".into(), vec![service.to_owned()], false));
                out.push(Check { actions: actions.clone(), resources: resources.clone(), context: passed });
            }
        } else {
            out.push(Check { actions, resources, context });
        }
    }
    Ok(out)
}

/// The stack a CloudFormation stack ARN names (`arn:aws:cloudformation:r:a:stack/NAME/id` → NAME).
fn stack_of(arn: &str) -> Option<&str> {
    arn.split_once(":stack/").and_then(|(_, rest)| rest.split('/').next())
}

/// The ARN to simulate for a caller: an assumed-role session is its role (path-less; the caller's role is
/// looked up for its path when allowed). `Err` says why the caller cannot be simulated.
pub(crate) fn principal_of(caller_arn: &str) -> Result<String, String> {
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    let [_, partition, service, _, account, resource] = parts[..] else {
        return Err(format!("{caller_arn} is not an ARN"));
    };
    match (service, resource.split('/').collect::<Vec<_>>().as_slice()) {
        ("iam", ["root"]) => Err("the account's root user may do everything".into()),
        ("iam", _) => Ok(caller_arn.to_owned()),
        ("sts", ["assumed-role", role, ..]) => Ok(format!("arn:{partition}:iam::{account}:role/{role}")),
        _ => Err(format!("{caller_arn} is not a user or role that IAM can simulate")),
    }
}

/// How the pre-flight check went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Preflight {
    /// Every action of the policy is allowed (count of action × resource pairs checked).
    Allowed(usize),
    /// Actions the principal may not take, each with the resources it may not take them on.
    Missing(BTreeMap<String, Vec<String>>),
    /// The check could not run, for a reason that does not stop deploy (why): the caller may not simulate, IAM
    /// kept throttling, or the endpoint does not implement the call.
    Skipped(String),
}

/// Times a check is asked again after IAM throttled it (on top of the SDK's own retries).
const THROTTLE_RETRIES: u32 = 3;

/// The wait before the first of those, doubled before each next one.
const THROTTLE_BACKOFF: std::time::Duration =
    if cfg!(test) { std::time::Duration::from_millis(1) } else { std::time::Duration::from_secs(2) };

/// Simulates `principal` against every check. A check IAM cannot run is [`Preflight::Skipped`] when the caller
/// may not simulate (a denial), when IAM throttled it [`THROTTLE_RETRIES`] more times, or when the endpoint does
/// not implement the call; any other failure (expired or refused credentials, IAM unreachable, …) is an error,
/// so deploy stops before it creates anything.
pub(crate) async fn preflight(client: &Client, principal: &str, checks: &[Check]) -> Result<Preflight> {
    let principal = role_with_path(client, principal).await;
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for check in checks {
        let mut retries = 0;
        let results = loop {
            let e = match simulate(client, &principal, check).await {
                Ok(results) => break results,
                Err(e) => e,
            };
            let said = super::explain(&e);
            match super::error::judge(&e) {
                Kind::Throttled if retries < THROTTLE_RETRIES => {
                    tokio::time::sleep(THROTTLE_BACKOFF * 2u32.pow(retries)).await;
                    retries += 1;
                }
                Kind::Throttled => {
                    let times = retries + 1;
                    return Ok(Preflight::Skipped(format!(
                        "IAM throttled SimulatePrincipalPolicy {times} times ({said})"
                    )));
                }
                Kind::Denied => {
                    return Ok(Preflight::Skipped(format!("the caller may not simulate its policy ({said})")));
                }
                Kind::Unsupported => {
                    return Ok(Preflight::Skipped(format!(
                        "the endpoint does not implement IAM SimulatePrincipalPolicy ({said})"
                    )));
                }
                // A role with a path (an SSO role's is /aws-reserved/sso.amazonaws.com/<region>/) named without
                // it, when the caller may not read the role (iam:GetRole) to learn it: the check cannot name the
                // principal, which says nothing of its permissions.
                Kind::NotFound => {
                    return Ok(Preflight::Skipped(format!(
                        "IAM does not know {principal} by that name (a role whose path the caller may not read: \
                         iam:GetRole) ({said})"
                    )));
                }
                kind => {
                    let around = if kind == Kind::Credentials { "" } else { "; --no-preflight deploys without it" };
                    let message = format!(
                        "deploy stopped before creating anything: the permission check (IAM SimulatePrincipalPolicy \
                         for {principal}) could not run: {said}{around}"
                    );
                    return Err(anyhow::Error::new(super::error::typed(&e, message)));
                }
            }
        };
        for result in &results {
            let per_resource: Vec<(&str, &PolicyEvaluationDecisionType)> =
                if result.resource_specific_results().is_empty() {
                    vec![(result.eval_resource_name().unwrap_or("*"), result.eval_decision())]
                } else {
                    result
                        .resource_specific_results()
                        .iter()
                        .map(|r| (r.eval_resource_name(), r.eval_resource_decision()))
                        .collect()
                };
            for (resource, decision) in per_resource {
                checked += 1;
                if *decision != PolicyEvaluationDecisionType::Allowed {
                    let resources = missing.entry(result.eval_action_name().to_owned()).or_default();
                    if !resources.iter().any(|r| r == resource) {
                        resources.push(resource.to_owned());
                    }
                }
            }
        }
    }
    Ok(if missing.is_empty() { Preflight::Allowed(checked) } else { Preflight::Missing(missing) })
}

/// One check simulated for `principal`: every page's results, or the first failure.
async fn simulate(
    client: &Client,
    principal: &str,
    check: &Check,
) -> Result<Vec<EvaluationResult>, SdkError<SimulatePrincipalPolicyError, HttpResponse>> {
    let mut request = client
        .simulate_principal_policy()
        .policy_source_arn(principal)
        .set_action_names(Some(check.actions.clone()))
        .set_resource_arns(Some(check.resources.clone()));
    for entry in &check.context {
        let kind = if entry.list { ContextKeyTypeEnum::StringList } else { ContextKeyTypeEnum::String };
        request = request.context_entries(
            ContextEntry::builder()
                .context_key_name(&entry.key)
                .set_context_key_values(Some(entry.values.clone()))
                .context_key_type(kind)
                .build(),
        );
    }
    let mut results = Vec::new();
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        results.extend(page?.evaluation_results.unwrap_or_default());
    }
    Ok(results)
}

/// A role's ARN with its path (GetRole), when the principal may read it; otherwise as given.
async fn role_with_path(client: &Client, principal: &str) -> String {
    let Some((_, role)) = principal.split_once(":role/") else { return principal.to_owned() };
    if role.contains('/') {
        return principal.to_owned();
    }
    match client.get_role().role_name(role).send().await {
        Ok(out) => out.role().map_or_else(|| principal.to_owned(), |r| r.arn().to_owned()),
        Err(_) => principal.to_owned(),
    }
}

/// The missing permissions in one message, every action at once.
pub(crate) fn describe_missing(principal: &str, missing: &BTreeMap<String, Vec<String>>) -> String {
    let lines: Vec<String> = missing.iter().map(|(action, on)| format!("  {action} on {}", on.join(", "))).collect();
    format!(
        "{principal} may not do everything deploy needs; {} actions are missing:\n{}\nAttach the policy in \
         examples/iam/deployer.json (filled in for this stack), or pass --no-preflight to try anyway",
        missing.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_iam::operation::get_role::GetRoleError;
    use aws_sdk_iam::operation::simulate_principal_policy::{
        SimulatePrincipalPolicyError, SimulatePrincipalPolicyOutput,
    };
    use aws_sdk_iam::types::EvaluationResult;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn checks_of(policy: &str) -> Vec<Check> {
        checks(policy, "lab").unwrap()
    }

    fn names() -> PolicyNames<'static> {
        PolicyNames {
            partition: "aws",
            region: "eu-west-1",
            account: "123456789012",
            stack: "lab",
            raw_bucket: "lab-raw",
            glue_database: "lab_lake",
        }
    }

    #[test]
    fn the_policy_is_filled_in_for_the_stack() {
        let filled = fill(DEPLOYER_POLICY, &names());
        for placeholder in
            ["PARTITION", "REGION", "ACCOUNT", "STACK", "RAW_BUCKET", "GLUE_DATABASE", "IOT_RULE", "ARTIFACTS_BUCKET"]
        {
            assert!(!filled.contains(placeholder), "{placeholder} left in the policy");
        }
        assert!(filled.contains("arn:aws:cloudformation:eu-west-1:123456789012:stack/lab/*"));
        assert!(filled.contains("arn:aws:s3:::lab-raw/*"));
        assert!(filled.contains("arn:aws:lambda:eu-west-1:123456789012:function:lab-data-transformation"));
        let checks = checks(&filled, "lab").unwrap();
        let pass: Vec<&Check> = checks.iter().filter(|c| c.actions == ["iam:PassRole"]).collect();
        assert_eq!(pass.len(), 3, "PassRole checked for each service it is passed to");
        assert!(filled.contains("arn:aws:iot:eu-west-1:123456789012:rule/lab_readings"));
        assert!(pass.iter().any(|c| c.context.iter().any(|e| e.values == ["firehose.amazonaws.com"])));
        assert!(checks.iter().all(|c| !c.actions.contains(&"iam:SimulatePrincipalPolicy".to_owned())));
        let roles = checks.iter().find(|c| c.actions.contains(&"iam:CreateRole".to_owned())).unwrap();
        assert_eq!(roles.resources[0], "arn:aws:iam::123456789012:role/lab-FunctionRole-example", "made concrete");
        assert!(filled.contains("arn:aws:s3:::lab-artifacts-123456789012-eu-west-1"));
    }

    #[test]
    fn tag_statements_are_checked_in_the_context_of_deploys_calls_not_their_own_condition() {
        let checks = checks(&fill(DEPLOYER_POLICY, &names()), "lab").unwrap();
        let tagging: Vec<&Check> = checks.iter().filter(|c| c.actions == ["cloudformation:TagResource"]).collect();
        let seen: Vec<(&str, &str, &str)> = (tagging.iter())
            .map(|c| {
                let value = |key: &str| c.context.iter().find(|e| e.key == key).unwrap().values[0].as_str();
                (c.resources[0].as_str(), value("cloudformation:CreateAction"), value("aws:RequestTag/reaqtions:stack"))
            })
            .collect();
        let stack = |name: &str| format!("arn:aws:cloudformation:eu-west-1:123456789012:stack/{name}/example");
        let (lab, artifacts) = (stack("lab"), stack("lab-artifacts"));
        assert_eq!(
            seen,
            [
                (lab.as_str(), "CreateStack", "lab"),
                (lab.as_str(), "UpdateStack", "lab"),
                (artifacts.as_str(), "CreateStack", "lab-artifacts"),
                (artifacts.as_str(), "UpdateStack", "lab-artifacts"),
            ],
            "each stack tagged with its own name as deploy creates or updates it"
        );
        assert!(tagging.iter().all(|c| c.context.iter().any(|e| e.key == "aws:TagKeys" && e.list)));
        // The former alarm key is read and deleted only where it carries this stack's tag; nothing creates one.
        let delete = checks.iter().find(|c| c.actions.contains(&"kms:ScheduleKeyDeletion".to_owned())).unwrap();
        assert_eq!(delete.context.len(), 1);
        assert_eq!(
            (delete.context[0].key.as_str(), delete.context[0].values.clone()),
            ("aws:ResourceTag/reaqtions:stack", vec!["lab".to_owned()])
        );
        assert!(!checks.iter().flat_map(|c| &c.actions).any(|a| a == "kms:CreateKey" || a == "kms:TagResource"));
        // A statement conditioned on CloudFormation's own stack tag (which keys never carry) gets no such key.
        let old = r#"{"Statement": [{"Effect": "Allow", "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/aws:cloudformation:stack-name": "lab"}}}]}"#;
        let old = checks_of(old);
        assert!(old[0].context.iter().all(|e| !e.key.contains("aws:cloudformation")), "{old:?}");
    }

    #[test]
    fn callers_map_to_what_iam_can_simulate() {
        assert_eq!(
            principal_of("arn:aws:sts::123456789012:assumed-role/Deployer/alice@example.com").unwrap(),
            "arn:aws:iam::123456789012:role/Deployer"
        );
        assert_eq!(
            principal_of("arn:aws:iam::123456789012:user/ci/deployer").unwrap(),
            "arn:aws:iam::123456789012:user/ci/deployer"
        );
        assert!(principal_of("arn:aws:iam::123456789012:root").unwrap_err().contains("root"));
        assert!(principal_of("arn:aws:sts::123456789012:federated-user/bob").is_err());
    }

    fn decision(action: &str, resource: &str, allowed: bool) -> EvaluationResult {
        EvaluationResult::builder()
            .eval_action_name(action)
            .eval_resource_name(resource)
            .eval_decision(if allowed {
                PolicyEvaluationDecisionType::Allowed
            } else {
                PolicyEvaluationDecisionType::ImplicitDeny
            })
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn every_missing_action_is_listed_at_once() {
        let simulate = mock!(Client::simulate_principal_policy).then_output(|| {
            SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(decision("cloudformation:CreateStack", "arn:stack", true))
                .evaluation_results(decision("iam:PassRole", "arn:role", false))
                .evaluation_results(decision("lambda:CreateFunction", "arn:function", false))
                .is_truncated(false)
                .build()
        });
        let get_role = mock!(Client::get_role)
            .then_error(|| GetRoleError::generic(ErrorMetadata::builder().code("AccessDenied").build()));
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &[&simulate, &get_role]);
        let checks = checks(&fill(DEPLOYER_POLICY, &names()), "lab").unwrap();
        let principal = "arn:aws:iam::123456789012:role/Deployer";
        let Preflight::Missing(missing) = preflight(&client, principal, &checks).await.unwrap() else {
            panic!("expected missing permissions")
        };
        assert_eq!(missing.keys().collect::<Vec<_>>(), ["iam:PassRole", "lambda:CreateFunction"]);
        let message = describe_missing("arn:aws:iam::123456789012:role/Deployer", &missing);
        assert!(message.contains("2 actions are missing") && message.contains("lambda:CreateFunction on arn:function"));
        assert!(message.contains("examples/iam/deployer.json"));
        assert_eq!(simulate.num_calls(), checks.len(), "one simulation per check");
    }

    #[tokio::test]
    async fn a_principal_that_may_not_simulate_is_skipped_in_one_line() {
        let simulate = mock!(Client::simulate_principal_policy).then_error(|| {
            SimulatePrincipalPolicyError::generic(
                ErrorMetadata::builder().code("AccessDenied").message("not authorized to simulate").build(),
            )
        });
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &[&simulate]);
        let result = preflight(&client, "arn:aws:iam::123456789012:user/dev", &checks_of(DEPLOYER_POLICY)).await;
        let Ok(Preflight::Skipped(why)) = result else { panic!("expected skipped, got {result:?}") };
        assert!(why.contains("AccessDenied") && !why.contains('\n'), "{why}");
        assert_eq!(simulate.num_calls(), 1, "stops at the first refusal");
    }

    /// A client of `rules` without the SDK's own retries, so each call the check makes is one answer.
    fn without_retries(rules: &[&aws_smithy_mocks::Rule]) -> Client {
        mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules, |c| c
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled()))
    }

    fn throttled() -> SimulatePrincipalPolicyError {
        SimulatePrincipalPolicyError::generic(
            ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build(),
        )
    }

    #[tokio::test]
    async fn a_throttled_check_is_asked_again_then_skipped() {
        let allowed = || {
            SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(decision("cloudformation:CreateStack", "arn:stack", true))
                .is_truncated(false)
                .build()
        };
        // Throttled twice, then answered: the check goes on as if it never was.
        let simulate =
            mock!(Client::simulate_principal_policy).sequence().error(throttled).times(2).output(allowed).build();
        let client = without_retries(&[&simulate]);
        let one = &checks_of(DEPLOYER_POLICY)[..1];
        let result = preflight(&client, "arn:aws:iam::123456789012:user/dev", one).await.unwrap();
        assert_eq!(result, Preflight::Allowed(1));
        assert_eq!(simulate.num_calls(), 3);

        // Throttled every time: skipped after the retries, in one line that says so.
        let simulate = mock!(Client::simulate_principal_policy).then_error(throttled);
        let client = without_retries(&[&simulate]);
        let result = preflight(&client, "arn:aws:iam::123456789012:user/dev", &checks_of(DEPLOYER_POLICY)).await;
        let Ok(Preflight::Skipped(why)) = result else { panic!("expected skipped, got {result:?}") };
        assert!(why.starts_with("IAM throttled SimulatePrincipalPolicy 4 times (Throttling: Rate exceeded"), "{why}");
        assert_eq!(simulate.num_calls(), 1 + THROTTLE_RETRIES as usize, "asked again, then given up");
    }

    #[tokio::test]
    async fn expired_credentials_stop_deploy_before_anything_is_created() {
        // IAM's own answer to an expired session: a 403 in the query protocol, which is not a denial.
        let simulate = mock!(Client::simulate_principal_policy).then_http_response(|| {
            HttpResponse::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token \
                     included in the request is expired</Message></Error><RequestId>1</RequestId></ErrorResponse>",
                ),
            )
        });
        let client = without_retries(&[&simulate]);
        let error = preflight(&client, "arn:aws:iam::123456789012:user/dev", &checks_of(DEPLOYER_POLICY))
            .await
            .expect_err("expired credentials are not a skipped check");
        let said = format!("{error:#}");
        assert!(said.starts_with("deploy stopped before creating anything: the permission check"), "{said}");
        assert!(said.contains("ExpiredToken: The security token included in the request is expired"), "{said}");
        assert!(said.contains("IAM refused the credentials: they expired") && !said.contains("--no-preflight"));
        assert_eq!(crate::error::kind(&error), Some(Kind::Credentials));
        assert_eq!(crate::error::exit_code(&error), crate::error::CREDENTIALS_EXIT);
        assert_eq!(simulate.num_calls(), 1, "not retried");
    }
}
