package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// Claim outcomes.
const (
	claimNew     = "new"     // claimed now: fan out
	claimResume  = "resume"  // claimed by this lease before (a retried call): fan out
	claimDone    = "done"    // fired already (by an earlier leader): nothing to do
	claimOld     = "old"     // the cursor is past the tick: nothing to do
	claimSkipped = "skipped" // cursor moved over skipped ticks
)

// claimItem is one tick to claim (or skip) in a claim round.
type claimItem struct {
	c      *compiled
	tick   time.Time
	mode   string // fire | skip
	plan   *firePlan
	key    string
	status string
	fleet  fleetView // the active fleet the plan was made for
}

// fleetView is the active fleet as the beat read it before a claim round;
// gen is empty when the set has no fleets (no check in the claim).
type fleetView struct {
	name string
	gen  string
}

// firePlan is what one fire does, fixed when it is claimed and stored in
// its fire key, so that a leader finishing it after a failover enqueues the
// same runs to the same hosts.
type firePlan struct {
	Schedule   string     `json:"s"`
	TickMS     int64      `json:"t"`
	DeadlineMS int64      `json:"d"`
	Tasks      []TaskRun  `json:"tasks,omitempty"`
	Hosts      []planHost `json:"hosts,omitempty"`
	Backup     *Backup    `json:"backup,omitempty"`
}

type planHost struct {
	Name string `json:"h"`
	Task int    `json:"i"` // index into Tasks
}

func (p *firePlan) tick() time.Time { return time.UnixMilli(p.TickMS) }

// FireEvent tells Options.OnFire about a fire once it is recorded.
type FireEvent struct {
	Schedule   string
	Tick       time.Time
	Hosts      int
	Enqueued   int // new runs
	Duplicates int // hosts whose run was enqueued before (a retried fan-out)
	Errors     int
	Recovered  bool      // finished by a sweep after a failover
	Done       time.Time // when every host's run was enqueued
	Err        error     // the first error, if any
}

// FireRecord is the outcome of a fire, kept in its fire key and as the
// schedule's last fire (cl beat status).
type FireRecord struct {
	Schedule   string            `json:"schedule"`
	Tick       time.Time         `json:"tick"`
	Beat       string            `json:"beat"`
	Epoch      int64             `json:"epoch"`
	DoneAt     time.Time         `json:"done_at"`
	Hosts      int               `json:"hosts"`
	Enqueued   int               `json:"enqueued"`
	Duplicates int               `json:"duplicates"`
	Errors     int               `json:"errors"`
	Error      string            `json:"error,omitempty"`
	Recovered  bool              `json:"recovered,omitempty"`
	Runs       map[string]string `json:"runs,omitempty"` // host → run id
	Backup     *BackupResult     `json:"backup,omitempty"`
}

// errFleetSwitched fails a claim round whose plans were made for a fleet
// that is no longer active: the round is retried with the new fleet.
var errFleetSwitched = errors.New("the active fleet was switched since the plans were made")

// activeFleet reads the active fleet for the plans of a claim round.
func (b *Beat) activeFleet(ctx context.Context, ld *loaded) (fleetView, error) {
	def := ld.set.DefaultFleet()
	if def == "" {
		return fleetView{}, nil
	}
	st, err := b.st.ActiveFleet(ctx)
	if err != nil {
		return fleetView{}, err
	}
	b.setFleet(st)
	if st.Active == "" {
		st.Active = def
	}
	return fleetView{name: st.Active, gen: strconv.FormatInt(st.Gen, 10)}, nil
}

// planFor resolves the schedule's targets to hosts now (at fire time) and
// picks each host's task by its role.
func (b *Beat) planFor(c *compiled, tick time.Time, ld *loaded, fv fleetView) *firePlan {
	p := &firePlan{Schedule: c.spec.Name, TickMS: tick.UnixMilli(), DeadlineMS: c.spec.StartingDeadline().Milliseconds(), Backup: c.backup}
	if c.backup != nil {
		return p
	}
	byRole := map[string]int{}
	for _, h := range ld.set.fleetHostsFor(c.spec, fv.name) {
		i, ok := byRole[h.Role]
		if !ok {
			tr, found := c.spec.Tasks[h.Role]
			if !found {
				tr = TaskRun{Error: fmt.Sprintf("schedule %s has no task resolved for role %q", c.spec.Name, h.Role)}
			}
			i = len(p.Tasks)
			p.Tasks = append(p.Tasks, tr)
			byRole[h.Role] = i
		}
		p.Hosts = append(p.Hosts, planHost{Name: h.Name, Task: i})
	}
	return p
}

// claim runs the claim script for every item in pipelined rounds and sets
// each item's status. It fails as a whole on a Redis error; ErrLeaseLost
// when Redis says another beat holds the lease.
func (b *Beat) claim(ctx context.Context, items []*claimItem) error {
	for start := 0; start < len(items); start += 500 {
		if err := b.claimChunk(ctx, items[start:min(start+500, len(items))]); err != nil {
			return err
		}
	}
	return nil
}

func (b *Beat) claimChunk(ctx context.Context, items []*claimItem) error {
	value, _, ok := b.l.token()
	if !ok {
		return ErrLeaseExpired
	}
	now := time.Now()
	octx, cancel := context.WithDeadline(ctx, b.l.until())
	defer cancel()
	claims := make([]queue.FireClaim, len(items))
	for i, it := range items {
		c, err := b.fireClaim(it)
		if err != nil {
			return err
		}
		claims[i] = c
	}
	replies, errs, err := b.st.Claim(octx, value, now, claims)
	if err != nil {
		return fmt.Errorf("claim %d ticks: %w", len(items), err)
	}
	for i, it := range items {
		res, err := replies[i], errs[i]
		if err != nil {
			return fmt.Errorf("claim %s at %s: %w", it.c.spec.Name, it.tick.Format(time.RFC3339), err)
		}
		switch res[0] {
		case "notleader":
			b.l.drop()
			return ErrLeaseLost
		case "fleet":
			return errFleetSwitched
		case "new", "skipped":
			it.status = res[0]
		case "old":
			it.status = claimOld
		case "exists":
			it.status = claimDone
			if len(res) > 2 && res[1] == "firing" && res[2] == value {
				it.status = claimResume
			}
		}
	}
	return nil
}

// fireClaim is the claim of one item; it names the item's fire key.
func (b *Beat) fireClaim(it *claimItem) (queue.FireClaim, error) {
	tickMS := it.tick.UnixMilli()
	it.key = b.st.FireKey(it.c.spec.Name, tickMS)
	plan := ""
	if it.plan != nil {
		pb, err := json.Marshal(it.plan)
		if err != nil {
			return queue.FireClaim{}, fmt.Errorf("encode plan of %s: %w", it.key, err)
		}
		plan = string(pb)
	}
	return queue.FireClaim{Key: it.key, Schedule: it.c.spec.Name, TickMS: tickMS, Fingerprint: it.c.fp, Mode: it.mode,
		Plan: plan, TTL: b.opt.FireTTL, FleetGen: it.fleet.gen}, nil
}
