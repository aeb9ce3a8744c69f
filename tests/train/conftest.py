"""Fixtures shared by the trainer tests."""

import pytest
import torch


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """torch.hub's cache in tmp_path, with any download failing as it would offline."""
    def offline(url, *args, **kwargs):
        raise OSError("offline: " + url)

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder
