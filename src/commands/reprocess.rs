//! `reprocess`: the failed records under the error prefix, judged by the transform this binary carries; what
//! it accepts now is sent through the stream again (with simulate's batching and retries), what it refuses
//! stays; in event mode a record whose readings span hours goes as one record per hour. Each error object is
//! settled on its own, in an order that never loses or repeats a reading: its records are sent; what was not
//! accepted (a whole record, or the hours of one the stream did not take) or is still refused is written to a new
//! error object beside it; only then is the original moved under `<error root>reprocessed/`. A second run finds
//! nothing to send.

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};

use super::{Exit, Target};
use crate::cli::ReprocessArgs;
use crate::limits::SinkLimits;
use crate::output::{OutputFormat, line, print};
use crate::prefix::Prefix;
use crate::reprocess::{Judged, ReprocessSummary, Writer, done_key, judge, partition_note, read, remainder, writer_of};
use crate::seams::batch::{Batcher, Outgoing};
use crate::seams::{GivenNames, ObjectLake, ObjectMeta, Uses};
use crate::settings::Partitioning;
use crate::simulate::sender::{RetryPolicy, Sender};

pub(crate) struct Request {
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) dry_run: bool,
    pub(crate) yes: bool,
    pub(crate) force: bool,
    pub(crate) output: OutputFormat,
}

pub(crate) fn request(args: &ReprocessArgs) -> Result<Request> {
    let (since, until) = super::window(args.window.since.as_deref(), args.window.until.as_deref())?;
    Ok(Request {
        since,
        until,
        dry_run: args.dry_run.on,
        yes: args.confirm.yes,
        force: args.force,
        output: args.shape.format,
    })
}

pub(crate) fn run(target: &Target, request: &Request) -> Result<Exit> {
    let pipeline = target.open(&GivenNames::default(), Uses { sink: true, lake: true, ..Uses::default() })?;
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
    let objects: Vec<(ObjectMeta, Writer)> = lake
        .list(&root)?
        .into_iter()
        .filter(|o| {
            request.since.is_none_or(|s| o.last_modified >= s) && request.until.is_none_or(|u| o.last_modified < u)
        })
        .filter_map(|o| writer_of(&o.key, &root).map(|k| (o, k)))
        .collect();
    if objects.is_empty() {
        crate::say!("no failed records under {} in the window", lake.location(&root));
    } else if !request.dry_run && !request.yes {
        let question = format!(
            "send the records of {} under {} through {} again, and move each settled object under \
             {root}reprocessed/?",
            crate::output::count(objects.len() as u64, "error object"),
            lake.location(&root),
            settings.stream
        );
        super::confirm(&question, "nothing was sent")?;
    }
    let sink = pipeline.sink()?;
    let sender = Sender::without_spool(&*sink, RetryPolicy::default());
    let mut summary = ReprocessSummary {
        dry_run: request.dry_run,
        note: partition_note(settings.partitioning),
        ..ReprocessSummary::default()
    };
    let how = How { limits: sink.limits(), partitioning: settings.partitioning, dry_run: request.dry_run };
    for (i, (object, kind)) in objects.iter().enumerate() {
        if !crate::output::quiet() {
            crate::say!("[{}/{}] {}", i + 1, objects.len(), object.key);
        }
        settle(lake, &sender, &how, (&root, object, *kind), &mut summary)?;
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

/// How records are resent: the stream's limits, the pipeline's partitioning (what the transform will refuse), and
/// whether anything is sent at all.
struct How {
    limits: SinkLimits,
    partitioning: Partitioning,
    dry_run: bool,
}

/// One error object: its records judged, the accepted ones sent (split by hour where they must be), what was not
/// sent written to a new object beside it, then the original moved out of the way (or left as it is when nothing
/// of it could be sent).
fn settle(
    lake: &dyn ObjectLake,
    sender: &Sender,
    how: &How,
    (root, object, kind): (&str, &ObjectMeta, Writer),
    summary: &mut ReprocessSummary,
) -> Result<()> {
    let bytes = lake.get(&object.key)?;
    let (found, unreadable) = read(kind, &crate::compression::decoded(bytes.clone(), &object.key)?);
    summary.objects += 1;
    summary.records += found.len() as u64;
    summary.unreadable_lines += unreadable.len() as u64;
    let now_ms = Utc::now().timestamp_millis();
    let mut keep: Vec<Vec<u8>> = unreadable;
    // The records to send: which found record each is of, and the parts it was judged into.
    let mut pending = Vec::new();
    let mut outgoing = Vec::new();
    for (index, f) in found.iter().enumerate() {
        match judge(f, how.partitioning, now_ms) {
            Judged::Resend(parts) => {
                summary.readings_found += parts.iter().map(|p| p.readings).sum::<u64>();
                if parts.len() > 1 {
                    summary.split_by_hour += 1;
                    summary.hour_records += parts.len() as u64;
                }
                for part in parts {
                    outgoing.push(Outgoing { bytes: part.record.clone(), tag: pending.len() });
                    pending.push((index, part));
                }
            }
            Judged::Empty => {}
            Judged::Refused(code) => {
                *summary.still_failing.entry(code).or_default() += 1;
                keep.push(f.line.clone());
            }
        }
    }
    if how.dry_run {
        summary.resent += pending.iter().map(|(_, p)| p.readings).sum::<u64>();
        return Ok(());
    }
    let mut accepted = vec![false; pending.len()];
    let mut batcher = Batcher::new(how.limits);
    let mut send = |batch: Vec<Outgoing<usize>>| -> Result<()> { sender.send(batch, |o| accepted[o.tag] = true) };
    for record in outgoing {
        if let Some(full) = batcher.push(record) {
            send(full)?;
        }
    }
    if let Some(rest) = batcher.take() {
        send(rest)?;
    }
    let any_sent = accepted.contains(&true);
    // Per found record, in order: the readings of its parts the stream did not take, kept for the next run.
    for (index, f) in found.iter().enumerate() {
        let parts = || pending.iter().zip(&accepted).filter(move |((i, _), _)| *i == index);
        if parts().next().is_none() {
            continue;
        }
        summary.resent += parts().filter(|(_, ok)| **ok).map(|((_, p), _)| p.readings).sum::<u64>();
        let unsent: Vec<&[u8]> = parts().filter(|(_, ok)| !**ok).map(|((_, p), _)| p.payload.as_slice()).collect();
        if unsent.is_empty() {
            continue;
        }
        summary.unsent += 1;
        if parts().all(|(_, ok)| !*ok) {
            keep.push(f.line.clone()); // Nothing of it went: the record as it was written.
        } else {
            keep.push(remainder(kind, f, &unsent.concat()));
        }
    }
    if !any_sent && !keep.is_empty() {
        return Ok(()); // Nothing of it went (refused, or not taken by the stream): it stays for a later run.
    }
    if let Some(rest) = remaining(kind, &keep) {
        // Plain, whatever the original was (every reader decides by the bytes), and named so: beside it, where the
        // next run reads it as the same kind.
        let original = object.key.strip_suffix(".gz").unwrap_or(&object.key);
        let key = match kind {
            Writer::Firehose => format!("{original}-remaining-{}", uuid::Uuid::new_v4()),
            Writer::IotRule => {
                let stem = original.strip_suffix(".json").unwrap_or(original);
                format!("{stem}-remaining-{}.json", uuid::Uuid::new_v4())
            }
        };
        lake.put(&key, &rest)?;
    }
    lake.put(&done_key(&object.key, root), &bytes)?;
    lake.delete(&object.key)?;
    summary.objects_done += 1;
    Ok(())
}

/// The object to write for what is kept: Firehose's lines one per line; the IoT rule's one document.
fn remaining(kind: Writer, keep: &[Vec<u8>]) -> Option<Vec<u8>> {
    match (kind, keep) {
        (_, []) => None,
        (Writer::IotRule, [document, ..]) => Some(document.clone()),
        (Writer::Firehose, lines) => {
            let mut rest = lines.join(&b'\n');
            rest.push(b'\n');
            Some(rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use base64_simd::STANDARD as B64;

    use super::*;
    use crate::local::lake::DirLake;
    use crate::seams::{RecordSink, SinkError};

    /// A stream that refuses (for good) every record whose readings contain `refused`, and keeps the readings of
    /// those it takes.
    struct Picky {
        refused: &'static str,
        taken: Mutex<Vec<u8>>,
    }

    impl RecordSink for Picky {
        fn limits(&self) -> SinkLimits {
            crate::limits::FIREHOSE
        }

        fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError> {
            let payloads = records.iter().map(|r| reaqtions_lambda::envelope::open(r).unwrap().unwrap().payload);
            Ok(payloads
                .map(|payload| {
                    if String::from_utf8_lossy(&payload).contains(self.refused) {
                        Some(SinkError::permanent("Refused", "this test's stream takes none of these"))
                    } else {
                        self.taken.lock().unwrap().extend_from_slice(&payload);
                        None
                    }
                })
                .collect())
        }

        fn flush(&self) -> Result<()> {
            Ok(())
        }
    }

    const OBJECT: &str = "error/processing-failed/year=2026/month=11/day=26/hour=11/stream-1-2026-11-26-11-02-00-x";

    fn settle_all(lake: &DirLake, sink: &Picky, summary: &mut ReprocessSummary) {
        let sender = Sender::without_spool(sink, RetryPolicy::default());
        let how = How { limits: sink.limits(), partitioning: Partitioning::Event, dry_run: false };
        for object in lake.list("error/").unwrap().into_iter().filter(|o| writer_of(&o.key, "error/").is_some()) {
            settle(lake, &sender, &how, ("error/", &object, Writer::Firehose), summary).unwrap();
        }
    }

    #[test]
    fn the_hours_a_stream_does_not_take_stay_for_the_next_run_and_none_is_sent_twice() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "bucket");
        let pack = "{\"TIME\": \"2026-11-26T10:59:58\", \"seq\": 1}\n{\"TIME\": \"2026-11-26T11:00:01\", \"seq\": 2}\n\
                    {\"TIME\": \"2026-11-26T10:59:59\", \"seq\": 3}\n";
        let line = serde_json::json!({
            "attemptsMade": 1, "arrivalTimestamp": 1_795_690_920_000i64, "errorCode": "Lambda.ProcessingFailedStatus",
            "errorMessage": "ProcessingFailed status set for record", "rawData": B64.encode_to_string(pack),
            "lambdaArn": "arn:aws:lambda:local:000000000000:function:f:$LATEST",
        });
        lake.put(OBJECT, format!("{line}\n").as_bytes()).unwrap();

        // The stream takes 10:00's record and refuses 11:00's.
        let picky = Picky { refused: "11:00:01", taken: Mutex::default() };
        let mut first = ReprocessSummary::default();
        settle_all(&lake, &picky, &mut first);
        assert_eq!((first.split_by_hour, first.hour_records), (1, 2), "{first:?}");
        assert_eq!((first.resent, first.unsent, first.objects_done), (2, 1, 1), "{first:?}");
        let hour_10 =
            "{\"TIME\": \"2026-11-26T10:59:58\", \"seq\": 1}\n{\"TIME\": \"2026-11-26T10:59:59\", \"seq\": 3}\n";
        assert_eq!(String::from_utf8(picky.taken.lock().unwrap().clone()).unwrap(), hour_10);
        let keys: Vec<String> = lake.list("error/").unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.iter().any(|k| k.starts_with(&format!("{OBJECT}-remaining-"))), "{keys:?}");
        assert!(keys.contains(&done_key(OBJECT, "error/")), "{keys:?}");

        // The next run sends only 11:00's reading.
        let all = Picky { refused: "never", taken: Mutex::default() };
        let mut second = ReprocessSummary::default();
        settle_all(&lake, &all, &mut second);
        assert_eq!((second.records, second.resent, second.unsent, second.split_by_hour), (1, 1, 0, 0), "{second:?}");
        let taken = String::from_utf8(all.taken.lock().unwrap().clone()).unwrap();
        assert_eq!(taken, "{\"TIME\": \"2026-11-26T11:00:01\", \"seq\": 2}\n");
    }
}
