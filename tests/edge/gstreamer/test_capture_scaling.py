"""Scaling before the CPU converts the frame keeps the results: the full-frame path and the scaled one,
both decoded, scaled and converted by real GStreamer on a short clip, give the model nearly the same
input and the same top-1 (benchmarks/capture_scaling.py measures the CPU per frame, and the top-1
agreement of a trained ResNet-18 on a clip of its validation images)."""

import numpy as np
import pytest

from benchmarks.capture_scaling import agreement, mean_difference
from benchmarks.shapes import SHAPES, draw_shape
from tests.edge.realparts import needs_ffmpeg
from tests.fakes.tiny_bundle import write_tiny_bundle

pytestmark = pytest.mark.gstreamer


@needs_ffmpeg
def test_scaled_and_full_frame_paths_agree_on_a_clip(tmp_path):
    rng = np.random.RandomState(0)
    images = [draw_shape(SHAPES[index % 3], rng) for index in range(30)]
    bundle = write_tiny_bundle(tmp_path / "bundle", qdq=False)
    result = agreement(bundle, images, clip=str(tmp_path / "clip.mp4"))
    assert result["box"] == (37, 37)                     # 32 / 0.875: what the preprocessing resizes to
    assert result["after_shape"] == (37, 66, 3)          # 1280x720 scaled to cover it, before videoconvert
    assert result["agree"] >= 0.99 * result["frames"], result
    # The model's inputs differ by a few levels in 255 (the two scalers sample differently), where two
    # different images of the clip differ by tens.
    before, after = result["inputs"]
    assert result["input_difference"] < 6, result["input_difference"]
    assert mean_difference(before[1:], before[:-1]) > 4 * result["input_difference"]
