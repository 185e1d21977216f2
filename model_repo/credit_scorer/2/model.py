"""Triton python-backend model that runs the `model.onnx` beside it with onnxruntime.

`lepton-stream model publish` copies this file into each version directory as
`model.py` (the CPU variant; the GPU config serves a TensorRT plan instead).
Dynamic batching may hand over several requests at once: they are scored in
one onnxruntime call and split back.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.input_name = config["input"][0]["name"]
        self.output_name = config["output"][0]["name"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        path = os.path.join(os.path.dirname(__file__), "model.onnx")
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.onnx_input = self.session.get_inputs()[0].name

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        sizes = [len(x) for x in inputs]
        (scores,) = self.session.run(None, {self.onnx_input: np.concatenate(inputs).astype(np.float32)})
        responses, start = [], 0
        for n in sizes:
            out = pb_utils.Tensor(self.output_name, scores[start : start + n])
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
            start += n
        return responses
