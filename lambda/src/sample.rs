//! Sample Firehose events for benchmarks and load tests (not used by the transform itself).

use base64_simd::STANDARD as B64;

use crate::{FirehoseEvent, FirehoseRecord};

/// `readings` readings of ~370 bytes written as `json.dumps` does, five per record (as producers batch);
/// returns the event and its total record bytes.
pub fn benchmark_event(readings: usize) -> (FirehoseEvent, usize) {
    let mut bytes = 0;
    let records = (0..readings.div_ceil(5))
        .map(|r| {
            let data: String = (0..5.min(readings - r * 5))
                .map(|i| {
                    let n = r * 5 + i;
                    format!(
                        "{{\"device_id\": \"aq-{:04}\", \"seq\": {n}, \"TIME\": \"2026-11-25T21:{:02}:{:02}.123456\", \
                         \"USER_INPUT\": 3, \"NO2\": {:.3}, \"CO\": {:.4}, \"PM01\": {:.2}, \"PM2_5\": {:.2}, \
                         \"PM10\": {:.2}, \"AQI\": {}, \"eCO2\": {}, \"TVOC\": {}, \"P\": {:.2}, \"T\": {:.2}, \
                         \"RH\": {:.2}, \"firmware\": \"v1.4.2-rc1 build 2026-11-01\", \"location\": \
                         {{\"lat\": 52.520008, \"lon\": 13.404954, \"site\": \"Berlin Mitte, rooftop 3\"}}}}",
                        n % 100,
                        (n / 60) % 60,
                        n % 60,
                        12.0 + (n % 7) as f64,
                        0.4 + (n % 5) as f64 / 10.0,
                        3.0 + (n % 3) as f64,
                        8.0 + (n % 11) as f64,
                        15.0 + (n % 13) as f64,
                        40 + n % 50,
                        400 + n % 600,
                        100 + n % 300,
                        1013.25 - (n % 20) as f64,
                        21.5 + (n % 10) as f64 / 10.0,
                        45.0 + (n % 30) as f64,
                    )
                })
                .collect();
            bytes += data.len();
            FirehoseRecord {
                record_id: format!("49546986683135544286507457936321625675700192471156785154{r:06}"),
                approximate_arrival_timestamp: 1_795_640_400_123.0,
                data: B64.encode_to_string(data),
            }
        })
        .collect();
    (FirehoseEvent { invocation_id: "bench".into(), records, ..FirehoseEvent::default() }, bytes)
}
