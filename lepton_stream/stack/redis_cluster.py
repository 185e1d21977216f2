"""A local Redis Cluster of three masters (`LEPTON_REDIS_CLUSTER=true`): the stack's
"redis" part is this supervisor, which starts the masters in its own process group
(so the manager's stop by PID ends them all), joins them with `redis-cli --cluster
create`, and exits when any master does.

Masters listen on `redis_port` .. +2 (the first is the seed the clients are given),
their cluster buses on the three ports above those.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis

from lepton_stream.config import Settings

MASTERS = 3


def node_ports(s: Settings) -> list[int]:
    return [s.endpoints.redis_port + i for i in range(MASTERS)]


def bus_ports(s: Settings) -> list[int]:
    return [s.endpoints.redis_port + MASTERS + i for i in range(MASTERS)]


def node_command(host: str, port: int, bus_port: int, data_dir: Path) -> list[str]:
    """One master, durable as the single Redis is (`redis_server.DURABILITY`), each with
    its own append-only directory in the shared data directory."""
    from lepton_stream.stack.redis_server import DURABILITY  # redis_server imports this module

    return [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", host,
            "--cluster-enabled", "yes", "--cluster-port", str(bus_port),
            "--cluster-config-file", str(data_dir / f"nodes-{port}.conf"), "--cluster-node-timeout", "5000",
            "--save", "", *DURABILITY, "--appenddirname", f"appendonlydir-{port}", "--dir", str(data_dir),
            "--daemonize", "no", "--maxmemory-policy", "noeviction"]


def wait_pong(host: str, ports: list[int], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    for port in ports:
        while True:
            try:
                with redis.Redis(host=host, port=port, socket_timeout=1, socket_connect_timeout=1) as r:
                    if r.ping():
                        break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)


def create(host: str, ports: list[int]) -> None:
    """Every slot spread over the masters (no replicas), then wait until each agrees."""
    out = subprocess.run([shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
                          *(f"{host}:{p}" for p in ports), "--cluster-replicas", "0", "--cluster-yes"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"redis-cli --cluster create failed: {(out.stdout + out.stderr).strip()[-300:]}")
    deadline = time.monotonic() + 30
    while not all(cluster_ok(host, p, len(ports)) for p in ports):
        if time.monotonic() > deadline:
            raise RuntimeError("the cluster's state is not ok 30 s after its creation")
        time.sleep(0.2)


def cluster_ok(host: str, port: int, masters: int) -> bool:
    with redis.Redis(host=host, port=port, socket_timeout=2, socket_connect_timeout=2) as r:
        info = r.cluster("INFO")
    return bool(info["cluster_state"] == "ok" and int(info["cluster_size"]) == masters)


def main() -> int:
    s = Settings.from_env()
    data = s.endpoints.home / "data" / "redis-cluster"
    for conf in data.glob("nodes-*.conf"):  # a node with an old cluster's identity would not join a new one
        conf.unlink()
    data.mkdir(parents=True, exist_ok=True)
    procs = [subprocess.Popen(node_command(s.endpoints.host, port, bus, data), stdin=subprocess.DEVNULL)
             for port, bus in zip(node_ports(s), bus_ports(s), strict=True)]
    wait_pong(s.endpoints.host, node_ports(s))
    create(s.endpoints.host, node_ports(s))
    print(f"redis cluster ready: masters on {', '.join(map(str, node_ports(s)))}", flush=True)
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    return 1


if __name__ == "__main__":
    sys.exit(main())
