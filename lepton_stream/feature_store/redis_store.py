"""Redis online store for bucketed window views.

Key layout (`{entity}` is a Redis Cluster hash tag, so both keys of one
entity live on one slot):
- `lepton:{<entity_id>}:w:<view>`  hash, fields `c:<bucket>` (count) and
  `s:<bucket>` (sum in cents), expiring `view.ttl_s` after the last update;
- `lepton:{<entity_id>}:tx:<tx_id>` marker that this tx_id was applied,
  same TTL: a replay within the TTL counts nothing twice.
One Lua call per event does mark + update + read atomically; a batch is one
pipeline round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from lepton_stream.feature_store.base import WindowUpdate
from lepton_stream.features.definitions import BucketedWindowView

_UPDATE_AND_READ = """
local bucket = tonumber(ARGV[1])
local lo = bucket - tonumber(ARGV[3]) + 1
if ARGV[2] ~= '' and redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[4]) then
  redis.call('HINCRBY', KEYS[1], 'c:' .. bucket, 1)
  redis.call('HINCRBY', KEYS[1], 's:' .. bucket, ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
local all = redis.call('HGETALL', KEYS[1])
local count, sum = 0, 0
local stale = {}
for i = 1, #all, 2 do
  local b = tonumber(string.sub(all[i], 3))
  if b >= lo and b <= bucket then
    if string.sub(all[i], 1, 1) == 'c' then count = count + tonumber(all[i + 1])
    else sum = sum + tonumber(all[i + 1]) end
  elseif b < lo - tonumber(ARGV[3]) then
    stale[#stale + 1] = all[i]
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
return {count, sum}
"""


class RedisFeatureStore:
    def __init__(self, url: str, *, socket_timeout: float = 5.0) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=socket_timeout,
                                           socket_connect_timeout=socket_timeout)
        self._script = self._redis.register_script(_UPDATE_AND_READ)

    @staticmethod
    def window_key(view: BucketedWindowView, entity_id: str) -> str:
        return f"lepton:{{{entity_id}}}:w:{view.name}"

    @staticmethod
    def marker_key(entity_id: str, tx_id: str) -> str:
        return f"lepton:{{{entity_id}}}:tx:{tx_id}"

    def update_and_read(
        self, view: BucketedWindowView, updates: Sequence[WindowUpdate]
    ) -> list[tuple[int, int]]:
        if not updates:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for u in updates:
            self._script(
                keys=[self.window_key(view, u.entity_id), self.marker_key(u.entity_id, u.tx_id)],
                args=[view.bucket_of(u.ts_ms), u.amount_cents, view.buckets, view.ttl_s],
                client=pipe,
            )
        return [(int(c), int(s)) for c, s in pipe.execute()]

    def read(self, view: BucketedWindowView, entity_id: str, ts_ms: int) -> tuple[int, int]:
        c, s = self._script(
            keys=[self.window_key(view, entity_id), ""],
            args=[view.bucket_of(ts_ms), "", view.buckets, view.ttl_s],
        )
        return int(c), int(s)

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()
