//! One test per transform rule: seed payload, concatenation, output shape, each rejection, order.

use reaqtions_lambda::{
    ARRIVAL_FIELD, Partitioning, READING_TIME_FIELD, Reject, TransformResult, transform_event, transform_record,
};
use serde_json::{Map, Value, json};

use crate::{ARRIVAL_MS, ARRIVAL_TEXT, decode, event_of};

const SEED: &str = r#"{"TIME": "2026-11-25T21:00:00.123456", "USER_INPUT": 1, "NO2": 21.5, "CO": 0.62, "PM01": 4.1, "PM2_5": 9.8, "PM10": 15.2, "AQI": 41, "eCO2": 612, "TVOC": 150, "P": 1012.6, "T": 21.3, "RH": 44.0}"#;

fn ok_lines(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let n = transform_record(raw, ARRIVAL_MS, Partitioning::Arrival, &mut out).expect("record accepted");
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'), "every line ends in a newline");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), n);
    lines
}

fn rejected(raw: &[u8]) -> Reject {
    let mut out = b"keep".to_vec();
    let err = transform_record(raw, ARRIVAL_MS, Partitioning::Arrival, &mut out).expect_err("record rejected");
    assert_eq!(out, b"keep", "a rejected record writes nothing");
    err
}

/// The reading as sent, plus the fields the transform adds (the seed's `TIME` is its arrival, to the millisecond;
/// a reading without `TIME` gets the arrival as its reading time).
fn with_arrival(sent: &str) -> Value {
    let mut v: Map<String, Value> = serde_json::from_str(sent).unwrap();
    v.insert(ARRIVAL_FIELD.into(), json!(ARRIVAL_TEXT));
    v.insert(READING_TIME_FIELD.into(), json!(ARRIVAL_TEXT));
    Value::Object(v)
}

/// What the transform appends to a reading whose reading time is its arrival.
fn added() -> String {
    format!(r#""{ARRIVAL_FIELD}":"{ARRIVAL_TEXT}","{READING_TIME_FIELD}":"{ARRIVAL_TEXT}""#)
}

#[test]
fn seed_payload_keeps_every_field_name_value_and_order() {
    let lines = ok_lines(SEED.as_bytes());
    assert_eq!(lines.len(), 1);
    let compact = SEED.replace(": ", ":").replace(", ", ",");
    let expected = format!("{},{}}}", &compact[..compact.len() - 1], added());
    assert_eq!(lines[0], expected, "same bytes as sent, compacted, arrival and reading time appended");
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
    assert_eq!(parsed[READING_TIME_FIELD], json!("2026-11-25T20:00:00.000Z"), "TIME in UTC");
}

#[test]
fn empty_object_gets_only_the_added_fields() {
    assert_eq!(ok_lines(b"{}"), vec![format!("{{{}}}", added())]);
}

#[test]
fn empty_and_whitespace_only_records_hold_no_readings() {
    for raw in [&b""[..], b"   ", b"\n\r\n\t"] {
        let mut out = Vec::new();
        assert_eq!(transform_record(raw, ARRIVAL_MS, Partitioning::Arrival, &mut out), Ok(0));
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
        (b"{\"device_id\":null}", Reject::BadDeviceId { index: 1 }),
        (b"{\"TIME\":null}", Reject::BadTime { index: 1 }),
        (b"{\"seq\":null}", Reject::BadSeq { index: 1 }),
        (b"{\"seq\":NaN}", Reject::InvalidJson { line: 1, column: 8 }),
        (b"{\"other\":NaN}", Reject::InvalidJson { line: 1, column: 10 }),
        (b"{\"NO2\":nan}", Reject::InvalidJson { line: 1, column: 8 }),
        (b"{\"NO2\":-NaN}", Reject::InvalidJson { line: 1, column: 9 }),
        (b"{\"NO2\":[NaN]}", Reject::InvalidJson { line: 1, column: 9 }),
        (b"{\"NO2\":1}\xEF\xBB\xBF{\"NO2\":2}", Reject::InvalidJson { line: 1, column: 10 }),
        (b"{\"PM2_5\":1,\"PM2_5\":\"x\"}", Reject::NotANumber { index: 1, field: "PM2_5", kind: "string" }),
        (
            b"{\"_firehose_arrival\":1,\"_firehose_arrival\":2}",
            Reject::ReservedField { index: 1, field: ARRIVAL_FIELD },
        ),
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
        (b"{\"_reading_time\":\"x\"}", Reject::ReservedField { index: 1, field: READING_TIME_FIELD }),
        (
            b"{\"TIME\":\"2026-11-25T21:00:00Z\",\"_reading_time\":\"2026-11-25T21:00:00.000Z\"}",
            Reject::ReservedField { index: 1, field: READING_TIME_FIELD },
        ),
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
    let (response, report) = transform_event(&event, Partitioning::Arrival);
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
    let (response, _) = transform_event(&event_of(&[SEED.as_bytes(), b"x"]), Partitioning::Arrival);
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
    let (response, report) = transform_event(&event, Partitioning::Arrival);
    assert_eq!(response.records.len(), 8);
    assert_eq!((report.ok, report.dropped, report.failed), (2, 1, 5));
    let codes: Vec<_> = report.failures.iter().map(|(_, r)| r.code()).collect();
    assert_eq!(codes, ["not_a_number", "not_utf8", "truncated_json", "not_an_object", "bad_time"]);
}

#[test]
fn missing_measures_are_kept_as_null() {
    // What Python's json.dumps writes for None and for non-finite floats, in every measure.
    for (sent, kept) in
        [("null", "null"), ("NaN", "null"), ("Infinity", "null"), ("-Infinity", "null"), ("-0.5", "-0.5")]
    {
        for field in reaqtions_lambda::MEASURES {
            let raw = format!(r#"{{"device_id":"aq-1","{field}": {sent},"NO2":1.5}}"#);
            let raw = if field == "NO2" { format!(r#"{{"device_id":"aq-1","NO2": {sent}}}"#) } else { raw };
            let lines = ok_lines(raw.as_bytes());
            assert!(lines[0].contains(&format!("\"{field}\":{kept}")), "{raw} -> {}", lines[0]);
            assert!(serde_json::from_str::<Value>(&lines[0]).is_ok(), "strict JSON: {}", lines[0]);
        }
    }
    let seed = r#"{"TIME": "2026-11-25T21:00:00.123456", "USER_INPUT": 1, "NO2": NaN, "CO": 0.62, "PM01": Infinity, "PM2_5": null, "PM10": -Infinity, "AQI": NaN}"#;
    let line = &ok_lines(seed.as_bytes())[0];
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        (v["NO2"].clone(), v["PM01"].clone(), v["PM2_5"].clone(), v["PM10"].clone()),
        (Value::Null, Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(v["CO"], json!(0.62), "the other measures of that reading are good");
    assert_eq!(v["AQI"], Value::Null);
}

#[test]
fn a_leading_byte_order_mark_is_skipped() {
    let raw = [b"\xEF\xBB\xBF".as_slice(), SEED.as_bytes()].concat();
    assert_eq!(serde_json::from_str::<Value>(&ok_lines(&raw)[0]).unwrap(), with_arrival(SEED));
    let packed = [b"\xEF\xBB\xBF".as_slice(), SEED.as_bytes(), b"\n", SEED.as_bytes()].concat();
    assert_eq!(ok_lines(&packed).len(), 2);
    let mut out = Vec::new();
    assert_eq!(
        transform_record(b"\xEF\xBB\xBF  \n", ARRIVAL_MS, Partitioning::Arrival, &mut out),
        Ok(0),
        "a BOM alone holds nothing"
    );
    assert_eq!(rejected(b"\xEF\xBB{}"), Reject::NotUtf8 { offset: 0 }, "a broken BOM is not skipped");
}

#[test]
fn a_duplicated_key_is_written_once_with_its_last_value() {
    let lines = ok_lines(br#"{"device_id":"aq-1","PM2_5":1,"NO2":3,"PM2_5":2}"#);
    assert_eq!(
        lines[0],
        format!(r#"{{"device_id":"aq-1","PM2_5":2,"NO2":3,{}}}"#, added()),
        "the first place, the last value"
    );
    // Only the value that counts is checked: a bad first value replaced by a good one passes.
    let lines = ok_lines(br#"{"PM2_5":"broken","PM2_5":NaN,"PM2_5":4.5}"#);
    assert!(lines[0].starts_with(r#"{"PM2_5":4.5,"#), "{}", lines[0]);
    // An escaped spelling of the same key is the same key.
    let lines = ok_lines(br#"{"a":1,"\u0061":2,"b":{"a":1,"a":2}}"#);
    assert!(lines[0].starts_with(r#"{"a":2,"b":{"a":1,"a":2},"#), "nested objects are kept as sent: {}", lines[0]);
    // Many keys (beyond the fingerprint table) still find their duplicate.
    let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
    let raw = format!("{{{},\"k3\":99}}", many.join(","));
    let v: Value = serde_json::from_str(&ok_lines(raw.as_bytes())[0]).unwrap();
    assert_eq!((v["k3"].clone(), v.as_object().unwrap().len()), (json!(99), 42), "40 keys and the 2 added");
    // Keys alike in length and first and last letters are still different keys: kept as sent, not counted.
    let lines = ok_lines(br#"{"axb":1,"ayb":2}"#);
    assert!(lines[0].starts_with(r#"{"axb":1,"ayb":2,"#), "{}", lines[0]);
    let (_, report) = transform_event(&event_of(&[br#"{"axb":1,"ayb":2}"#.as_slice()]), Partitioning::Arrival);
    assert_eq!(report.duplicate_keys, 0);
    // Counted in the summary log line.
    let (_, report) = transform_event(
        &event_of(&[br#"{"NO2":1,"NO2":2}{"NO2":3}"#.as_slice(), br#"{"x":1,"y":1}"#.as_slice()]),
        Partitioning::Arrival,
    );
    assert_eq!((report.readings, report.duplicate_keys), (3, 1));
}

/// Every Ok line is JSON that Python's json.loads takes in strict mode (no NaN, no Infinity), as the readers
/// downstream (pandas, Hive's JSON SerDe) need.
#[test]
fn ok_lines_are_strict_json_for_python() {
    let edge = [
        SEED.as_bytes(),
        br#"{"device_id":"aq-1","PM2_5":null}"#.as_slice(),
        br#"{"PM2_5": NaN, "NO2": Infinity, "CO": -Infinity}"#.as_slice(),
        b"\xEF\xBB\xBF{\"NO2\":1}".as_slice(),
        br#"{"device_id":"aq-1","PM2_5":1,"PM2_5":2}"#.as_slice(),
    ];
    let mut lines = String::new();
    for raw in edge {
        for line in ok_lines(raw) {
            lines.push_str(&line);
            lines.push('\n');
        }
    }
    let check = r#"
import json, sys

def strict(name):
    raise ValueError("not strict JSON: " + name)

def once(pairs):
    if len(pairs) != len(set(k for k, _ in pairs)):
        strict("a key twice")
    return dict(pairs)

n = 0
for line in sys.stdin:
    json.loads(line, parse_constant=strict, object_pairs_hook=once)
    n += 1
print(n)
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", check])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (on every machine of this project's kind)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), lines.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), lines.lines().count().to_string());
}

/// The record the IoT rule makes of a message (`reaqtions_iot_payload` and `device_id`), and its `\n` separator.
fn enveloped(device: &str, payload: &[u8]) -> Vec<u8> {
    let mut record = reaqtions_lambda::envelope::seal(device, payload);
    record.push(b'\n');
    record
}

#[test]
fn an_iot_envelope_is_opened_and_its_topic_device_wins() {
    // The original fleet's payload (no device id), as the rule wraps it.
    let lines = ok_lines(&enveloped("aq-0007", SEED.as_bytes()));
    let mut expected = serde_json::from_str::<Map<String, Value>>(SEED).unwrap();
    expected.insert("device_id".into(), json!("aq-0007"));
    expected.insert(ARRIVAL_FIELD.into(), json!(ARRIVAL_TEXT));
    expected.insert(READING_TIME_FIELD.into(), json!(ARRIVAL_TEXT));
    assert_eq!(serde_json::from_str::<Value>(&lines[0]).unwrap(), Value::Object(expected));

    // A payload that claims another device lands as its topic's device, once, wherever the claim stands.
    for claim in [
        r#"{"device_id":"aq-0001","NO2":1}"#,
        r#"{"NO2":1,"device_id":"aq-0001"}"#,
        r#"{"device_id":"aq-0001","NO2":1,"device_id":"aq-0002"}"#,
        r#"{"NO2":1,"device\u005fid":"aq-0001","TVOC":2}"#,
    ] {
        let lines = ok_lines(&enveloped("aq-0009", claim.as_bytes()));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].matches("device_id").count(), 1, "{}", lines[0]);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["device_id"], "aq-0009", "{claim}");
        assert_eq!(v["NO2"], 1);
    }

    // Several readings in one message each get the device; a device id that needs escaping stays exact.
    let lines = ok_lines(&enveloped("a\"b\\c", format!("{SEED}{SEED}").as_bytes()));
    assert_eq!(lines.len(), 2);
    for line in lines {
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap()["device_id"], "a\"b\\c");
    }

    // Plain readings (records in flight while a redeploy switches the rule) are still accepted as they are.
    let plain = ok_lines(br#"{"device_id":"aq-0001","NO2":1}"#);
    assert_eq!(serde_json::from_str::<Value>(&plain[0]).unwrap()["device_id"], "aq-0001");
}

#[test]
fn an_envelope_whose_payload_is_not_a_reading_fails_as_a_whole_and_keeps_the_envelope() {
    assert_eq!(rejected(&enveloped("aq-0001", b"NO2=??")), Reject::InvalidJson { line: 1, column: 1 });
    assert!(matches!(rejected(&enveloped("aq-0001", b"[1,2]")), Reject::NotAnObject { .. }));
    assert!(matches!(rejected(&enveloped("aq-0001", b"\xff\xfe")), Reject::NotUtf8 { .. }));
    assert_eq!(rejected(br#"{"reaqtions_iot_payload":"%%%","device_id":"aq-1"}"#), Reject::BadEnvelope);
    let mut out = Vec::new();
    assert_eq!(
        transform_record(&enveloped("aq-0001", b""), ARRIVAL_MS, Partitioning::Arrival, &mut out),
        Ok(0),
        "an empty message: Dropped"
    );

    // Firehose writes the record it received to error/: the envelope, which opens to the device and bytes.
    let record = enveloped("aq-0003", b"NO2=??");
    let event = event_of(&[&record]);
    let (response, _) = transform_event(&event, Partitioning::Arrival);
    assert_eq!(response.records[0].result, TransformResult::ProcessingFailed);
    let kept = decode(&response.records[0].data);
    let opened = reaqtions_lambda::envelope::open(&kept).unwrap().unwrap();
    assert_eq!((opened.device_id.as_deref(), opened.payload.as_slice()), (Some("aq-0003"), &b"NO2=??"[..]));
}

#[test]
fn the_envelope_field_is_reserved_in_readings() {
    let late = format!(r#"{{"NO2":1,"TVOC":2,"x":"{}","reaqtions_iot_payload":"e30="}}"#, "y".repeat(300));
    assert_eq!(rejected(late.as_bytes()), Reject::ReservedField { index: 1, field: "reaqtions_iot_payload" });
}
