"""docker-compose.yml: valid against the Compose specification schema, and wired
as the deployment contract asks (never run here: no Docker engine)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lepton_stream.config import REPO_ROOT
from lepton_stream.stack.job_process import JOB_SCRIPT, job_args
from lepton_stream.stack.redis_server import DURABILITY
from tests.deploy.conftest import Validators

COMPOSE = REPO_ROOT / "docker-compose.yml"
# Written by the on-call work at fixed paths; compose only mounts them.
MONITORING_PATHS = {
    "./monitoring/prometheus/prometheus.yml",
    "./monitoring/prometheus/rules",
    "./monitoring/grafana/provisioning/datasources",
    "./monitoring/grafana/provisioning/dashboards",
    "./monitoring/grafana/dashboards",
}
ONE_SHOT = {"kafka-init", "model-builder", "scoring-job", "producer", "model-publish"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def schema_validator(validators: Validators) -> jsonschema.protocols.Validator:
    schema = json.loads(validators.compose_schema.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(v: jsonschema.protocols.Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in v.iter_errors(doc)]


def test_compose_file_matches_the_compose_spec(schema_validator, compose) -> None:
    assert errors(schema_validator, compose) == []


@pytest.mark.parametrize("mutate", [
    lambda c: c["services"]["triton"]["depends_on"]["model-builder"].update(condition="service_finished"),
    lambda c: c["services"]["redis"].update(healthcheck={"test": ["CMD", "redis-cli", "ping"], "intervall": "5s"}),
    lambda c: c["services"]["kafka"].update(ports="9092:9092"),
])
def test_the_schema_catches_mistakes(schema_validator, compose, mutate) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    assert errors(schema_validator, broken), "a broken compose file passed: the validator checks nothing"


CORE = {"kafka", "kafka-init", "redis", "jobmanager", "taskmanager", "scoring-job", "alert-monitor", "prometheus",
        "grafana", "lepton-exporter"}


def load(v: Validators, path: Path, profiles: str) -> subprocess.CompletedProcess[str]:
    """Docker Compose's own loader (compose-go), as `docker compose config` runs it."""
    env = {k: val for k, val in os.environ.items() if not k.startswith(("LOAD_", "COMPOSE_"))}
    return subprocess.run([str(v.composecheck), str(path), profiles], capture_output=True, text=True, timeout=60,
                          env=env, cwd=REPO_ROOT)


@pytest.mark.parametrize("profiles, extra", [
    ("", set()),
    ("gpu", {"model-builder", "triton"}),
    ("cpu", {"triton-cpu"}),
    ("cpu,load", {"triton-cpu", "producer"}),
    ("cpu,publish", {"triton-cpu", "model-publish"}),
])
def test_compose_loads_like_docker_compose_config(validators: Validators, profiles: str, extra: set[str]) -> None:
    run = load(validators, COMPOSE, profiles)
    assert run.returncode == 0, run.stderr
    project = json.loads(run.stdout)
    assert set(project["services"]) == CORE | extra
    # Interpolation defaults resolved, as Docker would run them.
    if "producer" in extra:
        assert project["services"]["producer"]["command"][2:6] == ["--rate", "5000", "--duration", "600"]


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["services"]["scoring-job"]["depends_on"].update(tritonx={"condition": "service_healthy"}),
     "undefined service"),
    (lambda c: c["services"]["redis"].update(volumes=["redis-datax:/data"]), "undefined volume"),
])
def test_the_loader_catches_what_the_schema_cannot(validators: Validators, compose, tmp_path, mutate, message) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    run = load(validators, path, "cpu")
    assert run.returncode != 0 and message in run.stderr


def test_loader_and_schema_are_the_same_compose_go_release() -> None:
    gomod = (REPO_ROOT / "scripts" / "validators" / "composecheck" / "go.mod").read_text()
    setup = (REPO_ROOT / "scripts" / "setup_validators.sh").read_text()
    pinned = re.search(r"compose-spec/compose-go/v2 (v[\d.]+)", gomod).group(1)
    assert f"COMPOSE_GO_VERSION={pinned}" in setup


def test_every_image_is_pinned(compose) -> None:
    for name, svc in compose["services"].items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "/" not in tag, f"{name}: image {image!r} is not pinned"


def test_long_running_services_have_healthchecks_and_waits_use_conditions(compose) -> None:
    services = compose["services"]
    for name, svc in services.items():
        if name not in ONE_SHOT and name != "taskmanager":
            assert "healthcheck" in svc, f"{name} has no healthcheck"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            wanted = "service_completed_successfully" if dep in ONE_SHOT else \
                "service_healthy" if "healthcheck" in services[dep] else "service_started"
            assert cond["condition"] == wanted, f"{name} -> {dep}: {cond['condition']}, expected {wanted}"


def test_gpu_triton_waits_for_the_plan_builder_and_cpu_profile_uses_cpu_configs(compose) -> None:
    s = compose["services"]
    assert s["triton"]["depends_on"]["model-builder"]["condition"] == "service_completed_successfully"
    assert s["triton"]["profiles"] == s["model-builder"]["profiles"] == ["gpu"]
    assert "trtexec" in (REPO_ROOT / "lepton_stream" / "models" / "tensorrt.py").read_text()
    assert s["triton-cpu"]["profiles"] == ["cpu"]
    assert "--model-config-name=cpu" in s["triton-cpu"]["command"]
    assert "triton" in s["triton-cpu"]["networks"]["default"]["aliases"]
    assert s["producer"]["profiles"] == ["load"]


def test_triton_is_not_published_outside_the_docker_network(compose) -> None:
    for name in ("triton", "triton-cpu"):
        assert "ports" not in compose["services"][name], f"{name} publishes ports on the host"


def test_triton_model_control_needs_the_key_only_the_publisher_holds(compose) -> None:
    from lepton_stream.models.triton_key import server_flags

    s = compose["services"]
    for name in ("triton", "triton-cpu"):
        script = s[name]["entrypoint"][2]
        # The options tritonserver 2.51 takes, as the local stack passes them, the key read from the volume.
        for flag in server_flags('"$$k"'):
            assert flag in script, f"{name}: {flag} missing"
        assert 'exec "$$@"' in script and s[name]["command"][0] == "tritonserver"
    mounting = {n for n, svc in s.items() for v in svc.get("volumes", []) if v.startswith("triton-key:")}
    assert mounting == {"triton", "triton-cpu", "model-publish"}
    publisher = s["model-publish"]
    assert "triton-key:/etc/lepton/triton-key:ro" in publisher["volumes"]
    assert publisher["environment"]["LEPTON_TRITON_API_KEY_FILE"] == "/etc/lepton/triton-key/key"


def test_flink_takes_no_jar_uploads(compose) -> None:
    assert "web.submit.enable: false" in compose["x-flink"]["environment"]["FLINK_PROPERTIES"]


def test_compose_submits_the_local_entry_point(compose) -> None:
    cmd = compose["services"]["scoring-job"]["command"]
    i = cmd.index("--python")
    assert cmd[i + 1] == f"/opt/lepton/{JOB_SCRIPT}"
    assert cmd[i + 2:] == job_args()
    # The image puts the sources where that path points.
    assert "COPY stream_jobs/ stream_jobs/" in (REPO_ROOT / "docker" / "flink.Dockerfile").read_text()
    assert "WORKDIR /opt/lepton" in (REPO_ROOT / "docker" / "flink.Dockerfile").read_text()


def test_alert_monitor_and_metrics_ports(compose) -> None:
    s = compose["services"]
    assert s["alert-monitor"]["command"] == ["python", "-m", "stream_jobs.alert_monitor"]
    assert "6066:6066" in s["alert-monitor"]["ports"]
    assert "9250" in s["taskmanager"]["expose"] and "9251" in s["producer"]["expose"]
    assert "8002" in s["triton"]["expose"]


def test_every_service_reaches_the_others_by_name(compose) -> None:
    env = compose["x-lepton-env"]
    hosts = (env["LEPTON_KAFKA_HOST"], env["LEPTON_REDIS_HOST"], env["LEPTON_TRITON_HOST"])
    assert hosts == ("kafka", "redis", "triton")
    from lepton_stream.config import Settings

    s = Settings.from_env({k: str(v) for k, v in env.items()})
    assert (s.kafka_bootstrap, s.triton_grpc) == ("kafka:29092", "triton:8001")  # the names mean something


def test_topics_created_are_the_design_topics(compose) -> None:
    from lepton_stream.config import Topics
    from lepton_stream.kafka.retention import topic_configs

    script = compose["services"]["kafka-init"]["command"][0]
    created = dict(item.split(":", 1) for item in
                   re.search(r"for t in ([^;]+);", script).group(1).replace("\\", " ").split())
    assert set(created) == set(Topics().all())
    # Retention and cleanup as the local stack creates them (lepton_stream/kafka/retention.py).
    for name, config in topic_configs(Topics()).items():
        given = dict(c.split("=", 1) for c in created[name].split(",") if c)
        assert given == {k: v for k, v in config.items() if k != "max.message.bytes"}, name


def test_redis_is_as_durable_as_the_local_stack(compose) -> None:
    command = compose["services"]["redis"]["command"]
    assert " ".join(DURABILITY) in " ".join(command)


def test_prometheus_and_grafana_use_the_monitoring_files(compose) -> None:
    mounts = {v.split(":")[0] for name in ("prometheus", "grafana") for v in compose["services"][name]["volumes"]}
    assert MONITORING_PATHS <= mounts
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./") and src not in MONITORING_PATHS:
                assert Path(REPO_ROOT, src).exists(), f"{name} mounts missing {src}"


def test_every_prometheus_target_is_a_compose_service(compose) -> None:
    """monitoring/prometheus/prometheus.yml (the on-call work) names its targets by
    compose service name and port: each must exist and expose that port."""
    prom = yaml.safe_load((REPO_ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in prom["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]]
    assert targets
    for target in targets:
        host, port = target.rsplit(":", 1)
        svc = compose["services"].get(host) or next(
            (s for s in compose["services"].values() if host in (s.get("networks") or {}).get("default", {}).get(
                "aliases", [])), None)
        assert svc is not None, f"Prometheus scrapes {target}: no such service"
        exposed = {str(p) for p in svc.get("expose", [])} | {str(p).split(":")[-1] for p in svc.get("ports", [])}
        assert port in exposed, f"{host} does not expose {port}"


def test_no_secret_values_in_compose() -> None:
    text = COMPOSE.read_text()
    assert not re.search(r"(?i)(password|secret|token)[A-Z_]*\s*[:=]\s*\S", text)
