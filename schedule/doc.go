// Package schedule owns cron evaluation for celeroot's schedules: when a
// schedule is next due, evaluated in the schedule's own IANA timezone.
//
// It builds on github.com/adhocore/gronx for parsing and tick computation.
// The beat (leader election, exactly-once firing, fan-out) arrives with the
// scheduler issue and lives here too; this file set is deliberately small
// until then. It does not read cl.yaml itself: callers pass expressions and
// zones taken from config.
package schedule
