"""Start the Prometheus HTTP endpoint of a process, and tell a local Prometheus where it is.

One job can run several Python workers (parallelism > 1, or PyFlink's
process mode), each its own process with its own counters. They must not
share one port, and prometheus-client's multiprocess mode (a shared mmap
folder, cleaned by whoever starts the workers) does not fit workers that
Flink starts and restarts. So each process takes the first free port of
`base, base+1, ...` (`span` ports, skipping the other roles' ports) and writes a Prometheus file_sd target file
`<home>/run/prometheus/targets/<role>-<pid>.json` naming it, removed when the
process exits; the local Prometheus config (observability/prometheus_config.py)
reads those files. On Kubernetes/compose each worker is its own pod/container
and the base port is enough.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from pathlib import Path

from prometheus_client import start_http_server

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.observability.metrics import PROCESS

log = logs.get("lepton.metrics")
_started: dict[str, int] = {}  # role -> port, per process: open() may run once per UDF instance
_starting = threading.Lock()


def targets_dir(s: Settings) -> Path:
    return s.run_dir / "prometheus" / "targets"


def start_exporter(s: Settings, role: str, base_port: int, span: int | None = None) -> int | None:
    """Serve this process's metrics on the first free port from `base_port`; returns
    it, or None when every port of the span is taken (metrics must never stop the job)."""
    with _starting:  # the job's copies of its batch step open at once, on threads of their own
        return _start(s, role, base_port, span)


def _start(s: Settings, role: str, base_port: int, span: int | None) -> int | None:
    if role in _started:  # a second pipeline in this process (or another home in tests)
        write_target(s, role, _started[role])
        return _started[role]
    span = s.oncall.metrics_port_span if span is None else span
    for port in candidate_ports(s, base_port, span):
        try:
            start_http_server(port, addr=s.endpoints.host)
        except OSError:
            continue
        _started[role] = port
        PROCESS.info({"role": role, "pid": str(os.getpid())})
        write_target(s, role, port)
        log.info("metrics exporter listening", extra={"role": role, "port": port})
        return port
    log.warning("no free metrics port, not exporting", extra={"role": role, "ports": f"{base_port}+{span}"})
    return None


def candidate_ports(s: Settings, base_port: int, span: int) -> list[int]:
    """`base_port` and the next ports, skipping the other processes' own ports
    (9250 job, 9251 producer, 9252 stack by default): a second worker must not
    take the producer's port."""
    o = s.oncall
    reserved = {o.job_metrics_port, o.producer_metrics_port, o.stack_metrics_port, o.monitor_port,
                o.prometheus_port} - {base_port}
    out: list[int] = []
    port = base_port
    while len(out) < max(1, span):
        if port not in reserved:
            out.append(port)
        port += 1
    return out


def write_target(s: Settings, role: str, port: int) -> None:
    path = targets_dir(s) / f"{role}-{os.getpid()}.json"
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": [f"{s.endpoints.host}:{port}"], "labels": {"role": role}}]))
        tmp.replace(path)
    except OSError as exc:  # a read-only home: the port is still served, only discovery is lost
        log.warning("cannot write Prometheus target file", extra={"path": str(path), "error": str(exc)})
        return
    atexit.register(lambda: path.unlink(missing_ok=True))
