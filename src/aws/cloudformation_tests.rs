//! Stack state handling against mocked CloudFormation (aws-smithy-mocks): every state deploy and teardown can
//! meet, without an account.

use aws_sdk_cloudformation::operation::create_stack::CreateStackOutput;
use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{DescribeStacksError, DescribeStacksOutput};
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::operation::update_stack::{UpdateStackError, UpdateStackOutput};
use aws_sdk_cloudformation::types::{Parameter, ResourceStatus, Stack, StackEvent, StackStatus, Tag};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;

use super::*;

const TEMPLATE: &str = "Resources: {}";

fn spec() -> StackSpec {
    StackSpec {
        name: "reaqtions".into(),
        template: TEMPLATE.into(),
        parameters: vec![("StreamName".into(), "s".into())],
    }
}

fn stack(status: StackStatus) -> DescribeStacksOutput {
    let stack = Stack::builder()
        .stack_name("reaqtions")
        .stack_status(status)
        .creation_time(SmithyTime::from_secs(0))
        .parameters(Parameter::builder().parameter_key("StreamName").parameter_value("s").build())
        .build();
    DescribeStacksOutput::builder().stacks(stack).build()
}

fn missing() -> DescribeStacksError {
    DescribeStacksError::generic(
        ErrorMetadata::builder().code("ValidationError").message("Stack with id reaqtions does not exist").build(),
    )
}

/// describe_stacks answering `states` in turn (`None` = the stack does not exist), the last one repeatedly.
fn describes(states: &[Option<StackStatus>]) -> Rule {
    let mut seq = mock!(Client::describe_stacks).sequence();
    for (i, state) in states.iter().enumerate() {
        let state = state.clone();
        let last = i + 1 == states.len();
        seq = match state {
            Some(s) => seq.output(move || stack(s.clone())),
            None => seq.error(missing),
        };
        if last {
            return seq.repeatedly().build();
        }
    }
    unreachable!("at least one state")
}

fn event(logical: &str, status: ResourceStatus, reason: &str) -> StackEvent {
    StackEvent::builder()
        .event_id(format!("{logical}-{}", status.as_str()))
        .stack_name("reaqtions")
        .logical_resource_id(logical)
        .resource_type(if logical == "reaqtions" { "AWS::CloudFormation::Stack" } else { "AWS::Lambda::Function" })
        .resource_status(status)
        .resource_status_reason(reason)
        .timestamp(SmithyTime::from(std::time::SystemTime::now() + Duration::from_secs(60)))
        .build()
}

fn events(events: Vec<StackEvent>) -> Rule {
    mock!(Client::describe_stack_events)
        .then_output(move || DescribeStackEventsOutput::builder().set_stack_events(Some(events.clone())).build())
}

fn template(body: &'static str) -> Rule {
    mock!(Client::get_template).then_output(move || GetTemplateOutput::builder().template_body(body).build())
}

fn created() -> Rule {
    mock!(Client::create_stack).then_output(|| CreateStackOutput::builder().stack_id("id").build())
}

fn deleted() -> Rule {
    mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build())
}

fn updated() -> Rule {
    mock!(Client::update_stack).then_output(|| UpdateStackOutput::builder().stack_id("id").build())
}

async fn deploy(rules: &[&Rule]) -> (Result<StackChange>, Vec<String>) {
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules);
    let mut lines = Vec::new();
    let result = deploy_stack(&client, &spec(), &mut |l| lines.push(l.to_owned())).await;
    (result, lines)
}

#[tokio::test]
async fn a_missing_stack_is_created() {
    let create = created();
    let (result, _) = deploy(&[&describes(&[None, Some(StackStatus::CreateComplete)]), &create, &events(vec![])]).await;
    assert_eq!(result.unwrap(), StackChange::Created);
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn rollback_complete_is_deleted_and_created_again() {
    let (create, delete) = (created(), deleted());
    let states = [
        Some(StackStatus::RollbackComplete), // deploy looks
        Some(StackStatus::RollbackComplete), // delete_stack looks
        Some(StackStatus::DeleteInProgress), // the deletion's start time
        Some(StackStatus::DeleteComplete),   // the delete waiter
        None,                                // deploy looks again
        Some(StackStatus::CreateComplete),   // the creation's start time, the create waiter
    ];
    let (result, lines) = deploy(&[&describes(&states), &create, &delete, &events(vec![])]).await;
    assert_eq!(result.unwrap(), StackChange::Recreated);
    assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
    assert!(lines.iter().any(|l| l.contains("ROLLBACK_COMPLETE")), "said so: {lines:?}");
}

#[tokio::test]
async fn in_progress_is_waited_for_then_evaluated() {
    let update = updated();
    let states = [Some(StackStatus::UpdateInProgress), Some(StackStatus::UpdateComplete)];
    let (result, lines) = deploy(&[&describes(&states), &template(TEMPLATE), &update, &events(vec![])]).await;
    assert_eq!(result.unwrap(), StackChange::UpToDate);
    assert_eq!(update.num_calls(), 0, "same template and parameters: no update");
    assert!(lines.iter().any(|l| l.contains("UPDATE_IN_PROGRESS")));
}

#[tokio::test]
async fn no_updates_to_perform_is_up_to_date() {
    let update = mock!(Client::update_stack).then_error(|| {
        UpdateStackError::generic(
            ErrorMetadata::builder().code("ValidationError").message("No updates are to be performed.").build(),
        )
    });
    let (result, _) =
        deploy(&[&describes(&[Some(StackStatus::UpdateComplete)]), &template("Resources: {old: 1}"), &update]).await;
    assert_eq!(result.unwrap(), StackChange::UpToDate);
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn a_changed_template_is_updated() {
    let update = updated();
    let states = [Some(StackStatus::CreateComplete), Some(StackStatus::UpdateComplete)];
    let (result, _) = deploy(&[&describes(&states), &template("Resources: {old: 1}"), &update, &events(vec![])]).await;
    assert_eq!(result.unwrap(), StackChange::Updated);
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_update_names_the_resource_and_reason() {
    let states = [Some(StackStatus::UpdateComplete), Some(StackStatus::UpdateRollbackComplete)];
    let history = events(vec![
        event("reaqtions", ResourceStatus::UpdateRollbackComplete, ""),
        event("Function", ResourceStatus::UpdateFailed, "Memory size 99 is below the minimum of 128"),
    ]);
    let (result, _) = deploy(&[&describes(&states), &template("Resources: {old: 1}"), &updated(), &history]).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("updating stack reaqtions failed"), "{error}");
    assert!(error.contains("Function AWS::Lambda::Function UPDATE_FAILED: Memory size 99"), "{error}");
}

#[tokio::test]
async fn a_failed_create_names_the_resource_and_reason() {
    let states = [None, Some(StackStatus::RollbackComplete)];
    let history = events(vec![event("Function", ResourceStatus::CreateFailed, "S3 key lambda/x.zip does not exist")]);
    let (result, _) = deploy(&[&describes(&states), &created(), &history]).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("creating stack reaqtions failed") && error.contains("lambda/x.zip"), "{error}");
}

#[tokio::test]
async fn update_rollback_failed_needs_attention() {
    let history = events(vec![event("Function", ResourceStatus::UpdateFailed, "role is gone")]);
    let (result, _) = deploy(&[&describes(&[Some(StackStatus::UpdateRollbackFailed)]), &history]).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("UPDATE_ROLLBACK_FAILED") && error.contains("role is gone"), "{error}");
}

#[tokio::test]
async fn delete_failed_is_reported_with_the_reason() {
    let states = [Some(StackStatus::CreateComplete), Some(StackStatus::DeleteFailed)];
    let history =
        events(vec![event("RawBucket", ResourceStatus::DeleteFailed, "The bucket you tried to delete is not empty")]);
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&describes(&states), &deleted(), &history]);
    let error = delete_stack(&client, "reaqtions", &mut |_| {}).await.unwrap_err().to_string();
    assert!(error.contains("DELETE_FAILED") && error.contains("RawBucket") && error.contains("not empty"), "{error}");
}

#[tokio::test]
async fn deleting_a_missing_stack_is_nothing_to_do() {
    let delete = deleted();
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&describes(&[None]), &delete]);
    assert!(!delete_stack(&client, "reaqtions", &mut |_| {}).await.unwrap());
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn review_in_progress_is_deleted_and_created_not_waited_on() {
    let (create, delete) = (created(), deleted());
    let states = [
        Some(StackStatus::ReviewInProgress), // deploy looks
        Some(StackStatus::ReviewInProgress), // delete_stack looks: no settling on a change set under review
        Some(StackStatus::DeleteInProgress),
        Some(StackStatus::DeleteComplete),
        None,
        Some(StackStatus::CreateComplete),
    ];
    let (describe, history) = (describes(&states), events(vec![]));
    let rules = [&describe, &create, &delete, &history];
    let run = deploy(&rules);
    let (result, lines) = tokio::time::timeout(Duration::from_secs(20), run).await.expect("not waited on");
    assert_eq!(result.unwrap(), StackChange::Recreated);
    assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
    assert!(lines.iter().any(|l| l.contains("REVIEW_IN_PROGRESS") && l.contains("never executed")), "{lines:?}");
}

#[tokio::test]
async fn a_role_firehose_cannot_assume_yet_is_explained() {
    let states = [None, Some(StackStatus::RollbackComplete)];
    let history = events(vec![event(
        "DeliveryStream",
        ResourceStatus::CreateFailed,
        "Firehose is unable to assume role arn:aws:iam::123456789012:role/reaqtions-FirehoseRole-X. Please check the \
         role provided.",
    )]);
    let (result, _) = deploy(&[&describes(&states), &created(), &history]).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("unable to assume role") && error.contains("role provided. This"), "{error}");
    assert!(error.contains("IAM propagation") && error.contains("Run `reaqtions deploy` again"), "{error}");
    assert_eq!(with_hint("Memory size 99 is below the minimum".into()), "Memory size 99 is below the minimum");
}

/// This machine's clock runs an hour ahead of CloudFormation's: the failed resource is still found, because
/// events are picked by the stack's own creation time.
#[tokio::test]
async fn events_are_picked_by_the_stacks_clock_not_this_machines() {
    let cfn_now = SmithyTime::from(std::time::SystemTime::now() - Duration::from_secs(3600));
    let rolled_back = move || {
        let stack = Stack::builder()
            .stack_name("reaqtions")
            .stack_status(StackStatus::RollbackComplete)
            .creation_time(cfn_now)
            .build();
        DescribeStacksOutput::builder().stacks(stack).build()
    };
    let describe = mock!(Client::describe_stacks).sequence().error(missing).output(rolled_back).repeatedly().build();
    let failed = StackEvent::builder()
        .event_id("e1")
        .stack_name("reaqtions")
        .logical_resource_id("Function")
        .resource_type("AWS::Lambda::Function")
        .resource_status(ResourceStatus::CreateFailed)
        .resource_status_reason("S3 key lambda/x.zip does not exist")
        .timestamp(SmithyTime::from_secs(cfn_now.secs() + 5))
        .build();
    let older = StackEvent::builder()
        .event_id("e0")
        .stack_name("reaqtions")
        .logical_resource_id("Old")
        .resource_status(ResourceStatus::CreateFailed)
        .resource_status_reason("an earlier operation")
        .timestamp(SmithyTime::from_secs(cfn_now.secs() - 600))
        .build();
    let (result, _) = deploy(&[&describe, &created(), &events(vec![failed, older])]).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("lambda/x.zip"), "{error}");
    assert!(!error.contains("an earlier operation"), "events before the operation are left out: {error}");
}

#[test]
fn an_update_sends_no_tags_when_the_stack_carries_its_own_and_keeps_anyone_elses() {
    let with = |tags: &[(&str, &str)]| {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build());
        Stack::builder().stack_name("reaqtions").set_tags(Some(tags.collect())).build()
    };
    let own = (STACK_TAG, "reaqtions");
    assert_eq!(update_tags(&with(&[own, ("owner", "data-team")]), &spec()), None, "nothing to tag or untag");
    let sent = update_tags(&with(&[("owner", "data-team"), (STACK_TAG, "renamed")]), &spec()).unwrap();
    let sent: Vec<(&str, &str)> = sent.iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(sent, [("owner", "data-team"), own], "a tag someone added is sent again, never removed");
}

#[tokio::test]
async fn what_an_update_could_not_delete_is_named_with_its_reason() {
    let history = events(vec![
        event("reaqtions", ResourceStatus::from("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"), ""),
        event("Function", ResourceStatus::DeleteFailed, "not authorized to perform: kms:ScheduleKeyDeletion"),
        event("reaqtions", ResourceStatus::UpdateComplete, ""),
    ]);
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&history]);
    let left = left_behind(&client, "reaqtions", SmithyTime::from_secs(0)).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("Function") && left[0].contains("kms:ScheduleKeyDeletion"), "{left:?}");
}
