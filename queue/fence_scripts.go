package queue

import "github.com/redis/go-redis/v9"

// The fenced lease's scripts; each touches the keys of one lease (one slot).

// acquire: KEYS lock, epoch, info; ARGV id, ttl-ms, host, pid, now-ms,
// version, holder, command. Returns {1, value, epoch} when taken, {0,
// holder value, pttl, info hash} otherwise.
var scriptLeaseAcquire = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1] + 1) ~= ARGV[1] .. '|' then
  return {0, cur, redis.call('PTTL', KEYS[1]), redis.call('HGETALL', KEYS[3])}
end
local e = redis.call('INCR', KEYS[2])
local v = ARGV[1] .. '|' .. e
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'id', ARGV[1], 'host', ARGV[3], 'pid', ARGV[4], 'since', ARGV[5],
  'epoch', e, 'version', ARGV[6], 'holder', ARGV[7], 'command', ARGV[8])
return {1, v, e}
`)

// renew: KEYS lock, stepdown; ARGV value, ttl-ms.
// Returns 1 renewed, 0 not the holder, -1 stepped down on request.
var scriptLeaseRenew = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// release: KEYS lock; ARGV value. Deletes the lease if still held.
var scriptLeaseRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// force: KEYS lock, info; ARGV id. Deletes the lease when held by id;
// returns {value, info hash}, or false when free.
var scriptLeaseForce = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
local info = redis.call('HGETALL', KEYS[2])
if string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then redis.call('DEL', KEYS[1]) end
return {v, info}
`)

// stepdown: KEYS lock, stepdown; ARGV ttl-ms. Marks the current lease for
// stepping down; returns its value, or false when nobody holds it.
var scriptLeaseStepdown = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('SET', KEYS[2], v, 'PX', ARGV[1])
return v
`)
