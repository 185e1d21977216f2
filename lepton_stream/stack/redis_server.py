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
"""

from __future__ import annotations

import shutil

import redis

from lepton_stream.config import Settings
from lepton_stream.stack.processes import StackError

DURABILITY: tuple[str, ...] = ("--appendonly", "yes", "--appendfsync", "always")


class RedisServer:
    name = "redis"
    ready_timeout_s = 20.0

    def ports(self, s: Settings) -> list[int]:
        return [s.endpoints.redis_port]

    def prepare(self, s: Settings) -> None:
        if shutil.which("redis-server") is None:
            raise StackError(self.name, "redis-server not found on PATH: run `make setup`")
        (s.endpoints.home / "data" / "redis").mkdir(parents=True, exist_ok=True)

    def command(self, s: Settings) -> list[str]:
        return [shutil.which("redis-server") or "redis-server",
                "--port", str(s.endpoints.redis_port), "--bind", s.endpoints.host,
                "--save", "", *DURABILITY, "--dir", str(s.endpoints.home / "data" / "redis"),
                "--daemonize", "no", "--maxmemory-policy", "noeviction"]

    def env(self, s: Settings) -> dict[str, str] | None:
        return None

    def _client(self, s: Settings) -> redis.Redis:
        return redis.Redis.from_url(s.redis_url, socket_timeout=2, socket_connect_timeout=2)

    def ready(self, s: Settings) -> bool:
        with self._client(s) as r:
            return bool(r.ping())

    def health(self, s: Settings) -> str:
        with self._client(s) as r:
            info = r.info()
        keys = info.get("db0", {}).get("keys", 0)
        return f"PONG, redis {info['redis_version']}, {info['used_memory_human']} used, {keys} keys"
