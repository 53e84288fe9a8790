//! Property: arbitrary bytes in arbitrary batches never panic and keep the contract.

use proptest::prelude::*;
use reaqtions_lambda::{Partitioning, TransformResult, transform_event};
use serde_json::Value;

use crate::{decode, event_of};

/// Bytes that are sometimes readings, sometimes garbage, sometimes a mix.
pub(crate) fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "[ -~\n]{0,120}".prop_map(String::into_bytes),
        (proptest::collection::vec((any::<u32>(), any::<f64>(), "[a-z ]{0,8}"), 1..4), "[ \n]{0,2}").prop_map(
            |(readings, sep)| {
                readings
                    .iter()
                    .map(|(seq, no2, tag)| {
                        let no2 = if no2.is_finite() { no2.to_string() } else { "null".into() };
                        format!("{{\"seq\":{seq},\"NO2\":{no2},\"tag\":\"{tag}\"}}")
                    })
                    .collect::<Vec<_>>()
                    .join(&sep)
                    .into_bytes()
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn batches_keep_ids_order_and_valid_results(
        batch in proptest::collection::vec(payload(), 0..12),
        partitioning in prop_oneof![Just(Partitioning::Arrival), Just(Partitioning::Event)],
    ) {
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let event = event_of(&refs);
        let (response, report) = transform_event(&event, partitioning);
        prop_assert_eq!(response.records.len(), event.records.len());
        for (input, output) in event.records.iter().zip(&response.records) {
            prop_assert_eq!(&input.record_id, &output.record_id);
            match output.result {
                TransformResult::Ok => {
                    prop_assert_eq!(output.metadata.is_some(), partitioning == Partitioning::Event);
                    let text = String::from_utf8(decode(&output.data)).unwrap();
                    prop_assert!(text.ends_with('\n'));
                    for line in text.lines() {
                        prop_assert!(serde_json::from_str::<Value>(line).unwrap().is_object());
                    }
                }
                TransformResult::Dropped => prop_assert!(decode(&output.data).is_empty()),
                TransformResult::ProcessingFailed => prop_assert_eq!(&output.data, &input.data),
            }
            prop_assert!(output.result == TransformResult::Ok || output.metadata.is_none());
        }
        prop_assert_eq!(report.ok + report.dropped + report.failed + report.spanning_hours, report.records);
    }
}

/// Arbitrary JSON values (keys drawn so that known fields occur).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        "[a-z \\\\\"\\n\u{e9}\u{1F32B}]{0,6}".prop_map(Value::String),
        Just(Value::String("2026-11-25T21:00:00.123456".into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (prop_oneof![Just("TIME"), Just("NO2"), Just("seq"), Just("device_id"), Just("x"), Just("é")], inner),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// JSON text, valid or with one byte changed.
fn json_text() -> impl Strategy<Value = String> {
    (proptest::collection::vec(json_value(), 1..3), any::<bool>(), any::<u8>(), any::<usize>(), 0u8..4).prop_map(
        |(values, pretty, byte, at, mutation)| {
            let mut text: String = values
                .iter()
                .map(|v| if pretty { serde_json::to_string_pretty(v).unwrap() } else { v.to_string() })
                .collect::<Vec<_>>()
                .join("\n");
            let mut bytes = text.clone().into_bytes();
            let at = at % (bytes.len() + 1);
            let token = b"{}[]:,\"\\u0e.-+ tn"[byte as usize % 17];
            match mutation {
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, token),
                3 if at < bytes.len() => bytes[at] = token,
                _ => {}
            }
            if let Ok(mutated) = String::from_utf8(bytes) {
                text = mutated;
            }
            text
        },
    )
}

/// The schema, written independently over serde_json values.
fn reference_accepts(text: &str) -> bool {
    serde_json::Deserializer::from_str(text).into_iter::<Value>().all(|v| match v {
        Ok(Value::Object(map)) => map.iter().all(|(k, v)| match k.as_str() {
            "TIME" => v.as_str().is_some_and(reaqtions_lambda::schema::is_valid_time),
            "device_id" => v.is_string(),
            "seq" => v.is_u64(),
            "_firehose_arrival" | "_reading_time" => false,
            k if reaqtions_lambda::MEASURES.contains(&k) => v.is_number() || v.is_null(),
            _ => true,
        }),
        _ => false,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn scanner_accepts_exactly_what_serde_json_and_the_schema_accept(text in json_text()) {
        let mut out = Vec::new();
        let ours = reaqtions_lambda::transform_record(text.as_bytes(), 0, Partitioning::Arrival, &mut out);
        prop_assert_eq!(ours.is_ok(), reference_accepts(&text), "{:?} -> {:?}", text, ours);
        if ours.is_ok() {
            // The compacted output is the same JSON.
            let sent: Vec<Value> = serde_json::Deserializer::from_str(&text).into_iter().map(Result::unwrap).collect();
            let got: Vec<Value> = std::str::from_utf8(&out).unwrap().lines().map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                let added = v.as_object_mut().unwrap();
                added.remove("_firehose_arrival");
                added.remove("_reading_time");
                v
            }).collect();
            prop_assert_eq!(got, sent);
        }
    }
}

/// A value as a device may write it, beyond JSON: Python's `NaN`/`Infinity` tokens included.
#[derive(Debug, Clone)]
enum Sent {
    Number(String),
    Null,
    NonFinite(&'static str),
    Text(String),
    Time,
    Bool,
}

impl Sent {
    fn render(&self) -> String {
        match self {
            Sent::Number(n) => n.clone(),
            Sent::Null => "null".into(),
            Sent::NonFinite(t) => (*t).into(),
            Sent::Text(s) => serde_json::to_string(s).unwrap(),
            Sent::Time => "\"2026-11-25T21:00:00.123456\"".into(),
            Sent::Bool => "true".into(),
        }
    }
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        (-1e6f64..1e6).prop_map(|f| Sent::Number(f.to_string())),
        (0u64..1000).prop_map(|n| Sent::Number(n.to_string())),
        Just(Sent::Null),
        prop_oneof![Just("NaN"), Just("Infinity"), Just("-Infinity")].prop_map(Sent::NonFinite),
        "[a-z]{0,4}".prop_map(Sent::Text),
        Just(Sent::Time),
        Just(Sent::Bool),
    ]
}

/// Readings with keys drawn from a small set (so duplicates are common), an optional BOM first.
fn device_record() -> impl Strategy<Value = (bool, Vec<Vec<(&'static str, Sent)>>)> {
    let key = prop_oneof![
        Just("NO2"),
        Just("PM2_5"),
        Just("AQI"),
        Just("USER_INPUT"),
        Just("TIME"),
        Just("seq"),
        Just("device_id"),
        Just("x"),
    ];
    (any::<bool>(), proptest::collection::vec(proptest::collection::vec((key, sent()), 0..7), 1..3))
}

/// What the rules say a record becomes: `None` if it fails, else the exact lines (before the arrival field).
fn reference_lines(readings: &[Vec<(&'static str, Sent)>]) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    for reading in readings {
        // Each key once, at its first place, with its last value (what json.loads does).
        let mut fields: Vec<(&str, Sent)> = Vec::new();
        for (k, v) in reading {
            match fields.iter_mut().find(|(seen, _)| seen == k) {
                Some(field) => field.1 = v.clone(),
                None => fields.push((k, v.clone())),
            }
        }
        // A non-finite token is JSON nowhere: only a measure may carry it, as a missing value.
        for (k, v) in reading {
            if matches!(v, Sent::NonFinite(_)) && !reaqtions_lambda::MEASURES.contains(k) {
                return None;
            }
        }
        let mut parts = Vec::new();
        for (k, v) in &fields {
            let ok = match *k {
                m if reaqtions_lambda::MEASURES.contains(&m) => {
                    matches!(v, Sent::Number(_) | Sent::Null | Sent::NonFinite(_))
                }
                "TIME" => matches!(v, Sent::Time),
                "device_id" => matches!(v, Sent::Text(_) | Sent::Time),
                "seq" => matches!(v, Sent::Number(n) if n.parse::<u64>().is_ok()),
                _ => true,
            };
            if !ok {
                return None;
            }
            let value = if matches!(v, Sent::NonFinite(_)) { "null".to_owned() } else { v.render() };
            parts.push(format!("\"{k}\":{value}"));
        }
        lines.push(format!("{{{}", parts.join(",")));
    }
    Some(lines)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn what_devices_send_is_kept_as_the_rules_say((bom, readings) in device_record()) {
        let mut raw = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        let text: Vec<String> = readings
            .iter()
            .map(|r| format!("{{{}}}", r.iter().map(|(k, v)| format!("\"{k}\": {}", v.render())).collect::<Vec<_>>().join(", ")))
            .collect();
        raw.extend_from_slice(text.join("\n").as_bytes());
        let mut out = Vec::new();
        let ours = reaqtions_lambda::transform_record(&raw, crate::ARRIVAL_MS, Partitioning::Arrival, &mut out);
        let expected = reference_lines(&readings);
        prop_assert_eq!(ours.is_ok(), expected.is_some(), "{:?} -> {:?}", String::from_utf8_lossy(&raw), ours);
        if let Some(expected) = expected {
            let got = String::from_utf8(out).unwrap();
            // `Sent::Time` is the arrival to the millisecond, so every reading's reading time is the arrival.
            let suffix =
                format!("\"_firehose_arrival\":\"{0}\",\"_reading_time\":\"{0}\"}}", crate::ARRIVAL_TEXT);
            let expected: Vec<String> = expected
                .into_iter()
                .map(|l| if l == "{" { format!("{{{suffix}") } else { format!("{l},{suffix}") })
                .collect();
            prop_assert_eq!(got.lines().collect::<Vec<_>>(), expected);
            for line in got.lines() {
                prop_assert!(serde_json::from_str::<Value>(line).is_ok(), "strict JSON: {}", line);
            }
        }
    }
}
