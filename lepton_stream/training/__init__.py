"""Training (torch, in `.venv-train`): data sets, models, the handbook's evaluation protocol.

Only this package imports torch; serving runs the exported ONNX.
"""
