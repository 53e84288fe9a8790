//! `teardown`: removes the deployment; the data stays unless `--delete-data`. Asks unless `--yes`.

use anyhow::Result;

use super::{Exit, confirm};
use crate::cli::TeardownArgs;
use crate::local::LocalTarget;

pub fn run(target: &LocalTarget, args: &TeardownArgs) -> Result<Exit> {
    let Some(deployment) = target.load()? else {
        eprintln!("nothing to remove: no local deployment in {}", target.root().display());
        return Ok(Exit::Ok);
    };
    let bucket = &deployment.settings.bucket;
    let what = if args.delete_data {
        format!("remove local pipeline {} and DELETE bucket {bucket} with all its data", deployment.settings.stack)
    } else {
        format!("remove local pipeline {} (bucket {bucket} and its data are kept)", deployment.settings.stack)
    };
    if !args.yes && !confirm(&format!("{what}?"))? {
        eprintln!("teardown cancelled");
        return Ok(Exit::Ok);
    }
    target.teardown(args.delete_data)?;
    if args.delete_data {
        println!("removed local pipeline {}; deleted bucket {bucket} and the logs", deployment.settings.stack);
    } else {
        println!(
            "removed local pipeline {}; kept bucket {bucket} at {}",
            deployment.settings.stack,
            target.lake(bucket).root().display()
        );
    }
    Ok(Exit::Ok)
}
