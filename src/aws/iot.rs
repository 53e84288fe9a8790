//! IoT Core's control plane for a stack's devices: the device policy (templates/device-policy.json), each
//! device a thing (tagged with its stack by an attribute) with its own certificate and key, the policy on the
//! certificate, the certificate on the thing; removal in the order IoT requires; and the account's data
//! endpoint.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use aws_sdk_iot::Client;
use aws_sdk_iot::types::{AttributePayload, CertificateStatus};

use crate::error::Kind;

/// The thing attribute that says which stack a device belongs to.
pub(crate) const STACK_ATTRIBUTE: &str = "reaqtions_stack";

/// The device policy, with `PARTITION`, `REGION`, `ACCOUNT`, `STACK` and `IOT_RULE` to fill in.
pub(crate) const DEVICE_POLICY: &str = include_str!("../../templates/device-policy.json");

/// The stack's device policy name.
pub(crate) fn device_policy_name(stack: &str) -> String {
    format!("{stack}-device")
}

/// The device policy for one stack, account and region: a device connects only as its own thing (client id =
/// thing name, certificate attached to that thing) and publishes only to its own topic (directly, or through
/// Basic Ingest, which skips the message broker's charge).
pub fn device_policy(partition: &str, region: &str, account: &str, stack: &str) -> String {
    DEVICE_POLICY
        .replace("IOT_RULE", &crate::mqtt::rule_name(stack))
        .replace("PARTITION", partition)
        .replace("REGION", region)
        .replace("ACCOUNT", account)
        .replace("STACK", stack)
}

/// Creates the stack's device policy, or makes `document` its default version (older versions deleted first,
/// so the five-version limit is never reached). The policy lives with the devices, not the stack: devices
/// hold it, and CloudFormation could not delete it while they do.
pub(crate) async fn ensure_policy(client: &Client, name: &str, document: &str) -> Result<()> {
    if !policy_exists(client, name).await? {
        client
            .create_policy()
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map_err(super::fail(format!("cannot create IoT policy {name}")))?;
        return Ok(());
    }
    delete_old_versions(client, name).await?;
    client
        .create_policy_version()
        .policy_name(name)
        .policy_document(document)
        .set_as_default(true)
        .send()
        .await
        .map_err(super::fail(format!("cannot update IoT policy {name}")))?;
    Ok(())
}

async fn delete_old_versions(client: &Client, name: &str) -> Result<()> {
    let versions = client
        .list_policy_versions()
        .policy_name(name)
        .send()
        .await
        .map_err(super::fail(format!("cannot list the versions of IoT policy {name}")))?;
    for version in versions.policy_versions().iter().filter(|v| !v.is_default_version()) {
        let id = version.version_id().unwrap_or_default();
        client
            .delete_policy_version()
            .policy_name(name)
            .policy_version_id(id)
            .send()
            .await
            .map_err(super::fail(format!("cannot delete version {id} of IoT policy {name}")))?;
    }
    Ok(())
}

/// Deletes the stack's device policy once no certificate holds it; `false` when there was none.
pub(crate) async fn delete_policy(client: &Client, name: &str) -> Result<bool> {
    if !policy_exists(client, name).await? {
        return Ok(false);
    }
    delete_old_versions(client, name).await?;
    client
        .delete_policy()
        .policy_name(name)
        .send()
        .await
        .map_err(super::fail(format!("cannot delete IoT policy {name}")))?;
    Ok(true)
}

async fn policy_exists(client: &Client, name: &str) -> Result<bool> {
    let mut pages = client.list_policies().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(super::fail("cannot list IoT policies"))?;
        if page.policies().iter().any(|p| p.policy_name() == Some(name)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One device as IoT Core has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Thing {
    pub(crate) id: String,
    /// Its certificates' ARNs.
    pub(crate) certificates: Vec<String>,
}

/// A device just created: its certificate and the private key IoT returns this once.
pub(crate) struct Created {
    pub(crate) id: String,
    pub(crate) certificate_id: String,
    pub(crate) certificate_arn: String,
    pub(crate) certificate_pem: String,
    pub(crate) private_key_pem: String,
}

impl std::fmt::Debug for Created {
    /// The key never reaches a log or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created").field("id", &self.id).field("certificate_id", &self.certificate_id).finish()
    }
}

/// The account's MQTT endpoint with Amazon Trust Services certificates.
pub(crate) async fn data_endpoint(client: &Client) -> Result<String> {
    let out = client
        .describe_endpoint()
        .endpoint_type("iot:Data-ATS")
        .send()
        .await
        .map_err(super::fail("cannot read the account's IoT data endpoint"))?;
    out.endpoint_address().map(str::to_owned).ok_or_else(|| anyhow!("IoT returned no data endpoint"))
}

/// The ids of `stack`'s devices, sorted (one ListThings; no call per device).
pub(crate) async fn device_ids(client: &Client, stack: &str) -> Result<Vec<String>> {
    let mut pages = client.list_things().attribute_name(STACK_ATTRIBUTE).attribute_value(stack).into_paginator().send();
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(super::fail(format!("cannot list the things of stack {stack}")))?;
        ids.extend(page.things().iter().filter_map(|t| t.thing_name().map(str::to_owned)));
    }
    ids.sort();
    Ok(ids)
}

/// Every device of `stack`, by id, with its certificates.
pub(crate) async fn devices(client: &Client, stack: &str) -> Result<Vec<Thing>> {
    let ids = device_ids(client, stack).await?;
    let mut devices = Vec::with_capacity(ids.len());
    for id in ids {
        let certificates = principals(client, &id).await?;
        devices.push(Thing { id, certificates });
    }
    Ok(devices)
}

async fn principals(client: &Client, thing: &str) -> Result<Vec<String>> {
    let mut pages = client.list_thing_principals().thing_name(thing).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(super::fail(format!("cannot list the certificates of thing {thing}")))?;
        out.extend(page.principals().iter().cloned());
    }
    Ok(out)
}

/// Creates device `id` of `stack`: the thing, an active certificate with its key, the stack's device `policy` on
/// the certificate and the certificate on the thing. What was made is removed again if a later step fails.
pub(crate) async fn create(client: &Client, stack: &str, policy: &str, id: &str) -> Result<Created> {
    let attributes = AttributePayload::builder().attributes(STACK_ATTRIBUTE, stack).build();
    client.create_thing().thing_name(id).attribute_payload(attributes).send().await.map_err(|e| {
        if super::error::judge(&e) == Kind::Conflict {
            anyhow!("thing {id} already exists and does not belong to stack {stack}: choose another --prefix")
        } else {
            super::fail(format!("cannot create thing {id}"))(e)
        }
    })?;
    let keys = match client.create_keys_and_certificate().set_as_active(true).send().await {
        Ok(keys) => keys,
        Err(e) => {
            let _ = client.delete_thing().thing_name(id).send().await;
            return Err(super::fail(format!("cannot create a certificate for device {id}"))(e));
        }
    };
    let created = Created {
        id: id.to_owned(),
        certificate_id: keys.certificate_id().unwrap_or_default().to_owned(),
        certificate_arn: keys.certificate_arn().unwrap_or_default().to_owned(),
        certificate_pem: keys.certificate_pem().unwrap_or_default().to_owned(),
        private_key_pem: keys.key_pair().and_then(|k| k.private_key()).unwrap_or_default().to_owned(),
    };
    if created.private_key_pem.is_empty() || created.certificate_arn.is_empty() {
        let _ = remove(client, id).await;
        return Err(anyhow!("IoT returned no certificate or key for device {id}"));
    }
    let attached = async {
        client
            .attach_policy()
            .policy_name(policy)
            .target(&created.certificate_arn)
            .send()
            .await
            .map_err(super::fail(format!("cannot attach policy {policy} to device {id}'s certificate")))?;
        client
            .attach_thing_principal()
            .thing_name(id)
            .principal(&created.certificate_arn)
            .send()
            .await
            .map_err(super::fail(format!("cannot attach device {id}'s certificate to its thing")))
    };
    if let Err(e) = attached.await {
        let _ = remove_certificate(client, id, &created.certificate_arn).await;
        let _ = client.delete_thing().thing_name(id).send().await;
        return Err(e);
    }
    Ok(created)
}

/// Removes device `id`: each certificate deactivated, its policies and thing detached, deleted; then the thing.
pub(crate) async fn remove(client: &Client, id: &str) -> Result<()> {
    for certificate in principals(client, id).await? {
        remove_certificate(client, id, &certificate).await?;
    }
    client.delete_thing().thing_name(id).send().await.map_err(super::fail(format!("cannot delete thing {id}")))?;
    Ok(())
}

async fn remove_certificate(client: &Client, id: &str, arn: &str) -> Result<()> {
    let certificate_id = arn.rsplit('/').next().unwrap_or(arn);
    client
        .update_certificate()
        .certificate_id(certificate_id)
        .new_status(CertificateStatus::Inactive)
        .send()
        .await
        .map_err(super::fail(format!("cannot deactivate device {id}'s certificate {certificate_id}")))?;
    let attached = client
        .list_attached_policies()
        .target(arn)
        .send()
        .await
        .map_err(super::fail(format!("cannot list the policies of device {id}'s certificate")))?;
    for policy in attached.policies().iter().filter_map(|p| p.policy_name()) {
        client
            .detach_policy()
            .policy_name(policy)
            .target(arn)
            .send()
            .await
            .map_err(super::fail(format!("cannot detach policy {policy} from device {id}")))?;
    }
    client
        .detach_thing_principal()
        .thing_name(id)
        .principal(arn)
        .send()
        .await
        .map_err(super::fail(format!("cannot detach certificate {certificate_id} from thing {id}")))?;
    // DetachThingPrincipal applies asynchronously: the delete conflicts until it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pause = Duration::from_millis(200);
    loop {
        match client.delete_certificate().certificate_id(certificate_id).send().await {
            Ok(_) => return Ok(()),
            Err(e) if super::error::judge(&e) == Kind::Conflict && Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(3));
            }
            Err(e) => {
                return Err(super::fail(format!("cannot delete device {id}'s certificate {certificate_id}"))(e));
            }
        }
    }
}
