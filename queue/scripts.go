package queue

import (
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts below are the only places where a run changes state. Each
// one touches keys of a single queue (one hash tag, one slot), receives every
// key in KEYS, and takes the time from ARGV (the caller's clock), so that it
// behaves the same on redis-server, Redis Cluster and miniredis. The batch
// scripts (start, complete) take a fixed set of queue keys followed by three
// keys per run, so that one call moves a whole batch of one queue.

var luaPrelude = `
local function terminal(s)
  return s == 'succeeded' or s == 'failed' or s == 'killed' or s == 'dead'
end
local function int(n) return string.format('%d', n) end
local function finished(key, id, now)
  redis.call('ZADD', key, now, id)
  redis.call('ZREMRANGEBYRANK', key, 0, -` + strconv.Itoa(FinishedWindow+1) + `)
end
`

// enqueue: KEYS stream, run, idem; ARGV id, use-idem, run-ttl, idem-ttl, field/value...
var scriptEnqueue = redis.NewScript(luaPrelude + `
if ARGV[2] == '1' then
  local prev = redis.call('GET', KEYS[3])
  if prev then return {'dup', prev} end
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'exists', ARGV[1]} end
if ARGV[2] == '1' then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4]) end
local eid = redis.call('XADD', KEYS[1], '*', 'run', ARGV[1], 'attempt', '0')
redis.call('HSET', KEYS[2], 'entry', eid, unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {'new', ARGV[1]}
`)

// start moves delivered entries' runs to running and takes their leases.
// KEYS stream, running, finished, then per entry: run, lease, cancel
// ARGV consumer, lease-ms, now, max-deliveries, run-ttl, group,
//
//	mode (new|replay|reclaim), min-idle-ms, limit, then per entry: id, entry-id, attempt, token
//
// Returns one reply per entry: {'started', value, ...} with the values of
// runFields as they are once started (positional, so the reply carries no
// field names), or {status, detail}. At most limit runs are started; the
// entries after that are left alone ('skipped'). Entries dropped (their run
// is gone, finished or stale) are acknowledged and deleted together at the
// end. A run's TTL is renewed here only when it was created more than a
// tenth of the TTL ago: the worker's lease renewals and the completion renew
// it anyway.
var scriptStart = redis.NewScript(luaPrelude + `
local F = {'` + strings.Join(runFields, `', '`) + `'}
local IX = {}
for i, f in ipairs(F) do IX[f] = i end
local consumer, mode, now, ttl = ARGV[1], ARGV[7], ARGV[3], ARGV[5]
local own = consumer .. '/'
local started, limit = 0, tonumber(ARGV[9])
local acks, dels = {}, {}
local function drop(eid)
  acks[#acks + 1] = eid
  dels[#dels + 1] = eid
end
local function finish(run, lease, id, state, reason)
  redis.call('HSET', run, 'state', state, 'reason', reason, 'finished', now, 'token', '')
  redis.call('DEL', lease)
  redis.call('ZREM', KEYS[2], id)
  redis.call('PEXPIRE', run, ttl)
  finished(KEYS[3], id, now)
end
local function start(run, lease, cancel, id, eid, attempt, token)
  if id == '' then acks[#acks + 1] = eid return {'empty'} end
  if started >= limit then return {'skipped'} end
  local v = redis.call('HMGET', run, unpack(F))
  if not v[IX.id] then drop(eid) return {'missing'} end
  local state = v[IX.state]
  -- A lease exists only while the run is running (every path that ends
  -- running deletes it), so a new entry of a run in another state needs no
  -- lease read.
  local held = false
  if mode ~= 'new' or state == 'running' then held = redis.call('GET', lease) end
  if mode == 'reclaim' then
    if held then return {'leased'} end
    local c = redis.call('XCLAIM', KEYS[1], ARGV[6], consumer, ARGV[8], eid, 'JUSTID')
    if #c == 0 then return {'taken'} end
  elseif held then
    if mode ~= 'replay' or string.sub(held, 1, #own) ~= own then return {'leased'} end
  end
  if terminal(state) then drop(eid) return {'done', state} end
  if tonumber(v[IX.attempt]) ~= tonumber(attempt) then drop(eid) return {'stale', state} end
  if redis.call('EXISTS', cancel) == 1 then
    -- Kill finishes a run that never started at once; a cancelled run is
    -- started again only after its worker stopped (Release) or died.
    local reason = 'killed before start'
    if v[IX.worker] and v[IX.worker] ~= '' then
      reason = 'killed after its worker ' .. v[IX.worker] .. ' stopped or lost the lease'
    end
    finish(run, lease, id, 'killed', reason)
    drop(eid)
    return {'killed'}
  end
  local d = (tonumber(v[IX.deliveries]) or 0) + 1
  if d > tonumber(ARGV[4]) then
    local reason = 'dead: started ' .. int(d - 1) .. ' times without completing (max deliveries ' ..
      ARGV[4] .. '); its workers were lost, last ' .. (v[IX.worker] or '?')
    finish(run, lease, id, 'dead', reason)
    drop(eid)
    return {'dead', reason}
  end
  redis.call('HSET', run, 'state', 'running', 'deliveries', int(d), 'worker', consumer,
    'started', now, 'token', token, 'entry', eid)
  redis.call('SET', lease, own .. token, 'PX', ARGV[2])
  redis.call('ZADD', KEYS[2], now, id)
  if tonumber(now) - (tonumber(v[IX.created]) or 0) > tonumber(ttl) / 10 then
    redis.call('PEXPIRE', run, ttl)
  end
  started = started + 1
  v[IX.state], v[IX.deliveries], v[IX.worker], v[IX.started] = 'running', int(d), consumer, now
  local out = {'started'}
  for i = 1, #F do out[i + 1] = v[i] or '' end
  return out
end
local out = {}
for i = 1, (#KEYS - 3) / 3 do
  local k, a = 3 + (i - 1) * 3, 9 + (i - 1) * 4
  out[i] = start(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
end
if #acks > 0 then redis.call('XACK', KEYS[1], ARGV[6], unpack(acks)) end
if #dels > 0 then redis.call('XDEL', KEYS[1], unpack(dels)) end
return out
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

// complete records results, acks and deletes the stream entries, and
// schedules a retry for a failed run with retries left (unless permanent).
// KEYS stream, running, delayed, timings, finished, then per run: run, lease, cancel
// ARGV group, now, run-ttl, backoff-ms, backoff-max-ms, full (1: reply with
//
//	the whole record), again (1: a repeated call), timings-cap, then per
//	run: id, token, entry-id, outcome, exit, reason, permanent
//
// Every recorded result also appends (task, duration ms, outcome) to the
// queue's timings stream (capped at about timings-cap entries): the window
// the metrics' quantiles and failure rates are computed from. A run that
// ends (not retrying) is added to the queue's finished index (FinishedWindow).
//
// Returns one reply per run: {'ok', …} or {'lost', state}. The token of the
// delivery that recorded a result is kept as 'ended', so that a call
// repeated after a lost reply (again = 1) answers 'ok' instead of 'lost'.
var scriptComplete = redis.NewScript(luaPrelude + `
local now, ttl = ARGV[2], ARGV[3]
local done = {} -- entries of recorded results: acknowledged and deleted together at the end
local function reply(run)
  if ARGV[6] == '1' then
    local all = redis.call('HGETALL', run)
    table.insert(all, 1, 'ok')
    return all
  end
  local v = redis.call('HMGET', run, 'state', 'exit', 'reason', 'attempt')
  return {'ok', v[1] or '', v[2] or '0', v[3] or '', v[4] or '0'}
end
local function complete(run, lease, cancel, id, token, eid, outcome, exit, reason, permanent)
  local h = redis.call('HMGET', run, 'state', 'token', 'attempt', 'max_retries', 'ended', 'started', 'task')
  if h[1] ~= 'running' or h[2] ~= token then
    if ARGV[7] == '1' and h[5] == token then return reply(run) end
    return {'lost', h[1] or ''}
  end
  local state = outcome
  if state ~= 'succeeded' and redis.call('EXISTS', cancel) == 1 then state = 'killed' end
  local attempt = tonumber(h[3]) or 0
  local took = tonumber(now) - (tonumber(h[6]) or tonumber(now))
  if took < 0 then took = 0 end
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'task', h[7] or '', 'ms', int(took), 'out', state)
  redis.call('DEL', lease)
  redis.call('ZREM', KEYS[2], id)
  done[#done + 1] = eid
  if state == 'failed' and permanent ~= '1' and attempt < (tonumber(h[4]) or 0) then
    local delay = tonumber(ARGV[4]) * (2 ^ attempt)
    if delay > tonumber(ARGV[5]) then delay = tonumber(ARGV[5]) end
    local due = int(tonumber(now) + math.floor(delay))
    state, attempt = 'retrying', attempt + 1
    redis.call('HSET', run, 'state', state, 'attempt', int(attempt), 'deliveries', '0',
      'exit', exit, 'reason', reason, 'due', due, 'token', '', 'ended', token)
    redis.call('ZADD', KEYS[3], due, id .. '/' .. int(attempt))
  else
    redis.call('HSET', run, 'state', state, 'exit', exit, 'reason', reason, 'finished', now,
      'token', '', 'ended', token)
    finished(KEYS[5], id, now)
  end
  redis.call('PEXPIRE', run, ttl)
  if ARGV[6] == '1' then return reply(run) end
  return {'ok', state, exit, reason, int(attempt)}
end
local out = {}
for i = 1, (#KEYS - 5) / 3 do
  local k, a = 5 + (i - 1) * 3, 8 + (i - 1) * 7
  out[i] = complete(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7])
end
if #done > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(done))
  redis.call('XDEL', KEYS[1], unpack(done))
end
return out
`)

// release hands a running run back without a result: its lease and stream
// entry go, a fresh entry makes it claimable at once, and the delivery it
// used is not counted.
// KEYS run, lease, stream, running; ARGV id, token, entry-id, group, run-ttl
var scriptRelease = redis.NewScript(luaPrelude + `
local h = redis.call('HMGET', KEYS[1], 'state', 'token', 'attempt', 'deliveries')
if h[1] ~= 'running' or h[2] ~= ARGV[2] then return {'lost', h[1] or ''} end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('XACK', KEYS[3], ARGV[4], ARGV[3])
redis.call('XDEL', KEYS[3], ARGV[3])
local eid = redis.call('XADD', KEYS[3], '*', 'run', ARGV[1], 'attempt', h[3] or '0')
local d = (tonumber(h[4]) or 1) - 1
if d < 0 then d = 0 end
redis.call('HSET', KEYS[1], 'state', 'queued', 'entry', eid, 'deliveries', int(d))
redis.call('HDEL', KEYS[1], 'token')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'ok'}
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
// KEYS run, cancel, stream, delayed, running, lease, finished; ARGV id, now, ttl, group
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
finished(KEYS[7], ARGV[1], ARGV[2])
return {'killed'}
`)
