//! Integration tests of the transformation Lambda: the transform's rules, its properties, and the real
//! `bootstrap` binary against a local stand-in of the Lambda Runtime API.

mod decoded;
mod metric_filter;
mod properties;
mod reading_time;
mod rules;
mod runtime;

use base64_simd::STANDARD as B64;
use reaqtions_lambda::{FirehoseEvent, FirehoseRecord};

pub const ARRIVAL_MS: i64 = 1_795_640_400_123;
pub const ARRIVAL_TEXT: &str = "2026-11-25T21:00:00.123Z";

/// An event with one record per payload, record ids `r0`, `r1`, ...
pub fn event_of(payloads: &[&[u8]]) -> FirehoseEvent {
    FirehoseEvent {
        invocation_id: "test-invocation".into(),
        records: payloads
            .iter()
            .enumerate()
            .map(|(i, p)| FirehoseRecord {
                record_id: format!("r{i}"),
                approximate_arrival_timestamp: ARRIVAL_MS as f64,
                data: B64.encode_to_string(p),
            })
            .collect(),
        ..FirehoseEvent::default()
    }
}

pub fn decode(data: &str) -> Vec<u8> {
    B64.decode_to_vec(data).expect("response data is base64")
}

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
