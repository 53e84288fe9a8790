//! Throughput of the transform on a ~4 MB Firehose event of 10,000 readings (the target: >= 250 MB/s
//! of record data on one core): the typed event and response, both partitionings, and the bootstrap's way (the
//! decoded event in, the response JSON out).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reaqtions_lambda::sample::benchmark_event;
use reaqtions_lambda::{DecodedEvent, Partitioning, transform_decoded, transform_event};

fn bench(c: &mut Criterion) {
    // As the `bootstrap` binary does.
    reaqtions_lambda::keep_freed_memory();
    let (event, bytes) = benchmark_event(10_000);
    let mut group = c.benchmark_group("transform");
    group.throughput(Throughput::BytesDecimal(bytes as u64));
    group.sample_size(30);
    group.bench_function(format!("event_10k_readings_{:.1}MB", bytes as f64 / 1e6), |b| {
        b.iter(|| transform_event(std::hint::black_box(&event), Partitioning::Arrival))
    });
    group.bench_function(format!("event_10k_readings_{:.1}MB_partitioned", bytes as f64 / 1e6), |b| {
        b.iter(|| transform_event(std::hint::black_box(&event), Partitioning::Event))
    });
    // What the bootstrap runs: the event decoded as it was parsed, the response JSON written once.
    let decoded = DecodedEvent::from_event(&event);
    group.bench_function(format!("decoded_10k_readings_{:.1}MB_response_json", bytes as f64 / 1e6), |b| {
        b.iter(|| transform_decoded(std::hint::black_box(&decoded), Partitioning::Arrival))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
