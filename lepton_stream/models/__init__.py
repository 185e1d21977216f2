"""Models: training, evaluation and ONNX export for model_repo/."""
