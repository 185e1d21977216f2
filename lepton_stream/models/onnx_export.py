"""Export a TwoHeadMLP to ONNX: normalisation inside the graph, dynamic batch axis.

Opset 17 / IR 8: parsed by TensorRT's ONNX parser and by onnxruntime 1.20.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper, numpy_helper

from lepton_stream.models.mlp import TwoHeadMLP
from lepton_stream.scoring.base import FEATURES_INPUT, OUTPUTS


def export(model: TwoHeadMLP, path: Path) -> None:
    n_features = model.w1.shape[0]
    inits = [
        numpy_helper.from_array(arr, name)
        for name, arr in (("mean", model.mean), ("std", model.std), ("w1", model.w1), ("b1", model.b1),
                          ("wf", model.w_fraud), ("bf", model.b_fraud), ("wc", model.w_credit),
                          ("bc", model.b_credit))
    ]
    nodes = [
        helper.make_node("Sub", [FEATURES_INPUT, "mean"], ["centered"]),
        helper.make_node("Div", ["centered", "std"], ["normed"]),
        helper.make_node("MatMul", ["normed", "w1"], ["h_mm"]),
        helper.make_node("Add", ["h_mm", "b1"], ["h_pre"]),
        helper.make_node("Relu", ["h_pre"], ["h"]),
        helper.make_node("MatMul", ["h", "wf"], ["f_mm"]),
        helper.make_node("Add", ["f_mm", "bf"], ["f_logit"]),
        helper.make_node("Sigmoid", ["f_logit"], [OUTPUTS[0]]),
        helper.make_node("MatMul", ["h", "wc"], ["c_mm"]),
        helper.make_node("Add", ["c_mm", "bc"], ["c_logit"]),
        helper.make_node("Sigmoid", ["c_logit"], [OUTPUTS[1]]),
    ]
    graph = helper.make_graph(
        nodes,
        "risk_scorer",
        [helper.make_tensor_value_info(FEATURES_INPUT, TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 1]) for name in OUTPUTS],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="lepton_stream")
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
