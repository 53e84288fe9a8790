//! `report`: the processed readings (or a per-device summary) from the lake, with error records counted.

use crate::output::ResultFile;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Result;

use super::{Exit, Target};
use crate::cli::{Lateness, ReportArgs};
use crate::copies::CopyCounts;
use crate::deprecated::OLD_OUTPUT_FORMATS;
use crate::invalid;
use crate::prefix::Prefix;
use crate::progress::Progress;
use crate::report::columns::Columns;
use crate::report::html::Context;
use crate::report::summary::DeviceSummary;
use crate::report::writer::{Engine, Format, RowWriter};
use crate::report::{DEFAULT_LATENESS, Query, Request, error_counts, for_each_row, select_objects};
use crate::seams::{ObjectLake, Uses};
use crate::settings::PipelineSettings;

/// Validates the arguments; a bad time or range is a usage error.
pub(crate) fn request(args: &ReportArgs) -> Result<Request> {
    let asked = args.late.unwrap_or(Lateness::Within(DEFAULT_LATENESS.to_std().unwrap_or_default()));
    let late = match asked {
        Lateness::Any => None,
        Lateness::Within(d) => {
            Some(chrono::Duration::from_std(d).map_err(|_| invalid!("--late {d:?} is too long: use --late all"))?)
        }
    };
    let (since, until) = super::window(args.window.since.as_deref(), args.window.until.as_deref())?;
    let query = Query {
        since,
        until,
        devices: args.devices.clone(),
        late,
        late_asked: args.late.is_some(),
        keep_duplicates: args.keep_duplicates,
    };
    let (format, output) = format_and_file(args)?;
    if !(1..=256).contains(&args.concurrency) {
        return Err(invalid!("--concurrency must be 1-256 (got {})", args.concurrency));
    }
    if format == Format::Html && (args.summary || args.sql.is_some()) {
        return Err(invalid!(
            "--format html draws the readings and holds the per-device summary itself: drop {}",
            if args.summary { "--summary" } else { "--sql" }
        ));
    }
    Ok(Request {
        format,
        engine: if args.sql.is_some() { Engine::Athena } else { args.engine },
        sql: args.sql.clone(),
        output,
        query,
        summary: args.summary,
        concurrency: args.concurrency,
        names: args.pipeline.names(),
    })
}

/// The format and the file `--format` and `--output` mean. `--output table|json` without `--format` is the old
/// spelling of the format ([`crate::deprecated::warnings`] names the new one); the other formats' names were never
/// `--output`'s, so alone they are refused rather than guessed: a file or the format, the user says which.
fn format_and_file(args: &ReportArgs) -> Result<(Format, Option<PathBuf>)> {
    let named = args.output.as_ref().map(|path| path.to_string_lossy().into_owned());
    let meant =
        named.as_deref().and_then(|name| Some((name, <Format as clap::ValueEnum>::from_str(name, false).ok()?)));
    match (args.format, meant) {
        (Some(format), _) => Ok((format, args.output.clone())),
        (None, Some((name, format))) if OLD_OUTPUT_FORMATS.contains(&name) => Ok((format, None)),
        (None, Some((name, _))) => Err(invalid!(
            "--output {name} names a file, not the format: --format {name} prints it (with --output FILE to write it \
             to a file); --output ./{name} writes the table to a file named {name}"
        )),
        (None, None) => Ok((Format::Table, args.output.clone())),
    }
}

pub(crate) fn run(target: &Target, request: &Request) -> Result<Exit> {
    // A report written to a file replaces it only when it succeeds ([`ResultFile`]): a failed one leaves
    // yesterday's page as it was.
    match &request.output {
        Some(path) => {
            let mut out = BufWriter::new(ResultFile::create(path)?);
            let exit = run_into(target, request, &mut out)?;
            out.into_inner().map_err(|e| e.into_error())?.commit()?;
            Ok(exit)
        }
        None => run_into(target, request, &mut BufWriter::new(std::io::stdout().lock())),
    }
}

fn run_into(target: &Target, request: &Request, out: &mut dyn Write) -> Result<Exit> {
    let exit = match request.engine {
        Engine::Athena => {
            let (aws, stack) =
                target.aws("the local target has only the scan engine: drop --engine athena (and --sql)")?;
            // The page shows failed records by device: they are objects under error/, not rows of the table.
            let errors = if request.format == Format::Html {
                let pipeline = target.open(&request.names, Uses { lake: true, ..Uses::default() })?;
                Some(error_counts(pipeline.lake(), pipeline.settings(), &request.query, request.concurrency)?)
            } else {
                None
            };
            let copies = crate::report::athena::report(aws, stack, request, errors, out)?;
            if request.sql.is_none() {
                copies_said(copies);
            }
            Exit::Ok
        }
        Engine::Scan => {
            // A lake named with --bucket alone is read in the layout it records ([`crate::layout::as_recorded`]).
            let pipeline = target.open(&request.names, Uses { lake: true, ..Uses::default() })?;
            write_report(pipeline.lake(), pipeline.settings(), request, out)?
        }
    };
    out.flush()?;
    Ok(exit)
}

/// Writes the report for any lake (local directory or S3).
pub(crate) fn write_report(
    lake: &dyn ObjectLake,
    settings: &PipelineSettings,
    request: &Request,
    out: &mut dyn Write,
) -> Result<Exit> {
    let prefix = Prefix::parse(&settings.prefix, false)?;
    let query = &request.query;
    let objects = select_objects(lake, &prefix, "", query)?;
    let mut progress = Progress::shown_if("report", objects.len() as u64, objects.len() >= 2);
    let mut read = 0u64;
    let mut rows = 0u64;
    let listed = objects.len();
    let mut tick = |rows_now: u64| {
        read += 1;
        rows = rows_now;
        progress.update(read, || format!("{read}/{listed} objects read, {rows} rows"));
    };
    // Failed records first: an HTML page shows them by device.
    let errors = error_counts(lake, settings, query, request.concurrency)?;
    let context = Context {
        source: format!("{} (read by this process)", lake.location("")),
        since: query.since,
        until: query.until,
        errors: Some(errors.clone()),
    };
    let stats = if request.summary {
        let mut summary = DeviceSummary::default();
        let mut n = 0;
        let stats = for_each_row(lake, &objects, query, request.concurrency, &mut tick, |row, _| {
            summary.add(&row);
            n += 1;
            Ok(())
        })?;
        if stats.copies.is_some() {
            summary.add_copies(&stats.copies_by_device);
        }
        let mut writer = RowWriter::new(request.format, DeviceSummary::columns(), out)?;
        for row in summary.rows() {
            writer.write(row)?;
        }
        writer.finish()?;
        stats
    } else {
        let mut writer = RowWriter::new(request.format, Columns::default(), out)?.with_context(context);
        let stats = for_each_row(lake, &objects, query, request.concurrency, &mut tick, |row, line| {
            writer.write_line(row, line)
        })?;
        writer.finish()?;
        stats
    };
    progress.finish();
    let (rows, objects) =
        (crate::output::count(stats.rows, "row"), crate::output::count(stats.objects as u64, "object"));
    crate::say!("report: {rows} from {objects} in {}", lake.location(""));
    copies_said(stats.copies);
    crate::report::lateness_said(query, &prefix, stats.newest_arrival);
    if errors.by_code.is_empty() {
        crate::say!("report: no error records");
    } else {
        let listed: Vec<String> = errors.by_code.iter().map(|(code, n)| format!("{n} {code}")).collect();
        crate::say!("report: error records under the error prefix: {}", listed.join(", "));
        let listed: Vec<String> = errors.by_device.iter().map(|(device, n)| format!("{device} {n}")).collect();
        crate::say!("report: error records by device: {}", listed.join(", "));
    }
    if errors.undecided > 0 {
        crate::say!(
            "report: {} more error records could not be matched to the devices or window asked for (they name no \
             device, or no time), and are not counted",
            errors.undecided
        );
    }
    for problem in &stats.problems {
        crate::warning!("report: {problem}");
    }
    if stats.problems.is_empty() {
        Ok(Exit::Ok)
    } else {
        crate::warning!("report: partial — {} above", crate::output::count(stats.problems.len() as u64, "problem"));
        Ok(Exit::Incomplete)
    }
}

/// Says, in one line, how many copies of readings were dropped and how many conflicts were kept (both
/// engines; `None`: copies were kept).
fn copies_said(copies: Option<CopyCounts>) {
    let Some(CopyCounts { dropped, conflicts }) = copies else {
        crate::say!("report: every copy of a reading kept (--keep-duplicates)");
        return;
    };
    let conflicts = match conflicts {
        0 => "no conflicts".to_owned(),
        n => format!("{} kept (one key, other values: not copies)", crate::output::count(n, "conflict")),
    };
    let copies = if dropped == 1 { "1 copy".to_owned() } else { format!("{dropped} copies") };
    crate::say!(
        "report: {copies} of readings dropped (each reading counted once; --keep-duplicates shows them), {conflicts}"
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::{Cli, Command};
    use crate::local::lake::DirLake;
    use crate::report::Query;
    use crate::settings::{DEFAULT_PREFIX, Partitioning, PipelineSettings};

    /// A lake named by `--bucket` alone is read in the layout deploy recorded in it, else by arrival.
    #[test]
    fn a_named_lake_is_read_in_the_layout_it_records() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        let defaults = PipelineSettings::defaults();
        let layout = |lake: &DirLake| {
            let s = crate::layout::as_recorded(lake, &defaults).unwrap();
            (s.partitioning, s.prefix)
        };
        assert_eq!(layout(&lake), (Partitioning::Arrival, DEFAULT_PREFIX.to_owned()), "an empty lake");
        lake.put("processed/year=2026/month=11/day=25/hour=10/console-built", b"{}\n").unwrap();
        assert_eq!(layout(&lake).0, Partitioning::Arrival, "objects and no record: by arrival");
        let event_dir = tempfile::tempdir().unwrap();
        let event = DirLake::new(event_dir.path(), "b");
        event.put("processed/_reaqtions_layout", b"event").unwrap();
        let (partitioning, prefix) = layout(&event);
        assert_eq!(partitioning, Partitioning::Event);
        assert_eq!(prefix, crate::prefix::keyed_prefix("processed/"), "the keys deploy writes");
    }

    #[test]
    fn the_flags_default_lateness_is_the_querys() {
        let cli = Cli::try_parse_from(["reaqtions", "report"]).unwrap();
        let Command::Report(args) = &cli.command else { panic!("report") };
        assert_eq!(args.late, None);
        assert_eq!(super::request(args).unwrap().query.late, Query::default().late);
        assert!(!super::request(args).unwrap().query.late_asked);
        for late in ["1h", "2h", "all"] {
            let cli = Cli::try_parse_from(["reaqtions", "report", "--late", late]).unwrap();
            let Command::Report(args) = &cli.command else { panic!("report") };
            assert!(super::request(args).unwrap().query.late_asked, "--late {late} was asked for");
        }
    }
}
