"""Prometheus for the local stack: the repository's config (monitoring/prometheus/prometheus.yml,
written for compose/k8s service names) rendered with this machine's ports.

Same job names, same rule file. Processes whose port is chosen at start (the
job's workers, the producer, the monitor) are found through the file_sd target
files they write (observability/metrics_http.py); the stack exporter and Triton
have fixed ports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.observability.metrics_http import targets_dir

MONITORING = REPO_ROOT / "monitoring" / "prometheus"
REPO_CONFIG = MONITORING / "prometheus.yml"
RULES = MONITORING / "rules" / "lepton.rules.yml"
DISCOVERED = {"lepton-job": "job", "lepton-producer": "producer", "lepton-monitor": "monitor"}


def local_config(s: Settings, scrape_interval_s: float = 5.0) -> dict[str, Any]:
    targets = targets_dir(s)
    interval = f"{scrape_interval_s:g}s"
    scrape: list[dict[str, Any]] = [
        {"job_name": job, "file_sd_configs": [{"files": [str(targets / f"{role}-*.json")], "refresh_interval": "1s"}]}
        for job, role in DISCOVERED.items()]
    host = s.endpoints.host
    scrape += [{"job_name": "lepton-stack", "static_configs": [{"targets": [f"{host}:{s.oncall.stack_metrics_port}"]}]},
               {"job_name": "triton", "static_configs": [{"targets": [f"{host}:{s.endpoints.triton_metrics_port}"]}]}]
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval,
                       "external_labels": {"service": "lepton-stream"}},
            "rule_files": [str(RULES)], "scrape_configs": scrape}


def write_local_config(s: Settings, path: Path, scrape_interval_s: float = 5.0) -> Path:
    """JSON is YAML: Prometheus reads it as is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    targets_dir(s).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(local_config(s, scrape_interval_s), indent=2))
    return path
