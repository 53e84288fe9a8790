//! One test per transform rule: seed payload, concatenation, output shape, each rejection, order.

use reaqtions_lambda::{ARRIVAL_FIELD, Reject, TransformResult, transform_event, transform_record};
use serde_json::{Map, Value, json};

use crate::{ARRIVAL_MS, ARRIVAL_TEXT, decode, event_of};

const SEED: &str = r#"{"TIME": "2026-11-25T21:00:00.123456", "USER_INPUT": 1, "NO2": 21.5, "CO": 0.62, "PM01": 4.1, "PM2_5": 9.8, "PM10": 15.2, "AQI": 41, "eCO2": 612, "TVOC": 150, "P": 1012.6, "T": 21.3, "RH": 44.0}"#;

fn ok_lines(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let n = transform_record(raw, ARRIVAL_MS, &mut out).expect("record accepted");
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'), "every line ends in a newline");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), n);
    lines
}

fn rejected(raw: &[u8]) -> Reject {
    let mut out = b"keep".to_vec();
    let err = transform_record(raw, ARRIVAL_MS, &mut out).expect_err("record rejected");
    assert_eq!(out, b"keep", "a rejected record writes nothing");
    err
}

/// The reading as sent, plus the arrival field.
fn with_arrival(sent: &str) -> Value {
    let mut v: Map<String, Value> = serde_json::from_str(sent).unwrap();
    v.insert(ARRIVAL_FIELD.into(), json!(ARRIVAL_TEXT));
    Value::Object(v)
}

#[test]
fn seed_payload_keeps_every_field_name_value_and_order() {
    let lines = ok_lines(SEED.as_bytes());
    assert_eq!(lines.len(), 1);
    let compact = SEED.replace(": ", ":").replace(", ", ",");
    let expected = format!("{},\"{ARRIVAL_FIELD}\":\"{ARRIVAL_TEXT}\"}}", &compact[..compact.len() - 1]);
    assert_eq!(lines[0], expected, "same bytes as sent, compacted, arrival appended");
    assert_eq!(serde_json::from_str::<Value>(&lines[0]).unwrap(), with_arrival(SEED));
}

#[test]
fn concatenated_readings_with_and_without_separators() {
    for sep in ["", "\n", " ", "\r\n", "\n\n\t"] {
        let two = format!("{SEED}{sep}{SEED}");
        assert_eq!(ok_lines(two.as_bytes()).len(), 2, "separator {sep:?}");
        let three = format!("{SEED}{sep}{SEED}{sep}{SEED}{sep}");
        let lines = ok_lines(three.as_bytes());
        assert_eq!(lines.len(), 3, "separator {sep:?}");
        for line in lines {
            assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), with_arrival(SEED));
        }
    }
}

#[test]
fn new_device_fields_nested_objects_unicode_and_big_numbers_survive() {
    let sent = r#"{ "device_id" : "aq-0042", "seq": 18446744073709551615, "TIME": "2026-11-25T21:00:00+01:00",
        "PM2_5": 1.7976931348623157e308, "NO2": 123456789012345678901234567890,
        "site": {"name": "Zürich \"Nord\" } {", "tags": ["a b", "\u00e9\n"], "deep": {"x": [1, {"y": null}]}},
        "emoji": "🌫️ smog", "ok": true}"#;
    let lines = ok_lines(sent.as_bytes());
    assert_eq!(lines.len(), 1);
    assert!(!lines[0].contains(": "), "compacted outside strings");
    assert!(lines[0].contains(r#""name":"Zürich \"Nord\" } {""#), "whitespace inside strings kept");
    assert!(lines[0].contains("\"NO2\":123456789012345678901234567890"), "big integer kept verbatim");
    assert!(lines[0].contains("\"seq\":18446744073709551615"));
    assert!(lines[0].contains("1.7976931348623157e308"));
    let parsed: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(parsed["site"]["tags"][1], json!("é\n"));
    assert_eq!(parsed["emoji"], json!("🌫️ smog"));
    assert_eq!(parsed[ARRIVAL_FIELD], json!(ARRIVAL_TEXT));
}

#[test]
fn empty_object_gets_only_the_arrival_field() {
    assert_eq!(ok_lines(b"{}"), vec![format!("{{\"{ARRIVAL_FIELD}\":\"{ARRIVAL_TEXT}\"}}")]);
}

#[test]
fn empty_and_whitespace_only_records_hold_no_readings() {
    for raw in [&b""[..], b"   ", b"\n\r\n\t"] {
        let mut out = Vec::new();
        assert_eq!(transform_record(raw, ARRIVAL_MS, &mut out), Ok(0));
        assert!(out.is_empty());
    }
}

#[test]
fn each_bad_case_is_rejected_with_a_reason_that_names_it() {
    let cases: &[(&[u8], Reject)] = &[
        (b"\xff{\"NO2\":1}", Reject::NotUtf8 { offset: 0 }),
        (b"{\"NO2\":1}\xc3", Reject::NotUtf8 { offset: 9 }),
        (b"NO2=1", Reject::InvalidJson { line: 1, column: 1 }),
        (b"{\"NO2\":1},{\"NO2\":2}", Reject::InvalidJson { line: 1, column: 10 }),
        (b"{\"NO2\": 1", Reject::TruncatedJson),
        (b"[{\"NO2\":1}]", Reject::NotAnObject { index: 1, kind: "array" }),
        (b"42", Reject::NotAnObject { index: 1, kind: "number" }),
        (b"\"reading\"", Reject::NotAnObject { index: 1, kind: "string" }),
        (b"null", Reject::NotAnObject { index: 1, kind: "null" }),
        (b"{\"NO2\":\"12\"}", Reject::NotANumber { index: 1, field: "NO2", kind: "string" }),
        (b"{\"PM2_5\":null}", Reject::NotANumber { index: 1, field: "PM2_5", kind: "null" }),
        (b"{\"AQI\":true}", Reject::NotANumber { index: 1, field: "AQI", kind: "boolean" }),
        (b"{\"RH\":[1]}", Reject::NotANumber { index: 1, field: "RH", kind: "array" }),
        (b"{\"T\":1e999}", Reject::InvalidJson { line: 1, column: 6 }),
        (b"{\n  \"T\": tru }", Reject::InvalidJson { line: 2, column: 8 }),
        (b"{\"s\":\"\\ud800\"}", Reject::InvalidJson { line: 1, column: 13 }),
        (b"{\"s\":\"tab\there\"}", Reject::InvalidJson { line: 1, column: 10 }),
        (b"{\"TIME\":\"now\"}", Reject::BadTime { index: 1 }),
        (b"{\"TIME\":1764104400}", Reject::BadTime { index: 1 }),
        (b"{\"device_id\":7}", Reject::BadDeviceId { index: 1 }),
        (b"{\"seq\":-1}", Reject::BadSeq { index: 1 }),
        (b"{\"seq\":1.5}", Reject::BadSeq { index: 1 }),
        (b"{\"_firehose_arrival\":\"x\"}", Reject::ReservedField { index: 1, field: ARRIVAL_FIELD }),
    ];
    for (raw, expected) in cases {
        assert_eq!(&rejected(raw), expected, "input {:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn one_bad_reading_fails_the_whole_record() {
    let raw = format!("{SEED}\n{SEED}\n{{\"device_id\":\"aq-1\",\"CO\":\"x\"}}\n{SEED}");
    assert_eq!(rejected(raw.as_bytes()), Reject::NotANumber { index: 3, field: "CO", kind: "string" });
}

#[test]
fn reasons_never_carry_the_payload() {
    let secret = "s3cr3t-value";
    let bad = [
        format!("{{\"NO2\":\"{secret}\"}}"),
        format!("{{\"TIME\":\"{secret}\"}}"),
        format!("[\"{secret}\"]"),
        secret.to_string(),
        format!("{{\"x\":\"{secret}\""),
    ];
    for raw in bad {
        let reason = rejected(raw.as_bytes()).to_string();
        assert!(!reason.contains(secret), "{reason}");
    }
}

#[test]
fn event_gives_one_result_per_record_in_order() {
    let bad_b64 = reaqtions_lambda::FirehoseRecord { record_id: "r4".into(), data: "***".into(), ..Default::default() };
    let mut event = event_of(&[SEED.as_bytes(), b"", b"{oops", format!("{SEED}{SEED}").as_bytes()]);
    event.records.push(bad_b64);
    let (response, report) = transform_event(&event);
    let ids: Vec<_> = response.records.iter().map(|r| r.record_id.as_str()).collect();
    assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4"]);
    let results: Vec<_> = response.records.iter().map(|r| r.result).collect();
    use TransformResult::*;
    assert_eq!(results, [Ok, Dropped, ProcessingFailed, Ok, ProcessingFailed]);
    assert_eq!(decode(&response.records[1].data), b"");
    assert_eq!(response.records[2].data, event.records[2].data, "failed records echo their input");
    assert_eq!(String::from_utf8(decode(&response.records[3].data)).unwrap().lines().count(), 2);
    assert_eq!((report.records, report.ok, report.dropped, report.failed, report.readings), (5, 2, 1, 2, 3));
    assert_eq!(report.failures.len(), 2);
    assert_eq!(report.failures[0].0, "r2");
    assert_eq!(report.failures[1].1, Reject::InvalidBase64);
    assert_eq!(report.bytes_in, SEED.len() * 3 + 5);
    let out_bytes: usize = [0, 3].iter().map(|&i| decode(&response.records[i].data).len()).sum();
    assert_eq!(report.bytes_out, out_bytes);
}

#[test]
fn response_serializes_to_firehose_contract() {
    let (response, _) = transform_event(&event_of(&[SEED.as_bytes(), b"x"]));
    let json = serde_json::to_value(&response).unwrap();
    let record = &json["records"][1];
    assert_eq!(record["result"], "ProcessingFailed");
    assert_eq!(record["recordId"], "r1");
    assert!(record["data"].is_string());
    assert_eq!(json["records"][0]["result"], "Ok");
}

#[test]
fn fixture_events_with_kinesis_metadata_are_accepted() {
    let event: reaqtions_lambda::FirehoseEvent =
        serde_json::from_str(&crate::fixture("mixed_results.json")).expect("unknown fields tolerated");
    assert_eq!(
        event.source_kinesis_stream_arn.as_deref(),
        Some("arn:aws:kinesis:us-east-1:123456789012:stream/upstream")
    );
    let (response, report) = transform_event(&event);
    assert_eq!(response.records.len(), 8);
    assert_eq!((report.ok, report.dropped, report.failed), (2, 1, 5));
    let codes: Vec<_> = report.failures.iter().map(|(_, r)| r.code()).collect();
    assert_eq!(codes, ["not_a_number", "not_utf8", "truncated_json", "not_an_object", "bad_time"]);
}
