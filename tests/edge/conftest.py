"""Fixtures shared by the tests of edge/ that use real parts."""

import pytest

from tests.edge.realparts import FFMPEG, make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 3-second, 30 fps test-pattern video made with ffmpeg (skipped where ffmpeg is missing)."""
    if FFMPEG is None:
        pytest.skip("needs Debian's ffmpeg (apt install ffmpeg)")
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", seconds=3, rate=30)
