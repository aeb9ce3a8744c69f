"""edge-serve's dynamic batching: throughput and latency with 1, 4 and 16 concurrent clients, batching on and off.

    .venv/bin/python -m benchmarks.serve_batching BUNDLE [--seconds 5] [--clients 1,4,16] [--threads N] [--json out.json]

For each mode a real edge-serve is started (`python -m edge.serve BUNDLE`, ONNX Runtime fp32 on the
CPU), and for each client count that many clients run closed loops: each has its own keep-alive
HTTP connection and sends the next request when the last one is answered. A request is one
image's model input (FP32 [1,3,H,W], random values: the cost does not depend on them) as a KServe
v2 infer request with binary tensor data, the logits come back as binary data. The modes:

    off          --max-batch 1: one image per runner call
    on, 0 ms     --max-batch 16 --max-delay-ms 0: a batch takes what queued while the last one ran
    on, 2 ms     --max-batch 16 --max-delay-ms 2: and waits up to 2 ms for more

Each cell warms up for a second, then measures for --seconds: throughput is requests answered
per second, latency the client's (send to last byte) p50 and p99, and the mean batch size comes
from the server's /metrics (edge_serve_batch_size) over the same window. The clients are threads
of this process, on the same machine as the server: on a small CPU they take a share of it. The
bundle needs a dynamic batch axis of 16 or more (edge-export ... --dynamic-batch 16), else the
server clamps the batch and the "on" rows measure batches of fewer.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from edge.cli import make_parser, run_main
from edge.errors import EdgeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = (("off", ["--max-batch", "1"]),
         ("on, 0 ms", ["--max-batch", "16", "--max-delay-ms", "0"]),
         ("on, 2 ms", ["--max-batch", "16", "--max-delay-ms", "2"]))
WARMUP_S = 1.0
PORT = 18765


def build_parser():
    parser = make_parser("serve_batching", __doc__)
    parser.add_argument("bundle", help="a bundle with a dynamic batch axis (edge-export ... --dynamic-batch 16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring seconds per cell (default 5)")
    parser.add_argument("--clients", default="1,4,16", help="comma-separated client counts (default 1,4,16)")
    parser.add_argument("--threads", type=int, default=None, help="edge-serve --threads (default: ONNX Runtime's)")
    parser.add_argument("--port", type=int, default=PORT, help="port for edge-serve (default {})".format(PORT))
    parser.add_argument("--json", help="write the rows and the environment to this file")
    return parser


def start_server(bundle, port, mode_flags, threads):
    argv = [sys.executable, "-m", "edge.serve", bundle, "--port", str(port), "--runtime", "onnxruntime",
            "--precision", "fp32", "--max-queue", "256", "--model-name", "bench"] + mode_flags
    if threads:
        argv += ["--threads", str(threads)]
    server = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, universal_newlines=True)
    deadline = time.time() + 120
    while True:
        if server.poll() is not None:
            raise EdgeError("edge-serve did not start: {}".format(server.stderr.read().strip()))
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v2/health/ready")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        except OSError:
            pass
        if time.time() > deadline:
            server.kill()
            raise EdgeError("edge-serve not ready after 120 s")
        time.sleep(0.2)


def stop_server(server):
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


def infer_request(item_shape):
    """(body, headers) of one KServe v2 binary-data request for one image."""
    rows = np.random.RandomState(0).standard_normal((1,) + tuple(item_shape)).astype(np.float32)
    raw = rows.tobytes()
    head = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": list(rows.shape),
                                   "parameters": {"binary_data_size": len(raw)}}],
                       "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode("utf-8")
    return head + raw, {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}


def batch_totals(port):
    """(sum, count) of edge_serve_batch_size from /metrics."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode("utf-8")
    connection.close()
    values = dict(re.findall(r"^edge_serve_batch_size_(sum|count) (\S+)$", text, re.M))
    return float(values["sum"]), float(values["count"])


def run_cell(port, clients, body, headers, seconds):
    """{"clients", "requests", "throughput", "p50_ms", "p99_ms", "mean_batch", "errors"} for one cell."""
    from edge.benchmark.stats import percentile

    started = time.perf_counter()
    measure_from, measure_to = started + WARMUP_S, started + WARMUP_S + seconds
    latencies, errors, totals = [], [], {}
    lock = threading.Lock()

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        try:
            while True:
                sent = time.perf_counter()
                if sent >= measure_to:
                    break
                connection.request("POST", "/v2/models/bench/infer", body, headers)
                response = connection.getresponse()
                response.read()
                answered = time.perf_counter()
                if response.status != 200:
                    with lock:
                        errors.append(response.status)
                elif sent >= measure_from and answered <= measure_to:
                    mine.append(answered - sent)
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)

    def snapshot_at(moment, key):
        time.sleep(max(0.0, moment - time.perf_counter()))
        totals[key] = batch_totals(port)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    watchers = [threading.Thread(target=snapshot_at, args=(measure_from, "from")),
                threading.Thread(target=snapshot_at, args=(measure_to, "to"))]
    for thread in threads + watchers:
        thread.start()
    for thread in threads + watchers:
        thread.join()
    if not latencies:
        raise EdgeError("no request was answered in the measuring window ({} errors)".format(len(errors)))
    samples = np.asarray(latencies) * 1000.0
    batch_sum, batch_count = (totals["to"][0] - totals["from"][0]), (totals["to"][1] - totals["from"][1])
    return {"clients": clients, "requests": len(latencies), "throughput": len(latencies) / seconds,
            "p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99),
            "mean_batch": batch_sum / batch_count if batch_count else 0.0, "errors": len(errors)}


def render(rows):
    from edge.util.text_table import format_table

    return format_table([(row["mode"], row["clients"], "{:.1f}".format(row["throughput"]),
                          "{:.1f}".format(row["p50_ms"]), "{:.1f}".format(row["p99_ms"]),
                          "{:.2f}".format(row["mean_batch"]), row["errors"], row["load_average"]) for row in rows],
                        ("batching", "clients", "requests/s", "p50 ms", "p99 ms", "mean batch", "errors", "load"))


def _main(argv):
    args = build_parser().parse_args(argv)
    try:
        counts = [int(text) for text in args.clients.split(",")]
    except ValueError:
        raise EdgeError("--clients must be comma-separated integers, got {!r}".format(args.clients))
    from edge.benchmark.environment import environment
    from edge.bundle.bundle import Bundle

    bundle = Bundle.load(args.bundle)
    if bundle.batch_range[2] < 16:
        sys.stderr.write("serve_batching: warning: {} takes batches of at most {}: the 'on' rows are clamped to "
                         "that\n".format(args.bundle, bundle.batch_range[2]))
    body, headers = infer_request(bundle.manifest["input"]["shape"][1:])
    env = environment()
    print("machine: {} ({} cores); load average before: {:.2f}; edge-serve --threads {}".format(
        env["cpu"], env["cores"], os.getloadavg()[0], args.threads or "default (ONNX Runtime's)"))
    rows = []
    for mode, flags in MODES:
        server = start_server(args.bundle, args.port, flags, args.threads)
        try:
            for clients in counts:
                row = dict(run_cell(args.port, clients, body, headers, args.seconds), mode=mode,
                           load_average=round(os.getloadavg()[0], 2))
                rows.append(row)
                sys.stderr.write("serve_batching: {}, {} clients: {:.1f} requests/s, p50 {:.1f} ms, p99 {:.1f} ms, "
                                 "mean batch {:.2f}\n".format(mode, clients, row["throughput"], row["p50_ms"],
                                                              row["p99_ms"], row["mean_batch"]))
        finally:
            stop_server(server)
    print(render(rows))
    if args.json:
        from edge.util.atomic import write_json

        write_json(args.json, {"bundle": args.bundle, "threads": args.threads, "seconds": args.seconds,
                               "environment": env, "rows": rows})
    return 0


def main(argv=None):
    return run_main("serve_batching", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
