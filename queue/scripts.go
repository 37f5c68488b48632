package queue

import "github.com/redis/go-redis/v9"

// The Lua scripts below are the only places where a run changes state. Each
// one touches keys of a single queue (one hash tag, one slot), receives every
// key in KEYS, and takes the time from ARGV (the caller's clock), so that it
// behaves the same on redis-server, Redis Cluster and miniredis.

const luaPrelude = `
local function terminal(s)
  return s == 'succeeded' or s == 'failed' or s == 'killed' or s == 'dead'
end
local function int(n) return string.format('%d', n) end
`

// enqueue: KEYS stream, run, idem; ARGV id, use-idem, run-ttl, idem-ttl, field/value...
var scriptEnqueue = redis.NewScript(luaPrelude + `
if ARGV[2] == '1' then
  local prev = redis.call('GET', KEYS[3])
  if prev then return {'dup', prev} end
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'exists', ARGV[1]} end
if ARGV[2] == '1' then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4]) end
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
local eid = redis.call('XADD', KEYS[1], '*', 'run', ARGV[1], 'attempt', '0')
redis.call('HSET', KEYS[2], 'entry', eid)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {'new', ARGV[1]}
`)

// start moves a delivered entry's run to running and takes its lease.
// KEYS run, lease, cancel, stream, running
// ARGV id, entry-id, entry-attempt, consumer, token, lease-ms, now, max-deliveries,
//
//	run-ttl, group, mode (new|replay|reclaim), min-idle-ms
var scriptStart = redis.NewScript(luaPrelude + `
local function drop()
  redis.call('XACK', KEYS[4], ARGV[10], ARGV[2])
  redis.call('XDEL', KEYS[4], ARGV[2])
end
local h = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'deliveries', 'worker')
local state = h[1]
if not state then drop() return {'missing'} end
local lease = redis.call('GET', KEYS[2])
local mode = ARGV[11]
if mode == 'reclaim' then
  if lease then return {'leased'} end
  local c = redis.call('XCLAIM', KEYS[4], ARGV[10], ARGV[4], ARGV[12], ARGV[2], 'JUSTID')
  if #c == 0 then return {'taken'} end
elseif lease then
  local own = ARGV[4] .. '/'
  if mode ~= 'replay' or string.sub(lease, 1, #own) ~= own then return {'leased'} end
end
if terminal(state) then drop() return {'done', state} end
if tonumber(h[2]) ~= tonumber(ARGV[3]) then drop() return {'stale', state} end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[1], 'state', 'killed', 'reason', 'killed before start', 'finished', ARGV[7])
  redis.call('HDEL', KEYS[1], 'token')
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[9])
  drop()
  return {'killed'}
end
local d = (tonumber(h[3]) or 0) + 1
if d > tonumber(ARGV[8]) then
  local reason = 'dead: started ' .. int(d - 1) .. ' times without completing (max deliveries ' ..
    ARGV[8] .. '); its workers were lost, last ' .. (h[4] or '?')
  redis.call('HSET', KEYS[1], 'state', 'dead', 'reason', reason, 'finished', ARGV[7])
  redis.call('HDEL', KEYS[1], 'token')
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[9])
  drop()
  return {'dead', reason}
end
redis.call('HSET', KEYS[1], 'state', 'running', 'deliveries', int(d), 'worker', ARGV[4],
  'started', ARGV[7], 'token', ARGV[5], 'entry', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4] .. '/' .. ARGV[5], 'PX', ARGV[6])
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
local all = redis.call('HGETALL', KEYS[1])
table.insert(all, 1, 'started')
return all
`)

// renew extends the lease of a run that the caller still holds.
// KEYS run, lease, stream, cancel; ARGV token, consumer, lease-ms, group, entry-id, run-ttl
// Returns 0 when the lease is lost, 1 when renewed, 2 when renewed but killed.
var scriptRenew = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'token')
if h[1] ~= 'running' or h[2] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2] .. '/' .. ARGV[1], 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('XCLAIM', KEYS[3], ARGV[4], ARGV[2], 0, ARGV[5], 'JUSTID')
if redis.call('EXISTS', KEYS[4]) == 1 then return 2 end
return 1
`)

// complete records a result, acks and deletes the stream entry, and schedules
// a retry when the run failed and has retries left.
// KEYS run, lease, stream, running, delayed, cancel
// ARGV id, token, entry-id, group, now, outcome, exit, reason, run-ttl, backoff-ms, backoff-max-ms
var scriptComplete = redis.NewScript(luaPrelude + `
local h = redis.call('HMGET', KEYS[1], 'state', 'token', 'attempt', 'max_retries')
if h[1] ~= 'running' or h[2] ~= ARGV[2] then return {'lost', h[1] or ''} end
local state = ARGV[6]
if state ~= 'succeeded' and redis.call('EXISTS', KEYS[6]) == 1 then state = 'killed' end
local attempt = tonumber(h[3]) or 0
local maxr = tonumber(h[4]) or 0
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('XACK', KEYS[3], ARGV[4], ARGV[3])
redis.call('XDEL', KEYS[3], ARGV[3])
redis.call('HDEL', KEYS[1], 'token')
if state == 'failed' and attempt < maxr then
  local delay = tonumber(ARGV[10]) * (2 ^ attempt)
  if delay > tonumber(ARGV[11]) then delay = tonumber(ARGV[11]) end
  local due = int(tonumber(ARGV[5]) + math.floor(delay))
  redis.call('HSET', KEYS[1], 'state', 'retrying', 'attempt', int(attempt + 1), 'deliveries', '0',
    'exit', ARGV[7], 'reason', ARGV[8], 'due', due)
  redis.call('ZADD', KEYS[5], due, ARGV[1] .. '/' .. int(attempt + 1))
else
  redis.call('HSET', KEYS[1], 'state', state, 'exit', ARGV[7], 'reason', ARGV[8], 'finished', ARGV[5])
end
redis.call('PEXPIRE', KEYS[1], ARGV[9])
local all = redis.call('HGETALL', KEYS[1])
table.insert(all, 1, 'ok')
return all
`)

// promote moves one due retry from the delayed set back into the stream.
// KEYS delayed, stream, run; ARGV member, id, attempt
var scriptPromote = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[3], 'state') ~= 'retrying' then return 0 end
local eid = redis.call('XADD', KEYS[2], '*', 'run', ARGV[2], 'attempt', ARGV[3])
redis.call('HSET', KEYS[3], 'entry', eid)
return 1
`)

// kill cancels a run: a queued, retrying or orphaned running run becomes
// killed at once; a running run with a live lease keeps running until its
// worker reacts to the cancel key or the control message.
// KEYS run, cancel, stream, delayed, running, lease; ARGV id, now, ttl, group
var scriptKill = redis.NewScript(luaPrelude + `
local h = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'entry', 'worker')
if not h[1] then return {'missing'} end
if terminal(h[1]) then return {'terminal', h[1]} end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local reason = 'killed before start'
if h[1] == 'running' then
  if redis.call('EXISTS', KEYS[6]) == 1 then return {'running', h[4] or ''} end
  reason = 'killed; its worker ' .. (h[4] or '?') .. ' had lost the lease'
end
redis.call('HSET', KEYS[1], 'state', 'killed', 'reason', reason, 'finished', ARGV[2])
redis.call('HDEL', KEYS[1], 'token')
redis.call('ZREM', KEYS[4], ARGV[1] .. '/' .. (h[2] or '0'))
redis.call('ZREM', KEYS[5], ARGV[1])
if h[3] then
  redis.pcall('XACK', KEYS[3], ARGV[4], h[3])
  redis.call('XDEL', KEYS[3], h[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'killed'}
`)
