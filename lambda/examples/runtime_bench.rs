//! Per-batch time of the real `bootstrap` end to end through a Lambda Runtime API stand-in on loopback: from the
//! moment the stand-in answers `invocation/next` with a ~4.1 MB Firehose event of 10,000 readings until the
//! function's response has arrived (receive, parse, transform, serialize, send). The transform's own share comes
//! from the function's summary log line (`duration_us`).
//!
//! `cargo build --profile lambda -p reaqtions-lambda --bin bootstrap`, then
//! `cargo run --release -p reaqtions-lambda --example runtime_bench -- [target/lambda/bootstrap] [invocations]`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
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

/// The stand-in: serves `body` to every `invocation/next` and reports, per invocation, the time from sending the
/// event to receiving the response. Sockets are TCP_NODELAY, as a runtime's are, so no delayed ACK stalls a batch.
fn serve(listener: TcpListener, body: String, times: mpsc::Sender<Duration>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (body, times) = (body.clone(), times.clone());
        std::thread::spawn(move || {
            stream.set_nodelay(true).expect("nodelay");
            let mut writer = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            let mut sent_at = Instant::now();
            let mut n = 0;
            while let Some((method, path, _)) = read_request(&mut reader) {
                if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
                    let deadline = std::time::SystemTime::now() + Duration::from_secs(300);
                    let ms = deadline.duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Lambda-Runtime-Aws-Request-Id: req-{n}\r\nLambda-Runtime-Deadline-Ms: {ms}\r\n\
                         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-west-1:1:function:f\r\n\r\n",
                        body.len()
                    );
                    n += 1;
                    sent_at = Instant::now();
                    writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(body.as_bytes())).expect("send");
                } else {
                    if path.ends_with("/response") && times.send(sent_at.elapsed()).is_err() {
                        return;
                    }
                    writer.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n").expect("ack");
                }
            }
        });
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args.next().unwrap_or_else(|| "target/lambda/bootstrap".into());
    let invocations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(40);
    let (event, bytes) = reaqtions_lambda::sample::benchmark_event(10_000);
    let body = serde_json::to_string(&event).expect("event");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    let json_mb = body.len() as f64 / 1e6;
    std::thread::spawn(move || serve(listener, body, tx));
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
    let times: Vec<Duration> =
        (0..invocations).map(|_| rx.recv_timeout(Duration::from_secs(30)).expect("a response in time")).collect();
    let _ = child.kill();
    let _ = child.wait();
    let transform = logs.join().unwrap_or_default();
    // The first batches warm the allocator and caches, as the first invocations of a Lambda do.
    let mut steady: Vec<Duration> = times.iter().skip(3).copied().collect();
    steady.sort_unstable();
    let mut transform_steady: Vec<u64> = transform.iter().skip(3).copied().collect();
    transform_steady.sort_unstable();
    let median_transform = transform_steady.get(transform_steady.len() / 2).copied().unwrap_or(0);
    let median = percentile(&steady, 0.5);
    println!("event: {:.2} MB of record data, {json_mb:.2} MB of JSON, 10,000 readings", bytes as f64 / 1e6);
    println!(
        "end to end through the Runtime API: median {:.2} ms, p90 {:.2} ms, min {:.2} ms ({} batches after 3 warm-up)",
        median.as_secs_f64() * 1e3,
        percentile(&steady, 0.9).as_secs_f64() * 1e3,
        steady[0].as_secs_f64() * 1e3,
        steady.len()
    );
    println!(
        "of which the transform: median {:.2} ms; receive, parse, serialize and send: {:.2} ms",
        median_transform as f64 / 1e3,
        median.as_secs_f64() * 1e3 - median_transform as f64 / 1e3
    );
}
