//! `report`: the processed readings (or a per-device summary) from the lake, with error records counted.

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{Context as _, Result, ensure};

use super::{AwsPipeline, Exit, Target, aws_settings, parse_time};
use crate::aws::s3::S3Lake;
use crate::cli::ReportArgs;
use crate::prefix::Prefix;
use crate::report::columns::Columns;
use crate::report::output::RowWriter;
use crate::report::summary::Summary;
use crate::report::{Query, error_counts, for_each_row, select_objects};
use crate::target::ObjectLake;

pub fn run(target: &Target, args: &ReportArgs) -> Result<Exit> {
    let query = Query {
        since: args.since.as_deref().map(parse_time).transpose()?,
        until: args.until.as_deref().map(parse_time).transpose()?,
        devices: args.devices.clone(),
    };
    if let (Some(s), Some(u)) = (query.since, query.until) {
        ensure!(s <= u, "--since ({s}) is after --until ({u})");
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create report file {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let exit = match target {
        Target::Local(local) => {
            let deployment = local.require()?;
            write_report(&local.lake(&deployment.settings.bucket), &deployment.settings, args, &query, &mut out)?
        }
        Target::Aws { aws, stack } => {
            let AwsPipeline { settings, owner } = aws_settings(aws, stack, &args.pipeline)?;
            let lake = S3Lake::new(aws.s3(), &settings.bucket, owner, aws.handle());
            write_report(&lake, &settings, args, &query, &mut out)?
        }
    };
    out.flush()?;
    Ok(exit)
}

/// Writes the report for any lake (local directory or S3).
pub fn write_report(
    lake: &dyn ObjectLake,
    settings: &crate::settings::PipelineSettings,
    args: &ReportArgs,
    query: &Query,
    out: &mut dyn Write,
) -> Result<Exit> {
    let prefix = Prefix::parse(&settings.prefix, false)?;
    let objects = select_objects(lake, &prefix, "", query)?;
    let stats = if args.summary {
        let mut summary = Summary::default();
        let stats = for_each_row(lake, &objects, query, args.concurrency, |row, _| {
            summary.add(&row);
            Ok(())
        })?;
        let mut writer = RowWriter::new(args.format, Summary::columns(), out)?;
        for row in summary.rows() {
            writer.write(row)?;
        }
        writer.finish()?;
        stats
    } else {
        let mut writer = RowWriter::new(args.format, Columns::default(), out)?;
        let stats = for_each_row(lake, &objects, query, args.concurrency, |row, line| writer.write_line(row, line))?;
        writer.finish()?;
        stats
    };
    eprintln!("report: {} rows from {} objects in s3://{}", stats.rows, stats.objects, lake.bucket());
    let errors = error_counts(lake, settings, query, args.concurrency)?;
    if errors.is_empty() {
        eprintln!("report: no error records");
    } else {
        let listed: Vec<String> = errors.iter().map(|(code, n)| format!("{n} {code}")).collect();
        eprintln!("report: error records under the error prefix: {}", listed.join(", "));
    }
    for problem in &stats.problems {
        eprintln!("report: {problem}");
    }
    if stats.problems.is_empty() {
        Ok(Exit::Ok)
    } else {
        eprintln!("report: partial — {} problems above", stats.problems.len());
        Ok(Exit::Incomplete)
    }
}
