# A profile sink for pyprobe's push tests: an HTTP server that decodes each request with a
# third-party decoder and appends what it found, as one JSON line, to the file OUT.
#   POST /v1development/profiles  OTLP profiles, decoded with the `opentelemetry-proto` package
#   POST /ingest?...               Pyroscope's ingest API: the multipart form's `profile` is
#                                  decoded with npm's `pprof-format` (tests/support/decode_pprof.cjs)
# Usage: push_sink.py OUT [--port N] [--slow SECONDS] [--fail N]
#   --port   port to listen on (default: any free one); prints "ready PORT" once listening
#   --slow   wait this long before answering each request
#   --fail   answer the first N requests with 503
# Needs the venv of tools/install-test-decoders and $PPROF_FORMAT_MODULES (its node_modules).
import argparse
import email.parser
import email.policy
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
args = argparse.ArgumentParser()
args.add_argument("out")
args.add_argument("--port", type=int, default=0)
args.add_argument("--slow", type=float, default=0.0)
args.add_argument("--fail", type=int, default=0)
opts = args.parse_args()
lock = threading.Lock()
seen = [0]


def any_value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def decode_otlp(body):
    req = profiles_service_pb2.ExportProfilesServiceRequest()
    req.ParseFromString(body)
    d = req.dictionary
    s = d.string_table

    def frame(loc_index):
        line = d.location_table[loc_index].lines[0]
        f = d.function_table[line.function_index]
        return {"name": s[f.name_strindex], "file": s[f.filename_strindex], "line": line.line}

    def attrs(indices):
        out = {}
        for i in indices:
            a = d.attribute_table[i]
            out[s[a.key_strindex]] = any_value(a.value)
        return out

    result = {"kind": "otlp", "resources": []}
    for rp in req.resource_profiles:
        r = {"attributes": {kv.key: any_value(kv.value) for kv in rp.resource.attributes}, "profiles": []}
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                r["profiles"].append({
                    "scope": sp.scope.name,
                    "sample_type": [s[p.sample_type.type_strindex], s[p.sample_type.unit_strindex]],
                    "period_type": [s[p.period_type.type_strindex], s[p.period_type.unit_strindex]],
                    "period": p.period,
                    "time_unix_nano": p.time_unix_nano,
                    "duration_nano": p.duration_nano,
                    "profile_id": p.profile_id.hex(),
                    "samples": [{
                        "stack": [frame(i) for i in d.stack_table[x.stack_index].location_indices],
                        "values": list(x.values),
                        "attributes": attrs(x.attribute_indices),
                    } for x in p.samples],
                })
        result["resources"].append(r)
    return result


def decode_pyroscope(query, content_type, body):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    parts = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
             for p in msg.iter_parts()}
    decoded = subprocess.run(
        ["node", os.path.join(HERE, "..", "support", "decode_pprof.cjs")],
        input=parts["profile"], capture_output=True, check=True).stdout
    result = {"kind": "pprof", "query": {k: v[0] for k, v in query.items()}}
    result.update(json.loads(decoded))
    if "sample_type_config" in parts:
        result["sample_type_config"] = json.loads(parts["sample_type_config"])
    return result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        received = time.time()
        with lock:
            seen[0] += 1
            n = seen[0]
        if opts.slow:
            time.sleep(opts.slow)
        if n <= opts.fail:
            self.answer(503, b"failing on purpose")
            return
        url = urllib.parse.urlsplit(self.path)
        try:
            if url.path.endswith("/v1development/profiles"):
                result = decode_otlp(body)
            elif url.path.endswith("/ingest"):
                result = decode_pyroscope(urllib.parse.parse_qs(url.query),
                                          self.headers.get("Content-Type", ""), body)
            else:
                self.answer(404, b"no such endpoint")
                return
        except Exception as e:  # a body the decoder refuses: the test sees it
            result = {"kind": "undecodable", "error": repr(e)}
        result["path"] = url.path
        result["received"] = received
        result["content_type"] = self.headers.get("Content-Type", "")
        with lock, open(opts.out, "a") as f:
            f.write(json.dumps(result) + "\n")
        self.answer(200, b"{}")

    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
print("ready %d" % server.server_address[1], flush=True)
server.serve_forever()
