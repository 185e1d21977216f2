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

from lepton_stream.features.definitions import DAY_MS, MultiWindowView

# How many days of transactions share one `seen` hash (see above).
CARD_SEEN_PERIOD_MS = DAY_MS
TERMINAL_SEEN_PERIOD_MS = 7 * DAY_MS


def _offsets(view: MultiWindowView) -> tuple[list[int], int]:
    """Window w of an event in bucket b covers [b + lo[w], b + hi]."""
    hi = view.bounds(0, view.windows_days[0])[1]
    return [view.bounds(0, d)[0] for d in view.windows_days], hi


# Written for the Lua 5.1 interpreter inside Redis, where every table, closure and
# string built per call costs: totals are one flat array T[(w - 1) * NK + k],
# field names and window offsets are literals generated from the view.
_LIB = """
local NW, NK, HI, WIDEST, DAYB = {nw}, 2, {hi}, {widest}, {day_buckets}
local LO = {{{lo}}}
local KP = {{{prefixes}}}
local LOAD = {{'h', {totals}{extra}}}
local NT = NW * NK
local NOSUM = {nosum}  -- the second kind is not a sum that always comes with a count

-- Adds to acc[k] the sum of kind k over the buckets in [lo, hi].
local function range_sum(win, idx, lo, hi, acc)
  if lo > hi then return end
  local bs = redis.call('ZRANGEBYSCORE', idx, lo, hi)
  local n = #bs
  if n == 0 then return end
  local fields = {{}}
  for i = 1, n do fields[2 * i - 1] = KP[1] .. bs[i]; fields[2 * i] = KP[2] .. bs[i] end
  local vals = redis.call('HMGET', win, unpack(fields))
  for i = 1, n do
    acc[1] = acc[1] + (tonumber(vals[2 * i - 1]) or 0)
    acc[2] = acc[2] + (tonumber(vals[2 * i]) or 0)
  end
end

-- The running totals at head h (nil: a new or expired entity) moved to head b >= h.
local function advance(win, idx, h, b, v)
  local T = {{}}
  if h == nil then
    for w = 1, NW do
      local acc = {{0, 0}}
      range_sum(win, idx, b + LO[w], b + HI, acc)
      T[2 * w - 1], T[2 * w] = acc[1], acc[2]
    end
    return T
  end
  for j = 1, NT do T[j] = tonumber(v[j + 1]) or 0 end
  if b == h then return T end
  -- Buckets entering (with a delay; without one nothing lies above the head) and
  -- leaving each window, their values read with one HMGET.
  local los, his = {{}}, {{}}
  if HI ~= 0 then los[NW + 1], his[NW + 1] = h + HI + 1, b + HI end
  for w = 1, NW do los[w], his[w] = h + LO[w], b + LO[w] - 1 end
  local found, fields, owner = {{}}, {{}}, {{}}
  for w = 1, NW + 1 do
    if los[w] and los[w] <= his[w] then
      local bs = redis.call('ZRANGEBYSCORE', idx, los[w], his[w])
      for i = 1, #bs do
        fields[#fields + 1] = KP[1] .. bs[i]; fields[#fields + 1] = KP[2] .. bs[i]
        owner[#owner + 1] = w
      end
    end
  end
  if #fields == 0 then return T end
  local vals = redis.call('HMGET', win, unpack(fields))
  for i = 1, #owner do
    local c, s, w = tonumber(vals[2 * i - 1]) or 0, tonumber(vals[2 * i]) or 0, owner[i]
    if w > NW then
      for x = 1, NW do T[2 * x - 1] = T[2 * x - 1] + c; T[2 * x] = T[2 * x] + s end
    else
      T[2 * w - 1] = T[2 * w - 1] - c; T[2 * w] = T[2 * w] - s
    end
  end
  return T
end

-- Adds v of kind k in bucket b: to the bucket, and to each total whose window (at head h) holds b.
local function add(win, idx, T, h, b, k, v)
  if v == 0 then return end
  -- A new bucket joins the index (a card's sum arrives with its count: one ZADD).
  if redis.call('HINCRBY', win, KP[k] .. b, v) == v and (k == 1 or NOSUM) then redis.call('ZADD', idx, b, b) end
  for w = 1, NW do
    if b >= h + LO[w] and b <= h + HI then T[2 * w - 2 + k] = T[2 * w - 2 + k] + v end
  end
end

-- Writes head, totals and `extra` field/value pairs. When the day changes (not every
-- event: TTLs are days long) expiry is renewed, `seen` included, and old buckets pruned.
local function save(win, idx, seen, T, h, old_h, b, ttl, seen_ttl, extra)
  local args = {{'h', h}}
  for j = 1, NT do args[2 * j + 1] = LOAD[j + 1]; args[2 * j + 2] = T[j] end
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
      for i = 1, #stale do fields[2 * i - 1] = KP[1] .. stale[i]; fields[2 * i] = KP[2] .. stale[i] end
      redis.call('HDEL', win, unpack(fields))
      redis.call('ZREMRANGEBYSCORE', idx, '-inf', edge)
    end
  end
end

-- The windows an event in bucket b sees ("k1 w1..wn, k2 w1..wn"): the totals when b
-- is the head, else a direct sum (a late event).
local function answer(win, idx, T, h, b)
  local out = {{}}
  if b == h then
    for w = 1, NW do out[w] = T[2 * w - 1]; out[NW + w] = T[2 * w] end
  else
    for w = 1, NW do
      local acc = {{0, 0}}
      range_sum(win, idx, b + LO[w], b + HI, acc)
      out[w], out[NW + w] = acc[1], acc[2]
    end
  end
  return table.concat(out, ',')
end

local function as_totals(v)
  local T = {{}}
  for j = 1, NT do T[j] = tonumber(v[j + 1]) or 0 end
  return T
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
local v = redis.call('HMGET', win, unpack(LOAD))
local old_h = tonumber(v[1])
local last = {{v[NT + 2], v[NT + 3], v[NT + 4]}}
local h, T
if old_h == nil or b >= old_h then h = b; T = advance(win, idx, old_h, b, v)
else h = old_h; T = as_totals(v) end
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
local v = redis.call('HMGET', win, unpack(LOAD))
local old_h = tonumber(v[1])
local h, T
if old_h == nil or b >= old_h then h = b; T = advance(win, idx, old_h, b, v)
else h = old_h; T = as_totals(v) end
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
      local v = redis.call('HMGET', win, unpack(LOAD))
      local h = tonumber(v[1])
      local T
      if h == nil then h = tb; T = advance(win, idx, nil, tb, v) else T = as_totals(v) end
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


def _lib(view: MultiWindowView, kinds: tuple[str, str], extra: tuple[str, ...] = ()) -> str:
    lo, hi = _offsets(view)
    totals = [f"t{k}{w}" for w in range(1, len(lo) + 1) for k in kinds]
    return _LIB.format(nw=len(lo), lo=", ".join(map(str, lo)), hi=hi, widest=lo.index(min(lo)) + 1,
                       day_buckets=DAY_MS // view.bucket_ms, prefixes=", ".join(f"'{k}:'" for k in kinds),
                       totals=", ".join(f"'{t}'" for t in totals), extra="".join(f", '{f}'" for f in extra),
                       nosum="false" if kinds[1] == "s" else "true")


def card_script(view: MultiWindowView, profile_fields: tuple[str, ...]) -> str:
    fields = ", ".join(f"'{f}'" for f in profile_fields)
    return _lib(view, ("c", "s"), ("last_ts", "last_x", "last_y")) + _CARD_BODY.format(profile_fields=fields)


def terminal_script(view: MultiWindowView) -> str:
    return _lib(view, ("c", "f")) + _TERMINAL_BODY.format()


def label_script(view: MultiWindowView) -> str:
    return _lib(view, ("c", "f")) + _LABEL_BODY.format(period_buckets=TERMINAL_SEEN_PERIOD_MS // view.bucket_ms)
