"""The window store's transport on a Redis Cluster: a batch split by master.

Each call names the key whose slot routes it (every key of one call shares a hash
tag, so one slot). The calls of each master go out as one pipelined write on that
master's connection, every master's write before any reply is read, so a batch is
still about one round trip whatever the number of masters; replies come back in
the calls' order. A call redirected by a resharding or a failover (MOVED: the
slot map is read again; ASK: sent to the importing node after ASKING), refused
during a slot's migration (TRYAGAIN, CLUSTERDOWN), or sent to a master that lacks
the scripts (NOSCRIPT: loaded there) is sent again; the scripts are idempotent by
tx_id and a refused command did not run, so sending again is safe.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis
from hiredis import pack_command
from redis.cluster import ClusterNode
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ClusterError,
    MovedError,
    NoScriptError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)

from lepton_stream.config import Settings

Call = tuple[str, tuple[Any, ...]]  # (routing key, command and arguments)

_ASKING = pack_command(("ASKING",))
# Enough for a slot's migration to finish (TRYAGAIN backs off up to a second a round).
_MAX_ROUNDS = 16
# A script touching a key it did not declare (the label script's `seen` periods) in a
# slot under migration: refused before any write, like TRYAGAIN.
_MIGRATING = "non local key"


def cluster_client(url: str, socket_timeout: float) -> Any:
    """A redis-py RedisCluster from a seed node's URL (credentials and TLS included)."""
    return redis.RedisCluster.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)


def redis_client(s: Settings, socket_timeout: float = 2.0) -> Any:
    """What `Settings` point at: one Redis, or a cluster through its seed node."""
    if s.endpoints.redis_cluster:
        return cluster_client(s.redis_url, socket_timeout)
    return redis.Redis.from_url(s.redis_url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)


def memory_and_keys(s: Settings) -> tuple[int, int]:
    """Used memory and keys, summed over the masters of a cluster."""
    with redis_client(s) as r:
        if not s.endpoints.redis_cluster:
            return int(r.info("memory")["used_memory"]), int(r.dbsize())
        infos = r.info("memory", target_nodes=r.PRIMARIES).values()
        return sum(int(i["used_memory"]) for i in infos), int(r.dbsize(target_nodes=r.PRIMARIES))


class ClusterTransport:
    def __init__(self, client: Any, scripts: Sequence[str]) -> None:
        self._rc = client
        self._scripts = list(scripts)
        self._stale = False  # the slot map is read again before the next write

    def execute(self, calls: Sequence[Call]) -> list:
        """Every call's reply, in order; raises the first error that sending again cannot cure."""
        replies: list = [None] * len(calls)
        slots = [key_slot(key.encode()) for key, _ in calls]
        packed = [pack_command(args) for _, args in calls]
        todo = list(range(len(calls)))
        asking: dict[int, ClusterNode] = {}
        for attempt in range(_MAX_ROUNDS):
            if self._stale:
                self._rc.nodes_manager.initialize()
                self._stale = False
            todo, asking, backoff = self._round(todo, slots, packed, asking, replies)
            if not todo:
                return replies
            if backoff:
                time.sleep(min(0.02 * 2 ** attempt, 1.0))
        raise ClusterError(f"{len(todo)} calls still redirected after {_MAX_ROUNDS} rounds")

    def _primary(self, slot: int) -> ClusterNode:
        nodes = self._rc.nodes_manager.slots_cache.get(slot)
        if not nodes:
            self._stale = True
            raise SlotNotCoveredError(f"slot {slot} is not covered by the cluster")
        return nodes[0]

    def _round(self, todo: list[int], slots: list[int], packed: list[bytes], asking: dict[int, ClusterNode],
               replies: list) -> tuple[list[int], dict[int, ClusterNode], bool]:
        by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
        for i in todo:
            node = asking.get(i) or self._primary(slots[i])
            by_node.setdefault(node.name, (node, []))[1].append(i)
        sent: list[tuple[ClusterNode, Any, list[int]]] = []
        again: list[int] = []
        ask_next: dict[int, ClusterNode] = {}
        noscript: dict[str, ClusterNode] = {}
        backoff = False
        error: Exception | None = None
        try:
            for node, idx in by_node.values():
                pool = self._rc.get_redis_connection(node).connection_pool
                conn = pool.get_connection()
                sent.append((node, conn, idx))
                conn.send_packed_command([b"".join(_ASKING + packed[i] if i in asking else packed[i] for i in idx)],
                                         check_health=False)
            for node, conn, idx in sent:
                for i in idx:
                    if i in asking:
                        conn.read_response()  # ASKING's OK
                    try:
                        replies[i] = conn.read_response()
                    except MovedError:
                        self._stale = True
                        again.append(i)
                    except AskError as exc:
                        target = self._rc.nodes_manager.get_node(exc.host, exc.port)
                        if target is None:
                            self._stale = True
                        else:
                            ask_next[i] = target
                        again.append(i)
                    except (TryAgainError, ClusterDownError):
                        self._stale, backoff = True, True
                        again.append(i)
                    except NoScriptError:
                        noscript[node.name] = node
                        again.append(i)
                    except ResponseError as exc:
                        if _MIGRATING in str(exc):
                            self._stale, backoff = True, True
                            again.append(i)
                        else:
                            error = error or exc
        except BaseException:
            for _, conn, _ in sent:
                conn.disconnect()  # unread replies would be mistaken for the next batch's
            self._stale = True  # a master gone: a replica may have taken its slots
            raise
        finally:
            for node, conn, _ in sent:
                self._rc.get_redis_connection(node).connection_pool.release(conn)
        if error is not None:
            raise error
        for node in noscript.values():
            client = self._rc.get_redis_connection(node)
            for body in self._scripts:
                client.script_load(body)
        return sorted(again), ask_next, backoff
