"""Tiny ONNX models built with the `onnx` package (the job venv has no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# onnxruntime 1.20 runs opsets up to 21; the onnx package writes 22 unless told.
OPSET, IR_VERSION = 17, 8


def constant_model(path: Path, n_features: int, output: str, value: float) -> Path:
    """[batch, n_features] -> [batch, 1], `value` for every row whatever the features:
    a model that looks fine to shape checks and scores nothing."""
    weights = numpy_helper.from_array(np.zeros((n_features, 1), np.float32), "w")
    bias = numpy_helper.from_array(np.full((1,), value, np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], [output])],
        "constant",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", 1])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
