//! Benchmarks (run in release): `cargo run --release --example bench -- [simulate|report|pack|mqtt|aws-simulate|aws-report N]`.
//!
//! simulate: holds 1k, 10k, 100k and 150k readings/s for a few seconds each through the local delivery stream and
//! prints the achieved rate, its accuracy and the process CPU time.
//!
//! stream [event|arrival|both] [RUNS] [--backlog]: 1,000,000 readings at 100,000/s (1,000 devices at 100/s for
//! 10 s) through the local delivery stream of a pipeline of each layout (`partitioning`; default both), runs
//! alternating between the layouts, RUNS of each (default 5): wall seconds (until every object is written), CPU-s
//! and the achieved rate of each run, then the medians side by side. `--backlog` stamps the readings over the day
//! before (one per device every 86.4 s), so the event layout keeps 24 hours open at once.
//!
//! partitions: 1,000,000 readings spread over 500 hours (one per hour, round after round) through a partitioned
//! local stream, so 500 partitions stay open: the most its buffers held (the heap budget at work), the objects
//! written and the peak RSS. report: fills a lake with 200,000 readings, gzip
//! then plain, and measures bytes per reading in the lake and rows/s of a CSV report (written to a sink) and of
//! the per-device summary over each.
//!
//! mqtt: readings/s through the local MQTT broker into the lake (one connection per device, QoS 1, the topic
//! rule, the local stream and the transform, all in this process), the CPU per 100k readings, and a count of the
//! lake's processed lines.
//!
//! html: a report page for 1,000,000 readings from 100 devices over one day: rows/s made, parsed and gathered into
//! buckets, the time to write the page, its size, the peak RSS, and the time headless chromium takes to render it
//! (when there). Peak RSS figures want the binary run directly (`target/release/examples/bench html`): through
//! `cargo run`, Linux carries cargo's own peak into the child's.
//!
//! copies: CPU-s of a CSV report and of the summary over the report bench's lake, dropping copies of a reading and
//! keeping them (`--keep-duplicates`), alternating, medians of seven; and the seen-set's bytes per reading.
//!
//! picture FILE: the README's picture — the page of a day of readings from twelve devices, one a minute each, written
//! to FILE (then `chromium --headless --screenshot=docs/report-page.png --window-size=1280,1800 file://FILE`).
//!
//! aws-simulate and aws-report run against the endpoint in AWS_ENDPOINT_URL (start `moto_server -p 5055` and set
//! AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x):
//! aws-simulate sends 100,000 readings through PutRecordBatch and prints readings/s and CPU seconds; aws-report N
//! writes N objects of 100 readings to a bucket and reports them as CSV, printing rows/s and the peak RSS.

#[path = "bench/layouts.rs"]
mod layouts;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reaqtions::compression::Compression;
use reaqtions::local::LocalTarget;
use reaqtions::report::columns::Columns;
use reaqtions::report::summary::DeviceSummary;
use reaqtions::report::writer::{Format, RowWriter};
use reaqtions::report::{Query, for_each_row, select_objects};
use reaqtions::settings::{PipelineSettings, SettingsInput};
use reaqtions::simulate::device::sample_ratio;
use reaqtions::simulate::{Plan, run};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn plan(devices: usize, rate: f64, seconds: f64, spool: PathBuf) -> Plan {
    Plan::new(devices, rate, (rate * seconds) as u64, spool)
}

fn target() -> (tempfile::TempDir, LocalTarget, reaqtions::local::Deployment) {
    target_with(Compression::default())
}

fn target_with(compression: Compression) -> (tempfile::TempDir, LocalTarget, reaqtions::local::Deployment) {
    target_of(SettingsInput { compression: Some(compression), ..SettingsInput::default() })
}

fn target_of(input: SettingsInput) -> (tempfile::TempDir, LocalTarget, reaqtions::local::Deployment) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = LocalTarget::new(dir.path());
    let settings = PipelineSettings::resolve(input).expect("defaults");
    let deployment = target.deploy(&settings).expect("deploy").deployment;
    (dir, target, deployment)
}

fn simulate() {
    println!(
        "{:>10} {:>8} {:>12} {:>10} {:>14} {:>16}",
        "target/s", "devices", "achieved/s", "accuracy", "readings", "CPU s/100k"
    );
    for (devices, rate) in [(100, 10.0), (1000, 10.0), (1000, 100.0), (1500, 100.0)] {
        let (dir, target, deployment) = target();
        let stream = target.start_stream(&deployment).expect("stream");
        let cpu = cpu_seconds();
        let (summary, _) = run(&stream, &plan(devices, rate, 5.0, dir.path().join("spool"))).expect("simulate");
        stream.close().expect("flush");
        let cpu = cpu_seconds() - cpu;
        println!(
            "{:>10.0} {:>8} {:>12.0} {:>9.2}% {:>14} {:>16.3}",
            summary.target_rate,
            devices,
            summary.readings_per_second,
            summary.rate_accuracy_percent,
            summary.sent,
            cpu / summary.sent as f64 * 100_000.0
        );
    }
}

/// CPU per reading sent packed (5 KB records) and one reading per record, through the local stream.
fn pack() {
    println!("{:>12} {:>10} {:>10} {:>14} {:>16}", "mode", "readings", "records", "billed MB", "CPU s/100k");
    for (label, record_bytes) in [("packed", reaqtions::simulate::DEFAULT_RECORD_BYTES), ("unpacked", 0)] {
        let (dir, target, deployment) = target();
        let stream = target.start_stream(&deployment).expect("stream");
        let cpu = cpu_seconds();
        let plan = Plan { record_bytes, ..plan(1000, 100.0, 3.0, dir.path().join("spool")) };
        let (summary, _) = run(&stream, &plan).expect("simulate");
        stream.close().expect("flush");
        let cpu = cpu_seconds() - cpu;
        println!(
            "{label:>12} {:>10} {:>10} {:>14.1} {:>16.3}",
            summary.sent,
            summary.records.records,
            summary.records.billed_bytes as f64 / 1e6,
            cpu / summary.sent as f64 * 100_000.0
        );
    }
}

/// Readings through the local broker into the lake.
fn mqtt() {
    use reaqtions::mqtt::sink::MqttSink;
    use reaqtions::seams::{MqttAccess, Pipeline as _};
    println!(
        "{:>10} {:>8} {:>12} {:>10} {:>10} {:>8} {:>12} {:>16}",
        "target/s", "devices", "achieved/s", "accuracy", "readings", "resent", "in the lake", "CPU s/100k"
    );
    for (devices, rate) in [(100, 100.0), (500, 60.0), (500, 100.0), (1000, 100.0)] {
        let (dir, target, _) = target();
        let pipeline = target.open().expect("open");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let access = MqttAccess {
            broker: Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
            devices,
            ..MqttAccess::default()
        };
        let cpu = cpu_seconds();
        let sink = MqttSink::new(pipeline.mqtt(&access).expect("broker")).expect("sink");
        let plan = Plan {
            record_bytes: 0,
            concurrency: 8,
            mqtt: Some(access),
            ..plan(devices, rate, 4.0, dir.path().join("spool"))
        };
        let (summary, _) = run(&sink, &plan).expect("simulate");
        drop(sink);
        let cpu = cpu_seconds() - cpu;
        let lines = lake_lines(&dir.path().join("lake"));
        if !summary.errors.is_empty() {
            eprintln!("errors: {:?}", summary.errors);
        }
        println!(
            "{:>10.0} {:>8} {:>12.0} {:>9.2}% {:>10} {:>8} {:>12} {:>16.3}",
            summary.target_rate,
            devices,
            summary.readings_per_second,
            summary.rate_accuracy_percent,
            summary.accepted,
            summary.retried,
            lines,
            cpu / summary.sent as f64 * 100_000.0
        );
    }
}

/// Lines in the lake's processed objects.
fn lake_lines(dir: &std::path::Path) -> u64 {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            n += lake_lines(&path);
        } else if path.to_string_lossy().contains("/processed/") {
            // Objects are gzip by default: count the lines of what they hold, as every reader decides by the bytes.
            let key = path.to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).ok().and_then(|b| reaqtions::compression::decoded(b, &key).ok());
            n += bytes.map_or(0, |b| b.iter().filter(|c| **c == b'\n').count() as u64);
        }
    }
    n
}

fn report() {
    for compression in [Compression::Gzip, Compression::None] {
        report_over(compression);
    }
    println!("gzip ratio measured on a sample of simulated readings: {:.2}x", sample_ratio(Compression::Gzip));
}

fn report_over(compression: Compression) {
    let (dir, target, deployment) = target_with(compression);
    let stream = target.start_stream(&deployment).expect("stream");
    let (summary, _) = run(&stream, &plan(1000, 200.0, 1.0, dir.path().join("spool"))).expect("simulate");
    stream.close().expect("flush");
    let lake = target.lake(&deployment.settings.bucket);
    let prefix = reaqtions::prefix::Prefix::parse(&deployment.settings.prefix, false).expect("prefix");
    let objects = select_objects(&lake, &prefix, "", &Query::default()).expect("list");
    let bytes: u64 = objects.iter().map(|o| o.size).sum();
    println!(
        "lake ({compression:?}): {} readings in {} objects, {bytes} bytes = {:.1} bytes/reading",
        summary.sent,
        objects.len(),
        bytes as f64 / summary.sent.max(1) as f64
    );
    for concurrency in [1, 4, 8] {
        let started = Instant::now();
        let mut sink = std::io::sink();
        let mut writer = RowWriter::new(Format::Csv, Columns::default(), &mut sink).expect("writer");
        let stats = for_each_row(&lake, &objects, &Query::default(), concurrency, &mut |_| {}, |row, line| {
            writer.write_line(row, line)
        })
        .expect("rows");
        writer.finish().expect("csv");
        let elapsed = started.elapsed();
        println!(
            "report csv, concurrency {concurrency}: {} rows in {elapsed:.2?} = {:.0} rows/s",
            stats.rows,
            rate(stats.rows, elapsed)
        );
    }
    let started = Instant::now();
    let mut summary = DeviceSummary::default();
    let stats = for_each_row(&lake, &objects, &Query::default(), 8, &mut |_| {}, |row, _| {
        summary.add(&row);
        Ok(())
    })
    .expect("rows");
    let elapsed = started.elapsed();
    println!("report --summary: {} rows in {elapsed:.2?} = {:.0} rows/s", stats.rows, rate(stats.rows, elapsed));
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn peak_rss_mb() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

fn aws() -> reaqtions::aws::Aws {
    let args = reaqtions::aws::ConnectOptions {
        profile: None,
        region: None,
        endpoint_url: std::env::var("AWS_ENDPOINT_URL").ok(),
    };
    reaqtions::aws::Aws::connect(&args).expect("AWS configuration (see the module docs)")
}

fn aws_simulate() {
    use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration};
    let aws = aws();
    let bucket = format!("bench-{}", uuid::Uuid::new_v4());
    let stream = format!("bench-{}", uuid::Uuid::new_v4());
    aws.block_on(aws.s3().create_bucket().bucket(&bucket).send()).expect("bucket");
    let destination = ExtendedS3DestinationConfiguration::builder()
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .role_arn("arn:aws:iam::123456789012:role/bench")
        .build()
        .expect("destination");
    let create = aws
        .firehose()
        .create_delivery_stream()
        .delivery_stream_name(&stream)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(destination)
        .send();
    aws.block_on(create).expect("stream");
    let sink = reaqtions::aws::firehose::FirehoseSink::new(aws.firehose(), &stream, aws.handle());
    let dir = tempfile::tempdir().expect("temp dir");
    for concurrency in [1, 4, 8] {
        let mut plan = plan(100, 1000.0, 1.0, dir.path().join("spool"));
        plan.concurrency = concurrency;
        let cpu = cpu_seconds();
        let (summary, _) = run(&sink, &plan).expect("simulate");
        let cpu = cpu_seconds() - cpu;
        println!(
            "PutRecordBatch, {concurrency} in flight: {} readings in {:.2} s = {:.0} readings/s, {} calls, CPU {:.3} s per 100k",
            summary.accepted,
            summary.elapsed_seconds,
            summary.accepted as f64 / summary.elapsed_seconds,
            summary.calls,
            cpu / summary.sent as f64 * 100_000.0
        );
    }
}

fn aws_report(objects: usize) {
    let aws = aws();
    let bucket = format!("bench-{}", uuid::Uuid::new_v4());
    let s3 = aws.s3();
    aws.block_on(s3.create_bucket().bucket(&bucket).send()).expect("bucket");
    let mut device = reaqtions::simulate::device::SimulatedDevice::new(0, 1);
    let time = reaqtions::simulate::device::format_time(chrono::Utc::now());
    let body: Vec<u8> = (0..100)
        .flat_map(|_| {
            let mut out = Vec::new();
            device.next_reading(&time, "bench", &mut out);
            out
        })
        .collect();
    let started = Instant::now();
    aws.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..objects {
            let (s3, bucket, body) = (s3.clone(), bucket.clone(), body.clone());
            set.spawn(async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(format!("processed/2026/11/25/21/obj-{i:06}"))
                    .body(body.into())
                    .send()
                    .await
            });
            if set.len() >= 32 {
                set.join_next().await.expect("task").expect("join").expect("put");
            }
        }
        while let Some(r) = set.join_next().await {
            r.expect("join").expect("put");
        }
    });
    println!(
        "wrote {objects} objects of 100 readings in {:.2?}; peak RSS so far {:.1} MB",
        started.elapsed(),
        peak_rss_mb()
    );
    let lake = reaqtions::aws::s3::S3Lake::new(s3, &bucket, None, aws.handle());
    let prefix = reaqtions::prefix::Prefix::parse("processed/", false).expect("prefix");
    let started = Instant::now();
    let listed = select_objects(&lake, &prefix, "", &Query::default()).expect("list");
    let mut sink = std::io::sink();
    let mut writer = RowWriter::new(Format::Csv, Columns::default(), &mut sink).expect("writer");
    let stats =
        for_each_row(&lake, &listed, &Query::default(), 32, &mut |_| {}, |row, line| writer.write_line(row, line))
            .expect("rows");
    writer.finish().expect("csv");
    let elapsed = started.elapsed();
    println!(
        "report csv from {} objects, 32 in flight: {} rows in {elapsed:.2?} = {:.0} rows/s; peak RSS {:.1} MB",
        listed.len(),
        stats.rows,
        rate(stats.rows, elapsed),
        peak_rss_mb()
    );
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    if which == "aws-simulate" {
        return aws_simulate();
    }
    if which == "picture" {
        let file = std::env::args().nth(2).expect("picture FILE");
        return picture(std::path::Path::new(&file));
    }
    if which == "aws-report" {
        let n = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
        return aws_report(n);
    }
    if which == "stream" {
        let args: Vec<String> = std::env::args().skip(2).collect();
        return layouts::stream_layouts(&args);
    }
    if which == "partitions" {
        return layouts::partitions();
    }
    if which.is_empty() || which == "simulate" {
        simulate();
    }
    if which.is_empty() || which == "report" {
        report();
    }
    if which.is_empty() || which == "pack" {
        pack();
    }
    if which.is_empty() || which == "mqtt" {
        mqtt();
    }
    if which.is_empty() || which == "html" {
        html();
    }
    if which.is_empty() || which == "copies" {
        copies();
    }
}

/// copies: what dropping copies of a reading costs `report` on the report bench's lake (200,000 readings, gzip):
/// CPU-s of a CSV report and of the summary, with and without it (`--keep-duplicates`), runs alternating, medians
/// of seven; then the seen-set's heap per reading.
fn copies() {
    let (dir, target, deployment) = target();
    let stream = target.start_stream(&deployment).expect("stream");
    run(&stream, &plan(1000, 200.0, 1.0, dir.path().join("spool"))).expect("simulate");
    stream.close().expect("flush");
    let lake = target.lake(&deployment.settings.bucket);
    let prefix = reaqtions::prefix::Prefix::parse(&deployment.settings.prefix, false).expect("prefix");
    let objects = select_objects(&lake, &prefix, "", &Query::default()).expect("list");
    let once = |keep: bool, summary: bool| -> (f64, u64) {
        let query = Query::default().keeping_duplicates(keep);
        let cpu = cpu_seconds();
        let mut sink = std::io::sink();
        let rows = if summary {
            let mut summary = DeviceSummary::default();
            let stats = for_each_row(&lake, &objects, &query, 8, &mut |_| {}, |row, _| {
                summary.add(&row);
                Ok(())
            })
            .expect("rows");
            summary.add_copies(&Default::default());
            stats.rows
        } else {
            let mut writer = RowWriter::new(Format::Csv, Columns::default(), &mut sink).expect("writer");
            let stats = for_each_row(&lake, &objects, &query, 8, &mut |_| {}, |row, line| writer.write_line(row, line))
                .expect("rows");
            writer.finish().expect("csv");
            stats.rows
        };
        (cpu_seconds() - cpu, rows)
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for summary in [false, true] {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for round in 0..7 {
            for keep in if round % 2 == 0 { [false, true] } else { [true, false] } {
                let (cpu, rows) = once(keep, summary);
                assert_eq!(rows, 200_000, "no copies in this lake: the same rows either way");
                if keep { without.push(cpu) } else { with.push(cpu) }
            }
        }
        let (with, without) = (median(with), median(without));
        println!(
            "report {} over 200,000 readings: {with:.3} CPU-s dropping copies, {without:.3} keeping them (median of 7, alternating) = {:+.1} %",
            if summary { "--summary" } else { "csv" },
            (with / without - 1.0) * 100.0
        );
    }
    // The seen-set alone: the time `judge` takes per reading, on top of reading and parsing it.
    let mut seen = reaqtions::copies::Copies::default();
    let mut judging = Duration::ZERO;
    for_each_row(&lake, &objects, &Query::default().keeping_duplicates(true), 8, &mut |_| {}, |row, line| {
        let started = Instant::now();
        seen.judge(&row, line);
        judging += started.elapsed();
        Ok(())
    })
    .expect("rows");
    println!("judging alone: {:.0} ns/reading (timer included)", judging.as_nanos() as f64 / seen.len() as f64);
    println!(
        "seen-set (seq keys): {} readings, {} bytes = {:.1} bytes/reading",
        seen.len(),
        seen.heap_bytes(),
        seen.heap_bytes() as f64 / seen.len() as f64
    );
}

/// The README's picture: a realistic fleet (twelve devices) over a day, one reading a minute each.
fn picture(file: &std::path::Path) {
    use reaqtions::report::html::{Context, Page, write};
    let mut devices: Vec<reaqtions::simulate::device::SimulatedDevice> =
        (0..12).map(|i| reaqtions::simulate::device::SimulatedDevice::new(i, 3)).collect();
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z").unwrap().to_utc();
    let mut page = Page::default();
    let mut bytes = Vec::new();
    for minute in 0..24 * 60 {
        let time = reaqtions::simulate::device::format_time(start + chrono::Duration::minutes(minute));
        for device in &mut devices {
            bytes.clear();
            device.next_reading(&time, "readme00", &mut bytes);
            page.add(&serde_json::from_slice(&bytes).expect("a reading"));
        }
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).expect("picture file"));
    write(
        &page,
        &Context { source: "s3://reaqtions-iot-data-lake-raw/processed/".into(), ..Context::default() },
        &mut out,
    )
    .expect("page");
    println!("picture: a day of readings from 12 devices written to {}", file.display());
}

fn html() {
    use reaqtions::report::html::{Context, Page, write};
    const DEVICES: usize = 100;
    const PER_DEVICE: usize = 10_000;
    let mut devices: Vec<reaqtions::simulate::device::SimulatedDevice> =
        (0..DEVICES).map(|i| reaqtions::simulate::device::SimulatedDevice::new(i, 11)).collect();
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z").unwrap().to_utc();
    let mut page = Page::default();
    let (mut bytes, mut parsing) = (Vec::new(), Duration::ZERO);
    let began = Instant::now();
    for i in 0..PER_DEVICE {
        // Every device once every 8.64 s: a day in 10,000 readings each.
        let time = reaqtions::simulate::device::format_time(start + chrono::Duration::milliseconds(i as i64 * 8640));
        for device in &mut devices {
            bytes.clear();
            device.next_reading(&time, "bench000", &mut bytes);
            let parsing_began = Instant::now();
            let row: reaqtions::report::Row = serde_json::from_slice(&bytes).expect("a reading");
            parsing += parsing_began.elapsed();
            page.add(&row);
        }
    }
    let gathered = began.elapsed();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("page.html");
    let began = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("page file"));
    write(&page, &Context { source: "bench".into(), ..Context::default() }, &mut out).expect("page");
    drop(out);
    let written = began.elapsed();
    let size = std::fs::metadata(&path).expect("page").len();
    let readings = (DEVICES * PER_DEVICE) as f64;
    println!(
        "html: {readings} readings from {DEVICES} devices over a day: gathered at {:.0} rows/s ({:.2} s, of which JSON \
         parsing {:.2} s), page written in {:.2} s, {:.1} MB ({:.0} KB per device), peak RSS {:.0} MB",
        readings / gathered.as_secs_f64(),
        gathered.as_secs_f64(),
        parsing.as_secs_f64(),
        written.as_secs_f64(),
        size as f64 / 1e6,
        size as f64 / 1e3 / DEVICES as f64,
        peak_rss_mb()
    );
    let began = Instant::now();
    let browser = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("file://{}", path.display()))
        .output();
    match browser {
        Ok(o) if o.status.success() => {
            println!("html: headless chromium loaded and rendered it in {:.2} s", began.elapsed().as_secs_f64())
        }
        _ => println!("html: no chromium here to time the render"),
    }
}
