//! Throughput of the transform on a ~4 MB Firehose event of 10,000 readings (the target: >= 250 MB/s
//! of record data on one core).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reaqtions_lambda::{FirehoseEvent, FirehoseRecord, transform_event};

/// 10,000 readings of ~400 bytes, 2,000 records of 5 concatenated readings (as producers batch).
fn event() -> (FirehoseEvent, usize) {
    let mut bytes = 0;
    let records = (0..2_000)
        .map(|r| {
            let data: String = (0..5)
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
                data: B64.encode(data),
            }
        })
        .collect();
    (FirehoseEvent { invocation_id: "bench".into(), records, ..FirehoseEvent::default() }, bytes)
}

fn bench(c: &mut Criterion) {
    let (event, bytes) = event();
    let mut group = c.benchmark_group("transform");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(30);
    group.bench_function(format!("event_10k_readings_{:.1}MB", bytes as f64 / 1e6), |b| {
        b.iter(|| transform_event(std::hint::black_box(&event)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
