"""A real edge-serve (a process) under 12 concurrent 40 MP images, as PNG and as JPEG: its peak RSS
(VmHWM) grows by what the decoding budget allows, not by 12 decoded images (benchmarks.serve_memory)."""

import os

import pytest


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM from /proc")
@pytest.mark.parametrize("kind, growth_mb", [("png", 400), ("jpg", 200)])
def test_twelve_concurrent_40_megapixel_images_stay_within_the_decoding_budget(export_fp32_bundle, kind, growth_mb):
    """A 40 MP decode takes 2 x 120 MB for a moment (OpenCV's image, then its copy into numpy): the budget
    lets one such decode run at a time, so a PNG's peak grows by about 240 MB plus the bodies; a JPEG is
    read at 1/8 of each side and costs little. Before the budget they grew by 650 and 800 MB."""
    from benchmarks.serve_memory import measure

    row = measure(export_fp32_bundle, kind, clients=12, megapixels=40)
    print("{format}: 12 x 40 MP: VmHWM {rss_before_mb} -> {rss_peak_mb} MB (+{growth_mb} MB)".format(**row))
    assert row["codes"] == [200] * 12
    assert row["growth_mb"] <= growth_mb
