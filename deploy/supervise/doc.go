// Package supervise is the fallback supervisor for hosts whose PID 1 is
// not systemd (containers, the e2e test hosts): `cl supervise` keeps one
// command (the worker) running, restarts it with backoff when it exits,
// and can be stopped, restarted and queried from any later cl.
//
// # Files
//
// Everything lives in a state directory (deploys use /var/lib/celeroot):
//
//	<name>.lock   flock held by the running supervisor: the truth about "running"
//	<name>.pid    the supervisor's pid (signals go there, only while the lock is held)
//	<name>.json   State: argv, child pid, start times, restarts, last exit
//	<name>.argv   the command, one argument per line (deploys compare it before a SIGHUP)
//	<name>.log    the child's stdout and stderr and the supervisor's own lines,
//	              rotated to <name>.log.1 at 10 MiB
//
// # Signals
//
// SIGTERM or SIGINT: stop the child (SIGTERM to its process group, SIGKILL
// after the grace period) and exit. SIGHUP: restart the child now, with the
// backoff reset. Start spawns `cl supervise run` in a new session (setsid,
// stdin /dev/null, output to the log), so it outlives the SSH session that
// started it.
//
// # Backoff
//
// A child that exits is started again after MinBackoff, doubling up to
// MaxBackoff while it keeps exiting within StableAfter of its start; a child
// that ran longer resets the backoff.
//
// It does not own what the child does, or deploys: package deploy decides
// when to restart.
package supervise
