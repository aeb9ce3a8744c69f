"""The sink interface of the camera daemon.

    sink.start()                    # bind sockets, connect; EdgeError on bad options
    sink.publish(result, frame)     # never blocks the inference loop for long, never raises
    sink.close(timeout=1.0)         # flush what is queued, then stop
    sink.health()                   # for /healthz, /metrics and the console (below)

`result` is the JSON-ready dict of one classified frame:
    {"ts": ISO-8601 UTC, "frame": int, "captured": epoch seconds,
     "prediction": str, "confidence": float (top-1; the vocabulary of edge.tasks.postprocess),
     "top": [{"label": str, "index": int, "confidence": float}, ...],
       (a regression bundle's instead: "values": {target: pixels}, "image": {"width", "height"})
     "latency_ms": {"capture_wait", "preprocess", "inference", "postprocess", "publish", "total",
                    "capture_to_result"},
     "runtime": "onnxruntime-cpu fp32", "dropped": int}
`frame` is the source Frame (for the MJPEG preview), or None.

A sink that fails (disk full, broker away) counts the failure in `errors` and keeps the daemon
running: a sink failing never stops inference. It says so in health(): "ok" False and a
"reason", which turns the daemon's state "degraded" (edge.daemon.telemetry).

health() returns at least:
    ok         bool: the sink delivers what it is given
    reason     str, when not ok: what is wrong, in words ("broker 10.0.0.2:1883 away for 12 s; ...")
    connected  bool: its destination is reachable (a file is open, a broker connected)
    queued     results accepted and not yet delivered
    dropped    results thrown away undelivered (bounds), all-time
    delivered  results delivered (written, acknowledged), all-time
    published  results handed to the sink, all-time
    errors     failures, all-time
"""


class Sink(object):
    name = "sink"

    def __init__(self):
        self.errors = 0
        self.published = 0

    def start(self):
        pass

    def publish(self, result, frame=None):
        raise NotImplementedError

    def close(self, timeout=1.0):
        pass

    def health(self):
        return {"ok": True, "connected": True, "queued": 0, "dropped": 0, "delivered": self.published,
                "published": self.published, "errors": self.errors}
