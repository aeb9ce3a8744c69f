"""edge-serve's memory under large images: the peak RSS of a real edge-serve while 12 clients send a 40 MP
image each at once, as PNG and as JPEG.

    .venv/bin/python -m benchmarks.serve_memory BUNDLE [--clients 12] [--megapixels 40] [--json out.json]

For each format a fresh edge-serve is started (`python -m edge.serve BUNDLE`, ONNX Runtime fp32, one
thread, --max-body-bytes 64 MiB), warmed up with one small image, and its VmHWM (peak RSS, from
/proc/PID/status) read; then the clients send their images to /v1/predict together, each over its
own connection, and VmHWM is read again once all are answered. The images are 8000x5000 (40 MP),
blocky colour fields: a few hundred KB as PNG (a small file that decodes big, as in the issue), a
few MB as JPEG. Reported: VmHWM before and after, the growth, and the answers' status codes.
"""

import http.client
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

from edge.cli import make_parser, run_main
from edge.util.lazy import require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_parser():
    parser = make_parser("serve_memory", __doc__)
    parser.add_argument("bundle", help="a classification bundle")
    parser.add_argument("--clients", type=int, default=12, help="images sent at once (default 12)")
    parser.add_argument("--megapixels", type=int, default=40, choices=(10, 20, 40), help="image size (default 40)")
    parser.add_argument("--json", help="write the rows to this file")
    return parser


def large_image(megapixels, kind, seed=0):
    """(bytes, content type) of a blocky colour image of `megapixels` (8000x5000 at 40) as PNG or JPEG."""
    cv2 = require("cv2", "making test images")
    width, height = {10: (4000, 2500), 20: (5600, 3572), 40: (8000, 5000)}[megapixels]
    rng = np.random.RandomState(seed)
    small = rng.randint(0, 90, size=(height // 125, width // 125, 3)).astype(np.uint8)
    small[..., 2] = rng.randint(170, 255, size=small.shape[:2])   # mostly red
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    ok, data = cv2.imencode("." + kind, image)
    assert ok
    return data.tobytes(), "image/" + ("jpeg" if kind == "jpg" else "png")


def vm_hwm_mb(pid):
    with open("/proc/{}/status".format(pid)) as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM for process {}".format(pid))


def post(port, data, content_type, codes):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", "/v1/predict", body=data, headers={"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        codes.append(response.status)
    except (OSError, http.client.HTTPException) as exc:
        codes.append(repr(exc))
    finally:
        connection.close()


def start(bundle, port):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen([sys.executable, "-m", "edge.serve", bundle, "--port", str(port), "--runtime",
                                "onnxruntime", "--precision", "fp32", "--threads", "1", "--max-body-bytes",
                                str(64 * 2 ** 20)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, universal_newlines=True)
    deadline = time.time() + 90
    while time.time() < deadline and process.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v2/health/ready")
            if connection.getresponse().status == 200:
                return process
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("edge-serve did not start: {}".format(process.stderr.read()[-2000:]))


def measure(bundle, kind, clients=12, megapixels=40, port=None):
    """{format, clients, megapixels, file_kb, rss_before_mb, rss_peak_mb, growth_mb, codes} for one format."""
    from tests.edge.realparts import free_port

    data, content_type = large_image(megapixels, kind)
    warm_up, warm_type = large_image(10, "jpg", seed=1)
    port = port or free_port()
    process = start(bundle, port)
    try:
        post(port, warm_up, warm_type, [])   # the first answer allocates what every later one reuses
        before = vm_hwm_mb(process.pid)
        codes = []
        threads = [threading.Thread(target=post, args=(port, data, content_type, codes)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        peak = vm_hwm_mb(process.pid)
    finally:
        process.kill()
        process.wait(30)
    return {"format": kind, "clients": clients, "megapixels": megapixels, "file_kb": len(data) // 1024,
            "rss_before_mb": round(before), "rss_peak_mb": round(peak), "growth_mb": round(peak - before),
            "codes": sorted(codes, key=str)}


def _main(argv):
    args = build_parser().parse_args(argv)
    rows = [measure(args.bundle, kind, args.clients, args.megapixels) for kind in ("png", "jpg")]
    for row in rows:
        print("{format}: {clients} x {megapixels} MP ({file_kb} KB each): VmHWM {rss_before_mb} MB -> "
              "{rss_peak_mb} MB (+{growth_mb} MB); answers {codes}".format(**row))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 0


def main(argv=None):
    return run_main("serve_memory", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
