"""edge-serve decodes an image only as large as the model needs, within a budget of pixels: a large JPEG
is read at 1/2, 1/4 or 1/8 of each side (OpenCV's reduced reads) and answers as a full decode does; the
pixels held decoded at once never exceed the budget, however many requests arrive together; an image
that could never fit is a 413 with one line. (A real edge-serve's peak RSS under 12 concurrent 40 MP
images: test_serve_memory.py.)"""

import glob
import os
import threading
import time

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.preprocess import PreprocessSpec, decode_image
from edge.runners.select import make_runner
from edge.serve import images
from edge.serve.budget import PixelBudget
from edge.serve.errors import RequestError
from edge.serve.metrics import ServeTelemetry
from edge.serve.service import InferenceService

cv2 = pytest.importorskip("cv2")

SPEC = PreprocessSpec(size=32, crop_pct=0.875)   # resized to 37 on the shorter side, then cropped to 32


def encode(image, kind=".jpg", *options):
    ok, data = cv2.imencode(kind, image, list(options))
    assert ok
    return data.tobytes()


def textured(height, width, colour, seed=0):
    """A BGR image of mostly `colour` (0 blue, 1 green, 2 red) with smooth texture: compresses well, decodes big."""
    rng = np.random.RandomState(seed)
    small = rng.randint(0, 90, size=(max(2, height // 64), max(2, width // 64), 3)).astype(np.uint8)
    small[..., colour] = rng.randint(160, 255, size=small.shape[:2])
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


# ----- the plan ----------------------------------------------------------------------------------------
def test_the_plan_reads_a_jpeg_at_the_smallest_reduction_that_still_covers_the_resize():
    big = encode(textured(3000, 4000, 2))
    assert images.decode_plan(big, SPEC) == images.DecodePlan(4000, 3000, 8, 500 * 375)
    assert images.decode_plan(big, PreprocessSpec(size=224)) == images.DecodePlan(4000, 3000, 8, 500 * 375)
    # 256 (224 / 0.875) on the shorter side: 1/8 of 1500 is 188, too small; 1/4 is 375.
    middle = encode(textured(1500, 2000, 2))
    assert images.decode_plan(middle, PreprocessSpec(size=224)).reduce == 4
    assert images.decode_plan(encode(textured(300, 400, 2)), PreprocessSpec(size=224)).reduce == 1
    # A stretch resize needs each side separately: 400 wide for a 100x400 input.
    assert images.decode_plan(big, PreprocessSpec(size=(100, 400), resize="stretch")).reduce == 8
    assert images.decode_plan(big, PreprocessSpec(size=(100, 1200), resize="stretch")).reduce == 2
    # A PNG has no reduced read; a progressive JPEG holds every coefficient: both count whole.
    assert images.decode_plan(encode(textured(300, 400, 2), ".png"), SPEC) == images.DecodePlan(400, 300, 1, 120000)
    progressive = encode(textured(3000, 4000, 2), ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert images.decode_plan(progressive, SPEC) == images.DecodePlan(4000, 3000, 8, 12000000)
    with pytest.raises(RequestError) as refused:
        images.decode_plan(b"\x89PNG\r\n\x1a\n truncated", SPEC)
    assert refused.value.code == 400


def test_the_image_size_as_sent_is_recovered_from_a_reduced_or_turned_decode():
    plan = images.DecodePlan(4001, 3001, 8, 0)
    assert images.full_size(np.zeros((376, 501, 3), np.uint8), plan) == (3001, 4001)
    assert images.full_size(np.zeros((501, 376, 3), np.uint8), plan) == (4001, 3001)   # EXIF: turned


@pytest.fixture(scope="module")
def service(export_fp32_bundle):
    bundle = Bundle.load(export_fp32_bundle)
    runner, _ = make_runner(bundle, "onnxruntime", "fp32", threads=1, spinning=False)
    service = InferenceService(bundle, runner, "colours", ServeTelemetry(), max_batch=1).start()
    yield service
    service.close()


def test_a_reduced_jpeg_decode_gives_the_top_1_of_a_full_decode_on_the_test_images(service, export_images):
    """The tolerance: the same top-1 for every image; the softmax confidence within 0.05 (printed)."""
    worst, reductions = 0.0, set()
    for index, path in enumerate(sorted(glob.glob(os.path.join(export_images, "*", "*.png")))):
        small = cv2.imread(path)
        height, width = (1200, 1600) if index % 2 else (1536, 1152)
        data = encode(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), ".jpg",
                      cv2.IMWRITE_JPEG_QUALITY, 90)
        plan = images.decode_plan(data, service.model.spec)
        reductions.add(plan.reduce)
        rows, image_hw = service.prepare_image(data)
        assert image_hw == (height, width)
        reduced = softmax(service.runner.infer(rows)[0])
        full = softmax(service.runner.infer(service.prepare(decode_image(data)))[0])
        assert reduced.argmax() == full.argmax(), path
        worst = max(worst, float(np.abs(reduced - full).max()))
    print("reduced JPEG decode (1/{}) vs full: same top-1 on all; confidence differs by {:.4f} at most".format(
        sorted(reductions), worst))
    assert reductions == {8} and worst <= 0.05


def softmax(logits):
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


# ----- the budget ----------------------------------------------------------------------------------------
def test_the_budget_never_holds_more_than_its_pixels_and_refuses_what_never_fits():
    budget = PixelBudget(100, wait_s=30)
    held, most, lock = [0], [0], threading.Lock()

    def decode(pixels):
        with budget.hold(pixels):
            with lock:
                held[0] += pixels
                most[0] = max(most[0], held[0])
            time.sleep(0.01)
            with lock:
                held[0] -= pixels

    threads = [threading.Thread(target=decode, args=(pixels,)) for pixels in [60, 30, 50, 100, 10, 70] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert most[0] <= 100 and budget.peak <= 100 and budget.used == 0
    with pytest.raises(RequestError) as refused:
        with budget.hold(101, "the 101x1 image"):
            pass
    assert refused.value.code == 413
    assert str(refused.value) == ("the 101x1 image takes 0.0 megapixels to decode, over edge-serve's decoding "
                                  "budget of 0.0001 megapixels")


def test_a_request_waiting_too_long_for_the_budget_is_a_503():
    budget = PixelBudget(100, wait_s=0.2)
    with budget.hold(80):
        with pytest.raises(RequestError) as refused:
            with budget.hold(30):
                pass
    assert refused.value.code == 503 and dict(refused.value.headers)["Retry-After"] == "1"
    with budget.hold(100):   # given back: the whole budget is free again
        pass



def test_a_caller_may_wait_less_than_the_budget_says():
    """The MQTT front end decodes on paho's network thread: it waits QUEUE_WAIT_S at most, never the
    budget's minute, or the broker would drop a client that sent no keepalive meanwhile."""
    from edge.serve.mqtt import QUEUE_WAIT_S

    budget = PixelBudget(100, wait_s=3600)
    with budget.hold(80):
        with pytest.raises(RequestError) as refused:
            with budget.hold(30, wait_s=0.2):
                pass
    assert refused.value.code == 503
    assert 2 * QUEUE_WAIT_S < 1.5 * 30   # the decode wait and the queue wait, inside 1.5 x the default keepalive
