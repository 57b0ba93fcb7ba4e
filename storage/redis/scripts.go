package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts below run atomically on the server: each one reads the collection clock,
// computes the new timestamp and writes the object (or tombstone) and the clock in one step,
// so that timestamps are strictly increasing and unique within a collection, whichever web
// head or goroutine writes, and publishes the write for the change listeners (notify.go) in
// the same step. The current time comes from the server's TIME, so several web
// heads with skewed clocks still agree.
//
// Every script takes KEYS = {clock, obj, del} (see collectionKeys).

// luaPrelude holds the helpers shared by the write scripts.
const luaPrelude = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function clock()
  return tonumber(redis.call('GET', KEYS[1]) or '0')
end
local function fmt(n)
  return string.format('%.0f', n)
end
-- fresh returns a timestamp for a write after prev: now, or prev+1 when the clock is ahead.
local function fresh(prev)
  local n = now_ms()
  if n <= prev then n = prev + 1 end
  return n
end
-- forced returns the object timestamp and the new clock for a client-forced timestamp f:
-- f is kept (bumped by one when it equals the clock, to stay unique), and the clock becomes
-- max(prev+1, f).
local function forced(prev, f)
  if f == prev then f = prev + 1 end
  local c = f
  if c < prev + 1 then c = prev + 1 end
  return f, c
end
local function lm_of(v)
  return tonumber(string.match(v, '^(%d+)'))
end
-- announce publishes the write (storage.Backend.Listen): "<clock> <action> <clock key>" on the
-- channel "<prefix>changes", the prefix being what precedes the key's hash tag.
local function announce(ts, action)
  local prefix = string.match(KEYS[1], '^(.*){')
  redis.call('PUBLISH', prefix .. 'changes', fmt(ts) .. ' ' .. action .. ' ' .. KEYS[1])
end
`

// scriptCreate: ARGV = {id, data, forced}. Returns {0, stored} when a live object has the id,
// {1, last_modified} otherwise.
var scriptCreate = goredis.NewScript(luaPrelude + `
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return {0, existing} end
local prev = clock()
local f = tonumber(ARGV[3])
local lm, c
if f > 0 then lm, c = forced(prev, f) else lm = fresh(prev); c = lm end
redis.call('HSET', KEYS[2], ARGV[1], fmt(lm) .. ':' .. ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SET', KEYS[1], fmt(c))
announce(c, 'create')
return {1, lm}
`)

// scriptUpdate: ARGV = {id, data, forced, cond}. Upsert; a forced timestamp is kept only when
// greater than the stored object's (or when there is none). A positive cond is a condition:
// the live object must have that timestamp, else nothing is written and the reply is nil.
// Returns last_modified.
var scriptUpdate = goredis.NewScript(luaPrelude + `
local existing = redis.call('HGET', KEYS[2], ARGV[1])
local want = tonumber(ARGV[4])
if want > 0 and (not existing or lm_of(existing) ~= want) then return false end
local prev = clock()
local f = tonumber(ARGV[3])
if existing and f <= lm_of(existing) then f = 0 end
local lm, c
if f > 0 then lm, c = forced(prev, f) else lm = fresh(prev); c = lm end
redis.call('HSET', KEYS[2], ARGV[1], fmt(lm) .. ':' .. ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SET', KEYS[1], fmt(c))
if existing then announce(c, 'update') else announce(c, 'create') end
return lm
`)

// scriptDelete: ARGV = {id, forced, cond}. Turns a live object into a tombstone; a forced
// timestamp greater than the object's is kept. Returns the tombstone's timestamp, or nil when
// no live object has the id or when cond is positive and differs from its timestamp.
var scriptDelete = goredis.NewScript(luaPrelude + `
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if not existing then return false end
local want = tonumber(ARGV[3])
if want > 0 and lm_of(existing) ~= want then return false end
local prev = clock()
local f = tonumber(ARGV[2])
if f <= lm_of(existing) then f = 0 end
local lm, c
if f > 0 then lm, c = forced(prev, f) else lm = fresh(prev); c = lm end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], fmt(lm))
redis.call('SET', KEYS[1], fmt(c))
announce(c, 'delete')
return lm
`)

// scriptDeleteMany: ARGV = {id1, lm1, id2, lm2, ...}, the objects selected by the caller with
// the timestamps they had. Each one still live and unchanged becomes a tombstone with its own
// timestamp, in ARGV order. Returns {id1, ts1, ...} for the objects deleted.
var scriptDeleteMany = goredis.NewScript(luaPrelude + `
local out = {}
local prev = clock()
local ts = nil
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  local existing = redis.call('HGET', KEYS[2], id)
  if existing and lm_of(existing) == tonumber(ARGV[i + 1]) then
    if ts == nil then ts = fresh(prev) else ts = ts + 1 end
    redis.call('HDEL', KEYS[2], id)
    redis.call('HSET', KEYS[3], id, fmt(ts))
    out[#out + 1] = id
    out[#out + 1] = ts
  end
end
if ts ~= nil then
  redis.call('SET', KEYS[1], fmt(ts))
  announce(ts, 'delete')
end
return out
`)

// scriptPurge: KEYS = {del, hz}, ARGV = {before}. Removes the tombstones older than before
// (all when before is 0) and raises the horizon to the newest of them, in one step. Returns
// how many were removed.
var scriptPurge = goredis.NewScript(`
local before = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local n = 0
local newest = 0
for i = 1, #all, 2 do
  local ts = tonumber(all[i + 1])
  if before <= 0 or ts < before then
    redis.call('HDEL', KEYS[1], all[i])
    n = n + 1
    if ts > newest then newest = ts end
  end
end
if n > 0 and newest > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], string.format('%.0f', newest))
end
return n
`)

// scriptTimestamp: returns the clock, storing the current time first when it is unset.
var scriptTimestamp = goredis.NewScript(luaPrelude + `
local v = redis.call('GET', KEYS[1])
if v then return tonumber(v) end
local n = now_ms()
redis.call('SET', KEYS[1], fmt(n), 'NX')
return tonumber(redis.call('GET', KEYS[1]))
`)
