"""A front for moto that speaks CloudWatch's RPCv2 CBOR protocol, which aws-sdk-cloudwatch uses and moto 5.2 does
not: a CBOR request (POST /service/GraniteServiceVersion20100801/operation/<Op>) is decoded with cbor2, sent to
moto as the same operation in CloudWatch's JSON protocol, and moto's JSON answer (or error) encoded back to CBOR
with timestamps as CBOR epoch tags. Every other request passes through to moto unchanged, so the CLI under test
uses this one endpoint for every service. moto does not evaluate Metrics Insights: the one query shape `health`
sends is answered here from moto's stored series (get_metric_data_with_insights).

Usage: python cbor_moto.py MOTO_URL [CERT KEY]  (prints the port it listens on, then serves until killed; with a
certificate and its key it serves HTTPS, so the CLI's TLS client can be tested against moto)
"""

import datetime
import http.client
import json
import re
import ssl
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


def call(headers, operation, request):
    """One CloudWatch operation against moto in the JSON protocol: (status, answer document)."""
    headers = dict(headers, **{"X-Amz-Target": "GraniteServiceVersion20100801." + operation})
    status, _, answer = moto("POST", "/", headers, json.dumps(request).encode())
    try:
        document = json.loads(answer) if answer.strip() else {}
    except ValueError:
        document = {"__type": "InternalFailure", "message": answer.decode(errors="replace")[:500]}
    if status >= 400 and "__type" not in document:
        document["__type"] = document.get("Code") or "InternalFailure"
    return status, document


# The one Metrics Insights shape `health` sends: a metric summed over every ActionType of one IoT rule.
INSIGHTS = re.compile(
    r"""^SELECT SUM\((\w+)\) FROM SCHEMA\("AWS/IoT", ActionType, RuleName\) WHERE RuleName = '([\w-]+)'$"""
)


SERIES = "cbormotoseries"


def epoch_seconds(value):
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


def get_metric_data_with_insights(headers, request):
    """GetMetricData holding a Metrics Insights query, which moto 5.2 does not evaluate (it sums every datapoint
    for any SELECT): CloudWatch allows one per request, refused otherwise as CloudWatch refuses it. The query is
    answered from moto's stored series of that rule (ListMetrics, then each series' Sum), so another rule's
    failures and other namespaces count for nothing; the other queries go to moto as they are."""
    queries = request["MetricDataQueries"]
    insights = [q for q in queries if "Expression" in q]
    if len(insights) > 1:
        return 400, {"__type": "ValidationError", "message": "Maximum number of queries (1) exceeded"}
    query = insights[0]
    match = INSIGHTS.match(query["Expression"])
    if not match:
        message = "cbor_moto.py answers only health's IoT query, not: " + query["Expression"]
        return 400, {"__type": "ValidationError", "message": message}
    metric, rule = match.groups()
    status, listed = call(headers, "ListMetrics", {
        "Namespace": "AWS/IoT", "MetricName": metric, "Dimensions": [{"Name": "RuleName", "Value": rule}],
    })
    if status >= 400:
        return status, listed
    stats, seen = [], set()
    for m in listed.get("Metrics", []):
        dims = tuple(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", [])))
        if [n for n, _ in dims] == ["ActionType", "RuleName"] and ("RuleName", rule) in dims and dims not in seen:
            seen.add(dims)
            stats.append({"Id": f"{SERIES}{len(stats)}", "ReturnData": True,
                          "MetricStat": {"Metric": m, "Period": query["Period"], "Stat": "Sum"}})
    others = [q for q in queries if "Expression" not in q]
    base = dict(request, MetricDataQueries=others + stats)
    results = []
    if others or stats:
        status, document = call(headers, "GetMetricData", base)
        if status >= 400:
            return status, document
        results = document.get("MetricDataResults", [])
    summed = {}
    for r in results:
        if r["Id"].startswith(SERIES):
            for ts, v in zip(r.get("Timestamps", []), r.get("Values", [])):
                key = epoch_seconds(ts)
                summed[key] = summed.get(key, 0.0) + v
    kept = [r for r in results if not r["Id"].startswith(SERIES)]
    times = sorted(summed, reverse=True)
    kept.append({"Id": query["Id"], "Label": query.get("Label", query["Id"]), "StatusCode": "Complete",
                 "Timestamps": times, "Values": [summed[t] for t in times]})
    return 200, {"MetricDataResults": kept, "Messages": []}


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
        if operation == "GetMetricData" and any("Expression" in q for q in request.get("MetricDataQueries", [])):
            status, document = get_metric_data_with_insights(headers, request)
        else:
            status, document = call(headers, operation, request)
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
    if len(sys.argv) == 4:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()
