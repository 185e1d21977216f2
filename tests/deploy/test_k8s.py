"""k8s/: every overlay renders with kustomize, and every rendered resource is valid
against the Kubernetes schemas (built-in kinds) or the CRD schemas of Strimzi,
the Flink Kubernetes Operator and the Prometheus Operator, strictly (unknown
fields fail) and with no resource left unchecked. Then what the issue asks of
the manifests: the job's entry point, topics, users, secrets, network flows.
Never applied to a cluster here (there is none)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lepton_stream.config import REPO_ROOT, Topics
from lepton_stream.kafka.retention import topic_configs
from lepton_stream.stack.job_process import JOB_MODULE, JOB_SCRIPT, job_args
from tests.deploy.conftest import OVERLAYS, Validators, find, one

Docs = list[dict[str, Any]]


# --- schemas ------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_is_valid_against_its_schema(validation, overlay: str) -> None:
    results = validation[overlay]
    assert len(results) > 30
    bad = [f"{r['kind']}/{r['name']}: {r['error']}" for r in results if r["error"]]
    assert bad == []
    unchecked = [r for r in results if r["schema"] == "none"]
    assert unchecked == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_are_checked_by_their_crds(validation, overlay: str) -> None:
    by_kind = {r["kind"]: r["schema"] for r in validation[overlay]}
    assert by_kind["FlinkDeployment"] == "flinkdeployment-flink-v1beta1.json"
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"):
        assert by_kind[kind] == f"{kind.lower()}-kafka-v1.json"
    assert by_kind["PodMonitor"] == "podmonitor-monitoring-v1.json"
    assert by_kind["PrometheusRule"] == "prometheusrule-monitoring-v1.json"
    assert by_kind["Deployment"].startswith("kubernetes ")


def _mutations() -> list[tuple[str, Any]]:
    def fd_typo(d):
        d["spec"]["job"]["upgradeMod"] = d["spec"]["job"].pop("upgradeMode")

    def fd_bad_mode(d):
        d["spec"]["job"]["upgradeMode"] = "sometimes"

    def topic_string_partitions(d):
        d["spec"]["partitions"] = "twelve"

    def user_bad_acl(d):
        d["spec"]["authorization"]["acls"][0]["operations"] = ["Gossip"]

    def deploy_unknown_field(d):
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"

    def deploy_unknown_container_field(d):
        d["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}

    def np_bad_port(d):
        d["spec"]["ingress"][0]["ports"][0]["portt"] = 6066

    def unknown_kind(d):
        d["kind"] = "KafkaTopik"

    return [("FlinkDeployment", fd_typo), ("FlinkDeployment", fd_bad_mode), ("KafkaTopic", topic_string_partitions),
            ("KafkaUser", user_bad_acl), ("Deployment", deploy_unknown_container_field),
            ("NetworkPolicy", np_bad_port), ("KafkaTopic", unknown_kind)]


def test_the_validators_reject_broken_manifests(validators: Validators, rendered) -> None:
    docs = rendered["prod"]
    broken = []
    for kind, mutate in _mutations():
        doc = copy.deepcopy(next(d for d in docs if d["kind"] == kind and
                                 (kind != "NetworkPolicy" or d["spec"].get("ingress"))))
        mutate(doc)
        broken.append(doc)
    results = validators.validate(yaml.safe_dump_all(broken))
    assert len(results) == len(broken)
    passed = [(r["kind"], r["name"]) for r in results if r["error"] is None]
    assert passed == [], f"broken manifests passed validation: {passed}"


def test_flink_crd_patch_is_still_needed(validators: Validators) -> None:
    """crd_schemas.py adds v2_x to the published 1.10.0 CRD's flinkVersion enum;
    when a newer operator jar is pinned, this fails and the patch goes."""
    crd = yaml.safe_load((validators.crd_yaml / "flinkdeployments.yaml").read_text())
    enum = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "flinkVersion"]["enum"]
    assert "v2_2" not in enum and "v1_20" in enum


# --- the job ------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_flink_deployment_runs_the_local_entry_point(rendered, overlay: str) -> None:
    fd = one(rendered[overlay], "FlinkDeployment", "scoring-job")
    job = fd["spec"]["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    args = job["args"]
    script = args[args.index("-py") + 1]
    # The file that `python -m JOB_MODULE` runs locally, at its place in the image.
    local_file = REPO_ROOT / (JOB_MODULE.replace(".", "/") + ".py")
    assert local_file.exists() and local_file.relative_to(REPO_ROOT).as_posix() == JOB_SCRIPT
    assert script == f"/opt/lepton/{JOB_SCRIPT}"
    assert args[args.index("-py") + 2:] == job_args()  # the job's own arguments, as locally
    assert args[args.index("-pyclientexec") + 1] == fd["spec"]["flinkConfiguration"]["python.client.executable"]
    assert f"flink-python-{_flink_version()}.jar" in job["jarURI"]
    # Every Flink jar the manifest names (PythonDriver, the S3 plugin) is the image's Flink.
    jars = re.findall(r"flink-[a-z0-9-]+?-(\d+\.\d+\.\d+)\.jar", yaml.safe_dump(fd))
    assert len(jars) >= 2 and set(jars) == {_flink_version()}


def test_python_driver_hands_the_job_its_arguments(rendered, tmp_path) -> None:
    """Run the FlinkDeployment's entry class with its args, as the JobManager will (from
    the local PyFlink, the image's Flink version), the script swapped for a probe."""
    import importlib.util
    import shutil

    fd = one(rendered["prod"], "FlinkDeployment", "scoring-job")["spec"]["job"]
    pyflink = Path(importlib.util.find_spec("pyflink").origin).parent
    jar = pyflink / "opt" / fd["jarURI"].rsplit("/", 1)[1]
    assert jar.exists(), f"{jar.name} is not a jar of this Flink"
    args = list(fd["args"])
    args[args.index("-pyclientexec") + 1] = sys.executable
    probe = tmp_path / "probe.py"
    # The driver checks that the process it started is alive right after starting it: a
    # probe that has already exited by then (a loaded machine) fails the run, so it waits.
    probe.write_text("import sys, time\nprint('ARGV', sys.argv[1:], flush=True)\ntime.sleep(3)\n")
    args[args.index("-py") + 1] = str(probe)
    run = subprocess.run([shutil.which("java") or "java", "-cp", f"{pyflink / 'lib'}/*:{jar}", fd["entryClass"], *args],
                         capture_output=True, text=True, timeout=120)
    assert f"ARGV {job_args()!r}" in run.stdout, f"rc {run.returncode}\n{run.stdout[-1000:]}\n{run.stderr[-3000:]}"


def _flink_version() -> str:
    m = re.search(r"ARG APACHE_FLINK_VERSION=(\S+)", (REPO_ROOT / "docker" / "flink.Dockerfile").read_text())
    assert m
    return m.group(1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_flink_state_is_durable_and_upgrades_keep_it(rendered, overlay: str) -> None:
    fd = one(rendered[overlay], "FlinkDeployment", "scoring-job")
    conf = fd["spec"]["flinkConfiguration"]
    assert fd["spec"]["job"]["upgradeMode"] == "savepoint"
    assert conf["high-availability.type"] == "kubernetes"
    for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir",
                "high-availability.storageDir"):
        assert re.fullmatch(r"s3://[a-z0-9.-]+/\S+", conf[key]), f"{key}={conf[key]!r}"
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert "job.autoscaler.enabled" in conf and "pipeline.max-parallelism" in conf
    assert fd["spec"]["flinkVersion"] == "v" + "_".join(_flink_version().split(".")[:2])
    assert "STATE_URI" not in yaml.safe_dump(fd)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_job_settings_agree_with_the_flink_deployment(rendered, overlay: str) -> None:
    """The job sets parallelism.default and the checkpoint interval from LEPTON_* itself;
    they must say what the FlinkDeployment says, or its parallelism would be ignored."""
    docs = rendered[overlay]
    fd = one(docs, "FlinkDeployment", "scoring-job")["spec"]
    config = one(docs, "ConfigMap", "lepton-stream-config")["data"]
    assert int(config["LEPTON_PARALLELISM"]) == fd["job"]["parallelism"]
    interval_s = int(fd["flinkConfiguration"]["execution.checkpointing.interval"].removesuffix(" s"))
    assert int(config["LEPTON_CHECKPOINT_INTERVAL_MS"]) == interval_s * 1000
    assert int(config["LEPTON_PARTITIONS"]) == find(docs, "KafkaTopic")[0]["spec"]["partitions"]
    # Topics our clients create (the monitor's changelogs) must satisfy the cluster's min ISR.
    kafka = one(docs, "Kafka", "lepton")["spec"]["kafka"]["config"]
    assert int(config.get("LEPTON_KAFKA_REPLICATION_FACTOR", "1")) == kafka["default.replication.factor"]
    assert kafka["min.insync.replicas"] <= kafka["default.replication.factor"]


def test_prod_scales_out(rendered) -> None:
    docs = rendered["prod"]
    fd = one(docs, "FlinkDeployment", "scoring-job")
    assert fd["spec"]["job"]["parallelism"] > 2 and fd["spec"]["jobManager"]["replicas"] == 2
    assert fd["spec"]["flinkConfiguration"]["job.autoscaler.enabled"] == "true"
    assert one(docs, "KafkaNodePool", "dual-role")["spec"]["replicas"] == 3
    for t in find(docs, "KafkaTopic"):
        assert t["spec"]["replicas"] == 3 and t["spec"]["partitions"] >= fd["spec"]["job"]["parallelism"]
    hpa = one(docs, "HorizontalPodAutoscaler", "triton")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "triton"
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "triton_queue_duration_us_per_request"


def test_redis_cluster_overlay_runs_three_masters_and_joins_them(rendered) -> None:
    from lepton_stream.stack.redis_cluster import MASTERS

    docs = rendered["redis-cluster"]
    assert one(docs, "ConfigMap", "lepton-stream-config")["data"]["LEPTON_REDIS_CLUSTER"] == "true"
    assert "LEPTON_REDIS_CLUSTER" not in one(rendered["dev"], "ConfigMap", "lepton-stream-config")["data"]
    sts = one(docs, "StatefulSet", "redis")["spec"]
    assert sts["replicas"] == MASTERS
    args = sts["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--cluster-enabled") + 1] == "yes"
    assert args[args.index("--cluster-config-file") + 1].startswith("/data/")  # on the volume: a pod keeps its id
    # Each master announces the name the headless Service gives its pod.
    headless = one(docs, "Service", "redis-nodes")["spec"]
    assert headless["clusterIP"] == "None" and sts["serviceName"] == "redis-nodes"
    assert args[args.index("--cluster-announce-hostname") + 1] == "$(POD_NAME).redis-nodes"
    assert {p["port"] for p in headless["ports"]} == {6379, 16379}
    script = one(docs, "Job", "redis-cluster-create")["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert f"for i in {' '.join(map(str, range(MASTERS)))}; do" in script
    assert "--cluster create $nodes" in script and "--cluster-replicas 0" in script
    # The job's seed is still the Service `redis` (any master).
    assert one(docs, "ConfigMap", "lepton-stream-config")["data"]["LEPTON_REDIS_HOST"] == "redis"


# --- Kafka --------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_topic_for_every_design_topic(rendered, overlay: str) -> None:
    topics = {t["metadata"]["name"] for t in find(rendered[overlay], "KafkaTopic")}
    assert topics == set(Topics().all())
    configs = topic_configs(Topics())
    for t in find(rendered[overlay], "KafkaTopic"):
        assert t["metadata"]["labels"]["strimzi.io/cluster"] == "lepton"
        # Retention and cleanup as lepton_stream/kafka/retention.py states them.
        want = {k: v for k, v in configs[t["metadata"]["name"]].items() if k != "max.message.bytes"}
        assert {k: str(v) for k, v in t["spec"]["config"].items() if k in want} == want, t["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_is_as_durable_as_the_local_stack(rendered, overlay: str) -> None:
    from lepton_stream.stack.redis_server import DURABILITY

    redis = [c for d in find(rendered[overlay], "StatefulSet") for c in d["spec"]["template"]["spec"]["containers"]
             if c["name"] == "redis"]
    assert redis
    for c in redis:
        assert " ".join(DURABILITY) in " ".join(c["args"])


def test_kafka_listener_is_tls_scram_with_authorization(rendered) -> None:
    kafka = one(rendered["prod"], "Kafka", "lepton")["spec"]["kafka"]
    assert [(li["tls"], li["authentication"]["type"]) for li in kafka["listeners"]] == [(True, "scram-sha-512")]
    assert kafka["authorization"]["type"] == "simple"
    config = one(rendered["prod"], "ConfigMap", "lepton-stream-config")["data"]
    assert config["LEPTON_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["LEPTON_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["LEPTON_KAFKA_PORT"] == str(kafka["listeners"][0]["port"])


def test_each_kafka_client_has_its_user_and_only_the_topics_it_needs(rendered) -> None:
    docs = rendered["prod"]
    users = {u["metadata"]["name"]: u for u in find(docs, "KafkaUser")}
    assert set(users) == {"scoring-job", "alert-monitor", "producer", "lepton-exporter"}

    def topics(user: str, op: str) -> set[str]:
        acls = users[user]["spec"]["authorization"]["acls"]
        return {a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic" and op in a["operations"]
                and a["resource"].get("patternType", "literal") == "literal"}

    t = Topics()
    assert topics("scoring-job", "Read") == {t.transactions, t.fraud_labels, t.credit_profiles, t.rules}
    assert topics("scoring-job", "Write") == {t.scores, t.risk_alerts, t.pipeline_metrics, t.dlq}
    assert topics("alert-monitor", "Read") == {t.risk_alerts, t.pipeline_metrics}
    assert topics("alert-monitor", "Write") == {"oncall-pages"}
    assert topics("producer", "Write") == {t.transactions, t.fraud_labels, t.credit_profiles, t.rules}
    # `lepton-stream rules list / disable` read the rules they change, and nothing else.
    assert topics("producer", "Read") == {t.rules}
    for u in users.values():
        assert u["spec"]["authentication"]["type"] == "scram-sha-512"
    # Each workload logs in as its own user, with the password Strimzi generated for it.
    assert topics("lepton-exporter", "Write") == topics("lepton-exporter", "Read") == set()
    for user in ("scoring-job", "alert-monitor", "lepton-exporter"):  # each workload's own user
        spec = _pod_specs(docs)[user]
        env = {e["name"]: e.get("value") for c in spec["containers"] for e in c.get("env", [])}
        assert env["LEPTON_KAFKA_USERNAME"] == user
        assert {"secretName": user, "items": [{"key": "password", "path": "password"}]} in \
            [v.get("secret") for v in spec["volumes"]]


# --- secrets ------------------------------------------------------------------------

SECRETISH = re.compile(r"(?i)(password|passwd|secret|token|private|credential|api.?key|access.?key)")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_only_by_reference(rendered, overlay: str) -> None:
    docs = rendered[overlay]
    assert find(docs, "Secret") == [], "Secrets are created out of band or by Strimzi, never from the repository"
    for cm in find(docs, "ConfigMap"):
        for key, value in cm.get("data", {}).items():
            if SECRETISH.search(key):
                assert key.endswith("_FILE") and value.startswith("/etc/lepton/"), f"{key}={value!r}"
    for name, spec in _pod_specs(docs).items():
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for e in c.get("env", []):
                if SECRETISH.search(e["name"]):
                    assert "value" not in e and "secretKeyRef" in e.get("valueFrom", {}), f"{name}: {e['name']}"
            assert not any(SECRETISH.search(a) and "=" in a for a in c.get("args", [])), f"{name}: secret in args"


def test_no_secret_material_in_k8s_sources() -> None:
    for path in (REPO_ROOT / "k8s").rglob("*.yaml"):
        text = path.read_text()
        assert "BEGIN " not in text and "PRIVATE KEY" not in text, path
        # a key named like a secret with a literal value (`secret: {secretName: ...}` is a reference)
        assert not re.search(r"(?im)^[ \t-]*(password|secret|token)[ \t]*:[ \t]*[^{\s]", text), path


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_mounted_volume_exists(rendered, overlay: str) -> None:
    claims = {d["metadata"]["name"]: {c["metadata"]["name"] for c in d["spec"].get("volumeClaimTemplates", [])}
              for d in find(rendered[overlay], "StatefulSet")}
    for name, spec in _pod_specs(rendered[overlay]).items():
        volumes = {v["name"] for v in spec.get("volumes", [])} | claims.get(name, set())
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes, f"{name}/{c['name']} mounts missing volume {m['name']}"


# --- network ------------------------------------------------------------------------

def _pod_specs(docs: Docs) -> dict[str, dict[str, Any]]:
    specs = {}
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            specs[d["metadata"]["name"]] = d["spec"]["template"]["spec"]
        elif d["kind"] == "FlinkDeployment":
            specs[d["metadata"]["name"]] = d["spec"]["podTemplate"]["spec"]
    return specs


def _pod_labels(docs: Docs) -> dict[str, dict[str, str]]:
    """Labels of each component's pods, as the cluster will have them."""
    labels = {}
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            labels[d["metadata"]["name"]] = d["spec"]["template"]["metadata"]["labels"]
        elif d["kind"] == "FlinkDeployment":  # the operator labels JobManager and TaskManager pods so
            labels[d["metadata"]["name"]] = {"app": d["metadata"]["name"], "type": "flink-native-kubernetes"}
        elif d["kind"] == "Kafka":  # Strimzi's labels on the broker pods
            labels["kafka"] = {"strimzi.io/cluster": d["metadata"]["name"], "strimzi.io/kind": "Kafka"}
    labels["producer"] = {"lepton.io/kafka-client": "producer"}  # pods that run `lepton-stream produce`
    return labels


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are evaluated here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peers(peer: dict[str, Any], pods: dict[str, dict[str, str]]) -> set[str]:
    if "namespaceSelector" in peer:
        return {"ns:" + peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]}
    return {name for name, labels in pods.items() if _matches(peer["podSelector"], labels)}


def _ingress_flows(docs: Docs) -> set[tuple[str, str, str]]:
    pods = _pod_labels(docs)
    flows = set()
    for np in find(docs, "NetworkPolicy"):
        targets = {n for n, labels in pods.items() if _matches(np["spec"]["podSelector"], labels)}
        for rule in np["spec"].get("ingress", []):
            ports = [str(p["port"]) for p in rule.get("ports", [])] or ["*"]
            sources = set().union(*(_peers(p, pods) for p in rule["from"]))
            flows |= {(s, t, p) for s in sources for t in targets for p in ports}
    return flows


# docs/design.md's arrows, as pod-to-pod connections (Kafka's own ingress is Strimzi's, below).
DESIGN_INGRESS = {
    ("scoring-job", "redis", "6379"),  # features
    ("scoring-job", "triton", "8001"),  # scores (gRPC)
    ("scoring-job", "scoring-job", "*"),  # JobManager <-> TaskManagers
    ("ns:flink-operator", "scoring-job", "8081"),  # the operator drives the job
    ("ns:monitoring", "scoring-job", "9250"),  # Prometheus scrapes every process
    ("ns:monitoring", "alert-monitor", "6066"),
    ("ns:monitoring", "triton", "8002"),
    ("ns:monitoring", "lepton-exporter", "9252"),
    ("lepton-exporter", "redis", "6379"),  # the stack exporter's health probes
    ("lepton-exporter", "triton", "8000"),
    ("lepton-exporter", "scoring-job", "8081"),  # the job's checkpoints and restarts (REST)
}
# A Redis Cluster's masters talk to each other (client port for the resharding
# MIGRATE, bus port for gossip) and are joined once by the create Job.
REDIS_CLUSTER_INGRESS = {
    ("redis", "redis", "6379"),
    ("redis", "redis", "16379"),
    ("redis-cluster-create", "redis", "6379"),
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_only_the_design_flows(rendered, overlay: str) -> None:
    docs = rendered[overlay]
    deny = one(docs, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and not deny.get("ingress")
    assert _ingress_flows(docs) == DESIGN_INGRESS | (REDIS_CLUSTER_INGRESS if overlay == "redis-cluster" else set())
    # Kafka: Strimzi generates the listener's NetworkPolicy from these peers.
    pods = _pod_labels(docs)
    listener = one(docs, "Kafka", "lepton")["spec"]["kafka"]["listeners"][0]
    clients = set().union(*(_peers(p, pods) for p in listener["networkPolicyPeers"]))
    assert clients == {"scoring-job", "alert-monitor", "producer", "lepton-exporter"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_triton_is_not_exposed_outside_the_cluster(rendered, overlay: str) -> None:
    docs = rendered[overlay]
    assert find(docs, "Ingress") == [] and find(docs, "Route") == []
    for svc in find(docs, "Service"):
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP", svc["metadata"]["name"]
    triton = one(docs, "Deployment", "triton")["spec"]["template"]["spec"]["containers"][0]
    assert all("hostPort" not in p for p in triton["ports"])
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_triton_model_control_needs_the_key_of_its_secret(rendered, overlay: str) -> None:
    from lepton_stream.models.triton_key import server_flags

    docs = rendered[overlay]
    spec = one(docs, "Deployment", "triton")["spec"]["template"]["spec"]
    triton = spec["containers"][0]
    script = triton["command"][2]
    # The options tritonserver 2.51 takes, as the local stack passes them, the key read from the Secret.
    assert script.startswith('read -r k < /etc/lepton/triton-key/key || true; [ -n "$k" ];') and 'exec "$@"' in script
    for flag in server_flags('"$k"'):
        assert flag in script
    assert triton["args"][0] == "tritonserver"  # the shell runs the unchanged args
    assert {"name": "triton-key", "mountPath": "/etc/lepton/triton-key", "readOnly": True} in triton["volumeMounts"]
    secret = next(v["secret"] for v in spec["volumes"] if v["name"] == "triton-key")
    assert secret["secretName"] == "triton-api-key" and secret["defaultMode"] == 0o400
    # No other pod of the manifests holds the key (the publisher's is added by whoever publishes).
    holders = {name for name, s in _pod_specs(docs).items()
               if any(v.get("secret", {}).get("secretName") == "triton-api-key" for v in s.get("volumes", []))}
    assert holders == {"triton"}


def test_flink_takes_no_jar_uploads(rendered) -> None:
    for overlay in OVERLAYS:
        fd = one(rendered[overlay], "FlinkDeployment", "scoring-job")
        assert fd["spec"]["flinkConfiguration"]["web.submit.enable"] == "false"


def test_prod_triton_runs_on_gpus_with_plans_built_per_pod(rendered) -> None:
    spec = one(rendered["prod"], "Deployment", "triton")["spec"]["template"]["spec"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["initContainers"][0]["name"] == "model-builder"
    dev = one(rendered["dev"], "Deployment", "triton")["spec"]["template"]["spec"]["containers"][0]
    assert "--model-config-name=cpu" in dev["args"] and "nvidia.com/gpu" not in dev["resources"]["limits"]


# --- monitoring ---------------------------------------------------------------------

def test_prometheus_rule_is_generated_from_the_rules_file() -> None:
    run = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "gen_k8s_rules.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    rules = yaml.safe_load((REPO_ROOT / "monitoring" / "prometheus" / "rules" / "lepton.rules.yml").read_text())
    committed = yaml.safe_load((REPO_ROOT / "k8s" / "base" / "prometheusrule.yaml").read_text())
    assert committed["spec"]["groups"] == rules["groups"]


def test_gen_rules_notices_a_stale_file(tmp_path, monkeypatch) -> None:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        import gen_k8s_rules
    finally:
        sys.path.pop(0)
    stale = tmp_path / "prometheusrule.yaml"
    stale.write_text("# old\n")
    monkeypatch.setattr(gen_k8s_rules, "TARGET", stale)
    assert gen_k8s_rules.main(["--check"]) == 1
    assert gen_k8s_rules.main([]) == 0 and gen_k8s_rules.main(["--check"]) == 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_monitors_scrape_the_design_ports(rendered, overlay: str) -> None:
    docs = rendered[overlay]
    pods, specs = _pod_labels(docs), _pod_specs(docs)
    scraped, jobs = {}, {}
    for pm in find(docs, "PodMonitor"):
        (target,) = [n for n, labels in pods.items() if _matches(pm["spec"]["selector"], labels | (
            {"component": "taskmanager"} if n == "scoring-job" else {}))]
        port_name = pm["spec"]["podMetricsEndpoints"][0]["port"]
        ports = {p["name"]: p["containerPort"] for c in specs[target]["containers"] for p in c.get("ports", [])}
        scraped[target] = ports[port_name]
        (relabel,) = pm["spec"]["podMetricsEndpoints"][0]["relabelings"]
        assert relabel["targetLabel"] == "job"
        jobs[target] = relabel["replacement"]
    assert scraped == {"scoring-job": 9250, "alert-monitor": 6066, "triton": 8002, "lepton-exporter": 9252}
    # The same job names as the compose Prometheus, which the rules and dashboard use.
    prom = yaml.safe_load((REPO_ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    compose_jobs = {j["job_name"] for j in prom["scrape_configs"]} - {"lepton-producer"}  # no producer in k8s
    assert set(jobs.values()) == compose_jobs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_lepton_variable_is_a_setting(rendered, overlay: str) -> None:
    """Settings.from_env ignores unknown LEPTON_* names: a typo would silently fall back
    to the one-machine defaults (127.0.0.1). Every name set in k8s and compose exists."""
    from lepton_stream.config import Settings

    known = set(Settings().to_env())
    docs = rendered[overlay]
    names = set(one(docs, "ConfigMap", "lepton-stream-config")["data"])
    for spec in _pod_specs(docs).values():
        names |= {e["name"] for c in spec["containers"] for e in c.get("env", [])}
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    names |= set(compose["x-lepton-env"])
    lepton = {n for n in names if n.startswith("LEPTON_")}
    assert lepton and lepton <= known, f"not settings: {sorted(lepton - known)}"
