//! The reading time every line gets (`_reading_time`: the reading's own `TIME` in UTC, or its arrival when
//! that cannot be believed), and the partition keys of event partitioning.

use reaqtions_lambda::{
    ARRIVAL_FIELD, FirehoseEvent, Hour, PARTITIONING_VAR, Partitioning, READING_TIME_FIELD, Reject, TransformResult,
    transform_event, transform_record,
};
use serde_json::{Value, json};

use crate::{ARRIVAL_MS, ARRIVAL_TEXT, decode, event_of};

/// The lines of one record transformed as the Lambda does with `partitioning`, parsed.
fn lines(raw: &str, arrival_ms: i64, partitioning: Partitioning) -> Vec<Value> {
    let mut out = Vec::new();
    transform_record(raw.as_bytes(), arrival_ms, partitioning, &mut out).expect("record accepted");
    String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The reading time of a record's one reading, arriving at the tests' arrival (2026-11-25T21:00:00.123Z).
fn reading_time(raw: &str) -> String {
    let lines = lines(raw, ARRIVAL_MS, Partitioning::Arrival);
    assert_eq!(lines.len(), 1);
    lines[0][READING_TIME_FIELD].as_str().expect("a string").to_owned()
}

/// An event of one record per payload, every record arriving at `arrival_ms`.
fn event_at(payloads: &[&str], arrival_ms: i64) -> FirehoseEvent {
    let mut event = event_of(&payloads.iter().map(|p| p.as_bytes()).collect::<Vec<_>>());
    for record in &mut event.records {
        record.approximate_arrival_timestamp = arrival_ms as f64;
    }
    event
}

fn ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
}

#[test]
fn a_time_without_zone_is_taken_as_utc() {
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T20:59:58","NO2":1}"#), "2026-11-25T20:59:58.000Z");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25 20:59:58.5"}"#), "2026-11-25T20:59:58.500Z");
}

#[test]
fn a_time_with_an_offset_is_converted_to_utc() {
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T22:59:58+02:00"}"#), "2026-11-25T20:59:58.000Z");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T15:29:58.250-05:30"}"#), "2026-11-25T20:59:58.250Z");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-26T01:00:00+04:00"}"#), "2026-11-25T21:00:00.000Z", "across midnight");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T20:59:58z"}"#), "2026-11-25T20:59:58.000Z");
}

#[test]
fn a_time_with_microseconds_is_truncated_to_milliseconds() {
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T20:59:58.123456"}"#), "2026-11-25T20:59:58.123Z");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T20:59:59.999999999Z"}"#), "2026-11-25T20:59:59.999Z");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T20:59:58.1"}"#), "2026-11-25T20:59:58.100Z");
    // An escaped TIME is the same TIME.
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T20:59:58\u002e987654"}"#), "2026-11-25T20:59:58.987Z");
}

#[test]
fn a_reading_without_time_gets_its_arrival() {
    assert_eq!(reading_time(r#"{"NO2":1}"#), ARRIVAL_TEXT);
    assert_eq!(reading_time("{}"), ARRIVAL_TEXT);
    let (_, report) =
        transform_event(&event_of(&[br#"{"NO2":1}{"TIME":"2026-11-25T20:00:00Z"}"#]), Partitioning::Arrival);
    assert_eq!((report.readings, report.arrival_fallback), (2, 1), "counted in the batch log line");
}

#[test]
fn a_time_more_than_an_hour_after_arrival_falls_back_to_the_arrival() {
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T23:00:00.123Z"}"#), ARRIVAL_TEXT, "2 h ahead: a clock ahead");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T22:00:00.124Z"}"#), ARRIVAL_TEXT, "just over an hour");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-25T22:00:00.123Z"}"#), "2026-11-25T22:00:00.123Z", "an hour is fine");
    assert_eq!(reading_time(r#"{"TIME":"2026-11-24T21:00:00Z"}"#), "2026-11-24T21:00:00.000Z", "late is fine");
    let (_, report) = transform_event(&event_of(&[br#"{"TIME":"2026-11-25T23:00:00"}"#]), Partitioning::Arrival);
    assert_eq!(report.arrival_fallback, 1);
}

#[test]
fn a_time_before_2024_falls_back_to_the_arrival() {
    assert_eq!(reading_time(r#"{"TIME":"2023-06-01T12:00:00"}"#), ARRIVAL_TEXT);
    assert_eq!(reading_time(r#"{"TIME":"2023-12-31T23:59:59.999Z"}"#), ARRIVAL_TEXT);
    assert_eq!(reading_time(r#"{"TIME":"2024-01-01T00:00:00Z"}"#), "2024-01-01T00:00:00.000Z");
    assert_eq!(reading_time(r#"{"TIME":"2024-01-01T00:30:00+01:00"}"#), ARRIVAL_TEXT, "2023 in UTC");
}

#[test]
fn a_time_that_is_not_a_timestamp_is_still_rejected() {
    let mut out = Vec::new();
    let got = transform_record(br#"{"TIME":"2026-11-25T25:00:00"}"#, ARRIVAL_MS, Partitioning::Event, &mut out);
    assert_eq!(got, Err(Reject::BadTime { index: 1 }));
}

#[test]
fn the_reading_time_comes_right_after_the_arrival_and_last() {
    let mut out = Vec::new();
    transform_record(br#"{"TIME":"2026-11-25T20:59:58","NO2":1}"#, ARRIVAL_MS, Partitioning::Arrival, &mut out)
        .unwrap();
    let expected = format!(
        "{{\"TIME\":\"2026-11-25T20:59:58\",\"NO2\":1,\"{ARRIVAL_FIELD}\":\"{ARRIVAL_TEXT}\",\
         \"{READING_TIME_FIELD}\":\"2026-11-25T20:59:58.000Z\"}}\n"
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn a_retried_batch_gets_the_same_bytes_and_keys() {
    let payloads = [
        r#"{"TIME":"2026-11-25T20:59:58.123456","NO2":1}{"NO2":2}"#,
        r#"{"TIME":"2099-01-01T00:00:00Z"}"#,
        r#"{"TIME":"2026-11-25T10:59:59"}{"TIME":"2026-11-25T11:00:00"}"#,
        "",
        "oops",
    ];
    for partitioning in [Partitioning::Arrival, Partitioning::Event] {
        let event = event_at(&payloads, ARRIVAL_MS);
        let first = serde_json::to_vec(&transform_event(&event, partitioning).0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let retried = serde_json::to_vec(&transform_event(&event.clone(), partitioning).0).unwrap();
        assert_eq!(first, retried, "{partitioning:?}");
        let text = String::from_utf8(first).unwrap();
        assert_eq!(text.contains("partitionKeys"), partitioning == Partitioning::Event, "{text}");
    }
}

#[test]
fn event_partitioning_gives_each_record_the_zero_padded_keys_of_its_hour() {
    let arrival = ms("2026-03-05T08:20:00.000Z");
    let event = event_at(
        &[r#"{"TIME":"2026-03-05T08:15:00Z"}{"TIME":"2026-03-05T09:05:00+01:00"}"#, r#"{"NO2":1}"#, "  "],
        arrival,
    );
    let (response, report) = transform_event(&event, Partitioning::Event);
    let json = serde_json::to_value(&response).unwrap();
    let keys = json!({"partitionKeys": {"year": "2026", "month": "03", "day": "05", "hour": "08"}});
    assert_eq!(json["records"][0]["metadata"], keys, "{json}");
    assert_eq!(json["records"][1]["metadata"], keys, "a reading without TIME goes to its arrival's hour");
    assert_eq!(json["records"][2]["result"], "Dropped");
    assert!(json["records"][2].get("metadata").is_none(), "a Dropped record needs no keys");
    let text = serde_json::to_string(&response).unwrap();
    assert!(text.contains(r#""metadata":{"partitionKeys":{"year":"2026","month":"03","day":"05","hour":"08"}}"#));
    assert_eq!((report.ok, report.dropped, report.failed, report.spanning_hours), (2, 1, 0, 0));
    assert_eq!(report.arrival_fallback, 1);
    // The keys are the lines' own reading time.
    for record in &response.records[..2] {
        for line in String::from_utf8(decode(&record.data)).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v[READING_TIME_FIELD].as_str().unwrap().starts_with("2026-03-05T08:"), "{line}");
        }
    }
}

#[test]
fn a_record_of_two_hours_fails_apart_from_bad_data_in_event_partitioning() {
    let spanning = r#"{"TIME":"2026-11-25T10:59:59","NO2":1}
{"TIME":"2026-11-25T11:00:00","NO2":2}"#;
    let event = event_at(&[spanning, r#"{"NO2":"bad"}"#, r#"{"TIME":"2026-11-25T11:30:00"}"#], ARRIVAL_MS);
    let (response, report) = transform_event(&event, Partitioning::Event);
    let results: Vec<_> = response.records.iter().map(|r| r.result).collect();
    use TransformResult::*;
    assert_eq!(results, [ProcessingFailed, ProcessingFailed, Ok]);
    assert_eq!(response.records[0].data, event.records[0].data, "the raw record goes to the error prefix");
    assert!(response.records[0].metadata.is_none());
    let (first, second) = (Hour::of_ms(ms("2026-11-25T10:00:00Z")), Hour::of_ms(ms("2026-11-25T11:00:00Z")));
    assert_eq!(report.failures[0], ("r0".to_owned(), Reject::SpansHours { index: 2, first, second }));
    let reason = report.failures[0].1.to_string();
    assert!(reason.contains("2026-11-25T10:00Z") && reason.contains("2026-11-25T11:00Z"), "{reason}");
    assert!(!reason.contains("10:59:59") && !reason.contains("NO2"), "no values: {reason}");
    assert_eq!(report.failures[0].1.code(), "spans_hours");
    assert_eq!((report.failed, report.spanning_hours, report.ok), (1, 1, 1), "failed counts bad data only");
    assert_eq!(report.readings, 1, "readings of Ok records");

    // Bad data in a spanning record is bad data: it is counted as failed.
    let bad = format!("{spanning}\n{{\"NO2\":\"x\"}}");
    let (_, report) = transform_event(&event_at(&[&bad], ARRIVAL_MS), Partitioning::Event);
    assert_eq!((report.failed, report.spanning_hours), (1, 0));
    assert_eq!(report.failures[0].1.code(), "not_a_number");
}

#[test]
fn arrival_partitioning_returns_no_keys_and_keeps_a_record_of_two_hours() {
    let spanning = r#"{"TIME":"2026-11-25T10:59:59"}{"TIME":"2026-11-25T11:00:00"}"#;
    let (response, report) = transform_event(&event_at(&[spanning, "{}"], ARRIVAL_MS), Partitioning::Arrival);
    assert!(response.records.iter().all(|r| r.result == TransformResult::Ok && r.metadata.is_none()));
    assert!(!serde_json::to_string(&response).unwrap().contains("metadata"), "no metadata key at all");
    assert_eq!((report.ok, report.failed, report.spanning_hours), (2, 0, 0));
    let times: Vec<Value> = lines(spanning, ARRIVAL_MS, Partitioning::Arrival)
        .into_iter()
        .map(|mut l| l[READING_TIME_FIELD].take())
        .collect();
    assert_eq!(times, [json!("2026-11-25T10:59:59.000Z"), json!("2026-11-25T11:00:00.000Z")]);
    let mut out = Vec::new();
    let event_mode = transform_record(spanning.as_bytes(), ARRIVAL_MS, Partitioning::Event, &mut out);
    assert!(matches!(event_mode, Err(Reject::SpansHours { index: 2, .. })));
    assert!(out.is_empty(), "a rejected record writes nothing");
}

#[test]
fn the_partitioning_comes_from_its_environment_variable() {
    assert_eq!(PARTITIONING_VAR, "REAQTIONS_PARTITIONING");
    assert_eq!(Partitioning::from_var(None), Ok(Partitioning::Arrival));
    assert_eq!(Partitioning::from_var(Some("arrival")), Ok(Partitioning::Arrival));
    assert_eq!(Partitioning::from_var(Some("event")), Ok(Partitioning::Event));
    for bad in ["Event", "", "hourly", "event "] {
        let message = Partitioning::from_var(Some(bad)).expect_err(bad);
        assert!(message.contains(PARTITIONING_VAR) && message.contains(&format!("`{bad}`")), "{message}");
    }
}
