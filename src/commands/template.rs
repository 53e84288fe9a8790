//! `template`: prints the embedded CloudFormation templates, exactly as `deploy` submits them.

use anyhow::Result;

use super::Exit;
use crate::aws::pipeline::TEMPLATES;
use crate::cli::TemplateArgs;

pub fn run(args: &TemplateArgs) -> Result<Exit> {
    for (file, body) in TEMPLATES {
        if args.name.as_deref().is_none_or(|n| file.starts_with(n)) {
            crate::output::line(&format!("# templates/{file}\n{body}"))?;
        }
    }
    Ok(Exit::Ok)
}
