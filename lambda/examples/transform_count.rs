//! A steady loop for counting instructions rather than timing: transforms the 10,000-reading benchmark event
//! `runs` times — the typed event in either partitioning (`arrival`, `event`), or the bootstrap's way
//! (`decoded`: the decoded event in, the response's data written once) — so `valgrind --tool=cachegrind` (or
//! `perf stat -e instructions`) at two values of `runs` gives the cost of one batch as the difference, whatever
//! else the machine is doing. It also prints wall and CPU time a batch.
//!
//! `cargo build --profile bench -p reaqtions-lambda --example transform_count`, then
//! `valgrind --tool=cachegrind --cache-sim=no target/release/examples/transform_count arrival 1` (and `11`).

use reaqtions_lambda::{DecodedEvent, FirehoseEvent, Partitioning, transform_decoded, transform_event};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "arrival".into());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    reaqtions_lambda::keep_freed_memory();
    let (event, _) = reaqtions_lambda::sample::benchmark_event(10_000);
    let (wall, cpu) = (std::time::Instant::now(), cpu_seconds());
    let readings = batches(&event, &mode, runs);
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let per_batch = |s: f64| s * 1e3 / runs as f64;
    println!(
        "{runs} batches, {readings} readings: {:.2} ms wall, {:.2} ms CPU a batch",
        per_batch(wall),
        per_batch(cpu)
    );
}

/// User and system CPU time of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The measured loop, apart from building the event (`valgrind --tool=callgrind
/// --toggle-collect='transform_count::batches'` profiles only this).
#[inline(never)]
fn batches(event: &FirehoseEvent, mode: &str, runs: usize) -> usize {
    let decoded = (mode == "decoded").then(|| DecodedEvent::from_event(event));
    let mut readings = 0;
    for _ in 0..runs {
        let report = match (mode, &decoded) {
            ("arrival" | "event", _) => {
                let partitioning = if mode == "event" { Partitioning::Event } else { Partitioning::Arrival };
                let (response, report) = transform_event(std::hint::black_box(event), partitioning);
                std::hint::black_box(response);
                report
            }
            (_, Some(decoded)) => {
                let (response, report) = transform_decoded(std::hint::black_box(decoded), Partitioning::Arrival);
                std::hint::black_box(response);
                report
            }
            (other, None) => panic!("`{other}`: expected `arrival`, `event` or `decoded`"),
        };
        readings += report.readings;
    }
    readings
}
