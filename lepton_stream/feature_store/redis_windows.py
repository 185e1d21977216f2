"""Redis online store for the multi-window views (card, terminal) and fraud labels.

Key layout (`{...}` are Redis Cluster hash tags: each script touches one slot):
- `lepton:{c:<card_id>}:win`   hash: `c:<hour>` count, `s:<hour>` sum in cents,
  `last_ts`, `last_x`, `last_y` of the card's latest transaction;
- `lepton:{c:<card_id>}:tx:<tx_id>`  marker: the aggregates this transaction saw
  when first applied (a replay gets them again and changes nothing);
- `lepton:{t:<terminal_id>}:win`  hash: `c:<hour>` count, `f:<hour>` labelled frauds;
- `lepton:{t:<terminal_id>}:tx:<tx_id>`  the transaction's hour (labels find their
  bucket) and the aggregates it saw;
- `lepton:{t:<terminal_id>}:lb:<tx_id>`  label applied;
- `lepton:{t:<terminal_id>}:pending`  hash of labels whose transaction is not seen
  yet, applied when it arrives (a label is never lost).
Every key expires `view.ttl_s` after its last write; old hour fields are pruned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import redis

from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import (
    CARD_WINDOWS,
    DEFAULT_PROFILE,
    PROFILE_FIELDS,
    TERMINAL_WINDOWS,
    MultiWindowView,
)

# Both scripts answer one string, the aggregates the transaction saw when it was
# first applied; it is kept in the transaction's marker, so a replay (after a
# failure) gets exactly the same answer and changes nothing.

# KEYS: window hash, marker. ARGV: bucket, cents, ts, x, y, ttl, keep_buckets, then (lo, hi) per window.
# Answer: "c1,..,cn,s1,..,sn|prev_ts,prev_x,prev_y" (prev empty for a new card).
_CARD = """
local done = redis.call('GET', KEYS[2])
if done then return done end
local b = tonumber(ARGV[1])
local last = redis.call('HMGET', KEYS[1], 'last_ts', 'last_x', 'last_y')
local prev = (last[1] or '') .. ',' .. (last[2] or '') .. ',' .. (last[3] or '')
redis.call('HINCRBY', KEYS[1], 'c:' .. b, 1)
redis.call('HINCRBY', KEYS[1], 's:' .. b, ARGV[2])
if (not last[1]) or tonumber(ARGV[3]) >= tonumber(last[1]) then
  redis.call('HSET', KEYS[1], 'last_ts', ARGV[3], 'last_x', ARGV[4], 'last_y', ARGV[5])
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
local all = redis.call('HGETALL', KEYS[1])
local nw = (#ARGV - 7) / 2
local out = {}
for w = 1, 2 * nw do out[w] = 0 end
local oldest = b - tonumber(ARGV[7])
local stale = {}
for i = 1, #all, 2 do
  local kind = string.sub(all[i], 1, 2)
  if kind == 'c:' or kind == 's:' then
    local fb = tonumber(string.sub(all[i], 3))
    if fb < oldest then stale[#stale + 1] = all[i] end
    for w = 1, nw do
      if fb >= tonumber(ARGV[6 + 2 * w]) and fb <= tonumber(ARGV[7 + 2 * w]) then
        local slot = (kind == 'c:') and w or (nw + w)
        out[slot] = out[slot] + tonumber(all[i + 1])
      end
    end
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
for w = 1, 2 * nw do out[w] = string.format('%d', out[w]) end
local answer = table.concat(out, ',') .. '|' .. prev
redis.call('SET', KEYS[2], answer, 'EX', ARGV[6])
return answer
"""

# KEYS: window hash, marker, pending labels. ARGV: tx_id, bucket, ttl, keep_buckets, then (lo, hi) per window.
# Marker: "bucket|c1,..,cn,f1,..,fn"; answer: the part after '|'.
_TERMINAL = """
local done = redis.call('GET', KEYS[2])
if done then return string.sub(done, string.find(done, '|', 1, true) + 1) end
local b = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'c:' .. b, 1)
if redis.call('HDEL', KEYS[3], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'f:' .. b, 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local nw = (#ARGV - 4) / 2
local out = {}
for w = 1, 2 * nw do out[w] = 0 end
local oldest = b - tonumber(ARGV[4])
local stale = {}
for i = 1, #all, 2 do
  local kind = string.sub(all[i], 1, 2)
  local fb = tonumber(string.sub(all[i], 3))
  if fb < oldest then stale[#stale + 1] = all[i] end
  for w = 1, nw do
    if fb >= tonumber(ARGV[3 + 2 * w]) and fb <= tonumber(ARGV[4 + 2 * w]) then
      local slot = (kind == 'c:') and w or (nw + w)
      out[slot] = out[slot] + tonumber(all[i + 1])
    end
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
for w = 1, 2 * nw do out[w] = string.format('%d', out[w]) end
local answer = table.concat(out, ',')
redis.call('SET', KEYS[2], b .. '|' .. answer, 'EX', ARGV[3])
return answer
"""

# KEYS: window hash, tx marker, label marker, pending. ARGV: tx_id, ttl.
# Returns 1 applied, 0 duplicate, 2 transaction unknown yet (kept pending).
_LABEL = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then return 0 end
local m = redis.call('GET', KEYS[2])
if m then
  redis.call('HINCRBY', KEYS[1], 'f:' .. string.sub(m, 1, string.find(m, '|', 1, true) - 1), 1)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
redis.call('HSET', KEYS[4], ARGV[1], '1')
redis.call('EXPIRE', KEYS[4], ARGV[2])
return 2
"""


@dataclass(frozen=True)
class TxFacts:
    tx_id: str
    card_id: str
    terminal_id: str
    ts_ms: int
    amount_cents: int
    x: float
    y: float


@dataclass(frozen=True)
class LabelFacts:
    tx_id: str
    terminal_id: str


def _window_args(view: MultiWindowView, bucket: int) -> list[int]:
    args: list[int] = []
    for days in view.windows_days:
        args += list(view.bounds(bucket, days))
    return args


class RedisWindowStore:
    def __init__(self, url: str, *, socket_timeout: float = 5.0) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self._card = self._redis.register_script(_CARD)
        self._terminal = self._redis.register_script(_TERMINAL)
        self._label = self._redis.register_script(_LABEL)

    @staticmethod
    def card_key(card_id: str, suffix: str) -> str:
        return f"lepton:{{c:{card_id}}}:{suffix}"

    @staticmethod
    def terminal_key(terminal_id: str, suffix: str) -> str:
        return f"lepton:{{t:{terminal_id}}}:{suffix}"

    def apply_transactions(self, txs: Sequence[TxFacts]) -> Aggregates:
        """Apply each transaction once (by tx_id) to its card and terminal, and
        return the aggregates each one sees: one pipeline round trip."""
        pipe = self._redis.pipeline(transaction=False)
        cw, tw = CARD_WINDOWS, TERMINAL_WINDOWS
        for t in txs:
            cb = cw.bucket_of(t.ts_ms)
            self._card(keys=[self.card_key(t.card_id, "win"), self.card_key(t.card_id, f"tx:{t.tx_id}")],
                       args=[cb, t.amount_cents, t.ts_ms, repr(float(t.x)), repr(float(t.y)), cw.ttl_s,
                             cw.keep_buckets, *_window_args(cw, cb)], client=pipe)
            tb = tw.bucket_of(t.ts_ms)
            self._terminal(keys=[self.terminal_key(t.terminal_id, "win"),
                                 self.terminal_key(t.terminal_id, f"tx:{t.tx_id}"),
                                 self.terminal_key(t.terminal_id, "pending")],
                           args=[t.tx_id, tb, tw.ttl_s, tw.keep_buckets, *_window_args(tw, tb)], client=pipe)
        replies = pipe.execute()
        n, nc, nt = len(txs), len(cw.windows_days), len(tw.windows_days)
        card_count = np.zeros((n, nc), np.int64)
        card_sum = np.zeros((n, nc), np.int64)
        prev = np.full((n, 3), np.nan)
        t_count = np.zeros((n, nt), np.int64)
        t_frauds = np.zeros((n, nt), np.int64)
        for i in range(n):
            sums, last = replies[2 * i].decode().split("|")
            card = [int(v) for v in sums.split(",")]
            card_count[i], card_sum[i] = card[:nc], card[nc:]
            if last[0] != ",":
                prev[i] = [float(v) for v in last.split(",")]
            term = [int(v) for v in replies[2 * i + 1].decode().split(",")]
            t_count[i], t_frauds[i] = term[:nt], term[nt:]
        return Aggregates(card_count, card_sum, prev[:, 0], prev[:, 1], prev[:, 2], t_count, t_frauds)

    def apply_labels(self, labels: Sequence[LabelFacts]) -> list[int]:
        """1 applied, 0 duplicate, 2 transaction not seen yet (kept, applied when it arrives)."""
        pipe = self._redis.pipeline(transaction=False)
        ttl = TERMINAL_WINDOWS.ttl_s
        for lab in labels:
            self._label(keys=[self.terminal_key(lab.terminal_id, "win"),
                              self.terminal_key(lab.terminal_id, f"tx:{lab.tx_id}"),
                              self.terminal_key(lab.terminal_id, f"lb:{lab.tx_id}"),
                              self.terminal_key(lab.terminal_id, "pending")],
                        args=[lab.tx_id, ttl], client=pipe)
        return [int(r) for r in pipe.execute()]

    def profiles(self, card_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """[N, len(PROFILE_FIELDS)] credit profiles, and which cards had none (defaults used)."""
        pipe = self._redis.pipeline(transaction=False)
        for card in card_ids:
            pipe.hmget(self.card_key(card, "profile"), PROFILE_FIELDS)
        out = np.empty((len(card_ids), len(PROFILE_FIELDS)))
        missing = np.zeros(len(card_ids), bool)
        defaults = [DEFAULT_PROFILE[f] for f in PROFILE_FIELDS]
        for i, values in enumerate(pipe.execute()):
            if values[0] is None:
                out[i], missing[i] = defaults, True
            else:
                out[i] = [float(v) if v is not None else d for v, d in zip(values, defaults, strict=True)]
        return out, missing

    def load_profiles(self, card_ids: Sequence[str], rows: np.ndarray) -> int:
        """Reference data: each card's credit profile (PROFILE_FIELDS order); no expiry."""
        pipe = self._redis.pipeline(transaction=False)
        for card, row in zip(card_ids, rows, strict=True):
            pipe.hset(self.card_key(card, "profile"), mapping=dict(zip(PROFILE_FIELDS, map(repr, map(float, row)),
                                                                       strict=True)))
        pipe.execute()
        return len(card_ids)

    def describe(self, card_id: str | None = None, terminal_id: str | None = None, at_ms: int | None = None) -> dict:
        """Current window values of a card and/or terminal (read-only), for other services."""
        import time as _time

        at_ms = at_ms if at_ms is not None else _time.time_ns() // 1_000_000
        out: dict = {"at_ms": at_ms}
        for kind, entity, view, key in (("card", card_id, CARD_WINDOWS, self.card_key),
                                        ("terminal", terminal_id, TERMINAL_WINDOWS, self.terminal_key)):
            if entity is None:
                continue
            fields = {k.decode(): v.decode() for k, v in self._redis.hgetall(key(entity, "win")).items()}
            bucket = view.bucket_of(at_ms)
            windows = {}
            for days in view.windows_days:
                lo, hi = view.bounds(bucket, days)
                sums: dict[str, int] = {}
                for f, v in fields.items():
                    if f[1:2] == ":" and f[2:].lstrip("-").isdigit() and lo <= int(f[2:]) <= hi:
                        sums[f[0]] = sums.get(f[0], 0) + int(v)
                windows[f"{days}d"] = sums
            out[kind] = {"id": entity, "windows": windows,
                         "last": {k: fields[k] for k in ("last_ts", "last_x", "last_y") if k in fields}}
            if kind == "card":
                profile = self._redis.hgetall(key(entity, "profile"))
                out[kind]["profile"] = {k.decode(): float(v) for k, v in profile.items()} or None
        return out

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()
