from pathlib import Path

from lepton_stream.config import Settings
from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.models.tensorrt import docker_command, plan_jobs, trtexec_command


def test_a_plan_per_tensorrt_model_with_the_configs_batch_profile():
    repo = Settings().endpoints.model_repo
    jobs = {onnx.parent.parent.name: (onnx, plan, name, n, mb) for onnx, plan, name, n, mb in plan_jobs(repo)}
    assert set(jobs) == {"fraud_scorer", "credit_scorer"}  # the ensemble has no plan of its own
    onnx, plan, name, n, max_batch = jobs["fraud_scorer"]
    assert (name, n, max_batch) == ("features", len(FRAUD_FEATURES), 8192)
    assert jobs["credit_scorer"][3] == len(CREDIT_FEATURES)
    assert plan == onnx.with_name("model.plan")
    cmd = trtexec_command(*jobs["fraud_scorer"])
    assert cmd[:2] == ["trtexec", f"--onnx={onnx}"] and "--fp16" in cmd
    assert f"--maxShapes=features:8192x{len(FRAUD_FEATURES)}" in cmd and "--minShapes=features:1x21" in cmd


def test_without_trtexec_it_runs_itself_in_the_triton_container():
    cmd = docker_command(Path("/x/model_repo"))
    assert cmd[:4] == ["docker", "run", "--rm", "--gpus"] and "nvcr.io/nvidia/tritonserver:24.10-py3" in cmd
    assert cmd[-2:] == ["/lepton/tensorrt.py", "/models"]
