"""The Lua scripts of the Redis window store, generated from the feature views.

Each view (card, terminal) keeps per entity, in one Redis Cluster slot
(`{c:<card>}` / `{t:<terminal>}` hash tags):
- `s`  one string, the entity's window state packed with Redis's `struct`
  library (`STATE_FORMATS`): a fixed header (the head bucket, for cards the
  latest transaction and a copy of the credit profile, for terminals how many
  labels wait in `pending`, and where the previous event found each window
  edge), then every hour bucket still needed, in order,
  with cumulative sums (count and cents for cards, count and labelled frauds
  for terminals), so that any window is two binary searches and a subtraction;
- `seen`  the answer each transaction got when first applied, under a 64-bit
  digest of its tx_id and entity (replays find it), in a hash that the entities
  of many slots share (`redis_windows.RedisWindowStore.seen_prefix`: a key of its
  own per entity and period cost more than the few answers of a card's day), one
  per period of event time: a day for cards, kept for the replay horizon, a
  week for terminals, kept for as long as labels may come (a label finds its
  transaction's bucket there). A card's answer is packed (`card_answer`, shorter
  when it can: `card_seen_short`), a terminal's printed short (its bucket within
  the week, the frauds left out when all are 0).

Why a packed string: the store's CPU is what the scripts copy and convert, not
their arithmetic. When the buckets lived in a hash and a sorted set, an event
cost 28 commands and their replies; now it is one GET of its entity's state,
SETRANGEs of the few dozen bytes that changed (which is also all the
append-only file gets), and one HSET of `seen`. The state is bounded by the
view: at most `keep_buckets`, a day of slack and `PRUNE_AT` hour buckets,
whatever the entity's traffic. What the scripts still spend is mostly each
`redis.call` (its arguments made into Redis objects, its reply into Lua
values, and with persistence its copy into the append-only file), so a
transaction whose claim was a first sighting is not looked up in `seen` (its
answer goes there by HSETNX before the state is saved, which finds one that
another writer on the store applied since the claim),
expiry is renewed once a week, the credit profile is read from the card's
state, and the card's answer is packed rather than printed (printing the
coordinates and profile fields cost more than the windows).

Each script takes a list of events (one script call per chunk of a batch on a
single Redis; one event per call on a Redis Cluster, whose scripts must keep to
one slot) and answers one string per event.
"""

from __future__ import annotations

import hashlib
import re
import struct

import numpy as np

from lepton_stream.features.definitions import (
    CARD_WINDOWS,
    DAY_MS,
    PROFILE_FIELDS,
    RENEW_DAYS,
    TERMINAL_WINDOWS,
    MultiWindowView,
)

# How many days of transactions share one `seen` hash (see above): a card's day, a
# terminal's week (kept far longer, for labels).
CARD_SEEN_PERIOD_MS = DAY_MS
TERMINAL_SEEN_PERIOD_MS = 7 * DAY_MS

# The packed state, as Lua's `struct` writes it and Python's `struct` reads it:
# (header, one bucket), both of fixed size. Header: the cumulative sums before the
# first bucket kept, the head bucket, then for cards the latest transaction
# (ts, x, y) and a copy of the credit profile (a flag, 1 when copied, then
# PROFILE_FIELDS, NaN where unknown), for terminals how many labels wait in
# `pending`; last, where the latest in-order event found each of its window edges (the
# upper one, then each window's lower one: `HINTS`). A bucket: its number and the
# cumulative (x, y) up to and including it (counts as 32-bit integers, cents as
# doubles, exact to 2^53). The header's fourth field counts the buckets in use; zeroed
# room for `SPARE` more follows them.
STATE_FORMATS = {"card": ("<ddi4i4dddi4" + "d" * len(PROFILE_FIELDS) + "i4" * (len(CARD_WINDOWS.windows_days) + 1),
                          "<i4i4d"),
                 "terminal": ("<ddi4i4i4" + "i4" * (len(TERMINAL_WINDOWS.windows_days) + 1), "<i4i4i4")}
# Buckets no window needs any more are dropped when this many have gathered (and
# the day changes), not one at a time: dropping rewrites the whole state.
PRUNE_AT = 16
# Room left for this many new buckets when the state is rewritten, so that the next
# ones are a SETRANGE in place: APPEND would have Redis double the allocation.
SPARE = 8


# Bumped whenever what the scripts store changes in a way STATE_FORMATS below does not show.
# 2: claims are fields of hashes (redis_windows.RedisWindowStore.claim); 3: `seen` hashes
# shared by many entities, tx_ids digested (`RedisWindowStore.seen_prefix`).
_LAYOUT_VERSION = 3


def _offsets(view: MultiWindowView) -> tuple[list[int], int]:
    """Window w of an event in bucket b covers [b + lo[w], b + hi]."""
    hi = view.bounds(0, view.windows_days[0])[1]
    return [view.bounds(0, d)[0] for d in view.windows_days], hi


# Written for the Lua 5.1 interpreter inside Redis, where each bytecode and each
# byte copied counts: the buckets stay packed and are read in place (binary search
# over fixed-size records), and an in-order event writes only what changed, with
# SETRANGE or APPEND (a few dozen bytes, which is also all the append-only file
# gets). A late event, a label, or pruning rewrites the state.
_LIB = """
local NW, HI, WIDEST, PRUNE_AT, SPARE = {nw}, {hi}, {widest}, {prune_at}, {spare}
local DAYB, RENEWB = {day_buckets}, {renew_buckets}
local LO = {{{lo}}}
local HEAD, REC, HS, RS = '{head}', '{bucket}', {head_bytes}, {bucket_bytes}
-- Where the header's edge hints start (see `cum`), and the header's length, in values.
local HINTS, NV = {hints}, {values}

-- A new entity's header: v's given leading values, NaN up to the hints, the hints 0.
local function fresh(v)
  for k = #v + 1, HINTS - 1 do v[k] = 0 / 0 end
  for k = HINTS, NV do v[k] = 0 end
  return v
end

-- An entity's state: header values v, the packed string s, n buckets; nil when it has none.
local function load(key)
  local s = redis.call('GET', key)
  if not s then return nil end
  local v = {{struct.unpack(HEAD, s)}}
  v[#v] = nil
  return {{v = v, s = s, n = v[4], room = (#s - HS) / RS - v[4]}}
end

local function record(st, j)
  return struct.unpack(REC, st.s, HS + (j - 1) * RS + 1)
end

-- The last bucket <= x (0: none): in-order events find the last one at once. `above`:
-- a bucket known to be <= x, where the search may start.
local function find(st, x, above)
  local n = st.n
  if n == 0 then return 0 end
  if struct.unpack('<i4', st.s, HS + (n - 1) * RS + 1) <= x then return n end
  local at = above or 0
  local lo, hi = at + 1, n - 1
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    if struct.unpack('<i4', st.s, HS + (mid - 1) * RS + 1) <= x then at = mid; lo = mid + 1 else hi = mid - 1 end
  end
  return at
end

-- The cumulative (x, y) over every bucket <= x, and the last such bucket (0: none),
-- searched from hint j: where the same edge of the entity's previous event was. An
-- in-order event's edges move a bucket or two from there, so a couple of reads replace
-- a binary search; a hint is only where to look first (any j gives the same answer), so
-- late events, labels and rewrites need not keep it exact.
local function cum(st, x, j)
  local n = st.n
  if j > n then j = n end
  if j > 0 and struct.unpack('<i4', st.s, HS + (j - 1) * RS + 1) > x then
    j = find(st, x)
  else
    local steps = 0
    while j < n and struct.unpack('<i4', st.s, HS + j * RS + 1) <= x do
      j, steps = j + 1, steps + 1
      if steps == 4 then
        j = find(st, x, j)  -- far behind (a stale hint): the rest is a binary search above j
        break
      end
    end
  end
  if j == 0 then return st.v[1], st.v[2], 0 end
  local _, X, Y = record(st, j)
  return X, Y, j
end

-- The windows an event in bucket b sees once (x, y) is added to b, (x1,..,xn,y1,..,yn):
-- [b + LO[w], b + HI] each; b lies in a window only without delay. Moves the hints.
local function windows(st, b, x, y)
  local W, v = {{}}, st.v
  local X, Y, j = cum(st, b + HI, v[HINTS])
  v[HINTS] = j
  if HI >= 0 then X, Y = X + x, Y + y end
  for w = 1, NW do
    local x0, y0, k = cum(st, b + LO[w] - 1, v[HINTS + w])
    v[HINTS + w] = k
    W[w], W[NW + w] = X - x0, Y - y0
  end
  return W
end

-- Writes st with (x, y) added to bucket b (nothing when b is nil), the buckets <= drop
-- given up into the base, and header v. In order, only the bytes that change.
local function save(key, st, b, x, y, drop, ttl, renew)
  local v, n = st.v, st.n
  local i = b and find(st, b) or n
  local lastb = i > 0 and struct.unpack('<i4', st.s, HS + (i - 1) * RS + 1) or nil
  if st.s ~= '' and drop == nil and i == n and (b == nil or lastb == b or st.room > 0) then
    if b then
      local _, X, Y = 0, v[1], v[2]
      if i > 0 then _, X, Y = record(st, i) end
      if lastb ~= b then i, v[4] = i + 1, n + 1 end
      redis.call('SETRANGE', key, HS + (i - 1) * RS, struct.pack(REC, b, X + x, Y + y))
    end
    redis.call('SETRANGE', key, 0, struct.pack(HEAD, unpack(v)))
    if renew then redis.call('EXPIRE', key, ttl) end
    return
  end
  -- Rebuilt: the records before the change copied as bytes, (x, y) added from b on (b
  -- inserted if new), then the first ones given up into the base, so that an in-order
  -- event that fills the room, or pruning, costs a copy and no conversion.
  local _, j0, body = nil, i + 1, nil
  if b == nil then j0 = n + 1 elseif lastb == b then j0 = i end
  body = {{string.sub(st.s, HS + 1, HS + (j0 - 1) * RS)}}
  if b ~= nil and lastb ~= b then
    local X, Y = v[1], v[2]
    if i > 0 then _, X, Y = record(st, i) end
    body[2] = struct.pack(REC, b, X + x, Y + y)
  end
  for j = j0, n do
    local rb, X, Y = record(st, j)
    body[#body + 1] = struct.pack(REC, rb, X + x, Y + y)
  end
  local new = {{s = string.rep('\\0', HS) .. table.concat(body), n = n + ((b ~= nil and lastb ~= b) and 1 or 0)}}
  local k = drop and find(new, drop) or 0
  if k > 0 then _, v[1], v[2] = record(new, k) end
  v[4] = new.n - k
  for p = HINTS, NV do v[p] = math.max(v[p] - k, 0) end
  redis.call('SET', key, struct.pack(HEAD, unpack(v)) .. string.sub(new.s, HS + k * RS + 1) ..
             string.rep('\\0', SPARE * RS), 'EX', ttl)
end

-- What to give up when the day changes: the buckets no window of head h needs, kept
-- a day longer for late events, once PRUNE_AT of them have gathered; else nil.
local function prunable(st, h)
  local edge = h + LO[WIDEST] - DAYB - 1
  if find(st, edge) >= PRUNE_AT then return edge end
  return nil
end

-- Pruning happens when the day changes and expiry is renewed when the week does, not
-- with every event (an entity's TTL leaves a week for that: `MultiWindowView.ttl_s`).
local function new_period(old_h, b, len)
  return old_h == nil or math.floor(b / len) ~= math.floor(old_h / len)
end
"""

# Per event KEYS: state, seen (its day's), profile; ARGV: tx digest, bucket, cents, ts, x, y,
# first (1: its claim was a first sighting, so `seen` cannot hold it), after ARGV[1] ttl.
# Answers packed (`card_answer`, NaN where unknown): the windows' counts
# and cents, the previous transaction (ts, x, y), all kept in `seen`, then the credit
# profile. Packed, not printed: formatting numbers was most of the script's time.
_CARD_BODY = """
local NP, ANS, NAN = {n_profile}, '{answer}', 0 / 0
-- What `seen` keeps of an answer: its cents and the previous transaction's time (as an
-- offset from the event's own, which a replay brings again) as 32-bit integers when
-- they are exactly that, else the answer as it is (told apart by length).
local SHORT, SHORT_LEN, I4 = '{short}', {short_len}, 2147483647
local function shrink(W, ts)
  local d = ts - W[2 * NW + 1]
  if not (math.abs(d) <= I4) then return nil end  -- NaN too: no previous transaction
  local V = {{}}
  for w = 1, 2 * NW do
    if w > NW and not (math.abs(W[w]) <= I4 and W[w] == math.floor(W[w])) then return nil end
    V[w] = W[w]
  end
  V[2 * NW + 1], V[2 * NW + 2], V[2 * NW + 3] = d, W[2 * NW + 2], W[2 * NW + 3]
  return struct.pack(SHORT, unpack(V))
end
local function grow(kept, ts)
  if #kept ~= SHORT_LEN then return kept end
  local V = {{struct.unpack(SHORT, kept)}}
  V[2 * NW + 1] = ts - V[2 * NW + 1]
  return struct.pack(ANS, unpack(V, 1, 2 * NW + 3))
end
-- The card's credit profile, packed; copied into the header v from the profile hash the
-- first time (load_profiles and delete_profiles clear the copy).
local function profile(key, v)
  if v[8] == 0 then
    local p = redis.call('HMGET', key, {profile_fields})
    v[8] = 1
    for k = 1, NP do v[8 + k] = tonumber(p[k]) or NAN end
  end
  return struct.pack('<' .. string.rep('d', NP), unpack(v, 9, 8 + NP))
end
local ttl, out = ARGV[1], {{}}
for i = 0, #KEYS / 3 - 1 do
  local kstate, kseen, a = KEYS[3 * i + 1], KEYS[3 * i + 2], 1 + 7 * i
  local ans = ARGV[a + 7] == '0' and redis.call('HGET', kseen, ARGV[a + 1])
  if ans then  -- a replay: its first answer, with the profile as it now stands
    local st = load(kstate)
    ans = grow(ans, tonumber(ARGV[a + 4])) .. profile(KEYS[3 * i + 3], st and st.v or {{[8] = 0}})
  else
    local b, cents, ts = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local st = load(kstate)
    local old_h = nil
    if st then
      old_h = st.v[3]
    else
      st = {{v = fresh({{0, 0, b, 0, NAN, NAN, NAN, 0}}), s = '', n = 0, room = 0}}
    end
    local v = st.v
    local W = windows(st, b, 1, cents)
    W[#W + 1], W[#W + 2], W[#W + 3] = v[5], v[6], v[7]
    ans = struct.pack(ANS, unpack(W))
    if old_h == nil or ts >= v[5] then v[5], v[6], v[7] = ts, tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]) end
    local h = math.max(old_h or b, b)
    v[3] = h
    local kept = shrink(W, ts) or ans
    -- A first sighting was not looked up in `seen`; HSETNX, before the state is saved,
    -- finds one that another writer on this store applied since this one's claim.
    local prior = ARGV[a + 7] == '1' and redis.call('HSETNX', kseen, ARGV[a + 1], kept) == 0
                  and redis.call('HGET', kseen, ARGV[a + 1])
    if prior then
      ans = grow(prior, ts) .. profile(KEYS[3 * i + 3], v)
    else
      local fields = profile(KEYS[3 * i + 3], v)
      save(kstate, st, b, 1, cents, new_period(old_h, b, DAYB) and prunable(st, h) or nil, ttl,
           new_period(old_h, b, RENEWB))
      if ARGV[a + 7] ~= '1' then redis.call('HSET', kseen, ARGV[a + 1], kept) end
      ans = ans .. fields
    end
  end
  out[i + 1] = ans
end
return out
"""

# Per event KEYS: state, seen (its week's), pending; ARGV: tx digest, bucket, first (as for cards),
# after ARGV[1] ttl. Answers "c1,..,cn,f1,..,fn".
# `seen` holds "bucket in its week|answer" (a label finds the bucket there; the answer
# without its frauds when they are all 0), then "|L" once labelled.
_TERMINAL_BODY = """
local PERIODB, ttl, out = {period_buckets}, ARGV[1], {{}}
-- The answer a transaction applied before got, from what `seen` keeps of it.
local function replayed(done)
  local p = string.find(done, '|', 1, true)
  local z = string.find(done, '|', p + 1, true)
  local ans = string.sub(done, p + 1, z and z - 1 or -1)
  local _, commas = string.gsub(ans, ',', ',')
  if commas < 2 * NW - 1 then ans = ans .. string.rep(',0', NW) end
  return ans
end
for i = 0, #KEYS / 3 - 1 do
  local kseen, kpend, a = KEYS[3 * i + 2], KEYS[3 * i + 3], 1 + 3 * i
  local tx, first = ARGV[a + 1], ARGV[a + 3] == '1'
  local done = not first and redis.call('HGET', kseen, tx)
  local b, st, old_h
  if not done then
    b, st = tonumber(ARGV[a + 2]), load(KEYS[3 * i + 1])
    if st then old_h = st.v[3] else st = {{v = fresh({{0, 0, b, 0, 0}}), s = '', n = 0, room = 0}} end
    if old_h and old_h < 0 then old_h = nil end  -- a state made by a pending label alone
    -- A first sighting is not looked up in `seen`, but another writer on this store may
    -- have applied it since this one's claim: looked up here where a pending label
    -- would be taken, found by the HSETNX below otherwise.
    done = first and st.v[5] > 0 and redis.call('HGET', kseen, tx)
  end
  if done then
    out[i + 1] = replayed(done)
  else
    local v = st.v
    -- A label that arrived before its transaction is applied now.
    local labelled = 0
    if v[5] > 0 then
      if redis.call('HDEL', kpend, tx) == 1 then labelled, v[5] = 1, v[5] - 1
      elseif redis.call('EXISTS', kpend) == 0 then v[5] = 0 end
    end
    local W = windows(st, b, 1, labelled)
    local frauds = 0
    for w = NW + 1, 2 * NW do frauds = frauds + W[w] end
    local ans = table.concat(W, ',')
    local h = math.max(old_h or b, b)
    v[3] = h
    -- Kept short: the bucket within its period, and the counts alone when no window held a fraud.
    local kept = (b % PERIODB) .. '|' .. (frauds == 0 and table.concat(W, ',', 1, NW) or ans) ..
                 (labelled == 1 and '|L' or '')
    local prior = first and redis.call('HSETNX', kseen, tx, kept) == 0 and redis.call('HGET', kseen, tx)
    if prior then
      ans = replayed(prior)
    else
      save(KEYS[3 * i + 1], st, b, 1, labelled, new_period(old_h, b, DAYB) and prunable(st, h) or nil, ttl,
           new_period(old_h, b, RENEWB))
      if not first then redis.call('HSET', kseen, tx, kept) end
    end
    out[i + 1] = ans
  end
end
return out
"""

# Per label KEYS: state, pending; ARGV: tx digest, seen-key prefix (same slot: the
# transaction's week is unknown to a label, so the weeks of the buckets present are
# tried), after ARGV[1] ttl. Answers 1 applied, 0 duplicate, 2 transaction not seen
# yet (kept pending, and applied when it arrives).
_LABEL_BODY = """
local ttl, out = ARGV[1], {{}}
for i = 0, #KEYS / 2 - 1 do
  local kstate, kpend, tx, prefix = KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[2 * i + 2], ARGV[2 * i + 3]
  local st = load(kstate) or {{v = fresh({{0, 0, -1, 0, 0}}), s = '', n = 0, room = 0}}
  local r, tried = nil, {{}}
  for j = st.n, 1, -1 do
    local week = math.floor(struct.unpack('<i4', st.s, HS + (j - 1) * RS + 1) / {period_buckets})
    if not tried[week] then
      tried[week] = true
      local key = prefix .. week
      local m = redis.call('HGET', key, tx)
      if m then
        if string.sub(m, -2) == '|L' then r = 0; break end
        save(kstate, st, week * {period_buckets} + tonumber(string.sub(m, 1, string.find(m, '|', 1, true) - 1)), 0, 1,
             nil, ttl, false)
        redis.call('HSET', key, tx, m .. '|L')
        r = 1
        break
      end
    end
  end
  if r == nil then
    if redis.call('HSET', kpend, tx, '1') == 0 then r = 0
    else
      redis.call('EXPIRE', kpend, ttl)
      st.v[5] = st.v[5] + 1
      save(kstate, st, nil, 0, 0, nil, ttl, true)
      r = 2
    end
  end
  out[i + 1] = r
end
return out
"""


# Per card KEYS: profile, state; ARGV: 1 and the profile's PROFILE_FIELDS values to
# load it, 0 to delete it. Clears the state's copy (its flag, at PROFILE_FLAG_AT), so
# that the card's next event reads the profile again. Answers 1 loaded, else what
# DEL answered.
_PROFILE_BODY = """
local NP, out = {n_profile}, {{}}
for i = 0, #KEYS / 2 - 1 do
  local kprof, kstate, a = KEYS[2 * i + 1], KEYS[2 * i + 2], 1 + (NP + 1) * i
  if ARGV[a] == '1' then
    redis.call('HSET', kprof, {field_args})
    out[i + 1] = 1
  else
    out[i + 1] = redis.call('DEL', kprof)
  end
  if redis.call('EXISTS', kstate) == 1 then redis.call('SETRANGE', kstate, {flag_at}, struct.pack('<i4', 0)) end
end
return out
"""


def _lib(view: MultiWindowView, kind: str) -> str:
    lo, hi = _offsets(view)
    head, bucket = STATE_FORMATS[kind]
    return _LIB.format(nw=len(lo), lo=", ".join(map(str, lo)), hi=hi, widest=lo.index(min(lo)) + 1,
                       day_buckets=DAY_MS // view.bucket_ms, renew_buckets=RENEW_DAYS * DAY_MS // view.bucket_ms,
                       prune_at=PRUNE_AT, spare=SPARE, head=head, bucket=bucket,
                       hints=len(re.findall("d|i4", head)) - len(lo), values=len(re.findall("d|i4", head)),
                       head_bytes=struct.calcsize(head.replace("i4", "i")),
                       bucket_bytes=struct.calcsize(bucket.replace("i4", "i")))


def card_answer(view: MultiWindowView) -> str:
    """A card's answer as Lua's `struct` packs it: each window's count and cents, then the
    previous transaction's (ts, x, y); in a reply, the credit profile's doubles follow."""
    return "<" + "i4" * len(view.windows_days) + "d" * len(view.windows_days) + "ddd"


def card_seen_short(view: MultiWindowView) -> str:
    """What a card's `seen` keeps of an answer when it can (`shrink` in the card script):
    `card_answer` with the cents, and the previous transaction's ts less the event's own,
    as 32-bit integers."""
    return "<" + "i4" * (2 * len(view.windows_days) + 1) + "dd"


def card_reply_dtype(view: MultiWindowView, profile_fields: int) -> np.dtype:
    """A card script's reply (`card_answer`, then the profile's doubles), as numpy reads it."""
    nw = len(view.windows_days)
    return np.dtype([("count", "<i4", (nw,)), ("cents", "<f8", (nw,)), ("prev", "<f8", (3,)),
                     ("profile", "<f8", (profile_fields,))])


def card_script(view: MultiWindowView) -> str:
    fields = ", ".join(f"'{f}'" for f in PROFILE_FIELDS)
    short = card_seen_short(view)
    return _lib(view, "card") + _CARD_BODY.format(profile_fields=fields, n_profile=len(PROFILE_FIELDS),
                                                  answer=card_answer(view), short=short,
                                                  short_len=struct.calcsize(short.replace("i4", "i")))


# Where the card header's profile flag lies: after X0, Y0, head, n, ts, x, y.
PROFILE_FLAG_AT = struct.calcsize("<ddiiddd")


def profile_script(view: MultiWindowView) -> str:
    field_args = ", ".join(f"'{f}', ARGV[a + {k + 1}]" for k, f in enumerate(PROFILE_FIELDS))
    return _lib(view, "card") + _PROFILE_BODY.format(n_profile=len(PROFILE_FIELDS), field_args=field_args,
                                                     flag_at=PROFILE_FLAG_AT)


def terminal_script(view: MultiWindowView) -> str:
    return _lib(view, "terminal") + _TERMINAL_BODY.format(period_buckets=TERMINAL_SEEN_PERIOD_MS // view.bucket_ms)


def label_script(view: MultiWindowView) -> str:
    return _lib(view, "terminal") + _LABEL_BODY.format(period_buckets=TERMINAL_SEEN_PERIOD_MS // view.bucket_ms)


# The layout of the stored bytes, as the store's marker names it (`lepton:{meta}`,
# field `layout`): a store written in another one is never read (docs/design.md,
# "Loss of the store"). Derived from what defines it, so it cannot be left unchanged by hand.
LAYOUT = hashlib.sha1(repr((_LAYOUT_VERSION, STATE_FORMATS, card_answer(CARD_WINDOWS),
                            card_seen_short(CARD_WINDOWS), CARD_SEEN_PERIOD_MS,
                            TERMINAL_SEEN_PERIOD_MS, PRUNE_AT, SPARE)).encode()).hexdigest()[:12]
