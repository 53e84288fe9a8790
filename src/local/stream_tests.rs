use super::*;
use crate::seams::ObjectLake as _;
use crate::settings::{PipelineSettings, SettingsInput};

/// A stream of an arrival-time pipeline (the layout these tests pin: an interval of 0, objects per put, one
/// buffer), its lake and logs. `partition_tests` has the stream of a partitioned one.
fn stream(dir: &std::path::Path, tweak: impl FnOnce(&mut PipelineSettings)) -> (LocalStream, DirLake, LogFiles) {
    stream_of(dir, Partitioning::Arrival, tweak)
}

pub(super) fn stream_of(
    dir: &std::path::Path,
    partitioning: Partitioning,
    tweak: impl FnOnce(&mut PipelineSettings),
) -> (LocalStream, DirLake, LogFiles) {
    let input = SettingsInput { partitioning: Some(partitioning), ..SettingsInput::default() };
    let mut settings = PipelineSettings::resolve(input).unwrap();
    tweak(&mut settings);
    let lake = DirLake::new(&dir.join("lake"), &settings.bucket);
    let logs = LogFiles::new(&dir.join("logs"));
    (LocalStream::start(&settings, 3, lake.clone(), LogFiles::new(&dir.join("logs"))).unwrap(), lake, logs)
}

fn reading(i: usize) -> Vec<u8> {
    format!("{{\"device_id\":\"aq-0001\",\"seq\":{i},\"NO2\":{i}.5,\"pad\":\"{}\"}}\n", "x".repeat(200)).into_bytes()
}

#[test]
fn interval_zero_delivers_every_put_as_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream(dir.path(), |s| {
        s.buffering.interval_seconds = 0;
        s.processor.interval_seconds = 0;
    });
    stream.put_record_batch(&[reading(1), reading(2)]).unwrap();
    stream.put_record_batch(&[reading(3)]).unwrap();
    let objects = lake.list("processed/").unwrap();
    assert_eq!(objects.len(), 2, "no buffering: one object per call");
    let key = &objects[0].key;
    let now = Utc::now();
    let hour = now.format("processed/year=%Y/month=%m/day=%d/hour=%H/").to_string();
    assert!(key.starts_with(&hour), "{key}");
    let name = key.rsplit('/').next().unwrap();
    assert!(name.starts_with("reaqtions-iot-data-stream-3-"), "version in the name: {name}");
    assert_eq!(
        name.len(),
        "reaqtions-iot-data-stream-3-".len() + "2026-11-25-21-00-00-".len() + 36 + ".gz".len(),
        "Firehose's name, .gz as GZIP adds"
    );
    let mut lines: Vec<usize> = objects
        .iter()
        .map(|o| {
            let text =
                String::from_utf8(crate::compression::decoded(lake.get(&o.key).unwrap(), &o.key).unwrap()).unwrap();
            assert!(text.lines().all(|l| l.contains("\"_firehose_arrival\":")));
            text.lines().count()
        })
        .collect();
    lines.sort_unstable();
    assert_eq!(lines, [1, 2]);
    assert_eq!(stream.close().unwrap().objects, 2);
}

#[test]
fn size_buffering_writes_when_full_and_close_flushes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream(dir.path(), |s| {
        s.buffering = crate::settings::Buffering { size_mib: 1, interval_seconds: 900 };
        s.processor.interval_seconds = 0;
    });
    let batch: Vec<Vec<u8>> = (0..500).map(reading).collect();
    let per_batch: usize = batch.iter().map(Vec::len).sum::<usize>();
    let mut sent = 0;
    while sent < 1024 * 1024 + per_batch {
        stream.put_record_batch(&batch).unwrap();
        sent += per_batch;
    }
    let objects = lake.list("processed/").unwrap();
    assert_eq!(objects.len(), 1, "one full buffer written");
    // The buffer size counts the data before compression, as Firehose's does.
    let content = crate::compression::decoded(lake.get(&objects[0].key).unwrap(), &objects[0].key).unwrap();
    assert!(content.len() >= 1024 * 1024 && objects[0].size < content.len() as u64 / 3, "{}", objects[0].size);
    let stats = stream.close().unwrap();
    assert_eq!(stats.objects, 2, "the rest flushed on close");
    assert_eq!(stats.records_ok, stats.records_in);
}

#[test]
fn interval_buffering_writes_after_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream(dir.path(), |s| {
        s.buffering.interval_seconds = 1;
        s.processor.interval_seconds = 0;
    });
    stream.put_record_batch(&[reading(1)]).unwrap();
    assert!(lake.list("processed/").unwrap().is_empty(), "held for the interval");
    let deadline = Instant::now() + Duration::from_secs(5);
    while lake.list("processed/").unwrap().is_empty() {
        assert!(Instant::now() < deadline, "not written after the interval");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stream);
}

#[test]
fn failed_records_go_to_the_error_prefix_with_their_raw_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, logs) = stream(dir.path(), |_| {});
    let bad = b"{\"device_id\":\"aq-0002\",\"NO2\":\"oops\"}\xff".to_vec();
    stream.put_record_batch(&[reading(1), bad.clone(), b"   ".to_vec()]).unwrap();
    let stats = stream.close().unwrap();
    assert_eq!((stats.records_ok, stats.records_failed, stats.records_dropped), (1, 1, 1));
    let errors = lake.list("error/processing-failed/year=").unwrap();
    assert_eq!(errors.len(), 1);
    let content = crate::compression::decoded(lake.get(&errors[0].key).unwrap(), &errors[0].key).unwrap();
    let line: Value = serde_json::from_slice(&content).unwrap();
    assert_eq!(line["errorCode"], "Lambda.ProcessingFailedStatus");
    assert_eq!(line["attemptsMade"], 1);
    assert!(line["arrivalTimestamp"].as_i64().unwrap() <= line["attemptEndingTimestamp"].as_i64().unwrap());
    assert_eq!(line["lambdaArn"], "arn:aws:lambda:local:000000000000:function:reaqtions-data-transformation:$LATEST");
    assert_eq!(B64.decode_to_vec(line["rawData"].as_str().unwrap()).unwrap(), bad);
    let events =
        crate::seams::LogSource::events(&logs, "/aws/lambda/reaqtions-data-transformation", None, None, None).unwrap();
    assert!(events.iter().any(|e| e.message.contains("record failed") && e.message.contains("error_code=not_utf8")));
    assert!(events.iter().any(|e| e.message.contains("batch transformed") && e.message.contains("failed=1")));
    assert!(!events.iter().any(|e| e.message.contains("oops")), "payload never logged");
}

/// The deployed function's log lines, field for field: the names its `BatchReport::emit` logs (pinned against
/// `emit` in the lambda crate), which scripts, `logs --filter` and the failed-records metric filter read.
#[test]
fn the_log_file_holds_the_deployed_functions_lines_field_for_field() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, _, logs) = stream(dir.path(), |_| {});
    stream.put_record_batch(&[reading(1), b"{\"device_id\":\"aq-0002\",".to_vec()]).unwrap();
    stream.close().unwrap();
    let path = logs.path_of("/aws/lambda/reaqtions-data-transformation");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Map<String, Value>> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let shape = |line: &Map<String, Value>| {
        let names: Vec<String> = line.keys().cloned().collect();
        (line["level"].as_str().unwrap().to_owned(), line["message"].as_str().unwrap().to_owned(), names)
    };
    let lambda_line = |level: &str, message: &str, fields: &[&str]| {
        let names = ["timestamp", "level", "message"].iter().chain(fields).map(|name| (*name).to_owned()).collect();
        (level.to_owned(), message.to_owned(), names)
    };
    let summary = [
        "invocation_id",
        "records",
        "ok",
        "dropped",
        "failed",
        "spanning_hours",
        "readings",
        "duplicate_keys",
        "arrival_fallback",
        "bytes_in",
        "bytes_out",
        "duration_us",
    ];
    assert_eq!(
        lines.iter().map(shape).collect::<Vec<_>>(),
        [
            lambda_line("WARN", "record failed", &["invocation_id", "record_id", "error_code", "reason"]),
            lambda_line("INFO", "batch transformed", &summary),
        ],
        "{}:\n{text}",
        path.display()
    );
    let (failure, batch) = (&lines[0], &lines[1]);
    assert_eq!(failure["error_code"], "truncated_json", "{text}");
    assert_eq!(failure["invocation_id"], batch["invocation_id"], "{text}");
    assert!(batch["duration_us"].is_u64() && batch["failed"] == 1 && batch["records"] == 2, "{text}");
}

#[test]
fn batch_limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, _, _) = stream(dir.path(), |_| {});
    assert!(stream.put_record_batch(&vec![b"{}".to_vec(); 501]).is_err());
    let err = stream.put_record_batch(&[vec![b' '; LIMITS.record_bytes + 1]]).unwrap_err();
    assert!(err.to_string().contains("record 0"), "{err}");
}

#[test]
fn processor_invocations_stay_within_the_processor_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, _, _) = stream(dir.path(), |s| s.processor.size_mb = 0.2);
    let batch: Vec<Vec<u8>> = (0..400).map(reading).collect(); // ~100 KB
    for _ in 0..10 {
        stream.put_record_batch(&batch).unwrap();
    }
    let stats = stream.close().unwrap();
    // ~1 MB through a 0.2 MB processor buffer: at least five invocations.
    assert!(stats.invocations >= 5, "{stats:?}");
    assert_eq!(stats.records_ok, 4000);
}

#[test]
fn a_failed_write_stops_the_stream_and_hands_back_every_record_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream(dir.path(), |s| s.processor.interval_seconds = 0);
    std::fs::create_dir_all(lake.root()).unwrap();
    std::fs::write(lake.root().join("processed"), b"in the way").unwrap();
    let sent: Vec<Vec<u8>> = (0..5).map(reading).collect();
    stream.put_record_batch(&sent).unwrap();
    let err = stream.flush().unwrap_err();
    let said = format!("{err:#}");
    assert!(said.contains(&format!("delivery to {}/processed/", lake.root().display())), "the file's path: {said}");
    let refused = stream.put_record_batch(&[reading(9)]).unwrap_err();
    assert!(refused.permanent && refused.message.contains("cannot be written"), "{refused:?}");
    assert_eq!(stream.take_unwritten(), sent, "raw, in order, none lost");
    assert!(stream.take_unwritten().is_empty(), "handed back once");
    stream.close().unwrap();
}
