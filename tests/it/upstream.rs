//! Forwarding one request from a test proxy to the server behind it (moto) over plain HTTP/1.1 on loopback,
//! with the answer's status, headers and (de-chunked) body.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use tiny_http::Header;

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
