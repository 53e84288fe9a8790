//! `devices add|list|remove`: the stack's MQTT devices in IoT Core — each a thing with its own certificate and
//! key (written once into the device directory, mode 0600, never printed), the stack's device policy attached.
//! On the local target the broker has no identities: any client id may publish.

use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;

use super::{Exit, Target, confirm};
use crate::aws::Aws;
use crate::aws::iot;
use crate::cli::{DevicesAction, DevicesArgs};
use crate::mqtt::identity::{self, DeviceRecord, Registry};
use crate::output::{OutputFormat, count, print};
use crate::progress::Progress;

#[derive(Serialize)]
struct Added<'a> {
    stack: &'a str,
    endpoint: &'a str,
    port: u16,
    dir: String,
    added: Vec<String>,
    /// How a device connects: its certificate and key files, and its topic.
    example: String,
}

#[derive(Serialize)]
struct Listed {
    id: String,
    certificates: usize,
    /// Whether its certificate and key are in the device directory.
    files_here: bool,
}

pub(crate) fn run(target: &Target, args: &DevicesArgs, dir: &Path) -> Result<Exit> {
    let (aws, stack) = target.aws(
        "the local broker has no device identities: any client id may publish to <stack>/<device>/readings (run \
         `reaqtions --local broker`); `devices` registers devices with IoT Core on AWS",
    )?;
    let dir = args.dir.as_deref().unwrap_or(dir);
    match &args.action {
        DevicesAction::Add { devices, id_prefix, dry_run } => {
            add(aws, stack, dir, *devices, id_prefix, dry_run.on, args.shape.format)
        }
        DevicesAction::List => list(aws, stack, dir, args.shape.format),
        DevicesAction::Remove { ids, all, confirm: asked, dry_run } => {
            let client = aws.iot();
            let existing = aws.block_on(iot::device_ids(&client, stack))?;
            let chosen: Vec<String> = if *all {
                existing
            } else {
                for id in ids {
                    if !existing.contains(id) {
                        bail!("stack {stack} has no device {id} in {} (see `reaqtions devices list`)", aws.region());
                    }
                }
                ids.clone()
            };
            if chosen.is_empty() {
                crate::say!("stack {stack} has no devices in {}", aws.region());
                return Ok(Exit::Ok);
            }
            let what = format!(
                "remove {} of stack {stack} (their certificates stop working)",
                count(chosen.len() as u64, "device")
            );
            if dry_run.on {
                crate::output::line(&format!("would {what}: {}", chosen.join(", ")))?;
                crate::say!("dry run: nothing was changed");
                return Ok(Exit::Ok);
            }
            if !asked.yes {
                confirm(&format!("{what}?"), "nothing removed")?;
            }
            remove(aws, dir, &chosen)?;
            crate::output::line(&format!("removed {} of stack {stack}", count(chosen.len() as u64, "device")))?;
            Ok(Exit::Ok)
        }
    }
}

fn add(
    aws: &Aws,
    stack: &str,
    dir: &Path,
    n: usize,
    prefix: &str,
    dry_run: bool,
    output: OutputFormat,
) -> Result<Exit> {
    if !(1..=10_000).contains(&n) {
        return Err(crate::invalid!("--devices must be 1-10000 (got {n})"));
    }
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':')) {
        return Err(crate::invalid!(
            "--id-prefix {prefix:?} must be letters, digits, '-', '_' or ':' (a thing name, a client id and a topic \
             level)"
        ));
    }
    let deployed = aws.block_on(crate::aws::cloudformation::describe(&aws.cloudformation(), stack))?;
    let Some(deployed) = deployed else {
        bail!("no stack {stack} in {}: deploy it first (`reaqtions deploy`)", aws.region());
    };
    if crate::aws::cloudformation::output(&deployed, "IngestRule").is_err() {
        bail!("stack {stack} has no IoT topic rule: it was deployed by an older version; run `reaqtions deploy`");
    }
    let identity = aws.identity()?;
    let policy = iot::device_policy_name(stack);
    let client = aws.iot();
    let existing = aws.block_on(iot::device_ids(&client, stack))?;
    let highest = existing
        .iter()
        .filter_map(|id| id.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()))
        .max()
        .unwrap_or(0);
    if dry_run {
        let ids: Vec<String> = (1..=n).map(|i| format!("{prefix}{:04}", highest + i)).collect();
        crate::output::line(&format!(
            "would register {} in stack {stack} with policy {policy}: {}",
            count(n as u64, "device"),
            ids.join(", ")
        ))?;
        crate::say!("dry run: nothing was changed");
        return Ok(Exit::Ok);
    }
    let document = iot::device_policy(identity.partition(), &identity.region, &identity.account, stack);
    aws.block_on(iot::ensure_policy(&client, &policy, &document))?;
    let endpoint = aws.block_on(iot::data_endpoint(&client))?;
    let mut registry = Registry::load(dir)?.unwrap_or_else(|| Registry {
        stack: stack.to_owned(),
        region: aws.region(),
        endpoint: endpoint.clone(),
        port: crate::mqtt::TLS_PORT,
        devices: Vec::new(),
    });
    if registry.stack != stack {
        bail!("{} holds the devices of stack {}: pass another --dir", dir.display(), registry.stack);
    }
    registry.endpoint.clone_from(&endpoint);
    let mut progress = Progress::new("devices", n as u64);
    let mut added = Vec::with_capacity(n);
    for i in 1..=n {
        let id = format!("{prefix}{:04}", highest + i);
        let created = aws.block_on(iot::create(&client, stack, &policy, &id));
        let created = match created {
            Ok(created) => created,
            Err(e) => {
                registry.save(dir)?;
                return Err(e.context(format!("{} of {n} added before this one", added.len())));
            }
        };
        identity::write_identity(dir, &id, &created.certificate_pem, &created.private_key_pem)?;
        registry.devices.retain(|d| d.id != id);
        registry.devices.push(DeviceRecord {
            id: id.clone(),
            certificate_id: created.certificate_id.clone(),
            certificate_arn: created.certificate_arn.clone(),
        });
        added.push(id);
        progress.update(i as u64, || format!("{} added", added.len()));
    }
    progress.finish();
    registry.devices.sort_by(|a, b| a.id.cmp(&b.id));
    registry.save(dir)?;
    let first = &added[0];
    let example = format!(
        "mosquitto_pub -h {endpoint} -p {port} --cafile /etc/ssl/certs/ca-certificates.crt --cert {cert} --key {key} \
         -i {first} -q 1 -t {topic} -m '{{\"NO2\": 1.2}}'",
        port = crate::mqtt::TLS_PORT,
        cert = identity::certificate_path(dir, first).display(),
        key = identity::key_path(dir, first).display(),
        topic = crate::mqtt::topic(stack, first),
    );
    let out = Added {
        stack,
        endpoint: &endpoint,
        port: crate::mqtt::TLS_PORT,
        dir: dir.display().to_string(),
        added,
        example,
    };
    print(output, "devices", &out)?;
    Ok(Exit::Ok)
}

fn list(aws: &Aws, stack: &str, dir: &Path, output: OutputFormat) -> Result<Exit> {
    let devices = aws.block_on(iot::devices(&aws.iot(), stack))?;
    let rows: Vec<Listed> = devices
        .into_iter()
        .map(|d| Listed {
            files_here: identity::key_path(dir, &d.id).exists() && identity::certificate_path(dir, &d.id).exists(),
            certificates: d.certificates.len(),
            id: d.id,
        })
        .collect();
    match output {
        OutputFormat::Json => crate::output::line(&serde_json::to_string_pretty(&rows)?)?,
        OutputFormat::Table => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header([
                "device",
                "certificates",
                "files here",
            ]);
            for row in &rows {
                table.add_row([
                    row.id.clone(),
                    row.certificates.to_string(),
                    if row.files_here { "yes" } else { "no" }.into(),
                ]);
            }
            crate::output::line(&table.to_string())?;
            crate::say!("{} of stack {stack} in {}", count(rows.len() as u64, "device"), aws.region());
        }
    }
    Ok(Exit::Ok)
}

/// Removes devices from IoT Core and their files and registry entries from `dir`.
pub(crate) fn remove(aws: &Aws, dir: &Path, ids: &[String]) -> Result<()> {
    let client = aws.iot();
    let mut registry = Registry::load(dir)?;
    let mut progress = Progress::new("devices", ids.len() as u64);
    for (i, id) in ids.iter().enumerate() {
        aws.block_on(iot::remove(&client, id))?;
        identity::remove_identity(dir, id)?;
        if let Some(registry) = registry.as_mut() {
            registry.devices.retain(|d| d.id != *id);
            registry.save(dir)?;
        }
        progress.update(i as u64 + 1, || format!("{} removed", i + 1));
    }
    progress.finish();
    Ok(())
}
