//! Benchmarks of the local target (run in release): `cargo run --release --example bench -- [simulate|report]`.
//!
//! simulate: holds 1k, 10k, 100k and 150k readings/s for a few seconds each through the local delivery stream and
//! prints the achieved rate, its accuracy and the process CPU time. report: fills a lake with 200,000 readings and
//! measures rows/s of a CSV report (written to a sink) and of the per-device summary.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reaqtions::local::LocalTarget;
use reaqtions::report::columns::Columns;
use reaqtions::report::output::{Format, RowWriter};
use reaqtions::report::summary::Summary;
use reaqtions::report::{Query, for_each_row, select_objects};
use reaqtions::settings::{PipelineSettings, SettingsFile};
use reaqtions::simulate::sender::RetryPolicy;
use reaqtions::simulate::{Plan, run};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn plan(devices: usize, rate: f64, seconds: f64, spool: PathBuf) -> Plan {
    Plan {
        devices,
        rate,
        per_device: (rate * seconds) as u64,
        seed: 1,
        malformed_ratio: 0.0,
        concurrency: 1,
        retry: RetryPolicy::default(),
        spool,
        track: false,
        quiet: true,
    }
}

fn target() -> (tempfile::TempDir, LocalTarget, reaqtions::local::Deployment) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = LocalTarget::new(dir.path());
    let settings = PipelineSettings::resolve(SettingsFile::default()).expect("defaults");
    let (_, deployment) = target.deploy(&settings).expect("deploy");
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

fn report() {
    let (dir, target, deployment) = target();
    let stream = target.start_stream(&deployment).expect("stream");
    let (summary, _) = run(&stream, &plan(1000, 200.0, 1.0, dir.path().join("spool"))).expect("simulate");
    stream.close().expect("flush");
    let lake = target.lake(&deployment.settings.bucket);
    let prefix = reaqtions::prefix::Prefix::parse(&deployment.settings.prefix, false).expect("prefix");
    let objects = select_objects(&lake, &prefix, "", &Query::default()).expect("list");
    println!("lake: {} readings in {} objects", summary.sent, objects.len());
    for concurrency in [1, 4, 8] {
        let started = Instant::now();
        let mut sink = std::io::sink();
        let mut writer = RowWriter::new(Format::Csv, Columns::default(), &mut sink).expect("writer");
        let stats =
            for_each_row(&lake, &objects, &Query::default(), concurrency, |row| writer.write(row)).expect("rows");
        writer.finish().expect("csv");
        let elapsed = started.elapsed();
        println!(
            "report csv, concurrency {concurrency}: {} rows in {elapsed:.2?} = {:.0} rows/s",
            stats.rows,
            rate(stats.rows, elapsed)
        );
    }
    let started = Instant::now();
    let mut summary = Summary::default();
    let stats = for_each_row(&lake, &objects, &Query::default(), 8, |row| {
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

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    if which.is_empty() || which == "simulate" {
        simulate();
    }
    if which.is_empty() || which == "report" {
        report();
    }
}
