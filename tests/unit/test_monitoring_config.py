"""Prometheus config, alerting rules (promtool), runbook and dashboard stay consistent with the code."""

import re
import shutil
import subprocess

import yaml

from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.observability.metrics import TRITON_METRICS, metric_names
from lepton_stream.observability.prometheus_config import REPO_CONFIG, RULES, write_local_config

PROM = REPO_ROOT / "monitoring" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    # Not skipped when missing: `make test` runs setup, which installs Debian's prometheus (promtool).
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: run `make setup` (installs Debian's prometheus package)"
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)


def _alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def test_the_rules_cover_what_the_issue_asks_for():
    names = {a["alert"] for a in _alerts()}
    assert {"LeptonConsumerLagGrowing", "LeptonLatencyP99OverSLO", "LeptonDependencyCallsFailing",
            "LeptonDLQRateHigh", "LeptonTritonDown", "LeptonRedisDown", "LeptonNoEvents",
            "LeptonAlertRateAnomaly"} <= names


def test_promtool_rule_unit_tests_pass():
    tests = sorted(str(p) for p in (PROM / "tests").glob("*.yml"))
    assert tests
    done = _promtool("test", "rules", *tests)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_promtool_test_and_a_runbook_section():
    tested = "\n".join(p.read_text() for p in (PROM / "tests").glob("*.yml"))
    runbook = (REPO_ROOT / "docs" / "oncall.md").read_text().lower()
    for alert in _alerts():
        name = alert["alert"]
        assert re.search(rf"alertname: {name}\n\s+exp_alerts:\n\s+- exp_labels", tested), f"{name}: no firing test"
        assert f"### {name.lower()}" in runbook, f"{name}: no runbook section"
        assert alert["annotations"]["runbook"] == f"docs/oncall.md#{name.lower()}"


def test_rules_only_name_metrics_the_code_or_triton_defines():
    known = metric_names() | TRITON_METRICS | {"up"}
    for alert in _alerts():
        for name in re.findall(r"\b(lepton_[a-z0-9_]+|nv_[a-z0-9_]+)", alert["expr"]):
            assert name in known, f"{alert['alert']}: {name}"


def test_repo_and_local_configs_are_valid_and_have_the_same_jobs(tmp_path):
    done = _promtool("check", "config", str(REPO_CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    local = write_local_config(Settings().replace(home=tmp_path), tmp_path / "prometheus.yml")
    done = _promtool("check", "config", str(local))
    assert done.returncode == 0, done.stdout + done.stderr
    jobs = lambda p: {j["job_name"] for j in yaml.safe_load(p.read_text())["scrape_configs"]}  # noqa: E731
    assert jobs(REPO_CONFIG) == jobs(local) == {"lepton-job", "lepton-producer", "lepton-stack", "lepton-monitor",
                                                "triton"}


def test_every_dashboard_query_names_a_metric_the_code_or_triton_defines():
    import json

    dash = json.loads((REPO_ROOT / "monitoring" / "grafana" / "dashboards" / "lepton.json").read_text())
    known = metric_names() | TRITON_METRICS | {"up"}
    titles = set()
    for panel in dash["panels"]:
        titles.add(panel["title"])
        assert panel["datasource"]["uid"] == "lepton-prometheus"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = re.findall(r"\b(lepton_[a-z0-9_]+|nv_[a-z0-9_]+|up)\b(?=[{\[)\s])", target["expr"] + " ")
            assert names, (panel["title"], target["expr"])
            for name in names:
                assert name in known, (panel["title"], name)
    needed = ("Throughput", "latency", "severity", "Dead-letter", "lag", "Triton queue", "Model versions")
    assert all(any(word in t for t in titles) for word in needed), titles
    datasource = yaml.safe_load((REPO_ROOT / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "lepton-prometheus"


def test_the_rule_spike_alert_and_the_monitor_page_on_the_same_numbers():
    o = Settings().oncall
    expr = next(a["expr"] for a in _alerts() if a["alert"] == "LeptonRuleHitsSpike")
    window, baseline = f"{o.rule_spike_window_min}m", f"{o.rule_baseline_min}m"
    assert f"rate(lepton_rule_hits_total[{window}])" in expr
    assert f"> {o.rule_spike_factor:g} * sum by (rule) (rate(lepton_rule_hits_total[{baseline}] offset {window}))" \
        in expr
    assert f"increase(lepton_rule_hits_total[{window}])) >= {o.rule_spike_min_hits}" in expr
    assert f"(lepton_rule_hits_total offset {o.rule_grace_min}m)" in expr  # the grace: a series that old
