package testhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// StateDir holds one state file per live fleet (clt<id>.json), the lock that
// serialises allocation and sweeping, and each fleet's namespace-file
// directory (ns/clt<id>/).
const StateDir = "/run/celeroot-testhost"

// nsRoot is a private bind mount of itself holding every fleet's
// namespace-file directory (ns/clt<id>/): the kernel refuses to bind a mount
// namespace file onto a shared mount. It is unmounted when no fleet is left.
const nsRoot = StateDir + "/ns"

const (
	lockName   = "lock"
	namePrefix = "clt"                // fleet names: clt<id>, netns clt<id>-h<i>
	tempPrefix = "celeroot-testhost-" // fleet directory: $TMPDIR/celeroot-testhost-<id>-*
)

// hostState is what teardown needs to know about one host.
type hostState struct {
	Name  string `json:"name"`
	NetNS string `json:"netns"`
	Veth  string `json:"veth"`
	Addr  string `json:"addr"`
}

// fleetState is the on-disk record of a fleet: enough to tear it down from
// another process after the owner died.
type fleetState struct {
	ID        string      `json:"id"`
	PID       int         `json:"pid"`
	StartTime uint64      `json:"start_time"`
	Bridge    string      `json:"bridge"`
	Subnet    string      `json:"subnet"`
	Dir       string      `json:"dir"`
	NSDir     string      `json:"ns_dir"`
	Hosts     []hostState `json:"hosts"`
}

func statePath(id string) string { return filepath.Join(StateDir, namePrefix+id+".json") }

func (s *fleetState) prefix() string { return namePrefix + s.ID }

func (s *fleetState) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state of fleet %s: %w", s.prefix(), err)
	}
	if err := writeFileAtomic(statePath(s.ID), data, 0o644); err != nil {
		return fmt.Errorf("save state of fleet %s: %w", s.prefix(), err)
	}
	return nil
}

func (s *fleetState) remove() error {
	if err := os.Remove(statePath(s.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state of fleet %s: %w", s.prefix(), err)
	}
	return nil
}

// ownerAlive reports whether the process that created the fleet still runs
// (same PID and same start time, so a reused PID does not count).
func (s *fleetState) ownerAlive() bool {
	st, err := procStartTime(s.PID)
	return err == nil && st == s.StartTime
}

// loadStates reads every fleet state file; unreadable ones are skipped.
func loadStates() ([]*fleetState, error) {
	entries, err := os.ReadDir(StateDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", StateDir, err)
	}
	var out []*fleetState
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, namePrefix) || !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(StateDir, name))
		if err != nil {
			continue
		}
		var s fleetState
		if json.Unmarshal(data, &s) != nil || !idRe.MatchString(s.ID) {
			continue
		}
		out = append(out, &s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// withStateLock runs fn holding an exclusive flock on StateDir/lock. The
// lock serialises allocation (ids, subnets, the shared test user) and
// sweeping across processes and goroutines alike.
func withStateLock(fn func() error) error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", StateDir, err)
	}
	f, err := os.OpenFile(filepath.Join(StateDir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("open lock: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway
	return fn()
}

// procStartTime returns field 22 of /proc/<pid>/stat (start time in ticks).
func procStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no ')'", pid)
	}
	fields := strings.Fields(s[i+1:])
	const startTimeIdx = 22 - 3 // fields after "pid (comm)" start at field 3
	if len(fields) <= startTimeIdx {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	return strconv.ParseUint(fields[startTimeIdx], 10, 64)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
