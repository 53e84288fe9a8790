//! `reprocess`: the failed records under the error prefix, judged by the transform this binary carries; what
//! it accepts now is sent through the stream again (with simulate's batching and retries), what it refuses
//! stays. Each error object is settled on its own, in an order that never loses a record: its records are sent;
//! what was not accepted or is still refused is written to a new error object beside it; only then is the
//! original moved under `<error root>reprocessed/`. A second run finds nothing to send.

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};

use super::{Exit, Target};
use crate::cli::ReprocessArgs;
use crate::limits::SinkLimits;
use crate::output::{OutputFormat, line, print};
use crate::prefix::Prefix;
use crate::reprocess::{Judged, Kind, PARTITION_NOTE, ReprocessSummary, done_key, judge, kind_of, read};
use crate::simulate::sender::{RetryPolicy, Sender};
use crate::target::batch::{Batcher, Outgoing};
use crate::target::{Names, ObjectLake, ObjectMeta, Uses};

pub(crate) struct Request {
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) dry_run: bool,
    pub(crate) yes: bool,
    pub(crate) force: bool,
    pub(crate) output: OutputFormat,
}

pub(crate) fn request(args: &ReprocessArgs) -> Result<Request> {
    let since = args.since.as_deref().map(super::parse_time).transpose()?;
    let until = args.until.as_deref().map(super::parse_time).transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(crate::invalid!("--since {s} is not before --until {u}"));
    }
    Ok(Request { since, until, dry_run: args.dry_run, yes: args.yes, force: args.force, output: args.shape.format })
}

pub(crate) fn run(target: &Target, request: &Request, quiet: bool) -> Result<Exit> {
    let pipeline = target.open(&Names::default(), Uses { sink: true, lake: true, ..Uses::default() })?;
    let settings = pipeline.settings().clone();
    let lake = pipeline.lake();
    let ours = reaqtions_lambda::TRANSFORM_ID;
    match pipeline.transform_id() {
        Some(id) if id == ours => {}
        deployed if !request.force && !request.dry_run => {
            let deployed = deployed.map_or("an unknown one (deployed from a zip that does not say)".to_owned(), |d| d);
            bail!(
                "function {} runs transform {deployed}, not this binary's {ours}: resent records could fail there \
                 again. Deploy this version first (`reaqtions deploy`), or pass --force",
                settings.function
            );
        }
        _ => {}
    }
    let root = Prefix::parse(&settings.error_prefix, true)?.static_root().to_owned();
    let objects: Vec<(ObjectMeta, Kind)> = lake
        .list(&root)?
        .into_iter()
        .filter(|o| {
            request.since.is_none_or(|s| o.last_modified >= s) && request.until.is_none_or(|u| o.last_modified < u)
        })
        .filter_map(|o| kind_of(&o.key, &root).map(|k| (o, k)))
        .collect();
    if objects.is_empty() {
        crate::say!("no failed records under s3://{}/{root} in the window", lake.bucket());
    } else if !request.dry_run && !request.yes {
        let question = format!(
            "send the records of {} under s3://{}/{root} through {} again, and move each settled object under \
             {root}reprocessed/?",
            crate::output::count(objects.len() as u64, "error object"),
            lake.bucket(),
            settings.stream
        );
        super::confirm(&question, "nothing was sent")?;
    }
    let sink = pipeline.sink()?;
    let sender = Sender::without_spool(&*sink, RetryPolicy::default());
    let mut summary =
        ReprocessSummary { dry_run: request.dry_run, note: PARTITION_NOTE, ..ReprocessSummary::default() };
    for (i, (object, kind)) in objects.iter().enumerate() {
        if !quiet {
            crate::say!("[{}/{}] {}", i + 1, objects.len(), object.key);
        }
        settle(lake, &sender, sink.limits(), (&root, object, *kind), request.dry_run, &mut summary)?;
    }
    sink.flush()?;
    if let Some(stopped) = sender.stats.stopped() {
        crate::warning!("the stream stopped taking records ({}): {}", stopped.code, stopped.message);
    }
    match request.output {
        OutputFormat::Json => line(&serde_json::to_string_pretty(&summary)?)?,
        OutputFormat::Table => print(OutputFormat::Table, "reprocess", &summary)?,
    }
    Ok(if summary.unsent > 0 { Exit::Incomplete } else { Exit::Ok })
}

/// One error object: its records judged, the accepted ones sent, the rest written to a new object beside it,
/// then the original moved out of the way (or left as it is when nothing of it could be sent).
fn settle(
    lake: &dyn ObjectLake,
    sender: &Sender,
    limits: SinkLimits,
    (root, object, kind): (&str, &ObjectMeta, Kind),
    dry_run: bool,
    summary: &mut ReprocessSummary,
) -> Result<()> {
    let bytes = lake.get(&object.key)?;
    let (found, unreadable) = read(kind, &crate::compression::decoded(bytes.clone(), &object.key)?);
    summary.objects += 1;
    summary.records += found.len() as u64;
    summary.unreadable_lines += unreadable.len() as u64;
    let judged: Vec<Judged> = found.iter().map(judge).collect();
    let mut keep: Vec<Vec<u8>> = unreadable;
    // The records to send, by index: their line (kept if not accepted) and readings.
    let mut pending: Vec<(&[u8], u64)> = Vec::new();
    let mut outgoing = Vec::new();
    for (f, j) in found.iter().zip(judged) {
        match j {
            Judged::Resend { record, readings } => {
                summary.readings_found += readings;
                outgoing.push(Outgoing { bytes: record, tag: pending.len() });
                pending.push((&f.line, readings));
            }
            Judged::Empty => {}
            Judged::Refused(code) => {
                *summary.still_failing.entry(code).or_default() += 1;
                keep.push(f.line.clone());
            }
        }
    }
    if dry_run {
        summary.resent += pending.iter().map(|p| p.1).sum::<u64>();
        return Ok(());
    }
    let mut accepted = vec![false; pending.len()];
    let mut batcher = Batcher::new(limits);
    let mut send = |batch: Vec<Outgoing<usize>>| -> Result<()> { sender.send(batch, |o| accepted[o.tag] = true) };
    for record in outgoing {
        if let Some(full) = batcher.push(record) {
            send(full)?;
        }
    }
    if let Some(rest) = batcher.take() {
        send(rest)?;
    }
    let none_accepted = !accepted.contains(&true);
    for ((line, readings), accepted) in pending.into_iter().zip(accepted) {
        if accepted {
            summary.resent += readings;
        } else {
            summary.unsent += 1;
            keep.push(line.to_vec());
        }
    }
    if none_accepted && !keep.is_empty() {
        return Ok(()); // Nothing of it went (refused, or not taken by the stream): it stays for a later run.
    }
    if !keep.is_empty() {
        if kind == Kind::IotRule {
            return Ok(()); // One message, not sent: the document stays as it is.
        }
        let mut remainder = keep.join(&b'\n');
        remainder.push(b'\n');
        // Plain, whatever the original was (every reader decides by the bytes), and named so.
        let original = object.key.strip_suffix(".gz").unwrap_or(&object.key);
        lake.put(&format!("{original}-remaining-{}", uuid::Uuid::new_v4()), &remainder)?;
    }
    lake.put(&done_key(&object.key, root), &bytes)?;
    lake.delete(&object.key)?;
    summary.objects_done += 1;
    Ok(())
}
