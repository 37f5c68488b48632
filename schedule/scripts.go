package schedule

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// scriptCall is one call of a script in a pipeline.
type scriptCall struct {
	keys []string
	args []any
}

// runPipelined sends the calls in one pipeline with EVALSHA, loading the
// script first when Redis does not have it (after a restart or failover).
// It fails as a whole on a transport error; per-call errors are in the
// commands.
func runPipelined(ctx context.Context, rdb redis.UniversalClient, s *redis.Script, calls []scriptCall) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(calls))
		for i, c := range calls {
			cmds[i] = s.EvalSha(ctx, pipe, c.keys, c.args...)
		}
		_, err := pipe.Exec(ctx)
		if err == nil {
			return cmds, nil
		}
		if attempt == 0 && strings.Contains(err.Error(), "NOSCRIPT") {
			if lerr := s.Load(ctx, rdb).Err(); lerr != nil {
				return nil, fmt.Errorf("load script: %w", lerr)
			}
			continue
		}
		return cmds, err
	}
}

// The beat's Lua scripts. Each touches only {beat} keys (one slot), gets
// them all in KEYS and takes the time from ARGV. Every script that changes
// firing state first checks that the caller still holds the lease (its
// value carries the epoch, the fencing token), so a leader that lost its
// lease — paused, partitioned, or slow — cannot claim anything.

// acquire: KEYS leader, epoch, info; ARGV id, ttl-ms, host, pid, now-ms, version.
// Returns {1, value, epoch} when taken, {0, holder, pttl} otherwise. A beat
// that finds its own id holding the lease (it lost it locally, e.g. a renew
// timed out) takes it again under a new epoch.
var scriptAcquire = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1] + 1) ~= ARGV[1] .. '|' then
  return {0, cur, redis.call('PTTL', KEYS[1])}
end
local e = redis.call('INCR', KEYS[2])
local v = ARGV[1] .. '|' .. e
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'id', ARGV[1], 'host', ARGV[3], 'pid', ARGV[4], 'since', ARGV[5],
  'epoch', e, 'version', ARGV[6])
return {1, v, e}
`)

// renew: KEYS leader, stepdown; ARGV value, ttl-ms.
// Returns 1 renewed, 0 not the holder, -1 stepped down on request.
var scriptRenew = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// release: KEYS leader; ARGV value. Deletes the lease if still held.
var scriptRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// stepdown: KEYS leader, stepdown; ARGV ttl-ms. Marks the current lease for
// stepping down; returns its value, or false when nobody leads.
var scriptStepdown = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('SET', KEYS[2], v, 'PX', ARGV[1])
return v
`)

// cursors: KEYS leader, cursor; ARGV value, now-ms, then name, fingerprint
// pairs. For each schedule it returns its cursor tick (ms): the stored one,
// or now when there is none or the schedule's cron or zone changed (then
// ticks of the new expression start after the change, not in the past).
var scriptCursors = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local now = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 2 do
  local name, fp = ARGV[i], ARGV[i + 1]
  local c = redis.call('HGET', KEYS[2], name)
  local ms, cfp = nil, nil
  if c then
    local sp = string.find(c, ' ', 1, true)
    if sp then ms, cfp = tonumber(string.sub(c, 1, sp - 1)), string.sub(c, sp + 1) end
  end
  if not ms then
    ms = now
    redis.call('HSET', KEYS[2], name, string.format('%d', ms) .. ' ' .. fp)
  elseif cfp ~= fp then
    if ms < now then ms = now end
    redis.call('HSET', KEYS[2], name, string.format('%d', ms) .. ' ' .. fp)
  end
  out[#out + 1] = string.format('%d', ms)
end
return out
`)

// claim: KEYS leader, cursor, fire, firing;
// ARGV value, name, tick-ms, fingerprint, mode (fire|skip), plan, fire-ttl-ms, now-ms.
// fire: claims the tick once: {'new'}; {'exists', state, lease} when the
// fire key is there (a retry of our own claim, or done); {'old', cursor}
// when the cursor is already at or past the tick. skip: only moves the
// cursor forward. {'notleader'} when the lease is not the caller's.
var scriptClaim = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'notleader'} end
if ARGV[5] == 'fire' then
  local st = redis.call('HMGET', KEYS[3], 'state', 'lease')
  if st[1] then return {'exists', st[1], st[2] or ''} end
end
local c = redis.call('HGET', KEYS[2], ARGV[2])
if c then
  local sp = string.find(c, ' ', 1, true)
  local ms = tonumber(sp and string.sub(c, 1, sp - 1) or c)
  if ms and ms >= tonumber(ARGV[3]) then return {'old', c} end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. ARGV[4])
if ARGV[5] ~= 'fire' then return {'skipped'} end
redis.call('HSET', KEYS[3], 'state', 'firing', 'lease', ARGV[1], 'plan', ARGV[6], 'claimed', ARGV[8])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('ZADD', KEYS[4], ARGV[3], KEYS[3])
return {'new'}
`)

// done: KEYS fire, firing, last; ARGV name, record JSON, now-ms.
// Records the outcome of a fire. A fire key that expired meanwhile is not
// recreated.
var scriptDone = redis.NewScript(`
redis.call('ZREM', KEYS[2], KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'done', ARGV[3], 'record', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
`)

// publish: KEYS config; ARGV set JSON, digest, sha, source, now-ms.
// Returns the new generation.
var scriptPublish = redis.NewScript(`
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'set', ARGV[1], 'digest', ARGV[2], 'sha', ARGV[3], 'source', ARGV[4],
  'published_at', ARGV[5])
return gen
`)
