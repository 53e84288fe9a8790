//! CloudFormation: create, update or leave a stack, honest about every state it can be in, with the SDK's
//! waiters and the stack's events shown as they arrive; failures name the failing resource and its reason.
//! Events are picked by the stack's own times (its creation, last update or deletion), never this machine's
//! clock, so a skewed local clock neither hides nor repeats them.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::client::Waiters as _;
use aws_sdk_cloudformation::types::{Capability, Parameter, ResourceStatus, Stack, StackEvent, StackStatus, Tag};
use aws_smithy_types::date_time::DateTime as SmithyTime;

use crate::error::Kind;

/// The longest a stack operation is waited for.
const MAX_WAIT: Duration = Duration::from_secs(60 * 60);
/// How often new stack events are fetched while waiting.
const EVENT_POLL: Duration = Duration::from_secs(3);

/// A stack as reaqtions wants it.
#[derive(Debug, Clone)]
pub(crate) struct StackSpec {
    pub(crate) name: String,
    pub(crate) template: String,
    pub(crate) parameters: Vec<(String, String)>,
}

/// What `deploy_stack` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StackChange {
    Created,
    /// The stack was in ROLLBACK_COMPLETE (a failed create): deleted and created again.
    Recreated,
    Updated,
    UpToDate,
}

/// The stack, or `None` when it does not exist (or is deleted).
pub(crate) async fn describe(client: &Client, name: &str) -> Result<Option<Stack>> {
    match client.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().filter(|s| s.stack_status() != Some(&StackStatus::DeleteComplete)).cloned()),
        // CloudFormation answers a missing stack with a ValidationError "Stack with id X does not exist".
        Err(e) if super::error::judge(&e) == Kind::NotFound => Ok(None),
        Err(e) => Err(super::fail(format!("cannot describe stack {name}"))(e)),
    }
}

/// When the stack's latest operation started, by CloudFormation's clock.
pub(crate) fn operation_start(stack: &Stack) -> SmithyTime {
    [stack.creation_time(), stack.last_updated_time(), stack.deletion_time()]
        .into_iter()
        .flatten()
        .max_by_key(|t| (t.secs(), t.subsec_nanos()))
        .copied()
        .unwrap_or(SmithyTime::from_secs(0))
}

/// The start of the operation just requested on `name` (read back from the stack).
async fn started(client: &Client, name: &str) -> SmithyTime {
    match describe(client, name).await {
        Ok(Some(stack)) => operation_start(&stack),
        _ => SmithyTime::from_secs(0),
    }
}

/// Firehose (and other services) check a new role at once and do not retry, while IAM takes seconds to make
/// a new role usable everywhere: say so, and that deploying again completes the pipeline. A stack event's reason
/// carries no error code, so this reads its words: the one reading of AWS text outside `aws::error::kind_of`.
pub(crate) fn with_hint(reason: String) -> String {
    let lower = reason.to_ascii_lowercase();
    if lower.contains("assume role") || lower.contains("sts:assumerole") || lower.contains("cannot be assumed") {
        format!(
            "{}. This is IAM propagation: a new role can take a few seconds to be usable by the service. \
             Run `reaqtions deploy` again to complete the deployment",
            reason.trim_end_matches('.')
        )
    } else {
        reason
    }
}

fn status(stack: &Stack) -> StackStatus {
    stack.stack_status().cloned().unwrap_or_else(|| StackStatus::from("UNKNOWN"))
}

/// One line for a stack event, as shown during progress.
pub(crate) fn describe_event(e: &StackEvent) -> String {
    format!(
        "{} {} {}{}",
        e.logical_resource_id().unwrap_or("?"),
        e.resource_type().unwrap_or("?"),
        e.resource_status().map(|s| s.as_str()).unwrap_or("?"),
        e.resource_status_reason().map(|r| format!(": {r}")).unwrap_or_default()
    )
}

/// Events of the stack since `since`, oldest first.
pub(crate) async fn events_since(client: &Client, name: &str, since: SmithyTime) -> Result<Vec<StackEvent>> {
    let mut pages = client.describe_stack_events().stack_name(name).into_paginator().send();
    let mut events = Vec::new();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(super::fail(format!("cannot read events of stack {name}")))?;
        for event in page.stack_events() {
            if event.timestamp().is_some_and(|t| t.secs() < since.secs()) {
                break 'pages;
            }
            events.push(event.clone());
        }
    }
    events.reverse();
    Ok(events)
}

/// Why an operation failed: the failed resources and their reasons, from the events.
pub(crate) async fn failure_reason(client: &Client, name: &str, since: SmithyTime) -> String {
    let failed: Vec<String> = events_since(client, name, since)
        .await
        .unwrap_or_default()
        .iter()
        .filter(|e| {
            e.resource_status().is_some_and(|s| s.as_str().ends_with("_FAILED"))
                && e.logical_resource_id() != Some(name)
        })
        .map(describe_event)
        .collect();
    if failed.is_empty() { "no failed resource in the stack events".to_owned() } else { failed.join("; ") }
}

/// Runs `wait` while printing the stack's new events through `on_event`. Returns whether the wait succeeded.
async fn watch<F, T, E>(client: &Client, name: &str, since: SmithyTime, on_event: &mut dyn FnMut(&str), wait: F) -> bool
where
    F: std::future::Future<Output = Result<T, E>>,
{
    let mut seen: HashSet<String> = HashSet::new();
    let mut show = |events: Vec<StackEvent>, on_event: &mut dyn FnMut(&str)| {
        for e in events {
            if seen.insert(e.event_id().unwrap_or_default().to_owned()) {
                on_event(&describe_event(&e));
            }
        }
    };
    tokio::pin!(wait);
    let mut ticker = tokio::time::interval(EVENT_POLL);
    let done = loop {
        tokio::select! {
            result = &mut wait => break result.is_ok(),
            _ = ticker.tick() => show(events_since(client, name, since).await.unwrap_or_default(), on_event),
        }
    };
    show(events_since(client, name, since).await.unwrap_or_default(), on_event);
    done
}

fn parameters(spec: &StackSpec) -> Vec<Parameter> {
    spec.parameters.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect()
}

fn same_parameters(stack: &Stack, spec: &StackSpec) -> bool {
    let mut have: Vec<(&str, &str)> = stack
        .parameters()
        .iter()
        .map(|p| (p.parameter_key().unwrap_or(""), p.parameter_value().unwrap_or("")))
        .collect();
    let mut want: Vec<(&str, &str)> = spec.parameters.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    have.sort_unstable();
    want.sort_unstable();
    have == want
}

/// The tag deploy puts on every stack (value: the stack's name). CloudFormation passes a stack's tags on to
/// each taggable resource it creates, so the role policies scope by it where names cannot (the alarms' key).
pub(crate) const STACK_TAG: &str = "reaqtions:stack";

fn tag(spec: &StackSpec) -> Tag {
    Tag::builder().key(STACK_TAG).value(&spec.name).build()
}

/// The tags UpdateStack sends: none when the stack carries its tag already (CloudFormation then leaves the stack's
/// tags as they are, so nothing is tagged or untagged); otherwise every tag it has plus its own, since UpdateStack
/// replaces the whole set and removing a tag someone added is `cloudformation:UntagResource`.
fn update_tags(stack: &Stack, spec: &StackSpec) -> Option<Vec<Tag>> {
    let own = tag(spec);
    if stack.tags().contains(&own) {
        return None;
    }
    let mut tags: Vec<Tag> = stack.tags().iter().filter(|t| t.key() != own.key()).cloned().collect();
    tags.push(own);
    Some(tags)
}

/// Resources an update removed from the stack but could not delete: CloudFormation completes the update, drops
/// them from the stack and leaves them where they are (the caller lacked a permission, say). Each with its reason.
async fn left_behind(client: &Client, name: &str, since: SmithyTime) -> Vec<String> {
    (events_since(client, name, since).await.unwrap_or_default().iter())
        .filter(|e| e.resource_status() == Some(&ResourceStatus::DeleteFailed) && e.logical_resource_id() != Some(name))
        .map(describe_event)
        .collect()
}

/// Creates the stack, updates it, or leaves it as it is, from whatever state it is in.
pub(crate) async fn deploy_stack(
    client: &Client,
    spec: &StackSpec,
    on_event: &mut dyn FnMut(&str),
) -> Result<StackChange> {
    let name = spec.name.as_str();
    let mut recreated = false;
    loop {
        let Some(stack) = describe(client, name).await? else {
            client
                .create_stack()
                .stack_name(name)
                .template_body(&spec.template)
                .set_parameters(Some(parameters(spec)))
                .capabilities(Capability::CapabilityNamedIam)
                .tags(tag(spec))
                .send()
                .await
                .map_err(super::fail(format!("cannot create stack {name}")))?;
            let since = started(client, name).await;
            let waiter = client.wait_until_stack_create_complete().stack_name(name).wait(MAX_WAIT);
            if !watch(client, name, since, on_event, waiter).await {
                bail!("creating stack {name} failed: {}", with_hint(failure_reason(client, name, since).await));
            }
            return Ok(if recreated { StackChange::Recreated } else { StackChange::Created });
        };
        match status(&stack) {
            StackStatus::RollbackComplete => {
                on_event(&format!(
                    "stack {name} is in ROLLBACK_COMPLETE (a failed create): deleting it to create it again"
                ));
                delete_stack(client, name, on_event).await?;
                recreated = true;
            }
            StackStatus::ReviewInProgress => {
                // A change set was created for a new stack and never executed: the stack has no resources.
                on_event(&format!(
                    "stack {name} is in REVIEW_IN_PROGRESS (a change set that was never executed, no resources): \
                     deleting it to create the stack"
                ));
                delete_stack(client, name, on_event).await?;
                recreated = true;
            }
            s if s.as_str().ends_with("_IN_PROGRESS") => {
                on_event(&format!("stack {name} is {}: waiting for it to settle", s.as_str()));
                settle(client, name, &s, on_event).await;
            }
            s @ (StackStatus::UpdateRollbackFailed | StackStatus::RollbackFailed | StackStatus::DeleteFailed) => {
                let reason = failure_reason(client, name, operation_start(&stack)).await;
                bail!("stack {name} is in {} and needs attention before it can be deployed: {reason}", s.as_str());
            }
            _ => {
                if same_parameters(&stack, spec) && same_template(client, name, &spec.template).await {
                    return Ok(StackChange::UpToDate);
                }
                let update = client
                    .update_stack()
                    .stack_name(name)
                    .template_body(&spec.template)
                    .set_parameters(Some(parameters(spec)))
                    .capabilities(Capability::CapabilityNamedIam)
                    .set_tags(update_tags(&stack, spec))
                    .send()
                    .await;
                match update {
                    Ok(_) => {}
                    // UpdateStack's answer when nothing would change.
                    Err(e) if super::error::judge(&e) == Kind::NoChange => return Ok(StackChange::UpToDate),
                    Err(e) => return Err(super::fail(format!("cannot update stack {name}"))(e)),
                }
                let since = started(client, name).await;
                let waiter = client.wait_until_stack_update_complete().stack_name(name).wait(MAX_WAIT);
                if !watch(client, name, since, on_event, waiter).await {
                    bail!(
                        "updating stack {name} failed (rolled back): {}",
                        with_hint(failure_reason(client, name, since).await)
                    );
                }
                for resource in left_behind(client, name, since).await {
                    crate::output::warn(format!(
                        "stack {name} was updated, but CloudFormation could not delete what the update removed and \
                         left it outside the stack: {resource}. No deploy or teardown reaches it any more: delete it \
                         with credentials that may"
                    ));
                }
                return Ok(StackChange::Updated);
            }
        }
    }
}

async fn same_template(client: &Client, name: &str, template: &str) -> bool {
    let deployed = client.get_template().stack_name(name).send().await;
    deployed.ok().and_then(|t| t.template_body().map(|b| b.trim() == template.trim())).unwrap_or(false)
}

/// Waits for an in-progress stack to reach a settled state (whichever it is).
async fn settle(client: &Client, name: &str, status: &StackStatus, on_event: &mut dyn FnMut(&str)) {
    let since = started(client, name).await;
    let s = status.as_str();
    if s.starts_with("DELETE") {
        watch(client, name, since, on_event, client.wait_until_stack_delete_complete().stack_name(name).wait(MAX_WAIT))
            .await;
    } else if s.starts_with("CREATE") || s == "ROLLBACK_IN_PROGRESS" {
        watch(client, name, since, on_event, client.wait_until_stack_create_complete().stack_name(name).wait(MAX_WAIT))
            .await;
    } else if s.starts_with("IMPORT") {
        watch(client, name, since, on_event, client.wait_until_stack_import_complete().stack_name(name).wait(MAX_WAIT))
            .await;
    } else {
        watch(client, name, since, on_event, client.wait_until_stack_update_complete().stack_name(name).wait(MAX_WAIT))
            .await;
    }
}

/// Deletes the stack and waits; DELETE_FAILED is reported with the resources and reasons.
pub(crate) async fn delete_stack(client: &Client, name: &str, on_event: &mut dyn FnMut(&str)) -> Result<bool> {
    let Some(stack) = describe(client, name).await? else { return Ok(false) };
    let state = status(&stack);
    // REVIEW_IN_PROGRESS never settles by itself (it waits for a change set to be executed): delete it as it is.
    if state.as_str().ends_with("_IN_PROGRESS")
        && !state.as_str().starts_with("DELETE")
        && state != StackStatus::ReviewInProgress
    {
        settle(client, name, &state, on_event).await;
    }
    client.delete_stack().stack_name(name).send().await.map_err(super::fail(format!("cannot delete stack {name}")))?;
    let since = started(client, name).await;
    let waiter = client.wait_until_stack_delete_complete().stack_name(name).wait(MAX_WAIT);
    if !watch(client, name, since, on_event, waiter).await {
        bail!("deleting stack {name} failed (DELETE_FAILED): {}", failure_reason(client, name, since).await);
    }
    Ok(true)
}

/// The stack's outputs as (key, value).
pub(crate) fn outputs(stack: &Stack) -> Vec<(String, String)> {
    stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned())))
        .collect()
}

/// One output by key, or an error naming the stack.
pub(crate) fn output(stack: &Stack, key: &str) -> Result<String> {
    outputs(stack)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .with_context(|| format!("stack {} has no output {key}", stack.stack_name().unwrap_or("?")))
}

#[cfg(test)]
#[path = "cloudformation_tests.rs"]
mod tests;
