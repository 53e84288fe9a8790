"""A front for moto that speaks CloudWatch's RPCv2 CBOR protocol, which aws-sdk-cloudwatch uses and moto 5.2 does
not: a CBOR request (POST /service/GraniteServiceVersion20100801/operation/<Op>) is decoded with cbor2, sent to
moto as the same operation in CloudWatch's JSON protocol, and moto's JSON answer (or error) encoded back to CBOR
with timestamps as CBOR epoch tags. Every other request passes through to moto unchanged, so the CLI under test
uses this one endpoint for every service.

Usage: python cbor_moto.py MOTO_URL  (prints the port it listens on, then serves until killed)
"""

import datetime
import http.client
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cbor2

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
MOTO = urllib.parse.urlsplit(sys.argv[1])


def to_json(value):
    """CBOR → JSON: datetimes (tag 1) become epoch seconds."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def epoch(value):
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return cbor2.CBORTag(1, float(value))


def to_cbor(value, key=""):
    """JSON → CBOR: members named like timestamps become epoch tags, as the RPCv2 CBOR protocol sends them."""
    if isinstance(value, dict):
        return {k: to_cbor(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "Timestamps":
            return [epoch(v) for v in value]
        return [to_cbor(v) for v in value]
    if key.endswith("Timestamp") and value is not None:
        return epoch(value)
    return value


def moto(method, path, headers, body):
    conn = http.client.HTTPConnection(MOTO.hostname, MOTO.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
        if self.command == "POST" and self.path.startswith(PREFIX):
            return self.translate(self.path[len(PREFIX):], headers, body)
        status, answer_headers, answer = moto(self.command, self.path, headers, body)
        self.send_response(status)
        for k, v in answer_headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def translate(self, operation, headers, body):
        request = to_json(cbor2.loads(body)) if body else {}
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "smithy-protocol", "accept")}
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["X-Amz-Target"] = "GraniteServiceVersion20100801." + operation
        status, _, answer = moto("POST", "/", headers, json.dumps(request).encode())
        try:
            document = json.loads(answer) if answer.strip() else {}
        except ValueError:
            document = {"__type": "InternalFailure", "message": answer.decode(errors="replace")[:500]}
        if status >= 400 and "__type" not in document:
            document["__type"] = document.get("Code") or "InternalFailure"
        encoded = cbor2.dumps(to_cbor(document))
        self.send_response(status)
        self.send_header("Content-Type", "application/cbor")
        self.send_header("smithy-protocol", "rpc-v2-cbor")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
