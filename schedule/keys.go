package schedule

import "strconv"

// keys is the beat's key layout: every key is "<namespace prefix>{beat}:…",
// so all of them share one Redis Cluster slot and any script may touch any
// of them. Scripts get every key in KEYS; none builds a key.
//
//	{beat}:leader          "<beat id>|<epoch>", PX lease
//	{beat}:epoch           counter: the fencing token of each new lease
//	{beat}:leader:info     hash: id, host, pid, since, epoch, version of the lease holder
//	{beat}:stepdown        lease value a `cl beat stop --leader` asked to step down
//	{beat}:cursor          hash: schedule → "<tick ms> <fingerprint>", ticks ≤ it are dealt with
//	{beat}:fire:<s>:<ms>   hash: one fire of schedule s at tick ms (state, plan, result), TTL
//	{beat}:firing          zset: fire keys claimed but not done, by tick
//	{beat}:last            hash: schedule → JSON of its last fire (FireRecord)
//	{beat}:config          hash: the published Set (set, gen, digest, sha, source, published_at)
//	{beat}:members         zset: beat id → last heartbeat (unix ms)
//	{beat}:member:<id>     JSON of one beat (Member), PX 3 leases
//	{beat}:events          pub/sub channel: "config <gen>", "released <id>"
type keys struct{ p string }

func newKeys(prefix string) keys { return keys{p: prefix + "{beat}:"} }

func (k keys) leader() string     { return k.p + "leader" }
func (k keys) epoch() string      { return k.p + "epoch" }
func (k keys) leaderInfo() string { return k.p + "leader:info" }
func (k keys) stepdown() string   { return k.p + "stepdown" }
func (k keys) cursor() string     { return k.p + "cursor" }
func (k keys) firing() string     { return k.p + "firing" }
func (k keys) last() string       { return k.p + "last" }
func (k keys) config() string     { return k.p + "config" }
func (k keys) members() string    { return k.p + "members" }
func (k keys) events() string     { return k.p + "events" }

func (k keys) member(id string) string { return k.p + "member:" + id }

func (k keys) fire(schedule string, tickMS int64) string {
	return k.p + "fire:" + schedule + ":" + strconv.FormatInt(tickMS, 10)
}

// volatile reports whether a key belongs to a running beat rather than to
// the cluster's state: backups skip these (restoring a lease or a member
// record would be wrong).
func (k keys) volatile(key string) bool {
	switch key {
	case k.leader(), k.leaderInfo(), k.stepdown(), k.members():
		return true
	}
	return len(key) > len(k.member("")) && key[:len(k.member(""))] == k.member("")
}
