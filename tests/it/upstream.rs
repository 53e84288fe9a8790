//! [`Loopback`], the server every test front runs (a handler answers each request, read whole); forwarding one
//! request from a front to the server behind it (moto) over plain HTTP/1.1 on loopback, with the answer's status,
//! headers and (de-chunked) body; and [`StandIn`], a loopback server that answers as
//! AWS does without being it: a service's error in the request's own protocol (query XML, JSON 1.1, REST-XML,
//! REST-JSON, RPCv2 CBOR) or a canned answer, recording every request it saw.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tiny_http::Header;

/// One request a front received, read whole.
pub(crate) struct Incoming {
    pub method: String,
    pub url: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// What a front answers: status, headers and body.
pub(crate) type Reply = (u16, Vec<Header>, Vec<u8>);

/// A loopback HTTP server on a free port, answering each request with `handle`; stopped (its thread joined) when
/// dropped, so every server a test starts, the test stops.
pub(crate) struct Loopback {
    pub url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Loopback {
    pub(crate) fn start(mut handle: impl FnMut(Incoming) -> Reply + Send + 'static) -> Loopback {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok(Some(mut request)) = server.recv_timeout(Duration::from_millis(50)) else { continue };
                let mut body = Vec::new();
                request.as_reader().read_to_end(&mut body).unwrap();
                let incoming = Incoming {
                    method: request.method().as_str().to_owned(),
                    url: request.url().to_owned(),
                    headers: request.headers().to_vec(),
                    body,
                };
                let (status, headers, out) = handle(incoming);
                let mut response = tiny_http::Response::from_data(out).with_status_code(status);
                for h in headers {
                    response.add_header(h);
                }
                let _ = request.respond(response);
            }
        });
        Loopback { url, stop, thread: Some(thread) }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// [`forward`] of a request a front received, to `upstream` (host:port).
pub(crate) fn pass_on(upstream: &str, request: &Incoming) -> Reply {
    forward(upstream, &request.method, &request.url, &request.headers, &request.body)
}

/// A reply of `status` with a body of `content_type`.
pub(crate) fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    (status, vec![Header::from_bytes("Content-Type", content_type).unwrap()], body)
}

pub(crate) fn forward(
    upstream: &str,
    method: &str,
    url: &str,
    headers: &[Header],
    body: &[u8],
) -> (u16, Vec<Header>, Vec<u8>) {
    let mut stream = TcpStream::connect(upstream).expect("upstream");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {url} HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        let name = h.field.as_str().as_str().to_ascii_lowercase();
        if !matches!(name.as_str(), "host" | "connection" | "content-length" | "transfer-encoding" | "expect") {
            head.push_str(&format!("{}: {}\r\n", h.field, h.value));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head") + 4;
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut out_headers = Vec::new();
    let mut chunked = false;
    for line in text.lines().skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            let lower = k.trim().to_ascii_lowercase();
            chunked |= lower == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked");
            if !matches!(lower.as_str(), "content-length" | "transfer-encoding" | "connection" | "server" | "date")
                && let Ok(h) = Header::from_bytes(k.trim().as_bytes(), v.trim().as_bytes())
            {
                out_headers.push(h);
            }
        }
    }
    let mut body = raw[split..].to_vec();
    if chunked {
        let mut plain = Vec::new();
        let mut rest = &body[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            plain.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = plain;
    }
    (status, out_headers, body)
}

/// The protocol a request speaks, which decides the shape of its answer (and of an error its SDK parses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// AWS query: a form with `Action`, answered in XML (STS, IAM, CloudFormation).
    Query,
    /// AWS JSON 1.1: `X-Amz-Target` names the operation (Firehose, Athena, CloudWatch Logs, Glue).
    Json,
    /// REST with XML bodies (S3).
    RestXml,
    /// REST with JSON bodies and the error in `x-amzn-ErrorType` (Lambda, IoT).
    RestJson,
    /// Smithy RPCv2 CBOR: the operation in the path (CloudWatch).
    Cbor,
}

/// One request as a front saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// The SigV4 signing name of its credential scope (`sts`, `cloudformation`, `monitoring`, `s3`, …).
    pub service: String,
    pub protocol: Protocol,
    /// The operation a query, JSON or CBOR request names; a REST request's method and path.
    pub operation: String,
}

impl Seen {
    fn of(method: &str, url: &str, headers: &[Header], body: &[u8]) -> Seen {
        let header =
            |name: &'static str| headers.iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str().to_owned());
        let service = header("Authorization")
            .and_then(|a| a.split("Credential=").nth(1).and_then(|c| c.split('/').nth(3)).map(str::to_owned))
            .unwrap_or_default();
        let path = url.split_once('?').map_or(url, |(path, _)| path);
        let form = String::from_utf8_lossy(body);
        let action = form.split('&').find_map(|kv| kv.strip_prefix("Action=")).map(str::to_owned);
        let (protocol, operation) = if let Some((_, op)) = path.split_once("/operation/") {
            (Protocol::Cbor, op.to_owned())
        } else if let Some(target) = header("X-Amz-Target") {
            (Protocol::Json, target.rsplit('.').next().unwrap_or("").to_owned())
        } else if let Some(action) = action {
            (Protocol::Query, action)
        } else if service == "s3" {
            (Protocol::RestXml, format!("{method} {path}"))
        } else {
            (Protocol::RestJson, format!("{method} {path}"))
        };
        Seen { service, protocol, operation }
    }
}

/// What a [`StandIn`] answers a request with.
pub(crate) enum Answer {
    /// The service's error `code` with `status` and `message`, in the request's own protocol.
    Refuse { status: u16, code: String, message: String },
    /// A canned answer: status, content type and body.
    Reply { status: u16, content_type: &'static str, body: String },
}

/// `Refuse` as (status, headers, body) in `protocol`'s error shape, as AWS answers it.
fn refusal(protocol: Protocol, method: &str, status: u16, code: &str, message: &str) -> (u16, Vec<Header>, Vec<u8>) {
    let header = |k: &str, v: &str| Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap();
    let id = header("x-amzn-RequestId", "4c1e9a0d-stand-in");
    match protocol {
        Protocol::Query => {
            let body = format!(
                "<ErrorResponse xmlns=\"https://aws.amazon.com/\"><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>4c1e9a0d</RequestId></ErrorResponse>"
            );
            (status, vec![header("Content-Type", "text/xml"), id], body.into_bytes())
        }
        Protocol::Json => {
            let body = serde_json::json!({"__type": format!("com.amazon.coral.service#{code}"), "message": message});
            (status, vec![header("Content-Type", "application/x-amz-json-1.1"), id], body.to_string().into_bytes())
        }
        // S3 answers a HEAD with its status alone.
        Protocol::RestXml if method == "HEAD" => (status, vec![header("Content-Type", "application/xml")], vec![]),
        Protocol::RestXml => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
                 <RequestId>4C1E9A0D</RequestId></Error>"
            );
            (status, vec![header("Content-Type", "application/xml")], body.into_bytes())
        }
        Protocol::RestJson => {
            let kind = format!("{code}:http://internal.amazon.com/coral/com.amazon.coral.service/");
            let body = serde_json::json!({"message": message});
            let headers = vec![header("Content-Type", "application/json"), header("x-amzn-ErrorType", &kind), id];
            (status, headers, body.to_string().into_bytes())
        }
        Protocol::Cbor => {
            let mut body = vec![0xa2];
            for text in ["__type", code, "message", message] {
                cbor_text(&mut body, text);
            }
            let headers = vec![header("Content-Type", "application/cbor"), header("smithy-protocol", "rpc-v2-cbor")];
            (status, headers, body)
        }
    }
}

/// A CBOR text string (major type 3) of up to 65,535 bytes.
fn cbor_text(out: &mut Vec<u8>, text: &str) {
    match text.len() {
        n @ 0..=23 => out.push(0x60 | n as u8),
        n @ 24..=255 => out.extend([0x78, n as u8]),
        n => {
            out.push(0x79);
            out.extend(u16::try_from(n).expect("a short text").to_be_bytes());
        }
    }
    out.extend(text.as_bytes());
}

/// A loopback server that answers like AWS without being it: each request is classified ([`Seen`]), recorded,
/// and answered as `answer` decides. Stopped (its thread joined) when dropped.
pub(crate) struct StandIn {
    _front: Loopback,
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    pub(crate) fn start(answer: impl Fn(&Seen) -> Answer + Send + 'static) -> StandIn {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        let front = Loopback::start(move |request| {
            let call = Seen::of(&request.method, &request.url, &request.headers, &request.body);
            let out = match answer(&call) {
                Answer::Refuse { status, code, message } => {
                    refusal(call.protocol, &request.method, status, &code, &message)
                }
                Answer::Reply { status, content_type, body } => reply(status, content_type, body.into_bytes()),
            };
            seen2.lock().unwrap().push(call);
            out
        });
        StandIn { url: front.url.clone(), _front: front, seen }
    }

    /// Every request answered so far, in order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
