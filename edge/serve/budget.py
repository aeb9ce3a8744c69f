"""The pixels edge-serve may hold decoded at once, across every request that decodes an image.

    budget = PixelBudget(40 * 1000 * 1000)
    with budget.hold(pixels, "the 8000x5000 PNG"):   # waits its turn; RequestError 413 (can never fit), 503 (waited)
        image = decode(...)                          # inside the block until the image is the model's small input

A decoded image costs 3 bytes a pixel (BGR), whatever its file size: a 100 KB PNG of one colour
can hold 36 megapixels, 108 MB decoded; and for a moment twice that (OpenCV decodes into its own
buffer, then copies it into numpy's), so the budget's 40 megapixels are up to 240 MB. Counting
decoders (at most N at once) bounds nothing when N such images arrive together; counting their
pixels does. A request holds its share from before its decode until its image has been
preprocessed, so the images held decoded never exceed the budget, however many requests arrive at
once. Turns are first come, first served: a large image is not starved by a stream of small ones.
The service owns one budget (InferenceService.decoding); HTTP and MQTT requests share it.
"""

import collections
import contextlib
import threading
import time

from edge.serve.errors import RequestError, busy

BUDGET_PIXELS = 40 * 1000 * 1000   # 120 MB decoded at once: one 40 MP image, or many smaller ones
WAIT_S = 60.0                      # a request waiting longer than this for its turn is answered 503


class PixelBudget(object):
    def __init__(self, pixels=BUDGET_PIXELS, wait_s=WAIT_S):
        self.pixels = int(pixels)
        self.wait_s = float(wait_s)
        self.used = 0
        self.peak = 0                          # the most pixels held at once so far
        self._turns = collections.deque()      # requests waiting, oldest first
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels, what="the image", wait_s=None):
        """Hold `pixels` of the budget for the block; RequestError 413 when they could never fit, 503
        (with Retry-After) after waiting `wait_s` (default: the budget's) for them."""
        pixels = int(pixels)
        if pixels > self.pixels:
            raise RequestError(413, "{} takes {:.1f} megapixels to decode, over edge-serve's decoding budget of {:g} "
                                    "megapixels".format(what, pixels / 1e6, self.pixels / 1e6))
        self._acquire(pixels, self.wait_s if wait_s is None else float(wait_s))
        try:
            yield
        finally:
            with self._cond:
                self.used -= pixels
                self._cond.notify_all()

    def _acquire(self, pixels, wait_s):
        turn = object()
        deadline = time.time() + wait_s
        with self._cond:
            self._turns.append(turn)
            try:
                while self._turns[0] is not turn or self.used + pixels > self.pixels:
                    left = deadline - time.time()
                    if left <= 0:
                        raise busy("server busy decoding other images ({:g} megapixels at once); retry "
                                   "later".format(self.pixels / 1e6))
                    self._cond.wait(left)
                self.used += pixels
                self.peak = max(self.peak, self.used)
            finally:
                self._turns.remove(turn)
                self._cond.notify_all()
