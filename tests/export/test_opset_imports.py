"""Every model file of a bundle imports only the opset domains its nodes use (export.onnx_export.keep_used_opsets).

ONNX Runtime's quant_pre_process and quantize_static stamp the INT8 models with every domain ORT
registers (ai.onnx.ml 5, the training and preview domains, com.microsoft.nchwc, org.pytorch.aten):
ONNX Runtime 1.10 (Python 3.6, JetPack 4.6's era) refuses such a model ("Opset 5 is under
development"), and 1.16 and 1.17 do too. tests/edge/test_desktop_bundles.py loads the files under
Python 3.6 with ONNX Runtime 1.10 itself (make test-device).
"""

import os

import pytest

from edge.bundle.bundle import Bundle

onnx = pytest.importorskip("onnx")
helper = onnx.helper


def _imports(proto):
    return dict((opset.domain, opset.version) for opset in proto.opset_import)


def _model_with_subgraph_and_function(path):
    """Relu in the graph, a com.microsoft node only inside an If branch, a call of a local function
    (domain local.fn) whose body uses ai.onnx.ml; ai.onnx.preview and com.microsoft.nchwc unused."""
    then_branch = helper.make_graph([helper.make_node("Gelu", ["x"], ["t"], domain="com.microsoft")], "then", [],
                                    [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, [1])])
    else_branch = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", onnx.TensorProto.FLOAT, [1])])
    function = helper.make_function("local.fn", "Scale", ["a"], ["b"],
                                    [helper.make_node("Normalizer", ["a"], ["b"], domain="ai.onnx.ml")],
                                    [helper.make_opsetid("ai.onnx.ml", 1)])
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch),
             helper.make_node("Scale", ["r"], ["z"], domain="local.fn")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1]),
                                           helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1]),
                               helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [1])])
    opsets = [("", 13), ("ai.onnx.ml", 5), ("ai.onnx.preview", 1), ("com.microsoft", 1), ("com.microsoft.nchwc", 1),
              ("local.fn", 1)]
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                              functions=[function])
    onnx.save(model, str(path))
    return str(path)


def node_domains(nodes):
    """The domains `nodes` and their subgraphs use (the test's own walk, not the one under test)."""
    found = set()
    for node in nodes:
        found.add(node.domain)
        for attribute in node.attribute:
            for graph in ([attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)):
                found |= node_domains(graph.node)
    return found


def test_only_the_domains_of_nodes_subgraphs_and_functions_stay(tmp_path):
    from export.onnx_export import keep_used_opsets

    path = _model_with_subgraph_and_function(tmp_path / "model.onnx")
    dropped = keep_used_opsets(path)
    assert sorted(dropped) == [("ai.onnx.preview", 1), ("com.microsoft.nchwc", 1)]
    proto = onnx.load(path)
    assert _imports(proto) == {"": 13, "ai.onnx.ml": 5, "com.microsoft": 1, "local.fn": 1}
    assert [node.op_type for node in proto.graph.node] == ["Relu", "If", "Scale"] and len(proto.functions) == 1


def test_the_default_domain_stays_and_a_clean_file_is_not_rewritten(tmp_path):
    from export.onnx_export import keep_used_opsets

    graph = helper.make_graph([helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    path = str(tmp_path / "model.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                      helper.make_opsetid("com.microsoft", 1)]), path)
    before = os.stat(path).st_mtime_ns, open(path, "rb").read()
    assert keep_used_opsets(path) == []
    assert (os.stat(path).st_mtime_ns, open(path, "rb").read()) == before
    assert _imports(onnx.load(path)) == {"": 13, "com.microsoft": 1}   # no node of "" yet its opset stays


def _model_files(folder):
    for base, _, files in os.walk(folder):
        for name in sorted(files):
            if name.endswith(".onnx"):
                yield os.path.join(base, name)


@pytest.mark.parametrize("fixture", ["export_int8_bundle", "export_fused_int8_bundle"])
def test_every_model_file_of_a_bundle_imports_only_what_its_nodes_use(request, fixture):
    folder = request.getfixturevalue(fixture)
    bundle = Bundle.load(folder)
    files = list(_model_files(folder))
    assert len(files) == len(bundle.artifacts("onnx")) >= (5 if "fused" in fixture else 3)
    for path in files:
        proto = onnx.load(path, load_external_data=False)
        assert not proto.functions
        assert set(_imports(proto)) <= node_domains(proto.graph.node) | {""}, (os.path.basename(path), _imports(proto))
        assert _imports(proto)[""] == 13
    for entry in bundle.artifacts():
        bundle.check(entry)   # each sha256 in the manifest is the file's as it now is
