//! The `stream` and `partitions` benches: the local stream of each layout (`partitioning: event` or `arrival`)
//! side by side, and a partitioned stream holding 500 partitions open (see the bench's module docs for how to run).

use std::time::{Duration, Instant};

use reaqtions::settings::{Partitioning, SettingsInput};
use reaqtions::simulate::run;

use super::{cpu_seconds, peak_rss_mb, plan, target_of};

/// One run of `stream`: (wall s, CPU-s, achieved readings/s, processed objects).
fn million(partitioning: Partitioning, backlog: bool) -> (f64, f64, f64, usize) {
    use reaqtions::seams::ObjectLake as _;
    let (dir, target, deployment) = target_of(SettingsInput { partitioning: Some(partitioning), ..Default::default() });
    let stream = target.start_stream(&deployment).expect("stream");
    let mut plan = plan(1000, 100.0, 10.0, dir.path().join("spool"));
    if backlog {
        let day_before = chrono::Utc::now() - chrono::Duration::days(2);
        let start = day_before.date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let every = Duration::from_millis(86_400);
        plan.timeline = Some(reaqtions::simulate::clock::Timeline { start, every, devices: 1000 });
    }
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let (summary, _) = run(&stream, &plan).expect("simulate");
    stream.close().expect("flush");
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    assert_eq!(summary.accepted, 1_000_000, "every reading accepted");
    // The library's deploy records no layout marker (the command's does): every object holds readings.
    let objects = target.lake(&deployment.settings.bucket).list("processed/").expect("list").len();
    (wall, cpu, summary.readings_per_second, objects)
}

/// `stream [event|arrival|both] [RUNS] [--backlog]`: the layouts side by side, runs alternating.
pub(crate) fn stream_layouts(args: &[String]) {
    let backlog = args.iter().any(|a| a == "--backlog");
    let mut layouts = match args.iter().find(|a| !a.starts_with("--") && a.parse::<usize>().is_err()) {
        None => vec![Partitioning::Event, Partitioning::Arrival],
        Some(a) if a == "both" => vec![Partitioning::Event, Partitioning::Arrival],
        Some(a) => vec![a.parse().unwrap_or_else(|e| panic!("{e}"))],
    };
    let runs: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5);
    println!(
        "1,000,000 readings at 100,000/s through the local stream{}, {runs} runs of each layout, alternating",
        if backlog { " (TIMEs over the day before)" } else { "" }
    );
    println!("{:>8} {:>4} {:>8} {:>8} {:>12} {:>8}", "layout", "run", "wall s", "CPU-s", "achieved/s", "objects");
    let mut results: Vec<(Partitioning, Vec<f64>, Vec<f64>)> =
        layouts.iter().map(|l| (*l, Vec::new(), Vec::new())).collect();
    for round in 0..runs {
        for layout in layouts.clone() {
            let (wall, cpu, achieved, objects) = million(layout, backlog);
            println!("{:>8} {:>4} {wall:>8.2} {cpu:>8.2} {achieved:>12.0} {objects:>8}", layout.name(), round + 1);
            let entry = results.iter_mut().find(|(l, _, _)| *l == layout).expect("a layout run");
            entry.1.push(wall);
            entry.2.push(cpu);
        }
        layouts.reverse();
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (layout, walls, cpus) in &results {
        println!(
            "{}: median wall {:.2} s, median CPU {:.2} s ({} runs)",
            layout.name(),
            median(walls),
            median(cpus),
            walls.len()
        );
    }
}

/// `partitions`: 500 partitions open at once, and the heap their buffers hold.
pub(crate) fn partitions() {
    use reaqtions::seams::{ObjectLake as _, RecordSink as _};
    const HOURS: i64 = 500;
    const ROUNDS: usize = 2000;
    let (_dir, target, deployment) =
        target_of(SettingsInput { partitioning: Some(Partitioning::Event), ..Default::default() });
    let stream = target.start_stream(&deployment).expect("stream");
    let rss_before = peak_rss_mb();
    let first = chrono::Utc::now() - chrono::Duration::hours(HOURS + 2);
    let mut device = reaqtions::simulate::device::SimulatedDevice::new(0, 1);
    // The heap when all 500 first were open, and how many readings each had then.
    let (mut most, mut open, mut one_each) = (0, 0, (0, 0));
    let started = Instant::now();
    for round in 0..ROUNDS {
        let batch: Vec<Vec<u8>> = (0..HOURS)
            .map(|h| {
                let at = first + chrono::Duration::hours(h) + chrono::Duration::milliseconds(round as i64 * 1800);
                let mut out = Vec::new();
                device.next_reading(&reaqtions::simulate::device::format_time(at), "bench", &mut out);
                out
            })
            .collect();
        stream.put_record_batch(&batch).expect("put");
        let held = stream.buffered();
        if held.partitions == HOURS as usize && one_each == (0, 0) {
            one_each = (held.bytes, round + 1);
        }
        most = most.max(held.bytes);
        open = open.max(held.partitions);
    }
    stream.close().expect("flush");
    let objects = target.lake(&deployment.settings.bucket).list("processed/").expect("list").len();
    println!(
        "partitions: {} readings over {HOURS} hours in {:.1} s: {open} partitions open at most; buffers held \
         {} bytes when all {HOURS} first were open ({} readings each), at most {most} bytes ({:.1} MiB) in all; \
         {objects} objects; peak RSS {:.0} MB (before sending {:.0} MB)",
        ROUNDS * HOURS as usize,
        started.elapsed().as_secs_f64(),
        one_each.0,
        one_each.1,
        most as f64 / 1024.0 / 1024.0,
        peak_rss_mb(),
        rss_before
    );
}
