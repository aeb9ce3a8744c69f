"""The README's "Python API (notebooks)" example runs as written: fit, export, load, predict, frames."""

import os
import re

import pytest

from tests.helpers import ROOT

SECTION = "## Python API (notebooks)"


def readme_example():
    """The python code blocks of the README's API section, joined in order."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    assert SECTION in text, "the README lost its section " + SECTION
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "no ```python block in the README's " + SECTION
    return "\n".join(blocks)


def test_the_example_has_each_part_of_the_api():
    code = readme_example()
    for call in ("train.fit(", "export.export_bundle(", "edge.load_bundle(", ".runner(", ".predict(",
                 "edge.open_source("):
        assert call in code


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    for module in ("torch", "onnx", "onnxruntime", "sklearn", "cv2", "matplotlib"):
        pytest.importorskip(module, reason="the example trains and exports: needs {} (desktop)".format(module))
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    exec(compile(readme_example(), "README.md:" + SECTION, "exec"), namespace)

    run, bundle, result, model = namespace["run"], namespace["bundle"], namespace["result"], namespace["model"]
    assert os.path.isfile(run.model_path) and 0.0 <= run.accuracy <= 1.0
    assert run.metrics["classes"] == bundle.classes == [str(digit) for digit in range(10)]
    assert os.path.isfile(os.path.join("bundle", "manifest.json"))
    assert result.prediction == result.top[0].label and result.prediction in bundle.classes
    assert not model.is_active   # the with block freed the runner
    printed = capsys.readouterr().out.splitlines()
    assert len([line for line in printed[-5:] if line in bundle.classes]) == 5   # five frames classified
