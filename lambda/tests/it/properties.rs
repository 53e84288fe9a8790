//! Property: arbitrary bytes in arbitrary batches never panic and keep the contract.

use proptest::prelude::*;
use reaqtions_lambda::{TransformResult, transform_event};
use serde_json::Value;

use crate::{decode, event_of};

/// Bytes that are sometimes readings, sometimes garbage, sometimes a mix.
fn payload() -> impl Strategy<Value = Vec<u8>> {
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
    fn batches_keep_ids_order_and_valid_results(batch in proptest::collection::vec(payload(), 0..12)) {
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let event = event_of(&refs);
        let (response, report) = transform_event(&event);
        prop_assert_eq!(response.records.len(), event.records.len());
        for (input, output) in event.records.iter().zip(&response.records) {
            prop_assert_eq!(&input.record_id, &output.record_id);
            match output.result {
                TransformResult::Ok => {
                    let text = String::from_utf8(decode(&output.data)).unwrap();
                    prop_assert!(text.ends_with('\n'));
                    for line in text.lines() {
                        prop_assert!(serde_json::from_str::<Value>(line).unwrap().is_object());
                    }
                }
                TransformResult::Dropped => prop_assert!(decode(&output.data).is_empty()),
                TransformResult::ProcessingFailed => prop_assert_eq!(&output.data, &input.data),
            }
        }
        prop_assert_eq!(report.ok + report.dropped + report.failed, report.records);
    }
}
