"""Triton python-backend model: runs model.onnx (next to this file) with onnxruntime.

Dynamic batching may hand over several requests at once: they are scored in
one onnxruntime call and split back.
"""

import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

OUTPUTS = ("fraud_score", "credit_score")


class TritonPythonModel:
    def initialize(self, args):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        path = os.path.join(os.path.dirname(__file__), "model.onnx")
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "features").as_numpy() for r in requests]
        sizes = [len(x) for x in inputs]
        fraud, credit = self.session.run(list(OUTPUTS), {"features": np.concatenate(inputs).astype(np.float32)})
        responses, start = [], 0
        for n in sizes:
            tensors = [pb_utils.Tensor(OUTPUTS[0], fraud[start : start + n]),
                       pb_utils.Tensor(OUTPUTS[1], credit[start : start + n])]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += n
        return responses
