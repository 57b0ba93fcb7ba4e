package redis

import goredis "github.com/redis/go-redis/v9"

// luaHelpers compute the backend's keys (the same layout as [keys]) and keep the indexes
// consistent. Every write script starts with them; ARGV[1] is the key prefix.
const luaHelpers = `
local P = ARGV[1]
local objects = P .. "objects"
local function acekey(obj, perm) return P .. "ace:" .. #obj .. ":" .. obj .. ":" .. perm end
local function objkey(obj) return P .. "object:" .. obj end
local function pkey(principal) return P .. "principal:" .. principal end
local function member(obj, perm) return #perm .. ":" .. perm .. obj end
local function add(obj, perm, principal)
  redis.call("SADD", acekey(obj, perm), principal)
  redis.call("SADD", objkey(obj), perm)
  redis.call("SADD", objects, obj)
  redis.call("SADD", pkey(principal), member(obj, perm))
end
local function forget_perm(obj, perm)
  redis.call("SREM", objkey(obj), perm)
  if redis.call("SCARD", objkey(obj)) == 0 then redis.call("SREM", objects, obj) end
end
local function remove(obj, perm, principal)
  local k = acekey(obj, perm)
  redis.call("SREM", k, principal)
  redis.call("SREM", pkey(principal), member(obj, perm))
  if redis.call("SCARD", k) == 0 then forget_perm(obj, perm) end
end
local function clear(obj, perm)
  local k = acekey(obj, perm)
  for _, p in ipairs(redis.call("SMEMBERS", k)) do
    redis.call("SREM", pkey(p), member(obj, perm))
  end
  redis.call("DEL", k)
  forget_perm(obj, perm)
end
`

// addACE: ARGV = prefix, object id, permission, principal.
var addACE = goredis.NewScript(luaHelpers + `
add(ARGV[2], ARGV[3], ARGV[4])
return 1
`)

// removeACE: ARGV = prefix, object id, permission, principal.
var removeACE = goredis.NewScript(luaHelpers + `
remove(ARGV[2], ARGV[3], ARGV[4])
return 1
`)

// replaceACEs: ARGV = prefix, object id, then for each permission: its name, the number n of
// principals, and the n principals. It returns the object's ACEs afterwards as a flat list:
// perm, principal, perm, principal, ...
var replaceACEs = goredis.NewScript(luaHelpers + `
local obj = ARGV[2]
local i = 3
while i <= #ARGV do
  local perm, n = ARGV[i], tonumber(ARGV[i + 1])
  clear(obj, perm)
  for j = 1, n do add(obj, perm, ARGV[i + 1 + j]) end
  i = i + 2 + n
end
local out = {}
for _, perm in ipairs(redis.call("SMEMBERS", objkey(obj))) do
  for _, p in ipairs(redis.call("SMEMBERS", acekey(obj, perm))) do
    out[#out + 1] = perm
    out[#out + 1] = p
  end
end
return out
`)

// deleteObjects: ARGV = prefix, object ids...
var deleteObjects = goredis.NewScript(luaHelpers + `
for i = 2, #ARGV do
  local obj = ARGV[i]
  for _, perm in ipairs(redis.call("SMEMBERS", objkey(obj))) do clear(obj, perm) end
  redis.call("DEL", objkey(obj))
  redis.call("SREM", objects, obj)
end
return 1
`)

// removePrincipal: ARGV = prefix, principal. It takes the principal away from every user
// listed in its reverse index.
var removePrincipal = goredis.NewScript(`
local P = ARGV[1]
local members = P .. "members:" .. ARGV[2]
for _, user in ipairs(redis.call("SMEMBERS", members)) do
  redis.call("SREM", P .. "user:" .. user, ARGV[2])
end
redis.call("DEL", members)
return 1
`)

// access: ARGV = prefix, the number m of users, the m users, the number n of principals, the
// n principals, the number k of objects, the k objects, then the full object ("" for none).
// It returns three flat lists: the extra principals of the users (their SUNION); object,
// permission, object, permission, ... for each permission of one of the objects whose ACE
// holds one of the principals or of those extra principals (each object once, however often
// it is listed); permission, principal, ... for every ACE of the full object. It only reads.
var access = goredis.NewScript(luaHelpers + `
local m = tonumber(ARGV[2])
local n = tonumber(ARGV[3 + m])
local k = tonumber(ARGV[4 + m + n])
local principals = {}
for i = 4 + m, 3 + m + n do principals[#principals + 1] = ARGV[i] end
local groups = {}
if m > 0 then
  local users = {}
  for i = 3, 2 + m do users[#users + 1] = P .. "user:" .. ARGV[i] end
  groups = redis.call("SUNION", unpack(users))
  for _, g in ipairs(groups) do principals[#principals + 1] = g end
end
local held = {}
if #principals > 0 then
  local seen = {}
  for i = 5 + m + n, 4 + m + n + k do
    local obj = ARGV[i]
    if not seen[obj] then
      seen[obj] = true
      for _, perm in ipairs(redis.call("SMEMBERS", objkey(obj))) do
        local key = acekey(obj, perm)
        local found = false
        -- SMISMEMBER in chunks: unpack is bounded by the Lua stack.
        for from = 1, #principals, 1000 do
          local hits = redis.call("SMISMEMBER", key, unpack(principals, from, math.min(from + 999, #principals)))
          for _, h in ipairs(hits) do
            if h == 1 then found = true break end
          end
          if found then break end
        end
        if found then
          held[#held + 1] = obj
          held[#held + 1] = perm
        end
      end
    end
  end
end
local aces = {}
local full = ARGV[5 + m + n + k]
if full ~= "" then
  for _, perm in ipairs(redis.call("SMEMBERS", objkey(full))) do
    for _, p in ipairs(redis.call("SMEMBERS", acekey(full, perm))) do
      aces[#aces + 1] = perm
      aces[#aces + 1] = p
    end
  end
end
return {groups, held, aces}
`)
