package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reasons a fenced lease ends (Lease.Cause), and the error of a lease that
// another process holds.
var (
	// ErrLeaseExpired: the holder could not renew in time; its local
	// validity ran out (Redis unreachable or too slow).
	ErrLeaseExpired = errors.New("lease expired locally: could not renew it in time")
	// ErrLeaseTaken: Redis says the lease is no longer the caller's (it
	// expired there and another process took it, or it was force-unlocked).
	ErrLeaseTaken = errors.New("lease is held by another holder")
	// ErrSteppedDown: the holder was asked to give the lease up (StepDown).
	ErrSteppedDown = errors.New("lease holder stepped down on request")
	// ErrLeaseHeld is matched by the error of AcquireLease when another
	// process holds the lease; the error is a *LeaseHeldError.
	ErrLeaseHeld = errors.New("lease is held")
)

// LeaseName names one fenced lease of a namespace. Its keys share the hash
// tag {<name>}:
//
//	{<name>}:<lock>        "<holder id>|<epoch>", PX ttl   (<lock> is "leader" for beat, "lock" otherwise)
//	{<name>}:<lock>:info   hash: id, epoch, host, pid, since, version, holder, command of the holder
//	{<name>}:epoch         counter: the fencing token of each new lease
//	{<name>}:stepdown      the lease value that StepDown asked to give up
type LeaseName string

// The leases of a namespace.
const (
	// LeaseBeat is the beat leader lease ("<prefix>{beat}:leader").
	LeaseBeat LeaseName = "beat"
	// LeaseDeploy is the deploy lock ("<prefix>{deploy}:lock"), held by
	// `cl host deploy/add/remove` and the apply of the agent.
	LeaseDeploy LeaseName = "deploy"
	// LeaseAgent is the leadership of the cluster's GitOps agents
	// ("<prefix>{agent}:leader"): one syncs and applies, the others stand by.
	LeaseAgent LeaseName = "agent"
)

// leaseKeys are the keys of one lease.
type leaseKeys struct{ lock, info, epoch, stepdown string }

func (k Keys) lease(n LeaseName) leaseKeys {
	t := k.prefix + "{" + string(n) + "}:"
	lock := t + "lock"
	if n == LeaseBeat || n == LeaseAgent {
		lock = t + "leader"
	}
	return leaseKeys{lock: lock, info: lock + ":info", epoch: t + "epoch", stepdown: t + "stepdown"}
}

// LeaseKey returns the key holding lease n's value.
func (k Keys) LeaseKey(n LeaseName) string { return k.lease(n).lock }

// LeaseInfo says who holds a lease: plain data, stored beside the lease.
type LeaseInfo struct {
	ID      string    `json:"id"`     // the holder's id (a beat id, a lock id)
	Epoch   int64     `json:"epoch"`  // fencing token: grows with every acquisition
	Holder  string    `json:"holder"` // user@machine pid N
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Version string    `json:"version,omitempty"`
	Command string    `json:"command,omitempty"`
	Since   time.Time `json:"since"` // when the lease was taken
}

// LeaseHeldError is ErrLeaseHeld with the current holder and the time its
// lease has left unless renewed.
type LeaseHeldError struct {
	Name   LeaseName
	Holder LeaseInfo
	TTL    time.Duration
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("%s lease is held by %s (id %s, epoch %d, expires in %s unless renewed)",
		e.Name, e.Holder.Holder, e.Holder.ID, e.Holder.Epoch, e.TTL.Round(time.Millisecond))
}

func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// Lease is a held fenced lease. AcquireLease starts renewing it in the
// background every third of its TTL; Lost is closed (with Cause telling
// why) when it is taken away, could not be renewed before its local
// validity ran out, or its holder was asked to step down.
//
// Redis lets the key expire ttl after it applied the last SET/PEXPIRE. The
// holder counts its validity from the moment it sent that command, which is
// earlier, and subtracts a margin for clock rate differences, so it stops
// acting (Token reports !ok) before Redis lets another process take over.
type Lease struct {
	q      *Queue
	name   LeaseName
	k      leaseKeys
	ttl    time.Duration
	margin time.Duration

	mu         sync.Mutex
	info       LeaseInfo
	value      string    // "<id>|<epoch>" while held, "" after it ended
	validUntil time.Time // carries the monotonic reading of time.Now

	lost  chan struct{}
	cause error
	once  sync.Once
	stop  chan struct{}
	done  chan struct{}
	stopO sync.Once
}

// Holder describes this process: user@machine pid N.
func Holder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	hn, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d", name, hn, os.Getpid())
}

// AcquireLease takes lease n for info once, for ttl (renewed in the
// background until Release). info.ID defaults to a new id, Holder, Host
// and PID to this process; Epoch and Since are set by the acquisition. A
// holder that finds its own id holding the lease (it lost it locally, e.g.
// a renew timed out) takes it again under a new epoch. When another
// process holds it, the error is a *LeaseHeldError.
func (q *Queue) AcquireLease(ctx context.Context, n LeaseName, info LeaseInfo, ttl time.Duration) (*Lease, error) {
	if ttl < 30*time.Millisecond {
		return nil, fmt.Errorf("%s lease ttl %v is too short: use at least 30ms", n, ttl)
	}
	if info.ID == "" {
		info.ID = NewID()
	}
	if strings.ContainsAny(info.ID, "|") {
		return nil, fmt.Errorf("%s lease holder id %q contains '|': use another id", n, info.ID)
	}
	if info.Holder == "" {
		info.Holder = Holder()
	}
	if info.Host == "" {
		info.Host, _ = os.Hostname()
	}
	if info.PID == 0 {
		info.PID = os.Getpid()
	}
	k := q.keys.lease(n)
	sent := time.Now()
	octx, cancel := context.WithTimeout(ctx, min(ttl/3, q.opt.opTimeout))
	defer cancel()
	res, err := scriptLeaseAcquire.Run(octx, q.rdb, []string{k.lock, k.epoch, k.info},
		info.ID, ttl.Milliseconds(), info.Host, info.PID, sent.UnixMilli(), info.Version, info.Holder, info.Command).Slice()
	if err != nil {
		return nil, fmt.Errorf("acquire %s lease %s: %w", n, k.lock, err)
	}
	if len(res) < 3 {
		return nil, fmt.Errorf("acquire %s lease %s: unexpected reply %v", n, k.lock, res)
	}
	if toInt(res[0]) != 1 {
		h := map[string]string{}
		if len(res) > 3 {
			h = flatHash(res[3])
		}
		return nil, &LeaseHeldError{Name: n, Holder: leaseInfo(fmt.Sprint(res[1]), h), TTL: time.Duration(toInt(res[2])) * time.Millisecond}
	}
	info.Epoch, info.Since = toInt(res[2]), time.UnixMilli(sent.UnixMilli())
	l := &Lease{q: q, name: n, k: k, ttl: ttl, margin: max(ttl/20, 10*time.Millisecond), info: info,
		value: fmt.Sprint(res[1]), validUntil: sent.Add(ttl - max(ttl/20, 10*time.Millisecond)),
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.keep()
	return l, nil
}

// leaseInfo decodes a lease value and its info hash; when the info is not
// the value's holder (not written yet), only the id and epoch are known.
func leaseInfo(value string, h map[string]string) LeaseInfo {
	id, epoch, _ := strings.Cut(value, "|")
	li := LeaseInfo{ID: h["id"], Epoch: toInt(h["epoch"]), Holder: h["holder"], Host: h["host"], PID: int(toInt(h["pid"])),
		Version: h["version"], Command: h["command"], Since: time.UnixMilli(toInt(h["since"]))}
	if li.ID != id || strconv.FormatInt(li.Epoch, 10) != epoch {
		return LeaseInfo{ID: id, Epoch: toInt(epoch)}
	}
	return li
}

// Info returns the holder info the lease was taken with (Epoch and Since set).
func (l *Lease) Info() LeaseInfo { return l.info }

// Lost is closed when the lease ended without Release; Cause says why.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Cause is ErrLeaseTaken, ErrLeaseExpired or ErrSteppedDown once Lost is
// closed, nil before.
func (l *Lease) Cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cause
}

// Token returns the lease value ("<id>|<epoch>", what fenced scripts
// compare) and the epoch while the lease is held and locally valid.
func (l *Lease) Token() (value string, epoch int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.value == "" || !time.Now().Before(l.validUntil) {
		return "", 0, false
	}
	return l.value, l.info.Epoch, true
}

// Until is the end of the local validity.
func (l *Lease) Until() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validUntil
}

// lose ends the lease locally with cause and closes Lost.
func (l *Lease) lose(cause error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.value, l.cause = "", cause
		l.mu.Unlock()
		close(l.lost)
	})
}

// keep renews the lease every third of its TTL (sooner after an error)
// and ends it the moment its local validity runs out, on the monotonic
// clock, whatever Redis calls are still hanging.
func (l *Lease) keep() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	every := l.ttl / 3
	renew := time.NewTimer(every)
	defer renew.Stop()
	for {
		expiry := time.NewTimer(time.Until(l.Until()))
		select {
		case <-l.stop:
			expiry.Stop()
			return
		case <-expiry.C:
			l.lose(ErrLeaseExpired)
			return
		case <-renew.C:
		}
		expiry.Stop()
		err := l.Renew(ctx)
		switch {
		case errors.Is(err, ErrLeaseTaken), errors.Is(err, ErrSteppedDown):
			l.lose(err)
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			l.q.log.Warn("renew lease", "lease", string(l.name), "err", err, "valid_for", time.Until(l.Until()).Round(time.Millisecond))
			renew.Reset(min(every, 250*time.Millisecond))
		default:
			renew.Reset(every)
		}
	}
}

// Renew extends the lease once (the background keeper calls it every third
// of the TTL). It returns ErrLeaseTaken or ErrSteppedDown when the lease is
// gone, or the Redis error.
func (l *Lease) Renew(ctx context.Context) error {
	value, _, ok := l.Token()
	if !ok {
		return ErrLeaseTaken
	}
	sent := time.Now()
	ctx, cancel := context.WithDeadline(ctx, l.Until())
	defer cancel()
	n, err := scriptLeaseRenew.Run(ctx, l.q.rdb, []string{l.k.lock, l.k.stepdown}, value, l.ttl.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("renew %s lease %s: %w", l.name, value, err)
	}
	switch n {
	case 1:
		l.mu.Lock()
		if l.value == value {
			l.validUntil = sent.Add(l.ttl - l.margin)
		}
		l.mu.Unlock()
		return nil
	case -1:
		return ErrSteppedDown
	}
	return ErrLeaseTaken
}

// halt stops the background renewal and waits for it.
func (l *Lease) halt() {
	l.stopO.Do(func() { close(l.stop) })
	<-l.done
}

// Drop stops renewing and forgets the lease locally, without a Redis call
// (it is no longer valid anyway, e.g. a fenced script said it is not the
// caller's). Lost is closed, with ErrLeaseTaken unless it had ended before.
func (l *Lease) Drop() {
	l.halt()
	l.lose(ErrLeaseTaken)
}

// Release stops renewing and deletes the lease in Redis when it is still
// this holder's. It is a no-op after Drop, Release, or the lease's loss.
func (l *Lease) Release(ctx context.Context) error {
	l.halt()
	l.mu.Lock()
	value := l.value
	l.value = ""
	l.mu.Unlock()
	if value == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(2*time.Second, l.q.opt.opTimeout))
	defer cancel()
	if err := scriptLeaseRelease.Run(ctx, l.q.rdb, []string{l.k.lock}, value).Err(); err != nil {
		return fmt.Errorf("release %s lease %s: %w", l.name, value, err)
	}
	return nil
}

// ReadLease returns the holder of lease n (nil when free) and the time its
// lease has left unless renewed.
func (q *Queue) ReadLease(ctx context.Context, n LeaseName) (*LeaseInfo, time.Duration, error) {
	k := q.keys.lease(n)
	ctx, cancel := q.op(ctx)
	defer cancel()
	pipe := q.rdb.Pipeline()
	val := pipe.Get(ctx, k.lock)
	ttl := pipe.PTTL(ctx, k.lock)
	info := pipe.HGetAll(ctx, k.info)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("read %s lease %s: %w", n, k.lock, err)
	}
	if val.Val() == "" {
		return nil, 0, nil
	}
	li := leaseInfo(val.Val(), info.Val())
	return &li, ttl.Val(), nil
}

// ForceUnlock deletes lease n when its holder id is id, and returns the
// holder it had (nil when the lease was free). A lease held under another
// id is left alone and returned with an error.
func (q *Queue) ForceUnlock(ctx context.Context, n LeaseName, id string) (*LeaseInfo, error) {
	k := q.keys.lease(n)
	ctx, cancel := q.op(ctx)
	defer cancel()
	res, err := scriptLeaseForce.Run(ctx, q.rdb, []string{k.lock, k.info}, id).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("force-unlock %s lease %s: %w", n, id, err)
	}
	h := map[string]string{}
	if len(res) > 1 {
		h = flatHash(res[1])
	}
	li := leaseInfo(fmt.Sprint(res[0]), h)
	if li.ID != id {
		return &li, fmt.Errorf("force-unlock %s: the %s lease is held by id %s (%s), not %s: nothing cleared", id, n, li.ID, li.Holder, id)
	}
	return &li, nil
}

// StepDown asks the holder of lease n to give it up at its next renewal
// (within a third of its TTL); the request lasts ttl. It returns the
// lease value asked to step down, "" when nobody holds it.
func (q *Queue) StepDown(ctx context.Context, n LeaseName, ttl time.Duration) (string, error) {
	k := q.keys.lease(n)
	ctx, cancel := q.op(ctx)
	defer cancel()
	v, err := scriptLeaseStepdown.Run(ctx, q.rdb, []string{k.lock, k.stepdown}, ttl.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ask the %s lease holder to step down: %w", n, err)
	}
	return v, nil
}

// LeaseValue returns lease n's current value ("<id>|<epoch>", "" when free).
func (q *Queue) LeaseValue(ctx context.Context, n LeaseName) (string, error) {
	k := q.keys.lease(n)
	ctx, cancel := q.op(ctx)
	defer cancel()
	v, err := q.rdb.Get(ctx, k.lock).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("read %s lease %s: %w", n, k.lock, err)
	}
	return v, nil
}

// flatHash decodes a script's HGETALL reply.
func flatHash(v any) map[string]string {
	h := map[string]string{}
	flat, _ := v.([]any)
	for i := 0; i+1 < len(flat); i += 2 {
		h[fmt.Sprint(flat[i])] = fmt.Sprint(flat[i+1])
	}
	return h
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}
