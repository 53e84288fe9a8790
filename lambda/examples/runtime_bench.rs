//! Per-batch time of the real `bootstrap` end to end through a Lambda Runtime API stand-in on loopback: from the
//! moment the stand-in answers `invocation/next` with a ~4.1 MB Firehose event of 10,000 readings until the
//! function's response has arrived (receive, parse, transform, serialize, send). The transform's own share comes
//! from the function's summary log line (`duration_us`); beside them, the function's CPU time a batch, its init
//! (started to its first call for an event) and its peak RSS. The function exits by itself after the last batch,
//! so it can run under valgrind: a script that `exec`s `valgrind --tool=cachegrind <bootstrap>` given as the
//! binary, at two invocation counts, gives the instructions of one batch end to end as the difference.
//!
//! `cargo build --profile lambda -p reaqtions-lambda --bin bootstrap`, then
//! `cargo run --release -p reaqtions-lambda --example runtime_bench -- [target/lambda/bootstrap] [invocations]`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request on a keep-alive connection: method, path, body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, body))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The stand-in: serves `body` to the first `invocations` calls of `invocation/next` and reports, per invocation,
/// the time from sending the event to receiving the response. The call after those finds its connection closed,
/// and the runtime exits: the function ends by itself (so a tool it runs under, such as valgrind, writes its
/// results). Sockets are TCP_NODELAY, as a runtime's are, so no delayed ACK stalls a batch.
/// The function's peak resident memory is read (from `pid`, once known) as each response arrives, before it is
/// acknowledged, so the function is still running.
fn serve(listener: TcpListener, body: String, invocations: usize, pid: Arc<AtomicU32>, seen: mpsc::Sender<Seen>) {
    let served = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (body, seen, served, pid) = (body.clone(), seen.clone(), served.clone(), pid.clone());
        std::thread::spawn(move || {
            stream.set_nodelay(true).expect("nodelay");
            let mut writer = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            let mut sent_at = Instant::now();
            while let Some((method, path, _)) = read_request(&mut reader) {
                if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    if n >= invocations {
                        return;
                    }
                    if n == 0 && seen.send(Seen::FirstCall(Instant::now())).is_err() {
                        return;
                    }
                    let deadline = std::time::SystemTime::now() + Duration::from_secs(300);
                    let ms = deadline.duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Lambda-Runtime-Aws-Request-Id: req-{n}\r\nLambda-Runtime-Deadline-Ms: {ms}\r\n\
                         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-west-1:1:function:f\r\n\r\n",
                        body.len()
                    );
                    sent_at = Instant::now();
                    writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(body.as_bytes())).expect("send");
                } else {
                    if path.ends_with("/response") {
                        let took = sent_at.elapsed();
                        if seen.send(Seen::Response(took, peak_rss_kb(pid.load(Ordering::SeqCst)))).is_err() {
                            return;
                        }
                    }
                    writer.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n").expect("ack");
                }
            }
        });
    }
}

/// What the stand-in sees of the function.
enum Seen {
    /// Its first call of `invocation/next`: it is initialized.
    FirstCall(Instant),
    /// A response, this long after its event was sent, and the function's peak RSS then (kB).
    Response(Duration, u64),
}

/// The peak resident set of process `pid` (`VmHWM`), in kB; 0 when unknown.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    hwm.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

/// Batches left out of the figures: the first ones warm the allocator and caches, as a Lambda's first do.
const WARM_UP: usize = 3;

/// User and system CPU time of process `pid` so far, in seconds (Linux `/proc`, clock ticks of 10 ms).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name (in parentheses, which may hold spaces): utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    ticks as f64 / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args.next().unwrap_or_else(|| "target/lambda/bootstrap".into());
    let invocations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(40).max(WARM_UP + 1);
    let (event, bytes) = reaqtions_lambda::sample::benchmark_event(10_000);
    let body = serde_json::to_string(&event).expect("event");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    let json_mb = body.len() as f64 / 1e6;
    let pid = Arc::new(AtomicU32::new(0));
    let server_pid = pid.clone();
    std::thread::spawn(move || serve(listener, body, invocations, server_pid, tx));
    let started = Instant::now();
    let mut child = Command::new(&binary)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "reaqtions-data-transformation")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "eu-west-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} ({e}): build it first (see the module docs)"));
    let stdout = child.stdout.take().expect("stdout");
    let logs = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .filter_map(|v| v["fields"]["duration_us"].as_u64().or(v["duration_us"].as_u64()))
            .collect::<Vec<u64>>()
    });
    pid.store(child.id(), Ordering::SeqCst);
    let mut cpu_after_warm_up = 0.0;
    let (mut init, mut peak_rss) = (Duration::ZERO, 0);
    let mut times = Vec::with_capacity(invocations);
    while times.len() < invocations {
        match rx.recv_timeout(Duration::from_secs(120)).expect("the function in time") {
            Seen::FirstCall(at) => init = at - started,
            Seen::Response(took, rss) => {
                times.push(took);
                peak_rss = peak_rss.max(rss);
                if times.len() == WARM_UP {
                    cpu_after_warm_up = cpu_seconds(child.id());
                }
            }
        }
    }
    let cpu_steady = cpu_seconds(child.id()) - cpu_after_warm_up;
    // The function exits on the stand-in's last answer; a stuck one is stopped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let transform = logs.join().unwrap_or_default();
    // The first batches warm the allocator and caches, as the first invocations of a Lambda do.
    let mut steady: Vec<Duration> = times.iter().skip(WARM_UP).copied().collect();
    steady.sort_unstable();
    let mut transform_steady: Vec<u64> = transform.iter().skip(WARM_UP).copied().collect();
    transform_steady.sort_unstable();
    let median_transform = transform_steady.get(transform_steady.len() / 2).copied().unwrap_or(0);
    let median = percentile(&steady, 0.5);
    println!("event: {:.2} MB of record data, {json_mb:.2} MB of JSON, 10,000 readings", bytes as f64 / 1e6);
    println!(
        "the function: init {:.1} ms (started to its first call for an event), peak RSS {:.1} MB",
        init.as_secs_f64() * 1e3,
        peak_rss as f64 / 1024.0
    );
    println!(
        "end to end through the Runtime API: median {:.2} ms, p90 {:.2} ms, min {:.2} ms ({} batches after {WARM_UP} \
         warm-up); the function's CPU {:.2} ms a batch",
        median.as_secs_f64() * 1e3,
        percentile(&steady, 0.9).as_secs_f64() * 1e3,
        steady[0].as_secs_f64() * 1e3,
        steady.len(),
        cpu_steady * 1e3 / steady.len() as f64
    );
    println!(
        "of which the transform: median {:.2} ms; receive, parse, serialize and send: {:.2} ms",
        median_transform as f64 / 1e3,
        median.as_secs_f64() * 1e3 - median_transform as f64 / 1e3
    );
}
