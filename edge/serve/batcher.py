"""Dynamic batching: concurrent requests gathered into one runner call.

    batcher = DynamicBatcher(run, max_batch=8, max_delay_s=0.002, max_queue=64)
    batcher.start()
    pending = batcher.submit(rows)      # the model input of 1..N images (first axis); QueueFull, Stopped
    logits = pending.wait(timeout)      # this request's rows of its batch's output
    batcher.close(timeout)              # runs what is queued at once, then stops

One worker thread runs the model, so the runner is only ever called from one thread. A batch
starts with the oldest request and takes the next ones while they fit in max_batch images; it
waits for more at most until max_delay_s after its first request arrived (a request that
already waited that long while the worker was busy goes with whatever is queued). A request with
more images than max_batch runs alone, split into runner calls of at most max_batch images: the
runner never sees more than max_batch (which edge-serve keeps within the bundle's batch range).

The queue holds at most max_queue requests: submit raises QueueFull beyond that, so a burst
costs a quick refusal (HTTP 503 with Retry-After) instead of unbounded memory and latency; a front
end whose transport holds requests for it (MQTT at QoS 1) may wait for room instead (wait_s). A
failing model call fails the requests of that batch only; the worker goes on.
"""

import collections
import threading
import time

import numpy as np


class QueueFull(Exception):
    """max_queue requests are already waiting."""


class Stopped(Exception):
    """The batcher is closing: no new requests, or one that could not run before the deadline."""


class Pending(object):
    """One submitted request: wait() for its output. After it finished: queue_s (waiting for its
    batch to start), input_s (gathering its batch's input rows), inference_s (its batch's runner
    calls), output_s (handing out its batch's output rows), batch_size (images in that batch, 0
    when it never ran), total_s (submitted to finished). Times are time.perf_counter() differences."""

    def __init__(self, rows, account=None, tag=None):
        """account(pending): called once it is finished, before any waiter sees it (statistics); tag: the
        submitter's label for it (edge-serve: the model name the request came in for)."""
        self.rows = rows
        self.tag = tag
        self.size = int(rows.shape[0])
        self.enqueued = time.perf_counter()
        self.finished = None
        self.output = None
        self.error = None
        self.queue_s = self.input_s = self.inference_s = self.output_s = 0.0
        self.batch_size = 0
        self._account = account
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._callbacks = []

    @property
    def done(self):
        return self._done.is_set()

    def wait(self, timeout=None):
        """The output rows; raises the batch's error, or TimeoutError after `timeout` seconds."""
        if not self._done.wait(timeout):
            raise TimeoutError("no answer within {} s".format(timeout))
        if self.error is not None:
            raise self.error
        return self.output

    def add_done_callback(self, callback):
        """callback(pending) once finished: at once if it already is, else on the batcher's thread."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    @property
    def total_s(self):
        return (self.finished if self.finished is not None else time.perf_counter()) - self.enqueued

    def finish(self, output=None, error=None):
        self.output, self.error = output, error
        self.finished = time.perf_counter()
        try:
            if self._account is not None:
                self._account(self)
        finally:   # a failing account must not leave the request unanswered
            with self._lock:
                self._done.set()
                callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)


class DynamicBatcher(object):
    def __init__(self, run, max_batch=8, max_delay_s=0.002, max_queue=64, observe=None, log=None, account=None):
        """run(rows) -> outputs, one row per input row. observe(pending list, batch images,
        inference seconds): called after each batch ran, its requests' times and error set, before they are
        answered (metrics).
        account(pending): called for every request as it finishes, ran or not, before it is answered
        (statistics). log(text): progress lines."""
        self.run = run
        self.max_batch = int(max_batch)
        self.max_delay_s = float(max_delay_s)
        self.max_queue = int(max_queue)
        self.observe = observe
        self.account = account
        self.log = log or (lambda text: None)
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._worker = None

    def start(self):
        self._worker = threading.Thread(target=self._loop, name="serve-batcher")
        self._worker.daemon = True
        self._worker.start()
        return self

    def depth(self):
        """Requests waiting for their batch to start."""
        with self._cond:
            return len(self._queue)

    def submit(self, rows, wait_s=0.0, tag=None):
        """A Pending for rows (tagged `tag`); QueueFull when max_queue are waiting (after waiting up to wait_s
        for room)."""
        pending = Pending(rows, self.account, tag)
        deadline = time.time() + wait_s
        with self._cond:
            while len(self._queue) >= self.max_queue and not self._closing and time.time() < deadline:
                self._cond.wait(deadline - time.time())
            if self._closing:
                raise Stopped("shutting down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull("{} requests are waiting already".format(len(self._queue)))
            self._queue.append(pending)
            self._cond.notify_all()
        return pending

    def close(self, timeout=2.0):
        """Take no more requests, run the queued ones now (no waiting for max_delay_s), and stop.

        What is still queued after `timeout` seconds fails with Stopped. Returns how many did."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)
        with self._cond:
            left, self._queue = list(self._queue), collections.deque()
        for pending in left:
            pending.finish(error=Stopped("shutting down before its turn"))
        return len(left)

    # ----- the worker ----------------------------------------------------------------------------
    def _loop(self):
        while True:
            batch = self._gather()
            if batch is None:
                return
            self._run_batch(batch)

    def _gather(self):
        """The next batch (a list of Pending), or None once closing with nothing queued."""
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            first = self._queue.popleft()
            batch, images = [first], first.size
            deadline = first.enqueued + self.max_delay_s
            while images < self.max_batch:
                if self._queue:
                    if images + self._queue[0].size > self.max_batch:
                        break
                    pending = self._queue.popleft()
                    batch.append(pending)
                    images += pending.size
                    continue
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or self._closing:
                    break
                self._cond.wait(remaining)
            self._cond.notify_all()   # room in the queue: for a submit waiting on it
            return batch

    def _call(self, rows):
        """The runner's outputs for rows, in calls of at most max_batch rows."""
        if rows.shape[0] <= self.max_batch:
            return self.run(rows)
        step = self.max_batch
        return np.concatenate([self.run(rows[start:start + step]) for start in range(0, rows.shape[0], step)])

    def _run_batch(self, batch):
        started = time.perf_counter()
        rows = batch[0].rows if len(batch) == 1 else np.concatenate([pending.rows for pending in batch])
        gathered = time.perf_counter()
        try:
            outputs, error = self._call(rows), None
        except Exception as exc:  # a model failure answers this batch's requests; the worker must live on
            outputs, error = None, exc
            self.log("inference failed for a batch of {} images: {!r}".format(rows.shape[0], exc))
        ran = time.perf_counter()
        answers, offset = [], 0
        for pending in batch:
            answers.append(None if error is not None else outputs[offset:offset + pending.size])
            offset += pending.size
        handed_out = time.perf_counter()
        for pending in batch:
            pending.queue_s, pending.batch_size, pending.error = started - pending.enqueued, int(rows.shape[0]), error
            pending.input_s, pending.inference_s, pending.output_s = gathered - started, ran - gathered, handed_out - ran
        if self.observe is not None:
            try:
                self.observe(batch, int(rows.shape[0]), ran - gathered)
            except Exception as exc:  # metrics failing must not leave this batch unanswered
                self.log("observing a batch failed: {!r}".format(exc))
        for pending, answer in zip(batch, answers):
            try:
                pending.finish(output=answer, error=error)
            except Exception as exc:  # a front end's answer callback failing must not stop the worker either
                self.log("answering a request failed: {!r}".format(exc))
