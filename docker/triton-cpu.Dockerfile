# Triton for machines without a GPU: the official Triton image plus ONNX Runtime
# for the python-backend CPU models (model_repo/<model>/configs/cpu.pbtxt,
# selected with `tritonserver --model-config-name=cpu`).
#
# Build from the repository root:  docker build -f docker/triton-cpu.Dockerfile -t lepton-stream/triton-cpu:dev .
# docker-compose.yml mounts ./model_repo over /models; the copy baked in here is
# for Kubernetes (k8s/overlays/dev), so build after the ONNX models are in model_repo/.
# Not built on this machine (no Docker engine there).
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}

# Same pins as requirements/triton.in (the image's Python is 3.10 on Ubuntu 22.04).
RUN pip install --no-cache-dir onnxruntime==1.20.1 numpy==1.26.4

COPY model_repo/ /models/
EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--model-config-name=cpu"]
