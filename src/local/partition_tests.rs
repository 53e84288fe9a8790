//! The local stream with dynamic partitioning (`partitioning: event`): a buffer and an object per reading hour,
//! the active-partition quota, the heap budget, records spanning two hours, and the arrival layout beside it.

use chrono::{Duration as Span, DurationRound as _};

use super::tests::stream_of;
use super::*;
use crate::local::partitions::{ACTIVE_PARTITION_EXCEEDED_FOLDER, ACTIVE_PARTITION_LIMIT, BUFFER_BUDGET_BYTES};
use crate::seams::ObjectLake as _;

/// The start of the hour a test begins in: readings measured hours before it arrive during the test.
fn this_hour() -> DateTime<Utc> {
    Utc::now().duration_trunc(Span::hours(1)).unwrap()
}

/// One reading measured at `time`, `pad` bytes of padding.
fn measured(time: DateTime<Utc>, seq: usize, pad: usize) -> Vec<u8> {
    let time = time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!(
        "{{\"device_id\":\"aq-0001\",\"seq\":{seq},\"TIME\":\"{time}\",\"NO2\":1.5,\"pad\":\"{}\"}}\n",
        "x".repeat(pad)
    )
    .into_bytes()
}

fn hour_folder(root: &str, hour: DateTime<Utc>) -> String {
    hour.format(&format!("{root}year=%Y/month=%m/day=%d/hour=%H/")).to_string()
}

/// Every line of the objects under `prefix`.
fn lines(lake: &DirLake, prefix: &str) -> Vec<String> {
    let objects = lake.list(prefix).unwrap();
    objects
        .iter()
        .flat_map(|o| {
            let text = crate::compression::decoded(lake.get(&o.key).unwrap(), &o.key).unwrap();
            String::from_utf8(text).unwrap().lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn readings_of_two_hours_arriving_together_land_in_an_object_under_each_hour() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream_of(dir.path(), Partitioning::Event, |_| {});
    let now = this_hour();
    let (ten, eleven) = (now - Span::hours(3), now - Span::hours(2));
    let sent =
        [measured(ten + Span::minutes(59), 1, 10), measured(eleven + Span::minutes(1), 2, 10), measured(ten, 3, 10)];
    stream.put_record_batch(&sent).unwrap();
    let stats = stream.close().unwrap();
    assert_eq!((stats.objects, stats.records_ok), (2, 3));
    let objects = lake.list("processed/").unwrap();
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for (hour, readings) in [(ten, 2), (eleven, 1)] {
        let folder = hour_folder("processed/", hour);
        let key = keys.iter().find(|k| k.starts_with(&folder)).unwrap_or_else(|| panic!("{folder} in {keys:?}"));
        let name = key.strip_prefix(&folder).unwrap();
        assert!(name.starts_with("reaqtions-iot-data-stream-3-") && name.ends_with(".gz"), "Firehose's name: {name}");
        let held = lines(&lake, &folder);
        assert_eq!(held.len(), readings, "{folder}");
        let hour_text = hour.format("\"_reading_time\":\"%Y-%m-%dT%H:").to_string();
        assert!(held.iter().all(|l| l.contains(&hour_text)), "each under its reading's hour: {held:?}");
    }
    let arrival = hour_folder("processed/", now);
    assert!(!keys.iter().any(|k| k.starts_with(&arrival)), "nothing under the arrival hour: {keys:?}");
}

#[test]
fn each_partition_is_written_by_its_own_size_and_its_own_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream_of(dir.path(), Partitioning::Event, |s| {
        // Below Firehose's minimums (which deploy enforces), to see the rule in seconds.
        s.buffering = crate::settings::Buffering { size_mib: 1, interval_seconds: 2 };
        s.processor.interval_seconds = 0;
    });
    let now = this_hour();
    let (a, b, c) = (now - Span::hours(3), now - Span::hours(2), now - Span::hours(1));
    let (in_a, in_b, in_c) = (hour_folder("processed/", a), hour_folder("processed/", b), hour_folder("processed/", c));
    stream.put_record_batch(&[measured(c, 0, 100)]).unwrap();
    // A full megabyte for hour `a` is written at once; `c`'s few bytes wait.
    let big: Vec<Vec<u8>> = (0..120).map(|i| measured(a, i, 10_000)).collect();
    stream.put_record_batch(&big).unwrap();
    assert_eq!(lake.list(&in_a).unwrap().len(), 1, "full");
    assert!(lake.list(&in_c).unwrap().is_empty(), "another partition's size is its own");
    std::thread::sleep(Duration::from_millis(1200));
    stream.put_record_batch(&[measured(b, 1, 100)]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lake.list(&in_c).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "not written after its interval");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lake.list(&in_b).unwrap().is_empty(), "opened 1.2 s later: its interval is its own");
    while lake.list(&in_b).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "not written after its interval");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stream.close().unwrap().objects, 3);
}

#[test]
fn the_arrival_layout_files_the_same_readings_under_their_arrival_hour() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream_of(dir.path(), Partitioning::Arrival, |_| {});
    let before = Utc::now();
    let now = this_hour();
    stream.put_record_batch(&[measured(now - Span::hours(3), 1, 10), measured(now - Span::hours(2), 2, 10)]).unwrap();
    let stats = stream.close().unwrap();
    let after = Utc::now();
    let objects = lake.list("processed/").unwrap();
    assert_eq!((stats.objects, objects.len()), (1, 1), "one buffer, one object");
    let folders = [hour_folder("processed/", before), hour_folder("processed/", after)];
    assert!(folders.iter().any(|f| objects[0].key.starts_with(f)), "arrival hour: {}", objects[0].key);
    assert_eq!(lines(&lake, "processed/").len(), 2);
}

#[test]
fn records_of_a_partition_beyond_the_quota_go_to_the_error_prefix_and_none_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream_of(dir.path(), Partitioning::Event, |s| s.processor.interval_seconds = 0);
    // One reading in each of 501 hours: the last opens the 501st partition.
    let now = this_hour();
    let hour = |i: usize| now - Span::hours(2 + i as i64);
    let sent: Vec<Vec<u8>> = (0..=ACTIVE_PARTITION_LIMIT).map(|i| measured(hour(i), i, 10)).collect();
    for batch in sent.chunks(LIMITS.batch_records) {
        stream.put_record_batch(batch).unwrap();
    }
    assert_eq!(stream.buffered().partitions, ACTIVE_PARTITION_LIMIT);
    // Delivered partitions are active no more: a new hour opens again.
    stream.flush().unwrap();
    assert_eq!(stream.buffered().partitions, 0);
    stream.put_record_batch(&[measured(hour(600), 9999, 10)]).unwrap();
    let stats = stream.close().unwrap();
    assert_eq!((stats.records_ok, stats.records_partition_exceeded, stats.records_failed), (501, 1, 0));
    assert_eq!(stats.objects, 501);
    assert_eq!(lines(&lake, "processed/").len(), 501);
    let errors = lake.list("error/").unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let folder = format!("error/{ACTIVE_PARTITION_EXCEEDED_FOLDER}/year=");
    assert!(errors[0].key.starts_with(&folder), "{}", errors[0].key);
    let line: Value = serde_json::from_str(&lines(&lake, "error/")[0]).unwrap();
    assert_eq!(line["errorCode"], partitions::ACTIVE_PARTITION_EXCEEDED_CODE.0);
    let raw = B64.decode_to_vec(line["rawData"].as_str().unwrap()).unwrap();
    assert_eq!(&raw, sent.last().unwrap(), "the 501st partition's record, as received");
    assert!(lake.list(&hour_folder("processed/", hour(ACTIVE_PARTITION_LIMIT))).unwrap().is_empty());
}

#[test]
fn past_the_budget_the_partition_open_longest_is_written_and_the_heap_stays_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 256 * 1024;
    let (stream, lake, _) = stream_of(dir.path(), Partitioning::Event, |s| {
        s.processor.interval_seconds = 0;
        // Hundreds of small objects: plain, as compressing them is not what this test is about.
        s.compression = crate::compression::Compression::None;
    });
    let stream = stream.with_budget(budget);
    let now = this_hour();
    let (first, second) = (now - Span::hours(5), now - Span::hours(4));
    // ~200 KB held for the first hour (its output and the record as received), then small records of another.
    stream.put_record_batch(&[measured(first, 0, 100_000)]).unwrap();
    let mut sent = 1;
    while lake.list("processed/").unwrap().is_empty() {
        stream.put_record_batch(&[measured(second, sent, 1000)]).unwrap();
        sent += 1;
        assert!(sent < 1000, "never written");
    }
    assert!(sent > 10, "written when the budget was reached, not before: {sent}");
    let written = lake.list("processed/").unwrap();
    assert_eq!(written.len(), 1);
    assert!(written[0].key.starts_with(&hour_folder("processed/", first)), "the oldest first: {}", written[0].key);
    assert_eq!(stream.buffered().partitions, 1, "the newer partition stays open");
    // 500 partitions open, each sent to in turn: the buffers never hold more than the budget.
    let mut most = 0;
    for round in 0..3 {
        for batch in (0..ACTIVE_PARTITION_LIMIT).collect::<Vec<_>>().chunks(100) {
            let records: Vec<Vec<u8>> =
                batch.iter().map(|h| measured(now - Span::hours(10 + *h as i64), round * 1000 + h, 200)).collect();
            stream.put_record_batch(&records).unwrap();
            sent += records.len();
            let held = stream.buffered();
            assert!(held.partitions <= ACTIVE_PARTITION_LIMIT && held.bytes <= budget, "{held:?}");
            most = most.max(held.bytes);
        }
    }
    assert!(most > budget / 2, "the budget was reached: {most}");
    let stats = stream.close().unwrap();
    assert_eq!((stats.records_ok, stats.records_partition_exceeded), (sent as u64, 0));
    assert_eq!(lines(&lake, "processed/").len(), sent, "nothing lost");
    assert_eq!(stream_budget(), BUFFER_BUDGET_BYTES);
}

/// The budget a partitioned stream keeps unless a test sets another.
fn stream_budget() -> usize {
    let dir = tempfile::tempdir().unwrap();
    let (stream, _, _) = stream_of(dir.path(), Partitioning::Event, |_| {});
    stream.shared.lock().budget.unwrap()
}

#[test]
fn a_retried_batch_gets_the_same_keys_from_the_readings_and_the_arrival_never_the_clock() {
    let now = this_hour();
    let arrival = now - Span::hours(30) + Span::minutes(7);
    let records = [measured(now - Span::hours(40), 1, 0), b"{\"device_id\":\"aq-0002\",\"NO2\":2}\n".to_vec()];
    let event = FirehoseEvent {
        records: records
            .iter()
            .enumerate()
            .map(|(i, r)| FirehoseRecord {
                record_id: record_id(i as u64),
                approximate_arrival_timestamp: arrival.timestamp_millis() as f64,
                data: B64.encode_to_string(r),
            })
            .collect(),
        ..FirehoseEvent::default()
    };
    let hours = || -> Vec<DateTime<Utc>> {
        let (response, _) = transform_event(&event, Partitioning::Event);
        response
            .records
            .iter()
            .map(|r| partitions::hour_of_keys(r.metadata.as_ref().map(|m| &m.partition_keys)).unwrap())
            .collect()
    };
    let first = hours();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(hours(), first, "Firehose retries an invocation with the same event: same keys");
    assert_eq!(first, [now - Span::hours(40), now - Span::hours(30)], "the reading's hour, else the arrival's");
}

#[test]
fn a_record_spanning_two_hours_goes_to_the_error_prefix_without_counting_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, logs) = stream_of(dir.path(), Partitioning::Event, |_| {});
    let metrics = dir.path().join("metrics.jsonl");
    let stream = stream.counting_minutes(metrics.clone());
    let started = Utc::now();
    let now = this_hour();
    let mut spanning = measured(now - Span::hours(2) + Span::minutes(59), 1, 0);
    spanning.extend(measured(now - Span::hours(1), 2, 0));
    stream.put_record_batch(&[spanning.clone(), measured(now - Span::hours(1), 3, 0)]).unwrap();
    let stats = stream.close().unwrap();
    assert_eq!((stats.records_ok, stats.records_spanning_hours, stats.records_failed), (1, 1, 0));
    let errors = lake.list("error/processing-failed/").unwrap();
    assert_eq!(errors.len(), 1, "kept whole in the error prefix, as Firehose keeps it");
    let line: Value = serde_json::from_str(&lines(&lake, "error/")[0]).unwrap();
    assert_eq!(B64.decode_to_vec(line["rawData"].as_str().unwrap()).unwrap(), spanning);
    let events =
        crate::seams::LogSource::events(&logs, "/aws/lambda/reaqtions-data-transformation", None, None, None).unwrap();
    assert!(events.iter().any(|e| e.message.contains("record spans hours")), "{events:?}");
    assert!(!events.iter().any(|e| e.message.contains("record failed")), "{events:?}");
    // `health` over the minute: records in, none failed, no failed-records finding.
    let window = crate::seams::vitals::Window::over(
        started - Span::minutes(1),
        Utc::now(),
        Utc::now(),
        crate::seams::vitals::Keeping::EveryMinute,
    )
    .unwrap();
    let vitals = crate::seams::VitalSource::vitals(&super::super::metrics::LocalVitals { path: metrics }, &window);
    let settings = PipelineSettings::defaults();
    let thresholds = crate::seams::vitals::Thresholds::of(&settings);
    let place = crate::seams::Place::local(std::path::Path::new(crate::seams::DEFAULT_DATA_DIR), "s");
    let health = crate::health::assess_at(&place, window, vitals.unwrap(), thresholds);
    assert_eq!((health.metrics.incoming_records, health.metrics.failed_records), (2, 0));
    assert!(!health.findings.iter().any(|f| f.metric == "failed_records"), "{:?}", health.findings);
}

#[test]
fn a_failed_write_hands_back_the_records_of_every_partition_in_the_order_received() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, lake, _) = stream_of(dir.path(), Partitioning::Event, |s| s.processor.interval_seconds = 0);
    std::fs::create_dir_all(lake.root()).unwrap();
    std::fs::write(lake.root().join("processed"), b"in the way").unwrap();
    let now = this_hour();
    let sent: Vec<Vec<u8>> = (0..6).map(|i| measured(now - Span::hours(2 + (i % 3) as i64), i, 10)).collect();
    stream.put_record_batch(&sent[..4]).unwrap();
    stream.put_record_batch(&[b"not json".to_vec()]).unwrap();
    stream.put_record_batch(&sent[4..]).unwrap();
    assert_eq!(stream.buffered().partitions, 3);
    assert!(stream.flush().is_err());
    let mut expected = sent[..4].to_vec();
    expected.push(b"not json".to_vec());
    expected.extend_from_slice(&sent[4..]);
    assert_eq!(stream.take_unwritten(), expected, "raw, in order, none lost");
    assert_eq!(stream.buffered(), Buffered::default());
    stream.close().unwrap();
}
