package supervise

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// State is what a supervisor records about itself and its child.
type State struct {
	Name         string    `json:"name"`
	PID          int       `json:"pid"`                     // the supervisor
	Argv         []string  `json:"argv"`                    // the child's command
	Started      time.Time `json:"started"`                 // the supervisor
	ChildPID     int       `json:"child_pid,omitempty"`     // 0 while waiting to restart
	ChildStarted time.Time `json:"child_started,omitempty"` // the current child
	Restarts     int       `json:"restarts"`
	LastExit     string    `json:"last_exit,omitempty"` // how the previous child ended
	NextStart    time.Time `json:"next_start,omitempty"`
	Running      bool      `json:"running"` // set by ReadStatus: the supervisor holds its lock
}

// Compiled on first use: a counted repetition makes a big program, and
// every cl start (a worker, the deploy's host step) would pay for it.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$`) })

// Files names a supervisor's files in its state directory.
type Files struct {
	Dir, Name string
}

func (f Files) check() error {
	if !nameRE().MatchString(f.Name) {
		return fmt.Errorf("supervisor name %q: use letters, digits, . _ @ -", f.Name)
	}
	if !filepath.IsAbs(f.Dir) {
		return fmt.Errorf("state directory %q: use an absolute path", f.Dir)
	}
	return nil
}

func (f Files) path(ext string) string { return filepath.Join(f.Dir, f.Name+ext) }

// Lock, PID, State and Log are the file paths.
func (f Files) Lock() string  { return f.path(".lock") }
func (f Files) PID() string   { return f.path(".pid") }
func (f Files) State() string { return f.path(".json") }
func (f Files) Log() string   { return f.path(".log") }

// locked reports whether a live supervisor holds the lock. It creates
// nothing: a missing lock file means no supervisor ever ran.
func (f Files) locked() (bool, error) { return Held(f.Lock()) }

// ReadStatus returns the recorded state and whether the supervisor runs.
// A supervisor that never ran gives a zero State with Name set.
func ReadStatus(f Files) (State, error) {
	if err := f.check(); err != nil {
		return State{}, err
	}
	st := State{Name: f.Name}
	if b, err := os.ReadFile(f.State()); err == nil {
		_ = json.Unmarshal(b, &st)
	} else if !errors.Is(err, os.ErrNotExist) {
		return st, err
	}
	running, err := f.locked()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, err
	}
	st.Running = running
	if !running {
		st.ChildPID = 0
	}
	return st, nil
}

func (f Files) readPID() (int, error) {
	b, err := os.ReadFile(f.PID())
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s: bad pid %q", f.PID(), b)
	}
	return pid, nil
}

// writeState replaces the state file atomically.
func (f Files) writeState(st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(f.State(), append(b, '\n'))
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// String renders the state in one line.
func (s State) String() string {
	if !s.Running {
		msg := s.Name + ": not running"
		if s.LastExit != "" {
			msg += " (last exit: " + s.LastExit + ")"
		}
		return msg
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: running (supervisor pid %d", s.Name, s.PID)
	if s.ChildPID > 0 {
		fmt.Fprintf(&b, ", child pid %d up %s", s.ChildPID, time.Since(s.ChildStarted).Round(time.Second))
	} else if !s.NextStart.IsZero() {
		fmt.Fprintf(&b, ", child restarting in %s", time.Until(s.NextStart).Round(100*time.Millisecond))
	}
	fmt.Fprintf(&b, ", %d restarts", s.Restarts)
	if s.LastExit != "" {
		fmt.Fprintf(&b, ", last exit: %s", s.LastExit)
	}
	b.WriteString(")")
	return b.String()
}
