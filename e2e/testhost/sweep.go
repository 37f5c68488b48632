package testhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

var (
	idRe        = regexp.MustCompile(`^[0-9a-f]{4}$`)
	linkNameRe  = regexp.MustCompile(`^cl[bv]([0-9a-f]{4})`)
	netnsNameRe = regexp.MustCompile(`^clt([0-9a-f]{4})-h[0-9]+$`)
	nsDirRe     = regexp.MustCompile(`^clt([0-9a-f]{4})$`)
	tempDirRe   = regexp.MustCompile(`^celeroot-testhost-([0-9a-f]{4})-`)
)

// Sweep tears down leftovers of earlier fleets whose owning process is dead:
// everything recorded in their state files, plus any clb*/clv* link,
// clt*-h* network namespace, namespace-file directory or fleet temp
// directory whose fleet has no state file at all. With force, live owners are
// sent SIGTERM first (they tear down themselves) and whatever remains after
// a grace period is removed too. It returns the prefixes of swept fleets.
func Sweep(ctx context.Context, force bool) ([]string, error) {
	var stopped []string
	if force {
		var err error
		if stopped, err = terminateOwners(ctx); err != nil {
			return nil, err
		}
	}
	var swept []string
	err := withStateLock(func() error {
		var err error
		swept, err = sweepLocked(ctx, force)
		return err
	})
	return append(stopped, swept...), err
}

// terminateOwners asks every live fleet owner to tear down and waits a
// while; it returns the fleets it signalled.
func terminateOwners(ctx context.Context) ([]string, error) {
	states, err := loadStates()
	if err != nil {
		return nil, err
	}
	var stopped []string
	for _, s := range states {
		if s.ownerAlive() && s.PID != os.Getpid() && syscall.Kill(s.PID, syscall.SIGTERM) == nil {
			stopped = append(stopped, fmt.Sprintf("%s (sent SIGTERM to owner pid %d)", s.prefix(), s.PID))
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !anyStateFile(states) {
			return stopped, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return stopped, nil
}

func anyStateFile(states []*fleetState) bool {
	for _, s := range states {
		if _, err := os.Stat(statePath(s.ID)); err == nil {
			return true
		}
	}
	return false
}

// sweepLocked does the sweep; the caller holds the state lock.
func sweepLocked(ctx context.Context, force bool) ([]string, error) {
	states, err := loadStates()
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	var swept []string
	var errs []error
	for _, s := range states {
		if s.ownerAlive() && !(force && s.PID != os.Getpid()) {
			live[s.ID] = true
			continue
		}
		if err := teardown(ctx, s); err != nil {
			errs = append(errs, err)
			live[s.ID] = true // keep its state file for the next try
			continue
		}
		if err := s.remove(); err != nil {
			errs = append(errs, err)
		}
		swept = append(swept, s.prefix())
	}
	orphans, err := sweepOrphans(ctx, live)
	errs = append(errs, err)
	if len(live) == 0 {
		errs = append(errs, releaseNSRoot())
	}
	return append(swept, orphans...), errors.Join(errs...)
}

// sweepOrphans removes harness objects whose fleet has no live state.
func sweepOrphans(ctx context.Context, live map[string]bool) ([]string, error) {
	found, err := findOrphans(ctx, live)
	if err != nil {
		return nil, err
	}
	var swept []string
	var errs []error
	for _, s := range found {
		if err := teardown(ctx, s); err != nil {
			errs = append(errs, err)
			continue
		}
		swept = append(swept, s.prefix()+" (no state file)")
	}
	return swept, errors.Join(errs...)
}

// findOrphans groups leftover links, netns and directories by fleet id.
func findOrphans(ctx context.Context, live map[string]bool) ([]*fleetState, error) {
	byID := map[string]*fleetState{}
	get := func(id string) *fleetState {
		if byID[id] == nil {
			byID[id] = &fleetState{ID: id}
		}
		return byID[id]
	}
	links, err := listLinks(ctx, ipTool())
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if m := linkNameRe.FindStringSubmatch(l); m != nil && !live[m[1]] {
			s := get(m[1])
			if strings.HasPrefix(l, "clb") {
				s.Bridge = l
			} else {
				s.Hosts = append(s.Hosts, hostState{Veth: l})
			}
		}
	}
	netns, err := listNetNS(ctx, ipTool())
	if err != nil {
		return nil, err
	}
	for _, n := range netns {
		if m := netnsNameRe.FindStringSubmatch(n); m != nil && !live[m[1]] {
			get(m[1]).Hosts = append(get(m[1]).Hosts, hostState{NetNS: n})
		}
	}
	addDirOrphans(nsRoot, nsDirRe, live, func(id, p string) { get(id).NSDir = p })
	addDirOrphans(os.TempDir(), tempDirRe, live, func(id, p string) { get(id).Dir = p })
	out := make([]*fleetState, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	return out, nil
}

func addDirOrphans(parent string, re *regexp.Regexp, live map[string]bool, add func(id, path string)) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if m := re.FindStringSubmatch(e.Name()); m != nil && e.IsDir() && !live[m[1]] {
			add(m[1], filepath.Join(parent, e.Name()))
		}
	}
}

// teardown removes everything a fleet state names, tolerating parts that are
// already gone: processes in its namespaces, veths, netns, the bridge, the
// namespace files and the fleet directory.
func teardown(ctx context.Context, s *fleetState) error {
	var errs []error
	if err := killInNamespaces(s.nsTargets()); err != nil {
		errs = append(errs, err)
	}
	if err := removeSystemdCgroups(s); err != nil {
		errs = append(errs, err)
	}
	if err := deleteNetObjects(ctx, s); err != nil {
		errs = append(errs, err)
	}
	if s.NSDir != "" {
		if err := unmountTree(s.NSDir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeFleetDir(s.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down fleet %s: %w", s.prefix(), err)
	}
	return nil
}

// nsTargets lists the namespace files whose processes must die.
func (s *fleetState) nsTargets() []string {
	var out []string
	for _, h := range s.Hosts {
		if h.NetNS != "" {
			out = append(out, filepath.Join("/run/netns", h.NetNS))
		}
	}
	if s.NSDir != "" {
		files, _ := filepath.Glob(filepath.Join(s.NSDir, "*.ns"))
		out = append(out, files...)
	}
	return out
}

// deleteNetObjects deletes the fleet's veths, netns and bridge that exist.
func deleteNetObjects(ctx context.Context, s *fleetState) error {
	ip := ipTool()
	links, err := listLinks(ctx, ip)
	if err != nil {
		return err
	}
	netns, err := listNetNS(ctx, ip)
	if err != nil {
		return err
	}
	haveLink, haveNS := toSet(links), toSet(netns)
	var lines []string
	for _, h := range s.Hosts {
		if h.Veth != "" && haveLink[h.Veth] {
			lines = append(lines, "link del "+h.Veth)
		}
	}
	for _, h := range s.Hosts {
		if h.NetNS != "" && haveNS[h.NetNS] {
			lines = append(lines, "netns del "+h.NetNS)
		}
	}
	if s.Bridge != "" && haveLink[s.Bridge] {
		lines = append(lines, "link del "+s.Bridge)
	}
	return ipBatch(ctx, ip, "", true, lines)
}

// removeFleetDir deletes a fleet directory, but only one the harness named.
func removeFleetDir(dir string) error {
	if dir == "" {
		return nil
	}
	if !tempDirRe.MatchString(filepath.Base(dir)) {
		return fmt.Errorf("refusing to delete %s: not a fleet directory", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove fleet directory: %w", err)
	}
	return nil
}

func toSet(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it] = true
	}
	return m
}
