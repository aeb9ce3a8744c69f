"""`from export import export_bundle, ExportOptions`, with the options as keywords or as an object."""

import os

import pytest

from tests import helpers


def test_the_package_names_are_the_pipeline_s():
    import export
    from export import ExportOptions, export_bundle
    from export.options import ExportOptions as options_class
    from export.pipeline import export_bundle as pipeline_function

    assert export_bundle is pipeline_function and ExportOptions is options_class
    assert sorted(export.__all__) == ["ExportOptions", "export_bundle"]
    with pytest.raises(AttributeError, match="export_bundel"):
        export.export_bundel


def test_importing_export_leaves_the_desktop_pipeline_unloaded():
    # edge-export bundle/ --engine on a device imports the package and needs none of the pipeline.
    result = helpers.run_blocked("import export, export.cli\nprint(sorted(m for m in sys.modules if m in "
                                 "('export.pipeline', 'export.bundle_models')))", ("torch", "onnx"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_keywords_override_an_options_object():
    from export import ExportOptions
    from export.pipeline import with_values

    base = ExportOptions(verify_count=3, seed=7)
    merged = with_values(base, {"int8": True, "calib": "data/val", "verify_count": 5})
    assert (merged.int8, merged.calib, merged.verify_count, merged.seed) == (True, "data/val", 5, 7)
    assert base.verify_count == 3 and not base.int8       # the object given is left as it was
    assert with_values(base, {}) is base
    assert vars(with_values(None, {})) == vars(ExportOptions())


def test_a_misspelt_keyword_is_refused_before_anything_is_written(export_checkpoint, tmp_path):
    from export import export_bundle

    with pytest.raises(TypeError, match="calib_sise"):
        export_bundle(export_checkpoint, str(tmp_path / "b"), int8=True, calib_sise=10)
    assert not os.path.exists(str(tmp_path / "b"))


def test_export_with_keyword_options(export_checkpoint, tmp_path):
    from export import export_bundle

    lines = []
    manifest = export_bundle(export_checkpoint, str(tmp_path / "b"), verify_count=3, dynamic_batch=2,
                             log=lines.append)
    assert manifest["verification"]["fp32"]["inputs"] == 3
    assert manifest["input"]["batch"] == {"min": 1, "opt": 1, "max": 2}
    assert lines[-1].startswith("wrote ")
