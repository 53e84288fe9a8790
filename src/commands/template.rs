//! `template`: prints the embedded CloudFormation templates, exactly as `deploy` submits them; `template iam
//! ROLE` prints a role's policy from examples/iam/ filled in for the stack, account, region and bucket, ready to
//! attach. `--format json` gives the templates as one JSON document; `--output FILE` writes either to a file.

use anyhow::Result;

use super::Exit;
use crate::aws::iam::{PolicyNames, ROLE_POLICIES, fill};
use crate::aws::stack::TEMPLATES;
use crate::aws::{Aws, ConnectOptions};
use crate::cli::{OutputFormat, TemplateArgs};
use crate::invalid;
use crate::settings::{DEFAULT_STACK, check_bucket_name, default_bucket};

pub(crate) fn run(args: &TemplateArgs, connect: &ConnectOptions, stack: Option<&str>) -> Result<Exit> {
    // `--output FILE` was created before the verb ran; a policy that cannot be filled in fails before the first
    // line, and the empty file goes with the failure (`commands::run`).
    let policy = match args.name.as_deref() {
        Some("iam") => Some(role_policy(args, connect, stack.unwrap_or(DEFAULT_STACK))?),
        _ => None,
    };
    match policy {
        // A policy is a JSON document whatever the format.
        Some(policy) => crate::output::line(policy.trim_end())?,
        None => templates(args)?,
    }
    crate::output::results_written()?;
    Ok(Exit::Ok)
}

/// The templates asked for, each under a `# templates/<file>` line; with `--format json`, one document of them.
fn templates(args: &TemplateArgs) -> Result<()> {
    let chosen = TEMPLATES.iter().filter(|(file, _)| args.name.as_deref().is_none_or(|n| file.starts_with(n)));
    if args.shape.format == OutputFormat::Json {
        let templates: Vec<serde_json::Value> =
            chosen.map(|(file, body)| serde_json::json!({"file": format!("templates/{file}"), "body": body})).collect();
        crate::output::line(&serde_json::to_string_pretty(&serde_json::json!({ "templates": templates }))?)?;
        return Ok(());
    }
    for (file, body) in chosen {
        crate::output::line(&format!("# templates/{file}\n{body}"))?;
    }
    Ok(())
}

/// The partition a region belongs to.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The role's policy, filled in.
fn role_policy(args: &TemplateArgs, connect: &ConnectOptions, stack: &str) -> Result<String> {
    let role = args.role.as_deref().unwrap_or("deployer");
    let (_, policy) = ROLE_POLICIES.iter().find(|(name, _)| *name == role).expect("clap checks the role");
    let (account, region) = match (&args.account, &connect.region) {
        (Some(account), Some(region)) => (account.clone(), region.clone()),
        _ => {
            let identity = Aws::connect(connect)?.identity()?;
            (args.account.clone().unwrap_or(identity.account), identity.region)
        }
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid!("--account {account:?} is not a 12-digit AWS account id"));
    }
    let bucket = match &args.bucket {
        Some(bucket) => {
            check_bucket_name(bucket)?;
            bucket.clone()
        }
        None => default_bucket(stack, &account, &region)?,
    };
    let glue_database = crate::aws::stack::catalog_names(stack).0;
    let names = PolicyNames {
        partition: partition(&region),
        region: &region,
        account: &account,
        stack,
        raw_bucket: &bucket,
        glue_database: &glue_database,
    };
    Ok(fill(policy, &names))
}
