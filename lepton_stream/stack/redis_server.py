"""redis-server (Debian package) without persistence: features are rebuilt by replay."""

from __future__ import annotations

import shutil

import redis

from lepton_stream.config import Settings
from lepton_stream.stack.processes import StackError


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
                "--save", "", "--appendonly", "no", "--dir", str(s.endpoints.home / "data" / "redis"),
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
