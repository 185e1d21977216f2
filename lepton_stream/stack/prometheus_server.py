"""Prometheus (Debian package) for the local stack: by PID, on `prometheus_port`, data under the home."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

from lepton_stream.config import Settings
from lepton_stream.observability.metrics_http import targets_dir
from lepton_stream.observability.prometheus_config import write_local_config
from lepton_stream.stack.processes import StackError, pid_alive


class PrometheusServer:
    name = "prometheus"
    ready_timeout_s = 30.0

    def ports(self, s: Settings) -> list[int]:
        return [s.oncall.prometheus_port]

    def _config(self, s: Settings):  # noqa: ANN202
        return s.endpoints.home / "prometheus" / "prometheus.yml"

    def prepare(self, s: Settings) -> None:
        if shutil.which("prometheus") is None:
            raise StackError(self.name, "prometheus not found on PATH: run `make setup`")
        write_local_config(s, self._config(s))
        prune_targets(s)  # a worker killed earlier would show as a target down forever

    def command(self, s: Settings) -> list[str]:
        return [shutil.which("prometheus") or "prometheus", f"--config.file={self._config(s)}",
                f"--storage.tsdb.path={s.endpoints.home / 'prometheus' / 'data'}",
                f"--web.listen-address={s.endpoints.host}:{s.oncall.prometheus_port}",
                "--storage.tsdb.retention.time=2d",
                "--web.enable-lifecycle"]

    def env(self, s: Settings) -> dict[str, str] | None:
        return None

    def _get(self, s: Settings, path: str) -> dict:
        url = f"http://{s.endpoints.host}:{s.oncall.prometheus_port}{path}"
        with urllib.request.urlopen(url, timeout=3) as resp:
            return json.loads(resp.read()) if path.startswith("/api") else {"status": resp.status}

    def ready(self, s: Settings) -> bool:
        return self._get(s, "/-/ready")["status"] == 200

    def targets(self, s: Settings) -> list[dict]:
        return self._get(s, "/api/v1/targets?state=active")["data"]["activeTargets"]

    def health(self, s: Settings) -> str:
        targets = self.targets(s)
        up = sum(t["health"] == "up" for t in targets)
        return f"{up}/{len(targets)} targets up: " + ", ".join(
            f"{t['labels']['job']} {t['health']}" for t in targets)


def prune_targets(s: Settings) -> list[Path]:
    """Remove the target files of processes that are gone (a SIGKILL skips atexit)."""
    removed = []
    for path in targets_dir(s).glob("*-*.json"):
        pid = path.stem.rpartition("-")[2]
        if pid.isdigit() and not pid_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
