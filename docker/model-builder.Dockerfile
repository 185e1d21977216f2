# The TensorRT builder step: the official Triton image (it has trtexec) plus
# lepton_stream/models/tensorrt.py. Used by the k8s Triton init container;
# compose mounts the same file into the same image instead.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}
COPY lepton_stream/models/tensorrt.py /lepton/tensorrt.py
ENTRYPOINT ["python3", "/lepton/tensorrt.py"]
CMD ["/models"]
