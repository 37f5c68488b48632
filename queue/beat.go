package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// BeatStore is the beat's state in Redis: schedule cursors, fire claims
// and records, the published schedule set, the member records and the
// events channel. Package schedule owns what the state means; BeatStore
// owns its keys and scripts. Every key is "<prefix>{beat}:…", so all of
// them share one Redis Cluster slot and any script may touch any of them.
// Scripts get every key in KEYS; none builds a key.
//
//	{beat}:leader          "<beat id>|<epoch>", PX lease (the fenced lease LeaseBeat)
//	{beat}:epoch           counter: the fencing token of each new lease
//	{beat}:leader:info     hash: id, host, pid, since, epoch, version, holder of the lease holder
//	{beat}:stepdown        lease value a `cl beat stop --leader` asked to step down
//	{beat}:cursor          hash: schedule → "<tick ms> <fingerprint>", ticks ≤ it are dealt with
//	{beat}:fire:<s>:<ms>   hash: one fire of schedule s at tick ms (state, plan, result), TTL
//	{beat}:firing          zset: fire keys claimed but not done, by tick
//	{beat}:last            hash: schedule → JSON of its last fire
//	{beat}:config          hash: the published set (set, gen, digest, sha, source, published_at)
//	{beat}:members         zset: beat id → last heartbeat (unix ms)
//	{beat}:member:<id>     JSON of one beat, PX 3 leases
//	{beat}:fleet           hash: the active blue-green fleet (active, gen, previous, switched_at, by)
//	{beat}:events          pub/sub channel: "config <gen>", "released <id>"
//
// Every script that changes firing state first checks that the caller
// still holds the lease (its value carries the epoch, the fencing token),
// so a leader that lost its lease — paused, partitioned, or slow — cannot
// claim anything.
type BeatStore struct {
	q *Queue
	k beatKeys
}

// Beat returns the beat state of q's namespace.
func (q *Queue) Beat() *BeatStore { return &BeatStore{q: q, k: beatKeys{p: q.keys.prefix + "{beat}:"}} }

type beatKeys struct{ p string }

func (k beatKeys) leader() string          { return k.p + "leader" }
func (k beatKeys) leaderInfo() string      { return k.p + "leader:info" }
func (k beatKeys) stepdown() string        { return k.p + "stepdown" }
func (k beatKeys) cursor() string          { return k.p + "cursor" }
func (k beatKeys) firing() string          { return k.p + "firing" }
func (k beatKeys) last() string            { return k.p + "last" }
func (k beatKeys) config() string          { return k.p + "config" }
func (k beatKeys) members() string         { return k.p + "members" }
func (k beatKeys) events() string          { return k.p + "events" }
func (k beatKeys) member(id string) string { return k.p + "member:" + id }

// volatile reports whether a key belongs to a running beat rather than to
// the cluster's state: backups skip these (restoring a lease or a member
// record would be wrong).
func (k beatKeys) volatile(key string) bool {
	switch key {
	case k.leader(), k.leaderInfo(), k.stepdown(), k.members():
		return true
	}
	return len(key) > len(k.member("")) && key[:len(k.member(""))] == k.member("")
}

// FireKey names the record of one fire of schedule at tick (ms); it is
// the fire's identity in claims, records and the firing set.
func (s *BeatStore) FireKey(schedule string, tickMS int64) string {
	return s.k.p + "fire:" + schedule + ":" + strconv.FormatInt(tickMS, 10)
}

// Events is the key of the beats' pub/sub channel.
func (s *BeatStore) Events() string { return s.k.events() }

// Cursors returns the cursor tick (unix ms) of each schedule, fenced by
// the lease value: the stored one, or now when there is none or the
// schedule's fingerprint (cron, zone) changed. names and fps are parallel.
func (s *BeatStore) Cursors(ctx context.Context, lease string, now time.Time, names, fps []string) ([]int64, error) {
	args := []any{lease, now.UnixMilli()}
	for i := range names {
		args = append(args, names[i], fps[i])
	}
	ctx, cancel := s.q.op(ctx)
	defer cancel()
	res, err := scriptBeatCursors.Run(ctx, s.q.rdb, []string{s.k.leader(), s.k.cursor()}, args...).StringSlice()
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(res))
	for i, v := range res {
		out[i] = toInt(v)
	}
	return out, nil
}

// FireClaim is one claim of a tick: mode "fire" claims the fire once (its
// plan stored under the key), "skip" only moves the cursor forward.
type FireClaim struct {
	Key, Schedule string
	TickMS        int64
	Fingerprint   string
	Mode          string // fire | skip
	Plan          string
	TTL           time.Duration // of the fire record
	// FleetGen, when not empty, is the generation of the active fleet the
	// plan was made for: the claim is refused ({"fleet", gen}) when a
	// switch happened since (see FleetState).
	FleetGen string
}

// Claim runs the claims in one pipeline, fenced by the lease value, at
// time now. Each reply is one of: {"new"}, {"skipped"}, {"exists", state,
// lease}, {"old", cursor}, {"notleader"}, {"fleet", gen} (the active fleet
// changed since the plan was made: nothing recorded). It fails as a whole on a
// transport error; a per-claim error is in errs.
func (s *BeatStore) Claim(ctx context.Context, lease string, now time.Time, claims []FireClaim) (replies [][]string, errs []error, err error) {
	calls := make([]*scriptCall, len(claims))
	for i, c := range claims {
		calls[i] = &scriptCall{script: scriptBeatClaim, keys: []string{s.k.leader(), s.k.cursor(), c.Key, s.k.firing(), s.k.fleet()},
			args: []any{lease, c.Schedule, c.TickMS, c.Fingerprint, c.Mode, c.Plan, c.TTL.Milliseconds(), now.UnixMilli(), c.FleetGen}}
	}
	if err := s.q.execPipe(ctx, nil, calls); err != nil {
		return nil, nil, err
	}
	replies, errs = make([][]string, len(calls)), make([]error, len(calls))
	for i, c := range calls {
		replies[i], errs[i] = c.cmd.StringSlice()
	}
	return replies, errs, nil
}

// FireDone is the outcome of one fire: Record (JSON) becomes the fire's
// record and its schedule's last fire.
type FireDone struct {
	Key, Schedule string
	Record        []byte
}

// Done records outcomes in one pipeline: each fire key becomes done,
// leaves the firing set, and becomes its schedule's last fire (a fire key
// that expired meanwhile is not recreated). errs holds per-record errors.
func (s *BeatStore) Done(ctx context.Context, done []FireDone) (errs []error, err error) {
	calls := make([]*scriptCall, len(done))
	now := time.Now().UnixMilli()
	for i, d := range done {
		calls[i] = &scriptCall{script: scriptBeatDone, keys: []string{d.Key, s.k.firing(), s.k.last()},
			args: []any{d.Schedule, string(d.Record), now}}
	}
	if err := s.q.execPipe(ctx, nil, calls); err != nil {
		return nil, err
	}
	errs = make([]error, len(calls))
	for i, c := range calls {
		errs[i] = c.cmd.Err()
	}
	return errs, nil
}

// Firing returns up to n fire keys claimed and not done, oldest tick first.
func (s *BeatStore) Firing(ctx context.Context, n int) ([]string, error) {
	return s.q.rdb.ZRange(ctx, s.k.firing(), 0, int64(n)-1).Result()
}

// FireState returns a fire's state and plan ("" when the record is gone).
func (s *BeatStore) FireState(ctx context.Context, key string) (state, plan string, err error) {
	h, err := s.q.rdb.HMGet(ctx, key, "state", "plan").Result()
	if err != nil {
		return "", "", err
	}
	state, _ = h[0].(string)
	plan, _ = h[1].(string)
	return state, plan, nil
}

// Unfire removes a fire key from the firing set (it expired, is done, or
// is unreadable).
func (s *BeatStore) Unfire(ctx context.Context, key string) error {
	return s.q.rdb.ZRem(ctx, s.k.firing(), key).Err()
}

// Published is the stored schedule set and its publication data.
type Published struct {
	Gen           int64
	Digest        string
	SHA, Source   string
	PublishedAtMS int64
	Set           []byte // JSON, when read with the set
}

// Publish stores set (JSON) as the namespace's schedule set and announces
// "config <gen>" on the events channel. It returns the new generation; an
// error after gen > 0 means only the announcement failed.
func (s *BeatStore) Publish(ctx context.Context, set []byte, digest, sha, source string) (int64, error) {
	ctx, cancel := s.q.op(ctx)
	defer cancel()
	gen, err := scriptBeatPublish.Run(ctx, s.q.rdb, []string{s.k.config()}, string(set), digest, sha, source, time.Now().UnixMilli()).Int64()
	if err != nil {
		return 0, err
	}
	if err := s.q.rdb.Publish(ctx, s.k.events(), "config "+strconv.FormatInt(gen, 10)).Err(); err != nil {
		return gen, err
	}
	return gen, nil
}

// ReadPublished returns the published set (nil when there is none); the
// set's JSON only withSet.
func (s *BeatStore) ReadPublished(ctx context.Context, withSet bool) (*Published, error) {
	fields := []string{"gen", "digest", "sha", "source", "published_at"}
	if withSet {
		fields = append(fields, "set")
	}
	ctx, cancel := s.q.op(ctx)
	defer cancel()
	v, err := s.q.rdb.HMGet(ctx, s.k.config(), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("read published schedule set %s: %w", s.k.config(), err)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	if str(0) == "" {
		return nil, nil
	}
	p := &Published{Gen: toInt(str(0)), Digest: str(1), SHA: str(2), Source: str(3), PublishedAtMS: toInt(str(4))}
	if withSet {
		p.Set = []byte(str(5))
	}
	return p, nil
}

// Announce publishes msg on the events channel.
func (s *BeatStore) Announce(ctx context.Context, msg string) error {
	ctx, cancel := context.WithTimeout(ctx, min(2*time.Second, s.q.opt.opTimeout))
	defer cancel()
	return s.q.rdb.Publish(ctx, s.k.events(), msg).Err()
}

// Subscription delivers the payloads of the events channel.
type Subscription struct {
	C   <-chan string
	sub *redis.PubSub
}

// Close ends the subscription; C is closed after it.
func (s *Subscription) Close() error { return s.sub.Close() }

// Subscribe follows the events channel until Close (reconnecting as needed).
func (s *BeatStore) Subscribe(ctx context.Context) *Subscription {
	sub := s.q.rdb.Subscribe(ctx, s.k.events())
	c := make(chan string, 16)
	go func() {
		defer close(c)
		for m := range sub.Channel() {
			c <- m.Payload
		}
	}()
	return &Subscription{C: c, sub: sub}
}

// PutMember writes one beat's member record (JSON) for ttl and indexes it
// by seen, dropping index entries older than ttl.
func (s *BeatStore) PutMember(ctx context.Context, id string, raw []byte, seen time.Time, ttl time.Duration) error {
	pipe := s.q.rdb.TxPipeline()
	pipe.Set(ctx, s.k.member(id), raw, ttl)
	pipe.ZAdd(ctx, s.k.members(), redis.Z{Score: float64(seen.UnixMilli()), Member: id})
	pipe.ZRemRangeByScore(ctx, s.k.members(), "-inf", strconv.FormatInt(seen.Add(-ttl).UnixMilli(), 10))
	_, err := pipe.Exec(ctx)
	return err
}

// DeleteMember removes a beat's member record.
func (s *BeatStore) DeleteMember(ctx context.Context, id string) error {
	pipe := s.q.rdb.TxPipeline()
	pipe.Del(ctx, s.k.member(id))
	pipe.ZRem(ctx, s.k.members(), id)
	_, err := pipe.Exec(ctx)
	return err
}

// Members returns the member records (JSON) of the beats that have not
// expired.
func (s *BeatStore) Members(ctx context.Context) ([][]byte, error) {
	ctx, cancel := s.q.op(ctx)
	defer cancel()
	ids, err := s.q.rdb.ZRange(ctx, s.k.members(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read beat members %s: %w", s.k.members(), err)
	}
	var out [][]byte
	for _, id := range ids {
		raw, err := s.q.rdb.Get(ctx, s.k.member(id)).Result()
		if errors.Is(err, redis.Nil) {
			continue // expired: the beat died
		}
		if err != nil {
			return nil, fmt.Errorf("read beat member %s: %w", id, err)
		}
		out = append(out, []byte(raw))
	}
	return out, nil
}

// Last returns each schedule's last fire record (JSON).
func (s *BeatStore) Last(ctx context.Context) (map[string]string, error) {
	ctx, cancel := s.q.op(ctx)
	defer cancel()
	h, err := s.q.rdb.HGetAll(ctx, s.k.last()).Result()
	if err != nil {
		return nil, fmt.Errorf("read last fires %s: %w", s.k.last(), err)
	}
	return h, nil
}

// cursors: KEYS leader, cursor; ARGV value, now-ms, then name, fingerprint
// pairs. For each schedule it returns its cursor tick (ms): the stored one,
// or now when there is none or the schedule's cron or zone changed (then
// ticks of the new expression start after the change, not in the past).
var scriptBeatCursors = redis.NewScript(`
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

// claim: KEYS leader, cursor, fire, firing, fleet;
// ARGV value, name, tick-ms, fingerprint, mode (fire|skip), plan, fire-ttl-ms, now-ms, fleet-gen.
// fire: claims the tick once: {'new'}; {'exists', state, lease} when the
// fire key is there (a retry of our own claim, or done); {'old', cursor}
// when the cursor is already at or past the tick. skip: only moves the
// cursor forward. {'notleader'} when the lease is not the caller's.
// {'fleet', gen} when fleet-gen is set and the active fleet's generation is
// another one (a switch since the plan was made): nothing is changed.
var scriptBeatClaim = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'notleader'} end
if ARGV[5] == 'fire' then
  local st = redis.call('HMGET', KEYS[3], 'state', 'lease')
  if st[1] then return {'exists', st[1], st[2] or ''} end
  if ARGV[9] ~= '' then
    local g = redis.call('HGET', KEYS[5], 'gen') or '0'
    if g ~= ARGV[9] then return {'fleet', g} end
  end
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
var scriptBeatDone = redis.NewScript(`
redis.call('ZREM', KEYS[2], KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'done', ARGV[3], 'record', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
`)

// publish: KEYS config; ARGV set JSON, digest, sha, source, now-ms.
// Returns the new generation.
var scriptBeatPublish = redis.NewScript(`
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'set', ARGV[1], 'digest', ARGV[2], 'sha', ARGV[3], 'source', ARGV[4],
  'published_at', ARGV[5])
return gen
`)
