"""`lepton-stream up | down | status`: the local stack (Kafka, Redis, Triton) by PID.

State lives in `<home>/run/stack.json`: which parts this manager started,
their PIDs and ports. `down` stops exactly those PIDs.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from lepton_stream import logs
from lepton_stream.config import Settings, setting_names
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.stack import processes, redis_cluster
from lepton_stream.stack.health_exporter import PROBED, StackExporter
from lepton_stream.stack.processes import StackError
from lepton_stream.stack.prometheus_server import PrometheusServer
from lepton_stream.stack.service import Service, log_path

log = logs.get("lepton.stack")

# The exporter starts after the parts it probes.
SERVICES: tuple[Service, ...] = (*PROBED, StackExporter())
OPTIONAL: tuple[Service, ...] = (PrometheusServer(),)  # `up --monitoring`


@dataclass
class PartStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str


def _state_path(s: Settings) -> Path:
    return s.run_dir / "stack.json"


def _load(s: Settings) -> dict[str, dict]:
    try:
        return json.loads(_state_path(s).read_text())
    except (OSError, ValueError):
        return {}


def _save(s: Settings, state: dict[str, dict]) -> None:
    s.run_dir.mkdir(parents=True, exist_ok=True)
    tmp = _state_path(s).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(_state_path(s))


def up(s: Settings, only: list[str] | None = None, monitoring: bool = False) -> list[str]:
    """Start every part (or the `only` ones) not already running; on any failure
    stop what this call started and raise one StackError. Returns the names started."""
    s.run_dir.mkdir(parents=True, exist_ok=True)
    state = _load(s)
    services = SERVICES + (OPTIONAL if monitoring or only else ())
    unknown = set(only or []) - {svc.name for svc in SERVICES + OPTIONAL}
    if unknown:
        raise StackError(", ".join(sorted(unknown)), "no such part (kafka, redis, triton, exporter, prometheus)")
    todo = [svc for svc in services
            if (only is None or svc.name in only)
            and not (svc.name in state and processes.pid_alive(state[svc.name]["pid"]))]
    for svc in todo:
        for port in svc.ports(s):
            if not processes.port_free(s.endpoints.host, port):
                raise StackError(svc.name, f"port {port} on {s.endpoints.host} is taken by another process")
    started: list[str] = []
    try:
        for svc in todo:
            t0 = time.monotonic()
            svc.prepare(s)
            proc = processes.start(svc.name, svc.command(s), log_path(s, svc.name), env=svc.env(s))
            state[svc.name] = {"pid": proc.pid, "ports": svc.ports(s), "log": str(log_path(s, svc.name))}
            _save(s, state)
            started.append(svc.name)
            processes.wait_ready(svc.name, proc, log_path(s, svc.name), partial(svc.ready, s),
                                 svc.ready_timeout_s)
            log.info("part ready", extra={"part": svc.name, "pid": proc.pid,
                                          "seconds": round(time.monotonic() - t0, 1)})
        if "kafka" not in state:
            return started
        try:
            created = create_topics(s.kafka_bootstrap, s.topics, s.endpoints.partitions)
            wait_topics_ready(s.kafka_bootstrap, s.topics.all())
        except Exception as exc:
            raise StackError("kafka", f"creating topics failed: {exc}") from None
        if created:
            log.info("topics created", extra={"topics": created, "partitions": s.endpoints.partitions})
    except BaseException:
        for name in reversed(started):
            processes.stop(state.pop(name)["pid"])
        _save(s, state)
        raise
    return started


def down(s: Settings) -> list[str]:
    return down_parts(s, [svc.name for svc in SERVICES + OPTIONAL])


def down_parts(s: Settings, names: list[str]) -> list[str]:
    """Stop the named parts (those a caller started), by their recorded PIDs."""
    state = _load(s)
    stopped = []
    for svc in reversed(SERVICES + OPTIONAL):
        if svc.name not in names:
            continue
        entry = state.pop(svc.name, None)
        if entry is None:
            continue
        processes.stop(entry["pid"])
        stopped.append(svc.name)
        _save(s, state)
    return stopped


def status(s: Settings) -> list[PartStatus]:
    state = _load(s)
    out = []
    for svc in SERVICES + tuple(o for o in OPTIONAL if o.name in state):
        entry = state.get(svc.name)
        pid = entry["pid"] if entry else None
        running = pid is not None and processes.pid_alive(pid)
        healthy, detail = False, "not started by lepton-stream" if pid is None else "process gone"
        if running:
            try:
                healthy = svc.ready(s)
                detail = svc.health(s)
            except Exception as exc:
                detail = f"unhealthy: {exc}"
        out.append(PartStatus(svc.name, pid, running, healthy, detail))
    return out


def free_port_settings(home: Path, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings whose every port (each `*_port` setting, whatever its section) is a free
    one, under `home`: a stack beside any other on the machine (tests, the benchmark)."""
    names = [name for name in setting_names() if name.endswith("_port")]
    ports = dict(zip(names, processes.free_ports(len(names)), strict=True))
    s = Settings.from_env(env, **{"home": home, **ports, **overrides})
    if not s.endpoints.redis_cluster or "redis_port" in overrides:
        return s
    # A local cluster takes the block of ports from redis_port (redis_cluster.py): all free.
    while True:
        block = set(redis_cluster.node_ports(s) + redis_cluster.bus_ports(s))
        taken = set(ports.values()) - {s.endpoints.redis_port}
        if not block & taken and all(processes.port_free(s.endpoints.host, p) for p in block):
            return s
        s = s.replace(redis_port=processes.free_ports(1)[0])


@contextlib.contextmanager
def private_stack(home: Path | None = None, env: dict[str, str] | None = None,
                  **overrides: Any) -> Iterator[Settings]:
    """Kafka, Redis and Triton on free ports under `home` (a temporary one when None),
    stopped by PID afterwards."""
    with contextlib.ExitStack() as stack:
        where = home or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lepton-stack-")))
        s = free_port_settings(where, env, **overrides)
        up(s)
        try:
            yield s
        finally:
            down(s)
