//! `status`: the deployment and what its lake holds.

use anyhow::Result;
use serde::Serialize;

use super::Exit;
use super::deploy::{Outputs, outputs};
use crate::cli::StatusArgs;
use crate::local::LocalTarget;
use crate::output::print;
use crate::prefix::Prefix;
use crate::target::ObjectLake;

#[derive(Serialize)]
struct Status<'a> {
    #[serde(flatten)]
    outputs: Outputs<'a>,
    created: String,
    updated: String,
    processed_objects: usize,
    processed_bytes: u64,
    error_objects: usize,
    error_bytes: u64,
}

pub fn run(target: &LocalTarget, args: &StatusArgs) -> Result<Exit> {
    let Some(deployment) = target.load()? else {
        eprintln!("no local deployment in {} (run `reaqtions deploy --local`)", target.root().display());
        return Ok(Exit::Ok);
    };
    let lake = target.lake(&deployment.settings.bucket);
    let count = |text: &str, error: bool| -> Result<(usize, u64)> {
        let objects = lake.list(Prefix::parse(text, error)?.static_root())?;
        Ok((objects.len(), objects.iter().map(|o| o.size).sum()))
    };
    let (processed_objects, processed_bytes) = count(&deployment.settings.prefix, false)?;
    let (error_objects, error_bytes) = count(&deployment.settings.error_prefix, true)?;
    let status = Status {
        outputs: outputs(target, &deployment, "deployed"),
        created: deployment.created.to_rfc3339(),
        updated: deployment.updated.to_rfc3339(),
        processed_objects,
        processed_bytes,
        error_objects,
        error_bytes,
    };
    print(args.output, "local pipeline", &status)?;
    Ok(Exit::Ok)
}
