"""redis-server (Debian package), durable: every write it acknowledged survives a crash.

`DURABILITY` is the one statement of how Redis persists, for the local stack, the
benchmark, docker-compose.yml and the Kubernetes manifests (tests/deploy checks
them): the append-only file, fsynced before Redis answers (`appendfsync always`).
Redis fsyncs once per event-loop turn, after running every command that arrived
in it, and only then sends the replies: a pipelined batch costs one fsync, and
a reply the job saw means the write is on disk. With `everysec` a crash loses up
to a second of writes whose Kafka offsets a checkpoint may already have
committed; those are never replayed, and the windows would silently miss them.
docs/design.md, "Durability of the feature store", has the rest.
With `redis_cluster` the part is a local three-master cluster (`redis_cluster.py`), each
node with the same `DURABILITY`.
"""

from __future__ import annotations

import shutil
import sys

from lepton_stream.config import Settings
from lepton_stream.feature_store.redis_cluster import memory_and_keys, redis_client
from lepton_stream.stack import redis_cluster
from lepton_stream.stack.processes import StackError

# The file's rewrite (its RDB preamble) uncompressed: LZF made a rewrite cost about
# three times the CPU (0.45 against 0.16 s for 57 MB of the store) for a base file
# 21 % smaller, and a rewrite competes with scoring for the cores (docs/performance.md).
DURABILITY: tuple[str, ...] = ("--appendonly", "yes", "--appendfsync", "always", "--rdbcompression", "no")


class RedisServer:
    name = "redis"
    ready_timeout_s = 40.0  # a cluster is created after its masters start

    def ports(self, s: Settings) -> list[int]:
        if s.endpoints.redis_cluster:
            return redis_cluster.node_ports(s) + redis_cluster.bus_ports(s)
        return [s.endpoints.redis_port]

    def prepare(self, s: Settings) -> None:
        for tool in ("redis-server", "redis-cli") if s.endpoints.redis_cluster else ("redis-server",):
            if shutil.which(tool) is None:
                raise StackError(self.name, f"{tool} not found on PATH: run `make setup`")
        (s.endpoints.home / "data" / "redis").mkdir(parents=True, exist_ok=True)

    def command(self, s: Settings) -> list[str]:
        if s.endpoints.redis_cluster:
            return [sys.executable, "-m", "lepton_stream.stack.redis_cluster"]
        where = s.endpoints
        return [shutil.which("redis-server") or "redis-server", "--port", str(where.redis_port), "--bind", where.host,
                "--save", "", *DURABILITY, "--dir", str(s.endpoints.home / "data" / "redis"),
                "--daemonize", "no", "--maxmemory-policy", "noeviction"]

    def env(self, s: Settings) -> dict[str, str] | None:
        if s.endpoints.redis_cluster:
            import os

            return {**os.environ, **s.to_env()}
        return None

    def ready(self, s: Settings) -> bool:
        if s.endpoints.redis_cluster:
            return all(redis_cluster.cluster_ok(s.endpoints.redis_host or s.endpoints.host, p, redis_cluster.MASTERS)
                       for p in redis_cluster.node_ports(s))
        with redis_client(s) as r:
            return bool(r.ping())

    def health(self, s: Settings) -> str:
        with redis_client(s) as r:
            cluster = s.endpoints.redis_cluster
            info = r.info("server", target_nodes=r.get_default_node()) if cluster else r.info("server")
        version = info["redis_version"]
        memory, keys = memory_and_keys(s)
        where = f"cluster of {redis_cluster.MASTERS} masters" if s.endpoints.redis_cluster else "redis"
        return f"PONG, {where} {version}, {memory / 2**20:.1f}M used, {keys} keys"
