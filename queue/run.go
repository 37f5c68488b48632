package queue

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// State is where a run is in its life:
//
//	queued ─► running ─► succeeded | failed | killed | dead
//	             │  ▲
//	             ▼  │ (after a backoff)
//	           retrying
type State string

// The states of a run.
const (
	StateQueued    State = "queued"    // in its queue, not started
	StateRunning   State = "running"   // a worker holds its lease
	StateRetrying  State = "retrying"  // failed, waiting for its backoff to elapse
	StateSucceeded State = "succeeded" // finished with exit code 0
	StateFailed    State = "failed"    // failed and out of retries
	StateKilled    State = "killed"    // cancelled by Kill, before or while running
	StateDead      State = "dead"      // its workers kept dying: delivered too often
)

// Terminal reports whether the state is final: the run will not run again.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateKilled, StateDead:
		return true
	}
	return false
}

// Successful reports whether the run succeeded.
func (s State) Successful() bool { return s == StateSucceeded }

// Run is one execution request of a task and its outcome.
type Run struct {
	ID     string         `json:"id"`
	Task   string         `json:"task"`
	Module string         `json:"module,omitempty"`
	Params map[string]any `json:"params,omitempty"`
	// Target is the queue the run goes to: HostQueue(h) or RoleQueue(r).
	Target string `json:"target"`
	// Attempt counts the retries so far: 0 for the first try.
	Attempt    int `json:"attempt"`
	MaxRetries int `json:"max_retries"`
	// Deliveries counts the starts of the current attempt; a start beyond
	// the queue's MaxDeliveries makes the run dead.
	Deliveries int `json:"deliveries"`
	// Timeout is enforced by the worker; zero means none.
	Timeout        time.Duration `json:"timeout,omitempty"`
	State          State         `json:"state"`
	Reason         string        `json:"reason,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	StartedAt      time.Time     `json:"started_at,omitzero"`
	FinishedAt     time.Time     `json:"finished_at,omitzero"`
	ExitCode       int           `json:"exit_code"`
	Worker         string        `json:"worker,omitempty"`
	IdempotencyKey string        `json:"idempotency_key,omitempty"`
	ScheduleID     string        `json:"schedule_id,omitempty"`
	Tick           time.Time     `json:"tick,omitzero"`
}

// Hash field names of a run record. Lua scripts use the same names.
const (
	fID, fTask, fModule, fParams, fTarget = "id", "task", "module", "params", "target"
	fAttempt, fMaxRetries, fDeliveries    = "attempt", "max_retries", "deliveries"
	fTimeout, fState, fReason             = "timeout_ms", "state", "reason"
	fCreated, fStarted, fFinished         = "created", "started", "finished"
	fExit, fWorker, fIdem                 = "exit", "worker", "idem"
	fSchedule, fTick                      = "schedule", "tick"
)

// fields flattens the run into hash field/value pairs. Empty and zero
// optional fields are left out (a missing field reads as zero); id, task,
// target, state, attempt, max_retries and created are always written.
func (r *Run) fields() ([]any, error) {
	out := []any{fID, r.ID, fTask, r.Task, fTarget, r.Target, fState, string(r.State),
		fAttempt, r.Attempt, fMaxRetries, r.MaxRetries, fCreated, ms(r.CreatedAt)}
	if len(r.Params) > 0 {
		b, err := json.Marshal(r.Params)
		if err != nil {
			return nil, fmt.Errorf("encode params of run %s: %w", r.ID, err)
		}
		out = append(out, fParams, string(b))
	}
	for _, f := range []struct {
		name string
		v    string
	}{{fModule, r.Module}, {fReason, r.Reason}, {fWorker, r.Worker}, {fIdem, r.IdempotencyKey}, {fSchedule, r.ScheduleID}} {
		if f.v != "" {
			out = append(out, f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{fDeliveries, int64(r.Deliveries)}, {fTimeout, r.Timeout.Milliseconds()}, {fStarted, ms(r.StartedAt)},
		{fFinished, ms(r.FinishedAt)}, {fExit, int64(r.ExitCode)}, {fTick, ms(r.Tick)}} {
		if f.v != 0 {
			out = append(out, f.name, f.v)
		}
	}
	return out, nil
}

// runFields are the hash fields of a run record in the order in which the
// start script replies with their values.
var runFields = []string{fID, fTask, fModule, fParams, fTarget, fAttempt, fMaxRetries, fDeliveries,
	fTimeout, fState, fReason, fCreated, fStarted, fFinished, fExit, fWorker, fIdem, fSchedule, fTick}

// valuesToMap pairs a reply of runFields' values with their names.
func valuesToMap(v []any) map[string]string {
	m := make(map[string]string, len(runFields))
	for i, f := range runFields {
		if i < len(v) {
			m[f] = replyString(v[i])
		}
	}
	return m
}

// decodeRun builds a run from its hash. It returns nil for an empty hash.
func decodeRun(h map[string]string) (*Run, error) {
	if len(h) == 0 || h[fID] == "" {
		return nil, nil
	}
	r := &Run{
		ID: h[fID], Task: h[fTask], Module: h[fModule], Target: h[fTarget],
		Attempt: atoi(h[fAttempt]), MaxRetries: atoi(h[fMaxRetries]), Deliveries: atoi(h[fDeliveries]),
		Timeout: time.Duration(atoi(h[fTimeout])) * time.Millisecond,
		State:   State(h[fState]), Reason: h[fReason],
		CreatedAt: fromMS(h[fCreated]), StartedAt: fromMS(h[fStarted]), FinishedAt: fromMS(h[fFinished]),
		ExitCode: atoi(h[fExit]), Worker: h[fWorker], IdempotencyKey: h[fIdem],
		ScheduleID: h[fSchedule], Tick: fromMS(h[fTick]),
	}
	if p := h[fParams]; p != "" {
		if err := json.Unmarshal([]byte(p), &r.Params); err != nil {
			return nil, fmt.Errorf("decode params of run %s: %w", r.ID, err)
		}
	}
	return r, nil
}

// pairsToMap turns a flat [field, value, ...] script reply into a map.
func pairsToMap(v []any) map[string]string {
	m := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		m[replyString(v[i])] = replyString(v[i+1])
	}
	return m
}

// replyString is a script reply element as text (strings come back as
// strings, Lua numbers as int64).
func replyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// NewID returns a new run id: 26 characters of Crockford base32 holding the
// time in milliseconds and 80 random bits (ULID layout), so ids sort by
// creation time.
func NewID() string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [16]byte
	t := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(t)
		t >>= 8
	}
	_, _ = rand.Read(b[6:])
	// 128 bits → 26 base32 digits, most significant first.
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
		uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
