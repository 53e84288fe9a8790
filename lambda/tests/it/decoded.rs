//! The bootstrap's way through a batch — the event read with each record decoded as it is parsed
//! ([`DecodedEvent`]), the response JSON written once ([`transform_decoded`]) — against the typed way
//! ([`FirehoseEvent`], [`transform_event`], serde_json writing the response): the same bytes out, the same report,
//! the same malformed events refused.

use proptest::prelude::*;
use reaqtions_lambda::{
    BatchReport, DecodedEvent, FirehoseEvent, FirehoseRecord, Partitioning, transform_decoded, transform_event,
};

use crate::{ARRIVAL_MS, event_of};

/// The response JSON and the report both ways, for the event `json`; the two must be equal.
fn both_ways(json: &str, partitioning: Partitioning) -> (String, BatchReport) {
    let typed: FirehoseEvent = serde_json::from_str(json).expect("a typed event");
    let (response, mut expected) = transform_event(&typed, partitioning);
    let decoded: DecodedEvent = serde_json::from_str(json).expect("a decoded event");
    assert_eq!(decoded.len(), typed.records.len());
    let (raw, mut report) = transform_decoded(&decoded, partitioning);
    let written = serde_json::to_string(&response).unwrap();
    assert_eq!(raw.json(), written, "the response, byte for byte ({partitioning:?})");
    (expected.duration, report.duration) = Default::default();
    assert_eq!(report, expected, "the report ({partitioning:?})");
    assert_eq!(report.failures, expected.failures);
    (written, report)
}

fn both_partitionings(json: &str) {
    both_ways(json, Partitioning::Arrival);
    both_ways(json, Partitioning::Event);
}

#[test]
fn fixtures_and_the_benchmark_event_are_answered_alike() {
    both_partitionings(&crate::fixture("seed_payload.json"));
    both_partitionings(&crate::fixture("mixed_results.json"));
    let (event, _) = reaqtions_lambda::sample::benchmark_event(500);
    both_partitionings(&serde_json::to_string(&event).unwrap());
    let decoded = DecodedEvent::from_event(&event);
    let parsed: DecodedEvent = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
    let (from_event, _) = transform_decoded(&decoded, Partitioning::Event);
    assert_eq!(from_event.json(), transform_decoded(&parsed, Partitioning::Event).0.json());
}

/// An event with a record of every kind: kept, dropped, refused for each reason, not base64, an envelope, ids
/// serde_json escapes, arrivals chrono cannot write (the arm64 run under qemu sends it too).
pub(crate) fn every_kind_of_record() -> FirehoseEvent {
    let envelope = reaqtions_lambda::envelope::seal("aq-7", br#"{"NO2": 1, "device_id": "spoofed"}"#);
    let mut event = event_of(&[
        br#"{"NO2": 1, "TIME": "2026-11-25T20:59:58.123456"}"#.as_slice(),
        b"",
        b"  \n",
        b"\xEF\xBB\xBF{\"NO2\": NaN}",
        b"{\"NO2\": \"high\"}",
        b"\xff\xfe",
        br#"{"TIME": "2026-11-25T20:59:58Z"}{"TIME": "2026-11-25T21:00:01Z"}"#,
        br#"{"PM2_5": 1, "PM2_5": 2}"#,
        &envelope,
        br#"{"reaqtions_iot_payload": "not base64!"}"#,
        b"[1, 2]",
    ]);
    let add = |event: &mut FirehoseEvent, id: &str, data: &str| {
        event.records.push(FirehoseRecord {
            record_id: id.into(),
            approximate_arrival_timestamp: ARRIVAL_MS as f64 + 3_600_000.0,
            data: data.into(),
        })
    };
    // Not base64 (a stray character, missing padding, bits past the end): answered with the text as it came.
    add(&mut event, "bad-1", "not base64!");
    add(&mut event, "bad-2", "e30");
    add(&mut event, "bad-3", "QR==");
    // Ids serde_json escapes, and an arrival chrono cannot write.
    add(&mut event, "id \"quoted\" \\ \u{1} é", "e30=");
    event.records.push(FirehoseRecord {
        record_id: "far".into(),
        approximate_arrival_timestamp: 1e300,
        data: "e30=".into(),
    });
    event.records.push(FirehoseRecord {
        record_id: "old".into(),
        approximate_arrival_timestamp: -1e12,
        data: "e30=".into(),
    });
    event
}

#[test]
fn every_kind_of_record_is_answered_alike() {
    let event = every_kind_of_record();
    let json = serde_json::to_string(&event).unwrap();
    both_ways(&json, Partitioning::Arrival);
    let (written, report) = both_ways(&json, Partitioning::Event);
    let failed: Vec<&str> = report.failures.iter().map(|(_, reason)| reason.code()).collect();
    assert_eq!(
        failed,
        [
            "not_a_number",
            "not_utf8",
            "spans_hours",
            "bad_envelope",
            "not_an_object",
            "invalid_base64",
            "invalid_base64",
            "invalid_base64"
        ]
    );
    assert_eq!((report.ok, report.dropped, report.duplicate_keys), (7, 2, 1), "{written}");
    assert!(written.contains(r#""recordId":"id \"quoted\" \\ \u0001 é""#), "{written}");
    assert!(written.contains(r#""recordId":"bad-3","result":"ProcessingFailed","data":"QR==""#), "{written}");
    // Escapes in the event's JSON itself (a base64 `/` written `\/`, a `\u` in an id).
    let json = r#"{"invocationId":"i\u0031","records":[{"recordId":"r\u00e9","data":"e30\u003d"},
        {"data":"P\/8=","approximateArrivalTimestamp":1795640400123,"recordId":"r2","extra":[1,{"a":null}]}]}"#;
    let (written, report) = both_ways(json, Partitioning::Arrival);
    assert!(written.contains(r#""data":"P/8=""#), "{written}");
    assert_eq!((report.invocation_id.as_str(), report.failed, report.ok), ("i1", 1, 1));
    both_partitionings(r#"{"records":[]}"#);
}

#[test]
fn a_malformed_event_is_refused_as_the_typed_event_refuses_it() {
    let record = r#"{"recordId":"r","data":"e30="}"#;
    let events = [
        format!(r#"{{"records":[{record}]}}"#),
        format!(r#"{{"invocationId":"i","deliveryStreamArn":"a","region":"r","records":[{record}],"x":1}}"#),
        format!(r#"{{"sourceKinesisStreamArn":null,"records":[{record}]}}"#),
        format!(r#"{{"sourceKinesisStreamArn":"s","records":[{record}]}}"#),
        r#"{}"#.into(),
        r#"{"records":null}"#.into(),
        r#"{"records":{}}"#.into(),
        format!(r#"{{"records":[{record}],"records":[]}}"#),
        format!(r#"{{"invocationId":5,"records":[{record}]}}"#),
        format!(r#"{{"invocationId":null,"records":[{record}]}}"#),
        format!(r#"{{"region":5,"records":[{record}]}}"#),
        format!(r#"{{"deliveryStreamArn":null,"records":[{record}]}}"#),
        format!(r#"{{"sourceKinesisStreamArn":5,"records":[{record}]}}"#),
        r#"{"records":[{"data":"e30="}]}"#.into(),
        r#"{"records":[{"recordId":"r"}]}"#.into(),
        r#"{"records":[{"recordId":5,"data":"e30="}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":5}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":[101,51,48,61]}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":null}]}"#.into(),
        // Not base64, and not a string the typed event takes either: a raw control character, a lone surrogate.
        "{\"records\":[{\"recordId\":\"r\",\"data\":\"e30=\u{1}\"}]}".into(),
        "{\"records\":[{\"recordId\":\"r\",\"data\":\"e30=\t\"}]}".into(),
        r#"{"records":[{"recordId":"r","data":"\ud800"}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":"\ud83c\udf2b \u0001 \" é"}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":"\x"}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":"e30=","data":"e30="}]}"#.into(),
        r#"{"records":[{"recordId":"r","recordId":"s","data":"e30="}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":"e30=","approximateArrivalTimestamp":"soon"}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":"e30=","approximateArrivalTimestamp":17}]}"#.into(),
        r#"{"records":[{"recordId":"r","data":"e30=","approximateArrivalTimestamp":null}]}"#.into(),
        r#"{"records":[1]}"#.into(),
        r#"{"records":[{"recordId":"r","data":"e30="}],}"#.into(),
        r#"{"records":[{"recordId":"r","data":"e30="}]"#.into(),
        r#"[]"#.into(),
        r#"null"#.into(),
    ];
    // The one leniency: a raw control character in data that holds an escape too (no JSON writer makes it).
    let raw_and_escaped = "{\"records\":[{\"recordId\":\"r\",\"data\":\"\u{1}\\n\"}]}";
    assert!(serde_json::from_str::<FirehoseEvent>(raw_and_escaped).is_err());
    let (response, report) = transform_decoded(&serde_json::from_str(raw_and_escaped).unwrap(), Partitioning::Arrival);
    assert_eq!(response.json(), r#"{"records":[{"recordId":"r","result":"ProcessingFailed","data":"\u0001\n"}]}"#);
    assert_eq!(report.failed, 1);
    for json in &events {
        let typed = serde_json::from_str::<FirehoseEvent>(json);
        let decoded = serde_json::from_str::<DecodedEvent>(json);
        assert_eq!(decoded.is_ok(), typed.is_ok(), "{json}: {:?} vs {:?}", decoded.err(), typed.err());
        if typed.is_ok() {
            both_partitionings(json);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn generated_batches_are_answered_alike(
        batch in proptest::collection::vec(crate::properties::payload(), 0..12),
        arrivals in proptest::collection::vec(prop_oneof![Just(ARRIVAL_MS), 0..i64::MAX / 1000], 12),
    ) {
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let mut event = event_of(&refs);
        for (record, arrival) in event.records.iter_mut().zip(arrivals) {
            record.approximate_arrival_timestamp = arrival as f64;
        }
        both_partitionings(&serde_json::to_string(&event).unwrap());
    }
}
