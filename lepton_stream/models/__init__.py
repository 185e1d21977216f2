"""The Triton model repository: publishing new model versions, building TensorRT plans."""
