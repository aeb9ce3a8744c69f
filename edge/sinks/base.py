"""The sink interface of the camera daemon.

    sink.start()                    # bind sockets, connect; EdgeError on bad options
    sink.publish(result, frame)     # never blocks the inference loop for long, never raises
    sink.close(timeout=1.0)         # flush what is queued, then stop

`result` is the JSON-ready dict of one classified frame:
    {"ts": ISO-8601 UTC, "frame": int, "captured": epoch seconds,
     "prediction": str, "confidence": float (top-1; the vocabulary of edge.postprocess),
     "top": [{"label": str, "index": int, "confidence": float}, ...],
     "latency_ms": {"capture_wait", "preprocess", "inference", "postprocess", "publish", "total",
                    "capture_to_result"},
     "runtime": "onnxruntime-cpu fp32", "dropped": int}
`frame` is the source Frame (for the MJPEG preview), or None.

A sink that fails (disk full, broker away) counts the failure in `errors` and keeps the daemon
running: a sink failing never stops inference.
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
        """A small dict for /healthz: at least {"ok": bool}."""
        return {"ok": True, "published": self.published, "errors": self.errors}
