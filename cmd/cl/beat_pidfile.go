package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/deploy/supervise"
)

// defaultPidfile is where the local beat of a cluster (and --env) keeps its
// pid (supervise.DefaultPidfile).
func defaultPidfile(cluster, env string) (string, error) {
	name := "beat-" + cluster
	if env != "" {
		name += "-" + env
	}
	return supervise.DefaultPidfile(name + ".pid")
}

// lockPidfile holds the beat's pidfile for the life of the beat.
func lockPidfile(path string) (*supervise.Pidfile, error) {
	p, err := supervise.LockPidfile(path)
	var held *supervise.LockedError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("a beat already runs with pidfile %s (pid %d): stop it with `cl beat stop`, or pass another --pidfile", path, held.PID)
	}
	return p, err
}

// stopLocal stops the local beat of the pidfile (supervise.StopPidfile).
func stopLocal(path string, timeout time.Duration) (int, error) {
	return supervise.StopPidfile(path, "beat", timeout)
}
