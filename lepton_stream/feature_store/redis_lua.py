"""The Lua scripts of the Redis window store, generated from the feature views.

Each view (card, terminal) keeps per entity, in one Redis Cluster slot
(`{c:<card>}` / `{t:<terminal>}` hash tags):
- `win`  hash: per hour bucket `<kind>:<bucket>` (card: `c` count, `s` sum in
  cents; terminal: `c` count, `f` labelled frauds), the head bucket `h` (latest
  seen), per window and kind the running total over the window as it stands
  at the head (`t<kind><w>`), and for cards the latest transaction (`last_*`);
- `idx`  sorted set of the buckets present, so a script finds the buckets that
  enter or leave a window with one range query instead of scanning the hash;
- `seen:<period>`  hash tx_id -> the answer the transaction got when first
  applied (its period's key: replays find it, and it expires as a whole; a
  day for cards, a week for terminals, whose few events a day would otherwise
  pay a key's overhead each).

So an in-order event costs O(windows) small commands, whatever the entity's
history: the running totals move with the head (entering buckets added,
leaving ones subtracted). A late event (older than the head) is added where it
falls and answered with a direct range sum, which is the definition itself.
"""

from __future__ import annotations

from lepton_stream.features.definitions import MultiWindowView

DAY_MS = 86_400_000
# How many days of transactions share one `seen` hash (see above).
CARD_SEEN_PERIOD_MS = DAY_MS
TERMINAL_SEEN_PERIOD_MS = 7 * DAY_MS


def _offsets(view: MultiWindowView) -> tuple[list[int], int]:
    """Window w of an event in bucket b covers [b + lo[w], b + hi]."""
    hi = view.bounds(0, view.windows_days[0])[1]
    return [view.bounds(0, d)[0] for d in view.windows_days], hi


_LIB = """
local NW = {nw}
local LO = {{{lo}}}
local HI = {hi}
local KINDS = {{{kinds}}}
local NK = #KINDS
local WIDEST = {widest}
local DAYB = {day_buckets}

local function zeros() local t = {{}} for k = 1, NK do t[k] = 0 end return t end

-- Adds to acc[k] the sum of kind k over the buckets in [lo, hi].
local function range_sum(win, idx, lo, hi, acc)
  if lo > hi then return end
  local bs = redis.call('ZRANGEBYSCORE', idx, lo, hi)
  if #bs == 0 then return end
  local fields = {{}}
  for i = 1, #bs do for k = 1, NK do fields[#fields + 1] = KINDS[k] .. ':' .. bs[i] end end
  local vals = redis.call('HMGET', win, unpack(fields))
  local j = 1
  for i = 1, #bs do for k = 1, NK do acc[k] = acc[k] + (tonumber(vals[j]) or 0); j = j + 1 end end
end

local function total_fields()
  local f = {{}}
  for w = 1, NW do for k = 1, NK do f[#f + 1] = 't' .. KINDS[k] .. w end end
  return f
end
local TOTALS = total_fields()

-- The running totals at head `h` (nil: a new or expired entity) moved to head b >= h.
local function advance(win, idx, h, b, stored)
  local T = {{}}
  if h == nil then
    for w = 1, NW do T[w] = zeros(); range_sum(win, idx, b + LO[w], b + HI, T[w]) end
    return T
  end
  -- Ranges (entering, then leaving per window) and their buckets, read with one HMGET.
  local ranges, fields = {{}}, {{}}
  local function collect(lo, hi, sign, w)
    if lo > hi then return end
    local bs = redis.call('ZRANGEBYSCORE', idx, lo, hi)
    if #bs == 0 then return end
    ranges[#ranges + 1] = {{n = #bs, sign = sign, w = w, bs = bs}}
    for i = 1, #bs do for k = 1, NK do fields[#fields + 1] = KINDS[k] .. ':' .. bs[i] end end
  end
  -- With no delay (HI = 0) nothing lies above the head, so nothing enters but the event.
  if HI ~= 0 then collect(h + HI + 1, b + HI, 1, 0) end
  for w = 1, NW do collect(h + LO[w], b + LO[w] - 1, -1, w) end
  local j = 1
  for w = 1, NW do T[w] = {{}} for k = 1, NK do T[w][k] = tonumber(stored[j]) or 0; j = j + 1 end end
  if #fields == 0 then return T end
  local vals = redis.call('HMGET', win, unpack(fields))
  j = 1
  for r = 1, #ranges do
    local rg = ranges[r]
    for i = 1, rg.n do
      for k = 1, NK do
        local v = (tonumber(vals[j]) or 0) * rg.sign
        j = j + 1
        if rg.w == 0 then for w = 1, NW do T[w][k] = T[w][k] + v end else T[rg.w][k] = T[rg.w][k] + v end
      end
    end
  end
  return T
end

-- Adds v of kind k in bucket b: to the bucket, and to each total whose window (at head h) holds b.
local function add(win, idx, T, h, b, k, v)
  if v == 0 then return end
  if redis.call('HINCRBY', win, KINDS[k] .. ':' .. b, v) == v then redis.call('ZADD', idx, b, b) end
  for w = 1, NW do
    if b >= h + LO[w] and b <= h + HI then T[w][k] = T[w][k] + v end
  end
end

-- Writes head, totals and `extra` field/value pairs. When the day changes (not every
-- event: TTLs are days long) expiry is renewed, `seen` included, and old buckets pruned.
local function save(win, idx, seen, T, h, old_h, b, ttl, seen_ttl, extra)
  local args = {{'h', h}}
  local j = 1
  for w = 1, NW do for k = 1, NK do args[#args + 1] = TOTALS[j]; args[#args + 1] = T[w][k]; j = j + 1 end end
  for i = 1, #extra do args[#args + 1] = extra[i] end
  redis.call('HSET', win, unpack(args))
  if old_h == nil or math.floor(b / DAYB) ~= math.floor(old_h / DAYB) then
    redis.call('EXPIRE', win, ttl)
    redis.call('EXPIRE', idx, ttl)
    if seen then redis.call('EXPIRE', seen, seen_ttl) end
    -- Buckets no window of the head needs, kept a day longer for late events.
    local edge = h + LO[WIDEST] - DAYB - 1
    local stale = redis.call('ZRANGEBYSCORE', idx, '-inf', edge)
    if #stale > 0 then
      local fields = {{}}
      for i = 1, #stale do for k = 1, NK do fields[#fields + 1] = KINDS[k] .. ':' .. stale[i] end end
      redis.call('HDEL', win, unpack(fields))
      redis.call('ZREMRANGEBYSCORE', idx, '-inf', edge)
    end
  end
end

-- The windows an event in bucket b sees: the totals when b is the head, else a direct sum.
local function answer(win, idx, T, h, b)
  local out = {{}}
  for k = 1, NK do
    for w = 1, NW do
      local v
      if b == h then v = T[w][k] else
        local acc = zeros(); range_sum(win, idx, b + LO[w], b + HI, acc); v = acc[k]
      end
      out[#out + 1] = string.format('%d', v)
    end
  end
  return table.concat(out, ',')
end

local function as_totals(stored)
  local T, j = {{}}, 1
  for w = 1, NW do T[w] = {{}} for k = 1, NK do T[w][k] = tonumber(stored[j]) or 0; j = j + 1 end end
  return T
end

-- Loads the head and totals; returns h (or nil), the stored totals, and extra fields asked for.
local function load(win, extra)
  local f = {{'h'}}
  for i = 1, #TOTALS do f[#f + 1] = TOTALS[i] end
  for i = 1, #extra do f[#f + 1] = extra[i] end
  local v = redis.call('HMGET', win, unpack(f))
  local stored = {{}}
  for i = 1, #TOTALS do stored[i] = v[i + 1] end
  local rest = {{}}
  for i = 1, #extra do rest[i] = v[#TOTALS + 1 + i] end
  return tonumber(v[1]), stored, rest
end
"""

# KEYS: win, idx, seen:<day>, profile. ARGV: tx_id, bucket, cents, ts, x, y, ttl, seen_ttl.
# Answer "c1,..,cn,s1,..,sn|prev_ts,prev_x,prev_y|profile fields" (prev and profile
# fields empty when unknown); all but the profile is kept in `seen`.
_CARD_BODY = """
local function profile()
  local p = redis.call('HMGET', KEYS[4], {profile_fields})
  local out = {{}}
  for i = 1, #p do out[i] = p[i] or '' end
  return table.concat(out, ',')
end
local done = redis.call('HGET', KEYS[3], ARGV[1])
if done then return done .. '|' .. profile() end
local win, idx = KEYS[1], KEYS[2]
local b = tonumber(ARGV[2])
local old_h, stored, last = load(win, {{'last_ts', 'last_x', 'last_y'}})
local h, T
if old_h == nil or b >= old_h then h = b; T = advance(win, idx, old_h, b, stored)
else h = old_h; T = as_totals(stored) end
add(win, idx, T, h, b, 1, 1)
add(win, idx, T, h, b, 2, tonumber(ARGV[3]))
local prev = (last[1] or '') .. ',' .. (last[2] or '') .. ',' .. (last[3] or '')
local extra = {{}}
if (not last[1]) or tonumber(ARGV[4]) >= tonumber(last[1]) then
  extra = {{'last_ts', ARGV[4], 'last_x', ARGV[5], 'last_y', ARGV[6]}}
end
local ans = answer(win, idx, T, h, b) .. '|' .. prev
redis.call('HSET', KEYS[3], ARGV[1], ans)
save(win, idx, KEYS[3], T, h, old_h, b, ARGV[7], ARGV[8], extra)
return ans .. '|' .. profile()
"""

# KEYS: win, idx, seen:<day>, pending. ARGV: tx_id, bucket, ttl.
# `seen` holds "bucket|answer" (a label finds the bucket there), then "|L" once labelled.
_TERMINAL_BODY = """
local done = redis.call('HGET', KEYS[3], ARGV[1])
if done then
  local a = string.find(done, '|', 1, true)
  local z = string.find(done, '|', a + 1, true)
  return string.sub(done, a + 1, z and z - 1 or -1)
end
local win, idx = KEYS[1], KEYS[2]
local b = tonumber(ARGV[2])
local old_h, stored = load(win, {{}})
local h, T
if old_h == nil or b >= old_h then h = b; T = advance(win, idx, old_h, b, stored)
else h = old_h; T = as_totals(stored) end
add(win, idx, T, h, b, 1, 1)
local labelled = redis.call('HDEL', KEYS[4], ARGV[1]) == 1
if labelled then add(win, idx, T, h, b, 2, 1) end
local ans = answer(win, idx, T, h, b)
redis.call('HSET', KEYS[3], ARGV[1], b .. '|' .. ans .. (labelled and '|L' or ''))
save(win, idx, KEYS[3], T, h, old_h, b, ARGV[3], ARGV[3], {{}})
return ans
"""

# KEYS: win, idx, pending. ARGV: tx_id, ttl, seen-key prefix (same slot: the
# transaction's day is unknown to a label, so the days present in idx are tried).
# Returns 1 applied, 0 duplicate, 2 transaction not seen yet (kept pending).
_LABEL_BODY = """
local win, idx = KEYS[1], KEYS[2]
local days, tried = redis.call('ZRANGE', idx, 0, -1), {{}}
for i = #days, 1, -1 do
  local day = math.floor(tonumber(days[i]) / {period_buckets})
  if not tried[day] then
    tried[day] = true
    local key = ARGV[3] .. day
    local m = redis.call('HGET', key, ARGV[1])
    if m then
      if string.sub(m, -2) == '|L' then return 0 end
      local tb = tonumber(string.sub(m, 1, string.find(m, '|', 1, true) - 1))
      local h, stored = load(win, {{}})
      local T
      if h == nil then h = tb; T = advance(win, idx, nil, tb, stored) else T = as_totals(stored) end
      add(win, idx, T, h, tb, 2, 1)
      save(win, idx, nil, T, h, h, h, ARGV[2], 0, {{}})
      redis.call('HSET', key, ARGV[1], m .. '|L')
      return 1
    end
  end
end
if redis.call('HSET', KEYS[3], ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 2
"""


def _lib(view: MultiWindowView, kinds: tuple[str, str]) -> str:
    lo, hi = _offsets(view)
    widest = lo.index(min(lo)) + 1
    return _LIB.format(nw=len(view.windows_days), lo=", ".join(map(str, lo)), hi=hi, widest=widest,
                       day_buckets=DAY_MS // view.bucket_ms, kinds=", ".join(f"'{k}'" for k in kinds))


def card_script(view: MultiWindowView, profile_fields: tuple[str, ...]) -> str:
    return _lib(view, ("c", "s")) + _CARD_BODY.format(profile_fields=", ".join(f"'{f}'" for f in profile_fields))


def terminal_script(view: MultiWindowView) -> str:
    return _lib(view, ("c", "f")) + _TERMINAL_BODY.format()


def label_script(view: MultiWindowView) -> str:
    return _lib(view, ("c", "f")) + _LABEL_BODY.format(period_buckets=TERMINAL_SEEN_PERIOD_MS // view.bucket_ms)
